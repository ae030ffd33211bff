// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// Export rules in the GUI: the Exported name column and its in-place renames, Exclude from
// Export and Include in Export, the cast in the DType column, the filter by either name, the
// Rename Rules dialog and the export dialog's plan, every edit undoable.

#include "export_dialog.h"
#include "main_window.h"
#include "mapping_document.h"
#include "output_files_model.h"
#include "problems_model.h"
#include "rename_rules_dialog.h"
#include "shard_builder.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QColor>
#include <QComboBox>
#include <QFile>
#include <QHeaderView>
#include <QLineEdit>
#include <QLocale>
#include <QMessageBox>
#include <QPointer>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QUndoStack>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <numeric>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

namespace {

// Four F32 tensors over two ranks, each split along its first dim.
void writeSample(const fs::path& dir) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::vector<SplitTensor> tensors;
    for (const char* fqn : {"_orig_mod.model.embed.weight", "_orig_mod.model.layers.0.weight",
                            "_orig_mod.model.layers.1.weight", "_orig_mod.model.norm.weight"})
        tensors.push_back({fqn, "F32", {4, 2}, splitDim({4, 2}, 0, 2)});
    writeCheckpoint(dir, tensors, 2);
}

int rowOf(const QAbstractItemModel& model, const QString& fqn) {
    for (int r = 0; r < model.rowCount(); ++r)
        if (model.index(r, TensorTableModel::NameColumn).data().toString() == fqn) return r;
    return -1;
}

bool hasProblem(const std::vector<Problem>& problems, ErrorKind kind) {
    for (const Problem& p : problems)
        if (p.kind == kind) return true;
    return false;
}

// Runs `act` on the next modal dialog of type T once it shows (the unsaved-edits prompt).
template <typename T> void onNextModal(std::function<void(T*)> act, int attempts = 500) {
    QTimer::singleShot(10, [=] {
        if (auto* dialog = qobject_cast<T*>(QApplication::activeModalWidget()))
            act(dialog);
        else if (attempts > 0)
            onNextModal<T>(act, attempts - 1);
    });
}

// Each file row of the Output Files panel holds what makePlan writes into that file: the same
// tensors and the same (cast) data bytes; the rows without a file are the ones it leaves out.
void compareWithPlan(const OutputFilesModel& outputs, const MappingDocument& doc) {
    const ExportRulesDocument* rules = doc.exportRules();
    const Plan plan = makePlan(*doc.checkpoint(), doc.toMapping(), UnmappedPolicy::Error,
                               rules->rules(), rules->selection());
    std::map<int, std::pair<qulonglong, qulonglong>> planned; // file -> tensors, bytes
    for (const PlannedFile& f : plan.files)
        for (const PlannedTensor& t : f.tensors) {
            planned[f.index].first++;
            planned[f.index].second += t.end - t.begin;
        }
    for (int r = 0; r < outputs.rowCount(); ++r) {
        const int file = outputs.index(r, 0).data(OutputFilesModel::FileIndexRole).toInt();
        if (file <= 0) continue; // unassigned, or not exported
        const auto want = planned.count(file) ? planned[file] : std::pair<qulonglong, qulonglong>();
        QCOMPARE(outputs.index(r, OutputFilesModel::TensorsColumn)
                     .data(OutputFilesModel::SortRole)
                     .toULongLong(),
                 want.first);
        QCOMPARE(outputs.index(r, OutputFilesModel::BytesColumn)
                     .data(OutputFilesModel::SortRole)
                     .toULongLong(),
                 want.second);
        planned.erase(file);
    }
    QVERIFY2(planned.empty(), "every planned file has a row");
}

int outputRow(const OutputFilesModel& outputs, int file) {
    for (int r = 0; r < outputs.rowCount(); ++r)
        if (outputs.index(r, 0).data(OutputFilesModel::FileIndexRole).toInt() == file) return r;
    return -1;
}

// The column ends inside the table's viewport: seen without scrolling.
bool columnInView(const QTableView* table, int column) {
    return !table->isColumnHidden(column) && table->columnViewportPosition(column) >= 0 &&
           table->columnViewportPosition(column) + table->columnWidth(column) <=
               table->viewport()->width();
}

const QString kEmbed = "_orig_mod.model.embed.weight";
const QString kLayer0 = "_orig_mod.model.layers.0.weight";
const QString kLayer1 = "_orig_mod.model.layers.1.weight";

} // namespace

class TestExportGui : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void columnsUnderModelTester();
    void renameInPlaceIsUndoable();
    void collisionIsAnError();
    void excludeAndIncludeAreUndoable();
    void castShowsInDTypeColumn();
    void filterFindsEitherName();
    void renameRulesDialogPreviewsAndAppliesOnce();
    void exportDialogPlansExportedNames();
    void nothingSelectedBlocksExport();
    void windowActionsOnTheSelection();
    void outputFilesCountWhatIsExported();
    void exportedNameInViewAt1024();
    void rulesFileRoundTrip();
    void badRulesFileNamesFileAndLine();
    void unsavedPromptNamesTheRules();
    void exportDialogCastIsOneUndoStep();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    MappingDocument m_doc;

    fs::path dir(const char* name) const { return fs::path(m_tmp->path().toStdString()) / name; }
    std::shared_ptr<const Checkpoint> openSample() {
        writeSample(dir("ck"));
        auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(dir("ck")));
        m_doc.reset(ckpt, {});
        return ckpt;
    }
};

void TestExportGui::initTestCase() {
    QLocale::setDefault(QLocale(QLocale::English, QLocale::UnitedStates));
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName("ShardScopeTest");
    QCoreApplication::setApplicationName("ShardScopeExportTest");
}

void TestExportGui::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    QSettings().clear();
}

void TestExportGui::columnsUnderModelTester() {
    TensorTableModel model(&m_doc);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    openSample();
    QCOMPARE(model.headerData(TensorTableModel::ExportedNameColumn, Qt::Horizontal, Qt::DisplayRole)
                 .toString(),
             QString("Exported name"));
    const QModelIndex cell =
        model.index(rowOf(model, kEmbed), TensorTableModel::ExportedNameColumn);
    QVERIFY(model.flags(cell) & Qt::ItemIsEditable);
    QVERIFY(
        !(model.flags(cell.siblingAtColumn(TensorTableModel::NameColumn)) & Qt::ItemIsEditable));
    QVERIFY(model.setData(cell, "embed.weight"));
    m_doc.exportRules()->exclude({size_t(rowOf(model, kLayer1))});
    m_doc.exportRules()->setCast({DType::BF16, {}, true, false});
    m_doc.undoStack()->undo();
    m_doc.undoStack()->undo();
    m_doc.undoStack()->undo();
    m_doc.undoStack()->redo();
    openSample(); // a new checkpoint: no rules, the model reset
    QCOMPARE(model.index(0, TensorTableModel::ExportedNameColumn).data().toString(),
             model.index(0, TensorTableModel::NameColumn).data().toString());
}

void TestExportGui::renameInPlaceIsUndoable() {
    TensorTableModel model(&m_doc);
    openSample();
    const int row = rowOf(model, kEmbed);
    const QModelIndex cell = model.index(row, TensorTableModel::ExportedNameColumn);
    QCOMPARE(cell.data().toString(), kEmbed);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QVERIFY(model.setData(cell, "model.embed_tokens.weight"));
    QVERIFY(!changed.isEmpty());
    QCOMPARE(cell.data().toString(), QString("model.embed_tokens.weight"));
    QCOMPARE(cell.data(Qt::EditRole).toString(), QString("model.embed_tokens.weight"));
    QCOMPARE(model.index(row, TensorTableModel::NameColumn).data().toString(), kEmbed);
    QVERIFY(cell.data(Qt::ToolTipRole).toString().contains(kEmbed));
    QCOMPARE(m_doc.undoStack()->count(), 1);
    QVERIFY(m_doc.undoStack()->undoText().contains("model.embed_tokens.weight"));
    m_doc.undoStack()->undo();
    QCOMPARE(cell.data().toString(), kEmbed);
    m_doc.undoStack()->redo();
    QCOMPARE(cell.data().toString(), QString("model.embed_tokens.weight"));
    // An empty edit gives the tensor its own name back, also undoable.
    QVERIFY(model.setData(cell, ""));
    QCOMPARE(cell.data().toString(), kEmbed);
    QCOMPARE(m_doc.undoStack()->count(), 2);
    m_doc.undoStack()->undo();
    QCOMPARE(cell.data().toString(), QString("model.embed_tokens.weight"));
    // The same name again is no edit.
    QVERIFY(model.setData(cell, "model.embed_tokens.weight"));
    QCOMPARE(m_doc.undoStack()->index(), 1);
}

void TestExportGui::collisionIsAnError() {
    TensorTableModel model(&m_doc);
    ProblemsModel problems(&m_doc);
    openSample();
    const int errorsBefore = problems.errorCount();
    QVERIFY(model.setData(model.index(rowOf(model, kLayer1), TensorTableModel::ExportedNameColumn),
                          kLayer0));
    QVERIFY(hasProblem(m_doc.exportRules()->problems(), ErrorKind::NameCollision));
    QVERIFY(!m_doc.exportRules()->selection().ok());
    QCOMPARE(problems.errorCount(), errorsBefore + 1);
    m_doc.undoStack()->undo();
    QVERIFY(!hasProblem(m_doc.exportRules()->problems(), ErrorKind::NameCollision));
    QCOMPARE(problems.errorCount(), errorsBefore);
}

void TestExportGui::excludeAndIncludeAreUndoable() {
    TensorTableModel model(&m_doc);
    openSample();
    const size_t a = size_t(rowOf(model, kLayer0)), b = size_t(rowOf(model, kLayer1));
    m_doc.exportRules()->exclude({a, b});
    QCOMPARE(m_doc.undoStack()->count(), 1);
    for (size_t t : {a, b}) {
        QVERIFY(model.isRuleExcluded(int(t)));
        QVERIFY(model.index(int(t), 0).data(TensorTableModel::LeftOutRole).toBool());
        QCOMPARE(model.index(int(t), TensorTableModel::SizeColumn)
                     .data(Qt::ForegroundRole)
                     .value<QColor>(),
                 QColor(Qt::gray));
        const QString tip =
            model.index(int(t), TensorTableModel::ShapeColumn).data(Qt::ToolTipRole).toString();
        QVERIFY2(tip.contains("not exported"), qPrintable(tip));
        QCOMPARE(model.index(int(t), 0).data(TensorTableModel::TargetRole).toInt(),
                 TensorTableModel::NotExportedTarget);
    }
    QVERIFY(!model.isRuleExcluded(rowOf(model, kEmbed)));
    QCOMPARE(m_doc.unassignedCount(), size_t(0));
    m_doc.exportRules()->include({b});
    QVERIFY(model.isRuleExcluded(int(a)));
    QVERIFY(!model.isRuleExcluded(int(b)));
    QVERIFY(!model.index(int(b), TensorTableModel::SizeColumn).data(Qt::ForegroundRole).isValid());
    m_doc.undoStack()->undo(); // the include
    QVERIFY(model.isRuleExcluded(int(b)));
    m_doc.undoStack()->undo(); // the exclude
    QVERIFY(!model.isRuleExcluded(int(a)));
    QVERIFY(!model.isRuleExcluded(int(b)));
    m_doc.undoStack()->redo();
    QVERIFY(model.isRuleExcluded(int(a)));
}

void TestExportGui::castShowsInDTypeColumn() {
    TensorTableModel model(&m_doc);
    openSample();
    const QModelIndex dtype = model.index(0, TensorTableModel::DTypeColumn);
    QCOMPARE(dtype.data().toString(), QString("F32"));
    m_doc.exportRules()->setCast({DType::BF16, {}, true, false});
    QCOMPARE(dtype.data().toString(), QString("F32 → BF16"));
    QCOMPARE(dtype.data(TensorTableModel::ExportedDTypeRole).toInt(), int(DType::BF16));
    QCOMPARE(dtype.data(TensorTableModel::DTypeRole).toInt(), int(DType::F32)); // the filter's
    m_doc.undoStack()->undo();
    QCOMPARE(dtype.data().toString(), QString("F32"));
}

void TestExportGui::filterFindsEitherName() {
    TensorTableModel model(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&model);
    openSample();
    QVERIFY(model.setData(model.index(rowOf(model, kEmbed), TensorTableModel::ExportedNameColumn),
                          "lm.tok_embeddings"));
    proxy.setText("tok_emb", false);
    QCOMPARE(proxy.rowCount(), 1);
    QCOMPARE(proxy.index(0, TensorTableModel::NameColumn).data().toString(), kEmbed);
    proxy.setText("layers", false); // source names still match
    QCOMPARE(proxy.rowCount(), 2);
    proxy.setText("^lm\\.", true);
    QCOMPARE(proxy.rowCount(), 1);
    m_doc.undoStack()->undo(); // the renamed row leaves a filter only its new name matched
    QCOMPARE(proxy.rowCount(), 0);
}

void TestExportGui::renameRulesDialogPreviewsAndAppliesOnce() {
    TensorTableModel model(&m_doc);
    auto ckpt = openSample();
    RenameRulesDialog dialog(ckpt, m_doc.exportRules()->edits());
    QVERIFY(dialog.previewLines().isEmpty());
    dialog.addWrapperRules();
    QVERIFY(!dialog.rules().empty());
    QVERIFY2(dialog.previewLines().contains(kEmbed + " → model.embed.weight"),
             qPrintable(dialog.previewLines().join('\n')));
    QVERIFY(dialog.errorText().isEmpty());
    // Every layer under one name: the collision shows before anything is applied.
    auto rules = dialog.rules();
    rules.push_back({RenameRule::Kind::Regex, "layers\\.[0-9]+", "layers.x"});
    dialog.setRules(rules);
    QVERIFY2(!dialog.errorText().isEmpty(), "a collision is shown");
    rules.pop_back();
    rules.push_back({RenameRule::Kind::Regex, "(unclosed", "x"});
    dialog.setRules(rules);
    QVERIFY(!dialog.errorText().isEmpty());
    rules.pop_back();
    dialog.setRules(rules);
    QVERIFY(dialog.errorText().isEmpty());
    QCOMPARE(m_doc.undoStack()->count(), 0); // nothing applied until OK
    m_doc.exportRules()->setRenameRules(dialog.rules());
    QCOMPARE(m_doc.undoStack()->count(), 1);
    QCOMPARE(
        model.index(rowOf(model, kLayer0), TensorTableModel::ExportedNameColumn).data().toString(),
        QString("model.layers.0.weight"));
    // A name typed in place applies after the rules, whatever they made of it.
    QVERIFY(model.setData(model.index(rowOf(model, kEmbed), TensorTableModel::ExportedNameColumn),
                          "model.embed_tokens.weight"));
    QCOMPARE(
        model.index(rowOf(model, kEmbed), TensorTableModel::ExportedNameColumn).data().toString(),
        QString("model.embed_tokens.weight"));
    m_doc.undoStack()->undo();
    m_doc.undoStack()->undo();
    QCOMPARE(
        model.index(rowOf(model, kLayer0), TensorTableModel::ExportedNameColumn).data().toString(),
        kLayer0);
}

void TestExportGui::exportDialogPlansExportedNames() {
    TensorTableModel model(&m_doc);
    auto ckpt = openSample();
    const int embed = rowOf(model, kEmbed), layer1 = rowOf(model, kLayer1);
    QVERIFY(model.setData(model.index(embed, TensorTableModel::ExportedNameColumn),
                          "model.embed_tokens.weight"));
    m_doc.exportRules()->exclude({size_t(layer1)});
    ExportDialog dialog(ckpt, m_doc.toMapping(), m_doc.unassignedCount());
    dialog.setExportRules(m_doc.exportRules()->rules());
    const Plan plan = dialog.currentPlan();
    QVERIFY(plan.ok());
    QVERIFY(plan.weightMap.count("model.embed_tokens.weight"));
    QVERIFY(!plan.weightMap.count(kEmbed.toStdString()));
    QVERIFY(!plan.weightMap.count(kLayer1.toStdString()));
    QCOMPARE(plan.weightMap.size(), size_t(3));
    QVERIFY(std::count(plan.excluded.begin(), plan.excluded.end(), kLayer1.toStdString()) == 1);
    size_t written = 0;
    for (const PlannedFile& f : plan.files)
        for (const PlannedTensor& t : f.tensors) {
            ++written;
            QVERIFY(t.tensor != size_t(layer1));
        }
    QCOMPARE(written, size_t(3));
    QVERIFY(dialog.ruleProblemText().isEmpty());
    // The cast chosen in the dialog plans at once, but reaches the document only once an export
    // started (exportDialogCastIsOneUndoStep): closing without one tells it nothing.
    QSignalSpy cast(&dialog, &ExportDialog::castRulesChanged);
    auto* combo = dialog.findChild<QComboBox*>("castTarget");
    QVERIFY(combo);
    QCOMPARE(combo->count(), 4);
    QCOMPARE(combo->itemText(0), QString("Keep source dtypes"));
    dialog.setCastTarget(DType::BF16);
    QCOMPARE(dialog.exportRules().cast.to, std::optional<DType>(DType::BF16));
    QCOMPARE(dialog.currentPlan().files.at(0).dataSize, uint64_t(3 * 8 * 2)); // 3 tensors in BF16
    static_cast<QDialog&>(dialog).reject();                                   // Cancel
    QCOMPARE(cast.count(), 0);
}

void TestExportGui::nothingSelectedBlocksExport() {
    TensorTableModel model(&m_doc);
    auto ckpt = openSample();
    std::vector<size_t> all(ckpt->tensors.size());
    std::iota(all.begin(), all.end(), size_t(0));
    m_doc.exportRules()->exclude(all);
    QVERIFY(hasProblem(m_doc.exportRules()->problems(), ErrorKind::NothingSelected));
    ExportDialog dialog(ckpt, m_doc.toMapping(), m_doc.unassignedCount());
    dialog.setExportRules(m_doc.exportRules()->rules());
    dialog.setOutputDirectory(QString::fromStdString(dir("out").string()));
    QVERIFY(!dialog.ruleProblemText().isEmpty());
    QVERIFY(!dialog.startExport());
    QVERIFY(!dialog.isRunning());
    QVERIFY(!dialog.errorText().isEmpty());
    QVERIFY(!fs::exists(dir("out") / kIndexFileName));
}

void TestExportGui::windowActionsOnTheSelection() {
    writeSample(dir("ck"));
    MainWindow w;
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    w.openDirectory(QString::fromStdString(dir("ck").string()));
    QVERIFY(opened.wait(30000));
    w.resize(1024, 700);
    w.show();
    w.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&w));
    QVERIFY(!w.tensorView()->isColumnHidden(TensorTableModel::ExportedNameColumn));
    w.selectTensor(rowOf(*w.tensorModel(), kLayer0));
    QVERIFY(w.excludeAction()->isEnabled());
    QVERIFY(!w.includeAction()->isEnabled());
    QVERIFY(w.renameAction()->isEnabled());
    w.tensorView()->setFocus();
    QTest::keyClick(w.tensorView(), Qt::Key_Delete);
    QVERIFY(w.tensorModel()->isRuleExcluded(rowOf(*w.tensorModel(), kLayer0)));
    QVERIFY(w.isWindowModified()); // the rules are edits like the mapping's
    QVERIFY(!w.excludeAction()->isEnabled());
    QVERIFY(w.includeAction()->isEnabled());
    QTest::keyClick(w.tensorView(), Qt::Key_Insert);
    QVERIFY(!w.tensorModel()->isRuleExcluded(rowOf(*w.tensorModel(), kLayer0)));
    QTest::keyClick(w.tensorView(), Qt::Key_Z, Qt::ControlModifier);
    QVERIFY(w.tensorModel()->isRuleExcluded(rowOf(*w.tensorModel(), kLayer0)));
    QTest::keyClick(w.tensorView(), Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QVERIFY(!w.tensorModel()->isRuleExcluded(rowOf(*w.tensorModel(), kLayer0)));
    QVERIFY(!w.isWindowModified()); // excluded and included again: nothing to save
    RenameRulesDialog* rules = w.showRenameRulesDialog();
    QVERIFY(rules);
    rules->addWrapperRules();
    const int before = w.document()->undoStack()->count();
    rules->accept();
    QCOMPARE(w.document()->undoStack()->count(), before + 1);
    QCOMPARE(w.tensorModel()
                 ->index(rowOf(*w.tensorModel(), kEmbed), TensorTableModel::ExportedNameColumn)
                 .data()
                 .toString(),
             QString("model.embed.weight"));
}

void TestExportGui::outputFilesCountWhatIsExported() {
    OutputFilesModel outputs(&m_doc);
    QAbstractItemModelTester tester(&outputs,
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    TensorTableModel model(&m_doc);
    openSample();
    const size_t layer0 = size_t(rowOf(model, kLayer0)), layer1 = size_t(rowOf(model, kLayer1));
    m_doc.assign({layer0, layer1}, 2); // two files: embed and norm in 1, the layers in 2
    compareWithPlan(outputs, m_doc);
    QCOMPARE(outputs.index(outputRow(outputs, 2), OutputFilesModel::BytesColumn)
                 .data(OutputFilesModel::SortRole)
                 .toULongLong(),
             2 * 32ull);
    m_doc.exportRules()->exclude({layer1});
    compareWithPlan(outputs, m_doc);
    const int file2 = outputRow(outputs, 2);
    QCOMPARE(outputs.index(file2, OutputFilesModel::TensorsColumn).data().toString(), QString("1"));
    QCOMPARE(outputs.index(file2, OutputFilesModel::BytesColumn)
                 .data(OutputFilesModel::SortRole)
                 .toULongLong(),
             32ull);
    const int leftOut = outputRow(outputs, TensorTableModel::NotExportedTarget);
    QVERIFY(leftOut >= 0);
    QCOMPARE(outputs.index(leftOut, OutputFilesModel::NameColumn).data().toString(),
             QString("(excluded, not exported)"));
    QCOMPARE(outputs.index(leftOut, OutputFilesModel::TensorsColumn).data().toString(),
             QString("1"));
    m_doc.exportRules()->setCast({DType::BF16, {}, true, false});
    compareWithPlan(outputs, m_doc);
    QCOMPARE(outputs.index(outputRow(outputs, 1), OutputFilesModel::BytesColumn)
                 .data(OutputFilesModel::SortRole)
                 .toULongLong(),
             2 * 16ull); // embed and norm, 8 elements each in BF16
    QVERIFY(outputs.index(outputRow(outputs, 1), OutputFilesModel::BytesColumn)
                .data(Qt::ToolTipRole)
                .toString()
                .contains("32 bytes"));
    // Undo and redo move the counts with the rules.
    m_doc.undoStack()->undo(); // the cast
    compareWithPlan(outputs, m_doc);
    QCOMPARE(outputs.index(outputRow(outputs, 1), OutputFilesModel::BytesColumn)
                 .data(OutputFilesModel::SortRole)
                 .toULongLong(),
             2 * 32ull);
    m_doc.undoStack()->undo(); // the exclusion
    compareWithPlan(outputs, m_doc);
    QCOMPARE(outputRow(outputs, TensorTableModel::NotExportedTarget), -1);
    m_doc.undoStack()->redo();
    compareWithPlan(outputs, m_doc);
    QVERIFY(outputRow(outputs, TensorTableModel::NotExportedTarget) >= 0);
    // A file the rules empty is shown empty, as nothing is written to it.
    m_doc.exportRules()->exclude({layer0});
    compareWithPlan(outputs, m_doc);
    QCOMPARE(
        outputs.index(outputRow(outputs, 2), OutputFilesModel::TensorsColumn).data().toString(),
        QString("0"));
    QVERIFY(outputs.index(outputRow(outputs, 2), OutputFilesModel::NameColumn)
                .data()
                .toString()
                .contains("empty"));
}

void TestExportGui::exportedNameInViewAt1024() {
    writeSample(dir("ck"));
    MainWindow w;
    w.resize(1024, 700);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    w.openDirectory(QString::fromStdString(dir("ck").string()));
    QVERIFY(opened.wait(30000));
    QTest::qWait(50);
    QTableView* table = w.tensorView();
    const QHeaderView* header = table->horizontalHeader();
    // The exported name right after the source name, and both with the output file and the
    // coverage in view, without resizing anything by hand.
    QCOMPARE(header->visualIndex(TensorTableModel::ExportedNameColumn),
             header->visualIndex(TensorTableModel::NameColumn) + 1);
    for (int c : {TensorTableModel::NameColumn, TensorTableModel::ExportedNameColumn,
                  TensorTableModel::DTypeColumn, TensorTableModel::TargetColumn,
                  TensorTableModel::StatusColumn})
        QVERIFY2(columnInView(table, c), qPrintable(QString("column %1 at %2 + %3 of %4")
                                                        .arg(c)
                                                        .arg(table->columnViewportPosition(c))
                                                        .arg(table->columnWidth(c))
                                                        .arg(table->viewport()->width())));
    // Wide enough to tell names apart: a dozen characters at least.
    const int least = table->fontMetrics().averageCharWidth() * 12;
    QVERIFY(table->columnWidth(TensorTableModel::ExportedNameColumn) >= least);
    QVERIFY(table->columnWidth(TensorTableModel::NameColumn) >= least);
    QCOMPARE(table->textElideMode(), Qt::ElideMiddle);

    // Nothing renamed: the exported names repeat the source names, which take the room.
    const int shared = table->columnWidth(TensorTableModel::NameColumn) +
                       table->columnWidth(TensorTableModel::ExportedNameColumn);
    QVERIFY(table->columnWidth(TensorTableModel::NameColumn) >=
            2 * table->columnWidth(TensorTableModel::ExportedNameColumn));
    // The first rename splits it; undoing it gives it back.
    TensorTableModel* model = w.tensorModel();
    QVERIFY(
        model->setData(model->index(rowOf(*model, kEmbed), TensorTableModel::ExportedNameColumn),
                       QString("embed.weight")));
    QVERIFY(std::abs(table->columnWidth(TensorTableModel::NameColumn) -
                     table->columnWidth(TensorTableModel::ExportedNameColumn)) <= 1);
    QVERIFY(std::abs(table->columnWidth(TensorTableModel::NameColumn) +
                     table->columnWidth(TensorTableModel::ExportedNameColumn) - shared) <= 1);
    w.document()->undoStack()->undo();
    QCOMPARE(
        model->index(rowOf(*model, kEmbed), TensorTableModel::ExportedNameColumn).data().toString(),
        QString(kEmbed));
    QVERIFY(table->columnWidth(TensorTableModel::NameColumn) >=
            2 * table->columnWidth(TensorTableModel::ExportedNameColumn));
    // F2 opens the editor with room to type in.
    w.selectTensor(rowOf(*model, kLayer0));
    table->setFocus();
    QTest::keyClick(table, Qt::Key_F2);
    QVERIFY(std::abs(table->columnWidth(TensorTableModel::NameColumn) -
                     table->columnWidth(TensorTableModel::ExportedNameColumn)) <= 1);
    auto* editor = qobject_cast<QLineEdit*>(QApplication::focusWidget());
    QVERIFY(editor); // the editor is open
    editor->setText("blocks.0.weight");
    // Closing the window commits the typed name first, so the prompt knows of it; the window
    // stays open when the prompt is cancelled.
    QString prompt;
    onNextModal<QMessageBox>([&](QMessageBox* box) {
        prompt = box->text();
        box->button(QMessageBox::Cancel)->click();
    });
    QVERIFY(!w.close());
    QVERIFY2(prompt.contains("export rules"), qPrintable(prompt));
    QCOMPARE(model->index(rowOf(*model, kLayer0), TensorTableModel::ExportedNameColumn)
                 .data()
                 .toString(),
             QString("blocks.0.weight"));
    // An editor still open when the window goes must not write into its freed document.
    w.selectTensor(rowOf(*model, kEmbed));
    w.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&w));
    table->setFocus();
    QTest::keyClick(table, Qt::Key_F2);
    QVERIFY(qobject_cast<QLineEdit*>(QApplication::focusWidget()));
    qobject_cast<QLineEdit*>(QApplication::focusWidget())->setText("typed.but.not.entered");
}

void TestExportGui::rulesFileRoundTrip() {
    writeSample(dir("ck"));
    MainWindow w;
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    const QString ck = QString::fromStdString(dir("ck").string());
    w.openDirectory(ck);
    QVERIFY(opened.wait(30000));
    QVERIFY(w.saveRulesAction()->isEnabled());
    QVERIFY(w.loadRulesAction()->isEnabled());
    ExportRulesDocument* rules = w.document()->exportRules();
    TensorTableModel* model = w.tensorModel();
    rules->setRenameRules(wrapperRules());
    QVERIFY(
        model->setData(model->index(rowOf(*model, kEmbed), TensorTableModel::ExportedNameColumn),
                       "model.embed_tokens.weight"));
    rules->exclude({size_t(rowOf(*model, kLayer1))});
    rules->setCast({DType::BF16, {"norm"}, true, true});
    QVERIFY(rules->hasUnsavedEdits());
    QVERIFY(w.isWindowModified());
    const ExportEdits edited = rules->edits();
    const QString file = m_tmp->filePath("rules.json");
    QVERIFY(w.saveExportRulesFile(file));
    QVERIFY(!rules->hasUnsavedEdits());
    QVERIFY(!w.isWindowModified()); // the mapping was not changed
    QFile saved(file);
    QVERIFY(saved.open(QIODevice::ReadOnly));
    QCOMPARE(exportRulesFromJson(saved.readAll().toStdString(), "rules.json"), rules->rules());

    w.openDirectory(ck); // nothing unsaved: no question; a new checkpoint has no rules
    QVERIFY(opened.wait(30000));
    QCOMPARE(rules->edits(), ExportEdits{});
    const int before = w.document()->undoStack()->count();
    QVERIFY(w.loadExportRulesFile(file));
    QCOMPARE(w.document()->undoStack()->count(), before + 1);
    // The names typed in place come back as such, not as rules after the others.
    QCOMPARE(rules->edits(), edited);
    QVERIFY(!rules->hasUnsavedEdits());
    QVERIFY(!w.isWindowModified());
    QCOMPARE(
        model->index(rowOf(*model, kEmbed), TensorTableModel::ExportedNameColumn).data().toString(),
        QString("model.embed_tokens.weight"));
    QVERIFY(model->isRuleExcluded(rowOf(*model, kLayer1)));
    QCOMPARE(model->index(0, TensorTableModel::DTypeColumn).data().toString(),
             QString("F32 → BF16"));
    w.document()->undoStack()->undo(); // the load, as one step
    QCOMPARE(rules->edits(), ExportEdits{});
    QVERIFY(rules->hasUnsavedEdits()); // the file's rules are no longer the document's
    QVERIFY(w.isWindowModified());
    w.document()->undoStack()->redo();
    QVERIFY(!w.isWindowModified());
}

void TestExportGui::badRulesFileNamesFileAndLine() {
    writeSample(dir("ck"));
    MainWindow w;
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    w.openDirectory(QString::fromStdString(dir("ck").string()));
    QVERIFY(opened.wait(30000));
    const QString file = m_tmp->filePath("broken-rules.json");
    QFile out(file);
    QVERIFY(out.open(QIODevice::WriteOnly));
    out.write("{\n  \"version\": 1,\n  \"rename\": [,\n}\n");
    out.close();
    const int before = w.document()->undoStack()->count();
    QVERIFY(!w.loadExportRulesFile(file));
    QCOMPARE(w.document()->undoStack()->count(), before);
    const auto boxes = w.findChildren<QMessageBox*>();
    QVERIFY(!boxes.isEmpty());
    const QString text = boxes.last()->text();
    QVERIFY2(text.contains(file) && text.contains("line 3"), qPrintable(text));
    boxes.last()->close();
}

void TestExportGui::unsavedPromptNamesTheRules() {
    writeSample(dir("ck"));
    MainWindow w;
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    const QString ck = QString::fromStdString(dir("ck").string());
    w.openDirectory(ck);
    QVERIFY(opened.wait(30000));
    w.document()->exportRules()->exclude({size_t(rowOf(*w.tensorModel(), kLayer1))});
    QVERIFY(w.isWindowModified());
    QString text, save;
    auto cancel = [&](QMessageBox* box) {
        text = box->text();
        save = box->button(QMessageBox::Save)->text();
        box->button(QMessageBox::Cancel)->click();
    };
    onNextModal<QMessageBox>(cancel);
    w.openDirectory(ck); // cancelled: the rules stay
    QVERIFY2(text.contains("export rules") && text.contains("mapping file does not hold them"),
             qPrintable(text));
    QCOMPARE(save, QString("&Save…"));
    QVERIFY(w.tensorModel()->isRuleExcluded(rowOf(*w.tensorModel(), kLayer1)));
    // Both unsaved: the prompt says so and saves both.
    w.document()->assign({size_t(rowOf(*w.tensorModel(), kEmbed))}, 2);
    onNextModal<QMessageBox>(cancel);
    w.openDirectory(ck);
    QVERIFY2(text.contains("mapping and the export rules"), qPrintable(text));
    QCOMPARE(save, QString("&Save Both…"));
    // Rules saved, the mapping not: the mapping alone is asked about.
    QVERIFY(w.saveExportRulesFile(m_tmp->filePath("rules.json")));
    QVERIFY(w.isWindowModified());
    onNextModal<QMessageBox>(cancel);
    w.openDirectory(ck);
    QVERIFY2(text.contains("output-file mapping") && !text.contains("export rules"),
             qPrintable(text));
    onNextModal<QMessageBox>([](QMessageBox* box) { box->button(QMessageBox::Discard)->click(); });
    w.openDirectory(ck);
    QVERIFY(opened.wait(30000));
    QVERIFY(!w.isWindowModified());
}

void TestExportGui::exportDialogCastIsOneUndoStep() {
    writeSample(dir("ck"));
    MainWindow w;
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    w.openDirectory(QString::fromStdString(dir("ck").string()));
    QVERIFY(opened.wait(30000));
    QUndoStack* undo = w.document()->undoStack();
    ExportRulesDocument* rules = w.document()->exportRules();
    const int before = undo->count();
    // Cancel: however often the cast controls changed, the document did not.
    QPointer<ExportDialog> dialog = w.showExportDialog();
    QVERIFY(dialog);
    auto* combo = dialog->findChild<QComboBox*>("castTarget");
    combo->setCurrentIndex(combo->findText("BF16"));
    combo->setCurrentIndex(combo->findText("F16"));
    dialog->setCastStrict(true);
    dialog->setCastKeep("norm");
    QCOMPARE(undo->count(), before);
    static_cast<QDialog*>(dialog.data())->reject(); // Cancel
    QCOMPARE(undo->count(), before);
    QCOMPARE(rules->edits().cast, CastRules{});
    QTRY_VERIFY(!dialog); // closed and deleted
    // An export: its cast is one edit, made when the dialog closes.
    dialog = w.showExportDialog();
    QVERIFY(dialog);
    combo = dialog->findChild<QComboBox*>("castTarget");
    combo->setCurrentIndex(combo->findText("F16"));
    combo->setCurrentIndex(combo->findText("BF16"));
    dialog->setCastStrict(true);
    dialog->setOutputDirectory(m_tmp->filePath("out"));
    QSignalSpy finished(dialog.data(), &ExportDialog::exportFinished);
    QVERIFY(dialog->startExport());
    QVERIFY(finished.wait(30000));
    QVERIFY(finished.at(0).at(0).value<ExportOutcome>().ok);
    QCOMPARE(undo->count(), before);
    dialog->accept(); // Close on the result page
    QCOMPARE(undo->count(), before + 1);
    QCOMPARE(rules->edits().cast.to, std::optional<DType>(DType::BF16));
    QVERIFY(rules->edits().cast.strict);
    QCOMPARE(w.tensorModel()->index(0, TensorTableModel::DTypeColumn).data().toString(),
             QString("F32 → BF16"));
    undo->undo();
    QCOMPARE(rules->edits().cast, CastRules{});
}

QTEST_MAIN(TestExportGui)
#include "tst_export_gui.moc"
