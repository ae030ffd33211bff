// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QStyledItemDelegate>

namespace shardscope {

class MappingDocument;

// Edits the output file in place: a combo box of the planned files plus "New file".
class TargetDelegate : public QStyledItemDelegate {
    Q_OBJECT

public:
    explicit TargetDelegate(MappingDocument* document, QObject* parent = nullptr);

    QWidget* createEditor(QWidget* parent, const QStyleOptionViewItem& option,
                          const QModelIndex& index) const override;
    void setEditorData(QWidget* editor, const QModelIndex& index) const override;
    void setModelData(QWidget* editor, QAbstractItemModel* model,
                      const QModelIndex& index) const override;

private:
    MappingDocument* m_document;
};

} // namespace shardscope
