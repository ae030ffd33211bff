// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <string>
#include <string_view>
#include <vector>

namespace shardscope {

// Reads a PyTorch DCP checkpoint (.metadata + *.distcp): the metadata, then every item's archive
// records (never the tensor data, except to compare replicas), into the same Checkpoint a shard
// directory gives, so coverage, planning, export and verify work unchanged.
Checkpoint scanDcpCheckpoint(const std::filesystem::path& directory, const ScanOptions& options);

// What a tensor is for, from the first component of its state-dict path.
TensorKind classifyTensor(std::string_view firstComponent);

// The name a DCP tensor is exported under: a state dict saved as {"model": model.state_dict()}
// has planner paths ("model", "<model fqn>"), and the model's own fqn is what HF files use.
std::string exportNameOf(const std::string& fqn, const std::vector<std::string>& path);

} // namespace shardscope
