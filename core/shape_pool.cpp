// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "shape_pool.h"

#include <array>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace shardscope {
namespace detail {
namespace {
// Block 0 is static, so id 0 (the empty tuple) reads correctly before anything is interned.
Shape g_firstBlock[size_t(1) << kShapeBlockBits];
} // namespace
std::atomic<const Shape*> g_shapeBlocks[kShapeMaxBlocks] = {g_firstBlock};
} // namespace detail

namespace {

uint64_t hashOf(const Shape& shape) {
    uint64_t h = shape.size() * 0x9E3779B97F4A7C15ull;
    for (uint64_t v : shape) {
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    return h * 0x94D049BB133111EBull;
}

// One of 64 open-addressing tables of ids, each behind its own lock; slots hold 0 when empty
// (id 0 is the empty tuple, which never enters a table).
struct Shard {
    std::mutex mutex;
    std::vector<uint32_t> slots = std::vector<uint32_t>(64, 0);
    size_t used = 0;

    uint32_t* find(const Shape& shape, uint64_t hash) {
        const size_t mask = slots.size() - 1;
        for (size_t i = hash & mask;; i = (i + 1) & mask)
            if (slots[i] == 0 || ShapePool::at(slots[i]) == shape) return &slots[i];
    }
    void grow() {
        std::vector<uint32_t> old(slots.size() * 2, 0);
        old.swap(slots);
        for (uint32_t id : old)
            if (id) *find(ShapePool::at(id), hashOf(ShapePool::at(id))) = id;
    }
};

std::array<Shard, 64> g_shards;
std::atomic<uint32_t> g_next{1};
std::mutex g_blockMutex;

// Where id's tuple goes; allocates its block on first use.
Shape& slotFor(uint32_t id) {
    const size_t block = id >> detail::kShapeBlockBits;
    if (block >= detail::kShapeMaxBlocks) throw std::length_error("too many distinct shapes");
    const Shape* storage = detail::g_shapeBlocks[block].load(std::memory_order_acquire);
    if (!storage) {
        std::lock_guard lock(g_blockMutex);
        storage = detail::g_shapeBlocks[block].load(std::memory_order_acquire);
        if (!storage) {
            storage = new Shape[size_t(1) << detail::kShapeBlockBits];
            detail::g_shapeBlocks[block].store(storage, std::memory_order_release);
        }
    }
    return const_cast<Shape&>(storage[id & detail::kShapeBlockMask]);
}

} // namespace

uint32_t ShapePool::intern(const Shape& shape) {
    if (shape.empty()) return 0;
    const uint64_t hash = hashOf(shape);
    // Scans intern the same few tuples millions of times: a small per-thread cache of recent
    // ids answers most without the shard's lock.
    struct Recent {
        uint64_t hash = 0;
        uint32_t id = 0;
    };
    thread_local std::array<Recent, 256> recent;
    Recent& cached = recent[hash & 255];
    if (cached.id && cached.hash == hash && at(cached.id) == shape) return cached.id;
    const uint32_t id = internLocked(shape, hash);
    cached = {hash, id};
    return id;
}

uint32_t ShapePool::internLocked(const Shape& shape, uint64_t hash) {
    Shard& shard = g_shards[hash >> 58];
    std::lock_guard lock(shard.mutex);
    uint32_t* slot = shard.find(shape, hash);
    if (*slot) return *slot;
    const uint32_t id = g_next.fetch_add(1, std::memory_order_relaxed);
    slotFor(id) = shape;
    *slot = id;
    if (++shard.used * 2 > shard.slots.size()) shard.grow();
    return id;
}

size_t ShapePool::size() {
    return g_next.load(std::memory_order_relaxed);
}

} // namespace shardscope
