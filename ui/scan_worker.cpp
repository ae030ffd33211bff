// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "scan_worker.h"

#include "cpu_state.h"

#include <QPointer>
#include <QtConcurrent>

#include <chrono>

namespace shardscope {

ScanWorker::ScanWorker(QObject* parent) : QObject(parent) {
    connect(&m_watcher, &QFutureWatcher<ScanResult>::finished, this, [this] {
        if (m_watcher.future().isCanceled()) return;
        emit finished(m_watcher.result());
    });
}

ScanWorker::~ScanWorker() {
    cancel();
    m_watcher.waitForFinished();
}

void ScanWorker::cancel() {
    if (m_cancel) *m_cancel = true;
}

void ScanWorker::start(const QString& directory) {
    cancel();
    m_watcher.waitForFinished(); // the old scan stops at its next file
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    const int generation = ++m_generation;
    QPointer<ScanWorker> self(this);
    auto cancelFlag = m_cancel;
    m_watcher.setFuture(QtConcurrent::run([self, generation, cancelFlag, directory] {
        clearVectorUpperState(); // pool threads start with whatever the GUI thread left
        ScanResult result;
        const auto started = std::chrono::steady_clock::now();
        ScanOptions options;
        std::stop_source stop;
        if (cancelFlag->load()) stop.request_stop();
        options.stop = stop.get_token();
        options.progress = [self, generation, cancelFlag, stop](const ScanProgress& p) mutable {
            if (cancelFlag->load()) stop.request_stop();
            const size_t done = p.phase == ScanPhase::ReadingHeaders ? p.done : p.total;
            const size_t total = p.total;
            QMetaObject::invokeMethod(
                self.data(),
                [self, generation, done, total] {
                    if (self && self->m_generation == generation)
                        emit self->progress(int(done), int(total));
                },
                Qt::QueuedConnection);
        };
        try {
            auto ckpt = std::make_shared<Checkpoint>(
                scanCheckpoint(std::filesystem::path(directory.toStdString()), options));
            try {
                result.mapping = defaultMapping(*ckpt);
            } catch (const Error& e) {
                result.mappingError = e.what();
            }
            result.checkpoint = std::move(ckpt);
        } catch (const Cancelled&) {
            result.cancelled = true;
        } catch (const std::exception& e) {
            result.error = e.what();
        }
        result.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        return result;
    }));
}

} // namespace shardscope
