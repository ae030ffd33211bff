// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "export_rules_document.h"

#include <QUndoCommand>

#include <vector>

namespace shardscope {

class MappingDocument;

// Sets the target of some tensors; remembers their previous targets for undo.
class AssignTargetsCommand : public QUndoCommand {
public:
    AssignTargetsCommand(MappingDocument* document, std::vector<size_t> tensors, int fileIndex,
                         const QString& text);
    void redo() override;
    void undo() override;

private:
    MappingDocument* m_document;
    std::vector<size_t> m_tensors;
    std::vector<int> m_before;
    int m_after;
};

// Replaces the whole mapping (load, group by size, new file count).
class ReplaceMappingCommand : public QUndoCommand {
public:
    ReplaceMappingCommand(MappingDocument* document, std::vector<int> targets, int fileCount,
                          const QString& text);
    void redo() override;
    void undo() override;

private:
    MappingDocument* m_document;
    std::vector<int> m_beforeTargets, m_afterTargets;
    int m_beforeCount, m_afterCount;
};

// Replaces the export rules as edited (a rename, an exclusion, the rename rules, the cast).
class ExportEditsCommand : public QUndoCommand {
public:
    ExportEditsCommand(ExportRulesDocument* rules, ExportEdits after, const QString& text);
    void redo() override;
    void undo() override;

private:
    ExportRulesDocument* m_rules;
    ExportEdits m_before, m_after;
};

} // namespace shardscope
