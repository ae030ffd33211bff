// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "module_tree_model.h"

#include "format_units.h"
#include "mapping_document.h"
#include "tensor_table_model.h"

#include <QLocale>

namespace shardscope {

ModuleTreeModel::ModuleTreeModel(MappingDocument* document, QObject* parent)
    : QAbstractItemModel(parent), m_document(document) {
    if (m_document) {
        connect(m_document, &MappingDocument::resetDone, this, &ModuleTreeModel::rebuild);
        rebuild();
    }
}

void ModuleTreeModel::rebuild() {
    auto ckpt = m_document->checkpoint();
    setTree(ckpt ? std::make_shared<const ModuleTree>(buildModuleTree(*ckpt)) : nullptr);
}

void ModuleTreeModel::setTree(std::shared_ptr<const ModuleTree> tree) {
    beginResetModel();
    m_tree = std::move(tree);
    endResetModel();
}

const ModuleNode* ModuleTreeModel::node(const QModelIndex& index) const {
    if (!m_tree || m_tree->nodes.empty()) return nullptr;
    const size_t id = index.isValid() ? size_t(index.internalId()) : 0;
    return id < m_tree->nodes.size() ? &m_tree->nodes[id] : nullptr;
}

uint32_t ModuleTreeModel::nodeOf(const QModelIndex& index) const {
    return index.isValid() ? uint32_t(index.internalId()) : 0;
}

QModelIndex ModuleTreeModel::indexOfNode(uint32_t id, int column) const {
    if (!m_tree || id == 0 || id >= m_tree->nodes.size()) return {};
    return createIndex(int(m_tree->nodes[id].row), column, quintptr(id));
}

std::vector<uint32_t> ModuleTreeModel::tensorsOf(const QModelIndex& index) const {
    if (!m_tree || m_tree->nodes.empty()) return {};
    const auto span = m_tree->tensorsOf(nodeOf(index));
    return {span.begin(), span.end()};
}

std::vector<bool> ModuleTreeModel::tensorMask(const QModelIndexList& indexes) const {
    if (!m_tree || indexes.isEmpty()) return {};
    std::vector<bool> mask(m_tree->order.size(), false);
    for (const QModelIndex& index : indexes)
        for (uint32_t t : m_tree->tensorsOf(nodeOf(index)))
            mask[t] = true;
    return mask;
}

QModelIndex ModuleTreeModel::index(int row, int column, const QModelIndex& parent) const {
    if (row < 0 || column < 0 || column >= ColumnCount || parent.column() > 0) return {};
    const ModuleNode* p = node(parent);
    if (!p || uint32_t(row) >= p->childCount) return {};
    return createIndex(row, column, quintptr(m_tree->childIds[p->childBegin + uint32_t(row)]));
}

QModelIndex ModuleTreeModel::parent(const QModelIndex& child) const {
    const ModuleNode* n = child.isValid() ? node(child) : nullptr;
    if (!n || n->parent <= 0) return {};
    return createIndex(int(m_tree->nodes[size_t(n->parent)].row), 0, quintptr(n->parent));
}

int ModuleTreeModel::rowCount(const QModelIndex& parent) const {
    if (parent.column() > 0) return 0;
    const ModuleNode* n = node(parent);
    return n ? int(n->childCount) : 0;
}

int ModuleTreeModel::columnCount(const QModelIndex&) const {
    return ColumnCount;
}

bool ModuleTreeModel::hasChildren(const QModelIndex& parent) const {
    return rowCount(parent) > 0;
}

QString ModuleTreeModel::shortCount(uint64_t count) {
    const QLocale locale;
    if (count < 10000) return locale.toString(qulonglong(count));
    static const char* const units[] = {"K", "M", "B", "T", "P", "E"};
    double value = double(count);
    int unit = -1;
    while (value >= 999.5 && unit < 5) {
        value /= 1000;
        ++unit;
    }
    const int decimals = value < 9.995 ? 2 : value < 99.95 ? 1 : 0;
    return locale.toString(value, 'f', decimals) + QLatin1Char(' ') + QLatin1String(units[unit]);
}

QVariant ModuleTreeModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const ModuleNode* n = node(index);
    if (!n) return {};
    const QLocale locale;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case NameColumn:
            if (n->kind == ModuleNodeKind::Group)
                return tr("%1 ×%2")
                    .arg(QString::fromStdString(n->label))
                    .arg(locale.toString(qulonglong(n->childCount)));
            return n->label.empty() ? tr("(empty name)") : QString::fromStdString(n->label);
        case TensorsColumn:
            return locale.toString(qulonglong(n->tensorCount));
        case ParametersColumn:
            return shortCount(n->parameters);
        case SizeColumn:
            return QString::fromStdString(formatBytes(n->bytes));
        case StatusColumn:
            return TensorTableModel::statusText(n->worst);
        }
        break;
    case Qt::ToolTipRole: {
        if (index.column() == ParametersColumn)
            return tr("%1 parameters").arg(locale.toString(qulonglong(n->parameters)));
        if (index.column() == SizeColumn)
            return tr("%1 bytes").arg(locale.toString(qulonglong(n->bytes)));
        const uint32_t id = nodeOf(index);
        QString tip = QString::fromStdString(m_tree->path(id)).toHtmlEscaped();
        if (n->kind == ModuleNodeKind::Group) {
            const auto blocks = m_tree->blocks(id);
            QStringList numbers;
            const size_t shown = std::min<size_t>(blocks.size(), 200);
            for (size_t i = 0; i < shown; ++i)
                numbers << QString::number(blocks[i]);
            if (shown < blocks.size()) numbers << QStringLiteral("…");
            const QString count = locale.toString(qulonglong(blocks.size()));
            tip += "<br>" + (blocks.size() == 1 ? tr("1 numbered block: %1")
                                                : tr("%1 numbered blocks: %2").arg(count))
                                .arg(numbers.join(QStringLiteral(", ")));
        }
        tip += "<br>" + (n->tensorCount == 1
                             ? tr("1 tensor")
                             : tr("%1 tensors").arg(locale.toString(qulonglong(n->tensorCount))));
        if (n->tensor >= 0 && n->childCount > 0)
            tip += "<br>" + tr("This name is a tensor itself and also the prefix of others.");
        if (n->worst != CoverageStatus::Complete)
            tip += "<br>" + tr("Worst coverage: %1").arg(TensorTableModel::statusText(n->worst));
        return tip;
    }
    case Qt::DecorationRole:
        // Beside the name too, when something is wrong: visible however narrow the dock.
        if (index.column() == StatusColumn ||
            (index.column() == NameColumn && n->worst != CoverageStatus::Complete))
            return TensorTableModel::statusIcon(n->worst);
        break;
    case Qt::ForegroundRole:
        if (index.column() == StatusColumn && n->worst != CoverageStatus::Complete)
            return TensorTableModel::statusColor(n->worst);
        break;
    case Qt::TextAlignmentRole:
        if (index.column() != NameColumn && index.column() != StatusColumn)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case SortRole:
        switch (index.column()) {
        case NameColumn:
            return qulonglong(index.internalId()); // pre-order ids follow the natural order
        case TensorsColumn:
            return qulonglong(n->tensorCount);
        case ParametersColumn:
            return qulonglong(n->parameters);
        case SizeColumn:
            return qulonglong(n->bytes);
        case StatusColumn:
            return coverageSeverity(n->worst);
        }
        break;
    case NodeRole:
        return qulonglong(index.internalId());
    case PathRole:
        return QString::fromStdString(m_tree->path(nodeOf(index)));
    case StatusRole:
        return int(n->worst);
    }
    return {};
}

QVariant ModuleTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::ToolTipRole && section == StatusColumn)
        return tr("The worst coverage among the module's tensors");
    if (role != Qt::DisplayRole) return {};
    switch (section) {
    case NameColumn:
        return tr("Module");
    case TensorsColumn:
        return tr("Tensors");
    case ParametersColumn:
        return tr("Params");
    case SizeColumn:
        return tr("Size");
    case StatusColumn:
        return tr("Coverage");
    }
    return {};
}

} // namespace shardscope
