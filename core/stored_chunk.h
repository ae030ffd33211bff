// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <vector>

namespace shardscope {

class PosixFile;

// DCP items may hold a chunk transposed (stride (1, rows)), channels_last, or zstd-compressed.
// Such a chunk is decoded into row-major bytes before it is copied: that costs memory equal to
// the chunk (usual items are plain row-major bytes and never come here).
std::vector<char> decodeStoredChunk(const Checkpoint& ckpt, const TensorInfo& tensor,
                                    const Chunk& chunk, const PosixFile& file,
                                    std::stop_token stop = {});

// Copies a strided view of `storage` (elements of `elementBytes`) into row-major `out`.
void gatherStrided(const char* storage, const Shape& size, const Shape& stride,
                   uint64_t storageOffset, unsigned elementBytes, char* out);

// Decoded chunks shared by the threads of one export or verify: each is decoded once and kept
// while it is used or while the total stays under the budget.
class DecodedChunks {
public:
    DecodedChunks(const Checkpoint& ckpt, const std::vector<PosixFile>& sources,
                  uint64_t budgetBytes = uint64_t(256) << 20)
        : m_ckpt(ckpt), m_sources(sources), m_budget(budgetBytes) {}

    std::shared_ptr<const std::vector<char>> get(const TensorInfo& tensor, const Chunk& chunk,
                                                 std::stop_token stop);

private:
    struct Entry {
        std::shared_ptr<const std::vector<char>> bytes;
        uint64_t lastUse = 0;
    };
    void evict();

    const Checkpoint& m_ckpt;
    const std::vector<PosixFile>& m_sources;
    uint64_t m_budget;
    std::mutex m_mutex;
    std::map<const Chunk*, Entry> m_entries;
    uint64_t m_clock = 0;
    uint64_t m_held = 0;
};

} // namespace shardscope
