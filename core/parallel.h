// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "cpu_state.h"

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shardscope {

inline int effectiveThreads(int requested) {
    if (requested > 0) return requested;
    unsigned n = std::thread::hardware_concurrency();
    return n ? int(n) : 2;
}

// Runs body(i, worker) for i in [0, count) on up to `threads` threads (worker in [0, threads)),
// handing out indices in order. The first exception stops the hand-out and is rethrown on the
// calling thread.
inline void parallelForWorkers(size_t count, int threads,
                               const std::function<void(size_t, int)>& body) {
    const size_t workers = std::min<size_t>(size_t(effectiveThreads(threads)), count);
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex errorMutex;
    auto work = [&](int worker) {
        clearVectorUpperState();
        for (;;) {
            if (failed.load(std::memory_order_relaxed)) return;
            size_t i = next.fetch_add(1);
            if (i >= count) return;
            try {
                body(i, worker);
            } catch (...) {
                std::lock_guard lock(errorMutex);
                if (!error) error = std::current_exception();
                failed = true;
            }
        }
    };
    if (workers <= 1) {
        work(0);
    } else {
        std::vector<std::jthread> pool;
        for (size_t w = 1; w < workers; ++w)
            pool.emplace_back(work, int(w));
        work(0);
    }
    if (error) std::rethrow_exception(error);
}

inline void parallelFor(size_t count, int threads, const std::function<void(size_t)>& body) {
    parallelForWorkers(count, threads, [&](size_t i, int) { body(i); });
}

} // namespace shardscope
