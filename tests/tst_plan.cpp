// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "checkpoint.h"
#include "export_rules.h"
#include "plan.h"
#include "shard_builder.h"

#include <QJsonArray>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <thread>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

class TestPlan : public QObject {
    Q_OBJECT

private slots:
    void init();
    void badMappings_data();
    void badMappings();
    void syntaxErrorsShowLineAndColumn();
    void duplicateNamesAreAnError();
    void deepNestingIsAnErrorNotACrash();
    void otherMappingFormsStillLoad();
    void fifoMappingIsRefusedPromptly();
    void specialFilesAreNotMappings();
    void oversizedMappingNamesTheLimit();
    void noMappingMeansOneFile();
    void nothingToExportIsAnError();
    void hfMetadataMappingIsTheDefault();
    void layoutOrderPaddingAndIndex();
    void indexTextIsExact();
    void metadataKeyIsNeverATensorName();
    void mappingLookupInAnyOrder();
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
    QTest::addColumn<QString>("tensor"); // the tensor the Error names, if any
    QTest::newRow("zero") << R"({"a": 0})"
                          << "file index 0 is not allowed"
                          << "a";
    QTest::newRow("negative") << R"({"a": -1})"
                              << "must be positive, found a negative number"
                              << "a";
    QTest::newRow("huge negative") << R"({"a": -99999999999999999999999})"
                                   << "must be positive"
                                   << "a";
    QTest::newRow("fraction") << R"({"a": 1.5})"
                              << "must be a positive integer, found a fraction"
                              << "a";
    QTest::newRow("float one") << R"({"a": 1.0})"
                               << "must be a positive integer"
                               << "a";
    QTest::newRow("exponent") << R"({"a": 1e2})"
                              << "must be a positive integer"
                              << "a";
    QTest::newRow("string") << R"({"a": "1"})"
                            << "must be a positive integer, found a string"
                            << "a";
    QTest::newRow("null") << R"({"a": null})"
                          << "must be a positive integer, found null"
                          << "a";
    QTest::newRow("object value") << R"({"a": {"b": 1}})"
                                  << "must be a positive integer, found an object"
                                  << "a";
    QTest::newRow("array") << R"([1])"
                           << "line 1, column 1: the mapping must be a JSON object"
                           << "";
    QTest::newRow("not json") << R"({"a": )"
                              << "line 1, column 7: expected a value"
                              << "";
    QTest::newRow("too large") << R"({"a": 100000})"
                               << "file index 100000 is above the limit of 99999"
                               << "a";
    QTest::newRow("beyond 64 bits") << R"({"a": 99999999999999999999999})"
                                    << "line 1, column 7: file index is above the limit of 99999"
                                    << "a";
    QTest::newRow("empty") << ""
                           << "the mapping file is empty"
                           << "";
    QTest::newRow("bare key") << R"({a: 1})"
                              << "line 1, column 2: expected a tensor name in double quotes"
                              << "";
    QTest::newRow("trailing comma") << "{\"a\": 1,}"
                                    << "line 1, column 9: expected a tensor name"
                                    << "";
    QTest::newRow("text after") << R"({"a": 1} x)"
                                << "line 1, column 10: unexpected text after"
                                << "";
    QTest::newRow("missing colon") << R"({"a" 1})"
                                   << "line 1, column 6: expected ':' after the tensor name"
                                   << "";
    QTest::newRow("bad utf-8") << QString::fromLatin1("{\"a\xff\": 1}") << "not valid UTF-8"
                               << "";
}

void TestPlan::badMappings() {
    QFETCH(QString, json);
    QFETCH(QString, expected);
    QFETCH(QString, tensor);
    const fs::path p = fs::path(m_tmp->path().toStdString()) / "mapping.json";
    // Latin-1 keeps the rows' bytes exactly, invalid UTF-8 included.
    std::ofstream(p, std::ios::binary) << json.toLatin1().toStdString();
    try {
        loadMapping(p);
        QFAIL("accepted a bad mapping");
    } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains(expected), e.what());
        QVERIFY2(QString(e.what()).contains("mapping.json"), e.what());
        QCOMPARE(QString::fromStdString(e.tensor()), tensor);
        QVERIFY2(!QString(e.what()).contains("json.exception"), e.what());
    }
}

namespace {

std::string expectError(std::function<void()> call) {
    const auto outcome = finishWithin(std::move(call));
    if (!outcome) return "did not finish";
    if (outcome->empty()) return "no Error: returned normally";
    if (outcome->rfind("not an Error", 0) == 0) return "no Error: " + *outcome;
    return *outcome;
}

} // namespace

void TestPlan::syntaxErrorsShowLineAndColumn() {
    const std::string json = "{\n  \"a\": 1,\n  \"b\": 2 \"c\": 3\n}\n";
    try {
        parseMapping(json, "mapping.json");
        QFAIL("accepted a missing comma");
    } catch (const Error& e) {
        QCOMPARE(std::string(e.what()),
                 std::string("mapping.json: line 3, column 10: expected ',' or '}'"));
    }
    // Columns count characters, so a name in any script points at the right place.
    try {
        parseMapping("{\"ü\": 1 x}", "m.json");
        QFAIL("accepted junk");
    } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains("line 1, column 9"), e.what());
    }
    // A control character inside a name, on a later line.
    try {
        parseMapping("{\n\n \"a\tb\": 1}", "m.json");
        QFAIL("accepted a tab in a string");
    } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains("line 3, column 4: control character"), e.what());
    }
}

void TestPlan::duplicateNamesAreAnError() {
    try {
        parseMapping("{\"a\": 1,\n \"b\": 2,\n \"a\": 1}", "m.json");
        QFAIL("accepted a name listed twice");
    } catch (const Error& e) {
        QCOMPARE(e.tensor(), std::string("a"));
        QVERIFY2(QString(e.what()).contains(
                     "line 3, column 2: listed twice in the mapping (first at line 1, column 2)"),
                 e.what());
    }
    // The same name written with an escape is still the same name.
    QVERIFY_THROWS_EXCEPTION(Error, parseMapping(R"({"a": 1, "\u0061": 2})", "m.json"));
}

void TestPlan::deepNestingIsAnErrorNotACrash() {
    constexpr size_t kDepth = 70000;
    const std::string deep = std::string(kDepth, '[') + std::string(kDepth, ']');
    const std::string text = expectError([deep] { parseMapping("{\"w\": " + deep + "}", "m"); });
    QVERIFY2(QString::fromStdString(text).contains(
                 "m: tensor 'w': line 1, column 7: file index must be a positive integer, "
                 "found an array"),
             text.c_str());
    QVERIFY(text.size() < 200); // described, never echoed
    // Deep nesting where the object itself should be, and inside an unterminated value.
    QVERIFY(QString::fromStdString(expectError([deep] {
                parseMapping(deep, "m");
            })).contains("must be a JSON object {\"<fqn>\": <file index>}, found an array"));
    QVERIFY(QString::fromStdString(expectError([] {
                parseMapping("{\"w\": " + std::string(kDepth, '{'), "m");
            })).contains("found an object"));
}

void TestPlan::otherMappingFormsStillLoad() {
    // A byte-order mark from an editor, whitespace everywhere, escapes and an empty object.
    Mapping m = parseMapping("\xEF\xBB\xBF { \"a\\n\" :\t1 ,\r\n\"b\\u00fc\":2 } \n", "m");
    QCOMPARE(m.fileIndex.size(), size_t(2));
    QCOMPARE(m.fileIndex.at("a\n"), 1);
    QCOMPARE(m.fileIndex.at("bü"), 2);
    QCOMPARE(m.source, std::string("m"));
    QVERIFY(parseMapping("{}", "m").fileIndex.empty());
    QCOMPARE(parseMapping(R"({"x": 99999})", "m").fileCount(), kMaxFileIndex);
}

void TestPlan::fifoMappingIsRefusedPromptly() {
    const fs::path fifo = fs::path(m_tmp->path().toStdString()) / "mapping.fifo";
    QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
    const std::string text = expectError([fifo] { loadMapping(fifo); });
    QVERIFY2(text == fifo.string() + ": is a FIFO, not a regular file", text.c_str());

    // The same FIFO as .hf_metadata's mapping: the default mapping reports it, never blocks.
    small();
    fs::create_directories(dir() / ".hf_metadata");
    QCOMPARE(::mkfifo((dir() / ".hf_metadata" / kMappingFileName).c_str(), 0600), 0);
    const Checkpoint c = scanCheckpoint(dir());
    const std::string fromDefault = expectError([&c] { defaultMapping(c); });
    QVERIFY2(QString::fromStdString(fromDefault)
                 .contains("fqn_to_file_index_mapping.json: is a FIFO, not a regular file"),
             fromDefault.c_str());
}

void TestPlan::specialFilesAreNotMappings() {
    const std::string zero = expectError([] { loadMapping("/dev/zero"); });
    QCOMPARE(zero, std::string("/dev/zero: is a character device, not a regular file"));
    const fs::path folder = fs::path(m_tmp->path().toStdString()) / "folder.json";
    fs::create_directories(folder);
    QVERIFY(QString::fromStdString(expectError([folder] {
                loadMapping(folder);
            })).contains("is a directory, not a regular file"));
    const fs::path missing = fs::path(m_tmp->path().toStdString()) / "missing.json";
    QVERIFY(QString::fromStdString(expectError([missing] {
                loadMapping(missing);
            })).contains("missing.json: cannot open: No such file"));
    // A dangling link as .hf_metadata's mapping is reported rather than taken as "no mapping".
    small();
    fs::create_directories(dir() / ".hf_metadata");
    fs::create_symlink("nowhere.json", dir() / ".hf_metadata" / kMappingFileName);
    const Checkpoint c = scanCheckpoint(dir());
    QVERIFY(QString::fromStdString(expectError([&c] {
                defaultMapping(c);
            })).contains("is a symbolic link to a missing file"));
}

void TestPlan::oversizedMappingNamesTheLimit() {
    const fs::path big = fs::path(m_tmp->path().toStdString()) / "big.json";
    std::ofstream(big) << "{}";
    fs::resize_file(big, (uint64_t(257) << 20)); // sparse: no real disk use
    const std::string text = expectError([big] { loadMapping(big); });
    QCOMPARE(text, big.string() + ": the mapping is 269484032 bytes, over the limit of 256 MiB");
}

void TestPlan::noMappingMeansOneFile() {
    Checkpoint c = small();
    Plan plan = makePlan(c, {}, UnmappedPolicy::Error);
    QVERIFY(plan.ok());
    QCOMPARE(plan.files.size(), size_t(1));
    QCOMPARE(plan.files[0].name, std::string("model-00001-of-00001.safetensors"));
    QCOMPARE(plan.files[0].tensors.size(), size_t(4));
}

// A plan with no file says why, so inspect does not call it ready to consolidate.
void TestPlan::nothingToExportIsAnError() {
    auto nothing = [](const Plan& plan) -> std::string {
        for (const Problem& p : plan.problems)
            if (p.kind == ErrorKind::NothingToWrite && p.severity == Severity::Error)
                return p.message;
        return {};
    };
    Checkpoint empty;
    empty.directory = dir();
    empty.format = CheckpointFormat::Dcp;
    empty.byteItems.push_back({"step", "int", "7", 431, 0});
    Plan plan = makePlan(empty, {}, UnmappedPolicy::Error);
    QVERIFY(!plan.ok());
    QVERIFY(plan.files.empty());
    QCOMPARE(nothing(plan), std::string("nothing to export: the checkpoint holds no tensors (only "
                                        "1 byte items, which are never exported)"));

    Checkpoint state = small();
    for (TensorInfo& t : state.tensors)
        t.kind = TensorKind::Optimizer;
    plan = makePlan(state, {}, UnmappedPolicy::Error);
    QVERIFY(!plan.ok());
    QCOMPARE(nothing(plan), std::string("nothing to export: every tensor is training state, which "
                                        "the export leaves out unless it is included"));
    plan = makePlan(state, {}, UnmappedPolicy::Error, true); // included: written
    QVERIFY(plan.ok());
    QCOMPARE(plan.files.size(), size_t(1));
    QCOMPARE(nothing(plan), std::string());
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

// The index byte for byte, as Hugging Face's own writer lays it out (json.dumps with indent=2,
// keys sorted): names that need escapes, non-ASCII names, an empty map, an export record.
void TestPlan::indexTextIsExact() {
    Plan plan;
    plan.totalTensorBytes = 1234;
    QCOMPARE(plan.indexJson(), std::string("{\n  \"metadata\": {\n    \"total_size\": 1234\n  },\n"
                                           "  \"weight_map\": {}\n}\n"));
    plan.weightMap["b.w"] = "model-00002-of-00002.safetensors";
    plan.weightMap["a\"q\\\\b"] = "model-00001-of-00002.safetensors";
    plan.weightMap[std::string("c\x01\x1f\t\n\x7f", 6)] = "model-00001-of-00002.safetensors";
    plan.weightMap["\xc3\xa9t\xc3\xa9.\xe5\x90\x8d"] = "model-00002-of-00002.safetensors";
    QCOMPARE(
        plan.indexJson(),
        std::string("{\n  \"metadata\": {\n    \"total_size\": 1234\n  },\n"
                    "  \"weight_map\": {\n"
                    "    \"a\\\"q\\\\\\\\b\": \"model-00001-of-00002.safetensors\",\n"
                    "    \"b.w\": \"model-00002-of-00002.safetensors\",\n"
                    "    \"c\\u0001\\u001f\\t\\n\x7f\": \"model-00001-of-00002.safetensors\",\n"
                    "    \"\xc3\xa9t\xc3\xa9.\xe5\x90\x8d\": \"model-00002-of-00002.safetensors\"\n"
                    "  }\n}\n"));
    plan.weightMap.clear();
    plan.weightMap["x"] = "model-00001-of-00001.safetensors";
    plan.exportRecord = R"({"version":1,"cast":"bf16","rename":[["^a","b"]]})";
    QCOMPARE(plan.indexJson(),
             std::string("{\n  \"metadata\": {\n    \"shardscope_export\": {\n"
                         "      \"cast\": \"bf16\",\n      \"rename\": [\n        [\n"
                         "          \"^a\",\n          \"b\"\n        ]\n      ],\n"
                         "      \"version\": 1\n    },\n    \"total_size\": 1234\n  },\n"
                         "  \"weight_map\": {\n"
                         "    \"x\": \"model-00001-of-00001.safetensors\"\n  }\n}\n"));
    plan.weightMap[std::string("bad\xc3", 4)] = "model-00001-of-00001.safetensors";
    try {
        (void)plan.indexJson();
        QFAIL("a name that is not UTF-8 went into the index");
    } catch (const Error& e) {
        QCOMPARE(e.kind(), ErrorKind::InvalidUtf8);
        QCOMPARE(e.tensor(), std::string("bad\xc3", 4));
    }
}

// "__metadata__" as an exported name would repeat the header's own key: refused whether the
// checkpoint holds such a tensor (DCP allows it) or a rename makes one.
void TestPlan::metadataKeyIsNeverATensorName() {
    Checkpoint c = small();
    const Plan clean = makePlan(c, Mapping{}, UnmappedPolicy::Error);
    QVERIFY(clean.ok());

    ExportRules rules;
    rules.rename.push_back({RenameRule::Kind::Regex, "^b\\.f32$", "__metadata__"});
    const Plan renamed =
        makePlan(c, Mapping{}, UnmappedPolicy::Error, rules, selectForExport(c, rules));
    QVERIFY(!renamed.ok());
    QCOMPARE(renamed.problems.size(), size_t(1));
    QCOMPARE(renamed.problems[0].tensor, std::string("b.f32"));
    QCOMPARE(renamed.problems[0].kind, ErrorKind::NameCollision);
    QVERIFY(renamed.problems[0].message.find("a rename rule gives it this name") !=
            std::string::npos);

    for (auto& t : c.tensors)
        if (t.fqn == "d.u8") t.fqn = "__metadata__";
    const Plan held = makePlan(c, Mapping{}, UnmappedPolicy::Error);
    QVERIFY(!held.ok());
    QCOMPARE(held.problems.size(), size_t(1));
    QCOMPARE(held.problems[0].tensor, std::string("__metadata__"));
    QVERIFY(held.problems[0].message.find("reserves that name") != std::string::npos);
    QVERIFY(held.problems[0].message.find("--rename") != std::string::npos);
}

// The plan pairs tensors with the mapping in one walk when both are in byte order; tensors in
// another order (a checkpoint assembled by hand) still find their files.
void TestPlan::mappingLookupInAnyOrder() {
    Checkpoint c = small(); // a.bf16, b.f32, c.i64, d.u8
    const Mapping m =
        parseMapping(R"({"a.bf16": 2, "b.f32": 1, "c.i64": 2, "d.u8": 1, "e.gone": 1})", "m.json");
    const Plan sorted = makePlan(c, m, UnmappedPolicy::Error);
    std::reverse(c.tensors.begin(), c.tensors.end());
    const Plan reversed = makePlan(c, m, UnmappedPolicy::Error);
    for (const Plan* p : {&sorted, &reversed}) {
        QVERIFY(p->ok());
        QCOMPARE(p->weightMap.at("a.bf16"), std::string("model-00002-of-00002.safetensors"));
        QCOMPARE(p->weightMap.at("b.f32"), std::string("model-00001-of-00002.safetensors"));
        QCOMPARE(p->weightMap.at("c.i64"), std::string("model-00002-of-00002.safetensors"));
        QCOMPARE(p->weightMap.at("d.u8"), std::string("model-00001-of-00002.safetensors"));
        QCOMPARE(p->weightMap.size(), size_t(4));
        QVERIFY(p->unmapped.empty());
    }
    // Checkpoints keep their tensors in byte order (Checkpoint::find searches them so too).
    QCOMPARE(sorted.problems.size(), size_t(1)); // e.gone: in the mapping, in no shard
    QCOMPARE(sorted.problems[0].tensor, std::string("e.gone"));
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
    // The written form is unchanged: 2-space indent, keys in byte order, final newline.
    QCOMPARE(mappingToJson(m), std::string("{\n  \"a\": 1,\n  \"ü.weight\": 3\n}\n"));
    QCOMPARE(mappingToJson(Mapping{}), std::string("{}\n"));
}

QTEST_GUILESS_MAIN(TestPlan)
#include "tst_plan.moc"
