// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "checkpoint.h"
#include "engine.h"
#include "hf_folder.h"
#include "plan.h"
#include "shard_builder.h"
#include "verify.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

// Consolidated Hugging Face folders and single files: every fixture is written byte by byte
// here (shard_builder), never by the core's writer.
class TestHfFolder : public QObject {
    Q_OBJECT

private slots:
    void init();
    void singleFilePath();
    void loneModelSafetensors();
    void indexedTwoFiles();
    void mixedDirectoryStaysShards();
    void duplicateTensorNamesBothFiles();
    void missingFile();
    void numberedFilesWithoutIndexMustAllBeThere();
    void tensorInHeaderNotInIndex();
    void tensorInIndexNotInItsFile();
    void totalSizeMismatch();
    void unindexedFileIsWarnedNotRead();
    void escapingPathsAreNotOpened();
    void malformedIndex_data();
    void malformedIndex();
    void indexOverTheSizeLimit();
    void brokenHeaderAsInAShardScan_data();
    void brokenHeaderAsInAShardScan();
    void pytorchRankZeroSave();
    void cancelThrowsCancelled();
    void exportReproducesEveryByte();
    void cliInspectAndConsolidate();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path root() const { return fs::path(m_tmp->path().toStdString()); }
    fs::path dir() const { return root() / "hf"; }
    // model-00001-of-00002 (a.weight F32 [2,3], b BF16 [4]) and model-00002-of-00002 (c U8 [5]),
    // with an index written by hand; returns fqn -> bytes.
    std::map<std::string, std::string> writeTwoFiles(const std::string& indexText = {});
    void writeIndex(const std::string& weightMap, const std::string& metadata = {}) {
        std::ofstream(dir() / "model.safetensors.index.json")
            << "{" << (metadata.empty() ? "" : "\"metadata\": " + metadata + ", ")
            << "\"weight_map\": " << weightMap << "}";
    }
    static const Problem* find(const Checkpoint& c, ErrorKind kind) {
        for (const Problem& p : c.problems)
            if (p.kind == kind) return &p;
        return nullptr;
    }
    static std::string problems(const Checkpoint& c) {
        std::string out;
        for (const Problem& p : c.problems)
            out += p.text() + " [" + errorKindName(p.kind) + "]\n";
        return out;
    }
};

namespace {

const char* kFirst = "model-00001-of-00002.safetensors";
const char* kSecond = "model-00002-of-00002.safetensors";
const char* kTwoFileMap = R"({"a.weight": "model-00001-of-00002.safetensors",
                              "b": "model-00001-of-00002.safetensors",
                              "c": "model-00002-of-00002.safetensors"})";

// 8 + the header length, read from the file's own first 8 bytes.
uint64_t dataStartOf(const fs::path& path) {
    const std::string bytes = readFile(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | uint8_t(bytes.at(size_t(i)));
    return 8 + n;
}

std::string bytesAt(const fs::path& path, uint64_t begin, uint64_t end) {
    return readFile(path).substr(begin, end - begin);
}

} // namespace

void TestHfFolder::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    fs::create_directories(dir());
}

std::map<std::string, std::string> TestHfFolder::writeTwoFiles(const std::string& weightMap) {
    auto bytes = writeWholeFile(dir() / kFirst, {{"a.weight", "F32", {2, 3}}, {"b", "BF16", {4}}});
    bytes.merge(writeWholeFile(dir() / kSecond, {{"c", "U8", {5}}}));
    writeIndex(weightMap.empty() ? kTwoFileMap : weightMap, R"({"total_size": 37})");
    return bytes;
}

void TestHfFolder::singleFilePath() {
    const auto bytes =
        writeWholeFile(dir() / "model.safetensors", {{"emb", "F16", {3, 2}}, {"scale", "F32", {}}});
    writeWholeFile(dir() / "other.safetensors", {{"x", "U8", {1}}}); // beside it, not read
    const Checkpoint c = scanCheckpoint(dir() / "model.safetensors");
    QCOMPARE(c.format, CheckpointFormat::HfFolder);
    QCOMPARE(c.directory, dir());
    QVERIFY2(c.problems.empty(), problems(c).c_str());
    QCOMPARE(c.files.size(), size_t(1));
    QCOMPARE(c.files[0].name, std::string("model.safetensors"));
    QCOMPARE(c.tensors.size(), size_t(2));
    const TensorInfo* emb = c.find("emb");
    QVERIFY(emb && c.find("scale") && !c.find("x"));
    QCOMPARE(emb->shape, (Shape{3, 2}));
    QCOMPARE(emb->chunks.size(), size_t(1));
    QCOMPARE(emb->chunks[0].offsets, (Shape{0, 0}));
    const uint64_t start = dataStartOf(dir() / "model.safetensors");
    QCOMPARE(emb->chunks[0].begin, start);
    QCOMPARE(emb->chunks[0].end, start + 12);
    QCOMPARE(c.find("scale")->chunks[0].offsets, Shape{});
    QCOMPARE(c.find("scale")->chunks[0].begin, start + 12);
    QCOMPARE(bytesAt(dir() / "model.safetensors", start, start + 12), bytes.at("emb"));
}

void TestHfFolder::loneModelSafetensors() {
    writeWholeFile(dir() / "model.safetensors", {{"w", "BF16", {4, 4}}, {"empty", "F32", {0, 3}}});
    QVERIFY(isHfFolder(dir()));
    const Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(c.format, CheckpointFormat::HfFolder);
    QVERIFY2(c.problems.empty(), problems(c).c_str());
    QCOMPARE(c.tensors.size(), size_t(2));
    for (const TensorInfo& t : c.tensors)
        QCOMPARE(t.status, CoverageStatus::Complete); // one whole chunk: trivially covered
    QCOMPARE(c.find("w")->bytes, uint64_t(32));
    QCOMPARE(c.find("empty")->bytes, uint64_t(0));
    QCOMPARE(c.totalBytes(), uint64_t(32));
}

void TestHfFolder::indexedTwoFiles() {
    const auto bytes = writeTwoFiles();
    writeWholeFile(dir() / ".hidden.safetensors", {{"z", "U8", {1}}}); // dot-files are skipped
    const Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(c.format, CheckpointFormat::HfFolder);
    QVERIFY2(c.problems.empty(), problems(c).c_str());
    QCOMPARE(c.files.size(), size_t(2));
    QCOMPARE(c.files[0].name, std::string(kFirst));
    QCOMPARE(c.files[1].name, std::string(kSecond));
    QCOMPARE(c.files[0].tensorCount, size_t(2));
    QCOMPARE(c.files[0].size, uint64_t(fs::file_size(dir() / kFirst)));
    QCOMPARE(c.tensors.size(), size_t(3));
    QCOMPARE(c.tensors[0].fqn, std::string("a.weight")); // sorted by name
    QCOMPARE(c.tensors[2].fqn, std::string("c"));

    struct Expected {
        const char* fqn;
        DType dtype;
        Shape shape;
        uint32_t file;
        uint64_t begin, end; // within the data section
    };
    for (const Expected& e :
         {Expected{"a.weight", DType::F32, {2, 3}, 0, 0, 24},
          Expected{"b", DType::BF16, {4}, 0, 24, 32}, Expected{"c", DType::U8, {5}, 1, 0, 5}}) {
        const TensorInfo* t = c.find(e.fqn);
        QVERIFY(t);
        QCOMPARE(t->dtype, e.dtype);
        QCOMPARE(t->shape, e.shape);
        QCOMPARE(t->bytes, e.end - e.begin);
        QCOMPARE(t->status, CoverageStatus::Complete);
        QCOMPARE(t->kind, TensorKind::Model);
        QCOMPARE(t->chunks.size(), size_t(1));
        const Chunk& chunk = t->chunks[0];
        QCOMPARE(chunk.file, e.file);
        QCOMPARE(chunk.shape, e.shape);
        QCOMPARE(chunk.offsets, Shape(e.shape.size(), 0));
        const fs::path file = dir() / c.files[e.file].name;
        const uint64_t start = dataStartOf(file);
        QCOMPARE(c.files[e.file].dataStart, start);
        QCOMPARE(chunk.begin, start + e.begin);
        QCOMPARE(chunk.end, start + e.end);
        QCOMPARE(bytesAt(file, chunk.begin, chunk.end), bytes.at(e.fqn));
    }
}

void TestHfFolder::mixedDirectoryStaysShards() {
    writeWholeFile(dir() / "a.safetensors", {{"w", "U8", {2}}});
    writeShard(dir() / "b.safetensors", {{"v", "U8", {0}, {2}, "ab"}});
    QVERIFY(!isHfFolder(dir()));
    const Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(c.format, CheckpointFormat::SafetensorsShards);
    const Problem* p = find(c, ErrorKind::MissingShardingInfo);
    QVERIFY2(p, problems(c).c_str());
    QCOMPARE(p->file, std::string("a.safetensors"));
}

void TestHfFolder::duplicateTensorNamesBothFiles() {
    writeWholeFile(dir() / "a.safetensors", {{"w", "U8", {2}}, {"x", "U8", {1}}});
    writeWholeFile(dir() / "b.safetensors", {{"w", "U8", {2}}});
    const Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(c.format, CheckpointFormat::HfFolder);
    const Problem* p = find(c, ErrorKind::DuplicateTensorName);
    QVERIFY2(p, problems(c).c_str());
    QCOMPARE(p->severity, Severity::Error);
    QCOMPARE(p->tensor, std::string("w"));
    QCOMPARE(p->file, std::string("b.safetensors"));
    QVERIFY2(p->message.find("a.safetensors") != std::string::npos, p->message.c_str());
    QCOMPARE(c.find("w")->status, CoverageStatus::Invalid);
    QCOMPARE(c.find("x")->status, CoverageStatus::Complete);
}

void TestHfFolder::missingFile() {
    writeTwoFiles();
    fs::remove(dir() / kSecond);
    const Checkpoint c = scanCheckpoint(dir());
    QVERIFY(c.hasErrors());
    const Problem* p = find(c, ErrorKind::MissingDataFile);
    QVERIFY2(p, problems(c).c_str());
    QCOMPARE(p->file, std::string(kSecond));
    QCOMPARE(p->tensor, std::string("c"));
    QCOMPARE(c.files.size(), size_t(1));
    QVERIFY(!c.find("c"));
    // Reported once for the file, not again per tensor; total_size is not judged on a part.
    QVERIFY2(!find(c, ErrorKind::IndexMismatch), problems(c).c_str());
}

// No index: the names "i-of-n" are all that says the folder is whole. One file of three passed
// as a complete model (inspect "ready to consolidate", exit 0).
void TestHfFolder::numberedFilesWithoutIndexMustAllBeThere() {
    writeWholeFile(dir() / "model-00002-of-00003.safetensors", {{"w", "U8", {2}}});
    Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(c.format, CheckpointFormat::HfFolder);
    QVERIFY(c.hasErrors());
    const Problem* p = find(c, ErrorKind::MissingDataFile);
    QVERIFY2(p, problems(c).c_str());
    QCOMPARE(p->severity, Severity::Error);
    QCOMPARE(p->file, std::string("model-00001-of-00003.safetensors"));
    QCOMPARE(p->message, std::string("missing: the folder holds 1 of the 3 files numbered \"of 3\" "
                                     "and no model.safetensors.index.json; absent: "
                                     "model-00001-of-00003.safetensors, "
                                     "model-00003-of-00003.safetensors"));
    QCOMPARE(c.find("w")->status, CoverageStatus::Complete); // what is there still reads

    // Many absent: three named, the rest counted. A number past the count cannot be.
    fs::remove_all(dir());
    fs::create_directories(dir());
    writeWholeFile(dir() / "part-2-of-9.safetensors", {{"a", "U8", {1}}});
    writeWholeFile(dir() / "part-5-of-4.safetensors", {{"b", "U8", {1}}});
    c = scanCheckpoint(dir());
    std::vector<std::string> messages;
    for (const Problem& q : c.problems)
        messages.push_back(q.file + ": " + q.message);
    std::sort(messages.begin(), messages.end());
    QCOMPARE(messages.size(), size_t(2));
    QCOMPARE(messages[0], std::string("part-1-of-9.safetensors: missing: the folder holds 1 of the "
                                      "9 files numbered \"of 9\" and no "
                                      "model.safetensors.index.json; absent: "
                                      "part-1-of-9.safetensors, part-3-of-9.safetensors, "
                                      "part-4-of-9.safetensors and 5 more"));
    QCOMPARE(messages[1], std::string("part-5-of-4.safetensors: numbered 5 of 4, which cannot be"));

    // Every file there, or names that are not numbered: nothing to say.
    for (const char* names : {"whole", "plain"}) {
        fs::remove_all(dir());
        fs::create_directories(dir());
        if (std::string(names) == "whole") {
            writeWholeFile(dir() / "model-00001-of-00002.safetensors", {{"a", "U8", {1}}});
            writeWholeFile(dir() / "model-00002-of-00002.safetensors", {{"b", "U8", {1}}});
        } else {
            writeWholeFile(dir() / "model-3-of-x.safetensors", {{"a", "U8", {1}}});
            writeWholeFile(dir() / "of-3.safetensors", {{"b", "U8", {1}}});
            writeWholeFile(dir() / "-1-of-2.safetensors", {{"c", "U8", {1}}});
        }
        c = scanCheckpoint(dir());
        QVERIFY2(c.problems.empty() ||
                     (std::string(names) == "plain" && !find(c, ErrorKind::MissingDataFile)),
                 problems(c).c_str());
    }
}

void TestHfFolder::tensorInHeaderNotInIndex() {
    writeTwoFiles(R"({"a.weight": "model-00001-of-00002.safetensors",
                      "c": "model-00002-of-00002.safetensors"})");
    const Checkpoint c = scanCheckpoint(dir());
    QVERIFY(c.hasErrors());
    const Problem* p = find(c, ErrorKind::IndexMismatch);
    QVERIFY2(p && p->severity == Severity::Error, problems(c).c_str());
    QCOMPARE(p->tensor, std::string("b"));
    QCOMPARE(p->file, std::string(kFirst));
    QVERIFY(p->message.find("not in model.safetensors.index.json") != std::string::npos);
}

void TestHfFolder::tensorInIndexNotInItsFile() {
    writeTwoFiles(R"({"a.weight": "model-00001-of-00002.safetensors",
                      "b": "model-00002-of-00002.safetensors",
                      "c": "model-00002-of-00002.safetensors",
                      "ghost": "model-00001-of-00002.safetensors"})");
    const Checkpoint c = scanCheckpoint(dir());
    QVERIFY(c.hasErrors());
    std::map<std::string, const Problem*> byTensor;
    for (const Problem& p : c.problems)
        if (p.kind == ErrorKind::IndexMismatch) byTensor[p.tensor] = &p;
    QCOMPARE(byTensor.size(), size_t(2));
    QVERIFY(byTensor.count("ghost") && byTensor.count("b"));
    QCOMPARE(byTensor["ghost"]->file, std::string(kFirst));
    QVERIFY(byTensor["ghost"]->message.find("no header has it") != std::string::npos);
    QCOMPARE(byTensor["b"]->file, std::string(kSecond));
    QVERIFY2(byTensor["b"]->message.find(std::string("it is in ") + kFirst) != std::string::npos,
             byTensor["b"]->message.c_str());
}

void TestHfFolder::totalSizeMismatch() {
    writeTwoFiles();
    writeIndex(kTwoFileMap, R"({"total_size": 40})");
    const Checkpoint c = scanCheckpoint(dir());
    const Problem* p = find(c, ErrorKind::IndexMismatch);
    QVERIFY2(p, problems(c).c_str());
    QCOMPARE(p->severity, Severity::Warning); // loaders never read it
    QCOMPARE(p->file, std::string("model.safetensors.index.json"));
    QVERIFY2(p->message.find("40") != std::string::npos &&
                 p->message.find("37") != std::string::npos,
             p->message.c_str());
    QVERIFY(!c.hasErrors());

    writeIndex(kTwoFileMap, R"({"total_size": "37"})");
    const Checkpoint text = scanCheckpoint(dir());
    QVERIFY2(find(text, ErrorKind::IndexMismatch), problems(text).c_str());
    QVERIFY(!text.hasErrors());
}

void TestHfFolder::unindexedFileIsWarnedNotRead() {
    writeTwoFiles();
    writeRaw(dir() / "stray.safetensors", "{\"broken", ""); // unread, so its damage is not seen
    writeWholeFile(dir() / "extra.safetensors", {{"e", "U8", {1}}});
    const Checkpoint c = scanCheckpoint(dir());
    QVERIFY2(!c.hasErrors(), problems(c).c_str());
    QCOMPARE(c.files.size(), size_t(2));
    QVERIFY(!c.find("e"));
    std::vector<std::string> warned;
    for (const Problem& p : c.problems) {
        QCOMPARE(p.kind, ErrorKind::UnindexedFile);
        QCOMPARE(p.severity, Severity::Warning);
        warned.push_back(p.file);
    }
    QCOMPARE(warned, (std::vector<std::string>{"extra.safetensors", "stray.safetensors"}));
}

void TestHfFolder::escapingPathsAreNotOpened() {
    writeTwoFiles(R"({"a.weight": "model-00001-of-00002.safetensors",
                      "b": "model-00001-of-00002.safetensors",
                      "c": "model-00002-of-00002.safetensors",
                      "up": "../outside.safetensors",
                      "abs": ")" +
                  (root() / "outside.safetensors").string() + R"(",
                      "fifo": "sub/../../pipe.safetensors",
                      "nameless": ""})");
    writeWholeFile(root() / "outside.safetensors", {{"up", "U8", {1}}, {"abs", "U8", {1}}});
    QCOMPARE(::mkfifo((root() / "pipe.safetensors").c_str(), 0600), 0); // would block if opened
    auto c = std::make_shared<Checkpoint>();
    const fs::path d = dir();
    const auto outcome = finishWithin([c, d] { *c = scanCheckpoint(d); });
    QVERIFY2(outcome, "the scan opened a FIFO outside the folder");
    QCOMPARE(*outcome, std::string());
    QCOMPARE(c->files.size(), size_t(2));
    QVERIFY(!c->find("up") && !c->find("abs"));
    std::set<std::string> escaped;
    for (const Problem& p : c->problems)
        if (p.kind == ErrorKind::PathOutsideDirectory) {
            QCOMPARE(p.severity, Severity::Error);
            escaped.insert(p.tensor);
        }
    QCOMPARE(escaped, (std::set<std::string>{"up", "abs", "fifo", "nameless"}));
    // An empty name is said as such, against the index (it was "outside the folder", no file).
    for (const Problem& p : c->problems)
        if (p.tensor == "nameless") {
            QCOMPARE(p.file, std::string("model.safetensors.index.json"));
            QCOMPARE(p.message, std::string("weight_map gives an empty file name for 1 tensor(s)"));
        }
}

void TestHfFolder::malformedIndex_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("expected");
    QTest::newRow("not json") << "{\"weight_map\": {"
                              << "not valid JSON: line 1, column 17: syntax error";
    QTest::newRow("not an object") << "[1, 2]"
                                   << "no \"weight_map\"";
    QTest::newRow("no weight_map") << R"({"metadata": {}})"
                                   << "no \"weight_map\"";
    QTest::newRow("weight_map an array") << R"({"weight_map": ["a"]})"
                                         << "no \"weight_map\"";
    QTest::newRow("a number for a file") << R"({"weight_map": {"a.weight": 1}})"
                                         << "gives a number where a file name belongs";
    QTest::newRow("null for a file") << R"({"weight_map": {"a.weight": null}})"
                                     << "gives a null where a file name belongs";
}

void TestHfFolder::malformedIndex() {
    QFETCH(QString, text);
    QFETCH(QString, expected);
    writeTwoFiles();
    std::ofstream(dir() / "model.safetensors.index.json", std::ios::trunc) << text.toStdString();
    try {
        scanCheckpoint(dir());
        QFAIL("scanned a folder with a malformed index");
    } catch (const Error& e) {
        QCOMPARE(e.kind(), ErrorKind::MappingInvalid);
        QCOMPARE(e.file(), (dir() / "model.safetensors.index.json").string());
        QVERIFY2(QString(e.what()).contains(expected), e.what());
        QVERIFY2(!QString(e.what()).contains("json.exception"), e.what()); // the library's tag
    }
}

void TestHfFolder::indexOverTheSizeLimit() {
    writeTwoFiles();
    fs::resize_file(dir() / "model.safetensors.index.json", kMaxHfIndexBytes + 1); // sparse
    try {
        scanCheckpoint(dir());
        QFAIL("read an index over the limit");
    } catch (const Error& e) {
        QCOMPARE(e.kind(), ErrorKind::FileTooLarge);
        QVERIFY2(QString(e.what()).contains("model.safetensors.index.json"), e.what());
    }
}

void TestHfFolder::brokenHeaderAsInAShardScan_data() {
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<QByteArray>("data");
    QTest::newRow("json syntax") << QByteArray("{\"c\":") << QByteArray();
    QTest::newRow("trailing bytes")
        << QByteArray(R"({"c":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})")
        << QByteArray("ab");
    QTest::newRow("hole") << QByteArray(R"({"c":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})")
                          << QByteArray("ab");
    QTest::newRow("unknown dtype")
        << QByteArray(R"({"c":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}})")
        << QByteArray("a");
    QTest::newRow("size mismatch")
        << QByteArray(R"({"c":{"dtype":"F32","shape":[1],"data_offsets":[0,2]}})")
        << QByteArray("ab");
    QTest::newRow("not utf-8") << QByteArray("{\"\xff\":1}") << QByteArray();
}

void TestHfFolder::brokenHeaderAsInAShardScan() {
    QFETCH(QByteArray, header);
    QFETCH(QByteArray, data);
    writeTwoFiles();
    writeRaw(dir() / kSecond, header.toStdString(), data.toStdString());
    const Checkpoint hf = scanCheckpoint(dir());
    QCOMPARE(hf.format, CheckpointFormat::HfFolder);

    const fs::path shards = root() / "shards";
    writeCheckpoint(shards, {{"w", "U8", {4}, splitDim({4}, 0, 2)}}, 2);
    writeRaw(shards / kSecond, header.toStdString(), data.toStdString());
    const Checkpoint dcp = scanCheckpoint(shards);
    QCOMPARE(dcp.format, CheckpointFormat::SafetensorsShards);

    auto problemOf = [](const Checkpoint& c) -> const Problem* {
        for (const Problem& p : c.problems)
            if (p.file == kSecond) return &p;
        return nullptr;
    };
    const Problem* a = problemOf(hf);
    const Problem* b = problemOf(dcp);
    QVERIFY2(a && b, (problems(hf) + problems(dcp)).c_str());
    QCOMPARE(errorKindName(a->kind), errorKindName(b->kind));
    QCOMPARE(a->message, b->message);
    QCOMPARE(a->severity, Severity::Error);
    QVERIFY(!hf.files[1].valid);
}

void TestHfFolder::pytorchRankZeroSave() {
    // DCP's rank-0 save in HF format: an index beside files whose sharding info is all zeros.
    writeShard(dir() / kFirst, {{"a.weight", "F32", {0, 0}, {2, 3}, pattern("a", 24)},
                                {"b", "BF16", {0}, {4}, pattern("b", 8)}});
    writeShard(dir() / kSecond, {{"c", "U8", {0}, {5}, pattern("c", 5)}});
    writeIndex(kTwoFileMap, R"({"total_size": 37})");
    const Checkpoint c = scanCheckpoint(dir());
    QCOMPARE(c.format, CheckpointFormat::HfFolder);
    QVERIFY2(c.problems.empty(), problems(c).c_str());

    // A slice away from the origin must not pass for a whole tensor.
    writeShard(dir() / kSecond, {{"c", "U8", {3}, {5}, pattern("c", 5)}});
    const Checkpoint slice = scanCheckpoint(dir());
    const Problem* p = find(slice, ErrorKind::PartialTensor);
    QVERIFY2(p && p->severity == Severity::Error, problems(slice).c_str());
    QCOMPARE(p->tensor, std::string("c"));
    QCOMPARE(p->file, std::string(kSecond));
    QCOMPARE(slice.find("c")->status, CoverageStatus::Invalid);

    // One rank's file opened on its own: offsets zero prove nothing, so it is flagged.
    const Checkpoint one = scanCheckpoint(dir() / kFirst);
    const Problem* w = find(one, ErrorKind::PartialTensor);
    QVERIFY2(w && w->severity == Severity::Warning, problems(one).c_str());
}

void TestHfFolder::cancelThrowsCancelled() {
    std::string map = "{";
    for (int i = 0; i < 6; ++i) {
        const std::string name = "model-0000" + std::to_string(i + 1) + "-of-00006.safetensors";
        writeWholeFile(dir() / name, {{"t" + std::to_string(i), "U8", {4}}});
        map += (i ? "," : "") + jsonString("t" + std::to_string(i)) + ":" + jsonString(name);
    }
    writeIndex(map + "}");

    std::stop_source stop;
    ScanOptions options;
    options.threads = 1;
    std::vector<ScanProgress> seen;
    options.progress = [&](const ScanProgress& p) {
        seen.push_back(p);
        if (p.phase == ScanPhase::ReadingHeaders && p.done < p.total) stop.request_stop();
    };
    options.stop = stop.get_token();
    QVERIFY_THROWS_EXCEPTION(Cancelled, scanCheckpoint(dir(), options));
    QVERIFY(!seen.empty());
    QCOMPARE(seen.front().phase, ScanPhase::ReadingHeaders);
    QCOMPARE(seen.front().total, uint64_t(6)); // files

    // Stopped before it starts, through either entry point.
    std::stop_source early;
    early.request_stop();
    ScanOptions stopped;
    stopped.stop = early.get_token();
    QVERIFY_THROWS_EXCEPTION(Cancelled, scanHfFolder(dir(), stopped));
    QVERIFY_THROWS_EXCEPTION(Cancelled,
                             scanCheckpoint(dir() / "model-00001-of-00006.safetensors", stopped));
}

void TestHfFolder::exportReproducesEveryByte() {
    auto bytes = writeWholeFile(dir() / kFirst, {{"a.weight", "F32", {2, 3}},
                                                 {"b", "BF16", {4}},
                                                 {"scale", "F64", {}},
                                                 {"empty", "I32", {0, 2}}});
    bytes.merge(writeWholeFile(dir() / kSecond, {{"c", "U8", {5}}, {"packed", "F4", {2, 3}}}));
    writeIndex(R"({"a.weight": "model-00001-of-00002.safetensors",
                   "b": "model-00001-of-00002.safetensors",
                   "scale": "model-00001-of-00002.safetensors",
                   "empty": "model-00001-of-00002.safetensors",
                   "c": "model-00002-of-00002.safetensors",
                   "packed": "model-00002-of-00002.safetensors"})");
    std::ofstream(dir() / "config.json") << "{}";
    const Checkpoint c = scanCheckpoint(dir());
    QVERIFY2(c.problems.empty(), problems(c).c_str());
    const Mapping regroup = parseMapping(
        R"({"a.weight": 2, "b": 1, "scale": 1, "empty": 1, "c": 2, "packed": 1})", "regroup");
    for (const Mapping& m : {defaultMapping(c), regroup}) {
        const fs::path out = root() / ("out" + std::to_string(m.fileCount()));
        const Plan plan = makePlan(c, m, UnmappedPolicy::Error);
        QVERIFY(plan.ok());
        EngineOptions o;
        o.verify = true;
        const EngineResult r = consolidate(c, plan, out, o);
        QCOMPARE(r.files.size(), size_t(m.fileCount()));
        QVERIFY(r.sidecars.empty()); // an HF folder's own files are copied only when asked
        QVERIFY(!fs::exists(out / "config.json"));
        const auto written = readOutput(out);
        QCOMPARE(written.size(), bytes.size());
        for (const auto& [fqn, expected] : bytes)
            QVERIFY2(written.at(fqn).bytes == expected, fqn.c_str()); // byte for byte
        QCOMPARE(written.at("a.weight").shape, (Dims{2, 3}));
        QCOMPARE(written.at("packed").dtype, std::string("F4"));
        QVERIFY(verifyOutput(out, &c).ok());
    }

    // --hf-assets pointed at the folder itself copies its config.
    Checkpoint withAssets = c;
    withAssets.hfAssetsDir = dir();
    const Plan plan = makePlan(withAssets, defaultMapping(withAssets), UnmappedPolicy::Error);
    const EngineResult r = consolidate(withAssets, plan, root() / "assets", {});
    QCOMPARE(r.sidecars, std::vector<std::string>{"config.json"});
    QVERIFY(fs::exists(root() / "assets" / "config.json"));
}

void TestHfFolder::cliInspectAndConsolidate() {
    const QString cli = QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI"));
    QVERIFY2(!cli.isEmpty(), "run through ctest, which sets SHARDSCOPE_CLI");
    auto run = [&](const QStringList& args, QString* out = nullptr, QString* err = nullptr) {
        QProcess p;
        p.start(cli, args);
        if (!p.waitForFinished(120000)) return -1;
        if (out) *out = QString::fromUtf8(p.readAllStandardOutput());
        if (err) *err = QString::fromUtf8(p.readAllStandardError());
        return p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    };
    const auto bytes = writeTwoFiles();
    const QString folder = QString::fromStdString(dir().string());
    QString out, err;
    QCOMPARE(run({"inspect", folder}, &out), 0);
    QVERIFY2(out.contains("Hugging Face safetensors folder: 2 file(s), 3 tensors"),
             qPrintable(out));
    QVERIFY(out.contains("No problems"));

    QCOMPARE(run({"inspect", folder, "--json"}, &out), 0);
    const QJsonObject doc = QJsonDocument::fromJson(out.toUtf8()).object();
    QCOMPARE(doc["format"].toString(), QString("hf"));
    QVERIFY(doc["consolidatable"].toBool());
    QCOMPARE(doc["tensors"].toArray().size(), 3);
    QCOMPARE(doc["files"].toArray().size(), 2);

    const QString file = folder + "/" + kSecond;
    QCOMPARE(run({"inspect", file, "--json"}, &out), 0);
    QCOMPARE(QJsonDocument::fromJson(out.toUtf8()).object()["tensors"].toArray().size(), 1);

    const QString target = QString::fromStdString((root() / "regrouped").string());
    QCOMPARE(run({"consolidate", folder, target, "--verify", "--quiet"}, nullptr, &err), 0);
    const auto written = readOutput(root() / "regrouped");
    for (const auto& [fqn, expected] : bytes)
        QVERIFY2(written.at(fqn).bytes == expected, fqn.c_str());
    QCOMPARE(run({"verify", target, "--against", folder}, &out), 0);

    fs::remove(dir() / kSecond); // now a problem: inspect and consolidate exit 1
    QCOMPARE(run({"inspect", folder}, &out), 1);
    QVERIFY2(out.contains(QString("error: ") + kSecond + ": tensor 'c': missing"), qPrintable(out));
    QCOMPARE(run({"inspect", folder, "--json"}, &out), 1);
    QCOMPARE(QJsonDocument::fromJson(out.toUtf8()).object()["format"].toString(), QString("hf"));
    QCOMPARE(run({"consolidate", folder, target + "2"}, nullptr, &err), 1);
    QVERIFY(outputLeftovers(root() / "regrouped2").empty());

    std::ofstream(dir() / "model.safetensors.index.json", std::ios::trunc) << "{}";
    QCOMPARE(run({"inspect", folder}, nullptr, &err), 1);
    QVERIFY2(err.contains("weight_map"), qPrintable(err));
    QCOMPARE(run({"inspect", folder + "/nowhere.safetensors"}, nullptr, &err), 1);
    QVERIFY2(err.contains("not a directory or a *.safetensors file"), qPrintable(err));
}

QTEST_GUILESS_MAIN(TestHfFolder)
#include "tst_hf_folder.moc"
