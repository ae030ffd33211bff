// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "chunk_table_model.h"

#include "format_units.h"

namespace shardscope {

ChunkTableModel::ChunkTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void ChunkTableModel::setTensor(std::shared_ptr<const Checkpoint> checkpoint, int tensor) {
    beginResetModel();
    m_checkpoint = std::move(checkpoint);
    m_tensor =
        m_checkpoint && tensor >= 0 && size_t(tensor) < m_checkpoint->tensors.size() ? tensor : -1;
    endResetModel();
}

int ChunkTableModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid() || m_tensor < 0) return 0;
    return int(m_checkpoint->tensors[size_t(m_tensor)].chunks.size());
}

int ChunkTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QColor ChunkTableModel::fileColor(uint32_t file) {
    // Golden-angle hues keep neighbouring ranks far apart on the colour wheel.
    const int hue = int((file * 137.508) + 200) % 360;
    return QColor::fromHsv(hue, 150, 225);
}

QVariant ChunkTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Chunk& c = m_checkpoint->tensors[size_t(m_tensor)].chunks[size_t(index.row())];
    const ShardFile& f = m_checkpoint->files[c.file];
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case FileColumn:
            return QString::fromStdString(f.name);
        case OffsetsColumn:
            return QString::fromStdString(formatShape(c.offsets));
        case ShapeColumn:
            return QString::fromStdString(formatShape(c.shape));
        case DataOffsetsColumn:
            return QStringLiteral("[%1, %2)").arg(c.begin - f.dataStart).arg(c.end - f.dataStart);
        case BytesColumn:
            return QString::fromStdString(formatBytes(c.bytes()));
        case NoteColumn:
            return c.replica ? tr("replica (counted once)") : QString();
        }
    } else if (role == Qt::DecorationRole && index.column() == FileColumn) {
        return fileColor(c.file);
    } else if (role == SortRole) {
        switch (index.column()) {
        case FileColumn:
            return int(c.file);
        case BytesColumn:
            return qulonglong(c.bytes());
        case DataOffsetsColumn:
            return qulonglong(c.begin);
        default:
            return data(index, Qt::DisplayRole);
        }
    } else if (role == Qt::TextAlignmentRole && index.column() == BytesColumn) {
        return int(Qt::AlignRight | Qt::AlignVCenter);
    }
    return {};
}

QVariant ChunkTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case FileColumn:
        return tr("Shard file");
    case OffsetsColumn:
        return tr("saved_offsets");
    case ShapeColumn:
        return tr("Chunk shape");
    case DataOffsetsColumn:
        return tr("data_offsets");
    case BytesColumn:
        return tr("Bytes");
    case NoteColumn:
        return tr("Note");
    }
    return {};
}

} // namespace shardscope
