// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <string>

namespace shardscope {

// "1.50 GiB": binary units as tools like du -h show them.
std::string formatBytes(uint64_t bytes);
// "1m 05s" / "12s" / "0.4s".
std::string formatSeconds(double seconds);

} // namespace shardscope
