// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <vector>

namespace shardscope {

// Which rank writes each output file of a distributed run: balanced by bytes, not by index
// (`idx % world` leaves ranks idle when file sizes differ). Longest file first to the least
// loaded rank, then single moves and swaps off the most loaded rank while they lower it.
// Deterministic: every rank computes the same answer from the same sizes. A file is never split,
// so a file larger than the fair share is one rank's whole load.
std::vector<int> assignByBytes(const std::vector<uint64_t>& sizes, int ranks);

// The bytes each rank gets under `owners` (for reports and tests).
std::vector<uint64_t> rankLoads(const std::vector<uint64_t>& sizes, const std::vector<int>& owners,
                                int ranks);

} // namespace shardscope
