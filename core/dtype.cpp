// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "dtype.h"

#include <array>

namespace shardscope {
namespace {

struct DTypeInfo {
    DType type;
    std::string_view name;
    unsigned bits;
};

// Order matches the enum so lookups by value are direct.
constexpr std::array<DTypeInfo, kDTypeCount> kTable{{
    {DType::BOOL, "BOOL", 8},
    {DType::U8, "U8", 8},
    {DType::I8, "I8", 8},
    {DType::F8_E4M3, "F8_E4M3", 8},
    {DType::F8_E5M2, "F8_E5M2", 8},
    {DType::F8_E8M0, "F8_E8M0", 8},
    {DType::F8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {DType::F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {DType::I16, "I16", 16},
    {DType::U16, "U16", 16},
    {DType::F16, "F16", 16},
    {DType::BF16, "BF16", 16},
    {DType::I32, "I32", 32},
    {DType::U32, "U32", 32},
    {DType::F32, "F32", 32},
    {DType::I64, "I64", 64},
    {DType::U64, "U64", 64},
    {DType::F64, "F64", 64},
    {DType::C64, "C64", 64},
    {DType::F4, "F4", 4},
    {DType::F6_E2M3, "F6_E2M3", 6},
    {DType::F6_E3M2, "F6_E3M2", 6},
}};

} // namespace

std::optional<DType> parseDType(std::string_view name) {
    for (const auto& info : kTable)
        if (info.name == name) return info.type;
    return std::nullopt;
}

std::string_view dtypeName(DType type) {
    return kTable[static_cast<size_t>(type)].name;
}

unsigned dtypeBits(DType type) {
    return kTable[static_cast<size_t>(type)].bits;
}

} // namespace shardscope
