// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "dtype_totals.h"

#include <algorithm>
#include <limits>

namespace shardscope {

namespace {

void addSaturating(uint64_t& sum, uint64_t value) {
    if (__builtin_add_overflow(sum, value, &sum)) sum = std::numeric_limits<uint64_t>::max();
}

} // namespace

DTypeTotals computeDTypeTotals(const Checkpoint& checkpoint) {
    DTypeTotals out;
    std::vector<DTypeTotal> slots(kDTypeCount);
    for (const TensorInfo& t : checkpoint.tensors) {
        if (t.status == CoverageStatus::Invalid) {
            ++out.invalidTensors;
            continue;
        }
        DTypeTotal& slot = slots[size_t(t.dtype)];
        slot.dtype = t.dtype;
        ++slot.tensors;
        addSaturating(slot.parameters, checkedNumel(t.shape).value_or(0));
        addSaturating(slot.bytes, t.bytes);
    }
    for (const DTypeTotal& slot : slots) {
        if (slot.tensors == 0) continue;
        out.byDType.push_back(slot);
        out.tensors += slot.tensors;
        addSaturating(out.parameters, slot.parameters);
        addSaturating(out.bytes, slot.bytes);
    }
    std::sort(out.byDType.begin(), out.byDType.end(), [](const DTypeTotal& a, const DTypeTotal& b) {
        if (a.bytes != b.bytes) return a.bytes > b.bytes;
        return dtypeName(a.dtype) < dtypeName(b.dtype);
    });
    return out;
}

} // namespace shardscope
