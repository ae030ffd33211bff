// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// The engine side of export rules: cast sizes in the plan, cast bytes assembled from chunks,
// the record in the index and verify recomputing from it, strict casts, config.json, and tied
// weights. Expected bytes are formed here, bit by bit, not with the core's converter.

#include "checkpoint.h"
#include "engine.h"
#include "export_rules.h"
#include "model_config.h"
#include "plan.h"
#include "shard_builder.h"
#include "tensor_reader.h"
#include "tied_weights.h"
#include "verify.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

namespace {

// F32 -> BF16 by the textbook rule: round the low 16 bits to nearest even; NaN made quiet.
uint16_t bf16Of(uint32_t bits) {
    if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x7FFFFFu))
        return uint16_t((bits >> 16) | 0x40);
    const uint32_t lsb = (bits >> 16) & 1;
    return uint16_t((bits + 0x7FFFu + lsb) >> 16);
}

std::string castF32ToBf16(const std::string& f32) {
    std::string out(f32.size() / 2, '\0');
    for (size_t i = 0; i < f32.size() / 4; ++i) {
        uint32_t v;
        std::memcpy(&v, f32.data() + 4 * i, 4);
        const uint16_t h = bf16Of(v);
        std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
}

std::string f32Bytes(const std::vector<float>& values) {
    std::string out(values.size() * 4, '\0');
    std::memcpy(out.data(), values.data(), out.size());
    return out;
}

void writeText(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
}

ExportRules castTo(DType type, bool strict = false) {
    ExportRules rules;
    rules.cast.to = type;
    rules.cast.strict = strict;
    return rules;
}

Plan planFor(const Checkpoint& ckpt, const ExportRules& rules) {
    const ExportSelection selection = selectForExport(ckpt, rules);
    return makePlan(ckpt, Mapping{}, UnmappedPolicy::Error, rules, selection);
}

EngineResult run(const Checkpoint& ckpt, const Plan& plan, const fs::path& out,
                 uint64_t window = 2ull << 20) {
    EngineOptions options;
    options.threads = 2;
    options.windowBytes = window;
    return consolidate(ckpt, plan, out, options);
}

} // namespace

class TestExportEngine : public QObject {
    Q_OBJECT

private slots:
    void init() { m_tmp = std::make_unique<QTemporaryDir>(); }
    void planUsesCastSizesAndRecordsRules();
    void castAssemblesSplitChunksInSmallWindows();
    void verifyRecomputesCastAndCatchesOneFlippedByte();
    void verifyCatchesATensorTheRulesLeftOut();
    void strictCastPublishesNothing();
    void overflowIsCountedPerTensor();
    void configGetsTheTargetDtypeAndOriginalStays();
    void brokenConfigStopsTheExportBeforeWriting();
    void identicalTensorsAreFoundByBytesNotSamples();
    void aFileThatCannotBeOpenedFailsOnlyItsTensors();
    void dropTiedLeavesOutLmHeadOnly();
    void tieConfigMismatchesAreReported();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path dir(const char* name) const { return fs::path(m_tmp->path().toStdString()) / name; }
    // Two rank files: a column-split F32 matrix, a row-split BF16 vector, an I64 tensor.
    Checkpoint mixed(std::map<std::string, std::string>* expected = nullptr) {
        auto bytes = writeCheckpoint(dir("in"),
                                     {{"w", "F32", {64, 40}, splitDim({64, 40}, 1, 2)},
                                      {"v", "BF16", {128}, splitDim({128}, 0, 2)},
                                      {"steps", "I64", {4}, splitDim({4}, 0, 2)}},
                                     2);
        if (expected) *expected = bytes;
        return scanCheckpoint(dir("in"));
    }
    // Tensors written with explicit bytes (identical content under different names).
    Checkpoint withBytes(const std::vector<std::tuple<std::string, Dims, std::string>>& tensors) {
        std::vector<TestChunk> chunks;
        for (const auto& [fqn, shape, bytes] : tensors)
            chunks.push_back({fqn, "F32", Dims(shape.size(), 0), shape, bytes});
        fs::create_directories(dir("in"));
        writeShard(dir("in") / "shard-00001.safetensors", chunks);
        return scanCheckpoint(dir("in"));
    }
};

void TestExportEngine::planUsesCastSizesAndRecordsRules() {
    const Checkpoint ckpt = mixed();
    QVERIFY(!ckpt.hasErrors());
    const Plan plan = planFor(ckpt, castTo(DType::BF16));
    QVERIFY(plan.ok());
    QCOMPARE(plan.files.size(), size_t(1));
    // w: 2560 elements x 2 bytes; v: 128 x 2 (already BF16); steps: 4 x 8 (integers keep I64).
    QCOMPARE(plan.totalTensorBytes, uint64_t(2560 * 2 + 128 * 2 + 4 * 8));
    QCOMPARE(plan.files[0].dataSize, plan.totalTensorBytes);
    const QJsonObject index =
        QJsonDocument::fromJson(QByteArray::fromStdString(plan.indexJson())).object();
    QCOMPARE(index["metadata"].toObject()["total_size"].toInteger(), qint64(plan.totalTensorBytes));
    QVERIFY(index["metadata"].toObject().contains(kExportRecordKey));
    const std::string header = plan.files[0].header;
    QVERIFY(header.find(R"("w":{"dtype":"BF16")") != std::string::npos);
    QVERIFY(header.find(R"("steps":{"dtype":"I64")") != std::string::npos);
    // Without rules nothing is recorded: the index stays exactly as before.
    const Plan plain = makePlan(ckpt, Mapping{}, UnmappedPolicy::Error);
    QVERIFY(plain.exportRecord.empty());
    QVERIFY(plain.indexJson().find(kExportRecordKey) == std::string::npos);
}

void TestExportEngine::castAssemblesSplitChunksInSmallWindows() {
    std::map<std::string, std::string> expected;
    const Checkpoint ckpt = mixed(&expected);
    const Plan plan = planFor(ckpt, castTo(DType::BF16));
    run(ckpt, plan, dir("out"), 4096); // many windows, each tensor cut between them
    const auto out = readOutput(dir("out"));
    QCOMPARE(out.at("w").dtype, std::string("BF16"));
    QVERIFY(out.at("w").bytes == castF32ToBf16(expected.at("w")));
    QVERIFY(out.at("v").bytes == expected.at("v")); // BF16 -> BF16: NaNs aside, the same bytes
    QCOMPARE(out.at("steps").dtype, std::string("I64"));
    QVERIFY(out.at("steps").bytes == expected.at("steps"));
}

void TestExportEngine::verifyRecomputesCastAndCatchesOneFlippedByte() {
    const Checkpoint ckpt = mixed();
    run(ckpt, planFor(ckpt, castTo(DType::F16)), dir("out"));
    const VerifyReport good = verifyOutput(dir("out"), &ckpt);
    QVERIFY2(good.ok(), good.problems.empty() ? "" : good.problems.front().text().c_str());
    QCOMPARE(good.tensors, size_t(3));
    // Flip one byte in the middle of w's data.
    const auto out = readOutput(dir("out"));
    const fs::path file = dir("out") / out.at("w").file;
    std::string bytes = readFile(file);
    const size_t at = bytes.find(out.at("w").bytes) + 1001;
    bytes[at] = char(bytes[at] ^ 0x01);
    writeText(file, bytes);
    const VerifyReport bad = verifyOutput(dir("out"), &ckpt);
    QVERIFY(!bad.ok());
    QCOMPARE(bad.problems.front().tensor, std::string("w"));
    QVERIFY(bad.problems.front().message.find("cast to F16") != std::string::npos);
}

void TestExportEngine::verifyCatchesATensorTheRulesLeftOut() {
    const Checkpoint ckpt = mixed();
    run(ckpt, makePlan(ckpt, Mapping{}, UnmappedPolicy::Error), dir("out"));
    // An index that claims "v" was left out, over files that still hold it.
    ExportRules rules;
    rules.select.push_back({false, "^v$", false});
    const fs::path indexPath = dir("out") / kIndexFileName;
    QJsonObject index =
        QJsonDocument::fromJson(QByteArray::fromStdString(readFile(indexPath))).object();
    QJsonObject metadata = index["metadata"].toObject();
    metadata[kExportRecordKey] =
        QJsonDocument::fromJson(QByteArray::fromStdString(exportRulesToJson(rules))).object();
    index["metadata"] = metadata;
    writeText(indexPath, QJsonDocument(index).toJson().toStdString());
    const VerifyReport report = verifyOutput(dir("out"), &ckpt);
    QVERIFY(!report.ok());
    bool named = false;
    for (const auto& p : report.problems)
        named = named || (p.tensor == "v" && p.message.find("left out") != std::string::npos);
    QVERIFY(named);
}

void TestExportEngine::strictCastPublishesNothing() {
    const Checkpoint ckpt = withBytes({{"big", {4}, f32Bytes({1.0f, 70000.0f, -1e30f, 2.0f})},
                                       {"small", {2}, f32Bytes({0.5f, 0.25f})}});
    const Plan plan = planFor(ckpt, castTo(DType::F16, true));
    try {
        run(ckpt, plan, dir("out"));
        QFAIL("a strict cast that overflows must not publish");
    } catch (const ExportFailed& e) {
        QCOMPARE(e.kind(), ErrorKind::CastOverflow);
        QCOMPARE(e.tensor(), std::string("big"));
        QVERIFY(e.message().find("2 value(s)") != std::string::npos);
    }
    QVERIFY(outputLeftovers(dir("out")).empty());
}

void TestExportEngine::overflowIsCountedPerTensor() {
    const float tiny = 1e-10f; // below F16's smallest subnormal (5.96e-8): becomes 0
    const Checkpoint ckpt =
        withBytes({{"big", {5}, f32Bytes({1.0f, 70000.0f, -1e30f, tiny, 65504.0f})},
                   {"fine", {2}, f32Bytes({0.5f, -0.0f})}});
    const EngineResult result = run(ckpt, planFor(ckpt, castTo(DType::F16)), dir("out"));
    QCOMPARE(result.castLosses.size(), size_t(1));
    QCOMPARE(result.castLosses[0].fqn, std::string("big"));
    QCOMPARE(result.castLosses[0].overflow, uint64_t(2));
    QCOMPARE(result.castLosses[0].underflow, uint64_t(1));
    const std::string f16 = readOutput(dir("out")).at("big").bytes;
    const uint16_t expected[5] = {0x3C00, 0x7C00, 0xFC00, 0x0000, 0x7BFF};
    QVERIFY(std::memcmp(f16.data(), expected, sizeof expected) == 0);
}

void TestExportEngine::configGetsTheTargetDtypeAndOriginalStays() {
    const Checkpoint probe = mixed();
    Q_UNUSED(probe);
    const std::string config =
        "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"torch_dtype\": \"float32\",\n"
        "  \"text_config\": {\"torch_dtype\": \"float32\", \"hidden_size\": 8},\n"
        "  \"vision_config\": {\"patch\": 14},\n  \"dtype\": \"float32\"\n}\n";
    writeText(dir("in") / ".hf_metadata" / "config.json", config);
    const Checkpoint ckpt = scanCheckpoint(dir("in"));
    run(ckpt, planFor(ckpt, castTo(DType::BF16)), dir("out"));
    QCOMPARE(readFile(dir("in") / ".hf_metadata" / "config.json"), config);
    const std::string copied = readFile(dir("out") / "config.json");
    const QJsonObject doc = QJsonDocument::fromJson(QByteArray::fromStdString(copied)).object();
    QCOMPARE(doc["torch_dtype"].toString(), QString("bfloat16"));
    QCOMPARE(doc["dtype"].toString(), QString("bfloat16"));
    QCOMPARE(doc["text_config"].toObject()["torch_dtype"].toString(), QString("bfloat16"));
    QVERIFY(!doc["vision_config"].toObject().contains("torch_dtype"));
    QVERIFY(copied.find("architectures") < copied.find("torch_dtype")); // key order kept
    // Without a cast the config is copied byte for byte.
    run(ckpt, makePlan(ckpt, Mapping{}, UnmappedPolicy::Error), dir("plain"));
    QCOMPARE(readFile(dir("plain") / "config.json"), config);
}

void TestExportEngine::brokenConfigStopsTheExportBeforeWriting() {
    mixed();
    writeText(dir("in") / ".hf_metadata" / "config.json", "{\"torch_dtype\": ");
    const Checkpoint ckpt = scanCheckpoint(dir("in"));
    const Plan plan = planFor(ckpt, castTo(DType::BF16));
    try {
        run(ckpt, plan, dir("out"));
        QFAIL("a config that cannot be updated must stop the export");
    } catch (const ExportFailed&) {
        QFAIL("expected to fail in preflight, before the staging directory exists");
    } catch (const Error& e) {
        QVERIFY(e.file().find("config.json") != std::string::npos);
    }
    QVERIFY(!fs::exists(dir("out")) || fs::is_empty(dir("out")));
}

void TestExportEngine::identicalTensorsAreFoundByBytesNotSamples() {
    // 4 KiB tensors: the samples (start, middle, end) of "c" equal a's; one byte elsewhere differs.
    std::string a = pattern("a", 4096), c = a;
    c[1000] = char(c[1000] ^ 0x10);
    const Checkpoint ckpt = withBytes({{"a", {1024}, a},
                                       {"b", {1024}, a},
                                       {"c", {1024}, c},
                                       {"d", {32, 32}, a}, // same bytes, another shape
                                       {"e", {1024}, pattern("e", 4096)}});
    const auto groups = findIdenticalTensors(ckpt);
    QCOMPARE(groups.size(), size_t(1));
    std::vector<std::string> names;
    for (size_t i : groups[0])
        names.push_back(ckpt.tensors[i].fqn);
    QCOMPARE(names, (std::vector<std::string>{"a", "b"}));
    const auto findings = tiedFindings(ckpt, groups, std::nullopt);
    QCOMPARE(findings.size(), size_t(1));
    QCOMPARE(findings[0].kind, ErrorKind::TiedWeights);
    QCOMPARE(findings[0].tensor, std::string("b"));
}

// One file of the checkpoint cannot be opened (here: gone since the scan; unreadable files fail
// the same way): the reader still reads the tensors of the other files, and reading one of
// that file names it. Check and tied-weight detection once stopped at the first such file.
void TestExportEngine::aFileThatCannotBeOpenedFailsOnlyItsTensors() {
    fs::create_directories(dir("in"));
    const std::string a = pattern("a", 64), c = pattern("c", 64);
    writeShard(dir("in") / "shard-00001.safetensors", {{"a", "F32", {0}, {16}, a}});
    writeShard(dir("in") / "shard-00002.safetensors", {{"c", "F32", {0}, {16}, c}});
    const Checkpoint ckpt = scanCheckpoint(dir("in"));
    QVERIFY(!ckpt.hasErrors());
    fs::remove(dir("in") / "shard-00002.safetensors");
    const TensorReader reader(ckpt);
    TensorReader::Scratch scratch;
    std::string out(64, '\0');
    reader.read(*ckpt.find("a"), 0, 64, out.data(), scratch, {});
    QCOMPARE(out, a);
    try {
        reader.read(*ckpt.find("c"), 0, 64, out.data(), scratch, {});
        QFAIL("read a tensor of a file that cannot be opened");
    } catch (const Error& e) {
        QCOMPARE(e.file().substr(e.file().size() - 23), std::string("shard-00002.safetensors"));
        QCOMPARE(e.tensor(), std::string("c"));
        QVERIFY2(std::string(e.what()).find("cannot open") != std::string::npos, e.what());
    }
}

void TestExportEngine::dropTiedLeavesOutLmHeadOnly() {
    const std::string emb = pattern("emb", 256), ones = f32Bytes(std::vector<float>(8, 1.0f));
    writeText(dir("in") / ".hf_metadata" / "config.json",
              "{\"tie_word_embeddings\": false, \"torch_dtype\": \"float32\"}");
    const Checkpoint ckpt = withBytes({{"model.embed_tokens.weight", {8, 8}, emb},
                                       {"lm_head.weight", {8, 8}, emb},
                                       {"model.layers.0.norm.weight", {8}, ones},
                                       {"model.layers.1.norm.weight", {8}, ones}});
    ExportRules rules;
    rules.dropTied = true;
    rules.droppedTied = tiedToDrop(ckpt, findIdenticalTensors(ckpt));
    QCOMPARE(rules.droppedTied,
             (std::map<std::string, std::string>{{"lm_head.weight", "model.embed_tokens.weight"}}));
    run(ckpt, planFor(ckpt, rules), dir("out"));
    const auto out = readOutput(dir("out"));
    QCOMPARE(out.size(), size_t(3)); // both identical norms are kept: the model expects each
    QVERIFY(!out.count("lm_head.weight"));
    const QJsonObject config =
        QJsonDocument::fromJson(QByteArray::fromStdString(readFile(dir("out") / "config.json")))
            .object();
    QCOMPARE(config["tie_word_embeddings"].toBool(), true);
    QCOMPARE(config["torch_dtype"].toString(), QString("float32")); // no cast: unchanged
    const VerifyReport report = verifyOutput(dir("out"), &ckpt);
    QVERIFY2(report.ok(), report.problems.empty() ? "" : report.problems.front().text().c_str());
}

void TestExportEngine::tieConfigMismatchesAreReported() {
    const Checkpoint ckpt = withBytes({{"model.embed_tokens.weight", {8, 8}, pattern("e", 256)},
                                       {"lm_head.weight", {8, 8}, pattern("h", 256)}});
    const auto groups = findIdenticalTensors(ckpt);
    QVERIFY(groups.empty());
    auto kinds = [&](const std::string& config) {
        std::vector<std::string> out;
        for (const auto& p : tiedFindings(ckpt, groups, config))
            out.push_back(std::string(errorKindName(p.kind)) + ":" + p.tensor);
        return out;
    };
    const std::vector<std::string> mismatch{"TieConfigMismatch:lm_head.weight"};
    QCOMPARE(kinds(R"({"tie_word_embeddings": true})"), mismatch);
    QCOMPARE(kinds(R"({"hidden_size": 8})"), mismatch); // absent: Hugging Face ties by default
    QVERIFY(kinds(R"({"tie_word_embeddings": false})").empty());
    QVERIFY(kinds("not json").empty());
    // false while lm_head is missing: the loader would start it from random values.
    const Checkpoint untied = withBytes({{"model.embed_tokens.weight", {8, 8}, pattern("e", 256)}});
    const auto findings =
        tiedFindings(untied, {}, std::string(R"({"tie_word_embeddings": false})"));
    QCOMPARE(findings.size(), size_t(1));
    QCOMPARE(findings[0].kind, ErrorKind::TieConfigMismatch);
}

QTEST_GUILESS_MAIN(TestExportEngine)
#include "tst_export_engine.moc"
