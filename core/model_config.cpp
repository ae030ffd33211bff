// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "model_config.h"

#include "bounded_json.h"
#include "export_rules.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace shardscope {
namespace {

using Ordered = nlohmann::ordered_json;

Ordered parseObject(const std::string& text) {
    parseBoundedJson(text); // refuses nesting deep enough to exhaust the stack
    Ordered doc = Ordered::parse(text, nullptr, true);
    if (!doc.is_object()) throw std::runtime_error("config.json is not a JSON object");
    return doc;
}

// Sets the dtype keys a config level has; the top level always gets torch_dtype.
void setDtype(Ordered& level, const std::string& name, bool always) {
    if (always || level.contains("torch_dtype")) level["torch_dtype"] = name;
    if (level.contains("dtype") && level["dtype"].is_string()) level["dtype"] = name;
}

} // namespace

std::string updatedModelConfig(const std::string& text, std::optional<DType> castTo,
                               bool tieWordEmbeddings) {
    if (!castTo && !tieWordEmbeddings) return text;
    Ordered doc = parseObject(text);
    if (castTo) {
        const std::string name(torchDtypeName(*castTo));
        setDtype(doc, name, true);
        for (auto& [key, value] : doc.items())
            if (value.is_object() && key.size() > 7 && key.ends_with("_config"))
                setDtype(value, name, false);
    }
    if (tieWordEmbeddings) doc["tie_word_embeddings"] = true;
    return doc.dump(2) + "\n";
}

std::optional<bool> tieWordEmbeddings(const std::string& text, bool* stated) {
    if (stated) *stated = false;
    nlohmann::json doc;
    try {
        doc = parseBoundedJson(text);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    if (!doc.is_object()) return std::nullopt;
    auto it = doc.find("tie_word_embeddings");
    if (it == doc.end()) return true;
    if (!it->is_boolean()) return std::nullopt;
    if (stated) *stated = true;
    return it->get<bool>();
}

} // namespace shardscope
