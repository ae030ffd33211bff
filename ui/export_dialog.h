// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "export_worker.h"

#include <QDialog>

#include <memory>
#include <optional>

class QCheckBox;
class QComboBox;
class QFormLayout;
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
// engine reported it, with "Open folder". For a DCP checkpoint the first step also offers the
// training state and an HF model folder whose config and tokenizer files are copied along.
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
    // DCP checkpoints only (the controls are hidden otherwise).
    void setIncludeTrainingState(bool include);
    bool includeTrainingState() const;
    void setHfAssetsDirectory(const QString& directory);
    QString hfAssetsDirectory() const;
    // The export rules of the document: renames, exclusions and the cast (which this dialog
    // edits; castRulesChanged tells the document once, when the dialog closes).
    void setExportRules(const ExportRules& rules);
    ExportRules exportRules() const; // with the cast and training state as chosen here
    void setCastTarget(std::optional<DType> to); // empty: keep source dtypes
    void setCastKeep(const QString& patterns);   // comma-separated, beside the default list
    void setCastStrict(bool strict);
    // The plan an export would start with now; its problems block the start.
    Plan currentPlan() const;
    QString ruleProblemText() const; // collisions, nothing selected, as shown
    QString planText() const;                    // what the export will write, as shown (DCP)
    QStringList assetFiles() const;              // the HF assets folder's files the export copies
    QString unassignedLabelText() const;         // "2 unassigned tensors:", "" when hidden
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
    // When the dialog closes after an export started: the cast of the last export started, so
    // one opening of the dialog is at most one undoable edit, and Cancel before any is none.
    void castRulesChanged(const shardscope::CastRules& cast);

public slots:
    void done(int result) override;

protected:
    void reject() override; // Esc / close while running means cancel, and nothing when publishing

private:
    QWidget* createSetupPage();
    void addDcpRows(QFormLayout* form);
    void addCastRows(QFormLayout* form);
    CastRules castRules() const;
    void castEdited(); // a cast control changed: the document hears of it, the plan follows
    bool hasTransforms() const; // renames, exclusions or a cast: the rules' makePlan applies
    ExportSelection selection() const;
    QString transformText(const Plan& plan, const ExportSelection& selection) const;
    void showRuleProblems(const Plan& plan);
    void setTabOrderOfSetupPage(QWidget* browse, QWidget* assetsBrowse);
    void browseHfAssets();
    // The mapping an export uses: the document's, or with training state included and the
    // document's mapping still the default, the default mapping with training state (as the CLI
    // does without --mapping).
    Mapping planMapping() const;
    size_t unassignedCount() const; // tensors the plan mapping leaves out that it should name
    std::shared_ptr<const Checkpoint> exportCheckpoint() const; // with the HF assets folder
    void replan(); // the unassigned row and the plan text, after any option changed
    void showAssets();
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
    size_t m_unassigned; // as the document counts them, for the mapping as given
    bool m_dcp = false;
    bool m_mappingIsDefault = false; // m_mapping is defaultMapping(checkpoint) unedited
    ExportWorker m_worker;
    EnginePhase m_phaseShown = EnginePhase::Preparing;
    bool m_cancelRequested = false;
    bool m_running = false;

    QStackedWidget* m_pages;
    QLineEdit* m_directory;
    QSpinBox* m_threads;
    QComboBox* m_policy;
    QLabel* m_policyLabel = nullptr;
    QCheckBox* m_includeTraining = nullptr;
    QLineEdit* m_hfAssets = nullptr;
    QPushButton* m_hfAssetsBrowse = nullptr;
    QLabel* m_assetsNote = nullptr;
    QLabel* m_plan = nullptr;
    ExportRules m_rules; // the document's; the cast and training state come from the controls
    QComboBox* m_castTo = nullptr;
    QLineEdit* m_castKeep = nullptr;
    QCheckBox* m_castStrict = nullptr;
    QLabel* m_ruleProblems = nullptr;
    std::optional<CastRules> m_startedCast; // the cast of the last export started, until done()
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
    size_t m_writtenTensors = 0; // by the running or last export
};

} // namespace shardscope
