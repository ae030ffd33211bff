// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "checkpoint.h"
#include "chunk_table_model.h"
#include "export_dialog.h"
#include "export_worker.h"
#include "main_window.h"
#include "problems_model.h"
#include "shard_builder.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"
#include "verify.h"

#include <QProcess>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

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

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
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
    QVERIFY2(outcome.ok, qPrintable(outcome.error));
    QVERIFY(outcome.verified);

    // Progress: monotonic, by bytes, ending at 100%.
    QVERIFY(progress.count() >= 2);
    quint64 last = 0;
    for (const auto& args : progress) {
        const auto p = args.at(0).value<ExportProgress>();
        QVERIFY(p.bytesDone >= last);
        QVERIFY(p.bytesDone <= p.bytesTotal);
        last = p.bytesDone;
    }
    const auto end = progress.last().at(0).value<ExportProgress>();
    QCOMPARE(end.bytesDone, end.bytesTotal);

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
        if (!cancelled && p.phase == "Writing") {
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

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
