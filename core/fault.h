// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <functional>
#include <string>

namespace shardscope {

// Test-only fault injection, so process-level tests can fail, interrupt or kill a run at an exact
// file operation instead of racing a timer. Off unless SHARDSCOPE_TEST_FAULT is set, e.g.
//   SHARDSCOPE_TEST_FAULT=rename:3        the 3rd rename fails with EIO
//   SHARDSCOPE_TEST_FAULT=write:10:kill   the process is killed (SIGKILL) at the 10th write
//   SHARDSCOPE_TEST_FAULT=copy:1:int      SIGINT is raised at the 1st sidecar copy
//   SHARDSCOPE_TEST_FAULT=mkdir:2:pause   the process stops itself (SIGSTOP) at the 2nd mkdir
// Counting is per operation kind and process-wide.
enum class FaultOp { Write, Rename, Copy, Mkdir, Remove };

// Returns 0 to go on, or the errno the caller must fail with. May not return (kill).
int faultPoint(FaultOp op);

// How the fault hook sees that the run noticed a stop signal. The CLI takes SIGINT and SIGTERM
// on a thread of its own, so without this an injected interrupt (or one sent while the run was
// held with :pause) could lose the race against a small run that finishes first; with it, the
// faulted operation returns only once the stop is requested (or after 10 s).
void setFaultStopObserver(std::function<bool()> stopped);

} // namespace shardscope
