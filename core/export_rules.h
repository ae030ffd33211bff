// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "dtype.h"
#include "error.h"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// What an export does to each tensor besides regrouping it: the name it is written under, the
// dtype it is written in, and whether it is written at all. Everything here is pure computation
// over names, dtypes and shapes; no file is read (tied weights, which need the bytes, are in
// tied_weights.h). Regular expressions are RE2 syntax (no backreferences or lookaround), found
// anywhere in the name unless anchored with ^ and $.

namespace shardscope {

// One ordered step that turns a name into the name it is exported under.
struct RenameRule {
    enum class Kind : uint8_t {
        Regex,       // every match of `pattern` replaced by `replacement` ($1 or \1: a capture)
        StripPrefix, // `pattern` removed from the start of the name, once, when it is there
        Exact,       // a name equal to `pattern` becomes `replacement` (a --rename-file map)
    };
    // Regex replacements: $N and \N are capture N (one digit), $$ a literal $, \\ a backslash.
    // Consecutive Exact rules act as one table, each name looked up once, so a map that swaps
    // two names ({"a": "b", "b": "a"}) swaps them instead of renaming both to "a".
    Kind kind = Kind::Regex;
    std::string pattern;
    std::string replacement;
    bool operator==(const RenameRule&) const = default;
};

// --strip-wrappers: what torch.compile, DDP, FSDP1 and activation checkpointing add to names.
// "_orig_mod.", "_fsdp_wrapped_module." and "_checkpoint_wrapped_module." are removed wherever
// they occur as whole components; "module." only at the start (as often as it repeats), since
// a model may name a submodule "module" of its own.
std::vector<RenameRule> wrapperRules();

// "REGEX=>REPLACEMENT" as given to --rename; throws Error(RuleInvalid) naming the rule when the
// separator is missing or the expression does not compile.
RenameRule parseRenameRule(std::string_view text);

// A --rename-file: a JSON list of rules, each a string "REGEX=>REPLACEMENT" or an object
// {"strip_prefix": "P"}, or a JSON object {"old name": "new name", ...} (Exact rules). Errors
// throw Error(RuleInvalid) naming `source`, the line and the entry.
std::vector<RenameRule> parseRenameFile(const std::string& json, const std::string& source);
std::vector<RenameRule> loadRenameFile(const std::filesystem::path& path);

// The rules compiled once; apply() is const and safe from several threads.
class Renamer {
public:
    explicit Renamer(std::vector<RenameRule> rules); // throws Error(RuleInvalid)
    ~Renamer();
    Renamer(Renamer&&) noexcept;
    Renamer& operator=(Renamer&&) noexcept;
    // Every rule in order, each on the result of the one before.
    std::string apply(std::string_view name) const;
    // apply(), also telling which rules changed the name: bit i of *changed for rule i (the
    // first 64 rules), so a caller can warn about rules that changed no name. A Regex rule
    // counts when it found a match, even one it replaced by the same text.
    std::string apply(std::string_view name, uint64_t* changed) const;
    const std::vector<RenameRule>& rules() const;

private:
    struct Compiled;
    std::unique_ptr<Compiled> m_compiled;
};

// --include / --exclude, applied in order: an exclude takes matching tensors out, an include
// puts them (back) in. When the first rule is an include the selection starts empty, otherwise
// with every model tensor (and training state when includeTrainingState). A tensor matches when
// the expression is found in its source name (fqn) or in its exported name. `exact` rules (the
// GUI's Exclude from Export on a selection) match a source name exactly.
struct SelectRule {
    bool include = false;
    std::string pattern;
    bool exact = false;
    bool operator==(const SelectRule&) const = default;
};

// Tensors whose names match one of these keep their source dtype under --cast unless
// --no-default-keep: the parameters Hugging Face models list in _keep_in_fp32_modules for
// MoE routing and what NeMo keeps in fp32 (router score-correction and expert biases).
std::vector<std::string> defaultCastKeep();

struct CastRules {
    std::optional<DType> to;       // empty: no cast. Only F64, F32, F16 or BF16 (isCastable)
    std::vector<std::string> keep; // --cast-keep, in addition to the defaults
    bool defaultKeep = true;
    bool strict = false; // overflow to Inf (or underflow of nonzero values to 0) is an error
    bool operator==(const CastRules&) const = default;
};

struct ExportRules {
    std::vector<RenameRule> rename;
    std::vector<SelectRule> select;
    CastRules cast;
    bool includeTrainingState = false;
    bool dropTied = false;
    // Filled in by the export from findTiedTensors (tied_weights.h): source fqn of each tensor
    // left out as a copy of another -> the fqn of the one kept. Recorded so verify knows.
    std::map<std::string, std::string> droppedTied;
    bool operator==(const ExportRules&) const = default;
    // No rename, selection, cast or tie rule: the export writes every model tensor as it is,
    // byte for byte what a plain export with the same includeTrainingState writes (which is
    // why includeTrainingState, and keep patterns without a cast target, do not count).
    bool isIdentity() const;
};

// What one source tensor becomes.
struct TensorExport {
    std::string name; // the exported name
    DType dtype = DType::U8;
    bool excluded = false;
    bool byDefault = false; // excluded only as training state: a mapping that names it wins
    std::string reason; // why excluded, for messages and tooltips ("training state (optimizer)",
                        // "--exclude 'optim'", "identical to model.embed_tokens.weight")
    bool cast() const;  // dtype differs from the source's
    DType sourceDtype = DType::U8; // the tensor's dtype in the checkpoint
};

struct ExportSelection {
    std::vector<TensorExport> tensors; // parallel to Checkpoint::tensors
    // Errors (name collisions, empty names, nothing selected, a cast a tensor cannot take)
    // stop an export before a byte is written; warnings (a rule that matches nothing) are shown.
    std::vector<Problem> problems;
    bool ok() const;
    size_t exportedCount() const;
};

// Applies rules to every tensor of the checkpoint: renames (starting from exportName()),
// selection, cast decisions, droppedTied. Throws Error(RuleInvalid) for rules that do not
// compile; everything else is reported in problems. Pure: touches no file. Tensors whose
// coverage is Invalid (makePlan skips them) are renamed but neither selected, cast nor checked.
ExportSelection selectForExport(const Checkpoint& checkpoint, const ExportRules& rules);

// Why nothing is written when every tensor is training state left out by default (the export
// rules and the plan both say it).
inline constexpr const char* kOnlyTrainingStateText =
    "nothing to export: every tensor is training state, which the export leaves out unless it "
    "is included";

// The rules as recorded in the output index (metadata "shardscope_export") and read back by
// verify: a JSON object; fromJson throws Error(RuleInvalid) naming `source` on a wrong shape.
std::string exportRulesToJson(const ExportRules& rules);
ExportRules exportRulesFromJson(const std::string& json, const std::string& source);

// "bf16", "f16", "f32", "f64" (any case, also "bfloat16", "float16", "float32", "float64")
std::optional<DType> parseCastTarget(std::string_view text);
// The torch_dtype string a config.json uses for a dtype ("bfloat16", "float16", ...).
std::string_view torchDtypeName(DType type);

} // namespace shardscope
