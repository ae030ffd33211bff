// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "tensor_table_model.h"

#include "files_model.h"
#include "format_units.h"
#include "mapping_document.h"
#include "natural_order.h"
#include "value_columns.h"

#include <QApplication>
#include <QFontMetrics>
#include <QLocale>
#include <QPainter>
#include <QPixmap>
#include <QStyle>

#include <algorithm>
#include <numeric>
#include <unordered_map>

namespace shardscope {

TensorTableModel::TensorTableModel(MappingDocument* document, QObject* parent)
    : QAbstractTableModel(parent), m_document(document),
      m_values(std::make_unique<ValueColumns>()) {
    connect(document, &MappingDocument::resetDone, this, &TensorTableModel::rebuild);
    connect(document, &MappingDocument::targetsChanged, this, &TensorTableModel::targetsChanged);
    connect(document->exportRules(), &ExportRulesDocument::selectionChanged, this,
            &TensorTableModel::selectionChanged);
    rebuild();
}

TensorTableModel::~TensorTableModel() = default;

void TensorTableModel::rebuild() {
    beginResetModel();
    m_checkpoint = m_document->checkpoint();
    *m_values = ValueColumns(); // results belong to the checkpoint they were computed for
    m_names.clear();
    m_naturalRank.clear();
    m_brokenFile.clear();
    m_shapeRank.clear();
    if (m_checkpoint) {
        const auto& tensors = m_checkpoint->tensors;
        m_names.reserve(tensors.size());
        for (const auto& t : tensors)
            m_names.push_back(QString::fromStdString(t.fqn));
        std::vector<int> order(tensors.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
            return naturalLess(tensors[size_t(a)].fqn, tensors[size_t(b)].fqn);
        });
        m_naturalRank.resize(tensors.size());
        for (size_t i = 0; i < order.size(); ++i)
            m_naturalRank[size_t(order[i])] = int(i);
        markBrokenFiles();
        rankShapes();
    }
    endResetModel();
}

// Shapes sort by rank, then dim by dim as numbers ("[256, 4]" before "[1024, 4]"); an invalid
// tensor by the shape its chunks imply, unknown shapes last. Equal shapes share a rank.
void TensorTableModel::rankShapes() {
    const auto& tensors = m_checkpoint->tensors;
    std::vector<std::optional<Shape>> shapes(tensors.size());
    for (size_t t = 0; t < tensors.size(); ++t)
        shapes[t] = tensors[t].status == CoverageStatus::Invalid ? impliedShape(tensors[t])
                                                                 : tensors[t].shape;
    auto less = [&](int a, int b) {
        const auto &x = shapes[size_t(a)], &y = shapes[size_t(b)];
        if (!x || !y) return x.has_value() && !y.has_value();
        if (x->size() != y->size()) return x->size() < y->size();
        return *x < *y;
    };
    std::vector<int> order(tensors.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), less);
    m_shapeRank.assign(tensors.size(), 0);
    for (size_t i = 1; i < order.size(); ++i)
        m_shapeRank[size_t(order[i])] =
            m_shapeRank[size_t(order[i - 1])] + (less(order[i - 1], order[i]) ? 1 : 0);
}

// A tensor is in a broken file when one of its chunks is, or when an error about that file
// names it (a skipped file's chunks never reach the tensor, so the problem is the only trace).
void TensorTableModel::markBrokenFiles() {
    const Checkpoint& ckpt = *m_checkpoint;
    const auto reasons = brokenFileReasons(ckpt);
    m_brokenFile.assign(ckpt.tensors.size(), QString());
    if (std::all_of(reasons.begin(), reasons.end(), [](const auto& r) { return r.empty(); }))
        return;
    auto why = [&](size_t f) {
        return QString::fromStdString(ckpt.files[f].name + ": " + reasons[f]);
    };
    std::unordered_map<std::string, size_t> fileByName;
    for (size_t f = 0; f < ckpt.files.size(); ++f)
        if (!reasons[f].empty()) fileByName.emplace(ckpt.files[f].name, f);
    for (size_t t = 0; t < ckpt.tensors.size(); ++t)
        for (const Chunk& c : ckpt.tensors[t].chunks)
            if (!reasons[c.file].empty()) m_brokenFile[t] = why(c.file);
    for (const Problem& p : ckpt.problems) {
        if (p.severity != Severity::Error || p.tensor.empty()) continue;
        auto file = fileByName.find(p.file);
        const TensorInfo* t = file == fileByName.end() ? nullptr : ckpt.find(p.tensor);
        if (t) m_brokenFile[size_t(t - ckpt.tensors.data())] = why(file->second);
    }
}

void TensorTableModel::setValueCheck(std::shared_ptr<const ValueCheck> check) {
    if (!m_checkpoint || (check && check->checkpoint != m_checkpoint)) check.reset();
    if (!check && !m_values->hasCheck()) return;
    m_values->setCheck(std::move(check), m_checkpoint ? *m_checkpoint : Checkpoint());
    if (rowCount() > 0) // the name column too: its warning icon and tooltip
        emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
}

void TensorTableModel::setComparison(std::shared_ptr<const Comparison> comparison) {
    if (!m_checkpoint || (comparison && comparison->a != m_checkpoint)) comparison.reset();
    if (!comparison && !m_values->hasComparison()) return;
    m_values->setComparison(std::move(comparison));
    if (rowCount() > 0) emit dataChanged(index(0, DiffColumn), index(rowCount() - 1, CosineColumn));
}

bool TensorTableModel::hasValueCheck() const {
    return m_values->hasCheck();
}

bool TensorTableModel::hasComparison() const {
    return m_values->hasComparison();
}

void TensorTableModel::targetsChanged() {
    if (rowCount() == 0) return;
    emit dataChanged(index(0, TargetColumn), index(rowCount() - 1, TargetColumn));
}

// Names, dtypes and exclusions all follow the rules; every column may change with them.
void TensorTableModel::selectionChanged() {
    if (rowCount() == 0 || m_checkpoint != m_document->checkpoint()) return; // reset follows
    emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
}

const TensorExport* TensorTableModel::exportOf(size_t row) const {
    if (m_checkpoint != m_document->checkpoint()) return nullptr;
    return m_document->exportRules()->exportOf(row);
}

QString TensorTableModel::exportedName(int tensor) const {
    const TensorExport* e = exportOf(size_t(tensor));
    return e ? QString::fromStdString(e->name)
             : QString::fromStdString(m_checkpoint->tensors[size_t(tensor)].exportName());
}

bool TensorTableModel::anyNameChanged() const {
    for (size_t row = 0; row < m_names.size(); ++row)
        if (exportedName(int(row)) != m_names[row]) return true;
    return false;
}

bool TensorTableModel::isRuleExcluded(int tensor) const {
    return m_checkpoint == m_document->checkpoint() &&
           m_checkpoint->tensors[size_t(tensor)].status != CoverageStatus::Invalid &&
           m_document->exportRules()->isRuleExcluded(size_t(tensor));
}

QString TensorTableModel::leftOutReason(int tensor) const {
    const TensorInfo& t = m_checkpoint->tensors[size_t(tensor)];
    if (isExcluded(tensor)) return notExportedText(t.kind);
    if (!isRuleExcluded(tensor)) return {};
    const TensorExport* e = exportOf(size_t(tensor));
    const QString reason = e ? QString::fromStdString(e->reason) : QString();
    return reason.isEmpty() ? tr("not exported (excluded)") : tr("not exported: %1").arg(reason);
}

QString TensorTableModel::dtypeText(const TensorInfo& t, size_t row) const {
    const QString source = QString::fromLatin1(dtypeName(t.dtype).data());
    const TensorExport* e = exportOf(row);
    if (!e || e->dtype == t.dtype || isLeftOut(int(row))) return source;
    return source + QStringLiteral(" → ") + QString::fromLatin1(dtypeName(e->dtype).data());
}

int TensorTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() || !m_checkpoint ? 0 : int(m_checkpoint->tensors.size());
}

int TensorTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

int TensorTableModel::displayStatus(int tensor) const {
    const CoverageStatus s = m_checkpoint->tensors[size_t(tensor)].status;
    const bool hidesCause = s == CoverageStatus::Complete || s == CoverageStatus::Gap;
    return hidesCause && !m_brokenFile[size_t(tensor)].isEmpty() ? BrokenFileStatus : int(s);
}

QString TensorTableModel::statusDetail(int tensor) const {
    const TensorInfo& t = m_checkpoint->tensors[size_t(tensor)];
    QString detail = QString::fromStdString(t.coverageDetail);
    const QString& broken = m_brokenFile[size_t(tensor)];
    if (broken.isEmpty()) return detail;
    const QString text = tr("Its bytes are in a broken shard file, %1").arg(broken);
    return detail.isEmpty() ? text : text + '\n' + detail;
}

int TensorTableModel::exportTarget(int tensor) const {
    if (m_checkpoint->tensors[size_t(tensor)].status == CoverageStatus::Invalid) return 0;
    return m_document->target(size_t(tensor));
}

bool TensorTableModel::isExcluded(int tensor) const {
    // An invalid tensor is written nowhere whatever its kind; its row says why.
    return m_checkpoint->tensors[size_t(tensor)].status != CoverageStatus::Invalid &&
           m_document->isExcluded(size_t(tensor));
}

QString TensorTableModel::emptyText() const {
    if (!m_checkpoint) return tr("No checkpoint open");
    if (m_checkpoint->tensors.empty()) {
        if (m_checkpoint->format == CheckpointFormat::Dcp)
            return tr("No tensors: .metadata lists none (see Byte Items and Problems)");
        if (m_checkpoint->format == CheckpointFormat::HfFolder)
            return tr("No tensors: no safetensors file was read (see Files and Problems)");
        return tr("No tensors: every shard file was skipped (see Files and Problems)");
    }
    return {};
}

QString TensorTableModel::statusText(int status) {
    switch (status) {
    case int(CoverageStatus::Complete):
        return tr("Complete");
    case int(CoverageStatus::Gap):
        return tr("Gap");
    case int(CoverageStatus::Overlap):
        return tr("Overlap");
    case int(CoverageStatus::Conflict):
        return tr("Conflict");
    case int(CoverageStatus::Invalid):
        return tr("Invalid");
    case BrokenFileStatus:
        return tr("Broken file");
    }
    return {};
}

QColor TensorTableModel::statusColor(int status) {
    switch (status) {
    case int(CoverageStatus::Complete):
        return QColor(0x2e, 0x7d, 0x32);
    case int(CoverageStatus::Gap):
        return QColor(0xc6, 0x28, 0x28);
    case int(CoverageStatus::Overlap):
        return QColor(0xef, 0x6c, 0x00);
    case int(CoverageStatus::Conflict):
        return QColor(0xad, 0x14, 0x57);
    case int(CoverageStatus::Invalid):
        return QColor(0x6a, 0x1b, 0x9a);
    case BrokenFileStatus:
        return QColor(0x8d, 0x3b, 0x1f);
    }
    return {};
}

QIcon TensorTableModel::statusIcon(int status) {
    // Drawn, not loaded: a filled disc for complete, a ring with a bar for problems.
    static QIcon cache[StatusCount];
    if (status < 0 || status >= StatusCount) return {};
    QIcon& icon = cache[status];
    if (!icon.isNull()) return icon;
    const bool complete = status == int(CoverageStatus::Complete);
    QPixmap pm(16, 16);
    pm.fill(Qt::transparent);
    QPainter p(&pm);
    p.setRenderHint(QPainter::Antialiasing);
    const QColor c = statusColor(status);
    p.setPen(QPen(c, 1.5));
    p.setBrush(complete ? c : QColor(Qt::white));
    p.drawEllipse(QRectF(2, 2, 12, 12));
    if (complete) {
        p.setPen(QPen(Qt::white, 1.8));
        p.drawPolyline(QPolygonF({QPointF(5, 8), QPointF(7.2, 10.5), QPointF(11, 5.5)}));
    } else {
        p.setPen(QPen(c, 2));
        p.drawLine(QPointF(8, 4.5), QPointF(8, 8.8));
        p.drawPoint(QPointF(8, 11.2));
    }
    icon = QIcon(pm);
    return icon;
}

QString TensorTableModel::targetName(int index, int fileCount) {
    if (index <= 0) return tr("(unassigned)");
    return QString::fromStdString(outputFileName(index, std::max(index, fileCount)));
}

QString TensorTableModel::shortTargetName(int index, int fileCount) {
    if (index <= 0) return tr("(unassigned)");
    return QStringLiteral("%1/%2")
        .arg(index, 5, 10, QLatin1Char('0'))
        .arg(std::max(index, fileCount), 5, 10, QLatin1Char('0'));
}

QString TensorTableModel::kindText(TensorKind kind) {
    const auto name = tensorKindName(kind);
    return QString::fromLatin1(name.data(), qsizetype(name.size()));
}

QString TensorTableModel::notExportedText(TensorKind kind) {
    switch (kind) {
    case TensorKind::Model:
        break;
    case TensorKind::Optimizer:
        return tr("not exported (optimizer state)");
    case TensorKind::Scheduler:
        return tr("not exported (scheduler state)");
    case TensorKind::Dataloader:
        return tr("not exported (dataloader state)");
    case TensorKind::TrainState:
        return tr("not exported (trainer state)");
    }
    return tr("not exported");
}

QString TensorTableModel::notExportedHint() {
    return tr("Training state is left out of the export. To export it, check \"Include training "
              "state\" in the export dialog (Ctrl+E), or assign the tensor to an output file.");
}

int TensorTableModel::defaultColumnWidth(int column, const QFontMetrics& metrics) {
    auto fit = [&](const QString& sample, int extra) {
        return metrics.horizontalAdvance(sample) + extra;
    };
    switch (column) {
    case NameColumn:
        return fit(QString(34, QLatin1Char('m')), 0) * 2 / 3;
    case ExportedNameColumn:
        return fit(QString(34, QLatin1Char('m')), 0) / 2;
    case DTypeColumn:
        return fit(QStringLiteral("F32 → BF16"), 16);
    case TargetColumn:
        return fit(QStringLiteral("00000/00000"), 34); // room for the editor's arrow
    case StatusColumn:
        return fit(tr("Broken file"), 40); // and the icon
    case KindColumn:
        return fit(QStringLiteral("train_state"), 16);
    case ShapeColumn:
        return fit(QStringLiteral("[16384, 4096]"), 16);
    case ElementsColumn:
        return fit(QLocale().toString(67108864), 16);
    case SizeColumn:
        return fit(QStringLiteral("999.99 MiB"), 16);
    case ChunksColumn:
        return fit(tr("Chunks"), 20);
    }
    if (ValueColumns::owns(column)) return ValueColumns::defaultWidth(column, metrics);
    return 80;
}

std::optional<Shape> TensorTableModel::impliedShape(const TensorInfo& t) {
    if (t.chunks.empty()) return std::nullopt;
    const size_t rank = t.chunks.front().shape.size();
    Shape shape(rank, 0);
    for (const Chunk& c : t.chunks) {
        if (c.shape.size() != rank || c.offsets.size() != rank) return std::nullopt;
        for (size_t d = 0; d < rank; ++d) {
            uint64_t end;
            if (__builtin_add_overflow(c.offsets[d], c.shape[d], &end)) return std::nullopt;
            shape[d] = std::max(shape[d], end);
        }
    }
    return shape;
}

// An invalid tensor's shape is the one its chunks imply, marked with "?", or just "?".
QString TensorTableModel::shapeText(const TensorInfo& t) const {
    if (t.status != CoverageStatus::Invalid) return QString::fromStdString(formatShape(t.shape));
    const auto implied = impliedShape(t);
    return implied ? QString::fromStdString(formatShape(*implied)) + '?' : QStringLiteral("?");
}

QString TensorTableModel::elementsText(const TensorInfo& t) const {
    if (t.status != CoverageStatus::Invalid) {
        auto n = checkedNumel(t.shape);
        return n ? QLocale().toString(qulonglong(*n)) : QString();
    }
    const auto implied = impliedShape(t);
    const auto n = implied ? checkedNumel(*implied) : std::nullopt;
    return n ? QLocale().toString(qulonglong(*n)) + '?' : QStringLiteral("?");
}

QVariant TensorTableModel::display(const TensorInfo& t, size_t row, int column) const {
    if (ValueColumns::owns(column)) return m_values->display(row, column);
    switch (column) {
    case NameColumn:
        return m_names[row];
    case ExportedNameColumn:
        return exportedName(int(row));
    case DTypeColumn:
        return dtypeText(t, row);
    case ShapeColumn:
        return shapeText(t);
    case ElementsColumn:
        return elementsText(t);
    case SizeColumn:
        if (t.status == CoverageStatus::Invalid) return QStringLiteral("?");
        return QString::fromStdString(formatBytes(t.bytes));
    case ChunksColumn:
        return QLocale().toString(qulonglong(t.chunks.size()));
    case StatusColumn:
        return statusText(displayStatus(int(row)));
    case KindColumn:
        return kindText(t.kind);
    case TargetColumn:
        return targetText(row);
    }
    return {};
}

QString TensorTableModel::targetText(size_t row) const {
    if (isExcluded(int(row))) return leftOutReason(int(row));
    if (isRuleExcluded(int(row))) return tr("not exported"); // the tooltip says why
    return shortTargetName(exportTarget(int(row)), m_document->fileCount());
}

QVariant TensorTableModel::sortKey(const TensorInfo& t, size_t row, int column) const {
    const bool invalid = t.status == CoverageStatus::Invalid;
    if (ValueColumns::owns(column)) return m_values->sortKey(row, column);
    switch (column) {
    case NameColumn:
        return m_naturalRank[row];
    case ExportedNameColumn:
        return exportedName(int(row));
    case DTypeColumn:
        return display(t, row, column);
    case ShapeColumn:
        return m_shapeRank[row];
    case ElementsColumn: {
        auto n = invalid ? std::nullopt : checkedNumel(t.shape);
        return qulonglong(n ? *n : 0);
    }
    case SizeColumn:
        return qulonglong(t.bytes);
    case ChunksColumn:
        return qulonglong(t.chunks.size());
    case StatusColumn:
        return displayStatus(int(row));
    case KindColumn:
        return int(t.kind);
    case TargetColumn: {
        if (isLeftOut(int(row))) return kMaxFileIndex + 2; // after the unassigned
        const int target = exportTarget(int(row));
        return target == 0 ? kMaxFileIndex + 1 : target; // unassigned last
    }
    }
    return {};
}

QVariant TensorTableModel::toolTip(const TensorInfo& t, size_t row, int column) const {
    // A row the rules leave out says why wherever the pointer rests.
    if (isRuleExcluded(int(row)) && column != TargetColumn) {
        const QVariant tip = toolTip(t, row, TargetColumn);
        return column == NameColumn ? tip.toString() + '\n' + nameToolTip(t, row) : tip;
    }
    const bool invalid = t.status == CoverageStatus::Invalid;
    if (ValueColumns::owns(column)) return m_values->toolTip(t, row, column);
    switch (column) {
    case NameColumn:
        return nameToolTip(t, row);
    case StatusColumn: {
        const QString detail = statusDetail(int(row));
        return detail.isEmpty() ? statusText(displayStatus(int(row))) : detail;
    }
    case TargetColumn:
        return targetToolTip(t, row);
    case ExportedNameColumn:
        return exportedNameToolTip(t, row);
    case KindColumn:
        if (t.kind != TensorKind::Model) return notExportedHint();
        return tr("Model weights: exported");
    case ShapeColumn:
    case ElementsColumn:
    case SizeColumn:
        if (invalid)
            return tr("Implied by the chunks that could be read; the tensor is invalid: %1")
                .arg(QString::fromStdString(t.coverageDetail));
        if (column == SizeColumn)
            return tr("%1 bytes").arg(QLocale().toString(qulonglong(t.bytes)));
        break;
    }
    return {};
}

// The status, and the name the export writes when it differs from the checkpoint's.
QString TensorTableModel::nameToolTip(const TensorInfo& t, size_t row) const {
    const QString detail = statusDetail(int(row));
    QString tip = detail.isEmpty() ? statusText(displayStatus(int(row))) : detail;
    if (!t.name.empty()) tip += '\n' + tr("Exported as %1").arg(QString::fromStdString(t.name));
    if (const QString findings = m_values->findings(row); !findings.isEmpty())
        tip += "\n\n" + tr("Check Values found:") + '\n' + findings;
    return tip;
}

QString TensorTableModel::exportedNameToolTip(const TensorInfo& t, size_t row) const {
    const QString name = exportedName(int(row));
    QString tip = name == m_names[row] ? tr("Exported under its own name")
                                       : tr("Exported as %1\nfrom %2").arg(name, m_names[row]);
    if (m_document->exportRules()->isRenamedInPlace(row))
        tip += '\n' + tr("Renamed here; clear the cell to use the rules' name again");
    else if (t.status != CoverageStatus::Invalid)
        tip += '\n' + tr("Double-click or F2 to rename");
    return tip;
}

QString TensorTableModel::targetToolTip(const TensorInfo& t, size_t row) const {
    if (t.status == CoverageStatus::Invalid)
        return tr("(unassigned): an invalid tensor is not exported\n%1")
            .arg(QString::fromStdString(t.coverageDetail));
    if (isExcluded(int(row))) return notExportedText(t.kind) + "\n" + notExportedHint();
    if (isRuleExcluded(int(row)))
        return leftOutReason(int(row)) + "\n" +
               tr("Include in Export (Ins) puts it back; Undo too");
    QString tip = targetName(exportTarget(int(row)), m_document->fileCount());
    if (exportedName(int(row)) != m_names[row] && exportTarget(int(row)) > 0)
        tip += '\n' + tr("as %1").arg(exportedName(int(row)));
    return tip;
}

QVariant TensorTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const size_t row = size_t(index.row());
    const int column = index.column();
    const TensorInfo& t = m_checkpoint->tensors[row];
    switch (role) {
    case Qt::DisplayRole:
        return display(t, row, column);
    case Qt::EditRole:
        if (column == TargetColumn) return m_document->target(row);
        if (column == ExportedNameColumn) return exportedName(int(row));
        break;
    case Qt::ToolTipRole:
        return toolTip(t, row, column);
    case Qt::DecorationRole:
        if (column == StatusColumn) return statusIcon(displayStatus(int(row)));
        if (column == NameColumn && qApp && !m_values->findings(row).isEmpty())
            return qApp->style()->standardIcon(m_values->hasErrorFinding(row)
                                                   ? QStyle::SP_MessageBoxCritical
                                                   : QStyle::SP_MessageBoxWarning);
        break;
    case Qt::ForegroundRole: {
        if (isRuleExcluded(int(row))) return QColor(Qt::gray); // the whole row: left out
        if (ValueColumns::owns(column)) return m_values->foreground(row, column);
        const int status = displayStatus(int(row));
        if (column == StatusColumn && status != int(CoverageStatus::Complete))
            return statusColor(status);
        if (column == TargetColumn && isExcluded(int(row))) return QColor(Qt::gray); // by choice
        if (column == ExportedNameColumn && exportedName(int(row)) != m_names[row])
            return QColor(0x15, 0x65, 0xc0); // renamed: stands out from the source name
        if (column == DTypeColumn && dtypeText(t, row).size() > int(dtypeName(t.dtype).size()))
            return QColor(0x15, 0x65, 0xc0);
        if (column == TargetColumn && exportTarget(int(row)) == 0) return QColor(0xc6, 0x28, 0x28);
        if (t.status == CoverageStatus::Invalid &&
            (column == ShapeColumn || column == ElementsColumn || column == SizeColumn))
            return QColor(Qt::gray);
        break;
    }
    case Qt::TextAlignmentRole:
        if (column == ElementsColumn || column == SizeColumn || column == ChunksColumn ||
            (ValueColumns::owns(column) && column != DiffColumn))
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case SortRole:
        return sortKey(t, row, column);
    case TensorIndexRole:
        return int(row);
    case FilterTextRole:
        return m_names[row];
    case StatusRole:
        return displayStatus(int(row));
    case TargetRole:
        return isLeftOut(int(row)) ? NotExportedTarget : exportTarget(int(row));
    case DTypeRole:
        return int(t.dtype);
    case TargetFileNameRole:
        if (isLeftOut(int(row))) return leftOutReason(int(row));
        return targetName(exportTarget(int(row)), m_document->fileCount());
    case KindRole:
        return int(t.kind);
    case FindingsRole:
        return m_values->findings(row);
    case DiffStatusRole:
        return m_values->diffStatus(row);
    case ExportedNameRole:
        return exportedName(int(row));
    case ExportedDTypeRole: {
        const TensorExport* e = exportOf(row);
        return int(e ? e->dtype : t.dtype);
    }
    case LeftOutRole:
        return isLeftOut(int(row));
    }
    return {};
}

QVariant TensorTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::ToolTipRole && section == TargetColumn)
        return tr("Output file: number / count, as in model-00003-of-00004.safetensors");
    if (role == Qt::ToolTipRole && section == ExportedNameColumn)
        return tr("The name the export writes: the source name after the rename rules, or one "
                  "typed here (F2)");
    if (role == Qt::ToolTipRole && section == DTypeColumn)
        return tr("The dtype in the shards, and the one the export writes when it casts");
    if (role == Qt::ToolTipRole && section == KindColumn)
        return tr("What the tensor is for, from its place in the state dict: model weights, or "
                  "training state (optimizer, scheduler, dataloader, trainer), which the export "
                  "leaves out unless asked to include it");
    if (role == Qt::ToolTipRole && ValueColumns::owns(section))
        return ValueColumns::headerToolTip(section);
    if (role != Qt::DisplayRole) return {};
    if (ValueColumns::owns(section)) return ValueColumns::header(section);
    switch (section) {
    case NameColumn:
        return tr("Tensor");
    case ExportedNameColumn:
        return tr("Exported name");
    case DTypeColumn:
        return tr("DType");
    case ShapeColumn:
        return tr("Shape");
    case ElementsColumn:
        return tr("Elements");
    case SizeColumn:
        return tr("Size");
    case ChunksColumn:
        return tr("Chunks");
    case StatusColumn:
        return tr("Coverage");
    case TargetColumn:
        return tr("Output file");
    case KindColumn:
        return tr("Kind");
    }
    return {};
}

Qt::ItemFlags TensorTableModel::flags(const QModelIndex& index) const {
    Qt::ItemFlags f = QAbstractTableModel::flags(index);
    if (index.isValid() &&
        (index.column() == TargetColumn || index.column() == ExportedNameColumn) &&
        m_checkpoint->tensors[size_t(index.row())].status != CoverageStatus::Invalid)
        f |= Qt::ItemIsEditable;
    return f;
}

// An undoable rename made in place; an empty name gives the tensor back the rules' name.
bool TensorTableModel::setExportedName(const QModelIndex& index, const QVariant& value) {
    const QString typed = value.toString().trimmed();
    ExportRulesDocument* rules = m_document->exportRules();
    const size_t row = size_t(index.row());
    if (typed == exportedName(index.row()) && (!typed.isEmpty() || !rules->isRenamedInPlace(row)))
        return true;
    rules->renameTensor(row, typed); // dataChanged follows from selectionChanged
    return true;
}

bool TensorTableModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (role != Qt::EditRole || !index.isValid()) return false;
    if (!(flags(index) & Qt::ItemIsEditable)) return false;
    if (index.column() == ExportedNameColumn) return setExportedName(index, value);
    if (index.column() != TargetColumn) return false;
    bool ok = false;
    const int target = value.toInt(&ok);
    if (!ok || target < 1 || target > kMaxFileIndex) return false;
    if (target == m_document->target(size_t(index.row()))) return true;
    m_document->assign({size_t(index.row())}, target); // undoable; dataChanged follows
    return true;
}

} // namespace shardscope
