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
#include "sharding_info.h"
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

namespace {

struct FileScan {
    SafetensorsHeader header;
    std::vector<ShardingEntry> sharding;
    std::vector<Problem> problems;
    bool valid = false;
};

FileScan scanFile(const fs::path& path, const std::string& name) {
    FileScan out;
    try {
        out.header = readSafetensorsHeader(path);
        out.sharding = shardingInfoOf(out.header);
    } catch (const Error& e) {
        out.problems.push_back({Severity::Error, name, e.tensor(), e.message(), e.kind()});
        return out;
    }
    out.valid = true;
    return out;
}

} // namespace

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

namespace {

Checkpoint scanShardDirectory(const fs::path& directory, const ScanOptions& options) {
    Checkpoint ckpt;
    ckpt.directory = directory;
    const auto paths = listShardFiles(directory, &ckpt.problems);
    if (paths.empty())
        throw Error(ErrorKind::NoShards, directory.string(), "",
                    "no *.safetensors shard files in this directory" +
                        (ckpt.problems.empty() ? std::string()
                                               : " (" + ckpt.problems.front().text() + ")"));
    std::error_code ec;
    if (fs::is_directory(directory / ".hf_metadata", ec))
        ckpt.hfMetadataDir = directory / ".hf_metadata";
    if (!ckpt.hfMetadataDir.empty())
        for (auto& warning : collectSidecars(ckpt.hfMetadataDir, directory).warnings)
            ckpt.problems.push_back(std::move(warning));

    ScanReporter reporter(options);
    reporter.phase(ScanPhase::ReadingHeaders, paths.size());
    std::vector<FileScan> scans(paths.size());
    uint64_t chunkCount = 0;
    std::mutex countMutex;
    parallelFor(paths.size(), options.threads, [&](size_t i) {
        reporter.checkStop();
        scans[i] = scanFile(paths[i], paths[i].filename().string());
        {
            std::lock_guard lock(countMutex);
            chunkCount += scans[i].header.tensors.size();
        }
        reporter.add(1);
    });
    reporter.phase(ScanPhase::Merging, chunkCount);

    std::unordered_map<std::string, size_t> index;
    std::vector<bool> invalid;
    std::vector<uint32_t> firstSeen; // the file that set each tensor's dtype, for messages
    auto markInvalid = [&](size_t t, const std::string& file, const std::string& message) {
        rejectTensor(ckpt, invalid, t, file, message);
    };

    for (size_t f = 0; f < paths.size(); ++f) {
        FileScan& scan = scans[f];
        ShardFile file;
        file.name = paths[f].filename().string();
        file.path = paths[f];
        file.size = scan.header.fileSize;
        file.dataStart = scan.header.dataStart();
        file.tensorCount = scan.header.tensors.size();
        file.valid = scan.valid;
        ckpt.files.push_back(file);
        for (auto& p : scan.problems)
            ckpt.problems.push_back(std::move(p));
        if (!scan.valid) continue;

        // Sharding info normally lists tensors in header order; fall back to a map otherwise.
        std::unordered_map<std::string_view, size_t> shardingIndex;
        auto findOffsets = [&](size_t position, const std::string& name) -> Shape* {
            if (position < scan.sharding.size() && scan.sharding[position].fqn == name)
                return &scan.sharding[position].offsets;
            if (shardingIndex.empty())
                for (size_t k = 0; k < scan.sharding.size(); ++k)
                    shardingIndex.emplace(scan.sharding[k].fqn, k);
            auto found = shardingIndex.find(name);
            return found == shardingIndex.end() ? nullptr : &scan.sharding[found->second].offsets;
        };
        for (size_t position = 0; position < scan.header.tensors.size(); ++position) {
            if (position % 4096 == 4095) {
                reporter.checkStop();
                reporter.add(4096);
            }
            TensorEntry& entry = scan.header.tensors[position];
            auto [it, inserted] = index.try_emplace(entry.name, ckpt.tensors.size());
            if (inserted) {
                TensorInfo t;
                t.fqn = entry.name;
                t.dtype = entry.dtype;
                ckpt.tensors.push_back(std::move(t));
                invalid.push_back(false);
                firstSeen.push_back(uint32_t(f));
            }
            const size_t ti = it->second;
            TensorInfo& t = ckpt.tensors[ti];
            Shape* off = findOffsets(position, entry.name);
            if (!off) {
                markInvalid(ti, file.name, "no saved_offsets in DCP_SHARDING_INFO for this tensor");
                continue;
            }
            if ((*off).size() != entry.shape.size()) {
                markInvalid(ti, file.name,
                            "saved_offsets " + formatShape((*off)) + " has " +
                                std::to_string((*off).size()) + " entries but the chunk " +
                                formatShape(entry.shape) + " has rank " +
                                std::to_string(entry.shape.size()));
                continue;
            }
            if (entry.dtype != t.dtype) {
                markInvalid(ti, file.name,
                            "dtype " + std::string(dtypeName(entry.dtype)) + " here but " +
                                std::string(dtypeName(t.dtype)) + " in " +
                                ckpt.files[firstSeen[ti]].name);
                continue;
            }
            if (!t.chunks.empty() && t.chunks.front().shape.size() != entry.shape.size()) {
                markInvalid(ti, file.name,
                            "rank " + std::to_string(entry.shape.size()) + " here but " +
                                std::to_string(t.chunks.front().shape.size()) + " in " +
                                ckpt.files[t.chunks.front().file].name);
                continue;
            }
            Chunk c;
            c.file = uint32_t(f);
            c.offsets = std::move((*off));
            c.shape = std::move(entry.shape);
            c.begin = file.dataStart + entry.begin;
            c.end = file.dataStart + entry.end;
            t.chunks.push_back(std::move(c));
        }
        reporter.add(scan.header.tensors.size() % 4096);
        scan = FileScan{}; // release header memory early on huge checkpoints
    }

    proveCoverage(ckpt, invalid, options, reporter, false);

    std::sort(ckpt.tensors.begin(), ckpt.tensors.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.fqn < b.fqn; });
    return ckpt;
}

} // namespace

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
