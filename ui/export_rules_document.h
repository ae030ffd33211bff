// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "export_rules.h"

#include <QObject>
#include <QString>

#include <map>
#include <string>
#include <vector>

namespace shardscope {

class MappingDocument;

// What the user edits of the export rules: the ordered rename rules of the Rename Rules
// dialog, names typed into the table, Exclude/Include on a selection, and the cast.
struct ExportEdits {
    std::vector<RenameRule> rename;
    std::map<std::string, std::string> renamed; // source fqn -> the name typed in place
    std::vector<SelectRule> select;
    CastRules cast;
    bool operator==(const ExportEdits&) const = default;
};

// The export rules of the open checkpoint and the selection they give. Owned by the
// MappingDocument: every edit is a command on its undo stack, and a new checkpoint starts
// without rules. The selection is recomputed after each edit (it is pure and fast).
class ExportRulesDocument : public QObject {
    Q_OBJECT

public:
    explicit ExportRulesDocument(MappingDocument* document);

    const ExportEdits& edits() const { return m_edits; }
    ExportRules rules() const; // as selectForExport and makePlan take them
    const ExportSelection& selection() const { return m_selection; }
    // The problems of the selection, with a rule that does not compile as one more error.
    std::vector<Problem> problems() const;
    // One entry per tensor of the checkpoint; nullptr when no checkpoint is open.
    const TensorExport* exportOf(size_t tensor) const;
    // Left out by a rule or by Exclude from Export, not only for being training state.
    bool isRuleExcluded(size_t tensor) const;
    size_t ruleExcludedCount() const;
    bool isRenamedInPlace(size_t tensor) const;

    // Undoable edits.
    void renameTensor(size_t tensor, const QString& name); // "" removes the typed name
    void exclude(const std::vector<size_t>& tensors);
    void include(const std::vector<size_t>& tensors);
    void setRenameRules(std::vector<RenameRule> rules);
    void setCast(const CastRules& cast);
    void apply(const ExportEdits& edits, const QString& text);
    // Rules read from a file (exportRulesFromJson), as one undoable edit; they count as saved.
    void load(const ExportRules& rules, const QString& text);

    // Edits since the rules were last saved or loaded (a new checkpoint has none to lose).
    bool hasUnsavedEdits() const { return !(m_edits == m_saved); }
    void markSaved();

    // The rules edits give: the ordered rules, then each typed name as an Exact rule that
    // matches the name the ordered rules produce, so what was typed is what is exported.
    static ExportRules compose(const Checkpoint& checkpoint, const ExportEdits& edits);
    // The reverse: the trailing Exact rules that match one tensor each become names typed in
    // place again, so a name typed after loading replaces them instead of joining their table.
    static ExportEdits decompose(const Checkpoint& checkpoint, const ExportRules& rules);

    // Used by MappingDocument and the undo command only.
    void setEditsRaw(const ExportEdits& edits);
    void reset(); // no rules, no signal: the document's resetDone follows

signals:
    void selectionChanged();
    void savedChanged(); // the rules were saved or loaded: hasUnsavedEdits may differ

private:
    void recompute();
    ExportEdits withIncluded(const std::vector<size_t>& tensors) const;
    std::string fqn(size_t tensor) const;

    MappingDocument* m_document;
    ExportEdits m_edits;
    ExportEdits m_saved; // as last saved or loaded
    ExportSelection m_selection;
    QString m_ruleError; // a rule that does not compile (the dialog refuses those)
};

} // namespace shardscope
