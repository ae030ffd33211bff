// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "error.h"
#include "shape.h"

#include <string>
#include <string_view>
#include <vector>

namespace shardscope {

struct SafetensorsHeader;

// One tensor's line in DCP_SHARDING_INFO: where its chunk starts in the full tensor.
struct ShardingEntry {
    std::string fqn;
    Shape offsets; // saved_offsets, one per dimension ([] for a scalar)
};

// Parses DCP_SHARDING_INFO, {"<fqn>": {"saved_offsets": [o0, ...]}, ...}, keeping the order it
// was written in (DCP writes header order, which the scan's merge exploits). Throws JsonError
// with a kind, the tensor where known and a message ready for the user; a duplicate fqn is
// DuplicateShardingEntry. Reads only `text`: safe on any bytes.
std::vector<ShardingEntry> parseShardingInfo(std::string_view text);
void parseShardingInfo(std::string_view text, std::vector<ShardingEntry>& into); // reuses memory

// The sharding info of a shard file's header; throws Error naming the file, of kind
// MissingShardingInfo when __metadata__ has none.
std::vector<ShardingEntry> shardingInfoOf(const SafetensorsHeader& header);
void shardingInfoOf(const SafetensorsHeader& header, std::vector<ShardingEntry>& into);

} // namespace shardscope
