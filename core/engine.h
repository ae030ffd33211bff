#pragma once

#include "checkpoint.h"
#include "plan.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace shardscope {

struct EngineProgress {
    uint64_t bytesDone = 0;
    uint64_t bytesTotal = 0;
    std::string currentFile;
    std::string phase; // "Preparing", "Writing", "Finishing"
};

struct EngineOptions {
    int threads = 0;                   // 0: one per core
    bool overwrite = false;            // replace model-* files and sidecars already in the output
    bool sync = false;                 // fdatasync every file before it is renamed into place
    uint64_t windowBytes = 2ull << 20; // output bytes one task assembles at a time
    bool directCopy = true;            // copy_file_range for large runs (kernel-side copy)
    // Called from worker threads under a lock, at most once per progressInterval (phase changes
    // and the end always report).
    std::function<void(const EngineProgress&)> progress;
    std::chrono::milliseconds progressInterval{50};
    const std::atomic<bool>* cancel = nullptr;
};

struct EngineResult {
    std::vector<std::string> files;    // written data files, in index order
    std::vector<std::string> sidecars; // files copied from .hf_metadata/
    uint64_t bytesWritten = 0;         // data files only
    double seconds = 0;
};

// What already in `outDir` would collide with this run: model-*.safetensors, the index, sidecars.
std::vector<std::string> existingOutputs(const Checkpoint& checkpoint,
                                         const std::filesystem::path& outDir);

// Everything that can be checked before a byte is written; throws Error.
void preflight(const Checkpoint& checkpoint, const Plan& plan, const std::filesystem::path& outDir,
               bool overwrite);

// Streams every chunk into place. Files are written under temporary names and renamed when all
// are complete, the index last. On failure or cancel nothing this run created is left behind.
EngineResult consolidate(const Checkpoint& checkpoint, const Plan& plan,
                         const std::filesystem::path& outDir, const EngineOptions& options);

// Sidecar files that a run copies (all of .hf_metadata/ but the fqn_to_* mappings).
std::vector<std::filesystem::path> sidecarFiles(const Checkpoint& checkpoint);

} // namespace shardscope
