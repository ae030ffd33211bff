// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "shape.h"

#include <numeric>

namespace shardscope {

std::optional<uint64_t> checkedNumel(const Shape& shape) {
    uint64_t n = 1;
    for (uint64_t d : shape)
        if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
    return n;
}

std::optional<uint64_t> checkedBytes(uint64_t numel, unsigned bits) {
    if (!wholeBytes(numel, bits)) return std::nullopt;
    // In whole bytes first: 2^61 F32 elements are 2^63 bytes, though 2^66 bits.
    const uint64_t step = 8 / std::gcd(uint64_t(bits), uint64_t(8)); // elements per whole byte run
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(numel / step, uint64_t(bits) * step / 8, &bytes))
        return std::nullopt;
    return bytes;
}

bool wholeBytes(uint64_t numel, unsigned bits) {
    return (numel % 8) * bits % 8 == 0;
}

std::string formatShape(const Shape& shape) {
    std::string out = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(shape[i]);
    }
    return out + "]";
}

} // namespace shardscope
