// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "export_dialog.h"
#include "plural.h"

#include "format_units.h"
#include "sidecars.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDesktopServices>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
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

#include <utility>

namespace shardscope {
namespace {

enum Page { SetupPage, ProgressPage, ResultPage };

QString bytesText(uint64_t bytes) {
    return QString::fromStdString(formatBytes(bytes));
}

// The problems of export rules that stop an export before a byte is written.
bool isRuleProblem(const Problem& p) {
    switch (p.kind) {
    case ErrorKind::RuleInvalid:
    case ErrorKind::NameCollision:
    case ErrorKind::NothingSelected:
    case ErrorKind::CastUnsupported:
        return p.severity == Severity::Error;
    default:
        return false;
    }
}

QLabel* makeNote(const QString& text) {
    auto* note = new QLabel(text);
    note->setWordWrap(true);
    note->setStyleSheet("color: #5f6368");
    return note;
}

} // namespace

bool isInsideDirectory(const QString& path, const QString& directory) {
    if (path.isEmpty() || directory.isEmpty()) return false;
    const QStringList inner = QDir::cleanPath(path).split('/');
    QStringList outer = QDir::cleanPath(directory).split('/');
    if (outer.size() > 1 && outer.back().isEmpty()) outer.removeLast(); // "/" splits to {"", ""}
    if (outer.size() > inner.size()) return false;
    for (qsizetype i = 0; i < outer.size(); ++i)
        if (outer[i] != inner[i]) return false;
    return true;
}

QString proposedOutputDirectory(const QString& shards, const QString& lastOutput,
                                const QString& lastShards) {
    const QString here = QDir::cleanPath(shards);
    const QString fallback = here + "/consolidated";
    if (lastOutput.isEmpty()) return fallback;
    const QString last = QDir::cleanPath(lastOutput);
    QString proposal;
    if (lastShards.isEmpty() ? isInsideDirectory(last, here) : QDir::cleanPath(lastShards) == here)
        proposal = last; // the same shards as last time
    else if (!lastShards.isEmpty() && isInsideDirectory(last, lastShards))
        proposal = QDir::cleanPath(here + "/" + QDir(lastShards).relativeFilePath(last));
    else if (!lastShards.isEmpty())
        proposal = QFileInfo(last).path() + "/" + QFileInfo(here).fileName() + "-consolidated";
    else
        return fallback; // an older setting without its shards: unknown whose export it was
    if (proposal == here || !QFileInfo(proposal).dir().exists()) return fallback;
    return proposal;
}

ExportDialog::ExportDialog(std::shared_ptr<const Checkpoint> checkpoint, Mapping mapping,
                           size_t unassigned, QWidget* parent)
    : QDialog(parent), m_checkpoint(std::move(checkpoint)), m_mapping(std::move(mapping)),
      m_unassigned(unassigned), m_dcp(m_checkpoint->format == CheckpointFormat::Dcp) {
    m_mappingIsDefault =
        m_dcp && m_mapping.fileIndex == defaultMapping(*m_checkpoint, false).fileIndex;
    setWindowTitle(m_dcp ? tr("Export consolidated checkpoint (DCP)")
                         : tr("Export consolidated checkpoint"));
    setMinimumWidth(560);
    m_pages = new QStackedWidget(this);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_pages);
    m_pages->addWidget(createSetupPage());
    m_pages->addWidget(createProgressPage());
    m_pages->addWidget(createResultPage());

    connect(&m_worker, &ExportWorker::progress, this, &ExportDialog::onProgress);
    connect(&m_worker, &ExportWorker::finished, this, &ExportDialog::onFinished);
    setOutputDirectory(QString::fromStdString((m_checkpoint->directory / "consolidated").string()));
    m_start->setDefault(true); // only once the button sits inside the dialog does this stick
    replan();
}

QWidget* ExportDialog::createSetupPage() {
    auto* page = new QWidget;
    auto* form = new QFormLayout;
    m_directory = new QLineEdit;
    auto* browseButton = new QPushButton(tr("B&rowse…"));
    browseButton->setAutoDefault(false); // Return means Export, not Browse
    auto* dirRow = new QHBoxLayout;
    dirRow->addWidget(m_directory);
    dirRow->addWidget(browseButton);
    form->addRow(tr("&Output directory:"), dirRow);
    if (auto* label = qobject_cast<QLabel*>(form->labelForField(dirRow)))
        label->setBuddy(m_directory); // Alt+O goes to the directory field
    m_threads = new QSpinBox;
    m_threads->setRange(1, 64);
    m_threads->setValue(std::max(1, QThread::idealThreadCount()));
    form->addRow(tr("&Threads:"), m_threads);
    m_policy = new QComboBox;
    m_policy->addItem(tr("Stop: assign them first"));
    m_policy->addItem(tr("Put them in the last output file"));
    m_policyLabel = new QLabel;
    m_policyLabel->setBuddy(m_policy);
    form->addRow(m_policyLabel, m_policy);
    addCastRows(form); // before the DCP rows: Tab then runs down the form as it reads
    if (m_dcp) addDcpRows(form);
    m_plan = new QLabel;
    m_plan->setWordWrap(true);
    m_plan->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_plan->setObjectName("exportPlan");
    m_plan->setVisible(m_dcp);
    m_ruleProblems = new QLabel;
    m_ruleProblems->setObjectName("ruleProblems");
    m_ruleProblems->setWordWrap(true);
    m_ruleProblems->setStyleSheet("color: #c62828");
    m_ruleProblems->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_setupError = new QLabel;
    m_setupError->setWordWrap(true);
    m_setupError->setStyleSheet("color: #c62828");
    m_setupError->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* pageLayout = new QVBoxLayout(page);
    pageLayout->addLayout(form);
    if (m_dcp) pageLayout->addSpacing(4);
    pageLayout->addWidget(m_plan);
    pageLayout->addWidget(m_ruleProblems);
    pageLayout->addWidget(
        makeNote(tr("The new files are written into a staging folder inside the output directory "
                    "and verified byte for byte against the shards before they replace anything "
                    "there.")));
    pageLayout->addWidget(m_setupError);
    pageLayout->addStretch();
    auto* buttons = new QDialogButtonBox;
    m_start = buttons->addButton(tr("&Export"), QDialogButtonBox::AcceptRole);
    buttons->addButton(QDialogButtonBox::Cancel);
    pageLayout->addWidget(buttons);
    connect(browseButton, &QPushButton::clicked, this, &ExportDialog::browse);
    connect(buttons, &QDialogButtonBox::accepted, this, &ExportDialog::startExport);
    connect(buttons, &QDialogButtonBox::rejected, this, &ExportDialog::reject);
    connect(m_policy, &QComboBox::currentIndexChanged, this, &ExportDialog::replan);
    setTabOrderOfSetupPage(browseButton, m_hfAssetsBrowse);
    return page;
}

// Training state and the HF model folder: what a DCP checkpoint does not carry by itself.
void ExportDialog::addDcpRows(QFormLayout* form) {
    m_includeTraining =
        new QCheckBox(tr("&Include training state (optimizer, scheduler, dataloader, trainer)"));
    m_includeTraining->setObjectName("includeTrainingState");
    m_includeTraining->setToolTip(
        tr("Unchecked, only the model weights are exported, as a Hugging Face model needs"));
    form->addRow(QString(), m_includeTraining);
    m_hfAssets = new QLineEdit;
    m_hfAssets->setObjectName("hfAssets");
    m_hfAssets->setPlaceholderText(tr("Optional: a Hugging Face model folder"));
    m_hfAssets->setClearButtonEnabled(true);
    m_hfAssetsBrowse = new QPushButton(tr("Bro&wse…"));
    m_hfAssetsBrowse->setAutoDefault(false);
    auto* row = new QHBoxLayout;
    row->addWidget(m_hfAssets);
    row->addWidget(m_hfAssetsBrowse);
    m_assetsNote = makeNote({});
    m_assetsNote->setObjectName("hfAssetsNote");
    auto* field = new QVBoxLayout; // the note right under the folder it describes
    field->setSpacing(2);
    field->addLayout(row);
    field->addWidget(m_assetsNote);
    auto* label = new QLabel(tr("&HF assets folder:"));
    label->setBuddy(m_hfAssets);
    form->addRow(label, field);
    connect(m_includeTraining, &QCheckBox::toggled, this, &ExportDialog::replan);
    connect(m_hfAssets, &QLineEdit::textChanged, this, &ExportDialog::showAssets); // no replan
    connect(m_hfAssetsBrowse, &QPushButton::clicked, this, &ExportDialog::browseHfAssets);
}

// The cast: floating tensors in another dtype, some kept as they are, strict about overflow.
void ExportDialog::addCastRows(QFormLayout* form) {
    m_castTo = new QComboBox;
    m_castTo->setObjectName("castTarget");
    m_castTo->addItem(tr("Keep source dtypes"), -1);
    for (DType to : {DType::BF16, DType::F16, DType::F32})
        m_castTo->addItem(QString::fromLatin1(dtypeName(to).data()), int(to));
    m_castTo->setToolTip(tr("Floating tensors (F64, F32, F16, BF16) are written in this dtype; "
                            "integers and FP8 stay as they are"));
    auto* castLabel = new QLabel(tr("&Cast floating tensors to:"));
    castLabel->setBuddy(m_castTo);
    form->addRow(castLabel, m_castTo);
    m_castKeep = new QLineEdit;
    m_castKeep->setObjectName("castKeep");
    m_castKeep->setClearButtonEnabled(true);
    QStringList defaults;
    for (const std::string& pattern : defaultCastKeep())
        defaults << QString::fromStdString(pattern);
    m_castKeep->setPlaceholderText(tr("More patterns, comma-separated"));
    m_castKeep->setToolTip(tr("Tensors whose names match one of these regular expressions keep "
                              "their source dtype. Always kept: %1")
                               .arg(defaults.join(", ")));
    auto* keepLabel = new QLabel(tr("&Keep in source dtype:"));
    keepLabel->setBuddy(m_castKeep);
    form->addRow(keepLabel, m_castKeep);
    m_castStrict = new QCheckBox(tr("&Strict: stop when a value overflows to Inf or a nonzero "
                                    "value becomes zero"));
    form->addRow(QString(), m_castStrict);
    connect(m_castTo, &QComboBox::currentIndexChanged, this, &ExportDialog::castEdited);
    connect(m_castKeep, &QLineEdit::editingFinished, this, &ExportDialog::castEdited);
    connect(m_castStrict, &QCheckBox::toggled, this, &ExportDialog::castEdited);
    m_castKeep->setEnabled(false);
    m_castStrict->setEnabled(false);
}

CastRules ExportDialog::castRules() const {
    CastRules cast = m_rules.cast;
    const int to = m_castTo->currentData().toInt();
    cast.to = to < 0 ? std::nullopt : std::optional<DType>(DType(to));
    cast.keep.clear();
    for (const QString& pattern : m_castKeep->text().split(',', Qt::SkipEmptyParts))
        if (!pattern.trimmed().isEmpty()) cast.keep.push_back(pattern.trimmed().toStdString());
    cast.strict = m_castStrict->isChecked();
    return cast;
}

void ExportDialog::castEdited() {
    const CastRules cast = castRules();
    m_castKeep->setEnabled(cast.to.has_value());
    m_castStrict->setEnabled(cast.to.has_value());
    if (cast == m_rules.cast) return;
    m_rules.cast = cast; // the document hears of it in done(), as one edit
    replan();
}

void ExportDialog::setExportRules(const ExportRules& rules) {
    m_rules = rules;
    const QSignalBlocker a(m_castTo), b(m_castKeep), c(m_castStrict);
    setCastTarget(rules.cast.to);
    QStringList keep;
    for (const std::string& pattern : rules.cast.keep)
        keep << QString::fromStdString(pattern);
    m_castKeep->setText(keep.join(", "));
    m_castStrict->setChecked(rules.cast.strict);
    m_castKeep->setEnabled(rules.cast.to.has_value());
    m_castStrict->setEnabled(rules.cast.to.has_value());
    replan();
}

void ExportDialog::setCastTarget(std::optional<DType> to) {
    m_castTo->setCurrentIndex(std::max(0, m_castTo->findData(to ? int(*to) : -1)));
}

void ExportDialog::setCastKeep(const QString& patterns) {
    m_castKeep->setText(patterns);
    castEdited();
}

void ExportDialog::setCastStrict(bool strict) {
    m_castStrict->setChecked(strict);
}

ExportRules ExportDialog::exportRules() const {
    ExportRules rules = m_rules;
    rules.cast = castRules();
    rules.includeTrainingState = includeTrainingState();
    return rules;
}

bool ExportDialog::hasTransforms() const {
    const ExportRules rules = exportRules();
    return !rules.rename.empty() || !rules.select.empty() || rules.cast.to.has_value() ||
           rules.dropTied;
}

// Throws Error(RuleInvalid) for a rule that does not compile.
ExportSelection ExportDialog::selection() const {
    return selectForExport(*m_checkpoint, exportRules());
}

Plan ExportDialog::currentPlan() const {
    const auto policy =
        m_policy->currentIndex() == 1 ? UnmappedPolicy::LastFile : UnmappedPolicy::Error;
    if (!hasTransforms())
        return makePlan(*m_checkpoint, planMapping(), policy, includeTrainingState());
    try {
        return makePlan(*m_checkpoint, planMapping(), policy, exportRules(), selection());
    } catch (const Error& e) {
        Plan plan;
        plan.problems.push_back({Severity::Error, "", "", e.what(), e.kind()});
        return plan;
    }
}

QString ExportDialog::ruleProblemText() const {
    return m_ruleProblems->text();
}

void ExportDialog::showRuleProblems(const Plan& plan) {
    QStringList lines;
    int more = 0;
    for (const Problem& p : plan.problems) {
        if (!isRuleProblem(p)) continue;
        if (lines.size() < 5)
            lines << QString::fromStdString(p.text());
        else
            ++more;
    }
    if (more) lines << tr("… and %1 more").arg(more);
    if (!lines.isEmpty()) lines.prepend(tr("The export rules stop this export:"));
    m_ruleProblems->setText(lines.join('\n'));
    m_ruleProblems->setVisible(!lines.isEmpty());
}

QString ExportDialog::transformText(const Plan& plan, const ExportSelection& selection) const {
    size_t renamed = 0, cast = 0;
    for (const auto& f : plan.files)
        for (const auto& t : f.tensors) {
            const TensorInfo& source = m_checkpoint->tensors[t.tensor];
            renamed += selection.tensors[t.tensor].name != source.fqn;
            cast += t.dtype != source.dtype;
        }
    QStringList parts;
    if (renamed) parts << tr("renames %1").arg(counted(qint64(renamed), tr("tensor"), tr("tensors")));
    if (cast)
        parts << tr("casts %1 to %2")
                     .arg(counted(qint64(cast), tr("tensor"), tr("tensors")),
                          m_castTo->currentText());
    return parts.isEmpty() ? QString() : tr("It %1.").arg(parts.join(tr(" and ")));
}

void ExportDialog::setTabOrderOfSetupPage(QWidget* browse, QWidget* assetsBrowse) {
    QList<QWidget*> order{m_directory, browse,   m_threads,
                          m_policy,    m_castTo, m_castKeep, m_castStrict};
    if (m_dcp) order << m_includeTraining << m_hfAssets << assetsBrowse;
    order << m_start;
    for (qsizetype i = 0; i + 1 < order.size(); ++i)
        setTabOrder(order[i], order[i + 1]);
}

QWidget* ExportDialog::createProgressPage() {
    auto* page = new QWidget;
    auto* pageLayout = new QVBoxLayout(page);
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
    pageLayout->addWidget(m_phase);
    pageLayout->addWidget(m_file);
    pageLayout->addWidget(m_bar);
    pageLayout->addWidget(m_stats);
    pageLayout->addWidget(makeNote(tr("Nothing in the output directory is replaced until the new "
                                      "files have been verified.")));
    pageLayout->addStretch();
    auto* cancelRow = new QHBoxLayout;
    cancelRow->addStretch();
    cancelRow->addWidget(m_cancel);
    pageLayout->addLayout(cancelRow);
    connect(m_cancel, &QPushButton::clicked, this, &ExportDialog::requestCancel);
    return page;
}

QWidget* ExportDialog::createResultPage() {
    auto* page = new QWidget;
    auto* pageLayout = new QVBoxLayout(page);
    m_summary = new QLabel;
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    pageLayout->addWidget(m_summary);
    pageLayout->addStretch();
    auto* buttons = new QDialogButtonBox;
    m_back = buttons->addButton(tr("Back"), QDialogButtonBox::ActionRole);
    m_openFolder = buttons->addButton(tr("Open folder"), QDialogButtonBox::ActionRole);
    buttons->addButton(QDialogButtonBox::Close);
    m_back->setAutoDefault(false);
    m_openFolder->setAutoDefault(false);
    pageLayout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::accept);
    connect(m_back, &QPushButton::clicked, this, [this] { m_pages->setCurrentIndex(SetupPage); });
    connect(m_openFolder, &QPushButton::clicked, this,
            [this] { QDesktopServices::openUrl(QUrl::fromLocalFile(m_resultDirectory)); });
    return page;
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
QString ExportDialog::phaseText() const {
    return m_phase->text();
}
QString ExportDialog::resultText() const {
    return m_summary->text();
}
bool ExportDialog::isCancelOffered() const {
    return isRunning() && !m_cancel->isHidden() && m_cancel->isEnabled();
}

void ExportDialog::setIncludeTrainingState(bool include) {
    if (m_includeTraining) m_includeTraining->setChecked(include);
}
bool ExportDialog::includeTrainingState() const {
    return m_includeTraining && m_includeTraining->isChecked();
}
void ExportDialog::setHfAssetsDirectory(const QString& directory) {
    if (m_hfAssets) m_hfAssets->setText(directory);
}
QString ExportDialog::hfAssetsDirectory() const {
    return m_hfAssets ? m_hfAssets->text().trimmed() : QString();
}
QString ExportDialog::planText() const {
    return m_plan->text();
}
QString ExportDialog::unassignedLabelText() const {
    return m_policyLabel->isHidden() ? QString() : m_policyLabel->text();
}

QStringList ExportDialog::assetFiles() const {
    QStringList names;
    const QString dir = hfAssetsDirectory();
    if (dir.isEmpty() || !QFileInfo(dir).isDir()) return names;
    for (const auto& file : collectHfAssets(dir.toStdString()).files)
        names << QString::fromStdString(file.filename().string());
    return names;
}

Mapping ExportDialog::planMapping() const {
    if (!includeTrainingState() || !m_mappingIsDefault) return m_mapping;
    Mapping m;
    try { // with rules: files sized as the export writes them, excluded tensors left out
        m = hasTransforms() ? defaultMapping(*m_checkpoint, selection())
                            : defaultMapping(*m_checkpoint, true);
    } catch (const Error&) {
        m = defaultMapping(*m_checkpoint, true); // the rule's error is shown with the plan
    }
    m.source = m_mapping.source;
    return m;
}

size_t ExportDialog::unassignedCount() const {
    if (!includeTrainingState()) return m_unassigned;
    const Mapping m = planMapping();
    if (m.fileIndex.empty()) return 0; // everything in one file
    std::optional<ExportSelection> chosen;
    try {
        if (hasTransforms()) chosen = selection();
    } catch (const Error&) {
    }
    size_t n = 0;
    for (size_t i = 0; i < m_checkpoint->tensors.size(); ++i) {
        const TensorInfo& t = m_checkpoint->tensors[i];
        const bool excluded = chosen && chosen->tensors[i].excluded;
        n += t.status != CoverageStatus::Invalid && !excluded && !m.fileIndex.count(t.fqn);
    }
    return n;
}

std::shared_ptr<const Checkpoint> ExportDialog::exportCheckpoint() const {
    const QString assets = hfAssetsDirectory();
    if (assets.isEmpty()) return m_checkpoint;
    // The engine copies the sidecars that Checkpoint::hfAssetsDir names; the open snapshot
    // stays as scanned, so the export gets a copy of its own.
    auto copy = std::make_shared<Checkpoint>(*m_checkpoint);
    copy->hfAssetsDir = QDir(assets).absolutePath().toStdString();
    return copy;
}

void ExportDialog::replan() {
    const size_t unassigned = unassignedCount();
    m_policyLabel->setText(
        counted(qint64(unassigned), tr("&unassigned tensor:"), tr("&unassigned tensors:")));
    m_policyLabel->setVisible(unassigned > 0);
    m_policy->setVisible(unassigned > 0);
    if (m_dcp) showAssets();
    const bool transforms = hasTransforms();
    m_plan->setVisible(m_dcp || transforms);
    if (!m_dcp && !transforms) {
        m_ruleProblems->clear();
        m_ruleProblems->setVisible(false);
        return;
    }
    const Plan plan = currentPlan();
    showRuleProblems(plan);
    size_t written = 0;
    for (const auto& f : plan.files)
        written += f.tensors.size();
    QString text = tr("Writes %1 (%2) into %3.")
                       .arg(counted(qint64(written), tr("tensor"), tr("tensors")),
                            bytesText(plan.totalTensorBytes),
                            counted(qint64(plan.files.size()), tr("file"), tr("files")));
    if (!plan.excluded.empty()) {
        uint64_t bytes = 0;
        for (const auto& fqn : plan.excluded)
            bytes += m_checkpoint->find(fqn)->bytes;
        const QString what = counted(qint64(plan.excluded.size()), tr("tensor"), tr("tensors"));
        text += " " + (transforms ? tr("Leaves out %1 (%2).").arg(what, bytesText(bytes))
                                  : tr("Leaves out %1 of training state (%2).")
                                        .arg(what, bytesText(bytes)));
    }
    if (transforms) {
        try {
            text += " " + transformText(plan, selection());
        } catch (const Error&) { // shown with the plan's problems
        }
    }
    if (!m_checkpoint->byteItems.empty())
        text += " " + tr("%1 never exported.")
                          .arg(counted(qint64(m_checkpoint->byteItems.size()), tr("byte item is"),
                                       tr("byte items are")));
    m_plan->setText(text);
}

// What the HF assets folder gives: nothing asked, not a folder, or the files to copy.
void ExportDialog::showAssets() {
    const QString dir = hfAssetsDirectory();
    QString note;
    bool bad = false;
    if (dir.isEmpty()) {
        note = tr("Its config.json, generation config, tokenizer files and chat template are "
                  "copied beside the weights.");
    } else if (!QFileInfo(dir).isDir()) {
        note = tr("Not a folder: %1").arg(dir);
        bad = true;
    } else if (const QStringList files = assetFiles(); files.isEmpty()) {
        note = tr("No config or tokenizer files in this folder: nothing is copied.");
        bad = true;
    } else {
        note = tr("Copies %1: %2")
                   .arg(counted(files.size(), tr("file"), tr("files")), files.join(", "));
    }
    m_assetsNote->setText(note);
    m_assetsNote->setStyleSheet(bad ? "color: #c62828" : "color: #5f6368");
}

void ExportDialog::browseHfAssets() {
    const QString start = hfAssetsDirectory().isEmpty()
                              ? QString::fromStdString(m_checkpoint->directory.string())
                              : hfAssetsDirectory();
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Hugging Face model folder (config.json, tokenizer files)"), start);
    if (!dir.isEmpty()) setHfAssetsDirectory(dir);
}

void ExportDialog::browse() {
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("Output directory"), outputDirectory());
    if (!dir.isEmpty()) setOutputDirectory(dir);
}

void ExportDialog::showError(const QString& text) {
    m_setupError->setText(text);
    m_pages->setCurrentIndex(SetupPage);
}

bool ExportDialog::confirmReplace(const QString& directory,
                                  const std::vector<std::string>& existing) {
    QStringList names;
    for (size_t i = 0; i < existing.size() && i < 8; ++i)
        names << QString::fromStdString(existing[i]);
    if (existing.size() > 8) names << tr("… and %1 more").arg(existing.size() - 8);
    const auto answer = QMessageBox::question(
        this, tr("Replace existing output?"),
        tr("%1 already holds output from an earlier run:\n\n%2\n\nReplace it? It stays as it is "
           "until the new files are written and verified.")
            .arg(directory, names.join("\n")),
        QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
    return answer == QMessageBox::Yes;
}

bool ExportDialog::startExport() {
    if (isRunning()) return false;
    m_setupError->clear();
    const QString dir = outputDirectory();
    if (dir.isEmpty()) {
        showError(tr("Choose an output directory."));
        return false;
    }
    const QString assets = hfAssetsDirectory();
    if (!assets.isEmpty() && !QFileInfo(assets).isDir()) {
        showError(tr("The HF assets folder %1 is not a folder.").arg(assets));
        return false;
    }
    ExportRequest request;
    request.checkpoint = exportCheckpoint();
    request.outputDirectory = QDir::cleanPath(QDir(dir).absolutePath());
    request.threads = threads();
    const std::filesystem::path out = request.outputDirectory.toStdString();
    const Checkpoint& ckpt = *request.checkpoint;
    try {
        request.plan = currentPlan(); // the open snapshot's tensors: same indices as `ckpt`
        showRuleProblems(request.plan);
        if (!m_ruleProblems->text().isEmpty()) {
            showError(tr("Fix the export rules first (Edit ▸ Rename Rules…, Include in Export)."));
            return false;
        }
        preflight(ckpt, request.plan, out, true); // everything but existing outputs
        const auto existing = existingOutputs(ckpt, out);
        if (!existing.empty() && !confirmReplace(request.outputDirectory, existing)) return false;
        request.overwrite = !existing.empty();
    } catch (const Error& e) {
        showError(QString::fromStdString(e.what()));
        return false;
    }
    m_resultDirectory = request.outputDirectory;
    m_writtenTensors = 0;
    for (const auto& f : request.plan.files)
        m_writtenTensors += f.tensors.size();
    m_cancelRequested = false;
    m_phaseShown = EnginePhase::Preparing;
    m_pages->setCurrentIndex(ProgressPage);
    m_phase->setText(phaseTitle(EnginePhase::Preparing));
    m_file->clear();
    m_bar->setValue(0);
    m_stats->setText(tr("Starting…"));
    m_cancel->setText(tr("Cancel"));
    m_cancel->setVisible(true);
    m_cancel->setEnabled(true);
    m_cancel->setFocus();
    m_running = true;
    m_startedCast = castRules();
    m_worker.start(std::move(request));
    return true;
}

void ExportDialog::requestCancel() {
    if (!isRunning() || m_phaseShown >= EnginePhase::Publishing) return;
    m_cancelRequested = true;
    m_cancel->setEnabled(false);
    m_cancel->setText(tr("Cancelling…"));
    m_phase->setText(phaseTitle(m_phaseShown));
    m_worker.cancel();
}

QString ExportDialog::phaseTitle(EnginePhase phase) const {
    const QString cancelling = m_cancelRequested ? tr(" · cancelling…") : QString();
    switch (phase) {
    case EnginePhase::Preparing:
        return tr("Preparing the output directory") + cancelling;
    case EnginePhase::Writing:
        return tr("Step 1 of 3 · Writing the new files") + cancelling;
    case EnginePhase::Verifying:
        return tr("Step 2 of 3 · Verifying every byte against the shards") + cancelling;
    case EnginePhase::Publishing:
    case EnginePhase::Done: // past the point of no return: cancel is no longer possible
        return tr("Step 3 of 3 · Publishing… the export completes now");
    }
    return {};
}

void ExportDialog::onProgress(const ExportProgress& p) {
    m_phaseShown = p.phase;
    m_phase->setText(phaseTitle(p.phase));
    if (p.phase >= EnginePhase::Publishing) {
        m_cancel->setVisible(false);
        m_bar->setRange(0, 0); // a few renames: no bytes to count
        m_file->clear();
        m_stats->setText(tr("Moving the verified files into place."));
        return;
    }
    m_bar->setRange(0, 1000);
    const double fraction = p.bytesTotal ? double(p.bytesDone) / double(p.bytesTotal) : 0;
    m_bar->setValue(int(fraction * 1000));
    m_file->setText(p.currentFile);
    const double rate = p.phaseSeconds > 0 ? double(p.bytesDone) / p.phaseSeconds : 0;
    QString eta = tr("estimating…");
    if (rate > 0 && fraction > 0.02)
        eta = tr("about %1 left")
                  .arg(QString::fromStdString(
                      formatSeconds(double(p.bytesTotal - p.bytesDone) / rate)));
    m_stats->setText(
        tr("%1 of %2 · %3/s · %4")
            .arg(bytesText(p.bytesDone), bytesText(p.bytesTotal), bytesText(uint64_t(rate)), eta));
}

QString ExportDialog::successText(const ExportOutcome& outcome) const {
    const EngineResult& r = outcome.result;
    QString text = tr("<b>Export complete.</b><br><br>%1, %2, published in %3 s<br>"
                      "into <tt>%4</tt>")
                       .arg(counted(qint64(r.files.size()), tr("file"), tr("files")))
                       .arg(bytesText(r.bytesWritten))
                       .arg(r.seconds, 0, 'f', 1)
                       .arg(m_resultDirectory.toHtmlEscaped());
    if (!r.sidecars.empty() && m_dcp) {
        QStringList names;
        for (const auto& name : r.sidecars)
            names << QString::fromStdString(name).toHtmlEscaped();
        text +=
            tr("<br>Copied %1: %2")
                .arg(counted(qint64(r.sidecars.size()), tr("file"), tr("files")), names.join(", "));
    } else if (!r.sidecars.empty()) {
        text +=
            tr("<br>%1 copied from .hf_metadata")
                .arg(counted(qint64(r.sidecars.size()), tr("sidecar file"), tr("sidecar files")));
    }
    if (r.verified)
        text += tr("<br><br>All %1 tensors were verified byte for byte before publishing.")
                    .arg(m_writtenTensors);
    if (r.replacedFiles > 0)
        text += tr("<br>It replaced the previous export (%1).")
                    .arg(counted(qint64(r.replacedFiles), tr("file"), tr("files")));
    for (const auto& w : r.warnings)
        text += "<br>" + tr("Warning: %1").arg(QString::fromStdString(w.text()).toHtmlEscaped());
    for (const QString& note : outcome.notes)
        text += "<br>" + tr("Left by an earlier run: %1").arg(note.toHtmlEscaped());
    return text;
}

void ExportDialog::onFinished(const ExportOutcome& outcome) {
    m_running = false;
    m_cancel->setVisible(true);
    QString text;
    if (outcome.ok) {
        m_summary->setTextFormat(Qt::RichText);
        text = successText(outcome);
    } else {
        m_summary->setTextFormat(Qt::PlainText); // the engine's words, verbatim
        text = outcome.cancelled ? tr("Export cancelled. ") + outcome.onDisk
                                 : tr("Export failed: %1\n").arg(outcome.cause) + outcome.onDisk;
        for (const QString& note : outcome.notes)
            text += "\n" + tr("Left by an earlier run: %1").arg(note);
    }
    m_summary->setText(text);
    m_back->setVisible(!outcome.ok);
    m_openFolder->setVisible(QFileInfo(m_resultDirectory).isDir());
    m_pages->setCurrentIndex(ResultPage);
    emit exportFinished(outcome);
}

void ExportDialog::done(int result) {
    if (const auto cast = std::exchange(m_startedCast, std::nullopt)) emit castRulesChanged(*cast);
    QDialog::done(result);
}

void ExportDialog::reject() {
    if (isRunning()) {
        requestCancel(); // the dialog stays until the engine reports what is on disk
        return;
    }
    QDialog::reject();
}

} // namespace shardscope
