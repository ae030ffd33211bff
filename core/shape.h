// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace shardscope {

// Dimensions or offsets of a tensor. Almost every tensor has rank <= 4, so those live inline:
// scanning 800,000 chunks then costs no allocation per chunk.
class Shape {
public:
    using value_type = uint64_t;
    using iterator = uint64_t*;
    using const_iterator = const uint64_t*;

    Shape() = default;
    Shape(std::initializer_list<uint64_t> values) { assignRange(values.begin(), values.size()); }
    explicit Shape(size_t count, uint64_t value = 0) { assign(count, value); }
    Shape(const Shape& other) { assignRange(other.data(), other.size()); }
    Shape(Shape&& other) noexcept { take(other); }
    Shape& operator=(const Shape& other) {
        if (this != &other) assignRange(other.data(), other.size());
        return *this;
    }
    Shape& operator=(Shape&& other) noexcept {
        if (this != &other) {
            delete[] m_heap;
            take(other);
        }
        return *this;
    }
    ~Shape() { delete[] m_heap; }

    size_t size() const { return m_size; }
    bool empty() const { return m_size == 0; }
    uint64_t* data() { return m_heap ? m_heap : m_inline; }
    const uint64_t* data() const { return m_heap ? m_heap : m_inline; }
    uint64_t& operator[](size_t i) { return data()[i]; }
    uint64_t operator[](size_t i) const { return data()[i]; }
    iterator begin() { return data(); }
    iterator end() { return data() + m_size; }
    const_iterator begin() const { return data(); }
    const_iterator end() const { return data() + m_size; }
    uint64_t front() const { return data()[0]; }
    uint64_t back() const { return data()[m_size - 1]; }

    void clear() { m_size = 0; }
    void push_back(uint64_t value) {
        reserve(m_size + 1);
        data()[m_size++] = value;
    }
    void assign(size_t count, uint64_t value) {
        reserve(count);
        for (size_t i = 0; i < count; ++i)
            data()[i] = value;
        m_size = uint32_t(count);
    }
    void reserve(size_t count) {
        if (count <= m_capacity) return;
        const size_t capacity = std::max<size_t>(count, size_t(m_capacity) * 2);
        auto* grown = new uint64_t[capacity];
        std::copy(begin(), end(), grown);
        delete[] m_heap;
        m_heap = grown;
        m_capacity = uint32_t(capacity);
    }

    friend bool operator==(const Shape& a, const Shape& b) {
        // A loop rather than std::equal, which becomes a call to memcmp: shapes are a few
        // numbers, compared for every chunk a scan interns (perf: 8% of scanning W3).
        if (a.size() != b.size()) return false;
        const uint64_t* x = a.begin();
        const uint64_t* y = b.begin();
        for (size_t i = 0; i < a.size(); ++i)
            if (x[i] != y[i]) return false;
        return true;
    }
    friend bool operator<(const Shape& a, const Shape& b) {
        return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
    }

private:
    static constexpr uint32_t kInline = 4;
    void assignRange(const uint64_t* values, size_t count) {
        reserve(count);
        std::copy(values, values + count, data());
        m_size = uint32_t(count);
    }
    void take(Shape& other) {
        m_size = other.m_size;
        m_capacity = other.m_capacity;
        m_heap = other.m_heap;
        if (!m_heap) std::copy(other.m_inline, other.m_inline + m_size, m_inline);
        other.m_heap = nullptr;
        other.m_size = 0;
        other.m_capacity = kInline;
    }

    uint64_t* m_heap = nullptr; // used once the rank passes kInline
    uint32_t m_size = 0;
    uint32_t m_capacity = kInline;
    uint64_t m_inline[kInline] = {};
};

// Element count, or nothing when the product overflows 64 bits.
std::optional<uint64_t> checkedNumel(const Shape& shape);
// Byte size of numel elements of `bits` each, or nothing when it is not a whole number of bytes
// or is 2^64 or more.
std::optional<uint64_t> checkedBytes(uint64_t numel, unsigned bits);
// Whether numel elements of `bits` bits fill whole bytes (F4 needs an even count).
bool wholeBytes(uint64_t numel, unsigned bits);
// "[2048, 5504]" style, as users know it from PyTorch.
std::string formatShape(const Shape& shape);

} // namespace shardscope
