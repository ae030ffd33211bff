// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <stop_token>
#include <thread>

namespace shardscope {

// Turns SIGINT and SIGTERM into a stop request. The signals are blocked in every thread and
// taken by one thread with sigwait(), so request_stop() never runs inside a signal handler.
// Construct it before any other thread starts, so they all inherit the blocked mask.
class SignalStop {
public:
    SignalStop();
    ~SignalStop();
    SignalStop(const SignalStop&) = delete;
    SignalStop& operator=(const SignalStop&) = delete;

    std::stop_token token() const { return m_source.get_token(); }

private:
    std::stop_source m_source;
    std::jthread m_thread;
};

} // namespace shardscope
