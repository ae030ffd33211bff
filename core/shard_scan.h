// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

namespace shardscope {

// Reads a directory of DCP safetensors shards: every header is parsed on all cores and merged
// into the checkpoint as soon as it is read, in file order (so messages do not depend on which
// thread was faster), and then released: memory holds the compact chunk list and at most one
// parsed header per thread, never every header at once.
Checkpoint scanShardDirectory(const std::filesystem::path& directory, const ScanOptions& options);

} // namespace shardscope
