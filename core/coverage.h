// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <functional>

namespace shardscope {

// Compares two chunks' bytes; scan passes one that reads the shard files.
using ChunkBytesEqual = std::function<bool(const Chunk&, const Chunk&)>;

// Proves the chunks tile tensor.shape exactly: marks identical replicas, and sets status and
// detail (the region of the first gap or overlap). Expects shape, dtype and ranks already valid.
void checkCoverage(TensorInfo& tensor, const std::vector<ShardFile>& files,
                   const ChunkBytesEqual& bytesEqual);

// "[0:4, 8:16]", the region in slice notation.
std::string formatRegion(const Shape& begin, const Shape& end);

} // namespace shardscope
