// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "background_job.h"
#include "value_jobs.h"
#include "value_results.h"

#include <QObject>

#include <map>
#include <memory>

namespace shardscope {

// What ShardScope knows about the open checkpoint's values: the last Check Values run and the
// current comparison, each kept until the checkpoint changes. Runs one check or comparison at a
// time on a pool thread, and for the details pane of a comparison reads single tensors on both
// sides. A run that is cancelled or superseded leaves nothing behind.
class ValueSession : public QObject {
    Q_OBJECT

public:
    enum class Task { None, Check, Compare };

    explicit ValueSession(QObject* parent = nullptr);

    // The checkpoint the results are for; another one cancels any run and drops everything.
    void setCheckpoint(std::shared_ptr<const Checkpoint> checkpoint);
    void startCheck();
    void startCompare(CompareRequest request); // request.a is set here
    Task running() const;
    Task cancel(); // what was running, now stopped; its result is never delivered
    void clearComparison();

    std::shared_ptr<const ValueCheck> valueCheck() const { return m_check; }
    std::shared_ptr<const Comparison> comparison() const { return m_comparison; }

    // A tensor's statistics on this side, from the check or from a tensor read for the details.
    const TensorStats* statsA(int tensor) const;
    // Both sides of one tensor during a comparison; nullptr until read (see requestPair).
    const TensorPairStats* pair(int tensor) const;
    // Reads it in the background unless known or under way, or cancelled while it stays the
    // one asked for (unless `again`: the user asks once more); whether a read started.
    bool requestPair(int tensor, bool again = false);
    bool isReadingPair(int tensor) const;
    int pairBeingRead() const; // -1 when none
    bool cancelPair();         // whether a read was running; its result is never delivered
    bool wasPairCancelled(int tensor) const { return tensor >= 0 && tensor == m_pairCancelled; }
    QString pairError(int tensor) const; // why it could not be read, or ""

    // The jobs, for tests that stop a run at a given point.
    JobSignals* checkJob() { return &m_checkJob; }
    JobSignals* compareJob() { return &m_compareJob; }
    JobSignals* pairJob() { return &m_pairJob; }

signals:
    void progress(const shardscope::JobProgress& progress);
    void checkFinished();
    void comparisonChanged(); // a comparison arrived or was cleared
    void failed(const QString& title, const QString& message);
    void pairReady(int tensor); // read, or failed (pairError)
    void pairProgress(const shardscope::JobProgress& progress);

private:
    void onCheckFinished();
    void onCompareFinished();
    void onPairFinished();

    std::shared_ptr<const Checkpoint> m_checkpoint;
    std::shared_ptr<const ValueCheck> m_check;
    std::shared_ptr<const Comparison> m_comparison;
    std::map<int, std::shared_ptr<const TensorPairStats>> m_pairs; // of m_comparison
    std::map<int, QString> m_pairErrors;
    int m_pairTensor = -1;    // being read
    int m_pairCancelled = -1; // its read was cancelled, and no other tensor was asked for since
    BackgroundJob<std::shared_ptr<const ValueCheck>> m_checkJob;
    BackgroundJob<std::shared_ptr<const Comparison>> m_compareJob;
    BackgroundJob<std::shared_ptr<const TensorPairStats>> m_pairJob;
};

} // namespace shardscope
