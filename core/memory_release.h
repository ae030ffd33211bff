// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

namespace shardscope {

// Hands memory that nothing uses any more back to the system. The programs' allocator keeps
// freed pages for reuse, so without this a cancelled or closed scan of millions of chunks
// leaves the window holding hundreds of megabytes it will not need until the next scan. The
// core knows no allocator: a program sets the way once at start; by default nothing happens.
using MemoryReleaser = void (*)();
void setMemoryReleaser(MemoryReleaser release);
// Safe from any thread; what it can release depends on the allocator (mimalloc: the calling
// thread's free pages, and on the main thread those that exited threads left behind).
void releaseFreeMemory();

} // namespace shardscope
