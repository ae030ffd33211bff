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

// A checkpoint file name cut to `width`: without ".safetensors" first, then at its end. Shard
// names differ in their first number ("shard-00003-model-00001-of-00001.safetensors" reads
// "shard-00003-m…"; "model-00002-of-00003…"); middle elision left "shar…sors" for every file.
QString elideFileName(const QString& name, const QFontMetrics& metrics, int width);

// Draws a file name column with elideFileName.
class FileNameElideDelegate : public QStyledItemDelegate {
    Q_OBJECT

public:
    using QStyledItemDelegate::QStyledItemDelegate;

protected:
    void initStyleOption(QStyleOptionViewItem* option, const QModelIndex& index) const override;
};

} // namespace shardscope
