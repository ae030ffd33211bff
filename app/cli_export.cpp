// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "cli_export.h"

#include "dtype_cast.h"
#include "tied_weights.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>

namespace shardscope {
namespace {

std::string defaultKeepList() {
    std::string out;
    for (const auto& p : defaultCastKeep())
        out += "\n  " + p;
    return out;
}

CLI::Validator castTarget() {
    return CLI::Validator(
        [](const std::string& value) -> std::string {
            const auto type = parseCastTarget(value);
            if (type && isCastable(*type)) return {};
            return "--cast takes bf16, f16, f32 or f64, not '" + value +
                   "' (integer and FP8 targets would need scales)";
        },
        "");
}

// The n-th value each option had, in the order the options came on the command line.
template <typename Visit> void inCommandLineOrder(const CLI::App& command, Visit visit) {
    std::map<const CLI::Option*, size_t> seen;
    for (const CLI::Option* option : command.parse_order())
        visit(option->get_name(), seen[option]++);
}

} // namespace

void addExportRuleOptions(CLI::App* c, ExportRuleOptions& o) {
    const char* group = "Export transforms";
    c->add_option("--cast", o.cast,
                  "Cast floating tensors (F64/F32/F16/BF16) to this dtype,\n"
                  "rounding to nearest even; integer, BOOL and FP8\ntensors "
                  "keep theirs. config.json's torch_dtype follows")
        ->type_name("bf16|f16|f32")
        ->check(castTarget())
        ->group(group);
    c->add_option("--cast-keep", o.castKeep,
                  "Tensors matching this RE2 expression keep their dtype\n(repeatable). Kept "
                  "by default, as Hugging Face\n(_keep_in_fp32_modules) and NeMo keep MoE "
                  "router\nbiases in fp32:" +
                      defaultKeepList())
        ->type_name("REGEX")
        ->allow_extra_args(false)
        ->group(group);
    c->add_flag("--no-default-keep", o.noDefaultKeep, "Cast the default keep-list too")
        ->group(group);
    c->add_flag("--strict-cast", o.strictCast,
                "A value too large for the target (it would become Inf)\nis an error and "
                "nothing is published")
        ->group(group);
    c->add_option("--rename", o.rename,
                  "Rename every match: 'REGEX=>REPLACEMENT', $1 or \\1 for\ncaptures "
                  "(repeatable; all rename rules apply in order)")
        ->type_name("RULE")
        ->allow_extra_args(false)
        ->group(group);
    c->add_option("--strip-prefix", o.stripPrefix, "Remove this prefix from names (repeatable)")
        ->type_name("P")
        ->allow_extra_args(false)
        ->group(group);
    c->add_flag("--strip-wrappers", o.stripWrappers,
                "Remove _orig_mod., _fsdp_wrapped_module. and\n_checkpoint_wrapped_module. "
                "components, and a leading module.")
        ->group(group);
    c->add_option("--rename-file", o.renameFiles,
                  "Rename rules from a JSON file: a list of rules or an\n{\"old\": \"new\"} map")
        ->type_name("FILE")
        ->allow_extra_args(false)
        ->group(group);
    c->add_option("--include", o.include,
                  "Export only / again the tensors matching this RE2\nexpression (repeatable; "
                  "include and exclude apply in order)")
        ->type_name("REGEX")
        ->allow_extra_args(false)
        ->group(group);
    c->add_option("--exclude", o.exclude, "Leave out tensors matching this RE2 expression")
        ->type_name("REGEX")
        ->allow_extra_args(false)
        ->group(group);
    c->add_flag("--drop-tied", o.dropTied,
                "Leave out lm_head.weight when it equals the input\nembedding byte for byte; "
                "config.json gets\ntie_word_embeddings: true")
        ->group(group);
}

ExportRules exportRulesFrom(const CLI::App& command, const ExportRuleOptions& o,
                            bool includeTrainingState) {
    ExportRules rules;
    rules.includeTrainingState = includeTrainingState;
    inCommandLineOrder(command, [&](const std::string& name, size_t n) {
        if (name == "--rename") rules.rename.push_back(parseRenameRule(o.rename[n]));
        if (name == "--strip-prefix")
            rules.rename.push_back({RenameRule::Kind::StripPrefix, o.stripPrefix[n], ""});
        if (name == "--strip-wrappers")
            for (auto& r : wrapperRules())
                rules.rename.push_back(std::move(r));
        if (name == "--rename-file")
            for (auto& r : loadRenameFile(o.renameFiles[n]))
                rules.rename.push_back(std::move(r));
        if (name == "--include") rules.select.push_back({true, o.include[n], false});
        if (name == "--exclude") rules.select.push_back({false, o.exclude[n], false});
    });
    if (!o.cast.empty()) rules.cast.to = parseCastTarget(o.cast);
    rules.cast.keep = o.castKeep;
    rules.cast.defaultKeep = !o.noDefaultKeep;
    rules.cast.strict = o.strictCast;
    rules.dropTied = o.dropTied;
    return rules;
}

std::string resolveTiedWeights(const Checkpoint& checkpoint, ExportRules& rules,
                               std::stop_token stop) {
    if (!rules.dropTied) return {};
    rules.droppedTied = tiedToDrop(checkpoint, findIdenticalTensors(checkpoint, stop));
    if (rules.droppedTied.empty())
        return "--drop-tied: no lm_head.weight equals an input embedding byte for byte; nothing "
               "left out";
    std::string note = "--drop-tied: leaving out";
    for (const auto& [dropped, kept] : rules.droppedTied)
        note += " " + dropped + " (identical to " + kept + ")";
    return note;
}

void printCastLosses(const std::vector<CastLoss>& losses) {
    for (const auto& l : losses) {
        std::string what;
        if (l.overflow)
            what = std::to_string(l.overflow) + " value(s) too large for " +
                   std::string(dtypeName(l.to)) + " became Inf";
        if (l.underflow)
            what += (what.empty() ? "" : "; ") + std::to_string(l.underflow) +
                    " nonzero value(s) too small for " + std::string(dtypeName(l.to)) + " became 0";
        std::fprintf(stderr, "warning: %s: cast from %s: %s\n", Error::printable(l.fqn).c_str(),
                     std::string(dtypeName(l.from)).c_str(), what.c_str());
    }
}

std::string describeSelection(const Checkpoint& checkpoint, const ExportSelection& selection) {
    size_t cast = 0, renamed = 0, left = 0;
    for (size_t i = 0; i < checkpoint.tensors.size(); ++i) {
        const TensorExport& x = selection.tensors[i];
        if (x.excluded) {
            left += !x.byDefault;
            continue;
        }
        cast += x.dtype != checkpoint.tensors[i].dtype;
        renamed += x.name != checkpoint.tensors[i].exportName();
    }
    if (!cast && !renamed && !left) return {};
    return "Export rules: " + std::to_string(cast) + " tensor(s) cast, " + std::to_string(renamed) +
           " renamed, " + std::to_string(left) + " left out";
}

} // namespace shardscope
