// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace shardscope {

// One contiguous copy: `length` bytes from a shard file to an output position.
struct Piece {
    uint32_t file = 0; // shard file index
    uint64_t src = 0;  // absolute offset in the shard file
    uint64_t dst = 0;  // offset in the output data section
    uint64_t length = 0;
};

// Appends the pieces that fill bytes [from, to) of `tensor` (tensor-local offsets), placing them
// at dstBase + local offset. Replicas are skipped unless asked for (verify checks them too);
// chunks stored strided or compressed (Chunk::stored) are skipped, they are decoded instead.
void collectPieces(const TensorInfo& tensor, uint64_t from, uint64_t to, uint64_t dstBase,
                   bool includeReplicas, std::vector<Piece>& out);

} // namespace shardscope

namespace shardscope {

class PosixFile;

// Reads the pieces' source bytes with neighbouring reads merged (sorted by file and offset, holes
// up to 64 KiB read through), calling visit(piece, bytes) for each. Sorts `pieces` in place.
void readPieces(std::vector<Piece>& pieces, const std::vector<PosixFile>& sources,
                std::vector<char>& scratch,
                const std::function<void(const Piece&, const char*)>& visit);

} // namespace shardscope
