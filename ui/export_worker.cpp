// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "export_worker.h"

#include "verify.h"

#include "cpu_state.h"

#include <QPointer>
#include <QtConcurrent>

#include <chrono>

namespace shardscope {

ExportWorker::ExportWorker(QObject* parent) : QObject(parent) {
    connect(&m_watcher, &QFutureWatcher<ExportOutcome>::finished, this,
            [this] { emit finished(m_watcher.result()); });
}

ExportWorker::~ExportWorker() {
    cancel();
    m_watcher.waitForFinished();
}

void ExportWorker::cancel() {
    if (m_cancel) *m_cancel = true;
}

void ExportWorker::start(ExportRequest request) {
    if (isRunning()) return;
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    QPointer<ExportWorker> self(this);
    auto cancelFlag = m_cancel;
    m_watcher.setFuture(QtConcurrent::run([self, cancelFlag, request = std::move(request)] {
        clearVectorUpperState(); // pool threads start with whatever the GUI thread left
        ExportOutcome outcome;
        const auto started = std::chrono::steady_clock::now();
        auto elapsed = [&] {
            return std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
                .count();
        };
        const quint64 writeTotal = bytesToWrite(*request.checkpoint, request.plan);
        const quint64 verifyTotal = request.verify ? request.checkpoint->totalBytes() : 0;
        auto post = [self](ExportProgress p) {
            QMetaObject::invokeMethod(
                self.data(),
                [self, p] {
                    if (self) emit self->progress(p);
                },
                Qt::QueuedConnection);
        };
        try {
            EngineOptions options;
            options.threads = request.threads;
            options.overwrite = request.overwrite;
            options.verify = request.verify;
            std::stop_source stop;
            options.stop = stop.get_token();
            options.progress = [&](const EngineProgress& e) {
                if (cancelFlag->load()) stop.request_stop();
                quint64 done = e.bytesDone;
                if (e.phase == EnginePhase::Verifying) done += writeTotal;
                if (e.phase >= EnginePhase::Publishing) done = writeTotal + verifyTotal;
                post({done, writeTotal + verifyTotal,
                      e.phase == EnginePhase::Done
                          ? QObject::tr("Written")
                          : QString::fromUtf8(enginePhaseName(e.phase).data(),
                                              qsizetype(enginePhaseName(e.phase).size())),
                      QString::fromStdString(e.currentFile), elapsed()});
            };
            const std::filesystem::path out = request.outputDirectory.toStdString();
            outcome.result = consolidate(*request.checkpoint, request.plan, out, options);
            outcome.verified = outcome.result.verified;
            outcome.verifyMessage = QObject::tr("all %1 tensors match the shards byte for byte")
                                        .arg(request.checkpoint->tensors.size());
            outcome.ok = true;
            post({writeTotal + verifyTotal,
                  writeTotal + verifyTotal,
                  QObject::tr("Done"),
                  {},
                  elapsed()});
        } catch (const ExportFailed& e) {
            outcome.cancelled = e.cancelled();
            outcome.error = QString::fromStdString(e.what()) + "\n" + QString::fromStdString(e.onDisk());
        } catch (const Cancelled&) {
            outcome.cancelled = true;
        } catch (const std::exception& e) {
            outcome.error = QString::fromStdString(e.what());
        }
        outcome.seconds = elapsed();
        return outcome;
    }));
}

} // namespace shardscope
