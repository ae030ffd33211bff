// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype.h"
#include "error.h"
#include "shape.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace shardscope {

struct ShardFile {
    std::string name; // file name inside the directory
    std::filesystem::path path;
    uint64_t size = 0;
    uint64_t dataStart = 0; // 8 + header length
    size_t tensorCount = 0;
    bool valid = true; // false when the header failed its checks
};

struct Chunk {
    uint32_t file = 0;  // index into Checkpoint::files
    Shape offsets;      // saved_offsets: where the chunk starts in the full tensor
    Shape shape;        // the chunk's own shape
    uint64_t begin = 0; // absolute byte range in the shard file
    uint64_t end = 0;
    bool replica = false; // same region as an earlier chunk: counted once, checked for equality
    uint64_t bytes() const { return end - begin; }
};

enum class CoverageStatus { Complete, Gap, Overlap, Conflict, Invalid };
std::string_view coverageStatusName(CoverageStatus status);

struct TensorInfo {
    std::string fqn;
    DType dtype = DType::U8;
    Shape shape; // the full tensor, derived from the chunks
    uint64_t bytes = 0;
    std::vector<Chunk> chunks;
    CoverageStatus status = CoverageStatus::Complete;
    std::string coverageDetail; // what is wrong, with the region, when not complete
};

struct Checkpoint {
    std::filesystem::path directory;
    std::vector<ShardFile> files;    // sorted by name
    std::vector<TensorInfo> tensors; // sorted by fqn (byte order)
    std::vector<Problem> problems;
    std::filesystem::path hfMetadataDir; // empty when there is no .hf_metadata/

    bool hasErrors() const;
    const TensorInfo* find(std::string_view fqn) const;
    uint64_t totalBytes() const;
};

// A scan's phases, in order; `done`/`total` count files, chunks, tensors and bytes respectively.
enum class ScanPhase { ReadingHeaders, Merging, CheckingCoverage, ComparingReplicas };
std::string_view scanPhaseName(ScanPhase phase);

struct ScanProgress {
    ScanPhase phase = ScanPhase::ReadingHeaders;
    uint64_t done = 0;
    uint64_t total = 0;
};

struct ScanOptions {
    int threads = 0; // 0: one per core
    // Called from the scanning threads, one at a time, a few times per phase and second.
    std::function<void(const ScanProgress&)> progress;
    std::stop_token stop; // checked in every phase, at least every few thousand chunks or MiB
};

// *.safetensors directly in `directory` (dot-files skipped), sorted by name. Such entries that are
// not regular files (a FIFO, socket, device, directory, dangling link) are left out, never opened;
// when `skipped` is given each gets a warning there naming it and what it is.
std::vector<std::filesystem::path> listShardFiles(const std::filesystem::path& directory,
                                                  std::vector<Problem>* skipped = nullptr);

// Reads every header once, builds the tensors with their chunks and proves coverage; then reads
// the bytes of replicated chunks (only those) to check that replicas agree. Problems in
// individual files or tensors are collected; a directory without shards throws Error; a stop
// request throws Cancelled.
Checkpoint scanCheckpoint(const std::filesystem::path& directory, const ScanOptions& options = {});

} // namespace shardscope
