// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "export_rules.h"
#include "bounded_json.h"

#include "dtype_cast.h"
#include "json_cursor.h"
#include "name_regex.h"
#include "plan.h"
#include "posix_file.h"
#include "safetensors_reader.h"

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <type_traits>
#include <unordered_map>

namespace shardscope {

namespace {

// ---------------------------------------------------------------------------------------------
// Compiling expressions

// RE2 rewrites know \N only; $N (sed -E, JavaScript, most editors) becomes \N and $$ a '$'.
// Backslash pairs pass through untouched so "\\$1" stays a backslash before capture 1.
std::string toRe2Rewrite(std::string_view replacement) {
    std::string out;
    out.reserve(replacement.size());
    for (size_t i = 0; i < replacement.size(); ++i) {
        const char c = replacement[i];
        const char next = i + 1 < replacement.size() ? replacement[i + 1] : '\0';
        if (c == '\\' && next != '\0') {
            out += c;
            out += next;
            ++i;
        } else if (c == '$' && next >= '0' && next <= '9') {
            out += '\\';
            out += next;
            ++i;
        } else if (c == '$' && next == '$') {
            out += '$';
            ++i;
        } else {
            out += c;
        }
    }
    return out;
}

// Literal text every match needs, so names without it skip the regex engine (a call costs
// more than a substring search): `prefix`, what a ^-anchored match starts with ("^model\.l"
// -> "model.l"), and `inner`, the longest literal run outside groups ("\.attn\." -> ".attn.").
// Conservative: alternation, flags, non-ASCII and escapes other than of punctuation give none.
struct Literals {
    std::string prefix;
    std::string inner;
};

class LiteralScan {
public:
    explicit LiteralScan(std::string_view pattern) : m_p(pattern) {}

    Literals run() {
        if (m_p.find('|') != std::string_view::npos || hasFlags()) return {};
        const bool anchored = m_p.starts_with('^');
        for (size_t i = anchored ? 1 : 0; i < m_p.size() && !m_abort;)
            i = step(i);
        if (m_abort) return {};
        endRun();
        return {anchored ? m_first : std::string(), m_best};
    }

private:
    // Reads the item at i; returns where the next one starts.
    size_t step(size_t i) {
        const auto c = static_cast<unsigned char>(m_p[i]);
        if (c == '(' || c == ')') {
            m_depth += c == '(' ? 1 : -1;
            return endRun(), i + 1;
        }
        if (c == '[') return endRun(), classEnd(i);
        if (c == '{') return endRun(), std::min(m_p.find('}', i), m_p.size() - 1) + 1;
        if (c == '\\') return escape(i);
        if (c >= 0x80 || !std::isprint(c) || std::strchr(".+*?}^$", c)) return endRun(), i + 1;
        return literal(char(c), i + 1);
    }

    // \. and other escaped punctuation are literal; \d, \s, \w, \b and kin match no fixed
    // text; \x41, \pL, \Q...\E would need decoding, so they end the scan.
    size_t escape(size_t i) {
        const char next = i + 1 < m_p.size() ? m_p[i + 1] : '\0';
        if (std::ispunct(static_cast<unsigned char>(next))) return literal(next, i + 2);
        m_abort = next == '\0' || !std::strchr("dDsSwWbBAz", next);
        return endRun(), i + 2;
    }

    // A literal character that ends at `next`: part of the run unless grouped or optional.
    size_t literal(char c, size_t next) {
        const char after = next < m_p.size() ? m_p[next] : '\0';
        if (m_depth > 0 || after == '*' || after == '?' || after == '{') return endRun(), next;
        m_run += c;
        if (after == '+') endRun();
        return next;
    }

    // (?i), (?s), (?P<name>: anything but a plain (?: group.
    bool hasFlags() const {
        for (size_t at = m_p.find("(?"); at != std::string_view::npos; at = m_p.find("(?", at + 1))
            if (at + 2 >= m_p.size() || m_p[at + 2] != ':') return true;
        return false;
    }

    // Past the ']' of the class that starts at i ("[]a]" and "[^]a]" hold a literal ']').
    size_t classEnd(size_t i) const {
        size_t j = i + 1;
        if (j < m_p.size() && m_p[j] == '^') ++j;
        if (j < m_p.size() && m_p[j] == ']') ++j;
        for (; j < m_p.size() && m_p[j] != ']'; ++j)
            if (m_p[j] == '\\') ++j;
        return j + 1;
    }

    void endRun() {
        if (!m_ended) m_first = m_run;
        m_ended = true;
        if (m_run.size() > m_best.size()) m_best = m_run;
        m_run.clear();
    }

    std::string_view m_p;
    int m_depth = 0;
    bool m_abort = false;
    bool m_ended = false; // the first run (the anchored prefix) is over
    std::string m_run, m_first, m_best;
};

// How a rename rule is named in messages.
std::string describe(const RenameRule& rule) {
    switch (rule.kind) {
    case RenameRule::Kind::Regex:
        return "rename rule '" + rule.pattern + "=>" + rule.replacement + "'";
    case RenameRule::Kind::StripPrefix:
        return "strip-prefix rule '" + rule.pattern + "'";
    case RenameRule::Kind::Exact:
        return "rename of '" + rule.pattern + "' to '" + rule.replacement + "'";
    }
    return "rename rule";
}

// One step of a Renamer: a compiled Regex rule, a StripPrefix, or a run of Exact rules.
struct RenameStep {
    RenameRule::Kind kind = RenameRule::Kind::Regex;
    size_t rule = 0; // index of the (first) rule
    std::unique_ptr<RE2> re;
    std::string rewrite;
    std::string prefix; // Regex: literal start every match needs; StripPrefix: what to remove
    std::string inner;  // Regex: literal text every match contains
    std::unordered_map<std::string, size_t> table; // Exact: name -> rule index
};

RenameStep compileRegexRule(const RenameRule& rule, size_t index, const std::string& what) {
    RenameStep step;
    step.kind = rule.kind;
    step.rule = index;
    step.re = compileRegex(rule.pattern, what);
    step.rewrite = toRe2Rewrite(rule.replacement);
    const int wanted = RE2::MaxSubmatch(step.rewrite);
    const int groups = step.re->NumberOfCapturingGroups();
    if (wanted > groups)
        throw Error(ErrorKind::RuleInvalid, "", "",
                    what + ": the replacement refers to group " + std::to_string(wanted) +
                        " but the expression has " + std::to_string(groups));
    std::string error;
    if (!step.re->CheckRewriteString(step.rewrite, &error))
        throw Error(ErrorKind::RuleInvalid, "", "", what + ": " + error);
    Literals literals = LiteralScan(rule.pattern).run();
    step.prefix = std::move(literals.prefix);
    step.inner = std::move(literals.inner);
    return step;
}

RenameRule parseRuleText(std::string_view text, const std::string& what) {
    const size_t separator = text.find("=>");
    if (separator == std::string_view::npos)
        throw Error(ErrorKind::RuleInvalid, "", "", what + ": expected REGEX=>REPLACEMENT");
    RenameRule rule{RenameRule::Kind::Regex, std::string(text.substr(0, separator)),
                    std::string(text.substr(separator + 2))};
    if (rule.pattern.empty())
        throw Error(ErrorKind::RuleInvalid, "", "", what + ": the expression before => is empty");
    compileRegexRule(rule, 0, what);
    return rule;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Rename rules

std::vector<RenameRule> wrapperRules() {
    // torch.compile (_orig_mod), FSDP1 and activation checkpointing: whole components, at the
    // start or after a '.', however many in a row. Two rules rather than one with (^|\.) and $1:
    // a replacement without captures lets RE2 skip the submatch search (about 30% faster).
    const std::string wrapper = "(?:_orig_mod|_fsdp_wrapped_module|_checkpoint_wrapped_module)";
    return {
        {RenameRule::Kind::Regex, "^(?:" + wrapper + "\\.)+", ""},
        {RenameRule::Kind::Regex, "\\.(?:" + wrapper + "\\.)+", "."},
        // DDP and DataParallel: only in front, since a model may have a submodule "module".
        // Written with a literal start so names without it skip the regex engine.
        {RenameRule::Kind::Regex, R"(^module\.(?:module\.)*)", ""},
    };
}

RenameRule parseRenameRule(std::string_view text) {
    return parseRuleText(text, "--rename '" + std::string(text) + "'");
}

struct Renamer::Compiled {
    std::vector<RenameRule> rules;
    std::vector<RenameStep> steps;

    void addRule(size_t index) {
        const RenameRule& rule = rules[index];
        if (rule.kind == RenameRule::Kind::Regex) {
            steps.push_back(compileRegexRule(rule, index, describe(rule)));
        } else if (rule.kind == RenameRule::Kind::StripPrefix) {
            steps.push_back({rule.kind, index, nullptr, {}, rule.pattern, {}, {}});
        } else {
            if (steps.empty() || steps.back().kind != RenameRule::Kind::Exact)
                steps.push_back({rule.kind, index, nullptr, {}, {}, {}, {}});
            steps.back().table.try_emplace(rule.pattern, index); // the first of equal names
        }
    }

    // Applies one step to `name`; returns the index of the rule that changed it, or npos.
    size_t applyStep(const RenameStep& step, std::string& name) const {
        if (step.kind == RenameRule::Kind::Exact) {
            const auto it = step.table.find(name);
            if (it == step.table.end()) return std::string::npos;
            name = rules[it->second].replacement;
            return it->second;
        }
        if (!name.starts_with(step.prefix)) return std::string::npos;
        if (step.kind == RenameRule::Kind::StripPrefix) {
            if (step.prefix.empty()) return std::string::npos;
            name.erase(0, step.prefix.size());
            return step.rule;
        }
        if (name.find(step.inner) == std::string::npos) return std::string::npos;
        return RE2::GlobalReplace(&name, *step.re, step.rewrite) > 0 ? step.rule
                                                                     : std::string::npos;
    }
};

Renamer::Renamer(std::vector<RenameRule> rules) : m_compiled(std::make_unique<Compiled>()) {
    m_compiled->rules = std::move(rules);
    for (size_t i = 0; i < m_compiled->rules.size(); ++i)
        m_compiled->addRule(i);
}

Renamer::~Renamer() = default;
Renamer::Renamer(Renamer&&) noexcept = default;
Renamer& Renamer::operator=(Renamer&&) noexcept = default;

std::string Renamer::apply(std::string_view name) const {
    return apply(name, nullptr);
}

std::string Renamer::apply(std::string_view name, uint64_t* changed) const {
    std::string out(name);
    for (const RenameStep& step : m_compiled->steps) {
        const size_t rule = m_compiled->applyStep(step, out);
        if (changed && rule < 64) *changed |= uint64_t(1) << rule;
    }
    return out;
}

const std::vector<RenameRule>& Renamer::rules() const {
    return m_compiled->rules;
}

// ---------------------------------------------------------------------------------------------
// --rename-file

namespace {

// A --rename-file read with the strict pull parser, so every error has its line and column.
class RenameFileParser {
public:
    RenameFileParser(const std::string& json, const std::string& source)
        : m_json(json), m_source(source) {}

    std::vector<RenameRule> parse() {
        std::string_view text = m_json;
        if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3); // editors' BOM
        m_bom = m_json.size() - text.size();
        if (!isValidUtf8(text))
            throw Error(ErrorKind::RuleInvalid, m_source, "", "the rename file is not valid UTF-8");
        JsonCursor cursor(text);
        m_cur = &cursor;
        try {
            parseTopLevel();
        } catch (const JsonError& e) {
            fail(e.position(), e.what());
        }
        return std::move(m_rules);
    }

private:
    // Where the next value starts (past white space), for messages.
    size_t here() {
        m_cur->peek();
        return m_cur->position();
    }

    [[noreturn]] void fail(size_t position, const std::string& what,
                           const std::string& tensor = {}) const {
        throw Error(ErrorKind::RuleInvalid, m_source, tensor,
                    lineAndColumn(m_json, position + m_bom) + ": " + what);
    }

    void parseTopLevel() {
        if (m_cur->atEnd())
            throw Error(ErrorKind::RuleInvalid, m_source, "", "the rename file is empty");
        if (m_cur->consume('['))
            parseList();
        else if (m_cur->consume('{'))
            parseMap();
        else
            fail(here(), std::string("a rename file is a JSON list of rules or an object "
                                     "{\"old name\": \"new name\"}, found ") +
                             m_cur->describeNext());
        if (!m_cur->atEnd()) m_cur->fail("unexpected text after the rename rules");
    }

    // The next value, which must be a string; `what` names it for the message.
    std::string stringValue(const std::string& what, const std::string& tensor = {}) {
        if (m_cur->peek() != '"')
            fail(here(), what + " must be a string, found " + m_cur->describeNext(), tensor);
        return std::string(m_cur->string(m_scratch));
    }

    void parseList() {
        if (m_cur->consume(']')) return;
        size_t n = 0;
        do {
            const std::string entry = "entry " + std::to_string(++n);
            const size_t position = here();
            if (m_cur->peek() == '"')
                m_rules.push_back(textEntry(entry, position));
            else if (m_cur->consume('{'))
                m_rules.push_back(objectEntry(entry));
            else
                fail(position, entry +
                                   " must be a string \"REGEX=>REPLACEMENT\" or an object, "
                                   "found " +
                                   m_cur->describeNext());
        } while (m_cur->consume(','));
        m_cur->expect(']', "',' or ']'");
    }

    RenameRule textEntry(const std::string& entry, size_t position) {
        const std::string text(m_cur->string(m_scratch));
        try {
            return parseRuleText(text, entry + " '" + text + "'");
        } catch (const Error& e) {
            fail(position, e.message());
        }
    }

    // {"strip_prefix": "P"} or {"regex": "A", "replacement": "B"}, after its '{'.
    RenameRule objectEntry(const std::string& entry) {
        std::map<std::string, std::string> fields;
        const size_t start = here();
        if (!m_cur->consume('}')) {
            do {
                const size_t position = here();
                std::string key = stringValue("a key of " + entry);
                if (key != "strip_prefix" && key != "regex" && key != "replacement")
                    fail(position, entry + ": unknown key '" + key +
                                       "' (expected strip_prefix, or regex and replacement)");
                m_cur->expect(':', "':' after the key");
                std::string value = stringValue(entry + "'s " + key);
                if (!fields.emplace(key, std::move(value)).second)
                    fail(position, entry + ": '" + key + "' given twice");
            } while (m_cur->consume(','));
            m_cur->expect('}', "',' or '}'");
        }
        return ruleFromFields(entry, fields, start);
    }

    RenameRule ruleFromFields(const std::string& entry,
                              const std::map<std::string, std::string>& fields, size_t position) {
        if (fields.size() == 1 && fields.count("strip_prefix")) {
            if (fields.at("strip_prefix").empty()) fail(position, entry + ": the prefix is empty");
            return {RenameRule::Kind::StripPrefix, fields.at("strip_prefix"), ""};
        }
        if (fields.size() != 2 || !fields.count("regex") || !fields.count("replacement"))
            fail(position, entry + " must be {\"strip_prefix\": \"P\"} or "
                                   "{\"regex\": \"A\", \"replacement\": \"B\"}");
        const std::string what =
            entry + " '" + fields.at("regex") + "=>" + fields.at("replacement") + "'";
        try {
            return parseRuleText(fields.at("regex") + "=>" + fields.at("replacement"), what);
        } catch (const Error& e) {
            fail(position, e.message());
        }
    }

    // {"old": "new", ...} after its '{': Exact rules in file order.
    void parseMap() {
        if (m_cur->consume('}')) return;
        std::unordered_map<std::string, size_t> keyAt;
        do {
            const size_t position = here();
            std::string from = stringValue("a tensor name");
            if (from.empty()) fail(position, "an empty tensor name");
            const auto [seen, inserted] = keyAt.try_emplace(from, position);
            if (!inserted)
                fail(position,
                     "listed twice in the rename file (first at " +
                         lineAndColumn(m_json, seen->second + m_bom) + ")",
                     from);
            m_cur->expect(':', "':' after the tensor name");
            const size_t valuePosition = here();
            std::string to = stringValue("the new name", from);
            if (to.empty()) fail(valuePosition, "renamed to an empty name", from);
            m_rules.push_back({RenameRule::Kind::Exact, std::move(from), std::move(to)});
        } while (m_cur->consume(','));
        m_cur->expect('}', "',' or '}'");
    }

    const std::string& m_json;
    const std::string& m_source;
    size_t m_bom = 0;
    JsonCursor* m_cur = nullptr;
    std::string m_scratch;
    std::vector<RenameRule> m_rules;
};

} // namespace

std::vector<RenameRule> parseRenameFile(const std::string& json, const std::string& source) {
    return RenameFileParser(json, source).parse();
}

// Rename maps are as large as a mapping at most: the same limit keeps a wrong path out.
std::vector<RenameRule> loadRenameFile(const std::filesystem::path& path) {
    return parseRenameFile(readSmallFile(path, kMaxMappingBytes, "the rename file"), path.string());
}

// ---------------------------------------------------------------------------------------------
// Cast keep list

// Parameters that training and inference code keep in fp32 whatever the model's dtype, so a
// cast that rounds them changes which experts a token is routed to:
// - e_score_correction_bias: DeepSeek-V3's routing bias (and models built on it: GLM-4.5,
//   Kimi). Hugging Face keeps it in fp32 (_keep_in_fp32_modules_strict, transformers PR 42580);
//   vLLM and SGLang load it as fp32 for the same reason.
// - expert_bias: Megatron-Core's (NeMo's) TopKRouter buffer for aux-loss-free balancing, which
//   it creates in fp32 and converts back to fp32 after a bf16/fp16 cast; torchtitan's MoE keeps
//   its expert_bias buffer in fp32 too.
std::vector<std::string> defaultCastKeep() {
    // \b: a whole component (after a '.' or at the start), and a literal the scan can use.
    return {R"(\be_score_correction_bias$)", R"(\bexpert_bias$)"};
}

// ---------------------------------------------------------------------------------------------
// Selection

bool TensorExport::cast() const {
    return dtype != sourceDtype;
}

bool ExportSelection::ok() const {
    return std::none_of(problems.begin(), problems.end(),
                        [](const Problem& p) { return p.severity == Severity::Error; });
}

size_t ExportSelection::exportedCount() const {
    return size_t(std::count_if(tensors.begin(), tensors.end(),
                                [](const TensorExport& t) { return !t.excluded; }));
}

bool ExportRules::isIdentity() const {
    return rename.empty() && select.empty() && !cast.to && !dropTied && droppedTied.empty();
}

namespace {

// An include, exclude or keep expression: found in the source name or the exported name.
struct NamePattern {
    std::unique_ptr<RE2> re; // null for an exact (source name) rule
    std::string what;        // for messages: "--exclude 'optim'"
    bool matched = false;
    Literals literals = {};

    bool found(const std::string& text) const {
        return text.starts_with(literals.prefix) &&
               text.find(literals.inner) != std::string::npos && RE2::PartialMatch(text, *re);
    }
    bool matches(const TensorInfo& tensor, const std::string& exported) const {
        return found(tensor.fqn) || (exported != tensor.fqn && found(exported));
    }
};

std::string describe(const SelectRule& rule) {
    if (rule.exact)
        return std::string(rule.include ? "include" : "exclude") + " '" + rule.pattern +
               "' (chosen in the window)";
    return std::string(rule.include ? "--include '" : "--exclude '") + rule.pattern + "'";
}

NamePattern compilePattern(const std::string& pattern, const std::string& what) {
    return {compileRegex(pattern, what), what, false, LiteralScan(pattern).run()};
}

// selectForExport step by step; each step reads and updates m_out.
class Selector {
public:
    Selector(const Checkpoint& checkpoint, const ExportRules& rules)
        : m_checkpoint(checkpoint), m_rules(rules) {
        // Every expression compiles before any work, so a bad one throws at once.
        for (const SelectRule& rule : rules.select)
            m_select.push_back(rule.exact ? NamePattern{nullptr, describe(rule), false}
                                          : compilePattern(rule.pattern, describe(rule)));
        for (const std::string& keep : rules.cast.keep)
            m_keep.push_back(compilePattern(keep, "--cast-keep '" + keep + "'"));
        if (rules.cast.defaultKeep)
            for (const std::string& keep : defaultCastKeep())
                m_defaultKeep.push_back(compilePattern(keep, "keep '" + keep + "'"));
    }

    ExportSelection run() {
        rename();
        startSelection();
        for (size_t i = 0; i < m_select.size(); ++i)
            applySelectRule(m_rules.select[i], m_select[i]);
        dropTied();
        checkNames();
        checkSomethingLeft();
        decideCasts();
        return std::move(m_out);
    }

private:
    const TensorInfo& tensor(size_t i) const { return m_checkpoint.tensors[i]; }
    bool usable(size_t i) const { return tensor(i).status != CoverageStatus::Invalid; }
    size_t count() const { return m_checkpoint.tensors.size(); }

    void problem(Severity severity, ErrorKind kind, const std::string& tensor,
                 const std::string& message) {
        m_out.problems.push_back({severity, "", tensor, message, kind});
    }

    void rename() {
        const Renamer renamer(m_rules.rename);
        uint64_t changed = 0;
        m_out.tensors.resize(count());
        for (size_t i = 0; i < count(); ++i) {
            TensorExport& out = m_out.tensors[i];
            out.name = renamer.apply(tensor(i).exportName(), &changed);
            out.dtype = out.sourceDtype = tensor(i).dtype;
        }
        // --strip-wrappers' rules are one option to the user: named together, and quiet when
        // any of them did the work (DDP's "module." often goes by one rule, the rest by none).
        const std::vector<RenameRule> wrappers = wrapperRules();
        const auto& rules = m_rules.rename;
        for (size_t i = 0; i < std::min<size_t>(rules.size(), 64);) {
            const bool group = i + wrappers.size() <= rules.size() &&
                               std::equal(wrappers.begin(), wrappers.end(), rules.begin() + i);
            const size_t n = group ? wrappers.size() : 1;
            const uint64_t bits = ((n >= 64 ? ~uint64_t(0) : (uint64_t(1) << n) - 1)) << i;
            if (!(changed & bits))
                problem(Severity::Warning, ErrorKind::RuleMatchesNothing, "",
                        (group ? std::string("--strip-wrappers") : describe(rules[i])) +
                            " changes no tensor name");
            i += n;
        }
    }

    void startSelection() {
        const bool startEmpty = !m_rules.select.empty() && m_rules.select.front().include;
        for (size_t i = 0; i < count(); ++i) {
            if (!usable(i)) continue;
            TensorExport& out = m_out.tensors[i];
            if (startEmpty) {
                exclude(out, "matched by no --include");
            } else if (tensor(i).kind != TensorKind::Model && !m_rules.includeTrainingState) {
                exclude(out,
                        "training state (" + std::string(tensorKindName(tensor(i).kind)) + ")");
                out.byDefault = true;
            }
        }
    }

    static void exclude(TensorExport& out, std::string reason) {
        out.excluded = true;
        out.byDefault = false;
        out.reason = std::move(reason);
    }

    void setSelected(size_t i, const SelectRule& rule) {
        TensorExport& out = m_out.tensors[i];
        if (rule.include) {
            out.excluded = out.byDefault = false;
            out.reason.clear();
        } else {
            exclude(out, rule.exact ? "excluded in the window" : describe(rule));
        }
    }

    void applySelectRule(const SelectRule& rule, NamePattern& pattern) {
        if (rule.exact) {
            const TensorInfo* found = m_checkpoint.find(rule.pattern);
            const size_t i = found ? size_t(found - m_checkpoint.tensors.data()) : count();
            if (i < count() && usable(i)) {
                setSelected(i, rule);
                pattern.matched = true;
            }
        } else {
            for (size_t i = 0; i < count(); ++i) {
                if (!usable(i) || !pattern.matches(tensor(i), m_out.tensors[i].name)) continue;
                setSelected(i, rule);
                pattern.matched = true;
            }
        }
        if (!pattern.matched)
            problem(Severity::Warning, ErrorKind::RuleMatchesNothing, "",
                    pattern.what + " matches no tensor");
    }

    void dropTied() {
        for (const auto& [dropped, kept] : m_rules.droppedTied) {
            const TensorInfo* copy = m_checkpoint.find(dropped);
            if (!copy || !m_checkpoint.find(kept)) {
                problem(Severity::Error, ErrorKind::RuleInvalid, copy ? kept : dropped,
                        "listed as a tied weight but not in the checkpoint");
                continue;
            }
            exclude(m_out.tensors[size_t(copy - m_checkpoint.tensors.data())],
                    "identical to " + kept);
        }
    }

    void checkNames();
    void reportClash(const std::vector<size_t>& sources);
    void checkSomethingLeft();
    void decideCasts();
    bool keeps(size_t i);

    const Checkpoint& m_checkpoint;
    const ExportRules& m_rules;
    std::vector<NamePattern> m_select;
    std::vector<NamePattern> m_keep;
    std::vector<NamePattern> m_defaultKeep;
    ExportSelection m_out;
};

// Empty names, then names shared by two or more exported tensors (sorted, so each clash is
// one run of equal names and the problems come in name order).
void Selector::checkNames() {
    std::vector<size_t> exported;
    for (size_t i = 0; i < count(); ++i) {
        if (!usable(i) || m_out.tensors[i].excluded) continue;
        if (m_out.tensors[i].name.empty())
            problem(Severity::Error, ErrorKind::NameCollision, tensor(i).fqn,
                    "would be exported under an empty name");
        else
            exported.push_back(i);
    }
    const auto nameOf = [&](size_t i) -> const std::string& { return m_out.tensors[i].name; };
    std::stable_sort(exported.begin(), exported.end(),
                     [&](size_t a, size_t b) { return nameOf(a) < nameOf(b); });
    for (size_t begin = 0; begin < exported.size();) {
        size_t end = begin + 1;
        while (end < exported.size() && nameOf(exported[end]) == nameOf(exported[begin]))
            ++end;
        if (end - begin > 1)
            reportClash({exported.begin() + ptrdiff_t(begin), exported.begin() + ptrdiff_t(end)});
        begin = end;
    }
}

void Selector::reportClash(const std::vector<size_t>& sources) {
    std::string list;
    for (size_t i : sources)
        list += (list.empty() ? "" : ", ") + tensor(i).fqn;
    problem(Severity::Error, ErrorKind::NameCollision, m_out.tensors[sources.front()].name,
            std::to_string(sources.size()) + " tensors would be exported under this name: " + list);
}

void Selector::checkSomethingLeft() {
    bool any = false, left = false, byRule = false;
    for (size_t i = 0; i < count(); ++i) {
        if (!usable(i)) continue;
        any = true;
        left = left || !m_out.tensors[i].excluded;
        byRule = byRule || (m_out.tensors[i].excluded && !m_out.tensors[i].byDefault);
    }
    if (!any || left) return;
    // Training state left out by default is not the rules' doing: say what the user can change.
    problem(Severity::Error, ErrorKind::NothingSelected, "",
            byRule ? "the include and exclude rules leave no tensor to export"
                   : kOnlyTrainingStateText);
}

// Whether tensor i matches a keep pattern; user patterns are all tried so each learns whether
// it matched anything.
bool Selector::keeps(size_t i) {
    bool kept = false;
    for (NamePattern& keep : m_keep)
        if (keep.matches(tensor(i), m_out.tensors[i].name)) kept = keep.matched = true;
    for (const NamePattern& keep : m_defaultKeep)
        if (!kept && keep.matches(tensor(i), m_out.tensors[i].name)) kept = true;
    return kept;
}

void Selector::decideCasts() {
    if (!m_rules.cast.to) return;
    const DType target = *m_rules.cast.to;
    if (!isCastable(target)) {
        problem(Severity::Error, ErrorKind::CastUnsupported, "",
                "cannot cast to " + std::string(dtypeName(target)) +
                    ": only F64, F32, F16 and BF16 are cast targets");
        return;
    }
    for (size_t i = 0; i < count(); ++i) {
        if (!usable(i)) continue;
        TensorExport& out = m_out.tensors[i];
        // Integer, BOOL and FP8 tensors keep their dtype: FP8 would need its scales.
        if (!keeps(i) && !out.excluded && isCastable(out.sourceDtype)) out.dtype = target;
    }
    for (const NamePattern& keep : m_keep)
        if (!keep.matched)
            problem(Severity::Warning, ErrorKind::RuleMatchesNothing, "",
                    keep.what + " matches no tensor");
}

} // namespace

ExportSelection selectForExport(const Checkpoint& checkpoint, const ExportRules& rules) {
    return Selector(checkpoint, rules).run();
}

// ---------------------------------------------------------------------------------------------
// The rules as JSON

namespace {

using Json = nlohmann::ordered_json;

constexpr std::pair<RenameRule::Kind, const char*> kRenameKinds[] = {
    {RenameRule::Kind::Regex, "regex"},
    {RenameRule::Kind::StripPrefix, "strip_prefix"},
    {RenameRule::Kind::Exact, "exact"},
};

Json renameToJson(const std::vector<RenameRule>& rules) {
    Json out = Json::array();
    for (const RenameRule& rule : rules) {
        const char* kind = "";
        for (const auto& [k, name] : kRenameKinds)
            if (k == rule.kind) kind = name;
        out.push_back(
            {{"kind", kind}, {"pattern", rule.pattern}, {"replacement", rule.replacement}});
    }
    return out;
}

Json selectToJson(const std::vector<SelectRule>& rules) {
    Json out = Json::array();
    for (const SelectRule& rule : rules)
        out.push_back(
            {{"include", rule.include}, {"pattern", rule.pattern}, {"exact", rule.exact}});
    return out;
}

Json castToJson(const CastRules& cast) {
    return {{"to", cast.to ? Json(std::string(dtypeName(*cast.to))) : Json(nullptr)},
            {"keep", cast.keep},
            {"default_keep", cast.defaultKeep},
            {"strict", cast.strict}};
}

// Reads the JSON back, refusing a wrong shape with a message naming the source and the field.
class RulesReader {
public:
    explicit RulesReader(const std::string& source) : m_source(source) {}

    [[noreturn]] void fail(const std::string& what) const {
        throw Error(ErrorKind::RuleInvalid, m_source, "", "export rules: " + what);
    }

    // `object` must be an object with no keys but `known`.
    void checkObject(const Json& object, const std::string& where,
                     std::initializer_list<const char*> known) const {
        if (!object.is_object()) fail(where + " must be an object");
        for (const auto& item : object.items()) {
            const std::string& key = item.key(); // clang 14 cannot capture a structured binding
            if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; }))
                fail(where + ": unknown key '" + key + "'");
        }
    }

    template <typename T>
    T get(const Json& object, const char* key, const std::string& where, T fallback) const {
        const auto it = object.find(key);
        if (it == object.end()) return fallback;
        // nlohmann converts any number to an integer, out of range too (undefined behaviour).
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
            if (!it->is_number_integer() || *it != Json(it->template get<T>()))
                fail((where.empty() ? "" : where + ".") + key + " must be a small integer");
        try {
            return it->template get<T>();
        } catch (const nlohmann::json::exception&) {
            fail((where.empty() ? "" : where + ".") + key + " has the wrong type");
        }
    }

    const Json& array(const Json& object, const char* key) const {
        static const Json empty = Json::array();
        const auto it = object.find(key);
        if (it == object.end()) return empty;
        if (!it->is_array()) fail(std::string(key) + " must be a list");
        return *it;
    }

    RenameRule renameRule(const Json& entry, const std::string& where) const {
        checkObject(entry, where, {"kind", "pattern", "replacement"});
        RenameRule rule;
        const std::string kind = get<std::string>(entry, "kind", where, "regex");
        const auto* found = std::find_if(std::begin(kRenameKinds), std::end(kRenameKinds),
                                         [&](const auto& k) { return kind == k.second; });
        if (found == std::end(kRenameKinds)) fail(where + ": unknown kind '" + kind + "'");
        rule.kind = found->first;
        rule.pattern = get<std::string>(entry, "pattern", where, "");
        rule.replacement = get<std::string>(entry, "replacement", where, "");
        return rule;
    }

    SelectRule selectRule(const Json& entry, const std::string& where) const {
        checkObject(entry, where, {"include", "pattern", "exact"});
        return {get<bool>(entry, "include", where, false),
                get<std::string>(entry, "pattern", where, ""),
                get<bool>(entry, "exact", where, false)};
    }

    CastRules cast(const Json& doc) const {
        CastRules cast;
        const auto it = doc.find("cast");
        if (it == doc.end()) return cast;
        checkObject(*it, "cast", {"to", "keep", "default_keep", "strict"});
        const auto to = it->find("to");
        if (to != it->end() && !to->is_null()) {
            const auto name = get<std::string>(*it, "to", "cast", "");
            cast.to = parseDType(name);
            if (!cast.to) fail("cast.to: unknown dtype '" + name + "'");
        }
        cast.keep = get<std::vector<std::string>>(*it, "keep", "cast", {});
        cast.defaultKeep = get<bool>(*it, "default_keep", "cast", true);
        cast.strict = get<bool>(*it, "strict", "cast", false);
        return cast;
    }

private:
    const std::string& m_source;
};

} // namespace

std::string exportRulesToJson(const ExportRules& rules) {
    Json doc = {{"version", 1},
                {"rename", renameToJson(rules.rename)},
                {"select", selectToJson(rules.select)},
                {"cast", castToJson(rules.cast)},
                {"include_training_state", rules.includeTrainingState},
                {"drop_tied", rules.dropTied},
                {"dropped_tied", rules.droppedTied}};
    try {
        return doc.dump();
    } catch (const nlohmann::json::exception&) {
        throw Error(ErrorKind::RuleInvalid, "", "",
                    "the export rules hold a name that is not valid UTF-8");
    }
}

ExportRules exportRulesFromJson(const std::string& json, const std::string& source) {
    const RulesReader reader(source);
    Json doc;
    try {
        doc = Json::parse(json);
    } catch (const nlohmann::json::exception& e) {
        reader.fail("not valid JSON (" + jsonErrorText(e) + ")");
    }
    reader.checkObject(doc, "the record",
                       {"version", "rename", "select", "cast", "include_training_state",
                        "drop_tied", "dropped_tied"});
    if (reader.get<int>(doc, "version", "", 1) != 1)
        reader.fail("version " + doc["version"].dump() + " is not known to this ShardScope");
    ExportRules rules;
    const Json& rename = reader.array(doc, "rename");
    for (size_t i = 0; i < rename.size(); ++i)
        rules.rename.push_back(reader.renameRule(rename[i], "rename[" + std::to_string(i) + "]"));
    const Json& select = reader.array(doc, "select");
    for (size_t i = 0; i < select.size(); ++i)
        rules.select.push_back(reader.selectRule(select[i], "select[" + std::to_string(i) + "]"));
    rules.cast = reader.cast(doc);
    rules.includeTrainingState = reader.get<bool>(doc, "include_training_state", "", false);
    rules.dropTied = reader.get<bool>(doc, "drop_tied", "", false);
    rules.droppedTied = reader.get<std::map<std::string, std::string>>(doc, "dropped_tied", "", {});
    return rules;
}

// ---------------------------------------------------------------------------------------------
// dtype names

std::optional<DType> parseCastTarget(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    static constexpr std::pair<std::string_view, DType> kNames[] = {
        {"bf16", DType::BF16},   {"bfloat16", DType::BF16}, {"f16", DType::F16},
        {"float16", DType::F16}, {"f32", DType::F32},       {"float32", DType::F32},
        {"f64", DType::F64},     {"float64", DType::F64},
    };
    for (const auto& [name, type] : kNames)
        if (lower == name) return type;
    return std::nullopt;
}

// torch's own names (torch.float8_e4m3fn, ...); F6 has no torch dtype, so its safetensors name.
std::string_view torchDtypeName(DType type) {
    switch (type) {
    case DType::BOOL:
        return "bool";
    case DType::U8:
        return "uint8";
    case DType::I8:
        return "int8";
    case DType::F8_E4M3:
        return "float8_e4m3fn";
    case DType::F8_E5M2:
        return "float8_e5m2";
    case DType::F8_E8M0:
        return "float8_e8m0fnu";
    case DType::F8_E4M3FNUZ:
        return "float8_e4m3fnuz";
    case DType::F8_E5M2FNUZ:
        return "float8_e5m2fnuz";
    case DType::I16:
        return "int16";
    case DType::U16:
        return "uint16";
    case DType::F16:
        return "float16";
    case DType::BF16:
        return "bfloat16";
    case DType::I32:
        return "int32";
    case DType::U32:
        return "uint32";
    case DType::F32:
        return "float32";
    case DType::I64:
        return "int64";
    case DType::U64:
        return "uint64";
    case DType::F64:
        return "float64";
    case DType::C64:
        return "complex64";
    case DType::F4:
        return "float4_e2m1fn_x2";
    case DType::F6_E2M3:
        return "F6_E2M3";
    case DType::F6_E3M2:
        return "F6_E3M2";
    }
    return "";
}

} // namespace shardscope
