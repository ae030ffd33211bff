// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <filesystem>
#include <functional>
#include <set>
#include <stop_token>
#include <string>
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

// One rank's part of a distributed verify: it compares only the bytes of `files` with the
// shards, and only the rank with `wholeDirectory` reports the checks of the index and layout
// (every rank makes them, as they find the tensors, but one report of them is enough).
struct VerifyShare {
    std::set<std::string> files;
    bool wholeDirectory = true;
};

// Re-opens a consolidated directory (dot-files, ShardScope's own bookkeeping, are ignored) with the
// strict reader and checks the index, the layout rules ShardScope writes by, and (with `against`)
// every chunk's bytes at their place.
VerifyReport verifyOutput(const std::filesystem::path& outDir, const Checkpoint* against,
                          std::stop_token stop = {},
                          const std::function<void(uint64_t done, uint64_t total)>& progress = {},
                          const VerifyShare* share = nullptr);

} // namespace shardscope
