// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace shardscope::bench {

// What a workload must reach; 0 leaves a figure unchecked.
struct Target {
    double maxRatio = 0;   // consolidate time / cp -r time
    double maxSeconds = 0; // consolidate or inspect time
    double maxRssMiB = 0;  // peak RSS of shardscope-cli
    bool againstCat = false; // the ratio is to `cat FILES > /dev/null`, not `cp -r`
    bool againstExport = false; // the ratio is to `consolidate` without the workload's options
};

enum class Mode {
    Consolidate, // timed against cp -r of the same folder
    Inspect,     // W4, DCPMETA, W5i, W6, W7i: times `shardscope-cli inspect DIR [inspectArgs]`
    Values,      // STATS, DIFF: `shardscope-cli <inspectArgs> DIR` against `cat` of its files
};

struct Workload {
    std::string name; // "W1"
    std::string description;
    Target target;
    Mode mode = Mode::Consolidate;
    std::vector<std::string> inspectArgs; // Consolidate: options added to consolidate
    std::string dataOf; // Values, Inspect: the workload whose files it reads (generated with it)
};

const std::vector<Workload>& workloads();
// The workload whose files `w` reads: `w` itself unless it names another in dataOf.
const Workload& dataWorkload(const Workload& w);

// Writes the workload's shard directory (streamed, chunk by chunk) unless a complete copy is
// already in the cache; returns its path.
std::filesystem::path ensureWorkload(const Workload& w, const std::filesystem::path& cache);
bool isGenerated(const Workload& w, const std::filesystem::path& cache);

} // namespace shardscope::bench
