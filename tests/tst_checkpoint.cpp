// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "checkpoint.h"
#include "coverage.h"
#include "shape_pool.h"
#include "shard_builder.h"
#include "sharding_info.h"

#include <QTemporaryDir>
#include <QTest>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <thread>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

class TestCheckpoint : public QObject {
    Q_OBJECT

private slots:
    void init();
    void rowAndColumnSplits();
    void blocksAnd3D();
    void scalarReplicatedAndZeroSize();
    void filesInSortedOrderAndDotFilesSkipped();
    void gapIsReportedWithRegion();
    void overlapIsReportedWithRegion();
    void conflictingReplicas();
    void identicalDuplicateChunksCountOnce();
    void subByteChunks();
    void scanErrors_data();
    void scanErrors();
    void duplicateMetadataKey();
    void shardingInfoParser();
    void dtypeAndRankConflicts();
    void emptyDirectory();
    void brokenFileIsAProblemNotACrash();
    void nonRegularShardEntriesAreReported();
    void onlyAFifoIsNotAScan();
    void scanPhasesReportInOrder();
    void cancelInEveryScanPhase_data();
    void cancelInEveryScanPhase();
    void replicaConflictFoundInLaterBytes();
    void internedShapesMatchPlainShapes();
    void wideColumnSplitsProveCoverage();
    void scanMatchesWrittenLayoutOnAnyThreadCount();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path dir() const { return fs::path(m_tmp->path().toStdString()) / "ckpt"; }
    const TensorInfo& tensor(const Checkpoint& c, const char* fqn) {
        const TensorInfo* t = c.find(fqn);
        if (!t) throw std::runtime_error(std::string("missing ") + fqn);
        return *t;
    }
    const Problem* problem(const Checkpoint& c, const QString& text) {
        for (const Problem& p : c.problems)
            if (QString::fromStdString(p.text()).contains(text)) return &p;
        return nullptr;
    }
    bool hasProblem(const Checkpoint& c, const QString& text, const QString& tensorName = {}) {
        return std::any_of(c.problems.begin(), c.problems.end(), [&](const Problem& p) {
            return QString::fromStdString(p.text()).contains(text) &&
                   (tensorName.isEmpty() || QString::fromStdString(p.tensor) == tensorName);
        });
    }
};

void TestCheckpoint::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
}

void TestCheckpoint::rowAndColumnSplits() {
    writeCheckpoint(dir(),
                    {{"rows", "BF16", {8, 6}, splitDim({8, 6}, 0, 4)},
                     {"cols", "F32", {4, 10}, splitDim({4, 10}, 1, 3)}},
                    4);
    Checkpoint c = scanCheckpoint(dir());
    QVERIFY(!c.hasErrors());
    QCOMPARE(c.files.size(), size_t(4));
    const auto& rows = tensor(c, "rows");
    QCOMPARE(rows.shape, (Shape{8, 6}));
    QCOMPARE(rows.dtype, DType::BF16);
    QCOMPARE(rows.bytes, uint64_t(8 * 6 * 2));
    QCOMPARE(rows.chunks.size(), size_t(4));
    QCOMPARE(rows.status, CoverageStatus::Complete);
    QCOMPARE(rows.chunks[1].offsets, (Shape{2, 0}));
    QCOMPARE(rows.chunks[1].shape, (Shape{2, 6}));
    QCOMPARE(rows.chunks[1].bytes(), uint64_t(2 * 6 * 2));
    const auto& cols = tensor(c, "cols");
    QCOMPARE(cols.shape, (Shape{4, 10}));
    QCOMPARE(cols.chunks[2].shape, (Shape{4, 4})); // the last part takes the remainder
    QCOMPARE(cols.status, CoverageStatus::Complete);
}

void TestCheckpoint::blocksAnd3D() {
    std::vector<std::pair<Dims, Dims>> blocks = {
        {{0, 0}, {3, 5}}, {{0, 5}, {3, 3}}, {{3, 0}, {4, 5}}, {{3, 5}, {4, 3}}};
    std::vector<std::pair<Dims, Dims>> cube;
    for (uint64_t a : {0, 2})
        for (uint64_t b : {0, 3})
            cube.push_back({{a, 0, b}, {2, 5, 3}});
    writeCheckpoint(dir(), {{"blocks", "F16", {7, 8}, blocks}, {"cube", "I32", {4, 5, 6}, cube}},
                    4);
    Checkpoint c = scanCheckpoint(dir());
    QVERIFY(!c.hasErrors());
    QCOMPARE(tensor(c, "blocks").shape, (Shape{7, 8}));
    QCOMPARE(tensor(c, "cube").shape, (Shape{4, 5, 6}));
    QCOMPARE(tensor(c, "cube").status, CoverageStatus::Complete);
}

void TestCheckpoint::scalarReplicatedAndZeroSize() {
    writeCheckpoint(dir(),
                    {{"scale", "F32", {}, {{{}, {}}, {{}, {}}, {{}, {}}}},
                     {"bias", "F32", {16}, {{{0}, {16}}, {{0}, {16}}, {{0}, {16}}}},
                     {"empty", "F32", {0, 4}, {{{0, 0}, {0, 4}}}}},
                    3);
    Checkpoint c = scanCheckpoint(dir());
    QVERIFY2(!c.hasErrors(), c.problems.empty() ? "" : c.problems.front().text().c_str());
    const auto& scale = tensor(c, "scale");
    QVERIFY(scale.shape.empty());
    QCOMPARE(scale.bytes, uint64_t(4));
    QCOMPARE(scale.status, CoverageStatus::Complete);
    QCOMPARE(std::count_if(scale.chunks.begin(), scale.chunks.end(),
                           [](const Chunk& ch) { return ch.replica; }),
             2L);
    QCOMPARE(tensor(c, "bias").status, CoverageStatus::Complete);
    QCOMPARE(tensor(c, "empty").bytes, uint64_t(0));
    QCOMPARE(tensor(c, "empty").status, CoverageStatus::Complete);
}

void TestCheckpoint::filesInSortedOrderAndDotFilesSkipped() {
    fs::create_directories(dir());
    std::string bytes = pattern("x", 8);
    writeShard(dir() / "b.safetensors", {{"x", "U8", {4}, {4}, bytes.substr(4)}});
    writeShard(dir() / "a.safetensors", {{"x", "U8", {0}, {4}, bytes.substr(0, 4)}});
    writeShard(dir() / ".hidden.safetensors", {{"x", "U8", {0}, {8}, bytes}});
    std::ofstream(dir() / "notes.txt") << "not a shard";
    fs::create_directories(dir() / "sub.safetensors");
    Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(c.files.size(), size_t(2));
    QCOMPARE(c.files[0].name, std::string("a.safetensors"));
    QCOMPARE(c.files[1].name, std::string("b.safetensors"));
    QCOMPARE(tensor(c, "x").chunks.front().file, 0u);
    QVERIFY(!c.hasErrors());
}

void TestCheckpoint::gapIsReportedWithRegion() {
    writeCheckpoint(dir(), {{"w", "F32", {4, 8}, {{{0, 0}, {4, 4}}, {{0, 6}, {4, 2}}}}}, 2);
    Checkpoint c = scanCheckpoint(dir());
    const auto& w = tensor(c, "w");
    QCOMPARE(w.status, CoverageStatus::Gap);
    QVERIFY2(QString::fromStdString(w.coverageDetail).contains("8 of 32 elements"),
             w.coverageDetail.c_str());
    QVERIFY2(QString::fromStdString(w.coverageDetail).contains("[0:4, 4:6]"),
             w.coverageDetail.c_str());
    QVERIFY(c.hasErrors());
    QVERIFY(hasProblem(c, "gap", "w"));
}

void TestCheckpoint::overlapIsReportedWithRegion() {
    writeCheckpoint(dir(), {{"w", "F32", {6, 2}, {{{0, 0}, {4, 2}}, {{3, 0}, {3, 2}}}}}, 2);
    Checkpoint c = scanCheckpoint(dir());
    const auto& w = tensor(c, "w");
    QCOMPARE(w.status, CoverageStatus::Overlap);
    QVERIFY2(QString::fromStdString(w.coverageDetail).contains("[3:4, 0:2]"),
             w.coverageDetail.c_str());
    QVERIFY(QString::fromStdString(w.coverageDetail).contains("shard-00001"));
    QVERIFY(QString::fromStdString(w.coverageDetail).contains("shard-00002"));
    QVERIFY(hasProblem(c, "overlap", "w"));
}

void TestCheckpoint::conflictingReplicas() {
    fs::create_directories(dir());
    writeShard(dir() / "r1.safetensors", {{"bias", "F32", {0}, {2}, std::string(8, 'a')}});
    writeShard(dir() / "r2.safetensors", {{"bias", "F32", {0}, {2}, std::string(8, 'b')}});
    Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(tensor(c, "bias").status, CoverageStatus::Conflict);
    QVERIFY(hasProblem(c, "different bytes", "bias"));
}

void TestCheckpoint::identicalDuplicateChunksCountOnce() {
    fs::create_directories(dir());
    std::string full = pattern("w", 16);
    writeShard(dir() / "r1.safetensors", {{"w", "U8", {0, 0}, {2, 4}, full.substr(0, 8)}});
    writeShard(dir() / "r2.safetensors",
               {{"w", "U8", {0, 0}, {2, 4}, full.substr(0, 8)}, {"v", "U8", {0}, {1}, "v"}});
    writeShard(dir() / "r3.safetensors", {{"w", "U8", {2, 0}, {2, 4}, full.substr(8)}});
    Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(tensor(c, "w").status, CoverageStatus::Complete);
    QVERIFY(!c.hasErrors());
}

void TestCheckpoint::subByteChunks() {
    // F4 rows of 4 elements are 2 bytes: a row split lands on byte boundaries.
    writeCheckpoint(dir(), {{"ok", "F4", {4, 4}, splitDim({4, 4}, 0, 2)}}, 2);
    Checkpoint good = scanCheckpoint(dir());
    QVERIFY(!good.hasErrors());
    QCOMPARE(tensor(good, "ok").bytes, uint64_t(8));
    // A column split of F4 [2,3] into widths 1 and 2 starts rows mid-byte: refused.
    fs::remove_all(dir());
    fs::create_directories(dir());
    writeShard(dir() / "a.safetensors", {{"bad", "F4", {0, 0}, {2, 2}, std::string(2, 'x')}});
    writeShard(dir() / "b.safetensors", {{"bad", "F4", {0, 2}, {2, 2}, std::string(2, 'y')}});
    writeShard(dir() / "c.safetensors", {{"odd", "F4", {0, 0}, {2, 1}, std::string(1, 'y')}});
    writeShard(dir() / "d.safetensors", {{"odd", "F4", {0, 1}, {2, 1}, std::string(1, 'z')}});
    Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(tensor(c, "bad").status, CoverageStatus::Complete); // rows of 2 F4 = 1 byte
    QCOMPARE(tensor(c, "odd").status, CoverageStatus::Invalid);
    QVERIFY(hasProblem(c, "cannot be placed exactly", "odd"));
}

void TestCheckpoint::scanErrors_data() {
    QTest::addColumn<QString>("shardingInfo"); // "-" for none
    QTest::addColumn<QString>("expected");
    QTest::addColumn<int>("kind"); // an ErrorKind, or -1 where the merge reports it
    QTest::addColumn<QString>("tensor");
    auto row = [](const char* tag, const std::string& info, const char* expected, int kind,
                  const char* tensor) {
        QTest::newRow(tag) << QString::fromStdString(info) << expected << kind << tensor;
    };
    auto k = [](ErrorKind kind) { return int(kind); };
    row("no sharding info", "-", "no DCP_SHARDING_INFO", k(ErrorKind::MissingShardingInfo), "");
    row("sharding info not json", "{not json", "DCP_SHARDING_INFO is not valid JSON",
        k(ErrorKind::ShardingInfoSyntax), "");
    row("sharding info not object", "[1]", "sharding info is not a JSON object",
        k(ErrorKind::InvalidShardingInfo), "");
    row("tensor without saved_offsets", R"({"other":{"saved_offsets":[0,0]}})", "no saved_offsets",
        -1, "w");
    row("entry without saved_offsets key", R"({"w":{"offsets":[0,0]}})",
        "sharding info has no saved_offsets", k(ErrorKind::InvalidShardingInfo), "w");
    row("entry not object", R"({"w":[0,0]})", "sharding info entry is an array",
        k(ErrorKind::InvalidShardingInfo), "w");
    row("offsets wrong length", R"({"w":{"saved_offsets":[0]}})",
        "has 1 entries but the chunk [2, 2] has rank 2", -1, "w");
    row("negative offsets", R"({"w":{"saved_offsets":[0,-2]}})",
        "saved_offsets holds a negative number (-2)", k(ErrorKind::NegativeNumber), "w");
    row("offsets not integers", R"({"w":{"saved_offsets":[0,"1"]}})", "non-negative integers",
        k(ErrorKind::NotAnInteger), "w");
    row("offsets not an array", R"({"w":{"saved_offsets":0}})", "saved_offsets must be an array",
        k(ErrorKind::InvalidShardingInfo), "w");
    row("negative zero offset", R"({"w":{"saved_offsets":[0,-0]}})", "saved_offsets holds -0",
        k(ErrorKind::NegativeZero), "w");
    row("negative offset past int64", R"({"w":{"saved_offsets":[-18446744073709551617,0]}})",
        "saved_offsets holds a negative number (-18446744073709551617)",
        k(ErrorKind::NegativeNumber), "w");
    row("offset past u64", R"({"w":{"saved_offsets":[0,18446744073709551616]}})",
        "saved_offsets holds 18446744073709551616, too large", k(ErrorKind::NumberOverflow), "w");
    row("duplicate sharding entry", R"({"w":{"saved_offsets":[0,0]},"w":{"saved_offsets":[0,0]}})",
        "DCP_SHARDING_INFO lists this tensor twice", k(ErrorKind::DuplicateShardingEntry), "w");
    row("saved_offsets twice", R"({"w":{"saved_offsets":[0,0],"saved_offsets":[2,0]}})",
        "saved_offsets twice", k(ErrorKind::DuplicateKey), "w");
    row("deep nesting", R"({"w":{"saved_offsets":[0,0],"x":)" + std::string(100'000, '[') + "}}",
        "recursion limit", k(ErrorKind::NestingTooDeep), "w");
}

void TestCheckpoint::scanErrors() {
    QFETCH(QString, shardingInfo);
    QFETCH(QString, expected);
    QFETCH(int, kind);
    QFETCH(QString, tensor);
    fs::create_directories(dir());
    ShardOptions o;
    if (shardingInfo == "-")
        o.withShardingInfo = false;
    else
        o.shardingInfoOverride = shardingInfo.toStdString();
    writeShard(dir() / "shard-1.safetensors", {{"w", "F32", {0, 0}, {2, 2}, std::string(16, 'q')}},
               o);
    // Alone, a file without sharding info is a Hugging Face folder; beside a shard it is an error.
    if (shardingInfo == "-")
        writeShard(dir() / "shard-2.safetensors", {{"v", "U8", {0}, {2}, "ab"}});
    Checkpoint c = scanCheckpoint(dir());
    QVERIFY(c.hasErrors());
    const Problem* p = problem(c, expected);
    QVERIFY2(p, c.problems.empty() ? "none" : c.problems.front().text().c_str());
    QCOMPARE(QString::fromStdString(p->file), QString("shard-1.safetensors"));
    QCOMPARE(QString::fromStdString(p->tensor), tensor);
    if (kind >= 0) QCOMPARE(errorKindName(p->kind), errorKindName(ErrorKind(kind)));
    QVERIFY(!c.files.front().valid || kind < 0);
}

void TestCheckpoint::duplicateMetadataKey() {
    // writeShard always writes "format": "pt"; a second one is a duplicate key.
    fs::create_directories(dir());
    ShardOptions o;
    o.extraMetadata["format"] = "pt";
    writeShard(dir() / "shard-1.safetensors", {{"w", "U8", {0}, {2}, "ab"}}, o);
    Checkpoint c = scanCheckpoint(dir());
    const Problem* p = problem(c, "duplicate key \"format\" in __metadata__");
    QVERIFY2(p, c.problems.empty() ? "none" : c.problems.front().text().c_str());
    QCOMPARE(p->kind, ErrorKind::DuplicateKey);
    QCOMPARE(p->file, std::string("shard-1.safetensors"));
    QVERIFY(!c.files.front().valid);
}

void TestCheckpoint::shardingInfoParser() {
    const auto entries = parseShardingInfo(
        R"( {"b":{"saved_offsets":[4,0]},"a\u00e9":{"other":{"x":[1e400,-0]},"saved_offsets":[]}} )");
    QCOMPARE(entries.size(), size_t(2));
    QCOMPARE(entries[0].fqn, std::string("b")); // written order, not sorted
    QCOMPARE(entries[0].offsets, (Shape{4, 0}));
    QCOMPARE(entries[1].fqn, std::string("a\u00e9"));
    QVERIFY(entries[1].offsets.empty());
    QVERIFY(parseShardingInfo("{}").empty());

    struct Case {
        std::string text;
        ErrorKind kind;
        std::string tensor;
    };
    const std::vector<Case> cases = {
        {"", ErrorKind::ShardingInfoSyntax, ""},
        {R"({"a":{"saved_offsets":[0]}} x)", ErrorKind::ShardingInfoSyntax, "a"},
        {R"({"a":{"saved_offsets":[0]},"b":{"saved_offsets":[0,)", ErrorKind::ShardingInfoSyntax,
         "b"},
        {"null", ErrorKind::InvalidShardingInfo, ""},
        {R"({"a":{"saved_offsets":[0]},"a":{"saved_offsets":[1]}})",
         ErrorKind::DuplicateShardingEntry, "a"},
        {R"({"a":{"saved_offsets":[-0]}})", ErrorKind::NegativeZero, "a"},
        {R"({"a":{"saved_offsets":[1.0]}})", ErrorKind::NotAnInteger, "a"},
        {std::string(100'000, '{'), ErrorKind::ShardingInfoSyntax, ""}, // a key must follow
        {"{\"a\":" + std::string(100'000, '['), ErrorKind::InvalidShardingInfo, "a"},
        {R"({"a":{"x":)" + std::string(100'000, '[') + "]}}", ErrorKind::NestingTooDeep, "a"},
    };
    for (const Case& c : cases) {
        try {
            parseShardingInfo(c.text);
            QFAIL(qPrintable(QString::fromStdString("accepted " + c.text.substr(0, 60))));
        } catch (const JsonError& e) {
            QCOMPARE(errorKindName(e.kind()), errorKindName(c.kind));
            QCOMPARE(e.tensor(), c.tensor);
        }
    }
}

void TestCheckpoint::dtypeAndRankConflicts() {
    fs::create_directories(dir());
    writeShard(dir() / "a.safetensors",
               {{"d", "F32", {0}, {2}, std::string(8, 'x')}, {"r", "U8", {0, 0}, {1, 2}, "ab"}});
    writeShard(dir() / "b.safetensors",
               {{"d", "BF16", {2}, {2}, std::string(4, 'x')}, {"r", "U8", {1}, {2}, "cd"}});
    Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(tensor(c, "d").status, CoverageStatus::Invalid);
    QVERIFY(hasProblem(c, "dtype BF16 here but F32 in a.safetensors", "d"));
    QCOMPARE(tensor(c, "r").status, CoverageStatus::Invalid);
    QVERIFY(hasProblem(c, "rank 1 here but 2 in a.safetensors", "r"));

    // The first sighting had no valid chunk (no saved_offsets): the message still names it.
    fs::remove_all(dir());
    fs::create_directories(dir());
    ShardOptions noOffsets;
    noOffsets.shardingInfoOverride = R"({"other":{"saved_offsets":[0]}})";
    writeShard(dir() / "a.safetensors", {{"d", "F32", {0}, {2}, std::string(8, 'x')}}, noOffsets);
    writeShard(dir() / "b.safetensors", {{"d", "BF16", {2}, {2}, std::string(4, 'x')}});
    Checkpoint again = scanCheckpoint(dir());
    QVERIFY(
        hasProblem(again, "b.safetensors: tensor 'd': dtype BF16 here but F32 in a.safetensors"));
}

void TestCheckpoint::emptyDirectory() {
    fs::create_directories(dir());
    std::ofstream(dir() / "readme.txt") << "x";
    try {
        scanCheckpoint(dir());
        QFAIL("scanned an empty directory");
    } catch (const Error& e) {
        QVERIFY(QString(e.what()).contains("no *.safetensors shard files"));
    }
    try {
        scanCheckpoint(dir() / "missing");
        QFAIL("scanned a missing directory");
    } catch (const Error& e) {
        QVERIFY(QString(e.what()).contains("not a directory"));
    }
}

void TestCheckpoint::brokenFileIsAProblemNotACrash() {
    writeCheckpoint(dir(), {{"w", "F32", {4}, splitDim({4}, 0, 2)}}, 2);
    writeRaw(dir() / "shard-00003-broken.safetensors", "{\"x\":", "");
    Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(c.files.size(), size_t(3));
    QVERIFY(!c.files[2].valid);
    QVERIFY(hasProblem(c, "shard-00003-broken.safetensors: header not valid JSON"));
    QCOMPARE(problem(c, "shard-00003-broken")->kind, ErrorKind::JsonSyntax);
    QCOMPARE(tensor(c, "w").status, CoverageStatus::Complete);
}

namespace {} // namespace

void TestCheckpoint::nonRegularShardEntriesAreReported() {
    writeCheckpoint(dir(), {{"w", "F32", {4}, splitDim({4}, 0, 2)}}, 2);
    QCOMPARE(::mkfifo((dir() / "x.safetensors").c_str(), 0600), 0);
    fs::create_directories(dir() / "folder.safetensors");
    fs::create_symlink("gone.safetensors", dir() / "dangling.safetensors");
    QVERIFY(makeSocket(dir() / "sock.safetensors"));

    auto c = std::make_shared<Checkpoint>();
    const fs::path d = dir();
    const auto outcome = finishWithin([c, d] { *c = scanCheckpoint(d); });
    QVERIFY2(outcome, "the scan blocked on a FIFO");
    QCOMPARE(*outcome, std::string());
    QCOMPARE(c->files.size(), size_t(2));
    QCOMPARE(tensor(*c, "w").status, CoverageStatus::Complete);
    QVERIFY(!c->hasErrors());
    QVERIFY(hasProblem(*c, "x.safetensors: is a FIFO, not a regular file; skipped"));
    QVERIFY(hasProblem(*c, "folder.safetensors: is a directory, not a regular file; skipped"));
    QVERIFY(hasProblem(*c, "dangling.safetensors: is a symbolic link to a missing file; skipped"));
    QVERIFY(hasProblem(*c, "sock.safetensors: is a socket, not a regular file; skipped"));
    for (const Problem& p : c->problems)
        QCOMPARE(p.severity, Severity::Warning);

    // The listing itself: shards to read, and the skipped entries by name.
    std::vector<Problem> skipped;
    const auto shards = listShardFiles(dir(), &skipped);
    QCOMPARE(shards.size(), size_t(2));
    QCOMPARE(skipped.size(), size_t(4));
    QCOMPARE(skipped[0].file, std::string("dangling.safetensors"));
    QCOMPARE(skipped[3].file, std::string("x.safetensors"));
    QCOMPARE(listShardFiles(dir()), shards); // callers that do not ask are unaffected
}

void TestCheckpoint::onlyAFifoIsNotAScan() {
    fs::create_directories(dir());
    QCOMPARE(::mkfifo((dir() / "x.safetensors").c_str(), 0600), 0);
    const fs::path d = dir();
    const auto outcome = finishWithin([d] { scanCheckpoint(d); });
    QVERIFY2(outcome, "the scan blocked on a FIFO");
    QVERIFY2(QString::fromStdString(*outcome).contains(
                 "no *.safetensors shard files in this directory (x.safetensors: is a FIFO"),
             outcome->c_str());
}

// 5,000 tensors over two ranks (merge and coverage report every few thousand), and a 3 MiB
// replicated tensor whose copies the scan compares.
static void writePhaseCheckpoint(const fs::path& dir, char lastByteOfSecondReplica) {
    std::vector<SplitTensor> tensors;
    for (int i = 0; i < 5000; ++i)
        tensors.push_back({"t" + std::to_string(i), "U8", {4}, splitDim({4}, 0, 2)});
    writeCheckpoint(dir, tensors, 2);
    std::string replica(3 << 20, 'r');
    writeShard(dir / "rep-a.safetensors", {{"emb", "U8", {0}, {3u << 20}, replica}});
    replica.back() = lastByteOfSecondReplica;
    writeShard(dir / "rep-b.safetensors", {{"emb", "U8", {0}, {3u << 20}, replica}});
}

void TestCheckpoint::scanPhasesReportInOrder() {
    // Shard headers are merged as they are read, so a shard directory has no Merging phase.
    writePhaseCheckpoint(dir(), 'r');
    std::vector<ScanProgress> seen;
    ScanOptions options;
    options.progress = [&](const ScanProgress& p) { seen.push_back(p); };
    Checkpoint c = scanCheckpoint(dir(), options);
    QVERIFY(!c.hasErrors());
    std::vector<ScanPhase> phases;
    for (size_t i = 0; i < seen.size(); ++i) {
        if (phases.empty() || phases.back() != seen[i].phase) {
            QVERIFY(phases.empty() || phases.back() < seen[i].phase);
            if (i > 0) QCOMPARE(seen[i - 1].done, seen[i - 1].total); // each phase ends full
            phases.push_back(seen[i].phase);
        } else {
            QVERIFY(seen[i].done >= seen[i - 1].done);
        }
    }
    QCOMPARE(seen.back().done, seen.back().total);
    QCOMPARE(phases,
             (std::vector<ScanPhase>{ScanPhase::ReadingHeaders, ScanPhase::CheckingCoverage,
                                     ScanPhase::ComparingReplicas}));
    for (const auto& p : seen) {
        if (p.phase == ScanPhase::ReadingHeaders) QCOMPARE(p.total, uint64_t(4)); // files
        if (p.phase == ScanPhase::CheckingCoverage) QCOMPARE(p.total, uint64_t(5001));
        if (p.phase == ScanPhase::ComparingReplicas) QCOMPARE(p.total, uint64_t(3 << 20));
    }
}

void TestCheckpoint::cancelInEveryScanPhase_data() {
    QTest::addColumn<int>("phase");
    QTest::newRow("reading headers") << int(ScanPhase::ReadingHeaders);
    QTest::newRow("checking coverage") << int(ScanPhase::CheckingCoverage);
    QTest::newRow("comparing replicas") << int(ScanPhase::ComparingReplicas);
}

void TestCheckpoint::cancelInEveryScanPhase() {
    QFETCH(int, phase);
    writePhaseCheckpoint(dir(), 'r');
    std::stop_source stop;
    ScanOptions options;
    options.threads = 1;
    bool reached = false;
    options.progress = [&](const ScanProgress& p) {
        if (int(p.phase) == phase && p.done < p.total) {
            reached = true;
            stop.request_stop();
        }
    };
    options.stop = stop.get_token();
    QVERIFY_THROWS_EXCEPTION(Cancelled, scanCheckpoint(dir(), options));
    QVERIFY(reached);
}

void TestCheckpoint::replicaConflictFoundInLaterBytes() {
    // The copies differ only in their last byte, past the first MiB block read.
    writePhaseCheckpoint(dir(), 'X');
    Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(tensor(c, "emb").status, CoverageStatus::Conflict);
    QVERIFY(hasProblem(c, "rep-a.safetensors and rep-b.safetensors both hold region [0:3145728]",
                       "emb"));
    for (const auto& p : c.problems)
        if (p.tensor == "emb") QCOMPARE(p.kind, ErrorKind::ReplicaConflict);
}


// Chunks keep interned ids; every accessor must read as the plain Shape it was made from, and
// equal tuples must share one id whichever thread interned them.
void TestCheckpoint::internedShapesMatchPlainShapes() {
    static_assert(sizeof(Chunk) == 32);
    std::vector<Shape> shapes;
    uint64_t seed = 12345;
    auto next = [&] {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        return seed;
    };
    for (int i = 0; i < 3000; ++i) {
        Shape s;
        const size_t rank = next() % 8; // ranks above 4 live on the heap
        for (size_t d = 0; d < rank; ++d)
            s.push_back(next() % 4 == 0 ? ~uint64_t(0) - next() % 3 : next() % 5);
        shapes.push_back(s);
    }
    std::vector<std::vector<uint32_t>> ids(4, std::vector<uint32_t>(shapes.size()));
    std::vector<std::thread> threads;
    for (size_t t = 0; t < ids.size(); ++t)
        threads.emplace_back([&, t] {
            for (size_t i = 0; i < shapes.size(); ++i)
                ids[t][(i + t * 700) % shapes.size()] =
                    ShapeRef(shapes[(i + t * 700) % shapes.size()]).id();
        });
    for (auto& t : threads)
        t.join();
    for (size_t i = 0; i < shapes.size(); ++i) {
        for (size_t t = 1; t < ids.size(); ++t)
            QCOMPARE(ids[t][i], ids[0][i]);
        const ShapeRef ref(shapes[i]);
        QCOMPARE(ref.id(), ids[0][i]);
        QVERIFY(ref.get() == shapes[i]);
        QCOMPARE(ref.size(), shapes[i].size());
        QCOMPARE(ref.empty(), shapes[i].empty());
        QCOMPARE(ref.id() == 0, shapes[i].empty());
        for (size_t d = 0; d < ref.size(); ++d)
            QCOMPARE(ref[d], shapes[i][d]);
        QVERIFY(std::equal(ref.begin(), ref.end(), shapes[i].begin(), shapes[i].end()));
        const size_t j = (i * 7 + 3) % shapes.size();
        const ShapeRef other(shapes[j]);
        QCOMPARE(ref == other, shapes[i] == shapes[j]);
        QCOMPARE(ref.id() == other.id(), shapes[i] == shapes[j]);
        QCOMPARE(ref < other, shapes[i] < shapes[j]);
        QCOMPARE(ref == shapes[j], shapes[i] == shapes[j]);
    }
    QCOMPARE(ShapeRef().id(), 0u);
    const size_t before = ShapePool::size();
    for (const Shape& s : shapes)
        (void)ShapeRef(s);
    QCOMPARE(ShapePool::size(), before); // nothing new: every tuple was interned already
}

// A tensor-parallel column split puts every chunk at row 0; the proof must stay right (and
// not compare all pairs) for thousands of them, and still name a gap's or overlap's region.
void TestCheckpoint::wideColumnSplitsProveCoverage() {
    const std::vector<ShardFile> files(1, ShardFile{"rank.safetensors", {}, 0, 0, 0, true});
    auto split = [](uint64_t columns, uint64_t width) {
        TensorInfo t;
        t.fqn = "w";
        t.dtype = DType::BF16;
        t.shape = {64, columns * width};
        for (uint64_t c = 0; c < columns; ++c) {
            Chunk chunk;
            chunk.offsets = Shape{0, c * width};
            chunk.shape = Shape{64, width};
            t.chunks.push_back(chunk);
        }
        return t;
    };
    auto never = [](const Chunk&, const Chunk&) { return false; };
    for (uint64_t columns : {256u, 4096u}) {
        TensorInfo t = split(columns, 8);
        checkCoverage(t, files, never);
        QCOMPARE(t.status, CoverageStatus::Complete);
    }
    TensorInfo gap = split(4096, 8);
    gap.chunks.erase(gap.chunks.begin() + 1000);
    checkCoverage(gap, files, never);
    QCOMPARE(gap.status, CoverageStatus::Gap);
    QVERIFY2(gap.coverageDetail.find("[0:64, 8000:8008]") != std::string::npos,
             gap.coverageDetail.c_str());
    TensorInfo overlap = split(4096, 8);
    overlap.chunks[2000].offsets = Shape{0, 1999 * 8 + 4};
    checkCoverage(overlap, files, never);
    QCOMPARE(overlap.status, CoverageStatus::Overlap);
    QVERIFY2(overlap.coverageDetail.find("[0:64, 15996:16000]") != std::string::npos,
             overlap.coverageDetail.c_str());
    // A 64 x 64 grid, and a replica of one cell.
    TensorInfo grid;
    grid.fqn = "g";
    grid.shape = {64 * 4, 64 * 4};
    for (uint64_t r = 0; r < 64; ++r)
        for (uint64_t c = 0; c < 64; ++c) {
            Chunk chunk;
            chunk.offsets = Shape{r * 4, c * 4};
            chunk.shape = Shape{4, 4};
            grid.chunks.push_back(chunk);
        }
    grid.chunks.push_back(grid.chunks[77]);
    checkCoverage(grid, files, [](const Chunk&, const Chunk&) { return true; });
    QCOMPARE(grid.status, CoverageStatus::Complete);
    QVERIFY(grid.chunks.back().replica);
    QCOMPARE(std::count_if(grid.chunks.begin(), grid.chunks.end(),
                           [](const Chunk& c) { return c.replica; }),
             1);
}

// The scan merges files in file order on any number of threads: the result is the layout the
// files were written with, chunk for chunk, whatever the thread count.
void TestCheckpoint::scanMatchesWrittenLayoutOnAnyThreadCount() {
    struct Written {
        std::string file;
        Dims offsets, shape;
        uint64_t begin, end;
    };
    std::map<std::string, std::vector<Written>> layout;
    fs::create_directories(dir());
    const int ranks = 12;
    for (int r = 0; r < ranks; ++r) {
        std::vector<TestChunk> chunks;
        for (int k = 0; k < 40; ++k) {
            const std::string fqn = "layer." + std::to_string((k * 7 + r) % 40) + ".w";
            const int t = (k * 7 + r) % 40;
            TestChunk c{fqn, t % 2 ? "BF16" : "F32", {}, {}, {}};
            if (t % 3 == 0) { // rows
                c.offsets = {uint64_t(r) * 2, 0};
                c.shape = {2, 6};
            } else if (t % 3 == 1) { // columns
                c.offsets = {0, uint64_t(r) * 3};
                c.shape = {5, 3};
            } else { // 1-D
                c.offsets = {uint64_t(r) * 4};
                c.shape = {4};
            }
            c.bytes = pattern(fqn + std::to_string(r), numel(c.shape) * bitsOf(c.dtype) / 8);
            chunks.push_back(c);
        }
        char name[64];
        std::snprintf(name, sizeof name, "shard-%03d.safetensors", r);
        writeShard(dir() / name, chunks);
        uint64_t at = 0;
        for (const TestChunk& c : chunks) {
            layout[c.fqn].push_back({name, c.offsets, c.shape, at, at + c.bytes.size()});
            at += c.bytes.size();
        }
    }
    std::optional<Checkpoint> first;
    for (int threads : {1, 2, 3}) {
        ScanOptions options;
        options.threads = threads;
        const Checkpoint c = scanCheckpoint(dir(), options);
        QVERIFY(c.problems.empty());
        QCOMPARE(c.tensors.size(), layout.size());
        for (const TensorInfo& t : c.tensors) {
            const auto& expected = layout.at(t.fqn);
            QCOMPARE(t.chunks.size(), expected.size());
            QCOMPARE(t.status, CoverageStatus::Complete);
            for (size_t i = 0; i < expected.size(); ++i) {
                const Chunk& ch = t.chunks[i];
                const ShardFile& f = c.files[ch.file];
                QCOMPARE(f.name, expected[i].file);
                QCOMPARE(Dims(ch.offsets.begin(), ch.offsets.end()), expected[i].offsets);
                QCOMPARE(Dims(ch.shape.begin(), ch.shape.end()), expected[i].shape);
                QCOMPARE(ch.begin - f.dataStart, expected[i].begin);
                QCOMPARE(ch.end - f.dataStart, expected[i].end);
                QVERIFY(!ch.replica);
                QCOMPARE(uint32_t(ch.stored), 0u);
            }
        }
        if (!first) {
            first = c;
            continue;
        }
        for (size_t i = 0; i < c.tensors.size(); ++i) {
            QCOMPARE(c.tensors[i].fqn, first->tensors[i].fqn);
            QCOMPARE(c.tensors[i].shape, first->tensors[i].shape);
            QCOMPARE(c.tensors[i].bytes, first->tensors[i].bytes);
        }
    }
}

QTEST_GUILESS_MAIN(TestCheckpoint)
#include "tst_checkpoint.moc"
