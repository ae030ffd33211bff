// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "value_columns.h"

#include "plural.h"
#include "tensor_table_model.h"
#include "value_format.h"

#include <QCoreApplication>
#include <QFontMetrics>

#include <limits>

namespace shardscope {
namespace {

using Model = TensorTableModel;

QString tr(const char* text) {
    return QCoreApplication::translate("shardscope::ValueColumns", text);
}

QString dtypeText(DType type) {
    const auto name = dtypeName(type);
    return QString::fromLatin1(name.data(), qsizetype(name.size()));
}

// Worst first when sorted ascending: what differs, then what could not be compared.
int statusRank(DiffStatus s) {
    switch (s) {
    case DiffStatus::Differs:
        return 0;
    case DiffStatus::DtypeChanged:
        return 1;
    case DiffStatus::ShapeChanged:
        return 2;
    case DiffStatus::OnlyInA:
    case DiffStatus::OnlyInB:
        return 3;
    case DiffStatus::NotCompared:
        return 4;
    case DiffStatus::NotExported:
        return 5;
    case DiffStatus::WithinTolerance:
        return 6;
    case DiffStatus::SameLayout:
        return 7;
    case DiffStatus::Identical:
        return 8;
    }
    return 9;
}

uint64_t nonFinite(const Moments& m) {
    return m.nan + m.posInf + m.negInf;
}

} // namespace

bool ValueColumns::isStatsColumn(int column) {
    return column >= Model::MaxAbsColumn && column <= Model::NonFiniteColumn;
}

bool ValueColumns::isDiffColumn(int column) {
    return column >= Model::DiffColumn && column <= Model::CosineColumn;
}

void ValueColumns::setCheck(std::shared_ptr<const ValueCheck> check, const Checkpoint& checkpoint) {
    m_check = std::move(check);
    m_findings.clear();
    m_errors.clear();
    if (!m_check) return;
    m_findings.resize(checkpoint.tensors.size());
    m_errors.resize(checkpoint.tensors.size());
    for (const Problem& p : m_check->findings) {
        const TensorInfo* t = checkpoint.find(p.tensor);
        if (!t) continue;
        const size_t row = size_t(t - checkpoint.tensors.data());
        if (p.severity == Severity::Error) m_errors[row] = true;
        QString& text = m_findings[row];
        if (!text.isEmpty()) text += '\n';
        text += (p.severity == Severity::Error ? tr("Error: ") : tr("Warning: ")) +
                QString::fromStdString(p.message);
    }
}

void ValueColumns::setComparison(std::shared_ptr<const Comparison> comparison) {
    m_comparison = std::move(comparison);
}

const TensorStats* ValueColumns::stats(size_t row) const {
    return m_check ? m_check->statsOf(row) : nullptr;
}

const TensorDiff* ValueColumns::diff(size_t row) const {
    return m_comparison ? m_comparison->diffOf(row) : nullptr;
}

QString ValueColumns::findings(size_t row) const {
    return row < m_findings.size() ? m_findings[row] : QString();
}

bool ValueColumns::hasErrorFinding(size_t row) const {
    return row < m_errors.size() && m_errors[row];
}

int ValueColumns::diffStatus(size_t row) const {
    const TensorDiff* d = diff(row);
    return d ? int(d->status) : -1;
}

QVariant ValueColumns::display(size_t row, int column) const {
    if (isStatsColumn(column)) {
        const TensorStats* s = stats(row);
        return s ? statsDisplay(s->moments, column) : QVariant(QString());
    }
    const TensorDiff* d = diff(row);
    return d ? diffDisplay(*d, column) : QVariant(QString());
}

QVariant ValueColumns::statsDisplay(const Moments& m, int column) const {
    const QString none = QStringLiteral("–"); // no finite element
    switch (column) {
    case Model::MaxAbsColumn:
        return m.finite() ? valueText(m.maxAbs) : none;
    case Model::MeanColumn:
        return valueText(m.mean(), 4, none);
    case Model::StdColumn:
        return valueText(m.stddev(), 4, none);
    case Model::NonFiniteColumn:
        return QLocale().toString(qulonglong(nonFinite(m)));
    }
    return {};
}

QVariant ValueColumns::diffDisplay(const TensorDiff& d, int column) const {
    if (column == Model::DiffColumn) return diffStatusText(d.status);
    if (!d.compared) return QString();
    if (d.bytesOnly) return QStringLiteral("–"); // complex or packed: no numbers to subtract
    switch (column) {
    case Model::MaxDiffColumn: // |a−b| where a NaN or an Inf differs is NaN or ∞, not 0
        if (d.nanMismatch) return QStringLiteral("NaN");
        return d.infMismatch ? QStringLiteral("∞") : valueText(d.maxAbsDiff);
    // ‖a − b‖ with an Inf or a NaN in a − b is ∞ or NaN, and the cosine has no value: the
    // numbers over the finite positions are in the tooltip and the details.
    case Model::RelativeL2Column:
        if (d.nanMismatch) return QStringLiteral("NaN");
        return d.infMismatch ? QStringLiteral("∞") : valueText(d.relativeL2, 3);
    case Model::CosineColumn:
        if (d.nanMismatch || d.infMismatch) return QStringLiteral("–");
        return valueText(d.cosine, 7, QStringLiteral("–"));
    }
    return {};
}

QVariant ValueColumns::sortKey(size_t row, int column) const {
    if (isStatsColumn(column)) {
        const TensorStats* s = stats(row);
        return s ? statsSortKey(s->moments, column) : QVariant();
    }
    const TensorDiff* d = diff(row);
    return d ? diffSortKey(*d, column) : QVariant();
}

QVariant ValueColumns::statsSortKey(const Moments& m, int column) const {
    auto number = [](double v) { return std::isnan(v) ? QVariant() : QVariant(v); };
    switch (column) {
    case Model::MaxAbsColumn:
        return m.finite() ? QVariant(m.maxAbs) : QVariant();
    case Model::MeanColumn:
        return number(m.mean());
    case Model::StdColumn:
        return number(m.stddev());
    case Model::NonFiniteColumn:
        return qulonglong(nonFinite(m));
    }
    return {};
}

QVariant ValueColumns::diffSortKey(const TensorDiff& d, int column) const {
    if (column == Model::DiffColumn) return statusRank(d.status);
    if (!d.compared || d.bytesOnly) return {};
    switch (column) {
    // NaN above ∞ above every number, so that the descending order is the ascending reversed
    // (NaN and ∞ were one key, and kept the same order both ways).
    case Model::MaxDiffColumn:
        return d.nanMismatch   ? std::numeric_limits<double>::infinity()
               : d.infMismatch ? std::numeric_limits<double>::max()
                               : d.maxAbsDiff;
    case Model::RelativeL2Column:
        return d.nanMismatch                               ? std::numeric_limits<double>::infinity()
               : d.infMismatch || std::isinf(d.relativeL2) ? std::numeric_limits<double>::max()
                                                           : d.relativeL2;
    case Model::CosineColumn:
        if (d.nanMismatch || d.infMismatch) return {};
        return std::isnan(d.cosine) ? QVariant() : QVariant(d.cosine);
    }
    return {};
}

QVariant ValueColumns::toolTip(const TensorInfo& t, size_t row, int column) const {
    if (isDiffColumn(column)) {
        const TensorDiff* d = diff(row);
        return d ? QVariant(diffToolTip(*d)) : QVariant();
    }
    if (!m_check) return {};
    const TensorStats* s = stats(row);
    if (!s) {
        if (t.status == CoverageStatus::Invalid) return tr("Not read: the tensor is invalid");
        if (!hasValueStats(t.dtype))
            return tr("ShardScope has no statistics for %1 values").arg(dtypeText(t.dtype));
        return tr("Not read");
    }
    const Moments& m = s->moments;
    if (column == Model::NonFiniteColumn)
        return tr("%1 · %2 · %3")
            .arg(counted(qint64(m.nan), tr("NaN"), tr("NaN")),
                 counted(qint64(m.posInf), tr("+Inf"), tr("+Inf")),
                 counted(qint64(m.negInf), tr("−Inf"), tr("−Inf")));
    if (!m.finite()) return tr("No finite element");
    const double value = column == Model::MaxAbsColumn ? m.maxAbs
                         : column == Model::MeanColumn ? m.mean()
                                                       : m.stddev();
    return tr("%1 (over %2)")
        .arg(valueText(value, 9),
             counted(qint64(m.finite()), tr("finite element"), tr("finite elements")));
}

QString ValueColumns::diffToolTip(const TensorDiff& d) const {
    const Comparison& c = *m_comparison;
    auto layout = [](const Checkpoint& ckpt, int64_t i) {
        const TensorInfo& t = ckpt.tensors[size_t(i)];
        return dtypeText(t.dtype) + ' ' + QString::fromStdString(formatShape(t.shape));
    };
    switch (d.status) {
    case DiffStatus::OnlyInA:
        return tr("%1 has no tensor exported as %2")
            .arg(c.directory, QString::fromStdString(d.name));
    case DiffStatus::DtypeChanged:
    case DiffStatus::ShapeChanged:
        return tr("%1 here, %2 in %3").arg(layout(*c.a, d.a), layout(*c.b, d.b), c.directory);
    case DiffStatus::NotCompared: { // the Diff cell says "Not compared"; this says why
        QString why = QString::fromStdString(notComparedReason(
            c.a->tensors[size_t(d.a)], c.b->tensors[size_t(d.b)], tr("here").toStdString(),
            tr("in %1").arg(c.directory).toStdString()));
        if (!why.isEmpty()) why[0] = why[0].toUpper();
        return tr("%1 (see Problems)").arg(why);
    }
    case DiffStatus::NotExported:
        return tr("Training state: %1 holds model weights only, as an export does")
            .arg(c.directory);
    case DiffStatus::Identical:
        return tr("Same dtype, shape and bytes as in %1").arg(c.directory);
    default:
        break;
    }
    if (d.bytesOnly)
        return tr("%1 of %2 elements differ, compared by their bits: this dtype has no numbers "
                  "to subtract, and no tolerance applies")
            .arg(QLocale().toString(qulonglong(d.differing)),
                 QLocale().toString(qulonglong(d.elements)));
    return tr("%1 of %2 elements differ, %3 beyond the tolerance, %4 NaN only on one side, %5 "
              "Inf against another value\nWhere both are finite: max |a−b| %6 · relative L2 %7 "
              "· cosine %8")
        .arg(QLocale().toString(qulonglong(d.differing)),
             QLocale().toString(qulonglong(d.elements)),
             QLocale().toString(qulonglong(d.beyondTolerance)),
             QLocale().toString(qulonglong(d.nanMismatch)),
             QLocale().toString(qulonglong(d.infMismatch)), valueText(d.maxAbsDiff, 9),
             valueText(d.relativeL2, 9), valueText(d.cosine, 9, tr("none (a side is all zeros)")));
}

QVariant ValueColumns::foreground(size_t row, int column) const {
    if (column == Model::NonFiniteColumn) { // zeros fade so that a count stands out
        if (const TensorStats* s = stats(row))
            return nonFinite(s->moments) > 0 ? QColor(0xc6, 0x28, 0x28) : QColor(Qt::gray);
    }
    if (column == Model::DiffColumn)
        if (const TensorDiff* d = diff(row)) return diffStatusColor(d->status);
    return {};
}

QString ValueColumns::header(int column) {
    switch (column) {
    case Model::MaxAbsColumn:
        return tr("max |x|");
    case Model::MeanColumn:
        return tr("Mean");
    case Model::StdColumn:
        return tr("Std");
    case Model::NonFiniteColumn:
        return tr("NaN/Inf");
    case Model::DiffColumn:
        return tr("Diff");
    case Model::MaxDiffColumn:
        return tr("max |a−b|");
    case Model::RelativeL2Column:
        return tr("rel L2");
    case Model::CosineColumn:
        return tr("Cosine");
    }
    return {};
}

QString ValueColumns::headerToolTip(int column) {
    switch (column) {
    case Model::MaxAbsColumn:
        return tr("Largest magnitude among the finite elements");
    case Model::MeanColumn:
    case Model::StdColumn:
        return tr("Over the finite elements (population standard deviation)");
    case Model::NonFiniteColumn:
        return tr("NaN, +Inf and −Inf elements, replicas not counted twice");
    case Model::DiffColumn:
        return tr("This checkpoint against the compared one, tensor by exported name");
    case Model::MaxDiffColumn:
        return tr("Largest |a − b|: NaN where a NaN is on one side only, ∞ where an Inf meets "
                  "another value, else over the positions finite on both sides");
    case Model::RelativeL2Column:
        return tr("‖a − b‖ / ‖a‖ (a: this checkpoint): NaN or ∞ where a NaN or an Inf differs, "
                  "else over the positions finite on both sides");
    case Model::CosineColumn:
        return tr("Cosine similarity of the two tensors; none where a NaN or an Inf differs");
    }
    return {};
}

int ValueColumns::defaultWidth(int column, const QFontMetrics& metrics) {
    const QString sample = column == Model::DiffColumn     ? tr("Within tolerance")
                           : column == Model::CosineColumn ? QStringLiteral("0.9999999")
                                                           : QStringLiteral("-2.974e-06");
    return std::max(metrics.horizontalAdvance(sample), metrics.horizontalAdvance(header(column))) +
           16;
}

} // namespace shardscope
