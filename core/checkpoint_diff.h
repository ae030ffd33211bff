// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "value_stats.h"

#include <cstdint>
#include <functional>
#include <limits>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace shardscope {

// What a tensor name holds on the two sides of a diff.
enum class DiffStatus : uint8_t {
    Identical,       // same dtype, shape and bytes
    WithinTolerance, // bytes differ, every element within --atol/--rtol
    Differs,         // elements beyond tolerance (or any byte, without a tolerance)
    OnlyInA,
    OnlyInB,
    DtypeChanged,
    ShapeChanged,
    NotCompared, // a side whose chunks do not cover the tensor
    SameLayout,  // --names-only: same dtype and shape, values not read
    // Training state (optimizer, scheduler, ...) on one side where the other holds model weights
    // only, as an export does: not a difference.
    NotExported,
};
std::string_view diffStatusName(DiffStatus status); // "identical", "within-tolerance", ...

struct TensorDiff {
    std::string name;       // the name the tensor is exported under
    int64_t a = -1, b = -1; // indices into each side's tensors, -1 when absent
    DiffStatus status = DiffStatus::Identical;
    bool compared = false; // the values were read (not --names-only, same dtype and shape)
    // Complex and packed sub-byte dtypes: elements compared by their bits; the three numbers
    // below are NaN and no tolerance applies.
    bool bytesOnly = false;
    uint64_t elements = 0;
    uint64_t differing = 0;       // elements whose bytes differ
    uint64_t beyondTolerance = 0; // |a - b| > atol + rtol * |b|, NaN against a number, Inf mismatch
    uint64_t nanMismatch = 0;     // positions NaN on one side only
    uint64_t infMismatch = 0;     // positions +-Inf on a side where the other holds another value
    double maxAbsDiff = 0;        // over positions finite on both sides
    double relativeL2 = 0;        // ||a - b|| / ||a|| (finite positions); Inf when ||a|| is 0
    double cosine = std::numeric_limits<double>::quiet_NaN(); // NaN when a side is all zero
};

// Why a pair is NotCompared, side by side: "in A, conflict: x and y both hold region [0:256]
// with different bytes" (the coverage detail of each side that is not complete).
std::string notComparedReason(const TensorInfo& a, const TensorInfo& b, const std::string& sideA,
                              const std::string& sideB);

using DiffByteProgress = std::function<void(uint64_t done, uint64_t total)>;

struct DiffOptions {
    double atol = 0, rtol = 0;
    bool tolerance = false; // atol/rtol were given: differences within them pass
    bool namesOnly = false; // compare names, dtypes and shapes only
    int threads = 0;
    uint64_t windowBytes = 4ull << 20;
    DiffByteProgress progress; // bytes of both sides
    std::stop_token stop;
};

struct DiffReport {
    std::vector<TensorDiff> tensors; // sorted by name
    uint64_t bytesRead = 0;
    double seconds = 0;
    // Every tensor identical, or within tolerance when one was given.
    bool same() const;
};

// Streams both sides window by window in the full tensors' row-major order, all threads, with
// bounded memory (two windows per thread). Read errors throw Error naming side, file and tensor;
// a stop request throws Cancelled.
DiffReport diffCheckpoints(const Checkpoint& a, const Checkpoint& b, const DiffOptions& options);

// How a − b is spread over the positions finite on both sides of one tensor (same dtype and
// shape on both): 64 bins from −m to m, m being max |a − b|, and 64 bins of log10|a − b| over
// the nonzero differences. And each side's finite values binned on the same edges as the
// other's (from the smaller min to the larger max; log10|x| likewise), so that their bars can
// be compared bin by bin. Two reads of both sides (the first finds the ranges), on this thread;
// progress counts the bytes of both sides over both reads.
struct DifferenceHistograms {
    Histogram linear, log;
    uint64_t counted = 0;                // positions finite on both sides
    uint64_t nonzero = 0;                // of those, where a != b
    Histogram sideLinear[2], sideLog[2]; // a's and b's values, on common edges
};
DifferenceHistograms differenceHistograms(const Checkpoint& a, const TensorInfo& ta,
                                          const Checkpoint& b, const TensorInfo& tb,
                                          std::stop_token stop = {},
                                          const DiffByteProgress& progress = {});

} // namespace shardscope
