// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype.h"

#include <cstdint>
#include <optional>
#include <string>

// A Hugging Face config.json as far as an export changes or checks it.

namespace shardscope {

// Real configs are a few KiB; a larger file is not read into memory.
inline constexpr uint64_t kMaxConfigBytes = uint64_t(16) << 20;

// The config with "torch_dtype" (and "dtype", where present) set to `castTo` and, when
// `tieWordEmbeddings`, "tie_word_embeddings": true. Nested configs of multimodal models
// (text_config, vision_config, ...) that carry their own dtype get it too. Keys keep their
// order; the result is indented by two spaces, as transformers writes it. Nothing to change
// returns the text as it is. Throws std::runtime_error when the text is not a JSON object.
std::string updatedModelConfig(const std::string& text, std::optional<DType> castTo,
                               bool tieWordEmbeddings);

// tie_word_embeddings as the config states it; Hugging Face's default (true) when absent.
// Nothing when the text is not a JSON object or the value is not a boolean.
std::optional<bool> tieWordEmbeddings(const std::string& text, bool* stated = nullptr);

} // namespace shardscope
