// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "background_job.h"
#include "value_results.h"

#include <QString>

#include <memory>
#include <optional>
#include <stop_token>

namespace shardscope {

// What the functions below run as on a pool thread; each reads through the core only.

// Check Values: computeStats over every tensor, then the findings.
std::shared_ptr<const ValueCheck> checkValues(std::shared_ptr<const Checkpoint> checkpoint,
                                              JobContext& context);

struct CompareRequest {
    std::shared_ptr<const Checkpoint> a; // the open checkpoint
    QString directory;                   // the other one, scanned first
    double atol = 0, rtol = 0;
    bool tolerance = false; // atol/rtol were given: differences within them pass
};

// Compare With: scans the other directory, then diffCheckpoints.
std::shared_ptr<const Comparison> compareCheckpoints(const CompareRequest& request,
                                                     JobContext& context);

// Both sides' statistics of one tensor, for the details pane of a comparison.
struct TensorPairStats {
    int tensor = -1;                 // in the open checkpoint
    std::optional<TensorStats> a, b; // absent: that side has no such tensor or no statistics
    std::optional<DifferenceHistograms>
        difference; // a − b, when the values were compared and differ
};

// Reads the tensor's values on both sides, with progress per side; `a` is left out when the
// caller already has it.
std::shared_ptr<const TensorPairStats> readTensorPair(std::shared_ptr<const Comparison> comparison,
                                                      int tensor, bool readA, JobContext& context);

} // namespace shardscope
