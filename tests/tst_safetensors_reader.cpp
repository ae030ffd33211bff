// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "checkpoint.h"
#include "dtype.h"
#include "error.h"
#include "json_cursor.h"
#include "safetensors_reader.h"
#include "shard_builder.h"

#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

class TestSafetensorsReader : public QObject {
    Q_OBJECT

private slots:
    void rejectsBadFiles_data();
    void rejectsBadFiles();
    void rejectsShortFile();
    void dtypeNamesAreExact();
    void rejectsWhatIsNotAFile();
    void nestingStopsAtTheReferenceLimit();
    void jsonStringsDecodeExactly();
    void jsonStringErrorsNameTheirByte();
    void errorKinds();
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

Q_DECLARE_METATYPE(shardscope::ErrorKind)

static std::string nested(char open, size_t depth) {
    std::string out;
    out.reserve(depth * 5);
    for (size_t i = 0; i < depth; ++i)
        out += open == '[' ? "[" : "{\"k\":";
    out += "0";
    for (size_t i = 0; i < depth; ++i)
        out += open == '[' ? ']' : '}';
    return out;
}

// One entry "a" of a U8 [1] whose unknown key "x" holds `value`.
static std::string withExtra(const std::string& value) {
    return "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":" + value + "}}";
}

void TestSafetensorsReader::rejectsBadFiles_data() {
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<QByteArray>("data");
    QTest::addColumn<qint64>("length");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<ErrorKind>("kind");
    QTest::addColumn<QString>("tensor");
    auto row = [](const char* tag, const std::string& header, const std::string& data,
                  const char* expected, ErrorKind kind, const char* tensor = "",
                  qint64 length = -1) {
        QTest::newRow(tag) << QByteArray::fromStdString(header) << QByteArray::fromStdString(data)
                           << length << QString(expected) << kind << QString::fromUtf8(tensor);
    };
    using K = ErrorKind;
    const std::string ok = entry("a", "F32", "[2]", 0, 8);
    const std::string x8(8, 'x');
    row("header too long", "{}", "", "exceeds the limit of 100000000", K::HeaderTooLarge, "",
        100'000'001);
    row("header past end", "{}", "", "runs past the end of the file", K::InvalidHeaderLength, "",
        4096);
    row("not utf8", "{\"a\xff\":{}}", "", "not valid UTF-8", K::InvalidUtf8);
    row("overlong utf8", "{\"a\xc0\xaf\":{}}", "", "not valid UTF-8", K::InvalidUtf8);
    row("not json", "{\"a\": }", "", "not valid JSON", K::JsonSyntax);
    row("trailing garbage", "{} x", "", "not valid JSON", K::JsonSyntax);
    row("array", "[1,2]", "", "must start with '{'", K::InvalidHeaderStart);
    row("leading space", " {}", "", "must start with '{'", K::InvalidHeaderStart);
    row("empty header", "", "", "must start with '{'", K::InvalidHeaderStart);
    row("entry not object", "{\"a\":5}", "", "entry must be an object", K::InvalidHeaderField, "a");
    row("missing dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", x8, "missing \"dtype\"",
        K::MissingField, "a");
    row("missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", x8,
        "missing \"shape\"", K::MissingField, "a");
    row("missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "",
        "missing \"data_offsets\"", K::MissingField, "a");
    row("dtype not string", "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", x8,
        "dtype must be a string", K::InvalidHeaderField, "a");
    row("shape not array", "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", x8,
        "shape must be an array", K::InvalidHeaderField, "a");
    row("negative shape", "{" + entry("a", "F32", "[-2]", 0, 8) + "}", x8,
        "shape holds a negative number (-2)", K::NegativeNumber, "a");
    row("fractional shape", "{" + entry("a", "F32", "[2.5]", 0, 8) + "}", x8,
        "non-negative integers", K::NotAnInteger, "a");
    row("nested shape", "{" + entry("a", "F32", "[[2]]", 0, 8) + "}", x8, "non-negative integers",
        K::NotAnInteger, "a");
    row("string in shape", "{" + entry("a", "F32", "[\"2\"]", 0, 8) + "}", x8,
        "non-negative integers, found a string", K::NotAnInteger, "a");
    row("three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", x8,
        "exactly 2", K::InvalidHeaderField, "a");
    row("negative offset", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-1,8]}}", x8,
        "data_offsets holds a negative number (-1)", K::NegativeNumber, "a");
    row("unknown dtype", "{" + entry("a", "F128", "[2]", 0, 8) + "}", x8, "unknown dtype \"F128\"",
        K::UnknownDtype, "a");
    row("lowercase dtype", "{" + entry("a", "f32", "[2]", 0, 8) + "}", x8, "unknown dtype \"f32\"",
        K::UnknownDtype, "a");
    row("size mismatch", "{" + entry("a", "F32", "[3]", 0, 8) + "}", x8, "needs 12",
        K::TensorSizeMismatch, "a");
    row("past data end", "{" + entry("a", "F32", "[2]", 0, 8) + "}", std::string(4, 'x'),
        "past the end of the data section", K::OffsetsOutOfBounds, "a");
    row("begin after end", "{" + entry("a", "F32", "[0]", 8, 4) + "}", x8, "end before they begin",
        K::InvalidOffsets, "a");
    row("overlap", "{" + ok + "," + entry("b", "F32", "[2]", 4, 12) + "}", std::string(12, 'x'),
        "overlap", K::DataOverlap, "b");
    row("hole", "{" + ok + "," + entry("b", "F32", "[1]", 12, 16) + "}", std::string(16, 'x'),
        "hole in the data section", K::DataHole, "b");
    row("hole at start", "{" + entry("a", "F32", "[1]", 4, 8) + "}", x8, "hole in the data section",
        K::DataHole, "a");
    row("trailing bytes", "{" + ok + "}", std::string(12, 'x'), "4 trailing bytes",
        K::MetadataIncompleteBuffer);
    row("duplicate name", "{" + ok + "," + entry("a", "F32", "[0]", 8, 8) + "}", x8,
        "duplicate tensor name \"a\"", K::DuplicateTensorName, "a");
    row("duplicate key",
        "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", x8,
        "duplicate key \"dtype\"", K::DuplicateKey, "a");
    row("metadata value not string", "{\"__metadata__\":{\"k\":1}}", "",
        "must map strings to strings", K::InvalidHeaderField);
    row("metadata not object", "{\"__metadata__\":\"x\"}", "", "__metadata__ must be an object",
        K::InvalidHeaderField);
    row("bad escape", "{\"a\\q\":{}}", "", "invalid escape", K::JsonSyntax);
    row("raw control character", "{\"a\tb\":{}}", "", "control character", K::JsonSyntax);
    row("lone surrogate", "{\"a\\ud800\":{}}", "", "unpaired surrogate", K::JsonSyntax);
    row("bad hex", "{\"a\\u00zz\":{}}", "", "bad hex digit", K::JsonSyntax);
    row("unterminated", "{\"abc", "", "unterminated string", K::JsonSyntax);
    row("leading zero", "{" + entry("a", "U8", "[01]", 0, 1) + "}", "x", "not valid JSON",
        K::JsonSyntax);
    row("exponent", "{" + entry("a", "U8", "[1e0]", 0, 1) + "}", "x",
        "non-negative integers, found a fraction", K::NotAnInteger, "a");
    row("huge number", "{" + entry("a", "U8", "[99999999999999999999]", 0, 1) + "}", "x",
        "shape holds 99999999999999999999, too large", K::NumberOverflow, "a");
    row("metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", "",
        "duplicate tensor name \"__metadata__\"", K::DuplicateTensorName);
    row("metadata nested", "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", "",
        "must map strings to strings", K::InvalidHeaderField);
    row("sub-byte partial byte", "{" + entry("a", "F4", "[3]", 0, 2) + "}", std::string(2, 'x'),
        "not a whole number of bytes", K::MisalignedSlice, "a");
    row("shape overflow", "{" + entry("a", "U8", "[4294967296,4294967296]", 0, 0) + "}", "",
        "overflows", K::InvalidShape, "a");
    // 2^61 F32 elements are 2^63 bytes (2^66 bits): a size that fits, not "not a whole number".
    row("bytes fit, bits do not", "{" + entry("a", "F32", "[2305843009213693952]", 0, 8) + "}", x8,
        "data_offsets span 8 bytes but shape [2305843009213693952] of F32 needs "
        "9223372036854775808",
        K::TensorSizeMismatch, "a");
    row("bytes overflow", "{" + entry("a", "F64", "[2305843009213693952]", 0, 8) + "}", x8,
        "shape [2305843009213693952] of F64 needs 2^64 bytes or more", K::InvalidShape, "a");
    row("packed bytes fit", "{" + entry("a", "F6_E2M3", "[18446744073709551612]", 0, 8) + "}", x8,
        "needs 13835058055282163709", K::TensorSizeMismatch, "a");
    row("nibbles fit", "{" + entry("a", "F4", "[18446744073709551614]", 0, 8) + "}", x8,
        "needs 9223372036854775807", K::TensorSizeMismatch, "a");

    // As strict as the reference loader (serde_json reads -0 as a float, not an integer).
    row("negative zero in shape", "{" + entry("a", "U8", "[-0]", 0, 0) + "}", "", "shape holds -0",
        K::NegativeZero, "a");
    row("negative zero begin", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[-0,0]}}",
        "", "data_offsets holds -0", K::NegativeZero, "a");
    row("negative zero end", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,-0]}}", "",
        "data_offsets holds -0", K::NegativeZero, "a");
    row("negative zero fraction", "{" + entry("a", "U8", "[-0.0]", 0, 0) + "}", "",
        "found a fraction (-0.0)", K::NotAnInteger, "a");
    // Negative numbers past int64 are reported as written, never as a wrapped magnitude.
    row("negative past int64", "{" + entry("a", "U8", "[-18446744073709551617]", 0, 0) + "}", "",
        "shape holds a negative number (-18446744073709551617)", K::NegativeNumber, "a");
    row("negative 2^64", "{" + entry("a", "U8", "[-18446744073709551616]", 0, 0) + "}", "",
        "negative number (-18446744073709551616)", K::NegativeNumber, "a");
    row("negative int64 min",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[-9223372036854775808,0]}}", "",
        "negative number (-9223372036854775808)", K::NegativeNumber, "a");
    row("offset past u64",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,"
        "18446744073709551616]}}",
        "", "data_offsets holds 18446744073709551616, too large", K::NumberOverflow, "a");
    row("offset u64 max",
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,18446744073709551615]}}", "",
        "data_offsets end at 18446744073709551615", K::OffsetsOutOfBounds, "a");
    row("duplicate metadata key", "{\"__metadata__\":{\"k\":\"a\",\"j\":\"b\",\"k\":\"a\"}}", "",
        "duplicate key \"k\" in __metadata__", K::DuplicateKey);
    // serde_json's recursion limit, not the stack, bounds nesting.
    row("deep arrays", withExtra(std::string(100'000, '[')), "x", "recursion limit",
        K::NestingTooDeep);
    row("deep closed arrays", withExtra(nested('[', 100'000)), "x", "recursion limit",
        K::NestingTooDeep);
    row("deep objects", withExtra(nested('{', 100'000)), "x", "recursion limit", K::NestingTooDeep);
    row("deep in metadata", "{\"__metadata__\":" + nested('[', 100'000) + "}", "",
        "__metadata__ must be an object", K::InvalidHeaderField);
}

void TestSafetensorsReader::rejectsBadFiles() {
    QFETCH(QByteArray, header);
    QFETCH(QByteArray, data);
    QFETCH(qint64, length);
    QFETCH(QString, expected);
    QFETCH(ErrorKind, kind);
    QFETCH(QString, tensor);
    const fs::path p = path("bad.safetensors");
    writeRaw(p, header.toStdString(), data.toStdString(), length);
    try {
        readSafetensorsHeader(p);
        QFAIL("accepted a broken file");
    } catch (const Error& e) {
        const QString what = QString::fromStdString(e.what());
        QCOMPARE(errorKindName(e.kind()), errorKindName(kind));
        QVERIFY2(what.contains(expected), qPrintable(what));
        QVERIFY2(what.contains("bad.safetensors"), qPrintable(what)); // names the file
        QCOMPARE(QString::fromStdString(e.file()), QString::fromStdString(p.string()));
        QCOMPARE(QString::fromStdString(e.tensor()), tensor);
        if (!tensor.isEmpty()) QVERIFY2(what.contains("tensor '" + tensor + "'"), qPrintable(what));
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
            QCOMPARE(e.kind(), ErrorKind::HeaderTooSmall);
            QVERIFY2(QString(e.what()).contains("shorter than the 8-byte header length"), e.what());
        }
    }
}

void TestSafetensorsReader::rejectsWhatIsNotAFile() {
    const fs::path dir = path("dir.safetensors");
    fs::create_directories(dir);
    try {
        readSafetensorsHeader(dir);
        QFAIL("read a directory");
    } catch (const Error& e) {
        QCOMPARE(e.kind(), ErrorKind::NotRegularFile);
        QCOMPARE(e.file(), dir.string());
    }
    try {
        readSafetensorsHeader(path("missing.safetensors"));
        QFAIL("read a missing file");
    } catch (const Error& e) {
        QCOMPARE(e.kind(), ErrorKind::Io);
        QVERIFY2(QString(e.what()).contains("missing.safetensors"), e.what());
    }
}

void TestSafetensorsReader::nestingStopsAtTheReferenceLimit() {
    // serde_json parses 127 nested arrays or objects and refuses the 128th.
    for (char open : {'[', '{'}) {
        const std::string fits = nested(open, 127), tooDeep = nested(open, 128);
        JsonCursor ok(fits);
        ok.skipValue();
        QVERIFY(ok.atEnd());
        JsonCursor cur(tooDeep);
        try {
            cur.skipValue();
            QFAIL("accepted 128 levels");
        } catch (const JsonError& e) {
            QCOMPARE(e.kind(), ErrorKind::NestingTooDeep);
            QCOMPARE(e.position(), open == '[' ? size_t(127) : size_t(127 * 5));
        }
    }
    // In a header the top object and the entry are two of those levels.
    const fs::path p = path("deep.safetensors");
    writeRaw(p, withExtra(nested('[', 125)), "x");
    QCOMPARE(readSafetensorsHeader(p).tensors.size(), size_t(1));
    writeRaw(p, withExtra(nested('[', 126)), "x");
    try {
        readSafetensorsHeader(p);
        QFAIL("accepted 128 levels in a header");
    } catch (const Error& e) {
        QCOMPARE(e.kind(), ErrorKind::NestingTooDeep);
    }
    // 100,000 levels: a clean error, not a stack overflow.
    const std::string brackets(100'000, '[');
    JsonCursor deep(brackets);
    try {
        deep.skipValue();
        QFAIL("accepted 100,000 levels");
    } catch (const JsonError& e) {
        QCOMPARE(e.kind(), ErrorKind::NestingTooDeep);
    }
}

namespace {

// A JSON string's pieces as written and as decoded, per the JSON grammar (RFC 8259).
struct StringPiece {
    std::string written, decoded;
};

std::vector<StringPiece> stringPieces() {
    return {{"\\\"", "\""},
            {"\\\\", "\\"},
            {"\\/", "/"},
            {"\\b", "\b"},
            {"\\f", "\f"},
            {"\\n", "\n"},
            {"\\r", "\r"},
            {"\\t", "\t"},
            {"\\u0041", "A"},
            {"\\u0000", std::string(1, '\0')},
            {"\\u00e9", "\xC3\xA9"},
            {"\\u20AC", "\xE2\x82\xAC"},
            {"\\uD83D\\uDE00", "\xF0\x9F\x98\x80"},
            {"\xC3\xA9", "\xC3\xA9"},
            {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},
            {"\x7F", "\x7F"}};
}

} // namespace

// Strings of every length and alignment, plain or with any escape anywhere: the decoded text and
// the position after the closing quote are exactly what the grammar says.
void TestSafetensorsReader::jsonStringsDecodeExactly() {
    const std::vector<StringPiece> pieces = stringPieces();
    std::mt19937 random(20261128);
    const std::string plain = "abcdefghijklmnopqrstuvwxyz.0123456789_ ABC:{}[],";
    for (int round = 0; round < 4000; ++round) {
        std::string written, decoded;
        const int parts = int(random() % 8);
        for (int k = 0; k < parts; ++k) {
            if (random() % 2) {
                const size_t n = random() % 40;
                for (size_t c = 0; c < n; ++c) {
                    const char ch = plain[random() % plain.size()];
                    written += ch;
                    decoded += ch;
                }
            } else {
                const StringPiece& p = pieces[random() % pieces.size()];
                written += p.written;
                decoded += p.decoded;
            }
        }
        const size_t lead = random() % 32; // the string starts at every alignment
        const std::string after = round % 3 == 0 ? "" : round % 3 == 1 ? "," : ",\"next\"]";
        const std::string text = std::string(lead, ' ') + "\"" + written + "\"" + after;
        JsonCursor cur(text);
        std::string scratch;
        const std::string_view got = cur.string(scratch);
        QVERIFY2(got == decoded, qPrintable(QString::fromStdString(text)));
        QCOMPARE(cur.position(), lead + written.size() + 2);
    }
}

// Each bad string is refused at the byte the message is about, wherever it sits in a long string.
void TestSafetensorsReader::jsonStringErrorsNameTheirByte() {
    struct Bad {
        std::string tail;  // after the opening quote and `pad` plain bytes
        size_t at;         // expected position, relative to the start of the tail
        const char* words; // in the message
    };
    const std::vector<Bad> cases = {
        {"abc", 3, "unterminated string"},         {"ab\\", 3, "unterminated string"},
        {"ab\\\"", 4, "unterminated string"},      {"a\x01z\"", 1, "control character"},
        {"a\\n\x1F\"", 3, "control character"},    {"ab\\x\"", 3, "invalid escape \\x"},
        {"ab\\u12", 4, "truncated \\u escape"},    {"ab\\u12G4\"", 6, "bad hex digit"},
        {"ab\\uD83Dx\"", 8, "unpaired surrogate"}, {"ab\\uD83D\\u0041\"", 8, "unpaired surrogate"},
        {"ab\\uDE00\"", 8, "unpaired surrogate"},
    };
    for (const Bad& bad : cases)
        for (size_t pad : {0, 1, 7, 8, 15, 16, 17, 31, 40}) {
            for (bool escapedFirst : {false, true}) {
                // With an escape before the bad byte, the error comes from the decoding path.
                const std::string prefix =
                    escapedFirst ? "\\t" + std::string(pad, 'p') : std::string(pad, 'p');
                const std::string text = "\"" + prefix + bad.tail;
                JsonCursor cur(text);
                std::string scratch;
                try {
                    cur.string(scratch);
                    QFAIL(qPrintable(QString::fromStdString("accepted: " + text)));
                } catch (const JsonError& e) {
                    QVERIFY2(std::string(e.what()).find(bad.words) != std::string::npos, e.what());
                    QCOMPARE(e.position(), 1 + prefix.size() + bad.at);
                }
            }
        }
}

void TestSafetensorsReader::errorKinds() {
    // The form without a kind stays for callers not yet converted.
    const Error plain("f", "t", "m");
    QCOMPARE(plain.kind(), ErrorKind::Other);
    QCOMPARE(std::string(plain.what()), std::string("f: tensor 't': m"));
    const Error kinded(ErrorKind::NoSpace, "f", "", "full");
    QCOMPARE(kinded.kind(), ErrorKind::NoSpace);
    QCOMPARE(std::string(kinded.what()), std::string("f: full"));
    const Problem problem{Severity::Warning, "f", "t", "m"};
    QCOMPARE(problem.kind, ErrorKind::Other);
    QCOMPARE(std::string(errorKindName(ErrorKind::NestingTooDeep)), std::string("NestingTooDeep"));
    std::set<std::string> names;
    for (int k = int(ErrorKind::Other); k <= int(ErrorKind::Usage); ++k) {
        const std::string name = errorKindName(ErrorKind(k));
        QVERIFY2(name != "?", qPrintable(QString::number(k)));
        QVERIFY2(names.insert(name).second, name.c_str());
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

// Every dtype name the format lists, and nothing near it: case, padding, a NUL, a prefix.
void TestSafetensorsReader::dtypeNamesAreExact() {
    const std::vector<std::pair<std::string, DType>> names = {{"BOOL", DType::BOOL},
                                                              {"U8", DType::U8},
                                                              {"I8", DType::I8},
                                                              {"F8_E4M3", DType::F8_E4M3},
                                                              {"F8_E5M2", DType::F8_E5M2},
                                                              {"F8_E8M0", DType::F8_E8M0},
                                                              {"F8_E4M3FNUZ", DType::F8_E4M3FNUZ},
                                                              {"F8_E5M2FNUZ", DType::F8_E5M2FNUZ},
                                                              {"I16", DType::I16},
                                                              {"U16", DType::U16},
                                                              {"F16", DType::F16},
                                                              {"BF16", DType::BF16},
                                                              {"I32", DType::I32},
                                                              {"U32", DType::U32},
                                                              {"F32", DType::F32},
                                                              {"I64", DType::I64},
                                                              {"U64", DType::U64},
                                                              {"F64", DType::F64},
                                                              {"C64", DType::C64},
                                                              {"F4", DType::F4},
                                                              {"F6_E2M3", DType::F6_E2M3},
                                                              {"F6_E3M2", DType::F6_E3M2}};
    for (const auto& [name, type] : names) {
        QVERIFY2(parseDType(name) == type, name.c_str());
        QCOMPARE(std::string(dtypeName(type)), name);
    }
    for (const std::string& bad :
         {std::string("f32"), std::string("F32 "), std::string(" F32"), std::string("F32\0", 4),
          std::string("F3"), std::string(""), std::string("F8_E4M3FNUZX"),
          std::string("F8_E4M3FNUZ_LONGER_THAN_16"), std::string("BF16\0\0\0\0\0\0\0\0", 12)})
        QVERIFY2(!parseDType(bad), bad.c_str());
}

QTEST_GUILESS_MAIN(TestSafetensorsReader)
#include "tst_safetensors_reader.moc"
