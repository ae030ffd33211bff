// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "dcp_writer.h"

#include "parallel.h"
#include "pickle_writer.h"
#include "torch_archive.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/uio.h>
#include <unistd.h>
#include <unordered_map>
#include <zlib.h>

namespace fs = std::filesystem;

namespace shardscope::bench::dcp {
namespace {

struct DTypeInfo {
    const char* torchName; // the torch.<name> global in .metadata
    const char* storage;   // the legacy storage class in data.pkl
    unsigned bytes;
};

DTypeInfo info(DType d) {
    switch (d) {
    case DType::BF16:
        return {"bfloat16", "BFloat16Storage", 2};
    case DType::F16:
        return {"float16", "HalfStorage", 2};
    case DType::F32:
        return {"float32", "FloatStorage", 4};
    case DType::F64:
        return {"float64", "DoubleStorage", 8};
    case DType::I64:
        return {"int64", "LongStorage", 8};
    case DType::I32:
        return {"int32", "IntStorage", 4};
    case DType::I8:
        return {"int8", "CharStorage", 1};
    case DType::U8:
        return {"uint8", "ByteStorage", 1};
    case DType::Bool:
        return {"bool", "BoolStorage", 1};
    }
    throw std::invalid_argument("dcp: unknown dtype");
}

uint64_t numel(const std::vector<uint64_t>& sizes) {
    uint64_t n = 1;
    for (uint64_t d : sizes)
        n *= d;
    return n;
}

std::vector<uint64_t> contiguousStride(const std::vector<uint64_t>& sizes) {
    std::vector<uint64_t> stride(sizes.size(), 1);
    for (size_t d = sizes.size(); d > 1; --d)
        stride[d - 2] = stride[d - 1] * std::max<uint64_t>(sizes[d - 1], 1);
    return stride;
}

std::string rankFileName(size_t rank) {
    return "__" + std::to_string(rank) + "_0.distcp";
}

// Where one chunk's archive landed: _StorageInfo's offset and length.
struct Stored {
    uint64_t offset = 0;
    uint64_t length = 0;
};

[[noreturn]] void fail(const std::string& what, const fs::path& path) {
    throw std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}

void writeAll(int fd, const fs::path& path, std::string_view a, std::string_view b,
              std::string_view c) {
    iovec parts[3] = {{const_cast<char*>(a.data()), a.size()},
                      {const_cast<char*>(b.data()), b.size()},
                      {const_cast<char*>(c.data()), c.size()}};
    iovec* next = parts;
    int left = 3;
    while (left > 0) {
        const ssize_t n = ::writev(fd, next, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("cannot write", path);
        }
        size_t done = size_t(n);
        while (left > 0 && done >= next->iov_len) {
            done -= next->iov_len;
            ++next, --left;
        }
        if (left > 0) {
            next->iov_base = static_cast<char*>(next->iov_base) + done;
            next->iov_len -= done;
        }
    }
}

uint32_t crcOf(const std::string& bytes) {
    uLong crc = crc32(0, nullptr, 0);
    for (size_t at = 0; at < bytes.size(); at += 1u << 30) {
        const size_t n = std::min<size_t>(bytes.size() - at, 1u << 30);
        crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), uInt(n));
    }
    return uint32_t(crc);
}

// One rank's data file: its chunks' archives back to back, no padding (FileSystemWriter).
std::vector<Stored> writeRankFile(const fs::path& path, const Checkpoint& ckpt, size_t rank,
                                  const FillChunk& fill, bool sparse) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot create", path);
    std::vector<Stored> stored;
    uint64_t offset = 0;
    std::string bytes;
    std::unordered_map<std::string, uint64_t> sparseLength; // by data.pkl: same shape, same size
    for (size_t i = 0; i < ckpt.ranks[rank].size(); ++i) {
        const Chunk& c = ckpt.ranks[rank][i];
        const DTypeInfo dt = info(ckpt.tensors[c.tensor].dtype);
        const uint64_t n = numel(c.sizes);
        const std::string pkl = tensorDataPkl(dt.storage, n, c.sizes, contiguousStride(c.sizes));
        uint64_t length = 0;
        if (sparse) {
            auto [it, added] = sparseLength.try_emplace(pkl, 0);
            if (added) it->second = torchArchive(pkl, n * dt.bytes, 0).size();
            length = it->second;
        } else {
            bytes.clear();
            fill(rank, i, bytes);
            if (bytes.size() != n * dt.bytes)
                throw std::logic_error("dcp: chunk bytes do not match its shape");
            const TorchArchive archive = torchArchive(pkl, bytes.size(), crcOf(bytes));
            writeAll(fd, path, archive.head, bytes, archive.tail);
            length = archive.size();
        }
        stored.push_back({offset, length});
        offset += length;
    }
    // Sparse files still have the right sizes, so a reader's range checks pass.
    if (sparse && ::ftruncate(fd, off_t(offset)) != 0) fail("cannot size", path);
    if (::close(fd) != 0) fail("cannot close", path);
    return stored;
}

constexpr std::string_view kMetaModule = "torch.distributed.checkpoint.metadata";
constexpr std::string_view kFsModule = "torch.distributed.checkpoint.filesystem";
constexpr char kNewObj = char(0x81), kStackGlobal = char(0x93), kNewFalse = char(0x89);
constexpr char kTuple1 = char(0x85), kTuple2 = char(0x86);

// A dict entry of an object's state: an interned attribute name and how to save its value.
struct Field {
    std::string_view name;
    std::function<void()> value;
};

// .metadata: Metadata and its dataclasses, saved in the order and with the memo sharing
// CPython's pickler gives them (dataclass __dict__ keys, classes, module names, dtypes, the
// layout and the memory-format enum member are fetched from the memo after their first use).
class MetadataPickler {
public:
    explicit MetadataPickler(std::FILE* sink) : m_w(4, sink) {}
    std::string write(const Checkpoint& ckpt, const std::vector<std::vector<Stored>>& stored);

private:
    void saveClass(std::string_view module, std::string_view name);
    void saveObject(std::string_view module, std::string_view name,
                    const std::vector<Field>& state);
    template <typename Item> void saveDict(size_t count, const Item& item);
    template <typename Item> void saveList(size_t count, const Item& item);
    void saveInt(uint64_t v) {
        m_w.save();
        m_w.integer(int64_t(v));
    }
    void saveStr(std::string_view s) {
        m_w.save();
        m_w.str(s);
    }
    void saveFalse() {
        m_w.save();
        m_w.op(kNewFalse);
    }
    void saveInts(const std::vector<uint64_t>& v);
    void saveSize(const std::vector<uint64_t>& v);
    void saveProperties(DType dtype);
    void saveTensor(const Checkpoint& ckpt, size_t t, const std::vector<const Chunk*>& chunks);

    PickleWriter m_w;
};

void MetadataPickler::saveClass(std::string_view module, std::string_view name) {
    m_w.shared("c:" + std::string(module) + ":" + std::string(name), [&] {
        m_w.sharedStr(module); // one __module__ string for all classes of a module
        m_w.save();
        m_w.str(name);
        m_w.op(kStackGlobal);
        m_w.memoize();
    });
}

// copyreg.__newobj__: NEWOBJ(cls, ()), then BUILD with the __dict__ state.
void MetadataPickler::saveObject(std::string_view module, std::string_view name,
                                 const std::vector<Field>& state) {
    m_w.save();
    saveClass(module, name);
    m_w.save();
    m_w.op(')');
    m_w.op(kNewObj);
    m_w.memoize();
    saveDict(state.size(), [&](size_t i) {
        m_w.sharedStr(state[i].name);
        state[i].value();
    });
    m_w.op('b');
}

// EMPTY_DICT, then _pickle.c's batch_dict_exact: one SETITEM for a single item, otherwise
// MARK ... SETITEMS per 1,000, plus an empty batch after a full one.
template <typename Item> void MetadataPickler::saveDict(size_t count, const Item& item) {
    m_w.save();
    m_w.op('}');
    m_w.memoize();
    if (count == 0) return;
    if (count == 1) {
        item(0);
        m_w.op('s');
        return;
    }
    size_t i = 0, batch = 0;
    do {
        m_w.op('(');
        for (batch = 0; batch < 1000 && i < count; ++batch)
            item(i++);
        m_w.op('u');
    } while (batch == 1000);
}

// EMPTY_LIST, then batch_list_exact: APPEND for one item, MARK ... APPENDS per 1,000.
template <typename Item> void MetadataPickler::saveList(size_t count, const Item& item) {
    m_w.save();
    m_w.op(']');
    m_w.memoize();
    if (count == 0) return;
    if (count == 1) {
        item(0);
        m_w.op('a');
        return;
    }
    size_t i = 0;
    do {
        m_w.op('(');
        for (size_t batch = 0; batch < 1000 && i < count; ++batch)
            item(i++);
        m_w.op('e');
    } while (i < count);
}

void MetadataPickler::saveInts(const std::vector<uint64_t>& v) {
    m_w.save();
    if (v.empty()) {
        m_w.op(')');
        return;
    }
    if (v.size() > 3) m_w.op('(');
    for (uint64_t d : v)
        saveInt(d);
    m_w.op(v.size() > 3 ? 't' : char(0x84 + v.size()));
    m_w.memoize();
}

// torch.Size.__reduce__: REDUCE(torch.Size, ((d0, d1, ...),)).
void MetadataPickler::saveSize(const std::vector<uint64_t>& v) {
    m_w.save();
    saveClass("torch", "Size");
    m_w.save();
    saveInts(v);
    m_w.op(kTuple1);
    m_w.memoize();
    m_w.op('R');
    m_w.memoize();
}

// TensorProperties.__getstate__: (dtype, layout, requires_grad, memory format, pin_memory).
void MetadataPickler::saveProperties(DType dtype) {
    m_w.save();
    saveClass(kMetaModule, "TensorProperties");
    m_w.save();
    m_w.op(')');
    m_w.op(kNewObj);
    m_w.memoize();
    m_w.save();
    m_w.op('(');
    const char* name = info(dtype).torchName;
    m_w.shared(std::string("dtype:") + name, [&] { // torch.dtype reduces to its global name
        m_w.sharedStr("torch");
        m_w.save();
        m_w.str(name);
        m_w.op(kStackGlobal);
        m_w.memoize();
    });
    m_w.shared("layout:strided", [&] { // copyreg: _get_layout('torch.strided')
        saveClass("torch.serialization", "_get_layout");
        m_w.save();
        saveStr("torch.strided");
        m_w.op(kTuple1);
        m_w.memoize();
        m_w.op('R');
        m_w.memoize();
    });
    saveFalse();
    m_w.shared("enum:contiguous", [&] { // Enum by name (Python >= 3.11)
        saveClass("builtins", "getattr");
        m_w.save();
        saveClass(kMetaModule, "_MEM_FORMAT_ENCODING");
        saveStr("TORCH_CONTIGUOUS_FORMAT");
        m_w.op(kTuple2);
        m_w.memoize();
        m_w.op('R');
        m_w.memoize();
    });
    saveFalse();
    m_w.op('t');
    m_w.memoize();
    m_w.op('b');
}

void MetadataPickler::saveTensor(const Checkpoint& ckpt, size_t t,
                                 const std::vector<const Chunk*>& chunks) {
    const Tensor& tensor = ckpt.tensors[t];
    saveObject(kMetaModule, "TensorStorageMetadata",
               {{"properties", [&] { saveProperties(tensor.dtype); }},
                {"size", [&] { saveSize(tensor.size); }},
                {"chunks", [&] {
                     saveList(chunks.size(), [&](size_t i) {
                         saveObject(kMetaModule, "ChunkStorageMetadata",
                                    {{"offsets", [&] { saveSize(chunks[i]->offsets); }},
                                     {"sizes", [&] { saveSize(chunks[i]->sizes); }}});
                     });
                 }}});
}

std::string MetadataPickler::write(const Checkpoint& ckpt,
                                   const std::vector<std::vector<Stored>>& stored) {
    // Chunk lists in plan order (rank 0's first); a chunk's position is MetadataIndex.index.
    std::vector<std::vector<const Chunk*>> chunks(ckpt.tensors.size());
    std::vector<std::vector<size_t>> position(ckpt.ranks.size());
    for (size_t r = 0; r < ckpt.ranks.size(); ++r)
        for (const Chunk& c : ckpt.ranks[r]) {
            position[r].push_back(chunks[c.tensor].size());
            chunks[c.tensor].push_back(&c);
        }
    // The fqn is one str in state_dict_metadata and planner_data (BINGET after the first);
    // MetadataIndex.fqn arrives from each rank's gathered plan, a str of its own every time.
    auto stateDictMetadata = [&] {
        saveDict(ckpt.tensors.size(), [&](size_t t) {
            m_w.sharedStr(ckpt.tensors[t].fqn);
            saveTensor(ckpt, t, chunks[t]);
        });
    };
    auto plannerData = [&] { // flatten_state_dict's mapping: fqn -> (fqn,)
        saveDict(ckpt.tensors.size(), [&](size_t t) {
            m_w.sharedStr(ckpt.tensors[t].fqn);
            m_w.save();
            m_w.sharedStr(ckpt.tensors[t].fqn);
            m_w.op(kTuple1);
            m_w.memoize();
        });
    };
    std::vector<std::pair<size_t, size_t>> items; // (rank, index): write results in rank order
    for (size_t r = 0; r < ckpt.ranks.size(); ++r)
        for (size_t i = 0; i < ckpt.ranks[r].size(); ++i)
            items.emplace_back(r, i);
    auto storageData = [&] {
        saveDict(items.size(), [&](size_t k) {
            const auto [r, i] = items[k];
            const Chunk& c = ckpt.ranks[r][i];
            saveObject(kMetaModule, "MetadataIndex",
                       {{"fqn", [&] { saveStr(ckpt.tensors[c.tensor].fqn); }},
                        {"index", [&] { saveInt(position[r][i]); }},
                        {"offset", [&] { saveSize(c.offsets); }}});
            saveObject(kFsModule, "_StorageInfo",
                       {{"relative_path", [&] { saveStr(rankFileName(r)); }},
                        {"offset", [&] { saveInt(stored[r][i].offset); }},
                        {"length", [&] { saveInt(stored[r][i].length); }}});
        });
    };
    saveObject(kMetaModule, "Metadata",
               {{"state_dict_metadata", stateDictMetadata},
                {"planner_data", plannerData},
                {"storage_data", storageData},
                {"storage_meta",
                 [&] {
                     m_w.save();
                     m_w.op('N'); // NONE
                 }},
                {"version", [&] { saveStr("2.0.0"); }}});
    return m_w.finish();
}

void writeMetadata(const fs::path& dir, const Checkpoint& ckpt,
                   const std::vector<std::vector<Stored>>& stored) {
    const fs::path tmp = dir / ".metadata.tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wbe");
    if (!f) fail("cannot create", tmp);
    try {
        const std::string rest = MetadataPickler(f).write(ckpt, stored);
        if (std::fwrite(rest.data(), 1, rest.size(), f) != rest.size()) fail("cannot write", tmp);
    } catch (...) {
        std::fclose(f);
        throw;
    }
    if (std::fclose(f) != 0) fail("cannot close", tmp);
    fs::rename(tmp, dir / ".metadata");
}

} // namespace

uint64_t chunkBytes(const Checkpoint& ckpt, const Chunk& chunk) {
    return numel(chunk.sizes) * info(ckpt.tensors[chunk.tensor].dtype).bytes;
}

void writeCheckpoint(const fs::path& dir, const Checkpoint& ckpt, const FillChunk& fill,
                     const WriteOptions& options) {
    fs::create_directories(dir);
    std::vector<std::vector<Stored>> stored(ckpt.ranks.size());
    parallelFor(ckpt.ranks.size(), options.threads, [&](size_t r) {
        stored[r] = writeRankFile(dir / rankFileName(r), ckpt, r, fill, options.sparse);
    });
    writeMetadata(dir, ckpt, stored);
}

} // namespace shardscope::bench::dcp
