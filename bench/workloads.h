// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace shardscope::bench {

struct Workload {
    std::string name; // "W1"
    std::string description;
    bool inspectOnly = false; // W4 times inspect, not consolidate
};

const std::vector<Workload>& workloads();

// Writes the workload's shard directory (streamed, chunk by chunk) unless a complete copy is
// already in the cache; returns its path.
std::filesystem::path ensureWorkload(const Workload& w, const std::filesystem::path& cache);
bool isGenerated(const Workload& w, const std::filesystem::path& cache);

} // namespace shardscope::bench
