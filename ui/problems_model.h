// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "error.h"

#include <QAbstractTableModel>

#include <vector>

namespace shardscope {

class MappingDocument;

// Every error and warning of the scan and of the current mapping; a row knows its tensor so a
// click can select it.
class ProblemsModel : public QAbstractTableModel {
    Q_OBJECT

public:
    enum Column { SeverityColumn, FileColumn, TensorColumn, MessageColumn, ColumnCount };
    enum Role { SortRole = Qt::UserRole + 1, TensorIndexRole };

    explicit ProblemsModel(MappingDocument* document, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    int errorCount() const;
    void setExtra(std::vector<Problem> problems); // e.g. a mapping file that failed to load

private:
    struct Row {
        Problem problem;
        int tensor = -1;
    };
    void recompute();

    MappingDocument* m_document;
    std::vector<Row> m_rows;
    std::vector<Problem> m_extra;
};

} // namespace shardscope
