// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "tensor_filter_proxy.h"

#include "tensor_table_model.h"

namespace shardscope {

TensorFilterProxy::TensorFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(TensorTableModel::SortRole);
    setDynamicSortFilter(true);
}

void TensorFilterProxy::setText(const QString& text, bool regex) {
    if (text == m_text && regex == m_regexMode) return;
    m_text = text;
    m_regexMode = regex;
    m_regex = QRegularExpression(text, QRegularExpression::CaseInsensitiveOption);
    invalidateRowsFilter();
}

void TensorFilterProxy::setDTypeFilter(int dtype) {
    if (dtype == m_dtype) return;
    m_dtype = dtype;
    invalidateRowsFilter();
}

void TensorFilterProxy::setStatusFilter(int status) {
    if (status == m_status) return;
    m_status = status;
    invalidateRowsFilter();
}

void TensorFilterProxy::setTargetFilter(int target) {
    if (target == m_target) return;
    m_target = target;
    invalidateRowsFilter();
}

void TensorFilterProxy::setRowSubset(std::vector<bool> rows) {
    if (rows == m_rows) return;
    m_rows = std::move(rows);
    invalidateRowsFilter();
}

bool TensorFilterProxy::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    if (!m_rows.empty() && (size_t(sourceRow) >= m_rows.size() || !m_rows[size_t(sourceRow)]))
        return false;
    const QModelIndex index = sourceModel()->index(sourceRow, 0, sourceParent);
    if (m_dtype != Any && index.data(TensorTableModel::DTypeRole).toInt() != m_dtype) return false;
    if (m_status != Any) {
        const int status = index.data(TensorTableModel::StatusRole).toInt();
        if (m_status == AnyProblem ? status == int(CoverageStatus::Complete) : status != m_status)
            return false;
    }
    if (m_target != Any && index.data(TensorTableModel::TargetRole).toInt() != m_target)
        return false;
    if (m_text.isEmpty()) return true;
    const QString name = index.data(TensorTableModel::FilterTextRole).toString();
    if (m_regexMode) return m_regex.isValid() && m_regex.match(name).hasMatch();
    return name.contains(m_text, Qt::CaseInsensitive);
}

} // namespace shardscope
