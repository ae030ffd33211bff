// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

namespace shardscope {

// Clears the upper halves of the AVX registers on this thread. Host code (Qt's GUI start-up,
// for one) can leave them dirty, and then every SSE instruction pays a merge penalty: the
// same scan ran three times slower in the GUI than in the CLI. Worker threads call this first.
void clearVectorUpperState();

} // namespace shardscope
