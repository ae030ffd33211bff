// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// Export rules (export_rules.h): renames, rename files, selection, cast decisions and the JSON
// record. selectForExport is pure, so its checkpoints are built here in memory: names, dtypes
// and kinds, no chunks.

#include "export_rules.h"

#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <fstream>
#include <functional>

using namespace shardscope;

namespace {

struct T {
    std::string fqn;
    DType dtype = DType::BF16;
    TensorKind kind = TensorKind::Model;
    CoverageStatus status = CoverageStatus::Complete;
};

Checkpoint makeCheckpoint(std::vector<T> list) {
    std::sort(list.begin(), list.end(), [](const T& a, const T& b) { return a.fqn < b.fqn; });
    Checkpoint c;
    for (const T& t : list) {
        TensorInfo info;
        info.fqn = t.fqn;
        info.dtype = t.dtype;
        info.shape = {4};
        info.kind = t.kind;
        info.status = t.status;
        c.tensors.push_back(info);
    }
    return c;
}

// The export of the tensor with this source name.
const TensorExport& exportOf(const Checkpoint& c, const ExportSelection& s,
                             const std::string& fqn) {
    const TensorInfo* t = c.find(fqn);
    if (!t) throw std::runtime_error("no tensor " + fqn);
    return s.tensors[size_t(t - c.tensors.data())];
}

std::vector<Problem> problemsOf(const ExportSelection& s, ErrorKind kind) {
    std::vector<Problem> out;
    for (const Problem& p : s.problems)
        if (p.kind == kind) out.push_back(p);
    return out;
}

std::string renamed(const std::vector<RenameRule>& rules, const std::string& name) {
    return Renamer(rules).apply(name);
}

RenameRule regex(std::string pattern, std::string replacement) {
    return {RenameRule::Kind::Regex, std::move(pattern), std::move(replacement)};
}

// Runs f, which must throw Error of `kind`; returns its text.
QString errorOf(const std::function<void()>& f, ErrorKind kind) {
    try {
        f();
    } catch (const Error& e) {
        if (e.kind() != kind)
            return QStringLiteral("wrong kind %1: %2").arg(errorKindName(e.kind()), e.what());
        return QString::fromStdString(e.what());
    }
    return QStringLiteral("no error");
}

} // namespace

class TestExportRules : public QObject {
    Q_OBJECT

private slots:
    void captures();
    void globalReplacement();
    void stripPrefixOnce();
    void wrapperPreset();
    void exactMap();
    void ruleOrder();
    void changedBits();
    void invalidRules();
    void renameFileList();
    void renameFileMap();
    void renameFileErrors();
    void loadRenameFile();
    void collisions();
    void emptyName();
    void includeExcludeOrder();
    void trainingState();
    void matchesExportedName();
    void exactSelect();
    void castKeep();
    void castTargetUnsupported();
    void castSkipsIntegersAndFp8();
    void rulesMatchingNothing();
    void droppedTied();
    void nothingSelected();
    void invalidCoverageLeftAlone();
    void jsonRoundTrip();
    void jsonErrors();
    void identity();
    void dtypeNames();
    void timing100k();
};

void TestExportRules::captures() {
    const auto dollar = parseRenameRule(R"(^model\.layers\.(\d+)\.=>blocks.$1.)");
    QCOMPARE(renamed({dollar}, "model.layers.12.mlp.weight"), std::string("blocks.12.mlp.weight"));
    const auto backslash = parseRenameRule(R"(^model\.layers\.(\d+)\.=>blocks.\1.)");
    QCOMPARE(renamed({backslash}, "model.layers.3.w"), std::string("blocks.3.w"));
    QCOMPARE(renamed({regex("(a+)(b+)", "$2-\\1")}, "xaabbby"), std::string("xbbb-aay"));
    QCOMPARE(renamed({regex("x", "$$1")}, "axb"), std::string("a$1b"));  // $$ is a literal $
    QCOMPARE(renamed({regex("x", "$0$0")}, "axb"), std::string("axxb")); // $0: the whole match
}

void TestExportRules::globalReplacement() {
    QCOMPARE(renamed({parseRenameRule(R"(\.attn\.=>.attention.)")}, "l.0.attn.q.attn.w"),
             std::string("l.0.attention.q.attention.w"));
    // Replacements are not matched again.
    QCOMPARE(renamed({regex("a", "aa")}, "aba"), std::string("aabaa"));
}

void TestExportRules::stripPrefixOnce() {
    const RenameRule strip{RenameRule::Kind::StripPrefix, "model.", ""};
    QCOMPARE(renamed({strip}, "model.model.x"), std::string("model.x"));
    QCOMPARE(renamed({strip}, "x.model.y"), std::string("x.model.y"));
    QCOMPARE(renamed({strip}, "model"), std::string("model"));
}

void TestExportRules::wrapperPreset() {
    const auto rules = wrapperRules();
    const std::pair<std::string, std::string> cases[] = {
        {"model._fsdp_wrapped_module.layers.0._checkpoint_wrapped_module.mlp.weight",
         "model.layers.0.mlp.weight"},
        {"module.module.x", "x"},
        {"a.module.b", "a.module.b"},
        {"_orig_mod.model.norm.weight", "model.norm.weight"},
        {"_orig_mod.module.w", "w"},
        {"module._orig_mod.layers.0.w", "layers.0.w"},
        {"a._orig_mod._orig_mod.b", "a.b"},
        {"_fsdp_wrapped_module._fsdp_wrapped_module.w", "w"},
        {"x_orig_mod.y", "x_orig_mod.y"},     // not a whole component
        {"a._orig_modx.b", "a._orig_modx.b"}, // not a whole component
        {"modules.x", "modules.x"},
    };
    const Renamer renamer(rules);
    for (const auto& [in, out] : cases)
        QCOMPARE(renamer.apply(in), out);
}

void TestExportRules::exactMap() {
    std::vector<RenameRule> rules;
    for (int i = 0; i < 100000; ++i)
        rules.push_back(
            {RenameRule::Kind::Exact, "t" + std::to_string(i), "u" + std::to_string(i)});
    const Renamer renamer(rules);
    QCOMPARE(renamer.apply("t99999"), std::string("u99999"));
    QCOMPARE(renamer.apply("t5"), std::string("u5"));
    QCOMPARE(renamer.apply("t5x"), std::string("t5x")); // whole-name equality only
    QCOMPARE(renamer.apply("xt5"), std::string("xt5"));
    // Every name through a 100k-entry map: a table, or 10^10 comparisons.
    size_t hits = 0;
    for (const RenameRule& rule : rules)
        hits += renamer.apply(rule.pattern) == rule.replacement;
    QCOMPARE(hits, rules.size());
    // One table: a swap swaps, not renames both to one name.
    const Renamer swap({{RenameRule::Kind::Exact, "a", "b"}, {RenameRule::Kind::Exact, "b", "a"}});
    QCOMPARE(swap.apply("a"), std::string("b"));
    QCOMPARE(swap.apply("b"), std::string("a"));
}

void TestExportRules::ruleOrder() {
    const auto ab = regex("a", "b"), bc = regex("b", "c");
    QCOMPARE(renamed({ab, bc}, "a"), std::string("c"));
    QCOMPARE(renamed({bc, ab}, "a"), std::string("b"));
    // Exact rules after a regex see the regex's result.
    QCOMPARE(renamed({regex("^m\\.", ""), {RenameRule::Kind::Exact, "x", "y"}}, "m.x"),
             std::string("y"));
    // A later table is another table: it sees the first one's result.
    QCOMPARE(renamed({{RenameRule::Kind::Exact, "a", "b"},
                      regex("z", "z"),
                      {RenameRule::Kind::Exact, "b", "c"}},
                     "a"),
             std::string("c"));
}

void TestExportRules::changedBits() {
    const Renamer renamer({regex("^a", "b"),
                           regex("q", "r"),
                           {RenameRule::Kind::StripPrefix, "b.", ""},
                           {RenameRule::Kind::Exact, "x", "y"}});
    uint64_t changed = 0;
    QCOMPARE(renamer.apply("a.x", &changed), std::string("y"));
    QCOMPARE(changed, uint64_t(0b1101));
    // The fast path (anchored literal prefix) does not change what matches.
    const Renamer anchored({regex(R"(^model\.lay+ers\.)", "L."), regex(R"(^ab?c)", "Z")});
    QCOMPARE(anchored.apply("model.layyers.1"), std::string("L.1"));
    QCOMPARE(anchored.apply("model.lays.1"), std::string("model.lays.1"));
    QCOMPARE(anchored.apply("ac"), std::string("Z"));
    QCOMPARE(anchored.apply("abc"), std::string("Z"));
    // Nor does the literal text an unanchored expression needs.
    const std::pair<std::string, std::string> cases[] = {
        {R"(a{2}b)", "xaab"},   {R"(\x41B)", "AB"}, {R"([ab]c)", "bc"},
        {R"((?i)ABC)", "abc"},  {R"(\d+x)", "7x"},  {R"(q(r)?s)", "qs"},
        {R"(\.at+n)", ".attn"}, {R"([]x]y)", "]y"}, {R"(\bw\b)", "a.w.b"},
        {R"(\pLz)", "éz"},      {R"(a\.b)", "a.b"}, {R"(^(?:x\.)+y)", "x.x.y"},
    };
    for (const auto& [pattern, text] : cases)
        QVERIFY2(Renamer({regex(pattern, "_")}).apply(text) != text, pattern.c_str());
    QCOMPARE(Renamer({regex(R"(a\.b)", "_")}).apply("axb"), std::string("axb"));
}

void TestExportRules::invalidRules() {
    QString text = errorOf([] { parseRenameRule("a(=>b"); }, ErrorKind::RuleInvalid);
    QVERIFY2(text.contains("a(=>b") && text.contains("does not compile"), qPrintable(text));
    text = errorOf([] { parseRenameRule("no separator"); }, ErrorKind::RuleInvalid);
    QVERIFY2(text.contains("'no separator'") && text.contains("REGEX=>REPLACEMENT"),
             qPrintable(text));
    text = errorOf([] { parseRenameRule("=>x"); }, ErrorKind::RuleInvalid);
    QVERIFY2(text.contains("empty"), qPrintable(text));
    text = errorOf([] { parseRenameRule("(a)=>$2"); }, ErrorKind::RuleInvalid);
    QVERIFY2(text.contains("(a)=>$2") && text.contains("group 2"), qPrintable(text));
    text = errorOf([] { parseRenameRule("a=>\\2"); }, ErrorKind::RuleInvalid);
    QVERIFY2(text.contains("group 2"), qPrintable(text));
    // The first => splits: the replacement may hold another.
    const auto rule = parseRenameRule("a=>b=>c");
    QCOMPARE(rule.pattern, std::string("a"));
    QCOMPARE(rule.replacement, std::string("b=>c"));
    text = errorOf([] { Renamer({regex("[", "x")}); }, ErrorKind::RuleInvalid);
    QVERIFY2(text.contains("'[=>x'"), qPrintable(text));
    ExportRules rules;
    rules.select.push_back({false, "optim(", false});
    text =
        errorOf([&] { selectForExport(makeCheckpoint({{"a"}}), rules); }, ErrorKind::RuleInvalid);
    QVERIFY2(text.contains("--exclude 'optim('"), qPrintable(text));
    rules.select.clear();
    rules.cast.keep.push_back("*bad");
    text =
        errorOf([&] { selectForExport(makeCheckpoint({{"a"}}), rules); }, ErrorKind::RuleInvalid);
    QVERIFY2(text.contains("--cast-keep '*bad'"), qPrintable(text));
}

void TestExportRules::renameFileList() {
    const std::string json = R"([
  "^model\\.=>",
  {"strip_prefix": "base."},
  {"regex": "\\.attn\\.", "replacement": ".attention."}
])";
    const auto rules = parseRenameFile(json, "rules.json");
    QCOMPARE(rules.size(), size_t(3));
    QVERIFY(rules[0] == regex(R"(^model\.)", ""));
    QVERIFY((rules[1] == RenameRule{RenameRule::Kind::StripPrefix, "base.", ""}));
    QVERIFY(rules[2] == regex(R"(\.attn\.)", ".attention."));
    QCOMPARE(renamed(rules, "model.base.l.attn.w"), std::string("l.attention.w"));
    QVERIFY(parseRenameFile("\xEF\xBB\xBF[]", "bom.json").empty());
}

void TestExportRules::renameFileMap() {
    const auto rules = parseRenameFile(R"({"old.a": "new.a", "old.b": "new.b"})", "map.json");
    QCOMPARE(rules.size(), size_t(2));
    QVERIFY((rules[0] == RenameRule{RenameRule::Kind::Exact, "old.a", "new.a"}));
    QVERIFY((rules[1] == RenameRule{RenameRule::Kind::Exact, "old.b", "new.b"}));
    QCOMPARE(renamed(rules, "old.b"), std::string("new.b"));
    QCOMPARE(renamed(rules, "old.c"), std::string("old.c"));
}

void TestExportRules::renameFileErrors() {
    struct Case {
        std::string json;
        std::vector<QString> wanted; // all in the message
    };
    const Case cases[] = {
        {"[\n  \"a=>b\",\n  \"x(=>y\"\n]", {"f.json", "line 3, column 3", "entry 2", "x(=>y"}},
        {"[\n  \"no separator\"\n]", {"line 2", "entry 1", "REGEX=>REPLACEMENT"}},
        {"[\n  {\"strip_prefix\": 3}\n]", {"line 2", "entry 1", "must be a string", "a number"}},
        {"[\n  {\"strip\": \"x\"}\n]", {"line 2", "unknown key 'strip'"}},
        {"[\n  {\"regex\": \"a\"}\n]", {"line 2", "entry 1 must be"}},
        {"[\n  {\"regex\": \"(a)\", \"replacement\": \"$3\"}\n]", {"line 2", "group 3"}},
        {"[\n  {\"strip_prefix\": \"a\", \"strip_prefix\": \"b\"}\n]", {"line 2", "twice"}},
        {"[\n  7\n]", {"line 2, column 3", "entry 1", "a number"}},
        {"{\n  \"a\": \"b\",\n  \"a\": \"c\"\n}",
         {"tensor 'a'", "line 3, column 3", "listed twice", "first at line 2, column 3"}},
        {"{\n  \"a\": 1\n}", {"tensor 'a'", "line 2, column 8", "must be a string"}},
        {"{\n  \"a\": \"\"\n}", {"tensor 'a'", "empty name"}},
        {"{\"a\": \"b\"", {"line 1", "expected"}},
        {"[] x", {"unexpected text"}},
        {"", {"empty"}},
        {"\"a=>b\"", {"JSON list"}},
        {"[\"\xFF=>b\"]", {"not valid UTF-8"}},
    };
    for (const Case& c : cases) {
        const QString text =
            errorOf([&] { parseRenameFile(c.json, "f.json"); }, ErrorKind::RuleInvalid);
        QVERIFY2(text.startsWith("f.json: "), qPrintable(text));
        for (const QString& w : c.wanted)
            QVERIFY2(text.contains(w), qPrintable(QString::fromStdString(c.json) + " -> " + text));
    }
}

void TestExportRules::loadRenameFile() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string path = dir.filePath("rules.json").toStdString();
    std::ofstream(path) << R"({"a": "b"})";
    const auto rules = shardscope::loadRenameFile(path);
    QCOMPARE(rules.size(), size_t(1));
    const QString text = errorOf([&] { shardscope::loadRenameFile(dir.path().toStdString()); },
                                 ErrorKind::NotRegularFile);
    QVERIFY2(!text.isEmpty() && text != "no error", qPrintable(text));
}

void TestExportRules::collisions() {
    const auto c = makeCheckpoint({{"a.x.w"}, {"b.x.w"}, {"c.x.w"}, {"p.y"}, {"q.y"}, {"z"}});
    ExportRules rules;
    rules.rename = {parseRenameRule("^[a-z]\\.=>")};
    const auto s = selectForExport(c, rules);
    QVERIFY(!s.ok());
    const auto clashes = problemsOf(s, ErrorKind::NameCollision);
    QCOMPARE(clashes.size(), size_t(2));
    QCOMPARE(clashes[0].tensor, std::string("x.w"));
    QCOMPARE(clashes[0].severity, Severity::Error);
    QVERIFY2(clashes[0].message.find("3 tensors") != std::string::npos &&
                 clashes[0].message.find("a.x.w, b.x.w, c.x.w") != std::string::npos,
             clashes[0].message.c_str());
    QCOMPARE(clashes[1].tensor, std::string("y"));
    QVERIFY(clashes[1].message.find("p.y, q.y") != std::string::npos);
    // Excluding all but one resolves the clash.
    rules.select = {{false, "^[bc]\\.x", false}, {false, "^q", false}};
    QVERIFY(selectForExport(c, rules).ok());
}

void TestExportRules::emptyName() {
    const auto c = makeCheckpoint({{"drop.me"}, {"keep"}});
    ExportRules rules;
    rules.rename = {parseRenameRule("^drop\\.me$=>")};
    const auto s = selectForExport(c, rules);
    const auto problems = problemsOf(s, ErrorKind::NameCollision);
    QCOMPARE(problems.size(), size_t(1));
    QCOMPARE(problems[0].tensor, std::string("drop.me"));
    QVERIFY(problems[0].message.find("empty name") != std::string::npos);
    rules.select = {{false, "^drop", false}}; // an excluded tensor needs no name
    QVERIFY(selectForExport(c, rules).ok());
}

void TestExportRules::includeExcludeOrder() {
    const auto c = makeCheckpoint({{"l.0.attn.w"}, {"l.0.mlp.w"}, {"l.1.attn.w"}, {"emb"}});
    ExportRules rules;
    // Exclude then include: everything but l.0, then l.0.attn back in.
    rules.select = {{false, "^l\\.0\\.", false}, {true, "attn", false}};
    auto s = selectForExport(c, rules);
    QVERIFY(!exportOf(c, s, "l.0.attn.w").excluded);
    QVERIFY(exportOf(c, s, "l.0.mlp.w").excluded);
    QCOMPARE(exportOf(c, s, "l.0.mlp.w").reason, std::string("--exclude '^l\\.0\\.'"));
    QVERIFY(!exportOf(c, s, "l.1.attn.w").excluded);
    QVERIFY(!exportOf(c, s, "emb").excluded);
    QCOMPARE(s.exportedCount(), size_t(3));
    // Include first: the selection starts empty.
    rules.select = {{true, "attn", false}, {false, "^l\\.1", false}};
    s = selectForExport(c, rules);
    QVERIFY(!exportOf(c, s, "l.0.attn.w").excluded);
    QVERIFY(exportOf(c, s, "l.0.mlp.w").excluded);
    QVERIFY(!exportOf(c, s, "l.0.mlp.w").byDefault);
    QVERIFY(exportOf(c, s, "l.1.attn.w").excluded);
    QVERIFY(exportOf(c, s, "emb").excluded);
    QCOMPARE(s.exportedCount(), size_t(1));
    QVERIFY(s.ok());
}

void TestExportRules::trainingState() {
    const auto c =
        makeCheckpoint({{"model.w"},
                        {"optim.state.model.w.exp_avg", DType::F32, TensorKind::Optimizer},
                        {"sched.x", DType::F32, TensorKind::Scheduler}});
    ExportRules rules;
    auto s = selectForExport(c, rules);
    const auto& optim = exportOf(c, s, "optim.state.model.w.exp_avg");
    QVERIFY(optim.excluded);
    QVERIFY(optim.byDefault);
    QCOMPARE(optim.reason, std::string("training state (optimizer)"));
    QCOMPARE(exportOf(c, s, "sched.x").reason, std::string("training state (scheduler)"));
    QCOMPARE(s.exportedCount(), size_t(1));
    QVERIFY(s.problems.empty());

    rules.includeTrainingState = true;
    s = selectForExport(c, rules);
    QCOMPARE(s.exportedCount(), size_t(3));
    // Excluded by a rule: no longer "by default", the mapping does not bring it back.
    rules.select = {{false, "exp_avg", false}};
    s = selectForExport(c, rules);
    QVERIFY(exportOf(c, s, "optim.state.model.w.exp_avg").excluded);
    QVERIFY(!exportOf(c, s, "optim.state.model.w.exp_avg").byDefault);
    // An include puts training state in without includeTrainingState.
    rules.includeTrainingState = false;
    rules.select = {{false, "^model", false}, {true, "^sched", false}};
    s = selectForExport(c, rules);
    QVERIFY(!exportOf(c, s, "sched.x").excluded);
    QVERIFY(exportOf(c, s, "optim.state.model.w.exp_avg").byDefault);
}

void TestExportRules::matchesExportedName() {
    const auto c = makeCheckpoint({{"_orig_mod.lm_head.weight"}, {"_orig_mod.norm.weight"}});
    ExportRules rules;
    rules.rename = wrapperRules();
    rules.select = {{false, "^lm_head\\.", false}}; // only the exported name starts so
    const auto s = selectForExport(c, rules);
    QVERIFY(exportOf(c, s, "_orig_mod.lm_head.weight").excluded);
    QCOMPARE(exportOf(c, s, "_orig_mod.norm.weight").name, std::string("norm.weight"));
    QVERIFY(!exportOf(c, s, "_orig_mod.norm.weight").excluded);
}

void TestExportRules::exactSelect() {
    const auto c = makeCheckpoint({{"a.w"}, {"a.w2"}});
    ExportRules rules;
    rules.select = {{false, "a.w", true}};
    const auto s = selectForExport(c, rules);
    QVERIFY(exportOf(c, s, "a.w").excluded);
    QCOMPARE(exportOf(c, s, "a.w").reason, std::string("excluded in the window"));
    QVERIFY(!exportOf(c, s, "a.w2").excluded); // exact: not a regex found anywhere
    QVERIFY(s.problems.empty());
}

void TestExportRules::castKeep() {
    const auto c = makeCheckpoint({{"model.layers.3.mlp.gate.e_score_correction_bias", DType::F32},
                                   {"decoder.layers.1.mlp.router.expert_bias", DType::F32},
                                   {"model.layers.3.mlp.gate.weight", DType::F32},
                                   {"model.norm.weight", DType::F32},
                                   {"model.e_score_correction_bias_other", DType::F32}});
    ExportRules rules;
    rules.cast.to = DType::BF16;
    auto s = selectForExport(c, rules);
    QVERIFY(s.ok());
    QCOMPARE(exportOf(c, s, "model.layers.3.mlp.gate.e_score_correction_bias").dtype, DType::F32);
    QVERIFY(!exportOf(c, s, "model.layers.3.mlp.gate.e_score_correction_bias").cast());
    QCOMPARE(exportOf(c, s, "decoder.layers.1.mlp.router.expert_bias").dtype, DType::F32);
    QCOMPARE(exportOf(c, s, "model.layers.3.mlp.gate.weight").dtype, DType::BF16);
    QVERIFY(exportOf(c, s, "model.layers.3.mlp.gate.weight").cast());
    QCOMPARE(exportOf(c, s, "model.e_score_correction_bias_other").dtype, DType::BF16);
    // A user pattern keeps more; the defaults can be switched off.
    rules.cast.keep = {"norm"};
    rules.cast.defaultKeep = false;
    s = selectForExport(c, rules);
    QCOMPARE(exportOf(c, s, "model.norm.weight").dtype, DType::F32);
    QCOMPARE(exportOf(c, s, "model.layers.3.mlp.gate.e_score_correction_bias").dtype, DType::BF16);
    QCOMPARE(exportOf(c, s, "decoder.layers.1.mlp.router.expert_bias").dtype, DType::BF16);
    // Keep patterns also see the exported name.
    rules.rename = {parseRenameRule("^model\\.norm=>final_ln")};
    rules.cast.keep = {"^final_ln"};
    s = selectForExport(c, rules);
    QCOMPARE(exportOf(c, s, "model.norm.weight").dtype, DType::F32);
}

void TestExportRules::castTargetUnsupported() {
    const auto c = makeCheckpoint({{"w", DType::F32}});
    ExportRules rules;
    rules.cast.to = DType::F8_E4M3;
    const auto s = selectForExport(c, rules);
    const auto problems = problemsOf(s, ErrorKind::CastUnsupported);
    QCOMPARE(problems.size(), size_t(1));
    QCOMPARE(problems[0].severity, Severity::Error);
    QVERIFY(problems[0].message.find("F8_E4M3") != std::string::npos);
    QCOMPARE(exportOf(c, s, "w").dtype, DType::F32);
    rules.cast.to = DType::I32;
    QCOMPARE(problemsOf(selectForExport(c, rules), ErrorKind::CastUnsupported).size(), size_t(1));
}

void TestExportRules::castSkipsIntegersAndFp8() {
    const auto c = makeCheckpoint({{"fp8.w", DType::F8_E4M3},
                                   {"ids", DType::I64},
                                   {"mask", DType::BOOL},
                                   {"half", DType::F16},
                                   {"double", DType::F64},
                                   {"gone", DType::F32}});
    ExportRules rules;
    rules.cast.to = DType::BF16;
    rules.select = {{false, "^gone$", false}};
    const auto s = selectForExport(c, rules);
    QVERIFY(s.ok());
    QCOMPARE(exportOf(c, s, "fp8.w").dtype, DType::F8_E4M3);
    QCOMPARE(exportOf(c, s, "ids").dtype, DType::I64);
    QCOMPARE(exportOf(c, s, "mask").dtype, DType::BOOL);
    QCOMPARE(exportOf(c, s, "half").dtype, DType::BF16);
    QCOMPARE(exportOf(c, s, "double").dtype, DType::BF16);
    QCOMPARE(exportOf(c, s, "gone").dtype, DType::F32); // excluded: source dtype
    QVERIFY(problemsOf(s, ErrorKind::CastUnsupported).empty());
}

void TestExportRules::rulesMatchingNothing() {
    const auto c = makeCheckpoint({{"a.w", DType::F32}, {"b.w", DType::F32}});
    ExportRules rules;
    rules.rename = {parseRenameRule("zzz=>y"), parseRenameRule("^a=>A")};
    rules.select = {{false, "nothing", false}, {false, "^b", false}, {false, "no.such", true}};
    rules.cast.to = DType::BF16;
    rules.cast.keep = {"unmatched", "^A"};
    const auto s = selectForExport(c, rules);
    QVERIFY(s.ok());
    std::vector<std::string> messages;
    for (const Problem& p : problemsOf(s, ErrorKind::RuleMatchesNothing)) {
        QCOMPARE(p.severity, Severity::Warning);
        messages.push_back(p.message);
    }
    const std::vector<std::string> expected = {
        "rename rule 'zzz=>y' changes no tensor name",
        "--exclude 'nothing' matches no tensor",
        "exclude 'no.such' (chosen in the window) matches no tensor",
        "--cast-keep 'unmatched' matches no tensor",
    };
    QCOMPARE(messages, expected);
    QCOMPARE(exportOf(c, s, "a.w").dtype, DType::F32); // kept by "^A" on the exported name

    // --strip-wrappers is one option: quiet when any of its rules renamed something (here
    // only the inner and the DDP rule match), one warning naming the option when none did.
    const auto wrapped = makeCheckpoint({{"module._orig_mod.a", DType::F32}, {"b", DType::F32}});
    ExportRules strip;
    strip.rename = wrapperRules();
    strip.rename.push_back(parseRenameRule("^q=>r"));
    std::vector<std::string> stripMessages;
    const auto stripped = selectForExport(wrapped, strip);
    for (const Problem& p : problemsOf(stripped, ErrorKind::RuleMatchesNothing))
        stripMessages.push_back(p.message);
    QCOMPARE(stripMessages, std::vector<std::string>{"rename rule '^q=>r' changes no tensor name"});
    QCOMPARE(exportOf(wrapped, stripped, "module._orig_mod.a").name, std::string("a"));
    const auto plain = makeCheckpoint({{"a", DType::F32}});
    ExportRules idle;
    idle.rename = wrapperRules();
    stripMessages.clear();
    for (const Problem& p : problemsOf(selectForExport(plain, idle), ErrorKind::RuleMatchesNothing))
        stripMessages.push_back(p.message);
    QCOMPARE(stripMessages, std::vector<std::string>{"--strip-wrappers changes no tensor name"});
}

void TestExportRules::droppedTied() {
    const auto c = makeCheckpoint({{"model.embed_tokens.weight"}, {"lm_head.weight"}});
    ExportRules rules;
    rules.droppedTied = {{"lm_head.weight", "model.embed_tokens.weight"}};
    auto s = selectForExport(c, rules);
    QVERIFY(s.ok());
    QVERIFY(exportOf(c, s, "lm_head.weight").excluded);
    QCOMPARE(exportOf(c, s, "lm_head.weight").reason,
             std::string("identical to model.embed_tokens.weight"));
    QVERIFY(!exportOf(c, s, "model.embed_tokens.weight").excluded);
    rules.droppedTied = {{"absent.weight", "model.embed_tokens.weight"}};
    s = selectForExport(c, rules);
    const auto problems = problemsOf(s, ErrorKind::RuleInvalid);
    QCOMPARE(problems.size(), size_t(1));
    QCOMPARE(problems[0].severity, Severity::Error);
    QCOMPARE(problems[0].tensor, std::string("absent.weight"));
}

void TestExportRules::nothingSelected() {
    const auto c = makeCheckpoint({{"a"}, {"b"}});
    ExportRules rules;
    rules.select = {{false, ".", false}};
    auto s = selectForExport(c, rules);
    QCOMPARE(problemsOf(s, ErrorKind::NothingSelected).size(), size_t(1));
    QVERIFY(!s.ok());
    QCOMPARE(s.exportedCount(), size_t(0));
    QVERIFY(selectForExport(Checkpoint{}, rules).problems.size() == 1); // only the warning
    QCOMPARE(problemsOf(s, ErrorKind::NothingSelected)[0].message,
             std::string("the include and exclude rules leave no tensor to export"));
    // Only training state, left out by default: no rule is to blame, and the message says so.
    const auto state = makeCheckpoint({{"optimizer.m", DType::F32, TensorKind::Optimizer},
                                       {"rng", DType::U8, TensorKind::TrainState}});
    s = selectForExport(state, ExportRules{});
    QCOMPARE(problemsOf(s, ErrorKind::NothingSelected).size(), size_t(1));
    QCOMPARE(problemsOf(s, ErrorKind::NothingSelected)[0].message,
             std::string("nothing to export: every tensor is training state, which the export "
                         "leaves out unless it is included"));
    ExportRules include;
    include.includeTrainingState = true;
    QVERIFY(selectForExport(state, include).ok());
}

void TestExportRules::invalidCoverageLeftAlone() {
    const auto c = makeCheckpoint(
        {{"bad", DType::F32, TensorKind::Model, CoverageStatus::Invalid}, {"good", DType::F32}});
    ExportRules rules;
    rules.rename = {parseRenameRule(".*=>same")};
    rules.cast.to = DType::BF16;
    const auto s = selectForExport(c, rules);
    QVERIFY(s.ok()); // no collision with the invalid one
    QCOMPARE(exportOf(c, s, "bad").dtype, DType::F32);
    QVERIFY(!exportOf(c, s, "bad").excluded);
    QCOMPARE(exportOf(c, s, "good").dtype, DType::BF16);
}

void TestExportRules::jsonRoundTrip() {
    ExportRules rules;
    rules.rename = wrapperRules();
    rules.rename.push_back({RenameRule::Kind::StripPrefix, "model.", ""});
    rules.rename.push_back({RenameRule::Kind::Exact, "a \"quoted\" ü", "b\\c"});
    rules.select = {{false, "optim", false}, {true, "x.y", true}};
    rules.cast.to = DType::BF16;
    rules.cast.keep = {"norm", "bias$"};
    rules.cast.defaultKeep = false;
    rules.cast.strict = true;
    rules.includeTrainingState = true;
    rules.dropTied = true;
    rules.droppedTied = {{"lm_head.weight", "model.embed_tokens.weight"}};
    const std::string json = exportRulesToJson(rules);
    QVERIFY(json.find("\"include_training_state\"") != std::string::npos);
    QVERIFY(json.find("\"strip_prefix\"") != std::string::npos);
    QVERIFY(exportRulesFromJson(json, "index") == rules);
    const ExportRules plain;
    QVERIFY(exportRulesFromJson(exportRulesToJson(plain), "index") == plain);
    QVERIFY(exportRulesFromJson("{}", "index") == plain); // every key has a default
}

void TestExportRules::jsonErrors() {
    const std::pair<std::string, QString> cases[] = {
        {"not json", "not valid JSON"},
        {"[]", "must be an object"},
        {R"({"renames": []})", "unknown key 'renames'"},
        {R"({"rename": {}})", "rename must be a list"},
        {R"({"rename": [{"kind": "glob"}]})", "unknown kind 'glob'"},
        {R"({"rename": [{"pattern": 3}]})", "rename[0].pattern has the wrong type"},
        {R"({"select": [{"include": "yes"}]})", "select[0].include"},
        {R"({"cast": {"to": "F7"}})", "unknown dtype 'F7'"},
        {R"({"version": 2})", "version 2"},
        // Found by fuzz_mapping: a number far outside int was converted (undefined behaviour).
        {R"({"version": 5.5e68})", "version must be a small integer"},
        {R"({"version": 18446744073709551615})", "is not known"},
        {R"({"dropped_tied": {"a": 1}})", "dropped_tied"},
    };
    for (const auto& c : cases) {
        const std::string& json = c.first; // clang 14 cannot capture a structured binding
        const QString& wanted = c.second;
        const QString text =
            errorOf([&] { exportRulesFromJson(json, "out/index.json"); }, ErrorKind::RuleInvalid);
        QVERIFY2(text.startsWith("out/index.json: ") && text.contains(wanted),
                 qPrintable(QString::fromStdString(json) + " -> " + text));
    }
}

void TestExportRules::identity() {
    ExportRules rules;
    QVERIFY(rules.isIdentity());
    rules.includeTrainingState = true;
    QVERIFY(rules.isIdentity());
    rules.cast.keep = {"norm"}; // keep without a target changes nothing
    QVERIFY(rules.isIdentity());
    const auto notIdentity = [](const std::function<void(ExportRules&)>& change) {
        ExportRules r;
        change(r);
        return !r.isIdentity();
    };
    QVERIFY(notIdentity([](ExportRules& r) { r.rename = wrapperRules(); }));
    QVERIFY(notIdentity([](ExportRules& r) { r.select = {{false, "x", false}}; }));
    QVERIFY(notIdentity([](ExportRules& r) { r.cast.to = DType::F16; }));
    QVERIFY(notIdentity([](ExportRules& r) { r.dropTied = true; }));
    QVERIFY(notIdentity([](ExportRules& r) { r.droppedTied = {{"a", "b"}}; }));
}

void TestExportRules::dtypeNames() {
    QCOMPARE(parseCastTarget("bf16"), std::optional(DType::BF16));
    QCOMPARE(parseCastTarget("BFloat16"), std::optional(DType::BF16));
    QCOMPARE(parseCastTarget("F16"), std::optional(DType::F16));
    QCOMPARE(parseCastTarget("float32"), std::optional(DType::F32));
    QCOMPARE(parseCastTarget("f64"), std::optional(DType::F64));
    QCOMPARE(parseCastTarget("fp8"), std::optional<DType>());
    QCOMPARE(parseCastTarget("int8"), std::optional<DType>());
    QCOMPARE(torchDtypeName(DType::BF16), std::string_view("bfloat16"));
    QCOMPARE(torchDtypeName(DType::F16), std::string_view("float16"));
    QCOMPARE(torchDtypeName(DType::F32), std::string_view("float32"));
    QCOMPARE(torchDtypeName(DType::F64), std::string_view("float64"));
    QCOMPARE(torchDtypeName(DType::I64), std::string_view("int64"));
    QCOMPARE(torchDtypeName(DType::BOOL), std::string_view("bool"));
    QCOMPARE(torchDtypeName(DType::F8_E4M3), std::string_view("float8_e4m3fn"));
}

// Measured, not asserted: 100,000 names through --strip-wrappers and two regex rules, alone and
// as a whole selectForExport.
void TestExportRules::timing100k() {
    std::vector<T> list;
    for (int layer = 0; list.size() < 100000; ++layer)
        for (const char* leaf :
             {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
              "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
              "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight",
              "mlp.gate.weight"})
            list.push_back({"_orig_mod.model._fsdp_wrapped_module.layers." + std::to_string(layer) +
                                "._checkpoint_wrapped_module." + leaf,
                            DType::F32});
    const auto c = makeCheckpoint(list);
    ExportRules rules;
    rules.rename = wrapperRules();
    rules.rename.push_back(parseRenameRule(R"(^model\.layers\.(\d+)\.=>model.layers.$1.)"));
    rules.rename.push_back(parseRenameRule(R"(\.self_attn\.=>.attention.)"));

    const Renamer renamer(rules.rename);
    QElapsedTimer timer;
    timer.start();
    size_t total = 0;
    for (const TensorInfo& t : c.tensors)
        total += renamer.apply(t.fqn).size();
    const qint64 renameMs = timer.elapsed();
    QVERIFY(total > 0);
    QCOMPARE(renamer.apply(c.tensors.front().fqn).substr(0, 15), std::string("model.layers.0."));

    rules.select = {{false, "layernorm", false}};
    rules.cast.to = DType::BF16;
    timer.restart();
    const auto s = selectForExport(c, rules);
    const qint64 selectMs = timer.elapsed();
    QVERIFY(s.ok());
    qInfo("100,000 names: rename (strip-wrappers + 2 regex rules) %lld ms; selectForExport "
          "(same renames, 1 exclude, cast with default keep) %lld ms",
          renameMs, selectMs);
}

QTEST_APPLESS_MAIN(TestExportRules)
#include "tst_export_rules.moc"
