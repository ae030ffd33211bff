// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "cpu_state.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace shardscope {

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx"))) static void zeroUpper() {
    _mm256_zeroupper();
}

void clearVectorUpperState() {
    static const bool hasAvx = __builtin_cpu_supports("avx");
    if (hasAvx) zeroUpper();
}
#else
void clearVectorUpperState() {}
#endif

} // namespace shardscope
