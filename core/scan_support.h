// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

// The parts of a scan that do not depend on the checkpoint's format: progress and stop checks,
// the tiling proof and the replica comparison.

#include "checkpoint.h"
#include "throttled_progress.h"

#include <chrono>
#include <string>
#include <vector>

namespace shardscope {

// Progress of the scan's phases, and the stop check every phase makes.
class ScanReporter {
public:
    explicit ScanReporter(const ScanOptions& options)
        : m_options(options), m_progress(options.progress, std::chrono::milliseconds(50)) {}

    void phase(ScanPhase phase, uint64_t total) {
        m_progress.update([&](ScanProgress& p) {
            p = {phase, 0, total};
            return true;
        });
    }
    void add(uint64_t n) {
        m_progress.update([&](ScanProgress& p) {
            p.done += n;
            return p.done >= p.total;
        });
    }
    void checkStop() const {
        if (m_options.stop.stop_requested()) throw Cancelled();
    }

private:
    const ScanOptions& m_options;
    ThrottledProgress<ScanProgress> m_progress;
};

// Marks tensor `t` invalid (once) and records the problem.
void rejectTensor(Checkpoint& ckpt, std::vector<bool>& invalid, size_t t, const std::string& file,
                  const std::string& message, ErrorKind kind = ErrorKind::ChunkConflict);

// Full shapes (derived from the chunks unless `declaredShapes`, when each tensor's shape is
// already set and every chunk must lie inside it), byte sizes, the tiling proof, then the
// comparison of replicas' bytes. Tensors marked in `invalid` are skipped.
void proveCoverage(Checkpoint& ckpt, std::vector<bool>& invalid, const ScanOptions& options,
                   ScanReporter& reporter, bool declaredShapes);

} // namespace shardscope
