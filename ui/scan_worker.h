// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"
#include "latest_value.h"
#include "plan.h"

#include <QFuture>
#include <QFutureWatcher>
#include <QObject>
#include <QString>

#include <memory>

namespace shardscope {

// What a scan hands back to the GUI thread: plain values, no models.
struct ScanResult {
    std::shared_ptr<const Checkpoint> checkpoint;
    Mapping mapping;          // the starting mapping (.hf_metadata's when present)
    std::string mappingError; // the .hf_metadata mapping could not be read
    std::string error;        // the directory could not be scanned at all
    double seconds = 0;
};

// Scans a directory on a pool thread; progress and the result arrive on the GUI thread. Nothing
// here ever waits for a scan: a cancelled or superseded scan stops at its next check in the core
// and its result is dropped, never delivered.
class ScanWorker : public QObject {
    Q_OBJECT

public:
    explicit ScanWorker(QObject* parent = nullptr);
    ~ScanWorker() override;

    void start(const QString& directory); // supersedes a running scan at once
    void cancel();                        // the running scan's result is never delivered
    // A scan whose result is still wanted is under way.
    bool isRunning() const { return m_wanted; }
    // Waits up to msecs for every scan thread to end, also those of cancelled scans; true
    // when none runs. For tests: the window itself never waits for a scan.
    static bool waitForScanThreads(int msecs);

signals:
    void progress(const shardscope::ScanProgress& progress);
    void finished(const shardscope::ScanResult& result);

private:
    void onFutureFinished();
    bool deliver(); // emits finished() when the result is still wanted

    QFutureWatcher<ScanResult> m_watcher;
    QFuture<ScanResult> m_future;
    std::shared_ptr<LatestValue<ScanProgress>> m_progress;
    bool m_wanted = false;
};

} // namespace shardscope

Q_DECLARE_METATYPE(shardscope::ScanResult)
Q_DECLARE_METATYPE(shardscope::ScanProgress)
