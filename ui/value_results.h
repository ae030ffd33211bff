// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "checkpoint_diff.h"
#include "tensor_stats.h"

#include <QString>

#include <memory>
#include <optional>
#include <vector>

namespace shardscope {

// One Check Values run over one checkpoint: every tensor's statistics and the findings they
// lead to. Made on a pool thread, never changed after: the models, the problems panel and the
// details pane share it.
struct ValueCheck {
    std::shared_ptr<const Checkpoint> checkpoint;
    std::shared_ptr<const CheckpointStats> stats;
    std::vector<Problem> findings; // valueFindings with the default thresholds
    double seconds = 0;

    // The tensor's statistics, or nullptr when it has none (not read, or a dtype without them).
    const TensorStats* statsOf(size_t tensor) const {
        if (!stats || tensor >= stats->tensors.size() || !stats->tensors[tensor].computed)
            return nullptr;
        return &stats->tensors[tensor];
    }
};

// The open checkpoint compared with another one, tensor by tensor (by export name).
struct Comparison {
    std::shared_ptr<const Checkpoint> a;                // the open checkpoint: the table's rows
    std::shared_ptr<const Checkpoint> b;                // the other one
    QString directory;                                  // b's, as the user gave it
    std::optional<std::pair<double, double>> tolerance; // atol, rtol, when given
    std::shared_ptr<const DiffReport> report;
    std::vector<int> diffOfTensor; // per tensor of a: index into report->tensors
    double seconds = 0;

    const TensorDiff* diffOf(size_t tensor) const {
        if (!report || tensor >= diffOfTensor.size() || diffOfTensor[tensor] < 0) return nullptr;
        return &report->tensors[size_t(diffOfTensor[tensor])];
    }
    // As DiffReport::same() counts it: anything but identical (or within the tolerance).
    static bool differs(DiffStatus status) {
        return status != DiffStatus::Identical && status != DiffStatus::WithinTolerance &&
               status != DiffStatus::SameLayout && status != DiffStatus::NotExported;
    }
};

} // namespace shardscope
