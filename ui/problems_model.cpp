// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "problems_model.h"

#include "mapping_document.h"

#include <QApplication>
#include <QColor>
#include <QStyle>

namespace shardscope {

ProblemsModel::ProblemsModel(MappingDocument* document, QObject* parent)
    : QAbstractTableModel(parent), m_document(document) {
    connect(document, &MappingDocument::targetsChanged, this, &ProblemsModel::recompute);
    connect(document, &MappingDocument::resetDone, this, &ProblemsModel::recompute);
    recompute();
}

void ProblemsModel::setExtra(std::vector<Problem> problems) {
    m_extra = std::move(problems);
    recompute();
}

void ProblemsModel::recompute() {
    std::vector<Row> rows;
    auto ckpt = m_document->checkpoint();
    auto tensorIndex = [&](const std::string& fqn) {
        if (!ckpt || fqn.empty()) return -1;
        const TensorInfo* t = ckpt->find(fqn);
        return t ? int(t - ckpt->tensors.data()) : -1;
    };
    for (const auto& p : m_extra)
        rows.push_back({p, tensorIndex(p.tensor)});
    if (ckpt) {
        for (const auto& p : ckpt->problems)
            rows.push_back({p, tensorIndex(p.tensor)});
        // The mapping's own findings, one row per unassigned tensor so each can be clicked.
        const auto& targets = m_document->targets();
        size_t shown = 0;
        for (size_t t = 0; t < targets.size(); ++t) {
            if (targets[t] != 0) continue;
            if (++shown > 1000) break;
            rows.push_back(
                {{Severity::Error, m_document->mappingSource().toStdString(), ckpt->tensors[t].fqn,
                  "not assigned to an output file (assign it, or export with the "
                  "unassigned tensors in the last file)"},
                 int(t)});
        }
        for (const auto& fqn : m_document->absentFqns())
            rows.push_back({{Severity::Warning, m_document->mappingSource().toStdString(), fqn,
                             "in the mapping but in no shard (a tied or aliased weight?); skipped"},
                            -1});
    }
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
}

int ProblemsModel::errorCount() const {
    int n = 0;
    for (const auto& r : m_rows)
        n += r.problem.severity == Severity::Error;
    return n;
}

int ProblemsModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(m_rows.size());
}

int ProblemsModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ProblemsModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row& row = m_rows[size_t(index.row())];
    const bool error = row.problem.severity == Severity::Error;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case SeverityColumn:
            return error ? tr("Error") : tr("Warning");
        case FileColumn:
            return QString::fromStdString(row.problem.file);
        case TensorColumn:
            return QString::fromStdString(row.problem.tensor);
        case MessageColumn:
            return QString::fromStdString(row.problem.message);
        }
        break;
    case Qt::ToolTipRole:
        return QString::fromStdString(row.problem.text());
    case Qt::DecorationRole:
        if (index.column() == SeverityColumn && qApp)
            return qApp->style()->standardIcon(error ? QStyle::SP_MessageBoxCritical
                                                     : QStyle::SP_MessageBoxWarning);
        break;
    case Qt::ForegroundRole:
        if (index.column() == SeverityColumn)
            return error ? QColor(0xc6, 0x28, 0x28) : QColor(0xb2, 0x6a, 0x00);
        break;
    case SortRole:
        if (index.column() == SeverityColumn) return error ? 0 : 1;
        return data(index, Qt::DisplayRole);
    case TensorIndexRole:
        return row.tensor;
    }
    return {};
}

QVariant ProblemsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case SeverityColumn:
        return tr("Severity");
    case FileColumn:
        return tr("File");
    case TensorColumn:
        return tr("Tensor");
    case MessageColumn:
        return tr("Message");
    }
    return {};
}

} // namespace shardscope
