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
        const quint64 writeTotal = request.plan.totalFileBytes();
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
            options.cancel = cancelFlag.get();
            options.progress = [&](const EngineProgress& e) {
                post({e.bytesDone, writeTotal + verifyTotal,
                      e.phase == "Done" ? QObject::tr("Written") : QString::fromStdString(e.phase),
                      QString::fromStdString(e.currentFile), elapsed()});
            };
            const std::filesystem::path out = request.outputDirectory.toStdString();
            outcome.result = consolidate(*request.checkpoint, request.plan, out, options);
            if (request.verify) {
                auto last = std::chrono::steady_clock::now();
                VerifyReport report = verifyOutput(
                    out, request.checkpoint.get(), cancelFlag.get(), [&](uint64_t done, uint64_t) {
                        auto now = std::chrono::steady_clock::now();
                        if (now - last < std::chrono::milliseconds(50) && done < verifyTotal)
                            return;
                        last = now;
                        post({writeTotal + done,
                              writeTotal + verifyTotal,
                              QObject::tr("Verifying"),
                              {},
                              elapsed()});
                    });
                outcome.verified = report.ok();
                outcome.verifyMessage =
                    report.ok() ? QObject::tr("all %1 tensors match the shards byte for byte")
                                      .arg(report.tensors)
                                : QString::fromStdString(report.problems.front().text());
            }
            outcome.ok = !request.verify || outcome.verified;
            if (!outcome.ok)
                outcome.error = QObject::tr("Verification failed: %1").arg(outcome.verifyMessage);
            post({writeTotal + verifyTotal,
                  writeTotal + verifyTotal,
                  QObject::tr("Done"),
                  {},
                  elapsed()});
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
