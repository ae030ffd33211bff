// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "shape.h"

#include <atomic>
#include <cstdint>
#include <initializer_list>

namespace shardscope {

namespace detail {
inline constexpr unsigned kShapeBlockBits = 12; // 4,096 tuples per block
inline constexpr uint32_t kShapeBlockMask = (1u << kShapeBlockBits) - 1;
inline constexpr size_t kShapeMaxBlocks = size_t(1) << 18; // 1 G distinct tuples at most
extern std::atomic<const Shape*> g_shapeBlocks[kShapeMaxBlocks];
} // namespace detail

// Every distinct offsets or shape tuple of every chunk, stored once for the whole process.
//
// Why: a chunk's offsets and shape are what make it big. FSDP and tensor-parallel checkpoints
// repeat a few hundred tuples over millions of chunks ([k * rows, 0] for each rank k, and one
// chunk shape per tensor shape), so a chunk keeps two 4-byte ids instead of two Shapes (48 bytes
// each). The arithmetic for 20,000 tensors x 256 ranks (5.12 M chunks): Chunk is 32 bytes
// (file 4, offsets 4, shape 4, stored + replica 4, begin 8, end 8), 164 MB in all, where two
// Shapes alone were 491 MB; the pool holds ~300 tuples. A tuple costs ~56 bytes once (the
// Shape, and 8 bytes of hash table at half load), so even a layout where every chunk has its
// own offsets stays near 90 bytes per chunk.
//
// Tuples are never freed: the pool only grows by tuples never seen before, and a process that
// opens the same kind of checkpoint again reuses them. Interning is thread-safe (the table is
// split into 64 locked shards); reading a tuple by id takes no lock.
class ShapePool {
public:
    static uint32_t intern(const Shape& shape);
    static const Shape& at(uint32_t id) {
        return detail::g_shapeBlocks[id >> detail::kShapeBlockBits].load(
            std::memory_order_acquire)[id & detail::kShapeBlockMask];
    }
    static size_t size(); // distinct tuples interned so far, the empty one included

private:
    static uint32_t internLocked(const Shape& shape, uint64_t hash);
};

// A chunk's offsets or shape: the id of an interned tuple, read like a Shape. Equal tuples
// have equal ids, so == is one integer comparison.
class ShapeRef {
public:
    ShapeRef() = default; // the empty tuple (a scalar's offsets and shape)
    // Implicit on purpose, so `chunk.offsets = shape` reads as before.
    ShapeRef(const Shape& shape) : m_id(ShapePool::intern(shape)) {}
    ShapeRef(std::initializer_list<uint64_t> values) : ShapeRef(Shape(values)) {}

    const Shape& get() const { return ShapePool::at(m_id); }
    operator const Shape&() const { return get(); }
    uint32_t id() const { return m_id; }

    size_t size() const { return get().size(); }
    bool empty() const { return get().empty(); }
    uint64_t operator[](size_t i) const { return get()[i]; }
    Shape::const_iterator begin() const { return get().begin(); }
    Shape::const_iterator end() const { return get().end(); }
    uint64_t front() const { return get().front(); }
    uint64_t back() const { return get().back(); }

    friend bool operator==(ShapeRef a, ShapeRef b) { return a.m_id == b.m_id; }
    friend bool operator==(ShapeRef a, const Shape& b) { return a.get() == b; }
    friend bool operator<(ShapeRef a, ShapeRef b) { return a.m_id != b.m_id && a.get() < b.get(); }
    friend bool operator<(ShapeRef a, const Shape& b) { return a.get() < b; }
    friend bool operator<(const Shape& a, ShapeRef b) { return a < b.get(); }

private:
    uint32_t m_id = 0;
};

} // namespace shardscope
