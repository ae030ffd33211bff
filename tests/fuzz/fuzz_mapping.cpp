// libFuzzer target: the fqn -> file index mapping parser (fqn_to_file_index_mapping.json).

#include "fuzz_support.h"
#include "plan.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzzing::expectOnlyErrors([&] {
        const shardscope::Mapping m = shardscope::parseMapping(
            std::string(reinterpret_cast<const char*>(data), size), "fuzz");
        // What was accepted must write back out and parse to the same mapping.
        const shardscope::Mapping again =
            shardscope::parseMapping(shardscope::mappingToJson(m), "fuzz");
        if (again.fileIndex != m.fileIndex || again.fileCount() != m.fileCount()) {
            std::fprintf(stderr, "FINDING: mapping does not survive mappingToJson/parseMapping\n");
            std::abort();
        }
    });
    return 0;
}
