// libFuzzer target: a whole checkpoint scan and plan on one or two fuzzed shard files, then the
// value pass (statistics, findings) and a diff of the checkpoint against itself, which must
// find every tensor identical.
//
// The input is split at "@@SHARD@@": the first part is shard 1, the second (if any) shard 2 and
// the third (if any) .hf_metadata/fqn_to_file_index_mapping.json. The files live in a private
// directory made once per process and are rewritten (or removed) on every run.

#include "checkpoint.h"
#include "checkpoint_diff.h"
#include "fuzz_support.h"
#include "plan.h"
#include "tensor_stats.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fs = std::filesystem;

namespace {
constexpr std::string_view kSeparator = "@@SHARD@@";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> parts;
    while (parts.size() < 2) {
        const size_t at = rest.find(kSeparator);
        if (at == std::string_view::npos) break;
        parts.push_back(rest.substr(0, at));
        rest.remove_prefix(at + kSeparator.size());
    }
    parts.push_back(rest);

    const fs::path& dir = fuzzing::scratchDir();
    const fs::path files[] = {dir / "shard-00001-model-00001-of-00001.safetensors",
                              dir / "shard-00002-model-00001-of-00001.safetensors"};
    const fs::path meta = dir / ".hf_metadata";
    std::error_code ec;
    for (size_t i = 0; i < 2; ++i) {
        if (i < parts.size() && i < 2)
            fuzzing::writeFile(files[i], parts[i]);
        else
            fs::remove(files[i], ec);
    }
    if (parts.size() == 3) {
        fs::create_directory(meta, ec);
        fuzzing::writeFile(meta / shardscope::kMappingFileName, parts[2]);
    } else {
        fs::remove_all(meta, ec);
    }

    fuzzing::expectOnlyErrors([&] {
        shardscope::ScanOptions options;
        options.threads = 1; // deterministic: one input, one code path
        const shardscope::Checkpoint ckpt = shardscope::scanCheckpoint(dir, options);
        const shardscope::Plan plan = shardscope::makePlan(ckpt, shardscope::defaultMapping(ckpt),
                                                           shardscope::UnmappedPolicy::LastFile);
        volatile size_t sink = plan.indexJson().size() + plan.totalFileBytes() + ckpt.totalBytes();
        (void)sink;
        shardscope::StatsOptions stats;
        stats.threads = 1;
        const auto values = shardscope::computeStats(ckpt, stats);
        volatile size_t findings = shardscope::valueFindings(ckpt, values).size();
        (void)findings;
        shardscope::DiffOptions diff;
        diff.threads = 1;
        for (const auto& d : shardscope::diffCheckpoints(ckpt, ckpt, diff).tensors)
            if (d.status != shardscope::DiffStatus::Identical &&
                d.status != shardscope::DiffStatus::NotCompared)
                __builtin_trap(); // a checkpoint always equals itself
    });
    return 0;
}
