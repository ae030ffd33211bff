// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "mapping_document.h"

#include "mapping_commands.h"

#include <algorithm>

namespace shardscope {

MappingDocument::MappingDocument(QObject* parent)
    : QObject(parent), m_exportRules(new ExportRulesDocument(this)) {}

void MappingDocument::reset(std::shared_ptr<const Checkpoint> checkpoint, const Mapping& mapping) {
    m_checkpoint = std::move(checkpoint);
    m_undo.clear();
    m_absent.clear();
    m_absentIndex.clear();
    m_targets = unmappedTargets(mapping);
    m_fileCount = mapping.fileCount();
    m_source = QString::fromStdString(mapping.source);
    for (const auto& [fqn, index] : mapping.fileIndex) {
        const TensorInfo* t = m_checkpoint ? m_checkpoint->find(fqn) : nullptr;
        if (t) {
            m_targets[size_t(t - m_checkpoint->tensors.data())] = index;
        } else {
            m_absent.push_back(fqn);
            m_absentIndex[fqn] = index;
        }
    }
    m_savedTargets = m_targets;
    m_savedFileCount = m_fileCount;
    m_exportRules->reset(); // a new checkpoint starts without rules
    emit resetDone();
    emit targetsChanged();
}

// Before the mapping's own entries: nothing, or with no entries at all (one file for all),
// file 1 for model weights. Training state stays out as makePlan leaves it out: a DCP
// checkpoint of optimizer state alone groups into an empty mapping, and had every tensor shown
// as going to file 1 while the export refused to write any.
std::vector<int> MappingDocument::unmappedTargets(const Mapping& mapping) const {
    const size_t n = m_checkpoint ? m_checkpoint->tensors.size() : 0;
    std::vector<int> targets(n, 0);
    if (!mapping.fileIndex.empty()) return targets;
    for (size_t i = 0; i < n; ++i)
        targets[i] = m_checkpoint->tensors[i].kind == TensorKind::Model ? 1 : 0;
    return targets;
}

bool MappingDocument::isExcluded(size_t tensor) const {
    return m_targets[tensor] == 0 && m_checkpoint->tensors[tensor].kind != TensorKind::Model;
}

size_t MappingDocument::excludedCount() const {
    size_t n = 0;
    for (size_t t = 0; t < m_targets.size(); ++t)
        n += isExcluded(t);
    return n;
}

size_t MappingDocument::unassignedCount() const {
    size_t n = 0;
    for (size_t t = 0; t < m_targets.size(); ++t)
        n += m_targets[t] == 0 && !isExcluded(t) && !m_exportRules->isRuleExcluded(t);
    return n;
}

void MappingDocument::assign(const std::vector<size_t>& tensors, int fileIndex,
                             const QString& description) {
    if (tensors.empty()) return;
    QString text = description;
    if (text.isEmpty()) {
        text = tensors.size() == 1
                   ? tr("Assign %1 to file %2")
                         .arg(QString::fromStdString(m_checkpoint->tensors[tensors.front()].fqn))
                         .arg(fileIndex)
                   : tr("Assign %1 tensors to file %2").arg(tensors.size()).arg(fileIndex);
    }
    if (fileIndex > m_fileCount) { // assigning past the end grows the file count
        m_undo.beginMacro(text);
        std::vector<int> grown = m_targets;
        m_undo.push(new ReplaceMappingCommand(this, grown, fileIndex, tr("New output file")));
        m_undo.push(new AssignTargetsCommand(this, tensors, fileIndex, text));
        m_undo.endMacro();
        return;
    }
    m_undo.push(new AssignTargetsCommand(this, tensors, fileIndex, text));
}

void MappingDocument::applyMapping(const Mapping& mapping, const QString& description) {
    std::vector<int> targets = unmappedTargets(mapping);
    for (const auto& [fqn, index] : mapping.fileIndex)
        if (const TensorInfo* t = m_checkpoint->find(fqn))
            targets[size_t(t - m_checkpoint->tensors.data())] = index;
    m_undo.push(
        new ReplaceMappingCommand(this, std::move(targets), mapping.fileCount(), description));
}

int MappingDocument::addOutputFile() {
    const int index = m_fileCount + 1;
    m_undo.push(
        new ReplaceMappingCommand(this, m_targets, index, tr("New output file %1").arg(index)));
    return index;
}

Mapping MappingDocument::toMapping() const {
    Mapping m;
    m.source = m_source.toStdString();
    if (!m_checkpoint) return m;
    for (size_t i = 0; i < m_targets.size(); ++i)
        if (m_targets[i] > 0) m.fileIndex[m_checkpoint->tensors[i].fqn] = m_targets[i];
    for (const auto& [fqn, index] : m_absentIndex)
        if (index <= m_fileCount) m.fileIndex[fqn] = index;
    return m;
}

bool MappingDocument::hasUnsavedMapping() const {
    return m_targets != m_savedTargets || m_fileCount != m_savedFileCount;
}

void MappingDocument::markMappingSaved() {
    m_savedTargets = m_targets;
    m_savedFileCount = m_fileCount;
    emit mappingSaved();
}

void MappingDocument::setTargetsRaw(const std::vector<size_t>& tensors,
                                    const std::vector<int>& values) {
    for (size_t i = 0; i < tensors.size(); ++i)
        m_targets[tensors[i]] = values[i];
    emit targetsChanged();
}

void MappingDocument::setAllRaw(const std::vector<int>& targets, int fileCount) {
    m_targets = targets;
    m_fileCount = fileCount;
    emit targetsChanged();
}

} // namespace shardscope
