// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// consolidate and verify as three processes under `mpirun -np 3` on this machine: the output
// against a single-process run byte for byte, idle ranks, a failure on one rank and a killed
// rank (every rank exits non-zero, nothing published), bad input, and a distributed verify.
// Per-rank faults use mpirun's MPMD form (`-np 1 CLI : -np 1 -x FAULT CLI : ...`).

#include "shard_builder.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <chrono>
#include <filesystem>
#include <fstream>

using namespace testing;
namespace fs = std::filesystem;

class TestDistributed : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void demoMatchesOneProcess();
    void severalFilesMatchOneProcess();
    void fewerFilesThanRanks();
    void failureOnOneRankFailsEveryRank();
    void killedRankEndsTheRun();
    void badInputFailsEveryRank();
    void verifySplitsTheFiles();
    void previousExportKeptUnlessOverwrite();

private:
    struct Run {
        int code = -1;
        bool timedOut = false;
        double seconds = 0;
        QString out, err;
    };
    // mpirun with `ranks` copies of the CLI; `fault` goes to rank `faultRank` only.
    Run mpirun(int ranks, const QStringList& args, const QString& fault = {}, int faultRank = -1,
               int timeoutMs = 60000);
    Run single(const QStringList& args);
    fs::path path(const char* name) const { return fs::path(m_tmp->path().toStdString()) / name; }
    static QString q(const fs::path& p) { return QString::fromStdString(p.string()); }
    // Four tensors of different sizes, two ranks, mapped to `files` output files.
    void writeShards(const fs::path& dir, const fs::path& mapping, int files);
    static std::vector<std::string> visibleFiles(const fs::path& dir);
    static void compareDirs(const fs::path& a, const fs::path& b);
    static QStringList ofRank(const QString& text, const QString& needle);

    QString m_cli, m_mpirun;
    std::unique_ptr<QTemporaryDir> m_tmp;
};

void TestDistributed::initTestCase() {
    m_cli = QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI"));
    m_mpirun = QString::fromLocal8Bit(qgetenv("SHARDSCOPE_MPIRUN"));
    if (m_mpirun.isEmpty()) QSKIP("no mpirun (SHARDSCOPE_MPIRUN unset)");
    QVERIFY2(fs::exists(m_cli.toStdString()), qPrintable(m_cli));
}

void TestDistributed::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
}

TestDistributed::Run TestDistributed::mpirun(int ranks, const QStringList& args,
                                             const QString& fault, int faultRank, int timeoutMs) {
    // As root (CI) mpirun needs --allow-run-as-root; --oversubscribe lets 3 ranks share 2 cores.
    QStringList argv = {"--allow-run-as-root", "--oversubscribe", "--bind-to", "none"};
    for (int r = 0; r < ranks; ++r) {
        if (r) argv << ":";
        argv << "-np"
             << "1";
        if (r == faultRank)
            argv << "-x"
                 << "SHARDSCOPE_TEST_FAULT=" + fault;
        argv << m_cli << args;
    }
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove("SHARDSCOPE_TEST_FAULT");
    p.setProcessEnvironment(env);
    const auto started = std::chrono::steady_clock::now();
    p.start(m_mpirun, argv);
    Run r;
    if (!p.waitForStarted(10000)) {
        r.err = "mpirun did not start";
        return r;
    }
    if (!p.waitForFinished(timeoutMs)) {
        r.timedOut = true;
        p.kill();
        p.waitForFinished(5000);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    r.code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.out = QString::fromLocal8Bit(p.readAllStandardOutput());
    r.err = QString::fromLocal8Bit(p.readAllStandardError());
    return r;
}

TestDistributed::Run TestDistributed::single(const QStringList& args) {
    QProcess p;
    p.start(m_cli, args);
    Run r;
    r.timedOut = !p.waitForFinished(60000);
    r.code = p.exitCode();
    r.out = QString::fromLocal8Bit(p.readAllStandardOutput());
    r.err = QString::fromLocal8Bit(p.readAllStandardError());
    return r;
}

void TestDistributed::writeShards(const fs::path& dir, const fs::path& mapping, int files) {
    const std::vector<SplitTensor> tensors = {
        {"model.embed.weight", "BF16", {1024, 96}, splitDim({1024, 96}, 0, 2)},
        {"model.layers.0.proj.weight", "F32", {256, 64}, splitDim({256, 64}, 1, 2)},
        {"model.layers.0.norm.weight", "F32", {64}, splitDim({64}, 0, 2)},
        {"lm_head.weight", "F16", {700, 48}, splitDim({700, 48}, 0, 2)},
    };
    writeCheckpoint(dir, tensors, 2);
    std::ofstream m(mapping);
    m << "{";
    for (size_t i = 0; i < tensors.size(); ++i)
        m << (i ? "," : "") << jsonString(tensors[i].fqn) << ":" << 1 + int(i) % files;
    m << "}";
}

std::vector<std::string> TestDistributed::visibleFiles(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().filename().string()[0] != '.') names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// Every file not starting with '.' (the bookkeeping), byte for byte, and the same names.
void TestDistributed::compareDirs(const fs::path& a, const fs::path& b) {
    const auto names = visibleFiles(a);
    QVERIFY(!names.empty());
    QCOMPARE(visibleFiles(b), names);
    for (const auto& name : names)
        QVERIFY2(readFile(a / name) == readFile(b / name), name.c_str());
}

// The lines of `text` containing `needle`.
QStringList TestDistributed::ofRank(const QString& text, const QString& needle) {
    QStringList lines;
    for (const QString& line : text.split('\n'))
        if (line.contains(needle)) lines << line;
    return lines;
}

void TestDistributed::demoMatchesOneProcess() {
    QCOMPARE(single({"demo", q(path("demo"))}).code, 0);
    const Run alone = single({"consolidate", q(path("demo")), q(path("alone"))});
    QVERIFY2(alone.code == 0, qPrintable(alone.err));
    const Run r = mpirun(3, {"consolidate", q(path("demo")), q(path("out")), "--distributed"});
    QVERIFY2(r.code == 0 && !r.timedOut, qPrintable(r.err));
    compareDirs(path("alone"), path("out"));
    // Rank 0 prints the summary once; the other ranks print nothing on success.
    QCOMPARE(ofRank(r.out, "Wrote ").size(), 1);
    QVERIFY2(ofRank(r.err, "rank 1 of 3").isEmpty() && ofRank(r.err, "rank 2 of 3").isEmpty(),
             qPrintable(r.err));
    for (const auto& e : fs::directory_iterator(path("out")))
        QVERIFY2(e.path().filename().string().rfind(".shardscope-staging", 0) != 0,
                 e.path().c_str());
}

// Without --distributed: mpirun's variables switch it on.
void TestDistributed::severalFilesMatchOneProcess() {
    writeShards(path("in"), path("map.json"), 4);
    const Run alone =
        single({"consolidate", q(path("in")), q(path("alone")), "--mapping", q(path("map.json"))});
    QVERIFY2(alone.code == 0, qPrintable(alone.err));
    QCOMPARE(visibleFiles(path("alone")).size(), size_t(5));
    const Run r =
        mpirun(3, {"consolidate", q(path("in")), q(path("out")), "--mapping", q(path("map.json"))});
    QVERIFY2(r.code == 0, qPrintable(r.err));
    QVERIFY2(r.out.contains("by 3 processes"), qPrintable(r.out));
    compareDirs(path("alone"), path("out"));
}

void TestDistributed::fewerFilesThanRanks() {
    writeShards(path("in"), path("map.json"), 1);
    const Run alone =
        single({"consolidate", q(path("in")), q(path("alone")), "--mapping", q(path("map.json"))});
    QVERIFY2(alone.code == 0, qPrintable(alone.err));
    const Run r = mpirun(3,
                         {"consolidate", q(path("in")), q(path("out")), "--mapping",
                          q(path("map.json")), "--distributed"},
                         {}, -1, 30000);
    QVERIFY2(!r.timedOut, "idle ranks hung");
    QVERIFY2(r.code == 0, qPrintable(r.err));
    compareDirs(path("alone"), path("out"));
}

// Rank 1's first write fails: all three ranks say so, naming rank 1; nothing is published and
// the output directory, which the run created, is gone.
void TestDistributed::failureOnOneRankFailsEveryRank() {
    writeShards(path("in"), path("map.json"), 4);
    const Run r = mpirun(3,
                         {"consolidate", q(path("in")), q(path("out")), "--mapping",
                          q(path("map.json")), "--distributed"},
                         "write:1", 1);
    QVERIFY(!r.timedOut);
    QVERIFY2(r.code != 0, qPrintable(r.err));
    for (int rank = 0; rank < 3; ++rank) {
        const QStringList lines = ofRank(r.err, QString("(rank %1 of 3): error").arg(rank));
        QVERIFY2(lines.size() == 1, qPrintable(r.err));
        QVERIFY2(lines[0].contains("(on rank 1)") && lines[0].contains("write failed"),
                 qPrintable(lines[0]));
    }
    QVERIFY2(!fs::exists(path("out")), qPrintable(r.err));
}

// Rank 1 is killed at its second write: mpirun stops the others, which end within seconds
// with an error; no index and no model file is published. (A staging directory may remain when
// Open MPI's SIGKILL follows its SIGTERM too closely; the next run removes it.)
void TestDistributed::killedRankEndsTheRun() {
    writeShards(path("in"), path("map.json"), 4);
    const Run r = mpirun(3,
                         {"consolidate", q(path("in")), q(path("out")), "--mapping",
                          q(path("map.json")), "--distributed"},
                         "write:2:kill", 1, 60000);
    QVERIFY2(!r.timedOut, "the other ranks did not end");
    QVERIFY2(r.seconds < 30, qPrintable(QString::number(r.seconds)));
    QVERIFY(r.code != 0);
    QVERIFY(!fs::exists(path("out") / "model.safetensors.index.json"));
    for (const auto& name : visibleFiles(path("out")))
        QVERIFY2(name.rfind("model-", 0) != 0, name.c_str());
    // The next run into OUT finds what is left, if anything, and completes cleanly.
    const Run again = mpirun(3, {"consolidate", q(path("in")), q(path("out")), "--mapping",
                                 q(path("map.json")), "--distributed"});
    QVERIFY2(again.code == 0, qPrintable(again.err));
    QVERIFY(fs::exists(path("out") / "model.safetensors.index.json"));
    for (const auto& e : fs::directory_iterator(path("out")))
        QVERIFY2(e.path().filename().string().rfind(".shardscope-staging", 0) != 0,
                 e.path().c_str());
}

void TestDistributed::badInputFailsEveryRank() {
    writeShards(path("in"), path("map.json"), 4);
    fs::path victim;
    for (const auto& e : fs::directory_iterator(path("in")))
        if (e.path().extension() == ".safetensors") victim = e.path();
    fs::resize_file(victim, fs::file_size(victim) - 1);
    const Run r = mpirun(3, {"consolidate", q(path("in")), q(path("out")), "--mapping",
                             q(path("map.json")), "--distributed"});
    QVERIFY(!r.timedOut);
    QVERIFY(r.code != 0);
    const QString name = QString::fromStdString(victim.filename().string());
    for (int rank = 0; rank < 3; ++rank) {
        const QStringList lines = ofRank(r.err, QString("(rank %1 of 3): error").arg(rank));
        QVERIFY2(lines.size() == 1 && lines[0].contains(name), qPrintable(r.err));
    }
    QVERIFY(!fs::exists(path("out")));
}

// verify under mpirun: one report from rank 0; a flipped byte in any file is found, whichever
// rank compares that file.
void TestDistributed::verifySplitsTheFiles() {
    writeShards(path("in"), path("map.json"), 4);
    QCOMPARE(
        single({"consolidate", q(path("in")), q(path("out")), "--mapping", q(path("map.json"))})
            .code,
        0);
    const Run ok = mpirun(3, {"verify", q(path("out")), "--against", q(path("in"))});
    QVERIFY2(ok.code == 0, qPrintable(ok.err));
    QCOMPARE(ofRank(ok.out, "OK:").size(), 1);
    QVERIFY2(ok.out.contains("by 3 processes"), qPrintable(ok.out));
    for (const std::string& file : visibleFiles(path("out"))) {
        if (file.rfind("model-", 0) != 0) continue;
        const fs::path target = path("out") / file;
        std::string bytes = readFile(target);
        bytes[bytes.size() - 3] ^= 0x40; // inside the last tensor's data
        std::ofstream(target, std::ios::binary) << bytes;
        const Run bad = mpirun(3, {"verify", q(path("out")), "--against", q(path("in"))});
        QVERIFY2(bad.code != 0, qPrintable(bad.out));
        QVERIFY2(bad.err.contains(QString::fromStdString(file)), qPrintable(bad.err));
        bytes[bytes.size() - 3] ^= 0x40;
        std::ofstream(target, std::ios::binary) << bytes;
    }
}

void TestDistributed::previousExportKeptUnlessOverwrite() {
    writeShards(path("in"), path("map.json"), 4);
    QCOMPARE(
        single({"consolidate", q(path("in")), q(path("out")), "--mapping", q(path("map.json"))})
            .code,
        0);
    fs::copy(path("out"), path("before"), fs::copy_options::recursive);
    const Run refused = mpirun(3, {"consolidate", q(path("in")), q(path("out")), "--mapping",
                                   q(path("map.json")), "--distributed"});
    QVERIFY(refused.code != 0);
    QVERIFY2(refused.err.contains("already holds output"), qPrintable(refused.err));
    compareDirs(path("before"), path("out"));
    const Run replaced = mpirun(3, {"consolidate", q(path("in")), q(path("out")), "--mapping",
                                    q(path("map.json")), "--distributed", "--overwrite"});
    QVERIFY2(replaced.code == 0, qPrintable(replaced.err));
    compareDirs(path("before"), path("out"));
}

QTEST_GUILESS_MAIN(TestDistributed)
#include "tst_distributed.moc"
