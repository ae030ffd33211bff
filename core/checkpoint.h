// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype.h"
#include "error.h"
#include "shape.h"
#include "shape_pool.h"

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

// 32 bytes: millions of chunks stay resident (see ShapePool for the arithmetic).
struct Chunk {
    uint32_t file = 0; // index into Checkpoint::files
    ShapeRef offsets;  // saved_offsets: where the chunk starts in the full tensor
    ShapeRef shape;    // the chunk's own shape
    // 0: begin..end holds the chunk row-major, ready to copy. Otherwise 1 + an index into
    // Checkpoint::stored: a DCP item stored with other strides or compressed, which is decoded
    // into row-major bytes before copying (see stored_chunk.h).
    uint32_t stored : 31 = 0;
    // Same region as an earlier chunk: counted once, checked for equality.
    uint32_t replica : 1 = 0;
    uint64_t begin = 0; // absolute byte range in the shard file
    uint64_t end = 0;
    uint64_t bytes() const { return end - begin; }
};
static_assert(sizeof(Chunk) == 32);

// How a DCP item holds a chunk when it is not plain row-major bytes in its file.
struct StoredLayout {
    Shape strides;              // element strides of the stored tensor (empty: row-major)
    uint64_t storageOffset = 0; // in elements, from the start of the stored bytes
    bool zstd = false;          // the item is a zstd stream of the torch.save archive
    uint64_t itemBegin = 0;     // the item's byte range in its file (compressed when zstd)
    uint64_t itemEnd = 0;
    uint64_t dataOffset = 0;  // zstd: where the storage bytes start in the decompressed archive
    uint64_t dataBytes = 0;   // the storage bytes
    uint64_t streamBytes = 0; // zstd: the decompressed archive's size
};

// What a tensor is for, from its place in the state dict (a DCP checkpoint's first path
// component): only model weights are exported unless the user asks for the rest.
enum class TensorKind : uint8_t { Model, Optimizer, Scheduler, Dataloader, TrainState };
std::string_view tensorKindName(TensorKind kind); // "model", "optimizer", ...

// A non-tensor entry of a DCP checkpoint (step counter, RNG state, any pickled object): listed,
// never exported.
struct ByteItem {
    std::string fqn;
    std::string type;  // "int", "float", "str", "bytes", "dict", "list", or the class name
    std::string value; // for int, float and str; empty otherwise
    uint64_t size = 0; // bytes in its file
    uint32_t file = 0;
    uint32_t tensors = 0; // tensors found inside it (listed as tensors named fqn + "." + key)
    uint32_t tensorsNotRead = 0; // tensor objects inside it that could not be reached or read
};

// HfFolder: consolidated Hugging Face safetensors (one file, or a folder with or without
// model.safetensors.index.json), every tensor whole in one file: one chunk at offsets zero.
enum class CheckpointFormat : uint8_t { SafetensorsShards, Dcp, HfFolder };

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
    TensorKind kind = TensorKind::Model;
    std::string name; // the name it is exported under when that differs from fqn, else empty
    const std::string& exportName() const { return name.empty() ? fqn : name; }
};

struct Checkpoint {
    std::filesystem::path directory;
    std::filesystem::path singleFile; // set when one *.safetensors file was opened, not a folder
    std::vector<ShardFile> files;     // sorted by name
    std::vector<TensorInfo> tensors;  // sorted by fqn (byte order)
    std::vector<Problem> problems;
    std::filesystem::path hfMetadataDir; // empty when there is no .hf_metadata/
    // An HF model folder whose config and tokenizer files an export copies (DCP checkpoints have
    // no .hf_metadata/); set by the user.
    std::filesystem::path hfAssetsDir;
    CheckpointFormat format = CheckpointFormat::SafetensorsShards;
    std::vector<StoredLayout> stored; // see Chunk::stored
    std::vector<ByteItem> byteItems;  // DCP only, sorted by fqn

    bool hasErrors() const;
    // What the user opened, for messages: the single file, or the directory.
    const std::filesystem::path& opened() const {
        return singleFile.empty() ? directory : singleFile;
    }
    const TensorInfo* find(std::string_view fqn) const;
    uint64_t totalBytes() const;
};

// A scan's phases, in order; `done`/`total` count files, chunks, tensors and bytes respectively.
// ReadingMetadata: a DCP checkpoint's .metadata, in bytes (then ReadingHeaders counts items).
enum class ScanPhase {
    ReadingHeaders,
    Merging,
    CheckingCoverage,
    ComparingReplicas,
    ReadingMetadata
};
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

// A directory with a .metadata file is a DCP checkpoint; scanCheckpoint reads every kind.
bool isDcpDirectory(const std::filesystem::path& directory);

// Reads every header once, builds the tensors with their chunks and proves coverage; then reads
// the bytes of replicated chunks (only those) to check that replicas agree. Problems in
// individual files or tensors are collected; a directory without shards throws Error; a stop
// request throws Cancelled. `path` is a directory (DCP .metadata, DCP shards, or a Hugging Face
// folder, see isHfFolder) or a single *.safetensors file, read as a Hugging Face checkpoint.
Checkpoint scanCheckpoint(const std::filesystem::path& path, const ScanOptions& options = {});

} // namespace shardscope
