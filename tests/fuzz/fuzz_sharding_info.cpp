// libFuzzer target: the DCP_SHARDING_INFO parser ({"fqn": {"saved_offsets": [...]}, ...}).

#include "fuzz_support.h"
#include "sharding_info.h"

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto body = [&] {
        const auto entries = shardscope::parseShardingInfo(text);
        volatile size_t sink = entries.size();
        for (const shardscope::ShardingEntry& e : entries)
            sink = sink + e.fqn.size() + e.offsets.size();
        (void)sink;
    };
    fuzzing::expectOnlyErrors(body);
    return 0;
}
