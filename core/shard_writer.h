// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype.h"
#include "shape.h"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace shardscope {

// One chunk a rank saved: where it sits in the full tensor and its own shape.
struct ShardChunkSpec {
    std::string fqn;
    DType dtype = DType::F32;
    Shape offsets;
    Shape shape;
};

// Writes a DCP shard file (DCP_SHARDING_INFO in __metadata__) chunk by chunk: fill(i, buffer)
// supplies chunk i's bytes, so large files stream without whole tensors in memory.
void writeShardFile(const std::filesystem::path& path, const std::vector<ShardChunkSpec>& chunks,
                    const std::function<void(size_t index, std::string& bytes)>& fill);

// Copies the sub-box `offsets`+`shape` out of a full row-major tensor's bytes (whole-byte dtypes).
std::string sliceChunk(const std::string& full, const Shape& fullShape, const Shape& offsets,
                       const Shape& shape, unsigned elementBytes);

} // namespace shardscope
