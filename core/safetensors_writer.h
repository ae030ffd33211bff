// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype.h"
#include "shape.h"

#include <string>
#include <vector>

namespace shardscope {

struct HeaderTensor {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin = 0;
    uint64_t end = 0;
    size_t tag = 0; // caller's own reference, carried through sorting
};

// Orders tensors the way ShardScope writes them: widest element first, then name in byte
// order, so each tensor lands aligned to its element size after the 8-byte-aligned header.
void sortForOutput(std::vector<HeaderTensor>& tensors);

// Assigns back-to-back data_offsets in the current order; returns the data section size.
uint64_t layoutBackToBack(std::vector<HeaderTensor>& tensors);

// The header key safetensors keeps for string metadata; never a tensor name.
inline constexpr const char* kSafetensorsMetadataKey = "__metadata__";

// The bytes before the data: 8-byte length, compact JSON with {"format":"pt"} metadata first,
// padded with spaces so that the data starts at a multiple of 8.
std::string buildHeader(const std::vector<HeaderTensor>& tensors);

// JSON string literal for a name (UTF-8 kept as is).
std::string jsonQuote(const std::string& text);
// The same, appended to `out` (no temporary on hot paths).
void appendJsonQuoted(std::string& out, std::string_view text);
// A number in decimal appended to `out`.
void appendDecimal(std::string& out, uint64_t value);
// "[1,2,3]" appended to `out`.
void appendJsonArray(std::string& out, const Shape& values);

} // namespace shardscope
