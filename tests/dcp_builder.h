// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

// Test-side PyTorch DCP writing: `.metadata` (a hand-emitted pickle) and `__<rank>_0.distcp`
// files of torch.save zip archives, byte by byte and without the core's code, so a bug in the
// core's reader cannot cancel itself out in a test. Layout: distcp-format.md §3 (.metadata) and
// §4 (items) in the shared docs.

#include "shard_builder.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace testing {

struct DcpChunk {
    Dims offsets;
    Dims shape;
    int rank = 0;                // written to __<rank>_0.distcp
    bool columnMajor = false;    // stored with reversed strides, as a transposed weight is
    bool zstd = false;           // stored as a zstd stream (transform "stream.zstd/1")
    bool noStorageEntry = false; // listed in the tensor's chunks, but no item nor storage_data
    Dims metadataOffsets = {};   // when set, where .metadata says the chunk is (bytes: `offsets`)

    const Dims& saidOffsets() const { return metadataOffsets.empty() ? offsets : metadataOffsets; }
};

struct DcpTensor {
    std::string fqn;
    std::string dtype; // safetensors name: F32, BF16, I64, U8, ...
    Dims shape;
    std::vector<DcpChunk> chunks;
    // planner_data's path; empty: the fqn split at '.', as flatten_state_dict writes it.
    std::vector<std::string> path = {};
};

// A non-tensor entry: torch.save of a Python int or str.
struct DcpByteItem {
    std::string fqn;
    int64_t intValue = 0;
    std::string strValue = {}; // used instead of intValue when isString
    bool isString = false;
    int rank = 0;
    std::string archive = {}; // when set, the item's bytes as they are (see nestedTensorsArchive)
    bool zstd = false;        // stored as a zstd stream (transform "stream.zstd/1")
};

// A tensor in the nested dicts of a byte item, row-major from storage offset 0.
struct NestedEntry {
    NestedEntry(std::vector<std::string> keys, std::string type, Dims dims, std::string bytes)
        : path(std::move(keys)), dtype(std::move(type)), shape(std::move(dims)),
          data(std::move(bytes)) {}
    std::vector<std::string> path; // dict keys from the item down
    std::string dtype;
    Dims shape;
    std::string data;          // its row-major bytes
    int64_t storageNumel = -1; // what data.pkl says the storage holds; -1: the data's
    std::string storageKey;    // empty: its index among the entries
    bool writeStorage = true;  // false: data.pkl names a storage the archive lacks
};

// torch.save of nested dicts holding these tensors, as torch 1.13 saves a state dict entry
// such as {"model": {...}} whole, as one byte item. With `selfList`, the top dict also holds
// "loop": a list that contains itself.
std::string nestedTensorsArchive(const std::vector<NestedEntry>& entries, bool selfList = false);
// Dicts d(0) = {"t": a one-element F32 tensor}, d(i+1) = {"a": d(i), "b": d(i)}, the top one
// d(levels) being the object: 2^levels paths lead to the tensor through levels + 1 dicts.
std::string sharedDictsArchive(int levels);

struct DcpOptions {
    // The .metadata pickle: 4 (FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE; Python 3.8+) or
    // 2 (BINUNICODE, GLOBAL, BINPUT).
    int protocol = 4;
    bool plannerData = true; // false: planner_data None, as torch 1.13 writes it
};

// Writes `dir`/.metadata and one __<rank>_0.distcp per rank named by a chunk or byte item (byte
// items first, then tensor items in the order given). Returns each tensor's full row-major
// bytes (testing::pattern of its fqn).
std::map<std::string, std::string> writeDcpCheckpoint(const std::filesystem::path& dir,
                                                      const std::vector<DcpTensor>& tensors,
                                                      const std::vector<DcpByteItem>& bytes = {},
                                                      const DcpOptions& options = {});

// A small training checkpoint on 2 ranks, as the GUI and model tests use it:
//   model.embed.weight       BF16 [8, 4]  rows split over the ranks  (exported as embed.weight)
//   model.layers.0.attn.w    F32  [6, 4]  rank 0 strided (column-major), rank 1 zstd
//   model.norm.scale         F32  []      0-dim
//   optimizer.state.embed.weight.exp_avg F32 [8, 4], optimizer.state.embed.weight.step F32 [],
//   lr_scheduler.last_lr F64 [1], dataloader.position I64 [2], train_state.rng U8 [16]
// and byte items step = 1234, train_state.epoch = 3, train_state.run = "run-7".
std::map<std::string, std::string> writeTrainingCheckpoint(const std::filesystem::path& dir);

// Even splits of `shape` along `dim` into `parts` chunks, chunk i on rank i.
std::vector<DcpChunk> dcpSplit(const Dims& shape, size_t dim, uint64_t parts);

// The pieces, for tests that compare bytes with a reference writer or build odd files.
// A torch.save archive: stored entries under "archive/", 64-byte aligned data ("FB" padding),
// flags 0x0808 with data descriptors, central directory, ZIP64 end records and classic EOCD.
std::string torchSaveArchive(const std::vector<std::pair<std::string, std::string>>& records);
// The data.pkl of a tensor item (protocol 2), storage "0" of `numel` elements.
std::string tensorRecordPickle(const std::string& dtype, uint64_t numel, const Dims& shape,
                               const Dims& stride);
// A zstd frame holding `bytes` in raw (uncompressed) blocks, with its content size.
std::string zstdRawFrame(std::string_view bytes);
uint32_t crc32(std::string_view bytes);

} // namespace testing
