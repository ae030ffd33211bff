// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "plan.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace shardscope {

enum class EnginePhase { Preparing, Writing, Verifying, Publishing, Done };
std::string_view enginePhaseName(EnginePhase phase);

// Bytes count within the current phase: writing counts the new files' bytes, verifying the
// checkpoint's bytes compared; preparing and publishing have none.
struct EngineProgress {
    EnginePhase phase = EnginePhase::Preparing;
    uint64_t bytesDone = 0;
    uint64_t bytesTotal = 0;
    std::string currentFile;
};

struct EngineOptions {
    int threads = 0;                   // 0: one per core
    bool overwrite = false;            // replace an earlier export in the output directory
    bool sync = false;                 // fdatasync every file before publishing
    bool verify = false;               // compare every byte with the shards before publishing
    uint64_t windowBytes = 2ull << 20; // output bytes one task assembles at a time
    bool directCopy = true;            // copy_file_range for large runs (kernel-side copy)
    // Called from worker threads under a lock, at most once per progressInterval (phase changes
    // and the end always report).
    std::function<void(const EngineProgress&)> progress;
    std::chrono::milliseconds progressInterval{50};
    // Checked in every phase up to publishing; once publishing starts the run completes.
    std::stop_token stop;
};

// A tensor whose cast could not keep every value: counted, so it is reported per tensor.
struct CastLoss {
    std::string fqn;
    DType from = DType::U8, to = DType::U8;
    uint64_t overflow = 0;  // finite values that became +-Inf
    uint64_t underflow = 0; // nonzero values that became +-0
};

struct EngineResult {
    std::vector<std::string> files;    // written data files, in index order
    std::vector<std::string> sidecars; // files copied from .hf_metadata/
    std::vector<std::string> notes;    // leftovers of interrupted runs found and what was done
    std::vector<Problem> warnings;     // sidecars skipped or leaving the checkpoint
    std::vector<CastLoss> castLosses;  // only tensors that lost values
    uint64_t bytesWritten = 0;         // data files only
    size_t replacedFiles = 0;          // files of the previous export that were replaced
    bool verified = false;
    double seconds = 0;
};

// A run that did not publish (or, rarely, could not finish publishing): the cause as an Error
// (file, tensor, message), and `onDisk`, one sentence saying what the output directory holds
// now, so every message matches the disk.
class ExportFailed : public Error {
public:
    ExportFailed(const Error& cause, bool cancelled, std::string onDisk,
                 std::vector<std::string> notes = {})
        : Error(cause), m_cancelled(cancelled), m_onDisk(std::move(onDisk)),
          m_notes(std::move(notes)) {}
    bool cancelled() const { return m_cancelled; }
    const std::string& onDisk() const { return m_onDisk; }
    const std::vector<std::string>& notes() const { return m_notes; }

private:
    bool m_cancelled;
    std::string m_onDisk;
    std::vector<std::string> m_notes;
};

// What already in `outDir` would collide with this run: model-*.safetensors, the index, sidecars.
std::vector<std::string> existingOutputs(const Checkpoint& checkpoint,
                                         const std::filesystem::path& outDir);

// Bytes a run writes: data files, the index and the sidecars.
uint64_t bytesToWrite(const Checkpoint& checkpoint, const Plan& plan);

// Everything that can be checked before a byte is written; throws Error.
void preflight(const Checkpoint& checkpoint, const Plan& plan, const std::filesystem::path& outDir,
               bool overwrite);

// Streams every chunk into a staging directory inside outDir, copies the sidecars, writes the
// index, verifies when asked, then publishes (see OutputSet). Preflight problems throw Error
// before anything is touched; a failure or cancel after that throws ExportFailed, and the previous
// export in outDir is then byte-identical to what it was.
EngineResult consolidate(const Checkpoint& checkpoint, const Plan& plan,
                         const std::filesystem::path& outDir, const EngineOptions& options);

class Coordinator;

// consolidate() as one rank of a distributed run (see Coordinator): every rank scanned and
// planned the same checkpoint; each writes the output files assigned to it by bytes into rank
// 0's staging directory, and rank 0 publishes (the index last) only once every rank succeeded.
// A failure on any rank throws ExportFailed on every rank, naming the rank it happened on, and
// nothing is published. With SingleProcess it writes what consolidate() writes.
EngineResult consolidateDistributed(const Checkpoint& checkpoint, const Plan& plan,
                                    const std::filesystem::path& outDir,
                                    const EngineOptions& options, Coordinator& peers);

// Sidecar files that a run copies (all of .hf_metadata/ but the fqn_to_* mappings).
std::vector<std::filesystem::path> sidecarFiles(const Checkpoint& checkpoint);

} // namespace shardscope
