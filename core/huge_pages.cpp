// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "huge_pages.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace shardscope {
namespace {

constexpr uintptr_t kHuge = uintptr_t(2) << 20;
constexpr size_t kMinReserve = size_t(32) << 20;
constexpr size_t kMaxReserve = size_t(1) << 30; // M_TOP_PAD is an int
constexpr int kDefaultTopPad = 128 << 10;       // glibc's default M_TOP_PAD
constexpr size_t kBelowMmap = 120 << 10;        // under glibc's 128 KiB mmap threshold

bool onMainThread() {
    return ::syscall(SYS_gettid) == ::getpid();
}

} // namespace

HeapReserve::HeapReserve(size_t bytes) {
#ifdef __GLIBC__
    if (bytes < kMinReserve || !onMainThread()) return;
    bytes = std::min(bytes, kMaxReserve);
    // The next growth of the heap takes `bytes` more than asked; blocks under the mmap threshold
    // come from the top of the heap, so a few of them force that growth.
    if (mallopt(M_TOP_PAD, int(bytes)) != 1) return;
    char* const before = static_cast<char*>(sbrk(0));
    std::vector<void*> blocks;
    char* after = before;
    for (int i = 0; i < 4 && after == before; ++i) {
        blocks.push_back(malloc(kBelowMmap));
        after = static_cast<char*>(sbrk(0));
    }
    for (void* b : blocks)
        free(b); // back into the top of the heap; trimming keeps M_TOP_PAD of it
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(before) + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t end = reinterpret_cast<uintptr_t>(after) & ~(kHuge - 1);
    if (after <= before || end <= begin) {
        mallopt(M_TOP_PAD, kDefaultTopPad);
        return;
    }
    m_begin = reinterpret_cast<char*>(begin);
    m_end = reinterpret_cast<char*>(end);
    ::madvise(m_begin, size_t(m_end - m_begin), MADV_HUGEPAGE);
#else
    (void)bytes;
#endif
}

HeapReserve::~HeapReserve() {
#ifdef __GLIBC__
    if (m_begin) mallopt(M_TOP_PAD, kDefaultTopPad); // what is left unused may be trimmed again
#endif
}

void HeapReserve::populate() const {
    if (m_begin) ::madvise(m_begin, size_t(m_end - m_begin), MADV_POPULATE_WRITE);
}

} // namespace shardscope
