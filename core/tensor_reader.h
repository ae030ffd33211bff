// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "pieces.h"
#include "posix_file.h"
#include "stored_chunk.h"

#include <cstdint>
#include <memory>
#include <stop_token>
#include <vector>

namespace shardscope {

// Reads any byte range of a tensor in its full row-major layout, assembled from its chunks:
// plain chunks by positioned reads, stored (strided or compressed) chunks decoded once and
// shared. Safe to use from several threads at once, each with its own Scratch.
class TensorReader {
public:
    explicit TensorReader(const Checkpoint& checkpoint);

    struct Scratch {
        std::vector<char> buffer;
        std::vector<Piece> pieces;
    };

    // Bytes [from, to) of `tensor` (one of checkpoint.tensors) into out[0, to - from). Bytes no
    // chunk covers are left as they were. Errors name the file and the tensor.
    void read(const TensorInfo& tensor, uint64_t from, uint64_t to, char* out, Scratch& scratch,
              std::stop_token stop) const;

private:
    void readStored(const TensorInfo& tensor, const Chunk& chunk, uint64_t from, uint64_t to,
                    char* out, std::stop_token stop) const;

    const Checkpoint& m_ckpt;
    std::vector<PosixFile> m_files;
    std::vector<std::unique_ptr<Error>> m_openErrors; // by file: why it could not be opened
    std::unique_ptr<DecodedChunks> m_decoded;
};

} // namespace shardscope
