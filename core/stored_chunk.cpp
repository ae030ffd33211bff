// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "stored_chunk.h"

#include "posix_file.h"
#include "zstd_stream.h"

#include <cstring>

namespace shardscope {

void gatherStrided(const char* storage, const Shape& size, const Shape& stride,
                   uint64_t storageOffset, unsigned elementBytes, char* out) {
    const size_t rank = size.size();
    for (size_t d = 0; d < rank; ++d)
        if (size[d] == 0) return;
    if (rank == 0) {
        std::memcpy(out, storage + storageOffset * elementBytes, elementBytes);
        return;
    }
    // An odometer over all but the last dimension; the last one is the inner loop.
    Shape index(rank, 0);
    const uint64_t inner = size[rank - 1], innerStride = stride[rank - 1];
    for (;;) {
        uint64_t base = storageOffset;
        for (size_t d = 0; d + 1 < rank; ++d)
            base += index[d] * stride[d];
        const char* src = storage + base * elementBytes;
        if (innerStride == 1) {
            std::memcpy(out, src, inner * elementBytes);
            out += inner * elementBytes;
        } else {
            for (uint64_t i = 0; i < inner; ++i, out += elementBytes)
                std::memcpy(out, src + i * innerStride * elementBytes, elementBytes);
        }
        size_t d = rank - 1;
        while (d > 0) {
            if (++index[d - 1] < size[d - 1]) break;
            index[d - 1] = 0;
            --d;
        }
        if (d == 0) return;
    }
}

std::vector<char> decodeStoredChunk(const Checkpoint& ckpt, const TensorInfo& tensor,
                                    const Chunk& chunk, const PosixFile& file,
                                    std::stop_token stop) {
    const StoredLayout& layout = ckpt.stored.at(chunk.stored - 1);
    const unsigned elementBytes = dtypeBits(tensor.dtype) / 8;
    std::vector<char> storage(layout.dataBytes);
    if (layout.zstd) {
        ZstdSlice slice{layout.dataOffset, layout.dataBytes, storage.data()};
        decompressItem(file, layout.itemBegin, layout.itemEnd - layout.itemBegin,
                       layout.streamBytes, &slice, nullptr, stop,
                       ckpt.files[chunk.file].name, tensor.fqn);
    } else {
        file.readExact(storage.data(), storage.size(), chunk.begin);
    }
    if (layout.strides.empty() && layout.storageOffset == 0) return storage;
    Shape strides = layout.strides;
    if (strides.empty()) { // row-major at an offset
        strides.assign(chunk.shape.size(), 1);
        for (size_t d = chunk.shape.size(); d-- > 1;)
            strides[d - 1] = strides[d] * chunk.shape[d];
    }
    const auto numel = checkedNumel(chunk.shape);
    std::vector<char> out(*numel * elementBytes);
    gatherStrided(storage.data(), chunk.shape, strides, layout.storageOffset, elementBytes,
                  out.data());
    return out;
}

std::shared_ptr<const std::vector<char>> DecodedChunks::get(const TensorInfo& tensor,
                                                            const Chunk& chunk,
                                                            std::stop_token stop) {
    std::lock_guard lock(m_mutex);
    auto& entry = m_entries[&chunk];
    entry.lastUse = ++m_clock;
    std::shared_ptr<const std::vector<char>> bytes = entry.bytes; // held: evict() keeps it
    if (!bytes) {
        bytes = std::make_shared<const std::vector<char>>(
            decodeStoredChunk(m_ckpt, tensor, chunk, m_sources[chunk.file], stop));
        entry.bytes = bytes;
        m_held += bytes->size();
        evict();
    }
    return bytes;
}

// Drops the least recently used chunks no thread holds until the total fits the budget.
void DecodedChunks::evict() {
    while (m_held > m_budget) {
        auto victim = m_entries.end();
        for (auto it = m_entries.begin(); it != m_entries.end(); ++it)
            if (it->second.bytes && it->second.bytes.use_count() == 1 &&
                (victim == m_entries.end() || it->second.lastUse < victim->second.lastUse))
                victim = it;
        if (victim == m_entries.end()) return;
        m_held -= victim->second.bytes->size();
        m_entries.erase(victim);
    }
}

} // namespace shardscope
