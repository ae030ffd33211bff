#include "checkpoint.h"
#include "error.h"
#include "safetensors_reader.h"
#include "shard_builder.h"

#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

class TestSafetensorsReader : public QObject {
    Q_OBJECT

private slots:
    void rejectsBadFiles_data();
    void rejectsBadFiles();
    void rejectsShortFile();
    void acceptsMetadataAnywhereAndPadding();
    void acceptsEveryDtype();
    void acceptsZeroSizeAndUnknownKeysAndUnicode();
    void readsOnlyTheHeader();
    void mutatedFilesNeverCrash();

private:
    QTemporaryDir m_dir;
    fs::path path(const char* name) { return fs::path(m_dir.path().toStdString()) / name; }
};

static std::string entry(const std::string& name, const std::string& dtype,
                         const std::string& shape, uint64_t b, uint64_t e) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":[" + std::to_string(b) + "," + std::to_string(e) + "]}";
}

void TestSafetensorsReader::rejectsBadFiles_data() {
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<QByteArray>("data");
    QTest::addColumn<qint64>("length");
    QTest::addColumn<QString>("expected");
    auto row = [](const char* tag, const std::string& header, const std::string& data,
                  const char* expected, qint64 length = -1) {
        QTest::newRow(tag) << QByteArray::fromStdString(header) << QByteArray::fromStdString(data)
                           << length << QString(expected);
    };
    const std::string ok = entry("a", "F32", "[2]", 0, 8);
    row("header too long", "{}", "", "exceeds the limit of 100000000", 100'000'001);
    row("header past end", "{}", "", "runs past the end of the file", 4096);
    row("not utf8", "{\"a\xff\":{}}", "", "not valid UTF-8");
    row("overlong utf8", "{\"a\xc0\xaf\":{}}", "", "not valid UTF-8");
    row("not json", "{\"a\": }", "", "not valid JSON");
    row("trailing garbage", "{} x", "", "not valid JSON");
    row("array", "[1,2]", "", "must start with '{'");
    row("leading space", " {}", "", "must start with '{'");
    row("entry not object", "{\"a\":5}", "", "entry must be an object");
    row("missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", std::string(8, 'x'),
        "missing \"dtype\"");
    row("missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", std::string(8, 'x'),
        "missing \"shape\"");
    row("missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "",
        "missing \"data_offsets\"");
    row("dtype not string", "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}",
        std::string(8, 'x'), "dtype must be a string");
    row("shape not array", "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}",
        std::string(8, 'x'), "shape must be an array");
    row("negative shape", "{" + entry("a", "F32", "[-2]", 0, 8) + "}", std::string(8, 'x'),
        "negative number");
    row("fractional shape", "{" + entry("a", "F32", "[2.5]", 0, 8) + "}", std::string(8, 'x'),
        "non-negative integers");
    row("nested shape", "{" + entry("a", "F32", "[[2]]", 0, 8) + "}", std::string(8, 'x'),
        "non-negative integers");
    row("three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}",
        std::string(8, 'x'), "exactly 2");
    row("negative offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-1,8]}}",
        std::string(8, 'x'), "negative number");
    row("unknown dtype", "{" + entry("a", "F128", "[2]", 0, 8) + "}", std::string(8, 'x'),
        "unknown dtype \"F128\"");
    row("lowercase dtype", "{" + entry("a", "f32", "[2]", 0, 8) + "}", std::string(8, 'x'),
        "unknown dtype \"f32\"");
    row("size mismatch", "{" + entry("a", "F32", "[3]", 0, 8) + "}", std::string(8, 'x'),
        "needs 12");
    row("past data end", "{" + entry("a", "F32", "[2]", 0, 8) + "}", std::string(4, 'x'),
        "past the end of the data section");
    row("begin after end", "{" + entry("a", "F32", "[0]", 8, 4) + "}", std::string(8, 'x'),
        "end before they begin");
    row("overlap", "{" + ok + "," + entry("b", "F32", "[2]", 4, 12) + "}", std::string(12, 'x'),
        "overlap");
    row("hole", "{" + ok + "," + entry("b", "F32", "[1]", 12, 16) + "}", std::string(16, 'x'),
        "hole in the data section");
    row("hole at start", "{" + entry("a", "F32", "[1]", 4, 8) + "}", std::string(8, 'x'),
        "hole in the data section");
    row("trailing bytes", "{" + ok + "}", std::string(12, 'x'), "4 trailing bytes");
    row("duplicate name", "{" + ok + "," + entry("a", "F32", "[0]", 8, 8) + "}",
        std::string(8, 'x'), "duplicate tensor name \"a\"");
    row("duplicate key",
        "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
        std::string(8, 'x'), "duplicate key");
    row("metadata value not string", "{\"__metadata__\":{\"k\":1}}", "",
        "must map strings to strings");
    row("metadata not object", "{\"__metadata__\":\"x\"}", "", "__metadata__ must be an object");
    row("bad escape", "{\"a\\q\":{}}", "", "invalid escape");
    row("raw control character", "{\"a\tb\":{}}", "", "control character");
    row("lone surrogate", "{\"a\\ud800\":{}}", "", "unpaired surrogate");
    row("bad hex", "{\"a\\u00zz\":{}}", "", "bad hex digit");
    row("unterminated", "{\"abc", "", "unterminated string");
    row("leading zero", "{" + entry("a", "U8", "[01]", 0, 1) + "}", "x", "not valid JSON");
    row("exponent", "{" + entry("a", "U8", "[1e0]", 0, 1) + "}", "x",
        "non-negative integers, found a fraction");
    row("huge number", "{" + entry("a", "U8", "[99999999999999999999]", 0, 1) + "}", "x",
        "too large");
    row("metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", "",
        "duplicate tensor name \"__metadata__\"");
    row("metadata nested", "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", "",
        "must map strings to strings");
    row("sub-byte partial byte", "{" + entry("a", "F4", "[3]", 0, 2) + "}", std::string(2, 'x'),
        "not a whole number of bytes");
    row("shape overflow", "{" + entry("a", "U8", "[4294967296,4294967296]", 0, 0) + "}", "",
        "overflows");
}

void TestSafetensorsReader::rejectsBadFiles() {
    QFETCH(QByteArray, header);
    QFETCH(QByteArray, data);
    QFETCH(qint64, length);
    QFETCH(QString, expected);
    const fs::path p = path("bad.safetensors");
    writeRaw(p, header.toStdString(), data.toStdString(), length);
    try {
        readSafetensorsHeader(p);
        QFAIL("accepted a broken file");
    } catch (const Error& e) {
        const QString what = QString::fromStdString(e.what());
        QVERIFY2(what.contains(expected), qPrintable(what));
        QVERIFY2(what.contains("bad.safetensors"), qPrintable(what)); // names the file
        QCOMPARE(QString::fromStdString(e.file()), QString::fromStdString(p.string()));
    }
}

void TestSafetensorsReader::rejectsShortFile() {
    for (int size : {0, 3, 7}) {
        const fs::path p = path("short.safetensors");
        std::ofstream(p, std::ios::binary | std::ios::trunc) << std::string(size_t(size), '\0');
        try {
            readSafetensorsHeader(p);
            QFAIL("accepted a short file");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("shorter than the 8-byte header length"), e.what());
        }
    }
}

void TestSafetensorsReader::acceptsMetadataAnywhereAndPadding() {
    const std::string body =
        entry("w", "BF16", "[2,2]", 0, 8) + "," + entry("b", "F32", "[1]", 8, 12);
    for (bool last : {false, true}) {
        std::string header = last ? "{" + body + ",\"__metadata__\":{\"format\":\"pt\"}}"
                                  : "{\"__metadata__\":{\"format\":\"pt\"}," + body + "}";
        header += "       ";
        const fs::path p = path("good.safetensors");
        writeRaw(p, header, std::string(12, 'z'));
        SafetensorsHeader h = readSafetensorsHeader(p);
        QCOMPARE(h.tensors.size(), size_t(2));
        QCOMPARE(h.metadata.at("format"), std::string("pt"));
        QCOMPARE(h.tensors[0].name, std::string("w"));
        QCOMPARE(h.tensors[0].dtype, DType::BF16);
        QCOMPARE(h.tensors[0].shape, (Shape{2, 2}));
        QCOMPARE(h.tensors[1].begin, uint64_t(8));
        QCOMPARE(h.dataStart(), 8 + header.size());
    }
}

void TestSafetensorsReader::acceptsEveryDtype() {
    const char* names[] = {"BOOL",        "U8",          "I8",      "F8_E4M3", "F8_E5M2", "F8_E8M0",
                           "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16",     "U16",     "F16",     "BF16",
                           "I32",         "U32",         "F32",     "I64",     "U64",     "F64",
                           "C64",         "F4",          "F6_E2M3", "F6_E3M2"};
    std::string header = "{";
    uint64_t offset = 0;
    int i = 0;
    for (const char* name : names) {
        const uint64_t bytes = 8 * bitsOf(name) / 8; // 8 elements: whole bytes for every width
        header += std::string(i++ ? "," : "") +
                  entry(std::string("t_") + name, name, "[8]", offset, offset + bytes);
        offset += bytes;
    }
    header += "}";
    const fs::path p = path("dtypes.safetensors");
    writeRaw(p, header, std::string(offset, '\1'));
    SafetensorsHeader h = readSafetensorsHeader(p);
    QCOMPARE(h.tensors.size(), std::size(names));
    for (size_t k = 0; k < h.tensors.size(); ++k) {
        QCOMPARE(std::string(dtypeName(h.tensors[k].dtype)), std::string(names[k]));
        QCOMPARE(dtypeBits(h.tensors[k].dtype), bitsOf(names[k]));
    }
}

void TestSafetensorsReader::acceptsZeroSizeAndUnknownKeysAndUnicode() {
    const std::string header =
        "{\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[0,0]},"
        "\"größe.权重\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1],\"extra\":{\"k\":[1,{"
        "}]}},"
        "\"tail\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[1,1]}}";
    const fs::path p = path("zero.safetensors");
    writeRaw(p, header, "\x07");
    SafetensorsHeader h = readSafetensorsHeader(p);
    QCOMPARE(h.tensors.size(), size_t(3));
    QCOMPARE(h.tensors[1].name, std::string("größe.权重"));
    QVERIFY(h.tensors[1].shape.empty());
    QVERIFY(!h.hasMetadata);

    // Escaped names decode to UTF-8, surrogate pairs included.
    writeRaw(p, R"({"a\u00e9\ud83d\ude00\"q\"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
             "z");
    QCOMPARE(readSafetensorsHeader(p).tensors.front().name, std::string("aé😀\"q\""));

    // A null __metadata__ is "no metadata" to the reference loader too.
    writeRaw(p, R"({"__metadata__":null,"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
             "z");
    SafetensorsHeader nullMeta = readSafetensorsHeader(p);
    QVERIFY(!nullMeta.hasMetadata);
    QCOMPARE(nullMeta.tensors.size(), size_t(1));
}

void TestSafetensorsReader::readsOnlyTheHeader() {
    // A sparse 64 GiB file: reading it whole would take minutes and all memory.
    const fs::path p = path("huge.safetensors");
    const uint64_t big = 64ull << 30;
    const std::string header =
        "{" + entry("big", "U8", "[" + std::to_string(big) + "]", 0, big) + "}";
    writeRaw(p, header, "");
    fs::resize_file(p, 8 + header.size() + big);
    SafetensorsHeader h = readSafetensorsHeader(p);
    QCOMPARE(h.tensors.front().end, big);
    fs::remove(p);
}

void TestSafetensorsReader::mutatedFilesNeverCrash() {
    // A valid DCP shard, then thousands of seeded random byte edits, cuts and splices: every
    // outcome must be a parsed header or shardscope::Error, never a crash or another exception.
    const fs::path dir = fs::path(m_dir.path().toStdString()) / "fuzz";
    fs::create_directories(dir);
    writeShard(dir / "base.safetensors", {{"w", "BF16", {0, 4}, {2, 4}, std::string(16, 'a')},
                                          {"b\u00e9", "F32", {}, {}, std::string(4, 'b')},
                                          {"z", "U8", {0}, {0}, ""}});
    const std::string base = readFile(dir / "base.safetensors");
    uint64_t state = 0x5eed;
    auto next = [&] {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        return state;
    };
    const char tokens[] = "{}[],:\"-0123456789eE.\\ ntfu";
    int parsed = 0, rejected = 0;
    for (int i = 0; i < 4000; ++i) {
        std::string bytes = base;
        const int edits = 1 + int(next() % 4);
        for (int e = 0; e < edits; ++e) {
            const size_t at = 8 + next() % (bytes.size() - 8);
            switch (next() % 4) {
            case 0:
                bytes[at] = tokens[next() % (sizeof tokens - 1)];
                break;
            case 1:
                bytes[at] = char(next());
                break;
            case 2:
                bytes.erase(at, 1 + next() % 8);
                break;
            case 3:
                bytes.insert(at, 1, tokens[next() % (sizeof tokens - 1)]);
                break;
            }
            if (bytes.size() <= 9) bytes = base;
        }
        if (next() % 8 == 0) { // a length prefix that no longer matches
            const uint64_t n = next() % (bytes.size() + 16);
            for (int k = 0; k < 8; ++k)
                bytes[size_t(k)] = char((n >> (8 * k)) & 0xFF);
        }
        const fs::path p = dir / "m.safetensors";
        std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
        try {
            readSafetensorsHeader(p);
            ++parsed;
        } catch (const Error& e) {
            ++rejected;
            QVERIFY(!e.message().empty());
        }
    }
    QVERIFY(rejected > 1000); // the edits do break most files
    QVERIFY(parsed + rejected == 4000);
}

QTEST_GUILESS_MAIN(TestSafetensorsReader)
#include "tst_safetensors_reader.moc"
