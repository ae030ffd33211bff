// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "export_worker.h"

#include <QDialog>

#include <memory>

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStackedWidget;

namespace shardscope {

// True when `path` is `directory` or lies below it, compared by whole path components after
// QDir::cleanPath: /data/ckpt2/out is not inside /data/ckpt.
bool isInsideDirectory(const QString& path, const QString& directory);

// The output directory to propose for the shards in `shards`, given where the last export went
// (`lastOutput`, written from `lastShards`): the same place for the same shards; for other shards
// the same place relative to them (<shards>/consolidated stays <shards>/consolidated), or, when
// the last export went outside its shards, a "<name>-consolidated" folder beside it. Without a
// usable last export: <shards>/consolidated.
QString proposedOutputDirectory(const QString& shards, const QString& lastOutput,
                                const QString& lastShards);

// Export in three steps on one dialog: choose where, watch it run (one phase at a time, each with
// its own bytes, rate and ETA, and Cancel until publishing starts), then the outcome as the
// engine reported it, with "Open folder".
class ExportDialog : public QDialog {
    Q_OBJECT

public:
    ExportDialog(std::shared_ptr<const Checkpoint> checkpoint, Mapping mapping, size_t unassigned,
                 QWidget* parent = nullptr);

    void setOutputDirectory(const QString& directory);
    QString outputDirectory() const;
    void setThreads(int threads);
    int threads() const;
    void setUnassignedToLastFile(bool last);
    bool isRunning() const { return m_running; } // until the outcome is shown
    QString errorText() const;                   // why the last start failed, as shown
    QString phaseText() const;                   // the running phase, as shown
    QString resultText() const;                  // the outcome of the last run, as shown
    bool isCancelOffered() const;
    ExportWorker* worker() { return &m_worker; }

    // Pre-flight and start; returns false (with the reason shown) when it cannot start.
    bool startExport();
    // Same as the Cancel button; does nothing once publishing has started.
    void requestCancel();

signals:
    void exportFinished(const shardscope::ExportOutcome& outcome);

protected:
    void reject() override; // Esc / close while running means cancel, and nothing when publishing

private:
    QWidget* createSetupPage();
    QWidget* createProgressPage();
    QWidget* createResultPage();
    void browse();
    bool confirmReplace(const QString& directory, const std::vector<std::string>& existing);
    void onProgress(const ExportProgress& progress);
    void onFinished(const ExportOutcome& outcome);
    QString successText(const ExportOutcome& outcome) const;
    QString phaseTitle(EnginePhase phase) const;
    void showError(const QString& text);

    std::shared_ptr<const Checkpoint> m_checkpoint;
    Mapping m_mapping;
    size_t m_unassigned;
    ExportWorker m_worker;
    EnginePhase m_phaseShown = EnginePhase::Preparing;
    bool m_cancelRequested = false;
    bool m_running = false;

    QStackedWidget* m_pages;
    QLineEdit* m_directory;
    QSpinBox* m_threads;
    QComboBox* m_policy;
    QLabel* m_setupError;
    QPushButton* m_start;
    QLabel* m_phase;
    QLabel* m_file;
    QProgressBar* m_bar;
    QLabel* m_stats;
    QPushButton* m_cancel;
    QLabel* m_summary;
    QPushButton* m_openFolder;
    QPushButton* m_back;
    QString m_resultDirectory;
};

} // namespace shardscope
