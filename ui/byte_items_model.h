// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <QAbstractTableModel>

#include <memory>

namespace shardscope {

class MappingDocument;

// The byte items of a DCP checkpoint (step counters, RNG state, any pickled object): listed,
// never exported. Reset from the document's snapshot, on the GUI thread, whenever it is reset.
class ByteItemsModel : public QAbstractTableModel {
    Q_OBJECT
    Q_PROPERTY(QString emptyText READ emptyText)

public:
    enum Column { NameColumn, TypeColumn, ValueColumn, SizeColumn, FileColumn, ColumnCount };
    enum Role { SortRole = Qt::UserRole + 1 };

    explicit ByteItemsModel(MappingDocument* document, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    QString emptyText() const; // "No checkpoint open" / "No byte items" / ""

private:
    void rebuild();
    QVariant display(const ByteItem& item, int column) const;
    QVariant sortKey(const ByteItem& item, int column) const;
    QVariant toolTip(const ByteItem& item, int column) const;
    bool hasFile(const ByteItem& item) const;

    MappingDocument* m_document;
    std::shared_ptr<const Checkpoint> m_checkpoint;
};

} // namespace shardscope
