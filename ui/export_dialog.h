// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "export_worker.h"

#include <QDialog>

#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStackedWidget;

namespace shardscope {

// Export in three steps on one dialog: choose where, watch it run (progress by bytes, current
// file, throughput, ETA, Cancel), then the summary with "Open folder".
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
    bool isRunning() const { return m_worker.isRunning(); }
    QString errorText() const; // why the last start or run failed, as shown
    ExportWorker* worker() { return &m_worker; }

    // Pre-flight and start; returns false (with the reason shown) when it cannot start.
    bool startExport();

signals:
    void exportFinished(const shardscope::ExportOutcome& outcome);

protected:
    void reject() override; // Esc / close while running asks to cancel instead

private:
    void browse();
    void onProgress(const ExportProgress& progress);
    void onFinished(const ExportOutcome& outcome);
    void showError(const QString& text);

    std::shared_ptr<const Checkpoint> m_checkpoint;
    Mapping m_mapping;
    size_t m_unassigned;
    ExportWorker m_worker;

    QStackedWidget* m_pages;
    QLineEdit* m_directory;
    QSpinBox* m_threads;
    QCheckBox* m_verify;
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
    QString m_resultDirectory;
};

} // namespace shardscope
