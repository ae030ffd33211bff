// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "checkpoint.h"
#include "coordinator.h"
#include "engine.h"
#include "plan.h"
#include "shard_builder.h"
#include "verify.h"

#include <QJsonArray>
#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>
#include <future>
#include <sys/stat.h>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

Q_DECLARE_METATYPE(std::vector<SplitTensor>)

class TestEngine : public QObject {
    Q_OBJECT

private slots:
    void init();
    void roundTrip_data();
    void roundTrip();
    void manyTensorsOverSeveralFiles();
    void badInputsLeaveNothing_data();
    void badInputsLeaveNothing();
    void brokenFilesLeaveNothing_data();
    void brokenFilesLeaveNothing();
    void refusesOutputEqualToInput();
    void staleOutputsRefusedUnlessOverwrite();
    void cancelLeavesNothing();
    void readFailureMidRunLeavesNothing();
    void sidecarsAreCopiedNotMoved();
    void progressIsMonotonicAndComplete();
    void verifyCatchesDamage();
    void verifyAgainstFewerShards();
    void verifyRefusesHostileIndexes();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path in() const { return fs::path(m_tmp->path().toStdString()) / "shards"; }
    fs::path out() const { return fs::path(m_tmp->path().toStdString()) / "out"; }
    void checkOutput(const std::map<std::string, std::string>& expected,
                     const std::vector<SplitTensor>& tensors);
    Checkpoint simple() {
        writeCheckpoint(in(),
                        {{"w", "F32", {64, 32}, splitDim({64, 32}, 1, 4)},
                         {"v", "BF16", {128}, splitDim({128}, 0, 4)}},
                        4);
        return scanCheckpoint(in());
    }
};

void TestEngine::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
}

static std::vector<std::pair<Dims, Dims>> grid(const Dims& shape, uint64_t r, uint64_t c) {
    std::vector<std::pair<Dims, Dims>> out;
    for (uint64_t i = 0; i < r; ++i)
        for (uint64_t j = 0; j < c; ++j) {
            Dims off = {i * (shape[0] / r), j * (shape[1] / c)};
            Dims sh = {i + 1 == r ? shape[0] - off[0] : shape[0] / r,
                       j + 1 == c ? shape[1] - off[1] : shape[1] / c};
            out.push_back({off, sh});
        }
    return out;
}

void TestEngine::roundTrip_data() {
    QTest::addColumn<std::vector<SplitTensor>>("tensors");
    QTest::addColumn<int>("ranks");
    QTest::addColumn<QString>("mapping");
    QTest::addColumn<int>("threads");
    QTest::addColumn<int>("window");
    QTest::addColumn<bool>("direct");

    QTest::newRow("row-wise")
        << std::vector<SplitTensor>{{"w", "BF16", {40, 24}, splitDim({40, 24}, 0, 4)}} << 4 << ""
        << 2 << 4096 << true;
    QTest::newRow("column-wise")
        << std::vector<SplitTensor>{{"w", "F32", {100, 30}, splitDim({100, 30}, 1, 4)}} << 4 << ""
        << 2 << 4096 << true;
    QTest::newRow("column-wise one thread")
        << std::vector<SplitTensor>{{"w", "F16", {77, 13}, splitDim({77, 13}, 1, 3)}} << 3 << ""
        << 1 << 4096 << true;
    QTest::newRow("2-D blocks")
        << std::vector<SplitTensor>{{"w", "I16", {50, 36}, grid({50, 36}, 2, 3)}} << 6 << "" << 2
        << 4096 << true;
    std::vector<std::pair<Dims, Dims>> cube;
    for (uint64_t a : {0, 3})
        for (uint64_t b : {0, 4})
            cube.push_back({{a, 0, b}, {a ? 2u : 3u, 7, b ? 5u : 4u}});
    QTest::newRow("3-D split on two dims")
        << std::vector<SplitTensor>{{"cube", "F64", {5, 7, 9}, cube}} << 4 << "" << 2 << 4096
        << true;
    QTest::newRow("rank 6 (beyond inline dims)")
        << std::vector<SplitTensor>{{"r6",
                                     "I32",
                                     {2, 3, 2, 2, 5, 4},
                                     splitDim({2, 3, 2, 2, 5, 4}, 4, 2)},
                                    {"r5", "U8", {3, 2, 2, 2, 6}, splitDim({3, 2, 2, 2, 6}, 1, 2)}}
        << 2 << "" << 2 << 4096 << true;
    QTest::newRow("3-D middle dim")
        << std::vector<SplitTensor>{{"m", "U8", {6, 8, 10}, splitDim({6, 8, 10}, 1, 4)}} << 4 << ""
        << 2 << 4096 << true;
    QTest::newRow("scalar and replicated")
        << std::vector<SplitTensor>{{"scale", "F32", {}, {{{}, {}}, {{}, {}}}},
                                    {"bias", "BF16", {12}, {{{0}, {12}}, {{0}, {12}}}},
                                    {"w", "U8", {8, 2}, splitDim({8, 2}, 0, 2)}}
        << 2 << "" << 2 << 4096 << true;
    QTest::newRow("zero-size")
        << std::vector<SplitTensor>{{"empty", "F32", {0, 5}, {{{0, 0}, {0, 5}}}},
                                    {"w", "F32", {3}, splitDim({3}, 0, 1)}}
        << 1 << "" << 2 << 4096 << true;
    std::vector<SplitTensor> all;
    for (const char* d :
         {"BOOL", "U8",  "I8",  "F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
          "I16",  "U16", "F16", "BF16",    "I32",     "U32",     "F32",         "I64",
          "U64",  "F64", "C64", "F4",      "F6_E2M3", "F6_E3M2"})
        all.push_back({std::string("t.") + d, d, {8, 12}, splitDim({8, 12}, 0, 2)});
    QTest::newRow("every dtype") << all << 2 << "" << 2 << 4096 << true;
    QTest::newRow("non-ASCII names")
        << std::vector<SplitTensor>{{"模型.层.0.权重", "F32", {6, 4}, splitDim({6, 4}, 1, 2)},
                                    {"Ünïcödé \"quoted\"\\slash", "U8", {5}, splitDim({5}, 0, 1)}}
        << 2 << "" << 2 << 4096 << true;
    QTest::newRow("large runs copied by the kernel")
        << std::vector<SplitTensor>{{"big", "U8", {1024, 1024}, splitDim({1024, 1024}, 0, 4)},
                                    {"mixed", "U8", {512, 2048}, splitDim({512, 2048}, 1, 4)}}
        << 4 << "" << 2 << (1 << 20) << true;
    QTest::newRow("large runs through memory")
        << std::vector<SplitTensor>{{"big", "U8", {1024, 1024}, splitDim({1024, 1024}, 0, 4)}} << 4
        << "" << 2 << (1 << 20) << false;
    QTest::newRow("mapping with index gaps")
        << std::vector<SplitTensor>{{"a", "F32", {10, 10}, splitDim({10, 10}, 0, 2)},
                                    {"b", "F32", {10, 10}, splitDim({10, 10}, 1, 2)},
                                    {"c", "I64", {3}, splitDim({3}, 0, 1)}}
        << 2 << R"({"a": 2, "b": 5, "c": 5})" << 2 << 4096 << true;
}

void TestEngine::checkOutput(const std::map<std::string, std::string>& expected,
                             const std::vector<SplitTensor>& tensors) {
    QJsonObject index;
    auto outputs = readOutput(out(), &index);
    QCOMPARE(outputs.size(), expected.size());
    uint64_t total = 0;
    for (const auto& t : tensors) {
        const OutputTensor& o = outputs.at(t.fqn);
        QCOMPARE(o.dtype, t.dtype);
        QCOMPARE(o.shape, t.shape);
        QVERIFY2(o.bytes == expected.at(t.fqn), t.fqn.c_str()); // byte for byte
        total += o.bytes.size();
    }
    QCOMPARE(uint64_t(index["metadata"].toObject()["total_size"].toInteger()), total);
    // Every data file: header padded to 8, metadata first, back-to-back, ends at end of file.
    for (const auto& entry : fs::directory_iterator(out())) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".safetensors") continue;
        const std::string bytes = readFile(entry.path());
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i)
            n = (n << 8) | uint8_t(bytes[size_t(i)]);
        QCOMPARE((8 + n) % 8, uint64_t(0));
        const std::string json = bytes.substr(8, n);
        QVERIFY(json.rfind(R"({"__metadata__":{"format":"pt"})", 0) == 0);
        QVERIFY(json.find_last_not_of(' ') ==
                json.size() - (json.size() - json.find_last_not_of(' ')));
        uint64_t end = 0;
        for (const auto& [fqn, o] : outputs)
            if (o.file == name) end += o.bytes.size();
        QCOMPARE(uint64_t(bytes.size()), 8 + n + end);
    }
}

void TestEngine::roundTrip() {
    QFETCH(std::vector<SplitTensor>, tensors);
    QFETCH(int, ranks);
    QFETCH(QString, mapping);
    QFETCH(int, threads);
    QFETCH(int, window);
    QFETCH(bool, direct);
    auto expected = writeCheckpoint(in(), tensors, ranks);
    Checkpoint c = scanCheckpoint(in());
    QVERIFY2(!c.hasErrors(), c.problems.empty() ? "" : c.problems.front().text().c_str());
    Mapping m = mapping.isEmpty() ? Mapping{} : parseMapping(mapping.toStdString(), "mapping");
    Plan plan = makePlan(c, m, UnmappedPolicy::Error);
    QVERIFY(plan.ok());
    EngineOptions o;
    o.threads = threads;
    o.windowBytes = uint64_t(window);
    o.directCopy = direct;
    EngineResult r = consolidate(c, plan, out(), o);
    QCOMPARE(r.files.size(), plan.files.size());
    checkOutput(expected, tensors);
    if (!mapping.isEmpty()) {
        QVERIFY(fs::exists(out() / "model-00002-of-00005.safetensors"));
        QVERIFY(fs::exists(out() / "model-00005-of-00005.safetensors"));
        QVERIFY(!fs::exists(out() / "model-00001-of-00005.safetensors"));
    }
    VerifyReport report = verifyOutput(out(), &c);
    QVERIFY2(report.ok(), report.problems.empty() ? "" : report.problems.front().text().c_str());
    QCOMPARE(report.tensors, tensors.size());
    for (const auto& e : fs::directory_iterator(out()))
        QVERIFY2(e.path().filename().string().find("partial") == std::string::npos,
                 e.path().c_str());
}

void TestEngine::manyTensorsOverSeveralFiles() {
    std::vector<SplitTensor> tensors;
    std::string mapping = "{";
    for (int i = 0; i < 2100; ++i) {
        const std::string name = "layers." + std::to_string(i / 7) + ".p" + std::to_string(i % 7);
        tensors.push_back({name, i % 3 ? "BF16" : "F32", {8, 4}, splitDim({8, 4}, i % 2, 4)});
        mapping += (i ? "," : "") + jsonString(name) + ":" + std::to_string(1 + i % 3);
    }
    mapping += "}";
    auto expected = writeCheckpoint(in(), tensors, 4);
    Checkpoint c = scanCheckpoint(in());
    QCOMPARE(c.tensors.size(), size_t(2100));
    Plan plan = makePlan(c, parseMapping(mapping, "m"), UnmappedPolicy::Error);
    QCOMPARE(plan.files.size(), size_t(3));
    EngineOptions o;
    o.windowBytes = 8192;
    consolidate(c, plan, out(), o);
    checkOutput(expected, tensors);
    QVERIFY(verifyOutput(out(), &c).ok());
    // The distributed path with one process writes the same files.
    const fs::path alone = fs::path(m_tmp->path().toStdString()) / "alone";
    SingleProcess peers;
    const EngineResult r = consolidateDistributed(c, plan, alone, o, peers);
    QCOMPARE(r.files.size(), size_t(3));
    for (const auto& name : r.files)
        QVERIFY2(readFile(alone / name) == readFile(out() / name), name.c_str());
    QCOMPARE(readFile(alone / "model.safetensors.index.json"),
             readFile(out() / "model.safetensors.index.json"));
    for (const auto& e : fs::directory_iterator(alone))
        QVERIFY2(e.path().filename().string().rfind(".shardscope-staging", 0) != 0,
                 e.path().c_str());
}

void TestEngine::badInputsLeaveNothing_data() {
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("expected");
    QTest::newRow("gap") << 0 << "gap";
    QTest::newRow("overlap") << 1 << "overlap";
    QTest::newRow("conflicting replica") << 2 << "different bytes";
    QTest::newRow("broken header") << 3 << "trailing bytes";
    QTest::newRow("no sharding info") << 4 << "no DCP_SHARDING_INFO";
    QTest::newRow("unmapped tensor") << 5 << "not in the mapping";
    QTest::newRow("dtype conflict") << 6 << "dtype";
}

void TestEngine::badInputsLeaveNothing() {
    QFETCH(int, kind);
    QFETCH(QString, expected);
    writeCheckpoint(in(), {{"ok", "F32", {8}, splitDim({8}, 0, 2)}}, 2);
    Mapping mapping;
    switch (kind) {
    case 0:
        writeShard(in() / "z.safetensors", {{"g", "U8", {0, 0}, {2, 2}, "abcd"}}),
            writeShard(in() / "z2.safetensors", {{"g", "U8", {3, 0}, {1, 2}, "ef"}});
        break;
    case 1:
        writeShard(in() / "z.safetensors", {{"g", "U8", {0}, {3}, "abc"}}),
            writeShard(in() / "z2.safetensors", {{"g", "U8", {2}, {2}, "cd"}});
        break;
    case 2:
        writeShard(in() / "z.safetensors", {{"g", "U8", {0}, {2}, "ab"}}),
            writeShard(in() / "z2.safetensors", {{"g", "U8", {0}, {2}, "ax"}});
        break;
    case 3:
        writeRaw(in() / "z.safetensors", R"({"g":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                 "ab");
        break;
    case 4: {
        ShardOptions o;
        o.withShardingInfo = false;
        writeShard(in() / "z.safetensors", {{"g", "U8", {0}, {1}, "a"}}, o);
    } break;
    case 5:
        writeShard(in() / "z.safetensors", {{"g", "U8", {0}, {1}, "a"}});
        mapping = parseMapping(R"({"ok": 1})", "m.json");
        break;
    case 6:
        writeShard(in() / "z.safetensors", {{"ok", "BF16", {8}, {2}, "abcd"}});
        break;
    }
    Checkpoint c = scanCheckpoint(in());
    Plan plan = makePlan(c, mapping, UnmappedPolicy::Error);
    try {
        consolidate(c, plan, out(), {});
        QFAIL("consolidated a bad checkpoint");
    } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains(expected), e.what());
    }
    QVERIFY2(outputLeftovers(out()).empty(), joined(outputLeftovers(out())).c_str());
}

void TestEngine::brokenFilesLeaveNothing_data() {
    // One broken shard next to good ones, for each way a header can be wrong.
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<QByteArray>("data");
    QTest::addColumn<qint64>("length");
    QTest::addColumn<QString>("expected");
    const std::string info =
        R"("__metadata__":{"DCP_SHARDING_INFO":"{\"x\":{\"saved_offsets\":[0]}}"})";
    auto row = [](const char* tag, const std::string& header, const std::string& data,
                  const char* expected, qint64 length = -1) {
        QTest::newRow(tag) << QByteArray::fromStdString(header) << QByteArray::fromStdString(data)
                           << length << QString(expected);
    };
    row("length over limit", "{}", "", "exceeds the limit", 200'000'000);
    row("length past end", "{}", "", "runs past the end of the file", 999);
    row("not utf8", "{\"\xfe\":1}", "", "not valid UTF-8");
    row("not json", "{" + info + ",", "", "not valid JSON");
    row("unknown dtype", "{" + info + R"(,"x":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}})",
        "a", "unknown dtype");
    row("size mismatch", "{" + info + R"(,"x":{"dtype":"F32","shape":[1],"data_offsets":[0,2]}})",
        "ab", "needs 4");
    row("hole", "{" + info + R"(,"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "ab",
        "hole");
    row("trailing", "{" + info + R"(,"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "abc",
        "trailing bytes");
    row("metadata not strings", R"({"__metadata__":{"DCP_SHARDING_INFO":7}})", "",
        "must map strings to strings");
    row("duplicate",
        "{" + info +
            R"(,"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[0],"data_offsets":[1,1]}})",
        "a", "duplicate tensor name");
}

void TestEngine::brokenFilesLeaveNothing() {
    QFETCH(QByteArray, header);
    QFETCH(QByteArray, data);
    QFETCH(qint64, length);
    QFETCH(QString, expected);
    writeCheckpoint(in(), {{"ok", "F32", {8}, splitDim({8}, 0, 2)}}, 2);
    writeRaw(in() / "shard-00003-broken.safetensors", header.toStdString(), data.toStdString(),
             length);
    Checkpoint c = scanCheckpoint(in());
    QVERIFY(c.hasErrors());
    Plan plan = makePlan(c, {}, UnmappedPolicy::Error);
    try {
        consolidate(c, plan, out(), {});
        QFAIL("consolidated next to a broken shard");
    } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains(expected), e.what());
        QVERIFY2(QString(e.what()).contains("shard-00003-broken.safetensors"), e.what());
    }
    QVERIFY2(outputLeftovers(out()).empty(), joined(outputLeftovers(out())).c_str());
    QVERIFY(!fs::exists(out()));
}

void TestEngine::refusesOutputEqualToInput() {
    Checkpoint c = simple();
    Plan plan = makePlan(c, {}, UnmappedPolicy::Error);
    for (const fs::path& target : {in(), in() / ".", in() / ".." / "shards"}) {
        try {
            consolidate(c, plan, target, {});
            QFAIL("wrote into the shard directory");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("is the shard directory"), e.what());
        }
    }
    QVERIFY2(outputLeftovers(in()).empty(), joined(outputLeftovers(in())).c_str());
}

void TestEngine::staleOutputsRefusedUnlessOverwrite() {
    Checkpoint c = simple();
    fs::create_directories(out());
    std::ofstream(out() / "model-00001-of-00003.safetensors") << "old";
    std::ofstream(out() / "model.safetensors.index.json") << "{}";
    Plan plan = makePlan(c, {}, UnmappedPolicy::Error);
    try {
        consolidate(c, plan, out(), {});
        QFAIL("mixed a new run with old files");
    } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains("already holds output"), e.what());
    }
    QCOMPARE(readFile(out() / "model-00001-of-00003.safetensors"), std::string("old"));
    EngineOptions o;
    o.overwrite = true;
    consolidate(c, plan, out(), o);
    QVERIFY(!fs::exists(out() / "model-00001-of-00003.safetensors")); // stale layout removed
    QVERIFY(fs::exists(out() / "model-00001-of-00001.safetensors"));
    QVERIFY(verifyOutput(out(), &c).ok());
}

void TestEngine::cancelLeavesNothing() {
    writeCheckpoint(in(),
                    {{"a", "U8", {2048, 512}, splitDim({2048, 512}, 1, 4)},
                     {"b", "U8", {2048, 512}, splitDim({2048, 512}, 0, 4)}},
                    4);
    Checkpoint c = scanCheckpoint(in());
    Plan plan = makePlan(c, parseMapping(R"({"a": 1, "b": 2})", "m"), UnmappedPolicy::Error);
    std::stop_source cancel;
    EngineOptions o;
    o.threads = 1;
    o.windowBytes = 64 << 10;
    o.stop = cancel.get_token();
    o.progressInterval = std::chrono::milliseconds(0); // every window reports
    bool sawWriting = false;
    o.progress = [&](const EngineProgress& p) {
        if (p.phase == EnginePhase::Writing && p.bytesDone > p.bytesTotal / 4) {
            sawWriting = true;
            cancel.request_stop();
        }
    };
    try {
        consolidate(c, plan, out(), o);
        QFAIL("a cancelled run completed");
    } catch (const ExportFailed& e) {
        QVERIFY(e.cancelled());
        QVERIFY2(
            QString::fromStdString(e.onDisk()).contains("did not exist before and was removed"),
            e.onDisk().c_str());
    }
    QVERIFY(sawWriting);
    QVERIFY(!fs::exists(out())); // the run made the directory, so the run takes it back
    QVERIFY2(outputLeftovers(out()).empty(), joined(outputLeftovers(out())).c_str());
}

void TestEngine::readFailureMidRunLeavesNothing() {
    Checkpoint c = simple();
    // The shard shrinks after the scan: the copy must fail cleanly, naming the file.
    fs::resize_file(c.files[2].path, c.files[2].dataStart + 8);
    Plan plan = makePlan(c, {}, UnmappedPolicy::Error);
    EngineOptions o;
    for (bool direct : {true, false}) { // copy_file_range, then reads through memory
        o.directCopy = direct;
        try {
            consolidate(c, plan, out(), o);
            QFAIL("copied from a truncated shard");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains(QString::fromStdString(c.files[2].name)), e.what());
            QVERIFY2(QString(e.what()).contains("ended early"), e.what());
            // Both of the file's chunks lie past the cut: the message names the tensor read.
            QVERIFY2(e.tensor() == "v" || e.tensor() == "w", e.what());
        }
        QVERIFY2(outputLeftovers(out()).empty(), joined(outputLeftovers(out())).c_str());
    }
    // A directory that was there before stays, with whatever it held.
    fs::create_directories(out());
    std::ofstream(out() / "notes.txt") << "keep";
    try {
        consolidate(c, plan, out(), o);
        QFAIL("copied from a truncated shard");
    } catch (const Error&) {
    }
    QCOMPARE(readFile(out() / "notes.txt"), std::string("keep"));
    QVERIFY2(outputLeftovers(out()).empty(), joined(outputLeftovers(out())).c_str());
}

void TestEngine::sidecarsAreCopiedNotMoved() {
    Checkpoint base = simple();
    fs::create_directories(in() / ".hf_metadata");
    std::ofstream(in() / ".hf_metadata" / "config.json") << R"({"model_type":"llama"})";
    std::ofstream(in() / ".hf_metadata" / "tokenizer.json") << "{}";
    std::ofstream(in() / ".hf_metadata" / "fqn_to_file_index_mapping.json")
        << R"({"w": 1, "v": 2})";
    std::ofstream(in() / ".hf_metadata" / "fqn_to_dtype_mapping.json") << "{}";
    Checkpoint c = scanCheckpoint(in());
    Plan plan = makePlan(c, defaultMapping(c), UnmappedPolicy::Error);
    EngineResult r = consolidate(c, plan, out(), {});
    QCOMPARE(r.sidecars, (std::vector<std::string>{"config.json", "tokenizer.json"}));
    QCOMPARE(readFile(out() / "config.json"), std::string(R"({"model_type":"llama"})"));
    QVERIFY(fs::exists(in() / ".hf_metadata" / "config.json"));
    QVERIFY(!fs::exists(out() / "fqn_to_file_index_mapping.json"));
    QVERIFY(!fs::exists(out() / "fqn_to_dtype_mapping.json"));
    QVERIFY(fs::exists(out() / "model-00002-of-00002.safetensors"));
}

void TestEngine::progressIsMonotonicAndComplete() {
    writeCheckpoint(in(), {{"a", "U8", {1024, 256}, splitDim({1024, 256}, 1, 4)}}, 4);
    Checkpoint c = scanCheckpoint(in());
    Plan plan = makePlan(c, {}, UnmappedPolicy::Error);
    std::vector<EngineProgress> seen;
    EngineOptions o;
    o.windowBytes = 16 << 10;
    o.progress = [&](const EngineProgress& p) { seen.push_back(p); };
    consolidate(c, plan, out(), o);
    QVERIFY(seen.size() >= 3);
    // Phases come in order, and bytes grow within each one and end at its total.
    std::vector<EnginePhase> phases;
    for (size_t i = 0; i < seen.size(); ++i) {
        if (phases.empty() || phases.back() != seen[i].phase) {
            QVERIFY(phases.empty() || phases.back() < seen[i].phase);
            phases.push_back(seen[i].phase);
            if (i > 0) QCOMPARE(seen[i - 1].bytesDone, seen[i - 1].bytesTotal);
        } else {
            QVERIFY(seen[i].bytesDone >= seen[i - 1].bytesDone);
        }
        if (seen[i].phase == EnginePhase::Writing)
            QCOMPARE(seen[i].bytesTotal, bytesToWrite(c, plan));
    }
    QCOMPARE(phases, (std::vector<EnginePhase>{EnginePhase::Preparing, EnginePhase::Writing,
                                               EnginePhase::Publishing, EnginePhase::Done}));
    QCOMPARE(bytesToWrite(c, plan), plan.totalFileBytes() + plan.indexJson().size());
}

void TestEngine::verifyCatchesDamage() {
    Checkpoint c = simple();
    Plan plan = makePlan(c, {}, UnmappedPolicy::Error);
    consolidate(c, plan, out(), {});
    const fs::path file = out() / "model-00001-of-00001.safetensors";
    std::string bytes = readFile(file);
    bytes[bytes.size() - 3] ^= 0x5A; // in the last tensor, "v" (BF16 comes after F32)
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    VerifyReport damaged = verifyOutput(out(), &c);
    QVERIFY(!damaged.ok());
    QCOMPARE(damaged.problems.front().tensor, std::string("v"));
    QVERIFY(verifyOutput(out(), nullptr).ok()); // structure alone is still fine

    std::ofstream(out() / "model-00009-of-00009.safetensors") << "stray";
    QVERIFY(!verifyOutput(out(), nullptr).ok());
    fs::remove(out() / "model.safetensors.index.json");
    VerifyReport noIndex = verifyOutput(out(), nullptr);
    QVERIFY(!noIndex.ok());
    QVERIFY(QString::fromStdString(noIndex.problems.front().text()).contains("missing"));
}

// An output holding a tensor the shards do not have (other shards, an older export) fails,
// naming it; the byte count covers only what was compared.
void TestEngine::verifyAgainstFewerShards() {
    Checkpoint c = simple();
    consolidate(c, makePlan(c, {}, UnmappedPolicy::Error), out(), {});
    QVERIFY(verifyOutput(out(), &c).ok());
    Checkpoint fewer = c;
    QVERIFY(fewer.tensors.size() >= 2);
    const std::string gone = fewer.tensors.front().fqn;
    fewer.tensors.erase(fewer.tensors.begin());
    const VerifyReport report = verifyOutput(out(), &fewer);
    QVERIFY(!report.ok());
    QCOMPARE(report.problems.size(), size_t(1));
    QCOMPARE(report.problems[0].tensor, gone);
    QVERIFY2(report.problems[0].message.find("in none of the shards") != std::string::npos,
             report.problems[0].message.c_str());
}

void TestEngine::verifyRefusesHostileIndexes() {
    Checkpoint c = simple();
    Plan plan = makePlan(c, {}, UnmappedPolicy::Error);
    consolidate(c, plan, out(), {});
    const fs::path index = out() / "model.safetensors.index.json";
    // Nested 100,000 deep: an error, not a stack overflow.
    fs::remove(index);
    std::ofstream(index) << std::string(100000, '[') << std::string(100000, ']');
    VerifyReport deep = verifyOutput(out(), &c);
    QVERIFY(!deep.ok());
    QVERIFY2(deep.problems.front().message.find("nesting deeper than 128") != std::string::npos,
             deep.problems.front().message.c_str());
    // A FIFO in the index's place is reported at once, never opened for reading.
    fs::remove(index);
    QCOMPARE(::mkfifo(index.c_str(), 0644), 0);
    auto fifo = std::async(std::launch::async, [&] { return verifyOutput(out(), &c); });
    QVERIFY2(fifo.wait_for(std::chrono::seconds(20)) == std::future_status::ready,
             "verify blocked on a FIFO index");
    const VerifyReport report = fifo.get();
    QVERIFY(!report.ok());
    QVERIFY2(report.problems.front().message.find("FIFO") != std::string::npos,
             report.problems.front().message.c_str());
}

QTEST_GUILESS_MAIN(TestEngine)
#include "tst_engine.moc"
