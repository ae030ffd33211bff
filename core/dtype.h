// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace shardscope {

enum class DType : uint8_t {
    BOOL,
    U8,
    I8,
    F8_E4M3,
    F8_E5M2,
    F8_E8M0,
    F8_E4M3FNUZ,
    F8_E5M2FNUZ,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    I64,
    U64,
    F64,
    C64,
    F4,
    F6_E2M3,
    F6_E3M2,
};

inline constexpr int kDTypeCount = 22;

std::optional<DType> parseDType(std::string_view name);
std::string_view dtypeName(DType type);
unsigned dtypeBits(DType type);

} // namespace shardscope
