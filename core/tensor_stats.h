// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "value_stats.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

namespace shardscope {

// What one chunk holds, kept for the findings that compare chunks of a tensor.
struct ChunkSummary {
    uint64_t count = 0;
    uint64_t zeros = 0;
    uint64_t nan = 0;
    uint64_t inf = 0; // +Inf and -Inf
    double rms = 0;   // sqrt(sum of squares / finite count) of the finite elements
};

struct TensorStats {
    bool computed = false; // false: not selected, or a dtype without statistics
    Moments moments;       // the tensor's elements once (replicas not counted)
    Histogram linear;
    Histogram log;
    std::vector<ChunkSummary> chunks; // parallel to TensorInfo::chunks, replicas included
};

// Statistics of every selected tensor, parallel to Checkpoint::tensors; immutable once made so
// it can be shared across threads.
struct CheckpointStats {
    std::vector<TensorStats> tensors;
    uint64_t bytesRead = 0;
    double seconds = 0;
};

struct StatsProgress {
    uint64_t bytesDone = 0;
    uint64_t bytesTotal = 0; // raised when the second read starts
    // The second read: wide-dtype tensors whose elements near histogram bin edges are binned
    // by value (see HistogramRefinement).
    bool binning = false;
};

struct StatsOptions {
    int threads = 0;                   // 0: one per core
    uint64_t windowBytes = 4ull << 20; // bytes read and reduced at a time per thread
    // Which tensors to read; empty: every tensor with a dtype that has statistics.
    std::function<bool(const TensorInfo&)> select;
    // Called from worker threads, one at a time, at most a few times per second.
    std::function<void(const StatsProgress&)> progress;
    std::stop_token stop; // checked between windows; throws Cancelled
    // Tensors read before those among them whose histograms need a second read get it: bounds
    // what waits for it (a few KiB a tensor).
    uint32_t tensorsPerRound = 4096;
};

// Reads every selected tensor's chunks (replicas too, for their own NaN/Inf/zero counts) and
// reduces them with all threads in bounded memory: a window per thread plus, per tensor being
// read, a table of 2^16 counts. Read errors throw Error naming file and tensor.
CheckpointStats computeStats(const Checkpoint& checkpoint, const StatsOptions& options = {});

// Thresholds for the findings; the defaults are what `shardscope-cli check` uses.
struct FindingOptions {
    double normSpread = 100; // chunk RMS ratio (largest / smallest nonzero) that is reported
    // An all-zero float tensor or a constant tensor needs at least this many elements.
    uint64_t minConstantElements = 2;
};

// Value problems, as Problems with these kinds: ValueNaN and ValueInf (Error), AllZeros
// (Warning), ConstantTensor (Warning), ZeroChunk (Error, naming the chunk's region and file),
// NormSpread (Warning). Sorted by tensor, then kind.
std::vector<Problem> valueFindings(const Checkpoint& checkpoint, const CheckpointStats& stats,
                                   const FindingOptions& options = {});

// "[0:4, 8:16]" for a chunk's region of its tensor.
std::string regionText(const Chunk& chunk);

} // namespace shardscope
