// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "export_rules_document.h"
#include "plan.h"

#include <QObject>
#include <QString>
#include <QUndoStack>

#include <memory>
#include <vector>

namespace shardscope {

// The open checkpoint (an immutable snapshot) plus the editable fqn -> output file mapping.
// Every edit goes through the undo stack; views listen to targetsChanged.
class MappingDocument : public QObject {
    Q_OBJECT

public:
    explicit MappingDocument(QObject* parent = nullptr);

    void reset(std::shared_ptr<const Checkpoint> checkpoint, const Mapping& mapping);
    std::shared_ptr<const Checkpoint> checkpoint() const { return m_checkpoint; }
    bool isOpen() const { return m_checkpoint != nullptr; }
    QUndoStack* undoStack() { return &m_undo; }
    // Renames, exclusions and the cast, edited on the same undo stack.
    ExportRulesDocument* exportRules() { return m_exportRules; }
    const ExportRulesDocument* exportRules() const { return m_exportRules; }

    // 0 means unassigned, or not exported for training state (see isExcluded).
    int target(size_t tensor) const { return m_targets[tensor]; }
    const std::vector<int>& targets() const { return m_targets; }
    int fileCount() const { return m_fileCount; }
    // Training state (optimizer, scheduler, ...) that no file names: left out of the export, as
    // makePlan does unless asked to include it; never "unassigned".
    bool isExcluded(size_t tensor) const;
    size_t excludedCount() const;
    size_t unassignedCount() const; // model tensors without a file, not excluded by a rule
    QString mappingSource() const { return m_source; }
    const std::vector<std::string>& absentFqns() const { return m_absent; }

    // Undoable edits.
    void assign(const std::vector<size_t>& tensors, int fileIndex, const QString& description = {});
    void applyMapping(const Mapping& mapping, const QString& description);
    int addOutputFile(); // returns the new index (undoable)

    Mapping toMapping() const;
    // Targets or file count differ from those last saved (or opened with).
    bool hasUnsavedMapping() const;
    void markMappingSaved();

    // Used by the undo commands only.
    void setTargetsRaw(const std::vector<size_t>& tensors, const std::vector<int>& values);
    void setAllRaw(const std::vector<int>& targets, int fileCount);

signals:
    void resetDone();
    void targetsChanged(); // any target or the file count changed
    void mappingSaved();   // hasUnsavedMapping may differ

private:
    std::vector<int> unmappedTargets(const Mapping& mapping) const;

    std::shared_ptr<const Checkpoint> m_checkpoint;
    std::vector<int> m_targets;
    int m_fileCount = 1;
    std::vector<int> m_savedTargets;
    int m_savedFileCount = 1;
    QString m_source;
    std::vector<std::string> m_absent; // mapped fqns no shard holds, kept so saving keeps them
    std::map<std::string, int> m_absentIndex;
    QUndoStack m_undo;
    ExportRulesDocument* m_exportRules; // a child: its commands point at it
};

} // namespace shardscope
