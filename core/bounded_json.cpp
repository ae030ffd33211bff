// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "bounded_json.h"

namespace shardscope {

nlohmann::json parseBoundedJson(std::string_view text, int maxDepth) {
    const nlohmann::json::parser_callback_t limit =
        [maxDepth](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
            if (depth > maxDepth)
                throw nlohmann::json::out_of_range::create(
                    406, "nesting deeper than " + std::to_string(maxDepth), nullptr);
            return true;
        };
    return nlohmann::json::parse(text.begin(), text.end(), limit);
}

} // namespace shardscope
