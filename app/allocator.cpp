// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "allocator.h"

#include "memory_release.h"

#include <cstdlib>
#include <unistd.h>
#ifdef SHARDSCOPE_MIMALLOC
#include <mimalloc.h>
#endif

namespace shardscope {

void tuneAllocator(char** argv) {
#ifdef SHARDSCOPE_MIMALLOC
    // mimalloc reads its options once, when it starts, before main (mi_option_set from here was
    // measured to change nothing): the one way to set them is to start again with them in the
    // environment. A user's own setting (MIMALLOC_LARGE_OS_PAGES=0 turns all of this off) is
    // kept, and if the restart fails the program simply goes on.
    //
    // Without EAGER_COMMIT_DELAY=0 each thread's first 32 MiB segment is committed piecemeal in
    // 4 KiB pages, not 2 MiB ones: W3's export then took 4,900 page faults instead of 300, and
    // 0.18 s instead of 0.10 s.
    setMemoryReleaser([] { mi_collect(true); }); // see memory_release.h
    if (std::getenv("MIMALLOC_LARGE_OS_PAGES") || !argv) return;
    if (::setenv("MIMALLOC_LARGE_OS_PAGES", "1", 1) != 0) return;
    const bool delaySet = std::getenv("MIMALLOC_EAGER_COMMIT_DELAY") != nullptr;
    if (!delaySet) ::setenv("MIMALLOC_EAGER_COMMIT_DELAY", "0", 1);
    ::execv("/proc/self/exe", argv);
    ::unsetenv("MIMALLOC_LARGE_OS_PAGES");
    if (!delaySet) ::unsetenv("MIMALLOC_EAGER_COMMIT_DELAY");
#else
    (void)argv;
#endif
}

} // namespace shardscope
