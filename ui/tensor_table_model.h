// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "export_rules.h"

#include <QAbstractTableModel>
#include <QColor>
#include <QIcon>

#include <memory>
#include <optional>
#include <vector>

class QFontMetrics;

namespace shardscope {

class MappingDocument;
class ValueColumns;
struct Comparison;
struct ValueCheck;

// One row per tensor of the open checkpoint, reset from the document's snapshot.
class TensorTableModel : public QAbstractTableModel {
    Q_OBJECT
    Q_PROPERTY(QString emptyText READ emptyText)

public:
    // The columns to edit and to check come first, so they fit a 1024-pixel window.
    enum Column {
        NameColumn,
        DTypeColumn, // the source dtype, "F32 → BF16" when the export casts it
        TargetColumn,
        StatusColumn,
        KindColumn, // what the tensor is for; the view shows it for DCP checkpoints only
        // The name the export writes; editable: a rename made in place. The view shows it
        // beside the Tensor column, the two sharing the width the coverage leaves.
        ExportedNameColumn,
        ShapeColumn,
        ElementsColumn,
        SizeColumn,
        ChunksColumn,
        // Shown once Check Values has run (see ValueColumns).
        MaxAbsColumn,
        MeanColumn,
        StdColumn,
        NonFiniteColumn, // NaN + Inf elements
        // Shown during a comparison.
        DiffColumn,
        MaxDiffColumn,
        RelativeL2Column,
        CosineColumn,
        ColumnCount
    };
    enum Role {
        SortRole = Qt::UserRole + 1, // numbers for numeric columns, natural rank for names
        TensorIndexRole,             // row in Checkpoint::tensors
        FilterTextRole,              // the name, for the filter proxy
        StatusRole,                  // CoverageStatus as int, or BrokenFileStatus
        TargetRole,                  // output file index, 0 when unassigned, NotExportedTarget for
                                     // training state left out
        DTypeRole,                   // DType as int
        TargetFileNameRole, // the full output file name, "(unassigned)" or "not exported (…)"
        KindRole,           // TensorKind as int
        FindingsRole,       // the value check's findings for the tensor, one a line, or ""
        DiffStatusRole,     // DiffStatus as int, -1 without a comparison
        ExportedNameRole,   // the name the export writes, for the filter proxy
        ExportedDTypeRole,  // DType as int, as the export writes it
        LeftOutRole,        // bool: not exported (excluded, or training state no file names)
    };
    // TargetRole of training state that no output file names: the export leaves it out.
    static constexpr int NotExportedTarget = -3;
    // A tensor whose bytes live in a shard file that is broken: shown instead of Complete.
    static constexpr int BrokenFileStatus = int(CoverageStatus::Invalid) + 1;
    static constexpr int StatusCount = BrokenFileStatus + 1;

    explicit TensorTableModel(MappingDocument* document, QObject* parent = nullptr);
    ~TensorTableModel() override;

    // Results for the open checkpoint fill the statistics and difference columns; nullptr (or
    // results of another checkpoint) empties them. A new checkpoint empties both.
    void setValueCheck(std::shared_ptr<const ValueCheck> check);
    void setComparison(std::shared_ptr<const Comparison> comparison);
    bool hasValueCheck() const;
    bool hasComparison() const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;

    // What the table shows for a tensor: its CoverageStatus, or BrokenFileStatus.
    int displayStatus(int tensor) const;
    QString statusDetail(int tensor) const; // what is wrong, "" when complete
    // The output file the export writes the tensor to, 0 when none: as makePlan, an invalid
    // tensor is never written whatever the mapping says.
    int exportTarget(int tensor) const;
    // Training state no output file names: the export leaves it out unless asked to include it.
    bool isExcluded(int tensor) const;
    // Left out by Exclude from Export or an exclude rule.
    bool isRuleExcluded(int tensor) const;
    bool isLeftOut(int tensor) const { return isExcluded(tensor) || isRuleExcluded(tensor); }
    QString leftOutReason(int tensor) const; // why the export leaves it out, "" when it does not
    QString exportedName(int tensor) const;
    bool anyNameChanged() const; // some tensor is exported under another name
    QString emptyText() const;

    static QColor statusColor(int status);
    static QIcon statusIcon(int status);
    static QString statusText(int status);
    static QColor statusColor(CoverageStatus s) { return statusColor(int(s)); }
    static QIcon statusIcon(CoverageStatus s) { return statusIcon(int(s)); }
    static QString statusText(CoverageStatus s) { return statusText(int(s)); }
    static QString targetName(int index, int fileCount);      // model-00003-of-00004.safetensors
    static QString shortTargetName(int index, int fileCount); // 00003/00004
    static QString kindText(TensorKind kind);                 // "optimizer", as the core names it
    static QString notExportedText(TensorKind kind);          // "not exported (optimizer state)"
    static QString notExportedHint();                         // how to include it after all
    // A default width for a column that fits its usual content, for the view's header.
    static int defaultColumnWidth(int column, const QFontMetrics& metrics);
    // The full shape of an invalid tensor as far as its readable chunks show it.
    static std::optional<Shape> impliedShape(const TensorInfo& tensor);

private:
    void rebuild();
    void markBrokenFiles();
    void rankShapes();
    void targetsChanged();
    void selectionChanged();
    const TensorExport* exportOf(size_t row) const;
    QString dtypeText(const TensorInfo& t, size_t row) const;
    QString exportedNameToolTip(const TensorInfo& t, size_t row) const;
    bool setExportedName(const QModelIndex& index, const QVariant& value);
    QVariant display(const TensorInfo& t, size_t row, int column) const;
    QVariant sortKey(const TensorInfo& t, size_t row, int column) const;
    QVariant toolTip(const TensorInfo& t, size_t row, int column) const;
    QString shapeText(const TensorInfo& t) const;
    QString elementsText(const TensorInfo& t) const;
    QString targetText(size_t row) const;
    QString targetToolTip(const TensorInfo& t, size_t row) const;
    QString nameToolTip(const TensorInfo& t, size_t row) const;

    MappingDocument* m_document;
    std::shared_ptr<const Checkpoint> m_checkpoint;
    std::vector<QString> m_names;      // cached: the hot path of filtering and painting
    std::vector<int> m_naturalRank;    // position of each tensor in natural name order
    std::vector<QString> m_brokenFile; // per tensor: why its shard file is broken, or empty
    std::vector<int> m_shapeRank;      // position of each tensor's shape in shape order
    std::unique_ptr<ValueColumns> m_values;
};

} // namespace shardscope
