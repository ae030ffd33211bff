// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "tensor_table_model.h"

#include "format_units.h"
#include "mapping_document.h"
#include "natural_order.h"

#include <QLocale>
#include <QPainter>
#include <QPixmap>

#include <algorithm>
#include <numeric>

namespace shardscope {

TensorTableModel::TensorTableModel(MappingDocument* document, QObject* parent)
    : QAbstractTableModel(parent), m_document(document) {
    connect(document, &MappingDocument::resetDone, this, &TensorTableModel::rebuild);
    connect(document, &MappingDocument::targetsChanged, this, &TensorTableModel::targetsChanged);
    rebuild();
}

void TensorTableModel::rebuild() {
    beginResetModel();
    m_checkpoint = m_document->checkpoint();
    m_names.clear();
    m_naturalRank.clear();
    if (m_checkpoint) {
        const auto& tensors = m_checkpoint->tensors;
        m_names.reserve(tensors.size());
        for (const auto& t : tensors)
            m_names.push_back(QString::fromStdString(t.fqn));
        std::vector<int> order(tensors.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
            return naturalLess(tensors[size_t(a)].fqn, tensors[size_t(b)].fqn);
        });
        m_naturalRank.resize(tensors.size());
        for (size_t i = 0; i < order.size(); ++i)
            m_naturalRank[size_t(order[i])] = int(i);
    }
    endResetModel();
}

void TensorTableModel::targetsChanged() {
    if (rowCount() == 0) return;
    emit dataChanged(index(0, TargetColumn), index(rowCount() - 1, TargetColumn));
}

int TensorTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() || !m_checkpoint ? 0 : int(m_checkpoint->tensors.size());
}

int TensorTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QString TensorTableModel::statusText(CoverageStatus status) {
    switch (status) {
    case CoverageStatus::Complete:
        return tr("Complete");
    case CoverageStatus::Gap:
        return tr("Gap");
    case CoverageStatus::Overlap:
        return tr("Overlap");
    case CoverageStatus::Conflict:
        return tr("Conflict");
    case CoverageStatus::Invalid:
        return tr("Invalid");
    }
    return {};
}

QColor TensorTableModel::statusColor(CoverageStatus status) {
    switch (status) {
    case CoverageStatus::Complete:
        return QColor(0x2e, 0x7d, 0x32);
    case CoverageStatus::Gap:
        return QColor(0xc6, 0x28, 0x28);
    case CoverageStatus::Overlap:
        return QColor(0xef, 0x6c, 0x00);
    case CoverageStatus::Conflict:
        return QColor(0xad, 0x14, 0x57);
    case CoverageStatus::Invalid:
        return QColor(0x6a, 0x1b, 0x9a);
    }
    return {};
}

QIcon TensorTableModel::statusIcon(CoverageStatus status) {
    // Drawn, not loaded: a filled disc for complete, a ring with a bar for problems.
    static QIcon cache[5];
    QIcon& icon = cache[int(status)];
    if (!icon.isNull()) return icon;
    QPixmap pm(16, 16);
    pm.fill(Qt::transparent);
    QPainter p(&pm);
    p.setRenderHint(QPainter::Antialiasing);
    const QColor c = statusColor(status);
    p.setPen(QPen(c, 1.5));
    p.setBrush(status == CoverageStatus::Complete ? c : QColor(Qt::white));
    p.drawEllipse(QRectF(2, 2, 12, 12));
    if (status == CoverageStatus::Complete) {
        p.setPen(QPen(Qt::white, 1.8));
        p.drawPolyline(QPolygonF({QPointF(5, 8), QPointF(7.2, 10.5), QPointF(11, 5.5)}));
    } else {
        p.setPen(QPen(c, 2));
        p.drawLine(QPointF(8, 4.5), QPointF(8, 8.8));
        p.drawPoint(QPointF(8, 11.2));
    }
    icon = QIcon(pm);
    return icon;
}

QString TensorTableModel::targetName(int index, int fileCount) {
    if (index <= 0) return tr("(unassigned)");
    return QString::fromStdString(outputFileName(index, std::max(index, fileCount)));
}

QVariant TensorTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const size_t row = size_t(index.row());
    const TensorInfo& t = m_checkpoint->tensors[row];
    const int target = m_document->target(row);
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case NameColumn:
            return m_names[row];
        case DTypeColumn:
            return QString::fromLatin1(dtypeName(t.dtype).data());
        case ShapeColumn:
            return QString::fromStdString(formatShape(t.shape));
        case ElementsColumn: {
            auto n = checkedNumel(t.shape);
            return n ? QLocale().toString(qulonglong(*n)) : QString();
        }
        case SizeColumn:
            return QString::fromStdString(formatBytes(t.bytes));
        case ChunksColumn:
            return int(t.chunks.size());
        case StatusColumn:
            return statusText(t.status);
        case TargetColumn:
            return targetName(target, m_document->fileCount());
        }
        break;
    case Qt::EditRole:
        if (index.column() == TargetColumn) return target;
        break;
    case Qt::ToolTipRole:
        if (index.column() == StatusColumn || index.column() == NameColumn)
            return t.coverageDetail.empty() ? statusText(t.status)
                                            : QString::fromStdString(t.coverageDetail);
        break;
    case Qt::DecorationRole:
        if (index.column() == StatusColumn) return statusIcon(t.status);
        break;
    case Qt::ForegroundRole:
        if (index.column() == StatusColumn && t.status != CoverageStatus::Complete)
            return statusColor(t.status);
        if (index.column() == TargetColumn && target == 0) return QColor(0xc6, 0x28, 0x28);
        break;
    case Qt::TextAlignmentRole:
        if (index.column() == ElementsColumn || index.column() == SizeColumn ||
            index.column() == ChunksColumn)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case SortRole:
        switch (index.column()) {
        case NameColumn:
            return m_naturalRank[row];
        case DTypeColumn:
        case ShapeColumn:
            return data(index, Qt::DisplayRole);
        case ElementsColumn: {
            auto n = checkedNumel(t.shape);
            return qulonglong(n ? *n : 0);
        }
        case SizeColumn:
            return qulonglong(t.bytes);
        case ChunksColumn:
            return int(t.chunks.size());
        case StatusColumn:
            return int(t.status);
        case TargetColumn:
            return target;
        }
        break;
    case TensorIndexRole:
        return int(row);
    case FilterTextRole:
        return m_names[row];
    case StatusRole:
        return int(t.status);
    case TargetRole:
        return target;
    case DTypeRole:
        return int(t.dtype);
    }
    return {};
}

QVariant TensorTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case NameColumn:
        return tr("Tensor");
    case DTypeColumn:
        return tr("DType");
    case ShapeColumn:
        return tr("Shape");
    case ElementsColumn:
        return tr("Elements");
    case SizeColumn:
        return tr("Size");
    case ChunksColumn:
        return tr("Chunks");
    case StatusColumn:
        return tr("Coverage");
    case TargetColumn:
        return tr("Output file");
    }
    return {};
}

Qt::ItemFlags TensorTableModel::flags(const QModelIndex& index) const {
    Qt::ItemFlags f = QAbstractTableModel::flags(index);
    if (index.isValid() && index.column() == TargetColumn) f |= Qt::ItemIsEditable;
    return f;
}

bool TensorTableModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (role != Qt::EditRole || !index.isValid() || index.column() != TargetColumn) return false;
    bool ok = false;
    const int target = value.toInt(&ok);
    if (!ok || target < 1 || target > kMaxFileIndex) return false;
    if (target == m_document->target(size_t(index.row()))) return true;
    m_document->assign({size_t(index.row())}, target); // undoable; dataChanged follows
    return true;
}

} // namespace shardscope
