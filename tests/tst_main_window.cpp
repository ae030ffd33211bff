// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "checkpoint.h"
#include "chunk_table_model.h"
#include "export_dialog.h"
#include "export_worker.h"
#include "main_window.h"
#include "output_set.h"
#include "problems_model.h"
#include "shard_builder.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"
#include "verify.h"

#include <QAbstractButton>
#include <QApplication>
#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QMessageBox>
#include <QProcess>
#include <QProgressBar>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QThreadPool>
#include <QTimer>

#include <filesystem>
#include <fstream>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

namespace {

// Content hash of every file directly in dir, dot-files (bookkeeping, staging) included.
std::map<QString, QByteArray> hashes(const QString& dir) {
    std::map<QString, QByteArray> out;
    for (const auto& entry : fs::directory_iterator(dir.toStdString())) {
        if (!entry.is_regular_file()) continue;
        QFile file(QString::fromStdString(entry.path().string()));
        if (!file.open(QIODevice::ReadOnly)) continue;
        QCryptographicHash hash(QCryptographicHash::Sha256);
        hash.addData(&file);
        out[QString::fromStdString(entry.path().filename().string())] = hash.result();
    }
    return out;
}

// Staging or set-aside directories a run left inside dir.
QStringList runLeftovers(const QString& dir) {
    QStringList out;
    for (const auto& entry : fs::directory_iterator(dir.toStdString())) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with(kStagingPrefix) || name.starts_with(kAsidePrefix))
            out << QString::fromStdString(name);
    }
    return out;
}

// The replace-existing-output question is modal (exec); answer it once it shows.
void answerNextQuestion(QMessageBox::StandardButton button, int attempts = 500) {
    QTimer::singleShot(10, [=] {
        if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget()))
            box->button(button)->click();
        else if (attempts > 0)
            answerNextQuestion(button, attempts - 1);
    });
}

ExportOutcome outcomeOf(const QSignalSpy& finished) {
    return finished.at(0).at(0).value<ExportOutcome>();
}

// What the dialog must say for an outcome that did not publish: the engine's words verbatim.
QString expectedFailureText(const ExportOutcome& outcome) {
    return outcome.cancelled ? "Export cancelled. " + outcome.onDisk
                             : "Export failed: " + outcome.cause + "\n" + outcome.onDisk;
}

} // namespace

class TestMainWindow : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void firstStartOpensTheDemo();
    void assignToNewFileAndExport();
    void cancelMidExportLeavesNothing();
    void exportIsBlockedByCoverageErrors();
    void unassignedTensorsBlockExportUntilAPolicy();
    void badDirectoryDoesNotReplaceTheOpenOne();
    void cancelWhileWritingRemovesTheNewDirectory();
    void cancelWhileVerifyingKeepsThePreviousExport();
    void publishingCannotBeCancelled();
    void lockedDirectoryShowsTheEnginesMessage();
    void newScanSupersedesTheRunningOne();
    void escapeWhileComparingReplicasDiscardsTheScan();
    void closingDuringAnExportReturnsPromptly();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    // Two 48 MiB tensors over 4 ranks: big enough that each engine phase takes a while.
    std::shared_ptr<const Checkpoint> bigCheckpoint(const QString& name) {
        const fs::path dir = m_tmp->filePath(name).toStdString();
        const Dims shape{1536, 32768};
        writeCheckpoint(
            dir,
            {{"a", "U8", shape, splitDim(shape, 1, 4)}, {"b", "U8", shape, splitDim(shape, 1, 4)}},
            4);
        return std::make_shared<const Checkpoint>(scanCheckpoint(dir));
    }
    // A previous export of `ckpt` in one file, as shardscope-cli would leave it.
    void exportWithCore(const Checkpoint& ckpt, const QString& out) {
        consolidate(ckpt, makePlan(ckpt, defaultMapping(ckpt), UnmappedPolicy::Error),
                    out.toStdString(), {});
    }
    bool openAndWait(MainWindow& w, const QString& dir) {
        QSignalSpy opened(&w, &MainWindow::checkpointOpened);
        w.openDirectory(dir);
        return opened.wait(30000);
    }
};

void TestMainWindow::initTestCase() {
    QStandardPaths::setTestModeEnabled(true); // settings and the demo go to a test location
    QCoreApplication::setOrganizationName("ShardScopeTest");
    QCoreApplication::setApplicationName("ShardScopeTest");
}

void TestMainWindow::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    QSettings().clear();
}

void TestMainWindow::firstStartOpensTheDemo() {
    QDir(MainWindow::demoDirectory()).removeRecursively();
    MainWindow w;
    w.show();
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    w.openStartupDirectory();
    QVERIFY(opened.wait(30000));
    QCOMPARE(w.directory(), QDir::cleanPath(MainWindow::demoDirectory()));
    QCOMPARE(w.tensorModel()->rowCount(), 46);
    QCOMPARE(w.document()->fileCount(), 3); // the .hf_metadata mapping is the starting point
    QCOMPARE(QSettings().value("recentDirectories").toStringList().value(0), w.directory());
    // A second start goes to the most recent directory.
    MainWindow again;
    QSignalSpy reopened(&again, &MainWindow::checkpointOpened);
    again.openStartupDirectory();
    QVERIFY(reopened.wait(30000));
    QCOMPARE(again.directory(), w.directory());
}

void TestMainWindow::assignToNewFileAndExport() {
    const QString demo = m_tmp->filePath("demo");
    fs::create_directories(demo.toStdString());
    {
        QProcess p;
        p.start(QString::fromLocal8Bit(qgetenv("SHARDSCOPE_CLI")), {"demo", demo + "/ckpt"});
        QVERIFY(p.waitForFinished(60000));
        QCOMPARE(p.exitCode(), 0);
    }
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, demo + "/ckpt"));
    auto ckpt = w.document()->checkpoint();
    const int lmHead = int(ckpt->find("lm_head.weight") - ckpt->tensors.data());
    w.selectTensor(lmHead);
    QCOMPARE(w.selectedTensors(), std::vector<size_t>{size_t(lmHead)});
    QCOMPARE(w.chunkModel()->rowCount(), 4); // the details pane follows the selection
    w.assignSelectionTo(w.document()->fileCount() + 1);
    QCOMPARE(w.document()->fileCount(), 4);
    QCOMPARE(w.document()->target(size_t(lmHead)), 4);

    ExportDialog* dialog = w.showExportDialog();
    QVERIFY(dialog);
    const QString out = m_tmp->filePath("exported");
    dialog->setOutputDirectory(out);
    QSignalSpy progress(dialog->worker(), &ExportWorker::progress);
    QSignalSpy finished(dialog, &ExportDialog::exportFinished);
    QVERIFY(dialog->startExport());
    QVERIFY(finished.wait(60000));
    const auto outcome = finished.at(0).at(0).value<ExportOutcome>();
    QVERIFY2(outcome.ok, qPrintable(outcome.cause));
    QVERIFY(outcome.result.verified);
    QVERIFY(dialog->resultText().contains("verified byte for byte before publishing"));

    // Progress: phases in order, bytes monotonic within each phase, ending with Done.
    QVERIFY(progress.count() >= 2);
    ExportProgress last;
    for (const auto& args : progress) {
        const auto p = args.at(0).value<ExportProgress>();
        QVERIFY(p.phase >= last.phase);
        if (p.phase == last.phase) QVERIFY(p.bytesDone >= last.bytesDone);
        QVERIFY(p.bytesDone <= p.bytesTotal);
        last = p;
    }
    QCOMPARE(last.phase, EnginePhase::Done);

    // The files, checked by the core's verify against the shards.
    VerifyReport report = verifyOutput(out.toStdString(), ckpt.get());
    QVERIFY2(report.ok(), report.problems.empty() ? "" : report.problems.front().text().c_str());
    QCOMPARE(report.tensors, size_t(46));
    QVERIFY(QFile::exists(out + "/model-00004-of-00004.safetensors"));
    const auto outputs = readOutput(out.toStdString());
    QCOMPARE(outputs.at("lm_head.weight").file, std::string("model-00004-of-00004.safetensors"));
    QCOMPARE(outputs.at("model.norm.weight").file, std::string("model-00003-of-00004.safetensors"));
    dialog->close();
}

void TestMainWindow::cancelMidExportLeavesNothing() {
    // Big enough that writing takes a while: 96 MiB, column-sharded.
    const fs::path dir = m_tmp->filePath("big").toStdString();
    writeCheckpoint(dir, {{"w", "U8", {3072, 32768}, splitDim({3072, 32768}, 1, 4)}}, 4);
    auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(dir));
    ExportWorker worker;
    ExportRequest request;
    request.checkpoint = ckpt;
    request.plan = makePlan(*ckpt, {}, UnmappedPolicy::Error);
    request.outputDirectory = m_tmp->filePath("out");
    request.threads = 1;
    QSignalSpy finished(&worker, &ExportWorker::finished);
    bool cancelled = false;
    connect(&worker, &ExportWorker::progress, this, [&](const ExportProgress& p) {
        if (!cancelled && p.phase == EnginePhase::Writing) {
            cancelled = true;
            worker.cancel();
        }
    });
    worker.start(request);
    QVERIFY(finished.wait(60000));
    QVERIFY(cancelled);
    const auto outcome = finished.at(0).at(0).value<ExportOutcome>();
    QVERIFY(outcome.cancelled);
    QVERIFY(!outcome.ok);
    QVERIFY2(outputLeftovers(m_tmp->filePath("out").toStdString()).empty(),
             joined(outputLeftovers(m_tmp->filePath("out").toStdString())).c_str());
}

void TestMainWindow::exportIsBlockedByCoverageErrors() {
    const fs::path dir = m_tmp->filePath("gap").toStdString();
    writeCheckpoint(dir, {{"w", "U8", {8}, {{{0}, {3}}, {{5}, {3}}}}}, 2);
    MainWindow w;
    QVERIFY(openAndWait(w, QString::fromStdString(dir.string())));
    QCOMPARE(w.showExportDialog(), nullptr);
    QVERIFY(w.problemsModel()->rowCount() >= 1);
    w.tensorProxy()->setStatusFilter(TensorFilterProxy::AnyProblem);
    QCOMPARE(w.tensorProxy()->rowCount(), 1);
}

void TestMainWindow::unassignedTensorsBlockExportUntilAPolicy() {
    const fs::path dir = m_tmp->filePath("partial").toStdString();
    writeCheckpoint(
        dir, {{"a", "U8", {8}, splitDim({8}, 0, 2)}, {"b", "F32", {4}, splitDim({4}, 0, 2)}}, 2);
    fs::create_directories(dir / ".hf_metadata");
    std::ofstream(dir / ".hf_metadata" / "fqn_to_file_index_mapping.json") << R"({"a": 2})";
    MainWindow w;
    QVERIFY(openAndWait(w, QString::fromStdString(dir.string())));
    QCOMPARE(w.document()->unassignedCount(), size_t(1));
    ExportDialog* dialog = w.showExportDialog();
    QVERIFY(dialog);
    const QString out = m_tmp->filePath("partial-out");
    dialog->setOutputDirectory(out);
    QVERIFY(!dialog->startExport()); // blocked, with the reason on the dialog
    QVERIFY2(dialog->errorText().contains("not in the mapping: b"),
             qPrintable(dialog->errorText()));
    QVERIFY(!QFileInfo::exists(out));
    dialog->setUnassignedToLastFile(true);
    QSignalSpy finished(dialog, &ExportDialog::exportFinished);
    QVERIFY(dialog->startExport());
    QVERIFY(finished.wait(30000));
    QVERIFY(finished.at(0).at(0).value<ExportOutcome>().ok);
    const auto outputs = readOutput(out.toStdString());
    QCOMPARE(outputs.at("b").file, std::string("model-00002-of-00002.safetensors"));
    dialog->close();
}

void TestMainWindow::badDirectoryDoesNotReplaceTheOpenOne() {
    const fs::path dir = m_tmp->filePath("ok").toStdString();
    writeCheckpoint(dir, {{"w", "U8", {8}, splitDim({8}, 0, 2)}}, 2);
    MainWindow w;
    QVERIFY(openAndWait(w, QString::fromStdString(dir.string())));
    QSignalSpy scanned(w.scanWorker(), &ScanWorker::finished);
    w.openDirectory(m_tmp->filePath("missing"));
    QVERIFY(scanned.wait(30000));
    const auto result = scanned.at(0).at(0).value<ScanResult>();
    QVERIFY(QString::fromStdString(result.error).contains("not a directory"));
    QCOMPARE(w.directory(), QString::fromStdString(dir.string()));
    QCOMPARE(w.tensorModel()->rowCount(), 1);
}

void TestMainWindow::cancelWhileWritingRemovesTheNewDirectory() {
    auto ckpt = bigCheckpoint("big");
    ExportDialog dialog(ckpt, defaultMapping(*ckpt), 0);
    dialog.show();
    const QString out = m_tmp->filePath("out");
    dialog.setOutputDirectory(out);
    dialog.setThreads(1);
    QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
    QString phaseAtCancel;
    connect(dialog.worker(), &ExportWorker::progress, this, [&](const ExportProgress& p) {
        if (phaseAtCancel.isEmpty() && p.phase == EnginePhase::Writing) {
            phaseAtCancel = dialog.phaseText();
            QVERIFY(dialog.isCancelOffered());
            dialog.requestCancel(); // the Cancel button
        }
    });
    QVERIFY(dialog.startExport());
    QVERIFY(finished.wait(60000));
    QVERIFY2(phaseAtCancel.contains("Writing"), qPrintable(phaseAtCancel));
    const ExportOutcome outcome = outcomeOf(finished);
    QVERIFY(outcome.cancelled);
    QCOMPARE(dialog.resultText(), expectedFailureText(outcome));
    // The directory did not exist before: the engine says it removed it, and it is gone.
    QVERIFY2(outcome.onDisk.contains("did not exist before and was removed"),
             qPrintable(outcome.onDisk));
    QVERIFY(!QFileInfo::exists(out));
}

void TestMainWindow::cancelWhileVerifyingKeepsThePreviousExport() {
    auto ckpt = bigCheckpoint("big");
    const QString out = m_tmp->filePath("out");
    exportWithCore(*ckpt, out);
    const auto before = hashes(out);
    QVERIFY(before.count("model-00001-of-00001.safetensors"));

    // The new layout has two files, so a half-published mix would show.
    ExportDialog dialog(ckpt, groupBySize(*ckpt, 60'000'000), 0);
    dialog.show();
    dialog.setOutputDirectory(out);
    dialog.setThreads(1);
    QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
    QString phaseAtCancel;
    connect(dialog.worker(), &ExportWorker::progress, this, [&](const ExportProgress& p) {
        if (phaseAtCancel.isEmpty() && p.phase == EnginePhase::Verifying) {
            phaseAtCancel = dialog.phaseText();
            QTest::keyClick(&dialog, Qt::Key_Escape); // Esc means cancel while running
        }
    });
    answerNextQuestion(QMessageBox::Yes); // replace the previous export
    QVERIFY(dialog.startExport());
    QVERIFY(finished.wait(60000));
    QVERIFY2(phaseAtCancel.contains("Verifying"), qPrintable(phaseAtCancel));
    QVERIFY(dialog.isVisible()); // Esc cancelled the run; it did not close the dialog
    const ExportOutcome outcome = outcomeOf(finished);
    QVERIFY(outcome.cancelled);
    QCOMPARE(dialog.resultText(), expectedFailureText(outcome));
    QVERIFY2(outcome.onDisk.contains("is unchanged"), qPrintable(outcome.onDisk));
    QCOMPARE(hashes(out), before); // byte-identical, lock file gone like before
    QVERIFY2(runLeftovers(out).isEmpty(), qPrintable(runLeftovers(out).join(", ")));
}

void TestMainWindow::publishingCannotBeCancelled() {
    auto ckpt = bigCheckpoint("big");
    const QString out = m_tmp->filePath("out");
    exportWithCore(*ckpt, out);
    ExportDialog dialog(ckpt, groupBySize(*ckpt, 60'000'000), 0);
    dialog.show();
    dialog.setOutputDirectory(out);
    QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
    bool seen = false, offered = true, visibleAfterEsc = false;
    QString phaseText;
    connect(dialog.worker(), &ExportWorker::progress, this, [&](const ExportProgress& p) {
        if (seen || p.phase < EnginePhase::Publishing) return;
        seen = true;
        offered = dialog.isCancelOffered();
        phaseText = dialog.phaseText();
        QTest::keyClick(&dialog, Qt::Key_Escape);
        dialog.requestCancel();
        visibleAfterEsc = dialog.isVisible();
    });
    answerNextQuestion(QMessageBox::Yes);
    QVERIFY(dialog.startExport());
    QVERIFY(finished.wait(60000));
    QVERIFY(seen);
    QVERIFY(!offered);
    QVERIFY2(phaseText.contains("Publishing… the export completes now"), qPrintable(phaseText));
    QVERIFY(visibleAfterEsc);
    const ExportOutcome outcome = outcomeOf(finished);
    QVERIFY2(outcome.ok, qPrintable(outcome.cause));
    QVERIFY(dialog.resultText().contains("Export complete"));
    QVERIFY(dialog.resultText().contains("verified byte for byte before publishing"));
    QVERIFY(dialog.resultText().contains("replaced the previous export"));
    const VerifyReport report = verifyOutput(out.toStdString(), ckpt.get());
    QVERIFY2(report.ok(), report.problems.empty() ? "" : report.problems.front().text().c_str());
    QVERIFY(QFileInfo::exists(out + "/model-00002-of-00002.safetensors"));
    QVERIFY(!QFileInfo::exists(out + "/model-00001-of-00001.safetensors"));
}

void TestMainWindow::lockedDirectoryShowsTheEnginesMessage() {
    const fs::path dir = m_tmp->filePath("small").toStdString();
    writeCheckpoint(dir, {{"w", "U8", {64}, splitDim({64}, 0, 2)}}, 2);
    auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(dir));
    const QString out = m_tmp->filePath("out");
    QVERIFY(QDir().mkpath(out));
    OutputLock held = OutputLock::acquire(out.toStdString()); // as a running shardscope-cli would
    ExportDialog dialog(ckpt, defaultMapping(*ckpt), 0);
    dialog.setOutputDirectory(out);
    QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
    QVERIFY(dialog.startExport());
    QVERIFY(finished.wait(30000));
    const ExportOutcome outcome = outcomeOf(finished);
    QVERIFY(!outcome.ok);
    QVERIFY(!outcome.cancelled);
    QVERIFY2(outcome.cause.contains("another ShardScope run is writing to this directory"),
             qPrintable(outcome.cause));
    QCOMPARE(dialog.resultText(), expectedFailureText(outcome));
    // Only the other run's lock file: nothing of this export.
    QCOMPARE(outputLeftovers(out.toStdString()), std::vector<std::string>{kLockFileName});
    QVERIFY(runLeftovers(out).isEmpty());
}

void TestMainWindow::newScanSupersedesTheRunningOne() {
    const fs::path slow = m_tmp->filePath("slow").toStdString();
    writeCheckpoint(slow,
                    {{"r", "U8", {64ull << 20}, {{{0}, {64ull << 20}}, {{0}, {64ull << 20}}}}}, 2);
    const fs::path fast = m_tmp->filePath("fast").toStdString();
    writeCheckpoint(fast, {{"w", "U8", {8}, splitDim({8}, 0, 2)}}, 2);
    MainWindow w;
    QSignalSpy scanned(w.scanWorker(), &ScanWorker::finished);
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    w.openDirectory(QString::fromStdString(slow.string()));
    QElapsedTimer timer;
    timer.start();
    w.openDirectory(QString::fromStdString(fast.string()));
    QVERIFY2(timer.elapsed() < 5000, "starting a scan waited for the previous one");
    QVERIFY(opened.wait(30000));
    QCOMPARE(w.directory(), QString::fromStdString(fast.string()));
    QVERIFY(QThreadPool::globalInstance()->waitForDone(30000)); // the superseded scan ended too
    QTest::qWait(100);
    QCOMPARE(scanned.count(), 1); // only the newest result was delivered and applied
    QCOMPARE(opened.count(), 1);
    QCOMPARE(w.directory(), QString::fromStdString(fast.string()));
    QCOMPARE(w.tensorModel()->rowCount(), 1);
}

void TestMainWindow::escapeWhileComparingReplicasDiscardsTheScan() {
    const fs::path first = m_tmp->filePath("first").toStdString();
    writeCheckpoint(first, {{"w", "U8", {8}, splitDim({8}, 0, 2)}}, 2);
    const fs::path replicated = m_tmp->filePath("replicated").toStdString();
    writeCheckpoint(replicated,
                    {{"r", "U8", {64ull << 20}, {{{0}, {64ull << 20}}, {{0}, {64ull << 20}}}},
                     {"s", "U8", {16}, splitDim({16}, 0, 2)}},
                    2);
    MainWindow w;
    w.show();
    w.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&w));
    QVERIFY(openAndWait(w, QString::fromStdString(first.string())));
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    QSignalSpy scanned(w.scanWorker(), &ScanWorker::finished);
    bool pressed = false;
    QString statusWhileComparing;
    connect(w.scanWorker(), &ScanWorker::progress, this, [&](const ScanProgress& p) {
        if (pressed || p.phase != ScanPhase::ComparingReplicas) return;
        pressed = true;
        statusWhileComparing = w.findChild<QProgressBar*>()->format();
        QTest::keyClick(&w, Qt::Key_Escape);
    });
    w.openDirectory(QString::fromStdString(replicated.string()));
    QTRY_VERIFY_WITH_TIMEOUT(pressed, 30000);
    QVERIFY2(statusWhileComparing.startsWith("Comparing replicas"),
             qPrintable(statusWhileComparing));
    QCOMPARE(w.statusBar()->currentMessage(), QString("Scan cancelled"));
    QVERIFY(!w.scanWorker()->isRunning());
    QVERIFY(QThreadPool::globalInstance()->waitForDone(30000));
    QTest::qWait(100);
    QCOMPARE(scanned.count(), 0);
    QCOMPARE(opened.count(), 0);
    QCOMPARE(w.directory(), QString::fromStdString(first.string()));
    QCOMPARE(w.tensorModel()->rowCount(), 1);
}

void TestMainWindow::closingDuringAnExportReturnsPromptly() {
    const fs::path dir = m_tmp->filePath("big").toStdString();
    bigCheckpoint("big");
    MainWindow w;
    w.show();
    QVERIFY(openAndWait(w, QString::fromStdString(dir.string())));
    QPointer<ExportDialog> dialog = w.showExportDialog();
    QVERIFY(dialog);
    const QString out = m_tmp->filePath("out");
    dialog->setOutputDirectory(out);
    dialog->setThreads(1);
    QSignalSpy finished(dialog.data(), &ExportDialog::exportFinished);
    QSignalSpy progress(dialog->worker(), &ExportWorker::progress);
    QVERIFY(dialog->startExport());
    QVERIFY(progress.wait(30000));
    QVERIFY(dialog->isRunning());

    QElapsedTimer timer;
    timer.start();
    QVERIFY(!w.close()); // asks first; the window stays until the export has stopped
    auto* question = w.findChild<QMessageBox*>();
    QVERIFY(question);
    QVERIFY(question->text().contains("An export is running. Cancel it and quit?"));
    question->button(QMessageBox::Yes)->click();
    QVERIFY2(timer.elapsed() < 5000, "closing waited on the export");
    QVERIFY(finished.count() == 1 || w.isVisible());

    QTRY_VERIFY_WITH_TIMEOUT(!w.isVisible(), 60000); // closed once the worker reported
    QCOMPARE(finished.count(), 1);
    const ExportOutcome outcome = outcomeOf(finished);
    QVERIFY(dialog);
    if (outcome.ok) { // it had reached publishing: then it must be complete and verified
        QVERIFY(dialog->resultText().contains("Export complete"));
        QVERIFY(verifyOutput(out.toStdString(), w.document()->checkpoint().get()).ok());
    } else {
        QVERIFY(outcome.cancelled);
        QCOMPARE(dialog->resultText(), expectedFailureText(outcome));
        QVERIFY(!QFileInfo::exists(out));
    }
}

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
