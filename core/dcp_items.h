// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "torch_record.h"
#include "zip_reader.h"

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shardscope {

class PosixFile;

// One item of a .distcp file: the byte range storage_data gives and the transforms applied to it.
struct ItemRange {
    uint64_t offset = 0;
    uint64_t length = 0;
    const std::vector<std::string>* transforms = nullptr; // empty or {"stream.zstd/1"}
    std::string_view bytes; // the item's bytes when the caller already read them, else empty
};

// What one thread keeps from one item to the next, so that the 800,000 items of a checkpoint of
// small chunks cost no pickle run and no allocation each.
struct ItemCache {
    // Looked up by a view of the bytes, without building a key string.
    struct BytesHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    // data.pkl records already read, by their bytes: the chunks of one checkpoint share a
    // handful of shapes.
    std::unordered_map<std::string, TensorRecord, BytesHash, std::equal_to<>> records;
    // The last archive's directory, overwritten by the next: its entries keep their storage.
    ZipDirectory directory;
};

// Where a chunk's storage bytes are, from its torch.save archive.
struct TensorItem {
    TensorRecord record;
    uint64_t dataOffset = 0; // archive-relative (zstd: in the decoded stream)
    uint64_t dataBytes = 0;
    bool zstd = false;
    uint64_t streamBytes = 0; // zstd: the decoded archive's size
};

// Reads the archive's central directory and data.pkl, then checks them against .metadata: the
// storage class holds `dtype`, the view's size is `sizes`, the storage is as large as the class
// and count say, the strides stay inside it, and byteorder (when present) is little. Every
// failure throws Error naming fileName and fqn with the kind of the failed check.
TensorItem readTensorItem(const PosixFile& file, const ItemRange& item, DType dtype,
                          const Shape& sizes, const std::string& fileName, const std::string& fqn,
                          ItemCache* cache = nullptr);

// True when the item starts like a zip archive (a torch.save item) rather than a safetensors
// blob (SerializationFormat.SAFETENSORS) or a zstd stream.
bool startsLikeZip(const PosixFile& file, uint64_t offset, uint64_t length,
                   std::string_view bytes = {});

// A tensor inside a byte item. PyTorch before 2.0 saves each top-level entry of the state dict
// that is not a tensor as one torch.save object, so {"model": model.state_dict()} becomes one
// byte item holding every weight.
struct NestedTensor {
    // The keys (list indices as numbers) from the item down; empty when the item's object is
    // itself a tensor.
    std::vector<std::string> path;
    TensorRecord record;
    uint64_t dataOffset = 0; // its storage entry, archive-relative (zstd: in the decoded stream)
    uint64_t dataBytes = 0;
    uint64_t streamBytes = 0; // the archive's size (zstd: decoded)
    std::string problem;      // why it cannot be read; then only `path` is set
    ErrorKind kind = ErrorKind::StorageMismatch;
};

// The type and, for int, float, str and bool, the value of a byte item (a torch.save'd object).
// When `nested` is given, the tensors inside dicts, OrderedDicts, lists and tuples of the item
// are added to it, each checked against its storage entry, and out.tensors counts them.
void describeByteItem(const PosixFile& file, const ItemRange& item, const std::string& fileName,
                      ByteItem& out, std::vector<NestedTensor>* nested = nullptr);

// Throws UnknownTransform unless the list is empty or {"stream.zstd/1"}.
bool checkTransforms(const std::vector<std::string>& transforms, const std::string& fileName,
                     const std::string& fqn);

} // namespace shardscope
