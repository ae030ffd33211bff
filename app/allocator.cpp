// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "allocator.h"

#include <cstdlib>
#include <unistd.h>

namespace shardscope {

void tuneAllocator(char** argv) {
#ifdef SHARDSCOPE_MIMALLOC
    // mimalloc reads this option once, when it starts, before main: the one way to set it from
    // here is to start again with it in the environment. A user's own setting (0 turns 2 MiB
    // pages off) is kept, and if the restart fails the program simply goes on.
    if (std::getenv("MIMALLOC_LARGE_OS_PAGES") || !argv) return;
    if (::setenv("MIMALLOC_LARGE_OS_PAGES", "1", 1) != 0) return;
    ::execv("/proc/self/exe", argv);
    ::unsetenv("MIMALLOC_LARGE_OS_PAGES");
#else
    (void)argv;
#endif
}

} // namespace shardscope
