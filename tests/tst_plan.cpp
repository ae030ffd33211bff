#include "checkpoint.h"
#include "plan.h"
#include "shard_builder.h"

#include <QJsonArray>
#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

class TestPlan : public QObject {
    Q_OBJECT

private slots:
    void init();
    void badMappings_data();
    void badMappings();
    void noMappingMeansOneFile();
    void hfMetadataMappingIsTheDefault();
    void layoutOrderPaddingAndIndex();
    void unmappedIsAnErrorUnlessPolicy();
    void mappedButAbsentIsAWarning();
    void indexGapsKeepTheirNames();
    void groupBySize();
    void mappingJsonRoundTrip();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path dir() const { return fs::path(m_tmp->path().toStdString()) / "ckpt"; }
    Checkpoint small() {
        writeCheckpoint(dir(),
                        {{"b.f32", "F32", {3}, splitDim({3}, 0, 1)},
                         {"a.bf16", "BF16", {2, 3}, splitDim({2, 3}, 0, 2)},
                         {"c.i64", "I64", {2}, splitDim({2}, 0, 2)},
                         {"d.u8", "U8", {5}, splitDim({5}, 0, 1)}},
                        2);
        return scanCheckpoint(dir());
    }
};

void TestPlan::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
}

void TestPlan::badMappings_data() {
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("expected");
    QTest::newRow("zero") << R"({"a": 0})"
                          << "file index 0 is not allowed";
    QTest::newRow("negative") << R"({"a": -1})"
                              << "must be positive";
    QTest::newRow("fraction") << R"({"a": 1.5})"
                              << "must be a positive integer";
    QTest::newRow("float one") << R"({"a": 1.0})"
                               << "must be a positive integer";
    QTest::newRow("string") << R"({"a": "1"})"
                            << "must be a positive integer";
    QTest::newRow("array") << R"([1])"
                           << "must be a JSON object";
    QTest::newRow("not json") << R"({"a": )"
                              << "not valid JSON";
    QTest::newRow("too large") << R"({"a": 100000})"
                               << "above the limit";
}

void TestPlan::badMappings() {
    QFETCH(QString, json);
    QFETCH(QString, expected);
    const fs::path p = fs::path(m_tmp->path().toStdString()) / "mapping.json";
    std::ofstream(p) << json.toStdString();
    try {
        loadMapping(p);
        QFAIL("accepted a bad mapping");
    } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains(expected), e.what());
        QVERIFY2(QString(e.what()).contains("mapping.json"), e.what());
    }
}

void TestPlan::noMappingMeansOneFile() {
    Checkpoint c = small();
    Plan plan = makePlan(c, {}, UnmappedPolicy::Error);
    QVERIFY(plan.ok());
    QCOMPARE(plan.files.size(), size_t(1));
    QCOMPARE(plan.files[0].name, std::string("model-00001-of-00001.safetensors"));
    QCOMPARE(plan.files[0].tensors.size(), size_t(4));
}

void TestPlan::hfMetadataMappingIsTheDefault() {
    Checkpoint none = small();
    QVERIFY(defaultMapping(none).fileIndex.empty());
    fs::create_directories(dir() / ".hf_metadata");
    std::ofstream(dir() / ".hf_metadata" / "fqn_to_file_index_mapping.json")
        << R"({"a.bf16": 1, "b.f32": 2, "c.i64": 2, "d.u8": 1})";
    Checkpoint c = scanCheckpoint(dir());
    Mapping m = defaultMapping(c);
    QCOMPARE(m.fileCount(), 2);
    QCOMPARE(m.fileIndex.at("b.f32"), 2);
}

void TestPlan::layoutOrderPaddingAndIndex() {
    Checkpoint c = small();
    Plan plan = makePlan(c, {}, UnmappedPolicy::Error);
    const PlannedFile& f = plan.files[0];
    QCOMPARE(f.header.size() % 8, size_t(0));
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | uint8_t(f.header[size_t(i)]);
    QCOMPARE(n + 8, uint64_t(f.header.size()));
    const std::string json = f.header.substr(8);
    QVERIFY(json.rfind(R"({"__metadata__":{"format":"pt"},)", 0) == 0);
    // Widest first, then name: I64, F32, BF16, U8.
    const size_t i64 = json.find("c.i64"), f32 = json.find("b.f32"), bf16 = json.find("a.bf16"),
                 u8 = json.find("d.u8");
    QVERIFY(i64 < f32 && f32 < bf16 && bf16 < u8);
    QCOMPARE(f.dataSize, uint64_t(16 + 12 + 12 + 5));
    QCOMPARE(f.tensors[0].begin, uint64_t(0));
    QCOMPARE(f.tensors[1].begin, uint64_t(16));
    QCOMPARE(f.tensors[3].end, f.dataSize);
    QCOMPARE(plan.totalTensorBytes, uint64_t(45));

    const QJsonObject index =
        QJsonDocument::fromJson(QByteArray::fromStdString(plan.indexJson())).object();
    QCOMPARE(index["metadata"].toObject()["total_size"].toInteger(), 45);
    QCOMPARE(index["weight_map"].toObject().size(), 4);
    QCOMPARE(index["weight_map"].toObject()["a.bf16"].toString(),
             QString("model-00001-of-00001.safetensors"));
    QVERIFY(plan.indexJson().find("\n  \"metadata\": {") != std::string::npos); // 2-space indent
}

void TestPlan::unmappedIsAnErrorUnlessPolicy() {
    Checkpoint c = small();
    Mapping m = parseMapping(R"({"a.bf16": 1, "b.f32": 2})", "map.json");
    Plan strict = makePlan(c, m, UnmappedPolicy::Error);
    QVERIFY(!strict.ok());
    QCOMPARE(strict.unmapped, (std::vector<std::string>{"c.i64", "d.u8"}));
    QVERIFY(QString::fromStdString(strict.problems[0].text()).contains("c.i64, d.u8"));
    Plan last = makePlan(c, m, UnmappedPolicy::LastFile);
    QVERIFY(last.ok());
    QCOMPARE(last.weightMap.at("d.u8"), std::string("model-00002-of-00002.safetensors"));
    QCOMPARE(last.problems[0].severity, Severity::Warning);
}

void TestPlan::mappedButAbsentIsAWarning() {
    Checkpoint c = small();
    Mapping m = parseMapping(
        R"({"a.bf16": 1, "b.f32": 1, "c.i64": 1, "d.u8": 1, "lm_head.weight": 2})", "m");
    Plan plan = makePlan(c, m, UnmappedPolicy::Error);
    QVERIFY(plan.ok());
    QCOMPARE(plan.problems.size(), size_t(1));
    QCOMPARE(plan.problems[0].severity, Severity::Warning);
    QCOMPARE(plan.problems[0].tensor, std::string("lm_head.weight"));
    // File 2 would be empty: not planned, but the names still count to 2.
    QCOMPARE(plan.files.size(), size_t(1));
    QCOMPARE(plan.files[0].name, std::string("model-00001-of-00002.safetensors"));
}

void TestPlan::indexGapsKeepTheirNames() {
    Checkpoint c = small();
    Mapping m = parseMapping(R"({"a.bf16": 1, "b.f32": 4, "c.i64": 4, "d.u8": 7})", "m");
    Plan plan = makePlan(c, m, UnmappedPolicy::Error);
    QCOMPARE(plan.files.size(), size_t(3));
    QCOMPARE(plan.files[1].name, std::string("model-00004-of-00007.safetensors"));
    QCOMPARE(plan.files[2].name, std::string("model-00007-of-00007.safetensors"));
}

void TestPlan::groupBySize() {
    std::vector<SplitTensor> tensors;
    for (int i : {1, 2, 10, 3}) // natural order: 1, 2, 3, 10
        tensors.push_back({"layers." + std::to_string(i) + ".w", "U8", {40}, splitDim({40}, 0, 1)});
    tensors.push_back({"layers.4.big", "U8", {300}, splitDim({300}, 0, 1)});
    writeCheckpoint(dir(), tensors, 1);
    Checkpoint c = scanCheckpoint(dir());
    Mapping m = shardscope::groupBySize(c, 100);
    // 1 and 2 (80), then 3 (40) alone before the oversized 4.big, 4.big alone, then 10.
    QCOMPARE(m.fileIndex.at("layers.1.w"), 1);
    QCOMPARE(m.fileIndex.at("layers.2.w"), 1);
    QCOMPARE(m.fileIndex.at("layers.3.w"), 2);
    QCOMPARE(m.fileIndex.at("layers.4.big"), 3);
    QCOMPARE(m.fileIndex.at("layers.10.w"), 4);
    QCOMPARE(m.fileCount(), 4);
    Plan plan = makePlan(c, m, UnmappedPolicy::Error);
    for (const auto& f : plan.files)
        QVERIFY(f.dataSize <= 100 || f.tensors.size() == 1);
}

void TestPlan::mappingJsonRoundTrip() {
    Mapping m = parseMapping(R"({"ü.weight": 3, "a": 1})", "m");
    Mapping back = parseMapping(mappingToJson(m), "again");
    QCOMPARE(back.fileIndex, m.fileIndex);
}

QTEST_GUILESS_MAIN(TestPlan)
#include "tst_plan.moc"
