// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "export_dialog.h"

#include "format_units.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDesktopServices>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStackedWidget>
#include <QThread>
#include <QUrl>
#include <QVBoxLayout>

namespace shardscope {

ExportDialog::ExportDialog(std::shared_ptr<const Checkpoint> checkpoint, Mapping mapping,
                           size_t unassigned, QWidget* parent)
    : QDialog(parent), m_checkpoint(std::move(checkpoint)), m_mapping(std::move(mapping)),
      m_unassigned(unassigned) {
    setWindowTitle(tr("Export consolidated checkpoint"));
    setMinimumWidth(560);
    m_pages = new QStackedWidget(this);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_pages);

    // Set-up page.
    auto* setup = new QWidget;
    auto* form = new QFormLayout;
    m_directory = new QLineEdit;
    auto* browseButton = new QPushButton(tr("Browse…"));
    browseButton->setAutoDefault(false); // Return means Export, not Browse
    auto* dirRow = new QHBoxLayout;
    dirRow->addWidget(m_directory);
    dirRow->addWidget(browseButton);
    form->addRow(tr("Output directory:"), dirRow);
    m_threads = new QSpinBox;
    m_threads->setRange(1, 64);
    m_threads->setValue(std::max(1, QThread::idealThreadCount()));
    form->addRow(tr("Threads:"), m_threads);
    m_verify = new QCheckBox(tr("Verify every byte against the shards afterwards"));
    m_verify->setChecked(true);
    form->addRow(QString(), m_verify);
    m_policy = new QComboBox;
    m_policy->addItem(tr("Stop: assign them first"));
    m_policy->addItem(tr("Put them in the last output file"));
    form->addRow(tr("%n unassigned tensor(s):", nullptr, int(unassigned)), m_policy);
    m_policy->setVisible(unassigned > 0);
    form->labelForField(m_policy)->setVisible(unassigned > 0);
    m_setupError = new QLabel;
    m_setupError->setWordWrap(true);
    m_setupError->setStyleSheet("color: #c62828");
    m_setupError->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* setupLayout = new QVBoxLayout(setup);
    setupLayout->addLayout(form);
    setupLayout->addWidget(m_setupError);
    setupLayout->addStretch();
    auto* setupButtons = new QDialogButtonBox;
    m_start = setupButtons->addButton(tr("Export"), QDialogButtonBox::AcceptRole);
    setupButtons->addButton(QDialogButtonBox::Cancel);
    setupLayout->addWidget(setupButtons);
    m_pages->addWidget(setup);

    // Progress page.
    auto* running = new QWidget;
    auto* runLayout = new QVBoxLayout(running);
    m_phase = new QLabel;
    QFont bold = m_phase->font();
    bold.setBold(true);
    m_phase->setFont(bold);
    m_file = new QLabel;
    m_file->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_bar = new QProgressBar;
    m_bar->setRange(0, 1000);
    m_bar->setFormat("%p%");
    m_stats = new QLabel;
    m_cancel = new QPushButton(tr("Cancel"));
    runLayout->addWidget(m_phase);
    runLayout->addWidget(m_file);
    runLayout->addWidget(m_bar);
    runLayout->addWidget(m_stats);
    runLayout->addStretch();
    auto* cancelRow = new QHBoxLayout;
    cancelRow->addStretch();
    cancelRow->addWidget(m_cancel);
    runLayout->addLayout(cancelRow);
    m_pages->addWidget(running);

    // Result page.
    auto* done = new QWidget;
    auto* doneLayout = new QVBoxLayout(done);
    m_summary = new QLabel;
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    doneLayout->addWidget(m_summary);
    doneLayout->addStretch();
    auto* doneButtons = new QDialogButtonBox;
    m_openFolder = doneButtons->addButton(tr("Open folder"), QDialogButtonBox::ActionRole);
    doneButtons->addButton(QDialogButtonBox::Close);
    doneLayout->addWidget(doneButtons);
    m_pages->addWidget(done);

    connect(browseButton, &QPushButton::clicked, this, &ExportDialog::browse);
    connect(setupButtons, &QDialogButtonBox::accepted, this, &ExportDialog::startExport);
    connect(setupButtons, &QDialogButtonBox::rejected, this, &ExportDialog::reject);
    connect(m_cancel, &QPushButton::clicked, this, [this] {
        m_cancel->setEnabled(false);
        m_phase->setText(tr("Cancelling… removing partial files"));
        m_worker.cancel();
    });
    connect(doneButtons, &QDialogButtonBox::rejected, this, &QDialog::accept);
    connect(m_openFolder, &QPushButton::clicked, this,
            [this] { QDesktopServices::openUrl(QUrl::fromLocalFile(m_resultDirectory)); });
    connect(&m_worker, &ExportWorker::progress, this, &ExportDialog::onProgress);
    connect(&m_worker, &ExportWorker::finished, this, &ExportDialog::onFinished);

    setOutputDirectory(QString::fromStdString((m_checkpoint->directory / "consolidated").string()));
    m_openFolder->setAutoDefault(false);
    m_start->setDefault(true); // only once the button sits inside the dialog does this stick
}

void ExportDialog::setOutputDirectory(const QString& directory) {
    m_directory->setText(directory);
}
QString ExportDialog::outputDirectory() const {
    return m_directory->text().trimmed();
}
void ExportDialog::setThreads(int threads) {
    m_threads->setValue(threads);
}
int ExportDialog::threads() const {
    return m_threads->value();
}
void ExportDialog::setUnassignedToLastFile(bool last) {
    m_policy->setCurrentIndex(last ? 1 : 0);
}

QString ExportDialog::errorText() const {
    return m_setupError->text();
}

void ExportDialog::browse() {
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("Output directory"), outputDirectory());
    if (!dir.isEmpty()) setOutputDirectory(dir);
}

void ExportDialog::showError(const QString& text) {
    m_setupError->setText(text);
    m_pages->setCurrentIndex(0);
}

bool ExportDialog::startExport() {
    m_setupError->clear();
    const QString dir = outputDirectory();
    if (dir.isEmpty()) {
        showError(tr("Choose an output directory."));
        return false;
    }
    const bool last = m_policy->currentIndex() == 1;
    ExportRequest request;
    request.checkpoint = m_checkpoint;
    request.plan =
        makePlan(*m_checkpoint, m_mapping, last ? UnmappedPolicy::LastFile : UnmappedPolicy::Error);
    request.outputDirectory = QDir::cleanPath(QDir(dir).absolutePath());
    request.threads = threads();
    request.verify = m_verify->isChecked();
    const std::filesystem::path out = request.outputDirectory.toStdString();
    try {
        preflight(*m_checkpoint, request.plan, out, true); // everything but existing outputs
        const auto existing = existingOutputs(*m_checkpoint, out);
        if (!existing.empty()) {
            QStringList names;
            for (size_t i = 0; i < existing.size() && i < 8; ++i)
                names << QString::fromStdString(existing[i]);
            if (existing.size() > 8) names << tr("… and %1 more").arg(existing.size() - 8);
            const auto answer = QMessageBox::question(
                this, tr("Replace existing output?"),
                tr("%1 already holds output from an earlier run:\n\n%2\n\nReplace it? Model files "
                   "of the earlier layout are removed once the new files are complete.")
                    .arg(request.outputDirectory, names.join("\n")),
                QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
            if (answer != QMessageBox::Yes) return false;
            request.overwrite = true;
        }
    } catch (const Error& e) {
        showError(QString::fromStdString(e.what()));
        return false;
    }
    m_resultDirectory = request.outputDirectory;
    m_pages->setCurrentIndex(1);
    m_phase->setText(tr("Preparing"));
    m_file->clear();
    m_bar->setValue(0);
    m_stats->setText(tr("Starting…"));
    m_cancel->setEnabled(true);
    m_cancel->setFocus();
    m_worker.start(std::move(request));
    return true;
}

void ExportDialog::onProgress(const ExportProgress& p) {
    const double fraction = p.bytesTotal ? double(p.bytesDone) / double(p.bytesTotal) : 0;
    m_bar->setValue(int(fraction * 1000));
    if (m_cancel->isEnabled()) m_phase->setText(p.phase);
    m_file->setText(p.currentFile);
    const double rate = p.elapsedSeconds > 0 ? double(p.bytesDone) / p.elapsedSeconds : 0;
    QString eta = tr("estimating…");
    if (rate > 0 && fraction > 0.02)
        eta = QString::fromStdString(formatSeconds(double(p.bytesTotal - p.bytesDone) / rate));
    m_stats->setText(tr("%1 of %2 · %3/s · %4 left")
                         .arg(QString::fromStdString(formatBytes(p.bytesDone)),
                              QString::fromStdString(formatBytes(p.bytesTotal)),
                              QString::fromStdString(formatBytes(uint64_t(rate))), eta));
}

void ExportDialog::onFinished(const ExportOutcome& outcome) {
    if (outcome.cancelled) {
        m_pages->setCurrentIndex(0);
        m_setupError->setText(tr("Export cancelled. Every partial file was removed; nothing that "
                                 "looks complete was left in %1.")
                                  .arg(m_resultDirectory));
    } else if (!outcome.ok) {
        m_pages->setCurrentIndex(0);
        m_setupError->setText(
            tr("Export failed: %1\nNothing half-written was left behind.").arg(outcome.error));
    } else {
        const double gib = double(outcome.result.bytesWritten) / double(1ull << 30);
        const double write = outcome.result.seconds;
        QString text =
            tr("<b>Export complete.</b><br><br>%1 file(s), %2 written in %3 s (%4 GiB/s)<br>"
               "into <tt>%5</tt>")
                .arg(outcome.result.files.size())
                .arg(QString::fromStdString(formatBytes(outcome.result.bytesWritten)))
                .arg(write, 0, 'f', 2)
                .arg(write > 0 ? gib / write : 0.0, 0, 'f', 2)
                .arg(m_resultDirectory.toHtmlEscaped());
        if (!outcome.result.sidecars.empty())
            text += tr("<br>%1 sidecar file(s) copied from .hf_metadata")
                        .arg(outcome.result.sidecars.size());
        text += outcome.verifyMessage.isEmpty()
                    ? tr("<br><br>Verification: skipped")
                    : tr("<br><br>Verification (%1 s): %2")
                          .arg(std::max(0.0, outcome.seconds - write), 0, 'f', 2)
                          .arg(outcome.verifyMessage.toHtmlEscaped());
        m_summary->setText(text);
        m_pages->setCurrentIndex(2);
    }
    emit exportFinished(outcome);
}

void ExportDialog::reject() {
    if (m_worker.isRunning()) {
        m_cancel->click(); // closing while writing means cancel; the dialog stays until clean
        return;
    }
    QDialog::reject();
}

} // namespace shardscope
