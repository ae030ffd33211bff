// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

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

} // namespace shardscope
