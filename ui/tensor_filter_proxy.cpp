// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "tensor_filter_proxy.h"

#include "mapping_document.h"
#include "tensor_table_model.h"
#include "value_results.h"

#include <set>

namespace shardscope {

TensorFilterProxy::TensorFilterProxy(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(TensorTableModel::SortRole);
    setDynamicSortFilter(true);
}

std::vector<TensorFilterProxy::Choice>
TensorFilterProxy::dtypeChoices(const MappingDocument& document) {
    std::vector<Choice> out{{tr("Any dtype"), Any}};
    std::set<int> dtypes; // only what the checkpoint has, in enum order
    if (auto ckpt = document.checkpoint())
        for (const auto& t : ckpt->tensors)
            dtypes.insert(int(t.dtype));
    for (int d : dtypes)
        out.push_back({QString::fromLatin1(dtypeName(DType(d)).data()), d});
    return out;
}

std::vector<TensorFilterProxy::Choice> TensorFilterProxy::statusChoices() {
    std::vector<Choice> out{{tr("Any coverage"), Any}, {tr("Problems only"), AnyProblem}};
    for (int s = 0; s < TensorTableModel::StatusCount; ++s)
        out.push_back({TensorTableModel::statusText(s), s, TensorTableModel::statusIcon(s)});
    return out;
}

std::vector<TensorFilterProxy::Choice> TensorFilterProxy::kindChoices() {
    return {{tr("Any kind"), Any},
            {tr("Model weights"), ModelWeights},
            {tr("Training state"), TrainingState}};
}

std::vector<TensorFilterProxy::Choice>
TensorFilterProxy::targetChoices(const MappingDocument& document) {
    std::vector<Choice> out{{tr("Any output file"), Any}};
    if (!document.isOpen()) return out;
    const int count = document.fileCount();
    for (int i = 1; i <= count; ++i)
        out.push_back({TensorTableModel::targetName(i, count), i});
    out.push_back({TensorTableModel::targetName(0, count), 0});
    const size_t excluded = document.exportRules()->ruleExcludedCount();
    if (excluded > 0)
        out.push_back({tr("Not exported"), TensorTableModel::NotExportedTarget});
    else if (document.excludedCount() > 0)
        out.push_back({tr("Not exported (training state)"), TensorTableModel::NotExportedTarget});
    return out;
}

void TensorFilterProxy::setText(const QString& text, bool regex) {
    if (text == m_text && regex == m_regexMode) return;
    m_text = text;
    m_regexMode = regex;
    // RE2, as the command line and the export's rules: linear time in the name whatever the
    // pattern, so a pattern such as "(a*)*b" cannot freeze the window while it is typed.
    const std::string pattern = "(?i)" + text.toStdString();
    m_regex.reset();
    if (regex && NameRegex::problem(pattern).empty()) m_regex.emplace(pattern, "filter");
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

void TensorFilterProxy::setKindFilter(int kind) {
    if (kind == m_kind) return;
    m_kind = kind;
    invalidateRowsFilter();
}

QString TensorFilterProxy::emptyText() const {
    if (rowCount() > 0 || !sourceModel()) return {};
    if (sourceModel()->rowCount() == 0) return sourceModel()->property("emptyText").toString();
    if (!isRegexValid())
        return tr("No tensor matches: the filter is not a valid regular expression");
    return tr("No tensor matches the filter");
}

void TensorFilterProxy::setDiffersOnly(bool on) {
    if (on == m_differsOnly) return;
    m_differsOnly = on;
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
        if (m_status == AnyProblem) { // a coverage problem, or a finding of Check Values
            if (status == int(CoverageStatus::Complete) &&
                index.data(TensorTableModel::FindingsRole).toString().isEmpty())
                return false;
        } else if (status != m_status) {
            return false;
        }
    }
    if (m_target != Any && index.data(TensorTableModel::TargetRole).toInt() != m_target)
        return false;
    if (m_kind != Any) {
        const bool model = index.data(TensorTableModel::KindRole).toInt() == int(TensorKind::Model);
        if (model != (m_kind == ModelWeights)) return false;
    }
    if (m_differsOnly) {
        const int diff = index.data(TensorTableModel::DiffStatusRole).toInt();
        if (diff < 0 || !Comparison::differs(DiffStatus(diff))) return false;
    }
    if (m_text.isEmpty()) return true;
    // The source name or the name the export writes: either finds a renamed tensor.
    return matchesText(index.data(TensorTableModel::FilterTextRole).toString()) ||
           matchesText(index.data(TensorTableModel::ExportedNameRole).toString());
}

bool TensorFilterProxy::matchesText(const QString& name) const {
    if (name.isEmpty()) return false;
    if (m_regexMode) return m_regex && m_regex->search(name.toStdString());
    return name.contains(m_text, Qt::CaseInsensitive);
}

// Equal keys (sizes, dtypes, statuses) fall back to natural name order, ascending whichever way
// the column is sorted, so "a.2" comes before "a.10" among tensors of one size.
bool TensorFilterProxy::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    const QVariant l = left.data(sortRole()), r = right.data(sortRole());
    if (l.isValid() != r.isValid()) // the one without a key goes last, ascending or descending
        return sortOrder() == Qt::AscendingOrder ? l.isValid() : r.isValid();
    const auto order = l.isValid() ? QVariant::compare(l, r) : QPartialOrdering::Equivalent;
    if (order != QPartialOrdering::Equivalent || left.column() == TensorTableModel::NameColumn)
        return order == QPartialOrdering::Less;
    const int lName = left.siblingAtColumn(TensorTableModel::NameColumn).data(sortRole()).toInt();
    const int rName = right.siblingAtColumn(TensorTableModel::NameColumn).data(sortRole()).toInt();
    return sortOrder() == Qt::AscendingOrder ? lName < rName : lName > rName;
}

} // namespace shardscope
