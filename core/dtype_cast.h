// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype.h"

#include <cstdint>

namespace shardscope {

// The floating dtypes an export can cast between: F64, F32, F16 and BF16. Integer, BOOL, FP8 and
// packed dtypes keep their dtype (FP8 would need scales).
bool isCastable(DType type);

// What a cast changed beyond rounding, counted so it can be reported per tensor.
struct CastCounts {
    uint64_t overflow = 0;  // finite values that became +Inf or -Inf (too large for the target)
    uint64_t underflow = 0; // nonzero finite values that became +0 or -0 (too small)
};

// Converts `n` elements of `from` at `src` to `to` at `dst` (both little-endian, any alignment;
// src and dst must not overlap unless they are the same pointer and `to` is no wider than
// `from`). Both dtypes must be castable. Rounding is to nearest, ties to even, done once from
// the exact source value (never through an intermediate format). NaN stays NaN, made quiet,
// with its sign and as much of its payload as fits (also when from == to, which otherwise
// copies); +-Inf and -0 stay as they are.
void castElements(DType from, DType to, const void* src, void* dst, uint64_t n,
                  CastCounts& counts);

// The same conversion one element at a time through the exact value, with no vector kernel:
// the reference the kernels are tested against.
void castElementsOneByOne(DType from, DType to, const void* src, void* dst, uint64_t n,
                          CastCounts& counts);

} // namespace shardscope
