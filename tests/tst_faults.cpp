// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "shard_builder.h"

#include <QCryptographicHash>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QProcess>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

using namespace testing;
namespace fs = std::filesystem;

// Process-level fault tests for consolidate's output transaction. Each case makes a previous
// export from one checkpoint, then replaces it from another checkpoint (other bytes, another file
// count, same sidecar names) while a write, rename, copy or mkdir fails, a signal arrives or the
// process is killed. Afterwards the output directory must hold exactly the previous export or
// exactly the new one (compared hash by hash with clean reference runs, and verified against the
// shards), and the printed message must say which.
//
// The fault hook is SHARDSCOPE_TEST_FAULT=op:k[:kill|:int|:pause] (core/fault.h); all data is
// generated from fixed seeds, so the operation counts are the same in every run.
class TestFaults : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void init();

    void failure_data();
    void failure();
    void kill_data();
    void kill();
    void realSignal_data();
    void realSignal();
    void verifyPhase_data();
    void verifyPhase();
    void pausedSignal_data();
    void pausedSignal();
    void interruptedRecovery_data();
    void interruptedRecovery();
    void fileSizeLimit();
    void fullDisk_data();
    void fullDisk();
    void concurrentRun();
    void cancelledFirstRun_data();
    void cancelledFirstRun();
    void refusedWithoutOverwrite();
    void cleanupCutShort();

private:
    using Snapshot = QMap<QString, QByteArray>; // file name -> SHA-256; dot-files left out

    struct Run {
        bool killed = false; // ended by a signal (the SIGKILL of a :kill fault)
        int code = -1;
        qint64 pid = 0;
        QString out, err;
        QString rc() const { return killed ? QStringLiteral("killed") : QString::number(code); }
    };

    QString cli() const { return QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI")); }
    static QProcessEnvironment env(const QString& fault);
    std::unique_ptr<QProcess> start(const QStringList& args, const QString& fault = {},
                                    const std::function<void()>& childSetup = {});
    static Run finish(QProcess& p, int timeoutMs = 60000);
    Run run(const QStringList& args, const QString& fault = {},
            const std::function<void()>& childSetup = {});

    static Snapshot snapshot(const fs::path& dir);
    static QString diff(const Snapshot& a, const Snapshot& b);
    static QStringList leftovers(const fs::path& dir, bool lockToo = true);
    static QStringList indexedFiles(const fs::path& dir);
    bool verifies(const fs::path& out, const fs::path& in);
    bool sidecarsMatch(const fs::path& out, const fs::path& in) const;
    QString scrub(QString text) const;
    static QString firstLine(const Run& r);

    // Writes a checkpoint of F32 matrices split along dim 1 (short runs, so the engine gathers
    // them into windows and every byte goes through a counted write), a mapping and sidecars.
    struct Matrix {
        std::string fqn;
        uint64_t rows, cols;
        int parts; // chunks along dim 1; chunk i goes to rank i % ranks
        int file;  // output file index in the mapping
    };
    static void writeCheckpointDir(const fs::path& dir, const std::vector<Matrix>& tensors,
                                   int ranks, const std::string& seed, uint64_t tokenizerBytes);

    // When OUT has an index: every file it names is there, and the set verifies against IN1 (and
    // is the previous export) or IN2 (and is the clean new export); never a mix. `state` says
    // which.
    bool indexConsistent(const fs::path& out, const Snapshot& before, QString& state, QString& why);
    // The previous export made by a clean run; checked against the reference.
    bool makePrevious(const fs::path& out, Snapshot& before);
    // "unchanged", "new export", "no OUT" or a description of what else is there.
    QString classify(const fs::path& out, const Snapshot& before, const Snapshot& refNew,
                     const fs::path& newIn);
    void matrix(const QString& name, const Run& r, const QString& disk,
                const QString& message = {});

    static bool waitStopped(qint64 pid, int timeoutMs = 10000);

    std::unique_ptr<QTemporaryDir> m_data; // checkpoints and references, for the whole suite
    std::unique_ptr<QTemporaryDir> m_tmp;  // per case
    fs::path m_in1, m_in2, m_big;
    Snapshot m_refOld, m_refNew, m_refBig;
    int m_writes = 0;  // counted writes of one replacing run (IN2 over IN1's export)
    int m_renames = 0; // renames of one replacing run
    int m_sidecars = 2;
    QStringList m_mounts;
};

// ---- helpers --------------------------------------------------------------------------------

QProcessEnvironment TestFaults::env(const QString& fault) {
    QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
    e.remove("SHARDSCOPE_TEST_FAULT");
    if (!fault.isEmpty()) e.insert("SHARDSCOPE_TEST_FAULT", fault);
    return e;
}

std::unique_ptr<QProcess> TestFaults::start(const QStringList& args, const QString& fault,
                                            const std::function<void()>& childSetup) {
    auto p = std::make_unique<QProcess>();
    p->setProcessEnvironment(env(fault));
    if (childSetup) p->setChildProcessModifier(childSetup);
    p->start(cli(), args);
    p->waitForStarted(10000);
    return p;
}

TestFaults::Run TestFaults::finish(QProcess& p, int timeoutMs) {
    Run r;
    r.pid = p.processId();
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished(5000);
        r.err = "timed out";
        return r;
    }
    r.killed = p.exitStatus() == QProcess::CrashExit;
    r.code = r.killed ? -1 : p.exitCode();
    r.out = QString::fromUtf8(p.readAllStandardOutput());
    r.err = QString::fromUtf8(p.readAllStandardError());
    return r;
}

TestFaults::Run TestFaults::run(const QStringList& args, const QString& fault,
                                const std::function<void()>& childSetup) {
    auto p = start(args, fault, childSetup);
    return finish(*p);
}

TestFaults::Snapshot TestFaults::snapshot(const fs::path& dir) {
    Snapshot s;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return s;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const QString name = QString::fromStdString(e.path().filename().string());
        if (name.startsWith('.')) continue;
        QFile f(QString::fromStdString(e.path().string()));
        QCryptographicHash h(QCryptographicHash::Sha256);
        if (e.is_regular_file() && f.open(QIODevice::ReadOnly) && h.addData(&f))
            s[name] = h.result().toHex();
        else
            s[name] = "(not a readable file)";
    }
    return s;
}

QString TestFaults::diff(const Snapshot& a, const Snapshot& b) {
    QStringList out;
    for (auto it = a.begin(); it != a.end(); ++it)
        if (!b.contains(it.key()))
            out << "-" + it.key();
        else if (b[it.key()] != it.value())
            out << "~" + it.key();
    for (auto it = b.begin(); it != b.end(); ++it)
        if (!a.contains(it.key())) out << "+" + it.key();
    return out.join(' ');
}

QStringList TestFaults::leftovers(const fs::path& dir, bool lockToo) {
    QStringList found;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return found;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const QString name = QString::fromStdString(e.path().filename().string());
        if (name.startsWith(".shardscope-staging-") || name.startsWith(".shardscope-previous-") ||
            name.endsWith(".shardscope-partial") || name == ".shardscope-journal" ||
            (lockToo && name == ".shardscope.lock"))
            found << name;
    }
    found.sort();
    return found;
}

QStringList TestFaults::indexedFiles(const fs::path& dir) {
    QFile f(QString::fromStdString((dir / "model.safetensors.index.json").string()));
    if (!f.open(QIODevice::ReadOnly)) return {};
    const QJsonObject map =
        QJsonDocument::fromJson(f.readAll()).object().value("weight_map").toObject();
    QStringList files;
    for (const auto& v : map)
        if (!files.contains(v.toString())) files << v.toString();
    files.sort();
    return files;
}

bool TestFaults::verifies(const fs::path& out, const fs::path& in) {
    const Run r = run({"verify", QString::fromStdString(out.string()), "--against",
                       QString::fromStdString(in.string())});
    return !r.killed && r.code == 0;
}

bool TestFaults::sidecarsMatch(const fs::path& out, const fs::path& in) const {
    for (const char* name : {"config.json", "tokenizer.json"})
        if (readFile(out / name) != readFile(in / ".hf_metadata" / name)) return false;
    return true;
}

QString TestFaults::scrub(QString text) const {
    text.replace(m_tmp->path(), "<tmp>");
    text.replace(m_data->path(), "<data>");
    static const QRegularExpression id("\\.shardscope-(staging|previous)-\\d+-[0-9a-f]{8}");
    text.replace(id, ".shardscope-\\1-<id>");
    static const QRegularExpression pid("\\(pid \\d+\\)");
    text.replace(pid, "(pid <A>)");
    return text;
}

QString TestFaults::firstLine(const Run& r) {
    if (r.killed) return "(killed)";
    const QString text = r.err.trimmed().isEmpty() ? r.out.trimmed() : r.err.trimmed();
    return text.section('\n', 0, 0);
}

void TestFaults::matrix(const QString& name, const Run& r, const QString& disk,
                        const QString& message) {
    qInfo().noquote() << QString("MATRIX | %1 | rc=%2 | %3 | %4")
                             .arg(name, r.rc(), scrub(message.isEmpty() ? firstLine(r) : message),
                                  scrub(disk));
}

bool TestFaults::waitStopped(qint64 pid, int timeoutMs) {
    QElapsedTimer t;
    t.start();
    const std::string path = "/proc/" + std::to_string(pid) + "/stat";
    while (t.elapsed() < timeoutMs) {
        const std::string stat = readFile(path);
        const auto close = stat.rfind(')');
        if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'T')
            return true;
        QThread::msleep(2);
    }
    return false;
}

void TestFaults::writeCheckpointDir(const fs::path& dir, const std::vector<Matrix>& tensors,
                                    int ranks, const std::string& seed, uint64_t tokenizerBytes) {
    fs::create_directories(dir / ".hf_metadata");
    std::vector<std::vector<TestChunk>> files(ranks);
    std::string mapping = "{";
    for (const auto& t : tensors) {
        const std::string full = pattern(seed + "/" + t.fqn, t.rows * t.cols * 4);
        const uint64_t width = t.cols / t.parts;
        for (int i = 0; i < t.parts; ++i) {
            std::string bytes;
            bytes.reserve(t.rows * width * 4);
            for (uint64_t r = 0; r < t.rows; ++r)
                bytes.append(full, (r * t.cols + i * width) * 4, width * 4);
            files[i % ranks].push_back(
                {t.fqn, "F32", {0, uint64_t(i) * width}, {t.rows, width}, std::move(bytes)});
        }
        mapping += (mapping.size() > 1 ? ",\"" : "\"") + t.fqn + "\":" + std::to_string(t.file);
    }
    mapping += "}\n";
    for (int r = 0; r < ranks; ++r) {
        char name[64];
        std::snprintf(name, sizeof name, "shard-%05d-model-00001-of-00001.safetensors", r + 1);
        writeShard(dir / name, files[r]);
    }
    std::ofstream(dir / ".hf_metadata" / "fqn_to_file_index_mapping.json") << mapping;
    std::ofstream(dir / ".hf_metadata" / "config.json")
        << "{\"model_type\": \"faults\", \"seed\": \"" << seed << "\"}\n";
    std::ofstream(dir / ".hf_metadata" / "tokenizer.json", std::ios::binary)
        << pattern("tokenizer/" + seed, tokenizerBytes);
}

bool TestFaults::makePrevious(const fs::path& out, Snapshot& before) {
    const Run r = run({"consolidate", QString::fromStdString(m_in1.string()),
                       QString::fromStdString(out.string()), "--threads", "1", "--quiet"});
    before = snapshot(out);
    if (r.killed || r.code != 0) qWarning().noquote() << "previous export failed:" << r.err;
    return !r.killed && r.code == 0 && before == m_refOld && leftovers(out).isEmpty();
}

QString TestFaults::classify(const fs::path& out, const Snapshot& before, const Snapshot& refNew,
                             const fs::path& newIn) {
    std::error_code ec;
    if (!fs::exists(out, ec)) return "no OUT";
    const Snapshot now = snapshot(out);
    if (now == before) return "unchanged";
    if (now == refNew) return verifies(out, newIn) ? "new export" : "new export NOT VERIFYING";
    return "MIXED vs previous [" + diff(before, now) + "] vs new [" + diff(refNew, now) + "]";
}

bool TestFaults::indexConsistent(const fs::path& out, const Snapshot& before, QString& state,
                                 QString& why) {
    if (!fs::exists(out / "model.safetensors.index.json")) {
        state = "no index";
        return true;
    }
    for (const QString& f : indexedFiles(out))
        if (!QFile::exists(QString::fromStdString((out / f.toStdString()).string()))) {
            why = "the index names a missing file: " + f;
            return false;
        }
    const Snapshot now = snapshot(out);
    const bool old = verifies(out, m_in1), fresh = !old && verifies(out, m_in2);
    if (!old && !fresh) {
        why = "the index verifies against neither checkpoint";
        return false;
    }
    if (old ? !(now == before && sidecarsMatch(out, m_in1))
            : !(now == m_refNew && sidecarsMatch(out, m_in2))) {
        why = "a mix of both sets: " + diff(old ? before : m_refNew, now);
        return false;
    }
    state = old ? "previous export intact" : "new export in place";
    return true;
}

// ---- setup ----------------------------------------------------------------------------------

void TestFaults::initTestCase() {
    QVERIFY2(!cli().isEmpty(), "run through ctest, which sets SHARDSCOPE_CLI");
    m_data = std::make_unique<QTemporaryDir>();
    QVERIFY(m_data->isValid());
    const fs::path data = m_data->path().toStdString();
    m_in1 = data / "in1";
    m_in2 = data / "in2";
    m_big = data / "big";
    // IN1: 4 ranks, 4 MiB, mapped to 2 files. IN2: 3 ranks, ~7.5 MiB, other bytes, 3 files; the
    // sidecars have the same names with other contents, so any mix of the two sets shows.
    writeCheckpointDir(m_in1,
                       {{"model.a.weight", 512, 1024, 4, 1},
                        {"model.b.weight", 256, 1024, 4, 2},
                        {"model.c.weight", 512, 512, 2, 2}},
                       4, "seed-1", 300 << 10);
    writeCheckpointDir(m_in2,
                       {{"model.a.weight", 768, 1536, 3, 1},
                        {"model.b.weight", 256, 2048, 2, 2},
                        {"model.c.weight", 512, 512, 2, 3},
                        {"model.d.bias", 1, 4096, 1, 3}},
                       3, "seed-2", (1 << 20) + (200 << 10));
    // A bigger replacement (48 MiB) for signals that arrive from outside while it runs.
    writeCheckpointDir(m_big,
                       {{"model.a.weight", 2048, 2048, 4, 1},
                        {"model.b.weight", 2048, 2048, 4, 2},
                        {"model.c.weight", 2048, 2048, 4, 3}},
                       4, "seed-big", 64 << 10);

    auto reference = [&](const fs::path& in, const char* name, Snapshot& ref) {
        const fs::path out = data / name;
        const Run r = run({"consolidate", QString::fromStdString(in.string()),
                           QString::fromStdString(out.string()), "--quiet"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(verifies(out, in));
        ref = snapshot(out);
    };
    reference(m_in1, "ref-old", m_refOld);
    reference(m_in2, "ref-new", m_refNew);
    reference(m_big, "ref-big", m_refBig);
    QCOMPARE(m_refOld.size(), 5); // 2 model files, the index, 2 sidecars
    QCOMPARE(m_refNew.size(), 6); // 3 model files, the index, 2 sidecars
    QVERIFY(m_refBig.size() == 6);
    Snapshot again;
    reference(m_in2, "ref-new-again", again);
    QVERIFY2(again == m_refNew, "consolidate output is not deterministic");

    // Publishing moves the previous set (with its manifest) aside and the new set (with its
    // manifest) in: one rename each.
    m_renames = int(m_refOld.size() + 1 + m_refNew.size() + 1);

    // Count the writes of a replacing run by bisection on write:k (fails iff k <= count).
    const fs::path probe = data / "probe";
    auto fails = [&](int k) {
        std::error_code ec;
        if (snapshot(probe) != m_refOld) {
            fs::remove_all(probe, ec);
            Snapshot ignored;
            if (!makePrevious(probe, ignored)) return false;
        }
        const Run r = run({"consolidate", QString::fromStdString(m_in2.string()),
                           QString::fromStdString(probe.string()), "--overwrite", "--threads", "1",
                           "--quiet"},
                          "write:" + QString::number(k));
        return r.code == 1;
    };
    int lo = 1, hi = 8; // fails(lo) and !fails(hi) once bracketed
    QVERIFY(fails(lo));
    while (fails(hi))
        lo = hi, hi *= 2;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        (fails(mid) ? lo : hi) = mid;
    }
    m_writes = lo;
    qInfo().noquote() << QString("a replacing run makes %1 counted writes and %2 renames")
                             .arg(m_writes)
                             .arg(m_renames);
    QVERIFY(m_writes >= 10);
}

void TestFaults::cleanupTestCase() {
    for (const auto& mount : std::as_const(m_mounts))
        ::umount2(mount.toLocal8Bit().constData(), MNT_DETACH);
}

void TestFaults::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
}

// ---- failures and :int at counted operations -------------------------------------------------

// expect: "unchanged" (message says so), "cancelled" (and unchanged), "new" (the fault point is
// beyond what a run reaches), "either".
void TestFaults::failure_data() {
    QTest::addColumn<QString>("fault");
    QTest::addColumn<QString>("expect");
    QTest::addColumn<QString>("mustSay");
    const int n = m_writes, mid = m_writes / 2;
    auto w = [](int k) { return "write:" + QString::number(k); };
    QTest::newRow("write first header") << w(1) << "unchanged"
                                        << "write failed at byte 0";
    QTest::newRow("write second header") << w(2) << "unchanged"
                                         << "write failed at byte 0";
    QTest::newRow("write first data window") << w(4) << "unchanged"
                                             << "write failed";
    QTest::newRow(qPrintable("write middle " + w(mid))) << w(mid) << "unchanged"
                                                        << "write failed";
    QTest::newRow(qPrintable("write index " + w(n - 2))) << w(n - 2) << "unchanged"
                                                         << "model.safetensors.index.json";
    QTest::newRow(qPrintable("write manifest " + w(n - 1))) << w(n - 1) << "unchanged"
                                                            << ".shardscope-export.json";
    QTest::newRow(qPrintable("write journal (last) " + w(n))) << w(n) << "unchanged"
                                                              << ".shardscope-journal";
    QTest::newRow(qPrintable("write beyond the last " + w(n + 1))) << w(n + 1) << "new"
                                                                   << "";
    for (int k = 1; k <= m_renames; ++k)
        QTest::newRow(qPrintable("rename:" + QString::number(k)))
            << "rename:" + QString::number(k) << "unchanged"
            << "publishing was undone";
    QTest::newRow(qPrintable("rename beyond the last rename:" + QString::number(m_renames + 1)))
        << "rename:" + QString::number(m_renames + 1) << "new"
        << "";
    QTest::newRow("copy:1 (config.json)") << "copy:1"
                                          << "unchanged"
                                          << "cannot copy";
    QTest::newRow("copy:2 (tokenizer.json)") << "copy:2"
                                             << "unchanged"
                                             << "cannot copy";
    QTest::newRow("copy beyond the last copy:3") << "copy:3"
                                                 << "new"
                                                 << "";
    QTest::newRow("mkdir:1 (staging)") << "mkdir:1"
                                       << "unchanged"
                                       << "staging directory";
    QTest::newRow("mkdir:2 (previous set aside)") << "mkdir:2"
                                                  << "unchanged"
                                                  << "directory for the previous export";
    QTest::newRow("mkdir:3 (no third mkdir)") << "mkdir:3"
                                              << "new"
                                              << "";
    QTest::newRow("int write:1") << "write:1:int"
                                 << "cancelled"
                                 << "";
    QTest::newRow("int write:4") << "write:4:int"
                                 << "cancelled"
                                 << "";
    QTest::newRow(qPrintable("int " + w(mid))) << w(mid) + ":int"
                                               << "cancelled"
                                               << "";
    QTest::newRow("int copy:1") << "copy:1:int"
                                << "cancelled"
                                << "";
    QTest::newRow("int copy:2") << "copy:2:int"
                                << "either"
                                << "";
    QTest::newRow(qPrintable("int journal " + w(n))) << w(n) + ":int"
                                                     << "new"
                                                     << "";
    QTest::newRow("int mkdir:1 (staging)") << "mkdir:1:int"
                                           << "cancelled"
                                           << "";
    QTest::newRow("int mkdir:2 (publishing)") << "mkdir:2:int"
                                              << "new"
                                              << "";
    QTest::newRow("int rename:1 (publishing)") << "rename:1:int"
                                               << "new"
                                               << "";
    QTest::newRow("int rename:7 (publishing)") << "rename:7:int"
                                               << "new"
                                               << "";
}

void TestFaults::failure() {
    QFETCH(QString, fault);
    QFETCH(QString, expect);
    QFETCH(QString, mustSay);
    const fs::path out = m_tmp->filePath("out").toStdString();
    Snapshot before;
    QVERIFY(makePrevious(out, before));

    const Run r = run({"consolidate", QString::fromStdString(m_in2.string()),
                       QString::fromStdString(out.string()), "--overwrite", "--threads", "1"},
                      fault);
    const QString disk = classify(out, before, m_refNew, m_in2);
    const QStringList left = leftovers(out);
    matrix(QTest::currentDataTag(), r, disk + (left.isEmpty() ? "" : " + " + left.join(',')));

    QVERIFY2(!r.killed, qPrintable(r.err));
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
    const bool cancelled = r.err.contains("shardscope-cli: cancelled.");
    if (disk == "unchanged") {
        QVERIFY2(r.code == 1, qPrintable(r.err));
        QVERIFY2(r.err.contains("is unchanged: its previous export (2 model file(s) and the "
                                "index) is as it was."),
                 qPrintable(r.err));
    } else {
        QVERIFY2(disk == "new export", qPrintable(disk));
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("replaced the previous export"), qPrintable(r.out));
        QVERIFY(sidecarsMatch(out, m_in2));
    }
    if (expect == "unchanged") {
        QCOMPARE(disk, QString("unchanged"));
        QVERIFY2(r.err.startsWith("shardscope-cli: error: "), qPrintable(r.err));
        QVERIFY2(r.err.contains("Input/output error"), qPrintable(r.err));
        QVERIFY2(r.err.contains(mustSay), qPrintable(r.err));
    } else if (expect == "cancelled") {
        QCOMPARE(disk, QString("unchanged"));
        QVERIFY2(cancelled, qPrintable(r.err));
    } else if (expect == "new") {
        QCOMPARE(disk, QString("new export"));
    } else {
        QVERIFY2(cancelled == (disk == "unchanged"), qPrintable(r.err));
    }
}

// ---- kill -9 at counted operations -----------------------------------------------------------

void TestFaults::kill_data() {
    QTest::addColumn<QString>("fault");
    const int n = m_writes;
    for (const QString& f :
         {QString("write:1"), "write:" + QString::number(n / 2), "write:" + QString::number(n - 2),
          "write:" + QString::number(n), QString("copy:1"), QString("copy:2"), QString("mkdir:1"),
          QString("mkdir:2"), QString("rename:1"), "rename:" + QString::number(m_refOld.size() + 1),
          "rename:" + QString::number(m_refOld.size() + 2),
          "rename:" + QString::number(m_refOld.size() + 5), "rename:" + QString::number(m_renames)})
        QTest::newRow(qPrintable("kill " + f)) << f + ":kill";
}

void TestFaults::kill() {
    QFETCH(QString, fault);
    const fs::path out = m_tmp->filePath("out").toStdString();
    const QString outArg = QString::fromStdString(out.string());
    Snapshot before;
    QVERIFY(makePrevious(out, before));

    const Run killed = run({"consolidate", QString::fromStdString(m_in2.string()), outArg,
                            "--overwrite", "--threads", "1"},
                           fault);
    QVERIFY2(killed.killed, qPrintable("the fault did not kill the run: " + killed.err));

    // Right after the kill: an index present names only files that are there, all from one set.
    QString afterKill, why;
    const QStringList left = leftovers(out, false);
    QVERIFY2(indexConsistent(out, before, afterKill, why), qPrintable(why));
    afterKill += left.isEmpty() ? ", no leftovers" : ", leftovers " + left.join(',');

    // The next run finds what the killed one left, says so, and completes.
    const Run next = run({"consolidate", QString::fromStdString(m_in2.string()), outArg,
                          "--overwrite", "--threads", "1"});
    const QString disk = classify(out, before, m_refNew, m_in2);
    const QStringList after = leftovers(out);
    QStringList notes;
    for (const QString& line : next.err.split('\n'))
        if (line.startsWith("note: ")) notes << line;
    matrix(QTest::currentDataTag(), killed,
           "after kill: " + afterKill + "; next run rc=" + next.rc() + " → " + disk +
               (after.isEmpty() ? "" : " + " + after.join(',')),
           "(killed); next run: " + (notes.isEmpty() ? QString("(no note)") : notes.join(" / ")));

    QVERIFY2(!next.killed && next.code == 0, qPrintable(next.err));
    QCOMPARE(disk, QString("new export"));
    QVERIFY(sidecarsMatch(out, m_in2));
    QVERIFY2(after.isEmpty(), qPrintable(after.join(", ")));
    // Staging or an aside directory left behind is an interrupted run the next one reports; a
    // stale lock file alone is not.
    const bool interrupted =
        !left.filter(QRegularExpression("^\\.shardscope-(staging|previous)-")).isEmpty();
    QVERIFY2(notes.isEmpty() != interrupted, qPrintable(next.err));
    if (interrupted) QVERIFY2(notes.join(' ').contains("interrupted"), qPrintable(next.err));
}

// ---- SIGINT / SIGTERM from outside -----------------------------------------------------------

void TestFaults::realSignal_data() {
    QTest::addColumn<int>("signal");
    QTest::addColumn<int>("delayMs");
    QTest::newRow("SIGINT while writing (big)") << int(SIGINT) << 0;
    QTest::newRow("SIGTERM while writing (big)") << int(SIGTERM) << 0;
    QRandomGenerator random(20240611); // fixed seed
    QTest::newRow("SIGTERM later (big)") << int(SIGTERM) << int(random.bounded(10, 40));
}

void TestFaults::realSignal() {
    QFETCH(int, signal);
    QFETCH(int, delayMs);
    const fs::path out = m_tmp->filePath("out").toStdString();
    Snapshot before;
    QVERIFY(makePrevious(out, before));

    auto p = start({"consolidate", QString::fromStdString(m_big.string()),
                    QString::fromStdString(out.string()), "--overwrite"});
    // Wait until the run is writing: its staging directory holds a data file.
    QElapsedTimer t;
    t.start();
    bool writing = false;
    while (!writing && t.elapsed() < 20000 && p->state() == QProcess::Running) {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(out, ec))
            if (e.path().filename().string().rfind(".shardscope-staging-", 0) == 0 &&
                fs::exists(e.path() / "model-00001-of-00003.safetensors", ec))
                writing = true;
        if (!writing) QThread::usleep(200);
    }
    QThread::msleep(delayMs);
    ::kill(pid_t(p->processId()), signal);
    const Run r = finish(*p);
    const QString disk = classify(out, before, m_refBig, m_big);
    const QStringList left = leftovers(out);
    matrix(QTest::currentDataTag(), r,
           disk + (writing ? "" : " (signal came late)") +
               (left.isEmpty() ? "" : " + " + left.join(',')));

    QVERIFY2(!r.killed, qPrintable(r.err));
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
    if (r.code == 1) {
        QVERIFY2(r.err.startsWith("shardscope-cli: cancelled. ") && r.err.contains("is unchanged"),
                 qPrintable(r.err));
        QCOMPARE(disk, QString("unchanged"));
    } else {
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(disk, QString("new export"));
        QVERIFY(sidecarsMatch(out, m_big));
    }
}

// ---- SIGINT / SIGTERM at an exact point: the run is held there (:pause) while it arrives ------

void TestFaults::pausedSignal_data() {
    QTest::addColumn<QString>("fault");
    QTest::addColumn<int>("signal");
    QTest::addColumn<QString>("expect");
    QTest::newRow("SIGTERM held at write:1") << "write:1:pause" << int(SIGTERM) << "cancelled";
    QTest::newRow("SIGINT held at copy:1") << "copy:1:pause" << int(SIGINT) << "either";
    QTest::newRow("SIGTERM held at mkdir:2 (publishing)")
        << "mkdir:2:pause" << int(SIGTERM) << "new";
    QTest::newRow("SIGINT held at rename:1 (publishing)")
        << "rename:1:pause" << int(SIGINT) << "new";
    QTest::newRow("SIGTERM held at rename:9 (publishing)")
        << "rename:9:pause" << int(SIGTERM) << "new";
}

void TestFaults::pausedSignal() {
    QFETCH(QString, fault);
    QFETCH(int, signal);
    QFETCH(QString, expect);
    const fs::path out = m_tmp->filePath("out").toStdString();
    Snapshot before;
    QVERIFY(makePrevious(out, before));
    auto p = start({"consolidate", QString::fromStdString(m_in2.string()),
                    QString::fromStdString(out.string()), "--overwrite", "--threads", "1"},
                   fault);
    QVERIFY(waitStopped(p->processId()));
    ::kill(pid_t(p->processId()), signal);
    ::kill(pid_t(p->processId()), SIGCONT);
    const Run r = finish(*p);
    const QString disk = classify(out, before, m_refNew, m_in2);
    const QStringList left = leftovers(out);
    matrix(QTest::currentDataTag(), r, disk + (left.isEmpty() ? "" : " + " + left.join(',')));
    QVERIFY2(!r.killed, qPrintable(r.err));
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
    if (r.code == 1) {
        QVERIFY2(r.err.startsWith("shardscope-cli: cancelled. ") && r.err.contains("is unchanged"),
                 qPrintable(r.err));
        QCOMPARE(disk, QString("unchanged"));
    } else {
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(disk, QString("new export"));
    }
    if (expect == "cancelled") QCOMPARE(r.code, 1);
    if (expect == "new") QCOMPARE(r.code, 0); // publishing is never cancelled
}

// ---- a run killed while publishing, then the next run interrupted while it recovers ----------

void TestFaults::interruptedRecovery_data() {
    QTest::addColumn<QString>("first");
    QTest::addColumn<QString>("second");
    // Recovery of a half-published set counts its own renames and mkdirs from 1.
    QTest::newRow("kill rename:3, recovery killed at rename:1") << "rename:3:kill"
                                                                << "rename:1:kill";
    QTest::newRow("kill rename:8, recovery killed at rename:2") << "rename:8:kill"
                                                                << "rename:2:kill";
    QTest::newRow("kill mkdir:2, recovery killed at mkdir:1") << "mkdir:2:kill"
                                                              << "mkdir:1:kill";
    QTest::newRow("kill rename:3, recovery fails at rename:1") << "rename:3:kill"
                                                               << "rename:1";
    QTest::newRow("kill rename:8, recovery fails at rename:2") << "rename:8:kill"
                                                               << "rename:2";
    QTest::newRow("kill mkdir:2, recovery fails at mkdir:1") << "mkdir:2:kill"
                                                             << "mkdir:1";
}

void TestFaults::interruptedRecovery() {
    QFETCH(QString, first);
    QFETCH(QString, second);
    const fs::path out = m_tmp->filePath("out").toStdString();
    const QStringList args{"consolidate",
                           QString::fromStdString(m_in2.string()),
                           QString::fromStdString(out.string()),
                           "--overwrite",
                           "--threads",
                           "1"};
    Snapshot before;
    QVERIFY(makePrevious(out, before));
    const Run killed = run(args, first);
    QVERIFY2(killed.killed, qPrintable(killed.err));
    const Snapshot halfway = snapshot(out);

    const Run r = run(args, second);
    QString state, why;
    QVERIFY2(indexConsistent(out, before, state, why), qPrintable(why));
    const Snapshot after = snapshot(out);
    const bool moved = after != halfway;
    const QString afterSecond = state + (moved ? ", files moved" : ", files as the kill left them");

    const Run third = run(args);
    const QString disk = classify(out, before, m_refNew, m_in2);
    const QStringList left = leftovers(out);
    QStringList notes;
    for (const QString& line : third.err.split('\n'))
        if (line.startsWith("note: ")) notes << line;
    matrix(QTest::currentDataTag(), r,
           "after 2nd run: " + afterSecond + "; 3rd run rc=" + third.rc() + " → " + disk +
               (left.isEmpty() ? "" : " + " + left.join(',')),
           firstLine(r) + (r.killed ? "" : " / " + r.err.trimmed().section('\n', 1, 1)) +
               "; 3rd run: " + (notes.isEmpty() ? QString("(no note)") : notes.join(" / ")));

    if (second.endsWith(":kill")) {
        QVERIFY2(r.killed, qPrintable(r.err));
    } else {
        QVERIFY2(!r.killed && r.code == 1, qPrintable(r.err));
        QVERIFY2(r.err.startsWith("shardscope-cli: error: "), qPrintable(r.err));
        // The recovery moved files and stopped: the message must not say nothing happened; it
        // must say the directory holds a half-published export the next run completes.
        if (moved)
            QVERIFY2(r.err.contains("completes it"),
                     qPrintable("files were moved, but the message says: " + r.err));
    }
    QVERIFY2(!third.killed && third.code == 0, qPrintable(third.err));
    QCOMPARE(disk, QString("new export"));
    QVERIFY(sidecarsMatch(out, m_in2));
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
    QVERIFY2(notes.join(' ').contains("interrupted"), qPrintable(third.err));
}

// ---- the Verifying phase (--verify) ----------------------------------------------------------

void TestFaults::verifyPhase_data() {
    QTest::addColumn<QString>("how");
    QTest::newRow("verify: SIGINT at the index write, then verify") << "pause-int";
    QTest::newRow("verify: staged file damaged before verify") << "pause-damage";
    QTest::newRow("verify: SIGINT while verifying (big)") << "big-int";
    QTest::newRow("verify: SIGTERM while verifying (big)") << "big-term";
}

void TestFaults::verifyPhase() {
    QFETCH(QString, how);
    const fs::path out = m_tmp->filePath("out").toStdString();
    Snapshot before;
    QVERIFY(makePrevious(out, before));
    const bool big = how.startsWith("big");
    const fs::path in = big ? m_big : m_in2;
    const Snapshot& ref = big ? m_refBig : m_refNew;
    auto stagingDir = [&]() -> fs::path {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(out, ec))
            if (e.path().filename().string().rfind(".shardscope-staging-", 0) == 0) return e.path();
        return {};
    };

    Run r;
    QString when;
    if (!big) {
        // The index is the last write before verification: the run stops itself there.
        auto p = start({"consolidate", QString::fromStdString(in.string()),
                        QString::fromStdString(out.string()), "--overwrite", "--verify",
                        "--threads", "1"},
                       "write:" + QString::number(m_writes - 2) + ":pause");
        QVERIFY(waitStopped(p->processId()));
        const fs::path staging = stagingDir();
        QVERIFY(!staging.empty());
        QVERIFY(!fs::exists(staging / "model.safetensors.index.json") ||
                fs::file_size(staging / "model.safetensors.index.json") == 0);
        if (how == "pause-int") {
            ::kill(pid_t(p->processId()), SIGINT);
        } else { // flip a byte at the end of the first data file
            const fs::path file = staging / "model-00001-of-00003.safetensors";
            QFile f(QString::fromStdString(file.string()));
            QVERIFY(f.open(QIODevice::ReadWrite));
            QVERIFY(f.seek(f.size() - 3));
            char c = 0;
            QVERIFY(f.getChar(&c));
            QVERIFY(f.seek(f.size() - 3));
            QVERIFY(f.putChar(char(c ^ 0x40)));
            f.close();
        }
        ::kill(pid_t(p->processId()), SIGCONT);
        r = finish(*p);
    } else {
        auto p = start({"consolidate", QString::fromStdString(in.string()),
                        QString::fromStdString(out.string()), "--overwrite", "--verify"});
        // The staged index is written right before verification starts.
        QElapsedTimer t;
        t.start();
        bool verifying = false;
        while (!verifying && t.elapsed() < 20000 && p->state() == QProcess::Running) {
            const fs::path staging = stagingDir();
            std::error_code ec;
            verifying =
                !staging.empty() && fs::exists(staging / "model.safetensors.index.json", ec);
            if (!verifying) QThread::usleep(100);
        }
        ::kill(pid_t(p->processId()), how == "big-int" ? SIGINT : SIGTERM);
        r = finish(*p);
        when = verifying ? "" : " (signal came late)";
    }
    const QString disk = classify(out, before, ref, in);
    const QStringList left = leftovers(out);
    matrix(QTest::currentDataTag(), r,
           disk + when + (left.isEmpty() ? "" : " + " + left.join(',')));

    QVERIFY2(!r.killed, qPrintable(r.err));
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
    if (how == "pause-damage") {
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("verification of the new files failed, so they were not published"),
                 qPrintable(r.err));
        QVERIFY2(r.err.contains("is unchanged"), qPrintable(r.err));
        QCOMPARE(disk, QString("unchanged"));
    } else if (r.code == 1) {
        QVERIFY2(r.err.startsWith("shardscope-cli: cancelled. ") && r.err.contains("is unchanged"),
                 qPrintable(r.err));
        QCOMPARE(disk, QString("unchanged"));
    } else {
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("verified byte for byte before publishing"), qPrintable(r.out));
        QCOMPARE(disk, QString("new export"));
    }
}

// ---- resource limits -------------------------------------------------------------------------

void TestFaults::fileSizeLimit() {
    const fs::path out = m_tmp->filePath("out").toStdString();
    Snapshot before;
    QVERIFY(makePrevious(out, before));
    // Below every data file's size, above the lock file, journal and index: only the child.
    const Run r = run({"consolidate", QString::fromStdString(m_in2.string()),
                       QString::fromStdString(out.string()), "--overwrite", "--threads", "1"},
                      {}, [] {
                          struct rlimit limit {
                              512 << 10, 512 << 10
                          };
                          ::setrlimit(RLIMIT_FSIZE, &limit);
                      });
    const QString disk = classify(out, before, m_refNew, m_in2);
    const QStringList left = leftovers(out);
    matrix("RLIMIT_FSIZE 512 KiB", r, disk + (left.isEmpty() ? "" : " + " + left.join(',')));
    QVERIFY2(!r.killed, "killed: SIGXFSZ not ignored");
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains(std::strerror(EFBIG)), qPrintable(r.err));
    QVERIFY2(r.err.contains("model-0000"), qPrintable(r.err));
    QVERIFY2(r.err.contains("is unchanged"), qPrintable(r.err));
    QCOMPARE(disk, QString("unchanged"));
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
}

void TestFaults::fullDisk_data() {
    QTest::addColumn<bool>("afterPreflight");
    QTest::newRow("ENOSPC tmpfs, filled after preflight") << true;
    QTest::newRow("ENOSPC tmpfs, too small at preflight") << false;
}

void TestFaults::fullDisk() {
    QFETCH(bool, afterPreflight);
    if (::geteuid() != 0) QSKIP("a small file system needs root to mount a tmpfs");
    const QString mountPoint = m_tmp->filePath("small");
    QVERIFY(QDir().mkpath(mountPoint));
    if (::mount("tmpfs", mountPoint.toLocal8Bit().constData(), "tmpfs", MS_NOSUID | MS_NODEV,
                "size=24m,mode=0755") != 0)
        QSKIP(qPrintable(QString("cannot mount a tmpfs (%1); no other way to a full disk "
                                 "without preflight noticing")
                             .arg(std::strerror(errno))));
    m_mounts << mountPoint;
    struct Unmount {
        QString path;
        QStringList& list;
        ~Unmount() {
            ::umount2(path.toLocal8Bit().constData(), MNT_DETACH);
            list.removeAll(path);
        }
    } unmount{mountPoint, m_mounts};

    const fs::path out = (mountPoint + "/out").toStdString();
    const fs::path filler = (mountPoint + "/filler").toStdString();
    Snapshot before;
    QVERIFY(makePrevious(out, before));
    auto fill = [&](uint64_t leave) {
        struct statvfs vfs {};
        if (::statvfs(mountPoint.toLocal8Bit().constData(), &vfs) != 0) return false;
        const uint64_t free = uint64_t(vfs.f_bavail) * vfs.f_frsize;
        if (free <= leave) return true;
        const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT, 0644);
        const bool ok = fd >= 0 && ::posix_fallocate(fd, 0, off_t(free - leave)) == 0;
        if (fd >= 0) ::close(fd);
        return ok;
    };
    const QStringList args{"consolidate",
                           QString::fromStdString(m_in2.string()),
                           QString::fromStdString(out.string()),
                           "--overwrite",
                           "--threads",
                           "1"};
    Run r;
    if (afterPreflight) {
        // Preflight sees room; the disk fills while the run is held at its first write.
        auto p = start(args, "write:1:pause");
        QVERIFY(waitStopped(p->processId()));
        QVERIFY(fill(1 << 20));
        ::kill(pid_t(p->processId()), SIGCONT);
        r = finish(*p);
    } else {
        QVERIFY(fill(2 << 20));
        r = run(args);
    }
    const QString disk = classify(out, before, m_refNew, m_in2);
    const QStringList left = leftovers(out);
    matrix(QTest::currentDataTag(), r, disk + (left.isEmpty() ? "" : " + " + left.join(',')));
    QVERIFY2(!r.killed, qPrintable(r.err));
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains(afterPreflight ? std::strerror(ENOSPC) : "not enough free space"),
             qPrintable(r.err));
    QCOMPARE(disk, QString("unchanged"));
    if (afterPreflight) QVERIFY2(r.err.contains("is unchanged"), qPrintable(r.err));
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
}

// ---- two runs into one directory -------------------------------------------------------------

void TestFaults::concurrentRun() {
    const fs::path out = m_tmp->filePath("out").toStdString();
    Snapshot before;
    QVERIFY(makePrevious(out, before));
    const QStringList args{"consolidate",
                           QString::fromStdString(m_in2.string()),
                           QString::fromStdString(out.string()),
                           "--overwrite",
                           "--threads",
                           "1"};
    auto a = start(args, "write:3:pause");
    const qint64 pidA = a->processId();
    QVERIFY(waitStopped(pidA));

    QElapsedTimer t;
    t.start();
    const Run b = run(args);
    const qint64 ms = t.elapsed();
    const QString diskAfterB = snapshot(out) == before ? "unchanged" : "CHANGED";
    ::kill(pid_t(pidA), SIGCONT);
    const Run ra = finish(*a);
    const QString disk = classify(out, before, m_refNew, m_in2);
    const QStringList left = leftovers(out);
    matrix("concurrent run B while A holds the lock", b,
           "after B: " + diskAfterB + "; A then rc=" + ra.rc() + " → " + disk +
               (left.isEmpty() ? "" : " + " + left.join(',')));

    QCOMPARE(b.code, 1);
    QVERIFY2(ms < 5000, qPrintable(QString("B took %1 ms").arg(ms)));
    QVERIFY2(b.err.contains("another ShardScope run is writing to"), qPrintable(b.err));
    QVERIFY2(b.err.contains(QString("(pid %1)").arg(pidA)), qPrintable(b.err));
    QCOMPARE(diskAfterB, QString("unchanged"));
    QVERIFY2(ra.code == 0, qPrintable(ra.err));
    QCOMPARE(disk, QString("new export"));
    QVERIFY(sidecarsMatch(out, m_in2));
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
}

// ---- a first run that does not finish, and a refused one ------------------------------------

void TestFaults::cancelledFirstRun_data() {
    QTest::addColumn<QString>("outName");
    QTest::addColumn<QString>("fault");
    QTest::newRow("first run cancelled, new OUT") << "out"
                                                  << "write:5:int";
    QTest::newRow("first run failed, new OUT") << "out"
                                               << "write:5";
    QTest::newRow("first run cancelled, new OUT and parents") << "new/parents/out"
                                                              << "write:5:int";
}

void TestFaults::cancelledFirstRun() {
    QFETCH(QString, outName);
    QFETCH(QString, fault);
    const fs::path out = m_tmp->filePath(outName).toStdString();
    const fs::path firstNew = m_tmp->filePath(outName.section('/', 0, 0)).toStdString();
    const Run r = run({"consolidate", QString::fromStdString(m_in2.string()),
                       QString::fromStdString(out.string()), "--threads", "1"},
                      fault);
    std::error_code ec;
    const QString disk =
        fs::exists(firstNew, ec)
            ? (fs::exists(out, ec)
                   ? "OUT left: " +
                         QDir(QString::fromStdString(out.string()))
                             .entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot)
                             .join(',')
                   : "OUT removed, but created parent " + outName.section('/', 0, 0) + " left")
            : "no OUT";
    matrix(QTest::currentDataTag(), r, disk);
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains(fault.endsWith(":int") ? "shardscope-cli: cancelled. "
                                                   : "shardscope-cli: error: "),
             qPrintable(r.err));
    QVERIFY2(r.err.contains("did not exist before and was removed"), qPrintable(r.err));
    QVERIFY2(!fs::exists(out, ec), "OUT was left behind");
    // "Nothing was left behind": no directory the run created stays either.
    QVERIFY2(!fs::exists(firstNew, ec),
             qPrintable("the run created and left " + outName.section('/', 0, 0)));
}

void TestFaults::refusedWithoutOverwrite() {
    const fs::path out = m_tmp->filePath("out").toStdString();
    Snapshot before;
    QVERIFY(makePrevious(out, before));
    const Run r = run({"consolidate", QString::fromStdString(m_in2.string()),
                       QString::fromStdString(out.string())});
    const QString disk = classify(out, before, m_refNew, m_in2);
    const QStringList left = leftovers(out);
    matrix("no --overwrite into an export", r,
           disk + (left.isEmpty() ? "" : " + " + left.join(',')));
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("already holds output from an earlier run"), qPrintable(r.err));
    QCOMPARE(disk, QString("unchanged"));
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
}

// Removing the replaced set after publishing fails: the new export is complete and in place,
// verify names what is left, and the next run removes it and says so.
void TestFaults::cleanupCutShort() {
    const fs::path out = m_tmp->filePath("out").toStdString();
    Snapshot before;
    QVERIFY(makePrevious(out, before));
    const QString in2 = QString::fromStdString(m_in2.string());
    const QString outText = QString::fromStdString(out.string());
    const Run r = run({"consolidate", in2, outText, "--overwrite"}, "remove:1");
    const QString disk = classify(out, before, m_refNew, m_in2);
    matrix("remove:1 (cleanup after publishing)", r,
           disk + " + " + leftovers(out, false).join(','));
    QCOMPARE(r.code, 0);
    QCOMPARE(disk, QString("new export"));
    QVERIFY(!leftovers(out, false).isEmpty());
    const Run verify = run({"verify", outText, "--against", in2});
    QCOMPARE(verify.code, 0);
    QVERIFY2(verify.err.contains("left by an interrupted ShardScope run"), qPrintable(verify.err));
    const Run next = run({"consolidate", in2, outText, "--overwrite"});
    QCOMPARE(next.code, 0);
    QVERIFY2(next.err.contains("note: "), qPrintable(next.err));
    QVERIFY2(leftovers(out).isEmpty(), qPrintable(leftovers(out).join(", ")));
    QCOMPARE(classify(out, before, m_refNew, m_in2), QString("new export"));
}

QTEST_GUILESS_MAIN(TestFaults)
#include "tst_faults.moc"
