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
        return 0;
    case FaultPlan::Action::Pause: // a test holds the run here (SIGSTOP) and resumes it later
        ::kill(::getpid(), SIGSTOP);
        return 0;
    case FaultPlan::Action::Fail:
        break;
    }
    return EIO;
}

} // namespace shardscope
