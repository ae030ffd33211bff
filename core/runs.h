// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "shape.h"

#include <cstdint>

namespace shardscope {

// A chunk of a row-major tensor decomposes into equal runs that are contiguous both in the chunk
// and in the full tensor: one run for a row-sharded chunk, one per row for a column-sharded one.
// Runs are in increasing destination order, so a window of the output maps to a run range.
class ChunkRuns {
public:
    ChunkRuns(const Shape& full, const Shape& offsets, const Shape& chunkShape, unsigned bits);

    uint64_t count() const { return m_count; }
    uint64_t elements() const { return m_elements; } // per run
    uint64_t dstElement(uint64_t run) const;         // first element of `run` in the full tensor
    // Byte forms; exact once the scan has proven sub-byte runs start on byte boundaries.
    uint64_t runBytes() const { return m_elements * m_bits / 8; }
    uint64_t dstByte(uint64_t run) const { return dstElement(run) * m_bits / 8; }
    // First run whose destination ends after byte `pos` (count() when none).
    uint64_t firstEndingAfter(uint64_t pos) const;
    // First run that starts at or after byte `pos` (count() when none).
    uint64_t firstStartingFrom(uint64_t pos) const;

private:
    Shape m_outer;       // chunk extent of the dims before the split dim
    Shape m_outerStride; // full-tensor strides of those dims
    uint64_t m_base = 0; // destination element of run 0
    uint64_t m_count = 0;
    uint64_t m_elements = 0;
    unsigned m_bits = 8;
};

} // namespace shardscope
