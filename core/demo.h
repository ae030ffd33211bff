// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <filesystem>

namespace shardscope {

// Writes a small, realistic DCP checkpoint into `directory` (created if needed): a 4-layer mini
// transformer over 4 rank files with row-, column- and block-sharded matrices, replicated norms
// and a bias, a scalar, BF16/F32/I64/BOOL tensors, and .hf_metadata/ with a 3-file mapping.
// With `valueFaults`, the values carry the failures `shardscope-cli check` finds: a chunk of
// zeros (a dropped shard), an all-zero tensor, a NaN, an Inf and a shard scaled 1000x.
void writeDemoCheckpoint(const std::filesystem::path& directory, bool valueFaults = false);

} // namespace shardscope
