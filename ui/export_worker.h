// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "engine.h"
#include "latest_value.h"
#include "plan.h"

#include <QFuture>
#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QStringList>

#include <memory>
#include <optional>

namespace shardscope {

struct ExportRequest {
    std::shared_ptr<const Checkpoint> checkpoint;
    Plan plan;
    QString outputDirectory;
    int threads = 0;
    bool overwrite = false;
};

// One engine phase at a time: bytes, rate and ETA all count within the current phase.
struct ExportProgress {
    EnginePhase phase = EnginePhase::Preparing;
    quint64 bytesDone = 0;
    quint64 bytesTotal = 0;
    QString currentFile;
    double phaseSeconds = 0; // since this phase began
};

// Everything here is what the engine reported; the UI adds no claims of its own.
struct ExportOutcome {
    bool ok = false;
    bool cancelled = false;
    QString cause;  // the engine's error, when not ok
    QString onDisk; // the engine's sentence on what the output directory holds, when not ok
    QStringList notes;
    EngineResult result;
    double seconds = 0;
};

// Runs consolidate() on a pool thread, always verifying before publishing. Cancel is
// future.cancel(); the engine sees it at its next progress report and stops unless it is
// publishing. The outcome arrives once the run has returned, cancelled or not.
class ExportWorker : public QObject {
    Q_OBJECT

public:
    explicit ExportWorker(QObject* parent = nullptr);
    ~ExportWorker() override;

    void start(ExportRequest request); // ignored while a run is under way
    void cancel();
    bool isRunning() const { return m_watcher.isRunning(); }
    QFuture<ExportOutcome> future() const { return m_future; }

signals:
    void progress(const shardscope::ExportProgress& progress);
    void finished(const shardscope::ExportOutcome& outcome);

private:
    void onFutureFinished();

    QFutureWatcher<ExportOutcome> m_watcher;
    QFuture<ExportOutcome> m_future;
    std::shared_ptr<LatestValue<ExportProgress>> m_progress;
    // Filled by the pool thread before it returns; read once the future has finished. A cancelled
    // future drops its results, so the outcome (with the engine's onDisk) travels here instead.
    std::shared_ptr<std::optional<ExportOutcome>> m_outcome;
    QString m_directory;
};

} // namespace shardscope

Q_DECLARE_METATYPE(shardscope::ExportProgress)
Q_DECLARE_METATYPE(shardscope::ExportOutcome)
