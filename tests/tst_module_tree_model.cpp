// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// The module tree in the window: the model under QAbstractItemModelTester (100,000 tensors
// included), its roles, and selecting nodes to filter the tensor table.

#include "main_window.h"
#include "mapping_document.h"
#include "module_tree_model.h"
#include "module_tree_view.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"

#include "tensor_values.h"
#include <QAbstractItemModelTester>
#include <QApplication>
#include <QDockWidget>
#include <QGuiApplication>
#include <QScreen>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QStandardPaths>
#include <QTableView>

#include <QTest>
#include <QTreeView>

#include <algorithm>

using namespace shardscope;

namespace {

TensorInfo tensor(std::string fqn, Shape shape = {4, 4},
                  CoverageStatus status = CoverageStatus::Complete) {
    return testing::tensorValue(std::move(fqn), std::move(shape), status);
}

std::shared_ptr<const Checkpoint> checkpoint(std::vector<TensorInfo> tensors) {
    auto ckpt = std::make_shared<Checkpoint>();
    std::sort(tensors.begin(), tensors.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.fqn < b.fqn; });
    ckpt->tensors = std::move(tensors);
    return ckpt;
}

// model.layers.{0..31} with three tensors each, a hole at 5 in "model.extra", and the usual
// embedding, norm and head.
std::shared_ptr<const Checkpoint> llamaLike() {
    std::vector<TensorInfo> out;
    out.push_back(tensor("model.embed_tokens.weight", {320, 64}));
    out.push_back(tensor("model.norm.weight", {64}));
    out.push_back(tensor("lm_head.weight", {320, 64}));
    for (int l = 0; l < 32; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        out.push_back(tensor(p + "attn.q.weight", {64, 64},
                             l == 9 ? CoverageStatus::Overlap : CoverageStatus::Complete));
        out.push_back(tensor(p + "attn.k.weight", {16, 64}));
        out.push_back(tensor(p + "mlp.up.weight", {128, 64}));
    }
    for (int l : {0, 1, 2, 5})
        out.push_back(tensor("model.extra." + std::to_string(l) + ".w", {2}));
    return checkpoint(std::move(out));
}

std::shared_ptr<const Checkpoint> hundredThousand() {
    std::vector<TensorInfo> out;
    out.reserve(100000);
    out.push_back(tensor("model.embed_tokens.weight", {1000, 8}));
    out.push_back(tensor("lm_head.weight", {1000, 8}));
    for (int l = 0; out.size() < 100000; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        for (const char* w : {"self_attn.q_proj.weight", "self_attn.o_proj.weight",
                              "input_layernorm.weight", "mlp.gate.weight"})
            out.push_back(tensor(p + w, {8, 8}));
        for (int e = 0; e < 64 && out.size() < 100000; ++e)
            for (const char* w : {"gate_proj", "up_proj", "down_proj"})
                out.push_back(
                    tensor(p + "mlp.experts." + std::to_string(e) + "." + w + ".weight", {8, 4}));
    }
    out.resize(100000);
    return checkpoint(std::move(out));
}

QModelIndex find(const QAbstractItemModel* model, const QString& label, QModelIndex parent = {}) {
    for (int r = 0; r < model->rowCount(parent); ++r) {
        const QModelIndex i = model->index(r, 0, parent);
        if (i.data(ModuleTreeModel::PathRole).toString().section('.', -1) == label ||
            i.data(Qt::DisplayRole).toString().startsWith(label + " ") ||
            i.data(Qt::DisplayRole).toString() == label)
            return i;
    }
    return {};
}

QStringList visibleNames(QAbstractItemModel* proxy) {
    QStringList out;
    for (int r = 0; r < proxy->rowCount(); ++r)
        out << proxy->index(r, TensorTableModel::NameColumn).data().toString();
    return out;
}

} // namespace

class TestModuleTreeModel : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void testerWithHundredThousandTensors();
    void columnsAndRoles();
    void selectionFiltersTheTable();
    void modulesDockInTheWindow();
};

void TestModuleTreeModel::initTestCase() {
    QStandardPaths::setTestModeEnabled(true); // the window's settings go to a test location
}

void TestModuleTreeModel::testerWithHundredThousandTensors() {
    MappingDocument doc;
    ModuleTreeModel model(&doc);
    QSortFilterProxyModel sorted;
    sorted.setSortRole(ModuleTreeModel::SortRole);
    sorted.setSourceModel(&model);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester sortedTester(&sorted,
                                          QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);

    auto ckpt = hundredThousand();
    doc.reset(ckpt, {}); // the model rebuilds from the document's snapshot
    QVERIFY(model.tree());
    QCOMPARE(model.tree()->nodes[0].tensorCount, 100000u);
    QCOMPARE(model.rowCount(), 2); // lm_head, model
    const QModelIndex modelNode = find(&model, "model");
    QVERIFY(modelNode.isValid());
    QCOMPARE(model.rowCount(modelNode), 2); // embed_tokens, layers.{…}
    const QModelIndex layers = model.index(1, 0, modelNode);
    QVERIFY(layers.data().toString().startsWith("layers.{0.."));
    const int blocks = model.rowCount(layers);
    QVERIFY(blocks > 400);
    QVERIFY(layers.data().toString().endsWith(QString(" ×%1").arg(blocks)));
    QCOMPARE(model.parent(model.index(blocks - 1, 3, layers)), layers);
    QCOMPARE(model.tensorsOf(layers).size(), size_t(100000 - 2));

    sorted.sort(ModuleTreeModel::TensorsColumn, Qt::DescendingOrder);
    QCOMPARE(sorted.index(0, 0).data().toString(), "model");
    sorted.sort(ModuleTreeModel::NameColumn, Qt::AscendingOrder);
    QCOMPARE(sorted.index(0, 0).data().toString(), "lm_head");

    doc.reset(checkpoint({}), {}); // an empty checkpoint
    QCOMPARE(model.rowCount(), 0);
    QVERIFY(model.tree()->empty());
    doc.reset(nullptr, {});
    QCOMPARE(model.rowCount(), 0);
    QVERIFY(!model.tree());
}

void TestModuleTreeModel::columnsAndRoles() {
    ModuleTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    auto ckpt = llamaLike();
    model.setTree(std::make_shared<const ModuleTree>(buildModuleTree(*ckpt)));
    QCOMPARE(model.columnCount(), int(ModuleTreeModel::ColumnCount));
    QCOMPARE(model.headerData(ModuleTreeModel::NameColumn, Qt::Horizontal, Qt::DisplayRole),
             "Module");
    const QModelIndex m = find(&model, "model");
    QStringList children;
    for (int r = 0; r < model.rowCount(m); ++r)
        children << model.index(r, 0, m).data().toString();
    QCOMPARE(children,
             QStringList({"embed_tokens", "extra.{0..2,5} ×4", "layers.{0..31} ×32", "norm"}));

    const QModelIndex layers = model.index(2, 0, m);
    auto cell = [&](int column, int role = Qt::DisplayRole) {
        return model.index(layers.row(), column, m).data(role);
    };
    QCOMPARE(cell(ModuleTreeModel::TensorsColumn).toString(), "96");
    const qulonglong params = 32ull * (64 * 64 + 16 * 64 + 128 * 64);
    QCOMPARE(cell(ModuleTreeModel::ParametersColumn, ModuleTreeModel::SortRole).toULongLong(),
             params);
    QCOMPARE(cell(ModuleTreeModel::ParametersColumn).toString(), "426 K"); // 425,984
    QVERIFY(cell(ModuleTreeModel::ParametersColumn, Qt::ToolTipRole).toString().contains("425"));
    QCOMPARE(cell(ModuleTreeModel::SizeColumn, ModuleTreeModel::SortRole).toULongLong(),
             params * 4);
    QCOMPARE(cell(ModuleTreeModel::StatusColumn).toString(), "Overlap");
    QCOMPARE(cell(ModuleTreeModel::StatusColumn, ModuleTreeModel::StatusRole).toInt(),
             int(CoverageStatus::Overlap));
    QCOMPARE(layers.data(ModuleTreeModel::PathRole).toString(), "model.layers.{0..31}");
    QVERIFY(layers.data(Qt::ToolTipRole).toString().contains("32 numbered blocks"));
    QCOMPARE(model.index(0, 0, layers).data().toString(), "layers.0");
    QCOMPARE(model.index(10, 0, layers).data().toString(), "layers.10");
    QCOMPARE(model.index(9, ModuleTreeModel::StatusColumn, layers).data().toString(), "Overlap");
    QCOMPARE(model.index(8, ModuleTreeModel::StatusColumn, layers).data().toString(), "Complete");

    // Name sorting keeps the tree's natural order; indexOfNode round-trips.
    const uint32_t id = model.nodeOf(layers);
    QCOMPARE(model.indexOfNode(id), layers);
    QVERIFY(model.index(0, 0, layers).data(ModuleTreeModel::SortRole).toULongLong() <
            model.index(1, 0, layers).data(ModuleTreeModel::SortRole).toULongLong());

    QCOMPARE(ModuleTreeModel::shortCount(4096), "4,096");
    QCOMPARE(ModuleTreeModel::shortCount(6738415616ull), "6.74 B");
    QCOMPARE(ModuleTreeModel::shortCount(131072000), "131 M");
    QCOMPARE(ModuleTreeModel::shortCount(999999), "1.00 M");
}

void TestModuleTreeModel::selectionFiltersTheTable() {
    MappingDocument doc;
    TensorTableModel table(&doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&table);
    ModuleTreeModel model(&doc);
    ModuleTreeView view(&model);
    QSignalSpy changed(&view, &ModuleTreeView::tensorFilterChanged);
    connect(&view, &ModuleTreeView::tensorFilterChanged, &proxy, &TensorFilterProxy::setRowSubset);
    auto ckpt = llamaLike();
    doc.reset(ckpt, {});
    const int all = int(ckpt->tensors.size());
    QCOMPARE(proxy.rowCount(), all);

    // One group: exactly its tensors.
    const QModelIndex m = find(&model, "model");
    const QModelIndex layers = model.index(2, 0, m);
    view.selectNode(model.nodeOf(layers));
    QCOMPARE(changed.count(), 1);
    QCOMPARE(proxy.rowCount(), 96);
    for (const QString& name : visibleNames(&proxy))
        QVERIFY2(name.startsWith("model.layers."), qPrintable(name));
    QCOMPARE(view.tensorMask().size(), size_t(all));

    // One block: "layers.1" shows layers.1's tensors only, not layers.10…19.
    view.selectNode(model.nodeOf(model.index(1, 0, layers)));
    QCOMPARE(proxy.rowCount(), 3);
    for (const QString& name : visibleNames(&proxy))
        QVERIFY2(name.startsWith("model.layers.1."), qPrintable(name));

    // The exact tensor indices, as the table knows them.
    const QModelIndex extra = model.index(1, 0, m);
    std::vector<uint32_t> indices = model.tensorsOf(extra);
    std::sort(indices.begin(), indices.end());
    QCOMPARE(indices.size(), size_t(4));
    for (uint32_t t : indices)
        QVERIFY(ckpt->tensors[t].fqn.starts_with("model.extra."));

    // Several nodes: the union (extended selection through the view's sort proxy).
    auto* tree = view.treeView();
    auto* sorted = tree->model();
    QItemSelection both;
    const QModelIndex sm = sorted->index(1, 0); // "model" (lm_head sorts first)
    QCOMPARE(sm.data().toString(), "model");
    both.select(sorted->index(0, 0, sm), sorted->index(0, 0, sm)); // embed_tokens
    both.select(sorted->index(3, 0, sm), sorted->index(3, 0, sm)); // norm
    both.select(sorted->index(0, 0), sorted->index(0, 0));         // lm_head
    tree->selectionModel()->select(both,
                                   QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    QCOMPARE(proxy.rowCount(), 3);
    QCOMPARE(visibleNames(&proxy).join(','),
             "lm_head.weight,model.embed_tokens.weight,model.norm.weight");

    // Filters combine: the module and a name filter.
    view.selectNode(model.nodeOf(layers));
    proxy.setText("attn.q", false);
    QCOMPARE(proxy.rowCount(), 32);
    proxy.setText({}, false);

    // Nothing selected: everything again; a new checkpoint clears the selection too.
    view.clearSelection();
    QCOMPARE(proxy.rowCount(), all);
    QVERIFY(view.tensorMask().empty());
    view.selectNode(model.nodeOf(layers));
    QCOMPARE(proxy.rowCount(), 96);
    auto other = checkpoint({tensor("x.w"), tensor("y.w")});
    doc.reset(other, {});
    QCOMPARE(proxy.rowCount(), 2);
    QVERIFY(view.tensorMask().empty());
    QVERIFY(!proxy.hasRowSubset());
}

void TestModuleTreeModel::modulesDockInTheWindow() {
    MainWindow w;
    auto* dock = w.findChild<QDockWidget*>("modulesDock");
    QVERIFY(dock);
    QCOMPARE(dock->windowTitle(), "Modules");
    auto* view = qobject_cast<ModuleTreeView*>(dock->widget());
    QVERIFY(view);
    w.resize(1024, 700);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    // Beside the table only on a wide screen; Ctrl+M (View ▸ Modules) brings it in anywhere.
    const bool wide = QGuiApplication::primaryScreen()->availableGeometry().width() >= 1280;
    QCOMPARE(dock->isVisible(), wide);
    if (!wide) {
        QTest::keyClick(&w, Qt::Key_M, Qt::ControlModifier);
        QTRY_VERIFY(dock->isVisible());
    }

    auto ckpt = llamaLike();
    w.document()->reset(ckpt, {});
    const int all = int(ckpt->tensors.size());
    QCOMPARE(w.tensorProxy()->rowCount(), all);
    ModuleTreeModel* model = view->model();
    const QModelIndex m = find(model, "model");
    QVERIFY(view->treeView()->isExpanded(view->treeView()->model()->index(1, 0)));

    // Select a group: the table shows its tensors, one of them selected for the details.
    w.selectTensor(int(std::find_if(ckpt->tensors.begin(), ckpt->tensors.end(),
                                    [](const TensorInfo& t) { return t.fqn == "lm_head.weight"; }) -
                       ckpt->tensors.begin()));
    view->selectNode(model->nodeOf(model->index(2, 0, m)));
    QCOMPARE(w.tensorProxy()->rowCount(), 96);
    QVERIFY(w.tensorView()->selectionModel()->hasSelection());
    QVERIFY(w.tensorView()->currentIndex().data().toString().startsWith("model.layers."));

    // A tensor node activated (Enter) selects that tensor in the table.
    const QModelIndex block = model->index(4, 0, model->index(2, 0, m));
    const QModelIndex attn = model->index(0, 0, block);
    const QModelIndex k = model->index(0, 0, attn);
    const QModelIndex weight = model->index(0, 0, k);
    QCOMPARE(weight.data(ModuleTreeModel::PathRole).toString(), "model.layers.4.attn.k.weight");
    view->selectNode(model->nodeOf(weight));
    QCOMPARE(w.tensorProxy()->rowCount(), 1);
    view->treeView()->setFocus();
    QTest::keyClick(view->treeView(), Qt::Key_Return);
    QCOMPARE(w.tensorView()->currentIndex().data().toString(), "model.layers.4.attn.k.weight");

    // Show All lifts the module filter.
    view->clearSelection();
    QCOMPARE(w.tensorProxy()->rowCount(), all);
}

QTEST_MAIN(TestModuleTreeModel)
#include "tst_module_tree_model.moc"
