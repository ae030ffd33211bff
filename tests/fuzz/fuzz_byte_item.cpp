// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// libFuzzer target: one DCP byte item (a torch.save archive) on arbitrary bytes, described and
// walked for the tensors inside it (dcp_items.h), as the scan does with an item it has read.
//
// Whatever the bytes, the call returns or throws Error. Every tensor it accepts must have its
// storage entry inside the input and its view inside that storage, and the item's count must
// match the tensors listed.

#include "dcp_items.h"
#include "error.h"
#include "posix_file.h"
#include "torch_record.h"

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void finding(const char* what) {
    std::fprintf(stderr, "FINDING: %s\n", what);
    __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace shardscope;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    static const std::vector<std::string> kNoTransforms;
    static const PosixFile kUnused; // the item is in memory: nothing is read from a file
    ByteItem item;
    item.fqn = "model";
    std::vector<NestedTensor> nested;
    try {
        describeByteItem(kUnused, {0, size, &kNoTransforms, bytes}, "fuzz.distcp", item, &nested);
    } catch (const Error&) {
        return 0;
    }
    if (item.tensors != nested.size()) finding("the item's count differs from its tensors");
    for (const NestedTensor& n : nested) {
        if (!n.problem.empty()) continue;
        if (n.dataOffset > size || n.dataBytes > size - n.dataOffset)
            finding("a storage entry outside the item");
        const auto extent = stridedExtent(n.record.size, n.record.stride, n.record.storageOffset);
        const uint64_t element = dtypeBits(n.record.dtype) / 8;
        if (!extent || *extent > n.record.storageNumel ||
            n.record.storageNumel * element != n.dataBytes)
            finding("a view outside its storage");
    }
    return 0;
}
