// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "export_worker.h"

#include "cpu_state.h"

#include <QtConcurrent>

#include <chrono>

namespace shardscope {
namespace {

using Clock = std::chrono::steady_clock;
using ProgressChannel = std::shared_ptr<LatestValue<ExportProgress>>;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

QStringList toQStrings(const std::vector<std::string>& lines) {
    QStringList out;
    for (const auto& line : lines)
        out << QString::fromStdString(line);
    return out;
}

ExportOutcome runExport(QPromise<ExportOutcome>& promise, const ExportRequest& request,
                        const ProgressChannel& progress) {
    ExportOutcome outcome;
    const auto started = Clock::now();
    auto phaseStarted = started;
    EnginePhase lastPhase = EnginePhase::Preparing;
    std::stop_source stop;
    EngineOptions options;
    options.threads = request.threads;
    options.overwrite = request.overwrite;
    options.verify = true; // nothing is published that was not compared byte for byte
    options.stop = stop.get_token();
    options.progressInterval = std::chrono::milliseconds(10); // cancel is polled here
    // Called under the engine's lock, so the phase bookkeeping needs none of its own.
    options.progress = [&](const EngineProgress& e) {
        if (promise.isCanceled()) stop.request_stop();
        if (e.phase != lastPhase) {
            lastPhase = e.phase;
            phaseStarted = Clock::now();
        }
        progress->post({e.phase, e.bytesDone, e.bytesTotal, QString::fromStdString(e.currentFile),
                        secondsSince(phaseStarted)});
    };
    if (promise.isCanceled()) stop.request_stop();
    try {
        outcome.result = consolidate(*request.checkpoint, request.plan,
                                     request.outputDirectory.toStdString(), options);
        outcome.ok = true;
        outcome.notes = toQStrings(outcome.result.notes);
    } catch (const ExportFailed& e) {
        outcome.cancelled = e.cancelled();
        outcome.cause = QString::fromStdString(e.what());
        outcome.onDisk = QString::fromStdString(e.onDisk());
        outcome.notes = toQStrings(e.notes());
    } catch (const std::exception& e) {
        // Thrown by the checks that run before the engine touches the directory.
        outcome.cause = QString::fromStdString(e.what());
        outcome.onDisk = QObject::tr("Nothing was written to %1.").arg(request.outputDirectory);
    }
    outcome.seconds = secondsSince(started);
    return outcome;
}

} // namespace

ExportWorker::ExportWorker(QObject* parent) : QObject(parent) {
    connect(&m_watcher, &QFutureWatcher<ExportOutcome>::finished, this,
            &ExportWorker::onFutureFinished);
}

ExportWorker::~ExportWorker() {
    cancel(); // never waits: the pool thread owns its request and writes into a shared slot
    if (m_progress) m_progress->detach();
}

void ExportWorker::cancel() {
    m_future.cancel();
}

void ExportWorker::start(ExportRequest request) {
    if (isRunning()) return;
    if (m_progress) m_progress->detach();
    m_progress = std::make_shared<LatestValue<ExportProgress>>(
        this, [this](const ExportProgress& p) { emit progress(p); });
    m_outcome = std::make_shared<std::optional<ExportOutcome>>();
    m_directory = request.outputDirectory;
    m_future = QtConcurrent::run(
        [](QPromise<ExportOutcome>& promise, ExportRequest req, ProgressChannel channel,
           std::shared_ptr<std::optional<ExportOutcome>> slot) {
            clearVectorUpperState(); // pool threads start with whatever the GUI thread left
            *slot = runExport(promise, req, channel);
            promise.addResult(**slot);
        },
        std::move(request), m_progress, m_outcome);
    m_watcher.setFuture(m_future);
}

void ExportWorker::onFutureFinished() {
    m_progress->detach(); // a last queued progress must not arrive after the outcome
    ExportOutcome outcome;
    if (m_outcome->has_value()) {
        outcome = std::move(**m_outcome);
    } else { // cancelled before the pool started it: consolidate() never ran
        outcome.cancelled = true;
        outcome.cause = tr("cancelled");
        outcome.onDisk = tr("Nothing was written to %1.").arg(m_directory);
    }
    emit finished(outcome);
}

} // namespace shardscope
