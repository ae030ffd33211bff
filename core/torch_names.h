// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype.h"

#include <optional>
#include <string_view>

namespace shardscope {

// PyTorch's names for element types, as .metadata and torch.save pickles spell them.

// A `torch.<name>` dtype global ("float32", "bfloat16", "half", ...); nothing for dtypes without
// a safetensors equivalent (complex128, quantized types).
std::optional<DType> dtypeFromTorchName(std::string_view name);

// A legacy storage class ("FloatStorage", "BFloat16Storage", ...) as torch.save names it.
std::optional<DType> dtypeFromStorageClass(std::string_view name);

// The storage class torch.save writes for a dtype, for messages.
std::string_view storageClassOf(DType type);

} // namespace shardscope
