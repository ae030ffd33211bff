// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "shard_builder.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

using namespace testing;
namespace fs = std::filesystem;

// QCOMPARE on names and bytes: text as it is, anything else in hex.
namespace QTest {
template <> inline char* toString(const std::string& s) {
    const bool text = std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7F; });
    const QByteArray b = QByteArray::fromStdString(s);
    return qstrdup(text ? b.constData() : ("0x" + b.toHex()).constData());
}
template <> inline char* toString(const std::set<std::string>& names) {
    std::string all;
    for (const auto& n : names)
        all += (all.empty() ? "" : ", ") + n;
    return qstrdup(all.c_str());
}
} // namespace QTest

// `consolidate` with --cast, --rename, --include/--exclude and --drop-tied, as users run it: a
// separate process on checkpoints written byte by byte (shard_builder), judged by the bytes it
// publishes. Every expected byte and name is computed here: the conversions by a reference
// converter made of integer arithmetic on IEEE fields (checked against the compiler's own
// conversions), the names by hand. Nothing of the core is called.
class TestExportCli : public QObject {
    Q_OBJECT

private slots:
    void init();

    void referenceConverterSelfCheck();
    void plainExportUnchanged();

    void castMatrix_data();
    void castMatrix();
    void castTargetSpellings();
    void castInvalidTargetIsUsageError_data();
    void castInvalidTargetIsUsageError();
    void castWarnsPerTensorWithCounts();
    void castLeavesIntegerBoolAndFp8Alone();
    void castLargeBlockSplitTensors();
    void castKeepPatterns();
    void castKeepDefaultList();
    void castKeepUnmatchedPatternWarns();
    void strictCastOverflowPublishesNothing();
    void strictCastKeepsPreviousExport();
    void strictCastAllowsUnderflowAndKeptTensors();
    void verifyFailsAfterCorruptingCastTensor();

    void renameCaptures();
    void renameEveryMatchAndOrder();
    void stripPrefix();
    void stripPrefixAndRenameOrder();
    void stripWrappers();
    void renameFileList();
    void renameFileMap();
    void renameFileInCommandLineOrder();
    void renameMappingStaysKeyedBySourceNames();
    void renameCollisionFails();
    void renameToEmptyNameFails();
    void invalidRegexIsUsageError_data();
    void invalidRegexIsUsageError();

    void excludeRemovesFromFilesAndIndex();
    void includeThenExclude();
    void excludeThenInclude();
    void selectionMatchesSourceOrExportedName();
    void excludingEverythingFails();

    void configDtypeRewrittenOriginalUnchanged();
    void configWithoutDtypeKey();
    void configCopiedVerbatimWithoutCast();
    void dropTiedDropsIdenticalLmHead();
    void dropTiedKeepsDifferentLmHead();

private:
    using Result = CliResult; // code -1: did not finish, -2: died
    Result cli(const QStringList& args) { return runCli(args, m_tmp->path(), 60000); }
    // consolidate IN OUT <options>
    Result consolidate(const char* in, const char* out, const QStringList& options) {
        return cli(QStringList{"consolidate", path(in), path(out)} + options);
    }
    Result verify(const char* out, const char* in) {
        return cli({"verify", path(out), "--against", path(in)});
    }
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString path(const char* name) const { return m_tmp->filePath(name); }
    fs::path fsPath(const char* name) const { return path(name).toStdString(); }
};

#define EXPECT_EXIT(result, expected)                                                          \
    QVERIFY2((result).code == (expected),                                                      \
             qPrintable(QString("exit code %1, expected %2\nstderr: %3\nstdout: %4")            \
                            .arg((result).code)                                                \
                            .arg(expected)                                                     \
                            .arg((result).err, (result).out)))

namespace {

// ---- bytes ------------------------------------------------------------------------------

std::string le(uint64_t v, int width) {
    std::string out;
    for (int i = 0; i < width; ++i)
        out += char((v >> (8 * i)) & 0xFF);
    return out;
}

std::string words(const std::vector<uint64_t>& values, int width) {
    std::string out;
    for (uint64_t v : values)
        out += le(v, width);
    return out;
}

uint64_t wordAt(const std::string& bytes, size_t index, int width) {
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i)
        v = (v << 8) | uint8_t(bytes[index * size_t(width) + size_t(i)]);
    return v;
}

uint64_t f32b(float v) { return std::bit_cast<uint32_t>(v); }
uint64_t f64b(double v) { return std::bit_cast<uint64_t>(v); }

// ---- the reference converter ------------------------------------------------------------

struct Fmt {
    int e = 0, m = 0; // exponent and stored mantissa bits
};

bool isFloat(const std::string& dtype) {
    return dtype == "F64" || dtype == "F32" || dtype == "F16" || dtype == "BF16";
}

Fmt fmtOf(const std::string& dtype) {
    if (dtype == "F64") return {11, 52};
    if (dtype == "F32") return {8, 23};
    if (dtype == "F16") return {5, 10};
    if (dtype == "BF16") return {8, 7};
    throw std::runtime_error("test bug: not a float dtype " + dtype);
}

int widthOf(const std::string& dtype) { return int(bitsOf(dtype) / 8); }

uint64_t mask(int bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }

struct Cast {
    uint64_t bits = 0;
    bool overflow = false;  // finite source, infinite result
    bool underflow = false; // nonzero source, zero result
};

// One IEEE binary value from format s to format t: round to nearest, ties to even, from the
// exact source value |v| = M * 2^E (integers); NaN quiet with the payload's top bits kept.
Cast refCast(uint64_t bits, Fmt s, Fmt t) {
    const uint64_t sMan = bits & mask(s.m);
    const uint64_t sExp = (bits >> s.m) & mask(s.e);
    const uint64_t sign = ((bits >> (s.e + s.m)) & 1) << (t.e + t.m);
    const uint64_t infinity = mask(t.e) << t.m;
    if (sExp == mask(s.e)) {
        if (sMan == 0) return {sign | infinity};
        const uint64_t payload = t.m >= s.m ? sMan << (t.m - s.m) : sMan >> (s.m - t.m);
        return {sign | infinity | payload | (1ull << (t.m - 1))};
    }
    if (sExp == 0 && sMan == 0) return {sign};
    const int sBias = (1 << (s.e - 1)) - 1;
    uint64_t M = 0;
    int E = 0;
    if (sExp == 0) {
        M = sMan;
        E = 1 - sBias - s.m;
    } else {
        M = sMan | (1ull << s.m);
        E = int(sExp) - sBias - s.m;
    }
    const int x = E + int(std::bit_width(M)) - 1; // 2^x <= |v| < 2^(x+1)
    const int tBias = (1 << (t.e - 1)) - 1, tEmin = 1 - tBias;
    int e = std::max(x, tEmin);
    const int shift = E - (e - t.m); // |v| / quantum = M * 2^shift
    uint64_t N = 0;
    if (shift >= 0) {
        N = M << shift;
    } else if (-shift < 64) {
        const int k = -shift;
        N = M >> k;
        const uint64_t rest = M & mask(k), half = 1ull << (k - 1);
        if (rest > half || (rest == half && (N & 1))) ++N;
    } // else: below half the smallest quantum, N = 0
    if (N == (1ull << (t.m + 1))) { // rounded up into the next binade
        N >>= 1;
        ++e;
    }
    if (N == 0) return {sign, false, true};
    if (N >= (1ull << t.m)) {
        const int64_t biased = int64_t(e) + tBias;
        if (biased >= int64_t(mask(t.e))) return {sign | infinity, true, false};
        return {sign | (uint64_t(biased) << t.m) | (N - (1ull << t.m))};
    }
    return {sign | N}; // subnormal of the target
}

Cast refCast(uint64_t bits, const std::string& from, const std::string& to) {
    return refCast(bits, fmtOf(from), fmtOf(to));
}

bool isNaN(uint64_t bits, Fmt f) {
    return ((bits >> f.m) & mask(f.e)) == mask(f.e) && (bits & mask(f.m)) != 0;
}

// ---- checkpoints ------------------------------------------------------------------------

struct Tensor {
    std::string fqn;
    std::string dtype;
    Dims shape;
    std::string bytes; // the whole tensor, row-major
    std::vector<std::pair<Dims, Dims>> chunks = {}; // (offsets, shape); chunk i in file i
};

std::string rankFile(int rank) {
    char name[64];
    std::snprintf(name, sizeof name, "shard-%05d-model-00001-of-00001.safetensors", rank + 1);
    return name;
}

// Rank files; a tensor with chunks of its own has chunk i in file i, else one with at least two
// rows is split by rows over the first two (so the export must assemble chunks), anything else
// is whole in the first.
void writeCk(const fs::path& dir, const std::vector<Tensor>& tensors) {
    fs::create_directories(dir);
    size_t ranks = 2;
    for (const auto& t : tensors)
        ranks = std::max(ranks, t.chunks.size());
    std::vector<std::vector<TestChunk>> files(ranks);
    for (const auto& t : tensors) {
        const unsigned w = bitsOf(t.dtype) / 8;
        if (t.bytes.size() != numel(t.shape) * w)
            throw std::runtime_error("test bug: wrong byte count for " + t.fqn);
        if (!t.chunks.empty()) {
            for (size_t i = 0; i < t.chunks.size(); ++i) {
                const auto& [off, sh] = t.chunks[i];
                files[i].push_back({t.fqn, t.dtype, off, sh, slice(t.bytes, t.shape, off, sh, w)});
            }
        } else if (!t.shape.empty() && t.shape[0] >= 2) {
            const auto parts = splitDim(t.shape, 0, 2);
            for (size_t i = 0; i < 2; ++i)
                files[i].push_back({t.fqn, t.dtype, parts[i].first, parts[i].second,
                                    slice(t.bytes, t.shape, parts[i].first, parts[i].second, w)});
        } else {
            files[0].push_back({t.fqn, t.dtype, Dims(t.shape.size(), 0), t.shape, t.bytes});
        }
    }
    for (size_t r = 0; r < ranks; ++r)
        writeShard(dir / rankFile(int(r)), files[r]);
}

Tensor patterned(const std::string& fqn, const std::string& dtype, const Dims& shape) {
    return {fqn, dtype, shape, pattern(fqn, numel(shape) * bitsOf(dtype) / 8)};
}

// F32 tensor of ordinary finite values (nothing overflows or underflows in any target).
Tensor plainF32(const std::string& fqn, const Dims& shape, float start = 0.5f) {
    std::vector<uint64_t> v;
    for (uint64_t i = 0; i < numel(shape); ++i)
        v.push_back(f32b(start + 0.25f * float(i)));
    return {fqn, "F32", shape, words(v, 4)};
}

void writeText(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

// ---- reading what was published ---------------------------------------------------------

struct Out {
    std::string file, dtype;
    Dims shape;
    std::string bytes;
    uint64_t fileOffset = 0; // where the bytes start in the file
};

struct Published {
    QJsonObject index;
    std::map<std::string, Out> tensors; // from the headers of every model-*.safetensors file
    QStringList problems;               // layout and index inconsistencies
};

// Reads every model-*.safetensors in dir itself (not only those the index names) and checks
// what the spec guarantees: sizes = numel x element size, tensors back to back from offset 0 to
// the end of the file, the index naming exactly these tensors in these files, total_size = sum.
Published readPublished(const fs::path& dir) {
    Published p;
    auto problem = [&](const std::string& text) { p.problems << QString::fromStdString(text); };
    const std::string indexText = readFile(dir / "model.safetensors.index.json");
    QJsonParseError error;
    p.index = QJsonDocument::fromJson(QByteArray::fromStdString(indexText), &error).object();
    if (error.error != QJsonParseError::NoError) problem("index is not valid JSON");
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        problem("no output directory");
        return p;
    }
    uint64_t sum = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("model-", 0) != 0 || entry.path().extension() != ".safetensors") continue;
        const std::string bytes = readFile(entry.path());
        if (bytes.size() < 8) {
            problem(name + ": too short");
            continue;
        }
        const uint64_t n = wordAt(bytes, 0, 8);
        if (8 + n > bytes.size()) {
            problem(name + ": header length past the end");
            continue;
        }
        const QJsonObject header =
            QJsonDocument::fromJson(QByteArray::fromStdString(bytes.substr(8, n))).object();
        const uint64_t dataSize = bytes.size() - 8 - n;
        std::vector<std::pair<uint64_t, uint64_t>> spans;
        for (auto h = header.begin(); h != header.end(); ++h) {
            if (h.key() == "__metadata__") continue;
            const std::string fqn = h.key().toStdString();
            const QJsonObject e = h.value().toObject();
            Out t;
            t.file = name;
            t.dtype = e.value("dtype").toString().toStdString();
            for (const auto& d : e.value("shape").toArray())
                t.shape.push_back(uint64_t(d.toInteger()));
            const QJsonArray offs = e.value("data_offsets").toArray();
            const uint64_t b = uint64_t(offs.at(0).toInteger()),
                           en = uint64_t(offs.at(1).toInteger());
            if (b > en || en > dataSize) {
                problem(name + ": " + fqn + ": offsets outside the data section");
                continue;
            }
            uint64_t elementBits = 0;
            try {
                elementBits = bitsOf(t.dtype);
            } catch (...) {
                problem(name + ": " + fqn + ": unknown dtype " + t.dtype);
            }
            if (en - b != numel(t.shape) * elementBits / 8)
                problem(name + ": " + fqn + ": " + std::to_string(en - b) +
                        " bytes for numel x element size " +
                        std::to_string(numel(t.shape) * elementBits / 8));
            t.bytes = bytes.substr(8 + n + b, en - b);
            t.fileOffset = 8 + n + b;
            spans.push_back({b, en});
            sum += en - b;
            if (p.tensors.count(fqn)) problem(fqn + " is in two files");
            p.tensors[fqn] = t;
        }
        std::sort(spans.begin(), spans.end());
        uint64_t at = 0;
        for (const auto& [b, en] : spans) {
            if (b != at) problem(name + ": tensors not back to back at offset " + std::to_string(b));
            at = en;
        }
        if (at != dataSize) problem(name + ": data section does not end with the last tensor");
    }
    const QJsonObject weightMap = p.index.value("weight_map").toObject();
    for (auto it = weightMap.begin(); it != weightMap.end(); ++it) {
        const auto t = p.tensors.find(it.key().toStdString());
        if (t == p.tensors.end())
            problem("index names " + it.key().toStdString() + ", which no file holds");
        else if (t->second.file != it.value().toString().toStdString())
            problem("index puts " + it.key().toStdString() + " in " +
                    it.value().toString().toStdString() + ", it is in " + t->second.file);
    }
    for (const auto& [fqn, t] : p.tensors)
        if (!weightMap.contains(QString::fromStdString(fqn)))
            problem(t.file + " holds " + fqn + ", which the index does not name");
    const uint64_t total =
        uint64_t(p.index.value("metadata").toObject().value("total_size").toInteger());
    if (total != sum)
        problem("index total_size " + std::to_string(total) + ", tensors' bytes " +
                std::to_string(sum));
    return p;
}

// The tensor of that name, or one with dtype "<missing>" (no exception mid-test).
const Out& get(const Published& p, const std::string& name) {
    static const Out missing{"", "<missing>", {}, "", 0};
    const auto it = p.tensors.find(name);
    return it == p.tensors.end() ? missing : it->second;
}

std::set<std::string> namesOf(const Published& p) {
    std::set<std::string> names;
    for (const auto& [fqn, t] : p.tensors)
        names.insert(fqn);
    return names;
}

std::set<std::string> indexNames(const Published& p) {
    std::set<std::string> names;
    for (const auto& key : p.index.value("weight_map").toObject().keys())
        names.insert(key.toStdString());
    return names;
}

QString setText(const std::set<std::string>& names) {
    return QString::fromStdString(joined(std::vector<std::string>(names.begin(), names.end())));
}

// Whether nothing at all was written: OUT absent or empty.
bool nothingWritten(const fs::path& dir) {
    std::error_code ec;
    return !fs::exists(dir, ec) || fs::is_empty(dir, ec);
}

// Every regular file under dir: relative path -> bytes.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file())
            files[fs::relative(e.path(), dir).string()] = readFile(e.path());
    return files;
}

// ---- expected tensors -------------------------------------------------------------------

struct Expected {
    std::string dtype;
    std::string bytes;
    uint64_t overflow = 0, underflow = 0;
};

Expected castTensor(const Tensor& t, const std::string& target) {
    if (!isFloat(t.dtype)) return {t.dtype, t.bytes};
    Expected e{target, ""};
    const int w = widthOf(t.dtype);
    for (uint64_t i = 0; i < t.bytes.size() / uint64_t(w); ++i) {
        const Cast c = refCast(wordAt(t.bytes, i, w), t.dtype, target);
        e.bytes += le(c.bits, widthOf(target));
        e.overflow += c.overflow;
        e.underflow += c.underflow;
    }
    return e;
}

// "" when equal; else the first differing elements with their source bits. A tensor whose
// dtype already is the target may keep a signalling NaN as it is or quiet it (the spec does not
// say whether such a tensor is converted at all).
QString compareElements(const Tensor& source, const Expected& want, const Out& got) {
    if (got.dtype != want.dtype)
        return QString("%1: dtype %2, expected %3")
            .arg(QString::fromStdString(source.fqn), QString::fromStdString(got.dtype),
                 QString::fromStdString(want.dtype));
    if (got.shape != source.shape)
        return QString::fromStdString(source.fqn + ": shape changed");
    if (got.bytes.size() != want.bytes.size())
        return QString("%1: %2 bytes, expected %3")
            .arg(QString::fromStdString(source.fqn))
            .arg(got.bytes.size())
            .arg(want.bytes.size());
    const int sw = widthOf(source.dtype), tw = widthOf(want.dtype);
    const bool same = source.dtype == want.dtype && isFloat(source.dtype);
    QStringList diffs;
    for (size_t i = 0; i < want.bytes.size() / size_t(tw) && diffs.size() < 6; ++i) {
        const uint64_t g = wordAt(got.bytes, i, tw), w = wordAt(want.bytes, i, tw);
        if (g == w) continue;
        if (same && isNaN(w, fmtOf(want.dtype)) && g == wordAt(source.bytes, i, sw))
            continue; // the signalling NaN kept as it was
        diffs << QString("[%1] source 0x%2: expected 0x%3, got 0x%4")
                     .arg(i)
                     .arg(wordAt(source.bytes, i, sw), sw * 2, 16, QChar('0'))
                     .arg(w, tw * 2, 16, QChar('0'))
                     .arg(g, tw * 2, 16, QChar('0'));
    }
    if (diffs.isEmpty()) return {};
    return QString::fromStdString(source.fqn + " (" + source.dtype + " -> " + want.dtype + "): ") +
           diffs.join("; ");
}

// Whether some stderr line names the tensor and holds the count as a number of its own.
bool warnedWithCount(const QString& err, const std::string& fqn, uint64_t count) {
    const QRegularExpression number(QString("(?<![\\w.])%1(?![\\w])").arg(count));
    for (const QString& line : err.split('\n'))
        if (line.contains(QString::fromStdString(fqn)) && number.match(line).hasMatch())
            return true;
    return false;
}

bool mentioned(const QString& err, const std::string& fqn) {
    const QRegularExpression name(
        QString("(?<![\\w.])%1(?![\\w.])")
            .arg(QRegularExpression::escape(QString::fromStdString(fqn))));
    return name.match(err).hasMatch();
}

// ---- the value checkpoint ---------------------------------------------------------------

double p2(int e) { return std::ldexp(1.0, e); }

std::vector<uint64_t> valuesF32() {
    return {
        0x3F800000, 0xC0200000, f32b(0.1f), f32b(3.14159f),
        // BF16 ties: to even down, to even up; just above and below halfway
        0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF,
        // F16 ties (1 + 2^-11, 1 + 3*2^-11) and just above/below
        0x3F801000, 0x3F803000, 0x3F801001, 0x3F800FFF,
        // F32 max (BF16 overflow), BF16 max kept, BF16 max + half ulp (tie to Inf), negative
        0x7F7FFFFF, 0x7F7F7FFF, 0x7F7F8000, 0xFF7F8000,
        // F16 max, just below its halfway to Inf, the halfway (Inf), 1e5 and -1e5 (Inf)
        0x477FE000, 0x477FEFFF, 0x477FF000, f32b(1e5f), f32b(-1e5f),
        // F16 subnormal edges: 2^-25 (tie to 0), a hair above (2^-24), 3*2^-25 (tie up to
        // 2*2^-24), 2^-14 - 2^-25 (tie up into the smallest normal), -2^-30 (-0)
        f32b(float(p2(-25))), f32b(float(p2(-25) + p2(-40))), f32b(float(3 * p2(-25))),
        f32b(float(p2(-14) - p2(-25))), f32b(float(-p2(-30))), f32b(float(p2(-24))),
        f32b(float(p2(-14))),
        // F32 subnormals: BF16 underflow, tie to 0, tie up, exact, carry into normal, -tiny
        0x00000001, 0x00008000, 0x00018000, 0x00010000, 0x007FFFFF, 0x80000001,
        // zeros and infinities
        0x00000000, 0x80000000, 0x7F800000, 0xFF800000,
        // NaNs: quiet with payload, signalling with payloads (some vanish when narrowed),
        // all-ones, negative
        0x7FC12345, 0x7F800001, 0xFF812345, 0x7FA00000, 0x7FFFFFFF, 0xFFFFFFFF,
        f32b(-0.75f)};
}

std::vector<uint64_t> valuesF64() {
    const double f32max = std::ldexp(2 - p2(-23), 127), bf16max = std::ldexp(2 - p2(-7), 127);
    return {f64b(1.0), f64b(-1.0 / 3), f64b(-123.456), f64b(65504.0), f64b(65520.0),
            // single rounding from the exact value: via F32 these would be ties to even
            f64b(1 + p2(-8) + p2(-30)), f64b(1 + p2(-11) + p2(-30)),
            // F32 ties and near-ties
            f64b(1 + p2(-24)), f64b(1 + 3 * p2(-24)), f64b(1 + p2(-24) + p2(-52)),
            f64b(1 + p2(-24) - p2(-52)),
            // F32 max from below its halfway to Inf, and the halfway itself (Inf)
            f64b(f32max + p2(103) - p2(75)), f64b(f32max + p2(103)),
            // the same for BF16
            f64b(bf16max + p2(119) - p2(75)), f64b(bf16max + p2(119)),
            f64b(1e39), f64b(1e300), f64b(-1e300), 0x7FEFFFFFFFFFFFFF,
            // F32 subnormal edges: 2^-150 (tie to 0), above it, 2^-160, -2^-160, 3*2^-150
            f64b(p2(-150)), f64b(p2(-150) + p2(-200)), f64b(p2(-160)), f64b(-p2(-160)),
            f64b(3 * p2(-150)), 0x0000000000000001, 0x8000000000000001,
            // BF16 subnormal edges: 2^-133 exact, 2^-134 (tie to 0), 3*2^-134 (tie up)
            f64b(p2(-133)), f64b(p2(-134)), f64b(3 * p2(-134)),
            0x0000000000000000, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
            // NaNs: quiet with a low payload, signalling with a high one, signalling whose
            // payload vanishes, payload landing on the lowest F32 bit, all-ones
            0x7FF8000000000123, 0x7FF4000012345678, 0xFFF0000000000001, 0x7FF0000020000000,
            0xFFFFFFFFFFFFFFFF};
}

std::vector<uint64_t> valuesF16() {
    return {0x0001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF, 0x3C00, 0x3C01, 0x8000, 0x0000, 0x7C00, 0xFC00,
            0x7E00, 0x7D23, 0xFC01, 0x7FFF, 0x3555, 0x8001, 0x3C03, 0x4248, 0x0200,
            // BF16 ties: 1 + 2^-8 (to even, down), 1 + 3*2^-8 (to even, up)
            0x3C04, 0x3C0C};
}

std::vector<uint64_t> valuesBF16() {
    return {0x3F80, 0x3F81, 0x7F7F, 0x0001, 0x8001, 0x0080, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0xFFFF,
            0x8000, 0x0000, 0x4780, 0x477F, 0x3380, 0x3300, 0x3340, 0x4049, 0xC2F7,
            // F16 subnormal rounding: 1.5 (tie up to 2), 3.25, 6.5 (tie to 6), 7.5 (tie to 8)
            // times 2^-24
            0x33C0, 0x3450, 0x34D0, 0x34F0};
}

std::vector<Tensor> valueTensors() {
    std::vector<Tensor> t;
    auto add = [&](const std::string& fqn, const std::string& dtype, const Dims& shape,
                   const std::vector<uint64_t>& values) {
        t.push_back({fqn, dtype, shape, words(values, widthOf(dtype))});
    };
    // rows x enough columns, the last row padded with +1.0
    auto addRows = [&](const std::string& fqn, const std::string& dtype, uint64_t rows,
                       std::vector<uint64_t> values, uint64_t one) {
        while (values.size() % rows)
            values.push_back(one);
        add(fqn, dtype, {rows, values.size() / rows}, values);
    };
    addRows("vals_f32", "F32", 4, valuesF32(), 0x3F800000);
    addRows("vals_f64", "F64", 2, valuesF64(), 0x3FF0000000000000);
    addRows("vals_f16", "F16", 2, valuesF16(), 0x3C00);
    addRows("vals_bf16", "BF16", 4, valuesBF16(), 0x3F80);
    add("scalar_f32", "F32", {}, {0x3F808000});
    std::mt19937_64 rng(20261127);
    std::vector<uint64_t> r32, r16a, r16b, r64;
    for (int i = 0; i < 512; ++i)
        r32.push_back(rng() & 0xFFFFFFFF);
    for (int i = 0; i < 256; ++i)
        r16a.push_back(rng() & 0xFFFF), r16b.push_back(rng() & 0xFFFF);
    for (int i = 0; i < 256; ++i) { // exponents around the F32/F16/BF16 ranges, any mantissa
        const uint64_t exponent = 1023 - 160 + rng() % 300;
        r64.push_back((rng() & 0x800FFFFFFFFFFFFF) | (exponent << 52));
    }
    add("rand_f32", "F32", {8, 64}, r32);
    add("rand_f16", "F16", {8, 32}, r16a);
    add("rand_bf16", "BF16", {8, 32}, r16b);
    add("rand_f64", "F64", {4, 64}, r64);
    add("deep.f32.block", "F32", {2, 2, 3},
        {f32b(1), f32b(2), f32b(3), f32b(4), f32b(5), f32b(6), f32b(-1), f32b(-2), f32b(1e-3f),
         f32b(1e3f), f32b(7e4f), f32b(-7e4f)});
    // split by columns over three files: every row of the output comes from three chunks
    std::vector<uint64_t> cols;
    for (int i = 0; i < 3 * 10; ++i)
        cols.push_back(valuesF32()[size_t(i) * 7 % valuesF32().size()]);
    t.push_back({"cols_f32", "F32", {3, 10}, words(cols, 4),
                 {{{0, 0}, {3, 3}}, {{0, 3}, {3, 4}}, {{0, 7}, {3, 3}}}});
    // left alone by every cast
    t.push_back(patterned("ids_i64", "I64", {2, 3}));
    t.push_back(patterned("ids_i32", "I32", {4}));
    t.push_back(patterned("bytes_u8", "U8", {3}));
    t.push_back(patterned("scale_fp8", "F8_E4M3", {2, 4}));
    t.push_back({"mask_bool", "BOOL", {2, 4}, std::string("\x01\x00\x00\x01\x01\x01\x00\x00", 8)});
    return t;
}

const std::map<QString, std::string> kTargets = {
    {"bf16", "BF16"}, {"f16", "F16"}, {"f32", "F32"}, {"f64", "F64"}};

} // namespace

void TestExportCli::init() {
    QVERIFY2(!qgetenv("SHARDSCOPE_CLI").isEmpty(), "run through ctest, which sets SHARDSCOPE_CLI");
    m_tmp = std::make_unique<QTemporaryDir>();
}

// ---- the reference itself ---------------------------------------------------------------

void TestExportCli::referenceConverterSelfCheck() {
    struct Case {
        uint64_t bits;
        const char *from, *to;
        uint64_t want;
    };
    const Case cases[] = {
        {0x3F808000, "F32", "BF16", 0x3F80}, {0x3F818000, "F32", "BF16", 0x3F82},
        {0x3F808001, "F32", "BF16", 0x3F81}, {0x7F7FFFFF, "F32", "BF16", 0x7F80},
        {0x7F7F7FFF, "F32", "BF16", 0x7F7F}, {0x007FFFFF, "F32", "BF16", 0x0080},
        {0x00008000, "F32", "BF16", 0x0000}, {0x00018000, "F32", "BF16", 0x0002},
        {0x7F800001, "F32", "BF16", 0x7FC0}, {0xFF812345, "F32", "BF16", 0xFFC1},
        {0x7FFFFFFF, "F32", "BF16", 0x7FFF}, {0x80000000, "F32", "BF16", 0x8000},
        {f32b(1e5f), "F32", "F16", 0x7C00},  {0x477FF000, "F32", "F16", 0x7C00},
        {0x477FEFFF, "F32", "F16", 0x7BFF},  {0x33000000, "F32", "F16", 0x0000},
        {0x33C00000, "F32", "F16", 0x0002},  {0x33400000, "F32", "F16", 0x0001},  {f32b(float(p2(-14) - p2(-25))), "F32", "F16", 0x0400},
        {0x7FC12345, "F32", "F16", 0x7E09},  {0xFF800001, "F32", "F16", 0xFE00},
        {0x7FA00000, "F32", "F16", 0x7F00},  {0x3F801000, "F32", "F16", 0x3C00},
        {0x3F803000, "F32", "F16", 0x3C02},  {0x7D23, "F16", "F32", 0x7FE46000},
        {0x0001, "F16", "F32", 0x33800000},  {0x7BFF, "F16", "BF16", 0x4780},
        {0x7F81, "BF16", "F32", 0x7FC10000}, {0x7F81, "BF16", "F16", 0x7E08},
        {0x4780, "BF16", "F16", 0x7C00},     {0x34D0, "BF16", "F16", 0x0006},
        {f64b(1 + p2(-8) + p2(-30)), "F64", "BF16", 0x3F81},
        {f64b(1 + p2(-11) + p2(-30)), "F64", "F16", 0x3C01},
        {f64b(p2(-150)), "F64", "F32", 0}, {f64b(3 * p2(-150)), "F64", "F32", 2},
        {0x7F800001, "F32", "F64", 0x7FF8000020000000},
        {0x7FF0000020000000, "F64", "F32", 0x7FC00001},
    };
    for (const auto& c : cases) {
        const uint64_t got = refCast(c.bits, c.from, c.to).bits;
        QVERIFY2(got == c.want, qPrintable(QString("%1 0x%2 -> %3: 0x%4, expected 0x%5")
                                               .arg(c.from)
                                               .arg(c.bits, 0, 16)
                                               .arg(c.to)
                                               .arg(got, 0, 16)
                                               .arg(c.want, 0, 16)));
    }
    QVERIFY(refCast(0x7F7FFFFF, "F32", "BF16").overflow);
    QVERIFY(!refCast(0x7F800000, "F32", "BF16").overflow); // Inf stays Inf: not an overflow
    QVERIFY(refCast(0x00000001, "F32", "BF16").underflow);
    QVERIFY(!refCast(0x00000000, "F32", "BF16").underflow);
    QVERIFY(!refCast(0x00010000, "F32", "BF16").underflow);

    // Against the hardware (round to nearest even) for the conversions it does directly.
    std::mt19937_64 rng(7);
    for (int i = 0; i < 200000; ++i) {
        const uint32_t b32 = uint32_t(rng());
        const float f = std::bit_cast<float>(b32);
        if (!std::isnan(f))
            QCOMPARE(refCast(b32, "F32", "F64").bits, f64b(double(f)));
        const uint64_t b64 = i % 2 ? rng() : ((rng() & 0x800FFFFFFFFFFFFF) |
                                              (uint64_t(1023 - 160 + rng() % 300) << 52));
        const double d = std::bit_cast<double>(b64);
        if (!std::isnan(d))
            QCOMPARE(refCast(b64, "F64", "F32").bits, f32b(float(d)));
#ifdef __FLT16_MANT_DIG__
        if (!std::isnan(f)) {
            const _Float16 h = _Float16(f);
            QCOMPARE(refCast(b32, "F32", "F16").bits, uint64_t(std::bit_cast<uint16_t>(h)));
        }
        const uint16_t b16 = uint16_t(rng());
        const _Float16 h16 = std::bit_cast<_Float16>(b16);
        if (h16 == h16) QCOMPARE(refCast(b16, "F16", "F32").bits, f32b(float(h16)));
#endif
    }
}

// Without the new options: every tensor as it was (also proves this file's reader and fixtures).
void TestExportCli::plainExportUnchanged() {
    const auto tensors = valueTensors();
    writeCk(fsPath("in"), tensors);
    const Result r = consolidate("in", "out", {});
    EXPECT_EXIT(r, 0);
    const Published p = readPublished(fsPath("out"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(p.tensors.size(), tensors.size());
    for (const auto& t : tensors) {
        const QString diff = compareElements(t, {t.dtype, t.bytes}, get(p, t.fqn));
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    }
    EXPECT_EXIT(verify("out", "in"), 0);
}

// ---- cast -------------------------------------------------------------------------------

void TestExportCli::castMatrix_data() {
    QTest::addColumn<QString>("target");
    for (const auto& [spelling, dtype] : kTargets)
        QTest::newRow(qPrintable(spelling)) << spelling;
}

void TestExportCli::castMatrix() {
    QFETCH(QString, target);
    const std::string dtype = kTargets.at(target);
    const auto tensors = valueTensors();
    writeCk(fsPath("in"), tensors);
    const Result r = consolidate("in", "out", {"--cast", target});
    EXPECT_EXIT(r, 0);
    const Published p = readPublished(fsPath("out"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(p.tensors.size(), tensors.size());
    QStringList failures;
    for (const auto& t : tensors) {
        const auto got = p.tensors.find(t.fqn);
        if (got == p.tensors.end()) {
            failures << QString::fromStdString(t.fqn + " missing");
            continue;
        }
        const Expected want = castTensor(t, dtype);
        const QString diff = compareElements(t, want, got->second);
        if (!diff.isEmpty()) failures << diff;
        // a warning per tensor that overflowed or underflowed, with the count
        if (want.overflow && !warnedWithCount(r.err, t.fqn, want.overflow))
            failures << QString("no warning naming %1 with its %2 overflow(s)")
                            .arg(QString::fromStdString(t.fqn))
                            .arg(want.overflow);
        if (want.underflow && !warnedWithCount(r.err, t.fqn, want.underflow))
            failures << QString("no warning naming %1 with its %2 underflow(s)")
                            .arg(QString::fromStdString(t.fqn))
                            .arg(want.underflow);
        if (!want.overflow && !want.underflow && mentioned(r.err, t.fqn))
            failures << QString("a tensor that casts exactly is named on stderr: %1")
                            .arg(QString::fromStdString(t.fqn));
    }
    QVERIFY2(failures.isEmpty(), qPrintable(failures.join("\n") + "\nstderr:\n" + r.err));
    const Result v = verify("out", "in");
    EXPECT_EXIT(v, 0);
}

void TestExportCli::castTargetSpellings() {
    writeCk(fsPath("in"), {plainF32("w", {2, 2}), {"h", "F16", {2}, words({0x3C00, 0x4000}, 2)}});
    const std::pair<const char*, const char*> spellings[] = {
        {"bfloat16", "BF16"}, {"BFloat16", "BF16"}, {"FLOAT16", "F16"},
        {"Float32", "F32"},   {"float64", "F64"},   {"F64", "F64"}};
    int n = 0;
    for (const auto& [spelling, dtype] : spellings) {
        const QByteArray out = "out" + QByteArray::number(n++);
        const Result r = consolidate("in", out.constData(), {QString("--cast=") + spelling});
        QVERIFY2(r.code == 0, qPrintable(QString(spelling) + ": exit " +
                                          QString::number(r.code) + "\n" + r.err));
        const Published p = readPublished(fsPath(out.constData()));
        QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
        QCOMPARE(get(p, "w").dtype, std::string(dtype));
        QCOMPARE(get(p, "h").dtype, std::string(dtype));
    }
}

void TestExportCli::castInvalidTargetIsUsageError_data() {
    QTest::addColumn<QString>("target");
    for (const char* t : {"int8", "f8_e4m3", "F8_E4M3", "bool", "i64", "f17", "bfloat", ""})
        QTest::newRow(*t ? t : "empty") << QString(t);
}

void TestExportCli::castInvalidTargetIsUsageError() {
    QFETCH(QString, target);
    writeCk(fsPath("in"), {plainF32("w", {2, 2})});
    const Result r = consolidate("in", "out", {"--cast", target});
    EXPECT_EXIT(r, 2);
    QVERIFY2(nothingWritten(fsPath("out")), "a usage error wrote into OUT");
}

void TestExportCli::castWarnsPerTensorWithCounts() {
    const Tensor over{"t_overflow", "F32", {2, 3},
                      words({f32b(1e5f), f32b(-1e5f), 0x477FF000, f32b(1), f32b(2), f32b(3)}, 4)};
    const Tensor under{"t_underflow", "F32", {2, 2},
                       words({f32b(float(p2(-30))), f32b(float(-p2(-30))), f32b(0.5f), f32b(1)}, 4)};
    const Tensor exact = plainF32("t_exact", {2, 2});
    writeCk(fsPath("in"), {over, under, exact});
    const Result r = consolidate("in", "out", {"--cast", "f16"});
    EXPECT_EXIT(r, 0);
    QVERIFY2(warnedWithCount(r.err, "t_overflow", 3), qPrintable(r.err));
    QVERIFY2(warnedWithCount(r.err, "t_underflow", 2), qPrintable(r.err));
    // and which way each went (words any such message would use)
    QVERIFY2(QRegularExpression("t_overflow.*(Inf|overflow|too large)",
                                QRegularExpression::CaseInsensitiveOption)
                 .match(r.err)
                 .hasMatch(),
             qPrintable(r.err));
    QVERIFY2(QRegularExpression("t_underflow.*(underflow|too small|zero|became 0)",
                                QRegularExpression::CaseInsensitiveOption)
                 .match(r.err)
                 .hasMatch(),
             qPrintable(r.err));
    QVERIFY2(!QRegularExpression("t_underflow.*(Inf|overflow|too large)",
                                 QRegularExpression::CaseInsensitiveOption)
                  .match(r.err)
                  .hasMatch(),
             qPrintable(r.err));
    QVERIFY2(!mentioned(r.err, "t_exact"), qPrintable(r.err));
    const Published p = readPublished(fsPath("out"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(get(p, "t_overflow").bytes,
             words({0x7C00, 0xFC00, 0x7C00, 0x3C00, 0x4000, 0x4200}, 2));
    QCOMPARE(get(p, "t_underflow").bytes, words({0x0000, 0x8000, 0x3800, 0x3C00}, 2));
    EXPECT_EXIT(verify("out", "in"), 0);
}

void TestExportCli::castLeavesIntegerBoolAndFp8Alone() {
    const std::vector<Tensor> tensors = {
        patterned("ids", "I64", {4, 3}),
        {"mask", "BOOL", {2, 3}, std::string("\x01\x00\x01\x01\x00\x00", 6)},
        patterned("fp8", "F8_E4M3", {4, 4}),
        patterned("fp8b", "F8_E5M2", {2, 2}),
        patterned("small", "I8", {5}),
        plainF32("w", {2, 2})};
    writeCk(fsPath("in"), tensors);
    const Result r = consolidate("in", "out", {"--cast", "bf16"});
    EXPECT_EXIT(r, 0);
    const Published p = readPublished(fsPath("out"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    for (const auto& t : tensors) {
        const Out& o = get(p, t.fqn);
        if (t.fqn == "w") {
            QCOMPARE(o.dtype, std::string("BF16"));
            QCOMPARE(o.bytes, castTensor(t, "BF16").bytes);
            continue;
        }
        QCOMPARE(o.dtype, t.dtype);
        QCOMPARE(o.shape, t.shape);
        QVERIFY2(o.bytes == t.bytes, t.fqn.c_str());
    }
    EXPECT_EXIT(verify("out", "in"), 0);
}

// Megabytes, in 2x2 blocks and uneven column slices over four files: whatever windows the cast
// works in, their edges fall inside chunks and rows.
void TestExportCli::castLargeBlockSplitTensors() {
    std::mt19937_64 rng(99);
    std::vector<uint64_t> b32, b64, b16;
    for (int i = 0; i < 512 * 1024; ++i)
        b32.push_back(rng() & 0xFFFFFFFF);
    for (int i = 0; i < 300 * 700; ++i)
        b64.push_back((rng() & 0x800FFFFFFFFFFFFF) | (uint64_t(1023 - 150 + rng() % 280) << 52));
    for (int i = 0; i < 257 * 999; ++i)
        b16.push_back(rng() & 0xFFFF);
    const std::vector<Tensor> tensors = {
        {"big_f32", "F32", {512, 1024}, words(b32, 4),
         {{{0, 0}, {256, 512}}, {{0, 512}, {256, 512}}, {{256, 0}, {256, 512}},
          {{256, 512}, {256, 512}}}},
        {"big_f64", "F64", {300, 700}, words(b64, 8),
         {{{0, 0}, {300, 101}}, {{0, 101}, {300, 333}}, {{0, 434}, {300, 266}}}},
        {"big_f16", "F16", {257, 999}, words(b16, 2),
         {{{0, 0}, {100, 999}}, {{100, 0}, {157, 500}}, {{100, 500}, {157, 499}}}},
        patterned("ids", "I64", {64, 64})};
    writeCk(fsPath("in"), tensors);
    for (const char* target : {"bf16", "f16", "f32"}) {
        const QByteArray out = QByteArray("out-") + target;
        const Result r = consolidate("in", out.constData(), {"--cast", target});
        EXPECT_EXIT(r, 0);
        const Published p = readPublished(fsPath(out.constData()));
        QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
        for (const auto& t : tensors) {
            const QString diff =
                compareElements(t, castTensor(t, kTargets.at(target)), get(p, t.fqn));
            QVERIFY2(diff.isEmpty(), qPrintable(QString(target) + ": " + diff));
        }
        if (out.endsWith("bf16")) EXPECT_EXIT(verify(out.constData(), "in"), 0);
    }
}

void TestExportCli::castKeepPatterns() {
    const std::vector<Tensor> tensors = {
        plainF32("model.layers.0.input_layernorm.weight", {2, 2}),
        plainF32("model.layers.0.mlp.up_proj.weight", {4, 2}),
        plainF32("model.layers.0.self_attn.q_proj.weight", {2, 3}),
        plainF32("model.norm.weight", {4}),
        {"model.embed_tokens.weight", "F16", {2, 2}, words({0x3C00, 0x3C01, 0x4000, 0x7BFF}, 2)}};
    writeCk(fsPath("in"), tensors);
    auto check = [&](const char* out, const std::set<std::string>& kept) -> QString {
        const Published p = readPublished(fsPath(out));
        if (!p.problems.isEmpty()) return p.problems.join("\n");
        for (const auto& t : tensors) {
            const Expected want =
                kept.count(t.fqn) ? Expected{t.dtype, t.bytes} : castTensor(t, "BF16");
            const QString diff = compareElements(t, want, get(p, t.fqn));
            if (!diff.isEmpty()) return QString(out) + ": " + diff;
        }
        return {};
    };
    // searched anywhere in the name
    Result r = consolidate("in", "o1", {"--cast", "bf16", "--cast-keep", "norm"});
    EXPECT_EXIT(r, 0);
    QString diff = check("o1", {"model.layers.0.input_layernorm.weight", "model.norm.weight"});
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
    // repeatable; an F16 tensor kept stays F16
    r = consolidate("in", "o2", {"--cast", "bf16", "--cast-keep", "up_proj", "--cast-keep",
                                 "^model\\.embed_tokens\\.weight$"});
    EXPECT_EXIT(r, 0);
    diff = check("o2", {"model.layers.0.mlp.up_proj.weight", "model.embed_tokens.weight"});
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
    // RE2 syntax: a class and an alternation
    r = consolidate("in", "o3", {"--cast", "bf16", "--cast-keep", "layers\\.\\d+\\.(self_attn|mlp)"});
    EXPECT_EXIT(r, 0);
    diff = check("o3", {"model.layers.0.mlp.up_proj.weight",
                        "model.layers.0.self_attn.q_proj.weight"});
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
    EXPECT_EXIT(verify("o3", "in"), 0);
}

void TestExportCli::castKeepDefaultList() {
    const std::vector<Tensor> tensors = {
        plainF32("model.layers.3.mlp.gate.e_score_correction_bias", {4}),
        plainF32("model.layers.3.mlp.expert_bias", {2, 2}),
        plainF32("model.layers.3.mlp.gate.weight", {2, 2})};
    writeCk(fsPath("in"), tensors);
    const auto& [score, expert, gate] = std::tie(tensors[0], tensors[1], tensors[2]);

    Result r = consolidate("in", "def", {"--cast", "bf16"});
    EXPECT_EXIT(r, 0);
    Published p = readPublished(fsPath("def"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(get(p, score.fqn).dtype, std::string("F32"));
    QVERIFY(get(p, score.fqn).bytes == score.bytes);
    QCOMPARE(get(p, expert.fqn).dtype, std::string("F32"));
    QVERIFY(get(p, expert.fqn).bytes == expert.bytes);
    QCOMPARE(get(p, gate.fqn).dtype, std::string("BF16"));
    QVERIFY(get(p, gate.fqn).bytes == castTensor(gate, "BF16").bytes);
    EXPECT_EXIT(verify("def", "in"), 0);

    r = consolidate("in", "none", {"--cast", "bf16", "--no-default-keep"});
    EXPECT_EXIT(r, 0);
    p = readPublished(fsPath("none"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    for (const auto& t : tensors) {
        QCOMPARE(get(p, t.fqn).dtype, std::string("BF16"));
        QVERIFY(get(p, t.fqn).bytes == castTensor(t, "BF16").bytes);
    }

    // --no-default-keep with a pattern of one's own
    r = consolidate("in", "own",
                    {"--no-default-keep", "--cast", "bf16", "--cast-keep", "expert_bias$"});
    EXPECT_EXIT(r, 0);
    p = readPublished(fsPath("own"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(get(p, expert.fqn).dtype, std::string("F32"));
    QCOMPARE(get(p, score.fqn).dtype, std::string("BF16"));
    QCOMPARE(get(p, gate.fqn).dtype, std::string("BF16"));
    EXPECT_EXIT(verify("own", "in"), 0);
}

void TestExportCli::castKeepUnmatchedPatternWarns() {
    const Tensor w = plainF32("model.w", {2, 2});
    writeCk(fsPath("in"), {w});
    const Result r = consolidate("in", "out", {"--cast", "bf16", "--cast-keep", "no_such_tensor"});
    EXPECT_EXIT(r, 0);
    QVERIFY2(r.err.contains("warning", Qt::CaseInsensitive), qPrintable(r.err));
    QVERIFY2(r.err.contains("no_such_tensor"), qPrintable(r.err)); // which pattern
    const Published p = readPublished(fsPath("out"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(get(p, "model.w").bytes, castTensor(w, "BF16").bytes);
    EXPECT_EXIT(verify("out", "in"), 0);
}

namespace {
std::vector<Tensor> strictTensors() {
    return {{"t_overflow", "F32", {2, 2}, words({f32b(1), f32b(7e4f), f32b(2), f32b(3)}, 4)},
            plainF32("t_fine", {4, 2})};
}
} // namespace

void TestExportCli::strictCastOverflowPublishesNothing() {
    writeCk(fsPath("in"), strictTensors());
    const Result r = consolidate("in", "out", {"--cast", "f16", "--strict-cast"});
    EXPECT_EXIT(r, 1);
    QVERIFY2(r.err.contains("t_overflow"), qPrintable(r.err));
    QVERIFY2(outputLeftovers(fsPath("out")).empty(), joined(outputLeftovers(fsPath("out"))).c_str());
    // the same with the option first, and with --strict-cast after --cast's target spelled long
    const Result again =
        consolidate("in", "out2", {"--strict-cast", "--cast", "float16", "--threads", "1"});
    EXPECT_EXIT(again, 1);
    QVERIFY(outputLeftovers(fsPath("out2")).empty());
}

void TestExportCli::strictCastKeepsPreviousExport() {
    writeCk(fsPath("in"), strictTensors());
    writeText(fsPath("in") / ".hf_metadata" / "config.json",
              "{\n  \"torch_dtype\": \"float32\",\n  \"hidden_size\": 2\n}\n");
    EXPECT_EXIT(consolidate("in", "out", {}), 0);
    const auto before = snapshot(fsPath("out"));
    QVERIFY(before.count("model.safetensors.index.json"));
    const Result r = consolidate("in", "out", {"--cast", "f16", "--strict-cast", "--overwrite"});
    EXPECT_EXIT(r, 1);
    const auto after = snapshot(fsPath("out"));
    QStringList changed;
    for (const auto& [name, bytes] : after)
        if (!before.count(name) || before.at(name) != bytes) changed << QString::fromStdString(name);
    for (const auto& [name, bytes] : before)
        if (!after.count(name)) changed << QString::fromStdString(name) + " (gone)";
    QVERIFY2(changed.isEmpty(), qPrintable("changed in OUT: " + changed.join(", ")));
    EXPECT_EXIT(verify("out", "in"), 0);
}

void TestExportCli::strictCastAllowsUnderflowAndKeptTensors() {
    const Tensor under{"t_underflow", "F32", {2, 2},
                       words({f32b(float(p2(-30))), f32b(1), f32b(2), f32b(3)}, 4)};
    writeCk(fsPath("in"), {under, plainF32("t_fine", {2, 2})});
    Result r = consolidate("in", "out", {"--cast", "f16", "--strict-cast"});
    EXPECT_EXIT(r, 0); // only overflow is an error
    Published p = readPublished(fsPath("out"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(get(p, "t_underflow").bytes, words({0x0000, 0x3C00, 0x4000, 0x4200}, 2));
    EXPECT_EXIT(verify("out", "in"), 0);

    // a tensor that would overflow but is kept is not cast, so not an error
    writeCk(fsPath("in2"), strictTensors());
    r = consolidate("in2", "out2", {"--cast", "f16", "--strict-cast", "--cast-keep", "t_overflow"});
    EXPECT_EXIT(r, 0);
    p = readPublished(fsPath("out2"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(get(p, "t_overflow").dtype, std::string("F32"));
    QCOMPARE(get(p, "t_fine").dtype, std::string("F16"));
    EXPECT_EXIT(verify("out2", "in2"), 0);
}

void TestExportCli::verifyFailsAfterCorruptingCastTensor() {
    const Tensor w = plainF32("w", {4, 4});
    writeCk(fsPath("in"), {w, patterned("ids", "I32", {2, 2})});
    EXPECT_EXIT(consolidate("in", "out", {"--cast", "bf16"}), 0);
    EXPECT_EXIT(verify("out", "in"), 0);
    const Published p = readPublished(fsPath("out"));
    const Out& o = get(p, "w");
    QCOMPARE(o.dtype, std::string("BF16"));
    QCOMPARE(o.bytes, castTensor(w, "BF16").bytes);
    QFile f(QString::fromStdString((fsPath("out") / o.file).string()));
    QVERIFY(f.open(QIODevice::ReadWrite));
    QVERIFY(f.seek(qint64(o.fileOffset) + 5)); // element 2's high byte: a different number
    char c = 0;
    QVERIFY(f.getChar(&c));
    QVERIFY(f.seek(qint64(o.fileOffset) + 5));
    QVERIFY(f.putChar(char(c ^ 0x01)));
    f.close();
    const Result r = verify("out", "in");
    EXPECT_EXIT(r, 1);
}

// ---- rename -----------------------------------------------------------------------------

namespace {

const char* kA = "model.layers.0.self_attn.q_proj.weight";
const char* kB = "model.layers.12.mlp.down_proj.weight";
const char* kC = "model.norm.weight";
const char* kD = "lm_head.weight";
const char* kE = "model.model.embed_tokens.weight";

std::vector<Tensor> nameTensors() {
    return {plainF32(kA, {4, 2}), plainF32(kB, {2, 2}, 3.0f),
            {kC, "BF16", {4}, words({0x3F80, 0x4000, 0x4040, 0x4080}, 2)},
            patterned(kD, "I32", {2, 3}), plainF32(kE, {2, 2}, -1.0f)};
}

// Each source tensor under its expected exported name, bytes and dtype untouched.
QString checkRenamed(const Published& p, const std::map<std::string, std::string>& renamed) {
    QStringList problems = p.problems;
    std::set<std::string> want;
    for (const auto& t : nameTensors()) {
        const auto r = renamed.find(t.fqn);
        const std::string name = r == renamed.end() ? t.fqn : r->second;
        want.insert(name);
        const auto got = p.tensors.find(name);
        if (got == p.tensors.end()) {
            problems << QString::fromStdString("no tensor " + name + " (from " + t.fqn + ")");
            continue;
        }
        if (got->second.dtype != t.dtype || got->second.shape != t.shape ||
            got->second.bytes != t.bytes)
            problems << QString::fromStdString(name + " does not hold " + t.fqn + "'s data");
    }
    if (namesOf(p) != want)
        problems << "files hold " + setText(namesOf(p)) + "; expected " + setText(want);
    if (indexNames(p) != want)
        problems << "index names " + setText(indexNames(p)) + "; expected " + setText(want);
    return problems.join("\n");
}

} // namespace

// RENAMED_ONLY skips `verify --against` (each CLI run costs ~0.1 s; every kind of rule is still
// verified in at least one case).
#define EXPECT_RENAMED_ONLY(out, options, renamed)                                             \
    do {                                                                                       \
        const Result r_ = consolidate("in", out, options);                                     \
        EXPECT_EXIT(r_, 0);                                                                    \
        const QString d_ = checkRenamed(readPublished(fsPath(out)), renamed);                  \
        QVERIFY2(d_.isEmpty(), qPrintable(QString(out) + ":\n" + d_));                         \
    } while (0)
#define EXPECT_RENAMED(out, options, renamed)                                                  \
    do {                                                                                       \
        EXPECT_RENAMED_ONLY(out, options, renamed);                                            \
        EXPECT_EXIT(verify(out, "in"), 0);                                                     \
    } while (0)

using Renamed = std::map<std::string, std::string>;

void TestExportCli::renameCaptures() {
    writeCk(fsPath("in"), nameTensors());
    EXPECT_RENAMED("dollar", (QStringList{"--rename", "layers\\.(\\d+)\\.=>blocks.$1."}),
                   (Renamed{{kA, "model.blocks.0.self_attn.q_proj.weight"},
                            {kB, "model.blocks.12.mlp.down_proj.weight"}}));
    EXPECT_RENAMED("backslash", (QStringList{"--rename", "layers\\.(\\d+)\\.=>h.\\1."}),
                   (Renamed{{kA, "model.h.0.self_attn.q_proj.weight"},
                            {kB, "model.h.12.mlp.down_proj.weight"}}));
    // two groups, swapped
    EXPECT_RENAMED_ONLY("two", (QStringList{"--rename", "^(\\w+)\\.(\\w+)\\.weight$=>$2.$1.weight"}),
                   (Renamed{{kC, "norm.model.weight"}}));
}

void TestExportCli::renameEveryMatchAndOrder() {
    writeCk(fsPath("in"), nameTensors());
    EXPECT_RENAMED("every", (QStringList{"--rename", "o=>0"}),
                   (Renamed{{kA, "m0del.layers.0.self_attn.q_pr0j.weight"},
                            {kB, "m0del.layers.12.mlp.d0wn_pr0j.weight"},
                            {kC, "m0del.n0rm.weight"},
                            {kE, "m0del.m0del.embed_t0kens.weight"}}));
    EXPECT_RENAMED_ONLY("order1", (QStringList{"--rename", "^model\\.=>", "--rename", "^layers\\.=>L."}),
                   (Renamed{{kA, "L.0.self_attn.q_proj.weight"},
                            {kB, "L.12.mlp.down_proj.weight"},
                            {kC, "norm.weight"},
                            {kE, "model.embed_tokens.weight"}}));
    EXPECT_RENAMED_ONLY("order2", (QStringList{"--rename", "^layers\\.=>L.", "--rename", "^model\\.=>"}),
                   (Renamed{{kA, "layers.0.self_attn.q_proj.weight"},
                            {kB, "layers.12.mlp.down_proj.weight"},
                            {kC, "norm.weight"},
                            {kE, "model.embed_tokens.weight"}}));
}

void TestExportCli::stripPrefix() {
    writeCk(fsPath("in"), nameTensors());
    EXPECT_RENAMED_ONLY("once", (QStringList{"--strip-prefix", "model."}),
                   (Renamed{{kA, "layers.0.self_attn.q_proj.weight"},
                            {kB, "layers.12.mlp.down_proj.weight"},
                            {kC, "norm.weight"},
                            {kE, "model.embed_tokens.weight"}}));
    EXPECT_RENAMED("twice", (QStringList{"--strip-prefix", "model.", "--strip-prefix", "model."}),
                   (Renamed{{kA, "layers.0.self_attn.q_proj.weight"},
                            {kB, "layers.12.mlp.down_proj.weight"},
                            {kC, "norm.weight"},
                            {kE, "embed_tokens.weight"}}));
    // a literal prefix, not a pattern: "." is a dot
    EXPECT_RENAMED_ONLY("literal", (QStringList{"--strip-prefix", "model.l"}),
                   (Renamed{{kA, "ayers.0.self_attn.q_proj.weight"},
                            {kB, "ayers.12.mlp.down_proj.weight"}}));
}

void TestExportCli::stripPrefixAndRenameOrder() {
    writeCk(fsPath("in"), nameTensors());
    EXPECT_RENAMED_ONLY("strip-first", (QStringList{"--strip-prefix", "model.", "--rename", "^model\\.=>x."}),
                   (Renamed{{kA, "layers.0.self_attn.q_proj.weight"},
                            {kB, "layers.12.mlp.down_proj.weight"},
                            {kC, "norm.weight"},
                            {kE, "x.embed_tokens.weight"}}));
    EXPECT_RENAMED("rename-first", (QStringList{"--rename", "^model\\.=>x.", "--strip-prefix", "model."}),
                   (Renamed{{kA, "x.layers.0.self_attn.q_proj.weight"},
                            {kB, "x.layers.12.mlp.down_proj.weight"},
                            {kC, "x.norm.weight"},
                            {kE, "x.model.embed_tokens.weight"}}));
}

void TestExportCli::stripWrappers() {
    const std::vector<std::pair<std::string, std::string>> names = {
        {"module.module.enc._fsdp_wrapped_module.w", "enc.w"},
        {"_orig_mod.layer._checkpoint_wrapped_module.b", "layer.b"},
        {"dec._orig_mod._orig_mod.v", "dec.v"},
        {"module.head", "head"},
        {"enc.module.x", "enc.module.x"},           // module. only at the start
        {"enc.my_orig_mod.y", "enc.my_orig_mod.y"}, // not a whole component
        {"enc.x_fsdp_wrapped_module.z", "enc.x_fsdp_wrapped_module.z"},
        {"plain.weight", "plain.weight"}};
    std::vector<Tensor> tensors;
    float start = 1;
    for (const auto& [from, to] : names)
        tensors.push_back(plainF32(from, {2, 2}, start++));
    writeCk(fsPath("in"), tensors);
    const Result r = consolidate("in", "out", {"--strip-wrappers"});
    EXPECT_EXIT(r, 0);
    const Published p = readPublished(fsPath("out"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    std::set<std::string> want;
    for (size_t i = 0; i < names.size(); ++i) {
        want.insert(names[i].second);
        const auto got = p.tensors.find(names[i].second);
        QVERIFY2(got != p.tensors.end(),
                 qPrintable(QString::fromStdString(names[i].first + " should be " +
                                                   names[i].second + "; got ") +
                            setText(namesOf(p))));
        QVERIFY(got->second.bytes == tensors[i].bytes);
    }
    QCOMPARE(namesOf(p), want);
    QCOMPARE(indexNames(p), want);
    EXPECT_EXIT(verify("out", "in"), 0);
}

void TestExportCli::renameFileList() {
    writeCk(fsPath("in"), nameTensors());
    writeText(fsPath("rules.json"),
              R"(["^model\\.layers\\.=>blocks.", {"strip_prefix": "model."}, "\\.weight$=>.w"])");
    EXPECT_RENAMED("out", (QStringList{"--rename-file", path("rules.json")}),
                   (Renamed{{kA, "blocks.0.self_attn.q_proj.w"},
                            {kB, "blocks.12.mlp.down_proj.w"},
                            {kC, "norm.w"},
                            {kD, "lm_head.w"},
                            {kE, "model.embed_tokens.w"}}));
}

void TestExportCli::renameFileMap() {
    writeCk(fsPath("in"), nameTensors());
    writeText(fsPath("map.json"),
              R"({"lm_head.weight": "output.weight", "model.norm.weight": "final_norm.weight"})");
    EXPECT_RENAMED("out", (QStringList{"--rename-file", path("map.json")}),
                   (Renamed{{kD, "output.weight"}, {kC, "final_norm.weight"}}));
}

void TestExportCli::renameFileInCommandLineOrder() {
    writeCk(fsPath("in"), nameTensors());
    writeText(fsPath("map.json"), R"({"lm_head.weight": "output.weight"})");
    EXPECT_RENAMED_ONLY("file-first",
                   (QStringList{"--rename-file", path("map.json"), "--rename", "^output\\.=>out."}),
                   (Renamed{{kD, "out.weight"}}));
    EXPECT_RENAMED("file-last",
                   (QStringList{"--rename", "^lm_head\\.=>head.", "--rename-file", path("map.json")}),
                   (Renamed{{kD, "head.weight"}}));
    writeText(fsPath("list.json"), R"(["^layers\\.=>blk."])");
    EXPECT_RENAMED_ONLY("strip-then-list",
                   (QStringList{"--strip-prefix", "model.", "--rename-file", path("list.json")}),
                   (Renamed{{kA, "blk.0.self_attn.q_proj.weight"},
                            {kB, "blk.12.mlp.down_proj.weight"},
                            {kC, "norm.weight"},
                            {kE, "model.embed_tokens.weight"}}));
}

void TestExportCli::renameMappingStaysKeyedBySourceNames() {
    const std::vector<Tensor> tensors = {plainF32("model.a.weight", {2, 2}),
                                         plainF32("model.b.weight", {4, 2}, 2.0f),
                                         plainF32("model.c.weight", {2}, 3.0f)};
    writeCk(fsPath("in"), tensors);
    const std::string mapping =
        R"({"model.a.weight": 1, "model.b.weight": 2, "model.c.weight": 2})";
    writeText(fsPath("in") / ".hf_metadata" / "fqn_to_file_index_mapping.json", mapping);
    const Result r = consolidate("in", "out", {"--strip-prefix", "model.", "--cast", "bf16"});
    EXPECT_EXIT(r, 0);
    const Published p = readPublished(fsPath("out"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(namesOf(p), (std::set<std::string>{"a.weight", "b.weight", "c.weight"}));
    QCOMPARE(get(p, "a.weight").file, std::string("model-00001-of-00002.safetensors"));
    QCOMPARE(get(p, "b.weight").file, std::string("model-00002-of-00002.safetensors"));
    QCOMPARE(get(p, "c.weight").file, std::string("model-00002-of-00002.safetensors"));
    QCOMPARE(get(p, "b.weight").bytes, castTensor(tensors[1], "BF16").bytes);
    QCOMPARE(readFile(fsPath("in") / ".hf_metadata" / "fqn_to_file_index_mapping.json"), mapping);
    EXPECT_EXIT(verify("out", "in"), 0);
}

void TestExportCli::renameCollisionFails() {
    writeCk(fsPath("in"), {plainF32("a.w", {2, 2}), plainF32("b.w", {2, 2}, 2.0f),
                           plainF32("c.w", {2, 2}, 3.0f)});
    Result r = consolidate("in", "out", {"--rename", "^[ab]\\.=>x."});
    EXPECT_EXIT(r, 1);
    QVERIFY2(r.err.contains("a.w") && r.err.contains("b.w"), qPrintable(r.err));
    QVERIFY2(nothingWritten(fsPath("out")), "a collision wrote into OUT");
    // onto a name another tensor keeps
    r = consolidate("in", "out", {"--strip-prefix", "a.", "--rename", "^w$=>c.w"});
    EXPECT_EXIT(r, 1);
    QVERIFY2(r.err.contains("a.w") && r.err.contains("c.w"), qPrintable(r.err));
    QVERIFY2(nothingWritten(fsPath("out")), "a collision wrote into OUT");
    // with --cast too
    r = consolidate("in", "out", {"--cast", "bf16", "--rename", "^[bc]\\.=>z."});
    EXPECT_EXIT(r, 1);
    QVERIFY2(r.err.contains("b.w") && r.err.contains("c.w"), qPrintable(r.err));
    QVERIFY2(nothingWritten(fsPath("out")), "a collision wrote into OUT");
}

void TestExportCli::renameToEmptyNameFails() {
    writeCk(fsPath("in"), {plainF32("a.w", {2, 2}), plainF32("b.w", {2, 2}, 2.0f)});
    Result r = consolidate("in", "out", {"--rename", "^a\\.w$=>"});
    EXPECT_EXIT(r, 1);
    QVERIFY2(nothingWritten(fsPath("out")), "an empty name wrote into OUT");
    r = consolidate("in", "out", {"--strip-prefix", "b.w"});
    EXPECT_EXIT(r, 1);
    QVERIFY2(nothingWritten(fsPath("out")), "an empty name wrote into OUT");
}

void TestExportCli::invalidRegexIsUsageError_data() {
    QTest::addColumn<QStringList>("options");
    QTest::newRow("rename open group") << QStringList{"--rename", "(=>x"};
    QTest::newRow("rename open class") << QStringList{"--rename", "a[=>b"};
    QTest::newRow("rename after a good one")
        << QStringList{"--rename", "a=>b", "--rename", "x**=>y"};
    QTest::newRow("rename-file") << QStringList{"--rename-file", "bad-rules.json"};
    QTest::newRow("include") << QStringList{"--include", "("};
    QTest::newRow("exclude") << QStringList{"--exclude", "*w"};
    QTest::newRow("cast-keep") << QStringList{"--cast", "bf16", "--cast-keep", "[z-a]"};
}

void TestExportCli::invalidRegexIsUsageError() {
    QFETCH(QStringList, options);
    writeCk(fsPath("in"), {plainF32("a.w", {2, 2})});
    writeText(fsPath("bad-rules.json"), R"(["(unclosed=>x"])");
    const Result r = consolidate("in", "out", options);
    EXPECT_EXIT(r, 2);
    QVERIFY2(nothingWritten(fsPath("out")), "a usage error wrote into OUT");
}

// ---- include / exclude ------------------------------------------------------------------

namespace {

const char* kEmbed = "model.embed.weight";
const char* kL0W = "model.layers.0.attn.weight";
const char* kL0B = "model.layers.0.attn.bias";
const char* kL1W = "model.layers.1.attn.weight";
const char* kL1B = "model.layers.1.attn.bias";
const char* kHead = "lm_head.weight";

std::vector<Tensor> selectionTensors() {
    return {plainF32(kEmbed, {4, 2}), plainF32(kL0W, {2, 2}, 2), plainF32(kL0B, {2}, 3),
            {kL1W, "BF16", {2, 2}, words({0x3F80, 0x4000, 0x4040, 0x4080}, 2)},
            plainF32(kL1B, {2}, 4), patterned(kHead, "F16", {2, 3})};
}

// Exactly `kept` (source names, possibly renamed) in files and index, each with its bytes.
QString checkSelected(const Published& p, const std::set<std::string>& kept,
                      const Renamed& renamed = {}) {
    QStringList problems = p.problems;
    std::set<std::string> want;
    for (const auto& t : selectionTensors()) {
        if (!kept.count(t.fqn)) continue;
        const auto r = renamed.find(t.fqn);
        const std::string name = r == renamed.end() ? t.fqn : r->second;
        want.insert(name);
        const auto got = p.tensors.find(name);
        if (got != p.tensors.end() && got->second.bytes != t.bytes)
            problems << QString::fromStdString(name + ": wrong bytes");
    }
    if (namesOf(p) != want)
        problems << "files hold " + setText(namesOf(p)) + "; expected " + setText(want);
    if (indexNames(p) != want)
        problems << "index names " + setText(indexNames(p)) + "; expected " + setText(want);
    return problems.join("\n");
}

} // namespace

#define EXPECT_SELECTED_ONLY(out, options, ...)                                                \
    do {                                                                                       \
        const Result r_ = consolidate("in", out, options);                                     \
        EXPECT_EXIT(r_, 0);                                                                    \
        const QString d_ = checkSelected(readPublished(fsPath(out)), __VA_ARGS__);             \
        QVERIFY2(d_.isEmpty(), qPrintable(QString(out) + ":\n" + d_));                         \
    } while (0)
#define EXPECT_SELECTED(out, options, ...)                                                     \
    do {                                                                                       \
        EXPECT_SELECTED_ONLY(out, options, __VA_ARGS__);                                       \
        EXPECT_EXIT(verify(out, "in"), 0);                                                     \
    } while (0)

using Names = std::set<std::string>;

void TestExportCli::excludeRemovesFromFilesAndIndex() {
    writeCk(fsPath("in"), selectionTensors());
    EXPECT_SELECTED_ONLY("nobias", (QStringList{"--exclude", "bias$"}),
                    (Names{kEmbed, kL0W, kL1W, kHead}));
    EXPECT_SELECTED("two", (QStringList{"--exclude", "bias$", "--exclude", "^lm_head"}),
                    (Names{kEmbed, kL0W, kL1W}));
    // with a mapping: the excluded tensors are in no file; an emptied file is not written
    writeText(fsPath("in") / ".hf_metadata" / "fqn_to_file_index_mapping.json",
              std::string("{\"") + kEmbed + "\": 1, \"" + kL0W + "\": 1, \"" + kL0B + "\": 2, \"" +
                  kL1W + "\": 2, \"" + kL1B + "\": 2, \"" + kHead + "\": 2}");
    EXPECT_SELECTED("mapped", (QStringList{"--exclude", "layers"}), (Names{kEmbed, kHead}));
    const Published p = readPublished(fsPath("mapped"));
    QCOMPARE(get(p, kEmbed).file, std::string("model-00001-of-00002.safetensors"));
    QCOMPARE(get(p, kHead).file, std::string("model-00002-of-00002.safetensors"));
}

void TestExportCli::includeThenExclude() {
    writeCk(fsPath("in"), selectionTensors());
    // starts empty: layer 0, then without biases
    EXPECT_SELECTED("a", (QStringList{"--include", "layers\\.0\\.", "--exclude", "bias"}),
                    (Names{kL0W}));
    EXPECT_SELECTED_ONLY("b", (QStringList{"--include", "layers", "--include", "lm_head"}),
                    (Names{kL0W, kL0B, kL1W, kL1B, kHead}));
}

void TestExportCli::excludeThenInclude() {
    writeCk(fsPath("in"), selectionTensors());
    // starts with everything: all but biases, then layer 0 (its bias too) back
    EXPECT_SELECTED("a", (QStringList{"--exclude", "bias", "--include", "layers\\.0\\."}),
                    (Names{kEmbed, kL0W, kL0B, kL1W, kHead}));
    EXPECT_SELECTED_ONLY("b", (QStringList{"--exclude", "layers", "--include", "layers\\.1\\.attn\\.weight"}),
                    (Names{kEmbed, kL1W, kHead}));
}

void TestExportCli::selectionMatchesSourceOrExportedName() {
    writeCk(fsPath("in"), selectionTensors());
    const Renamed stripped = {{kEmbed, "embed.weight"},
                              {kL0W, "layers.0.attn.weight"},
                              {kL0B, "layers.0.attn.bias"},
                              {kL1W, "layers.1.attn.weight"},
                              {kL1B, "layers.1.attn.bias"}};
    // by exported name
    EXPECT_SELECTED("exported", (QStringList{"--strip-prefix", "model.", "--exclude", "^layers\\.1\\."}),
                    (Names{kEmbed, kL0W, kL0B, kHead}), stripped);
    // by source name
    EXPECT_SELECTED("source", (QStringList{"--strip-prefix", "model.", "--exclude", "^model\\.embed"}),
                    (Names{kL0W, kL0B, kL1W, kL1B, kHead}), stripped);
    EXPECT_SELECTED_ONLY("include", (QStringList{"--strip-prefix", "model.", "--include", "^embed\\.",
                                            "--include", "^model\\.layers\\.1\\.attn\\.bias$"}),
                    (Names{kEmbed, kL1B}), stripped);
    // with --cast, the excluded are not cast either: the selected ones are
    const Result r = consolidate("in", "cast", {"--cast", "f32", "--exclude", "attn"});
    EXPECT_EXIT(r, 0);
    const Published p = readPublished(fsPath("cast"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(namesOf(p), (Names{kEmbed, kHead}));
    QCOMPARE(get(p, kHead).dtype, std::string("F32"));
    QCOMPARE(get(p, kHead).bytes, castTensor(selectionTensors()[5], "F32").bytes);
    EXPECT_EXIT(verify("cast", "in"), 0);
}

void TestExportCli::excludingEverythingFails() {
    writeCk(fsPath("in"), selectionTensors());
    for (const QStringList& options :
         {QStringList{"--exclude", "."}, QStringList{"--include", "no_such_tensor"},
          QStringList{"--include", "layers", "--exclude", "layers"},
          QStringList{"--exclude", "model", "--exclude", "head", "--cast", "bf16"}}) {
        const Result r = consolidate("in", "out", options);
        QVERIFY2(r.code == 1, qPrintable(options.join(' ') + ": exit " + QString::number(r.code) +
                                         "\n" + r.err));
        QVERIFY2(nothingWritten(fsPath("out")), qPrintable(options.join(' ') + " wrote into OUT"));
    }
}

// ---- config.json and tied weights -------------------------------------------------------

namespace {

const std::string kConfig = "{\n"
                            "  \"architectures\": [\"LlamaForCausalLM\"],\n"
                            "  \"dtype\": \"float32\",\n"
                            "  \"hidden_size\": 4,\n"
                            "  \"tie_word_embeddings\": false,\n"
                            "  \"torch_dtype\": \"float32\",\n"
                            "  \"vocab_size\": 8\n"
                            "}\n";
const std::string kGeneration = "{\n  \"do_sample\": true,\n  \"temperature\": 0.6\n}\n";

QJsonObject parseJson(const std::string& text) {
    return QJsonDocument::fromJson(QByteArray::fromStdString(text)).object();
}

void writeMetadata(const fs::path& in, const std::string& config) {
    writeText(in / ".hf_metadata" / "config.json", config);
    writeText(in / ".hf_metadata" / "generation_config.json", kGeneration);
}

} // namespace

void TestExportCli::configDtypeRewrittenOriginalUnchanged() {
    writeCk(fsPath("in"), {plainF32("model.w", {2, 2}),
                           {"model.h", "F16", {2}, words({0x3C00, 0x4000}, 2)}});
    writeMetadata(fsPath("in"), kConfig);
    const std::pair<const char*, const char*> targets[] = {
        {"bf16", "bfloat16"}, {"f16", "float16"}, {"float32", "float32"}};
    int n = 0;
    for (const auto& [target, name] : targets) {
        const QByteArray out = "out" + QByteArray::number(n++);
        const Result r = consolidate("in", out.constData(), {"--cast", target});
        EXPECT_EXIT(r, 0);
        const QJsonObject copy = parseJson(readFile(fsPath(out.constData()) / "config.json"));
        QJsonObject want = parseJson(kConfig);
        want["torch_dtype"] = name;
        want["dtype"] = name;
        QVERIFY2(copy == want, qPrintable(QString(target) + ": " +
                                          QJsonDocument(copy).toJson(QJsonDocument::Compact)));
        QCOMPARE(readFile(fsPath(out.constData()) / "generation_config.json"), kGeneration);
        if (n == 1) EXPECT_EXIT(verify(out.constData(), "in"), 0);
    }
    QCOMPARE(readFile(fsPath("in") / ".hf_metadata" / "config.json"), kConfig);
    QCOMPARE(readFile(fsPath("in") / ".hf_metadata" / "generation_config.json"), kGeneration);
}

void TestExportCli::configWithoutDtypeKey() {
    const std::string config = "{\"torch_dtype\": \"bfloat16\", \"hidden_size\": 4}";
    writeCk(fsPath("in"), {{"model.w", "BF16", {2, 2}, words({0x3F80, 0x4000, 0x4040, 0x7F7F}, 2)}});
    writeMetadata(fsPath("in"), config);
    const Result r = consolidate("in", "out", {"--cast", "f32"});
    EXPECT_EXIT(r, 0);
    const QJsonObject copy = parseJson(readFile(fsPath("out") / "config.json"));
    QCOMPARE(copy.value("torch_dtype").toString(), QString("float32"));
    QVERIFY2(!copy.contains("dtype"), "\"dtype\" added to a config that had none");
    QCOMPARE(copy.value("hidden_size").toInt(), 4);
    QCOMPARE(copy.size(), 2);
    QCOMPARE(readFile(fsPath("in") / ".hf_metadata" / "config.json"), config);
    EXPECT_EXIT(verify("out", "in"), 0);
}

void TestExportCli::configCopiedVerbatimWithoutCast() {
    writeCk(fsPath("in"), {plainF32("model.w", {2, 2}), plainF32("model.v", {2}, 9)});
    writeMetadata(fsPath("in"), kConfig);
    EXPECT_EXIT(consolidate("in", "plain", {}), 0);
    QCOMPARE(readFile(fsPath("plain") / "config.json"), kConfig);
    const Result r = consolidate("in", "renamed",
                                 {"--strip-prefix", "model.", "--exclude", "^v$", "--strip-wrappers"});
    EXPECT_EXIT(r, 0);
    QCOMPARE(readFile(fsPath("renamed") / "config.json"), kConfig);
    QCOMPARE(readFile(fsPath("renamed") / "generation_config.json"), kGeneration);
    const Published p = readPublished(fsPath("renamed"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    QCOMPARE(namesOf(p), (Names{"w"}));
    EXPECT_EXIT(verify("renamed", "in"), 0);
}

void TestExportCli::dropTiedDropsIdenticalLmHead() {
    const Tensor embed = plainF32("model.embed_tokens.weight", {4, 3});
    Tensor head = embed;
    head.fqn = "lm_head.weight";
    const Tensor a = patterned("other.a", "BF16", {2, 2});
    Tensor b = a;
    b.fqn = "other.b";
    const Tensor norm = plainF32("model.norm.weight", {3}, 7);
    writeCk(fsPath("in"), {embed, head, a, b, norm});
    writeMetadata(fsPath("in"), kConfig);
    const Result r = consolidate("in", "out", {"--drop-tied"});
    EXPECT_EXIT(r, 0);
    const Published p = readPublished(fsPath("out"));
    QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
    const Names want{embed.fqn, a.fqn, b.fqn, norm.fqn}; // other identical tensors are kept
    QCOMPARE(namesOf(p), want);
    QCOMPARE(indexNames(p), want);
    QVERIFY(get(p, embed.fqn).bytes == embed.bytes);
    QVERIFY(get(p, b.fqn).bytes == b.bytes);
    const QJsonObject copy = parseJson(readFile(fsPath("out") / "config.json"));
    QJsonObject wantConfig = parseJson(kConfig);
    wantConfig["tie_word_embeddings"] = true;
    QVERIFY2(copy == wantConfig, QJsonDocument(copy).toJson(QJsonDocument::Compact).constData());
    QCOMPARE(readFile(fsPath("in") / ".hf_metadata" / "config.json"), kConfig);
    EXPECT_EXIT(verify("out", "in"), 0);

    // with --cast as well
    const Result cast = consolidate("in", "cast", {"--drop-tied", "--cast", "bf16"});
    EXPECT_EXIT(cast, 0);
    const Published pc = readPublished(fsPath("cast"));
    QVERIFY2(pc.problems.isEmpty(), qPrintable(pc.problems.join("\n")));
    QCOMPARE(namesOf(pc), want);
    QCOMPARE(get(pc, embed.fqn).bytes, castTensor(embed, "BF16").bytes);
    const QJsonObject castConfig = parseJson(readFile(fsPath("cast") / "config.json"));
    QCOMPARE(castConfig.value("tie_word_embeddings").toBool(false), true);
    QCOMPARE(castConfig.value("torch_dtype").toString(), QString("bfloat16"));
    EXPECT_EXIT(verify("cast", "in"), 0);
}

void TestExportCli::dropTiedKeepsDifferentLmHead() {
    const Tensor embed = plainF32("model.embed_tokens.weight", {4, 3});
    Tensor oneByte = embed;
    oneByte.fqn = "lm_head.weight";
    oneByte.bytes.back() = char(oneByte.bytes.back() ^ 0x01);
    Tensor reshaped = embed;
    reshaped.fqn = "lm_head.weight";
    reshaped.shape = {3, 4};
    Tensor retyped = embed;
    retyped.fqn = "lm_head.weight";
    retyped.dtype = "I32";
    int n = 0;
    for (const Tensor& head : {oneByte, reshaped, retyped}) {
        const std::string in = "in" + std::to_string(n), out = "out" + std::to_string(n);
        ++n;
        writeCk(fsPath(in.c_str()), {embed, head});
        writeMetadata(fsPath(in.c_str()), kConfig);
        const Result r = consolidate(in.c_str(), out.c_str(), {"--drop-tied"});
        EXPECT_EXIT(r, 0);
        const Published p = readPublished(fsPath(out.c_str()));
        QVERIFY2(p.problems.isEmpty(), qPrintable(p.problems.join("\n")));
        QCOMPARE(namesOf(p), (Names{embed.fqn, head.fqn}));
        QVERIFY(get(p, head.fqn).bytes == head.bytes);
        QCOMPARE(get(p, head.fqn).dtype, head.dtype);
        const QJsonObject copy = parseJson(readFile(fsPath(out.c_str()) / "config.json"));
        QVERIFY2(!copy.value("tie_word_embeddings").toBool(false),
                 "tie_word_embeddings set though lm_head.weight was kept");
        if (n == 1) EXPECT_EXIT(verify(out.c_str(), in.c_str()), 0);
    }
}

QTEST_GUILESS_MAIN(TestExportCli)
#include "tst_export_cli.moc"
