// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

namespace shardscope {

// shardscope-cli's subcommands; returns the process exit code (0 ok, 1 failed, 2 usage).
int runCli(int argc, char** argv);

} // namespace shardscope
