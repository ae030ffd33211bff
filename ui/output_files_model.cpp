// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "output_files_model.h"

#include "format_units.h"
#include "mapping_document.h"
#include "tensor_table_model.h"

#include <QColor>
#include <QLocale>

namespace shardscope {

OutputFilesModel::OutputFilesModel(MappingDocument* document, QObject* parent)
    : QAbstractTableModel(parent), m_document(document) {
    connect(document, &MappingDocument::targetsChanged, this, &OutputFilesModel::recompute);
    connect(document, &MappingDocument::resetDone, this, &OutputFilesModel::recompute);
    recompute();
}

void OutputFilesModel::recompute() {
    std::vector<Row> rows;
    if (auto ckpt = m_document->checkpoint()) {
        const int count = m_document->fileCount();
        rows.resize(size_t(count) + 1);
        for (int i = 0; i <= count; ++i)
            rows[size_t(i)].index = i;
        Row excluded{TensorTableModel::NotExportedTarget};
        const auto& targets = m_document->targets();
        for (size_t t = 0; t < targets.size(); ++t) {
            const int target = targets[t];
            if (target < 0 || target > count) continue;
            // As makePlan: an invalid tensor is written nowhere, so no file counts it.
            if (ckpt->tensors[t].status == CoverageStatus::Invalid) continue;
            Row& row = m_document->isExcluded(t) ? excluded : rows[size_t(target)];
            row.tensors++;
            row.bytes += ckpt->tensors[t].bytes;
        }
        if (rows[0].tensors == 0)
            rows.erase(rows.begin()); // no unassigned row when none are
        else
            std::rotate(rows.begin(), rows.begin() + 1, rows.end()); // unassigned last
        if (excluded.tensors > 0) rows.push_back(excluded);
    }
    // A full reset: the row count can change with every edit and the list is short.
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
}

QString OutputFilesModel::emptyText() const {
    return m_rows.empty() ? tr("No checkpoint open") : QString();
}

int OutputFilesModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(m_rows.size());
}

int OutputFilesModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant OutputFilesModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row& row = m_rows[size_t(index.row())];
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case NameColumn:
            if (row.index == 0) return tr("(unassigned)");
            if (row.index == TensorTableModel::NotExportedTarget)
                return tr("(training state, not exported)");
            return TensorTableModel::targetName(row.index, m_document->fileCount()) +
                   (row.tensors == 0 ? tr("  (empty, not written)") : QString());
        case TensorsColumn:
            return QLocale().toString(qulonglong(row.tensors));
        case BytesColumn:
            return QString::fromStdString(formatBytes(row.bytes));
        }
        break;
    case Qt::ToolTipRole:
        if (index.column() == BytesColumn)
            return tr("%1 bytes of tensor data").arg(QLocale().toString(qulonglong(row.bytes)));
        if (row.index == TensorTableModel::NotExportedTarget)
            return TensorTableModel::notExportedHint();
        break;
    case Qt::ForegroundRole:
        if (row.index == 0) return QColor(0xc6, 0x28, 0x28);
        if (row.tensors == 0 || row.index < 0) return QColor(Qt::gray);
        break;
    case Qt::TextAlignmentRole:
        if (index.column() != NameColumn) return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case SortRole:
        switch (index.column()) {
        case NameColumn:
            return row.index == 0 ? 1 << 30 : row.index < 0 ? (1 << 30) + 1 : row.index;
        case TensorsColumn:
            return qulonglong(row.tensors);
        case BytesColumn:
            return qulonglong(row.bytes);
        }
        break;
    case FileIndexRole:
        return row.index;
    }
    return {};
}

QVariant OutputFilesModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case NameColumn:
        return tr("Output file");
    case TensorsColumn:
        return tr("Tensors");
    case BytesColumn:
        return tr("Size");
    }
    return {};
}

} // namespace shardscope
