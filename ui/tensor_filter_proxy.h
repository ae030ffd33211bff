// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QRegularExpression>
#include <QSortFilterProxyModel>

#include <vector>

namespace shardscope {

// Filters the tensor table by name (substring or regular expression) and by dtype, coverage
// status and output file; sorts by the model's SortRole (natural order for names).
class TensorFilterProxy : public QSortFilterProxyModel {
    Q_OBJECT

public:
    static constexpr int Any = -1;
    static constexpr int AnyProblem = -2; // status filter: everything not complete

    explicit TensorFilterProxy(QObject* parent = nullptr);

    void setText(const QString& text, bool regex);
    bool isRegexValid() const { return !m_regexMode || m_regex.isValid(); }
    void setDTypeFilter(int dtype);
    void setStatusFilter(int status);
    void setTargetFilter(int target); // 0 = unassigned
    // Only the source rows whose flag is set (the module tree's selection); empty: every row.
    void setRowSubset(std::vector<bool> rows);
    bool hasRowSubset() const { return !m_rows.empty(); }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

private:
    QString m_text;
    QRegularExpression m_regex;
    bool m_regexMode = false;
    int m_dtype = Any, m_status = Any, m_target = Any;
    std::vector<bool> m_rows;
};

} // namespace shardscope
