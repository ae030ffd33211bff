// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "export_rules.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shardscope {

// fqn -> 1-based output file index, as in fqn_to_file_index_mapping.json.
struct Mapping {
    std::map<std::string, int> fileIndex;
    std::string source;    // where it came from, for messages ("" when built in memory)
    int fileCount() const; // the largest index, or 1 when empty
};

inline constexpr const char* kMappingFileName = "fqn_to_file_index_mapping.json";
inline constexpr const char* kIndexFileName = "model.safetensors.index.json";
// The index metadata key under which an export records its rules (see Plan::exportRecord).
inline constexpr const char* kExportRecordKey = "shardscope_export";
inline constexpr int kMaxFileIndex = 99999;
// A mapping file larger than this is refused (real ones are a few MiB).
inline constexpr uint64_t kMaxMappingBytes = uint64_t(256) << 20;

// A flat JSON object {"<fqn>": <index 1..kMaxFileIndex>}; a syntax error, a wrong value or a
// repeated name throws Error naming `source`, the line and column, and the tensor when known.
Mapping parseMapping(const std::string& json, const std::string& source);
// Reads a regular file of at most kMaxMappingBytes; a FIFO, device or directory is an Error.
Mapping loadMapping(const std::filesystem::path& path);
std::string mappingToJson(const Mapping& mapping);
// The largest output file a DCP or Hugging Face folder export starts from, as Hugging Face's
// max_shard_size.
inline constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000;

// The mapping a checkpoint starts from: .hf_metadata's when present; for a DCP checkpoint or a
// Hugging Face folder its model weights (and training state when asked) in files of at most
// kDefaultMaxShardBytes; else everything in one file.
Mapping defaultMapping(const Checkpoint& checkpoint, bool includeTrainingState = false);
// The same with export rules: sizes are the exported (cast) sizes, excluded tensors left out.
Mapping defaultMapping(const Checkpoint& checkpoint, const ExportSelection& selection);

// Greedy in name order: a new file starts when the next tensor would pass maxBytes; a tensor
// larger than the limit gets a file of its own. Training state is left out unless asked for.
Mapping groupBySize(const Checkpoint& checkpoint, uint64_t maxBytes,
                    bool includeTrainingState = false);
Mapping groupBySize(const Checkpoint& checkpoint, uint64_t maxBytes,
                    const ExportSelection& selection);

std::string outputFileName(int index, int count);

// The bytes the export writes for a tensor: its own, or those of the dtype it is cast to.
uint64_t exportedBytes(const TensorInfo& tensor, const TensorExport& exported);

// What an export without rules makes of each tensor: its exportName(), its dtype, training
// state left out (byDefault) unless includeTrainingState.
ExportSelection plainExportSelection(const Checkpoint& checkpoint, bool includeTrainingState);

enum class UnmappedPolicy { Error, LastFile };

struct PlannedTensor {
    size_t tensor = 0;  // index into Checkpoint::tensors
    DType dtype = DType::U8; // as written: the source's, or the cast target
    uint64_t begin = 0; // within the output data section
    uint64_t end = 0;
};

struct PlannedFile {
    int index = 0;
    std::string name;
    std::vector<PlannedTensor> tensors; // in data order
    std::string header;                 // everything before the data, length prefix included
    uint64_t dataSize = 0;
    uint64_t fileSize() const { return header.size() + dataSize; }
};

struct Plan {
    int fileCount = 1;
    std::vector<PlannedFile> files; // only files that receive tensors
    std::vector<Problem> problems;  // plan problems; checkpoint problems stay in the checkpoint
    std::map<std::string, std::string> weightMap;
    uint64_t totalTensorBytes = 0;

    bool ok() const;
    uint64_t totalFileBytes() const;
    std::string indexJson() const;
    std::vector<std::string> unmapped; // shard tensors the mapping does not name
    std::vector<std::string> excluded; // training state and tensors the rules leave out (fqn)
    // The export rules (exportRulesToJson) when they are not the identity: recorded in the
    // index's metadata as "shardscope_export" so verify recomputes every tensor.
    std::string exportRecord;
    std::optional<DType> castTo; // the copied config.json's torch_dtype becomes this
    bool strictCast = false;     // a value that overflows in the cast stops the export
    bool tiedEmbeddings = false; // lm_head.weight left out: config.json gets tie_word_embeddings
};

// Pure computation: no file is touched. Training state (optimizer, scheduler, ...) is exported
// only when includeTrainingState is set or the mapping names it.
Plan makePlan(const Checkpoint& checkpoint, const Mapping& mapping, UnmappedPolicy policy,
              bool includeTrainingState = false);
// With export rules: each tensor's exported name, dtype (sizes and offsets follow the cast) and
// exclusion from `selection`, which is selectForExport(checkpoint, rules); its problems are
// copied into the plan's. A tensor left out only as training state is still exported when the
// mapping names it.
Plan makePlan(const Checkpoint& checkpoint, const Mapping& mapping, UnmappedPolicy policy,
              const ExportRules& rules, const ExportSelection& selection);

} // namespace shardscope
