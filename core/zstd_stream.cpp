// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "zstd_stream.h"

#include "error.h"
#include "posix_file.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

namespace shardscope {
namespace {

struct DStreamFree {
    void operator()(ZSTD_DStream* s) const { ZSTD_freeDStream(s); }
};

// Hands each decoded block to the slice and the ends.
class Sink {
public:
    Sink(ZstdSlice* slice, ZstdEnds* ends) : m_slice(slice), m_ends(ends) {}

    void take(const char* data, uint64_t n, uint64_t at) {
        if (m_slice) {
            const uint64_t lo = std::max(at, m_slice->offset);
            const uint64_t hi = std::min(at + n, m_slice->offset + m_slice->length);
            if (lo < hi) std::memcpy(m_slice->out + (lo - m_slice->offset), data + (lo - at), hi - lo);
        }
        if (!m_ends) return;
        if (m_ends->head.size() < ZstdEnds::kEndBytes)
            m_ends->head.append(data, std::min<uint64_t>(n, ZstdEnds::kEndBytes - m_ends->head.size()));
        m_ends->tail.append(data, n);
        if (m_ends->tail.size() > 2 * ZstdEnds::kEndBytes)
            m_ends->tail.erase(0, m_ends->tail.size() - ZstdEnds::kEndBytes);
    }
    void finish(uint64_t total) {
        if (!m_ends) return;
        if (m_ends->tail.size() > ZstdEnds::kEndBytes)
            m_ends->tail.erase(0, m_ends->tail.size() - ZstdEnds::kEndBytes);
        m_ends->total = total;
    }

private:
    ZstdSlice* m_slice;
    ZstdEnds* m_ends;
};

} // namespace

void decompressItem(const PosixFile& file, uint64_t begin, uint64_t length, uint64_t maxOutput,
                    ZstdSlice* slice, ZstdEnds* ends, std::stop_token stop,
                    const std::string& fileName, const std::string& fqn) {
    auto fail = [&](const std::string& message) {
        throw Error(ErrorKind::DecompressFailed, fileName, fqn,
                    "the zstd item at byte " + std::to_string(begin) + " " + message);
    };
    std::unique_ptr<ZSTD_DStream, DStreamFree> stream(ZSTD_createDStream());
    if (!stream) fail("cannot be decoded: out of memory");
    ZSTD_initDStream(stream.get());
    std::vector<char> in(std::min<uint64_t>(length, ZSTD_DStreamInSize() * 8));
    std::vector<char> out(ZSTD_DStreamOutSize() * 8);
    Sink sink(slice, ends);
    uint64_t consumed = 0, produced = 0;
    size_t last = 1; // ZSTD's hint: 0 once a frame is decoded and flushed
    while (consumed < length) {
        if (stop.stop_requested()) throw Cancelled();
        const uint64_t n = std::min<uint64_t>(in.size(), length - consumed);
        file.readExact(in.data(), n, begin + consumed);
        consumed += n;
        ZSTD_inBuffer input{in.data(), n, 0};
        bool pending = false; // a full output buffer may leave decoded bytes inside ZSTD
        while (input.pos < input.size || pending) {
            ZSTD_outBuffer output{out.data(), out.size(), 0};
            last = ZSTD_decompressStream(stream.get(), &output, &input);
            if (ZSTD_isError(last))
                fail(std::string("does not decode: ") + ZSTD_getErrorName(last));
            if (produced + output.pos > maxOutput)
                fail("decodes to more than the " + std::to_string(maxOutput) +
                     " bytes its tensor can need");
            sink.take(out.data(), output.pos, produced);
            produced += output.pos;
            pending = last != 0 && output.pos == output.size;
        }
    }
    if (last != 0) fail("is truncated: the zstd frame does not end");
    if (slice && slice->offset + slice->length > produced)
        fail("decodes to " + std::to_string(produced) + " bytes, fewer than its archive says");
    sink.finish(produced);
}

} // namespace shardscope
