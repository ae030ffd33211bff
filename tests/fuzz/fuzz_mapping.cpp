// libFuzzer target: the JSON files a user hands an export: the fqn -> file index mapping
// (fqn_to_file_index_mapping.json), a --rename-file, and the export record of an index.

#include "export_rules.h"
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
    const std::string text(reinterpret_cast<const char*>(data), size);
    fuzzing::expectOnlyErrors([&] { // accepted rules must compile or fail with an Error
        const shardscope::Renamer renamer(shardscope::parseRenameFile(text, "fuzz"));
        for (const char* name : {"model.layers.0.mlp.weight", "", "_orig_mod.module.x"})
            renamer.apply(name);
    });
    fuzzing::expectOnlyErrors([&] {
        const shardscope::ExportRules rules = shardscope::exportRulesFromJson(text, "fuzz");
        const std::string json = shardscope::exportRulesToJson(rules);
        if (!(shardscope::exportRulesFromJson(json, "fuzz") == rules)) {
            std::fprintf(stderr, "FINDING: export rules do not survive toJson/fromJson\n");
            std::abort();
        }
    });
    return 0;
}
