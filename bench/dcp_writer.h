// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace shardscope::bench::dcp {

// Writes PyTorch Distributed Checkpoint folders as torch 2.x's FileSystemWriter does with its
// defaults (single_file_per_rank, thread_count 1, no stream transforms, Python 3.11): one
// `__<rank>_0.distcp` per rank holding one torch.save archive per chunk, back to back, and a
// protocol-4 `.metadata` pickle. Self-contained on purpose: it shares no code with core's reader.

enum class DType { BF16, F16, F32, F64, I64, I32, I8, U8, Bool };

struct Tensor {
    std::string fqn;
    DType dtype = DType::BF16;
    std::vector<uint64_t> size;
};

struct Chunk {
    size_t tensor = 0; // index into Checkpoint::tensors
    std::vector<uint64_t> offsets;
    std::vector<uint64_t> sizes;
};

struct Checkpoint {
    std::vector<Tensor> tensors;           // state-dict order
    std::vector<std::vector<Chunk>> ranks; // each rank's chunks in write (plan) order
};

uint64_t chunkBytes(const Checkpoint& ckpt, const Chunk& chunk);

// Supplies chunk `index` of `rank`: exactly chunkBytes() bytes, row-major (contiguous).
using FillChunk = std::function<void(size_t rank, size_t index, std::string& bytes)>;

struct WriteOptions {
    int threads = 0;     // ranks written at once; 0: one per core
    bool sparse = false; // no tensor bytes: each file is ftruncate()d to its size (metadata tests)
};

// Writes dir/__<rank>_0.distcp for every rank (fill is not called when sparse), then
// dir/.metadata (through .metadata.tmp and a rename, as FileSystemWriter does).
void writeCheckpoint(const std::filesystem::path& dir, const Checkpoint& ckpt,
                     const FillChunk& fill, const WriteOptions& options);

} // namespace shardscope::bench::dcp
