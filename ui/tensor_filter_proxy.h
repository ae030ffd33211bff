// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "name_regex.h"

#include <QIcon>
#include <QSortFilterProxyModel>

#include <optional>
#include <vector>

namespace shardscope {

class MappingDocument;

// Filters the tensor table by name (source or exported; substring or regular expression) and by
// dtype, coverage status, kind and output file; sorts by the model's SortRole, equal keys in
// natural name order and rows without a key (no statistics) last in either direction.
class TensorFilterProxy : public QSortFilterProxyModel {
    Q_OBJECT
    Q_PROPERTY(QString emptyText READ emptyText)

public:
    static constexpr int Any = -1;
    static constexpr int AnyProblem = -2;            // status filter: everything not complete
    enum KindChoice { ModelWeights, TrainingState }; // the kind filter's values besides Any

    // One entry of a filter combo box: its text, the value for the setter, an optional icon.
    struct Choice {
        QString text;
        int value = Any;
        QIcon icon = {};
    };
    // "Any …" first, also when no checkpoint is open, then the choices the document offers.
    static std::vector<Choice> dtypeChoices(const MappingDocument& document);
    static std::vector<Choice> statusChoices();
    static std::vector<Choice> kindChoices(); // Any kind, Model weights, Training state
    static std::vector<Choice> targetChoices(const MappingDocument& document);

    explicit TensorFilterProxy(QObject* parent = nullptr);

    void setText(const QString& text, bool regex);
    bool isRegexValid() const { return !m_regexMode || m_regex.has_value(); }
    void setDTypeFilter(int dtype);
    void setStatusFilter(int status);
    void setTargetFilter(int target); // 0 = unassigned, TensorTableModel::NotExportedTarget
    void setKindFilter(int kind);     // Any or a KindChoice
    // During a comparison: only the tensors that are not the same in the other checkpoint.
    void setDiffersOnly(bool on);
    bool differsOnly() const { return m_differsOnly; }
    // Only the source rows whose flag is set (the module tree's selection); empty: every row.
    void setRowSubset(std::vector<bool> rows);
    bool hasRowSubset() const { return !m_rows.empty(); }

    // What an empty view should say: the source's own text, or that the filter hides every row.
    QString emptyText() const;

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    bool matchesText(const QString& name) const;

    QString m_text;
    std::optional<NameRegex> m_regex; // in regex mode, when the text compiles
    bool m_regexMode = false;
    int m_dtype = Any, m_status = Any, m_target = Any, m_kind = Any;
    bool m_differsOnly = false;
    std::vector<bool> m_rows;
};

} // namespace shardscope
