// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "tensor_reader.h"

#include "runs.h"

#include <algorithm>
#include <cstring>

namespace shardscope {

TensorReader::TensorReader(const Checkpoint& checkpoint) : m_ckpt(checkpoint) {
    if (m_ckpt.files.size() > 64) raiseOpenFileLimit();
    m_files.reserve(m_ckpt.files.size());
    m_openErrors.resize(m_ckpt.files.size());
    // A file that cannot be opened fails only the tensors read from it (the scan has already
    // rejected them, as a rule), not every reader of the checkpoint.
    for (size_t i = 0; i < m_ckpt.files.size(); ++i) {
        m_files.emplace_back();
        if (!m_ckpt.files[i].valid) continue;
        try {
            m_files.back() = PosixFile::openRead(m_ckpt.files[i].path);
        } catch (const Error& e) {
            m_openErrors[i] = std::make_unique<Error>(e);
        }
    }
    m_decoded = std::make_unique<DecodedChunks>(m_ckpt, m_files);
}

void TensorReader::read(const TensorInfo& tensor, uint64_t from, uint64_t to, char* out,
                        Scratch& scratch, std::stop_token stop) const {
    try {
        for (const Chunk& chunk : tensor.chunks)
            if (chunk.file < m_openErrors.size() && m_openErrors[chunk.file])
                throw *m_openErrors[chunk.file];
        scratch.pieces.clear();
        collectPieces(tensor, from, to, 0, false, scratch.pieces);
        if (scratch.pieces.size() == 1 && scratch.pieces[0].dst == from &&
            scratch.pieces[0].length == to - from) { // one run: straight into place
            const Piece& p = scratch.pieces[0];
            m_files[p.file].readExact(out, p.length, p.src);
        } else {
            readPieces(scratch.pieces, m_files, scratch.buffer,
                       [&](const Piece& p, const char* bytes) {
                           std::memcpy(out + (p.dst - from), bytes, p.length);
                       });
        }
        for (const Chunk& chunk : tensor.chunks)
            if (chunk.stored && !chunk.replica) readStored(tensor, chunk, from, to, out, stop);
    } catch (const Error& e) {
        if (!e.tensor().empty()) throw;
        throw Error(e.kind(), e.file(), tensor.fqn, e.message());
    }
}

// The chunk's runs that meet [from, to), copied out of its decoded row-major bytes.
void TensorReader::readStored(const TensorInfo& tensor, const Chunk& chunk, uint64_t from,
                              uint64_t to, char* out, std::stop_token stop) const {
    ChunkRuns runs(tensor.shape, chunk.offsets, chunk.shape, dtypeBits(tensor.dtype));
    const uint64_t runBytes = runs.runBytes();
    if (runs.count() == 0 || runBytes == 0) return;
    const uint64_t r0 = runs.firstEndingAfter(from), r1 = runs.firstStartingFrom(to);
    if (r0 >= r1) return;
    const auto bytes = m_decoded->get(tensor, chunk, stop);
    for (uint64_t r = r0; r < r1; ++r) {
        const uint64_t start = runs.dstByte(r);
        const uint64_t a = std::max(start, from), b = std::min(start + runBytes, to);
        if (a < b) std::memcpy(out + (a - from), bytes->data() + r * runBytes + (a - start), b - a);
    }
}

} // namespace shardscope
