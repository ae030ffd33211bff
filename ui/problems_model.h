// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "error.h"

#include <QAbstractTableModel>

#include <memory>
#include <vector>

namespace shardscope {

class MappingDocument;

// Every error and warning of the scan and of the current mapping; a row knows its tensor, or
// for a problem with a whole shard file that file, so a click can select it.
class ProblemsModel : public QAbstractTableModel {
    Q_OBJECT
    Q_PROPERTY(QString emptyText READ emptyText)

public:
    enum Column { SeverityColumn, FileColumn, TensorColumn, MessageColumn, ColumnCount };
    enum Role {
        SortRole = Qt::UserRole + 1,
        TensorIndexRole, // row in Checkpoint::tensors, -1 when none
        FileLevelRole,   // bool: about a whole shard file (skipped, unreadable, not a file)
        FileIndexRole,   // index into Checkpoint::files, -1 when none (or never opened)
        FileNameRole,    // the shard file's name, for FilesModel::rowOfFile
        KindRole,        // ErrorKind as int
        ValueFindingRole, // bool: found by Check Values (see setValueFindings)
    };
    // Unassigned tensors listed one per row; the rest are summed up in one more row.
    static constexpr size_t kMaxUnassignedRows = 1000;

    explicit ProblemsModel(MappingDocument* document, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // Errors that block the export; value findings never do (the export copies values as they
    // are), so they are not counted here.
    int errorCount() const;
    int valueFindingCount() const;
    QString emptyText() const; // "No problems" when there are none, for the view to paint
    void setExtra(std::vector<Problem> problems); // e.g. a mapping file that failed to load
    // The findings of a value check of `checkpoint`; they replace the previous check's and are
    // listed only while that checkpoint is open.
    void setValueFindings(std::shared_ptr<const Checkpoint> checkpoint,
                          std::vector<Problem> findings);

private:
    struct Row {
        Problem problem;
        int tensor = -1;
        int file = -1;
        bool fileLevel = false;
        bool valueFinding = false;
    };
    void recompute();
    void addMappingRows(const Checkpoint& ckpt, std::vector<Row>& rows) const;
    QVariant display(const Row& row, int column) const;

    MappingDocument* m_document;
    std::vector<Row> m_rows;
    std::vector<Problem> m_extra;
    std::shared_ptr<const Checkpoint> m_findingsOf;
    std::vector<Problem> m_findings;
};

} // namespace shardscope
