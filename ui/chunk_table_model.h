// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <QAbstractTableModel>
#include <QColor>

#include <memory>

namespace shardscope {

// The chunks of one tensor: file (with its colour), saved_offsets, shape, data_offsets, bytes,
// and a note: a replica, or a DCP item stored strided or zstd-compressed.
class ChunkTableModel : public QAbstractTableModel {
    Q_OBJECT
    Q_PROPERTY(QString emptyText READ emptyText)

public:
    enum Column {
        FileColumn,
        OffsetsColumn,
        ShapeColumn,
        DataOffsetsColumn,
        BytesColumn,
        NoteColumn,
        ColumnCount
    };
    enum Role { SortRole = Qt::UserRole + 1 };

    explicit ChunkTableModel(QObject* parent = nullptr);

    void setTensor(std::shared_ptr<const Checkpoint> checkpoint, int tensor); // -1: none
    int tensor() const { return m_tensor; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    QString emptyText() const; // "No tensor selected" / "No readable chunk" / ""

    // A stable, distinct colour per shard file, shared with the coverage picture.
    static QColor fileColor(uint32_t file);

private:
    static QString headerToolTip(int section);
    QString noteText(const Chunk& c) const;
    QString noteToolTip(const Chunk& c) const;

    std::shared_ptr<const Checkpoint> m_checkpoint;
    int m_tensor = -1;
};

} // namespace shardscope
