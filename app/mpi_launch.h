// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "coordinator.h"

#include <memory>
#include <stop_token>

namespace shardscope {

// How many processes the launcher (mpirun, srun, mpiexec) started this one among, read from the
// variables they set; 0 when none did.
int launcherWorldSize();

// Whether this build has the MPI module (SHARDSCOPE_WITH_MPI).
bool builtWithMpi();

// Loads the MPI module that sits beside the executable, starts MPI and returns this process's
// coordinator; throws Error when the build has no MPI or the module cannot be loaded. Ordinary
// runs never load it: Open MPI's libraries cost every start 6 ms (measured), twice over with
// the allocator's re-exec. Every wait for the other processes gives up when `stop` is requested
// (mpirun sends SIGTERM to the survivors when a rank dies): see Coordinator::lost().
std::unique_ptr<Coordinator> startMpi(std::stop_token stop);

} // namespace shardscope
