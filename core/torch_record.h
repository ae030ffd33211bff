// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype.h"
#include "shape.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shardscope {

namespace pickle {
class Document;
using Ref = uint32_t;
} // namespace pickle

// What a torch.save archive's data.pkl says about its one tensor: which data/<key> entry holds
// the storage, its element type and count, and the view (offset, size, stride) into it.
struct TensorRecord {
    DType dtype = DType::U8;
    std::string storageClass; // "FloatStorage", ...
    std::string key;          // the data/<key> entry
    uint64_t storageNumel = 0;
    uint64_t storageOffset = 0; // elements
    Shape size;
    Shape stride;
};

// Reads `_rebuild_tensor_v2(persistent storage, offset, size, stride, requires_grad, hooks
// [, metadata])` (and v3, which names the dtype itself). Anything else throws Error naming
// `file` and `fqn`: PickleInvalid for broken bytes, StorageMismatch for a record of another shape.
TensorRecord parseTensorRecord(std::string_view pickleBytes, const std::string& file,
                               const std::string& fqn);
// The same for one value `v` of a loaded pickle (a tensor inside a dict).
TensorRecord readTensorRecord(const pickle::Document& doc, pickle::Ref v, const std::string& file,
                              const std::string& fqn);

// The number of storage elements a (size, stride, offset) view reaches: 0 for an empty view,
// else 1 + offset + sum((size - 1) * stride); nothing on overflow.
std::optional<uint64_t> stridedExtent(const Shape& size, const Shape& stride, uint64_t offset);

// True when stride is the row-major layout of size (size-1 dims may have any stride).
bool isRowMajor(const Shape& size, const Shape& stride);

} // namespace shardscope
