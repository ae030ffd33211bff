// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <cstdint>
#include <filesystem>
#include <stop_token>

namespace shardscope {

// An index larger than this is refused; real ones are a few MiB even for the largest models.
inline constexpr uint64_t kMaxHfIndexBytes = uint64_t(64) << 20;

// True when `directory` holds a consolidated Hugging Face folder rather than DCP shards: it has
// model.safetensors.index.json, or at least one of its *.safetensors headers reads and none has
// DCP_SHARDING_INFO. Headers are read in name order up to the first with sharding info, so a
// DCP shard directory costs one header. A stop request throws Cancelled.
bool isHfFolder(const std::filesystem::path& directory, std::stop_token stop = {});

// Reads a consolidated Hugging Face checkpoint: a single *.safetensors file (its directory is the
// file's parent), a folder with model.safetensors.index.json (the files it names, checked against
// it; other *.safetensors files are warned about and not read), or the *.safetensors files of a
// folder without one. Every tensor gets one chunk at offsets zero; a tensor in two files is a
// problem. An index that cannot be read or has no weight_map of file names throws Error; a stop
// request throws Cancelled.
Checkpoint scanHfFolder(const std::filesystem::path& pathOrDir, const ScanOptions& options = {});

} // namespace shardscope
