// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "target_delegate.h"

#include "mapping_document.h"
#include "tensor_table_model.h"

#include <QAbstractItemView>
#include <QComboBox>

namespace shardscope {

TargetDelegate::TargetDelegate(MappingDocument* document, QObject* parent)
    : QStyledItemDelegate(parent), m_document(document) {}

QWidget* TargetDelegate::createEditor(QWidget* parent, const QStyleOptionViewItem&,
                                      const QModelIndex&) const {
    auto* combo = new QComboBox(parent);
    const int count = m_document->fileCount();
    for (int i = 1; i <= count; ++i)
        combo->addItem(TensorTableModel::targetName(i, count), i);
    combo->addItem(tr("New file (%1)").arg(TensorTableModel::targetName(count + 1, count + 1)),
                   count + 1);
    // The cell shows the short form; the list shows full names, wider than the column.
    combo->view()->setMinimumWidth(combo->view()->sizeHintForColumn(0) + 24);
    // Commit as soon as a file is picked, as a spreadsheet's drop-down does.
    connect(combo, &QComboBox::activated, this, [this, combo] {
        emit const_cast<TargetDelegate*>(this)->commitData(combo);
        emit const_cast<TargetDelegate*>(this)->closeEditor(combo);
    });
    return combo;
}

void TargetDelegate::setEditorData(QWidget* editor, const QModelIndex& index) const {
    auto* combo = static_cast<QComboBox*>(editor);
    const int at = combo->findData(index.data(Qt::EditRole).toInt());
    combo->setCurrentIndex(at >= 0 ? at : 0);
}

void TargetDelegate::setModelData(QWidget* editor, QAbstractItemModel* model,
                                  const QModelIndex& index) const {
    auto* combo = static_cast<QComboBox*>(editor);
    model->setData(index, combo->currentData(), Qt::EditRole);
}

} // namespace shardscope
