// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "runs.h"

namespace shardscope {

ChunkRuns::ChunkRuns(const Shape& full, const Shape& offsets, const Shape& chunkShape,
                     unsigned bits)
    : m_bits(bits) {
    const size_t rank = full.size();
    if (rank == 0) { // a scalar is a single element
        m_count = 1, m_elements = 1;
        return;
    }
    Shape stride(rank, 1);
    for (size_t d = rank - 1; d > 0; --d)
        stride[d - 1] = stride[d] * full[d];

    // Split dim k: every later dim spans the full extent, so from k on the chunk is contiguous.
    size_t k = rank - 1;
    while (k > 0 && chunkShape[k] == full[k])
        --k;

    m_elements = chunkShape[k] * stride[k];
    m_count = 1;
    for (size_t d = 0; d < k; ++d) {
        m_outer.push_back(chunkShape[d]);
        m_outerStride.push_back(stride[d]);
        m_count *= chunkShape[d];
    }
    for (size_t d = 0; d <= k; ++d)
        m_base += offsets[d] * stride[d];
    if (m_elements == 0) m_count = 0;
}

uint64_t ChunkRuns::dstElement(uint64_t run) const {
    uint64_t dst = m_base;
    for (size_t d = m_outer.size(); d-- > 0;) {
        dst += (run % m_outer[d]) * m_outerStride[d];
        run /= m_outer[d];
    }
    return dst;
}

uint64_t ChunkRuns::firstEndingAfter(uint64_t pos) const {
    uint64_t lo = 0, hi = m_count;
    const uint64_t bytes = runBytes();
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (dstByte(mid) + bytes > pos)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

uint64_t ChunkRuns::firstStartingFrom(uint64_t pos) const {
    uint64_t lo = 0, hi = m_count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (dstByte(mid) >= pos)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

} // namespace shardscope
