// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "shard_builder.h"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>

using namespace testing;
namespace fs = std::filesystem;

// The CLI as users run it: a separate process, judged by exit code and output.
class TestCli : public QObject {
    Q_OBJECT

private slots:
    void init();
    void usageErrorsExitTwo_data();
    void usageErrorsExitTwo();
    void helpExitsZero();
    void commandHelpExitsZero_data();
    void commandHelpExitsZero();
    void versionExitsZero();
    void outputThatCannotBeWrittenFails();
    void doubleDashEndsOptions();
    void inspectCancelledBySigint();
    void demoInspectConsolidateVerify();
    void inspectJsonIsComplete();
    void badInputExitsOneAndWritesNothing();
    void controlCharactersInNamesAreEscaped();
    void unmappedPolicyFromTheCommandLine();
    void verifyFailsOnDamage();
    void aFileIsNamedAsTheFile();
    void demoRefusesNonEmptyDirectory();
    void moreShardFilesThanTheSoftLimit();
    void allocatorOptionsReachTheRestartedProgram();

private:
    using Result = CliResult;
    Result run(const QStringList& args) { return runCli(args, m_tmp->path()); }
    std::unique_ptr<QTemporaryDir> m_tmp;
    QString path(const char* name) const { return m_tmp->filePath(name); }
};

void TestCli::init() {
    QVERIFY2(!qgetenv("SHARDSCOPE_CLI").isEmpty(), "run through ctest, which sets SHARDSCOPE_CLI");
    m_tmp = std::make_unique<QTemporaryDir>();
}

void TestCli::usageErrorsExitTwo_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("expected");
    QTest::newRow("no command") << QStringList{} << "Usage:";
    QTest::newRow("only --") << QStringList{"--"} << "no command given";
    QTest::newRow("unknown command") << QStringList{"frobnicate"} << "unknown command 'frobnicate'";
    QTest::newRow("unknown option")
        << QStringList{"inspect", "x", "--bogus"} << "unknown option --bogus";
    QTest::newRow("option of another command")
        << QStringList{"verify", "out", "--mapping", "x", "--json", "--sync"}
        << "verify does not take --mapping";
    QTest::newRow("demo --overwrite")
        << QStringList{"demo", "dir", "--overwrite"} << "demo does not take --overwrite";
    QTest::newRow("inspect --sync")
        << QStringList{"inspect", "x", "--sync"} << "inspect does not take --sync";
    QTest::newRow("option before the command")
        << QStringList{"--json", "inspect", "x"} << "misplaced option --json";
    QTest::newRow("--version after the command")
        << QStringList{"inspect", "x", "--version"} << "--version goes before the command";
    QTest::newRow("mapping value is an option")
        << QStringList{"inspect", "x", "--mapping", "--json"}
        << "--mapping needs a file, not the option '--json'";
    QTest::newRow("against value is an option")
        << QStringList{"verify", "out", "--against", "-q"} << "--against needs a directory";
    QTest::newRow("missing argument")
        << QStringList{"consolidate", "only-one"} << "OUT is required";
    QTest::newRow("no arguments") << QStringList{"demo"} << "DIR is required";
    QTest::newRow("extra argument")
        << QStringList{"inspect", "a", "b"} << "unexpected argument 'b'";
    QTest::newRow("option after --")
        << QStringList{"consolidate", "--", "a", "b", "--quiet"} << "unexpected argument '--quiet'";
    QTest::newRow("threads zero") << QStringList{"consolidate", "a", "b", "--threads", "0"}
                                  << "--threads takes a number from 1 to 256, not '0'";
    QTest::newRow("threads 257") << QStringList{"consolidate", "a", "b", "--threads=257"}
                                 << "--threads takes a number from 1 to 256, not '257'";
    QTest::newRow("threads x") << QStringList{"consolidate", "a", "b", "--threads", "x"}
                               << "--threads takes a number from 1 to 256, not 'x'";
    QTest::newRow("threads without value")
        << QStringList{"consolidate", "a", "b", "--threads"} << "--threads needs a value";
    QTest::newRow("bad policy") << QStringList{"consolidate", "a", "b", "--unmapped", "drop"}
                                << "--unmapped takes 'error' or 'last', not 'drop'";
    QTest::newRow("policy maybe") << QStringList{"inspect", "x", "--unmapped", "maybe"}
                                  << "--unmapped takes 'error' or 'last', not 'maybe'";
    QTest::newRow("mapping without value")
        << QStringList{"consolidate", "a", "b", "--mapping"} << "--mapping needs a value";
}

void TestCli::usageErrorsExitTwo() {
    QFETCH(QStringList, args);
    QFETCH(QString, expected);
    Result r = run(args);
    QCOMPARE(r.code, 2);
    QVERIFY2(r.err.contains(expected), qPrintable(r.err));
    QVERIFY2(r.err.contains("--help"), qPrintable(r.err)); // where to read on
    QVERIFY(r.out.isEmpty());
    QCOMPARE(QDir(m_tmp->path()).entryList(QDir::AllEntries | QDir::NoDotAndDotDot),
             QStringList{}); // nothing was written
}

void TestCli::helpExitsZero() {
    for (const char* flag : {"--help", "-h", "help"}) {
        Result r = run({flag});
        QCOMPARE(r.code, 0);
        QVERIFY(r.err.isEmpty());
        QVERIFY(r.out.contains("consolidate IN OUT"));
        QVERIFY(r.out.contains("publish"));
        QVERIFY(r.out.contains("Exit codes: 0 success, 1 bad input or failed run, 2 usage error"));
    }
}

void TestCli::commandHelpExitsZero_data() {
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("expected");
    QTest::newRow("consolidate") << QStringList{"consolidate", "--help"}
                                 << QStringList{
                                        "Usage: shardscope-cli consolidate [OPTIONS] IN OUT",
                                        "--overwrite",
                                        "--verify",
                                        "--sync",
                                        "--threads N",
                                        "--unmapped error|last",
                                        "staged"};
    QTest::newRow("consolidate -h after arguments")
        << QStringList{"consolidate", "a", "b", "-h"} << QStringList{"--overwrite"};
    QTest::newRow("stats") << QStringList{"stats", "--help"}
                           << QStringList{"--tensor REGEX ", "--threads N "};
    QTest::newRow("check") << QStringList{"check", "--help"}
                           << QStringList{"--fail-on LIST ", "--norm-spread X ",
                                          "--min-elements N "};
    QTest::newRow("diff") << QStringList{"diff", "--help"} << QStringList{"--atol X ", "--rtol Y "};
    QTest::newRow("inspect") << QStringList{"inspect", "--help"}
                             << QStringList{"inspect [OPTIONS] DIR", "--json", "--mapping FILE"};
    QTest::newRow("verify") << QStringList{"verify", "-h"}
                            << QStringList{"verify [OPTIONS] OUT", "--against"};
    QTest::newRow("demo") << QStringList{"demo", "--help"} << QStringList{"demo [OPTIONS] DIR"};
}

void TestCli::commandHelpExitsZero() {
    QFETCH(QStringList, args);
    QFETCH(QStringList, expected);
    Result r = run(args);
    QCOMPARE(r.code, 0);
    QVERIFY(r.err.isEmpty());
    for (const auto& text : expected)
        QVERIFY2(r.out.contains(text), qPrintable(text + " missing from\n" + r.out));
    QVERIFY(r.out.contains("Exit codes:"));
    // Placeholders read as one word: "--tensor REGEX:REGEX" and "--atol X:X>=0" were shown.
    const QRegularExpressionMatch garbled =
        QRegularExpression(R"(--[a-z-]+ [A-Za-z|]+:\S*)").match(r.out);
    QVERIFY2(!garbled.hasMatch(), qPrintable(garbled.captured(0)));
}

void TestCli::versionExitsZero() {
    Result r = run({"--version"});
    QCOMPARE(r.code, 0);
    QVERIFY(r.err.isEmpty());
    QVERIFY2(QRegularExpression(R"(^shardscope-cli \d+\.\d+\.\d+\n$)").match(r.out).hasMatch(),
             qPrintable(r.out));
}

// Output to a full disk (/dev/full) or a closed descriptor: exit 0 with the table or JSON lost
// looked like success. Diff says "no answer" (2), the others fail (1); what reached stdout
// before is the caller's to discard.
void TestCli::outputThatCannotBeWrittenFails() {
    Result demo = run({"demo", "ckpt"});
    QCOMPARE(demo.code, 0);
    const QString ckpt = path("ckpt");
    struct Case {
        QStringList args;
        int code;
    };
    const Case cases[] = {{{"stats", ckpt, "--json"}, 1},
                          {{"stats", ckpt}, 1},
                          {{"check", ckpt, "--json"}, 1},
                          {{"inspect", ckpt}, 1},
                          {{"diff", ckpt, ckpt, "--json"}, 2},
                          {{"diff", ckpt, ckpt, "--all"}, 2},
                          {{"--version"}, 1},
                          {{"stats", "--help"}, 1}};
    for (const Case& c : cases) {
        for (bool closed : {false, true}) {
            QProcess p;
            if (closed) { // the shell's >&-: the program starts with descriptor 1 closed
                p.setProgram("/bin/sh");
                p.setArguments(QStringList{"-c", "exec \"$0\" \"$@\" >&-",
                                           QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI"))} +
                               c.args);
            } else {
                p.setProgram(QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI")));
                p.setArguments(c.args);
                p.setStandardOutputFile("/dev/full");
            }
            p.start();
            QVERIFY(p.waitForFinished(60000));
            const QString ctx = c.args.join(' ') + (closed ? " >&-" : " > /dev/full");
            const QString err = QString::fromUtf8(p.readAllStandardError());
            QVERIFY2(p.exitStatus() == QProcess::NormalExit, qPrintable(ctx));
            QVERIFY2(p.exitCode() == c.code, qPrintable(ctx + ": " + err));
            QVERIFY2(err.contains("the output could not be written"), qPrintable(ctx + ": " + err));
        }
    }
    // The same commands with somewhere to write still succeed.
    QCOMPARE(run({"stats", ckpt, "--json"}).code, 0);
    QCOMPARE(run({"diff", ckpt, ckpt}).code, 0);
}

void TestCli::doubleDashEndsOptions() {
    // Relative names resolve in the sandbox, the process's working directory.
    Result demo = run({"demo", "--", "-dir"});
    QVERIFY2(demo.code == 0, qPrintable(demo.err));
    QVERIFY(QFile::exists(path("-dir/.hf_metadata/config.json")));
    Result inspect = run({"inspect", "--json", "--", "-dir"});
    QVERIFY2(inspect.code == 0, qPrintable(inspect.err));
    Result cons = run({"consolidate", "--quiet", "--", "-dir", "-out"});
    QVERIFY2(cons.code == 0, qPrintable(cons.err));
    QCOMPARE(run({"verify", "--against=./-dir", "--", "-out"}).code, 0);
}

void TestCli::demoInspectConsolidateVerify() {
    Result demo = run({"demo", path("demo")});
    QCOMPARE(demo.code, 0);
    Result inspect = run({"inspect", path("demo")});
    QCOMPARE(inspect.code, 0);
    QVERIFY(inspect.out.contains("lm_head.weight  BF16 [1024, 256]"));
    QVERIFY(inspect.out.contains("No problems"));
    QVERIFY(inspect.out.contains("model-00003-of-00003.safetensors"));

    Result cons = run({"consolidate", path("demo"), path("out"), "--threads", "2"});
    QVERIFY2(cons.code == 0, qPrintable(cons.err));
    QVERIFY2(cons.out.contains("Wrote 3 file(s)"), qPrintable(cons.out));
    QVERIFY(cons.out.contains("GiB/s"));
    QVERIFY(QFile::exists(path("out/model.safetensors.index.json")));
    QVERIFY(QFile::exists(path("out/config.json")));
    QVERIFY(QFile::exists(path("demo/.hf_metadata/config.json")));

    Result verify = run({"verify", path("out"), "--against", path("demo")});
    QVERIFY2(verify.code == 0, qPrintable(verify.err));
    QVERIFY(verify.out.startsWith("OK: 3 file(s), 46 tensors"));

    Result again = run({"consolidate", path("demo"), path("out"), "--quiet"});
    QCOMPARE(again.code, 1);
    QVERIFY(again.err.contains("already holds output"));
    Result overwrite = run({"consolidate", path("demo"), path("out"), "--overwrite", "--quiet"});
    QCOMPARE(overwrite.code, 0);
    QVERIFY(overwrite.out.isEmpty());
}

void TestCli::inspectJsonIsComplete() {
    QCOMPARE(run({"demo", path("demo")}).code, 0);
    Result r = run({"inspect", path("demo"), "--json"});
    QCOMPARE(r.code, 0);
    QJsonParseError error;
    const QJsonObject doc = QJsonDocument::fromJson(r.out.toUtf8(), &error).object();
    QCOMPARE(error.error, QJsonParseError::NoError);
    QVERIFY(doc["consolidatable"].toBool());
    QCOMPARE(doc["files"].toArray().size(), 4);
    const QJsonArray tensors = doc["tensors"].toArray();
    QCOMPARE(tensors.size(), 46);
    bool sawBlocks = false;
    for (const auto& v : tensors) {
        const QJsonObject t = v.toObject();
        QCOMPARE(t["coverage"].toString(), QString("complete"));
        QVERIFY(t["target"].toString().startsWith("model-0000"));
        if (t["fqn"].toString() == "lm_head.weight") {
            sawBlocks = true;
            const QJsonArray chunks = t["chunks"].toArray();
            QCOMPARE(chunks.size(), 4);
            QCOMPARE(chunks[3].toObject()["saved_offsets"].toArray(), (QJsonArray{512, 128}));
            QCOMPARE(chunks[3].toObject()["shape"].toArray(), (QJsonArray{512, 128}));
            QCOMPARE(chunks[3].toObject()["data_offsets"].toArray().size(), 2);
        }
    }
    QVERIFY(sawBlocks);
    QCOMPARE(doc["problems"].toArray().size(), 0);
}

// A name holding a newline or an escape sequence never reaches the terminal raw: the text
// output writes it escaped on one line, the JSON output keeps the name itself.
void TestCli::controlCharactersInNamesAreEscaped() {
    const fs::path dir = path("ctl").toStdString();
    const std::string name = "evil\x1b[2J\nname\x7f";
    fs::create_directories(dir);
    writeShard(dir / "shard-1.safetensors", {{name, "U8", {0}, {2}, "ab"}});
    writeShard(dir / "shard-2.safetensors", {{name, "U8", {4}, {2}, "cd"}}); // a gap at [2:4]
    for (const QStringList& args : {QStringList{"inspect", path("ctl")},
                                    QStringList{"consolidate", path("ctl"), path("out")}}) {
        Result r = run(args);
        QCOMPARE(r.code, 1);
        const QString all = r.out + r.err;
        QVERIFY2(!all.contains(QChar(0x1b)) && !all.contains(QChar(0x7f)), qPrintable(all));
        QVERIFY2(all.contains("evil\\x1b[2J\\nname\\x7f"), qPrintable(all));
        for (const QString& line : all.split('\n'))
            QVERIFY2(!line.startsWith("name"), qPrintable(all)); // never split over two lines
    }
    Result json = run({"inspect", path("ctl"), "--json"});
    const QJsonArray tensors =
        QJsonDocument::fromJson(json.out.toUtf8()).object()["tensors"].toArray();
    QCOMPARE(tensors.size(), 1);
    QCOMPARE(tensors[0].toObject()["name"].toString(), QString::fromStdString(name));

    // A backslash is escaped as well, so "a\\n" typed out and "a" + newline print apart; line
    // and paragraph separators and bidi controls (which reorder what a terminal shows) too.
    const fs::path two = path("two").toStdString();
    fs::create_directories(two);
    const std::string typed = "a\\n", newline = "a\n", bidi = "b\u202egnp.x\u2028y\u00e9";
    writeShard(two / "shard-1.safetensors", {{typed, "U8", {0}, {2}, "ab"},
                                             {newline, "U8", {0}, {2}, "cd"},
                                             {bidi, "U8", {0}, {2}, "ef"}});
    Result listed = run({"inspect", path("two")});
    QVERIFY2(listed.out.contains("a\\\\n  U8") && listed.out.contains("a\\n  U8"),
             qPrintable(listed.out));
    QVERIFY2(listed.out.contains("b\\u202egnp.x\\u2028y\u00e9  U8"), qPrintable(listed.out));
}

void TestCli::badInputExitsOneAndWritesNothing() {
    const fs::path dir = path("bad").toStdString();
    writeCheckpoint(dir, {{"w", "F32", {4, 4}, splitDim({4, 4}, 0, 2)}}, 2);
    writeShard(dir / "shard-9.safetensors", {{"g", "U8", {0, 0}, {1, 2}, "ab"}});
    writeShard(dir / "shard-10.safetensors", {{"g", "U8", {2, 0}, {1, 2}, "cd"}});
    Result inspect = run({"inspect", path("bad")});
    QCOMPARE(inspect.code, 1);
    QVERIFY(inspect.out.contains("gap"));
    Result json = run({"inspect", path("bad"), "--json"});
    QCOMPARE(json.code, 1);
    QVERIFY(!QJsonDocument::fromJson(json.out.toUtf8()).object()["consolidatable"].toBool());
    Result cons = run({"consolidate", path("bad"), path("out")});
    QCOMPARE(cons.code, 1);
    QVERIFY2(
        cons.err.contains("tensor 'g': gap: 2 of 6 elements are in no chunk, first at [1:2, 0:2]"),
        qPrintable(cons.err));
    QVERIFY(outputLeftovers(path("out").toStdString()).empty());

    writeRaw(dir / "shard-9.safetensors", "{\"g\":", "");
    Result broken = run({"consolidate", path("bad"), path("out")});
    QCOMPARE(broken.code, 1);
    QVERIFY2(broken.err.contains("shard-9.safetensors: header not valid JSON"),
             qPrintable(broken.err));
    QVERIFY(outputLeftovers(path("out").toStdString()).empty());

    Result missing = run({"inspect", path("nowhere")});
    QCOMPARE(missing.code, 1);
    QVERIFY(missing.err.contains("not a directory"));
}

void TestCli::unmappedPolicyFromTheCommandLine() {
    const fs::path dir = path("ck").toStdString();
    writeCheckpoint(
        dir, {{"a", "F32", {4}, splitDim({4}, 0, 2)}, {"b", "U8", {3}, splitDim({3}, 0, 1)}}, 2);
    std::ofstream(path("map.json").toStdString()) << R"({"a": 1, "tied": 2})";
    Result strict = run({"consolidate", path("ck"), path("out"), "--mapping", path("map.json")});
    QCOMPARE(strict.code, 1);
    QVERIFY(strict.err.contains("not in the mapping: b"));
    QVERIFY(outputLeftovers(path("out").toStdString()).empty());
    Result last = run({"consolidate", path("ck"), path("out"), "--mapping=" + path("map.json"),
                       "--unmapped", "last"});
    QVERIFY2(last.code == 0, qPrintable(last.err));
    QVERIFY(last.err.contains("warning"));
    QVERIFY(QFile::exists(path("out/model-00002-of-00002.safetensors")));
    QCOMPARE(run({"verify", path("out"), "--against", path("ck")}).code, 0);
}

// One .safetensors file opened (or given where a folder is wanted) is named as that file:
// "Checkpoint: hf" and "error: hf/model.safetensors/model.safetensors.index.json: missing" were
// shown.
void TestCli::aFileIsNamedAsTheFile() {
    QCOMPARE(run({"demo", path("demo")}).code, 0);
    QCOMPARE(run({"consolidate", path("demo"), path("out"), "--quiet"}).code, 0);
    const QString file = path("out/model-00003-of-00003.safetensors");
    Result inspect = run({"inspect", file});
    QCOMPARE(inspect.code, 0);
    QVERIFY2(inspect.out.startsWith("Checkpoint: " + file + "\n  one safetensors file: "),
             qPrintable(inspect.out));
    Result verify = run({"verify", file});
    QCOMPARE(verify.code, 1);
    QVERIFY2(verify.err.contains(file + ": not a directory") && !verify.err.contains("index.json"),
             qPrintable(verify.err));
    Result missing = run({"verify", path("nothing")});
    QCOMPARE(missing.code, 1);
    QVERIFY2(missing.err.contains(path("nothing") + ": no such directory"),
             qPrintable(missing.err));
    // A file with no tensors: nothing to export, said of the file.
    QFile empty(path("empty.safetensors"));
    QVERIFY(empty.open(QIODevice::WriteOnly));
    empty.write(QByteArray("\x08\0\0\0\0\0\0\0{}      ", 16));
    empty.close();
    Result nothing = run({"inspect", path("empty.safetensors")});
    QCOMPARE(nothing.code, 1);
    QVERIFY2(nothing.out.contains("error: " + path("empty.safetensors") + ": nothing to export"),
             qPrintable(nothing.out));
    QVERIFY2(nothing.err.contains(path("empty.safetensors") + " cannot be consolidated"),
             qPrintable(nothing.err));
}

void TestCli::verifyFailsOnDamage() {
    QCOMPARE(run({"demo", path("demo")}).code, 0);
    QCOMPARE(run({"consolidate", path("demo"), path("out"), "--quiet"}).code, 0);
    QFile f(path("out/model-00003-of-00003.safetensors"));
    QVERIFY(f.open(QIODevice::ReadWrite));
    f.seek(f.size() - 1);
    char c;
    f.getChar(&c);
    f.seek(f.size() - 1);
    f.putChar(char(c ^ 1));
    f.close();
    Result r = run({"verify", path("out"), "--against", path("demo")});
    QCOMPARE(r.code, 1);
    QVERIFY2(r.err.contains("differ from"), qPrintable(r.err));
    QVERIFY(r.err.contains("FAILED"));
}

void TestCli::demoRefusesNonEmptyDirectory() {
    QDir().mkpath(path("full"));
    QFile f(path("full/keep.txt"));
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("mine");
    f.close();
    Result r = run({"demo", path("full")});
    QCOMPARE(r.code, 1);
    QVERIFY(r.err.contains("not empty"));
    QVERIFY(QFile::exists(path("full/keep.txt")));
}

void TestCli::moreShardFilesThanTheSoftLimit() {
    // 300 rank files under a soft limit of 256 open files: the CLI lifts the limit itself.
    const fs::path dir = path("ranks").toStdString();
    fs::create_directories(dir);
    std::string full;
    for (int r = 0; r < 300; ++r) {
        const std::string row = pattern("w" + std::to_string(r), 4);
        full += row;
        char name[64];
        std::snprintf(name, sizeof name, "shard-%05d.safetensors", r);
        writeShard(dir / name, {{"w", "U8", {uint64_t(r), 0}, {1, 4}, row}});
    }
    QProcess p;
    p.start("sh",
            {"-c", "ulimit -Sn 256 && exec \"$0\" consolidate \"$1\" \"$2\" --quiet",
             QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI")), path("ranks"), path("ranks-out")});
    QVERIFY(p.waitForFinished(60000));
    QVERIFY2(p.exitCode() == 0, p.readAllStandardError().constData());
    QCOMPARE(readOutput(path("ranks-out").toStdString()).at("w").bytes, full);
}

// Ctrl+C during a scan: exit 1 with the cancel message, or exit 0 with complete output when the
// scan had already finished; never a hang or a death by signal.
void TestCli::inspectCancelledBySigint() {
    // 300 files x 1000 tensors, a row of each tensor per file: 300,000 chunks to scan.
    constexpr int kFiles = 300, kTensors = 1000;
    const fs::path dir = path("big").toStdString();
    fs::create_directories(dir);
    for (int f = 0; f < kFiles; ++f) {
        std::vector<TestChunk> chunks;
        for (int t = 0; t < kTensors; ++t)
            chunks.push_back({"t" + std::to_string(t), "U8", {uint64_t(f), 0}, {1, 2}, "ab"});
        writeShard(dir / ("shard-" + std::to_string(f) + ".safetensors"), chunks);
    }
    QProcess p;
    p.start(QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI")), {"inspect", path("big"), "--json"});
    QVERIFY(p.waitForStarted());
    // Signal only once SIGINT is blocked (SignalStop is up); before that it would kill the process.
    QElapsedTimer waited;
    waited.start();
    bool ready = false;
    while (!ready && p.state() == QProcess::Running && waited.elapsed() < 30000) {
        QFile status(QString("/proc/%1/status").arg(p.processId()));
        if (status.open(QIODevice::ReadOnly))
            for (const QByteArray& line : status.readAll().split('\n'))
                if (line.startsWith("SigBlk:"))
                    ready = line.mid(7).trimmed().toULongLong(nullptr, 16) & (1ull << (SIGINT - 1));
        if (!ready) QTest::qWait(1);
    }
    if (ready) ::kill(pid_t(p.processId()), SIGINT);
    QVERIFY2(p.waitForFinished(60000), "inspect did not end after SIGINT");
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    const QByteArray out = p.readAllStandardOutput(), err = p.readAllStandardError();
    if (p.exitCode() == 1) {
        QVERIFY2(err.contains("shardscope-cli: cancelled; nothing was written"), err.constData());
        QVERIFY(out.isEmpty());
        return;
    }
    QCOMPARE(p.exitCode(), 0);
    qInfo("inspect finished before SIGINT arrived");
    QCOMPARE(QJsonDocument::fromJson(out).object()["tensors"].toArray().size(), kTensors);
}

// The program starts again with mimalloc's options in its environment (app/allocator.cpp).
// mimalloc's verbose mode prints the options each start read; the last start's values count.
void TestCli::allocatorOptionsReachTheRestartedProgram() {
    auto optionsSeen = [](const QStringList& env) {
        QProcess p;
        QProcessEnvironment e = QProcessEnvironment::systemEnvironment();
        e.remove("MIMALLOC_LARGE_OS_PAGES");
        e.remove("MIMALLOC_EAGER_COMMIT_DELAY");
        e.insert("MIMALLOC_VERBOSE", "1");
        for (const QString& kv : env)
            e.insert(kv.section('=', 0, 0), kv.section('=', 1));
        p.setProcessEnvironment(e);
        p.start(QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI")), {"--version"});
        p.waitForFinished(30000);
        std::map<QString, QString> last;
        int starts = 0;
        static const QRegularExpression option("^mimalloc: option '([a-z_]+)': (-?[0-9]+)$");
        for (const QString& line : QString::fromUtf8(p.readAllStandardError()).split('\n')) {
            if (line.startsWith("mimalloc: process init")) ++starts;
            const QRegularExpressionMatch m = option.match(line);
            if (m.hasMatch()) last[m.captured(1)] = m.captured(2);
        }
        return std::pair{starts, last};
    };
    const auto [starts, options] = optionsSeen({});
    if (starts == 0) QSKIP("this build does not use mimalloc (sanitizer and fuzz builds)");
    QCOMPARE(starts, 2);
    QCOMPARE(options.at("large_os_pages"), QString("1"));
    QCOMPARE(options.at("eager_commit_delay"), QString("0"));

    const auto [keptStarts, kept] = optionsSeen({"MIMALLOC_EAGER_COMMIT_DELAY=3"});
    QCOMPARE(keptStarts, 2);
    QCOMPARE(kept.at("large_os_pages"), QString("1"));
    QCOMPARE(kept.at("eager_commit_delay"), QString("3")); // the user's own setting

    const auto [offStarts, off] = optionsSeen({"MIMALLOC_LARGE_OS_PAGES=0"});
    QCOMPARE(offStarts, 1); // turned off: no second start
    QCOMPARE(off.at("large_os_pages"), QString("0"));
    QCOMPARE(off.at("eager_commit_delay"), QString("1")); // mimalloc's default
}

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
