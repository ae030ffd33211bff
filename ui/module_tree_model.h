// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "module_tree.h"

#include <QAbstractItemModel>

#include <memory>
#include <vector>

namespace shardscope {

class MappingDocument;

// The module tree of the open checkpoint: one row per ModuleNode below the root, reset from an
// immutable tree on the GUI thread. An index's internal id is its node id.
class ModuleTreeModel : public QAbstractItemModel {
    Q_OBJECT

public:
    enum Column {
        NameColumn,
        TensorsColumn,
        ParametersColumn,
        SizeColumn,
        StatusColumn,
        ColumnCount
    };
    enum Role {
        SortRole = Qt::UserRole + 1, // numbers; for names the natural order of the tree
        NodeRole,                    // node id in ModuleTree::nodes
        PathRole,                    // the dotted path, "model.layers.{0..31}"
        StatusRole,                  // worst CoverageStatus as int
    };

    // With a document, the tree is rebuilt whenever it opens a checkpoint.
    explicit ModuleTreeModel(MappingDocument* document = nullptr, QObject* parent = nullptr);

    void setTree(std::shared_ptr<const ModuleTree> tree);
    std::shared_ptr<const ModuleTree> tree() const { return m_tree; }

    QModelIndex indexOfNode(uint32_t node, int column = NameColumn) const;
    uint32_t nodeOf(const QModelIndex& index) const; // 0 (the root) for an invalid index
    // The Checkpoint::tensors indices under a node, and a per-tensor mask for the union of
    // several nodes (empty when `indexes` is).
    std::vector<uint32_t> tensorsOf(const QModelIndex& index) const;
    std::vector<bool> tensorMask(const QModelIndexList& indexes) const;

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    bool hasChildren(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // "6.74 B", "131 M", "4,096": parameter counts short enough for a narrow column.
    static QString shortCount(uint64_t count);

private:
    void rebuild();
    const ModuleNode* node(const QModelIndex& index) const;

    MappingDocument* m_document;
    std::shared_ptr<const ModuleTree> m_tree;
};

} // namespace shardscope
