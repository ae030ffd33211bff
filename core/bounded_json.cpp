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

std::string jsonErrorText(const nlohmann::json::exception& e) {
    std::string_view text = e.what();
    if (text.starts_with("[json.exception.")) {
        const size_t end = text.find("] ");
        if (end != std::string_view::npos) text.remove_prefix(end + 2);
    }
    for (std::string_view prefix : {"parse error at ", "parse error: "})
        if (text.starts_with(prefix)) text.remove_prefix(prefix.size());
    return std::string(text);
}

} // namespace shardscope
