// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// consolidate and verify as three processes under `mpirun -np 3` on this machine, judged like a
// user would judge them: the output against a single-process run byte for byte, idle ranks, a
// failure on one rank and a killed rank (every rank fails, nothing is published), bad input, a
// distributed verify and an earlier export in OUT. Per-rank faults use mpirun's MPMD form
// (`-np 1 CLI : -np 1 -x FAULT CLI : ...`); per-rank stdout and stderr come from mpirun's
// --output-filename, so "rank 2 printed nothing" can be checked exactly.

#include "shard_builder.h"

#include <QDebug>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sys/types.h>

using namespace testing;
namespace fs = std::filesystem;

class TestDistributed : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();

    void demoMatchesOneProcess();
    void severalFilesMatchOneProcess_data();
    void severalFilesMatchOneProcess();
    void fewerFilesThanRanks_data();
    void fewerFilesThanRanks();
    void failureOnOneRankFailsEveryRank_data();
    void failureOnOneRankFailsEveryRank();
    void killedRankEndsTheRun();
    void badInputFailsEveryRank_data();
    void badInputFailsEveryRank();
    void verifyUnderMpirun();
    void previousExportKeptUnlessOverwrite();

private:
    static constexpr int kRanks = 3;

    struct Run {
        int code = -1; // mpirun's exit code; -1 when it crashed, timed out or did not start
        bool timedOut = false;
        double seconds = 0;
        QString out, err;             // mpirun's own stdout and stderr (every rank merged)
        QStringList rankOut, rankErr; // per rank, from --output-filename
        QString describe() const;     // for failure messages
    };

    // `mpirun -np 3 CLI args`; with faultRank >= 0 the MPMD form, `fault` set for that rank only.
    Run mpirun(const QStringList& args, const QString& fault = {}, int faultRank = -1,
               int timeoutMs = 40000);
    Run single(const QStringList& args, const QString& fault = {});

    fs::path path(const std::string& name) const {
        return fs::path(m_tmp->path().toStdString()) / name;
    }
    static QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

    enum class MappingAt { Checkpoint, File };
    // Four tensors of different sizes and dtypes, each split in two along its last dim over two
    // ranks' shard files (so every output row is gathered from both files), `files[i]` the
    // 1-based output file of tensor i, a config.json sidecar. Returns the extra consolidate
    // arguments (`--mapping FILE` when the mapping is not in the checkpoint's .hf_metadata).
    QStringList writeInput(const fs::path& dir, const std::vector<int>& files,
                           MappingAt where = MappingAt::Checkpoint,
                           const std::string& configTag = "a");

    static std::vector<std::string> visibleFiles(const fs::path& dir);
    // "" when dir a and dir b hold the same non-dot names with the same bytes; else what differs.
    static QString compareDirs(const fs::path& a, const fs::path& b);
    static QStringList staging(const fs::path& dir);
    static QStringList modelFiles(const fs::path& dir);
    static QStringList linesStartingWith(const QString& text, const QString& prefix);
    // What a good distributed run leaves: "out" byte for byte as one process wrote "alone", no
    // staging, one summary line from rank 0 and nothing from the others. "" when all hold.
    QString differenceFromAlone(const Run& r) const;

    QString m_cli, m_mpirun;
    std::unique_ptr<QTemporaryDir> m_tmp;
    int m_runs = 0; // numbers the --output-filename directories of one test
};

// ---- helpers --------------------------------------------------------------------------------

QString TestDistributed::Run::describe() const {
    QString text = QString("mpirun exit %1%2 after %3 s\n--- mpirun stderr:\n%4")
                       .arg(code)
                       .arg(timedOut ? " (TIMED OUT, killed)" : "")
                       .arg(seconds, 0, 'f', 1)
                       .arg(err);
    for (int r = 0; r < rankErr.size(); ++r)
        text += QString("\n--- rank %1 stdout:\n%2\n--- rank %1 stderr:\n%3")
                    .arg(r)
                    .arg(rankOut.value(r), rankErr.value(r));
    return text;
}

// The pids below `root` (mpirun starts its ranks in process groups of their own, so a timed-out
// run is ended pid by pid, never by name).
static std::vector<pid_t> descendants(pid_t root) {
    std::multimap<pid_t, pid_t> children;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
        const std::string name = e.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
        const std::string stat = readFile(e.path() / "stat");
        const auto close = stat.rfind(')'); // the command name may hold spaces and brackets
        if (close == std::string::npos || close + 4 >= stat.size()) continue;
        char state = 0;
        int ppid = 0;
        if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2)
            children.emplace(pid_t(ppid), pid_t(std::stoi(name)));
    }
    std::vector<pid_t> found, todo{root};
    while (!todo.empty()) {
        const pid_t p = todo.back();
        todo.pop_back();
        auto [b, e] = children.equal_range(p);
        for (auto it = b; it != e; ++it)
            found.push_back(it->second), todo.push_back(it->second);
    }
    return found;
}

TestDistributed::Run TestDistributed::mpirun(const QStringList& args, const QString& fault,
                                             int faultRank, int timeoutMs) {
    const fs::path logs = path("mpirun-output-" + std::to_string(++m_runs));
    // As root (CI) mpirun needs --allow-run-as-root; --oversubscribe lets 3 ranks share 2 cores.
    QStringList argv = {"--allow-run-as-root", "--oversubscribe", "--output-filename", q(logs)};
    if (faultRank < 0) {
        argv << "-np" << QString::number(kRanks) << m_cli << args;
    } else {
        for (int r = 0; r < kRanks; ++r) {
            if (r) argv << ":";
            argv << "-np"
                 << "1";
            if (r == faultRank)
                argv << "-x"
                     << "SHARDSCOPE_TEST_FAULT=" + fault;
            argv << m_cli << args;
        }
    }
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove("SHARDSCOPE_TEST_FAULT"); // only ever the one rank's -x
    p.setProcessEnvironment(env);
    const auto started = std::chrono::steady_clock::now();
    p.start(m_mpirun, argv);
    Run r;
    if (!p.waitForStarted(10000)) {
        r.err = "mpirun did not start: " + p.errorString();
        return r;
    }
    if (!p.waitForFinished(timeoutMs)) {
        // Never hang the suite: mpirun ends its job on SIGTERM; whatever remains gets SIGKILL.
        r.timedOut = true;
        const std::vector<pid_t> ranks = descendants(pid_t(p.processId()));
        p.terminate();
        if (!p.waitForFinished(5000)) p.kill();
        for (pid_t pid : ranks)
            ::kill(pid, SIGKILL);
        p.waitForFinished(5000);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!r.timedOut) r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromLocal8Bit(p.readAllStandardOutput()).remove('\r');
    r.err = QString::fromLocal8Bit(p.readAllStandardError()).remove('\r');
    // --output-filename DIR writes DIR/<job>/rank.<n>/{stdout,stderr}.
    for (int rank = 0; rank < kRanks; ++rank) {
        fs::path dir;
        std::error_code ec;
        for (auto it = fs::recursive_directory_iterator(logs, ec);
             it != fs::recursive_directory_iterator(); it.increment(ec))
            if (it->path().filename() == "rank." + std::to_string(rank)) dir = it->path();
        r.rankOut << (dir.empty() ? QString() : QString::fromStdString(readFile(dir / "stdout")));
        r.rankErr << (dir.empty() ? QString() : QString::fromStdString(readFile(dir / "stderr")));
        r.rankOut.last().remove('\r');
        r.rankErr.last().remove('\r');
    }
    return r;
}

TestDistributed::Run TestDistributed::single(const QStringList& args, const QString& fault) {
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove("SHARDSCOPE_TEST_FAULT");
    if (!fault.isEmpty()) env.insert("SHARDSCOPE_TEST_FAULT", fault);
    p.setProcessEnvironment(env);
    p.start(m_cli, args);
    Run r;
    if (!p.waitForFinished(60000)) {
        r.timedOut = true;
        p.kill();
        p.waitForFinished(5000);
    } else {
        r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    }
    r.out = QString::fromLocal8Bit(p.readAllStandardOutput());
    r.err = QString::fromLocal8Bit(p.readAllStandardError());
    return r;
}

QStringList TestDistributed::writeInput(const fs::path& dir, const std::vector<int>& files,
                                        MappingAt where, const std::string& configTag) {
    // Sizes differ (1 MiB, 768 KiB, 1.5 KiB, 576 KiB) so a split by bytes is not a split by count.
    const std::vector<std::pair<std::string, std::pair<std::string, Dims>>> specs = {
        {"model.embed_tokens.weight", {"BF16", {1024, 512}}},
        {"model.layers.0.mlp.up_proj.weight", {"F32", {512, 384}}},
        {"model.layers.0.input_layernorm.weight", {"F32", {384}}},
        {"lm_head.weight", {"F16", {768, 384}}},
    };
    std::vector<SplitTensor> tensors;
    for (const auto& [fqn, spec] : specs)
        tensors.push_back(
            {fqn, spec.first, spec.second, splitDim(spec.second, spec.second.size() - 1, 2)});
    writeCheckpoint(dir, tensors, 2);

    std::string mapping = "{";
    for (size_t i = 0; i < specs.size(); ++i)
        mapping += (i ? "," : "") + jsonString(specs[i].first) + ":" + std::to_string(files[i]);
    mapping += "}\n";
    fs::create_directories(dir / ".hf_metadata");
    std::ofstream(dir / ".hf_metadata" / "config.json")
        << "{\"model_type\": \"distributed-test\", \"tag\": \"" << configTag << "\"}\n";
    if (where == MappingAt::Checkpoint) {
        std::ofstream(dir / ".hf_metadata" / "fqn_to_file_index_mapping.json") << mapping;
        return {};
    }
    const fs::path file = dir.parent_path() / (dir.filename().string() + "-mapping.json");
    std::ofstream(file) << mapping;
    return {"--mapping", q(file)};
}

std::vector<std::string> TestDistributed::visibleFiles(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().filename().string()[0] != '.') names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// Dot-files are each run's own bookkeeping; everything else must match byte for byte.
QString TestDistributed::compareDirs(const fs::path& a, const fs::path& b) {
    const auto names = visibleFiles(a);
    if (names.empty()) return q(a) + " holds no files";
    if (visibleFiles(b) != names)
        return QString("names differ: %1 has [%2], %3 has [%4]")
            .arg(q(a), QString::fromStdString(joined(names)), q(b),
                 QString::fromStdString(joined(visibleFiles(b))));
    for (const auto& name : names)
        if (readFile(a / name) != readFile(b / name))
            return QString("%1 differs").arg(QString::fromStdString(name));
    return {};
}

QStringList TestDistributed::staging(const fs::path& dir) {
    QStringList found;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().filename().string().rfind(".shardscope-staging", 0) == 0)
            found << QString::fromStdString(e.path().filename().string());
    return found;
}

QStringList TestDistributed::modelFiles(const fs::path& dir) {
    QStringList found;
    for (const auto& name : visibleFiles(dir))
        if ((name.rfind("model-", 0) == 0 && name.size() > 12 &&
             name.compare(name.size() - 12, 12, ".safetensors") == 0) ||
            name == "model.safetensors.index.json")
            found << QString::fromStdString(name);
    return found;
}

QString TestDistributed::differenceFromAlone(const Run& r) const {
    const QString diff = compareDirs(path("alone"), path("out"));
    if (!diff.isEmpty()) return diff + "\n" + r.describe();
    const QStringList left = staging(path("out"));
    if (!left.isEmpty()) return "staging left in OUT: " + left.join(", ");
    if (linesStartingWith(r.rankOut[0], "Wrote ").size() != 1)
        return "rank 0 did not print one summary line\n" + r.describe();
    if (!r.rankOut[1].isEmpty() || !r.rankOut[2].isEmpty())
        return "ranks 1 and 2 printed something\n" + r.describe();
    return {};
}

QStringList TestDistributed::linesStartingWith(const QString& text, const QString& prefix) {
    QStringList lines;
    for (const QString& line : text.split('\n'))
        if (line.startsWith(prefix)) lines << line;
    return lines;
}

// ---- setup ----------------------------------------------------------------------------------

void TestDistributed::initTestCase() {
    m_cli = QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI"));
    m_mpirun = QString::fromLocal8Bit(qgetenv("SHARDSCOPE_MPIRUN"));
    if (m_mpirun.isEmpty()) QSKIP("SHARDSCOPE_MPIRUN is empty: no mpirun to start ranks with");
    QVERIFY2(!m_cli.isEmpty() && fs::exists(m_cli.toStdString()),
             "run through ctest, which sets SHARDSCOPE_CLI");
}

void TestDistributed::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
    m_runs = 0;
}

// ---- success --------------------------------------------------------------------------------

// The demo checkpoint (four shard files, three output files, two sidecars): same bytes as one
// process; rank 0 prints the summary and the other ranks stay silent on stdout.
void TestDistributed::demoMatchesOneProcess() {
    const Run demo = single({"demo", q(path("demo"))});
    QVERIFY2(demo.code == 0, qPrintable(demo.err));
    const Run alone = single({"consolidate", q(path("demo")), q(path("alone"))});
    QVERIFY2(alone.code == 0, qPrintable(alone.err));

    const Run r = mpirun({"consolidate", q(path("demo")), q(path("out")), "--distributed"});
    QVERIFY2(r.code == 0, qPrintable(r.describe()));
    const QString difference = differenceFromAlone(r);
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
    QVERIFY2(linesStartingWith(r.out, "Wrote ").size() == 1, qPrintable(r.out));
}

void TestDistributed::severalFilesMatchOneProcess_data() {
    QTest::addColumn<std::vector<int>>("files");
    QTest::addColumn<bool>("mappingFile");
    QTest::addColumn<QStringList>("options");
    // Four files, one per tensor (one tiny); --distributed given.
    QTest::newRow("4 files, --distributed")
        << std::vector<int>{1, 2, 3, 4} << false << QStringList{"--distributed"};
    // No --distributed: mpirun's environment (OMPI_COMM_WORLD_SIZE=3) switches it on. Were it
    // not, three whole runs would race on OUT and print three summaries.
    QTest::newRow("4 files, --mapping, automatic")
        << std::vector<int>{1, 2, 3, 4} << true << QStringList{};
    QTest::newRow("3 files, --verify")
        << std::vector<int>{1, 2, 2, 3} << false << QStringList{"--distributed", "--verify"};
}

void TestDistributed::severalFilesMatchOneProcess() {
    QFETCH(std::vector<int>, files);
    QFETCH(bool, mappingFile);
    QFETCH(QStringList, options);
    const QStringList mapping =
        writeInput(path("in"), files, mappingFile ? MappingAt::File : MappingAt::Checkpoint);
    const Run alone = single(QStringList{"consolidate", q(path("in")), q(path("alone"))} + mapping);
    QVERIFY2(alone.code == 0, qPrintable(alone.err));
    const size_t outputs = *std::max_element(files.begin(), files.end());
    QCOMPARE(modelFiles(path("alone")).size(), qsizetype(outputs + 1)); // + the index

    const Run r =
        mpirun(QStringList{"consolidate", q(path("in")), q(path("out"))} + mapping + options);
    QVERIFY2(r.code == 0, qPrintable(r.describe()));
    const QString difference = differenceFromAlone(r);
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
}

void TestDistributed::fewerFilesThanRanks_data() {
    QTest::addColumn<std::vector<int>>("files");
    QTest::newRow("1 file, 3 ranks") << std::vector<int>{1, 1, 1, 1};
    QTest::newRow("2 files, 3 ranks") << std::vector<int>{1, 2, 1, 2};
}

// A rank with no file to write must still take part (and not wait forever for the others).
void TestDistributed::fewerFilesThanRanks() {
    QFETCH(std::vector<int>, files);
    writeInput(path("in"), files);
    const Run alone = single({"consolidate", q(path("in")), q(path("alone"))});
    QVERIFY2(alone.code == 0, qPrintable(alone.err));
    const Run r =
        mpirun({"consolidate", q(path("in")), q(path("out")), "--distributed"}, {}, -1, 30000);
    QVERIFY2(!r.timedOut, qPrintable("idle ranks hung\n" + r.describe()));
    QVERIFY2(r.code == 0, qPrintable(r.describe()));
    const QString difference = differenceFromAlone(r);
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
}

// ---- failures -------------------------------------------------------------------------------

void TestDistributed::failureOnOneRankFailsEveryRank_data() {
    QTest::addColumn<int>("faultRank");
    QTest::addColumn<bool>("outExists");
    QTest::newRow("rank 1, new OUT") << 1 << false;
    QTest::newRow("rank 1, empty OUT") << 1 << true;
    QTest::newRow("rank 0 (the publisher), new OUT") << 0 << false;
    QTest::newRow("rank 2, new OUT") << 2 << false;
}

// One rank's first file write fails with EIO: every rank reports it, naming the rank it came
// from, and nothing is published. Four output files, so every rank has one to write.
void TestDistributed::failureOnOneRankFailsEveryRank() {
    QFETCH(int, faultRank);
    QFETCH(bool, outExists);
    writeInput(path("in"), {1, 2, 3, 4});
    if (outExists) fs::create_directories(path("out"));
    const Run r = mpirun({"consolidate", q(path("in")), q(path("out")), "--distributed"}, "write:1",
                         faultRank);
    QVERIFY2(!r.timedOut, qPrintable(r.describe()));
    QVERIFY2(r.code != 0, qPrintable(r.describe()));
    const QString origin = QString("rank %1").arg(faultRank);
    for (int rank = 0; rank < kRanks; ++rank) {
        const QString& err = r.rankErr[rank];
        QVERIFY2(
            err.contains(origin),
            qPrintable(QString("rank %1 does not name %2\n").arg(rank).arg(origin) + r.describe()));
        QVERIFY2(err.contains("write failed", Qt::CaseInsensitive) ||
                     err.contains("Input/output error"),
                 qPrintable(QString("rank %1 does not give the error\n").arg(rank) + r.describe()));
    }
    QVERIFY2(modelFiles(path("out")).isEmpty(), qPrintable(modelFiles(path("out")).join(", ")));
    QVERIFY2(staging(path("out")).isEmpty(), qPrintable(staging(path("out")).join(", ")));
    if (!outExists) {
        std::error_code ec;
        QVERIFY2(!fs::exists(path("out")) || fs::is_empty(path("out"), ec),
                 qPrintable("the run left OUT behind: " +
                            QString::fromStdString(joined(visibleFiles(path("out")))) + " " +
                            staging(path("out")).join(", ")));
    }
}

// Rank 1 is SIGKILLed at its second write. The others must not wait for it forever: mpirun ends
// within a bounded time, non-zero, with nothing published. A staging directory may be left
// (Open MPI's SIGKILL can follow its SIGTERM too closely to clean up): recorded, not failed.
void TestDistributed::killedRankEndsTheRun() {
    writeInput(path("in"), {1, 2, 3, 4});
    const Run r = mpirun({"consolidate", q(path("in")), q(path("out")), "--distributed"},
                         "write:2:kill", 1, 60000);
    qInfo().noquote() << QString("mpirun ended %1 s after the start, exit %2")
                             .arg(r.seconds, 0, 'f', 1)
                             .arg(r.code);
    QVERIFY2(!r.timedOut && r.seconds < 60, qPrintable("the run did not end\n" + r.describe()));
    QVERIFY2(r.code != 0, qPrintable(r.describe()));
    QVERIFY2(!fs::exists(path("out") / "model.safetensors.index.json"), qPrintable(r.describe()));
    QVERIFY2(modelFiles(path("out")).isEmpty(), qPrintable(modelFiles(path("out")).join(", ")));
    const QStringList left = staging(path("out"));
    qInfo().noquote() << (left.isEmpty() ? QString("no staging directory left in OUT")
                                         : "left in OUT: " + left.join(", "));

    // What a killed run leaves behind must not stand in the way of the next run.
    const Run alone = single({"consolidate", q(path("in")), q(path("alone"))});
    QVERIFY2(alone.code == 0, qPrintable(alone.err));
    const Run again = mpirun({"consolidate", q(path("in")), q(path("out")), "--distributed"});
    QVERIFY2(again.code == 0, qPrintable("the run after the killed one\n" + again.describe()));
    const QString diff = compareDirs(path("alone"), path("out"));
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

void TestDistributed::badInputFailsEveryRank_data() {
    QTest::addColumn<bool>("cutHeader");
    QTest::newRow("last data byte cut") << false;
    QTest::newRow("last header byte cut") << true;
}

// Every rank scans the inputs, so every rank must name the broken file; OUT is never made.
void TestDistributed::badInputFailsEveryRank() {
    QFETCH(bool, cutHeader);
    writeInput(path("in"), {1, 2, 3, 4});
    const std::string name = "shard-00002-model-00001-of-00001.safetensors";
    const fs::path victim = path("in") / name;
    QVERIFY(fs::exists(victim));
    const std::string bytes = readFile(victim);
    uint64_t headerLength = 0;
    for (int i = 7; i >= 0; --i)
        headerLength = (headerLength << 8) | uint8_t(bytes[i]);
    fs::resize_file(victim, cutHeader ? 8 + headerLength - 1 : bytes.size() - 1);

    const Run r = mpirun({"consolidate", q(path("in")), q(path("out")), "--distributed"});
    QVERIFY2(!r.timedOut, qPrintable(r.describe()));
    QVERIFY2(r.code != 0, qPrintable(r.describe()));
    for (int rank = 0; rank < kRanks; ++rank)
        QVERIFY2(r.rankErr[rank].contains(QString::fromStdString(name)),
                 qPrintable(QString("rank %1 does not name %2\n").arg(rank).arg(name.c_str()) +
                            r.describe()));
    QVERIFY2(!fs::exists(path("out")), qPrintable(r.describe()));
}

// ---- verify and an earlier export -----------------------------------------------------------

// verify under mpirun (distributed by itself): one "OK:" line in all; a flipped data byte in any
// model file is found, whichever rank compares that file.
void TestDistributed::verifyUnderMpirun() {
    writeInput(path("in"), {1, 2, 3, 4});
    const Run made = single({"consolidate", q(path("in")), q(path("out"))});
    QVERIFY2(made.code == 0, qPrintable(made.err));
    const Run ok = mpirun({"verify", q(path("out")), "--against", q(path("in"))});
    QVERIFY2(ok.code == 0, qPrintable(ok.describe()));
    QVERIFY2(linesStartingWith(ok.out, "OK:").size() == 1, qPrintable(ok.describe()));

    for (const QString& file : modelFiles(path("out"))) {
        if (!file.endsWith(".safetensors")) continue;
        const fs::path target = path("out") / file.toStdString();
        std::string bytes = readFile(target);
        uint64_t headerLength = 0;
        for (int i = 7; i >= 0; --i)
            headerLength = (headerLength << 8) | uint8_t(bytes[i]);
        // Tensors lie back to back after the header, so the middle of the rest is tensor data.
        const size_t at = 8 + headerLength + (bytes.size() - 8 - headerLength) / 2;
        QVERIFY(at < bytes.size());
        bytes[at] = char(bytes[at] ^ 0x10);
        std::ofstream(target, std::ios::binary | std::ios::trunc) << bytes;
        const Run bad = mpirun({"verify", q(path("out")), "--against", q(path("in"))});
        QVERIFY2(!bad.timedOut && bad.code != 0,
                 qPrintable("flipped byte in " + file + " not found\n" + bad.describe()));
        QVERIFY2(bad.err.contains(file),
                 qPrintable("stderr does not name " + file + "\n" + bad.describe()));
        bytes[at] = char(bytes[at] ^ 0x10);
        std::ofstream(target, std::ios::binary | std::ios::trunc) << bytes;
    }
}

// OUT holds an export of another checkpoint (two files, another config.json). Without
// --overwrite the distributed run is refused and leaves it as it was; with --overwrite the result
// is exactly what one process writes for the new checkpoint, no stale file left.
void TestDistributed::previousExportKeptUnlessOverwrite() {
    writeInput(path("old"), {1, 1, 2, 2}, MappingAt::Checkpoint, "old");
    writeInput(path("in"), {1, 2, 3, 4}, MappingAt::Checkpoint, "new");
    const Run previous = single({"consolidate", q(path("old")), q(path("out"))});
    QVERIFY2(previous.code == 0, qPrintable(previous.err));
    fs::copy(path("out"), path("before"), fs::copy_options::recursive);
    const Run alone = single({"consolidate", q(path("in")), q(path("alone"))});
    QVERIFY2(alone.code == 0, qPrintable(alone.err));

    const Run refused = mpirun({"consolidate", q(path("in")), q(path("out")), "--distributed"});
    QVERIFY2(!refused.timedOut && refused.code != 0, qPrintable(refused.describe()));
    QString diff = compareDirs(path("before"), path("out"));
    QVERIFY2(diff.isEmpty(), qPrintable("the refused run changed OUT: " + diff));

    const Run replaced =
        mpirun({"consolidate", q(path("in")), q(path("out")), "--distributed", "--overwrite"});
    QVERIFY2(replaced.code == 0, qPrintable(replaced.describe()));
    diff = compareDirs(path("alone"), path("out"));
    QVERIFY2(diff.isEmpty(), qPrintable(diff + "\n" + replaced.describe()));
    QVERIFY2(staging(path("out")).isEmpty(), qPrintable(staging(path("out")).join(", ")));
}

QTEST_GUILESS_MAIN(TestDistributed)
#include "tst_distributed.moc"
