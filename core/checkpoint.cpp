// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "checkpoint.h"

#include "coverage.h"
#include "dcp_scan.h"
#include "hf_folder.h"
#include "parallel.h"
#include "posix_file.h"
#include "runs.h"
#include "safetensors_reader.h"
#include "scan_support.h"
#include "shard_scan.h"
#include "sidecars.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace fs = std::filesystem;

namespace shardscope {

std::string_view scanPhaseName(ScanPhase phase) {
    switch (phase) {
    case ScanPhase::ReadingHeaders:
        return "Reading headers";
    case ScanPhase::Merging:
        return "Merging chunks";
    case ScanPhase::CheckingCoverage:
        return "Checking coverage";
    case ScanPhase::ComparingReplicas:
        return "Comparing replicas";
    case ScanPhase::ReadingMetadata:
        return "Reading .metadata";
    }
    return "?";
}

std::string_view coverageStatusName(CoverageStatus status) {
    switch (status) {
    case CoverageStatus::Complete:
        return "complete";
    case CoverageStatus::Gap:
        return "gap";
    case CoverageStatus::Overlap:
        return "overlap";
    case CoverageStatus::Conflict:
        return "conflict";
    case CoverageStatus::Invalid:
        return "invalid";
    }
    return "?";
}

std::string_view tensorKindName(TensorKind kind) {
    switch (kind) {
    case TensorKind::Model:
        return "model";
    case TensorKind::Optimizer:
        return "optimizer";
    case TensorKind::Scheduler:
        return "scheduler";
    case TensorKind::Dataloader:
        return "dataloader";
    case TensorKind::TrainState:
        return "train_state";
    }
    return "?";
}

bool Checkpoint::hasErrors() const {
    return std::any_of(problems.begin(), problems.end(),
                       [](const Problem& p) { return p.severity == Severity::Error; });
}

const TensorInfo* Checkpoint::find(std::string_view fqn) const {
    auto it = std::lower_bound(tensors.begin(), tensors.end(), fqn,
                               [](const TensorInfo& t, std::string_view k) { return t.fqn < k; });
    return it != tensors.end() && it->fqn == fqn ? &*it : nullptr;
}

uint64_t Checkpoint::totalBytes() const {
    uint64_t sum = 0;
    for (const auto& t : tensors)
        sum += t.bytes;
    return sum;
}

std::vector<fs::path> listShardFiles(const fs::path& directory, std::vector<Problem>* skipped) {
    std::error_code ec;
    if (!fs::is_directory(directory, ec))
        throw Error(ErrorKind::Io, directory.string(), "", "not a directory");
    std::vector<fs::path> out;
    std::vector<Problem> odd;
    for (const auto& entry : fs::directory_iterator(directory, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        if (entry.path().extension() != ".safetensors") continue;
        // Types come from stat, never open: opening a FIFO could block the scan.
        std::error_code fileEc;
        const fs::file_status status = entry.status(fileEc);
        if (status.type() == fs::file_type::regular) {
            out.push_back(entry.path());
            continue;
        }
        std::string kind =
            std::string("is ") + fileKindName(status.type()) + ", not a regular file";
        if (status.type() == fs::file_type::not_found && entry.is_symlink(fileEc))
            kind = "is a symbolic link to a missing file";
        else if (status.type() == fs::file_type::none)
            kind = "cannot be examined: " + fileEc.message();
        odd.push_back({Severity::Warning, name, "", kind + "; skipped", ErrorKind::NotRegularFile});
    }
    if (ec) throw Error(ErrorKind::Io, directory.string(), "", "cannot list: " + ec.message());
    std::sort(out.begin(), out.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
    std::sort(odd.begin(), odd.end(),
              [](const Problem& a, const Problem& b) { return a.file < b.file; });
    if (skipped) *skipped = std::move(odd);
    return out;
}

bool isDcpDirectory(const fs::path& directory) {
    std::error_code ec;
    return fs::exists(fs::symlink_status(directory / ".metadata", ec));
}

// A directory holds one kind of checkpoint; a mix would make every answer a guess.
Checkpoint scanCheckpoint(const fs::path& directory, const ScanOptions& options) {
    std::error_code ec;
    // stat only: a FIFO named *.safetensors is never opened.
    if (fs::is_regular_file(directory, ec) && directory.extension() == ".safetensors")
        return scanHfFolder(directory, options);
    if (!fs::is_directory(directory, ec))
        throw Error(ErrorKind::Io, directory.string(), "",
                    "not a directory or a *.safetensors file");
    bool distcp = false, safetensors = false;
    for (const auto& entry : fs::directory_iterator(directory, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name[0] == '.') continue;
        distcp = distcp || entry.path().extension() == ".distcp";
        safetensors = safetensors || entry.path().extension() == ".safetensors";
    }
    const bool dcp = isDcpDirectory(directory);
    if (dcp && safetensors)
        throw Error(ErrorKind::MixedCheckpoint, directory.string(), "",
                    "holds both a DCP .metadata file and *.safetensors files; a directory must "
                    "hold one checkpoint of one kind");
    if (!dcp && distcp && !safetensors)
        throw Error(ErrorKind::MixedCheckpoint, (directory / ".metadata").string(), "",
                    "missing: the directory holds *.distcp data files but no .metadata, which "
                    "says what they hold (an interrupted save?)");
    if (dcp) return scanDcpCheckpoint(directory, options);
    if (isHfFolder(directory, options.stop)) return scanHfFolder(directory, options);
    return scanShardDirectory(directory, options);
}

} // namespace shardscope
