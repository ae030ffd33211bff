// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "cli.h"

int main(int argc, char** argv) {
    return shardscope::runCli(argc, argv);
}
