// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "scan_support.h"

#include "coverage.h"
#include "parallel.h"
#include "posix_file.h"
#include "runs.h"
#include "stored_chunk.h"

#include <algorithm>
#include <cstring>

namespace shardscope {
namespace {

// Replicas must hold the same bytes. Coverage only records the pairs; this compares them all
// afterwards, in parallel, with every shard file opened once, as a phase of its own with progress
// and cancel (it is the only part of a scan that reads tensor data).
class ReplicaChecker {
public:
    struct Pair {
        size_t tensor;
        Chunk primary, other;
    };

    void record(size_t tensor, const Chunk& primary, const Chunk& other) {
        m_pairs.push_back({tensor, primary, other});
    }

    // Marks tensors whose replicas differ as Conflict and reports each.
    void run(Checkpoint& ckpt, const ScanOptions& options, ScanReporter& reporter) {
        if (m_pairs.empty()) return;
        uint64_t total = 0;
        std::vector<PosixFile> files(ckpt.files.size());
        std::vector<bool> used(ckpt.files.size(), false);
        for (const Pair& p : m_pairs) {
            total += p.primary.bytes();
            used[p.primary.file] = used[p.other.file] = true;
        }
        reporter.phase(ScanPhase::ComparingReplicas, total);
        for (size_t f = 0; f < files.size(); ++f)
            if (used[f]) files[f] = PosixFile::openRead(ckpt.files[f].path);
        std::vector<char> differs(m_pairs.size(), 0);
        std::vector<std::string> failures(m_pairs.size());
        parallelFor(m_pairs.size(), options.threads, [&](size_t i) {
            try {
                differs[i] = !equal(ckpt, files, m_pairs[i], reporter);
            } catch (const Error& e) { // a file that cannot be read: its tensor is not sound
                differs[i] = 1;
                failures[i] = e.what();
            }
        });
        for (size_t i = 0; i < m_pairs.size(); ++i) {
            if (!differs[i]) continue;
            const Pair& p = m_pairs[i];
            TensorInfo& t = ckpt.tensors[p.tensor];
            if (t.status != CoverageStatus::Complete) continue; // already reported
            Shape end = p.primary.offsets;
            for (size_t d = 0; d < end.size(); ++d)
                end[d] += p.primary.shape[d];
            t.status = CoverageStatus::Conflict;
            t.coverageDetail = "conflict: " + ckpt.files[p.primary.file].name + " and " +
                               ckpt.files[p.other.file].name + " both hold region " +
                               formatRegion(p.primary.offsets, end) +
                               (failures[i].empty() ? " with different bytes"
                                                    : ", and reading them failed: " + failures[i]);
            ckpt.problems.push_back(
                {Severity::Error, "", t.fqn, t.coverageDetail, ErrorKind::ReplicaConflict});
        }
    }

private:
    static bool equal(const Checkpoint& ckpt, const std::vector<PosixFile>& files, const Pair& p,
                      ScanReporter& reporter) {
        if (p.primary.stored || p.other.stored) { // compare what the items decode to
            const TensorInfo& t = ckpt.tensors[p.tensor];
            const auto a = decodeStoredChunk(ckpt, t, p.primary, files[p.primary.file]);
            const auto b = decodeStoredChunk(ckpt, t, p.other, files[p.other.file]);
            reporter.add(p.primary.bytes());
            return a == b;
        }
        if (p.primary.bytes() != p.other.bytes()) return false;
        constexpr uint64_t kBlock = 1 << 20;
        std::vector<char> a(std::min(kBlock, p.primary.bytes())), b(a.size());
        for (uint64_t done = 0; done < p.primary.bytes();) {
            reporter.checkStop();
            const uint64_t n = std::min<uint64_t>(kBlock, p.primary.bytes() - done);
            files[p.primary.file].readExact(a.data(), n, p.primary.begin + done);
            files[p.other.file].readExact(b.data(), n, p.other.begin + done);
            if (std::memcmp(a.data(), b.data(), n) != 0) return false;
            done += n;
            reporter.add(n);
        }
        return true;
    }

    std::vector<Pair> m_pairs;
};

// Rows of a sub-byte chunk must start on byte boundaries to be copied exactly.
std::string subByteProblem(const TensorInfo& t) {
    const unsigned bits = dtypeBits(t.dtype);
    if (bits % 8 == 0) return {};
    for (const Chunk& c : t.chunks) {
        ChunkRuns runs(t.shape, c.offsets, c.shape, bits);
        if (runs.count() == 0) continue;
        if ((runs.elements() * bits) % 8 != 0)
            return "a chunk at " + formatShape(c.offsets) + " has rows of " +
                   std::to_string(runs.elements()) + " " + std::string(dtypeName(t.dtype)) +
                   " elements, not a whole number of bytes, so it cannot be placed exactly";
        for (uint64_t r = 0; r < runs.count(); ++r)
            if ((runs.dstElement(r) * bits) % 8 != 0)
                return "a chunk at " + formatShape(c.offsets) + " starts a row at element " +
                       std::to_string(runs.dstElement(r)) +
                       ", not on a byte boundary, so it cannot be placed exactly";
    }
    return {};
}

} // namespace

void rejectTensor(Checkpoint& ckpt, std::vector<bool>& invalid, size_t t, const std::string& file,
                  const std::string& message, ErrorKind kind) {
    if (!invalid[t]) {
        invalid[t] = true;
        ckpt.tensors[t].status = CoverageStatus::Invalid;
        ckpt.tensors[t].coverageDetail = message;
    }
    ckpt.problems.push_back({Severity::Error, file, ckpt.tensors[t].fqn, message, kind});
}

void proveCoverage(Checkpoint& ckpt, std::vector<bool>& invalid, const ScanOptions& options,
                   ScanReporter& reporter, bool declaredShapes) {
    // Full shapes and byte sizes, then the tiling proof.
    reporter.phase(ScanPhase::CheckingCoverage, ckpt.tensors.size());
    ReplicaChecker replicas;
    for (size_t ti = 0; ti < ckpt.tensors.size(); ++ti) {
        if (ti % 1024 == 1023) {
            reporter.checkStop();
            reporter.add(1024);
        }
        TensorInfo& t = ckpt.tensors[ti];
        if (invalid[ti] || t.chunks.empty()) {
            if (t.chunks.empty() && !invalid[ti]) rejectTensor(ckpt, invalid, ti, "", "no valid chunk");
            continue;
        }
        const size_t rank = t.chunks.front().shape.size();
        if (!declaredShapes) t.shape.assign(rank, 0);
        bool overflow = false;
        std::string outside;
        for (const Chunk& c : t.chunks)
            for (size_t d = 0; d < rank; ++d) {
                uint64_t e;
                if (__builtin_add_overflow(c.offsets[d], c.shape[d], &e))
                    overflow = true;
                else if (!declaredShapes)
                    t.shape[d] = std::max(t.shape[d], e);
                else if (e > t.shape[d] && outside.empty())
                    outside = "the chunk at offsets " + formatShape(c.offsets) + " of size " +
                              formatShape(c.shape) + " reaches past the tensor's size " +
                              formatShape(t.shape);
            }
        if (!outside.empty()) {
            rejectTensor(ckpt, invalid, ti, ckpt.files[t.chunks.front().file].name, outside,
                         ErrorKind::Coverage);
            continue;
        }
        auto numel = checkedNumel(t.shape);
        auto bytes = numel ? checkedBytes(*numel, dtypeBits(t.dtype)) : std::nullopt;
        if (overflow || !bytes) {
            rejectTensor(ckpt, invalid, ti, ckpt.files[t.chunks.front().file].name,
                        "saved_offsets and chunk shapes give a full shape that is too large or "
                        "not a whole number of bytes");
            continue;
        }
        t.bytes = *bytes;
        if (auto problem = subByteProblem(t); !problem.empty()) {
            rejectTensor(ckpt, invalid, ti, "", problem);
            continue;
        }
        checkCoverage(t, ckpt.files, [&](const Chunk& a, const Chunk& b) {
            replicas.record(ti, a, b);
            return true; // compared below, all pairs at once
        });
        if (t.status != CoverageStatus::Complete)
            ckpt.problems.push_back(
                {Severity::Error, "", t.fqn, t.coverageDetail, ErrorKind::Coverage});
    }

    reporter.add(ckpt.tensors.size() % 1024);
    replicas.run(ckpt, options, reporter);

}

} // namespace shardscope
