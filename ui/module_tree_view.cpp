// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "module_tree_view.h"

#include "module_tree_model.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QPainter>
#include <QSortFilterProxyModel>
#include <QToolButton>
#include <QTreeView>
#include <QVBoxLayout>

#include <algorithm>

namespace shardscope {
namespace {

// One line that elides in the middle rather than clipping: "Showing model.la…rs.0 · 11".
class ElidedLabel : public QLabel {
public:
    using QLabel::QLabel;

protected:
    void paintEvent(QPaintEvent*) override {
        QPainter painter(this);
        const QRect r = contentsRect();
        painter.drawText(r, int(alignment()),
                         fontMetrics().elidedText(text(), Qt::ElideMiddle, r.width()));
    }
};

} // namespace

ModuleTreeView::ModuleTreeView(ModuleTreeModel* model, QWidget* parent)
    : QWidget(parent), m_model(model) {
    m_sort = new QSortFilterProxyModel(this);
    m_sort->setSortRole(ModuleTreeModel::SortRole);
    m_sort->setSourceModel(m_model);

    m_tree = new QTreeView(this);
    m_tree->setObjectName("moduleTree");
    m_tree->setModel(m_sort);
    m_tree->setUniformRowHeights(true); // 100,000 tensors make a tall tree
    m_tree->setAlternatingRowColors(true);
    m_tree->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_tree->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_tree->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_tree->setSortingEnabled(true);
    m_tree->sortByColumn(ModuleTreeModel::NameColumn, Qt::AscendingOrder);
    m_tree->setTabKeyNavigation(false);
    m_tree->setMinimumWidth(fontMetrics().averageCharWidth() * 28); // never squeezed to nothing
    // The name stays readable in a narrow dock: it keeps its width and the numbers, sized to
    // what they show, scroll if the dock is narrower still.
    QHeaderView* header = m_tree->header();
    header->setStretchLastSection(true);
    header->setSectionResizeMode(QHeaderView::Interactive);
    const QFontMetrics fm = fontMetrics();
    const int pad = fm.averageCharWidth() * 2;
    auto fit = [&](int column, std::initializer_list<const char*> samples, int extra = 0) {
        int width = fm.horizontalAdvance(
            m_model->headerData(column, Qt::Horizontal, Qt::DisplayRole).toString());
        for (const char* sample : samples)
            width = std::max(width, fm.horizontalAdvance(QString::fromUtf8(sample)));
        header->resizeSection(column, width + pad + extra);
    };
    header->resizeSection(ModuleTreeModel::NameColumn,
                          fm.horizontalAdvance("layers.{0..31} ×32") + m_tree->indentation() * 2);
    fit(ModuleTreeModel::TensorsColumn, {"100,000"});
    fit(ModuleTreeModel::ParametersColumn, {"999.9 M"});
    fit(ModuleTreeModel::SizeColumn, {"999.99 MiB"});
    fit(ModuleTreeModel::StatusColumn, {"Conflict"}, 22);

    m_scope = new ElidedLabel(this);
    m_scope->setTextFormat(Qt::PlainText);
    m_scope->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_showAll = new QToolButton(this);
    m_showAll->setText(tr("Show &All"));
    m_showAll->setToolTip(tr("Show every tensor in the table again"));
    m_showAll->setAutoRaise(true);
    connect(m_showAll, &QToolButton::clicked, this, &ModuleTreeView::clearSelection);

    auto* bar = new QHBoxLayout;
    bar->setContentsMargins(4, 2, 2, 2);
    bar->addWidget(m_scope, 1);
    bar->addWidget(m_showAll);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    layout->addLayout(bar);
    layout->addWidget(m_tree);
    setFocusProxy(m_tree);

    connect(m_tree->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &ModuleTreeView::selectionChanged);
    // A reset clears the selection without a signal; the old mask names another checkpoint.
    connect(m_sort, &QAbstractItemModel::modelReset, this, [this] {
        selectionChanged();
        // Open what a first look needs: the top level and, for a single top module, its children.
        m_tree->expandToDepth(0);
        if (m_sort->rowCount() == 1) m_tree->expandToDepth(1);
    });
    connect(m_tree, &QTreeView::activated, this, [this](const QModelIndex& index) {
        const QModelIndex source = m_sort->mapToSource(index);
        const uint32_t id = m_model->nodeOf(source);
        auto tree = m_model->tree();
        if (tree && id < tree->nodes.size() && tree->nodes[id].tensor >= 0)
            emit tensorActivated(int(tree->nodes[id].tensor));
    });
    updateScope();
}

void ModuleTreeView::selectNode(uint32_t node) {
    const QModelIndex index = m_sort->mapFromSource(m_model->indexOfNode(node));
    if (!index.isValid()) {
        clearSelection();
        return;
    }
    m_tree->scrollTo(index);
    m_tree->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect |
                                                         QItemSelectionModel::Rows);
}

void ModuleTreeView::clearSelection() {
    m_tree->selectionModel()->clearSelection();
}

void ModuleTreeView::selectionChanged() {
    QModelIndexList nodes;
    for (const QModelIndex& index : m_tree->selectionModel()->selectedRows())
        nodes << m_sort->mapToSource(index);
    std::vector<bool> mask = m_model->tensorMask(nodes);
    if (mask == m_mask) {
        updateScope();
        return;
    }
    m_mask = std::move(mask);
    updateScope();
    emit tensorFilterChanged(m_mask);
}

void ModuleTreeView::updateScope() {
    const QModelIndexList rows = m_tree->selectionModel()->selectedRows();
    m_showAll->setEnabled(!rows.isEmpty());
    if (!m_model->tree() || m_model->tree()->empty()) {
        m_scope->setText(tr("No modules"));
        m_scope->setToolTip({});
        return;
    }
    if (rows.isEmpty()) {
        m_scope->setText(tr("Showing all tensors"));
        m_scope->setToolTip(tr("Select modules to show only their tensors in the table."));
        return;
    }
    const qulonglong count = qulonglong(std::count(m_mask.begin(), m_mask.end(), true));
    const QString shown = QLocale().toString(count);
    const QString what = rows.size() == 1 ? rows.front().data(ModuleTreeModel::PathRole).toString()
                                          : tr("%1 modules").arg(rows.size());
    m_scope->setText(tr("Showing %1 · %2").arg(what, shown));
    m_scope->setToolTip(
        count == 1 ? tr("The tensor table shows only %1.").arg(what)
                   : tr("The tensor table shows only the %1 tensors under %2.").arg(shown, what));
}

} // namespace shardscope
