// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// Export rules in the GUI: the Exported name column and its in-place renames, Exclude from
// Export and Include in Export, the cast in the DType column, the filter by either name, the
// Rename Rules dialog and the export dialog's plan, every edit undoable.

#include "export_dialog.h"
#include "main_window.h"
#include "mapping_document.h"
#include "problems_model.h"
#include "rename_rules_dialog.h"
#include "shard_builder.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QApplication>
#include <QColor>
#include <QComboBox>
#include <QLocale>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <filesystem>
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
    QCOMPARE(model.headerData(TensorTableModel::ExportedNameColumn, Qt::Horizontal,
                              Qt::DisplayRole)
                 .toString(),
             QString("Exported name"));
    const QModelIndex cell = model.index(rowOf(model, kEmbed), TensorTableModel::ExportedNameColumn);
    QVERIFY(model.flags(cell) & Qt::ItemIsEditable);
    QVERIFY(!(model.flags(cell.siblingAtColumn(TensorTableModel::NameColumn)) &
              Qt::ItemIsEditable));
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
    QCOMPARE(model.index(rowOf(model, kLayer0), TensorTableModel::ExportedNameColumn)
                 .data()
                 .toString(),
             QString("model.layers.0.weight"));
    // A name typed in place applies after the rules, whatever they made of it.
    QVERIFY(model.setData(model.index(rowOf(model, kEmbed), TensorTableModel::ExportedNameColumn),
                          "model.embed_tokens.weight"));
    QCOMPARE(model.index(rowOf(model, kEmbed), TensorTableModel::ExportedNameColumn)
                 .data()
                 .toString(),
             QString("model.embed_tokens.weight"));
    m_doc.undoStack()->undo();
    m_doc.undoStack()->undo();
    QCOMPARE(model.index(rowOf(model, kLayer0), TensorTableModel::ExportedNameColumn)
                 .data()
                 .toString(),
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
    // The cast chosen in the dialog reaches the document through castRulesChanged.
    QSignalSpy cast(&dialog, &ExportDialog::castRulesChanged);
    auto* combo = dialog.findChild<QComboBox*>("castTarget");
    QVERIFY(combo);
    QCOMPARE(combo->count(), 4);
    QCOMPARE(combo->itemText(0), QString("Keep source dtypes"));
    dialog.setCastTarget(DType::BF16);
    QCOMPARE(cast.count(), 1);
    QCOMPARE(cast.at(0).at(0).value<CastRules>().to, std::optional<DType>(DType::BF16));
    QCOMPARE(dialog.exportRules().cast.to, std::optional<DType>(DType::BF16));
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
    QVERIFY(!w.excludeAction()->isEnabled());
    QVERIFY(w.includeAction()->isEnabled());
    QTest::keyClick(w.tensorView(), Qt::Key_Insert);
    QVERIFY(!w.tensorModel()->isRuleExcluded(rowOf(*w.tensorModel(), kLayer0)));
    QTest::keyClick(w.tensorView(), Qt::Key_Z, Qt::ControlModifier);
    QVERIFY(w.tensorModel()->isRuleExcluded(rowOf(*w.tensorModel(), kLayer0)));
    QTest::keyClick(w.tensorView(), Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QVERIFY(!w.tensorModel()->isRuleExcluded(rowOf(*w.tensorModel(), kLayer0)));
    QVERIFY(w.isWindowModified()); // the rules are edits like the mapping's
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

QTEST_MAIN(TestExportGui)
#include "tst_export_gui.moc"
