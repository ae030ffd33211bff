// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "pieces.h"

#include "runs.h"

#include <algorithm>

namespace shardscope {

void collectPieces(const TensorInfo& tensor, uint64_t from, uint64_t to, uint64_t dstBase,
                   bool includeReplicas, std::vector<Piece>& out) {
    const unsigned bits = dtypeBits(tensor.dtype);
    for (const Chunk& chunk : tensor.chunks) {
        if (chunk.replica && !includeReplicas) continue;
        if (chunk.stored) continue; // decoded, not copied: callers compare those themselves
        ChunkRuns runs(tensor.shape, chunk.offsets, chunk.shape, bits);
        const uint64_t runBytes = runs.runBytes();
        if (runs.count() == 0 || runBytes == 0) continue;
        const uint64_t first = runs.firstEndingAfter(from);
        const uint64_t last = runs.firstStartingFrom(to);
        for (uint64_t r = first; r < last; ++r) {
            const uint64_t start = runs.dstByte(r);
            const uint64_t lo = std::max(start, from);
            const uint64_t hi = std::min(start + runBytes, to);
            if (lo >= hi) continue;
            out.push_back(
                {chunk.file, chunk.begin + r * runBytes + (lo - start), dstBase + lo, hi - lo});
        }
    }
}

} // namespace shardscope

#include "posix_file.h"

namespace shardscope {

void readPieces(std::vector<Piece>& pieces, const std::vector<PosixFile>& sources,
                std::vector<char>& scratch,
                const std::function<void(const Piece&, const char*)>& visit) {
    constexpr uint64_t kMergeGap = 64 << 10;
    std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
        return a.file != b.file ? a.file < b.file : a.src < b.src;
    });
    const uint64_t limit = std::max<uint64_t>(scratch.size(), 1 << 20);
    for (size_t i = 0; i < pieces.size();) {
        const uint32_t file = pieces[i].file;
        const uint64_t start = pieces[i].src;
        uint64_t end = start + pieces[i].length;
        size_t j = i + 1;
        while (j < pieces.size() && pieces[j].file == file && pieces[j].src <= end + kMergeGap &&
               pieces[j].src + pieces[j].length - start <= limit) {
            end = std::max(end, pieces[j].src + pieces[j].length);
            ++j;
        }
        if (scratch.size() < end - start) scratch.resize(end - start);
        sources[file].readExact(scratch.data(), end - start, start);
        for (size_t k = i; k < j; ++k)
            visit(pieces[k], scratch.data() + (pieces[k].src - start));
        i = j;
    }
}

} // namespace shardscope
