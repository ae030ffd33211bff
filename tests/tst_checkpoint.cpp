#include "checkpoint.h"
#include "shard_builder.h"

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
    void dtypeAndRankConflicts();
    void emptyDirectory();
    void brokenFileIsAProblemNotACrash();
    void nonRegularShardEntriesAreReported();
    void onlyAFifoIsNotAScan();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path dir() const { return fs::path(m_tmp->path().toStdString()) / "ckpt"; }
    const TensorInfo& tensor(const Checkpoint& c, const char* fqn) {
        const TensorInfo* t = c.find(fqn);
        if (!t) throw std::runtime_error(std::string("missing ") + fqn);
        return *t;
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
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("expected");
    QTest::newRow("no sharding info") << 0 << "no DCP_SHARDING_INFO";
    QTest::newRow("sharding info not json") << 1 << "DCP_SHARDING_INFO is not valid JSON";
    QTest::newRow("sharding info not object") << 2 << "sharding info is not a JSON object";
    QTest::newRow("tensor without saved_offsets") << 3 << "no saved_offsets";
    QTest::newRow("entry without saved_offsets key") << 4 << "sharding info has no saved_offsets";
    QTest::newRow("offsets wrong length") << 5 << "has 1 entries but the chunk [2, 2] has rank 2";
    QTest::newRow("negative offsets") << 6 << "negative number";
    QTest::newRow("offsets not integers") << 7 << "non-negative integers";
}

void TestCheckpoint::scanErrors() {
    QFETCH(int, kind);
    QFETCH(QString, expected);
    fs::create_directories(dir());
    ShardOptions o;
    switch (kind) {
    case 0:
        o.withShardingInfo = false;
        break;
    case 1:
        o.shardingInfoOverride = "{not json";
        break;
    case 2:
        o.shardingInfoOverride = "[1]";
        break;
    case 3:
        o.shardingInfoOverride = R"({"other":{"saved_offsets":[0,0]}})";
        break;
    case 4:
        o.shardingInfoOverride = R"({"w":{"offsets":[0,0]}})";
        break;
    case 5:
        o.shardingInfoOverride = R"({"w":{"saved_offsets":[0]}})";
        break;
    case 6:
        o.shardingInfoOverride = R"({"w":{"saved_offsets":[0,-2]}})";
        break;
    case 7:
        o.shardingInfoOverride = R"({"w":{"saved_offsets":[0,"1"]}})";
        break;
    }
    writeShard(dir() / "shard-1.safetensors", {{"w", "F32", {0, 0}, {2, 2}, std::string(16, 'q')}},
               o);
    Checkpoint c = scanCheckpoint(dir());
    QVERIFY(c.hasErrors());
    QVERIFY2(hasProblem(c, expected),
             c.problems.empty() ? "none" : c.problems.front().text().c_str());
    QVERIFY(hasProblem(c, "shard-1.safetensors"));
    if (kind >= 3 && kind != 4 /* the SAX error happens before a tensor is known for 4 too */)
        QVERIFY(std::any_of(c.problems.begin(), c.problems.end(),
                            [](const Problem& p) { return p.tensor == "w"; }));
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
    QVERIFY(hasProblem(again, "b.safetensors: tensor 'd': dtype BF16 here but F32 in a.safetensors"));
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
    QCOMPARE(tensor(c, "w").status, CoverageStatus::Complete);
}

namespace {

// Runs `call` on a thread of its own; nullopt when it has not finished within `seconds`, so a
// scan that blocks on a FIFO fails the test instead of hanging the suite (the stuck thread is
// abandoned). Otherwise the Error text, or "" when it returned. Not a speed check.
std::optional<std::string> finishWithin(std::function<void()> call, int seconds = 20) {
    auto done = std::make_shared<std::promise<std::string>>();
    std::future<std::string> future = done->get_future();
    std::thread([call = std::move(call), done] {
        try {
            call();
            done->set_value("");
        } catch (const std::exception& e) {
            done->set_value(e.what());
        }
    }).detach();
    if (future.wait_for(std::chrono::seconds(seconds)) != std::future_status::ready)
        return std::nullopt;
    return future.get();
}

bool makeSocket(const fs::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    return bound;
}

} // namespace

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

QTEST_GUILESS_MAIN(TestCheckpoint)
#include "tst_checkpoint.moc"
