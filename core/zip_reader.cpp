// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "zip_reader.h"

#include "error.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <span>

namespace shardscope {

namespace {

// Record signatures ("PK" + two bytes), as little-endian 32-bit values.
constexpr uint32_t kLocalSignature = 0x04034b50;        // PK\3\4
constexpr uint32_t kCentralSignature = 0x02014b50;      // PK\1\2
constexpr uint32_t kEndSignature = 0x06054b50;          // PK\5\6
constexpr uint32_t kZip64EndSignature = 0x06064b50;     // PK\6\6
constexpr uint32_t kZip64LocatorSignature = 0x07064b50; // PK\6\7

constexpr uint64_t kEndSize = 22;
constexpr uint64_t kMaxComment = 65'535;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kZip64EndSize = 56; // the fixed part; "size of record" counts from byte 12
constexpr uint64_t kCentralSize = 46;
constexpr uint64_t kLocalSize = 30;

constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr uint16_t kSaturated16 = 0xFFFF;
constexpr uint32_t kSaturated32 = 0xFFFF'FFFF;

constexpr uint16_t kFlagEncrypted = 0x0001;
constexpr uint16_t kFlagStrongEncryption = 0x0040;
constexpr uint16_t kFlagDataDescriptor = 0x0008;

uint16_t le16(const char* p) {
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    return uint16_t(b[0] | b[1] << 8);
}
uint32_t le32(const char* p) {
    return uint32_t(le16(p)) | uint32_t(le16(p + 2)) << 16;
}
uint64_t le64(const char* p) {
    return uint64_t(le32(p)) | uint64_t(le32(p + 4)) << 32;
}

// "1,234,567": archive offsets and sizes as a person reads them.
std::string num(uint64_t n) {
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

// 'name' for messages: control bytes escaped, very long names cut, so a hostile name cannot
// flood or garble the error output.
std::string quoted(std::string_view name) {
    constexpr size_t kMaxShown = 200;
    std::string out = "'";
    for (size_t i = 0; i < name.size() && i < kMaxShown; ++i) {
        const auto c = static_cast<unsigned char>(name[i]);
        if (c < 0x20 || c == 0x7F) {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += char(c);
        }
    }
    if (name.size() > kMaxShown) out += "...";
    return out + "'";
}

std::string range(uint64_t begin, uint64_t end) {
    return "[" + num(begin) + ", " + num(end) + ")";
}

// What the end records say, after the ZIP64 record (if any) has replaced the classic values.
struct EndRecords {
    uint64_t endOffset = 0;    // the classic EOCD
    uint64_t recordsStart = 0; // the first end record: the ZIP64 record, or the classic EOCD
    uint64_t zip64Offset = 0;  // the ZIP64 record, when there is one
    bool zip64 = false;
    uint64_t entries = 0;
    uint64_t directorySize = 0;
    uint64_t directoryOffset = 0;
    // The classic EOCD's own values, kept for the comparison with the ZIP64 record.
    bool placeholders = false; // some classic field is 0xFFFF / 0xFFFFFFFF
    uint64_t classicEntries = 0;
    uint64_t classicSize = 0;
    uint64_t classicOffset = 0;
};

// One central directory entry, with ZIP64 values applied. The name views the directory's bytes.
// No member initializers: run() keeps a stack array of these, which then costs no stores.
struct CentralEntry {
    std::string_view name;
    uint64_t index;        // position in the central directory, from 0
    uint64_t recordOffset; // archive offset of its PK\1\2
    uint16_t flags;
    uint16_t method;
    uint64_t compressedSize;
    uint64_t size;
    uint64_t localOffset;
    uint64_t dataOffset; // set from the local header
};

class DirectoryReader {
public:
    DirectoryReader(const ArchiveReader& read, uint64_t size, const std::string& file)
        : m_read(&read), m_size(size), m_file(file) {}
    DirectoryReader(std::string_view archive, const std::string& file)
        : m_memory(archive.data()), m_size(archive.size()), m_file(file) {}

    void run(ZipDirectory& out) {
        EndRecords end = findEnd();
        readZip64(end);
        checkDirectoryRange(end);
        // A torch.save archive has 5 to 7 entries: those stay on the stack, so reading the
        // 800,000 archives of a checkpoint of small chunks allocates nothing here.
        std::array<CentralEntry, kInlineEntries> inlineEntries; // left unset until parsed
        std::vector<CentralEntry> heapEntries;
        const std::span<CentralEntry> entries =
            readCentralDirectory(end, inlineEntries, heapEntries);
        checkDuplicateNames(entries);
        for (CentralEntry& e : entries)
            readLocalHeader(e, end.directoryOffset);
        checkOverlaps(entries);

        // Assigned in place: a reused ZipDirectory keeps its names' storage.
        out.centralDirectoryOffset = end.directoryOffset;
        out.entries.resize(entries.size());
        for (size_t i = 0; i < entries.size(); ++i) {
            ZipEntry& o = out.entries[i];
            o.name.assign(entries[i].name);
            o.dataOffset = entries[i].dataOffset;
            o.size = entries[i].size;
        }
    }

private:
    static constexpr size_t kInlineEntries = 16;

    [[noreturn]] void fail(const std::string& message) const {
        throw Error(ErrorKind::ZipInvalid, m_file, "", "zip archive: " + message);
    }

    // The only way bytes are read: the range is checked against the archive first, so no
    // length from the archive is allocated or passed on before it is known to fit. An archive
    // in memory is viewed in place; otherwise the bytes are read into `buffer`, and the view
    // lasts until `buffer` is next used.
    std::string_view bytes(uint64_t offset, uint64_t length, const char* what,
                           std::string& buffer) const {
        if (offset > m_size || length > m_size - offset)
            fail(std::string(what) + " (" + num(length) + " bytes at " + num(offset) +
                 ") runs past the end of the " + num(m_size) + "-byte item");
        if (!m_read) return std::string_view(m_memory + offset, size_t(length));
        buffer.assign(size_t(length), '\0');
        if (length) (*m_read)(offset, length, buffer.data());
        return buffer;
    }

    EndRecords findEnd() {
        if (m_size == 0) fail("the item is empty (0 bytes); no end-of-central-directory record");
        if (m_size < kEndSize)
            fail("the " + num(m_size) + "-byte item is shorter than an end-of-central-directory " +
                 "record (22 bytes)");
        // Almost every archive has no comment: then the EOCD is the last 22 bytes, which is
        // also the first place the backward scan below would look. This saves reading 64 KiB
        // per item of a .distcp file.
        const std::string_view last =
            bytes(m_size - kEndSize, kEndSize, "the archive's last bytes", m_scratch);
        if (le32(last.data()) == kEndSignature && le16(last.data() + 20) == 0)
            return parseEnd(last.data(), m_size - kEndSize);
        // Otherwise the EOCD is followed by its comment (at most 65,535 bytes).
        const uint64_t tailSize = std::min(m_size, kEndSize + kMaxComment);
        const uint64_t tailStart = m_size - tailSize;
        const std::string_view tail = bytes(tailStart, tailSize, "the archive's tail", m_scratch);
        std::optional<uint64_t> mismatch; // the last signature whose comment length was wrong
        for (uint64_t pos = tailSize - kEndSize + 1; pos-- > 0;) {
            const char* p = tail.data() + pos;
            if (le32(p) != kEndSignature) continue;
            // "PK\5\6" inside a comment or in data is not the record unless its comment length
            // accounts for exactly the bytes after it.
            if (le16(p + 20) == tailSize - pos - kEndSize) return parseEnd(p, tailStart + pos);
            if (!mismatch) mismatch = pos;
        }
        if (mismatch) {
            const uint64_t pos = *mismatch;
            fail("the end-of-central-directory record at " + num(tailStart + pos) +
                 " says its comment is " + num(le16(tail.data() + pos + 20)) + " bytes long, but " +
                 num(tailSize - pos - kEndSize) + " bytes follow it");
        }
        fail("no end-of-central-directory record in the last " + num(kEndSize + kMaxComment) +
             " bytes of the " + num(m_size) + "-byte item");
    }

    EndRecords parseEnd(const char* p, uint64_t offset) const {
        const uint16_t disk = le16(p + 4), directoryDisk = le16(p + 6);
        const uint16_t entriesHere = le16(p + 8), entries = le16(p + 10);
        const uint32_t directorySize = le32(p + 12), directoryOffset = le32(p + 16);
        const bool placeholders = disk == kSaturated16 || directoryDisk == kSaturated16 ||
                                  entriesHere == kSaturated16 || entries == kSaturated16 ||
                                  directorySize == kSaturated32 || directoryOffset == kSaturated32;
        if ((disk != kSaturated16 && disk != 0) ||
            (directoryDisk != kSaturated16 && directoryDisk != 0) ||
            (entriesHere != kSaturated16 && entries != kSaturated16 && entriesHere != entries))
            fail("the end-of-central-directory record at " + num(offset) +
                 " describes a multi-disk archive (disk " + num(disk) +
                 ", central directory on disk " + num(directoryDisk) + ", " + num(entriesHere) +
                 " of " + num(entries) + " entries here); only single-disk archives are supported");
        EndRecords end;
        end.endOffset = offset;
        end.recordsStart = offset;
        end.entries = entries;
        end.directorySize = directorySize;
        end.directoryOffset = directoryOffset;
        end.placeholders = placeholders;
        end.classicEntries = entries;
        end.classicSize = directorySize;
        end.classicOffset = directoryOffset;
        return end;
    }

    // The ZIP64 locator sits just before the EOCD; when present it names the ZIP64 record,
    // whose 64-bit values replace the classic ones. It is required when a classic field holds
    // the 0xFFFF / 0xFFFFFFFF placeholder.
    void readZip64(EndRecords& end) {
        bool hasLocator = false;
        uint32_t recordDisk = 0, disks = 0;
        uint64_t recordOffset = 0;
        if (end.endOffset >= kZip64LocatorSize) {
            const std::string_view l =
                bytes(end.endOffset - kZip64LocatorSize, kZip64LocatorSize,
                      "the ZIP64 end-of-central-directory locator", m_scratch);
            if (le32(l.data()) == kZip64LocatorSignature) {
                hasLocator = true;
                recordDisk = le32(l.data() + 4), disks = le32(l.data() + 16);
                recordOffset = le64(l.data() + 8);
            }
        }
        if (!hasLocator) {
            if (end.placeholders)
                fail("the end-of-central-directory record at " + num(end.endOffset) +
                     " holds ZIP64 placeholder values (0xFFFF or 0xFFFFFFFF), but no ZIP64 "
                     "locator precedes it");
            return;
        }
        const uint64_t locatorOffset = end.endOffset - kZip64LocatorSize;
        if (recordDisk != 0 || disks > 1)
            fail("the ZIP64 locator at " + num(locatorOffset) + " describes a multi-disk archive" +
                 " (record on disk " + num(recordDisk) + " of " + num(disks) +
                 " disks); only single-disk archives are supported");
        if (recordOffset >= m_size)
            fail("the ZIP64 locator at " + num(locatorOffset) +
                 " points to a ZIP64 end-of-central-directory record at " + num(recordOffset) +
                 ", outside the " + num(m_size) + "-byte item");
        if (recordOffset > locatorOffset || locatorOffset - recordOffset < kZip64EndSize)
            fail("the ZIP64 locator at " + num(locatorOffset) +
                 " points to a ZIP64 end-of-central-directory record at " + num(recordOffset) +
                 ", which leaves no room for the 56-byte record before the locator");
        const std::string_view r = bytes(recordOffset, kZip64EndSize,
                                         "the ZIP64 end-of-central-directory record", m_scratch);
        const char* p = r.data();
        // Messages are built only on failure: every archive is read on the success path.
        const auto where = [&] {
            return "the ZIP64 end-of-central-directory record at " + num(recordOffset);
        };
        if (le32(p) != kZip64EndSignature)
            fail("the ZIP64 locator at " + num(locatorOffset) + " points to " + num(recordOffset) +
                 ", but no ZIP64 end-of-central-directory record starts there");
        const uint64_t recordSize = le64(p + 4);
        if (recordSize < kZip64EndSize - 12 || recordSize > locatorOffset - recordOffset - 12)
            fail(where() + " says it is " + num(recordSize) +
                 " bytes long after its first 12 bytes;" +
                 " it must be at least 44 and end by the ZIP64 locator at " + num(locatorOffset));
        const uint32_t disk = le32(p + 16), directoryDisk = le32(p + 20);
        const uint64_t entriesHere = le64(p + 24), entries = le64(p + 32);
        if (disk != 0 || directoryDisk != 0 || entriesHere != entries)
            fail(where() + " describes a multi-disk archive (disk " + num(disk) +
                 ", central directory on disk " + num(directoryDisk) + ", " + num(entriesHere) +
                 " of " + num(entries) + " entries here); only single-disk archives are supported");
        end.zip64 = true;
        end.zip64Offset = recordOffset;
        end.recordsStart = recordOffset;
        end.entries = entries;
        end.directorySize = le64(p + 40);
        end.directoryOffset = le64(p + 48);
        checkAgreement(end);
    }

    // A classic value that is not a placeholder must match its ZIP64 counterpart.
    void checkAgreement(const EndRecords& end) const {
        auto check = [&](uint64_t classic, uint64_t placeholder, uint64_t zip64, const char* what) {
            if (classic == placeholder || classic == zip64) return;
            fail("the end-of-central-directory record at " + num(end.endOffset) + " says " + what +
                 " " + num(classic) + ", but the ZIP64 end-of-central-directory record at " +
                 num(end.zip64Offset) + " says " + num(zip64));
        };
        check(end.classicEntries, kSaturated16, end.entries, "the entry count is");
        check(end.classicSize, kSaturated32, end.directorySize, "the central directory size is");
        check(end.classicOffset, kSaturated32, end.directoryOffset,
              "the central directory starts at");
    }

    void checkDirectoryRange(const EndRecords& end) const {
        const auto who = [&] {
            return end.zip64
                       ? "the ZIP64 end-of-central-directory record at " + num(end.zip64Offset)
                       : "the end-of-central-directory record at " + num(end.endOffset);
        };
        if (end.directoryOffset > end.recordsStart)
            fail(who() + " places the central directory at " + num(end.directoryOffset) +
                 ", past the end records at " + num(end.recordsStart));
        if (end.directorySize > end.recordsStart - end.directoryOffset)
            fail(who() + " places the " + num(end.directorySize) + "-byte central directory at " +
                 num(end.directoryOffset) + ", which runs past the end records at " +
                 num(end.recordsStart));
        if (end.entries > kMaxZipEntries)
            fail(who() + " says the archive has " + num(end.entries) + " entries, more than the " +
                 "limit of " + num(kMaxZipEntries));
        if (end.entries > end.directorySize / kCentralSize)
            fail(who() + " says the archive has " + num(end.entries) + " entries, but its " +
                 num(end.directorySize) + "-byte central directory holds at most " +
                 num(end.directorySize / kCentralSize) + " (each entry is at least 46 bytes)");
    }

    // The entries, parsed in central-directory order into `inlineEntries` when they fit, else
    // into `heapEntries`. Their names view the directory's bytes (the archive's, or
    // m_directory), which stay put until run() returns.
    std::span<CentralEntry>
    readCentralDirectory(const EndRecords& end,
                         std::array<CentralEntry, kInlineEntries>& inlineEntries,
                         std::vector<CentralEntry>& heapEntries) {
        // One read: directorySize was checked against the end records, hence the archive.
        const std::string_view directory =
            bytes(end.directoryOffset, end.directorySize, "the central directory", m_directory);
        const bool fits = end.entries <= kInlineEntries;
        if (!fits) heapEntries.reserve(size_t(end.entries)); // at most directorySize / 46
        uint64_t pos = 0;
        for (uint64_t i = 0; i < end.entries; ++i) {
            const CentralEntry e = parseCentralEntry(directory, pos, i, end.directoryOffset);
            if (fits)
                inlineEntries[size_t(i)] = e;
            else
                heapEntries.push_back(e);
        }
        if (pos != directory.size())
            fail("the central directory at " + num(end.directoryOffset) + " is " +
                 num(directory.size()) + " bytes long, but its " + num(end.entries) +
                 " entries end after " + num(pos) + " bytes");
        return fits ? std::span<CentralEntry>(inlineEntries).first(size_t(end.entries))
                    : std::span<CentralEntry>(heapEntries);
    }

    CentralEntry parseCentralEntry(std::string_view directory, uint64_t& pos, uint64_t index,
                                   uint64_t directoryOffset) const {
        const uint64_t at = directoryOffset + pos;
        const auto which = [&] {
            return "central directory entry " + num(index) + " at " + num(at);
        };
        const uint64_t left = directory.size() - pos;
        if (left < kCentralSize)
            fail(which() + " needs 46 bytes, but only " + num(left) +
                 " are left in the central directory");
        const char* p = directory.data() + pos;
        if (le32(p) != kCentralSignature)
            fail(which() + " does not start with the signature PK\\1\\2");
        const uint64_t nameLength = le16(p + 28), extraLength = le16(p + 30),
                       commentLength = le16(p + 32);
        const uint64_t recordSize = kCentralSize + nameLength + extraLength + commentLength;
        if (recordSize > left)
            fail(which() + " is " + num(recordSize) + " bytes long with its name, extra field " +
                 "and comment, but only " + num(left) + " are left in the central directory");
        CentralEntry e{};
        e.index = index;
        e.recordOffset = at;
        e.name = std::string_view(p + kCentralSize, size_t(nameLength));
        if (e.name.empty()) fail(which() + " has an empty name");
        if (e.name.find('\0') != std::string_view::npos)
            fail(which() + " has a name with a NUL byte: " + quoted(e.name));
        e.flags = le16(p + 8);
        e.method = le16(p + 10);
        const std::string_view extra(p + kCentralSize + nameLength, size_t(extraLength));
        applyCentralZip64(e, p, extra);
        checkStored(e);
        pos += recordSize;
        return e;
    }

    // Sizes, offset and disk from the record, replaced by the ZIP64 extra field where the
    // record holds a placeholder. The extra holds only the replaced values, in this order.
    void applyCentralZip64(CentralEntry& e, const char* p, std::string_view extra) const {
        const uint32_t compressed = le32(p + 20), size = le32(p + 24), local = le32(p + 42);
        const uint16_t disk = le16(p + 34);
        e.compressedSize = compressed;
        e.size = size;
        e.localOffset = local;
        uint64_t diskStart = disk;
        const auto who = [&] { return "central directory entry " + quoted(e.name); };
        // Walked even when no value is needed, as zipfile does: a field that overruns the extra
        // area is a broken record.
        const std::optional<std::string_view> zip64 = findExtra(extra, kZip64ExtraId, who);
        if (size == kSaturated32 || compressed == kSaturated32 || local == kSaturated32 ||
            disk == kSaturated16) {
            if (!zip64)
                fail(who() + " holds a ZIP64 placeholder (0xFFFFFFFF), but has no ZIP64 " +
                     "extra field");
            const std::string_view field = *zip64;
            size_t used = 0;
            auto take = [&](size_t width, const char* what) -> uint64_t {
                if (field.size() - used < width)
                    fail(who() + " holds 0xFFFFFFFF for its " + what + ", but its ZIP64 extra " +
                         "field (" + num(field.size()) + " bytes) does not hold it");
                const uint64_t v =
                    width == 8 ? le64(field.data() + used) : le32(field.data() + used);
                used += width;
                return v;
            };
            if (size == kSaturated32) e.size = take(8, "size");
            if (compressed == kSaturated32) e.compressedSize = take(8, "compressed size");
            if (local == kSaturated32) e.localOffset = take(8, "local header offset");
            if (disk == kSaturated16) diskStart = take(4, "disk number");
        }
        if (diskStart != 0)
            fail("entry " + quoted(e.name) + " starts on disk " + num(diskStart) +
                 "; only single-disk archives are supported");
    }

    // The data of the ZIP64 extra field (id 0x0001) in `extra`; fails when there is none or when
    // a field runs past the extra area. `who()` begins the message.
    template <typename Who>
    std::string_view zip64Extra(std::string_view extra, const Who& who) const {
        std::optional<std::string_view> found = findExtra(extra, kZip64ExtraId, who);
        if (!found)
            fail(who() + " holds a ZIP64 placeholder (0xFFFFFFFF), but has no ZIP64 extra field");
        return *found;
    }

    // Fewer than 4 bytes left over are padding, as zipfile and zipalign treat them.
    template <typename Who>
    std::optional<std::string_view> findExtra(std::string_view extra, uint16_t id,
                                              const Who& who) const {
        std::optional<std::string_view> found;
        while (extra.size() >= 4) {
            const uint16_t fieldId = le16(extra.data()), length = le16(extra.data() + 2);
            if (length > extra.size() - 4)
                fail(who() + " has an extra field (id 0x" + hex16(fieldId) + ") of " + num(length) +
                     " bytes, but only " + num(extra.size() - 4) + " bytes of extra data follow");
            if (fieldId == id && !found) found = extra.substr(4, length);
            extra.remove_prefix(4 + size_t(length));
        }
        return found;
    }

    static std::string hex16(uint16_t v) {
        static const char hex[] = "0123456789abcdef";
        std::string out(4, '0');
        for (int i = 3; i >= 0; --i, v >>= 4)
            out[size_t(i)] = hex[v & 15];
        return out;
    }

    void checkStored(const CentralEntry& e) const {
        if (e.flags & (kFlagEncrypted | kFlagStrongEncryption))
            fail("entry " + quoted(e.name) + " is encrypted (flags 0x" + hex16(e.flags) +
                 "); encrypted entries are not supported");
        if (e.method != 0)
            fail("entry " + quoted(e.name) + " is compressed (method " + num(e.method) +
                 "); only stored entries are supported");
        if (e.compressedSize != e.size)
            fail("entry " + quoted(e.name) + " is stored, but its compressed size (" +
                 num(e.compressedSize) + ") differs from its size (" + num(e.size) + ")");
    }

    [[noreturn]] void duplicate(const CentralEntry& a, const CentralEntry& b) const {
        fail("central directory entries " + num(a.index) + " and " + num(b.index) +
             " are both named " + quoted(b.name));
    }

    // The duplicate reported is the one sorting first by name, then by the two smallest
    // indices. A few entries are compared pairwise with no allocation; more are sorted, so a
    // million entries cost n log n, not n².
    void checkDuplicateNames(std::span<const CentralEntry> entries) const {
        if (entries.size() <= kInlineEntries) {
            const CentralEntry* first = nullptr; // of the best pair so far
            const CentralEntry* second = nullptr;
            for (size_t i = 0; i < entries.size(); ++i)
                for (size_t j = i + 1; j < entries.size(); ++j)
                    // Pairs come by increasing i then j, so the first pair met for a name
                    // holds its two smallest indices.
                    if (entries[i].name == entries[j].name &&
                        (!first || entries[i].name < first->name)) {
                        first = &entries[i];
                        second = &entries[j];
                    }
            if (first) duplicate(*first, *second);
            return;
        }
        std::vector<const CentralEntry*> sorted;
        sorted.reserve(entries.size());
        for (const CentralEntry& e : entries)
            sorted.push_back(&e);
        std::sort(sorted.begin(), sorted.end(), [](const CentralEntry* a, const CentralEntry* b) {
            return a->name != b->name ? a->name < b->name : a->index < b->index;
        });
        for (size_t i = 1; i < sorted.size(); ++i)
            if (sorted[i - 1]->name == sorted[i]->name) duplicate(*sorted[i - 1], *sorted[i]);
    }

    // The local header must be where the central directory says, carry the same name, and
    // leave room for the data before the central directory.
    void readLocalHeader(CentralEntry& e, uint64_t directoryOffset) {
        const auto who = [&] { return "central directory entry " + quoted(e.name); };
        if (e.localOffset > directoryOffset || directoryOffset - e.localOffset < kLocalSize)
            fail(who() + " says its local header is at " + num(e.localOffset) +
                 ", which leaves no room for a 30-byte header before the central directory at " +
                 num(directoryOffset));
        const char* p = bytes(e.localOffset, kLocalSize, "a local header", m_header).data();
        if (le32(p) != kLocalSignature)
            fail(who() + " says its local header is at " + num(e.localOffset) +
                 ", but no local header starts there");
        const auto local = [&] {
            return "the local header of " + quoted(e.name) + " at " + num(e.localOffset);
        };
        const uint64_t nameLength = le16(p + 26), extraLength = le16(p + 28);
        const uint64_t headerEnd = e.localOffset + kLocalSize + nameLength + extraLength;
        if (headerEnd > directoryOffset)
            fail(local() + " has a " + num(nameLength) + "-byte name and a " + num(extraLength) +
                 "-byte extra field that run past the central directory at " +
                 num(directoryOffset));
        const std::string_view tail = bytes(e.localOffset + kLocalSize, nameLength + extraLength,
                                            "a local header's name and extra field", m_scratch);
        const std::string_view name = tail.substr(0, size_t(nameLength));
        if (name != e.name) fail(local() + " names it " + quoted(name) + " instead");
        const uint16_t flags = le16(p + 6), method = le16(p + 8);
        if (flags & (kFlagEncrypted | kFlagStrongEncryption))
            fail(local() + " marks it encrypted (flags 0x" + hex16(flags) +
                 "); encrypted entries are not supported");
        if (method != e.method)
            fail(local() + " says method " + num(method) + ", but the central directory says " +
                 num(e.method) + "; only stored entries are supported");
        if (!(flags & kFlagDataDescriptor))
            checkLocalSizes(e, p, tail.substr(size_t(nameLength)), local);
        e.dataOffset = headerEnd;
        if (e.size > directoryOffset - e.dataOffset)
            fail("entry " + quoted(e.name) + ": its " + num(e.size) + " bytes of data at " +
                 num(e.dataOffset) + " run into the central directory at " + num(directoryOffset));
    }

    // Torch writes zero sizes and a data descriptor (flag bit 3); other writers put the sizes
    // here, and then they must agree with the central directory.
    template <typename Local>
    void checkLocalSizes(const CentralEntry& e, const char* p, std::string_view extra,
                         const Local& local) const {
        const uint32_t compressed = le32(p + 18), size = le32(p + 22);
        if (compressed == 0 && size == 0) return;
        uint64_t compressed64 = compressed, size64 = size;
        if (size == kSaturated32 || compressed == kSaturated32) {
            const std::string_view field = zip64Extra(extra, local);
            size_t used = 0;
            auto take = [&](const char* what) -> uint64_t {
                if (field.size() - used < 8)
                    fail(local() + " holds 0xFFFFFFFF for its " + what + ", but its ZIP64 extra " +
                         "field (" + num(field.size()) + " bytes) does not hold it");
                used += 8;
                return le64(field.data() + used - 8);
            };
            if (size == kSaturated32) size64 = take("size");
            if (compressed == kSaturated32) compressed64 = take("compressed size");
        }
        if (size64 != e.size || compressed64 != e.compressedSize)
            fail(local() + " says its size is " + num(size64) + " (compressed " +
                 num(compressed64) + "), but the central directory says " + num(e.size));
    }

    // Each entry owns [local header, end of data); sorted by local offset, each range must end
    // before the next begins. Writers put the entries in file order, which needs no sort.
    void checkOverlaps(std::span<const CentralEntry> entries) const {
        bool ordered = true;
        for (size_t i = 1; i < entries.size() && ordered; ++i)
            ordered = entries[i - 1].localOffset < entries[i].localOffset;
        if (ordered) {
            for (size_t i = 1; i < entries.size(); ++i)
                checkApart(entries[i - 1], entries[i]);
            return;
        }
        std::vector<const CentralEntry*> sorted;
        sorted.reserve(entries.size());
        for (const CentralEntry& e : entries)
            sorted.push_back(&e);
        std::sort(sorted.begin(), sorted.end(), [](const CentralEntry* a, const CentralEntry* b) {
            return a->localOffset < b->localOffset;
        });
        for (size_t i = 1; i < sorted.size(); ++i)
            checkApart(*sorted[i - 1], *sorted[i]);
    }

    // `a` starts before `b` (or where it does).
    void checkApart(const CentralEntry& a, const CentralEntry& b) const {
        const uint64_t aEnd = a.dataOffset + a.size;
        if (aEnd > b.localOffset)
            fail("entries " + quoted(a.name) + " at " + range(a.localOffset, aEnd) + " and " +
                 quoted(b.name) + " at " + range(b.localOffset, b.dataOffset + b.size) +
                 " overlap");
    }

    const ArchiveReader* m_read = nullptr; // null: the archive is m_memory
    const char* m_memory = nullptr;
    const uint64_t m_size;
    const std::string& m_file;
    // Read bytes when there is no m_memory: the central directory (entry names view it),
    // the current local header, and the other records, one at a time.
    std::string m_directory, m_header, m_scratch;
};

} // namespace

const ZipEntry* ZipDirectory::find(std::string_view name) const {
    for (const ZipEntry& e : entries)
        if (e.name == name) return &e;
    return nullptr;
}

const ZipEntry* ZipDirectory::findRecord(std::string_view suffix) const {
    for (const ZipEntry& e : entries) {
        const std::string_view n = e.name;
        if (n == suffix) return &e;
        if (n.size() > suffix.size() && n.ends_with(suffix) &&
            n[n.size() - suffix.size() - 1] == '/')
            return &e;
    }
    return nullptr;
}

ZipDirectory readZipDirectory(const ArchiveReader& read, uint64_t archiveSize,
                              const std::string& file) {
    ZipDirectory out;
    DirectoryReader(read, archiveSize, file).run(out);
    return out;
}

void readZipDirectory(std::string_view archive, const std::string& file, ZipDirectory& out) {
    DirectoryReader(archive, file).run(out);
}

} // namespace shardscope
