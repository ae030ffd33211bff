// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "shape.h"

namespace shardscope {

std::optional<uint64_t> checkedNumel(const Shape& shape) {
    uint64_t n = 1;
    for (uint64_t d : shape)
        if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
    return n;
}

std::optional<uint64_t> checkedBytes(uint64_t numel, unsigned bits) {
    uint64_t totalBits = 0;
    if (__builtin_mul_overflow(numel, uint64_t(bits), &totalBits)) return std::nullopt;
    if (totalBits % 8 != 0) return std::nullopt;
    return totalBits / 8;
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
