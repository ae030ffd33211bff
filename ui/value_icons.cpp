// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "value_icons.h"

#include <QPainter>
#include <QPixmap>

#include <functional>

namespace shardscope {
namespace {

using Draw = std::function<void(QPainter&, qreal size, const QColor& ink, const QColor& accent)>;

// Bars of the given heights (fractions of the height) from x0 to x1 (fractions of the width).
void bars(QPainter& p, qreal s, std::initializer_list<qreal> heights, qreal x0, qreal x1,
          const QColor& color) {
    const qreal w = (x1 - x0) * s / qreal(heights.size());
    qreal x = x0 * s;
    for (qreal h : heights) {
        p.fillRect(QRectF(x + w * 0.12, s * (0.88 - h), w * 0.76, s * h), color);
        x += w;
    }
}

QIcon drawnIcon(const QPalette& palette, const Draw& draw) {
    QIcon icon;
    for (int size : {16, 22, 24, 32, 48})
        for (auto mode : {QIcon::Normal, QIcon::Disabled}) {
            const auto group = mode == QIcon::Normal ? QPalette::Active : QPalette::Disabled;
            QPixmap pixmap(size, size);
            pixmap.fill(Qt::transparent);
            QPainter p(&pixmap);
            p.setRenderHint(QPainter::Antialiasing);
            const QColor ink = palette.color(group, QPalette::Text);
            const QColor accent =
                mode == QIcon::Normal ? palette.color(group, QPalette::Highlight) : ink;
            draw(p, size, ink, accent);
            p.setPen(QPen(ink, std::max<qreal>(1, size / 16.0)));
            p.drawLine(QPointF(size * 0.06, size * 0.9), QPointF(size * 0.94, size * 0.9));
            p.end();
            icon.addPixmap(pixmap, mode);
        }
    return icon;
}

} // namespace

QIcon checkValuesIcon(const QPalette& palette) {
    return drawnIcon(palette, [](QPainter& p, qreal s, const QColor&, const QColor& accent) {
        bars(p, s, {0.18, 0.42, 0.74, 0.55, 0.26}, 0.08, 0.92, accent);
    });
}

QIcon compareIcon(const QPalette& palette) {
    return drawnIcon(palette, [](QPainter& p, qreal s, const QColor& ink, const QColor& accent) {
        bars(p, s, {0.25, 0.7, 0.4}, 0.06, 0.48, accent);
        bars(p, s, {0.35, 0.55, 0.3}, 0.52, 0.94, ink);
    });
}

} // namespace shardscope
