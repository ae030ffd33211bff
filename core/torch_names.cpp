// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "torch_names.h"

#include <array>
#include <utility>

namespace shardscope {
namespace {

constexpr std::array<std::pair<std::string_view, DType>, 26> kDtypes{{
    {"float32", DType::F32},
    {"float", DType::F32},
    {"float64", DType::F64},
    {"double", DType::F64},
    {"float16", DType::F16},
    {"half", DType::F16},
    {"bfloat16", DType::BF16},
    {"int64", DType::I64},
    {"long", DType::I64},
    {"int32", DType::I32},
    {"int", DType::I32},
    {"int16", DType::I16},
    {"short", DType::I16},
    {"int8", DType::I8},
    {"uint8", DType::U8},
    {"bool", DType::BOOL},
    {"complex64", DType::C64},
    {"cfloat", DType::C64},
    {"uint16", DType::U16},
    {"uint32", DType::U32},
    {"uint64", DType::U64},
    {"float8_e4m3fn", DType::F8_E4M3},
    {"float8_e5m2", DType::F8_E5M2},
    {"float8_e4m3fnuz", DType::F8_E4M3FNUZ},
    {"float8_e5m2fnuz", DType::F8_E5M2FNUZ},
    {"float8_e8m0fnu", DType::F8_E8M0},
}};

// The first name per dtype is the one torch.save writes.
constexpr std::array<std::pair<std::string_view, DType>, 19> kStorages{{
    {"FloatStorage", DType::F32},
    {"DoubleStorage", DType::F64},
    {"HalfStorage", DType::F16},
    {"BFloat16Storage", DType::BF16},
    {"LongStorage", DType::I64},
    {"IntStorage", DType::I32},
    {"ShortStorage", DType::I16},
    {"CharStorage", DType::I8},
    {"ByteStorage", DType::U8},
    {"BoolStorage", DType::BOOL},
    {"ComplexFloatStorage", DType::C64},
    {"UInt16Storage", DType::U16},
    {"UInt32Storage", DType::U32},
    {"UInt64Storage", DType::U64},
    {"Float8_e4m3fnStorage", DType::F8_E4M3},
    {"Float8_e5m2Storage", DType::F8_E5M2},
    {"Float8_e4m3fnuzStorage", DType::F8_E4M3FNUZ},
    {"Float8_e5m2fnuzStorage", DType::F8_E5M2FNUZ},
    {"Float8_e8m0fnuStorage", DType::F8_E8M0},
}};

} // namespace

std::optional<DType> dtypeFromTorchName(std::string_view name) {
    for (const auto& [n, t] : kDtypes)
        if (n == name) return t;
    return std::nullopt;
}

std::optional<DType> dtypeFromStorageClass(std::string_view name) {
    for (const auto& [n, t] : kStorages)
        if (n == name) return t;
    return std::nullopt;
}

std::string_view storageClassOf(DType type) {
    for (const auto& [n, t] : kStorages)
        if (t == type) return n;
    return "?";
}

} // namespace shardscope
