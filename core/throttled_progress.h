// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <chrono>
#include <functional>
#include <mutex>

namespace shardscope {

// Progress shared by worker threads and reported through one callback, at most once per interval
// unless an update asks to be reported at once (a phase change, a phase's end).
template <class Progress> class ThrottledProgress {
public:
    ThrottledProgress(std::function<void(const Progress&)> callback,
                      std::chrono::milliseconds interval)
        : m_callback(std::move(callback)), m_interval(interval) {}

    // change(progress) edits the value under the lock and returns true to report it now.
    template <class Change> void update(Change&& change) {
        std::lock_guard lock(m_mutex);
        const bool force = change(m_progress);
        if (!m_callback) return;
        const auto now = std::chrono::steady_clock::now();
        if (!force && now - m_last < m_interval) return;
        m_last = now;
        m_callback(m_progress);
    }

private:
    std::function<void(const Progress&)> m_callback;
    std::chrono::milliseconds m_interval;
    std::mutex m_mutex;
    Progress m_progress{};
    std::chrono::steady_clock::time_point m_last{};
};

} // namespace shardscope
