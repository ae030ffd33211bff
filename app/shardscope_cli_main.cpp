// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "allocator.h"
#include "cli.h"

int main(int argc, char** argv) {
    shardscope::tuneAllocator(argv);
    return shardscope::runCli(argc, argv);
}
