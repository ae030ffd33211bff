// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <filesystem>
#include <functional>
#include <stop_token>
#include <vector>

namespace shardscope {

struct VerifyReport {
    std::vector<Problem> problems;
    size_t files = 0;
    size_t tensors = 0;
    uint64_t bytesCompared = 0; // against the shards, when given
    size_t castTensors = 0;     // compared with the shards' values cast again (export rules)
    bool ok() const;
};

// Re-opens a consolidated directory (dot-files, ShardScope's own bookkeeping, are ignored) with the
// strict reader and checks the index, the layout rules ShardScope writes by, and (with `against`)
// every chunk's bytes at their place.
VerifyReport verifyOutput(const std::filesystem::path& outDir, const Checkpoint* against,
                          std::stop_token stop = {},
                          const std::function<void(uint64_t done, uint64_t total)>& progress = {});

} // namespace shardscope
