// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint_diff.h"

#include <QColor>
#include <QLocale>
#include <QString>

#include <cmath>

namespace shardscope {

// A statistic as the table and the details show it: `digits` significant digits in the
// locale's form, "∞" for infinities, `none` for NaN (no finite element to take it over).
inline QString valueText(double v, int digits = 4, const QString& none = QString()) {
    if (std::isnan(v)) return none;
    if (std::isinf(v)) return v > 0 ? QStringLiteral("∞") : QStringLiteral("−∞");
    return QLocale().toString(v, 'g', digits);
}

// A diff status in the words of the GUI: "here" is the open checkpoint, "other" the compared one.
QString diffStatusText(DiffStatus status);
QColor diffStatusColor(DiffStatus status);

} // namespace shardscope
