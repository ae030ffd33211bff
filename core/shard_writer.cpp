// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "shard_writer.h"

#include "error.h"
#include "posix_file.h"
#include "safetensors_writer.h"

namespace shardscope {

void writeShardFile(const std::filesystem::path& path, const std::vector<ShardChunkSpec>& chunks,
                    const std::function<void(size_t, std::string&)>& fill) {
    std::string info = "{";
    std::string entries;
    uint64_t offset = 0;
    for (size_t i = 0; i < chunks.size(); ++i) {
        const auto& c = chunks[i];
        uint64_t numel = 1;
        for (auto d : c.shape)
            numel *= d;
        const uint64_t bytes = numel * dtypeBits(c.dtype) / 8;
        if (i) info += ',';
        info += jsonQuote(c.fqn) + R"(:{"saved_offsets":)" + formatShape(c.offsets) + "}";
        entries += ',' + jsonQuote(c.fqn) + R"(:{"dtype":")" + std::string(dtypeName(c.dtype)) +
                   R"(","shape":)" + formatShape(c.shape) + R"(,"data_offsets":[)" +
                   std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
        offset += bytes;
    }
    info += "}";
    std::string json = R"({"__metadata__":{"DCP_SHARDING_INFO":)" + jsonQuote(info) +
                       R"(,"DCP_VERSION":"1.0","format":"pt"})" + entries + "}";
    while ((8 + json.size()) % 8)
        json += ' ';
    std::string head(8, '\0');
    for (int i = 0; i < 8; ++i)
        head[i] = char((uint64_t(json.size()) >> (8 * i)) & 0xFF);

    PosixFile out = PosixFile::createNew(path);
    out.writeExact(head.data(), 8, 0);
    out.writeExact(json.data(), json.size(), 8);
    uint64_t pos = 8 + json.size();
    std::string bytes;
    for (size_t i = 0; i < chunks.size(); ++i) {
        bytes.clear();
        fill(i, bytes);
        out.writeExact(bytes.data(), bytes.size(), pos);
        pos += bytes.size();
    }
    out.close();
}

std::string sliceChunk(const std::string& full, const Shape& fullShape, const Shape& offsets,
                       const Shape& shape, unsigned elementBytes) {
    const size_t rank = fullShape.size();
    uint64_t numel = 1;
    for (auto d : shape)
        numel *= d;
    std::string out;
    out.reserve(numel * elementBytes);
    if (rank == 0) return full.substr(0, elementBytes);
    if (numel == 0) return out;
    Shape stride(rank, 1);
    for (size_t d = rank - 1; d > 0; --d)
        stride[d - 1] = stride[d] * fullShape[d];
    Shape idx(rank, 0);
    const uint64_t rowBytes = shape[rank - 1] * elementBytes;
    for (;;) {
        uint64_t linear = 0;
        for (size_t d = 0; d < rank; ++d)
            linear += (idx[d] + offsets[d]) * stride[d];
        out.append(full, linear * elementBytes, rowBytes);
        size_t d = rank - 1;
        for (;;) { // advance every index but the last
            if (d == 0) return out;
            --d;
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
}

} // namespace shardscope
