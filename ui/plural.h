// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QLocale>
#include <QString>

namespace shardscope {

// "1 file", "2,048 files". ShardScope ships no translation files, so Qt's "%n file(s)" would
// show its "(s)" as it stands; the words come from the caller, already translated.
inline QString counted(qint64 n, const QString& one, const QString& many) {
    return QLocale().toString(n) + QLatin1Char(' ') + (n == 1 ? one : many);
}

} // namespace shardscope
