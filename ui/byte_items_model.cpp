// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "byte_items_model.h"

#include "format_units.h"
#include "mapping_document.h"

#include <QColor>
#include <QLocale>

#include <bit>

namespace shardscope {
namespace {

bool isNumber(const ByteItem& item) {
    return (item.type == "int" || item.type == "float") && !item.value.empty();
}

bool isProblem(const ByteItem& item) {
    return item.type == "missing" || item.type == "unreadable";
}

// A text whose byte order is the number's order, so one SortRole type serves the whole column.
QString numberKey(double v) {
    uint64_t bits = std::bit_cast<uint64_t>(v);
    bits = (bits >> 63) ? ~bits : bits | (uint64_t(1) << 63);
    return QStringLiteral("%1").arg(qulonglong(bits), 16, 16, QLatin1Char('0'));
}

} // namespace

ByteItemsModel::ByteItemsModel(MappingDocument* document, QObject* parent)
    : QAbstractTableModel(parent), m_document(document) {
    connect(document, &MappingDocument::resetDone, this, &ByteItemsModel::rebuild);
    rebuild();
}

void ByteItemsModel::rebuild() {
    beginResetModel();
    m_checkpoint = m_document->checkpoint();
    endResetModel();
}

int ByteItemsModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() || !m_checkpoint ? 0 : int(m_checkpoint->byteItems.size());
}

int ByteItemsModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QString ByteItemsModel::emptyText() const {
    if (!m_checkpoint) return tr("No checkpoint open");
    return m_checkpoint->byteItems.empty() ? tr("No byte items") : QString();
}

bool ByteItemsModel::hasFile(const ByteItem& item) const {
    return item.type != "missing" && item.file < m_checkpoint->files.size();
}

QVariant ByteItemsModel::display(const ByteItem& item, int column) const {
    switch (column) {
    case NameColumn:
        return QString::fromStdString(item.fqn);
    case TypeColumn:
        return QString::fromStdString(item.type);
    case ValueColumn:
        if (item.type == "str")
            return QStringLiteral("\"%1\"").arg(QString::fromStdString(item.value));
        if (item.tensors == 1) return tr("1 tensor: %1.*").arg(QString::fromStdString(item.fqn));
        if (item.tensors)
            return tr("%1 tensors: %2.*").arg(item.tensors).arg(QString::fromStdString(item.fqn));
        return item.value.empty() ? QStringLiteral("—") : QString::fromStdString(item.value);
    case SizeColumn:
        return hasFile(item) ? QString::fromStdString(formatBytes(item.size)) : QStringLiteral("—");
    case FileColumn:
        return hasFile(item) ? QString::fromStdString(m_checkpoint->files[item.file].name)
                             : QStringLiteral("—");
    }
    return {};
}

QVariant ByteItemsModel::sortKey(const ByteItem& item, int column) const {
    switch (column) {
    case ValueColumn: // numbers by value first, then the rest by text
        if (isNumber(item)) return "0" + numberKey(QString::fromStdString(item.value).toDouble());
        return "1" + display(item, column).toString();
    case SizeColumn:
        return qulonglong(hasFile(item) ? item.size : 0);
    default:
        return display(item, column);
    }
}

QVariant ByteItemsModel::toolTip(const ByteItem& item, int column) const {
    switch (column) {
    case NameColumn:
        return item.tensors
                   ? tr("%1: not exported itself; the tensors inside it are")
                         .arg(QString::fromStdString(item.fqn))
                   : tr("%1: listed, never exported").arg(QString::fromStdString(item.fqn));
    case TypeColumn:
        if (item.type == "missing") return tr("storage_data has no entry for this byte item");
        if (item.type == "unreadable") return tr("Its item could not be read (see Problems)");
        break;
    case ValueColumn:
        if (item.tensors)
            return tr("Saved whole by an older PyTorch; its tensors are listed as %1.* and "
                      "exported like the others")
                .arg(QString::fromStdString(item.fqn));
        if (item.value.empty() && item.type != "str")
            return tr("Only int, float and str values are shown");
        return QString::fromStdString(item.value);
    case SizeColumn:
        if (hasFile(item)) return tr("%1 bytes").arg(QLocale().toString(qulonglong(item.size)));
        break;
    case FileColumn:
        if (hasFile(item))
            return QString::fromStdString(m_checkpoint->files[item.file].path.string());
        break;
    }
    return {};
}

QVariant ByteItemsModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const ByteItem& item = m_checkpoint->byteItems[size_t(index.row())];
    const int column = index.column();
    switch (role) {
    case Qt::DisplayRole:
        return display(item, column);
    case Qt::ToolTipRole:
        return toolTip(item, column);
    case SortRole:
        return sortKey(item, column);
    case Qt::ForegroundRole:
        if (column == TypeColumn && isProblem(item)) return QColor(0xc6, 0x28, 0x28);
        if (display(item, column).toString() == QStringLiteral("—")) return QColor(Qt::gray);
        break;
    case Qt::TextAlignmentRole:
        if (column == SizeColumn) // values stay left-aligned: a column mixes numbers and text
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    }
    return {};
}

QVariant ByteItemsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::ToolTipRole && section == ValueColumn)
        return tr("The value of an int, float or str item");
    if (role != Qt::DisplayRole) return {};
    switch (section) {
    case NameColumn:
        return tr("Byte item");
    case TypeColumn:
        return tr("Type");
    case ValueColumn:
        return tr("Value");
    case SizeColumn:
        return tr("Size");
    case FileColumn:
        return tr("File");
    }
    return {};
}

} // namespace shardscope
