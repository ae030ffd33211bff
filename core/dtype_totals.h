// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <cstdint>
#include <vector>

namespace shardscope {

struct DTypeTotal {
    DType dtype = DType::U8;
    uint64_t tensors = 0;
    uint64_t parameters = 0; // elements
    uint64_t bytes = 0;
};

struct DTypeTotals {
    std::vector<DTypeTotal> byDType; // largest bytes first; ties by dtype name
    uint64_t tensors = 0;            // counted tensors (invalid ones excluded)
    uint64_t parameters = 0;         // saturates at 2^64 - 1
    uint64_t bytes = 0;
    uint64_t invalidTensors = 0; // not counted above: no shape can be trusted
};

// Per-dtype tensor, parameter and byte totals of a checkpoint, for a summary pane.
DTypeTotals computeDTypeTotals(const Checkpoint& checkpoint);

} // namespace shardscope
