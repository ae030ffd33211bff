// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "scan_worker.h"

#include "cpu_state.h"
#include "memory_release.h"

#include <QCoreApplication>
#include <QtConcurrent>

#include <chrono>

namespace shardscope {
namespace {

using ProgressChannel = std::shared_ptr<LatestValue<ScanProgress>>;

ScanResult scan(QPromise<ScanResult>& promise, const std::filesystem::path& directory,
                const ProgressChannel& progress) {
    ScanResult result;
    const auto started = std::chrono::steady_clock::now();
    std::stop_source stop;
    ScanOptions options;
    options.stop = stop.get_token();
    // The core reports every few thousand chunks or MiB, so polling here makes cancel prompt.
    options.progress = [&](const ScanProgress& p) {
        if (promise.isCanceled()) stop.request_stop();
        progress->post(p);
    };
    auto ckpt = std::make_shared<Checkpoint>(scanCheckpoint(directory, options));
    try {
        result.mapping = defaultMapping(*ckpt);
    } catch (const Error& e) {
        result.mappingError = e.what();
    }
    result.checkpoint = std::move(ckpt);
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return result;
}

// A scan that ends without a result (cancelled, failed, or dropped) leaves hundreds of megabytes
// freed but kept by the allocator: the window held 570 MiB after a cancelled W6 scan, and now
// 84 MiB. The pool thread returns its own; the GUI thread, as the main thread, takes back what
// the scan's exited helper threads left behind.
void releaseScanMemory() {
    releaseFreeMemory();
    if (QCoreApplication* app = QCoreApplication::instance())
        QMetaObject::invokeMethod(
            app, [] { releaseFreeMemory(); }, Qt::QueuedConnection);
}

// Scans run on threads of their own that end with the scan: the allocator then hands what a
// finished thread allocated to the main thread, whose releaseFreeMemory() can give it back
// once the checkpoint is closed. On the shared pool's long-lived threads it stayed cached: with
// W6 replaced by W3 the window held 1,007 MiB; now 371 MiB (W3 alone: 146 MiB).
QThreadPool* scanThreads() {
    static QThreadPool* pool = [] {
        auto* p = new QThreadPool(QCoreApplication::instance()); // ends with the application
        p->setExpiryTimeout(0);
        return p;
    }();
    return pool;
}

// Scans and hands the result over; false when nobody took it (cancelled, failed, or cancelled
// meanwhile, when Qt drops the result), by which time everything the scan built is freed.
bool runScan(QPromise<ScanResult>& promise, const std::filesystem::path& dir,
             const ProgressChannel& channel) {
    ScanResult result;
    try {
        result = scan(promise, dir, channel);
    } catch (const Cancelled&) {
        return false; // nobody wants it
    } catch (const std::exception& e) {
        result.error = e.what();
    }
    const bool failed = !result.error.empty();
    return promise.addResult(std::move(result)) && !failed;
}

} // namespace

ScanWorker::ScanWorker(QObject* parent) : QObject(parent) {
    connect(&m_watcher, &QFutureWatcher<ScanResult>::finished, this, &ScanWorker::onFutureFinished);
}

ScanWorker::~ScanWorker() {
    cancel(); // the pool thread stops at its next check; it holds nothing of ours
}

bool ScanWorker::waitForScanThreads(int msecs) {
    return scanThreads()->waitForDone(msecs);
}

void ScanWorker::cancel() {
    m_wanted = false;
    m_future.cancel();
    if (m_progress) m_progress->detach();
    m_progress.reset();
}

void ScanWorker::start(const QString& directory) {
    cancel();
    m_wanted = true;
    m_progress = std::make_shared<LatestValue<ScanProgress>>(
        this, [this](const ScanProgress& p) { emit progress(p); });
    m_future = QtConcurrent::run(
        scanThreads(),
        [](QPromise<ScanResult>& promise, std::filesystem::path dir, ProgressChannel channel) {
            clearVectorUpperState(); // pool threads start with whatever the GUI thread left
            if (!runScan(promise, dir, channel)) releaseScanMemory();
        },
        std::filesystem::path(directory.toStdString()), m_progress);
    m_watcher.setFuture(m_future); // the old future's pending signals are discarded
}

void ScanWorker::onFutureFinished() {
    if (deliver() || m_watcher.future().resultCount() == 0) return;
    // A result that came in after a cancel: nobody wants it, so neither its memory. (The empty
    // future set here reports finished too, and holds nothing.)
    m_watcher.setFuture(QFuture<ScanResult>());
    m_future = QFuture<ScanResult>();
    releaseFreeMemory();
}

bool ScanWorker::deliver() {
    const QFuture<ScanResult> future = m_watcher.future();
    if (!m_wanted || future.isCanceled() || future.resultCount() == 0) return false;
    m_wanted = false;
    m_progress->detach();
    emit finished(future.result());
    return true;
}

} // namespace shardscope
