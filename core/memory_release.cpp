// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "memory_release.h"

#include <atomic>

namespace shardscope {
namespace {
std::atomic<MemoryReleaser> g_releaser{nullptr};
} // namespace

void setMemoryReleaser(MemoryReleaser release) {
    g_releaser.store(release);
}

void releaseFreeMemory() {
    if (const MemoryReleaser release = g_releaser.load()) release();
}

} // namespace shardscope
