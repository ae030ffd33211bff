// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QString>

namespace shardscope {

// A menu entry for text made at run time (a column header): its first letter or digit not in
// `used` becomes the mnemonic and joins `used`; an '&' of the text itself is shown as one. Text
// whose characters are all taken gets a free letter after it, "Std (&B)", as menus in scripts
// without Latin letters do.
inline QString withMnemonic(const QString& text, QString& used) {
    QString escaped = text;
    escaped.replace(QLatin1Char('&'), QLatin1String("&&"));
    for (qsizetype i = 0; i < escaped.size(); ++i) {
        const QChar c = escaped.at(i);
        if (c == QLatin1Char('&')) {
            ++i; // the pair of an escaped '&'
            continue;
        }
        if (!c.isLetterOrNumber() || used.contains(c.toLower())) continue;
        used += c.toLower();
        return escaped.left(i) + QLatin1Char('&') + escaped.mid(i);
    }
    for (char c = 'a'; c <= 'z'; ++c)
        if (!used.contains(QLatin1Char(c))) {
            used += QLatin1Char(c);
            return escaped + QLatin1String(" (&") + QChar(QLatin1Char(c)).toUpper() + ')';
        }
    return escaped;
}

} // namespace shardscope
