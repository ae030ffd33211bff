// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "zip_reader.h"

#include "error.h"

#include <algorithm>
#include <cstring>
#include <optional>

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

// One central directory entry, with ZIP64 values applied.
struct CentralEntry {
    std::string name;
    uint64_t index = 0;        // position in the central directory, from 0
    uint64_t recordOffset = 0; // archive offset of its PK\1\2
    uint16_t flags = 0;
    uint16_t method = 0;
    uint64_t compressedSize = 0;
    uint64_t size = 0;
    uint64_t localOffset = 0;
    uint64_t dataOffset = 0; // set from the local header
};

class DirectoryReader {
public:
    DirectoryReader(const ArchiveReader& read, uint64_t size, const std::string& file)
        : m_read(read), m_size(size), m_file(file) {}

    ZipDirectory run() {
        EndRecords end = findEnd();
        readZip64(end);
        checkDirectoryRange(end);
        std::vector<CentralEntry> entries = readCentralDirectory(end);
        checkDuplicateNames(entries);
        for (CentralEntry& e : entries)
            readLocalHeader(e, end.directoryOffset);
        checkOverlaps(entries);

        ZipDirectory out;
        out.centralDirectoryOffset = end.directoryOffset;
        out.entries.reserve(entries.size());
        for (CentralEntry& e : entries)
            out.entries.push_back({std::move(e.name), e.dataOffset, e.size});
        return out;
    }

private:
    [[noreturn]] void fail(const std::string& message) const {
        throw Error(ErrorKind::ZipInvalid, m_file, "", "zip archive: " + message);
    }

    // The only way bytes are read: the range is checked against the archive first, so no
    // length from the archive is allocated or passed on before it is known to fit.
    std::string bytes(uint64_t offset, uint64_t length, const char* what) const {
        if (offset > m_size || length > m_size - offset)
            fail(std::string(what) + " (" + num(length) + " bytes at " + num(offset) +
                 ") runs past the end of the " + num(m_size) + "-byte item");
        std::string out(size_t(length), '\0');
        if (length) m_read(offset, length, out.data());
        return out;
    }

    EndRecords findEnd() const {
        if (m_size == 0) fail("the item is empty (0 bytes); no end-of-central-directory record");
        if (m_size < kEndSize)
            fail("the " + num(m_size) + "-byte item is shorter than an end-of-central-directory " +
                 "record (22 bytes)");
        // Almost every archive has no comment: then the EOCD is the last 22 bytes, which is
        // also the first place the backward scan below would look. This saves reading 64 KiB
        // per item of a .distcp file.
        const std::string last = bytes(m_size - kEndSize, kEndSize, "the archive's last bytes");
        if (le32(last.data()) == kEndSignature && le16(last.data() + 20) == 0)
            return parseEnd(last.data(), m_size - kEndSize);
        // Otherwise the EOCD is followed by its comment (at most 65,535 bytes).
        const uint64_t tailSize = std::min(m_size, kEndSize + kMaxComment);
        const uint64_t tailStart = m_size - tailSize;
        const std::string tail = bytes(tailStart, tailSize, "the archive's tail");
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
    void readZip64(EndRecords& end) const {
        std::optional<std::string> locator;
        if (end.endOffset >= kZip64LocatorSize) {
            std::string l = bytes(end.endOffset - kZip64LocatorSize, kZip64LocatorSize,
                                  "the ZIP64 end-of-central-directory locator");
            if (le32(l.data()) == kZip64LocatorSignature) locator = std::move(l);
        }
        if (!locator) {
            if (end.placeholders)
                fail("the end-of-central-directory record at " + num(end.endOffset) +
                     " holds ZIP64 placeholder values (0xFFFF or 0xFFFFFFFF), but no ZIP64 "
                     "locator precedes it");
            return;
        }
        const uint64_t locatorOffset = end.endOffset - kZip64LocatorSize;
        const uint32_t recordDisk = le32(locator->data() + 4), disks = le32(locator->data() + 16);
        const uint64_t recordOffset = le64(locator->data() + 8);
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
        const std::string r =
            bytes(recordOffset, kZip64EndSize, "the ZIP64 end-of-central-directory record");
        const char* p = r.data();
        const std::string where =
            "the ZIP64 end-of-central-directory record at " + num(recordOffset);
        if (le32(p) != kZip64EndSignature)
            fail("the ZIP64 locator at " + num(locatorOffset) + " points to " + num(recordOffset) +
                 ", but no ZIP64 end-of-central-directory record starts there");
        const uint64_t recordSize = le64(p + 4);
        if (recordSize < kZip64EndSize - 12 || recordSize > locatorOffset - recordOffset - 12)
            fail(where + " says it is " + num(recordSize) +
                 " bytes long after its first 12 bytes;" +
                 " it must be at least 44 and end by the ZIP64 locator at " + num(locatorOffset));
        const uint32_t disk = le32(p + 16), directoryDisk = le32(p + 20);
        const uint64_t entriesHere = le64(p + 24), entries = le64(p + 32);
        if (disk != 0 || directoryDisk != 0 || entriesHere != entries)
            fail(where + " describes a multi-disk archive (disk " + num(disk) +
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
        const std::string who =
            end.zip64 ? "the ZIP64 end-of-central-directory record at " + num(end.zip64Offset)
                      : "the end-of-central-directory record at " + num(end.endOffset);
        if (end.directoryOffset > end.recordsStart)
            fail(who + " places the central directory at " + num(end.directoryOffset) +
                 ", past the end records at " + num(end.recordsStart));
        if (end.directorySize > end.recordsStart - end.directoryOffset)
            fail(who + " places the " + num(end.directorySize) + "-byte central directory at " +
                 num(end.directoryOffset) + ", which runs past the end records at " +
                 num(end.recordsStart));
        if (end.entries > kMaxZipEntries)
            fail(who + " says the archive has " + num(end.entries) + " entries, more than the " +
                 "limit of " + num(kMaxZipEntries));
        if (end.entries > end.directorySize / kCentralSize)
            fail(who + " says the archive has " + num(end.entries) + " entries, but its " +
                 num(end.directorySize) + "-byte central directory holds at most " +
                 num(end.directorySize / kCentralSize) + " (each entry is at least 46 bytes)");
    }

    std::vector<CentralEntry> readCentralDirectory(const EndRecords& end) const {
        // One read: directorySize was checked against the end records, hence the archive.
        const std::string directory =
            bytes(end.directoryOffset, end.directorySize, "the central directory");
        std::vector<CentralEntry> entries;
        entries.reserve(size_t(end.entries)); // at most directorySize / 46
        uint64_t pos = 0;
        for (uint64_t i = 0; i < end.entries; ++i)
            entries.push_back(parseCentralEntry(directory, pos, i, end.directoryOffset));
        if (pos != directory.size())
            fail("the central directory at " + num(end.directoryOffset) + " is " +
                 num(directory.size()) + " bytes long, but its " + num(end.entries) +
                 " entries end after " + num(pos) + " bytes");
        return entries;
    }

    CentralEntry parseCentralEntry(const std::string& directory, uint64_t& pos, uint64_t index,
                                   uint64_t directoryOffset) const {
        const uint64_t at = directoryOffset + pos;
        const std::string which = "central directory entry " + num(index) + " at " + num(at);
        const uint64_t left = directory.size() - pos;
        if (left < kCentralSize)
            fail(which + " needs 46 bytes, but only " + num(left) +
                 " are left in the central directory");
        const char* p = directory.data() + pos;
        if (le32(p) != kCentralSignature)
            fail(which + " does not start with the signature PK\\1\\2");
        const uint64_t nameLength = le16(p + 28), extraLength = le16(p + 30),
                       commentLength = le16(p + 32);
        const uint64_t recordSize = kCentralSize + nameLength + extraLength + commentLength;
        if (recordSize > left)
            fail(which + " is " + num(recordSize) + " bytes long with its name, extra field and " +
                 "comment, but only " + num(left) + " are left in the central directory");
        CentralEntry e;
        e.index = index;
        e.recordOffset = at;
        e.name.assign(p + kCentralSize, size_t(nameLength));
        if (e.name.empty()) fail(which + " has an empty name");
        if (e.name.find('\0') != std::string::npos)
            fail(which + " has a name with a NUL byte: " + quoted(e.name));
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
        const std::string who = "central directory entry " + quoted(e.name);
        // Walked even when no value is needed, as zipfile does: a field that overruns the extra
        // area is a broken record.
        const std::optional<std::string_view> zip64 = findExtra(extra, kZip64ExtraId, who);
        if (size == kSaturated32 || compressed == kSaturated32 || local == kSaturated32 ||
            disk == kSaturated16) {
            if (!zip64)
                fail(who + " holds a ZIP64 placeholder (0xFFFFFFFF), but has no ZIP64 " +
                     "extra field");
            const std::string_view field = *zip64;
            size_t used = 0;
            auto take = [&](size_t width, const char* what) -> uint64_t {
                if (field.size() - used < width)
                    fail(who + " holds 0xFFFFFFFF for its " + what + ", but its ZIP64 extra " +
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
    // a field runs past the extra area.
    std::string_view zip64Extra(std::string_view extra, const std::string& who) const {
        std::optional<std::string_view> found = findExtra(extra, kZip64ExtraId, who);
        if (!found)
            fail(who + " holds a ZIP64 placeholder (0xFFFFFFFF), but has no ZIP64 extra field");
        return *found;
    }

    // Fewer than 4 bytes left over are padding, as zipfile and zipalign treat them.
    std::optional<std::string_view> findExtra(std::string_view extra, uint16_t id,
                                              const std::string& who) const {
        std::optional<std::string_view> found;
        while (extra.size() >= 4) {
            const uint16_t fieldId = le16(extra.data()), length = le16(extra.data() + 2);
            if (length > extra.size() - 4)
                fail(who + " has an extra field (id 0x" + hex16(fieldId) + ") of " + num(length) +
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

    // Names are compared sorted, so a million entries cost n log n, not n².
    void checkDuplicateNames(const std::vector<CentralEntry>& entries) const {
        std::vector<const CentralEntry*> sorted;
        sorted.reserve(entries.size());
        for (const CentralEntry& e : entries)
            sorted.push_back(&e);
        std::sort(sorted.begin(), sorted.end(), [](const CentralEntry* a, const CentralEntry* b) {
            return a->name != b->name ? a->name < b->name : a->index < b->index;
        });
        for (size_t i = 1; i < sorted.size(); ++i)
            if (sorted[i - 1]->name == sorted[i]->name)
                fail("central directory entries " + num(sorted[i - 1]->index) + " and " +
                     num(sorted[i]->index) + " are both named " + quoted(sorted[i]->name));
    }

    // The local header must be where the central directory says, carry the same name, and
    // leave room for the data before the central directory.
    void readLocalHeader(CentralEntry& e, uint64_t directoryOffset) const {
        const std::string who = "central directory entry " + quoted(e.name);
        if (e.localOffset > directoryOffset || directoryOffset - e.localOffset < kLocalSize)
            fail(who + " says its local header is at " + num(e.localOffset) +
                 ", which leaves no room for a 30-byte header before the central directory at " +
                 num(directoryOffset));
        const std::string h = bytes(e.localOffset, kLocalSize, "a local header");
        const char* p = h.data();
        if (le32(p) != kLocalSignature)
            fail(who + " says its local header is at " + num(e.localOffset) +
                 ", but no local header starts there");
        const std::string local =
            "the local header of " + quoted(e.name) + " at " + num(e.localOffset);
        const uint64_t nameLength = le16(p + 26), extraLength = le16(p + 28);
        const uint64_t headerEnd = e.localOffset + kLocalSize + nameLength + extraLength;
        if (headerEnd > directoryOffset)
            fail(local + " has a " + num(nameLength) + "-byte name and a " + num(extraLength) +
                 "-byte extra field that run past the central directory at " +
                 num(directoryOffset));
        const std::string tail = bytes(e.localOffset + kLocalSize, nameLength + extraLength,
                                       "a local header's name and extra field");
        const std::string_view name(tail.data(), size_t(nameLength));
        if (name != e.name) fail(local + " names it " + quoted(name) + " instead");
        const uint16_t flags = le16(p + 6), method = le16(p + 8);
        if (flags & (kFlagEncrypted | kFlagStrongEncryption))
            fail(local + " marks it encrypted (flags 0x" + hex16(flags) +
                 "); encrypted entries are not supported");
        if (method != e.method)
            fail(local + " says method " + num(method) + ", but the central directory says " +
                 num(e.method) + "; only stored entries are supported");
        if (!(flags & kFlagDataDescriptor))
            checkLocalSizes(e, p, std::string_view(tail).substr(size_t(nameLength)), local);
        e.dataOffset = headerEnd;
        if (e.size > directoryOffset - e.dataOffset)
            fail("entry " + quoted(e.name) + ": its " + num(e.size) + " bytes of data at " +
                 num(e.dataOffset) + " run into the central directory at " + num(directoryOffset));
    }

    // Torch writes zero sizes and a data descriptor (flag bit 3); other writers put the sizes
    // here, and then they must agree with the central directory.
    void checkLocalSizes(const CentralEntry& e, const char* p, std::string_view extra,
                         const std::string& local) const {
        const uint32_t compressed = le32(p + 18), size = le32(p + 22);
        if (compressed == 0 && size == 0) return;
        uint64_t compressed64 = compressed, size64 = size;
        if (size == kSaturated32 || compressed == kSaturated32) {
            const std::string_view field = zip64Extra(extra, local);
            size_t used = 0;
            auto take = [&](const char* what) -> uint64_t {
                if (field.size() - used < 8)
                    fail(local + " holds 0xFFFFFFFF for its " + what + ", but its ZIP64 extra " +
                         "field (" + num(field.size()) + " bytes) does not hold it");
                used += 8;
                return le64(field.data() + used - 8);
            };
            if (size == kSaturated32) size64 = take("size");
            if (compressed == kSaturated32) compressed64 = take("compressed size");
        }
        if (size64 != e.size || compressed64 != e.compressedSize)
            fail(local + " says its size is " + num(size64) + " (compressed " + num(compressed64) +
                 "), but the central directory says " + num(e.size));
    }

    // Each entry owns [local header, end of data); sorted by local offset, each range must end
    // before the next begins.
    void checkOverlaps(const std::vector<CentralEntry>& entries) const {
        std::vector<const CentralEntry*> sorted;
        sorted.reserve(entries.size());
        for (const CentralEntry& e : entries)
            sorted.push_back(&e);
        std::sort(sorted.begin(), sorted.end(), [](const CentralEntry* a, const CentralEntry* b) {
            return a->localOffset < b->localOffset;
        });
        for (size_t i = 1; i < sorted.size(); ++i) {
            const CentralEntry& a = *sorted[i - 1];
            const CentralEntry& b = *sorted[i];
            const uint64_t aEnd = a.dataOffset + a.size;
            if (aEnd > b.localOffset)
                fail("entries " + quoted(a.name) + " at " + range(a.localOffset, aEnd) + " and " +
                     quoted(b.name) + " at " + range(b.localOffset, b.dataOffset + b.size) +
                     " overlap");
        }
    }

    const ArchiveReader& m_read;
    const uint64_t m_size;
    const std::string& m_file;
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
    return DirectoryReader(read, archiveSize, file).run();
}

} // namespace shardscope
