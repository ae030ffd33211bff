// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <string_view>

namespace shardscope {

// "layers.2" before "layers.10": digit runs compare by value, the rest byte by byte.
bool naturalLess(std::string_view a, std::string_view b);

} // namespace shardscope
