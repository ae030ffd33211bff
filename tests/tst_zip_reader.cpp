// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "error.h"
#include "zip_fixtures.h"
#include "zip_reader.h"

#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace shardscope;

namespace {

// ---- Little-endian bytes, written and patched by hand (independent of the reader) ----

void put16(std::string& s, uint64_t v) {
    for (int i = 0; i < 2; ++i)
        s += char((v >> (8 * i)) & 0xFF);
}
void put32(std::string& s, uint64_t v) {
    for (int i = 0; i < 4; ++i)
        s += char((v >> (8 * i)) & 0xFF);
}
void put64(std::string& s, uint64_t v) {
    for (int i = 0; i < 8; ++i)
        s += char((v >> (8 * i)) & 0xFF);
}
void set(std::string& s, uint64_t at, int width, uint64_t v) {
    for (int i = 0; i < width; ++i)
        s[at + uint64_t(i)] = char((v >> (8 * i)) & 0xFF);
}
uint64_t get(std::string_view s, uint64_t at, int width) {
    uint64_t v = 0;
    for (int i = width; i-- > 0;)
        v = v << 8 | static_cast<unsigned char>(s[at + uint64_t(i)]);
    return v;
}

uint32_t crc32(std::string_view data) {
    uint32_t crc = 0xFFFFFFFF;
    for (unsigned char c : data) {
        crc ^= c;
        for (int k = 0; k < 8; ++k)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

// ---- A torch.save-style writer: the layout PyTorch's miniz-based writer produces ----

struct TorchFile {
    std::string name;
    std::string data;
};

struct TorchOptions {
    // 0xFFFFFFFF / 0xFFFF in the central entries and the EOCD, real values in ZIP64 extras and
    // the ZIP64 record, 8-byte sizes in the data descriptors (what torch writes past 4 GiB).
    bool placeholders = false;
    std::string centralExtra = {}; // appended to every central entry's extra field
    std::string comment = {};
    std::vector<size_t> centralOrder = {}; // the files' central entries in this order, if given
};

// Archive offsets of every record the writer laid down, by file (also `central`, whatever
// TorchOptions::centralOrder).
struct Layout {
    std::vector<uint64_t> local, data, central;
    uint64_t directory = 0, directorySize = 0, zip64Record = 0, locator = 0, end = 0;
};

std::string torchArchive(const std::vector<TorchFile>& files, const TorchOptions& o = {},
                         Layout* layoutOut = nullptr) {
    Layout l;
    std::string out;
    const uint64_t version = o.placeholders ? 45 : 20;
    for (const TorchFile& f : files) {
        l.local.push_back(out.size());
        put32(out, 0x04034b50);
        put16(out, version);
        put16(out, 0x0808); // data descriptor + UTF-8
        put16(out, 0);      // stored
        put32(out, 0);      // DOS time and date
        put32(out, 0);      // crc
        put32(out, 0);      // compressed size
        put32(out, 0);      // size
        put16(out, f.name.size());
        // The "FB" extra pads the data to a multiple of 64 from the archive's first byte.
        const uint64_t start = out.size() + 2 + f.name.size() + 4;
        const uint64_t pad = (64 - start % 64) % 64;
        put16(out, 4 + pad);
        out += f.name;
        out += "FB";
        put16(out, pad);
        out.append(pad, 'Z'); // PyTorch's writer pads with 'Z'
        l.data.push_back(out.size());
        out += f.data;
        put32(out, 0x08074b50); // data descriptor
        put32(out, crc32(f.data));
        if (o.placeholders) {
            put64(out, f.data.size());
            put64(out, f.data.size());
        } else {
            put32(out, f.data.size());
            put32(out, f.data.size());
        }
    }
    l.directory = out.size();
    std::vector<size_t> order = o.centralOrder;
    if (order.empty())
        for (size_t i = 0; i < files.size(); ++i)
            order.push_back(i);
    l.central.resize(files.size());
    for (size_t i : order) {
        const TorchFile& f = files[i];
        l.central[i] = out.size();
        std::string extra;
        if (o.placeholders) {
            put16(extra, 0x0001);
            put16(extra, 24);
            put64(extra, f.data.size());
            put64(extra, f.data.size());
            put64(extra, l.local[i]);
        }
        extra += o.centralExtra;
        const uint64_t size32 = o.placeholders ? 0xFFFFFFFF : f.data.size();
        put32(out, 0x02014b50);
        put16(out, version); // made by
        put16(out, version); // needed
        put16(out, 0x0808);
        put16(out, 0);
        put32(out, 0);
        put32(out, crc32(f.data));
        put32(out, size32);
        put32(out, size32);
        put16(out, f.name.size());
        put16(out, extra.size());
        put16(out, 0); // comment
        put16(out, 0); // disk
        put16(out, 0); // internal attributes
        put32(out, 0); // external attributes
        put32(out, o.placeholders ? 0xFFFFFFFF : l.local[i]);
        out += f.name;
        out += extra;
    }
    l.directorySize = out.size() - l.directory;
    l.zip64Record = out.size();
    put32(out, 0x06064b50);
    put64(out, 44);
    put16(out, 45);
    put16(out, 45);
    put32(out, 0);
    put32(out, 0);
    put64(out, files.size());
    put64(out, files.size());
    put64(out, l.directorySize);
    put64(out, l.directory);
    l.locator = out.size();
    put32(out, 0x07064b50);
    put32(out, 0);
    put64(out, l.zip64Record);
    put32(out, 1);
    l.end = out.size();
    put32(out, 0x06054b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, o.placeholders ? 0xFFFF : files.size());
    put16(out, o.placeholders ? 0xFFFF : files.size());
    put32(out, o.placeholders ? 0xFFFFFFFF : l.directorySize);
    put32(out, o.placeholders ? 0xFFFFFFFF : l.directory);
    put16(out, o.comment.size());
    out += o.comment;
    if (layoutOut) *layoutOut = l;
    return out;
}

std::string pattern(size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i)
        s[i] = char((i * 131 + seed * 7 + (i >> 8)) & 0xFF);
    return s;
}

// The records torch 2.x writes, in its order, under `prefix`.
std::vector<TorchFile> torchFiles(const std::string& prefix, size_t storageBytes = 40) {
    return {
        {prefix + "/data.pkl", std::string("\x80\x02\x63torch._utils\n_rebuild_tensor_v2\n.", 36)},
        {prefix + "/.format_version", "1"},
        {prefix + "/.storage_alignment", "64"},
        {prefix + "/byteorder", "little"},
        {prefix + "/data/0", pattern(storageBytes, 1)},
        {prefix + "/version", "3\n"},
        {prefix + "/.data/serialization_id", "1620471298237617485000123412907410001234"},
    };
}

std::string_view view(const unsigned char* bytes, size_t size) {
    return {reinterpret_cast<const char*>(bytes), size};
}
#define FIXTURE(name) view(zip_fixtures::name, sizeof zip_fixtures::name)

// An ArchiveReader over `archive`. A read outside it throws std::out_of_range, not Error: the
// reader must check every range itself, so such a read fails the test instead of passing it.
struct Slice {
    std::string_view archive;
    uint64_t reads = 0, bytesRead = 0;
    ArchiveReader reader() {
        return [this](uint64_t offset, uint64_t length, char* out) {
            if (offset > archive.size() || length > archive.size() - offset)
                throw std::out_of_range("read outside the archive");
            ++reads;
            bytesRead += length;
            std::memcpy(out, archive.data() + offset, length);
        };
    }
};

const std::string kFile = "shard/__0_0.distcp";

// The archive read both ways, through an ArchiveReader and in place into one ZipDirectory reused
// from call to call (also after a failure), as the DCP scanner reads its items. They must agree
// entry for entry, or fail with the same message; else std::logic_error fails the test.
ZipDirectory readArchive(std::string_view archive) {
    Slice slice{archive};
    std::optional<Error> readerError, inPlaceError;
    ZipDirectory dir;
    try {
        dir = readZipDirectory(slice.reader(), archive.size(), kFile);
    } catch (const Error& e) {
        readerError = e;
    }
    static ZipDirectory reused;
    try {
        readZipDirectory(archive, kFile, reused);
    } catch (const Error& e) {
        inPlaceError = e;
    }
    if (readerError || inPlaceError) {
        if (!readerError || !inPlaceError || readerError->kind() != inPlaceError->kind() ||
            std::string(readerError->what()) != inPlaceError->what())
            throw std::logic_error(
                std::string("in place: ") + (inPlaceError ? inPlaceError->what() : "accepted") +
                "; through a reader: " + (readerError ? readerError->what() : "accepted"));
        throw *readerError;
    }
    bool same = reused.centralDirectoryOffset == dir.centralDirectoryOffset &&
                reused.entries.size() == dir.entries.size();
    for (size_t i = 0; same && i < dir.entries.size(); ++i)
        same = reused.entries[i].name == dir.entries[i].name &&
               reused.entries[i].dataOffset == dir.entries[i].dataOffset &&
               reused.entries[i].size == dir.entries[i].size;
    if (!same) throw std::logic_error("the directory read in place differs");
    return dir;
}

// The ZipInvalid message for a broken archive, or "accepted".
QString rejection(std::string_view archive) {
    try {
        readArchive(archive);
        return "accepted";
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::ZipInvalid)
            return QString("wrong kind ") + errorKindName(e.kind()) + ": " + e.what();
        if (e.file() != kFile || !e.tensor().empty()) return QString("wrong file: ") + e.what();
        return QString::fromStdString(e.message());
    }
}

// "1,234", as the reader's messages write numbers.
QString grouped(uint64_t n) {
    QString digits = QString::number(n);
    for (qsizetype i = digits.size() - 3; i > 0; i -= 3)
        digits.insert(i, ',');
    return digits;
}

// The bytes of `name` as the reader located them.
std::string_view dataOf(std::string_view archive, const ZipEntry& e) {
    return archive.substr(e.dataOffset, e.size);
}

// Central directory records of a classic archive without a comment, walked by hand.
std::vector<uint64_t> centralOffsets(std::string_view archive) {
    const uint64_t end = archive.size() - 22;
    const uint64_t count = get(archive, end + 10, 2);
    uint64_t at = get(archive, end + 16, 4);
    std::vector<uint64_t> out;
    for (uint64_t i = 0; i < count; ++i) {
        out.push_back(at);
        at += 46 + get(archive, at + 28, 2) + get(archive, at + 30, 2) + get(archive, at + 32, 2);
    }
    return out;
}

} // namespace

class TestZipReader : public QObject {
    Q_OBJECT

private slots:
    void readsPythonArchives_data();
    void readsPythonArchives();
    void readsTorchArchiveInsideALargerFile_data();
    void readsTorchArchiveInsideALargerFile();
    void readsOnlyTheRecords();
    void acceptsAnEmptyArchive();
    void findsRecordsBySuffix();
    void rejectsBrokenArchives_data();
    void rejectsBrokenArchives();
    void messagesNameRecordAndOffset();
    void everyTruncationThrows();
    void mutatedArchivesNeverCrash();
    void pythonArchiveWithMoreThan65535Entries();
};

void TestZipReader::readsPythonArchives_data() {
    QTest::addColumn<QByteArray>("archive");
    QTest::addColumn<int>("entries");
    auto row = [](const char* tag, std::string_view bytes, int entries) {
        QTest::newRow(tag) << QByteArray(bytes.data(), qsizetype(bytes.size())) << entries;
    };
    const int all = int(std::size(zip_fixtures::kEntries));
    row("plain", FIXTURE(kPythonPlain), all);
    row("force_zip64 local headers", FIXTURE(kPythonForcedZip64), all);
    row("streamed, data descriptors", FIXTURE(kPythonStreamed), all);
    row("zip64 extras and end record", FIXTURE(kPythonZip64Records), all);
    row("comment with a fake eocd", FIXTURE(kPythonCommented), 3);
}

void TestZipReader::readsPythonArchives() {
    QFETCH(QByteArray, archive);
    QFETCH(int, entries);
    const std::string_view bytes(archive.constData(), size_t(archive.size()));
    const ZipDirectory dir = readArchive(bytes);
    QCOMPARE(int(dir.entries.size()), entries);
    for (int i = 0; i < entries; ++i) {
        const ZipEntry& e = dir.entries[size_t(i)];
        const zip_fixtures::Entry& want = zip_fixtures::kEntries[i];
        QCOMPARE(e.name, std::string(want.name));
        QCOMPARE(e.size, uint64_t(want.data.size()));
        QVERIFY2(e.dataOffset + e.size <= dir.centralDirectoryOffset, e.name.c_str());
        QCOMPARE(dataOf(bytes, e), want.data);
    }
    // The central directory starts with the first entry's record.
    QCOMPARE(get(bytes, dir.centralDirectoryOffset, 4), uint64_t(0x02014b50));
    QCOMPARE(bytes.substr(dir.centralDirectoryOffset + 46, dir.entries[0].name.size()),
             std::string_view(dir.entries[0].name));
    QVERIFY(dir.find("archive/version"));
    QCOMPARE(dir.findRecord("data.pkl"), &dir.entries[0]);
}

void TestZipReader::readsTorchArchiveInsideALargerFile_data() {
    QTest::addColumn<QString>("prefix");
    QTest::addColumn<bool>("placeholders");
    QTest::addColumn<QByteArray>("comment");
    QTest::newRow("archive/") << QString("archive") << false << QByteArray();
    QTest::newRow("other prefix") << QString("model-7_rank 3") << false << QByteArray();
    QTest::newRow("zip64 placeholders") << QString("archive") << true << QByteArray();
    QTest::newRow("comment") << QString("archive") << false
                             << QByteArray("a comment PK\x05\x06!", 15);
}

void TestZipReader::readsTorchArchiveInsideALargerFile() {
    QFETCH(QString, prefix);
    QFETCH(bool, placeholders);
    QFETCH(QByteArray, comment);
    const std::vector<TorchFile> files = torchFiles(prefix.toStdString(), 1000);
    Layout layout;
    const std::string archive = torchArchive(
        files, {.placeholders = placeholders, .comment = comment.toStdString()}, &layout);
    // As in a .distcp file: another item's archive first, so this one starts at an odd offset
    // and its data is 64-aligned only relative to itself.
    const std::string before =
        std::string(FIXTURE(kPythonPlain)) + torchArchive(torchFiles("archive")) + "xyz";
    const std::string after = torchArchive(torchFiles("archive", 7));
    const std::string file = before + archive + after;
    QVERIFY(before.size() % 64 != 0);

    Slice slice{std::string_view(file).substr(before.size(), archive.size())};
    const ZipDirectory dir = readZipDirectory(slice.reader(), archive.size(), kFile);
    QCOMPARE(dir.entries.size(), files.size());
    QCOMPARE(dir.centralDirectoryOffset, layout.directory);
    for (size_t i = 0; i < files.size(); ++i) {
        const ZipEntry& e = dir.entries[i];
        QCOMPARE(e.name, files[i].name);
        QCOMPARE(e.size, uint64_t(files[i].data.size()));
        QCOMPARE(e.dataOffset, layout.data[i]);
        QCOMPARE(e.dataOffset % 64, uint64_t(0));
        QCOMPARE(std::string(dataOf(slice.archive, e)), files[i].data);
        // The same bytes, found in the whole file at the item's offset.
        QCOMPARE(file.substr(before.size() + e.dataOffset, e.size), files[i].data);
    }
    QCOMPARE(dir.findRecord("data.pkl"), &dir.entries[0]);
    QCOMPARE(dir.find(prefix.toStdString() + "/data/0"), &dir.entries[4]);
    QCOMPARE(dir.findRecord("data/0"), &dir.entries[4]);
    QCOMPARE(dir.findRecord(".data/serialization_id"), &dir.entries[6]);
}

void TestZipReader::readsOnlyTheRecords() {
    // 4 MiB of storage: the reader reads the end records, the central directory and the local
    // headers, never the data.
    const std::string archive = torchArchive(torchFiles("archive", 4 << 20));
    Slice slice{archive};
    const ZipDirectory dir = readZipDirectory(slice.reader(), archive.size(), kFile);
    QCOMPARE(dir.find("archive/data/0")->size, uint64_t(4 << 20));
    QVERIFY2(slice.bytesRead < 4096, qPrintable(QString::number(slice.bytesRead)));
    // With a comment the EOCD is searched for in the last 64 KiB + 22 bytes, no more.
    const std::string commented = torchArchive(torchFiles("archive", 4 << 20), {.comment = "c"});
    Slice scanned{commented};
    QCOMPARE(readZipDirectory(scanned.reader(), commented.size(), kFile).entries.size(), size_t(7));
    QVERIFY2(scanned.bytesRead < 70'000, qPrintable(QString::number(scanned.bytesRead)));
    QVERIFY2(slice.reads <= 4 + 2 * 7, qPrintable(QString::number(slice.reads)));
}

void TestZipReader::acceptsAnEmptyArchive() {
    // What zipfile writes for an archive without entries: the EOCD alone.
    std::string eocd;
    put32(eocd, 0x06054b50);
    eocd.append(18, '\0');
    QVERIFY(readArchive(eocd).entries.empty());
    QVERIFY(readArchive(torchArchive({})).entries.empty());
}

void TestZipReader::findsRecordsBySuffix() {
    const std::string archive = torchArchive({{"a/xdata.pkl", "1"},
                                              {"data.pkl.bak", "2"},
                                              {"first/data.pkl", "3"},
                                              {"data.pkl", "4"},
                                              {"b/c/data.pkl", "5"}});
    const ZipDirectory dir = readArchive(archive);
    QCOMPARE(dir.findRecord("data.pkl"), &dir.entries[2]); // the first match, not "xdata.pkl"
    QCOMPARE(dir.findRecord("c/data.pkl"), &dir.entries[4]);
    QVERIFY(!dir.findRecord("version"));
    QCOMPARE(dir.find("data.pkl"), &dir.entries[3]);
    QVERIFY(!dir.find("first/data"));
    QVERIFY(!dir.find("DATA.PKL"));
}

void TestZipReader::rejectsBrokenArchives_data() {
    QTest::addColumn<QByteArray>("archive");
    QTest::addColumn<QString>("expected");
    auto row = [](const char* tag, const std::string& bytes, const QString& expected) {
        QTest::newRow(tag) << QByteArray::fromStdString(bytes) << expected;
    };
    Layout l;
    const std::string base = torchArchive(torchFiles("archive"), {}, &l);
    auto patched = [&](std::initializer_list<std::tuple<uint64_t, int, uint64_t>> edits) {
        std::string s = base;
        for (const auto& [at, width, value] : edits)
            set(s, at, width, value);
        return s;
    };
    const std::string plain(FIXTURE(kPythonPlain));
    const uint64_t plainEnd = plain.size() - 22;
    const std::vector<uint64_t> plainCentral = centralOffsets(plain);
    auto patchedPlain = [&](uint64_t at, int width, uint64_t value) {
        std::string s = plain;
        set(s, at, width, value);
        return s;
    };
    const QString noEnd = "no end-of-central-directory record in the last 65,557 bytes";

    // Sizes and ends
    row("empty", "", "the item is empty");
    row("shorter than an eocd", base.substr(base.size() - 21), "shorter than an end-of-central");
    row("truncated by one byte", base.substr(0, base.size() - 1), noEnd);
    row("truncated in the eocd", base.substr(0, l.end + 10), noEnd);
    row("truncated before the eocd", base.substr(0, l.end), noEnd);
    row("truncated in the central directory", base.substr(0, l.central[3] + 5), noEnd);
    row("truncated in the data", base.substr(0, l.data[4] + 3), noEnd);
    // The locator still names the old offset of the ZIP64 record, now past the locator.
    row("front cut off", base.substr(64), "leaves no room for the 56-byte record");
    row("eocd missing", patched({{l.end, 4, 0}}), noEnd);
    row("comment length mismatch", patched({{l.end + 20, 2, 5}}),
        "the end-of-central-directory record at " + grouped(l.end) +
            " says its comment is 5 bytes long, but 0 bytes follow it");
    row("placeholders without a zip64 locator", patchedPlain(plainEnd + 12, 4, 0xFFFFFFFF),
        "holds ZIP64 placeholder values (0xFFFF or 0xFFFFFFFF), but no ZIP64 locator");

    // ZIP64 locator and record
    row("zip64 locator points outside", patched({{l.locator + 8, 8, 1'000'000}}),
        "points to a ZIP64 end-of-central-directory record at 1,000,000, outside the " +
            grouped(base.size()) + "-byte item");
    row("zip64 locator points far outside", patched({{l.locator + 8, 8, ~0ull}}), "outside the");
    row("zip64 locator points at itself", patched({{l.locator + 8, 8, l.locator}}),
        "leaves no room for the 56-byte record before the locator");
    row("zip64 record signature", patched({{l.zip64Record, 4, 0x06054b50}}),
        "but no ZIP64 end-of-central-directory record starts there");
    row("zip64 record too long", patched({{l.zip64Record + 4, 8, 45}}), "must be at least 44");
    row("zip64 record too short", patched({{l.zip64Record + 4, 8, 43}}), "must be at least 44");
    row("eocd disagrees with zip64", patched({{l.end + 8, 2, 3}, {l.end + 10, 2, 3}}),
        "says the entry count is 3, but the ZIP64 end-of-central-directory record at " +
            grouped(l.zip64Record) + " says 7");

    // Multi-disk
    row("multi-disk eocd", patchedPlain(plainEnd + 4, 2, 1), "describes a multi-disk archive");
    row("multi-disk eocd directory", patchedPlain(plainEnd + 6, 2, 2), "multi-disk");
    row("multi-disk eocd counts", patchedPlain(plainEnd + 8, 2, 2), "multi-disk");
    row("multi-disk zip64 record", patched({{l.zip64Record + 16, 4, 1}}),
        "ZIP64 end-of-central-directory record at " + grouped(l.zip64Record) +
            " describes a multi-disk archive");
    row("multi-disk locator", patched({{l.locator + 16, 4, 3}}), "of 3 disks");
    row("multi-disk entry", patched({{l.central[2] + 34, 2, 1}}),
        "entry 'archive/.storage_alignment' starts on disk 1");

    // Central directory placement and size
    row("central directory offset past the end",
        patched({{l.zip64Record + 48, 8, 1ull << 40}, {l.end + 16, 4, 0xFFFFFFFF}}),
        "places the central directory at 1,099,511,627,776, past the end records");
    row("central directory past the end (no zip64)", patchedPlain(plainEnd + 16, 4, plainEnd + 1),
        "past the end records");
    row("central directory runs past the end",
        patched({{l.zip64Record + 40, 8, l.directorySize + 100}, {l.end + 12, 4, 0xFFFFFFFF}}),
        "which runs past the end records at " + grouped(l.zip64Record));
    row("central directory size wraps",
        patched({{l.zip64Record + 40, 8, ~0ull}, {l.end + 12, 4, 0xFFFFFFFF}}), "runs past");
    row("entry count too large for the directory size",
        patched({{l.zip64Record + 24, 8, 100},
                 {l.zip64Record + 32, 8, 100},
                 {l.end + 8, 2, 0xFFFF},
                 {l.end + 10, 2, 0xFFFF}}),
        "says the archive has 100 entries, but its " + grouped(l.directorySize) +
            "-byte central directory holds at most");
    row("entry count over the limit",
        patched({{l.zip64Record + 24, 8, 2'000'000},
                 {l.zip64Record + 32, 8, 2'000'000},
                 {l.end + 8, 2, 0xFFFF},
                 {l.end + 10, 2, 0xFFFF}}),
        "2,000,000 entries, more than the limit of 1,000,000");
    row("entry count too small",
        patched({{l.zip64Record + 24, 8, 6},
                 {l.zip64Record + 32, 8, 6},
                 {l.end + 8, 2, 6},
                 {l.end + 10, 2, 6}}),
        "but its 6 entries end after");

    // Central directory entries
    row("central signature", patched({{l.central[2], 4, 0x04034b50}}),
        "central directory entry 2 at " + grouped(l.central[2]) +
            " does not start with the signature");
    row("central entry runs past the directory", patched({{l.central[6] + 32, 2, 500}}),
        "are left in the central directory");
    row("empty name", torchArchive({{"", "x"}}), "central directory entry 0 at");
    row("empty name says so", torchArchive({{"", "x"}}), "has an empty name");
    row("name with a nul", torchArchive({{std::string("archive/da\0ta", 13), "x"}}),
        "has a name with a NUL byte: 'archive/da\\x00ta'");
    row("duplicate names", torchArchive({{"a/x", "1"}, {"a/y", "2"}, {"a/x", "3"}}),
        "central directory entries 0 and 2 are both named 'a/x'");
    // The name that sorts first is reported, with its two first entries, whether the entries
    // are few (compared pairwise) or many (sorted).
    const std::vector<TorchFile> twice = {{"b", "1"}, {"a", "2"}, {"b", "3"},
                                          {"c", "4"}, {"a", "5"}, {"a", "6"}};
    row("duplicate names, the first by name", torchArchive(twice),
        "central directory entries 1 and 4 are both named 'a'");
    {
        std::vector<TorchFile> many;
        for (int i = 0; i < 30; ++i)
            many.push_back({"z/" + std::to_string(i), "x"});
        many.insert(many.end(), twice.begin(), twice.end());
        row("duplicate names among many", torchArchive(many),
            "central directory entries 31 and 34 are both named 'a'");
    }
    row("compressed", patched({{l.central[4] + 10, 2, 8}}),
        "entry 'archive/data/0' is compressed (method 8); only stored entries are supported");
    row("encrypted", patched({{l.central[4] + 8, 2, 0x0809}}),
        "entry 'archive/data/0' is encrypted (flags 0x0809)");
    row("strong encryption", patched({{l.central[1] + 8, 2, 0x0848}}), "is encrypted");
    row("compressed size differs", patched({{l.central[4] + 20, 4, 41}}),
        "compressed size (41) differs from its size (40)");
    row("placeholder without zip64 extra", patchedPlain(plainCentral[1] + 20, 4, 0xFFFFFFFF),
        "central directory entry 'archive/data/0' holds a ZIP64 placeholder (0xFFFFFFFF), but "
        "has no ZIP64 extra field");
    {
        // zipfile's ZIP64 fixture: entry 2's ZIP64 extra holds only its offset (8 bytes).
        std::string s(FIXTURE(kPythonZip64Records));
        const uint64_t c2 = centralOffsets(s)[2];
        QCOMPARE(get(s, c2 + 42, 4), uint64_t(0xFFFFFFFF));
        set(s, c2 + 24, 4, 0xFFFFFFFF);
        row("zip64 extra too short", s,
            "holds 0xFFFFFFFF for its local header offset, but its ZIP64 extra field (8 bytes) "
            "does not hold it");
    }
    // Up to 3 bytes after the last extra field are padding to zipfile; so here.
    row("stray extra bytes", torchArchive(torchFiles("archive"), {.centralExtra = "abc"}),
        "accepted");
    row("extra field overruns",
        torchArchive(torchFiles("archive"), {.centralExtra = std::string("\x99\x99\x10\x00"
                                                                         "ab",
                                                                         6)}),
        "has an extra field (id 0x9999) of 16 bytes, but only 2 bytes of extra data follow");

    // Local headers
    row("local header signature missing", patched({{l.local[4], 4, 0}}),
        "central directory entry 'archive/data/0' says its local header is at " +
            grouped(l.local[4]) + ", but no local header starts there");
    row("local header offset into the directory",
        patched({{l.central[4] + 42, 4, l.directory - 29}}),
        "which leaves no room for a 30-byte header before the central directory");
    row("local header offset past everything", patched({{l.central[4] + 42, 4, 0xFFFFFFF0}}),
        "which leaves no room");
    row("local name differs", patched({{l.local[4] + 30 + 8, 1, 'D'}}),
        "the local header of 'archive/data/0' at " + grouped(l.local[4]) +
            " names it 'archive/Data/0' instead");
    row("local name longer", patched({{l.local[4] + 26, 2, 15}}), "names it 'archive/data/0F'");
    row("local header runs into the directory", patched({{l.local[6] + 28, 2, 0xFFFF}}),
        "that run past the central directory at " + grouped(l.directory));
    row("local method differs", patched({{l.local[4] + 8, 2, 8}}), "says method 8");
    row("local header encrypted", patched({{l.local[4] + 6, 2, 0x0809}}), "marks it encrypted");
    {
        std::string s = plain;
        set(s, 22, 4, 99); // entry 0's local size, with flag bit 3 clear
        row("local size disagrees", s,
            "the local header of 'archive/data.pkl' at 0 says its size is 99 (compressed 17), but "
            "the central directory says 17");
        row("local size zero, compressed size not", patchedPlain(22, 4, 0), "says its size is 0");
        set(s, 18, 4, 0);
        set(s, 22, 4, 0);
        row("local sizes both zero are ignored", s, "accepted");
    }
    {
        std::string s(FIXTURE(kPythonForcedZip64));
        set(s, 30 + 16 + 4, 8, 18); // entry 0's local ZIP64 size
        row("local zip64 size disagrees", s, "says its size is 18 (compressed 17)");
    }

    // Data placement
    row("overlapping entries",
        patched({{l.central[3] + 20, 4, l.local[4] - l.data[3] + 1},
                 {l.central[3] + 24, 4, l.local[4] - l.data[3] + 1}}),
        "entries 'archive/byteorder' at [" + grouped(l.local[3]) + ", " + grouped(l.local[4] + 1) +
            ") and 'archive/data/0' at [" + grouped(l.local[4]) + ", ");
    // A central directory in another order than the data is sorted by local offset first.
    const TorchOptions reversed{.centralOrder = {6, 5, 4, 3, 2, 1, 0}};
    row("central directory in reverse order", torchArchive(torchFiles("archive"), reversed),
        "accepted");
    {
        Layout r;
        std::string s = torchArchive(torchFiles("archive"), reversed, &r);
        set(s, r.central[3] + 20, 4, r.local[4] - r.data[3] + 1);
        set(s, r.central[3] + 24, 4, r.local[4] - r.data[3] + 1);
        row("overlapping entries, central directory in reverse order", s,
            "entries 'archive/byteorder' at [" + grouped(r.local[3]) + ", " +
                grouped(r.local[4] + 1) + ") and 'archive/data/0' at [" + grouped(r.local[4]) +
                ", ");
    }
    row("same local header twice", patched({{l.central[5] + 42, 4, l.local[4]}}),
        "names it 'archive/data/0' instead");
    row("data runs into the central directory",
        patched({{l.central[6] + 20, 4, l.directory - l.data[6] + 1},
                 {l.central[6] + 24, 4, l.directory - l.data[6] + 1}}),
        "run into the central directory at " + grouped(l.directory));
    row("data size past the archive",
        patched({{l.central[6] + 20, 4, 0xFFFFFFFE}, {l.central[6] + 24, 4, 0xFFFFFFFE}}),
        "its 4,294,967,294 bytes of data at " + grouped(l.data[6]) + " run into");
}

void TestZipReader::rejectsBrokenArchives() {
    QFETCH(QByteArray, archive);
    QFETCH(QString, expected);
    const QString got = rejection(std::string_view(archive.constData(), size_t(archive.size())));
    QVERIFY2(got.contains(expected), qPrintable(got));
    if (expected != "accepted") {
        QVERIFY2(got.startsWith("zip archive: "), qPrintable(got));
        QVERIFY2(got.at(13).isLower() || !got.at(13).isLetter(), qPrintable(got));
    }
}

void TestZipReader::messagesNameRecordAndOffset() {
    // The complete text of the three messages a user meets most.
    QCOMPARE(rejection(std::string(1234, 'x')),
             QString("zip archive: no end-of-central-directory record in the last 65,557 bytes "
                     "of the 1,234-byte item"));
    Layout l;
    const std::string base = torchArchive(torchFiles("archive"), {}, &l);
    std::string s = base;
    set(s, l.local[4], 4, 0);
    QCOMPARE(rejection(s), QString("zip archive: central directory entry 'archive/data/0' says "
                                   "its local header is at %1, but no local header starts there")
                               .arg(grouped(l.local[4])));
    s = base;
    set(s, l.central[4] + 10, 2, 8);
    QCOMPARE(rejection(s), QString("zip archive: entry 'archive/data/0' is compressed (method 8); "
                                   "only stored entries are supported"));
    // The file goes in front, as for every Error.
    try {
        readArchive("");
        QFAIL("accepted an empty archive");
    } catch (const Error& e) {
        QCOMPARE(std::string(e.what()).rfind(kFile + ": zip archive: ", 0), size_t(0));
    }
}

void TestZipReader::everyTruncationThrows() {
    const std::vector<std::string> archives = {
        torchArchive(torchFiles("archive")),
        torchArchive(torchFiles("archive"), {.placeholders = true}),
        std::string(FIXTURE(kPythonPlain)),
        std::string(FIXTURE(kPythonForcedZip64)),
        std::string(FIXTURE(kPythonStreamed)),
        std::string(FIXTURE(kPythonZip64Records)),
    };
    // zipfile's fixtures hold a 22-byte EOCD look-alike (no entries, no comment) in
    // archive/data/0, so the prefix that ends just after it is itself a valid, empty archive.
    const std::string fake = std::string("PK\x05\x06", 4) + std::string(18, '\0');
    for (const std::string& archive : archives) {
        QCOMPARE(rejection(archive), QString("accepted"));
        const size_t validPrefix = archive.find(fake) + fake.size(); // npos + 22 when absent
        for (size_t n = 0; n < archive.size(); ++n) {
            if (n == validPrefix && archive.find(fake) != std::string::npos) {
                QVERIFY(readArchive(std::string_view(archive).substr(0, n)).entries.empty());
                continue;
            }
            const QString got = rejection(std::string_view(archive).substr(0, n));
            QVERIFY2(got.startsWith("zip archive: "),
                     qPrintable(QString("prefix %1: %2").arg(n).arg(got)));
        }
        // Cut at the front instead: the end records survive, the offsets no longer fit.
        for (size_t n = 1; n < archive.size(); ++n) {
            const QString got = rejection(std::string_view(archive).substr(n));
            QVERIFY2(got.startsWith("zip archive: "),
                     qPrintable(QString("suffix from %1: %2").arg(n).arg(got)));
        }
    }
}

void TestZipReader::mutatedArchivesNeverCrash() {
    // Seeded random byte edits of valid archives: every outcome is a directory whose entries lie
    // inside the archive, or a ZipInvalid Error; never a crash or an out-of-range read.
    const std::vector<std::string> archives = {
        torchArchive(torchFiles("archive")),
        torchArchive(torchFiles("archive"), {.placeholders = true}),
        std::string(FIXTURE(kPythonStreamed)),
        std::string(FIXTURE(kPythonZip64Records)),
    };
    uint64_t state = 0x5eed;
    auto next = [&] {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        return state;
    };
    int accepted = 0, rejected = 0;
    for (const std::string& base : archives) {
        for (int i = 0; i < 3000; ++i) {
            std::string bytes = base;
            const int edits = 1 + int(next() % 3);
            for (int e = 0; e < edits; ++e) {
                // Mostly the records (the last 40%), where the edits matter.
                const size_t at = next() % 2 ? bytes.size() - 1 - next() % (bytes.size() * 2 / 5)
                                             : next() % bytes.size();
                static const unsigned char tokens[] = {0x00, 0xFF, 0x01, 0x40, 'P',  'K', 0x05,
                                                       0x06, 0x07, 0x08, 0x03, 0x04, 0x02};
                bytes[at] = next() % 2 ? char(next()) : char(tokens[next() % sizeof tokens]);
            }
            try {
                const ZipDirectory dir = readArchive(bytes);
                ++accepted;
                for (const ZipEntry& e : dir.entries) {
                    QVERIFY(e.dataOffset <= dir.centralDirectoryOffset);
                    QVERIFY(e.size <= dir.centralDirectoryOffset - e.dataOffset);
                }
                QVERIFY(dir.centralDirectoryOffset <= bytes.size());
            } catch (const Error& e) {
                ++rejected;
                QCOMPARE(e.kind(), ErrorKind::ZipInvalid);
            }
        }
    }
    QVERIFY(accepted > 100);  // data and padding edits leave the directory intact
    QVERIFY(rejected > 3000); // record edits do not
}

void TestZipReader::pythonArchiveWithMoreThan65535Entries() {
    // More entries than the classic EOCD can count: zipfile writes 0xFFFF there and the real
    // count in its ZIP64 end record. Too large to embed, so made here when python3 exists.
    const QString python = QStandardPaths::findExecutable("python3");
    if (python.isEmpty()) QSKIP("python3 not found; the embedded fixtures cover the rest");
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath("many.zip");
    QProcess p;
    p.start(python, {"-c",
                     "import sys, zipfile\n"
                     "with zipfile.ZipFile(sys.argv[1], 'w') as z:\n"
                     "    for i in range(65537):\n"
                     "        z.writestr(zipfile.ZipInfo(f'a/{i}', (1980, 1, 1, 0, 0, 0)),"
                     " str(i))\n",
                     path});
    QVERIFY(p.waitForFinished(120'000));
    QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray bytes = f.readAll();
    const std::string_view archive(bytes.constData(), size_t(bytes.size()));
    QCOMPARE(get(archive, archive.size() - 22 + 10, 2), uint64_t(0xFFFF));
    const ZipDirectory zip = readArchive(archive);
    QCOMPARE(zip.entries.size(), size_t(65537));
    QCOMPARE(zip.entries[65536].name, std::string("a/65536"));
    QCOMPARE(dataOf(archive, zip.entries[65536]), std::string_view("65536"));
    QCOMPARE(dataOf(archive, *zip.find("a/40000")), std::string_view("40000"));
}

QTEST_GUILESS_MAIN(TestZipReader)
#include "tst_zip_reader.moc"
