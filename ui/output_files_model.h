// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QAbstractTableModel>

#include <cstdint>
#include <vector>

namespace shardscope {

class MappingDocument;

// The planned output files with the tensors the export writes into each and their bytes as
// written (after a cast), as makePlan counts them; kept live as the mapping and the export rules
// change. Invalid tensors are counted nowhere, as the export skips them. What the export leaves
// out (training state no file names, tensors excluded by a rule) gets a row of its own after the
// unassigned (TensorTableModel::NotExportedTarget), with its source bytes.
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
        size_t trainingState = 0; // of a not-exported row: left out as training state
        size_t ruleExcluded = 0;  // of a not-exported row: left out by a rule
    };
    void recompute();
    void count(size_t tensor, std::vector<Row>& files, Row& leftOut) const;
    QString notExportedName(const Row& row) const;
    QString notExportedToolTip(const Row& row) const;

    MappingDocument* m_document;
    std::vector<Row> m_rows;
};

} // namespace shardscope
