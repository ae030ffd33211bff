// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "value_results.h"

#include <QString>
#include <QVariant>

#include <memory>
#include <vector>

class QFontMetrics;

namespace shardscope {

// The tensor table's statistics columns (after Check Values) and difference columns (during a
// comparison): what their cells show, how they sort and what their tooltips say. Results of
// another checkpoint than the table's are never shown.
class ValueColumns {
public:
    static bool isStatsColumn(int column);
    static bool isDiffColumn(int column);
    static bool owns(int column) { return isStatsColumn(column) || isDiffColumn(column); }

    void setCheck(std::shared_ptr<const ValueCheck> check, const Checkpoint& checkpoint);
    void setComparison(std::shared_ptr<const Comparison> comparison);
    bool hasCheck() const { return m_check != nullptr; }
    bool hasComparison() const { return m_comparison != nullptr; }

    QVariant display(size_t row, int column) const;
    // Numbers; invalid where a row has no value, which the proxy sorts last either way.
    QVariant sortKey(size_t row, int column) const;
    QVariant toolTip(const TensorInfo& t, size_t row, int column) const;
    QVariant foreground(size_t row, int column) const;
    QString findings(size_t row) const;     // the row's value findings, one a line, or ""
    bool hasErrorFinding(size_t row) const; // among them one of severity Error
    int diffStatus(size_t row) const;       // DiffStatus as int, -1 without a comparison

    static QString header(int column);
    static QString headerToolTip(int column);
    static int defaultWidth(int column, const QFontMetrics& metrics);

private:
    const TensorStats* stats(size_t row) const;
    const TensorDiff* diff(size_t row) const;
    QVariant statsDisplay(const Moments& m, int column) const;
    QVariant statsSortKey(const Moments& m, int column) const;
    QVariant diffDisplay(const TensorDiff& d, int column) const;
    QVariant diffSortKey(const TensorDiff& d, int column) const;
    QString diffToolTip(const TensorDiff& d) const;

    std::shared_ptr<const ValueCheck> m_check;
    std::shared_ptr<const Comparison> m_comparison;
    std::vector<QString> m_findings; // per row, when the check found something
    std::vector<bool> m_errors;      // per row: a finding of severity Error
};

} // namespace shardscope
