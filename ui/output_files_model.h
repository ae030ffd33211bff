// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QAbstractTableModel>

#include <cstdint>
#include <vector>

namespace shardscope {

class MappingDocument;

// The planned output files with tensor count and bytes, kept live as the mapping changes;
// invalid tensors are counted nowhere, as the export skips them. Training state no file names
// gets a row of its own after the unassigned (TensorTableModel::NotExportedTarget).
class OutputFilesModel : public QAbstractTableModel {
    Q_OBJECT
    Q_PROPERTY(QString emptyText READ emptyText)

public:
    enum Column { NameColumn, TensorsColumn, BytesColumn, ColumnCount };
    enum Role { SortRole = Qt::UserRole + 1, FileIndexRole };

    explicit OutputFilesModel(MappingDocument* document, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    QString emptyText() const;

private:
    struct Row {
        int index; // 0: the unassigned tensors; NotExportedTarget: training state left out
        size_t tensors = 0;
        uint64_t bytes = 0;
    };
    void recompute();

    MappingDocument* m_document;
    std::vector<Row> m_rows;
};

} // namespace shardscope
