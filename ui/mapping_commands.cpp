// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "mapping_commands.h"

#include "mapping_document.h"

namespace shardscope {

AssignTargetsCommand::AssignTargetsCommand(MappingDocument* document, std::vector<size_t> tensors,
                                           int fileIndex, const QString& text)
    : QUndoCommand(text), m_document(document), m_tensors(std::move(tensors)), m_after(fileIndex) {
    m_before.reserve(m_tensors.size());
    for (size_t t : m_tensors)
        m_before.push_back(document->target(t));
}

void AssignTargetsCommand::redo() {
    m_document->setTargetsRaw(m_tensors, std::vector<int>(m_tensors.size(), m_after));
}

void AssignTargetsCommand::undo() {
    m_document->setTargetsRaw(m_tensors, m_before);
}

ReplaceMappingCommand::ReplaceMappingCommand(MappingDocument* document, std::vector<int> targets,
                                             int fileCount, const QString& text)
    : QUndoCommand(text), m_document(document), m_beforeTargets(document->targets()),
      m_afterTargets(std::move(targets)), m_beforeCount(document->fileCount()),
      m_afterCount(fileCount) {}

void ReplaceMappingCommand::redo() {
    m_document->setAllRaw(m_afterTargets, m_afterCount);
}

void ReplaceMappingCommand::undo() {
    m_document->setAllRaw(m_beforeTargets, m_beforeCount);
}

ExportEditsCommand::ExportEditsCommand(ExportRulesDocument* rules, ExportEdits after,
                                       const QString& text)
    : QUndoCommand(text), m_rules(rules), m_before(rules->edits()), m_after(std::move(after)) {}

void ExportEditsCommand::redo() {
    m_rules->setEditsRaw(m_after);
}

void ExportEditsCommand::undo() {
    m_rules->setEditsRaw(m_before);
}

} // namespace shardscope
