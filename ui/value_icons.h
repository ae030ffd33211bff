// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QIcon>
#include <QPalette>

namespace shardscope {

// Drawn rather than loaded (no theme names fit): a small histogram for Check Values, two
// histograms side by side for Compare With, in the palette's text and highlight colours.
QIcon checkValuesIcon(const QPalette& palette);
QIcon compareIcon(const QPalette& palette);

} // namespace shardscope
