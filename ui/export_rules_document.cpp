// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "export_rules_document.h"

#include "mapping_commands.h"
#include "mapping_document.h"

#include <algorithm>
#include <iterator>
#include <set>

namespace shardscope {
namespace {

// A leading include would make the selection start empty; the window's exact includes only
// ever put tensors back, so before any exclude they are dropped.
void dropLeadingIncludes(std::vector<SelectRule>& select) {
    auto first = std::find_if(select.begin(), select.end(),
                              [](const SelectRule& r) { return !r.include || !r.exact; });
    select.erase(select.begin(), first);
}

void dropExactRules(std::vector<SelectRule>& select, const std::set<std::string>& fqns,
                    bool include) {
    std::erase_if(select, [&](const SelectRule& r) {
        return r.exact && r.include == include && fqns.count(r.pattern);
    });
}

} // namespace

ExportRulesDocument::ExportRulesDocument(MappingDocument* document)
    : QObject(document), m_document(document) {}

ExportRules ExportRulesDocument::compose(const Checkpoint& checkpoint, const ExportEdits& edits) {
    ExportRules rules;
    rules.rename = edits.rename;
    rules.select = edits.select;
    rules.cast = edits.cast;
    if (edits.renamed.empty()) return rules;
    std::optional<Renamer> renamer;
    try {
        renamer.emplace(edits.rename);
    } catch (const Error&) {
        // The typed names then match the names before the rules; the error is shown anyway.
    }
    for (const auto& [fqn, name] : edits.renamed) {
        const TensorInfo* t = checkpoint.find(fqn);
        if (!t) continue;
        const std::string before = renamer ? renamer->apply(t->exportName()) : t->exportName();
        rules.rename.push_back({RenameRule::Kind::Exact, before, name});
    }
    return rules;
}

ExportEdits ExportRulesDocument::decompose(const Checkpoint& checkpoint, const ExportRules& rules) {
    ExportEdits edits{rules.rename, {}, rules.select, rules.cast};
    auto firstExact = rules.rename.end();
    while (firstExact != rules.rename.begin() &&
           std::prev(firstExact)->kind == RenameRule::Kind::Exact)
        --firstExact;
    const std::vector<RenameRule> ordered(rules.rename.begin(), firstExact);
    std::map<std::string, std::string> fqnOf; // name after the ordered rules -> fqn
    try {
        const Renamer renamer(ordered);
        for (const TensorInfo& t : checkpoint.tensors)
            fqnOf.emplace(renamer.apply(t.exportName()), t.fqn);
    } catch (const Error&) {
        return edits; // shown as the rules' error once applied
    }
    std::map<std::string, std::string> renamed;
    for (auto rule = firstExact; rule != rules.rename.end(); ++rule) {
        auto it = fqnOf.find(rule->pattern);
        if (it == fqnOf.end() || !renamed.emplace(it->second, rule->replacement).second)
            return edits; // not what compose() makes: kept as rules
    }
    edits.rename = ordered;
    edits.renamed = std::move(renamed);
    return edits;
}

ExportRules ExportRulesDocument::rules() const {
    const auto ckpt = m_document->checkpoint();
    return ckpt ? compose(*ckpt, m_edits) : ExportRules{};
}

std::vector<Problem> ExportRulesDocument::problems() const {
    std::vector<Problem> out = m_selection.problems;
    if (!m_ruleError.isEmpty())
        out.push_back({Severity::Error, "", "", m_ruleError.toStdString(), ErrorKind::RuleInvalid});
    return out;
}

const TensorExport* ExportRulesDocument::exportOf(size_t tensor) const {
    return tensor < m_selection.tensors.size() ? &m_selection.tensors[tensor] : nullptr;
}

bool ExportRulesDocument::isRuleExcluded(size_t tensor) const {
    const TensorExport* e = exportOf(tensor);
    return e && e->excluded && !e->byDefault;
}

size_t ExportRulesDocument::ruleExcludedCount() const {
    size_t n = 0;
    for (size_t t = 0; t < m_selection.tensors.size(); ++t)
        n += isRuleExcluded(t);
    return n;
}

bool ExportRulesDocument::isRenamedInPlace(size_t tensor) const {
    return m_edits.renamed.count(fqn(tensor)) > 0;
}

std::string ExportRulesDocument::fqn(size_t tensor) const {
    return m_document->checkpoint()->tensors[tensor].fqn;
}

void ExportRulesDocument::renameTensor(size_t tensor, const QString& name) {
    if (!m_document->isOpen()) return;
    ExportEdits edits = m_edits;
    const std::string source = fqn(tensor);
    const std::string typed = name.trimmed().toStdString();
    if (typed.empty())
        edits.renamed.erase(source);
    else
        edits.renamed[source] = typed;
    const QString what = QString::fromStdString(source);
    apply(edits, typed.empty() ? tr("Restore exported name of %1").arg(what)
                               : tr("Rename %1 to %2").arg(what, name.trimmed()));
}

void ExportRulesDocument::exclude(const std::vector<size_t>& tensors) {
    if (tensors.empty() || !m_document->isOpen()) return;
    ExportEdits edits = m_edits;
    std::set<std::string> fqns;
    for (size_t t : tensors)
        fqns.insert(fqn(t));
    dropExactRules(edits.select, fqns, true);
    for (const std::string& name : fqns)
        edits.select.push_back({false, name, true});
    // One exact exclude per tensor, however often it was excluded.
    std::vector<SelectRule> unique;
    std::set<std::string> seen;
    for (const SelectRule& r : edits.select)
        if (!r.exact || r.include || seen.insert(r.pattern).second) unique.push_back(r);
    edits.select = std::move(unique);
    apply(edits, tensors.size() == 1
                     ? tr("Exclude %1 from export").arg(QString::fromStdString(fqn(tensors[0])))
                     : tr("Exclude %1 tensors from export").arg(tensors.size()));
}

// Removes the window's own excludes of the tensors; those still left out by a pattern get an
// exact include after it.
ExportEdits ExportRulesDocument::withIncluded(const std::vector<size_t>& tensors) const {
    ExportEdits edits = m_edits;
    std::set<std::string> fqns;
    for (size_t t : tensors)
        fqns.insert(fqn(t));
    dropExactRules(edits.select, fqns, false);
    dropLeadingIncludes(edits.select);
    const auto ckpt = m_document->checkpoint();
    ExportSelection after;
    try {
        after = selectForExport(*ckpt, compose(*ckpt, edits));
    } catch (const Error&) {
        return edits;
    }
    for (size_t t : tensors)
        if (after.tensors[t].excluded && !after.tensors[t].byDefault)
            edits.select.push_back({true, fqn(t), true});
    return edits;
}

void ExportRulesDocument::include(const std::vector<size_t>& tensors) {
    if (tensors.empty() || !m_document->isOpen()) return;
    const QString text =
        tensors.size() == 1
            ? tr("Include %1 in export").arg(QString::fromStdString(fqn(tensors[0])))
            : tr("Include %1 tensors in export").arg(tensors.size());
    // Training state is exported once an output file names it, as makePlan decides.
    std::vector<size_t> unnamed;
    for (size_t t : tensors)
        if (m_document->isExcluded(t)) unnamed.push_back(t);
    const ExportEdits edits = withIncluded(tensors);
    QUndoStack* undo = m_document->undoStack();
    undo->beginMacro(text);
    if (!unnamed.empty()) m_document->assign(unnamed, m_document->fileCount());
    if (!(edits == m_edits)) undo->push(new ExportEditsCommand(this, edits, text));
    undo->endMacro();
}

void ExportRulesDocument::setRenameRules(std::vector<RenameRule> rules) {
    ExportEdits edits = m_edits;
    edits.rename = std::move(rules);
    apply(edits, tr("Edit rename rules"));
}

void ExportRulesDocument::setCast(const CastRules& cast) {
    ExportEdits edits = m_edits;
    edits.cast = cast;
    const QString target =
        cast.to ? QString::fromLatin1(dtypeName(*cast.to).data()) : tr("source dtypes");
    apply(edits, tr("Export in %1").arg(target));
}

void ExportRulesDocument::apply(const ExportEdits& edits, const QString& text) {
    if (edits == m_edits || !m_document->isOpen()) return;
    m_document->undoStack()->push(new ExportEditsCommand(this, edits, text));
}

void ExportRulesDocument::load(const ExportRules& rules, const QString& text) {
    const auto ckpt = m_document->checkpoint();
    if (!ckpt) return;
    const ExportEdits edits = decompose(*ckpt, rules);
    apply(edits, text);
    m_saved = edits;
    emit savedChanged();
}

void ExportRulesDocument::markSaved() {
    m_saved = m_edits;
    emit savedChanged();
}

void ExportRulesDocument::setEditsRaw(const ExportEdits& edits) {
    m_edits = edits;
    recompute();
    emit selectionChanged();
}

// Silent: the document's resetDone follows, and every view rebuilds from the new selection.
void ExportRulesDocument::reset() {
    m_edits = {};
    m_saved = {};
    recompute();
}

void ExportRulesDocument::recompute() {
    m_ruleError.clear();
    m_selection = {};
    const auto ckpt = m_document->checkpoint();
    if (ckpt) {
        try {
            m_selection = selectForExport(*ckpt, compose(*ckpt, m_edits));
        } catch (const Error& e) {
            m_ruleError = QString::fromStdString(e.what());
        }
        if (m_selection.tensors.size() != ckpt->tensors.size()) { // as exported without rules
            m_selection.tensors.clear();
            for (const TensorInfo& t : ckpt->tensors)
                m_selection.tensors.push_back({t.exportName(), t.dtype, false, false, {}});
        }
    }
}

} // namespace shardscope
