// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "fault.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <unistd.h>

namespace shardscope {
namespace {

struct FaultPlan {
    bool active = false;
    FaultOp op = FaultOp::Write;
    long at = 0;
    enum class Action { Fail, Kill, Interrupt, Pause } action = Action::Fail;
};

FaultPlan parsePlan() {
    FaultPlan plan;
    const char* env = std::getenv("SHARDSCOPE_TEST_FAULT");
    if (!env || !*env) return plan;
    std::string_view text(env);
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return plan;
    const std::string_view op = text.substr(0, colon);
    if (op == "write")
        plan.op = FaultOp::Write;
    else if (op == "rename")
        plan.op = FaultOp::Rename;
    else if (op == "copy")
        plan.op = FaultOp::Copy;
    else if (op == "mkdir")
        plan.op = FaultOp::Mkdir;
    else if (op == "remove")
        plan.op = FaultOp::Remove;
    else
        return plan;
    char* end = nullptr;
    plan.at = std::strtol(env + colon + 1, &end, 10);
    if (plan.at <= 0) return plan;
    if (end && std::strcmp(end, ":kill") == 0)
        plan.action = FaultPlan::Action::Kill;
    else if (end && std::strcmp(end, ":int") == 0)
        plan.action = FaultPlan::Action::Interrupt;
    else if (end && std::strcmp(end, ":pause") == 0)
        plan.action = FaultPlan::Action::Pause;
    plan.active = true;
    return plan;
}

const FaultPlan& plan() {
    static const FaultPlan p = parsePlan();
    return p;
}

std::atomic<long> g_counts[5];

} // namespace

namespace {

std::function<bool()> g_stopped;

bool stopSignalPending() {
    sigset_t pending;
    sigemptyset(&pending);
    ::sigpending(&pending);
    return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1;
}

// Until the run has seen the stop signal just sent or held: never longer than 10 s.
void awaitStopSeen() {
    if (!g_stopped) return;
    for (int i = 0; i < 10000 && !g_stopped(); ++i)
        ::usleep(1000);
}

} // namespace

void setFaultStopObserver(std::function<bool()> stopped) {
    g_stopped = std::move(stopped);
}

int faultPoint(FaultOp op) {
    const FaultPlan& p = plan();
    if (!p.active || p.op != op) return 0;
    if (g_counts[int(op)].fetch_add(1) + 1 != p.at) return 0;
    switch (p.action) {
    case FaultPlan::Action::Kill:
        std::raise(SIGKILL);
        break;
    case FaultPlan::Action::Interrupt:
        ::kill(::getpid(), SIGINT); // process-directed: the CLI takes signals on one thread
        awaitStopSeen();
        return 0;
    case FaultPlan::Action::Pause: // a test holds the run here (SIGSTOP) and resumes it later
        ::kill(::getpid(), SIGSTOP);
        if (stopSignalPending()) awaitStopSeen(); // one sent while it was held
        return 0;
    case FaultPlan::Action::Fail:
        break;
    }
    return EIO;
}

} // namespace shardscope
