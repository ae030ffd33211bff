// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QWidget>

#include <cstdint>
#include <vector>

class QLabel;
class QSortFilterProxyModel;
class QToolButton;
class QTreeView;

namespace shardscope {

class ModuleTreeModel;

// The module tree with a line saying what the tensor table is narrowed to. Selecting nodes
// narrows the table to their tensors; "Show All" (or an empty selection) lifts that.
class ModuleTreeView : public QWidget {
    Q_OBJECT

public:
    explicit ModuleTreeView(ModuleTreeModel* model, QWidget* parent = nullptr);

    ModuleTreeModel* model() const { return m_model; }
    QTreeView* treeView() const { return m_tree; }
    // Selects (and shows) one node, replacing the selection; 0 clears it.
    void selectNode(uint32_t node);
    void clearSelection();
    // Per Checkpoint::tensors index: under a selected node. Empty when nothing is selected.
    const std::vector<bool>& tensorMask() const { return m_mask; }

signals:
    // The set of tensors the table should show; empty for all of them.
    void tensorFilterChanged(const std::vector<bool>& mask);
    // Enter or double-click on a node that is a tensor itself.
    void tensorActivated(int tensor);

private:
    void selectionChanged();
    void updateScope();

    ModuleTreeModel* m_model;
    QSortFilterProxyModel* m_sort;
    QTreeView* m_tree;
    QLabel* m_scope;
    QToolButton* m_showAll;
    std::vector<bool> m_mask;
};

} // namespace shardscope
