// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shardscope::bench {

// data.pkl of torch.save(tensor) (protocol 2): _rebuild_tensor_v2 of storage '0' with
// storage_offset 0, `size`, `stride`, requires_grad False and empty backward hooks.
std::string tensorDataPkl(std::string_view storageClass, uint64_t storageNumel,
                          const std::vector<uint64_t>& size, const std::vector<uint64_t>& stride);

// One tensor's torch.save zip archive, as PyTorch 2.x's miniz writer lays it out (stored
// entries, flag 0x0808, zero crc/sizes in local headers, "FB" padding to 64 bytes, data
// descriptors, ZIP64 end records), split around the tensor's bytes so those are written
// straight from their buffer: the archive is head + data + tail.
struct TorchArchive {
    std::string head;
    std::string tail;
    uint64_t dataBytes = 0;
    uint64_t size() const { return head.size() + dataBytes + tail.size(); }
};

// `dataCrc` is the CRC-32 of the tensor's bytes (any value for a sparse placeholder).
TorchArchive torchArchive(std::string_view dataPkl, uint64_t dataBytes, uint32_t dataCrc);

} // namespace shardscope::bench
