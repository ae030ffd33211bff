// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "files_model.h"

#include "format_units.h"
#include "mapping_document.h"

#include <QColor>
#include <QLocale>

#include <algorithm>
#include <filesystem>
#include <unordered_map>

namespace shardscope {

std::vector<std::string> brokenFileReasons(const Checkpoint& checkpoint) {
    std::vector<std::string> reasons(checkpoint.files.size());
    std::unordered_map<std::string, size_t> byName;
    for (size_t f = 0; f < checkpoint.files.size(); ++f)
        byName.emplace(checkpoint.files[f].name, f);
    for (const Problem& p : checkpoint.problems) {
        if (p.severity != Severity::Error || p.file.empty()) continue;
        auto it = byName.find(p.file);
        if (it == byName.end() || !reasons[it->second].empty()) continue;
        if (!checkpoint.files[it->second].valid || p.tensor.empty())
            reasons[it->second] = p.message;
    }
    for (size_t f = 0; f < checkpoint.files.size(); ++f)
        if (!checkpoint.files[f].valid && reasons[f].empty())
            reasons[f] = "its header failed the checks";
    return reasons;
}

FilesModel::FilesModel(MappingDocument* document, QObject* parent)
    : QAbstractTableModel(parent), m_document(document) {
    connect(document, &MappingDocument::resetDone, this, &FilesModel::rebuild);
    rebuild();
}

namespace {

void addProblem(QString& reason, QString& details, const Problem& p) {
    const QString message = QString::fromStdString(p.message);
    const QString line =
        p.tensor.empty()
            ? message
            : QStringLiteral("'%1': %2").arg(QString::fromStdString(p.tensor), message);
    if (reason.isEmpty()) reason = line;
    if (!details.isEmpty()) details += '\n';
    details += line;
}

} // namespace

void FilesModel::rebuild() {
    std::vector<Row> rows;
    auto ckpt = m_document->checkpoint();
    if (ckpt) {
        const auto broken = brokenFileReasons(*ckpt);
        std::unordered_map<std::string, size_t> byName;
        for (size_t f = 0; f < ckpt->files.size(); ++f) {
            const ShardFile& file = ckpt->files[f];
            Row row;
            row.name = QString::fromStdString(file.name);
            row.file = int(f);
            row.size = file.size;
            row.tensors = file.tensorCount;
            if (!file.valid) { // the header was never parsed: size from the file system
                std::error_code ec;
                const auto size = std::filesystem::file_size(file.path, ec);
                row.size = ec ? 0 : uint64_t(size);
                row.sizeKnown = !ec;
            }
            row.status = !file.valid ? Skipped : broken[f].empty() ? Valid : WithProblems;
            byName.emplace(file.name, rows.size());
            rows.push_back(std::move(row));
        }
        for (const Problem& p : ckpt->problems) {
            if (p.file.empty()) continue;
            auto it = byName.find(p.file);
            if (it == byName.end() && p.kind == ErrorKind::NotRegularFile) {
                Row row; // listed but never opened: a FIFO, a socket, a dangling link
                row.name = QString::fromStdString(p.file);
                row.sizeKnown = false;
                row.status = Skipped;
                it = byName.emplace(p.file, rows.size()).first;
                rows.push_back(std::move(row));
            }
            if (it == byName.end()) continue;
            Row& row = rows[it->second];
            addProblem(row.reason, row.details, p);
            if (row.status == Valid) row.status = WithProblems;
        }
    }
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
}

int FilesModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(m_rows.size());
}

int FilesModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

int FilesModel::rowOfFile(const QString& name) const {
    for (size_t r = 0; r < m_rows.size(); ++r)
        if (m_rows[r].name == name) return int(r);
    return -1;
}

int FilesModel::skippedCount() const {
    return int(std::count_if(m_rows.begin(), m_rows.end(),
                             [](const Row& r) { return r.status == Skipped; }));
}

QString FilesModel::emptyText() const {
    return m_rows.empty() ? tr("No checkpoint open") : QString();
}

QString FilesModel::statusText(FileStatus status) {
    switch (status) {
    case Valid:
        return tr("Valid");
    case WithProblems:
        return tr("Read, with problems");
    case Skipped:
        return tr("Skipped");
    }
    return {};
}

QVariant FilesModel::display(const Row& row, int column) const {
    switch (column) {
    case NameColumn:
        return row.name;
    case StatusColumn:
        return statusText(row.status);
    case SizeColumn:
        return row.sizeKnown ? QString::fromStdString(formatBytes(row.size)) : tr("?");
    case TensorsColumn:
        return row.status == Skipped ? tr("—") : QLocale().toString(qulonglong(row.tensors));
    case ReasonColumn:
        return row.reason;
    }
    return {};
}

QVariant FilesModel::sortKey(const Row& row, int column) const {
    switch (column) {
    case NameColumn:
        return row.name;
    case StatusColumn:
        return int(row.status);
    case SizeColumn:
        return qulonglong(row.size);
    case TensorsColumn:
        return qulonglong(row.tensors);
    case ReasonColumn:
        return row.reason;
    }
    return {};
}

QVariant FilesModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Row& row = m_rows[size_t(index.row())];
    switch (role) {
    case Qt::DisplayRole:
        return display(row, index.column());
    case Qt::ToolTipRole:
        if (index.column() == SizeColumn && row.sizeKnown)
            return tr("%1 bytes").arg(QLocale().toString(qulonglong(row.size)));
        return row.details.isEmpty() ? QVariant() : QVariant(row.details);
    case Qt::ForegroundRole:
        if (index.column() == StatusColumn && row.status == Skipped)
            return QColor(0xc6, 0x28, 0x28);
        if (index.column() == StatusColumn && row.status == WithProblems)
            return QColor(0xb2, 0x6a, 0x00);
        break;
    case Qt::TextAlignmentRole:
        if (index.column() == SizeColumn || index.column() == TensorsColumn)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case SortRole:
        return sortKey(row, index.column());
    case FileIndexRole:
        return row.file;
    case StatusRole:
        return int(row.status);
    }
    return {};
}

QVariant FilesModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case NameColumn:
        return tr("Shard file");
    case StatusColumn:
        return tr("Status");
    case SizeColumn:
        return tr("Size");
    case TensorsColumn:
        return tr("Tensors");
    case ReasonColumn:
        return tr("Why");
    }
    return {};
}

} // namespace shardscope
