// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "name_elide_delegate.h"

#include <QApplication>
#include <QFontMetrics>
#include <QStyle>

#include <algorithm>
#include <vector>

namespace shardscope {
namespace {

const QString kEllipsis = QStringLiteral("…");

bool isNumber(const QString& part) {
    if (part.isEmpty()) return false;
    for (const QChar c : part)
        if (!c.isDigit()) return false;
    return true;
}

// The parts still shown, each run of dropped ones as "…" before the next: "…10.…q_proj.weight".
QString joined(const QStringList& parts, const std::vector<bool>& kept) {
    QString out;
    bool gap = false;
    for (qsizetype i = 0; i < parts.size(); ++i) {
        if (!kept[size_t(i)]) {
            gap = true;
            continue;
        }
        if (!out.isEmpty()) out += QLatin1Char('.');
        if (gap) out += kEllipsis;
        out += parts[i];
        gap = false;
    }
    return out;
}

} // namespace

QString elideDottedName(const QString& name, const QFontMetrics& metrics, int width) {
    if (metrics.horizontalAdvance(name) <= width) return name;
    const QStringList parts = name.split(QLatin1Char('.'));
    const qsizetype n = parts.size();
    if (n > 3) {
        // Non-numeric parts are dropped from the left (the last two stay); then the middle of
        // what is left is cut, which keeps a layer number at its start.
        std::vector<qsizetype> order;
        for (qsizetype i = 0; i + 2 < n; ++i)
            if (!isNumber(parts[i])) order.push_back(i);
        std::vector<bool> kept(size_t(n), true);
        for (qsizetype i : order) {
            kept[size_t(i)] = false;
            const QString text = joined(parts, kept);
            if (metrics.horizontalAdvance(text) <= width) return text;
        }
        return metrics.elidedText(joined(parts, kept), Qt::ElideMiddle, width);
    }
    return metrics.elidedText(name, Qt::ElideMiddle, width);
}

namespace {

// The width the style gives a cell's text: the cell less its margins and any icon.
int textWidth(const QStyleOptionViewItem& option) {
    const QStyle* style = option.widget ? option.widget->style() : QApplication::style();
    const int margin = style->pixelMetric(QStyle::PM_FocusFrameHMargin, nullptr, option.widget) + 1;
    int width = option.rect.width() - 2 * margin;
    if (option.features & QStyleOptionViewItem::HasDecoration)
        width -= option.decorationSize.width() + 2 * margin;
    return std::max(width, 0);
}

} // namespace

void NameElideDelegate::initStyleOption(QStyleOptionViewItem* option,
                                        const QModelIndex& index) const {
    QStyledItemDelegate::initStyleOption(option, index);
    if (option->text.isEmpty()) return;
    option->text = elideDottedName(option->text, option->fontMetrics, textWidth(*option));
}

QString elideFileName(const QString& name, const QFontMetrics& metrics, int width) {
    if (metrics.horizontalAdvance(name) <= width) return name;
    static const QString kExtension = QStringLiteral(".safetensors");
    QString stem = name;
    if (stem.endsWith(kExtension, Qt::CaseInsensitive)) stem.chop(kExtension.size());
    const QString marked = stem + QStringLiteral("…"); // the name goes on
    if (metrics.horizontalAdvance(marked) <= width) return marked;
    // The first number whole, even if the words before it go: "…00004-mo…".
    const qsizetype first =
        std::find_if(stem.begin(), stem.end(), [](QChar c) { return c.isDigit(); }) - stem.begin();
    qsizetype end = first;
    while (end < stem.size() && stem[end].isDigit())
        ++end;
    const QString cut = metrics.elidedText(stem, Qt::ElideRight, width);
    if (first == stem.size() || cut.size() - 1 >= end) return cut; // less its "…"
    const QString lead = QStringLiteral("…");
    return lead + metrics.elidedText(stem.mid(first), Qt::ElideRight,
                                     width - metrics.horizontalAdvance(lead));
}

void FileNameElideDelegate::initStyleOption(QStyleOptionViewItem* option,
                                            const QModelIndex& index) const {
    QStyledItemDelegate::initStyleOption(option, index);
    if (option->text.isEmpty()) return;
    option->text = elideFileName(option->text, option->fontMetrics, textWidth(*option));
}

} // namespace shardscope
