// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// The DCP reader's building blocks on their own: data.pkl records (bytes from CPython's pickle),
// strided copies, tensor kinds and export names, and planning with training state.

#include "dcp_builder.h"
#include "dcp_scan.h"
#include "error.h"
#include "plan.h"
#include "posix_file.h"
#include "shard_builder.h"
#include "stored_chunk.h"
#include "torch_record.h"

#include <QFileInfo>
#include <QtTest>

#include <cstring>
#include <fstream>
#include <numeric>

using namespace shardscope;

namespace {

// python3: a pickle.Pickler(protocol=2) subclass whose persistent_id returns
// ('storage', torch.<X>Storage, '0', 'cpu', numel), dumping an object that reduces to
// torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()[, {'a': 1}]),
// exactly as torch.save writes data.pkl.
// kTransposed: FloatStorage, numel 960, size (40, 24), stride (1, 40)
// kSevenArgs: BFloat16Storage, numel 6, size (2, 3), stride (3, 1), metadata {'a': 1}
// kScalar: FloatStorage, numel 1, size (), stride ()
const std::string kTransposed("\x80\x02\x63\x74\x6f\x72\x63\x68\x2e\x5f\x75\x74\x69\x6c\x73\x0a\x5f"
                              "\x72\x65\x62\x75\x69\x6c\x64"
                              "\x5f\x74\x65\x6e\x73\x6f\x72\x5f\x76\x32\x0a\x71\x00\x28\x28\x58\x07"
                              "\x00\x00\x00\x73\x74\x6f\x72"
                              "\x61\x67\x65\x71\x01\x63\x74\x6f\x72\x63\x68\x0a\x46\x6c\x6f\x61\x74"
                              "\x53\x74\x6f\x72\x61\x67\x65"
                              "\x0a\x71\x02\x58\x01\x00\x00\x00\x30\x71\x03\x58\x03\x00\x00\x00\x63"
                              "\x70\x75\x71\x04\x4d\xc0\x03"
                              "\x74\x71\x05\x51\x4b\x00\x4b\x28\x4b\x18\x86\x71\x06\x4b\x01\x4b\x28"
                              "\x86\x71\x07\x89\x63\x63\x6f"
                              "\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64"
                              "\x44\x69\x63\x74\x0a\x71\x08"
                              "\x29\x52\x71\x09\x74\x71\x0a\x52\x71\x0b\x2e",
                              155);
const std::string kSevenArgs("\x80\x02\x63\x74\x6f\x72\x63\x68\x2e\x5f\x75\x74\x69\x6c\x73\x0a\x5f"
                             "\x72\x65\x62\x75\x69\x6c\x64"
                             "\x5f\x74\x65\x6e\x73\x6f\x72\x5f\x76\x32\x0a\x71\x00\x28\x28\x58\x07"
                             "\x00\x00\x00\x73\x74\x6f\x72"
                             "\x61\x67\x65\x71\x01\x63\x74\x6f\x72\x63\x68\x0a\x42\x46\x6c\x6f\x61"
                             "\x74\x31\x36\x53\x74\x6f\x72"
                             "\x61\x67\x65\x0a\x71\x02\x58\x01\x00\x00\x00\x30\x71\x03\x58\x03\x00"
                             "\x00\x00\x63\x70\x75\x71\x04"
                             "\x4b\x06\x74\x71\x05\x51\x4b\x00\x4b\x02\x4b\x03\x86\x71\x06\x4b\x03"
                             "\x4b\x01\x86\x71\x07\x89\x63"
                             "\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72"
                             "\x65\x64\x44\x69\x63\x74\x0a"
                             "\x71\x08\x29\x52\x71\x09\x7d\x71\x0a\x58\x01\x00\x00\x00\x61\x71\x0b"
                             "\x4b\x01\x73\x74\x71\x0c\x52"
                             "\x71\x0d\x2e",
                             171);
const std::string kScalar(
    "\x80\x02\x63\x74\x6f\x72\x63\x68\x2e\x5f\x75\x74\x69\x6c\x73\x0a\x5f\x72\x65\x62\x75\x69\x6c"
    "\x64"
    "\x5f\x74\x65\x6e\x73\x6f\x72\x5f\x76\x32\x0a\x71\x00\x28\x28\x58\x07\x00\x00\x00\x73\x74\x6f"
    "\x72"
    "\x61\x67\x65\x71\x01\x63\x74\x6f\x72\x63\x68\x0a\x46\x6c\x6f\x61\x74\x53\x74\x6f\x72\x61\x67"
    "\x65"
    "\x0a\x71\x02\x58\x01\x00\x00\x00\x30\x71\x03\x58\x03\x00\x00\x00\x63\x70\x75\x71\x04\x4b\x01"
    "\x74"
    "\x71\x05\x51\x4b\x00\x29\x29\x89\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72"
    "\x64"
    "\x65\x72\x65\x64\x44\x69\x63\x74\x0a\x71\x06\x29\x52\x71\x07\x74\x71\x08\x52\x71\x09\x2e",
    142);

TensorInfo tensor(const std::string& fqn, TensorKind kind, uint64_t rows) {
    TensorInfo t;
    t.fqn = fqn;
    t.dtype = DType::F32;
    t.shape = {rows, 4};
    t.bytes = rows * 16;
    t.kind = kind;
    Chunk c;
    c.offsets = {0, 0};
    c.shape = t.shape;
    c.end = t.bytes;
    t.chunks.push_back(c);
    return t;
}

Checkpoint trainingCheckpoint() {
    Checkpoint ckpt;
    ckpt.format = CheckpointFormat::Dcp;
    ckpt.files.push_back({"__0_0.distcp", "__0_0.distcp", 1 << 20, 0, 3, true});
    ckpt.tensors.push_back(tensor("layers.0.w", TensorKind::Model, 2));
    ckpt.tensors.push_back(tensor("optimizer.state.layers.0.w.exp_avg", TensorKind::Optimizer, 2));
    ckpt.tensors.push_back(tensor("tok_embeddings.weight", TensorKind::Model, 8));
    return ckpt;
}

// The bytes [begin, end) of a file.
std::string fileBytes(const std::filesystem::path& path, uint64_t begin, uint64_t end) {
    std::ifstream in(path, std::ios::binary);
    std::string out(end - begin, '\0');
    in.seekg(std::streamoff(begin));
    in.read(out.data(), std::streamsize(out.size()));
    return in ? out : std::string();
}

const Problem* problemOf(const Checkpoint& ckpt, const std::string& tensor) {
    for (const Problem& p : ckpt.problems)
        if (p.tensor == tensor) return &p;
    return nullptr;
}

std::vector<std::string> plannedNames(const Plan& plan) {
    std::vector<std::string> names;
    for (const auto& [name, file] : plan.weightMap)
        names.push_back(name);
    return names;
}

} // namespace

class TestDcpCore : public QObject {
    Q_OBJECT

private slots:
    void recordOfATransposedTensor() {
        const TensorRecord r = parseTensorRecord(kTransposed, "__0_0.distcp", "w");
        QCOMPARE(r.dtype, DType::F32);
        QCOMPARE(r.storageClass, std::string("FloatStorage"));
        QCOMPARE(r.key, std::string("0"));
        QCOMPARE(r.storageNumel, uint64_t(960));
        QCOMPARE(r.storageOffset, uint64_t(0));
        QVERIFY(r.size == Shape({40, 24}));
        QVERIFY(r.stride == Shape({1, 40}));
        QVERIFY(!isRowMajor(r.size, r.stride));
    }

    void recordWithSevenArguments() {
        const TensorRecord r = parseTensorRecord(kSevenArgs, "f", "w");
        QCOMPARE(r.dtype, DType::BF16);
        QVERIFY(r.size == Shape({2, 3}));
        QVERIFY(isRowMajor(r.size, r.stride));
    }

    void recordOfAScalar() {
        const TensorRecord r = parseTensorRecord(kScalar, "f", "w");
        QCOMPARE(r.size.size(), size_t(0));
        QCOMPARE(r.storageNumel, uint64_t(1));
        QCOMPARE(stridedExtent(r.size, r.stride, 0), std::optional<uint64_t>(1));
    }

    // Every prefix of a record is an error naming the file and tensor, never a crash.
    void truncatedRecordsAreErrors() {
        for (size_t n = 0; n < kTransposed.size(); ++n) {
            try {
                parseTensorRecord(kTransposed.substr(0, n), "__3_0.distcp", "layers.1.w");
                QFAIL(qPrintable(QString("prefix %1 was accepted").arg(n)));
            } catch (const Error& e) {
                QCOMPARE(e.file(), std::string("__3_0.distcp"));
                QCOMPARE(e.tensor(), std::string("layers.1.w"));
                QVERIFY(e.kind() == ErrorKind::PickleInvalid ||
                        e.kind() == ErrorKind::StorageMismatch);
            }
        }
    }

    void aRecordThatIsNotATensor() {
        // python3 -c "import pickle; print(pickle.dumps(1234, protocol=2))"
        const std::string intPickle("\x80\x02M\xd2\x04.", 6);
        try {
            parseTensorRecord(intPickle, "f", "step");
            QFAIL("an int was taken for a tensor");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::StorageMismatch);
            QVERIFY2(std::string(e.what()).find("_rebuild_tensor_v2") != std::string::npos,
                     e.what());
        }
    }

    void stridedExtents() {
        QCOMPARE(stridedExtent({40, 24}, {1, 40}, 0), std::optional<uint64_t>(960));
        QCOMPARE(stridedExtent({4, 3, 2, 5}, {30, 1, 15, 3}, 0), std::optional<uint64_t>(120));
        QCOMPARE(stridedExtent({0, 4}, {4, 1}, 7), std::optional<uint64_t>(0));
        QCOMPARE(stridedExtent({2, 2}, {2, 1}, 3), std::optional<uint64_t>(7));
        QVERIFY(!stridedExtent({3, 3}, {~uint64_t(0) / 2, 1}, 0));
        QVERIFY(isRowMajor({4, 1, 5}, {5, 99, 1}));
        QVERIFY(!isRowMajor({4, 3, 2, 5}, {30, 1, 15, 3}));
    }

    // A (rows, cols) chunk stored transposed: storage holds column after column.
    void gatherOfATransposedChunk() {
        const uint64_t rows = 40, cols = 24;
        std::vector<float> storage(rows * cols), out(rows * cols);
        for (uint64_t c = 0; c < cols; ++c)
            for (uint64_t r = 0; r < rows; ++r)
                storage[c * rows + r] = float(r * 1000 + c);
        gatherStrided(reinterpret_cast<const char*>(storage.data()), {rows, cols}, {1, rows}, 0, 4,
                      reinterpret_cast<char*>(out.data()));
        for (uint64_t r = 0; r < rows; ++r)
            for (uint64_t c = 0; c < cols; ++c)
                QCOMPARE(out[r * cols + c], float(r * 1000 + c));
    }

    // channels_last [N, C, H, W] = [4, 3, 2, 5]: memory order N, H, W, C.
    void gatherOfAChannelsLastChunk() {
        const uint64_t N = 4, C = 3, H = 2, W = 5;
        std::vector<uint16_t> storage(N * C * H * W), out(storage.size());
        for (uint64_t n = 0; n < N; ++n)
            for (uint64_t c = 0; c < C; ++c)
                for (uint64_t h = 0; h < H; ++h)
                    for (uint64_t w = 0; w < W; ++w)
                        storage[n * 30 + h * 15 + w * 3 + c] =
                            uint16_t(n * 1000 + c * 100 + h * 10 + w);
        gatherStrided(reinterpret_cast<const char*>(storage.data()), {N, C, H, W}, {30, 1, 15, 3},
                      0, 2, reinterpret_cast<char*>(out.data()));
        uint64_t i = 0;
        for (uint64_t n = 0; n < N; ++n)
            for (uint64_t c = 0; c < C; ++c)
                for (uint64_t h = 0; h < H; ++h)
                    for (uint64_t w = 0; w < W; ++w)
                        QCOMPARE(out[i++], uint16_t(n * 1000 + c * 100 + h * 10 + w));
    }

    void gatherWithAStorageOffsetAndAScalar() {
        const std::vector<int32_t> storage{9, 9, 1, 2, 3, 4};
        std::vector<int32_t> out(4);
        gatherStrided(reinterpret_cast<const char*>(storage.data()), {2, 2}, {2, 1}, 2, 4,
                      reinterpret_cast<char*>(out.data()));
        QCOMPARE(out, (std::vector<int32_t>{1, 2, 3, 4}));
        int32_t scalar = 0;
        gatherStrided(reinterpret_cast<const char*>(storage.data()), {}, {}, 5, 4,
                      reinterpret_cast<char*>(&scalar));
        QCOMPARE(scalar, 4);
    }

    void kindsFromTheFirstPathComponent() {
        QCOMPARE(classifyTensor("optimizer"), TensorKind::Optimizer);
        QCOMPARE(classifyTensor("optim"), TensorKind::Optimizer);
        QCOMPARE(classifyTensor("lr_scheduler"), TensorKind::Scheduler);
        QCOMPARE(classifyTensor("dataloader"), TensorKind::Dataloader);
        QCOMPARE(classifyTensor("train_state"), TensorKind::TrainState);
        QCOMPARE(classifyTensor("model"), TensorKind::Model);
        QCOMPARE(classifyTensor("layers"), TensorKind::Model);
        QCOMPARE(classifyTensor("Optimizer"), TensorKind::Model); // names are case-sensitive
    }

    void exportNamesDropTheModelContainer() {
        QCOMPARE(exportNameOf("model.model.layers.0.w", {"model", "model.layers.0.w"}),
                 std::string("model.layers.0.w"));
        QCOMPARE(exportNameOf("model.a.0", {"model", "a", "0"}), std::string("a.0"));
        QCOMPARE(exportNameOf("model.w", {}), std::string("model.w")); // no planner data
        QCOMPARE(exportNameOf("layers.0.w", {"layers.0.w"}), std::string("layers.0.w"));
        QCOMPARE(exportNameOf("model", {"model"}), std::string("model"));
    }

    void trainingStateIsLeftOutUnlessAskedFor() {
        const Checkpoint ckpt = trainingCheckpoint();
        const Plan plain = makePlan(ckpt, defaultMapping(ckpt), UnmappedPolicy::Error);
        QVERIFY(plain.ok());
        QCOMPARE(plannedNames(plain),
                 (std::vector<std::string>{"layers.0.w", "tok_embeddings.weight"}));
        QCOMPARE(plain.excluded, (std::vector<std::string>{"optimizer.state.layers.0.w.exp_avg"}));
        QCOMPARE(plain.totalTensorBytes, uint64_t(32 + 128));

        const Plan all = makePlan(ckpt, defaultMapping(ckpt, true), UnmappedPolicy::Error, true);
        QVERIFY(all.ok());
        QCOMPARE(plannedNames(all).size(), size_t(3));
        QVERIFY(all.excluded.empty());

        Mapping named; // a mapping that names a training tensor exports it
        named.fileIndex = {{"layers.0.w", 1},
                           {"tok_embeddings.weight", 1},
                           {"optimizer.state.layers.0.w.exp_avg", 2}};
        const Plan chosen = makePlan(ckpt, named, UnmappedPolicy::Error);
        QVERIFY(chosen.ok());
        QCOMPARE(chosen.weightMap.at("optimizer.state.layers.0.w.exp_avg"), outputFileName(2, 2));
    }

    // With two threads the items are read while .metadata is parsed; with one, after it. Both
    // give the same checkpoint, for good items (plain, strided, zstd) and for a broken one,
    // across more than one batch of jobs handed over during the parse.
    void itemsReadDuringTheParseMatchAScanAlone() {
        QTemporaryDir dir;
        std::vector<testing::DcpTensor> tensors;
        for (int i = 0; i < 40; ++i)
            tensors.push_back({"model.layers." + std::to_string(i) + ".w",
                               i % 2 ? "BF16" : "F32",
                               {16, 8},
                               testing::dcpSplit({16, 8}, 0, 8)});
        tensors[3].chunks[2].columnMajor = true;
        tensors[5].chunks[1].zstd = true;
        testing::writeDcpCheckpoint(dir.path().toStdString(), tensors, {{"step", 7, {}}});
        // Break the central directory of one item in rank 2's file.
        const std::string rank2 = dir.filePath("__2_0.distcp").toStdString();
        std::string bytes = testing::readFile(rank2);
        size_t at = 0;
        for (int k = 0; k < 6; ++k)
            at = bytes.find("PK\x01\x02", at + 1);
        QVERIFY(at != std::string::npos);
        bytes[at] = 'X';
        std::ofstream(rank2, std::ios::binary | std::ios::trunc) << bytes;

        ScanOptions alone, during;
        alone.threads = 1;
        during.threads = 2;
        const Checkpoint a = scanCheckpoint(dir.path().toStdString(), alone);
        const Checkpoint b = scanCheckpoint(dir.path().toStdString(), during);
        QVERIFY(a.hasErrors());
        QCOMPARE(b.tensors.size(), a.tensors.size());
        size_t invalid = 0;
        for (size_t t = 0; t < a.tensors.size(); ++t) {
            const TensorInfo &x = a.tensors[t], &y = b.tensors[t];
            QCOMPARE(y.fqn, x.fqn);
            QCOMPARE(int(y.status), int(x.status));
            QCOMPARE(y.coverageDetail, x.coverageDetail);
            invalid += x.status == CoverageStatus::Invalid;
            QCOMPARE(y.chunks.size(), x.chunks.size());
            for (size_t c = 0; c < x.chunks.size(); ++c) {
                QCOMPARE(y.chunks[c].file, x.chunks[c].file);
                QCOMPARE(y.chunks[c].begin, x.chunks[c].begin);
                QCOMPARE(y.chunks[c].end, x.chunks[c].end);
                QCOMPARE(y.chunks[c].stored != 0, x.chunks[c].stored != 0);
                QVERIFY(y.chunks[c].offsets == x.chunks[c].offsets);
            }
        }
        QCOMPARE(invalid, size_t(1));
        QCOMPARE(b.stored.size(), a.stored.size());
        QCOMPARE(b.stored.size(), size_t(2)); // the strided chunk and the zstd one
        QCOMPARE(b.problems.size(), a.problems.size());
        for (size_t p = 0; p < a.problems.size(); ++p) {
            QCOMPARE(b.problems[p].file, a.problems[p].file);
            QCOMPARE(b.problems[p].tensor, a.problems[p].tensor);
            QCOMPARE(b.problems[p].message, a.problems[p].message);
        }
        QCOMPARE(b.byteItems.size(), size_t(1));
        QCOMPARE(b.byteItems[0].value, a.byteItems[0].value);
    }

    // The .metadata is read as a phase of its own, counted in bytes, and a stop asked for while
    // it is read stops the scan there (with and without items read alongside).
    // A chunk listed twice in .metadata shares one storage_data entry: the message says so
    // rather than claiming the entry is missing.
    void aChunkListedTwiceIsNamedAsSuch() {
        QTemporaryDir dir;
        std::vector<testing::DcpChunk> chunks = testing::dcpSplit({4, 2}, 0, 2);
        chunks.push_back(chunks.back());
        chunks.back().noStorageEntry = true;
        testing::writeDcpCheckpoint(dir.path().toStdString(), {{"w", "F32", {4, 2}, chunks}});
        const Checkpoint c = scanCheckpoint(dir.path().toStdString());
        QVERIFY(c.hasErrors());
        bool named = false;
        for (const auto& p : c.problems)
            named = named || (p.tensor == "w" && p.file == ".metadata" &&
                              p.message.find("[2, 0] is listed twice") != std::string::npos);
        QVERIFY2(named, c.problems.empty() ? "no problem" : c.problems.front().text().c_str());
    }

    void readingMetadataReportsBytesAndStops_data() {
        QTest::addColumn<int>("threads");
        QTest::newRow("one thread") << 1;
        QTest::newRow("two threads") << 2;
    }
    void readingMetadataReportsBytesAndStops() {
        QFETCH(int, threads);
        QTemporaryDir dir;
        std::vector<testing::DcpTensor> tensors;
        for (int i = 0; i < 300; ++i)
            tensors.push_back({"model.layers." + std::to_string(i) + ".w",
                               "F32",
                               {8, 2},
                               testing::dcpSplit({8, 2}, 0, 8)});
        testing::writeDcpCheckpoint(dir.path().toStdString(), tensors);
        const uint64_t size = QFileInfo(dir.filePath(".metadata")).size();
        QVERIFY(size > 4 * (64 << 10));

        ScanOptions options;
        options.threads = threads;
        std::vector<ScanProgress> seen;
        options.progress = [&](const ScanProgress& p) { seen.push_back(p); };
        const Checkpoint ckpt = scanCheckpoint(dir.path().toStdString(), options);
        QVERIFY(!ckpt.hasErrors());
        QCOMPARE(seen.front().phase, ScanPhase::ReadingMetadata);
        QCOMPARE(seen.front().total, size);
        QCOMPARE(seen.front().done, uint64_t(0));
        uint64_t last = 0;
        size_t reports = 0;
        for (const ScanProgress& p : seen) { // updates in between are throttled to 20 a second
            if (p.phase != ScanPhase::ReadingMetadata) break;
            QCOMPARE(p.total, size);
            QVERIFY(p.done >= last && p.done <= size);
            last = p.done;
            ++reports;
        }
        QCOMPARE(last, size);
        QVERIFY(reports < seen.size()); // later phases follow

        // Stopped as the phase starts: the first check, 64 KiB in, ends the scan.
        std::stop_source stop;
        options.stop = stop.get_token();
        bool reached = false;
        uint64_t furthest = 0;
        options.progress = [&](const ScanProgress& p) {
            if (p.phase == ScanPhase::ReadingMetadata && p.done == 0) {
                reached = true;
                stop.request_stop();
            }
            QVERIFY(p.phase == ScanPhase::ReadingMetadata);
            furthest = std::max(furthest, p.done);
        };
        QVERIFY_THROWS_EXCEPTION(Cancelled, scanCheckpoint(dir.path().toStdString(), options));
        QVERIFY(reached);
        QVERIFY(furthest < size); // the parse never finished
    }

    void twoTensorsUnderOneNameAreAnError() {
        Checkpoint ckpt = trainingCheckpoint();
        ckpt.tensors[0].name = "tok_embeddings.weight";
        const Plan plan = makePlan(ckpt, {}, UnmappedPolicy::Error);
        QVERIFY(!plan.ok());
        QCOMPARE(plan.problems.front().tensor, std::string("tok_embeddings.weight"));
        QVERIFY(plan.problems.front().message.find("layers.0.w") != std::string::npos);
    }

    // torch 1.13 saves each top-level entry that is not a tensor whole: {"model": {...}} is
    // one byte item holding the weights. They are found in it, named by the item and their
    // keys, read from their storage entries, and exported under the model's own names.
    void tensorsInsideAByteItem() {
        QTemporaryDir dir;
        const std::filesystem::path root = dir.path().toStdString();
        const std::vector<testing::NestedEntry> entries = {
            {{"layer", "weight"}, "F32", {4, 3}, testing::pattern("w", 48)},
            {{"layer", "bias"}, "BF16", {3}, testing::pattern("b", 6)},
            {{"scale"}, "F32", {}, testing::pattern("s", 4)}};
        testing::DcpByteItem model{"model"};
        model.archive = testing::nestedTensorsArchive(entries);
        testing::writeDcpCheckpoint(root, {{"lm_head.weight", "F32", {2, 2}, {{{0, 0}, {2, 2}}}}},
                                    {model, {"step", 7}});
        const Checkpoint ckpt = scanDcpCheckpoint(root, {});
        QVERIFY2(ckpt.problems.empty(),
                 ckpt.problems.empty() ? "" : ckpt.problems[0].message.c_str());
        QCOMPARE(ckpt.tensors.size(), size_t(4));
        const char* exported[] = {"layer.weight", "layer.bias", "scale"};
        for (size_t i = 0; i < entries.size(); ++i) {
            std::string fqn = "model";
            for (const auto& key : entries[i].path)
                fqn += "." + key;
            const TensorInfo* t = ckpt.find(fqn);
            QVERIFY2(t, fqn.c_str());
            QCOMPARE(t->status, CoverageStatus::Complete);
            QCOMPARE(t->exportName(), std::string(exported[i]));
            QCOMPARE(t->kind, TensorKind::Model);
            QCOMPARE(std::vector<uint64_t>(t->shape.begin(), t->shape.end()), entries[i].shape);
            QCOMPARE(t->chunks.size(), size_t(1));
            const Chunk& c = t->chunks[0];
            QCOMPARE(c.stored, 0u); // row-major at storage offset 0: copied as it lies
            QCOMPARE(fileBytes(root / "__0_0.distcp", c.begin, c.end), entries[i].data);
        }
        QCOMPARE(ckpt.find("model.layer.bias")->dtype, DType::BF16);
        QCOMPARE(ckpt.byteItems.size(), size_t(2));
        QCOMPARE(ckpt.byteItems[0].fqn, std::string("model"));
        QCOMPARE(ckpt.byteItems[0].type, std::string("dict"));
        QCOMPARE(ckpt.byteItems[0].tensors, 3u);
        QCOMPARE(ckpt.byteItems[1].tensors, 0u);
        const Plan plan = makePlan(ckpt, defaultMapping(ckpt), UnmappedPolicy::Error);
        QVERIFY(plan.ok());
        QCOMPARE(plannedNames(plan), (std::vector<std::string>{"layer.bias", "layer.weight",
                                                               "lm_head.weight", "scale"}));
    }

    // The same nested dict in a zstd-compressed byte item: its tensors are decoded from the
    // stream, as a compressed tensor item's chunk is.
    void tensorsInsideACompressedByteItem() {
        QTemporaryDir dir;
        const std::filesystem::path root = dir.path().toStdString();
        const std::vector<testing::NestedEntry> entries = {
            {{"layer", "weight"}, "F32", {4, 3}, testing::pattern("w", 48)},
            {{"scale"}, "BF16", {}, testing::pattern("s", 2)}};
        testing::DcpByteItem model{"model"};
        model.archive = testing::nestedTensorsArchive(entries);
        model.zstd = true;
        testing::writeDcpCheckpoint(root, {}, {model});
        const Checkpoint ckpt = scanDcpCheckpoint(root, {});
        QVERIFY2(ckpt.problems.empty(),
                 ckpt.problems.empty() ? "" : ckpt.problems[0].message.c_str());
        QCOMPARE(ckpt.byteItems[0].tensors, 2u);
        const PosixFile file = PosixFile::openRead(root / "__0_0.distcp");
        for (size_t i = 0; i < entries.size(); ++i) {
            const TensorInfo* t = ckpt.find(i == 0 ? "model.layer.weight" : "model.scale");
            QVERIFY(t);
            QCOMPARE(t->chunks.size(), size_t(1));
            QVERIFY(t->chunks[0].stored != 0);
            QVERIFY(ckpt.stored[t->chunks[0].stored - 1].zstd);
            const std::vector<char> bytes = decodeStoredChunk(ckpt, *t, t->chunks[0], file);
            QCOMPARE(std::string(bytes.begin(), bytes.end()), entries[i].data);
        }
    }

    // A storage shorter than data.pkl says and a storage the archive lacks make their tensors
    // errors that name the file, the tensor and the item; the good tensor beside them is read,
    // and a list that holds itself ends the walk instead of looping.
    void brokenTensorsInsideAByteItem() {
        QTemporaryDir dir;
        const std::filesystem::path root = dir.path().toStdString();
        std::vector<testing::NestedEntry> entries = {
            {{"ok"}, "F32", {2}, testing::pattern("ok", 8)},
            {{"short"}, "F32", {4}, testing::pattern("short", 16)},
            {{"gone"}, "F32", {2}, testing::pattern("gone", 8)}};
        entries[1].storageNumel = 10;
        entries[2].writeStorage = false;
        testing::DcpByteItem model{"model"};
        model.archive = testing::nestedTensorsArchive(entries, true);
        testing::writeDcpCheckpoint(root, {}, {model});
        const Checkpoint ckpt = scanDcpCheckpoint(root, {});
        QCOMPARE(ckpt.tensors.size(), size_t(3));
        QCOMPARE(ckpt.find("model.ok")->status, CoverageStatus::Complete);
        QVERIFY(!problemOf(ckpt, "model.ok"));
        for (const char* name : {"model.short", "model.gone"}) {
            const Problem* p = problemOf(ckpt, name);
            QVERIFY2(p, name);
            QCOMPARE(p->severity, Severity::Error);
            QCOMPARE(p->file, std::string("__0_0.distcp"));
            QVERIFY2(p->message.find("inside byte item 'model'") != std::string::npos,
                     p->message.c_str());
            QCOMPARE(ckpt.find(name)->status, CoverageStatus::Invalid);
        }
        QCOMPARE(problemOf(ckpt, "model.short")->kind, ErrorKind::StorageMismatch);
        QVERIFY(problemOf(ckpt, "model.short")->message.find("holds 16 bytes") !=
                std::string::npos);
        QCOMPARE(problemOf(ckpt, "model.gone")->kind, ErrorKind::ZipInvalid);
        QVERIFY(ckpt.hasErrors());
        QCOMPARE(ckpt.byteItems[0].tensors, 3u);
    }

    // 2^40 paths through 41 dicts: the walk stops at its budget of visits instead of running
    // for ever, and what it found is still listed.
    void aDictSharedAtEveryLevelEndsTheWalk() {
        QTemporaryDir dir;
        const std::filesystem::path root = dir.path().toStdString();
        testing::DcpByteItem model{"model"};
        model.archive = testing::sharedDictsArchive(40);
        testing::writeDcpCheckpoint(root, {}, {model});
        const Checkpoint ckpt = scanDcpCheckpoint(root, {});
        QCOMPARE(ckpt.byteItems.size(), size_t(1));
        QVERIFY(ckpt.byteItems[0].tensors >= 1);
        QVERIFY(ckpt.byteItems[0].tensors < 100'000);
        QCOMPARE(ckpt.tensors.size(), size_t(ckpt.byteItems[0].tensors));
        QVERIFY(
            ckpt.find("model.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"
                      ".a.a.a.a.a.a.t"));
    }

    // A byte item whose pickle is larger than ShardScope reads is not silently an "object": a
    // warning says that tensors inside it would not be listed.
    void aByteItemTooLargeToReadIsAWarning() {
        QTemporaryDir dir;
        const std::filesystem::path root = dir.path().toStdString();
        testing::DcpByteItem big{"model"};
        big.isString = true;
        big.strValue = std::string(17 << 20, 'x');
        testing::writeDcpCheckpoint(root, {}, {big, {"step", 1}});
        const Checkpoint ckpt = scanDcpCheckpoint(root, {});
        const Problem* p = problemOf(ckpt, "model");
        QVERIFY(p);
        QCOMPARE(p->severity, Severity::Warning);
        QCOMPARE(p->kind, ErrorKind::PickleLimit);
        QVERIFY2(p->message.find("not listed") != std::string::npos, p->message.c_str());
        QCOMPARE(ckpt.byteItems[0].type, std::string("unreadable"));
        QCOMPARE(ckpt.byteItems[1].value, std::string("1"));
    }

    // A byte item holding a tensor under the name of a tensor item: an error, since the name
    // cannot say which one it means (the item's own copy stays listed).
    void aTensorInsideAByteItemNamedLikeAnItem() {
        QTemporaryDir dir;
        const std::filesystem::path root = dir.path().toStdString();
        testing::DcpByteItem model{"model"};
        model.archive = testing::nestedTensorsArchive({{{"w"}, "F32", {2}, std::string(8, 'x')}});
        const auto expected =
            testing::writeDcpCheckpoint(root, {{"model.w", "F32", {2}, {{{0}, {2}}}}}, {model});
        const Checkpoint ckpt = scanDcpCheckpoint(root, {});
        QCOMPARE(ckpt.tensors.size(), size_t(1));
        const Chunk& c = ckpt.tensors[0].chunks[0];
        QCOMPARE(fileBytes(root / "__0_0.distcp", c.begin, c.end), expected.at("model.w"));
        const Problem* p = problemOf(ckpt, "model.w");
        QVERIFY(p);
        QCOMPARE(p->severity, Severity::Error);
        QVERIFY2(p->message.find("two tensors have this name") != std::string::npos,
                 p->message.c_str());
        QVERIFY(ckpt.hasErrors());
    }

    // Tensors the walk cannot reach (here nested 70 dicts deep) are counted and reported: an
    // error in a model item, whose export would look complete without them, a warning in
    // optimizer state.
    // A chunk that .metadata places past its tensor is named by the file that holds it (the
    // message named the tensor's first chunk's file, __0_0.distcp, whichever chunk it was).
    void aChunkPastItsTensorNamesItsFile() {
        QTemporaryDir dir;
        std::vector<testing::DcpChunk> chunks = testing::dcpSplit({8, 6}, 0, 4);
        chunks[3].metadataOffsets = {8, 0}; // rank 3's rows [6, 8) said to start at row 8
        testing::writeDcpCheckpoint(dir.path().toStdString(), {{"w", "F32", {8, 6}, chunks}});
        const Checkpoint c = scanCheckpoint(dir.path().toStdString());
        const Problem* p = problemOf(c, "w");
        QVERIFY(p);
        QCOMPARE(p->severity, Severity::Error);
        QCOMPARE(p->file, std::string("__3_0.distcp"));
        QVERIFY2(p->message.find("the chunk at offsets [8, 0] of size [2, 6] reaches past the "
                                 "tensor's size [8, 6]") != std::string::npos,
                 p->message.c_str());
    }

    void tensorsThatCannotBeReadAreReported() {
        QTemporaryDir dir;
        const std::filesystem::path root = dir.path().toStdString();
        std::vector<std::string> deep(70, "d");
        deep.push_back("w");
        testing::DcpByteItem model{"model"}, optim{"optim"};
        model.archive = testing::nestedTensorsArchive(
            {{{"ok"}, "F32", {1}, std::string(4, 'a')}, {deep, "F32", {1}, std::string(4, 'b')}});
        optim.archive = testing::nestedTensorsArchive({{deep, "F32", {1}, std::string(4, 'c')}});
        testing::writeDcpCheckpoint(root, {}, {model, optim});
        const Checkpoint ckpt = scanDcpCheckpoint(root, {});
        QCOMPARE(ckpt.byteItems[0].fqn, std::string("model"));
        QCOMPARE(ckpt.byteItems[0].tensors, 1u);
        QCOMPARE(ckpt.byteItems[0].tensorsNotRead, 1u);
        QCOMPARE(ckpt.byteItems[1].tensorsNotRead, 1u);
        const Problem* inModel = problemOf(ckpt, "model");
        QVERIFY(inModel);
        QCOMPARE(inModel->severity, Severity::Error);
        QVERIFY2(inModel->message.find("holds 1 tensor that ShardScope cannot read") !=
                     std::string::npos,
                 inModel->message.c_str());
        QCOMPARE(problemOf(ckpt, "optim")->severity, Severity::Warning);
        QVERIFY(ckpt.find("model.ok"));
    }

    // A byte item that cannot be read, cut short or with a broken pickle, is an error: it may
    // have held the model's weights.
    void anUnreadableByteItemIsAnError() {
        QTemporaryDir dir;
        const std::filesystem::path root = dir.path().toStdString();
        testing::DcpByteItem model{"model"};
        model.archive = testing::nestedTensorsArchive({{{"w"}, "F32", {2}, std::string(8, 'a')}});
        const size_t proto = model.archive.find(std::string("\x80\x02", 2));
        QVERIFY(proto != std::string::npos);
        std::string broken = model.archive;
        broken[proto + 2] = char(0xFF); // an opcode no pickle has
        testing::DcpByteItem bad{"model"};
        bad.archive = broken;
        testing::writeDcpCheckpoint(root / "pickle", {}, {bad, {"step", 1}});
        const Checkpoint corrupt = scanDcpCheckpoint(root / "pickle", {});
        QVERIFY(problemOf(corrupt, "model"));
        QCOMPARE(problemOf(corrupt, "model")->severity, Severity::Error);
        QCOMPARE(problemOf(corrupt, "model")->kind, ErrorKind::PickleInvalid);
        QCOMPARE(corrupt.byteItems[0].type, std::string("unreadable"));

        testing::writeDcpCheckpoint(root / "cut", {}, {model});
        std::filesystem::resize_file(root / "cut" / "__0_0.distcp", model.archive.size() / 2);
        const Checkpoint cut = scanDcpCheckpoint(root / "cut", {});
        QVERIFY(problemOf(cut, "model"));
        QCOMPARE(problemOf(cut, "model")->severity, Severity::Error);
        QVERIFY(cut.hasErrors());
    }

    void dcpDefaultMappingGroupsModelWeights() {
        const Checkpoint ckpt = trainingCheckpoint();
        const Mapping m = defaultMapping(ckpt);
        QCOMPARE(m.fileIndex.size(), size_t(2));
        QCOMPARE(m.fileCount(), 1);
    }
};

QTEST_GUILESS_MAIN(TestDcpCore)
#include "tst_dcp_core.moc"
