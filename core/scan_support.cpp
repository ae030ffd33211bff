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

const std::string kDcpMetadataName = ".metadata";

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
            ckpt.problems.push_back({Severity::Error, ckpt.files[p.primary.file].name, t.fqn,
                                     t.coverageDetail, ErrorKind::ReplicaConflict});
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

namespace {

// What checking one tensor found, applied to the checkpoint afterwards in tensor order, so the
// tensors can be checked on every core and the problems still come out in a fixed order.
struct TensorOutcome {
    bool rejected = false;
    std::string file, message;
    ErrorKind kind = ErrorKind::ChunkConflict;
    std::vector<std::pair<Chunk, Chunk>> replicaPairs;
};

// Full shape and bytes (unless `declaredShapes`), then the tiling proof, of tensor ti; touches
// nothing but the tensor itself and `out`.
void checkTensor(const Checkpoint& ckpt, TensorInfo& t, bool declaredShapes, TensorOutcome& out) {
    auto reject = [&](std::string file, std::string message, ErrorKind kind) {
        out.rejected = true;
        out.file = std::move(file);
        out.message = std::move(message);
        out.kind = kind;
    };
    if (t.chunks.empty()) return reject("", "no valid chunk", ErrorKind::ChunkConflict);
    const size_t rank = t.chunks.front().shape.size();
    if (!declaredShapes) t.shape.assign(rank, 0);
    bool overflow = false;
    std::string outside, outsideFile; // the first chunk past the tensor, and its file
    for (const Chunk& c : t.chunks)
        for (size_t d = 0; d < rank; ++d) {
            uint64_t e;
            if (__builtin_add_overflow(c.offsets[d], c.shape[d], &e))
                overflow = true;
            else if (!declaredShapes)
                t.shape[d] = std::max(t.shape[d], e);
            else if (e > t.shape[d] && outside.empty()) {
                outside = "the chunk at offsets " + formatShape(c.offsets) + " of size " +
                          formatShape(c.shape) + " reaches past the tensor's size " +
                          formatShape(t.shape);
                outsideFile = ckpt.files[c.file].name;
            }
        }
    const std::string& firstFile = ckpt.files[t.chunks.front().file].name;
    if (!outside.empty()) return reject(outsideFile, outside, ErrorKind::Coverage);
    auto numel = checkedNumel(t.shape);
    auto bytes = numel ? checkedBytes(*numel, dtypeBits(t.dtype)) : std::nullopt;
    // A DCP checkpoint's sizes and chunk places come from .metadata, so that is the file named.
    const std::string& declaredIn =
        ckpt.format == CheckpointFormat::Dcp ? kDcpMetadataName : firstFile;
    if (!overflow && !bytes && declaredShapes)
        return reject(declaredIn,
                      "its size " + formatShape(t.shape) + " of " +
                          std::string(dtypeName(t.dtype)) +
                          " is too large (beyond 2^64 bytes) or not a whole number of bytes",
                      ErrorKind::ChunkConflict);
    if (overflow || !bytes)
        return reject(declaredShapes ? declaredIn : firstFile,
                      declaredShapes ? "a chunk's offsets plus its size overflow 64 bits"
                                     : "saved_offsets and chunk shapes give a full shape that is "
                                       "too large or not a whole number of bytes",
                      ErrorKind::ChunkConflict);
    t.bytes = *bytes;
    if (auto problem = subByteProblem(t); !problem.empty())
        return reject("", problem, ErrorKind::ChunkConflict);
    checkCoverage(t, ckpt.files, [&](const Chunk& a, const Chunk& b) {
        out.replicaPairs.emplace_back(a, b);
        return true; // compared later, all pairs at once
    });
}

} // namespace

void proveCoverage(Checkpoint& ckpt, std::vector<bool>& invalid, const ScanOptions& options,
                   ScanReporter& reporter, bool declaredShapes) {
    reporter.phase(ScanPhase::CheckingCoverage, ckpt.tensors.size());
    std::vector<TensorOutcome> outcomes(ckpt.tensors.size());
    constexpr size_t kBlock = 256; // tensors per task: progress and stop checks stay frequent
    const size_t blocks = (ckpt.tensors.size() + kBlock - 1) / kBlock;
    parallelFor(blocks, options.threads, [&](size_t b) {
        reporter.checkStop();
        const size_t end = std::min(ckpt.tensors.size(), (b + 1) * kBlock);
        for (size_t ti = b * kBlock; ti < end; ++ti)
            if (!invalid[ti]) checkTensor(ckpt, ckpt.tensors[ti], declaredShapes, outcomes[ti]);
        reporter.add(end - b * kBlock);
    });
    ReplicaChecker replicas;
    for (size_t ti = 0; ti < ckpt.tensors.size(); ++ti) {
        TensorOutcome& o = outcomes[ti];
        if (o.rejected) {
            rejectTensor(ckpt, invalid, ti, o.file, o.message, o.kind);
            continue;
        }
        for (const auto& [a, b] : o.replicaPairs)
            replicas.record(ti, a, b);
        const TensorInfo& t = ckpt.tensors[ti];
        if (!invalid[ti] && t.status != CoverageStatus::Complete)
            ckpt.problems.push_back(
                {Severity::Error, "", t.fqn, t.coverageDetail, ErrorKind::Coverage});
    }
    outcomes = {};
    replicas.run(ckpt, options, reporter);
}

} // namespace shardscope
