// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "scan_worker.h"

#include "cpu_state.h"

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

} // namespace

ScanWorker::ScanWorker(QObject* parent) : QObject(parent) {
    connect(&m_watcher, &QFutureWatcher<ScanResult>::finished, this, &ScanWorker::onFutureFinished);
}

ScanWorker::~ScanWorker() {
    cancel(); // the pool thread stops at its next check; it holds nothing of ours
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
        [](QPromise<ScanResult>& promise, std::filesystem::path dir, ProgressChannel channel) {
            clearVectorUpperState(); // pool threads start with whatever the GUI thread left
            ScanResult result;
            try {
                result = scan(promise, dir, channel);
            } catch (const Cancelled&) {
                return; // nobody wants it
            } catch (const std::exception& e) {
                result.error = e.what();
            }
            promise.addResult(std::move(result)); // dropped by Qt when cancelled meanwhile
        },
        std::filesystem::path(directory.toStdString()), m_progress);
    m_watcher.setFuture(m_future); // the old future's pending signals are discarded
}

void ScanWorker::onFutureFinished() {
    const QFuture<ScanResult> future = m_watcher.future();
    if (!m_wanted || future.isCanceled() || future.resultCount() == 0) return;
    m_wanted = false;
    m_progress->detach();
    emit finished(future.result());
}

} // namespace shardscope
