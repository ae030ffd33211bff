// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "plan.h"

#include <QFutureWatcher>
#include <QObject>
#include <QString>

#include <atomic>
#include <memory>

namespace shardscope {

// What a scan hands back to the GUI thread: plain values, no models.
struct ScanResult {
    std::shared_ptr<const Checkpoint> checkpoint;
    Mapping mapping;          // the starting mapping (.hf_metadata's when present)
    std::string mappingError; // the .hf_metadata mapping could not be read
    std::string error;        // the directory could not be scanned at all
    bool cancelled = false;
    double seconds = 0;
};

// Scans a directory on a pool thread; progress and the result arrive as queued signals.
class ScanWorker : public QObject {
    Q_OBJECT

public:
    explicit ScanWorker(QObject* parent = nullptr);
    ~ScanWorker() override;

    void start(const QString& directory); // a running scan is cancelled and its result ignored
    void cancel();
    bool isRunning() const { return m_watcher.isRunning(); }
    void waitForFinished() { m_watcher.waitForFinished(); }

signals:
    void progress(int filesDone, int filesTotal);
    void finished(const shardscope::ScanResult& result);

private:
    QFutureWatcher<ScanResult> m_watcher;
    std::shared_ptr<std::atomic<bool>> m_cancel;
    int m_generation = 0;
};

} // namespace shardscope

Q_DECLARE_METATYPE(shardscope::ScanResult)
