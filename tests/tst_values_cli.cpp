// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "dcp_builder.h"
#include "shard_builder.h"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <bit>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

using namespace testing;
namespace fs = std::filesystem;

// A finished run: exit code (-1 when it did not finish, -2 when it died), stdout, stderr.
using Result = CliResult;

// stats, check and diff as users run them: a separate process on checkpoints whose values the
// test chose by hand and writes byte by byte (shard_builder), judged by exit code and output.
// Every expected number is computed here, from the values, not by the code under test.
class TestValuesCli : public QObject {
    Q_OBJECT

private slots:
    void init();

    void statsValuesExact();
    void statsTensorFilterAndText();
    void statsBadRegexExitsTwo();
    void statsMissingDirectory();
    void statsTruncatedShardNamesTheFile();
    void statsTruncatedShardLeavesNoCompleteJson();
    void checkTruncatedShardFails();
    void statsCancelledBySigint();
    void diffCancelledBySigint();

    void checkPlantedFaults();
    void checkNormSpreadThreshold();
    void checkFailOnConstant();
    void checkFailOnUnknownKind();
    void checkMinElementsThreshold();
    void diffTrainingCheckpointAgainstItsExport();
    void diffNormsOfMillionsOfElements();
    void checkCleanCheckpoint();
    void checkThatReadsNothingFails();
    void dtypesWithoutStatisticsAreNamed();
    void checkNaNInOneReplica();
    void checkDemoWithValueFaults();

    void diffIdenticalCopies();
    void diffOneFlippedValue();
    void diffComparesComplexAndPackedByTheirBits();
    void diffTolerance();
    void diffLargeIntegers();
    void statsLargeIntegersExact();
    void statsL2BeyondDouble();
    void histogramLabelsOverTheWholeF64Range();
    void diffDtypeAndShapeChanged();
    void diffOnlyInAOrB();
    void diffNaNAtTheSamePosition();
    void diffNaNOnOneSide();
    void diffNamesOnly();
    void diffDifferentSplitsAreIdentical();
    void diffUsageErrors_data();
    void diffUsageErrors();
    void diffUnreadableInputIsTrouble();
    void diffNonFiniteMismatchSaysWhereBothAreFinite();
    void diffEqualValuesHaveCosineOne();
    void diffF64BeyondTheRangeOfSquares();
    void statsSaysWhenItReadsTwice();
    void diffHelpStatesItsExitCodes();
    void scanWarningsReachStatsCheckAndDiff();
    void replicaConflictNamesAFile();
    void statsDoNotDependOnTheSplit();

private:
    Result run(const QStringList& args) { return runCli(args, m_tmp->path()); }
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString path(const char* name) const { return m_tmp->filePath(name); }
    fs::path fsPath(const char* name) const { return path(name).toStdString(); }
};

namespace {

// ---- values and their bytes -------------------------------------------------------------

std::string f32Bytes(const std::vector<float>& values) {
    std::string out;
    for (float v : values) {
        const uint32_t bits = std::bit_cast<uint32_t>(v);
        for (int i = 0; i < 4; ++i)
            out += char((bits >> (8 * i)) & 0xFF);
    }
    return out;
}

std::string u16Bytes(const std::vector<uint16_t>& values) {
    std::string out;
    for (uint16_t v : values) {
        out += char(v & 0xFF);
        out += char(v >> 8);
    }
    return out;
}

std::string u64Bytes(const std::vector<uint64_t>& values) {
    std::string out;
    for (uint64_t v : values)
        for (int i = 0; i < 8; ++i)
            out += char((v >> (8 * i)) & 0xFF);
    return out;
}

std::string f64Bytes(const std::vector<double>& values) {
    std::vector<uint64_t> bits;
    for (double v : values)
        bits.push_back(std::bit_cast<uint64_t>(v));
    return u64Bytes(bits);
}

float floatFromBits(uint32_t bits) {
    return std::bit_cast<float>(bits);
}
long double bf16Value(uint16_t bits) {
    return floatFromBits(uint32_t(bits) << 16);
}

// A tensor with chosen bytes, split into chunks; chunk i goes to rank i % ranks (as in
// writeCheckpoint, whose file names these share).
struct ValueTensor {
    std::string fqn;
    std::string dtype;
    Dims shape;
    std::string bytes; // the full tensor, row-major
    std::vector<std::pair<Dims, Dims>> chunks;
};

std::string rankFile(int rank) { // 0-based rank
    char name[64];
    std::snprintf(name, sizeof name, "shard-%05d-model-00001-of-00001.safetensors", rank + 1);
    return name;
}

void writeValues(const fs::path& dir, const std::vector<ValueTensor>& tensors, int ranks) {
    fs::create_directories(dir);
    std::vector<std::vector<TestChunk>> files(static_cast<size_t>(ranks));
    for (const auto& t : tensors) {
        const unsigned elementBytes = bitsOf(t.dtype) / 8;
        if (t.bytes.size() != numel(t.shape) * elementBytes)
            throw std::runtime_error("test bug: wrong byte count for " + t.fqn);
        for (size_t i = 0; i < t.chunks.size(); ++i) {
            const auto& [off, sh] = t.chunks[i];
            files[i % size_t(ranks)].push_back(
                {t.fqn, t.dtype, off, sh, slice(t.bytes, t.shape, off, sh, elementBytes)});
        }
    }
    for (int r = 0; r < ranks; ++r)
        writeShard(dir / rankFile(r), files[size_t(r)]);
}

// ---- expected statistics, in long double ------------------------------------------------

struct Expected {
    uint64_t count = 0, nan = 0, posInf = 0, negInf = 0, zeros = 0, subnormals = 0;
    long double min = 0, max = 0, mean = 0, stddev = 0, l2 = 0, maxAbs = 0;
    uint64_t finite() const { return count - nan - posInf - negInf; }
};

Expected expectedStats(const std::vector<long double>& values, long double minNormal) {
    Expected e;
    std::vector<long double> finite;
    for (long double v : values) {
        ++e.count;
        if (std::isnan(v))
            ++e.nan;
        else if (std::isinf(v))
            ++(v > 0 ? e.posInf : e.negInf);
        else {
            finite.push_back(v);
            if (v == 0)
                ++e.zeros;
            else if (std::fabs(v) < minNormal)
                ++e.subnormals;
        }
    }
    if (finite.empty()) return e;
    e.min = e.max = finite[0];
    long double sum = 0, squares = 0;
    for (long double v : finite) {
        e.min = std::min(e.min, v);
        e.max = std::max(e.max, v);
        e.maxAbs = std::max(e.maxAbs, std::fabs(v));
        sum += v;
        squares += v * v;
    }
    e.mean = sum / finite.size();
    long double m2 = 0;
    for (long double v : finite)
        m2 += (v - e.mean) * (v - e.mean);
    e.stddev = std::sqrt(m2 / finite.size());
    e.l2 = std::sqrt(squares);
    return e;
}

bool closeRelative(double actual, long double expected, long double tolerance = 1e-12L) {
    if (expected == 0) return actual == 0;
    return std::fabs((static_cast<long double>(actual) - expected) / expected) <= tolerance;
}

QString describe(double actual, long double expected) {
    return QString("actual %1, expected %2")
        .arg(actual, 0, 'g', 17)
        .arg(double(expected), 0, 'g', 17);
}

QJsonObject parseObject(const QString& text, bool* ok = nullptr) {
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(text.toUtf8(), &error);
    if (ok) *ok = error.error == QJsonParseError::NoError && doc.isObject();
    return doc.object();
}

// Whether `text` holds a JSON document that parses as complete.
bool parsesAsComplete(const QString& text) {
    QJsonParseError error;
    QJsonDocument::fromJson(text.toUtf8(), &error);
    return !text.trimmed().isEmpty() && error.error == QJsonParseError::NoError;
}

QJsonObject byName(const QJsonArray& array, const QString& key, const QString& name) {
    for (const auto& v : array)
        if (v.toObject()[key].toString() == name) return v.toObject();
    return {};
}

uint64_t sum(const QJsonArray& counts) {
    uint64_t total = 0;
    for (const auto& c : counts)
        total += uint64_t(c.toInteger());
    return total;
}

QJsonArray dimsJson(const Dims& d) {
    QJsonArray out;
    for (auto x : d)
        out.append(qint64(x));
    return out;
}

// ---- the stats checkpoint ---------------------------------------------------------------

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// F32 [4, 3], split by rows over 2 ranks: NaN, +0, -0 and an F32 subnormal (2^-140).
std::vector<float> statsF32() {
    return {1.5f,  -2.25f, 0.0f,   3.0f,   kNaN,   0.125f,
            -0.0f, 7.75f,  0.001f, 100.0f, -50.5f, std::ldexp(1.0f, -140)};
}

// BF16 [2, 5], split by columns (2 + 3) over 2 ranks, as bit patterns:
// 1, -1, 2, 0.5, -0.25 / 3, -2^-133 (subnormal), +Inf, +0, 10.
std::vector<uint16_t> statsBF16() {
    return {0x3F80, 0xBF80, 0x4000, 0x3F00, 0xBE80, 0x4040, 0x8001, 0x7F80, 0x0000, 0x4120};
}

void writeStatsCheckpoint(const fs::path& dir) {
    writeValues(dir,
                {{"layers.0.weight", "F32", {4, 3}, f32Bytes(statsF32()), splitDim({4, 3}, 0, 2)},
                 {"embed.bf16", "BF16", {2, 5}, u16Bytes(statsBF16()), splitDim({2, 5}, 1, 2)}},
                2);
}

// Checks one tensor of `stats --json` against the values it holds.
void verifyTensor(const QJsonObject& t, const Expected& e, const char* dtype, const Dims& shape) {
    const QString name = t["name"].toString();
    QCOMPARE(t["dtype"].toString(), QString(dtype));
    QCOMPARE(t["shape"].toArray(), dimsJson(shape));
    QCOMPARE(uint64_t(t["elements"].toInteger()), e.count);
    QCOMPARE(uint64_t(t["nan"].toInteger()), e.nan);
    QCOMPARE(uint64_t(t["pos_inf"].toInteger()), e.posInf);
    QCOMPARE(uint64_t(t["neg_inf"].toInteger()), e.negInf);
    QCOMPARE(uint64_t(t["zeros"].toInteger()), e.zeros);
    QCOMPARE(uint64_t(t["subnormals"].toInteger()), e.subnormals);
    // Exact: min, max and max|x| are element values, which a double holds exactly.
    QCOMPARE(t["min"].toDouble(), double(e.min));
    QCOMPARE(t["max"].toDouble(), double(e.max));
    QCOMPARE(t["max_abs"].toDouble(), double(e.maxAbs));
    QVERIFY2(closeRelative(t["mean"].toDouble(), e.mean),
             qPrintable(name + " mean: " + describe(t["mean"].toDouble(), e.mean)));
    QVERIFY2(closeRelative(t["std"].toDouble(), e.stddev),
             qPrintable(name + " std: " + describe(t["std"].toDouble(), e.stddev)));
    QVERIFY2(closeRelative(t["l2"].toDouble(), e.l2),
             qPrintable(name + " l2: " + describe(t["l2"].toDouble(), e.l2)));
    const QJsonObject linear = t["histogram"].toObject()["linear"].toObject();
    const QJsonObject log = t["histogram"].toObject()["log10_abs"].toObject();
    QCOMPARE(linear["counts"].toArray().size(), 64);
    QCOMPARE(log["counts"].toArray().size(), 64);
    QCOMPARE(sum(linear["counts"].toArray()), e.finite());
    QCOMPARE(sum(log["counts"].toArray()), e.finite() - e.zeros); // nonzero finite values
    QCOMPARE(linear["lo"].toDouble(), double(e.min));
    QCOMPARE(linear["hi"].toDouble(), double(e.max));
    // The extremes land in the outermost bins.
    QVERIFY(linear["counts"].toArray().first().toInteger() >= 1);
    QVERIFY(linear["counts"].toArray().last().toInteger() >= 1);
}

// ---- the check checkpoint ---------------------------------------------------------------

std::vector<float> filled(size_t n, const std::function<float(size_t)>& f) {
    std::vector<float> out(n);
    for (size_t i = 0; i < n; ++i)
        out[i] = f(i);
    return out;
}

// 4 ranks, every tensor split by rows into 4 chunks (chunk i in rank file i + 1).
void writeFaultCheckpoint(const fs::path& dir) {
    // Nonzero values whose chunk RMS stays within a factor 2 of each other.
    auto plain = [](size_t i) { return 1.0f + 0.25f * float(i % 5); };
    std::vector<float> dropped = filled(64, plain); // [8, 8]: rows 2:4 (rank 2) zeroed
    for (size_t i = 16; i < 32; ++i)
        dropped[i] = 0.0f;
    std::vector<float> withNaN = filled(16, plain); // [4, 4]: a NaN in row 2 (rank 3)
    withNaN[9] = kNaN;
    std::vector<float> withInf = filled(16, plain); // [4, 4]: +Inf in row 3 (rank 4)
    withInf[13] = kInf;
    // [8, 4]: every chunk (2 rows) holds the same 8 values, rows 6:8 (rank 4) times 1000.
    std::vector<float> scaled = filled(32, [](size_t i) { return 1.0f + 0.125f * float(i % 8); });
    for (size_t i = 24; i < 32; ++i)
        scaled[i] *= 1000.0f;
    writeValues(dir,
                {{"all_zero",
                  "F32",
                  {4, 8},
                  f32Bytes(std::vector<float>(32, 0.0f)),
                  splitDim({4, 8}, 0, 4)},
                 {"constant",
                  "F32",
                  {4, 4},
                  f32Bytes(std::vector<float>(16, 0.5f)),
                  splitDim({4, 4}, 0, 4)},
                 {"dropped", "F32", {8, 8}, f32Bytes(dropped), splitDim({8, 8}, 0, 4)},
                 {"has_inf", "F32", {4, 4}, f32Bytes(withInf), splitDim({4, 4}, 0, 4)},
                 {"has_nan", "F32", {4, 4}, f32Bytes(withNaN), splitDim({4, 4}, 0, 4)},
                 {"healthy",
                  "BF16",
                  {4, 2},
                  u16Bytes({0x3F80, 0xBF80, 0x4000, 0x3F00, 0x4040, 0xBE80, 0x3FC0, 0x4120}),
                  splitDim({4, 2}, 0, 4)},
                 {"scaled", "F32", {8, 4}, f32Bytes(scaled), splitDim({8, 4}, 0, 4)}},
                4);
}

struct Finding {
    QString severity, kind, file, tensor, message;
};

std::vector<Finding> findings(const QJsonObject& doc) {
    std::vector<Finding> out;
    for (const auto& v : doc["findings"].toArray()) {
        const QJsonObject f = v.toObject();
        out.push_back({f["severity"].toString(), f["kind"].toString(), f["file"].toString(),
                       f["tensor"].toString(), f["message"].toString()});
    }
    return out;
}

QString listed(const std::vector<Finding>& all) {
    QString out;
    for (const auto& f : all)
        out +=
            f.severity + " " + f.kind + " " + f.tensor + " [" + f.file + "]: " + f.message + "\n";
    return out;
}

const Finding* find(const std::vector<Finding>& all, const QString& tensor, const QString& kind) {
    for (const auto& f : all)
        if (f.tensor == tensor && f.kind == kind) return &f;
    return nullptr;
}

// ---- the diff checkpoints ---------------------------------------------------------------

// w: F32 [4, 4], 0.5 i - 3; e: BF16 [2, 4]; b: F32 [4]; all split over 2 ranks.
std::vector<float> diffW() {
    return filled(16, [](size_t i) { return 0.5f * float(i) - 3.0f; });
}
const std::vector<uint16_t> kDiffE = {0x3F80, 0xBF80, 0x4000, 0x3F00,
                                      0x4040, 0xBE80, 0x3FC0, 0x4120};
const std::vector<float> kDiffB = {0.25f, -8.0f, 16.5f, 2.0f};

std::vector<ValueTensor> diffTensors(const std::vector<float>& w) {
    return {{"w", "F32", {4, 4}, f32Bytes(w), splitDim({4, 4}, 0, 2)},
            {"e", "BF16", {2, 4}, u16Bytes(kDiffE), splitDim({2, 4}, 1, 2)},
            {"b", "F32", {4}, f32Bytes(kDiffB), splitDim({4}, 0, 2)}};
}

// w[1][1] (index 5, -0.5) with its top mantissa bit flipped: -0.75.
std::vector<float> flippedW() {
    std::vector<float> w = diffW();
    w[5] = floatFromBits(std::bit_cast<uint32_t>(w[5]) ^ (1u << 22));
    return w;
}

QJsonObject diffJson(const Result& r) {
    bool ok = false;
    QJsonObject doc = parseObject(r.out, &ok);
    if (!ok) qWarning("diff output is not JSON: %s / %s", qPrintable(r.out), qPrintable(r.err));
    return doc;
}

QString statusOf(const QJsonObject& doc, const char* name) {
    return byName(doc["tensors"].toArray(), "name", name)["status"].toString();
}

} // namespace

void TestValuesCli::init() {
    QVERIFY2(!qgetenv("SHARDSCOPE_CLI").isEmpty(), "run through ctest, which sets SHARDSCOPE_CLI");
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
}

// =========================================================================================
// stats

void TestValuesCli::statsValuesExact() {
    writeStatsCheckpoint(fsPath("ck"));
    Result r = run({"stats", path("ck"), "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    bool ok = false;
    const QJsonObject doc = parseObject(r.out, &ok);
    QVERIFY2(ok, qPrintable(r.out));
    QCOMPARE(uint64_t(doc["bytes_read"].toInteger()), uint64_t(12 * 4 + 10 * 2));
    QVERIFY(doc.contains("directory"));
    QVERIFY(doc["seconds"].toDouble() >= 0);
    const QJsonArray tensors = doc["tensors"].toArray();
    QCOMPARE(tensors.size(), 2);

    std::vector<long double> f32;
    for (float v : statsF32())
        f32.push_back(v);
    const Expected ef = expectedStats(f32, std::ldexp(1.0L, -126));
    // By hand: 12 elements, 1 NaN, +0 and -0, one subnormal; min -50.5, max 100.
    QCOMPARE(ef.count, uint64_t(12));
    QCOMPARE(ef.nan, uint64_t(1));
    QCOMPARE(ef.zeros, uint64_t(2));
    QCOMPARE(ef.subnormals, uint64_t(1));
    QCOMPARE(double(ef.min), -50.5);
    QCOMPARE(double(ef.max), 100.0);
    const QJsonObject tf = byName(tensors, "name", "layers.0.weight");
    QVERIFY(!tf.isEmpty());
    verifyTensor(tf, ef, "F32", {4, 3});
    if (QTest::currentTestFailed()) return;

    std::vector<long double> bf;
    for (uint16_t bits : statsBF16())
        bf.push_back(bf16Value(bits));
    const Expected eb = expectedStats(bf, std::ldexp(1.0L, -126));
    // By hand: 10 elements, one +Inf, one zero, one subnormal; min -1, max 10;
    // mean of the 9 finite values (1 - 1 + 2 + 0.5 - 0.25 + 3 - 2^-133 + 0 + 10) / 9.
    QCOMPARE(eb.posInf, uint64_t(1));
    QCOMPARE(eb.zeros, uint64_t(1));
    QCOMPARE(eb.subnormals, uint64_t(1));
    QCOMPARE(double(eb.min), -1.0);
    QCOMPARE(double(eb.max), 10.0);
    QVERIFY(closeRelative(double(eb.mean), (15.25L - std::ldexp(1.0L, -133)) / 9, 1e-15L));
    const QJsonObject tb = byName(tensors, "name", "embed.bf16");
    QVERIFY(!tb.isEmpty());
    verifyTensor(tb, eb, "BF16", {2, 5});
}

void TestValuesCli::statsTensorFilterAndText() {
    writeStatsCheckpoint(fsPath("ck"));
    Result json = run({"stats", path("ck"), "--json", "--tensor", "bf16$"});
    QVERIFY2(json.code == 0, qPrintable(json.err));
    const QJsonArray only = parseObject(json.out)["tensors"].toArray();
    QCOMPARE(only.size(), 1);
    QCOMPARE(only[0].toObject()["name"].toString(), QString("embed.bf16"));
    QCOMPARE(uint64_t(parseObject(json.out)["bytes_read"].toInteger()), uint64_t(20));

    // Text: a header, one row per tensor, a summary line.
    Result text = run({"stats", path("ck"), "--threads", "2"});
    QVERIFY2(text.code == 0, qPrintable(text.err));
    const QStringList lines = text.out.split('\n', Qt::SkipEmptyParts);
    int weightRows = 0, bf16Rows = 0;
    for (const QString& line : lines) {
        weightRows += line.startsWith("layers.0.weight ");
        bf16Rows += line.startsWith("embed.bf16 ");
    }
    QCOMPARE(weightRows, 1);
    QCOMPARE(bf16Rows, 1);
    QCOMPARE(lines.size(), 4);
    QVERIFY2(lines.first().contains("TENSOR") && lines.first().contains("MEAN"),
             qPrintable(text.out));
    QVERIFY2(lines.last().startsWith("2 tensors"), qPrintable(text.out));
    // The row holds the element count and the exact extremes.
    for (const QString& line : lines)
        if (line.startsWith("layers.0.weight ")) {
            const QStringList cells = line.split(' ', Qt::SkipEmptyParts);
            QCOMPARE(cells.value(1), QString("F32"));
            QCOMPARE(cells.value(2), QString("12"));
            QCOMPARE(cells.value(3), QString("-50.5"));
            QCOMPARE(cells.value(4), QString("100"));
            // L2 and subnormals are columns too (they were in --json only).
            std::vector<long double> values;
            for (float v : statsF32())
                values.push_back(v);
            const Expected e = expectedStats(values, std::ldexp(1.0L, -126));
            char l2[32];
            std::snprintf(l2, sizeof l2, "%.5Lg", e.l2);
            QCOMPARE(cells.value(7), QString(l2));
            QVERIFY(e.subnormals > 0);
            QCOMPARE(cells.value(12), QString::number(e.subnormals));
        }
    QVERIFY2(lines.first().contains(" L2 ") && lines.first().endsWith("SUBNORMALS"),
             qPrintable(lines.first()));

    Result filtered = run({"stats", path("ck"), "--tensor", "^layers\\."});
    QVERIFY2(filtered.code == 0, qPrintable(filtered.err));
    QVERIFY(filtered.out.contains("layers.0.weight"));
    QVERIFY(!filtered.out.contains("embed.bf16"));
    QVERIFY2(filtered.out.split('\n', Qt::SkipEmptyParts)
                 .last()
                 .startsWith("1 tensor, 48 B of values read in "),
             qPrintable(filtered.out));

    // No tensor matches: an empty list, still a success.
    Result none = run({"stats", path("ck"), "--json", "--tensor", "^nothing$"});
    QCOMPARE(none.code, 0);
    QCOMPARE(parseObject(none.out)["tensors"].toArray().size(), 0);

    // --histograms prints the text histograms.
    Result histograms = run({"stats", path("ck"), "--histograms", "--tensor", "weight"});
    QCOMPARE(histograms.code, 0);
    QVERIFY2(histograms.out.contains("linear") && histograms.out.contains("log10|x|"),
             qPrintable(histograms.out));
}

void TestValuesCli::statsBadRegexExitsTwo() {
    writeStatsCheckpoint(fsPath("ck"));
    for (const char* bad : {"(", "[a-", "*x"}) {
        Result r = run({"stats", path("ck"), "--tensor", bad});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("not a valid regular expression"), qPrintable(r.err));
        QVERIFY2(r.err.contains(bad), qPrintable(r.err));
        QVERIFY(r.out.isEmpty());
    }
    Result check = run({"check", path("ck"), "--tensor", "("});
    QCOMPARE(check.code, 2);
    QVERIFY(check.out.isEmpty());
    // A pattern that backtracks without end in std::regex ("(a*)*b" against 40 a's did not
    // finish) runs in linear time: the filter matches nothing here and says so at once.
    writeValues(fsPath("long"),
                {{std::string(40, 'a'), "F32", {2}, f32Bytes({1, 2}), {{{0}, {2}}}}}, 1);
    Result quick = run({"stats", path("long"), "--json", "--tensor", "(a*)*b"});
    QCOMPARE(quick.code, 0);
    QCOMPARE(parseObject(quick.out)["tensors"].toArray().size(), 0);
    Result found = run({"stats", path("long"), "--json", "--tensor", "^(a*)*$"});
    QCOMPARE(parseObject(found.out)["tensors"].toArray().size(), 1);
    Result option = run({"stats", path("ck"), "--bogus"});
    QCOMPARE(option.code, 2);
    QVERIFY2(option.err.contains("--bogus"), qPrintable(option.err));
}

void TestValuesCli::statsMissingDirectory() {
    for (const char* command : {"stats", "check"}) {
        Result r = run({command, path("no-such-checkpoint"), "--json"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("no-such-checkpoint"), qPrintable(r.err));
        QVERIFY2(!parsesAsComplete(r.out), qPrintable(r.out));
    }
}

// A shard cut short in the middle of its data section (rank 2's file, which holds half of both
// tensors): returns the file's name.
static QString writeTruncatedCheckpoint(const fs::path& dir) {
    writeStatsCheckpoint(dir);
    const fs::path cut = dir / rankFile(1);
    const std::string bytes = readFile(cut);
    uint64_t header = 0;
    for (int i = 7; i >= 0; --i)
        header = (header << 8) | uint8_t(bytes[size_t(i)]);
    const uint64_t dataBytes = bytes.size() - 8 - header;
    if (dataBytes != 2 * 3 * 4 + 2 * 3 * 2) // 2 rows of the F32, 3 columns of the BF16
        throw std::runtime_error("test bug: unexpected data size");
    fs::resize_file(cut, 8 + header + dataBytes / 2);
    return QString::fromStdString(rankFile(1));
}

// A failed run whose message names the damaged file.
void TestValuesCli::statsTruncatedShardNamesTheFile() {
    const QString name = writeTruncatedCheckpoint(fsPath("ck"));
    Result json = run({"stats", path("ck"), "--json"});
    QCOMPARE(json.code, 1);
    Result text = run({"stats", path("ck")});
    QCOMPARE(text.code, 1);
    QVERIFY2(json.err.contains(name),
             qPrintable("stats --json: stderr does not name " + name + ":\n" + json.err));
    QVERIFY2(text.err.contains(name) || text.out.contains(name),
             qPrintable("stats: neither stream names " + name + ":\n" + text.err));
    // It says the file is short, by how much, not only that offsets run past its end.
    const uint64_t size = fs::file_size(fsPath("ck") / rankFile(1));
    const QString shortBy = QStringLiteral("the file is %1 bytes, %2 short of the %3")
                                .arg(size)
                                .arg(18) // half of its 36 data bytes were cut
                                .arg(size + 18);
    QVERIFY2(json.err.contains(shortBy), qPrintable(shortBy + "\n" + json.err));
}

// No JSON on stdout that a consumer could take for the checkpoint's complete statistics.
void TestValuesCli::statsTruncatedShardLeavesNoCompleteJson() {
    writeTruncatedCheckpoint(fsPath("ck"));
    Result json = run({"stats", path("ck"), "--json"});
    QCOMPARE(json.code, 1);
    QVERIFY2(!parsesAsComplete(json.out),
             qPrintable("stdout parses as a complete document:\n" + json.out));
}

// check prints the scan's problem, naming the file, and fails whatever --fail-on says.
void TestValuesCli::checkTruncatedShardFails() {
    const QString name = writeTruncatedCheckpoint(fsPath("ck"));
    for (const char* failOn : {"nan,inf,zeros,zero-chunk", "constant"}) {
        Result check = run({"check", path("ck"), "--json", "--fail-on", failOn});
        QCOMPARE(check.code, 1);
        bool ok = false;
        const QJsonObject doc = parseObject(check.out, &ok);
        QVERIFY2(ok, qPrintable(check.out));
        QVERIFY(doc["failed"].toBool());
        bool named = false;
        for (const auto& f : findings(doc))
            named =
                named || ((f.file == name || f.message.contains(name)) && f.severity == "error");
        QVERIFY2(named, qPrintable(listed(findings(doc))));
    }
}

// 4 x 50 MiB of F32 in four rank files, for runs long enough to interrupt.
static void writeBigCheckpoint(const fs::path& dir) {
    constexpr size_t kFiles = 4, kFloats = (50u << 20) / 4;
    fs::create_directories(dir);
    std::vector<float> values(kFloats);
    for (size_t i = 0; i < kFloats; ++i)
        values[i] = float(i & 1023) * 0.5f - 100.0f;
    std::string bytes(kFloats * 4, '\0');
    std::memcpy(bytes.data(), values.data(), bytes.size()); // fast; f32Bytes is per byte
    for (size_t f = 0; f < kFiles; ++f)
        writeShard(dir / rankFile(int(f)), {{"big", "F32", {f * kFloats}, {kFloats}, bytes}});
}

// SIGINT once the CLI's signal handling is up (SIGINT blocked: before that the signal would
// kill the process) and it has read 8 MiB (far more than the headers), so it lands mid-read.
static void interruptWhileReading(QProcess& p) {
    QElapsedTimer waited;
    waited.start();
    bool ready = false;
    while (!ready && p.state() == QProcess::Running && waited.elapsed() < 30000) {
        QFile status(QString("/proc/%1/status").arg(p.processId()));
        if (status.open(QIODevice::ReadOnly))
            for (const QByteArray& line : status.readAll().split('\n'))
                if (line.startsWith("SigBlk:"))
                    ready = line.mid(7).trimmed().toULongLong(nullptr, 16) & (1ull << (SIGINT - 1));
        if (!ready) QTest::qWait(1);
    }
    bool reading = false;
    while (ready && !reading && p.state() == QProcess::Running && waited.elapsed() < 30000) {
        QFile io(QString("/proc/%1/io").arg(p.processId()));
        if (io.open(QIODevice::ReadOnly))
            for (const QByteArray& line : io.readAll().split('\n'))
                if (line.startsWith("rchar:"))
                    reading = line.mid(6).trimmed().toULongLong() > (8u << 20);
        if (!reading) QTest::qWait(1);
    }
    if (ready && p.state() == QProcess::Running) ::kill(pid_t(p.processId()), SIGINT);
}

// Ctrl+C while stats reads 200 MiB: exit 1, "cancelled" on stderr, no JSON document on stdout.
void TestValuesCli::statsCancelledBySigint() {
    if constexpr (std::endian::native != std::endian::little)
        QSKIP("the 200 MiB fixture is copied in host byte order");
    writeBigCheckpoint(fsPath("big"));
    QProcess p;
    p.start(QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI")),
            {"stats", path("big"), "--json", "--threads", "2"});
    QVERIFY(p.waitForStarted());
    interruptWhileReading(p);
    QVERIFY2(p.waitForFinished(60000), "stats did not end after SIGINT");
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    const QString out = QString::fromUtf8(p.readAllStandardOutput());
    const QString err = QString::fromUtf8(p.readAllStandardError());
    if (p.exitCode() == 0) {
        QCOMPARE(parseObject(out)["tensors"].toArray().size(), 1);
        QSKIP("stats finished before SIGINT arrived (a fast machine)");
    }
    QCOMPARE(p.exitCode(), 1);
    QVERIFY2(err.contains("cancelled"), qPrintable(err));
    QVERIFY2(!parsesAsComplete(out), qPrintable(out));
    QVERIFY2(out.isEmpty(), qPrintable(out)); // nothing half-written either
}

// Ctrl+C while diff compares 2 x 200 MiB: "no answer" (exit 2, never taken for "differs" or
// "same"), nothing on stdout.
void TestValuesCli::diffCancelledBySigint() {
    if constexpr (std::endian::native != std::endian::little)
        QSKIP("the 200 MiB fixture is copied in host byte order");
    writeBigCheckpoint(fsPath("big"));
    writeBigCheckpoint(fsPath("copy"));
    QProcess p;
    p.start(QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI")),
            {"diff", path("big"), path("copy"), "--json", "--threads", "2"});
    QVERIFY(p.waitForStarted());
    interruptWhileReading(p);
    QVERIFY2(p.waitForFinished(60000), "diff did not end after SIGINT");
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    const QString out = QString::fromUtf8(p.readAllStandardOutput());
    const QString err = QString::fromUtf8(p.readAllStandardError());
    if (p.exitCode() == 0) {
        QVERIFY(parseObject(out)["same"].toBool());
        QSKIP("diff finished before SIGINT arrived (a fast machine)");
    }
    QCOMPARE(p.exitCode(), 2);
    QVERIFY2(err.contains("diff cancelled; no answer"), qPrintable(err));
    QVERIFY2(out.isEmpty(), qPrintable(out));
}

// =========================================================================================
// check

void TestValuesCli::checkPlantedFaults() {
    writeFaultCheckpoint(fsPath("ck"));
    Result r = run({"check", path("ck"), "--json"});
    QCOMPARE(r.code, 1);
    bool ok = false;
    const QJsonObject doc = parseObject(r.out, &ok);
    QVERIFY2(ok, qPrintable(r.out));
    QVERIFY(doc["failed"].toBool());
    QCOMPARE(doc["tensors_checked"].toInteger(), 7);
    const uint64_t bytes = (32 + 16 + 64 + 16 + 16 + 32) * 4 + 8 * 2;
    QCOMPARE(uint64_t(doc["bytes_read"].toInteger()), bytes);
    const auto all = findings(doc);
    const QString list = listed(all);

    struct Want {
        const char* tensor;
        const char* kind;
        const char* severity;
        int rank; // 0-based rank file the finding names
    };
    const Want wanted[] = {
        {"all_zero", "AllZeros", "warning", 0}, {"constant", "ConstantTensor", "warning", 0},
        {"dropped", "ZeroChunk", "error", 1},   {"has_inf", "ValueInf", "error", 3},
        {"has_nan", "ValueNaN", "error", 2},    {"scaled", "NormSpread", "warning", 3},
    };
    QVERIFY2(all.size() == std::size(wanted), qPrintable(list));
    for (const Want& w : wanted) {
        const Finding* f = find(all, w.tensor, w.kind);
        QVERIFY2(f, qPrintable(QString("no %1 for %2 in\n%3").arg(w.kind, w.tensor, list)));
        QCOMPARE(f->severity, QString(w.severity));
        QCOMPARE(f->file, QString::fromStdString(rankFile(w.rank)));
    }
    // The dropped shard: its region and its file.
    const Finding* zero = find(all, "dropped", "ZeroChunk");
    QVERIFY2(zero->message.contains("[2:4, 0:8]"), qPrintable(zero->message));
    QVERIFY2(zero->message.contains(QString::fromStdString(rankFile(1))),
             qPrintable(zero->message));
    QVERIFY2(zero->message.contains("16 elements"), qPrintable(zero->message));
    // One NaN in rows 2:3, one +Inf in rows 3:4.
    const Finding* nan = find(all, "has_nan", "ValueNaN");
    QVERIFY2(nan->message.contains("1 NaN element"), qPrintable(nan->message));
    QVERIFY2(nan->message.contains("[2:3, 0:4]"), qPrintable(nan->message));
    const Finding* inf = find(all, "has_inf", "ValueInf");
    QVERIFY2(inf->message.contains("1 +Inf"), qPrintable(inf->message));
    QVERIFY2(inf->message.contains("[3:4, 0:4]"), qPrintable(inf->message));
    QVERIFY2(find(all, "constant", "ConstantTensor")->message.contains("0.5"), qPrintable(list));
    QVERIFY2(find(all, "all_zero", "AllZeros")->message.contains("32"), qPrintable(list));
    // Both whole-tensor findings name every rank file the tensor spans, not only the first.
    for (const char* tensor : {"constant", "all_zero"}) {
        const Finding* f =
            find(all, tensor, tensor == std::string("constant") ? "ConstantTensor" : "AllZeros");
        QVERIFY2(f->message.contains("across 4 files"), qPrintable(f->message));
        for (int rank = 0; rank < 4; ++rank)
            QVERIFY2(f->message.contains(QString::fromStdString(rankFile(rank))),
                     qPrintable(f->message));
    }
    // The scaled chunk's RMS is exactly 1000 times its siblings' (same values times 1000).
    const Finding* spread = find(all, "scaled", "NormSpread");
    QVERIFY2(spread->message.contains("1000x"), qPrintable(spread->message));
    QVERIFY2(spread->message.contains("[6:8, 0:4]"), qPrintable(spread->message));
    // No finding for the healthy tensor, and a ZeroChunk only where one was planted.
    for (const auto& f : all)
        QVERIFY2(f.tensor != "healthy", qPrintable(list));

    // Text output: the same findings, one line each, and the same exit code.
    Result text = run({"check", path("ck")});
    QCOMPARE(text.code, 1);
    QVERIFY2(text.out.contains("[2:4, 0:8] in " + QString::fromStdString(rankFile(1))),
             qPrintable(text.out));
    QVERIFY2(text.out.contains("6 findings"), qPrintable(text.out));

    // --tensor: only the healthy and the constant tensor: warnings only, which pass by default.
    Result some = run({"check", path("ck"), "--json", "--tensor", "^(healthy|constant)$"});
    QCOMPARE(some.code, 0);
    const QJsonObject someDoc = parseObject(some.out);
    QCOMPARE(someDoc["tensors_checked"].toInteger(), 2);
    QVERIFY(!someDoc["failed"].toBool());
    QCOMPARE(findings(someDoc).size(), size_t(1));

    // --fail-on norm-spread alone: only the NormSpread warning fails it.
    Result spreadOnly =
        run({"check", path("ck"), "--json", "--tensor", "scaled", "--fail-on", "norm-spread"});
    QCOMPARE(spreadOnly.code, 1);
    Result nanOnly =
        run({"check", path("ck"), "--json", "--tensor", "scaled", "--fail-on", "nan,inf"});
    QCOMPARE(nanOnly.code, 0);
}

void TestValuesCli::checkNormSpreadThreshold() {
    writeFaultCheckpoint(fsPath("ck"));
    Result high = run({"check", path("ck"), "--json", "--norm-spread", "10000"});
    QCOMPARE(high.code, 1); // the other faults still fail it
    const auto all = findings(parseObject(high.out));
    QVERIFY2(all.size() == 5, qPrintable(listed(all)));
    for (const auto& f : all)
        QVERIFY2(f.kind != "NormSpread", qPrintable(listed(all)));
    // Around the planted ratio of 1000.
    Result under = run({"check", path("ck"), "--json", "--norm-spread", "999"});
    QVERIFY(find(findings(parseObject(under.out)), "scaled", "NormSpread"));
    Result over = run({"check", path("ck"), "--json", "--norm-spread", "1001"});
    QVERIFY(!find(findings(parseObject(over.out)), "scaled", "NormSpread"));
    // Below 1 every pair of chunks would differ "by more than" it.
    for (const char* bad : {"nan", "NaN", "inf", "-1", "0.5", "0.999"}) {
        Result r = run({"check", path("ck"), "--norm-spread", bad});
        QVERIFY2(r.code == 2, bad);
        QVERIFY2(r.err.contains("--norm-spread"), qPrintable(r.err));
    }
    Result zero = run({"check", path("ck"), "--norm-spread", "0"});
    QCOMPARE(zero.code, 2);
}

// --min-elements: "constant" has 16 elements and "all_zero" 32; at 17 the constant tensor is no
// longer reported, at 33 neither is (and all_zero no longer fails the check by itself).
void TestValuesCli::checkMinElementsThreshold() {
    writeFaultCheckpoint(fsPath("ck"));
    auto kindsOf = [&](const char* n) {
        Result r = run(
            {"check", path("ck"), "--json", "--min-elements", n, "--fail-on", "zeros,constant"});
        QStringList kinds;
        for (const auto& f : findings(parseObject(r.out)))
            if (f.kind == "AllZeros" || f.kind == "ConstantTensor")
                kinds << f.tensor + ":" + f.kind;
        return std::pair{r.code, kinds};
    };
    QCOMPARE(kindsOf("16"),
             std::pair(1, QStringList{"all_zero:AllZeros", "constant:ConstantTensor"}));
    QCOMPARE(kindsOf("17"), std::pair(1, QStringList{"all_zero:AllZeros"}));
    QCOMPARE(kindsOf("33"), std::pair(0, QStringList{}));
    // Digits only, at least 1: strtoull would read "-1" as 2^64 - 1.
    for (const char* bad : {"0", "-1", "1.5", "x", "+3", "18446744073709551616", ""}) {
        Result r = run({"check", path("ck"), "--min-elements", bad});
        QVERIFY2(r.code == 2, bad);
        QVERIFY2(r.err.contains("--min-elements"), qPrintable(r.err));
    }
}

void TestValuesCli::checkFailOnConstant() {
    writeValues(
        fsPath("ck"),
        {{"c", "F32", {2, 4}, f32Bytes(std::vector<float>(8, -1.25f)), splitDim({2, 4}, 0, 2)},
         {"fine",
          "BF16",
          {2, 2},
          u16Bytes({0x3F80, 0x4000, 0xBF80, 0x4040}),
          splitDim({2, 2}, 1, 2)}},
        2);
    Result byDefault = run({"check", path("ck"), "--json"});
    QCOMPARE(byDefault.code, 0);
    const QJsonObject doc = parseObject(byDefault.out);
    QVERIFY(!doc["failed"].toBool());
    const auto all = findings(doc);
    QVERIFY2(all.size() == 1, qPrintable(listed(all)));
    QCOMPARE(all[0].kind, QString("ConstantTensor"));
    QCOMPARE(all[0].tensor, QString("c"));
    QCOMPARE(all[0].severity, QString("warning"));
    QVERIFY2(all[0].message.contains("-1.25"), qPrintable(all[0].message));

    Result constant = run({"check", path("ck"), "--json", "--fail-on", "constant"});
    QCOMPARE(constant.code, 1);
    QVERIFY(parseObject(constant.out)["failed"].toBool());
    QCOMPARE(run({"check", path("ck"), "--fail-on", "all"}).code, 1);
    QCOMPARE(run({"check", path("ck"), "--fail-on", "nan,constant"}).code, 1);
    // Given twice, both lists count (the later one does not replace the first).
    QCOMPARE(run({"check", path("ck"), "--fail-on", "constant", "--fail-on", "nan"}).code, 1);
    QCOMPARE(run({"check", path("ck"), "--fail-on", "nan", "--fail-on", "inf"}).code, 0);
    QCOMPARE(run({"check", path("ck"), "--fail-on", "nan", "--fail-on", "bogus"}).code, 2);
    QCOMPARE(run({"check", path("ck"), "--fail-on", "nan,zeros"}).code, 0);
}

void TestValuesCli::checkFailOnUnknownKind() {
    writeValues(fsPath("ck"), {{"x", "F32", {2}, f32Bytes({1.0f, 2.0f}), splitDim({2}, 0, 1)}}, 1);
    for (const char* list : {"bogus", "nan,bogus", "", "nan,,zeros", "nan,", ",nan", ","}) {
        Result r = run({"check", path("ck"), "--fail-on", list});
        QCOMPARE(r.code, 2);
        QVERIFY(r.out.isEmpty());
        QVERIFY2(r.err.contains("--fail-on"), qPrintable(r.err));
    }
    QVERIFY(run({"check", path("ck"), "--fail-on", "bogus"}).err.contains("bogus"));
    QVERIFY(run({"check", path("ck"), "--fail-on", "nan,,zeros"}).err.contains("empty kind"));
    QCOMPARE(run({"check", path("ck"), "--norm-spread", "1"}).code, 0);
}

void TestValuesCli::checkCleanCheckpoint() {
    writeStatsCheckpoint(fsPath("ck")); // has NaN/Inf: not clean
    QCOMPARE(run({"check", path("ck")}).code, 1);
    writeValues(fsPath("clean"),
                {{"w", "F32", {4, 4}, f32Bytes(diffW()), splitDim({4, 4}, 0, 2)},
                 {"e", "BF16", {2, 4}, u16Bytes(kDiffE), splitDim({2, 4}, 1, 2)}},
                2);
    Result r = run({"check", path("clean"), "--json"});
    QCOMPARE(r.code, 0);
    bool ok = false;
    const QJsonObject doc = parseObject(r.out, &ok);
    QVERIFY2(ok, qPrintable(r.out));
    QVERIFY(!doc["failed"].toBool());
    QCOMPARE(doc["findings"].toArray().size(), 0);
    QCOMPARE(doc["tensors_checked"].toInteger(), 2);
    Result text = run({"check", path("clean"), "--fail-on", "all"});
    QCOMPARE(text.code, 0);
    QVERIFY2(text.out.contains("0 findings"), qPrintable(text.out));
}

// A gate that looked at nothing does not pass: a --tensor matching no name, an index whose
// weight_map is empty beside files that hold tensors, a checkpoint of C64 only. They passed
// with "0 tensors checked". stats still exits 0 and says so on stderr.
void TestValuesCli::checkThatReadsNothingFails() {
    writeValues(fsPath("clean"), {{"w", "F32", {4, 4}, f32Bytes(diffW()), splitDim({4, 4}, 0, 2)}},
                2);
    fs::create_directories(fsPath("hf"));
    writeWholeFile(fsPath("hf") / "model-00001-of-00001.safetensors", {{"w", "U8", {4}}});
    std::ofstream(fsPath("hf") / "model.safetensors.index.json") << R"({"weight_map": {}})";
    fs::create_directories(fsPath("complex"));
    writeWholeFile(fsPath("complex") / "model.safetensors", {{"z", "C64", {2}}});
    const struct {
        QStringList args;
        QString why;
    } cases[] = {
        {{path("clean"), "--tensor", "^nothing$"}, "no tensor matches --tensor ^nothing$"},
        {{path("hf")}, "the checkpoint holds no tensors"},
        {{path("complex")}, "every selected tensor is of a dtype without statistics"},
    };
    for (const auto& c : cases) {
        Result text = run(QStringList{"check"} + c.args);
        QVERIFY2(text.code == 1, qPrintable(c.args.join(' ') + ": " + text.err));
        QVERIFY2(text.err.contains("nothing was checked: " + c.why), qPrintable(text.err));
        Result json = run(QStringList{"check", "--json"} + c.args);
        QCOMPARE(json.code, 1);
        bool ok = false;
        const QJsonObject doc = parseObject(json.out, &ok);
        QVERIFY2(ok, qPrintable(json.out));
        QVERIFY(doc["failed"].toBool());
        QCOMPARE(doc["tensors_checked"].toInteger(), 0);
        Result stats = run(QStringList{"stats"} + c.args);
        QCOMPARE(stats.code, 0);
        QVERIFY2(stats.err.contains("no values were read: " + c.why), qPrintable(stats.err));
    }
    QCOMPARE(run({"check", path("clean"), "--tensor", "^w$"}).code, 0);
}

// C64 and the packed F4/F6 dtypes have no statistics: stats and check say which tensors they
// did not read, so the table never passes for the whole checkpoint.
void TestValuesCli::dtypesWithoutStatisticsAreNamed() {
    std::string complexBytes(4 * 8, '\0'); // four C64 elements
    for (size_t i = 0; i < complexBytes.size(); ++i)
        complexBytes[i] = char(i * 7);
    writeValues(fsPath("mixed"),
                {{"w", "F32", {4, 4}, f32Bytes(diffW()), splitDim({4, 4}, 0, 2)},
                 {"z.complex", "C64", {2, 2}, complexBytes, splitDim({2, 2}, 0, 2)}},
                2);
    Result text = run({"stats", path("mixed")});
    QCOMPARE(text.code, 0);
    QVERIFY2(text.out.contains("1 tensor not read") && text.out.contains("z.complex (C64)"),
             qPrintable(text.out));
    Result json = run({"stats", path("mixed"), "--json"});
    bool ok = false;
    const QJsonObject doc = parseObject(json.out, &ok);
    QVERIFY2(ok, qPrintable(json.out));
    QCOMPARE(doc["tensors"].toArray().size(), 1);
    const QJsonArray unread = doc["not_read"].toArray();
    QCOMPARE(unread.size(), 1);
    QCOMPARE(unread[0].toObject()["name"].toString(), QString("z.complex"));
    QCOMPARE(unread[0].toObject()["dtype"].toString(), QString("C64"));
    Result check = run({"check", path("mixed"), "--json"});
    const QJsonObject checked = parseObject(check.out, &ok);
    QVERIFY2(ok, qPrintable(check.out));
    QCOMPARE(checked["tensors_checked"].toInteger(), 1);
    QCOMPARE(checked["not_read"].toArray().size(), 1);
    // A --tensor filter that leaves the complex tensor out leaves it out of the note too.
    Result filtered = run({"stats", path("mixed"), "--tensor", "^w$"});
    QVERIFY2(!filtered.out.contains("not read"), qPrintable(filtered.out));
}

// A replicated bias saved whole by two ranks, one copy with a NaN.
void TestValuesCli::checkNaNInOneReplica() {
    const fs::path dir = fsPath("ck");
    fs::create_directories(dir);
    const std::vector<float> w = diffW();
    const std::string wBytes = f32Bytes(w);
    writeShard(dir / rankFile(0), {{"bias", "F32", {0}, {4}, f32Bytes({1, 2, 3, 4})},
                                   {"w", "F32", {0, 0}, {2, 4}, wBytes.substr(0, 32)}});
    writeShard(dir / rankFile(1), {{"bias", "F32", {0}, {4}, f32Bytes({1, kNaN, 3, 4})},
                                   {"w", "F32", {2, 0}, {2, 4}, wBytes.substr(32)}});
    const QString replica = QString::fromStdString(rankFile(1));
    Result r = run({"check", path("ck"), "--json"});
    QCOMPARE(r.code, 1);
    bool ok = false;
    const QJsonObject doc = parseObject(r.out, &ok);
    QVERIFY2(ok, qPrintable(r.out));
    QVERIFY(doc["failed"].toBool());
    const auto all = findings(doc);
    const QString list = listed(all);
    // The tool reports both: the scan's replica conflict (naming both files) and a ValueNaN
    // naming the replica's chunk and file.
    const Finding* conflict = find(all, "bias", "ReplicaConflict");
    QVERIFY2(conflict, qPrintable(list));
    QCOMPARE(conflict->severity, QString("error"));
    QVERIFY2(conflict->message.contains(replica), qPrintable(conflict->message));
    const Finding* nan = find(all, "bias", "ValueNaN");
    QVERIFY2(nan, qPrintable(list));
    QCOMPARE(nan->severity, QString("error"));
    QCOMPARE(nan->file, replica);
    QVERIFY2(nan->message.contains(replica) && nan->message.contains("replica"),
             qPrintable(nan->message));
    for (const auto& f : all)
        QVERIFY2(f.tensor == "bias", qPrintable(list));

    // Even with --fail-on for a kind that is not there, the scan's conflict fails the check.
    Result constant = run({"check", path("ck"), "--fail-on", "constant"});
    QCOMPARE(constant.code, 1);
    QVERIFY2(constant.out.contains(replica), qPrintable(constant.out));

    // One NaN element was stored (in the replica); the message must not say there are none.
    QVERIFY2(nan->message.contains("1 NaN element"), qPrintable(nan->message));
}

// =========================================================================================
// diff

void TestValuesCli::diffIdenticalCopies() {
    writeValues(fsPath("a"), diffTensors(diffW()), 2);
    writeValues(fsPath("b"), diffTensors(diffW()), 2);
    Result r = run({"diff", path("a"), path("b"), "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
    const QJsonObject doc = diffJson(r);
    QVERIFY(doc["same"].toBool());
    const QJsonArray tensors = doc["tensors"].toArray();
    QCOMPARE(tensors.size(), 3);
    for (const auto& v : tensors) {
        const QJsonObject t = v.toObject();
        QCOMPARE(t["status"].toString(), QString("identical"));
        QCOMPARE(t["differing"].toInteger(), 0);
        QCOMPARE(t["nan_mismatch"].toInteger(), 0);
        QCOMPARE(t["max_abs_diff"].toDouble(), 0.0);
        QCOMPARE(t["relative_l2"].toDouble(), 0.0);
    }
    QCOMPARE(byName(tensors, "name", "w")["elements"].toInteger(), 16);
    QCOMPARE(byName(tensors, "name", "e")["elements"].toInteger(), 8);
    QCOMPARE(uint64_t(doc["bytes_read"].toInteger()), uint64_t(2 * (64 + 16 + 16)));
    Result text = run({"diff", path("a"), path("b")});
    QCOMPARE(text.code, 0);
    QVERIFY2(text.out.contains("3 tensors: 3 identical"), qPrintable(text.out));
    Result all = run({"diff", path("a"), path("b"), "--all"});
    QCOMPARE(all.code, 0);
    QVERIFY2(all.out.contains("identical") && all.out.contains(" w"), qPrintable(all.out));
    // A directory against itself.
    QCOMPARE(run({"diff", path("a"), path("a")}).code, 0);
}

void TestValuesCli::diffOneFlippedValue() {
    writeValues(fsPath("a"), diffTensors(diffW()), 2);
    writeValues(fsPath("b"), diffTensors(flippedW()), 2);
    const std::vector<float> wa = diffW(), wb = flippedW();
    QCOMPARE(wa[5], -0.5f);
    QCOMPARE(wb[5], -0.75f);
    const double expectedMax = std::fabs(double(wa[5]) - double(wb[5]));
    QCOMPARE(expectedMax, 0.25);
    long double aSquares = 0, bSquares = 0, dot = 0;
    for (size_t i = 0; i < wa.size(); ++i) {
        aSquares += (long double)wa[i] * wa[i];
        bSquares += (long double)wb[i] * wb[i];
        dot += (long double)wa[i] * wb[i];
    }
    Result r = run({"diff", path("a"), path("b"), "--json"});
    QCOMPARE(r.code, 1);
    const QJsonObject doc = diffJson(r);
    QVERIFY(!doc["same"].toBool());
    const QJsonObject w = byName(doc["tensors"].toArray(), "name", "w");
    QCOMPARE(w["status"].toString(), QString("differs"));
    QCOMPARE(w["elements"].toInteger(), 16);
    QCOMPARE(w["differing"].toInteger(), 1);
    QCOMPARE(w["beyond_tolerance"].toInteger(), 1);
    QCOMPARE(w["nan_mismatch"].toInteger(), 0);
    QCOMPARE(w["max_abs_diff"].toDouble(), expectedMax);
    const long double relative = 0.25L / std::sqrt(aSquares);
    QVERIFY2(closeRelative(w["relative_l2"].toDouble(), relative),
             qPrintable(describe(w["relative_l2"].toDouble(), relative)));
    const long double cosine = dot / std::sqrt(aSquares * bSquares);
    QVERIFY2(closeRelative(w["cosine"].toDouble(), cosine),
             qPrintable(describe(w["cosine"].toDouble(), cosine)));
    QCOMPARE(statusOf(doc, "e"), QString("identical"));
    QCOMPARE(statusOf(doc, "b"), QString("identical"));

    Result text = run({"diff", path("a"), path("b")});
    QCOMPARE(text.code, 1);
    QVERIFY2(text.out.contains("differs") && text.out.contains("1 of 16 elements differ"),
             qPrintable(text.out));
}

// C64, F4 and F6 have no numbers to subtract: their elements are compared by their bits, over
// two windows (4 MiB each), including the first element of the second window, an F6 element
// across two bytes and both nibbles of F4. diff said "1 of 1 elements differ"
// per window with "max |a-b| 0, rel L2 0", and counted them beyond any --atol.
void TestValuesCli::diffComparesComplexAndPackedByTheirBits() {
    const uint64_t nC64 = 600000, nF4 = 9000000, nF6 = 6000000;
    auto pattern = [](size_t size, unsigned seed) {
        std::string out(size, '\0');
        uint32_t x = seed;
        for (char& c : out) {
            x = x * 1664525u + 1013904223u;
            c = char(x >> 24);
        }
        return out;
    };
    const std::string c64 = pattern(nC64 * 8, 1), f4 = pattern(nF4 / 2, 2),
                      f6 = pattern(nF6 * 6 / 8, 3);
    auto write = [&](const char* name, const std::string& c, const std::string& p4,
                     const std::string& p6) {
        fs::create_directories(fsPath(name));
        writeShard(fsPath(name) / rankFile(0), {{"c", "C64", {0}, {int64_t(nC64)}, c},
                                                {"p4", "F4", {0}, {int64_t(nF4)}, p4},
                                                {"p6", "F6_E2M3", {0}, {int64_t(nF6)}, p6}});
    };
    write("a", c64, f4, f6);
    std::string c64b = c64, f4b = f4, f6b = f6;
    c64b[3 * 8 + 5] ^= 1;                     // element 3
    c64b[(4u << 20) + 2] ^= 0x40;             // element 524288, the second window's first
    c64b[c64b.size() - 1] ^= char(0x80);      // the last element
    f4b[0] ^= 0x01;                           // element 0, the low nibble
    f4b[4u << 20] ^= 0x20;                    // element 2 * 4 MiB + 1, a high nibble
    f4b[f4b.size() - 1] ^= char(0x10);        // the padding nibble after element 9,000,000
    f6b[0] ^= char(0x80);                     // bit 7: element 1 (bits 6-11), across bytes 0-1
    const size_t window = (4u << 20) / 3 * 3; // F6 windows hold whole groups of four
    f6b[window] ^= 0x01;                      // element window * 8 / 6, the second window's first
    f6b[f6b.size() - 1] ^= char(0x80);        // element 5,999,999
    write("b", c64b, f4b, f6b);

    for (const QStringList& extra : {QStringList{}, QStringList{"--atol", "1000"}}) {
        Result r = run(QStringList{"diff", path("a"), path("b"), "--json"} + extra);
        QVERIFY2(r.code == 1, qPrintable(r.err));
        const QJsonObject doc = diffJson(r);
        QVERIFY(!doc["same"].toBool());
        const struct {
            const char* name;
            qint64 elements, differing;
        } expected[] = {{"c", qint64(nC64), 3}, {"p4", qint64(nF4), 3}, {"p6", qint64(nF6), 3}};
        for (const auto& e : expected) {
            const QJsonObject t = byName(doc["tensors"].toArray(), "name", e.name);
            QCOMPARE(t["status"].toString(), QString("differs"));
            QCOMPARE(t["elements"].toInteger(), e.elements);
            QCOMPARE(t["differing"].toInteger(), e.differing);
            QCOMPARE(t["beyond_tolerance"].toInteger(), e.differing);
            QVERIFY(t["bytes_only"].toBool());
            for (const char* number : {"max_abs_diff", "relative_l2", "cosine"})
                QVERIFY2(t[number].isNull(), number);
        }
    }
    Result text = run({"diff", path("a"), path("b")});
    QCOMPARE(text.code, 1);
    QVERIFY2(text.out.contains("3 of 600000 elements differ (compared by their bits: C64 has no "
                               "numbers to subtract, and no tolerance applies)"),
             qPrintable(text.out));
    QVERIFY2(!text.out.contains("max |a-b|"), qPrintable(text.out));
    // A bit flipped back and forth: the same.
    f6b = f6;
    write("c", c64, f4, f6b);
    QCOMPARE(run({"diff", path("a"), path("c")}).code, 0);
}

void TestValuesCli::diffTolerance() {
    writeValues(fsPath("a"), diffTensors(diffW()), 2);
    writeValues(fsPath("b"), diffTensors(flippedW()), 2);
    // |a - b| = 0.25 at one element, |b| = 0.75 there.
    struct Case {
        QStringList options;
        bool passes;
    };
    const Case cases[] = {
        {{"--atol", "0.3"}, true},
        {{"--atol", "0.25"}, true}, // <= passes
        {{"--atol", "0.2"}, false},
        {{"--atol", "0"}, false},
        {{"--rtol", "0.5"}, true},                  // 0.5 * 0.75 = 0.375
        {{"--rtol", "0.3"}, false},                 // 0.225
        {{"--atol", "0.1", "--rtol", "0.2"}, true}, // 0.1 + 0.15 = 0.25
        {{"--atol=1e30"}, true},
    };
    for (const Case& c : cases) {
        Result r = run(QStringList{"diff", path("a"), path("b"), "--json"} + c.options);
        const QString label = c.options.join(' ');
        QVERIFY2(r.code == (c.passes ? 0 : 1), qPrintable(label + ": " + r.err));
        const QJsonObject w = byName(diffJson(r)["tensors"].toArray(), "name", "w");
        QCOMPARE(w["status"].toString(), QString(c.passes ? "within-tolerance" : "differs"));
        QCOMPARE(w["differing"].toInteger(), 1);
        QCOMPARE(w["beyond_tolerance"].toInteger(), c.passes ? 0 : 1);
        QCOMPARE(w["max_abs_diff"].toDouble(), 0.25);
        QCOMPARE(statusOf(diffJson(r), "e"), QString("identical"));
    }
}

// Above 2^53 neighbouring 64-bit integers share a double: a difference of 1 there must still
// count, and count against the tolerance.
void TestValuesCli::diffLargeIntegers() {
    const uint64_t big = uint64_t(1) << 62;
    const std::vector<uint64_t> a = {big, big + 2, uint64_t(-5), 7}; // I64: 2^62, 2^62+2, -5, 7
    std::vector<uint64_t> b = a;
    b[1] = big + 3;
    const std::vector<uint64_t> ua = {~uint64_t(0), big};
    std::vector<uint64_t> ub = ua;
    ub[0] = ~uint64_t(0) - 1;
    writeValues(fsPath("a"),
                {{"i", "I64", {4}, u64Bytes(a), splitDim({4}, 0, 2)},
                 {"u", "U64", {2}, u64Bytes(ua), splitDim({2}, 0, 2)}},
                2);
    writeValues(fsPath("b"),
                {{"i", "I64", {4}, u64Bytes(b), splitDim({4}, 0, 2)},
                 {"u", "U64", {2}, u64Bytes(ub), splitDim({2}, 0, 2)}},
                2);
    struct Case {
        QStringList options;
        bool passes;
    };
    for (const Case& c :
         {Case{{}, false}, Case{{"--atol", "0.5"}, false}, Case{{"--atol", "1"}, true}}) {
        Result r = run(QStringList{"diff", path("a"), path("b"), "--json"} + c.options);
        const QString label = c.options.join(' ');
        QVERIFY2(r.code == (c.passes ? 0 : 1), qPrintable(label + ": " + r.err));
        for (const char* name : {"i", "u"}) {
            const QJsonObject t = byName(diffJson(r)["tensors"].toArray(), "name", name);
            QCOMPARE(t["differing"].toInteger(), 1);
            QCOMPARE(t["beyond_tolerance"].toInteger(), c.passes ? 0 : 1);
            QCOMPARE(t["max_abs_diff"].toDouble(), 1.0);
        }
    }
}

// I64/U64 near the top of their range, past the 65,536 elements kept exactly: min, max and
// max |x| print as their exact integers (the doubles round to 2^63 / 2^64), the deviation comes
// from the integers, and the linear histogram bins by integer.
void TestValuesCli::statsLargeIntegersExact() {
    constexpr uint64_t n = 100'000;
    std::vector<uint64_t> i64(n), u64(n);
    for (uint64_t i = 0; i < n; ++i) {
        i64[i] = uint64_t(std::numeric_limits<int64_t>::max()) - (i * 7919) % 1000;
        u64[i] = ~uint64_t(0) - (i * 104729) % 3000;
    }
    writeValues(fsPath("ints"),
                {{"i", "I64", {n}, u64Bytes(i64), splitDim({n}, 0, 2)},
                 {"u", "U64", {n}, u64Bytes(u64), splitDim({n}, 0, 2)}},
                2);
    Result r = run({"stats", path("ints"), "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    for (const char* field :
         {R"("min":9223372036854774808,)", R"("max":9223372036854775807,)",
          R"("max_abs":9223372036854775807,)", R"("min":18446744073709548616,)",
          R"("max":18446744073709551615,)", R"("max_abs":18446744073709551615,)",
          R"("linear":{"lo":9223372036854774808,"hi":9223372036854775807,)"})
        QVERIFY2(r.out.contains(QLatin1String(field)),
                 qPrintable(QString(field) + "\n" + r.out.left(600)));
    const QJsonArray tensors = parseObject(r.out)["tensors"].toArray();
    struct Case {
        const char* name;
        const std::vector<uint64_t>* bits;
        __int128 top;
        __int128 spread; // max - min
    };
    for (const Case& c : {Case{"i", &i64, std::numeric_limits<int64_t>::max(), 999},
                          Case{"u", &u64, __int128(~uint64_t(0)), 2999}}) {
        const QJsonObject t = byName(tensors, "name", c.name);
        std::array<qint64, 64> bins{};
        long double sum = 0, squares = 0; // of (x - top), exact in long double
        for (uint64_t b : *c.bits) {
            const __int128 offset = __int128(b) - (c.top - c.spread); // x - min
            ++bins[size_t(std::min<__int128>(63, offset * 64 / c.spread))];
            sum += (long double)(__int128(b) - c.top);
            squares += (long double)(__int128(b) - c.top) * (long double)(__int128(b) - c.top);
        }
        const QJsonArray counts =
            t["histogram"].toObject()["linear"].toObject()["counts"].toArray();
        QCOMPARE(counts.size(), 64);
        for (int b = 0; b < 64; ++b)
            QVERIFY2(counts[b].toInteger() == bins[size_t(b)],
                     qPrintable(QStringLiteral("%1 bin %2: %3, expected %4")
                                    .arg(c.name)
                                    .arg(b)
                                    .arg(counts[b].toInteger())
                                    .arg(bins[size_t(b)])));
        const long double mean = sum / n, stddev = std::sqrt(squares / n - mean * mean);
        QVERIFY2(closeRelative(t["std"].toDouble(), stddev, 1e-9L),
                 qPrintable(describe(t["std"].toDouble(), stddev)));
    }
    // The text histogram labels each bin by its first integer: bin 1 of 999 starts 16 above.
    Result text = run({"stats", path("ints"), "--histograms", "--tensor", "^i$"});
    QVERIFY2(text.out.contains("linear, 9223372036854774808 to 9223372036854775807:"),
             qPrintable(text.out.left(800)));
    QVERIFY2(text.out.contains(QRegularExpression("\\n +9223372036854774824 +1[0-9]{3} #")),
             qPrintable(text.out.left(800)));
    // 2^62 and 2^62 + 1 share a double: the text still draws two bins, not "all at".
    writeValues(fsPath("pair"),
                {{"p",
                  "U64",
                  {4},
                  u64Bytes({1ull << 62, (1ull << 62) + 1, 1ull << 62, 1ull << 62}),
                  splitDim({4}, 0, 1)}},
                1);
    Result pair = run({"stats", path("pair"), "--histograms"});
    QVERIFY2(pair.out.contains("linear, 4611686018427387904 to 4611686018427387905:") &&
                 !pair.out.contains("linear: all"),
             qPrintable(pair.out));
    Result check = run({"check", path("ints"), "--fail-on", "constant"});
    QVERIFY2(check.code == 0, qPrintable(check.out + check.err));
}

// Four F64 elements of 1e308: the L2 norm, 2e308, is past double's range; --json prints it
// from extended precision as a number, not as null.
void TestValuesCli::statsL2BeyondDouble() {
    const uint64_t big = std::bit_cast<uint64_t>(1e308);
    writeValues(fsPath("huge"),
                {{"h", "F64", {4}, u64Bytes({big, big, big, big}), splitDim({4}, 0, 2)}}, 2);
    Result r = run({"stats", path("huge"), "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const QRegularExpressionMatch m = QRegularExpression(R"re("l2":([-+0-9.eE]+))re").match(r.out);
    QVERIFY2(m.hasMatch(), qPrintable(r.out.left(400)));
    const long double l2 = std::strtold(m.captured(1).toLatin1().constData(), nullptr);
    const long double expected = 2.0L * (long double)1e308;
    QVERIFY2(std::fabs(l2 - expected) <= 1e-15L * expected, qPrintable(m.captured(1)));
}

// -max .. max of F64: the bins' width is past double's range, and the text labels read -nan and
// inf. They are the edges lo + k (hi - lo) / 64, rising, the middle one 0.
void TestValuesCli::histogramLabelsOverTheWholeF64Range() {
    const double top = std::numeric_limits<double>::max();
    writeValues(fsPath("wide"),
                {{"x",
                  "F64",
                  {4},
                  u64Bytes({std::bit_cast<uint64_t>(-top), std::bit_cast<uint64_t>(-1.0),
                            std::bit_cast<uint64_t>(1.0), std::bit_cast<uint64_t>(top)}),
                  splitDim({4}, 0, 2)}},
                2);
    Result r = run({"stats", path("wide"), "--histograms"});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const qsizetype at = r.out.indexOf("linear");
    QVERIFY2(at >= 0, qPrintable(r.out));
    const QStringList lines = r.out.mid(at).split('\n');
    QVERIFY2(lines.size() > 65, qPrintable(r.out));
    std::vector<long double> edges; // read wider: -1.7977e+308 rounds past double's range
    for (int b = 1; b <= 64; ++b) {
        const QStringList fields = lines[b].split(' ', Qt::SkipEmptyParts);
        QVERIFY2(fields.size() >= 2, qPrintable(lines[b]));
        const QByteArray text = fields[0].toLatin1();
        char* end = nullptr;
        edges.push_back(std::strtold(text.constData(), &end));
        QVERIFY2(end && *end == '\0' && std::isfinite(edges.back()), qPrintable(lines[b]));
    }
    QVERIFY2(std::fabs(edges.front() + top) <= 1e-4L * top, qPrintable(lines[1]));
    QCOMPARE(double(edges[32]), 0.0);
    for (size_t b = 1; b < edges.size(); ++b)
        QVERIFY2(edges[b] > edges[b - 1], qPrintable(lines[int(b) + 1]));
    // The counts: -max in the first bin, -1 and 1 beside the middle, max in the last.
    QCOMPARE(lines[1].split(' ', Qt::SkipEmptyParts)[1], QString("1"));
    QCOMPARE(lines[32].split(' ', Qt::SkipEmptyParts)[1], QString("1"));
    QCOMPARE(lines[33].split(' ', Qt::SkipEmptyParts)[1], QString("1"));
    QCOMPARE(lines[64].split(' ', Qt::SkipEmptyParts)[1], QString("1"));
}

void TestValuesCli::diffDtypeAndShapeChanged() {
    writeValues(fsPath("a"), diffTensors(diffW()), 2);
    // w as [2, 8] (same bytes), e as F16 (same bits), b unchanged.
    writeValues(fsPath("b"),
                {{"w", "F32", {2, 8}, f32Bytes(diffW()), splitDim({2, 8}, 0, 2)},
                 {"e", "F16", {2, 4}, u16Bytes(kDiffE), splitDim({2, 4}, 1, 2)},
                 {"b", "F32", {4}, f32Bytes(kDiffB), splitDim({4}, 0, 2)}},
                2);
    Result r = run({"diff", path("a"), path("b"), "--json"});
    QCOMPARE(r.code, 1);
    const QJsonObject doc = diffJson(r);
    const QJsonArray tensors = doc["tensors"].toArray();
    const QJsonObject w = byName(tensors, "name", "w");
    QCOMPARE(w["status"].toString(), QString("shape-changed"));
    QCOMPARE(w["a"].toObject()["shape"].toArray(), (QJsonArray{4, 4}));
    QCOMPARE(w["b"].toObject()["shape"].toArray(), (QJsonArray{2, 8}));
    const QJsonObject e = byName(tensors, "name", "e");
    QCOMPARE(e["status"].toString(), QString("dtype-changed"));
    QCOMPARE(e["a"].toObject()["dtype"].toString(), QString("BF16"));
    QCOMPARE(e["b"].toObject()["dtype"].toString(), QString("F16"));
    QCOMPARE(statusOf(doc, "b"), QString("identical"));
    QVERIFY(!doc["same"].toBool());
    // Changed layouts fail --names-only too, and no tolerance makes them pass.
    QCOMPARE(run({"diff", path("a"), path("b"), "--names-only"}).code, 1);
    QCOMPARE(run({"diff", path("a"), path("b"), "--atol", "1e30"}).code, 1);
    Result text = run({"diff", path("a"), path("b")});
    QVERIFY2(text.out.contains("F32 [4, 4] -> F32 [2, 8]"), qPrintable(text.out));
    QVERIFY2(text.out.contains("BF16 [2, 4] -> F16 [2, 4]"), qPrintable(text.out));
}

void TestValuesCli::diffOnlyInAOrB() {
    std::vector<ValueTensor> a = diffTensors(diffW());
    std::vector<ValueTensor> b = diffTensors(diffW());
    a.push_back({"gone", "F32", {2}, f32Bytes({1, 2}), splitDim({2}, 0, 2)});
    b.push_back({"extra", "BF16", {2}, u16Bytes({0x3F80, 0x4000}), splitDim({2}, 0, 2)});
    writeValues(fsPath("a"), a, 2);
    writeValues(fsPath("b"), b, 2);
    Result r = run({"diff", path("a"), path("b"), "--json"});
    QCOMPARE(r.code, 1);
    const QJsonObject doc = diffJson(r);
    QCOMPARE(doc["tensors"].toArray().size(), 5);
    const QJsonObject gone = byName(doc["tensors"].toArray(), "name", "gone");
    QCOMPARE(gone["status"].toString(), QString("only-in-a"));
    QVERIFY(gone.contains("a") && !gone.contains("b"));
    const QJsonObject extra = byName(doc["tensors"].toArray(), "name", "extra");
    QCOMPARE(extra["status"].toString(), QString("only-in-b"));
    QVERIFY(extra.contains("b") && !extra.contains("a"));
    for (const char* name : {"w", "e", "b"})
        QCOMPARE(statusOf(doc, name), QString("identical"));
    // Also with --names-only and with a tolerance: a missing tensor is never "the same".
    QCOMPARE(run({"diff", path("a"), path("b"), "--names-only"}).code, 1);
    QCOMPARE(run({"diff", path("a"), path("b"), "--atol", "1e30"}).code, 1);
    // The reverse direction swaps the sides.
    const QJsonObject reverse = diffJson(run({"diff", path("b"), path("a"), "--json"}));
    QCOMPARE(statusOf(reverse, "gone"), QString("only-in-b"));
    QCOMPARE(statusOf(reverse, "extra"), QString("only-in-a"));
}

// A DCP training checkpoint against its own export: the optimizer, scheduler, dataloader and
// trainer tensors are not in the export by design, so they are "not-exported", not "only in
// A", and the export of a sound checkpoint passes (it always failed). Against another training
// checkpoint that lacks one of them, that one still differs.
void TestValuesCli::diffTrainingCheckpointAgainstItsExport() {
    testing::writeTrainingCheckpoint(fsPath("train"));
    Result exported = run({"consolidate", path("train"), path("out"), "--quiet"});
    QVERIFY2(exported.code == 0, qPrintable(exported.err));
    Result r = run({"diff", path("train"), path("out"), "--json"});
    QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
    const QJsonObject doc = diffJson(r);
    QVERIFY(doc["same"].toBool());
    QCOMPARE(statusOf(doc, "embed.weight"), QString("identical"));
    QCOMPARE(statusOf(doc, "layers.0.attn.w"), QString("identical"));
    for (const char* name : {"optimizer.state.embed.weight.exp_avg", "lr_scheduler.last_lr",
                             "dataloader.position", "train_state.rng"})
        QCOMPARE(statusOf(doc, name), QString("not-exported"));
    // The other way round, and in text: counted in the summary, not listed one by one.
    Result text = run({"diff", path("out"), path("train")});
    QCOMPARE(text.code, 0);
    QVERIFY2(!text.out.contains("optimizer.state") && text.out.contains("not-exported"),
             qPrintable(text.out));
    Result all = run({"diff", path("out"), path("train"), "--all"});
    QVERIFY2(all.out.contains("optimizer state in B; A holds model weights only"),
             qPrintable(all.out));

    // Both sides hold training state, one lacks the optimizer's moment: that is a difference.
    using testing::DcpTensor;
    const std::vector<DcpTensor> full{
        {"model.w", "F32", {4}, testing::dcpSplit({4}, 0, 2)},
        {"optimizer.state.w.exp_avg", "F32", {4}, testing::dcpSplit({4}, 0, 2)},
        {"optimizer.state.w.exp_avg_sq", "F32", {4}, testing::dcpSplit({4}, 0, 2)}};
    testing::writeDcpCheckpoint(fsPath("full"), full);
    testing::writeDcpCheckpoint(fsPath("less"), {full[0], full[1]});
    Result less = run({"diff", path("full"), path("less"), "--json"});
    QCOMPARE(less.code, 1);
    QCOMPARE(statusOf(diffJson(less), "optimizer.state.w.exp_avg_sq"), QString("only-in-a"));
}

// ‖a − b‖/‖a‖ of tensors of millions of elements, two windows each, against ‖a‖ computed
// exactly in integers (every value is k/4096 or k/64 with integer k). One running sum over a
// window's squares was 3.4e-12 relative off; summed per block it is right to 1e-15.
void TestValuesCli::diffNormsOfMillionsOfElements() {
    constexpr uint64_t n = 3 << 20; // F32: 12 MiB, BF16: 6 MiB; windows are 4 MiB
    std::vector<float> f(n), g;
    std::vector<uint16_t> h(n), k;
    uint64_t fSquares = 0, hSquares = 0; // of the k: exact
    for (uint64_t i = 0; i < n; ++i) {
        const int64_t x = int64_t((i * 2654435761u) % 1000003) - 500000;
        f[i] = float(x) / 4096; // |x| < 2^19: exact in F32
        fSquares += uint64_t(x * x);
        const int64_t y = int64_t((i * 40503u) % 255) - 127;
        h[i] = uint16_t(std::bit_cast<uint32_t>(float(y) / 64) >> 16); // 8 bits: exact in BF16
        hSquares += uint64_t(y * y);
    }
    g = f;
    g[n / 2 + 7] += 1000; // in the second window
    k = h;
    k[n - 3] = uint16_t(std::bit_cast<uint32_t>(float(h[n - 3] == 0 ? 1 : 0)) >> 16);
    writeValues(fsPath("a"),
                {{"f", "F32", {n}, f32Bytes(f), splitDim({n}, 0, 2)},
                 {"h", "BF16", {n}, u16Bytes(h), splitDim({n}, 0, 3)}},
                3);
    writeValues(fsPath("b"),
                {{"f", "F32", {n}, f32Bytes(g), {{{0}, {n}}}},
                 {"h", "BF16", {n}, u16Bytes(k), {{{0}, {n}}}}},
                1);
    Result r = run({"diff", path("a"), path("b"), "--json"});
    QCOMPARE(r.code, 1);
    const QJsonObject doc = diffJson(r);
    const QJsonObject fd = byName(doc["tensors"].toArray(), "name", "f");
    const long double fNorm = std::sqrt((long double)fSquares) / 4096;
    const double fExpected = double(1000 / fNorm);
    QVERIFY2(std::fabs(fd["relative_l2"].toDouble() / fExpected - 1) < 1e-15,
             qPrintable(QString::number(fd["relative_l2"].toDouble(), 'g', 17) + " against " +
                        QString::number(fExpected, 'g', 17)));
    // The text's summary reads as a sentence: "2 differ", not "2 differs".
    Result text = run({"diff", path("a"), path("b")});
    QVERIFY2(text.out.contains("\n2 tensors: 2 differ; "), qPrintable(text.out));
    const QJsonObject hd = byName(doc["tensors"].toArray(), "name", "h");
    const double was = double(std::bit_cast<float>(uint32_t(h[n - 3]) << 16));
    const double now = double(std::bit_cast<float>(uint32_t(k[n - 3]) << 16));
    const double hExpected = double(std::fabs(was - now) / (std::sqrt((long double)hSquares) / 64));
    QVERIFY2(std::fabs(hd["relative_l2"].toDouble() / hExpected - 1) < 1e-15,
             qPrintable(QString::number(hd["relative_l2"].toDouble(), 'g', 17) + " against " +
                        QString::number(hExpected, 'g', 17)));
}

void TestValuesCli::diffNaNAtTheSamePosition() {
    const std::vector<float> withNaN = {1.0f, kNaN, 2.0f, 3.0f};
    const float otherNaN = floatFromBits(std::bit_cast<uint32_t>(kNaN) | 1u); // another payload
    QVERIFY(std::isnan(otherNaN));
    const std::vector<float> withOtherNaN = {1.0f, otherNaN, 2.0f, 3.0f};
    writeValues(fsPath("a"), {{"n", "F32", {4}, f32Bytes(withNaN), splitDim({4}, 0, 2)}}, 2);
    writeValues(fsPath("same"), {{"n", "F32", {4}, f32Bytes(withNaN), splitDim({4}, 0, 1)}}, 1);
    writeValues(fsPath("payload"), {{"n", "F32", {4}, f32Bytes(withOtherNaN), splitDim({4}, 0, 2)}},
                2);

    // Same bytes: identical.
    Result same = run({"diff", path("a"), path("same"), "--json"});
    QCOMPARE(same.code, 0);
    const QJsonObject s = byName(diffJson(same)["tensors"].toArray(), "name", "n");
    QCOMPARE(s["status"].toString(), QString("identical"));
    QCOMPARE(s["nan_mismatch"].toInteger(), 0);
    QCOMPARE(s["differing"].toInteger(), 0);

    // NaN on both sides with different payloads: equal values, different bytes.
    Result payload = run({"diff", path("a"), path("payload"), "--json"});
    QCOMPARE(payload.code, 1); // not identical, and no tolerance was given
    const QJsonObject p = byName(diffJson(payload)["tensors"].toArray(), "name", "n");
    QCOMPARE(p["status"].toString(), QString("differs"));
    QCOMPARE(p["differing"].toInteger(), 1);
    QCOMPARE(p["nan_mismatch"].toInteger(), 0);
    QCOMPARE(p["beyond_tolerance"].toInteger(), 0);
    QCOMPARE(p["max_abs_diff"].toDouble(), 0.0);
    Result tolerant = run({"diff", path("a"), path("payload"), "--json", "--atol", "0"});
    QCOMPARE(tolerant.code, 0);
    QCOMPARE(statusOf(diffJson(tolerant), "n"), QString("within-tolerance"));
}

void TestValuesCli::diffNaNOnOneSide() {
    const std::vector<float> withNaN = {1.0f, kNaN, 2.0f, 3.0f};
    const std::vector<float> withoutNaN = {1.0f, 4.0f, 2.0f, 3.0f};
    writeValues(fsPath("a"), {{"n", "F32", {4}, f32Bytes(withNaN), splitDim({4}, 0, 2)}}, 2);
    writeValues(fsPath("b"), {{"n", "F32", {4}, f32Bytes(withoutNaN), splitDim({4}, 0, 2)}}, 2);
    for (const auto& [first, second] : {std::pair{"a", "b"}, std::pair{"b", "a"}}) {
        Result r =
            run({"diff", path(first), path(second), "--json", "--atol", "1e30", "--rtol", "1e30"});
        QCOMPARE(r.code, 1);
        const QJsonObject n = byName(diffJson(r)["tensors"].toArray(), "name", "n");
        QCOMPARE(n["status"].toString(), QString("differs"));
        QCOMPARE(n["nan_mismatch"].toInteger(), 1);
        QCOMPARE(n["differing"].toInteger(), 1);
        QCOMPARE(n["beyond_tolerance"].toInteger(), 1);
        QCOMPARE(n["max_abs_diff"].toDouble(), 0.0); // over positions finite on both sides
    }
}

void TestValuesCli::diffNamesOnly() {
    writeValues(fsPath("a"), diffTensors(diffW()), 2);
    writeValues(fsPath("b"), diffTensors(flippedW()), 2);
    QCOMPARE(run({"diff", path("a"), path("b")}).code, 1); // the values do differ
    Result r = run({"diff", path("a"), path("b"), "--json", "--names-only"});
    QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
    const QJsonObject doc = diffJson(r);
    QVERIFY(doc["same"].toBool());
    QCOMPARE(doc["bytes_read"].toInteger(), 0);
    for (const auto& v : doc["tensors"].toArray()) {
        const QJsonObject t = v.toObject();
        QCOMPARE(t["status"].toString(), QString("same-dtype-and-shape"));
        QVERIFY2(!t.contains("differing") && !t.contains("max_abs_diff"),
                 qPrintable(QJsonDocument(t).toJson()));
    }
    Result text = run({"diff", path("a"), path("b"), "--names-only"});
    QCOMPARE(text.code, 0);
    QVERIFY2(text.out.contains("3 same-dtype-and-shape"), qPrintable(text.out));
}

void TestValuesCli::diffDifferentSplitsAreIdentical() {
    std::vector<float> values = filled(32, [](size_t i) { return float(i) * 0.75f - 7.0f; });
    values[13] = kNaN;
    const std::vector<uint16_t> halves = {0x3F80, 0xBF80, 0x4000, 0x3F00, 0x4040, 0xBE80,
                                          0x3FC0, 0x4120, 0x0000, 0x8000, 0x7F80, 0x0001,
                                          0x3E00, 0x4200, 0xC000, 0x3F40};
    writeValues(fsPath("rows"),
                {{"m", "F32", {4, 8}, f32Bytes(values), splitDim({4, 8}, 0, 2)},
                 {"h", "BF16", {4, 4}, u16Bytes(halves), splitDim({4, 4}, 0, 2)}},
                2);
    writeValues(fsPath("cols"),
                {{"m", "F32", {4, 8}, f32Bytes(values), splitDim({4, 8}, 1, 4)},
                 {"h", "BF16", {4, 4}, u16Bytes(halves), splitDim({4, 4}, 1, 4)}},
                4);
    Result r = run({"diff", path("rows"), path("cols"), "--json", "--threads", "2"});
    QVERIFY2(r.code == 0, qPrintable(r.err + r.out));
    const QJsonObject doc = diffJson(r);
    for (const char* name : {"m", "h"}) {
        const QJsonObject t = byName(doc["tensors"].toArray(), "name", name);
        QCOMPARE(t["status"].toString(), QString("identical"));
        QCOMPARE(t["differing"].toInteger(), 0);
        QCOMPARE(t["nan_mismatch"].toInteger(), 0);
    }
    // And a single element moved in the column split is found where it is.
    std::vector<float> moved = values;
    std::swap(moved[0], moved[31]);
    writeValues(fsPath("moved"),
                {{"m", "F32", {4, 8}, f32Bytes(moved), splitDim({4, 8}, 1, 4)},
                 {"h", "BF16", {4, 4}, u16Bytes(halves), splitDim({4, 4}, 1, 4)}},
                4);
    Result m = run({"diff", path("rows"), path("moved"), "--json"});
    QCOMPARE(m.code, 1);
    const QJsonObject mt = byName(diffJson(m)["tensors"].toArray(), "name", "m");
    QCOMPARE(mt["differing"].toInteger(), 2);
    QCOMPARE(mt["max_abs_diff"].toDouble(), double(std::fabs(values[31] - values[0])));
}

void TestValuesCli::diffUsageErrors_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("expected");
    QTest::newRow("negative atol") << QStringList{"diff", "a", "b", "--atol", "-1"} << "--atol";
    QTest::newRow("negative rtol") << QStringList{"diff", "a", "b", "--rtol=-0.5"} << "--rtol";
    QTest::newRow("atol not a number") << QStringList{"diff", "a", "b", "--atol", "x"} << "--atol";
    QTest::newRow("atol NaN") << QStringList{"diff", "a", "b", "--atol", "nan"} << "not a number";
    QTest::newRow("atol beyond double")
        << QStringList{"diff", "a", "b", "--atol", "1e309"} << "not a number";
    QTest::newRow("missing B") << QStringList{"diff", "a"} << "B is required";
    QTest::newRow("missing A and B") << QStringList{"diff"} << "required";
    QTest::newRow("atol without value") << QStringList{"diff", "a", "b", "--atol"} << "--atol";
    QTest::newRow("unknown option") << QStringList{"diff", "a", "b", "--bogus"} << "--bogus";
    QTest::newRow("extra argument") << QStringList{"diff", "a", "b", "c"} << "'c'";
}

void TestValuesCli::diffUsageErrors() {
    QFETCH(QStringList, args);
    QFETCH(QString, expected);
    Result r = run(args);
    QCOMPARE(r.code, 2);
    QVERIFY2(r.err.contains(expected), qPrintable(r.err));
    QVERIFY(r.out.isEmpty());
}

// An input that cannot be read is no answer: exit 2, never 1 ("they differ"), the input named,
// and nothing on stdout that reads as a comparison.
void TestValuesCli::diffUnreadableInputIsTrouble() {
    writeStatsCheckpoint(fsPath("good"));
    const QString cut = writeTruncatedCheckpoint(fsPath("cut"));
    struct Case {
        QStringList args;
        QString named;
    };
    for (const Case& c : {Case{{"diff", path("good"), path("missing")}, "missing"},
                          Case{{"diff", path("missing"), path("good"), "--json"}, "missing"},
                          Case{{"diff", path("good"), path("cut")}, cut},
                          Case{{"diff", path("cut"), path("good"), "--json"}, cut}}) {
        Result r = run(c.args);
        const QString label = c.args.join(' ');
        QVERIFY2(r.code == 2,
                 qPrintable(label + QStringLiteral(": exit %1\n").arg(r.code) + r.err));
        QVERIFY2(r.err.contains(c.named), qPrintable(label + "\n" + r.err));
        QVERIFY2(r.out.isEmpty(), qPrintable(label + "\n" + r.out));
    }
    QCOMPARE(run({"diff", path("good"), path("good")}).code, 0);
    // A subnormal tolerance is a number (stod refused it).
    QCOMPARE(run({"diff", path("good"), path("good"), "--atol", "1e-310"}).code, 0);
    QCOMPARE(run({"diff", path("good"), path("good"), "--rtol", "4.9e-324"}).code, 0);
}

// The demo's planted faults are the ones the README and the help promise, each found once.
void TestValuesCli::checkDemoWithValueFaults() {
    QCOMPARE(run({"demo", path("faulty"), "--with-value-faults"}).code, 0);
    Result r = run({"check", path("faulty"), "--json", "--fail-on", "all"});
    QCOMPARE(r.code, 1);
    bool ok = false;
    const QJsonObject doc = parseObject(r.out, &ok);
    QVERIFY2(ok, qPrintable(r.out));
    QMap<QString, QString> kinds; // tensor -> kind
    for (const auto& f : doc["findings"].toArray())
        kinds.insert(f.toObject()["tensor"].toString(), f.toObject()["kind"].toString());
    const QMap<QString, QString> expected{
        {"model.layers.0.self_attn.v_proj.weight", "NormSpread"},
        {"model.layers.1.mlp.up_proj.weight", "ZeroChunk"},
        {"model.layers.1.post_attention_layernorm.weight", "ValueInf"},
        {"model.layers.2.self_attn.o_proj.bias", "AllZeros"},
        {"model.layers.3.mlp.down_proj.weight", "ValueNaN"}};
    QCOMPARE(kinds, expected);
    QCOMPARE(doc["findings"].toArray().size(), 5);
    QCOMPARE(run({"demo", path("healthy")}).code, 0);
    QCOMPARE(run({"check", path("healthy"), "--fail-on", "all"}).code, 0);

    // Against the healthy demo: the five planted tensors differ, and how.
    Result d = run({"diff", path("healthy"), path("faulty"), "--json"});
    QCOMPARE(d.code, 1);
    const QJsonObject diff = parseObject(d.out, &ok);
    QVERIFY2(ok, qPrintable(d.out));
    QMap<QString, QJsonObject> differing;
    for (const auto& t : diff["tensors"].toArray())
        if (t.toObject()["status"].toString() != "identical")
            differing.insert(t.toObject()["name"].toString(), t.toObject());
    QCOMPARE(differing.keys(), expected.keys());
    const QJsonObject inf = differing["model.layers.1.post_attention_layernorm.weight"];
    QCOMPARE(inf["inf_mismatch"].toInteger(), 1);
    QCOMPARE(inf["nan_mismatch"].toInteger(), 0);
    const QJsonObject nan = differing["model.layers.3.mlp.down_proj.weight"];
    QCOMPARE(nan["nan_mismatch"].toInteger(), 1);
    QCOMPARE(nan["differing"].toInteger(), 1);
    const QJsonObject bias = differing["model.layers.2.self_attn.o_proj.bias"];
    QCOMPARE(bias["relative_l2"].toDouble(), 1.0); // ||a - 0|| / ||a||
    QVERIFY(bias["cosine"].isNull());              // no direction for a zero tensor
    // Rows 344..515 of 688 x 256 zeroed: all but the elements that were already zero differ.
    const QJsonObject zeroed = differing["model.layers.1.mlp.up_proj.weight"];
    QVERIFY(zeroed["differing"].toInteger() <= 172 * 256);
    QVERIFY(zeroed["differing"].toInteger() > 172 * 256 - 100);
}

QTEST_GUILESS_MAIN(TestValuesCli)
// An Inf against 1 is a difference, but not one max |a-b|, rel L2 or cosine can hold: the text
// says those are over the positions finite on both sides.
void TestValuesCli::diffNonFiniteMismatchSaysWhereBothAreFinite() {
    const float inf = std::numeric_limits<float>::infinity();
    writeValues(fsPath("a"), {{"v", "F32", {4}, f32Bytes({inf, 2, 3, 4}), splitDim({4}, 0, 2)}}, 2);
    writeValues(fsPath("b"), {{"v", "F32", {4}, f32Bytes({1, 2, 3, 4}), splitDim({4}, 0, 2)}}, 2);
    Result r = run({"diff", path("a"), path("b")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.out.contains("1 Inf positions differ; max |a-b| 0, rel L2 0, cosine 1 (where "
                            "both are finite)"),
             qPrintable(r.out));
    const QJsonObject v = byName(
        diffJson(run({"diff", path("a"), path("b"), "--json"}))["tensors"].toArray(), "name", "v");
    QCOMPARE(v["inf_mismatch"].toInteger(), 1);
    QCOMPARE(v["max_abs_diff"].toDouble(), 0.0);
    // Without a mismatch the note is not there.
    writeValues(fsPath("c"), {{"v", "F32", {4}, f32Bytes({1, 2, 3, 5}), splitDim({4}, 0, 2)}}, 2);
    Result plain = run({"diff", path("b"), path("c")});
    QCOMPARE(plain.code, 1);
    QVERIFY2(!plain.out.contains("finite"), qPrintable(plain.out));
}

// -0 against +0 differs in bytes only: with a tolerance the values are equal, and the cosine of
// equal vectors is 1 exactly (not 1 - 2^-52). The same inputs give the same digits every run.
void TestValuesCli::diffEqualValuesHaveCosineOne() {
    std::vector<float> a(3000), b(3000);
    for (size_t i = 0; i < a.size(); ++i)
        a[i] = b[i] = float(std::sin(double(i))) * 3.0f;
    a[7] = 0.0f;
    b[7] = -0.0f;
    writeValues(fsPath("a"), {{"v", "F32", {3000}, f32Bytes(a), splitDim({3000}, 0, 3)}}, 3);
    writeValues(fsPath("b"), {{"v", "F32", {3000}, f32Bytes(b), splitDim({3000}, 0, 3)}}, 3);
    Result bytes = run({"diff", path("a"), path("b"), "--json"});
    QVERIFY2(bytes.code == 1, qPrintable(bytes.err)); // no tolerance: the bytes are compared
    const QJsonObject v = byName(diffJson(bytes)["tensors"].toArray(), "name", "v");
    QCOMPARE(v["differing"].toInteger(), 1);
    QCOMPARE(v["beyond_tolerance"].toInteger(), 0);
    QVERIFY(v["cosine"].toDouble() == 1.0);
    QVERIFY(v["relative_l2"].toDouble() == 0.0);
    Result tolerant = run({"diff", path("a"), path("b"), "--json", "--atol", "0"});
    QCOMPARE(tolerant.code, 0);
    QCOMPARE(statusOf(diffJson(tolerant), "v"), QString("within-tolerance"));
    // |a|^2 = 2, where sqrt(2) * sqrt(2) rounds to 2 + 2^-51.
    writeValues(fsPath("e"), {{"u", "F32", {3}, f32Bytes({1, 1, 0.0f}), {{{0}, {3}}}}}, 1);
    writeValues(fsPath("f"), {{"u", "F32", {3}, f32Bytes({1, 1, -0.0f}), {{{0}, {3}}}}}, 1);
    const QJsonObject u = byName(
        diffJson(run({"diff", path("e"), path("f"), "--json"}))["tensors"].toArray(), "name", "u");
    QCOMPARE(u["differing"].toInteger(), 1);
    // Exactly (QCOMPARE on doubles would forgive the last bits).
    QVERIFY2(u["cosine"].toDouble() == 1.0,
             qPrintable(QString::number(u["cosine"].toDouble(), 'g', 17)));

    // Tensors of many windows, differing everywhere: sums added in window order, whatever the
    // threads, so every run prints the same numbers.
    constexpr uint64_t n = 1 << 22; // 16 MiB a side: four windows
    std::vector<float> big(n), other(n);
    for (size_t i = 0; i < big.size(); ++i) {
        big[i] = float(std::sin(double(i) * 0.37)) * 1e3f;
        other[i] = big[i] * 1.0001f + 1e-3f;
    }
    writeValues(fsPath("c"), {{"w", "F32", {n}, f32Bytes(big), splitDim({n}, 0, 4)}}, 4);
    writeValues(fsPath("d"), {{"w", "F32", {n}, f32Bytes(other), splitDim({n}, 0, 4)}}, 4);
    QString first;
    for (const char* threads : {"1", "2", "5", "2"}) {
        Result r = run({"diff", path("c"), path("d"), "--json", "--threads", threads});
        QCOMPARE(r.code, 1);
        const QJsonObject w = byName(diffJson(r)["tensors"].toArray(), "name", "w");
        const QString numbers = QString::number(w["relative_l2"].toDouble(), 'g', 17) + " " +
                                QString::number(w["cosine"].toDouble(), 'g', 17);
        if (first.isEmpty()) first = numbers;
        QCOMPARE(numbers, first);
    }
}

void TestValuesCli::diffHelpStatesItsExitCodes() {
    Result r = run({"diff", "--help"});
    QCOMPARE(r.code, 0);
    QVERIFY2(r.out.contains("Exit codes: 0 every tensor identical (or within tolerance), 1 any\n"
                            "differs, 2 usage error"),
             qPrintable(r.out));
    QVERIFY2(!r.out.contains("1 bad input"), qPrintable(r.out));
}

// A Hugging Face folder whose index disagrees with its files: its total_size is wrong and it
// does not name the second file. inspect says so; stats, check and diff must too.
void TestValuesCli::scanWarningsReachStatsCheckAndDiff() {
    const fs::path hf = fsPath("hf");
    fs::create_directories(hf);
    const std::string v = f32Bytes({1, 2, 3, 4});
    writeRaw(hf / "model-00001-of-00002.safetensors",
             R"({"v":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", v);
    writeRaw(hf / "model-00002-of-00002.safetensors",
             R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32Bytes({5}));
    std::ofstream(hf / "model.safetensors.index.json")
        << R"({"metadata":{"total_size":999},"weight_map":{"v":"model-00001-of-00002.safetensors"}})";
    const QString totalSize = "metadata.total_size is 999 bytes, but the tensors hold 16";
    const QString unlisted = "model-00002-of-00002.safetensors: not named by "
                             "model.safetensors.index.json; not read";

    Result stats = run({"stats", path("hf")});
    QCOMPARE(stats.code, 0);
    QVERIFY2(stats.err.contains("warning: model.safetensors.index.json: " + totalSize),
             qPrintable(stats.err));
    QVERIFY2(stats.err.contains("warning: " + unlisted), qPrintable(stats.err));
    Result json = run({"stats", path("hf"), "--json"});
    QCOMPARE(json.code, 0);
    bool ok = false;
    const QJsonObject doc = parseObject(json.out, &ok);
    QVERIFY2(ok, qPrintable(json.out));
    const QJsonArray warnings = doc["warnings"].toArray();
    QCOMPARE(warnings.size(), 2);
    QString both;
    for (const auto& w : warnings)
        both += w.toObject()["severity"].toString() + " " + w.toObject()["file"].toString() + ": " +
                w.toObject()["message"].toString() + "\n";
    QVERIFY2(both.contains("warning model.safetensors.index.json: " + totalSize), qPrintable(both));
    QVERIFY2(both.contains("warning " + unlisted), qPrintable(both));
    QVERIFY2(json.err.contains(totalSize), qPrintable(json.err));

    // check lists them as findings; warnings fail nothing by themselves.
    Result check = run({"check", path("hf"), "--json"});
    QCOMPARE(check.code, 0);
    const QJsonObject checked = parseObject(check.out, &ok);
    QVERIFY2(ok, qPrintable(check.out));
    QVERIFY(!checked["failed"].toBool());
    const QString list = listed(findings(checked));
    QVERIFY2(list.contains(totalSize) && list.contains("not named by"), qPrintable(list));
    Result checkText = run({"check", path("hf")});
    QCOMPARE(checkText.code, 0);
    QVERIFY2(checkText.out.contains("warning: model.safetensors.index.json: " + totalSize),
             qPrintable(checkText.out));

    // diff names the side.
    writeValues(fsPath("shards"), {{"v", "F32", {4}, v, splitDim({4}, 0, 2)}}, 2);
    Result diff = run({"diff", path("shards"), path("hf")});
    QCOMPARE(diff.code, 0); // v is identical; the unread file is not part of the answer
    QVERIFY2(diff.err.contains("warning: B: model.safetensors.index.json: " + totalSize),
             qPrintable(diff.err));
    QVERIFY2(!diff.err.contains("warning: A:"), qPrintable(diff.err));
    Result diffJsonRun = run({"diff", path("shards"), path("hf"), "--json"});
    QCOMPARE(diffJsonRun.code, 0);
    const QJsonObject d = diffJson(diffJsonRun);
    QCOMPARE(d["warnings"].toObject()["a"].toArray().size(), 0);
    QCOMPARE(d["warnings"].toObject()["b"].toArray().size(), 2);
}

void TestValuesCli::replicaConflictNamesAFile() {
    const fs::path dir = fsPath("ck");
    fs::create_directories(dir);
    writeShard(dir / rankFile(0), {{"bias", "F32", {0}, {2}, f32Bytes({1, 2})}});
    writeShard(dir / rankFile(1), {{"bias", "F32", {0}, {2}, f32Bytes({1, 3})}});
    Result r = run({"check", path("ck"), "--json"});
    QCOMPARE(r.code, 1);
    bool ok = false;
    const QJsonObject doc = parseObject(r.out, &ok);
    QVERIFY2(ok, qPrintable(r.out));
    const auto all = findings(doc);
    const Finding* conflict = find(all, "bias", "ReplicaConflict");
    QVERIFY2(conflict, qPrintable(listed(all)));
    QCOMPARE(conflict->file, QString::fromStdString(rankFile(0)));
}

// The same F32 values as column slices in three shards and as one consolidated file: every
// number printed is the same to the last digit (sums taken in value order, not chunk order).
void TestValuesCli::statsDoNotDependOnTheSplit() {
    const uint64_t rows = 24, cols = 45;
    std::vector<float> values(rows * cols);
    for (size_t i = 0; i < values.size(); ++i)
        values[i] = float(std::sin(double(i) * 1.7) * std::pow(10.0, int(i % 7) - 3));
    const Dims shape{rows, cols};
    writeValues(fsPath("split"), {{"w", "F32", shape, f32Bytes(values), splitDim(shape, 1, 3)}}, 3);
    writeRaw(fsPath("whole.safetensors"),
             R"({"w":{"dtype":"F32","shape":[24,45],"data_offsets":[0,4320]}})", f32Bytes(values));
    auto numbers = [&](const QString& input) {
        Result r = run({"stats", input, "--json"});
        if (r.code != 0) return QString("exit %1: %2").arg(r.code).arg(r.err);
        const QJsonObject t = parseObject(r.out)["tensors"].toArray().at(0).toObject();
        QStringList out;
        for (const char* key : {"mean", "std", "l2", "min", "max", "max_abs"})
            out << QString(key) + "=" + QString::number(t[key].toDouble(), 'g', 17);
        return out.join(' ');
    };
    const QString split = numbers(path("split"));
    QVERIFY2(split.startsWith("mean="), qPrintable(split));
    QCOMPARE(numbers(path("whole.safetensors")), split);
}

#include "tst_values_cli.moc"

// F64 values whose squares leave double's range: rel L2 and cosine worked out by hand. a = (x, x)
// against b = (x, 2x) for x = 1e-300 and 1e300: rel L2 = |x| / |x|√2 = 1/√2, cosine = 3x² /
// (x√2 · x√5) = 3/√10. (MAX, 1) against (−MAX, 1): rel L2 2, cosine −1. Equal sides of 1e300
// and 3e300: cosine 1.
void TestValuesCli::diffF64BeyondTheRangeOfSquares() {
    const double max = std::numeric_limits<double>::max();
    auto write = [&](const char* name,
                     std::vector<std::pair<const char*, std::vector<double>>> ts) {
        std::vector<ValueTensor> tensors;
        for (auto& [fqn, values] : ts)
            tensors.push_back(
                {fqn, "F64", {values.size()}, f64Bytes(values), {{{0}, {values.size()}}}});
        writeValues(fsPath(name), tensors, 1);
    };
    write("a", {{"tiny", {1e-300, 1e-300}},
                {"huge", {1e300, 1e300}},
                {"ends", {max, 1}},
                {"same", {1e300, 3e300}}});
    write("b", {{"tiny", {1e-300, 2e-300}},
                {"huge", {1e300, 2e300}},
                {"ends", {-max, 1}},
                {"same", {1e300, 3e300}}});
    Result r = run({"diff", path("a"), path("b"), "--json"});
    QCOMPARE(r.code, 1);
    const QJsonArray tensors = diffJson(r)["tensors"].toArray();
    for (const char* name : {"tiny", "huge"}) {
        const QJsonObject t = byName(tensors, "name", name);
        QVERIFY2(closeRelative(t["relative_l2"].toDouble(), 1 / std::sqrt(2.0L), 1e-15L),
                 qPrintable(QString(name) + ": " + QJsonDocument(t).toJson()));
        QVERIFY2(closeRelative(t["cosine"].toDouble(), 3 / std::sqrt(10.0L), 1e-15L),
                 qPrintable(QString(name) + ": " + QJsonDocument(t).toJson()));
    }
    const QJsonObject ends = byName(tensors, "name", "ends");
    QVERIFY2(closeRelative(ends["relative_l2"].toDouble(), 2, 1e-15L),
             qPrintable(QJsonDocument(ends).toJson()));
    QVERIFY2(ends["cosine"].toDouble() == -1.0, qPrintable(QJsonDocument(ends).toJson()));
    QVERIFY(ends["max_abs_diff"].isNull()); // 2 · MAX is beyond double: not a number to print
    const QJsonObject same = byName(tensors, "name", "same");
    QCOMPARE(same["status"].toString(), QString("identical"));
    QVERIFY2(same["cosine"].toDouble() == 1.0, qPrintable(QJsonDocument(same).toJson()));
    QVERIFY(same["relative_l2"].toDouble() == 0.0);
}

// 70,000 F32 values packed around 1000 share a few keys that span bin edges: the tensor is read
// twice, which the summary says apart from the bytes of values (its rate is of those).
void TestValuesCli::statsSaysWhenItReadsTwice() {
    std::vector<float> values(70'000);
    for (size_t i = 0; i < values.size(); ++i)
        values[i] = 1000.0f + float(i % 2000) * 0.001f;
    writeValues(fsPath("twice"), {{"w", "F32", {70'000}, f32Bytes(values), {{{0}, {70'000}}}}}, 1);
    Result r = run({"stats", path("twice")});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    const QString last = r.out.split('\n', Qt::SkipEmptyParts).last();
    QVERIFY2(last.startsWith("1 tensor, 273.44 KiB of values read (546.88 KiB with a second read "
                             "to bin histograms exactly) in "),
             qPrintable(last));
    QCOMPARE(parseObject(run({"stats", path("twice"), "--json"}).out)["bytes_read"].toInteger(),
             560'000);
}
