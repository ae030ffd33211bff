// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "chunk_table_model.h"

#include "format_units.h"

#include <QLocale>
#include <QStringList>

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
            return QStringLiteral("[%1, %2)")
                .arg(QLocale().toString(qulonglong(c.begin - f.dataStart)),
                     QLocale().toString(qulonglong(c.end - f.dataStart)));
        case BytesColumn:
            return QString::fromStdString(formatBytes(c.bytes()));
        case NoteColumn:
            return noteText(c);
        }
    } else if (role == Qt::ToolTipRole) {
        if (index.column() == NoteColumn) return noteToolTip(c);
        if (index.column() == DataOffsetsColumn && c.stored &&
            m_checkpoint->stored[c.stored - 1].zstd)
            return tr("The compressed item's bytes in the file");
        if (index.column() == FileColumn) return QString::fromStdString(f.path.string());
        if (index.column() == BytesColumn)
            return tr("%1 bytes").arg(QLocale().toString(qulonglong(c.bytes())));
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

namespace {

// Strides that a row-major copy of `shape` would have (the unit ones of size-1 dims aside).
bool isRowMajor(const Shape& shape, const Shape& strides) {
    if (strides.empty()) return true;
    if (strides.size() != shape.size()) return false;
    uint64_t expected = 1;
    for (size_t d = shape.size(); d-- > 0;) {
        if (shape[d] > 1 && strides[d] != expected) return false;
        expected *= shape[d];
    }
    return true;
}

} // namespace

// "replica", "strided", "zstd", or "zstd, strided": how the bytes reach the output.
QString ChunkTableModel::noteText(const Chunk& c) const {
    QStringList notes;
    if (c.replica) notes << tr("replica");
    if (c.stored) {
        const StoredLayout& s = m_checkpoint->stored[c.stored - 1];
        if (s.zstd) notes << tr("zstd");
        if (s.storageOffset != 0 || !isRowMajor(c.shape, s.strides)) notes << tr("strided");
    }
    return notes.join(QStringLiteral(", "));
}

QString ChunkTableModel::noteToolTip(const Chunk& c) const {
    QStringList tips;
    if (c.replica)
        tips << tr("Holds the same region as an earlier chunk: counted once, and checked to "
                   "hold the same bytes");
    if (c.stored) {
        const StoredLayout& s = m_checkpoint->stored[c.stored - 1];
        if (s.zstd)
            tips << tr("Stored zstd-compressed (%1 in the file, %2 decompressed): decompressed "
                       "while exporting")
                        .arg(QString::fromStdString(formatBytes(s.itemEnd - s.itemBegin)),
                             QString::fromStdString(formatBytes(s.streamBytes)));
        if (s.storageOffset != 0 || !isRowMajor(c.shape, s.strides))
            tips << tr("Stored with strides %1 (a transposed or channels-last tensor): "
                       "reordered into row-major order while exporting")
                        .arg(QString::fromStdString(formatShape(s.strides)));
    }
    return tips.join('\n');
}

QString ChunkTableModel::emptyText() const {
    if (m_tensor < 0) return tr("No tensor selected");
    return rowCount() == 0 ? tr("No readable chunk") : QString();
}

QVariant ChunkTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::ToolTipRole) return headerToolTip(section);
    if (role != Qt::DisplayRole) return {};
    // Short labels keep every column in a narrow details pane; tooltips give the DCP names.
    switch (section) {
    case FileColumn:
        return tr("Shard file");
    case OffsetsColumn:
        return tr("Offsets");
    case ShapeColumn:
        return tr("Shape");
    case DataOffsetsColumn:
        return tr("Data range");
    case BytesColumn:
        return tr("Bytes");
    case NoteColumn:
        return tr("Note");
    }
    return {};
}

} // namespace shardscope

namespace shardscope {

QString ChunkTableModel::headerToolTip(int section) {
    switch (section) {
    case OffsetsColumn:
        return tr("saved_offsets: where the chunk starts in the full tensor");
    case ShapeColumn:
        return tr("The chunk's own shape");
    case DataOffsetsColumn:
        return tr("data_offsets: the chunk's bytes in the shard's data section");
    case BytesColumn:
        return tr("The chunk's size");
    case NoteColumn:
        return tr("replica: the same region as an earlier chunk; strided, zstd: a DCP item "
                  "stored with other strides or compressed");
    }
    return {};
}

} // namespace shardscope
