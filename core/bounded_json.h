// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace shardscope {

// nlohmann's DOM for JSON that ShardScope reads back (an output index, its own journal and
// manifest), with the nesting limit every other parser here has: deeper input throws
// nlohmann::json::exception instead of building a value whose destruction or printing recurses
// without bound. Internal to core: nlohmann is not part of the public headers.
nlohmann::json parseBoundedJson(std::string_view text, int maxDepth = 128);

// A parse error as users read it: "line 1, column 3: syntax error ...", without the library's
// "[json.exception.parse_error.101] parse error at " prefix.
std::string jsonErrorText(const nlohmann::json::exception& e);

} // namespace shardscope
