// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <QAbstractTableModel>
#include <QColor>
#include <QIcon>

#include <memory>
#include <vector>

namespace shardscope {

class MappingDocument;

// One row per tensor of the open checkpoint, reset from the document's snapshot.
class TensorTableModel : public QAbstractTableModel {
    Q_OBJECT

public:
    enum Column {
        NameColumn,
        DTypeColumn,
        ShapeColumn,
        ElementsColumn,
        SizeColumn,
        ChunksColumn,
        StatusColumn,
        TargetColumn,
        ColumnCount
    };
    enum Role {
        SortRole = Qt::UserRole + 1, // numbers for numeric columns, natural rank for names
        TensorIndexRole,             // row in Checkpoint::tensors
        FilterTextRole,              // the name, for the filter proxy
        StatusRole,                  // CoverageStatus as int
        TargetRole,                  // output file index, 0 when unassigned
        DTypeRole,                   // DType as int
    };

    explicit TensorTableModel(MappingDocument* document, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;

    static QColor statusColor(CoverageStatus status);
    static QIcon statusIcon(CoverageStatus status);
    static QString statusText(CoverageStatus status);
    static QString targetName(int index, int fileCount);

private:
    void rebuild();
    void targetsChanged();

    MappingDocument* m_document;
    std::shared_ptr<const Checkpoint> m_checkpoint;
    std::vector<QString> m_names;   // cached: the hot path of filtering and painting
    std::vector<int> m_naturalRank; // position of each tensor in natural name order
};

} // namespace shardscope
