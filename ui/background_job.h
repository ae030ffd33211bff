// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "cpu_state.h"
#include "error.h"
#include "latest_value.h"

#include <QFuture>
#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QtConcurrent>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>

namespace shardscope {

// Where a background job is: its phase, and done of total within that phase.
struct JobProgress {
    QString phase;           // "Reading values", shown in the progress bar
    quint64 done = 0;
    quint64 total = 0;
    bool bytes = true;       // done and total count bytes (else files, chunks, tensors)
    double phaseSeconds = 0; // since the phase began: for the rate and the time left
};

using JobProgressChannel = std::shared_ptr<LatestValue<JobProgress>>;

// What a job's function gets: the stop token to hand to the core, and a way to report.
class JobContext {
public:
    JobContext(std::stop_token stop, JobProgressChannel channel)
        : m_stop(std::move(stop)), m_channel(std::move(channel)) {}

    std::stop_token stop() const { return m_stop; }
    // From one thread at a time (the core calls its progress callbacks so).
    void report(const QString& phase, quint64 done, quint64 total, bool bytes = true) {
        const auto now = std::chrono::steady_clock::now();
        if (phase != m_phase) {
            m_phase = phase;
            m_phaseStarted = now;
        }
        m_channel->post({phase, done, total, bytes,
                         std::chrono::duration<double>(now - m_phaseStarted).count()});
    }

private:
    std::stop_token m_stop;
    JobProgressChannel m_channel;
    QString m_phase;
    std::chrono::steady_clock::time_point m_phaseStarted;
};

// The signals of a BackgroundJob: a class template cannot declare its own.
class JobSignals : public QObject {
    Q_OBJECT

public:
    using QObject::QObject;

signals:
    void progress(const shardscope::JobProgress& progress);
    void finished();                     // result() holds what the function returned
    void failed(const QString& message); // the function threw (not by being stopped)
};

// Runs one function at a time on a pool thread; progress and the outcome arrive on the GUI
// thread. start() supersedes a running job and cancel() stops one: the function sees the stop
// at its next check in the core, and whatever it returns is dropped, never delivered. Nothing
// here waits for a pool thread, so the window never blocks on a job.
template <typename Result> class BackgroundJob : public JobSignals {
public:
    using Work = std::function<Result(JobContext&)>;

    explicit BackgroundJob(QObject* parent = nullptr) : JobSignals(parent) {
        connect(&m_watcher, &QFutureWatcher<Outcome>::finished, this, [this] { deliver(); });
    }
    ~BackgroundJob() override { cancel(); }

    void start(Work work) {
        cancel();
        m_wanted = true;
        m_stop = std::stop_source();
        m_progress = std::make_shared<LatestValue<JobProgress>>(
            this, [this](const JobProgress& p) { emit progress(p); });
        m_future = QtConcurrent::run(&BackgroundJob::run, std::move(work),
                                     JobContext(m_stop.get_token(), m_progress));
        m_watcher.setFuture(m_future); // the old future's pending signals are discarded
    }

    void cancel() {
        m_wanted = false;
        m_stop.request_stop();
        m_future.cancel();
        if (m_progress) m_progress->detach();
        m_progress.reset();
    }

    bool isRunning() const { return m_wanted; } // a run whose outcome is still wanted
    const Result& result() const { return m_result; }

private:
    struct Outcome {
        std::optional<Result> value;
        QString error;
    };

    static void run(QPromise<Outcome>& promise, Work work, JobContext context) {
        clearVectorUpperState(); // pool threads start with whatever the GUI thread left
        Outcome outcome;
        try {
            outcome.value = work(context);
        } catch (const Cancelled&) {
            return; // nobody wants it
        } catch (const std::exception& e) {
            outcome.error = QString::fromUtf8(e.what());
        }
        promise.addResult(std::move(outcome)); // dropped by Qt when cancelled meanwhile
    }

    void deliver() {
        const QFuture<Outcome> future = m_watcher.future();
        if (!m_wanted || future.isCanceled() || future.resultCount() == 0) return;
        m_wanted = false;
        m_progress->detach(); // a last queued progress must not arrive after the outcome
        const Outcome outcome = future.result();
        if (!outcome.value) {
            emit failed(outcome.error);
            return;
        }
        m_result = *outcome.value;
        emit finished();
    }

    QFutureWatcher<Outcome> m_watcher;
    QFuture<Outcome> m_future;
    std::stop_source m_stop;
    JobProgressChannel m_progress;
    Result m_result{};
    bool m_wanted = false;
};

} // namespace shardscope

Q_DECLARE_METATYPE(shardscope::JobProgress)
