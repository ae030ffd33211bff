// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace shardscope {

// Tensors of one checkpoint with equal dtype, shape and bytes (indices into
// Checkpoint::tensors, in name order). Only tensors whose dtype and shape match another's are
// read: first a few samples of each, then, for those still alike, every byte. Training state
// is left out. `progress` gets bytes read so far.
std::vector<std::vector<size_t>>
findIdenticalTensors(const Checkpoint& checkpoint, std::stop_token stop = {},
                     const std::function<void(uint64_t bytes)>& progress = {});

// "lm_head.weight" as a name or its last components; the input embeddings loaders tie it to.
bool isOutputEmbedding(std::string_view name);
bool isInputEmbedding(std::string_view name);

// The word-embedding tie a loader restores: an output embedding (a name ending in
// "lm_head.weight") identical to an input embedding ("embed_tokens.weight", "wte.weight",
// "word_embeddings.weight", "tok_embeddings.weight"). Other identical tensors (layer norms
// still at their initial ones, zero biases) are never dropped: the model expects each of them.
// Returns dropped fqn -> kept fqn.
std::map<std::string, std::string> tiedToDrop(const Checkpoint& checkpoint,
                                              const std::vector<std::vector<size_t>>& groups);

// Findings: TiedWeights (a warning) for each identical group, and TieConfigMismatch (warning) when
// config.json says tie_word_embeddings is true (Hugging Face's default when absent) but an
// lm_head.weight with other bytes is present, or false while lm_head.weight is missing: both
// load without an error and compute the wrong thing. `configJson` is the config's text, if any.
std::vector<Problem> tiedFindings(const Checkpoint& checkpoint,
                                  const std::vector<std::vector<size_t>>& groups,
                                  const std::optional<std::string>& configJson,
                                  const std::string& configName = "config.json");

// tiedFindings of the checkpoint's identical tensors against the config.json a loader would
// read beside its weights (.hf_metadata's, the HF assets', or the folder's own), if any.
std::vector<Problem> checkTiedWeights(const Checkpoint& checkpoint, std::stop_token stop = {},
                                      const std::function<void(uint64_t bytes)>& progress = {});

} // namespace shardscope
