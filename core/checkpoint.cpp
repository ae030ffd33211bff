// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "checkpoint.h"

#include "coverage.h"
#include "parallel.h"
#include "posix_file.h"
#include "runs.h"
#include "safetensors_reader.h"
#include "sharding_info.h"
#include "sidecars.h"
#include "throttled_progress.h"

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

// Progress of the scan's phases, and the stop check every phase makes.
class ScanReporter {
public:
    explicit ScanReporter(const ScanOptions& options)
        : m_options(options), m_progress(options.progress, std::chrono::milliseconds(50)) {}

    void phase(ScanPhase phase, uint64_t total) {
        m_progress.update([&](ScanProgress& p) {
            p = {phase, 0, total};
            return true;
        });
    }
    void add(uint64_t n) {
        m_progress.update([&](ScanProgress& p) {
            p.done += n;
            return p.done >= p.total;
        });
    }
    void checkStop() const {
        if (m_options.stop.stop_requested()) throw Cancelled();
    }

private:
    const ScanOptions& m_options;
    ThrottledProgress<ScanProgress> m_progress;
};

// Replicas must hold the same bytes. Coverage only records the pairs; this compares them all
// afterwards, in parallel, with every shard file opened once, as a phase of its own with progress
// and cancel (it is the only part of a scan that reads tensor data).
class ReplicaChecker {
public:
    struct Pair {
        size_t tensor;
        Chunk primary, other;
    };

    void record(size_t tensor, const Chunk& primary, const Chunk& other) {
        m_pairs.push_back({tensor, primary, other});
    }

    // Marks tensors whose replicas differ as Conflict and reports each.
    void run(Checkpoint& ckpt, const ScanOptions& options, ScanReporter& reporter) {
        if (m_pairs.empty()) return;
        uint64_t total = 0;
        std::vector<PosixFile> files(ckpt.files.size());
        std::vector<bool> used(ckpt.files.size(), false);
        for (const Pair& p : m_pairs) {
            total += p.primary.bytes();
            used[p.primary.file] = used[p.other.file] = true;
        }
        reporter.phase(ScanPhase::ComparingReplicas, total);
        for (size_t f = 0; f < files.size(); ++f)
            if (used[f]) files[f] = PosixFile::openRead(ckpt.files[f].path);
        std::vector<char> differs(m_pairs.size(), 0);
        std::vector<std::string> failures(m_pairs.size());
        parallelFor(m_pairs.size(), options.threads, [&](size_t i) {
            try {
                differs[i] = !equal(files, m_pairs[i], reporter);
            } catch (const Error& e) { // a file that cannot be read: its tensor is not sound
                differs[i] = 1;
                failures[i] = e.what();
            }
        });
        for (size_t i = 0; i < m_pairs.size(); ++i) {
            if (!differs[i]) continue;
            const Pair& p = m_pairs[i];
            TensorInfo& t = ckpt.tensors[p.tensor];
            if (t.status != CoverageStatus::Complete) continue; // already reported
            Shape end = p.primary.offsets;
            for (size_t d = 0; d < end.size(); ++d)
                end[d] += p.primary.shape[d];
            t.status = CoverageStatus::Conflict;
            t.coverageDetail = "conflict: " + ckpt.files[p.primary.file].name + " and " +
                               ckpt.files[p.other.file].name + " both hold region " +
                               formatRegion(p.primary.offsets, end) +
                               (failures[i].empty() ? " with different bytes"
                                                    : ", and reading them failed: " + failures[i]);
            ckpt.problems.push_back(
                {Severity::Error, "", t.fqn, t.coverageDetail, ErrorKind::ReplicaConflict});
        }
    }

private:
    static bool equal(const std::vector<PosixFile>& files, const Pair& p, ScanReporter& reporter) {
        if (p.primary.bytes() != p.other.bytes()) return false;
        constexpr uint64_t kBlock = 1 << 20;
        std::vector<char> a(std::min(kBlock, p.primary.bytes())), b(a.size());
        for (uint64_t done = 0; done < p.primary.bytes();) {
            reporter.checkStop();
            const uint64_t n = std::min<uint64_t>(kBlock, p.primary.bytes() - done);
            files[p.primary.file].readExact(a.data(), n, p.primary.begin + done);
            files[p.other.file].readExact(b.data(), n, p.other.begin + done);
            if (std::memcmp(a.data(), b.data(), n) != 0) return false;
            done += n;
            reporter.add(n);
        }
        return true;
    }

    std::vector<Pair> m_pairs;
};

// Rows of a sub-byte chunk must start on byte boundaries to be copied exactly.
std::string subByteProblem(const TensorInfo& t) {
    const unsigned bits = dtypeBits(t.dtype);
    if (bits % 8 == 0) return {};
    for (const Chunk& c : t.chunks) {
        ChunkRuns runs(t.shape, c.offsets, c.shape, bits);
        if (runs.count() == 0) continue;
        if ((runs.elements() * bits) % 8 != 0)
            return "a chunk at " + formatShape(c.offsets) + " has rows of " +
                   std::to_string(runs.elements()) + " " + std::string(dtypeName(t.dtype)) +
                   " elements, not a whole number of bytes, so it cannot be placed exactly";
        for (uint64_t r = 0; r < runs.count(); ++r)
            if ((runs.dstElement(r) * bits) % 8 != 0)
                return "a chunk at " + formatShape(c.offsets) + " starts a row at element " +
                       std::to_string(runs.dstElement(r)) +
                       ", not on a byte boundary, so it cannot be placed exactly";
    }
    return {};
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

Checkpoint scanCheckpoint(const fs::path& directory, const ScanOptions& options) {
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
        if (!invalid[t]) {
            invalid[t] = true;
            ckpt.tensors[t].status = CoverageStatus::Invalid;
            ckpt.tensors[t].coverageDetail = message;
        }
        ckpt.problems.push_back(
            {Severity::Error, file, ckpt.tensors[t].fqn, message, ErrorKind::ChunkConflict});
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

    // Full shapes and byte sizes, then the tiling proof.
    reporter.phase(ScanPhase::CheckingCoverage, ckpt.tensors.size());
    ReplicaChecker replicas;
    for (size_t ti = 0; ti < ckpt.tensors.size(); ++ti) {
        if (ti % 1024 == 1023) {
            reporter.checkStop();
            reporter.add(1024);
        }
        TensorInfo& t = ckpt.tensors[ti];
        if (invalid[ti] || t.chunks.empty()) {
            if (t.chunks.empty() && !invalid[ti]) markInvalid(ti, "", "no valid chunk");
            continue;
        }
        const size_t rank = t.chunks.front().shape.size();
        t.shape.assign(rank, 0);
        bool overflow = false;
        for (const Chunk& c : t.chunks)
            for (size_t d = 0; d < rank; ++d) {
                uint64_t e;
                if (__builtin_add_overflow(c.offsets[d], c.shape[d], &e))
                    overflow = true;
                else
                    t.shape[d] = std::max(t.shape[d], e);
            }
        auto numel = checkedNumel(t.shape);
        auto bytes = numel ? checkedBytes(*numel, dtypeBits(t.dtype)) : std::nullopt;
        if (overflow || !bytes) {
            markInvalid(ti, ckpt.files[t.chunks.front().file].name,
                        "saved_offsets and chunk shapes give a full shape that is too large or "
                        "not a whole number of bytes");
            continue;
        }
        t.bytes = *bytes;
        if (auto problem = subByteProblem(t); !problem.empty()) {
            markInvalid(ti, "", problem);
            continue;
        }
        checkCoverage(t, ckpt.files, [&](const Chunk& a, const Chunk& b) {
            replicas.record(ti, a, b);
            return true; // compared below, all pairs at once
        });
        if (t.status != CoverageStatus::Complete)
            ckpt.problems.push_back(
                {Severity::Error, "", t.fqn, t.coverageDetail, ErrorKind::Coverage});
    }

    reporter.add(ckpt.tensors.size() % 1024);
    replicas.run(ckpt, options, reporter);

    std::sort(ckpt.tensors.begin(), ckpt.tensors.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.fqn < b.fqn; });
    return ckpt;
}

} // namespace shardscope
