// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <QAbstractTableModel>

#include <memory>
#include <string>
#include <vector>

namespace shardscope {

class MappingDocument;

// Why each shard file cannot be trusted, "" when it can: a header that failed its checks (the
// scan skipped the file) or an error naming the file and no tensor. One entry per
// Checkpoint::files.
std::vector<std::string> brokenFileReasons(const Checkpoint& checkpoint);

// One row per shard file of the open checkpoint: the files the scan read (rows in
// Checkpoint::files order) and then the *.safetensors entries it skipped without opening (a FIFO,
// a dangling link), each with its size, tensor count and whether and why it was skipped.
class FilesModel : public QAbstractTableModel {
    Q_OBJECT
    Q_PROPERTY(QString emptyText READ emptyText)

public:
    enum Column { NameColumn, StatusColumn, SizeColumn, TensorsColumn, ReasonColumn, ColumnCount };
    enum Role {
        SortRole = Qt::UserRole + 1,
        FileIndexRole, // index into Checkpoint::files, -1 for entries the scan never opened
        StatusRole,    // FileStatus as int
    };
    enum FileStatus { Valid, WithProblems, Skipped };

    explicit FilesModel(MappingDocument* document, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    int rowOfFile(const QString& name) const; // -1 when no row has that name
    int skippedCount() const;
    QString emptyText() const;
    static QString statusText(FileStatus status);

private:
    struct Row {
        QString name;
        int file = -1;
        uint64_t size = 0;
        bool sizeKnown = true;
        size_t tensors = 0;
        FileStatus status = Valid;
        QString reason;  // the first problem, shown in the row
        QString details; // every problem of the file, for the tooltip
    };
    void rebuild();
    QVariant display(const Row& row, int column) const;
    QVariant sortKey(const Row& row, int column) const;

    MappingDocument* m_document;
    std::vector<Row> m_rows;
};

} // namespace shardscope
