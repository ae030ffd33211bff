// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <optional>
#include <stop_token>
#include <string>

namespace shardscope {

// `shardscope-cli stats`: per-tensor statistics.
struct StatsCommand {
    std::string dir;
    std::string tensor; // a regular expression searched in each name; empty: every tensor
    bool json = false;
    bool histograms = false; // text output: also print each tensor's histograms
    int threads = 0;
};

// `shardscope-cli check`: value findings, exit 1 when one of the listed kinds is found.
struct CheckCommand {
    std::string dir;
    std::string tensor;
    bool json = false;
    std::string failOn = "nan,inf,zeros,zero-chunk";
    double normSpread = 100;
    uint64_t minElements = 2; // all-zero and constant findings need this many elements
    int threads = 0;
};

// `shardscope-cli diff A B`: exit 0 when every tensor is identical (or within tolerance).
struct DiffCommand {
    std::string a, b;
    bool json = false;
    bool namesOnly = false;
    bool all = false; // text output: list identical tensors too
    std::optional<double> atol, rtol;
    int threads = 0;
};

// The kinds `--fail-on` accepts, comma-separated; returns an error text or empty.
std::string checkFailOnList(const std::string& list);
// An error text for a --tensor expression that does not compile, or empty.
std::string checkTensorPattern(const std::string& pattern);

int runStats(const StatsCommand& command, std::stop_token stop);
int runCheck(const CheckCommand& command, std::stop_token stop);
int runDiff(const DiffCommand& command, std::stop_token stop);

} // namespace shardscope
