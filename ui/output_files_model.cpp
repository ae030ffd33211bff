// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "output_files_model.h"

#include "format_units.h"
#include "mapping_document.h"
#include "plural.h"
#include "tensor_table_model.h"

#include <QColor>
#include <QLocale>

#include <algorithm>

namespace shardscope {

OutputFilesModel::OutputFilesModel(MappingDocument* document, QObject* parent)
    : QAbstractTableModel(parent), m_document(document) {
    connect(document, &MappingDocument::targetsChanged, this, &OutputFilesModel::recompute);
    connect(document, &MappingDocument::resetDone, this, &OutputFilesModel::recompute);
    // Renames, exclusions and the cast (undo and redo included) change what each file holds.
    connect(document->exportRules(), &ExportRulesDocument::selectionChanged, this,
            &OutputFilesModel::recompute);
    recompute();
}

// One tensor into its file's row, or the not-exported row, as makePlan decides.
void OutputFilesModel::count(size_t tensor, std::vector<Row>& files, Row& leftOut) const {
    const TensorInfo& t = m_document->checkpoint()->tensors[tensor];
    const int target = m_document->target(tensor);
    if (target < 0 || target >= int(files.size())) return;
    // As makePlan: an invalid tensor is written nowhere, so no file counts it.
    if (t.status == CoverageStatus::Invalid) return;
    const ExportRulesDocument* rules = m_document->exportRules();
    if (rules->isRuleExcluded(tensor) || m_document->isExcluded(tensor)) {
        leftOut.tensors++;
        leftOut.bytes += t.bytes;
        (rules->isRuleExcluded(tensor) ? leftOut.ruleExcluded : leftOut.trainingState)++;
        return;
    }
    Row& row = files[size_t(target)];
    row.tensors++;
    const TensorExport* exported = rules->exportOf(tensor);
    row.bytes += exported ? exportedBytes(t, *exported) : t.bytes;
}

void OutputFilesModel::recompute() {
    std::vector<Row> rows;
    if (auto ckpt = m_document->checkpoint()) {
        const int count = m_document->fileCount();
        rows.resize(size_t(count) + 1);
        for (int i = 0; i <= count; ++i)
            rows[size_t(i)].index = i;
        Row leftOut{TensorTableModel::NotExportedTarget};
        for (size_t t = 0; t < ckpt->tensors.size(); ++t)
            this->count(t, rows, leftOut);
        if (rows[0].tensors == 0)
            rows.erase(rows.begin()); // no unassigned row when none are
        else
            std::rotate(rows.begin(), rows.begin() + 1, rows.end()); // unassigned last
        if (leftOut.tensors > 0) rows.push_back(leftOut);
    }
    // A full reset: the row count can change with every edit and the list is short.
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
}

QString OutputFilesModel::notExportedName(const Row& row) const {
    if (row.ruleExcluded == 0) return tr("(training state, not exported)");
    if (row.trainingState == 0) return tr("(excluded, not exported)");
    return tr("(excluded or training state, not exported)");
}

QString OutputFilesModel::notExportedToolTip(const Row& row) const {
    QStringList lines;
    if (row.ruleExcluded)
        lines << tr("%1 excluded by the export rules (Ins includes them again).")
                     .arg(counted(qint64(row.ruleExcluded), tr("tensor is"), tr("tensors are")));
    if (row.trainingState) lines << TensorTableModel::notExportedHint();
    return lines.join("\n");
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
            if (row.index == TensorTableModel::NotExportedTarget) return notExportedName(row);
            return TensorTableModel::targetName(row.index, m_document->fileCount()) +
                   (row.tensors == 0 ? tr("  (empty, not written)") : QString());
        case TensorsColumn:
            return QLocale().toString(qulonglong(row.tensors));
        case BytesColumn:
            return QString::fromStdString(formatBytes(row.bytes));
        }
        break;
    case Qt::ToolTipRole:
        if (row.index == TensorTableModel::NotExportedTarget) return notExportedToolTip(row);
        if (index.column() == BytesColumn)
            return tr("%1 bytes of tensor data as exported")
                .arg(QLocale().toString(qulonglong(row.bytes)));
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
