// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QStyledItemDelegate>

class QFontMetrics;

namespace shardscope {

// A dotted tensor name cut to `width` by its parts: leading parts go first ("…10.self_attn.
// q_proj.weight"), then other middle ones, while layer numbers and the last two parts stay;
// then Qt's middle elision of what is left ("…0.input_la…norm.weight"). Plain middle elision
// turned every "model.layers.N.mlp.up_proj.weight" into the same "model.layers…_proj.weight".
QString elideDottedName(const QString& name, const QFontMetrics& metrics, int width);

// Draws the name columns with elideDottedName.
class NameElideDelegate : public QStyledItemDelegate {
    Q_OBJECT

public:
    using QStyledItemDelegate::QStyledItemDelegate;

protected:
    void initStyleOption(QStyleOptionViewItem* option, const QModelIndex& index) const override;
};

// Cuts in the middle whatever the view does: file names differ at their ends
// ("shard-00003-model-00001-of-00001.safetensors").
class MiddleElideDelegate : public QStyledItemDelegate {
    Q_OBJECT

public:
    using QStyledItemDelegate::QStyledItemDelegate;

protected:
    void initStyleOption(QStyleOptionViewItem* option, const QModelIndex& index) const override;
};

} // namespace shardscope
