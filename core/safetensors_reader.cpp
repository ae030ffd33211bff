// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "safetensors_reader.h"

#include "error.h"
#include "json_cursor.h"
#include "name_set.h"
#include "posix_file.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>

namespace shardscope {

bool isValidUtf8(std::string_view text) {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        // Headers are almost all ASCII: test 32, then eight bytes at a time for a high bit
        // (32 at a time tripled the check's speed on multi-megabyte shard headers).
        if (i + 32 <= n) {
            uint64_t words[4];
            std::memcpy(words, s + i, 32);
            if (((words[0] | words[1] | words[2] | words[3]) & 0x8080808080808080ull) == 0) {
                i += 32;
                continue;
            }
        }
        if (i + 8 <= n) {
            uint64_t word;
            std::memcpy(&word, s + i, 8);
            if ((word & 0x8080808080808080ull) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0)
            len = 2, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            len = 3, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            len = 4, cp = c & 0x07;
        else
            return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

namespace {

using Metadata = std::map<std::string, std::string>;

// `spare`: the previous header's entries, whose strings are reused for the same keys (a DCP
// shard's sharding info is megabytes, fresh pages for it in every file cost more than its copy).
void readMetadata(JsonCursor& cur, SafetensorsHeader& h, Metadata& spare) {
    if (!cur.enter('{'))
        cur.fail(ErrorKind::InvalidHeaderField, {},
                 std::string("__metadata__ must be an object of strings, found ") +
                     cur.describeNext());
    h.hasMetadata = true;
    if (cur.leaveIf('}')) return;
    std::string keyScratch;
    // Kept by the thread: DCP_SHARDING_INFO is megabytes of escaped JSON, and growing a fresh
    // string to that size for every file cost more page faults than its parse.
    thread_local std::string valueScratch;
    do {
        const size_t keyAt = cur.position();
        std::string key(cur.string(keyScratch));
        cur.expect(':', "':'");
        if (cur.peek() != '"')
            cur.fail(ErrorKind::InvalidHeaderField, {},
                     "__metadata__ must map strings to strings; \"" + key + "\" holds " +
                         cur.describeNext());
        // Elsewhere the last value would win silently; which one was meant is unknowable.
        auto reused = spare.extract(key);
        auto [it, inserted] = reused ? [&] {
            auto placed = h.metadata.insert(std::move(reused));
            return std::pair(placed.position, placed.inserted);
        }()
                                     : h.metadata.try_emplace(key);
        if (!inserted)
            throw JsonError(ErrorKind::DuplicateKey, keyAt, {},
                            "duplicate key \"" + key + "\" in __metadata__");
        it->second.assign(cur.string(valueScratch));
    } while (cur.consume(','));
    cur.leave('}');
}

void readEntry(JsonCursor& cur, TensorEntry& t) {
    if (!cur.enter('{'))
        cur.fail(ErrorKind::InvalidHeaderField, t.name,
                 std::string("entry must be an object, found ") + cur.describeNext());
    constexpr unsigned kDType = 1, kShape = 2, kOffsets = 4;
    unsigned seen = 0;
    std::string scratch;
    Shape offsets;
    if (!cur.leaveIf('}')) {
        do {
            const size_t keyAt = cur.position();
            const std::string_view key = cur.string(scratch);
            unsigned bit = key == "dtype"          ? kDType
                           : key == "shape"        ? kShape
                           : key == "data_offsets" ? kOffsets
                                                   : 0;
            if (bit & seen)
                throw JsonError(ErrorKind::DuplicateKey, keyAt, t.name,
                                "duplicate key \"" + std::string(key) + "\"");
            seen |= bit;
            cur.expect(':', "':'");
            if (bit == kDType) {
                if (cur.peek() != '"')
                    cur.fail(ErrorKind::InvalidHeaderField, t.name, "dtype must be a string");
                const size_t at = cur.position();
                const std::string_view name = cur.string(scratch);
                auto type = parseDType(name);
                if (!type)
                    throw JsonError(ErrorKind::UnknownDtype, at, t.name,
                                    "unknown dtype \"" + std::string(name) + "\"");
                t.dtype = *type;
            } else if (bit == kShape) {
                cur.unsignedArray(t.shape, "shape", t.name);
            } else if (bit == kOffsets) {
                const size_t at = cur.position();
                cur.unsignedArray(offsets, "data_offsets", t.name);
                if (offsets.size() != 2)
                    throw JsonError(ErrorKind::InvalidHeaderField, at, t.name,
                                    "data_offsets must hold exactly 2 numbers, found " +
                                        std::to_string(offsets.size()));
            } else {
                cur.skipValue(); // unknown keys are tolerated, as the reference loader does
            }
        } while (cur.consume(','));
        cur.leave('}');
    }
    const size_t at = cur.position();
    if (!(seen & kDType)) throw JsonError(ErrorKind::MissingField, at, t.name, "missing \"dtype\"");
    if (!(seen & kShape)) throw JsonError(ErrorKind::MissingField, at, t.name, "missing \"shape\"");
    if (!(seen & kOffsets))
        throw JsonError(ErrorKind::MissingField, at, t.name, "missing \"data_offsets\"");
    t.begin = offsets[0];
    t.end = offsets[1];
}

void parseHeaderJson(std::string_view json, SafetensorsHeader& h, Metadata& spare) {
    JsonCursor cur(json);
    if (!cur.enter('{')) cur.fail("expected '{'");
    std::string scratch;
    bool seenMetadata = false;
    if (!cur.leaveIf('}')) {
        do {
            const size_t keyAt = cur.position();
            const std::string_view key = cur.string(scratch);
            if (key == "__metadata__") {
                if (seenMetadata)
                    throw JsonError(ErrorKind::DuplicateTensorName, keyAt, {},
                                    "duplicate tensor name \"__metadata__\"");
                seenMetadata = true;
                cur.expect(':', "':'");
                if (cur.peek() == 'n')
                    cur.skipValue(); // null: the reference loader's "no metadata"
                else
                    readMetadata(cur, h, spare);
            } else {
                TensorEntry& t = h.tensors.emplace_back();
                t.name.assign(key);
                cur.expect(':', "':'");
                readEntry(cur, t);
            }
        } while (cur.consume(','));
        cur.leave('}');
    }
    if (!cur.atEnd()) cur.fail("unexpected characters after the header object");
}

// The cursor's JsonError, as an Error naming the file; syntax keeps its byte position.
Error headerError(const std::string& path, const JsonError& e) {
    const std::string at = " at byte " + std::to_string(e.position()) + ": ";
    switch (e.kind()) {
    case ErrorKind::JsonSyntax:
        return Error(e.kind(), path, e.tensor(), "header not valid JSON" + at + e.what());
    case ErrorKind::NestingTooDeep:
        return Error(e.kind(), path, e.tensor(), "header" + at + e.what());
    default:
        return Error(e.kind(), path, e.tensor(), std::string("header: ") + e.what());
    }
}

} // namespace

SafetensorsHeader parseSafetensorsHeader(std::string_view json, uint64_t fileSize,
                                         const std::string& path) {
    SafetensorsHeader h;
    parseSafetensorsHeader(json, fileSize, path, h);
    return h;
}

void parseSafetensorsHeader(std::string_view json, uint64_t fileSize, const std::string& path,
                            SafetensorsHeader& h) {
    h.tensors.clear(); // the capacity stays: see readSafetensorsHeader
    Metadata spare;
    spare.swap(h.metadata);
    h.hasMetadata = false;
    if (!isValidUtf8(json))
        throw Error(ErrorKind::InvalidUtf8, path, "", "header is not valid UTF-8");
    // The reference loader insists on '{' first; padding may only trail.
    if (json.empty() || json.front() != '{')
        throw Error(ErrorKind::InvalidHeaderStart, path, "",
                    "header is not a JSON object (it must start with '{')");
    try {
        // Every entry takes at least 47 bytes of JSON; pages of the estimate that are never
        // written cost nothing, while growing by doubling copied and faulted twice.
        h.tensors.reserve(json.size() / 47);
        parseHeaderJson(json, h, spare);
    } catch (const JsonError& e) {
        throw headerError(path, e);
    }
    const size_t repeat = NameSet::firstRepeat(
        h.tensors, [](const TensorEntry& t) -> std::string_view { return t.name; });
    if (repeat < h.tensors.size())
        throw Error(ErrorKind::DuplicateTensorName, path, h.tensors[repeat].name,
                    "header: duplicate tensor name \"" + h.tensors[repeat].name + "\"");
    h.path = path;
    h.fileSize = fileSize;
    h.headerSize = json.size();

    const uint64_t dataSize = h.dataSize();
    uint64_t described = 0; // where the header says the data section ends
    for (const auto& t : h.tensors)
        described = std::max(described, t.end);
    for (const auto& t : h.tensors) {
        if (t.begin > t.end)
            throw Error(ErrorKind::InvalidOffsets, path, t.name,
                        "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                            "] end before they begin");
        if (t.end > dataSize)
            throw Error(ErrorKind::OffsetsOutOfBounds, path, t.name,
                        "data_offsets end at " + std::to_string(t.end) +
                            ", past the end of the data section (" + std::to_string(dataSize) +
                            " bytes): the file is " + std::to_string(fileSize) + " bytes, " +
                            std::to_string(described - dataSize) + " short of the " +
                            std::to_string(fileSize + (described - dataSize)) +
                            " its header describes (cut short in a copy or a write?)");
        auto numel = checkedNumel(t.shape);
        if (!numel)
            throw Error(ErrorKind::InvalidShape, path, t.name,
                        "shape " + formatShape(t.shape) + " overflows");
        auto bytes = checkedBytes(*numel, dtypeBits(t.dtype));
        if (!bytes && !wholeBytes(*numel, dtypeBits(t.dtype)))
            throw Error(ErrorKind::MisalignedSlice, path, t.name,
                        std::to_string(*numel) + " elements of " + std::string(dtypeName(t.dtype)) +
                            " are not a whole number of bytes");
        if (!bytes)
            throw Error(ErrorKind::InvalidShape, path, t.name,
                        "shape " + formatShape(t.shape) + " of " + std::string(dtypeName(t.dtype)) +
                            " needs 2^64 bytes or more");
        if (t.end - t.begin != *bytes)
            throw Error(ErrorKind::TensorSizeMismatch, path, t.name,
                        "data_offsets span " + std::to_string(t.end - t.begin) +
                            " bytes but shape " + formatShape(t.shape) + " of " +
                            std::string(dtypeName(t.dtype)) + " needs " + std::to_string(*bytes));
    }

    // The data section must be tiled exactly: no overlap, no hole, nothing after the last tensor.
    std::vector<const TensorEntry*> order;
    order.reserve(h.tensors.size());
    for (const auto& t : h.tensors)
        order.push_back(&t);
    auto byOffset = [](const TensorEntry* a, const TensorEntry* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    };
    // Writers lay tensors out in header order, so the sort is almost always already done.
    if (!std::is_sorted(order.begin(), order.end(), byOffset))
        std::sort(order.begin(), order.end(), byOffset);
    uint64_t expected = 0;
    const TensorEntry* previous = nullptr;
    for (const auto* t : order) {
        if (t->begin < expected)
            throw Error(ErrorKind::DataOverlap, path, t->name,
                        "data_offsets [" + std::to_string(t->begin) + ", " +
                            std::to_string(t->end) + ") overlap tensor '" + previous->name + "'");
        if (t->begin > expected)
            throw Error(ErrorKind::DataHole, path, t->name,
                        "hole in the data section: bytes " + std::to_string(expected) + ".." +
                            std::to_string(t->begin) + " belong to no tensor");
        expected = t->end;
        previous = t;
    }
    if (expected != dataSize)
        throw Error(ErrorKind::MetadataIncompleteBuffer, path, "",
                    std::to_string(dataSize - expected) +
                        " trailing bytes after the last tensor (data ends at " +
                        std::to_string(expected) + " of " + std::to_string(dataSize) + ")");
}

namespace {

// Headers are read into a buffer each thread keeps between files. Measured on 256 headers of
// 3.9 MB: a fresh buffer per file cost a page fault per 4 KiB and a memset, together more
// than the parse; reused, it costs only the read's copy.
class HeaderBuffer {
public:
    static std::span<char> get(size_t n) {
        thread_local HeaderBuffer kept;
        if (n > kKeepAtMost) { // a rare huge header is not kept for the thread's lifetime
            kept.m_huge.reset(new char[n]);
            return {kept.m_huge.get(), n};
        }
        kept.m_huge.reset();
        if (kept.m_size < n) {
            kept.m_data.reset(new char[n]);
            kept.m_size = n;
        }
        return {kept.m_data.get(), n};
    }

private:
    static constexpr size_t kKeepAtMost = 32u << 20;
    std::unique_ptr<char[]> m_data, m_huge;
    size_t m_size = 0;
};

} // namespace

SafetensorsHeader readSafetensorsHeader(const std::filesystem::path& path) {
    SafetensorsHeader h;
    readSafetensorsHeader(path, h);
    return h;
}

namespace {

// The header's JSON in the thread's buffer, and the file's size; throws Error as
// readSafetensorsHeader documents.
std::string_view readHeaderBytes(const std::filesystem::path& path, uint64_t& size) {
    const std::string name = path.string();
    // Opening a FIFO would block and a directory only fails at the first read.
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
        throw Error(ErrorKind::NotRegularFile, name, "", "not a regular file");
    try {
        PosixFile file = PosixFile::openRead(path);
        size = file.size();
        if (size < 8)
            throw Error(ErrorKind::HeaderTooSmall, name, "",
                        "file is " + std::to_string(size) +
                            " bytes, shorter than the 8-byte header length");
        unsigned char lenBytes[8];
        file.readExact(lenBytes, 8, 0);
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i)
            n = (n << 8) | lenBytes[i];
        if (n > kMaxHeaderSize)
            throw Error(ErrorKind::HeaderTooLarge, name, "",
                        "header length " + std::to_string(n) + " exceeds the limit of " +
                            std::to_string(kMaxHeaderSize) + " bytes");
        if (n > size - 8)
            throw Error(ErrorKind::InvalidHeaderLength, name, "",
                        "header length " + std::to_string(n) + " runs past the end of the file (" +
                            std::to_string(size) + " bytes)");
        const std::span<char> json = HeaderBuffer::get(n);
        file.readExact(json.data(), n, 8);
        return {json.data(), json.size()};
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::Other) throw;
        throw Error(ErrorKind::Io, e.file(), e.tensor(), e.message()); // from PosixFile
    }
}

} // namespace

void readSafetensorsHeader(const std::filesystem::path& path, SafetensorsHeader& h) {
    uint64_t size = 0;
    const std::string_view json = readHeaderBytes(path, size);
    parseSafetensorsHeader(json, size, path.string(), h);
}

bool headerMetadataHas(const std::filesystem::path& path, std::string_view key) {
    uint64_t size = 0;
    JsonCursor cur(readHeaderBytes(path, size));
    std::string scratch;
    try {
        if (!cur.enter('{') || cur.leaveIf('}')) return false;
        do { // writers put __metadata__ first, so this rarely reads further
            const bool metadata = cur.string(scratch) == "__metadata__";
            cur.expect(':', "':'");
            if (!metadata || !cur.enter('{')) {
                cur.skipValue();
                continue;
            }
            if (cur.leaveIf('}')) return false;
            do {
                if (cur.string(scratch) == key) return true;
                cur.expect(':', "':'");
                cur.skipValue();
            } while (cur.consume(','));
            return false;
        } while (cur.consume(','));
    } catch (const JsonError& e) {
        throw headerError(path.string(), e);
    }
    return false;
}

} // namespace shardscope
