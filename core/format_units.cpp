// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "format_units.h"

#include <cstdio>

namespace shardscope {

std::string formatBytes(uint64_t bytes) {
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double value = double(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 5)
        value /= 1024, ++unit;
    char text[32];
    if (unit == 0)
        std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(text, sizeof text, "%.2f %s", value, units[unit]);
    return text;
}

std::string formatSeconds(double seconds) {
    char text[32];
    if (seconds < 10)
        std::snprintf(text, sizeof text, "%.1fs", seconds);
    else if (seconds < 60)
        std::snprintf(text, sizeof text, "%.0fs", seconds);
    else if (seconds < 3600)
        std::snprintf(text, sizeof text, "%dm %02ds", int(seconds) / 60, int(seconds) % 60);
    else
        std::snprintf(text, sizeof text, "%dh %02dm", int(seconds) / 3600, int(seconds) / 60 % 60);
    return text;
}

} // namespace shardscope
