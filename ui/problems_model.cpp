// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "problems_model.h"

#include "files_model.h"
#include "mapping_document.h"

#include <QApplication>
#include <QColor>
#include <QLocale>
#include <QStyle>

#include <algorithm>
#include <unordered_map>

namespace shardscope {

ProblemsModel::ProblemsModel(MappingDocument* document, QObject* parent)
    : QAbstractTableModel(parent), m_document(document) {
    connect(document, &MappingDocument::targetsChanged, this, &ProblemsModel::recompute);
    connect(document, &MappingDocument::resetDone, this, &ProblemsModel::recompute);
    connect(document->exportRules(), &ExportRulesDocument::selectionChanged, this,
            &ProblemsModel::recompute);
    recompute();
}

void ProblemsModel::setExtra(std::vector<Problem> problems) {
    m_extra = std::move(problems);
    recompute();
}

void ProblemsModel::setValueFindings(std::shared_ptr<const Checkpoint> checkpoint,
                                     std::vector<Problem> findings) {
    m_findingsOf = std::move(checkpoint);
    m_findings = std::move(findings);
    recompute();
}

namespace {

// Locates a problem: its tensor, and its shard file when the problem is about the whole file.
class ProblemLocator {
public:
    explicit ProblemLocator(const Checkpoint* ckpt) : m_ckpt(ckpt) {
        if (!ckpt) return;
        m_broken = brokenFileReasons(*ckpt);
        for (size_t f = 0; f < ckpt->files.size(); ++f)
            m_files.emplace(ckpt->files[f].name, int(f));
    }
    int tensor(const std::string& fqn) const {
        if (!m_ckpt || fqn.empty()) return -1;
        const TensorInfo* t = m_ckpt->find(fqn);
        return t ? int(t - m_ckpt->tensors.data()) : -1;
    }
    int file(const std::string& name) const {
        auto it = m_files.find(name);
        return it == m_files.end() ? -1 : it->second;
    }
    bool fileLevel(const Problem& p, int file) const {
        if (p.kind == ErrorKind::NotRegularFile) return !p.file.empty();
        return file >= 0 && (p.tensor.empty() || !m_broken[size_t(file)].empty());
    }

private:
    const Checkpoint* m_ckpt;
    std::vector<std::string> m_broken;
    std::unordered_map<std::string, int> m_files;
};

} // namespace

void ProblemsModel::recompute() {
    std::vector<Row> rows;
    auto ckpt = m_document->checkpoint();
    if (m_findingsOf != ckpt) { // another checkpoint is open: its findings, and it, can go
        m_findingsOf.reset();
        m_findings.clear();
    }
    const ProblemLocator locate(ckpt.get());
    auto add = [&](const Problem& p) {
        const int file = locate.file(p.file);
        rows.push_back({p, locate.tensor(p.tensor), file, locate.fileLevel(p, file)});
    };
    for (const auto& p : m_extra)
        add(p);
    if (ckpt) {
        for (const auto& p : ckpt->problems)
            add(p);
        addMappingRows(*ckpt, rows);
        for (const auto& p : m_document->exportRules()->problems()) // collisions, none selected
            add(p);
        for (const auto& p : m_findings) {
            add(p);
            rows.back().valueFinding = true;
        }
    }
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
}

// The mapping's own findings, one row per unassigned tensor so each can be clicked.
void ProblemsModel::addMappingRows(const Checkpoint& ckpt, std::vector<Row>& rows) const {
    const std::string source = m_document->mappingSource().toStdString();
    const auto& targets = m_document->targets();
    size_t unassigned = 0;
    for (size_t t = 0; t < targets.size(); ++t) {
        if (targets[t] != 0 || m_document->isExcluded(t)) continue; // training state: left out
        if (m_document->exportRules()->isRuleExcluded(t)) continue;
        if (++unassigned > kMaxUnassignedRows) continue;
        rows.push_back({{Severity::Error, source, ckpt.tensors[t].fqn,
                         "not assigned to an output file (assign it, or export with the "
                         "unassigned tensors in the last file)"},
                        int(t)});
    }
    if (unassigned > kMaxUnassignedRows) {
        const qulonglong more = unassigned - kMaxUnassignedRows;
        const QString count = QLocale().toString(more);
        const QString text =
            more == 1 ? tr("1 more tensor is not assigned to an output file")
                      : tr("%1 more tensors are not assigned to an output file").arg(count);
        rows.push_back({{Severity::Error, source, "", text.toStdString()}});
    }
    for (const auto& fqn : m_document->absentFqns())
        rows.push_back({{Severity::Warning, source, fqn,
                         "in the mapping but in no shard (a tied or aliased weight?); skipped"}});
}

QString ProblemsModel::emptyText() const {
    if (!m_rows.empty()) return {};
    return m_document->isOpen() ? tr("No problems") : tr("No checkpoint open");
}

int ProblemsModel::errorCount() const {
    int n = 0;
    for (const auto& r : m_rows)
        n += r.problem.severity == Severity::Error && !r.valueFinding;
    return n;
}

int ProblemsModel::valueFindingCount() const {
    return int(std::count_if(m_rows.begin(), m_rows.end(),
                             [](const Row& r) { return r.valueFinding; }));
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
        return display(row, index.column());
    case Qt::ToolTipRole:
        if (row.valueFinding)
            return QString::fromStdString(row.problem.text()) + "\n\n" +
                   tr("Found by Check Values. The export copies values as they are, so this does "
                      "not block it.");
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
    case FileLevelRole:
        return row.fileLevel;
    case FileIndexRole:
        return row.file;
    case FileNameRole:
        return QString::fromStdString(row.problem.file);
    case KindRole:
        return int(row.problem.kind);
    case ValueFindingRole:
        return row.valueFinding;
    }
    return {};
}

QVariant ProblemsModel::display(const Row& row, int column) const {
    switch (column) {
    case SeverityColumn:
        return row.problem.severity == Severity::Error ? tr("Error") : tr("Warning");
    case FileColumn:
        return QString::fromStdString(row.problem.file);
    case TensorColumn:
        return QString::fromStdString(row.problem.tensor);
    case MessageColumn:
        return QString::fromStdString(row.problem.message);
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
