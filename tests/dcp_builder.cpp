// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "dcp_builder.h"

#include <array>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <unordered_map>

namespace fs = std::filesystem;

namespace testing {
namespace {

void put16(std::string& out, uint16_t v) {
    for (int i = 0; i < 2; ++i)
        out += char((v >> (8 * i)) & 0xff);
}
void put32(std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        out += char((v >> (8 * i)) & 0xff);
}
void put64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        out += char((v >> (8 * i)) & 0xff);
}

// torch's names for a safetensors dtype: the dtype global and the legacy storage class.
struct TorchDType {
    const char* safetensors;
    const char* dtype;
    const char* storage;
};
constexpr TorchDType kDTypes[] = {
    {"F64", "float64", "DoubleStorage"}, {"F32", "float32", "FloatStorage"},
    {"F16", "float16", "HalfStorage"},   {"BF16", "bfloat16", "BFloat16Storage"},
    {"I64", "int64", "LongStorage"},     {"I32", "int32", "IntStorage"},
    {"I16", "int16", "ShortStorage"},    {"I8", "int8", "CharStorage"},
    {"U8", "uint8", "ByteStorage"},      {"BOOL", "bool", "BoolStorage"},
};

const TorchDType& torchDType(const std::string& dtype) {
    for (const auto& d : kDTypes)
        if (dtype == d.safetensors) return d;
    throw std::invalid_argument("dcp_builder: no torch dtype for " + dtype);
}

// The pickle opcodes this writer emits (names as in pickletools).
namespace op {
constexpr char MARK = '(', STOP = '.', BININT = 'J', BININT1 = 'K', BININT2 = 'M', NONE = 'N',
               BINPERSID = 'Q', REDUCE = 'R', BINUNICODE = 'X', EMPTY_LIST = ']', APPEND = 'a',
               BUILD = 'b', GLOBAL = 'c', APPENDS = 'e', BINGET = 'h', LONG_BINGET = 'j',
               BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', SETITEMS = 'u',
               EMPTY_DICT = '}', EMPTY_TUPLE = ')';
constexpr char PROTO = char(0x80), NEWOBJ = char(0x81), TUPLE1 = char(0x85), TUPLE2 = char(0x86),
               TUPLE3 = char(0x87), NEWFALSE = char(0x89), LONG1 = char(0x8a),
               SHORT_BINUNICODE = char(0x8c), MEMOIZE = char(0x94), STACK_GLOBAL = char(0x93),
               FRAME = char(0x95);
} // namespace op

// A pickle emitter with Python's memo habits: strings and globals are memoized once and fetched
// with BINGET afterwards; tuples and objects are memoized as they are built.
class Pickler {
public:
    explicit Pickler(int protocol) : m_protocol(protocol) {}

    std::string finish() {
        m_body += op::STOP;
        std::string out{op::PROTO, char(m_protocol)};
        if (m_protocol >= 4) { // one frame around everything, as Python does for small pickles
            out += op::FRAME;
            put64(out, m_body.size());
        }
        return out + m_body;
    }

    void raw(char c) { m_body += c; }
    uint32_t lastMemo() const { return m_next - 1; }

    void memoize() {
        const uint32_t index = m_next++;
        if (m_protocol >= 4) {
            m_body += op::MEMOIZE;
        } else if (index < 256) {
            m_body += op::BINPUT;
            m_body += char(index);
        } else {
            m_body += op::LONG_BINPUT;
            put32(m_body, index);
        }
    }

    void get(uint32_t index) {
        if (index < 256) {
            m_body += op::BINGET;
            m_body += char(index);
        } else {
            m_body += op::LONG_BINGET;
            put32(m_body, index);
        }
    }

    void str(const std::string& s) {
        if (auto it = m_strings.find(s); it != m_strings.end()) return get(it->second);
        if (m_protocol >= 4 && s.size() < 256) {
            m_body += op::SHORT_BINUNICODE;
            m_body += char(s.size());
        } else {
            m_body += op::BINUNICODE;
            put32(m_body, uint32_t(s.size()));
        }
        m_body += s;
        m_strings[s] = m_next;
        memoize();
    }

    void global(const std::string& module, const std::string& name) {
        const std::string key = module + "\n" + name;
        if (auto it = m_globals.find(key); it != m_globals.end()) return get(it->second);
        if (m_protocol >= 4) {
            str(module);
            str(name);
            m_body += op::STACK_GLOBAL;
        } else {
            m_body += op::GLOBAL;
            m_body += key + "\n";
        }
        m_globals[key] = m_next;
        memoize();
    }

    void integer(int64_t v) {
        if (v >= 0 && v < 256) {
            m_body += op::BININT1;
            m_body += char(v);
        } else if (v >= 0 && v < 65536) {
            m_body += op::BININT2;
            put16(m_body, uint16_t(v));
        } else if (v >= INT32_MIN && v <= INT32_MAX) {
            m_body += op::BININT;
            put32(m_body, uint32_t(int32_t(v)));
        } else { // LONG1: little-endian two's complement, 8 bytes is always enough here
            m_body += op::LONG1;
            m_body += char(8);
            put64(m_body, uint64_t(v));
        }
    }

    // A tuple of n items pushed by `items`: EMPTY_TUPLE, TUPLE1..3, or MARK ... TUPLE.
    void tuple(size_t n, const std::function<void()>& items) {
        if (n == 0) {
            m_body += op::EMPTY_TUPLE;
            return;
        }
        if (n > 3) m_body += op::MARK;
        items();
        m_body += n == 1 ? op::TUPLE1 : n == 2 ? op::TUPLE2 : n == 3 ? op::TUPLE3 : op::TUPLE;
        memoize();
    }

    void intTuple(const Dims& dims) {
        tuple(dims.size(), [&] {
            for (uint64_t d : dims)
                integer(int64_t(d));
        });
    }

    // EMPTY_DICT, then SETITEM for one pair or MARK ... SETITEMS for more.
    void dict(size_t pairs, const std::function<void()>& items) {
        m_body += op::EMPTY_DICT;
        memoize();
        if (pairs == 0) return;
        if (pairs > 1) m_body += op::MARK;
        items();
        m_body += pairs > 1 ? op::SETITEMS : op::SETITEM;
    }

    void list(size_t n, const std::function<void()>& items) {
        m_body += op::EMPTY_LIST;
        memoize();
        if (n == 0) return;
        if (n > 1) m_body += op::MARK;
        items();
        m_body += n > 1 ? op::APPENDS : op::APPEND;
    }

    // cls(), as copyreg.__newobj__ pickles it: the class, (), NEWOBJ; BUILD with `state` if any.
    void object(const std::string& module, const std::string& cls,
                const std::function<void()>& state = {}) {
        global(module, cls);
        m_body += op::EMPTY_TUPLE;
        m_body += op::NEWOBJ;
        memoize();
        if (!state) return;
        state();
        m_body += op::BUILD;
    }

    // func(*args): the callable, the argument tuple, REDUCE.
    void reduce(const std::string& module, const std::string& name, size_t argc,
                const std::function<void()>& args) {
        global(module, name);
        tuple(argc, args);
        m_body += op::REDUCE;
        memoize();
    }

    void torchSize(const Dims& dims) {
        reduce("torch", "Size", 1, [&] { intTuple(dims); });
    }

private:
    int m_protocol;
    std::string m_body;
    uint32_t m_next = 0;
    std::unordered_map<std::string, uint32_t> m_strings, m_globals;
};

constexpr const char* kMetadataModule = "torch.distributed.checkpoint.metadata";
constexpr const char* kFilesystemModule = "torch.distributed.checkpoint.filesystem";

struct Stored {
    std::string fqn;
    Dims offsets; // tensors only
    bool isBytes = false;
    uint64_t index = 0; // chunk index in the tensor's list
    int rank = 0;
    uint64_t offset = 0, length = 0;
    bool zstd = false;
};

std::string fileOfRank(int rank) {
    return "__" + std::to_string(rank) + "_0.distcp";
}

std::vector<std::string> pathOf(const DcpTensor& t) {
    if (!t.path.empty()) return t.path;
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t dot; (dot = t.fqn.find('.', start)) != std::string::npos; start = dot + 1)
        parts.push_back(t.fqn.substr(start, dot - start));
    parts.push_back(t.fqn.substr(start));
    return parts;
}

// TensorProperties' 5-tuple state: (dtype, layout, requires_grad, memory_format, pin_memory).
void tensorProperties(Pickler& p, const std::string& dtype) {
    p.object(kMetadataModule, "TensorProperties", [&] {
        p.tuple(5, [&] {
            p.global("torch", torchDType(dtype).dtype);
            p.reduce("torch.serialization", "_get_layout", 1, [&] { p.str("torch.strided"); });
            p.raw(op::NEWFALSE);
            p.reduce("builtins", "getattr", 2, [&] {
                p.global(kMetadataModule, "_MEM_FORMAT_ENCODING");
                p.str("TORCH_CONTIGUOUS_FORMAT");
            });
            p.raw(op::NEWFALSE);
        });
    });
}

void tensorStorageMetadata(Pickler& p, const DcpTensor& t) {
    p.object(kMetadataModule, "TensorStorageMetadata", [&] {
        p.dict(3, [&] {
            p.str("properties");
            tensorProperties(p, t.dtype);
            p.str("size");
            p.torchSize(t.shape);
            p.str("chunks");
            p.list(t.chunks.size(), [&] {
                for (const DcpChunk& c : t.chunks)
                    p.object(kMetadataModule, "ChunkStorageMetadata", [&] {
                        p.dict(2, [&] {
                            p.str("offsets");
                            p.torchSize(c.saidOffsets());
                            p.str("sizes");
                            p.torchSize(c.shape);
                        });
                    });
            });
        });
    });
}

void storageEntry(Pickler& p, const Stored& s) {
    p.object(kMetadataModule, "MetadataIndex", [&] {
        p.dict(s.isBytes ? 2 : 3, [&] {
            p.str("fqn");
            p.str(s.fqn);
            if (!s.isBytes) {
                p.str("offset");
                p.torchSize(s.offsets);
            }
            p.str("index");
            if (s.isBytes)
                p.raw(op::NONE);
            else
                p.integer(int64_t(s.index));
        });
    });
    p.object(kFilesystemModule, "_StorageInfo", [&] {
        p.dict(s.zstd ? 4 : 3, [&] {
            p.str("relative_path");
            p.str(fileOfRank(s.rank));
            p.str("offset");
            p.integer(int64_t(s.offset));
            p.str("length");
            p.integer(int64_t(s.length));
            if (s.zstd) {
                p.str("transform_descriptors");
                p.list(1, [&] { p.str("stream.zstd/1"); });
            }
        });
    });
}

std::string metadataPickle(const std::vector<DcpTensor>& tensors,
                           const std::vector<DcpByteItem>& bytes, const std::vector<Stored>& stored,
                           const DcpOptions& options) {
    Pickler p(options.protocol);
    p.object(kMetadataModule, "Metadata", [&] {
        p.dict(3, [&] {
            p.str("state_dict_metadata");
            p.dict(tensors.size() + bytes.size(), [&] {
                for (const DcpByteItem& b : bytes) {
                    p.str(b.fqn);
                    p.object(kMetadataModule, "BytesStorageMetadata"); // no BUILD: empty __dict__
                }
                for (const DcpTensor& t : tensors) {
                    p.str(t.fqn);
                    tensorStorageMetadata(p, t);
                }
            });
            p.str("planner_data");
            if (!options.plannerData) {
                p.raw(op::NONE);
            } else {
                p.dict(tensors.size() + bytes.size(), [&] {
                    for (const DcpByteItem& b : bytes) {
                        p.str(b.fqn);
                        p.tuple(1, [&] { p.str(b.fqn); });
                    }
                    for (const DcpTensor& t : tensors) {
                        p.str(t.fqn);
                        const auto path = pathOf(t);
                        p.tuple(path.size(), [&] {
                            for (const auto& part : path)
                                p.str(part);
                        });
                    }
                });
            }
            p.str("storage_data");
            p.dict(stored.size(), [&] {
                for (const Stored& s : stored)
                    storageEntry(p, s);
            });
        });
    });
    return p.finish();
}

// A chunk's elements in storage order: row-major, or with reversed (column-major) strides.
std::string storageBytes(const std::string& rowMajor, const Dims& shape, unsigned elementBytes,
                         bool columnMajor, Dims* stride) {
    const size_t rank = shape.size();
    Dims rowStride(rank, 1), colStride(rank, 1);
    for (size_t d = rank; d-- > 1;)
        rowStride[d - 1] = rowStride[d] * shape[d];
    for (size_t d = 1; d < rank; ++d)
        colStride[d] = colStride[d - 1] * shape[d - 1];
    *stride = columnMajor ? colStride : rowStride;
    if (!columnMajor) return rowMajor;
    std::string out(rowMajor.size(), '\0');
    const uint64_t n = numel(shape);
    for (uint64_t i = 0; i < n; ++i) {
        uint64_t rest = i, position = 0;
        for (size_t d = 0; d < rank; ++d) {
            position += (rest / rowStride[d]) * colStride[d];
            rest %= rowStride[d];
        }
        out.replace(position * elementBytes, elementBytes, rowMajor, i * elementBytes,
                    elementBytes);
    }
    return out;
}

std::string tensorItem(const std::string& dtype, const Dims& shape, const std::string& rowMajor,
                       bool columnMajor) {
    Dims stride;
    const std::string data = storageBytes(rowMajor, shape, bitsOf(dtype) / 8, columnMajor, &stride);
    // torch 2.x's entry order: data.pkl, .format_version, .storage_alignment, byteorder,
    // data/0, then version at close.
    return torchSaveArchive({{"data.pkl", tensorRecordPickle(dtype, numel(shape), shape, stride)},
                             {".format_version", "1"},
                             {".storage_alignment", "64"},
                             {"byteorder", "little"},
                             {"data/0", data},
                             {"version", "3\n"}});
}

// The keys of nested dicts, each leaf an entry's index.
struct KeyTree {
    std::map<std::string, KeyTree> children;
    int entry = -1;
};

void pickleTree(Pickler& p, const KeyTree& node, const std::vector<NestedEntry>& entries,
                bool selfList) {
    if (node.entry >= 0) {
        const NestedEntry& e = entries[size_t(node.entry)];
        const uint64_t n = numel(e.shape);
        Dims stride(e.shape.size(), 1);
        for (size_t d = e.shape.size(); d-- > 1;)
            stride[d - 1] = stride[d] * e.shape[d];
        const std::string key = e.storageKey.empty() ? std::to_string(node.entry) : e.storageKey;
        p.reduce("torch._utils", "_rebuild_tensor_v2", 6, [&] {
            p.tuple(5, [&] {
                p.str("storage");
                p.global("torch", torchDType(e.dtype).storage);
                p.str(key);
                p.str("cpu");
                p.integer(e.storageNumel >= 0 ? e.storageNumel : int64_t(n));
            });
            p.raw(op::BINPERSID);
            p.integer(0);
            p.intTuple(e.shape);
            p.intTuple(stride);
            p.raw(op::NEWFALSE);
            p.reduce("collections", "OrderedDict", 0, [] {});
        });
        return;
    }
    p.dict(node.children.size() + (selfList ? 1 : 0), [&] {
        for (const auto& [key, child] : node.children) {
            p.str(key);
            pickleTree(p, child, entries, false);
        }
        if (selfList) { // loop = [loop]
            p.str("loop");
            p.list(0, [] {});
            p.get(p.lastMemo());
            p.raw(op::APPEND);
        }
    });
}

} // namespace

std::string nestedTensorsArchive(const std::vector<NestedEntry>& entries, bool selfList) {
    KeyTree root;
    for (size_t i = 0; i < entries.size(); ++i) {
        KeyTree* node = &root;
        for (const std::string& key : entries[i].path)
            node = &node->children[key];
        node->entry = int(i);
    }
    Pickler p(2);
    pickleTree(p, root, entries, selfList);
    std::vector<std::pair<std::string, std::string>> records = {{"data.pkl", p.finish()},
                                                                {"byteorder", "little"}};
    for (size_t i = 0; i < entries.size(); ++i)
        if (entries[i].writeStorage)
            records.push_back({"data/" + (entries[i].storageKey.empty() ? std::to_string(i)
                                                                        : entries[i].storageKey),
                               entries[i].data});
    records.push_back({"version", "3\n"});
    return torchSaveArchive(records);
}

namespace {

// d(level) as Python pickles it: the first reference built in place, the second fetched from
// the memo. Returns d(level)'s memo index.
uint32_t sharedDicts(Pickler& p, int level) {
    uint32_t self = 0;
    if (level == 0) {
        p.dict(1, [&] {
            self = p.lastMemo();
            p.str("t");
            p.reduce("torch._utils", "_rebuild_tensor_v2", 6, [&] {
                p.tuple(5, [&] {
                    p.str("storage");
                    p.global("torch", "FloatStorage");
                    p.str("0");
                    p.str("cpu");
                    p.integer(1);
                });
                p.raw(op::BINPERSID);
                p.integer(0);
                p.intTuple({1});
                p.intTuple({1});
                p.raw(op::NEWFALSE);
                p.reduce("collections", "OrderedDict", 0, [] {});
            });
        });
        return self;
    }
    p.dict(2, [&] {
        self = p.lastMemo();
        p.str("a");
        const uint32_t inner = sharedDicts(p, level - 1);
        p.str("b");
        p.get(inner);
    });
    return self;
}

} // namespace

std::string sharedDictsArchive(int levels) {
    Pickler p(2);
    sharedDicts(p, levels);
    return torchSaveArchive({{"data.pkl", p.finish()},
                             {"byteorder", "little"},
                             {"data/0", std::string(4, '\0')},
                             {"version", "3\n"}});
}

namespace {

std::string byteItem(const DcpByteItem& b) {
    if (!b.archive.empty()) return b.archive;
    Pickler p(2);
    if (b.isString)
        p.str(b.strValue);
    else
        p.integer(b.intValue);
    return torchSaveArchive(
        {{"data.pkl", p.finish()}, {"byteorder", "little"}, {"version", "3\n"}});
}

void writeFile(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) throw std::runtime_error("dcp_builder: cannot write " + path.string());
}

} // namespace

uint32_t crc32(std::string_view bytes) {
    static const auto table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    uint32_t crc = 0xFFFFFFFFu;
    for (unsigned char b : bytes)
        crc = table[(crc ^ b) & 0xff] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

std::string tensorRecordPickle(const std::string& dtype, uint64_t storageNumel, const Dims& shape,
                               const Dims& stride) {
    Pickler p(2);
    p.reduce("torch._utils", "_rebuild_tensor_v2", 6, [&] {
        p.tuple(5, [&] { // the persistent id of the storage
            p.str("storage");
            p.global("torch", torchDType(dtype).storage);
            p.str("0");
            p.str("cpu");
            p.integer(int64_t(storageNumel));
        });
        p.raw(op::BINPERSID);
        p.integer(0); // storage_offset
        p.intTuple(shape);
        p.intTuple(stride);
        p.raw(op::NEWFALSE);                              // requires_grad
        p.reduce("collections", "OrderedDict", 0, [] {}); // backward hooks
    });
    return p.finish();
}

std::string torchSaveArchive(const std::vector<std::pair<std::string, std::string>>& records) {
    constexpr uint64_t kAlignment = 64;
    struct Entry {
        std::string name;
        uint32_t crc;
        uint64_t size, offset;
    };
    std::vector<Entry> entries;
    std::string out;
    for (const auto& [record, data] : records) {
        const std::string name = "archive/" + record;
        const uint64_t offset = out.size();
        // The "FB" extra field pads the data to 64 bytes from the archive's start.
        const uint64_t start = offset + 30 + name.size() + 4;
        const uint64_t pad = (kAlignment - start % kAlignment) % kAlignment;
        const uint32_t crc = crc32(data);
        put32(out, 0x04034b50);
        put16(out, 0);      // version needed
        put16(out, 0x0808); // data descriptor follows; UTF-8 names
        put16(out, 0);      // stored
        put32(out, 0);      // DOS time and date
        put32(out, 0);      // crc and sizes: in the descriptor and the central directory
        put32(out, 0);
        put32(out, 0);
        put16(out, uint16_t(name.size()));
        put16(out, uint16_t(4 + pad));
        out += name;
        out += "FB";
        put16(out, uint16_t(pad));
        out.append(pad, 'Z');
        out += data;
        put32(out, 0x08074b50); // ZIP64-style data descriptor: 8-byte sizes
        put32(out, crc);
        put64(out, data.size());
        put64(out, data.size());
        entries.push_back({name, crc, data.size(), offset});
    }
    const uint64_t directory = out.size();
    for (const Entry& e : entries) {
        put32(out, 0x02014b50);
        put16(out, 0);      // version made by
        put16(out, 0);      // version needed
        put16(out, 0x0808); // flags
        put16(out, 0);      // stored
        put32(out, 0);      // time, date
        put32(out, e.crc);
        put32(out, uint32_t(e.size));
        put32(out, uint32_t(e.size));
        put16(out, uint16_t(e.name.size()));
        put16(out, 0); // extra
        put16(out, 0); // comment
        put16(out, 0); // disk
        put16(out, 0); // internal attributes
        put32(out, 0); // external attributes
        put32(out, uint32_t(e.offset));
        out += e.name;
    }
    const uint64_t directorySize = out.size() - directory;
    const uint64_t zip64End = out.size();
    put32(out, 0x06064b50); // ZIP64 end of central directory record
    put64(out, 44);
    put16(out, 45);
    put16(out, 45);
    put32(out, 0);
    put32(out, 0);
    put64(out, entries.size());
    put64(out, entries.size());
    put64(out, directorySize);
    put64(out, directory);
    put32(out, 0x07064b50); // its locator
    put32(out, 0);
    put64(out, zip64End);
    put32(out, 1);
    put32(out, 0x06054b50); // classic end of central directory, real values (a small archive)
    put16(out, 0);
    put16(out, 0);
    put16(out, uint16_t(entries.size()));
    put16(out, uint16_t(entries.size()));
    put32(out, uint32_t(directorySize));
    put32(out, uint32_t(directory));
    put16(out, 0);
    return out;
}

std::string zstdRawFrame(std::string_view bytes) {
    constexpr size_t kMaxBlock = 128 * 1024;
    std::string out;
    put32(out, 0xFD2FB528);
    out += char(0xE0); // 8-byte content size, single segment, no checksum, no dictionary
    put64(out, bytes.size());
    size_t at = 0;
    do { // raw blocks; an empty content still needs one (empty, last) block
        const size_t n = std::min(kMaxBlock, bytes.size() - at);
        const bool last = at + n == bytes.size();
        const uint32_t header = uint32_t(n) << 3 | (last ? 1u : 0u); // type 0: raw
        out += char(header & 0xff);
        out += char((header >> 8) & 0xff);
        out += char((header >> 16) & 0xff);
        out.append(bytes.substr(at, n));
        at += n;
    } while (at < bytes.size());
    return out;
}

std::vector<DcpChunk> dcpSplit(const Dims& shape, size_t dim, uint64_t parts) {
    std::vector<DcpChunk> out;
    int rank = 0;
    for (const auto& [offsets, size] : splitDim(shape, dim, parts))
        out.push_back({offsets, size, rank++});
    return out;
}

std::map<std::string, std::string> writeTrainingCheckpoint(const fs::path& dir) {
    DcpChunk strided{{0, 0}, {3, 4}, 0};
    strided.columnMajor = true;
    DcpChunk compressed{{3, 0}, {3, 4}, 1};
    compressed.zstd = true;
    DcpChunk lastLr{{0}, {1}, 1};
    return writeDcpCheckpoint(
        dir,
        {{"model.embed.weight", "BF16", {8, 4}, dcpSplit({8, 4}, 0, 2)},
         {"model.layers.0.attn.w", "F32", {6, 4}, {strided, compressed}},
         {"model.norm.scale", "F32", {}, {DcpChunk{{}, {}, 0}}},
         {"optimizer.state.embed.weight.exp_avg", "F32", {8, 4}, dcpSplit({8, 4}, 1, 2)},
         {"optimizer.state.embed.weight.step", "F32", {}, {DcpChunk{{}, {}, 0}}},
         {"lr_scheduler.last_lr", "F64", {1}, {lastLr}},
         {"dataloader.position", "I64", {2}, dcpSplit({2}, 0, 2)},
         {"train_state.rng", "U8", {16}, dcpSplit({16}, 0, 2)}},
        {{"step", 1234, {}, false, 0},
         {"train_state.epoch", 3, {}, false, 1},
         {"train_state.run", 0, "run-7", true, 0}});
}

std::map<std::string, std::string> writeDcpCheckpoint(const fs::path& dir,
                                                      const std::vector<DcpTensor>& tensors,
                                                      const std::vector<DcpByteItem>& bytes,
                                                      const DcpOptions& options) {
    fs::create_directories(dir);
    std::map<int, std::string> files;
    std::vector<Stored> stored;
    auto append = [&](Stored s, const std::string& item) {
        std::string& file = files[s.rank];
        s.offset = file.size();
        s.length = item.size();
        file += item;
        stored.push_back(std::move(s));
    };
    for (const DcpByteItem& b : bytes) // byte items first, as the DCP writer does
        append({b.fqn, {}, true, 0, b.rank, 0, 0, b.zstd},
               b.zstd ? zstdRawFrame(byteItem(b)) : byteItem(b));
    std::map<std::string, std::string> expected;
    for (const DcpTensor& t : tensors) {
        const unsigned elementBytes = bitsOf(t.dtype) / 8;
        const std::string full = pattern(t.fqn, numel(t.shape) * elementBytes);
        expected[t.fqn] = full;
        for (size_t i = 0; i < t.chunks.size(); ++i) {
            const DcpChunk& c = t.chunks[i];
            const std::string rowMajor = slice(full, t.shape, c.offsets, c.shape, elementBytes);
            std::string item = tensorItem(t.dtype, c.shape, rowMajor, c.columnMajor);
            if (c.zstd) item = zstdRawFrame(item);
            if (c.noStorageEntry) continue; // in the chunk list only
            append({t.fqn, c.saidOffsets(), false, i, c.rank, 0, 0, c.zstd}, item);
        }
    }
    for (const auto& [rank, data] : files)
        writeFile(dir / fileOfRank(rank), data);
    writeFile(dir / ".metadata", metadataPickle(tensors, bytes, stored, options));
    return expected;
}

} // namespace testing
