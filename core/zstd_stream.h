// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <stop_token>
#include <string>

namespace shardscope {

class PosixFile;

// A DCP item written with the stream.zstd/1 transform is one zstd stream of the torch.save
// archive. It is decoded front to back with bounded buffers; callers say which parts they need.

// Decoded bytes [offset, offset + length) are copied to `out`.
struct ZstdSlice {
    uint64_t offset = 0;
    uint64_t length = 0;
    char* out = nullptr;
};

// The first and last kEndBytes decoded bytes (fewer when the archive is small) and the size.
struct ZstdEnds {
    static constexpr uint64_t kEndBytes = 256 << 10;
    std::string head;
    std::string tail;
    uint64_t total = 0;
};

// Decodes the item at [begin, begin + length) of `file`. More than maxOutput decoded bytes, a
// broken or truncated stream throw Error(DecompressFailed) naming fileName and fqn.
void decompressItem(const PosixFile& file, uint64_t begin, uint64_t length, uint64_t maxOutput,
                    ZstdSlice* slice, ZstdEnds* ends, std::stop_token stop,
                    const std::string& fileName, const std::string& fqn);

} // namespace shardscope
