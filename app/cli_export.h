// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "engine.h"
#include "export_rules.h"

#include <stop_token>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace shardscope {

// consolidate's options that change what is written: cast, rename, selection, tied weights.
struct ExportRuleOptions {
    std::string cast; // empty: keep dtypes
    std::vector<std::string> castKeep;
    bool noDefaultKeep = false, strictCast = false;
    std::vector<std::string> rename, stripPrefix, renameFiles;
    bool stripWrappers = false;
    std::vector<std::string> include, exclude;
    bool dropTied = false;
};

void addExportRuleOptions(CLI::App* command, ExportRuleOptions& options);

// The rules in the order their options were given on the command line (rename rules among
// themselves, include/exclude among themselves). Throws Error(RuleInvalid) for a rename rule or
// rename file that does not parse.
ExportRules exportRulesFrom(const CLI::App& command, const ExportRuleOptions& options,
                            bool includeTrainingState);

// --drop-tied: finds the word-embedding tie by reading the candidates' bytes and records it in
// the rules; returns a note for the user (what was dropped, or why nothing was).
std::string resolveTiedWeights(const Checkpoint& checkpoint, ExportRules& rules,
                               std::stop_token stop);

// "warning: <tensor>: ..." for each tensor whose cast lost values.
void printCastLosses(const std::vector<CastLoss>& losses);

// One line saying what the rules did, or empty when they did nothing.
std::string describeSelection(const Checkpoint& checkpoint, const ExportSelection& selection);

} // namespace shardscope
