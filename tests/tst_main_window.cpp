// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "byte_items_model.h"
#include "checkpoint.h"
#include "chunk_table_model.h"
#include "dcp_builder.h"
#include "demo.h"
#include "export_dialog.h"
#include "export_worker.h"
#include "main_window.h"
#include "memory_release.h"
#include "output_set.h"
#include "problems_model.h"
#include "shard_builder.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"
#include "values_panel.h"
#include "verify.h"

#include <QAbstractButton>
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QCryptographicHash>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QElapsedTimer>
#include <QHeaderView>
#include <QInputDialog>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProcess>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollBar>
#include <QSet>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QThreadPool>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QUndoStack>
#include <QtEndian>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>

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

// Runs `act` on the next modal dialog of type T once it shows (QInputDialog, QMessageBox).
template <typename T> void onNextModal(std::function<void(T*)> act, int attempts = 500) {
    QTimer::singleShot(10, [=] {
        if (auto* dialog = qobject_cast<T*>(QApplication::activeModalWidget()))
            act(dialog);
        else if (attempts > 0)
            onNextModal<T>(act, attempts - 1);
    });
}

// Records the texts of the next popup menu once it shows, then closes it.
void recordNextPopup(QStringList* texts, int attempts = 500) {
    QTimer::singleShot(10, [=] {
        if (auto* menu = qobject_cast<QMenu*>(QApplication::activePopupWidget())) {
            for (QAction* a : menu->actions())
                *texts << (a->menu() ? a->menu()->title() : a->text());
            menu->close();
        } else if (attempts > 0) {
            recordNextPopup(texts, attempts - 1);
        }
    });
}

int tensorIndex(const MainWindow& w, const std::string& fqn) {
    auto ckpt = const_cast<MainWindow&>(w).document()->checkpoint();
    return int(ckpt->find(fqn) - ckpt->tensors.data());
}

// The tensor names in the headers of every model-*.safetensors in dir, sorted: read here from the
// 8-byte length and the JSON, not with the core's reader.
QStringList exportedNames(const QString& dir) {
    QStringList names;
    const QStringList files = QDir(dir).entryList({"model-*.safetensors"}, QDir::Files);
    for (const QString& name : files) {
        QFile file(dir + "/" + name);
        if (!file.open(QIODevice::ReadOnly)) return {"cannot read " + name};
        const QByteArray bytes = file.readAll();
        if (bytes.size() < 8) return {name + " is too short"};
        const quint64 length = qFromLittleEndian<quint64>(bytes.constData());
        const QJsonObject header =
            QJsonDocument::fromJson(bytes.mid(8, qsizetype(length))).object();
        for (const QString& key : header.keys())
            if (key != "__metadata__") names << key;
    }
    names.sort();
    return names;
}

QString fileText(const QString& path) {
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? QString::fromUtf8(file.readAll()) : QString();
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

// Drags `folder` onto the window and drops it: both must be accepted and the folder opened.
void dropFolder(MainWindow& w, const QString& folder) {
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(folder)});
    QDragEnterEvent enter(QPoint(20, 20), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&w, &enter);
    QVERIFY(enter.isAccepted());
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    QDropEvent drop(QPointF(20, 20), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&w, &drop);
    QVERIFY(drop.isAccepted());
    QVERIFY(opened.wait(30000));
}

class TestMainWindow : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void firstStartOpensTheDemo();
    void docksKeepTheirWidthsAcrossStarts();
    void docksKeepTheirWidthsWhenTheWindowGrowsAfterShow();
    void filterShowsItsWholeHint();
    void problemColumnsShareANarrowDock();
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
    void scanMemoryIsGivenBack();
    void closingDuringAnExportReturnsPromptly();
    void undoAndRedoKeys();
    void detailsFollowEveryMappingChange();
    void titleMarksUnsavedEdits();
    void undoToolBarNamesTheEdit();
    void chunkTableFitsAndStartsAtTheTop();
    void filterKeepsOrClearsTheSelection();
    void sortingKeepsTheSelectedRowInView();
    void tabMovesBetweenPanes();
    void tabNeverLandsOnAHiddenWidget();
    void contextMenuFromTheKeyboard();
    void unsavedPromptHasMnemonics();
    void menusHaveDistinctMnemonics();
    void outputDirectoryComparesPathComponents();
    void exportProposesTheLastOutputDirectory();
    void demoLivesInOneApplicationFolder();
    void badMappingFileSaysWhereItIsWrong();
    void droppingAFolderOpensIt();
    void statusBarShowsParametersAndDTypeTotals();
    void opensADcpCheckpointWithKindsAndByteItems();
    void dcpExportWritesModelWeightsUnlessTrainingStateIsIncluded();
    void dcpTrainingStateWithAnEditedMappingIsUnassigned();
    void mixedOrIncompleteDcpFolderShowsTheCoreError();

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
    // The demo checkpoint (46 tensors, 4 ranks, 3 output files) in a directory of the test's own.
    QString demo() {
        const QString dir = m_tmp->filePath("demo");
        if (!QFileInfo::exists(dir)) writeDemoCheckpoint(dir.toStdString());
        return dir;
    }
    // n one-dimensional tensors t000.., each bigger than the last, over 2 ranks.
    QString manyTensors(int n) {
        const fs::path dir = m_tmp->filePath("many").toStdString();
        std::vector<SplitTensor> tensors;
        for (int i = 0; i < n; ++i) {
            char name[16];
            std::snprintf(name, sizeof name, "t%03d", i);
            const Dims shape{uint64_t(2 * (i + 1))};
            tensors.push_back({name, "U8", shape, splitDim(shape, 0, 2)});
        }
        writeCheckpoint(dir, tensors, 2);
        return QString::fromStdString(dir.string());
    }
    // A shown, active window with `dir` open and `fqn` selected.
    void openShown(MainWindow& w, const QString& dir, const std::string& fqn = {}) {
        w.resize(1024, 700);
        w.show();
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        QVERIFY(openAndWait(w, dir));
        if (!fqn.empty()) w.selectTensor(tensorIndex(w, fqn));
    }
    // writeTrainingCheckpoint in a directory of the test's own; fqn -> full bytes in *expected.
    QString dcp(const QString& name, std::map<std::string, std::string>* expected = nullptr) {
        const QString dir = m_tmp->filePath(name);
        auto bytes = writeTrainingCheckpoint(dir.toStdString());
        if (expected) *expected = std::move(bytes);
        return dir;
    }
    // Runs the dialog's export into `out` and returns the outcome.
    ExportOutcome exportTo(ExportDialog* dialog, const QString& out) {
        dialog->setOutputDirectory(out);
        QSignalSpy finished(dialog, &ExportDialog::exportFinished);
        ExportOutcome failed;
        failed.cause = dialog->startExport() ? QString() : dialog->errorText();
        if (!failed.cause.isEmpty()) return failed;
        if (finished.wait(60000)) return outcomeOf(finished);
        failed.cause = "no outcome within a minute";
        return failed;
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

// Quit and start again, three times: the bottom docks come back as wide as they were (they
// narrowed at every start when their sizes were restored before the window had its own).
void TestMainWindow::docksKeepTheirWidthsAcrossStarts() {
    QList<int> widths;
    for (int start = 0; start < 3; ++start) {
        MainWindow w;
        w.resize(1024, 700);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QTest::qWait(50); // the state restored after the first show
        auto* outputs = w.findChild<QDockWidget*>("outputsDock");
        QVERIFY(outputs && outputs->isVisible());
        widths << outputs->width();
        w.close();
    }
    QVERIFY2(widths[0] >= 300, qPrintable(QString::number(widths[0])));
    QVERIFY2(std::abs(widths[2] - widths[0]) <= 2,
             qPrintable(QString("%1 %2 %3").arg(widths[0]).arg(widths[1]).arg(widths[2])));
}

// At 1024 px the problems dock is narrow: file, tensor and message share its width, so the
// message is not pushed out of view; once the user drags a column edge, the widths are theirs.
void TestMainWindow::problemColumnsShareANarrowDock() {
    MainWindow w;
    w.resize(1024, 700);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    auto* table = w.findChild<QTableView*>("problemTable");
    QTRY_VERIFY(table->isVisible() && table->viewport()->width() > 0);
    QHeaderView* header = table->horizontalHeader();
    auto sum = [&] {
        int total = 0;
        for (int c = 0; c < header->count(); ++c)
            total += header->sectionSize(c);
        return total;
    };
    const int chars = table->fontMetrics().averageCharWidth();
    QTRY_VERIFY2(header->sectionSize(ProblemsModel::MessageColumn) >= 10 * chars,
                 qPrintable(QString::number(header->sectionSize(ProblemsModel::MessageColumn))));
    QVERIFY2(std::abs(sum() - table->viewport()->width()) <= 2,
             qPrintable(QString("%1 of %2").arg(sum()).arg(table->viewport()->width())));
    QVERIFY(header->sectionSize(ProblemsModel::MessageColumn) >
            header->sectionSize(ProblemsModel::FileColumn));
    // The user's width stays through a resize of the window.
    header->resizeSection(ProblemsModel::FileColumn, 300);
    w.resize(1200, 760);
    QTest::qWait(50);
    QCOMPARE(header->sectionSize(ProblemsModel::FileColumn), 300);
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

    // Progress: phases in order, bytes monotonic within each phase, ending with Done. Updates
    // the GUI thread had no time to show are replaced by the newest one (LatestValue), so a
    // demo-sized export may arrive as its last update alone.
    QVERIFY(progress.count() >= 1);
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
    QVERIFY(ScanWorker::waitForScanThreads(30000)); // the superseded scan ended too
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
    QVERIFY(ScanWorker::waitForScanThreads(30000));
    QTest::qWait(100);
    QCOMPARE(scanned.count(), 0);
    QCOMPARE(opened.count(), 0);
    QCOMPARE(w.directory(), QString::fromStdString(first.string()));
    QCOMPARE(w.tensorModel()->rowCount(), 1);
}

namespace {
std::atomic<int> g_releases{0}, g_guiReleases{0};
void countRelease() {
    ++g_releases;
    if (QThread::currentThread() == QCoreApplication::instance()->thread()) ++g_guiReleases;
}
} // namespace

// A closed or cancelled checkpoint's memory is handed back (memory_release.h): counted here
// through the releaser the programs set to mimalloc's.
void TestMainWindow::scanMemoryIsGivenBack() {
    const fs::path first = m_tmp->filePath("first").toStdString();
    writeCheckpoint(first, {{"w", "U8", {8}, splitDim({8}, 0, 2)}}, 2);
    const fs::path second = m_tmp->filePath("second").toStdString();
    writeCheckpoint(second, {{"v", "U8", {8}, splitDim({8}, 0, 2)}}, 2);
    const fs::path slow = m_tmp->filePath("slow").toStdString();
    writeCheckpoint(slow,
                    {{"r", "U8", {64ull << 20}, {{{0}, {64ull << 20}}, {{0}, {64ull << 20}}}}}, 2);
    setMemoryReleaser(&countRelease);
    MainWindow w;
    QVERIFY(openAndWait(w, QString::fromStdString(first.string())));
    QTRY_COMPARE(g_releases.load(), 1); // after the views are reset, not before
    g_releases = 0;
    QVERIFY(openAndWait(w, QString::fromStdString(second.string())));
    QTRY_COMPARE(g_releases.load(), 1); // once the window let go of the first checkpoint

    g_guiReleases = 0;
    bool cancelled = false;
    connect(w.scanWorker(), &ScanWorker::progress, this, [&](const ScanProgress& p) {
        if (cancelled || p.phase != ScanPhase::ComparingReplicas) return;
        cancelled = true;
        w.scanWorker()->cancel();
    });
    w.openDirectory(QString::fromStdString(slow.string()));
    QTRY_VERIFY_WITH_TIMEOUT(cancelled, 30000);
    QVERIFY(ScanWorker::waitForScanThreads(30000));
    // Cancelled mid-scan, or done just before the cancel (the result is dropped): either way
    // the GUI thread, the one that can take back what the scan's exited threads left, releases.
    QTRY_COMPARE(g_guiReleases.load(), 1);
    QCOMPARE(w.directory(), QString::fromStdString(second.string()));
    setMemoryReleaser(nullptr);
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

void TestMainWindow::undoAndRedoKeys() {
    QTest::failOnWarning(QRegularExpression("Ambiguous shortcut"));
    MainWindow w;
    openShown(w, demo(), "lm_head.weight");
    QUndoStack* stack = w.document()->undoStack();
    w.assignSelectionTo(w.document()->fileCount() + 1);
    QCOMPARE(stack->index(), 1);
    QTest::keyClick(&w, Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(stack->index(), 0);
    QTest::keyClick(&w, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QCOMPARE(stack->index(), 1);
    QTest::keyClick(&w, Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(stack->index(), 0);
    QTest::keyClick(&w, Qt::Key_Y, Qt::ControlModifier);
    QCOMPARE(stack->index(), 1);
    // The same keys while the tensor table has the focus.
    w.tensorView()->setFocus();
    QTest::keyClick(w.tensorView(), Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(stack->index(), 0);
    QTest::keyClick(w.tensorView(), Qt::Key_Y, Qt::ControlModifier);
    QCOMPARE(stack->index(), 1);
}

void TestMainWindow::detailsFollowEveryMappingChange() {
    MainWindow w;
    openShown(w, demo(), "lm_head.weight");
    const int lmHead = tensorIndex(w, "lm_head.weight");
    QCOMPARE(w.detailTensor(), lmHead);
    auto output = [&w] {
        const QString text = w.detailText();
        const qsizetype at = text.indexOf("Output: ");
        return at < 0 ? QString() : text.mid(at + 8).section('\n', 0, 0);
    };
    QCOMPARE(output(), QString("model-00003-of-00003.safetensors"));

    // In place, as the Output file cell's editor commits.
    const QModelIndex cell = w.tensorProxy()->mapFromSource(
        w.tensorModel()->index(lmHead, TensorTableModel::TargetColumn));
    QVERIFY(w.tensorProxy()->setData(cell, 2, Qt::EditRole));
    QCOMPARE(output(), QString("model-00002-of-00003.safetensors"));

    // Ctrl+T: the assign dialog, answered with the first file.
    bool asked = false;
    onNextModal<QInputDialog>([&](QInputDialog* d) {
        asked = true;
        d->setTextValue(d->comboBoxItems().value(0));
        d->accept();
    });
    QTest::keyClick(&w, Qt::Key_T, Qt::ControlModifier);
    QVERIFY(asked);
    w.activateWindow(); // offscreen does not hand activation back when a dialog closes
    QVERIFY(QTest::qWaitForWindowActive(&w));
    QCOMPARE(output(), QString("model-00001-of-00003.safetensors"));

    QTest::keyClick(&w, Qt::Key_N, Qt::ControlModifier); // a new file
    QCOMPARE(output(), QString("model-00004-of-00004.safetensors"));

    // Ctrl+G: group by a size that holds everything in one file.
    asked = false;
    onNextModal<QInputDialog>([&](QInputDialog* d) {
        asked = true;
        d->setDoubleValue(1000);
        d->accept();
    });
    QTest::keyClick(&w, Qt::Key_G, Qt::ControlModifier);
    QVERIFY(asked);
    w.activateWindow(); // offscreen does not hand activation back when a dialog closes
    QVERIFY(QTest::qWaitForWindowActive(&w));
    QCOMPARE(output(), QString("model-00001-of-00001.safetensors"));

    const QString mapping = m_tmp->filePath("mapping.json");
    std::ofstream(mapping.toStdString()) << R"({"lm_head.weight": 2, "model.norm.weight": 1})";
    QVERIFY(w.loadMappingFile(mapping));
    QCOMPARE(output(), QString("model-00002-of-00002.safetensors"));

    QTest::keyClick(&w, Qt::Key_Z, Qt::ControlModifier); // undo the load
    QCOMPARE(output(), QString("model-00001-of-00001.safetensors"));
    QTest::keyClick(&w, Qt::Key_Y, Qt::ControlModifier); // and redo it
    QCOMPARE(output(), QString("model-00002-of-00002.safetensors"));
    QCOMPARE(w.detailTensor(), lmHead); // still the same tensor throughout
}

void TestMainWindow::titleMarksUnsavedEdits() {
    MainWindow w;
    openShown(w, demo(), "lm_head.weight");
    QVERIFY(w.windowTitle().contains("[*]"));
    QVERIFY(!w.isWindowModified());
    w.assignSelectionTo(1);
    QVERIFY(w.isWindowModified());
    QTest::keyClick(&w, Qt::Key_Z, Qt::ControlModifier);
    QVERIFY(!w.isWindowModified()); // back at the saved state
    QTest::keyClick(&w, Qt::Key_Y, Qt::ControlModifier);
    QVERIFY(w.isWindowModified());
    w.document()->markMappingSaved(); // what saving the mapping does
    QVERIFY(!w.isWindowModified());
    QTest::keyClick(&w, Qt::Key_Z, Qt::ControlModifier);
    QVERIFY(w.isWindowModified()); // undoing past a save is an unsaved change again
    onNextModal<QMessageBox>([](QMessageBox* box) { box->button(QMessageBox::Discard)->click(); });
    const QString other = manyTensors(3);
    QVERIFY(openAndWait(w, other));
    QVERIFY(!w.isWindowModified()); // a new checkpoint starts clean
    QCOMPARE(w.windowTitle(), other + "[*] — ShardScope");
}

void TestMainWindow::undoToolBarNamesTheEdit() {
    MainWindow w;
    openShown(w, demo(), "lm_head.weight");
    auto* undo = w.findChild<QAction*>("undoToolAction");
    auto* redo = w.findChild<QAction*>("redoToolAction");
    QVERIFY(undo && redo);
    QCOMPARE(undo->text(), QString("Undo"));
    QCOMPARE(redo->text(), QString("Redo"));
    QVERIFY(!undo->icon().isNull());
    QVERIFY(!redo->icon().isNull());
    QVERIFY(!undo->isEnabled());
    QCOMPARE(undo->toolTip(), QString("Nothing to undo"));
    w.assignSelectionTo(w.document()->fileCount() + 1);
    QVERIFY(undo->isEnabled());
    QVERIFY2(undo->toolTip().startsWith("Undo \"Assign lm_head.weight to file 4\" ("),
             qPrintable(undo->toolTip()));
    undo->trigger();
    QCOMPARE(w.document()->undoStack()->index(), 0);
    QVERIFY2(redo->toolTip().startsWith("Redo \"Assign lm_head.weight to file 4\" ("),
             qPrintable(redo->toolTip()));
    QVERIFY(redo->shortcuts().isEmpty()); // the keys belong to the Edit menu's actions only
    // On the toolbar with its text beside the icon.
    auto* bar = w.findChild<QToolBar*>("mainToolBar");
    auto* button = qobject_cast<QToolButton*>(bar->widgetForAction(undo));
    QVERIFY(button);
    QCOMPARE(button->toolButtonStyle(), Qt::ToolButtonTextBesideIcon);
}

void TestMainWindow::chunkTableFitsAndStartsAtTheTop() {
    const fs::path dir = m_tmp->filePath("chunks").toStdString();
    std::vector<std::pair<Dims, Dims>> many = splitDim({64}, 0, 32);
    writeCheckpoint(dir,
                    {{"many", "U8", {64}, many},
                     {"replicated", "U8", {8}, {{{0}, {8}}, {{0}, {8}}}},
                     {"small", "U8", {8}, splitDim({8}, 0, 2)}},
                    32); // one chunk per rank and tensor
    MainWindow w;
    openShown(w, QString::fromStdString(dir.string()), "replicated");
    auto* view = w.findChild<QTableView*>("chunkTable");
    QVERIFY(view);
    QHeaderView* header = view->horizontalHeader();
    auto fits = [view, header](int c) {
        const int content = std::max(static_cast<QAbstractItemView*>(view)->sizeHintForColumn(c),
                                     header->sectionSizeHint(c));
        return header->sectionSize(c) >= content;
    };
    QCOMPARE(w.chunkModel()->rowCount(), 2);
    QVERIFY(w.chunkModel()
                ->index(1, ChunkTableModel::NoteColumn)
                .data()
                .toString()
                .startsWith("replica"));
    for (int c = 0; c < header->count(); ++c)
        if (c != ChunkTableModel::FileColumn) QVERIFY2(fits(c), qPrintable(QString::number(c)));
    // The file column starts in view and is not squeezed to nothing.
    QCOMPARE(header->sectionViewportPosition(ChunkTableModel::FileColumn), 0);
    // Wide enough for what tells the files apart: the icon and "shard-00001-…".
    QVERIFY(header->sectionSize(ChunkTableModel::FileColumn) >=
            view->fontMetrics().horizontalAdvance(QString("shard-00001-") + QChar(0x2026)) +
                view->style()->pixelMetric(QStyle::PM_SmallIconSize));

    // Scrolled down and right in one tensor; the next one starts at its top left.
    w.selectTensor(tensorIndex(w, "many"));
    QCOMPARE(w.chunkModel()->rowCount(), 32);
    QTRY_VERIFY(view->verticalScrollBar()->maximum() > 0);
    view->verticalScrollBar()->setValue(view->verticalScrollBar()->maximum());
    view->horizontalScrollBar()->setValue(view->horizontalScrollBar()->maximum());
    w.selectTensor(tensorIndex(w, "small"));
    QCOMPARE(view->verticalScrollBar()->value(), 0);
    QCOMPARE(view->horizontalScrollBar()->value(), 0);

    // No tensor selected in a narrow pane: the empty table's file column still fits its header
    // (it was cut to "hard fil", centred in what the other columns left).
    auto* splitter = qobject_cast<QSplitter*>(view->parentWidget());
    QVERIFY(splitter);
    for (QWidget* p = splitter->parentWidget(); p; p = p->parentWidget())
        if (auto* main = qobject_cast<QSplitter*>(p->parentWidget())) {
            const int total = main->sizes().value(0) + main->sizes().value(1);
            main->setSizes({total - 300, 300});
            break;
        }
    w.findChild<QLineEdit*>("tensorFilter")->setText("no such tensor");
    QTRY_COMPARE(w.detailTensor(), -1);
    QCOMPARE(w.chunkModel()->rowCount(), 0);
    int sum = 0;
    for (int c = 0; c < header->count(); ++c)
        sum += header->isSectionHidden(c) ? 0 : header->sectionSizeHint(c);
    QTRY_VERIFY2(view->viewport()->width() < sum,
                 qPrintable(QString::number(view->viewport()->width())));
    QVERIFY2(header->sectionSize(ChunkTableModel::FileColumn) >=
                 header->sectionSizeHint(ChunkTableModel::FileColumn),
             qPrintable(QString("%1 < %2")
                            .arg(header->sectionSize(ChunkTableModel::FileColumn))
                            .arg(header->sectionSizeHint(ChunkTableModel::FileColumn))));
    QCOMPARE(header->sectionViewportPosition(ChunkTableModel::FileColumn), 0);
}

// A window restored maximized is shown at its normal size and then resized by the window
// manager: the docks' saved sizes apply at the final size (the problems panel narrowed at every
// start of a maximized window, 510 -> 453 -> 389 -> 318 px).
void TestMainWindow::docksKeepTheirWidthsWhenTheWindowGrowsAfterShow() {
    int first = 0;
    {
        MainWindow w;
        w.resize(1024, 700);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QTest::qWait(50);
        first = w.findChild<QDockWidget*>("problemsDock")->width();
        w.close();
    }
    QList<int> widths;
    for (int start = 0; start < 3; ++start) {
        MainWindow w;
        w.resize(880, 620); // the normal size under the maximized one
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QTest::qWait(30);    // the saved state restored at 880 px
        w.resize(1024, 700); // the window manager maximizes it
        QTest::qWait(50);
        widths << w.findChild<QDockWidget*>("problemsDock")->width();
        w.close();
    }
    for (int width : widths)
        QVERIFY2(std::abs(width - first) <= 2, qPrintable(QString("%1, then %2 %3 %4")
                                                              .arg(first)
                                                              .arg(widths[0])
                                                              .arg(widths[1])
                                                              .arg(widths[2])));
}

// The filter's hint "Filter tensors (Ctrl+F)" was cut to "Filter tensors (…" beside the combos
// in a window narrower than the screen; the bar now goes to two rows first.
void TestMainWindow::filterShowsItsWholeHint() {
    for (int width : {1024, 900, 760}) {
        MainWindow w;
        openShown(w, manyTensors(3));
        w.resize(width, 700);
        auto* filter = w.findChild<QLineEdit*>("tensorFilter");
        QVERIFY(filter);
        const int hint = filter->fontMetrics().horizontalAdvance(filter->placeholderText());
        // What the text can use: the edit less its frame, margins and the clear button's room.
        QTRY_VERIFY2(filter->width() >= hint + filter->fontMetrics().height() * 2,
                     qPrintable(QString("%1 px window: %2 px edit, %3 px hint")
                                    .arg(width)
                                    .arg(filter->width())
                                    .arg(hint)));
    }
}

void TestMainWindow::filterKeepsOrClearsTheSelection() {
    MainWindow w;
    openShown(w, manyTensors(45), "t015");
    const int t15 = tensorIndex(w, "t015");
    auto* filter = w.findChild<QLineEdit*>("tensorFilter");
    QVERIFY(filter);
    filter->setText("t01"); // still shown: stays selected and in the details
    QTRY_COMPARE(w.tensorProxy()->rowCount(), 10);
    QCOMPARE(w.selectedTensors(), std::vector<size_t>{size_t(t15)});
    QCOMPARE(w.detailTensor(), t15);
    QVERIFY(w.tensorView()->selectionModel()->currentIndex().isValid());

    filter->setText("t04"); // filtered out: nothing highlighted, so no details either
    QTRY_COMPARE(w.tensorProxy()->rowCount(), 5);
    QVERIFY(w.selectedTensors().empty());
    QCOMPARE(w.detailTensor(), -1);
    QVERIFY(w.detailText().startsWith("No tensor selected"));
    QVERIFY(!w.tensorView()->selectionModel()->currentIndex().isValid());

    // The same through a combo: only rows of a dtype the checkpoint lacks would empty it, so
    // pick a file filter that keeps the row, then one that hides it.
    filter->clear();
    QTRY_COMPARE(w.tensorProxy()->rowCount(), 45);
    w.selectTensor(t15);
    w.document()->assign({size_t(t15)}, 2);
    auto combos = w.findChildren<QComboBox*>();
    QComboBox* target = nullptr;
    for (QComboBox* c : combos)
        if (c->itemText(0) == "Any output file") target = c;
    QVERIFY(target);
    target->setCurrentIndex(target->findData(2));
    QCOMPARE(w.detailTensor(), t15);
    QCOMPARE(w.selectedTensors(), std::vector<size_t>{size_t(t15)});
    target->setCurrentIndex(target->findData(1));
    QCOMPARE(w.detailTensor(), -1);
    QVERIFY(w.selectedTensors().empty());

    // An edit that moves the row out of a target filter clears the details too.
    target->setCurrentIndex(0);
    w.selectTensor(t15);
    target->setCurrentIndex(target->findData(2));
    QCOMPARE(w.detailTensor(), t15);
    w.assignSelectionTo(1);
    QCOMPARE(w.tensorProxy()->rowCount(), 0);
    QCOMPARE(w.detailTensor(), -1);
}

void TestMainWindow::sortingKeepsTheSelectedRowInView() {
    MainWindow w;
    openShown(w, manyTensors(200), "t000");
    QTableView* view = w.tensorView();
    auto inView = [view] {
        const QModelIndex current = view->selectionModel()->currentIndex();
        return current.isValid() && view->viewport()->rect().contains(view->visualRect(current));
    };
    QVERIFY(inView());
    view->sortByColumn(TensorTableModel::SizeColumn, Qt::DescendingOrder); // t000 is smallest
    QCOMPARE(w.selectedTensors(), std::vector<size_t>{size_t(tensorIndex(w, "t000"))});
    QCOMPARE(view->selectionModel()->currentIndex().row(), 199);
    QVERIFY(inView());
    view->sortByColumn(TensorTableModel::NameColumn, Qt::AscendingOrder);
    QCOMPARE(view->selectionModel()->currentIndex().row(), 0);
    QVERIFY(inView());
}

// With the Files tab on top of the problems panel, Tab went to something not shown between
// the chunk list and the output files.
void TestMainWindow::tabNeverLandsOnAHiddenWidget() {
    MainWindow w;
    std::map<QDockWidget*, bool> shown; // as each dock last said it
    for (QDockWidget* dock : w.findChildren<QDockWidget*>())
        connect(dock, &QDockWidget::visibilityChanged, &w,
                [&shown, dock](bool visible) { shown[dock] = visible; });
    openShown(w, demo(), "lm_head.weight");
    auto* files = w.findChild<QDockWidget*>("filesDock");
    for (QDockWidget* top : {files, w.findChild<QDockWidget*>("problemsDock")}) {
        top->show();
        top->raise();
        QTest::qWait(20);
        w.tensorView()->setFocus();
        QTRY_VERIFY(w.tensorView()->hasFocus());
        QStringList path;
        for (int i = 0; i < 40; ++i) {
            QTest::keyClick(QApplication::focusWidget(), Qt::Key_Tab);
            QWidget* f = QApplication::focusWidget();
            QVERIFY(f);
            path << f->metaObject()->className() + QString(":") + f->objectName();
            QVERIFY2(f->isVisible(), qPrintable(path.join(" > ")));
            for (QWidget* up = f; up; up = up->parentWidget())
                if (auto* dock = qobject_cast<QDockWidget*>(up))
                    QVERIFY2(!shown.count(dock) || shown[dock],
                             qPrintable(dock->objectName() + " behind a tab: " + path.join(" > ")));
        }
    }
}

void TestMainWindow::tabMovesBetweenPanes() {
    MainWindow w;
    openShown(w, demo(), "lm_head.weight");
    QTableView* table = w.tensorView();
    QVERIFY(!table->tabKeyNavigation());
    table->setFocus();
    QTRY_VERIFY(table->hasFocus());
    const int row = table->selectionModel()->currentIndex().row();
    QTest::keyClick(table, Qt::Key_Tab);
    QWidget* next = QApplication::focusWidget();
    QVERIFY(next != table);
    // The details' tabs (Coverage, Values) come next, then the shown tab's widgets.
    QVERIFY2(qobject_cast<QTabBar*>(next) && w.detailTabs()->isAncestorOf(next),
             next ? next->metaObject()->className() : "none");
    QCOMPARE(table->selectionModel()->currentIndex().row(), row); // Tab did not move the cell
    QTest::keyClick(next, Qt::Key_Backtab, Qt::ShiftModifier);
    QCOMPARE(QApplication::focusWidget(), table);
    QTest::keyClick(table, Qt::Key_Backtab, Qt::ShiftModifier); // back to the filter bar
    QVERIFY(qobject_cast<QComboBox*>(QApplication::focusWidget()));
    next->setFocus();
    QTRY_VERIFY(next->hasFocus());
    QTest::keyClick(next, Qt::Key_Tab);
    QVERIFY2(QApplication::focusWidget() == w.findChild<QTableView*>("chunkTable") ||
                 qobject_cast<QSpinBox*>(QApplication::focusWidget()),
             qPrintable(QApplication::focusWidget()->objectName()));
    // From the chunks on to the problems and output files docks.
    w.findChild<QTableView*>("chunkTable")->setFocus();
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_Tab);
    QCOMPARE(QApplication::focusWidget(), w.findChild<QTableView*>("problemTable"));
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_Tab);
    QCOMPARE(QApplication::focusWidget(), w.findChild<QTableView*>("outputTable"));

    // On the Values tab: its histogram toggle and statistics, then the docks; the chunk list
    // belongs to the Coverage tab and gives its room to the values.
    QSignalSpy checked(w.valueSession(), &ValueSession::checkFinished);
    w.checkValuesAction()->trigger();
    QVERIFY(checked.wait(30000));
    QCOMPARE(w.detailTabs()->currentWidget(), w.valuesPanel());
    next->setFocus();
    QTRY_VERIFY(next->hasFocus());
    QTest::keyClick(next, Qt::Key_Tab);
    QCOMPARE(QApplication::focusWidget(), w.valuesPanel()->logToggle());
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_Tab);
    QCOMPARE(QApplication::focusWidget(), w.valuesPanel()->statsLabel());
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_Tab);
    QCOMPARE(QApplication::focusWidget(), w.findChild<QTableView*>("problemTable"));
    auto* chunks = w.findChild<QTableView*>("chunkTable");
    QVERIFY(!chunks->isVisible());
    w.detailTabs()->setCurrentIndex(0);
    QTRY_VERIFY(chunks->isVisible());
    QTRY_VERIFY(chunks->height() > 50);
    const int chunksHeight = chunks->height(), tabsHeight = w.detailTabs()->height();
    w.detailTabs()->setCurrentIndex(1);
    QTRY_VERIFY(w.detailTabs()->height() >= tabsHeight + chunksHeight); // and the handle
    w.detailTabs()->setCurrentIndex(0);
    QTRY_COMPARE(w.detailTabs()->height(), tabsHeight);
    QCOMPARE(chunks->height(), chunksHeight);

    // Closed on the Values tab, the next start shows the chunks as the Coverage tab had them.
    w.detailTabs()->setCurrentIndex(1);
    QTRY_VERIFY(!chunks->isVisible());
    w.close();
    MainWindow again;
    openShown(again, demo(), "lm_head.weight");
    auto* chunksAgain = again.findChild<QTableView*>("chunkTable");
    QCOMPARE(again.detailTabs()->currentIndex(), 0);
    QTRY_VERIFY(chunksAgain->isVisible());
    QTRY_VERIFY2(chunksAgain->height() > 50, qPrintable(QString::number(chunksAgain->height())));
}

void TestMainWindow::contextMenuFromTheKeyboard() {
    MainWindow w;
    openShown(w, demo(), "lm_head.weight");
    QTableView* table = w.tensorView();
    table->setFocus();
    QTRY_VERIFY(table->hasFocus());
    for (auto [key, modifiers] :
         {std::pair{Qt::Key_F10, Qt::ShiftModifier}, std::pair{Qt::Key_Menu, Qt::NoModifier}}) {
        QStringList texts;
        recordNextPopup(&texts);
        QTest::keyClick(table, key, modifiers);
        const QString all = texts.join('|').remove('&'); // mnemonics aside
        QVERIFY2(all.contains("Assign Tensor To"), qPrintable(all));
        QVERIFY2(all.contains("|Copy Name|"), qPrintable(all));
        QVERIFY2(all.contains("|Sort By"), qPrintable(all));
        // Every entry of the menu has its own mnemonic.
        QSet<QChar> keys;
        for (const QString& text : texts) {
            if (text.isEmpty()) continue; // a separator
            const qsizetype amp = text.indexOf('&');
            QVERIFY2(amp >= 0, qPrintable(text));
            QVERIFY2(!keys.contains(text.at(amp + 1).toLower()), qPrintable(text));
            keys.insert(text.at(amp + 1).toLower());
        }
    }
}

void TestMainWindow::unsavedPromptHasMnemonics() {
    MainWindow w;
    openShown(w, demo(), "lm_head.weight");
    w.assignSelectionTo(1);
    // Presses Alt+<key> on the prompt; clicks `fallback` if the key did not close it, so a
    // failure cannot leave the modal prompt open.
    auto pressOnPrompt = [](Qt::Key key, QMessageBox::StandardButton fallback, bool* closed,
                            QStringList* buttons) {
        onNextModal<QMessageBox>([=](QMessageBox* box) {
            for (QAbstractButton* b : box->buttons())
                *buttons << b->text();
            QApplication::setActiveWindow(box); // offscreen does not activate it by itself
            QTest::keyClick(box, key, Qt::AltModifier);
            *closed = QTest::qWaitFor([box] { return !box->isVisible(); }, 2000); // animateClick
            if (!*closed) box->button(fallback)->click();
        });
    };
    QStringList buttons;
    bool closed = false;
    pressOnPrompt(Qt::Key_D, QMessageBox::Discard, &closed, &buttons);
    const QString other = manyTensors(3);
    QVERIFY(openAndWait(w, other));
    QVERIFY2(buttons.contains("&Save…") && buttons.contains("&Discard") &&
                 buttons.contains("&Cancel"),
             qPrintable(buttons.join(", ")));
    QVERIFY2(closed, "Alt+D did not discard");
    QCOMPARE(w.directory(), other);

    // Alt+C cancels: the checkpoint and its edit stay.
    w.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&w));
    w.selectTensor(0);
    w.assignSelectionTo(2);
    closed = false;
    pressOnPrompt(Qt::Key_C, QMessageBox::Cancel, &closed, &buttons);
    QSignalSpy scanned(w.scanWorker(), &ScanWorker::finished);
    w.openDirectory(demo());
    QVERIFY2(closed, "Alt+C did not cancel");
    QVERIFY(!scanned.wait(300));
    QCOMPARE(w.directory(), other);
    QVERIFY(w.isWindowModified());
}

// Alt+F, then one letter per entry: every entry of every menu has its own.
void TestMainWindow::menusHaveDistinctMnemonics() {
    MainWindow w;
    QVERIFY(openAndWait(w, demo()));
    QStringList clashes;
    for (QAction* top : w.menuBar()->actions()) {
        QMenu* menu = top->menu();
        if (!menu) continue;
        emit menu->aboutToShow(); // menus filled on demand fill now
        QMap<QChar, QString> seen;
        for (QAction* a : menu->actions()) {
            if (a->isSeparator()) continue;
            const QString text = a->menu() ? a->menu()->title() : a->text();
            const qsizetype amp = text.indexOf('&');
            if (amp < 0 || amp + 1 >= text.size()) {
                clashes << menu->title() + " ▸ " + text + ": no mnemonic";
                continue;
            }
            const QChar key = text.at(amp + 1).toLower();
            if (seen.contains(key))
                clashes << menu->title() + " ▸ " + text + " and " + seen[key] + ": " + key;
            seen[key] = text;
        }
    }
    QVERIFY2(clashes.isEmpty(), qPrintable(clashes.join('\n')));
}

void TestMainWindow::outputDirectoryComparesPathComponents() {
    QVERIFY(!isInsideDirectory("/data/ckpt2/out", "/data/ckpt")); // was a string prefix
    QVERIFY(!isInsideDirectory("/data/ckpt2", "/data/ckpt"));
    QVERIFY(isInsideDirectory("/data/ckpt/out", "/data/ckpt"));
    QVERIFY(isInsideDirectory("/data/ckpt/out", "/data/ckpt/"));
    QVERIFY(isInsideDirectory("/data/ckpt", "/data/ckpt"));
    QVERIFY(isInsideDirectory("/data/./ckpt//out/", "/data/ckpt"));
    QVERIFY(!isInsideDirectory("/data/ckpt/../ckpt2/out", "/data/ckpt"));
    QVERIFY(isInsideDirectory("/data", "/"));
    QVERIFY(!isInsideDirectory("", "/data"));

    const QString root = m_tmp->path();
    QVERIFY(QDir(root).mkpath("ckpt/out") && QDir(root).mkpath("ckpt2/out") &&
            QDir(root).mkpath("exports"));
    const QString ckpt = root + "/ckpt", ckpt2 = root + "/ckpt2";
    QCOMPARE(proposedOutputDirectory(ckpt, "", ""), ckpt + "/consolidated");
    // An older setting without its shards: only used when inside these shards, by components.
    QCOMPARE(proposedOutputDirectory(ckpt, ckpt2 + "/out", ""), ckpt + "/consolidated");
    QCOMPARE(proposedOutputDirectory(ckpt, ckpt + "/out", ""), ckpt + "/out");
    // The same shards: the same place, wherever it is.
    QCOMPARE(proposedOutputDirectory(ckpt, root + "/exports/llama", ckpt), root + "/exports/llama");
    QCOMPARE(proposedOutputDirectory(ckpt + "/", root + "/exports/llama/", ckpt),
             root + "/exports/llama");
    // Other shards: the same place relative to them, or beside the last export.
    QCOMPARE(proposedOutputDirectory(ckpt, ckpt2 + "/out", ckpt2), ckpt + "/out");
    QCOMPARE(proposedOutputDirectory(ckpt2, root + "/exports/llama", ckpt),
             root + "/exports/ckpt2-consolidated");
    // A last export whose parent is gone: the default.
    QCOMPARE(proposedOutputDirectory(ckpt, root + "/gone/out", ckpt), ckpt + "/consolidated");
}

void TestMainWindow::exportProposesTheLastOutputDirectory() {
    const fs::path dir = m_tmp->filePath("small").toStdString();
    writeCheckpoint(dir, {{"w", "U8", {64}, splitDim({64}, 0, 2)}}, 2);
    const QString shards = QString::fromStdString(dir.string());
    const QString out = m_tmp->filePath("exports/first");
    QVERIFY(QDir().mkpath(m_tmp->filePath("exports")));
    {
        MainWindow w;
        QVERIFY(openAndWait(w, shards));
        ExportDialog* dialog = w.showExportDialog();
        QVERIFY(dialog);
        QCOMPARE(dialog->outputDirectory(), shards + "/consolidated"); // nothing stored yet
        dialog->setOutputDirectory(out);
        QSignalSpy finished(dialog, &ExportDialog::exportFinished);
        QVERIFY(dialog->startExport());
        QVERIFY(finished.wait(30000));
        QVERIFY(outcomeOf(finished).ok);
        dialog->close();
    }
    MainWindow again; // reads the settings the export stored
    QVERIFY(openAndWait(again, shards));
    ExportDialog* dialog = again.showExportDialog();
    QVERIFY(dialog);
    QCOMPARE(dialog->outputDirectory(), out);
    dialog->close();
    QTRY_VERIFY(!again.findChild<ExportDialog*>());
    const fs::path other = m_tmp->filePath("other").toStdString();
    writeCheckpoint(other, {{"v", "U8", {8}, splitDim({8}, 0, 2)}}, 2);
    QVERIFY(openAndWait(again, QString::fromStdString(other.string())));
    dialog = again.showExportDialog();
    QVERIFY(dialog);
    QCOMPARE(dialog->outputDirectory(), m_tmp->filePath("exports/other-consolidated"));
    dialog->close();
}

void TestMainWindow::demoLivesInOneApplicationFolder() {
    const QString demo = MainWindow::demoDirectory();
    QVERIFY2(demo.endsWith("/ShardScopeTest/demo-checkpoint"), qPrintable(demo));
    QVERIFY2(!demo.contains("ShardScopeTest/ShardScopeTest"), qPrintable(demo));
}

void TestMainWindow::badMappingFileSaysWhereItIsWrong() {
    MainWindow w;
    openShown(w, demo());
    const QString file = m_tmp->filePath("bad.json");
    std::ofstream(file.toStdString())
        << "{\n  \"lm_head.weight\": 2,\n  \"model.norm.weight\": }\n";
    QVERIFY(!w.loadMappingFile(file));
    QCOMPARE(w.document()->undoStack()->count(), 0); // nothing applied
    QMessageBox* box = nullptr;
    QTRY_VERIFY((box = w.findChild<QMessageBox*>()));
    const QString text = box->text();
    QVERIFY2(text.contains("line 3, column"), qPrintable(text));
    QVERIFY2(text.contains("bad.json"), qPrintable(text));
    QVERIFY2(!text.contains("json.exception") && !text.contains("parse_error"), qPrintable(text));
    box->close();
}

void TestMainWindow::statusBarShowsParametersAndDTypeTotals() {
    // 3 BF16 tensors of 4x8 and 1 F32 of 100: 96 + 100 parameters, 192 + 400 bytes.
    const fs::path dir = m_tmp->filePath("totals").toStdString();
    writeCheckpoint(dir,
                    {{"a", "BF16", {4, 8}, splitDim({4, 8}, 0, 2)},
                     {"b", "BF16", {4, 8}, splitDim({4, 8}, 1, 2)},
                     {"c", "BF16", {4, 8}, splitDim({4, 8}, 0, 2)},
                     {"d", "F32", {100}, splitDim({100}, 0, 2)}},
                    2);
    MainWindow w;
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    w.openDirectory(QString::fromStdString(dir.string()));
    QVERIFY(opened.wait(30000));
    QVERIFY2(w.statusText().startsWith("196 parameters · "), qPrintable(w.statusText()));
    const QString tip = w.statusToolTip();
    for (const char* cell : {"<td>BF16</td><td align=right>3</td><td align=right>96</td>",
                             "<td>F32</td><td align=right>1</td><td align=right>100</td>",
                             "<td align=right>4</td><td align=right>196</td>"})
        QVERIFY2(tip.contains(cell), qPrintable(tip));
    QVERIFY2(tip.indexOf("F32") < tip.indexOf("BF16"), qPrintable(tip)); // largest bytes first
}

void TestMainWindow::droppingAFolderOpensIt() {
    const fs::path dir = m_tmp->filePath("dropped").toStdString();
    writeCheckpoint(dir, {{"w", "U8", {8}, splitDim({8}, 0, 2)}}, 2);
    const QString folder = QString::fromStdString(dir.string());
    MainWindow w;
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));

    QMimeData file; // a shard file, not a folder: refused
    file.setUrls({QUrl::fromLocalFile(folder + "/shard-00001-model-00001-of-00001.safetensors")});
    QDragEnterEvent refused(QPoint(20, 20), Qt::CopyAction, &file, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&w, &refused);
    QVERIFY(!refused.isAccepted());

    dropFolder(w, folder);
    if (QTest::currentTestFailed()) return;
    QCOMPARE(w.directory(), folder);
    QCOMPARE(w.tensorModel()->rowCount(), 1);
}

void TestMainWindow::opensADcpCheckpointWithKindsAndByteItems() {
    const QString dir = dcp("dcp");
    MainWindow w;
    openShown(w, dir, "model.embed.weight");
    QCOMPARE(w.directory(), dir);
    QCOMPARE(w.tensorModel()->rowCount(), 8);
    QCOMPARE(QSettings().value("recentDirectories").toStringList().value(0), dir);
    // The tensors with their kinds; the Kind column and filter are shown.
    QTableView* table = w.tensorView();
    QVERIFY(!table->isColumnHidden(TensorTableModel::KindColumn));
    QVERIFY(w.kindFilter()->isVisible());
    // At 1024 px, with the Kind column and "not exported (optimizer state)" to show, the names
    // still get room: the output-file column gives back what it was widened by.
    const int chars = table->fontMetrics().averageCharWidth();
    QVERIFY2(table->columnWidth(TensorTableModel::NameColumn) >= 18 * chars,
             qPrintable(QString("name column %1 px, output file %2 px")
                            .arg(table->columnWidth(TensorTableModel::NameColumn))
                            .arg(table->columnWidth(TensorTableModel::TargetColumn))));
    QVERIFY(
        table->columnWidth(TensorTableModel::TargetColumn) >=
        TensorTableModel::defaultColumnWidth(TensorTableModel::TargetColumn, table->fontMetrics()));
    std::map<QString, QString> kinds;
    for (int r = 0; r < w.tensorProxy()->rowCount(); ++r)
        kinds[w.tensorProxy()->index(r, TensorTableModel::NameColumn).data().toString()] =
            w.tensorProxy()->index(r, TensorTableModel::KindColumn).data().toString();
    QCOMPARE(kinds.size(), size_t(8));
    QCOMPARE(kinds["model.layers.0.attn.w"], QString("model"));
    QCOMPARE(kinds["optimizer.state.embed.weight.step"], QString("optimizer"));
    QCOMPARE(kinds["lr_scheduler.last_lr"], QString("scheduler"));
    QCOMPARE(kinds["dataloader.position"], QString("dataloader"));
    QCOMPARE(kinds["train_state.rng"], QString("train_state"));
    w.kindFilter()->setCurrentIndex(w.kindFilter()->findData(TensorFilterProxy::TrainingState));
    QCOMPARE(w.tensorProxy()->rowCount(), 5);
    w.kindFilter()->setCurrentIndex(0);
    QCOMPARE(w.tensorProxy()->rowCount(), 8);
    // The details name the exported name and the kind.
    w.selectTensor(tensorIndex(w, "model.embed.weight"));
    QVERIFY2(w.detailText().contains("Exported as: embed.weight"), qPrintable(w.detailText()));
    QVERIFY2(w.detailText().contains("Kind: model"), qPrintable(w.detailText()));
    w.selectTensor(tensorIndex(w, "lr_scheduler.last_lr"));
    QVERIFY2(w.detailText().contains("Output: not exported (scheduler state)"),
             qPrintable(w.detailText()));
    // Title and status say what it is.
    QVERIFY2(w.windowTitle().contains("(DCP checkpoint)"), qPrintable(w.windowTitle()));
    const QString status = w.statusText();
    QVERIFY2(status.startsWith("DCP checkpoint · "), qPrintable(status));
    for (const char* part :
         {"8 of 8 tensors shown · 3 byte items", "2 .distcp files", "ready to export"})
        QVERIFY2(status.contains(part), qPrintable(status));
    QVERIFY2(w.statusToolTip().contains("5 training-state tensors are left out of the export"),
             qPrintable(w.statusToolTip()));

    // The byte items view: in the View menu, on Ctrl+B, listing the items with their values.
    QVERIFY(w.byteItemsAction()->isEnabled());
    QCOMPARE(w.byteItemsAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_B));
    QMenu* view = nullptr;
    for (QAction* menu : w.menuBar()->actions())
        if (menu->text() == "&View") view = menu->menu();
    QVERIFY(view && view->actions().contains(w.byteItemsAction()));
    QCOMPARE(w.byteItemsDock()->windowTitle(), QString("Byte Items (3)"));
    table->setFocus();
    QTRY_VERIFY(table->hasFocus());
    // A tab beside Problems and Files, behind Problems: laid out, but nothing of it in view.
    QVERIFY(w.tabifiedDockWidgets(w.byteItemsDock())
                .contains(w.findChild<QDockWidget*>("problemsDock")));
    auto inView = [](QWidget* widget) { return !widget->visibleRegion().isEmpty(); };
    QTRY_VERIFY(inView(w.problemsView()));
    QVERIFY(!inView(w.byteItemsView()));
    QTest::keyClick(table, Qt::Key_B, Qt::ControlModifier);
    QTRY_VERIFY(inView(w.byteItemsView()));
    QVERIFY(!inView(w.problemsView()));
    QTRY_COMPARE(QApplication::focusWidget(), w.byteItemsView());
    QAbstractItemModel* items = w.byteItemsView()->model();
    QCOMPARE(items->rowCount(), 3);
    std::map<QString, QString> values;
    for (int r = 0; r < items->rowCount(); ++r)
        values[items->index(r, ByteItemsModel::NameColumn).data().toString()] =
            items->index(r, ByteItemsModel::ValueColumn).data().toString();
    QCOMPARE(values["step"], QString("1234"));
    QCOMPARE(values["train_state.epoch"], QString("3"));
    QCOMPARE(values["train_state.run"], QString("\"run-7\""));
    QTest::keyClick(w.byteItemsView(), Qt::Key_B, Qt::ControlModifier); // in front: hides it
    QTRY_VERIFY(w.byteItemsDock()->isHidden());
    QVERIFY(!w.byteItemsAction()->isChecked());

    // A shard directory has neither kinds nor byte items.
    QVERIFY(openAndWait(w, demo()));
    QVERIFY(table->isColumnHidden(TensorTableModel::KindColumn));
    QVERIFY(!w.kindFilter()->isVisible());
    QVERIFY(!w.byteItemsAction()->isEnabled());
    QVERIFY(w.byteItemsDock()->isHidden());
    QVERIFY(!w.windowTitle().contains("DCP"));
    QVERIFY(!w.statusText().contains("DCP"));

    // Dropped on the window, a DCP folder opens like a shard folder.
    dropFolder(w, dir);
    if (QTest::currentTestFailed()) return;
    QCOMPARE(w.directory(), dir);
    QVERIFY(!w.byteItemsDock()->isHidden());
}

void TestMainWindow::dcpExportWritesModelWeightsUnlessTrainingStateIsIncluded() {
    std::map<std::string, std::string> expected;
    const QString dir = dcp("dcp", &expected);
    const QString assets = m_tmp->filePath("hf-model");
    QVERIFY(QDir().mkpath(assets));
    std::ofstream((assets + "/config.json").toStdString()) << R"({"model_type": "tiny"})";
    std::ofstream((assets + "/tokenizer.json").toStdString()) << R"({"version": "1.0"})";
    std::ofstream((assets + "/README.md").toStdString()) << "not an asset";
    MainWindow w;
    openShown(w, dir);

    // Default options: the model weights only, under their exported names.
    ExportDialog* dialog = w.showExportDialog();
    QVERIFY(dialog);
    auto* include = dialog->findChild<QCheckBox*>("includeTrainingState");
    QVERIFY(include && include->isVisibleTo(dialog));
    QVERIFY(include->text().contains("Include training state"));
    QVERIFY(!include->isChecked());
    auto* assetsField = dialog->findChild<QLineEdit*>("hfAssets");
    QVERIFY(assetsField->isVisibleTo(dialog));
    // Tab goes down the form: the checkbox, the folder, its Browse button, then Export.
    QApplication::setActiveWindow(dialog); // offscreen does not activate it by itself
    include->setFocus();
    QTRY_COMPARE(QApplication::focusWidget(), include);
    QStringList order;
    for (int i = 0; i < 3; ++i) {
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_Tab);
        QWidget* now = QApplication::focusWidget();
        auto* button = qobject_cast<QPushButton*>(now);
        order << (now == assetsField ? QString("hfAssets") : button ? button->text() : "other");
    }
    QCOMPARE(order, (QStringList{"hfAssets", "Bro&wse…", "&Export"}));
    QVERIFY2(dialog->planText().startsWith("Writes 3 tensors"), qPrintable(dialog->planText()));
    QVERIFY2(dialog->planText().contains("Leaves out 5 tensors of training state"),
             qPrintable(dialog->planText()));
    QCOMPARE(dialog->unassignedLabelText(), QString());
    // A folder that is not one: refused before anything is written.
    dialog->setHfAssetsDirectory(m_tmp->filePath("no-such-folder"));
    QVERIFY(dialog->findChild<QLabel*>("hfAssetsNote")->text().startsWith("Not a folder"));
    const QString out = m_tmp->filePath("weights");
    QVERIFY(!exportTo(dialog, out).ok);
    QVERIFY2(dialog->errorText().contains("is not a folder"), qPrintable(dialog->errorText()));
    QVERIFY(!QFileInfo::exists(out));
    // The HF folder's config and tokenizer files are listed, then copied.
    dialog->setHfAssetsDirectory(assets);
    QCOMPARE(dialog->assetFiles(), (QStringList{"config.json", "tokenizer.json"}));
    QCOMPARE(dialog->findChild<QLabel*>("hfAssetsNote")->text(),
             QString("Copies 2 files: config.json, tokenizer.json"));
    ExportOutcome outcome = exportTo(dialog, out);
    QVERIFY2(outcome.ok, qPrintable(outcome.cause));
    QCOMPARE(exportedNames(out), (QStringList{"embed.weight", "layers.0.attn.w", "norm.scale"}));
    auto written = readOutput(out.toStdString());
    QCOMPARE(written.at("embed.weight").bytes, expected.at("model.embed.weight"));
    QCOMPARE(written.at("embed.weight").dtype, std::string("BF16"));
    QCOMPARE(written.at("layers.0.attn.w").bytes, expected.at("model.layers.0.attn.w"));
    QCOMPARE(written.at("norm.scale").shape, Dims{});
    QCOMPARE(fileText(out + "/config.json"), QString(R"({"model_type": "tiny"})"));
    QCOMPARE(fileText(out + "/tokenizer.json"), QString(R"({"version": "1.0"})"));
    QVERIFY(!QFileInfo::exists(out + "/README.md"));
    QVERIFY2(dialog->resultText().contains("Copied 2 files: config.json, tokenizer.json"),
             qPrintable(dialog->resultText()));
    QVERIFY2(dialog->resultText().contains("All 3 tensors were verified"),
             qPrintable(dialog->resultText()));
    QCOMPARE(w.document()->checkpoint()->hfAssetsDir, fs::path()); // the open snapshot as scanned
    dialog->close();
    QTRY_VERIFY(!w.findChild<ExportDialog*>());

    // "Include training state": everything, training state under its full names.
    dialog = w.showExportDialog();
    QVERIFY(dialog);
    QVERIFY(!dialog->includeTrainingState()); // unchecked again for every export
    dialog->findChild<QCheckBox*>("includeTrainingState")->click();
    QVERIFY(dialog->includeTrainingState());
    QVERIFY2(dialog->planText().startsWith("Writes 8 tensors"), qPrintable(dialog->planText()));
    QVERIFY(!dialog->planText().contains("Leaves out"));
    QCOMPARE(dialog->unassignedLabelText(), QString()); // the default mapping names them all
    const QString all = m_tmp->filePath("everything");
    outcome = exportTo(dialog, all);
    QVERIFY2(outcome.ok, qPrintable(outcome.cause));
    QCOMPARE(
        exportedNames(all),
        (QStringList{"dataloader.position", "embed.weight", "layers.0.attn.w",
                     "lr_scheduler.last_lr", "norm.scale", "optimizer.state.embed.weight.exp_avg",
                     "optimizer.state.embed.weight.step", "train_state.rng"}));
    written = readOutput(all.toStdString());
    for (const char* fqn : {"optimizer.state.embed.weight.exp_avg", "lr_scheduler.last_lr",
                            "dataloader.position", "train_state.rng"})
        QCOMPARE(written.at(fqn).bytes, expected.at(fqn));
    QVERIFY(!QFileInfo::exists(all + "/config.json")); // no assets asked for this time
    dialog->close();
}

void TestMainWindow::dcpTrainingStateWithAnEditedMappingIsUnassigned() {
    const QString dir = dcp("dcp");
    MainWindow w;
    openShown(w, dir, "model.norm.scale");
    w.assignSelectionTo(2); // no longer the default mapping
    ExportDialog* dialog = w.showExportDialog();
    QVERIFY(dialog);
    QCOMPARE(dialog->unassignedLabelText(), QString());
    QVERIFY2(dialog->planText().startsWith("Writes 3 tensors (") &&
                 dialog->planText().contains("into 2 files"),
             qPrintable(dialog->planText()));
    // As the CLI with --mapping and --include-training-state: what the mapping does not name
    // is unmapped, and the unassigned-tensor choice decides.
    dialog->setIncludeTrainingState(true);
    QVERIFY2(dialog->unassignedLabelText().contains("5") &&
                 dialog->unassignedLabelText().contains("unassigned tensors:"),
             qPrintable(dialog->unassignedLabelText()));
    QVERIFY(!dialog->startExport());
    QVERIFY2(dialog->errorText().contains("not in the mapping"), qPrintable(dialog->errorText()));
    dialog->setUnassignedToLastFile(true);
    QVERIFY2(dialog->planText().startsWith("Writes 8 tensors"), qPrintable(dialog->planText()));
    const QString out = m_tmp->filePath("out");
    const ExportOutcome outcome = exportTo(dialog, out);
    QVERIFY2(outcome.ok, qPrintable(outcome.cause));
    const auto written = readOutput(out.toStdString());
    QCOMPARE(written.size(), size_t(8));
    QCOMPARE(written.at("train_state.rng").file, std::string("model-00002-of-00002.safetensors"));
    QCOMPARE(written.at("embed.weight").file, std::string("model-00001-of-00002.safetensors"));
    dialog->setIncludeTrainingState(false);
    QCOMPARE(dialog->unassignedLabelText(), QString());
    dialog->close();
}

void TestMainWindow::mixedOrIncompleteDcpFolderShowsTheCoreError() {
    const QString mixed = dcp("mixed");
    writeShard((mixed + "/model.safetensors").toStdString(), {{"x", "U8", {0}, {4}, "abcd"}});
    const QString headless = dcp("headless");
    QVERIFY(QFile::remove(headless + "/.metadata"));
    MainWindow w;
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    for (const auto& [folder, words] :
         {std::pair{mixed, "holds both a DCP .metadata file and *.safetensors files"},
          std::pair{headless, "holds *.distcp data files but no .metadata"}}) {
        QSignalSpy scanned(w.scanWorker(), &ScanWorker::finished);
        w.openDirectory(folder);
        QVERIFY(scanned.wait(30000));
        QMessageBox* box = nullptr;
        QTRY_VERIFY((box = w.findChild<QMessageBox*>()));
        QCOMPARE(box->windowTitle(), QString("Cannot open checkpoint"));
        QVERIFY2(box->text().contains(words), qPrintable(box->text()));
        QCOMPARE(box->text(),
                 QString::fromStdString(scanned.at(0).at(0).value<ScanResult>().error)); // verbatim
        QVERIFY(!w.document()->isOpen());
        QCOMPARE(w.statusText(), QString("No checkpoint open"));
        box->close();
        QTRY_VERIFY(!w.findChild<QMessageBox*>());
    }
}

QTEST_MAIN(TestMainWindow)
#include "tst_main_window.moc"
