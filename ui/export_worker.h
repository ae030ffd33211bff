// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "engine.h"
#include "plan.h"

#include <QFutureWatcher>
#include <QObject>
#include <QString>

#include <atomic>
#include <memory>

namespace shardscope {

struct ExportRequest {
    std::shared_ptr<const Checkpoint> checkpoint;
    Plan plan;
    QString outputDirectory;
    int threads = 0;
    bool overwrite = false;
    bool verify = true;
};

// Byte-based: writing and then verifying count towards one total, so it only ever grows.
struct ExportProgress {
    quint64 bytesDone = 0;
    quint64 bytesTotal = 0;
    QString phase;
    QString currentFile;
    double elapsedSeconds = 0;
};

struct ExportOutcome {
    bool ok = false;
    bool cancelled = false;
    QString error;
    EngineResult result;
    bool verified = false;
    QString verifyMessage;
    double seconds = 0;
};

// Runs consolidation (and verification) on a pool thread; cancel is an atomic flag the engine
// checks per chunk.
class ExportWorker : public QObject {
    Q_OBJECT

public:
    explicit ExportWorker(QObject* parent = nullptr);
    ~ExportWorker() override;

    void start(ExportRequest request);
    void cancel();
    bool isRunning() const { return m_watcher.isRunning(); }
    void waitForFinished() { m_watcher.waitForFinished(); }

signals:
    void progress(const shardscope::ExportProgress& progress);
    void finished(const shardscope::ExportOutcome& outcome);

private:
    QFutureWatcher<ExportOutcome> m_watcher;
    std::shared_ptr<std::atomic<bool>> m_cancel;
};

} // namespace shardscope

Q_DECLARE_METATYPE(shardscope::ExportProgress)
Q_DECLARE_METATYPE(shardscope::ExportOutcome)
