// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "coverage.h"

#include <algorithm>
#include <numeric>

namespace shardscope {
namespace {

bool intersects(const Chunk& a, const Chunk& b) {
    for (size_t d = 0; d < a.shape.size(); ++d) {
        uint64_t lo = std::max(a.offsets[d], b.offsets[d]);
        uint64_t hi = std::min(a.offsets[d] + a.shape[d], b.offsets[d] + b.shape[d]);
        if (lo >= hi) return false;
    }
    return true;
}

uint64_t volume(const Shape& shape) {
    uint64_t v = 1;
    for (uint64_t d : shape)
        v *= d; // bounded by the full tensor, which was checked
    return v;
}

// The dimension the overlap sweep walks: the one with the most distinct chunk starts. Sorted
// by it, each chunk is compared only with the chunks whose span along it overlaps its own:
// none for a split along one dimension (rows, columns, any), so the proof is O(n log n) there,
// and at most the other side of a grid (g x h chunks: min(g, h)) otherwise. Sweeping a fixed
// dimension would compare all pairs, O(n^2), when every chunk starts at 0 along it.
size_t sweepDimension(const std::vector<const Chunk*>& chunks, size_t rank) {
    size_t best = 0, bestDistinct = 0;
    std::vector<uint64_t> starts(chunks.size());
    for (size_t d = 0; d < rank; ++d) {
        for (size_t i = 0; i < chunks.size(); ++i)
            starts[i] = chunks[i]->offsets[d];
        std::sort(starts.begin(), starts.end());
        const size_t distinct = size_t(std::unique(starts.begin(), starts.end()) - starts.begin());
        if (distinct > bestDistinct) best = d, bestDistinct = distinct;
    }
    return best;
}

bool sameRegion(const Chunk& a, const Chunk& b) {
    return a.offsets == b.offsets && a.shape == b.shape;
}

// Walks the grid cut by every chunk boundary to name the first uncovered region; gives up on
// grids too large to walk cheaply and then reports only the missing count.
std::string describeGap(const TensorInfo& t, const std::vector<const Chunk*>& unique,
                        uint64_t missing) {
    const size_t rank = t.shape.size();
    std::vector<std::vector<uint64_t>> cuts(rank); // grid lines per dim, any count
    uint64_t cells = 1;
    for (size_t d = 0; d < rank; ++d) {
        cuts[d] = {0, t.shape[d]};
        for (const Chunk* c : unique) {
            cuts[d].push_back(c->offsets[d]);
            cuts[d].push_back(c->offsets[d] + c->shape[d]);
        }
        std::sort(cuts[d].begin(), cuts[d].end());
        cuts[d].erase(std::unique(cuts[d].begin(), cuts[d].end()), cuts[d].end());
        cells *= cuts[d].size() - 1;
    }
    std::string text = "gap: " + std::to_string(missing) + " of " +
                       std::to_string(volume(t.shape)) + " elements are in no chunk";
    if (cells == 0 || cells * std::max<size_t>(unique.size(), 1) > 20'000'000) return text;

    std::vector<size_t> cell(rank, 0);
    for (uint64_t i = 0; i < cells; ++i) {
        bool covered = false;
        for (const Chunk* c : unique) {
            bool inside = true;
            for (size_t d = 0; d < rank && inside; ++d)
                inside = cuts[d][cell[d]] >= c->offsets[d] &&
                         cuts[d][cell[d] + 1] <= c->offsets[d] + c->shape[d];
            if (inside) {
                covered = true;
                break;
            }
        }
        if (!covered) {
            Shape lo(rank), hi(rank);
            for (size_t d = 0; d < rank; ++d)
                lo[d] = cuts[d][cell[d]], hi[d] = cuts[d][cell[d] + 1];
            return text + ", first at " + formatRegion(lo, hi);
        }
        for (size_t d = rank; d-- > 0;) { // next cell, row-major
            if (++cell[d] < cuts[d].size() - 1) break;
            cell[d] = 0;
        }
    }
    return text;
}

} // namespace

std::string formatRegion(const Shape& begin, const Shape& end) {
    std::string out = "[";
    for (size_t d = 0; d < begin.size(); ++d) {
        if (d) out += ", ";
        out += std::to_string(begin[d]) + ":" + std::to_string(end[d]);
    }
    return out + "]";
}

void checkCoverage(TensorInfo& t, const std::vector<ShardFile>& files,
                   const ChunkBytesEqual& bytesEqual) {
    t.status = CoverageStatus::Complete;
    t.coverageDetail.clear();
    const size_t n = t.chunks.size();

    // Identical regions are replicas (DCP writes replicated scalars and biases on every rank):
    // keep the first in file order, and require the others to hold the same bytes.
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    auto byRegion = [&](size_t a, size_t b) {
        const Chunk& x = t.chunks[a];
        const Chunk& y = t.chunks[b];
        return x.offsets != y.offsets ? x.offsets < y.offsets : x.shape < y.shape;
    };
    // Ranks usually hold consecutive slices in file order: then there is nothing to sort.
    if (!std::is_sorted(order.begin(), order.end(), byRegion))
        std::stable_sort(order.begin(), order.end(), byRegion);
    for (auto& c : t.chunks)
        c.replica = false;
    for (size_t i = 1; i < n; ++i) {
        Chunk& primary = t.chunks[order[i - 1]];
        Chunk& other = t.chunks[order[i]];
        if (!sameRegion(primary, other)) continue;
        // order[i-1] may itself be a replica; its bytes equal the primary's when we get here.
        other.replica = true;
        if (t.status == CoverageStatus::Complete && !bytesEqual(primary, other)) {
            t.status = CoverageStatus::Conflict;
            t.coverageDetail = "conflict: " + files[primary.file].name + " and " +
                               files[other.file].name + " both hold region " +
                               formatRegion(primary.offsets,
                                            [&] {
                                                Shape e = primary.offsets;
                                                for (size_t d = 0; d < e.size(); ++d)
                                                    e[d] += primary.shape[d];
                                                return e;
                                            }()) +
                               " with different bytes";
        }
    }
    if (t.status != CoverageStatus::Complete) return;

    std::vector<const Chunk*> unique;
    for (const auto& c : t.chunks)
        if (!c.replica && volume(c.shape) > 0) unique.push_back(&c);
    const size_t rank = t.shape.size();
    if (rank > 0) {
        const size_t sweep = sweepDimension(unique, rank);
        auto byStart = [sweep](const Chunk* a, const Chunk* b) {
            return a->offsets[sweep] < b->offsets[sweep];
        };
        if (!std::is_sorted(unique.begin(), unique.end(), byStart))
            std::sort(unique.begin(), unique.end(), byStart);
        for (size_t i = 0; i < unique.size(); ++i) {
            const Chunk& a = *unique[i];
            for (size_t j = i + 1; j < unique.size(); ++j) {
                const Chunk& b = *unique[j];
                if (b.offsets[sweep] >= a.offsets[sweep] + a.shape[sweep]) break;
                if (!intersects(a, b)) continue;
                Shape lo(rank), hi(rank);
                for (size_t d = 0; d < rank; ++d) {
                    lo[d] = std::max(a.offsets[d], b.offsets[d]);
                    hi[d] = std::min(a.offsets[d] + a.shape[d], b.offsets[d] + b.shape[d]);
                }
                t.status = CoverageStatus::Overlap;
                t.coverageDetail = "overlap: chunks in " + files[a.file].name + " (at " +
                                   formatShape(a.offsets) + ") and " + files[b.file].name +
                                   " (at " + formatShape(b.offsets) + ") both cover " +
                                   formatRegion(lo, hi);
                return;
            }
        }
    }

    uint64_t covered = 0;
    for (const Chunk* c : unique)
        covered += volume(c->shape);
    const uint64_t full = volume(t.shape);
    if (covered != full) {
        t.status = CoverageStatus::Gap;
        t.coverageDetail = describeGap(t, unique, full - covered);
    }
}

} // namespace shardscope
