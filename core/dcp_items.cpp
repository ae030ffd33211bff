// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "dcp_items.h"

#include "pickle.h"
#include "posix_file.h"
#include "torch_names.h"
#include "zip_reader.h"
#include "zstd_stream.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>
#include <optional>
#include <unordered_set>

namespace shardscope {
namespace {

constexpr uint64_t kMaxRecordBytes = 1 << 20;     // a tensor's data.pkl is a few hundred bytes
constexpr uint64_t kMaxByteItemPickle = 16 << 20; // larger objects are listed without a value
constexpr uint64_t kMaxByteItemStream = 64 << 20; // zstd byte items decoded at most this far
constexpr uint64_t kArchiveOverhead = 1 << 20;    // records around the storage bytes

// Archive bytes for the zip reader: the whole item when the caller read it; else, for plain
// items, one read at each end (a small item entirely), which covers a torch.save archive's
// records; zstd items come decoded, their two ends kept.
class ItemBytes {
public:
    explicit ItemBytes(std::string_view whole) : m_length(whole.size()), m_headView(whole) {}
    ItemBytes(const PosixFile& file, uint64_t offset, uint64_t length)
        : m_file(&file), m_offset(offset), m_length(length) {
        constexpr uint64_t kEnd = 64 << 10;
        m_head.resize(std::min(length, 2 * kEnd));
        file.readExact(m_head.data(), m_head.size(), offset);
        if (length > m_head.size()) {
            m_tail.resize(kEnd);
            file.readExact(m_tail.data(), kEnd, offset + length - kEnd);
        }
        m_headView = m_head, m_tailView = m_tail;
    }
    explicit ItemBytes(ZstdEnds&& ends)
        : m_length(ends.total), m_head(std::move(ends.head)), m_tail(std::move(ends.tail)) {
        m_headView = m_head, m_tailView = m_tail;
    }
    // Returned only as a prvalue (guaranteed elision): the views may point into the strings.
    ItemBytes(const ItemBytes&) = delete;
    ItemBytes& operator=(const ItemBytes&) = delete;

    uint64_t size() const { return m_length; }

    // The whole item when it is in memory (read by the caller, or small enough that the head
    // read holds it all); else nullopt and read() goes to the ends or the file.
    std::optional<std::string_view> whole() const {
        if (m_headView.size() == m_length) return m_headView;
        return std::nullopt;
    }

    void read(uint64_t at, uint64_t n, char* out) const {
        if (at > m_length || n > m_length - at)
            throw Error(ErrorKind::ZipInvalid, "", "",
                        "a record at " + std::to_string(at) + " runs past the item's end");
        if (at + n <= m_headView.size()) {
            std::memcpy(out, m_headView.data() + at, n);
            return;
        }
        const uint64_t tailStart = m_length - m_tailView.size();
        if (at >= tailStart) {
            std::memcpy(out, m_tailView.data() + (at - tailStart), n);
            return;
        }
        if (!m_file)
            throw Error(ErrorKind::ZipInvalid, "", "",
                        "a record at " + std::to_string(at) +
                            " lies in the middle of a zstd item's archive; only its first and "
                            "last " +
                            std::to_string(ZstdEnds::kEndBytes >> 10) + " KiB are kept");
        m_file->readExact(out, n, m_offset + at);
    }

    // [at, at + n) in place when the item is in memory, else read into `buffer`.
    std::string_view view(uint64_t at, uint64_t n, std::string& buffer) const {
        if (const auto w = whole(); w && at <= m_length && n <= m_length - at)
            return w->substr(size_t(at), size_t(n));
        buffer.assign(size_t(n), '\0');
        read(at, n, buffer.data());
        return buffer;
    }

private:
    const PosixFile* m_file = nullptr;
    uint64_t m_offset = 0;
    uint64_t m_length = 0;
    std::string m_head, m_tail;
    std::string_view m_headView, m_tailView;
};

bool isZstd(const ItemRange& item) {
    return item.transforms && !item.transforms->empty();
}

ItemBytes openItem(const PosixFile& file, const ItemRange& item, uint64_t maxStream,
                   const std::string& fileName, const std::string& fqn) {
    if (!isZstd(item))
        return item.bytes.size() == item.length && !item.bytes.empty()
                   ? ItemBytes(item.bytes)
                   : ItemBytes(file, item.offset, item.length);
    ZstdEnds ends;
    decompressItem(file, item.offset, item.length, maxStream, nullptr, &ends, {}, fileName, fqn);
    return ItemBytes(std::move(ends));
}

// Errors from the zip reader name neither the file nor the item; add both.
template <typename F>
auto naming(const std::string& fileName, const std::string& fqn, uint64_t offset, F&& f) {
    try {
        return f();
    } catch (const Error& e) {
        if (!e.tensor().empty()) throw; // already names both
        throw Error(e.kind(), fileName, fqn,
                    "the item at byte " + std::to_string(offset) + ": " + e.message());
    }
}

struct Archive {
    const ZipDirectory& dir;
    std::string_view prefix; // everything before data.pkl, slash included
    const ZipEntry* record = nullptr;
};

// Reads the directory into `dir`, in place when the item is in memory.
Archive openArchive(const ItemBytes& bytes, const std::string& fileName, ZipDirectory& dir) {
    if (const auto whole = bytes.whole())
        readZipDirectory(*whole, fileName, dir);
    else
        dir = readZipDirectory([&](uint64_t at, uint64_t n, char* out) { bytes.read(at, n, out); },
                               bytes.size(), fileName);
    Archive a{dir, {}, nullptr};
    a.record = dir.findRecord("data.pkl");
    if (!a.record)
        throw Error(ErrorKind::ZipInvalid, "", "", "the torch.save archive has no data.pkl entry");
    a.prefix =
        std::string_view(a.record->name).substr(0, a.record->name.size() - std::strlen("data.pkl"));
    return a;
}

// The first entry named prefix + middle + last, as ZipDirectory::find would find the joined
// name, without building it.
const ZipEntry* findJoined(const ZipDirectory& dir, std::string_view prefix,
                           std::string_view middle, std::string_view last = {}) {
    const size_t size = prefix.size() + middle.size() + last.size();
    for (const ZipEntry& e : dir.entries) {
        const std::string_view n = e.name;
        if (n.size() == size && n.starts_with(prefix) && n.ends_with(last) &&
            n.substr(prefix.size(), middle.size()) == middle)
            return &e;
    }
    return nullptr;
}

void checkByteOrder(const ItemBytes& bytes, const Archive& a) {
    const ZipEntry* order = findJoined(a.dir, a.prefix, "byteorder");
    if (!order) return; // absent means little-endian
    if (order->size > 16)
        throw Error(ErrorKind::BigEndian, "", "", "the byteorder entry is not 'little'");
    std::string buffer;
    const std::string_view value = bytes.view(order->dataOffset, order->size, buffer);
    if (value != "little")
        throw Error(ErrorKind::BigEndian, "", "",
                    "the archive's byteorder is '" + std::string(value) +
                        "'; only little-endian archives can be copied byte for byte");
}

// The storage entry holds what data.pkl says, and the view stays inside it.
void checkStorage(const TensorRecord& r, const ZipEntry& data) {
    const unsigned bits = dtypeBits(r.dtype);
    uint64_t bytes;
    if (__builtin_mul_overflow(r.storageNumel, uint64_t(bits / 8), &bytes) || bytes != data.size)
        throw Error(ErrorKind::StorageMismatch, "", "",
                    "storage " + data.name + " holds " + std::to_string(data.size) +
                        " bytes but data.pkl says " + std::to_string(r.storageNumel) + " " +
                        std::string(dtypeName(r.dtype)) + " elements");
    const auto extent = stridedExtent(r.size, r.stride, r.storageOffset);
    if (!extent || *extent > r.storageNumel)
        throw Error(ErrorKind::StrideOutOfBounds, "", "",
                    "size " + formatShape(r.size) + ", stride " + formatShape(r.stride) +
                        " and storage offset " + std::to_string(r.storageOffset) +
                        " reach outside the storage of " + std::to_string(r.storageNumel) +
                        " elements");
}

void checkRecord(const TensorRecord& r, const ZipEntry& data, DType dtype, const Shape& sizes) {
    if (r.dtype != dtype)
        throw Error(ErrorKind::StorageMismatch, "", "",
                    "the archive's storage is torch." + r.storageClass + " (" +
                        std::string(dtypeName(r.dtype)) + ") but .metadata says " +
                        std::string(dtypeName(dtype)) + " (torch." +
                        std::string(storageClassOf(dtype)) + ")");
    if (r.size != sizes)
        throw Error(ErrorKind::StorageMismatch, "", "",
                    "the archive holds a tensor of size " + formatShape(r.size) +
                        " but .metadata gives the chunk size " + formatShape(sizes));
    checkStorage(r, data);
}

// The storage entry data.pkl names for `key`.
const ZipEntry& storageEntry(const Archive& a, const std::string& key) {
    const ZipEntry* data = findJoined(a.dir, a.prefix, "data/", key);
    if (!data)
        throw Error(ErrorKind::ZipInvalid, "", "",
                    "data.pkl names storage '" + key + "' but the archive has no " +
                        std::string(a.prefix) + "data/" + key + " entry");
    return *data;
}

std::string formatReal(double v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

void summarize(const pickle::Document& doc, ByteItem& out) {
    using pickle::Type;
    const pickle::Ref v = doc.root();
    switch (doc.type(v)) {
    case Type::None:
        out.type = "None";
        break;
    case Type::Bool:
        out.type = "bool", out.value = doc.boolean(v) ? "True" : "False";
        break;
    case Type::Int:
        out.type = "int", out.value = std::to_string(doc.integer(v));
        break;
    case Type::BigInt:
        out.type = "int";
        break;
    case Type::Float:
        out.type = "float", out.value = formatReal(doc.real(v));
        break;
    case Type::Str:
        out.type = "str", out.value = std::string(doc.text(v).substr(0, 1000));
        break;
    case Type::Bytes:
        out.type = "bytes";
        break;
    case Type::Tuple:
        out.type = "tuple";
        break;
    case Type::List:
        out.type = "list";
        break;
    case Type::Dict:
        out.type = "dict";
        break;
    case Type::Set:
        out.type = "set";
        break;
    case Type::Object: {
        // Protocol 2 pickles bytes as _codecs.encode(text, 'latin1').
        const std::string_view cls = doc.className(v);
        out.type = cls == "encode" ? "bytes" : cls.empty() ? "object" : std::string(cls);
        break;
    }
    default:
        out.type = "object";
    }
}

// Finds the tensors inside a byte item's object: through dicts, OrderedDicts (a module's
// state_dict), lists, tuples and nn.Parameter, down to each _rebuild_tensor call.
class NestedTensorWalk {
public:
    NestedTensorWalk(const pickle::Document& doc, const Archive& archive, const std::string& file,
                     const std::string& itemFqn, std::vector<NestedTensor>& out)
        : m_doc(doc), m_archive(archive), m_file(file), m_itemFqn(itemFqn), m_out(out) {}

    void walk(pickle::Ref v) {
        // A pickle can make a list hold itself, or a dict hold another twice at every level
        // (2^n paths through n values): the depth and the values visited are bounded. Real
        // state dicts are trees a few levels deep.
        if (m_depth >= kMaxDepth || m_visits >= m_budget || m_out.size() >= kMaxTensors) return;
        ++m_visits;
        ++m_depth;
        visit(v);
        --m_depth;
    }

    // Calls that rebuild a tensor (_rebuild_tensor_v2, sparse, quantized, ...) the walk did not
    // list: inside objects it does not open, under keys that are not names, or too deep.
    uint32_t notReached() const {
        uint32_t n = 0;
        for (pickle::Ref v = 0; v < m_doc.valueCount(); ++v) {
            const std::string_view cls = m_doc.className(v);
            if (cls.starts_with("_rebuild_") && !cls.starts_with("_rebuild_parameter") &&
                !m_reached.contains(v))
                ++n;
        }
        return n;
    }

private:
    static constexpr size_t kMaxDepth = 64;
    static constexpr size_t kMaxTensors = 1'000'000;

    void visit(pickle::Ref v) {
        using pickle::Type;
        const Type type = m_doc.type(v);
        if (type == Type::Dict) return pairs(m_doc.items(v));
        if (type == Type::List || type == Type::Tuple) {
            const auto items = m_doc.items(v);
            for (size_t i = 0; i < items.size(); ++i)
                under(std::to_string(i), items[i]);
            return;
        }
        if (type != Type::Object) return;
        const std::string_view cls = m_doc.className(v);
        if (cls == "_rebuild_tensor_v2" || cls == "_rebuild_tensor_v3") return add(v);
        if (cls == "OrderedDict") return pairs(m_doc.items(v));
        if (cls == "_rebuild_parameter" || cls == "_rebuild_parameter_with_state") {
            const auto args = m_doc.items(m_doc.args(v));
            if (!args.empty()) walk(args[0]);
        }
    }

    void pairs(std::span<const pickle::Ref> kv) {
        for (size_t i = 0; i + 1 < kv.size(); i += 2)
            if (const auto key = keyText(kv[i])) under(*key, kv[i + 1]);
    }

    // A dict key as Python's str() spells it; other keys (tuples, large ints) are not names.
    std::optional<std::string> keyText(pickle::Ref key) const {
        using pickle::Type;
        switch (m_doc.type(key)) {
        case Type::Str:
        case Type::Bytes:
            return std::string(m_doc.text(key));
        case Type::Int:
            return std::to_string(m_doc.integer(key));
        case Type::Bool:
            return m_doc.boolean(key) ? "True" : "False";
        case Type::None:
            return "None";
        case Type::Float:
            return formatReal(m_doc.real(key));
        default:
            return std::nullopt;
        }
    }

    void under(std::string key, pickle::Ref v) {
        m_path.push_back(std::move(key));
        walk(v);
        m_path.pop_back();
    }

    void add(pickle::Ref v) {
        m_reached.insert(v);
        NestedTensor t;
        t.path = m_path;
        std::string fqn = m_itemFqn;
        for (const auto& k : m_path)
            fqn += "." + k;
        try {
            t.record = readTensorRecord(m_doc, v, m_file, fqn);
            const ZipEntry& data = storageEntry(m_archive, t.record.key);
            checkStorage(t.record, data);
            t.dataOffset = data.dataOffset;
            t.dataBytes = data.size;
        } catch (const Error& e) {
            t.record = {};
            t.problem = e.message();
            t.kind = e.kind();
        }
        m_out.push_back(std::move(t));
    }

    const pickle::Document& m_doc;
    const Archive& m_archive;
    const std::string& m_file;
    const std::string& m_itemFqn;
    std::vector<NestedTensor>& m_out;
    std::vector<std::string> m_path;
    std::unordered_set<pickle::Ref> m_reached; // tensor calls listed
    size_t m_depth = 0;
    uint64_t m_visits = 0;
    const uint64_t m_budget = 2 * uint64_t(m_doc.valueCount()) + 1024;
};
} // namespace

bool checkTransforms(const std::vector<std::string>& transforms, const std::string& fileName,
                     const std::string& fqn) {
    if (transforms.empty()) return false;
    if (transforms.size() == 1 && transforms[0] == "stream.zstd/1") return true;
    std::string list;
    for (const auto& t : transforms)
        list += (list.empty() ? "'" : ", '") + t + "'";
    throw Error(ErrorKind::UnknownTransform, fileName, fqn,
                "the item was written with the transform " + list +
                    "; only 'stream.zstd/1' can be read");
}

bool startsLikeZip(const PosixFile& file, uint64_t offset, uint64_t length,
                   std::string_view bytes) {
    if (length < 4) return false;
    if (bytes.size() >= 4) return bytes.substr(0, 4) == std::string_view("PK\3\4", 4);
    char magic[4];
    file.readExact(magic, 4, offset);
    return std::memcmp(magic, "PK\3\4", 4) == 0;
}

TensorItem readTensorItem(const PosixFile& file, const ItemRange& item, DType dtype,
                          const Shape& sizes, const std::string& fileName, const std::string& fqn,
                          ItemCache* cache) {
    return naming(fileName, fqn, item.offset, [&] {
        uint64_t maxStream = 0; // only zstd items are decoded
        if (isZstd(item)) {
            const auto numel = checkedNumel(sizes);
            maxStream =
                numel ? *numel * (dtypeBits(dtype) / 8) + kArchiveOverhead : kArchiveOverhead;
        }
        const ItemBytes bytes = openItem(file, item, maxStream, fileName, fqn);
        ZipDirectory uncached;
        const Archive a = openArchive(bytes, fileName, cache ? cache->directory : uncached);
        if (a.record->size > kMaxRecordBytes)
            throw Error(ErrorKind::StorageMismatch, "", "",
                        "data.pkl is " + std::to_string(a.record->size) +
                            " bytes, too large for one tensor's record");
        std::string buffer;
        const std::string_view pkl = bytes.view(a.record->dataOffset, a.record->size, buffer);
        TensorItem out;
        if (cache) {
            auto it = cache->records.find(pkl);
            if (it == cache->records.end())
                it = cache->records.emplace(pkl, parseTensorRecord(pkl, fileName, fqn)).first;
            out.record = it->second;
        } else {
            out.record = parseTensorRecord(pkl, fileName, fqn);
        }
        checkByteOrder(bytes, a);
        const ZipEntry& data = storageEntry(a, out.record.key);
        checkRecord(out.record, data, dtype, sizes);
        out.dataOffset = data.dataOffset;
        out.dataBytes = data.size;
        out.zstd = isZstd(item);
        out.streamBytes = bytes.size();
        return out;
    });
}

void describeByteItem(const PosixFile& file, const ItemRange& item, const std::string& fileName,
                      ByteItem& out, std::vector<NestedTensor>* nested) {
    out.size = item.length;
    naming(fileName, out.fqn, item.offset, [&] {
        const ItemBytes bytes = openItem(file, item, kMaxByteItemStream, fileName, out.fqn);
        ZipDirectory dir;
        const Archive a = openArchive(bytes, fileName, dir);
        if (a.record->size > kMaxByteItemPickle) // a warning: tensors inside would go unlisted
            throw Error(ErrorKind::PickleLimit, "", "",
                        "its data.pkl is " + std::to_string(a.record->size) +
                            " bytes, more than the " + std::to_string(kMaxByteItemPickle >> 20) +
                            " MiB ShardScope reads of a byte item; tensors inside it, if any, "
                            "are not listed");
        std::string buffer;
        const std::string_view pkl = bytes.view(a.record->dataOffset, a.record->size, buffer);
        pickle::Limits limits; // memo slots are numbered from 0, so a pickle names few of them
        limits.maxValues = 10'000'000;
        limits.maxMemo = std::max<uint64_t>(1024, pkl.size());
        std::optional<pickle::Document> doc;
        try {
            doc.emplace(pickle::Document::load(pkl, limits));
            summarize(*doc, out);
        } catch (const pickle::PickleError& e) {
            if (e.limit())
                throw Error(ErrorKind::PickleLimit, "", "",
                            std::string("its data.pkl is larger than ShardScope reads of a byte "
                                        "item (") +
                                e.what() + "); tensors inside it, if any, are not listed");
            throw Error(ErrorKind::PickleInvalid, "", "",
                        std::string("its data.pkl is not a pickle ShardScope can read: ") +
                            e.what());
        }
        if (!nested) return 0;
        std::vector<NestedTensor> found;
        NestedTensorWalk walk(*doc, a, fileName, out.fqn, found);
        try {
            walk.walk(doc->root());
        } catch (const pickle::PickleError&) {
            // a value of a shape no state dict has: the tensors found so far still count
        }
        out.tensorsNotRead = walk.notReached();
        if (found.empty()) return 0;
        checkByteOrder(bytes, a); // before any is taken: big-endian storages cannot be copied
        out.tensors = uint32_t(found.size());
        for (NestedTensor& n : found)
            n.streamBytes = bytes.size();
        std::move(found.begin(), found.end(), std::back_inserter(*nested));
        return 0;
    });
}

} // namespace shardscope
