// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "dtype.h"
#include "shape.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace shardscope {

// A DCP .metadata file, reduced to what consolidation needs. Built from the pickle's objects by
// class name, so both module layouts (torch.distributed._shard.checkpoint and
// torch.distributed.checkpoint) and enum-by-name or by-value pickles read the same.

inline constexpr uint32_t kNoStorage = ~uint32_t(0);

// Where an item's bytes are: storage_data's (relative_path, offset, length, transforms).
struct DcpStorage {
    uint32_t path = kNoStorage; // index into DcpMetadata::paths; kNoStorage when none was found
    uint64_t offset = 0;
    uint64_t length = 0;
    uint32_t transforms = 0; // index into DcpMetadata::transforms (0: none)
};

struct DcpTensorMeta {
    std::string fqn;
    DType dtype = DType::U8;
    Shape size;
    // In .metadata order (plan order, not offset order). Only offsets and shape are set: the
    // scan fills in the rest and moves the vector into its TensorInfo, so 800,000 chunks are
    // built once rather than copied.
    std::vector<Chunk> chunks;
    std::vector<DcpStorage> storage; // storage[i]: where chunks[i]'s item is
    std::vector<std::string> path;   // planner_data's path, or empty
    std::string problem;             // set when the entry cannot be used (unknown dtype, ...)
};

struct DcpBytesMeta {
    std::string fqn;
    DcpStorage storage;
    std::vector<std::string> path;
};

struct DcpMetadata {
    std::vector<DcpTensorMeta> tensors; // .metadata order
    std::vector<DcpBytesMeta> bytes;
    std::vector<std::string> paths;                   // every relative_path named
    std::vector<std::vector<std::string>> transforms; // [0] is the empty list
    std::string version;                              // Metadata.version, when present
    size_t chunkCount = 0;
};

// Throws Error naming `file` (and the fqn when one entry is at fault): PickleInvalid or
// PickleLimit for bytes that do not unpickle, UnknownClass for an object the reader needs but
// does not know, DcpMetadataInvalid for known objects of the wrong shape.
using DcpPlacedChunk = std::function<void(size_t tensor, size_t chunk, const DcpTensorMeta& t,
                                          const DcpStorage& where, std::string_view path)>;

struct DcpParseHooks {
    // Told of each chunk's storage entry as soon as the parse has matched it (most while the
    // rest of the pickle is still being read), so that reading the items can start early:
    // tensor and chunk index into the result, the tensor as read so far (its dtype and chunk
    // shapes are final), the storage entry and its relative_path. Once per chunk.
    DcpPlacedChunk placed;
    // Bytes of the pickle read so far, every 64 KiB; may throw (Cancelled) to stop the parse.
    std::function<void(uint64_t bytes)> progress;
};

// Both hooks are called on the parsing thread.
DcpMetadata parseDcpMetadata(std::string_view data, const std::string& file,
                             const DcpParseHooks& hooks = {});

} // namespace shardscope
