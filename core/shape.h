#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shardscope {

using Shape = std::vector<uint64_t>;

// Element count, or nothing when the product overflows 64 bits.
std::optional<uint64_t> checkedNumel(const Shape& shape);
// Byte size of numel elements of `bits` each, or nothing when it is not a whole number of bytes.
std::optional<uint64_t> checkedBytes(uint64_t numel, unsigned bits);
// "[2048, 5504]" style, as users know it from PyTorch.
std::string formatShape(const Shape& shape);

} // namespace shardscope
