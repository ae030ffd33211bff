// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "dcp_metadata.h"

#include "error.h"
#include "pickle.h"
#include "torch_names.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace shardscope {
namespace {

using pickle::Document;
using pickle::Ref;
using pickle::Type;

// std::string keys found by string_view.
struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class T> using NameMap = std::unordered_map<std::string, T, NameHash, std::equal_to<>>;

// Turns the unpickled object graph into DcpMetadata. Every accessor checks the type it expects,
// so a hostile .metadata gives a message, never a wrong read.
//
// It also harvests: the entries of state_dict_metadata and storage_data are read batch by batch
// while the pickle runs, and the pickle VM then drops their values, so a .metadata of a million
// chunks never holds its whole object graph (15 million values: most of the time and memory of
// reading it). Whatever was not harvested is read from the finished document.
class MetadataReader : public pickle::Harvester {
public:
    MetadataReader(const std::string& file, const DcpParseHooks& hooks)
        : m_file(file), m_hooks(hooks) {
        m_out.transforms.emplace_back();
    }

    bool take(const Document& doc, Ref dict, Ref key, Ref owner,
              std::span<const Ref> items) override {
        if (doc.type(key) != Type::Str || doc.className(owner) != "Metadata") return false;
        m_doc = &doc;
        const std::string_view name = doc.text(key);
        if (name == "state_dict_metadata" && claim(m_harvestedEntries, dict)) {
            readEntries(items);
            return true;
        }
        if (name == "storage_data" && claim(m_harvestedStorage, dict)) {
            readStorageData(items);
            return true;
        }
        return false;
    }

    void reached(uint64_t position) override {
        if (m_hooks.progress) m_hooks.progress(position);
    }

    DcpMetadata read(const Document& doc) {
        m_doc = &doc;
        const Ref root = m_doc->root();
        expectClass(root, "Metadata", "", "the top-level object");
        const Ref state = stateDict(root, "", "Metadata");
        const Ref sdm = field(state, "state_dict_metadata", "", "Metadata");
        if (m_doc->type(sdm) != Type::Dict) invalid("", "state_dict_metadata is not a dict");
        checkHarvested(m_harvestedEntries, sdm, "state_dict_metadata");
        readEntries(m_doc->items(sdm));
        if (const Ref planner = m_doc->get(state, "planner_data");
            planner != Document::noState() && m_doc->type(planner) == Type::Dict)
            readPlannerData(planner);
        const Ref storage = field(state, "storage_data", "", "Metadata");
        if (m_doc->type(storage) != Type::Dict) invalid("", "storage_data is not a dict");
        checkHarvested(m_harvestedStorage, storage, "storage_data");
        readStorageData(m_doc->items(storage));
        resolvePending();
        if (const Ref v = m_doc->get(state, "version");
            v != Document::noState() && m_doc->type(v) == Type::Str)
            m_out.version = std::string(m_doc->text(v));
        for (const auto& t : m_out.tensors)
            m_out.chunkCount += t.chunks.size();
        return std::move(m_out);
    }

private:
    static bool claim(Ref& slot, Ref dict) {
        if (slot == Document::noState()) slot = dict;
        return slot == dict;
    }

    // Harvested entries must be those of the dict the Metadata object ends up holding.
    void checkHarvested(Ref harvested, Ref dict, const char* name) {
        if (harvested != Document::noState() && harvested != dict)
            invalid("", std::string(name) + " is not the dict the pickle filled as its " + name);
    }

    void readEntries(std::span<const Ref> items) {
        for (size_t i = 0; i + 1 < items.size(); i += 2) {
            const std::string_view fqn = str(items[i], "", "a state_dict_metadata key");
            const Ref entry = items[i + 1];
            const std::string_view cls = m_doc->className(entry);
            if (m_doc->type(entry) == Type::Object && cls == "BytesStorageMetadata") {
                if (!m_bytes.emplace(fqn, m_out.bytes.size()).second) duplicate(fqn);
                m_out.bytes.push_back({std::string(fqn), {}, {}});
            } else if (m_doc->type(entry) == Type::Object && cls == "TensorStorageMetadata") {
                if (!m_tensors.emplace(fqn, m_out.tensors.size()).second) duplicate(fqn);
                m_out.tensors.push_back(readTensor(fqn, entry));
            } else {
                unknown(entry, fqn, "a state_dict_metadata entry");
            }
        }
    }

    DcpTensorMeta readTensor(std::string_view fqn, Ref entry) {
        DcpTensorMeta t;
        t.fqn = std::string(fqn);
        const Ref state = stateDict(entry, fqn, "TensorStorageMetadata");
        readDtype(field(state, "properties", fqn, "TensorStorageMetadata"), t);
        t.size = size(field(state, "size", fqn, "TensorStorageMetadata"), fqn, "size");
        const Ref chunks = field(state, "chunks", fqn, "TensorStorageMetadata");
        if (m_doc->type(chunks) != Type::List && m_doc->type(chunks) != Type::Tuple)
            invalid(fqn, "chunks is not a list");
        const auto list = m_doc->items(chunks);
        t.chunks.resize(list.size());
        for (size_t i = 0; i < list.size(); ++i) {
            const Ref c = list[i];
            expectClass(c, "ChunkStorageMetadata", fqn, "a chunk");
            const Ref cs = stateDict(c, fqn, "ChunkStorageMetadata");
            t.chunks[i].offsets =
                size(field(cs, "offsets", fqn, "ChunkStorageMetadata"), fqn, "offsets");
            t.chunks[i].shape = size(field(cs, "sizes", fqn, "ChunkStorageMetadata"), fqn, "sizes");
        }
        t.storage.resize(list.size());
        return t;
    }

    // TensorProperties pickles its state as a 5-tuple (dtype, layout, requires_grad,
    // memory_format, pin_memory) through __getstate__; older writers used a dict.
    void readDtype(Ref props, DcpTensorMeta& t) {
        expectClass(props, "TensorProperties", t.fqn, "properties");
        const Ref state = m_doc->state(props);
        Ref dtype = Document::noState();
        if (state != Document::noState() && m_doc->type(state) == Type::Tuple &&
            !m_doc->items(state).empty())
            dtype = m_doc->items(state)[0];
        else if (state != Document::noState() && m_doc->type(state) == Type::Dict)
            dtype = m_doc->get(state, "dtype");
        else if (m_doc->type(m_doc->args(props)) == Type::Tuple &&
                 !m_doc->items(m_doc->args(props)).empty())
            dtype = m_doc->items(m_doc->args(props))[0]; // constructed with arguments
        if (dtype == Document::noState() || m_doc->type(dtype) != Type::Global)
            invalid(t.fqn, "TensorProperties holds no dtype");
        const auto parsed = dtypeFromTorchName(m_doc->name(dtype));
        if (!parsed)
            t.problem =
                "dtype torch." + std::string(m_doc->name(dtype)) + " has no safetensors equivalent";
        else
            t.dtype = *parsed;
    }

    void readPlannerData(Ref planner) {
        const auto items = m_doc->items(planner);
        for (size_t i = 0; i + 1 < items.size(); i += 2) {
            if (m_doc->type(items[i]) != Type::Str) continue;
            const std::string_view fqn = m_doc->text(items[i]);
            const Ref path = items[i + 1];
            if (m_doc->type(path) != Type::Tuple && m_doc->type(path) != Type::List) continue;
            std::vector<std::string> parts;
            for (Ref part : m_doc->items(path)) {
                if (m_doc->type(part) == Type::Str)
                    parts.emplace_back(m_doc->text(part));
                else if (m_doc->type(part) == Type::Int)
                    parts.push_back(std::to_string(m_doc->integer(part)));
                else
                    parts.emplace_back("?");
            }
            if (auto it = m_tensors.find(fqn); it != m_tensors.end())
                m_out.tensors[it->second].path = std::move(parts);
            else if (auto b = m_bytes.find(fqn); b != m_bytes.end())
                m_out.bytes[b->second].path = std::move(parts);
        }
    }

    void readStorageData(std::span<const Ref> items) {
        for (size_t i = 0; i + 1 < items.size(); i += 2) {
            const Ref key = items[i];
            expectClass(key, "MetadataIndex", "", "a storage_data key");
            const Ref ks = stateDict(key, "", "MetadataIndex");
            const std::string_view fqn = str(field(ks, "fqn", "", "MetadataIndex"), "", "fqn");
            const DcpStorage where = storageInfo(items[i + 1], fqn);
            const size_t ti = tensorIndex(fqn);
            if (ti == m_out.tensors.size()) {
                // A byte item, an entry not listed (never read), or (in a pickle that saves
                // storage_data first) a tensor still to come.
                Pending p{std::string(fqn), {}, false, -1, where};
                if (const Ref o = m_doc->get(ks, "offset");
                    o != Document::noState() && m_doc->type(o) != Type::None) {
                    p.offset = size(o, fqn, "MetadataIndex.offset");
                    p.hasOffset = true;
                    p.hint = indexHint(ks);
                }
                m_pending.push_back(std::move(p));
                continue;
            }
            const Ref offsetRef = m_doc->get(ks, "offset");
            if (offsetRef == Document::noState() || m_doc->type(offsetRef) == Type::None)
                invalid(fqn, "its storage_data key has no chunk offset");
            const Shape offset = size(offsetRef, fqn, "MetadataIndex.offset");
            attach(m_out.tensors[ti], ti, offset, indexHint(ks), where);
        }
    }

    int64_t indexHint(Ref key) {
        const Ref indexRef = m_doc->get(key, "index");
        return indexRef != Document::noState() && m_doc->type(indexRef) == Type::Int
                   ? m_doc->integer(indexRef)
                   : -1;
    }

    void resolvePending() {
        for (const Pending& p : m_pending) {
            const size_t ti = tensorIndex(p.fqn);
            if (ti < m_out.tensors.size()) {
                if (!p.hasOffset) invalid(p.fqn, "its storage_data key has no chunk offset");
                attach(m_out.tensors[ti], ti, p.offset, p.hint, p.where);
            } else if (auto b = m_bytes.find(p.fqn); b != m_bytes.end()) {
                m_out.bytes[b->second].storage = p.where;
            }
        }
        m_pending.clear();
    }

    // The tensor named fqn, or tensors.size(). PyTorch writes each rank's storage entries in
    // state_dict order, so the tensor after the last one found is tried before the hash map:
    // 800,000 lookups in a map whose keys lie all over a 150 MB document are cache misses.
    size_t tensorIndex(std::string_view fqn) {
        const auto& tensors = m_out.tensors;
        const size_t next = m_lastTensor + 1 < tensors.size() ? m_lastTensor + 1 : 0;
        if (next < tensors.size() && tensors[next].fqn == fqn) return m_lastTensor = next;
        const auto it = m_tensors.find(fqn);
        if (it == m_tensors.end()) return tensors.size();
        return m_lastTensor = it->second;
    }

    // Matches a storage entry to its chunk by offsets; `index` is only a hint (it can be stale).
    void attach(DcpTensorMeta& t, size_t ti, const Shape& offset, int64_t hint,
                const DcpStorage& where) {
        size_t found = t.chunks.size();
        if (hint >= 0 && size_t(hint) < t.chunks.size() && t.chunks[size_t(hint)].offsets == offset)
            found = size_t(hint);
        else {
            auto& byOffset = m_chunkIndex[ti];
            if (byOffset.empty())
                for (size_t c = 0; c < t.chunks.size(); ++c)
                    byOffset.emplace(t.chunks[c].offsets, c);
            if (auto it = byOffset.find(offset); it != byOffset.end()) found = it->second;
        }
        if (found == t.chunks.size()) {
            if (t.problem.empty())
                t.problem = "storage_data names a chunk at offsets " + formatShape(offset) +
                            " that the tensor's chunk list does not have";
            return;
        }
        DcpStorage& slot = t.storage[found];
        const bool first = slot.path == kNoStorage;
        if (!first && t.problem.empty())
            t.problem = "storage_data names the chunk at offsets " + formatShape(offset) + " twice";
        slot = where;
        if (first && m_hooks.placed) m_hooks.placed(ti, found, t, where, m_out.paths[where.path]);
    }

    DcpStorage storageInfo(Ref info, std::string_view fqn) {
        expectClass(info, "_StorageInfo", fqn, "a storage_data value");
        const Ref s = stateDict(info, fqn, "_StorageInfo");
        DcpStorage out;
        const std::string_view path =
            str(field(s, "relative_path", fqn, "_StorageInfo"), fqn, "relative_path");
        out.path = pathIndex(path);
        out.offset = count(field(s, "offset", fqn, "_StorageInfo"), fqn, "offset");
        out.length = count(field(s, "length", fqn, "_StorageInfo"), fqn, "length");
        const Ref tr = m_doc->get(s, "transform_descriptors");
        if (tr != Document::noState() && m_doc->type(tr) != Type::None) {
            if (m_doc->type(tr) != Type::List && m_doc->type(tr) != Type::Tuple)
                invalid(fqn, "transform_descriptors is not a list");
            std::vector<std::string> names;
            for (Ref n : m_doc->items(tr))
                names.emplace_back(str(n, fqn, "a transform descriptor"));
            if (!names.empty()) {
                out.transforms = uint32_t(m_out.transforms.size());
                m_out.transforms.push_back(std::move(names));
            }
        }
        return out;
    }

    // A checkpoint names a few files 800,000 times, mostly the same one in a row: a look at the
    // last one saves hashing the name.
    uint32_t pathIndex(std::string_view path) {
        if (m_lastPath != kNoStorage && m_out.paths[m_lastPath] == path) return m_lastPath;
        auto it = m_paths.find(path);
        if (it == m_paths.end()) {
            it = m_paths.emplace(path, uint32_t(m_out.paths.size())).first;
            m_out.paths.emplace_back(path);
        }
        return m_lastPath = it->second;
    }

    // torch.Size pickles as REDUCE(torch.Size, ((d0, d1, ...),)); plain tuples and lists of ints
    // are taken too.
    Shape size(Ref v, std::string_view fqn, const char* what) {
        Ref dims = v;
        if (m_doc->type(v) == Type::Object) {
            const auto args = m_doc->items(m_doc->args(v));
            if (m_doc->className(v) != "Size" || args.size() != 1)
                invalid(fqn, std::string(what) + " is not a torch.Size");
            dims = args[0];
        }
        if (m_doc->type(dims) != Type::Tuple && m_doc->type(dims) != Type::List)
            invalid(fqn, std::string(what) + " is not a torch.Size");
        Shape out;
        for (Ref d : m_doc->items(dims))
            out.push_back(count(d, fqn, what));
        return out;
    }

    uint64_t count(Ref v, std::string_view fqn, const char* what) {
        const Type type = m_doc->type(v);
        if (type == Type::BigInt) { // two's complement, little-endian: the last byte has the sign
            const std::string_view b = m_doc->text(v);
            const bool negative = !b.empty() && (uint8_t(b.back()) & 0x80);
            invalid(fqn, std::string(what) +
                             (negative ? " is negative" : " is too large (2^63 or more)"));
        }
        if (type != Type::Int) invalid(fqn, std::string(what) + " is not an integer");
        if (m_doc->integer(v) < 0)
            invalid(fqn,
                    std::string(what) + " is negative (" + std::to_string(m_doc->integer(v)) + ")");
        return uint64_t(m_doc->integer(v));
    }

    // A view into the document, which outlives the reader.
    std::string_view str(Ref v, std::string_view fqn, const char* what) {
        if (m_doc->type(v) != Type::Str) invalid(fqn, std::string(what) + " is not a string");
        return m_doc->text(v);
    }

    // Dataclasses BUILD with a dict; with __slots__ the state is (dict or None, slots dict).
    Ref stateDict(Ref obj, std::string_view fqn, const char* cls) {
        Ref s = m_doc->state(obj);
        if (s != Document::noState() && m_doc->type(s) == Type::Tuple &&
            m_doc->items(s).size() == 2)
            s = m_doc->type(m_doc->items(s)[1]) == Type::Dict ? m_doc->items(s)[1]
                                                              : m_doc->items(s)[0];
        if (s == Document::noState() || m_doc->type(s) != Type::Dict)
            invalid(fqn, std::string(cls) + " has no field dict");
        return s;
    }

    Ref field(Ref dict, const char* key, std::string_view fqn, const char* cls) {
        const Ref v = m_doc->get(dict, key);
        if (v == Document::noState())
            invalid(fqn, std::string(cls) + " has no field '" + key + "'");
        return v;
    }

    void expectClass(Ref v, std::string_view cls, std::string_view fqn, const char* what) {
        if (m_doc->type(v) != Type::Object || m_doc->className(v) != cls) unknown(v, fqn, what);
    }

    [[noreturn]] void unknown(Ref v, std::string_view fqn, const char* what) {
        std::string found = "a value that is not an object";
        if (m_doc->type(v) == Type::Object) {
            const Ref c = m_doc->callable(v);
            found = m_doc->type(c) == Type::Global
                        ? "an object of class " + std::string(m_doc->module(c)) + "." +
                              std::string(m_doc->name(c))
                        : "an object made by a call of something other than a class";
        }
        throw Error(ErrorKind::UnknownClass, m_file, std::string(fqn),
                    std::string(what) + " is " + found + ", which this reader does not know");
    }
    [[noreturn]] void invalid(std::string_view fqn, const std::string& message) {
        throw Error(ErrorKind::DcpMetadataInvalid, m_file, std::string(fqn), message);
    }
    [[noreturn]] void duplicate(std::string_view fqn) {
        invalid(fqn, "listed twice in state_dict_metadata");
    }

    // A storage entry read before its tensor (or a byte item's): placed once all are read.
    struct Pending {
        std::string fqn;
        Shape offset;
        bool hasOffset = false;
        int64_t hint = -1;
        DcpStorage where;
    };

    const Document* m_doc = nullptr;
    const std::string& m_file;
    const DcpParseHooks& m_hooks;
    DcpMetadata m_out;
    // Owned keys: harvested strings may live in a part of the document that moves.
    NameMap<size_t> m_tensors, m_bytes;
    NameMap<uint32_t> m_paths;
    Ref m_harvestedEntries = Document::noState(), m_harvestedStorage = Document::noState();
    std::vector<Pending> m_pending;
    uint32_t m_lastPath = kNoStorage;
    size_t m_lastTensor = ~size_t(0);
    std::unordered_map<size_t, std::map<Shape, size_t>> m_chunkIndex;
};

} // namespace

DcpMetadata parseDcpMetadata(std::string_view data, const std::string& file,
                             const DcpParseHooks& hooks) {
    if (data.empty()) throw Error(ErrorKind::PickleInvalid, file, "", "the file is empty");
    // Python numbers memo slots from 0 as it stores objects, so a real pickle never names a slot
    // past its own length; a larger index is refused instead of growing the memo to it.
    pickle::Limits limits;
    limits.maxMemo = std::min<uint64_t>(limits.maxMemo, std::max<uint64_t>(1024, data.size()));
    try {
        MetadataReader reader(file, hooks);
        const Document doc = Document::load(data, limits, &reader);
        return reader.read(doc);
    } catch (const pickle::PickleError& e) {
        throw Error(e.limit() ? ErrorKind::PickleLimit : ErrorKind::PickleInvalid, file, "",
                    std::string("not a readable pickle: ") + e.what());
    }
}

} // namespace shardscope
