// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "signal_stop.h"

#include <csignal>
#include <pthread.h>

namespace shardscope {
namespace {

sigset_t stopSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1); // only to wake the waiting thread on shutdown
    return set;
}

} // namespace

SignalStop::SignalStop() {
    const sigset_t set = stopSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // A file-size limit (ulimit -f) must fail the write with EFBIG, not kill the process, so
    // the run can clean up and say so.
    std::signal(SIGXFSZ, SIG_IGN);
    m_thread = std::jthread([this](std::stop_token own) {
        const sigset_t wait = stopSignals();
        while (!own.stop_requested()) {
            int signal = 0;
            if (sigwait(&wait, &signal) != 0) continue;
            if (signal == SIGINT || signal == SIGTERM) m_source.request_stop();
        }
    });
}

SignalStop::~SignalStop() {
    m_thread.request_stop();
    pthread_kill(m_thread.native_handle(), SIGUSR1);
}

} // namespace shardscope
