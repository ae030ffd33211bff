// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// The main window's Check Values and Compare With: actions, progress, columns, details.

#include "main_window.h"
#include "plural.h"

#include "compare_dialog.h"
#include "format_units.h"
#include "problems_model.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"
#include "value_format.h"
#include "value_icons.h"
#include "values_panel.h"

#include <QAction>
#include <QCheckBox>
#include <QDir>
#include <QDockWidget>
#include <QLabel>
#include <QProgressBar>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>

#include <map>

namespace shardscope {
namespace {

QString bytesText(quint64 bytes) {
    return QString::fromStdString(formatBytes(bytes));
}

// "about 12s left" once a phase has run long enough for its rate to mean something.
QString timeLeft(const JobProgress& p) {
    if (!p.bytes || p.total == 0 || p.phaseSeconds < 1) return {};
    const double fraction = double(p.done) / double(p.total);
    const double rate = double(p.done) / p.phaseSeconds;
    if (fraction < 0.02 || rate <= 0) return {};
    return QObject::tr("about %1 left")
        .arg(QString::fromStdString(formatSeconds(double(p.total - p.done) / rate)));
}

// "45 identical, 1 differs, 2 only in the other"; tensors only there are no rows of the table.
QString comparisonCounts(const Comparison& c) {
    std::map<DiffStatus, qint64> counts;
    for (const TensorDiff& d : c.report->tensors)
        ++counts[d.status];
    QStringList parts;
    for (const auto& [status, n] : counts) {
        const QString number = QLocale().toString(n);
        switch (status) { // phrases that read after a count: "5 differ", not "5 differs"
        case DiffStatus::OnlyInB:
            parts << QObject::tr("%1 only in the other").arg(number);
            break;
        case DiffStatus::Differs:
            parts << (n == 1 ? QObject::tr("1 differs") : QObject::tr("%1 differ").arg(number));
            break;
        case DiffStatus::DtypeChanged:
            parts << QObject::tr("%1 with another dtype").arg(number);
            break;
        case DiffStatus::ShapeChanged:
            parts << QObject::tr("%1 with another shape").arg(number);
            break;
        default:
            parts << QObject::tr("%1 %2").arg(number, diffStatusText(status).toLower());
        }
    }
    return parts.join(QStringLiteral(", "));
}

size_t computedCount(const CheckpointStats& stats) {
    size_t n = 0;
    for (const TensorStats& t : stats.tensors)
        n += t.computed;
    return n;
}

} // namespace

void MainWindow::createValueActions() {
    m_checkValuesAction = new QAction(checkValuesIcon(palette()), tr("Check &Values"), this);
    m_checkValuesAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_K));
    m_checkValuesAction->setToolTip(
        tr("Read every tensor's values: statistics, histograms, and findings such as NaN, Inf, "
           "all-zero tensors or chunks (Ctrl+K)"));
    connect(m_checkValuesAction, &QAction::triggered, this, &MainWindow::checkValues);
    m_compareAction = new QAction(compareIcon(palette()), tr("Co&mpare With…"), this);
    m_compareAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_K));
    m_compareAction->setToolTip(tr("Compare this checkpoint tensor by tensor with another one "
                                   "(Ctrl+Shift+K)"));
    connect(m_compareAction, &QAction::triggered, this, &MainWindow::openCompareDialog);
    m_clearComparisonAction = new QAction(tr("&Clear Comparison"), this);
    connect(m_clearComparisonAction, &QAction::triggered, &m_values,
            &ValueSession::clearComparison);
    m_differsOnlyAction = new QAction(tr("Show &Differing Tensors Only"), this);
    m_differsOnlyAction->setCheckable(true);
    m_differsOnlyAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_D));
    for (QAction* a :
         {m_checkValuesAction, m_compareAction, m_clearComparisonAction, m_differsOnlyAction})
        a->setEnabled(false); // until a checkpoint is open (updateStatus)
}

QWidget* MainWindow::createDetailTabs(QWidget* coverage) {
    m_detailTabs = new QTabWidget;
    m_detailTabs->setObjectName("detailTabs");
    m_detailTabs->setDocumentMode(true);
    m_valuesPanel = new ValuesPanel;
    m_valuesPanel->setObjectName("valuesPanel");
    m_detailTabs->addTab(coverage, tr("Coverage"));
    m_detailTabs->addTab(m_valuesPanel, tr("Values"));
    m_detailTabs->setTabToolTip(1, tr("Statistics and histogram of the tensor's values, after "
                                      "Check Values (Ctrl+K) or during a comparison"));
    return m_detailTabs;
}

QLabel* MainWindow::createComparisonBanner() {
    m_comparisonBanner = new QLabel;
    m_comparisonBanner->setObjectName("comparisonBanner");
    m_comparisonBanner->setWordWrap(true);
    m_comparisonBanner->setContentsMargins(6, 2, 6, 2);
    m_comparisonBanner->setVisible(false);
    connect(m_comparisonBanner, &QLabel::linkActivated, &m_values, &ValueSession::clearComparison);
    return m_comparisonBanner;
}

void MainWindow::connectValueSession() {
    connect(&m_values, &ValueSession::progress, this, &MainWindow::showValueProgress);
    connect(&m_values, &ValueSession::checkFinished, this, &MainWindow::onValueCheckFinished);
    connect(&m_values, &ValueSession::comparisonChanged, this, &MainWindow::onComparisonChanged);
    connect(&m_values, &ValueSession::failed, this,
            [this](const QString& title, const QString& message) {
                endValueTask();
                showMessage(title, message, true);
            });
    connect(&m_values, &ValueSession::pairReady, this, [this](int tensor) {
        endValueTask();
        if (tensor == m_detailTensor) showTensorValues(tensor);
    });
    connect(m_valuesPanel, &ValuesPanel::readRequested, this, [this] {
        if (m_detailTensor < 0 || !m_values.requestPair(m_detailTensor, true)) return;
        showPairTask();
        showTensorValues(m_detailTensor);
    });
    connect(&m_values, &ValueSession::pairProgress, this, [this](const JobProgress& p) {
        if (!m_scan.isRunning() && m_values.running() == ValueSession::Task::None)
            showValueProgress(p);
    });
    connect(m_differsOnlyAction, &QAction::toggled, m_differsOnly, &QCheckBox::setChecked);
    connect(m_differsOnly, &QCheckBox::toggled, m_differsOnlyAction, &QAction::setChecked);
}

// Whether a value check or comparison can start now; if not, the status bar says why.
bool MainWindow::canStartValueTask() {
    if (!m_document.isOpen()) return false;
    QString busy;
    if (m_scan.isRunning())
        busy = tr("A checkpoint is being scanned (Esc cancels it)");
    else if (m_values.running() != ValueSession::Task::None)
        busy = tr("A value check or comparison is running (Esc cancels it)");
    if (!busy.isEmpty()) statusBar()->showMessage(busy, 4000);
    return busy.isEmpty();
}

void MainWindow::checkValues() {
    if (!canStartValueTask()) return;
    startValueTask(tr("Reading the values of %1").arg(m_directory), tr("Cancel Value Check"));
    m_values.startCheck();
}

void MainWindow::openCompareDialog() {
    // Refused before the folder is typed, not after: the status bar says what runs.
    if (!canStartValueTask()) return;
    auto* dialog = new CompareDialog(m_directory, m_lastCompareDirectory, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    QSettings settings;
    dialog->setTolerances(settings.value("compare/atol").toString(),
                          settings.value("compare/rtol").toString());
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        QSettings s; // the next comparison starts from the same tolerances
        s.setValue("compare/atol", dialog->atolText());
        s.setValue("compare/rtol", dialog->rtolText());
        compareWith(dialog->directory(), dialog->atol(), dialog->rtol());
    });
    dialog->open();
}

void MainWindow::compareWith(const QString& directory, double atol, double rtol) {
    if (!canStartValueTask()) return;
    m_lastCompareDirectory = QDir::cleanPath(QDir(directory).absolutePath());
    QSettings().setValue("compare/lastDirectory", m_lastCompareDirectory);
    startValueTask(tr("Comparing with %1").arg(m_lastCompareDirectory), tr("Cancel Comparison"));
    m_values.startCompare({nullptr, m_lastCompareDirectory, atol, rtol, atol > 0 || rtol > 0});
}

void MainWindow::startValueTask(const QString& text, const QString& cancelText) {
    m_valueTaskText = text;
    m_cancelScanAction->setText(cancelText);
    m_cancelScanAction->setEnabled(true);
    m_scanProgress->reset(); // not the last task's 100% until the first report
    m_scanProgress->setRange(0, 0);
    m_scanProgress->setFormat("%p%");
    m_scanProgress->setVisible(true);
    m_statusLabel->setText(text + QStringLiteral("…"));
}

// A compared tensor's values being read for the Values tab, which can take a while for a
// large tensor: the progress bar and Esc are its own unless a scan, check or comparison has them.
void MainWindow::showPairTask() {
    const int tensor = m_values.pairBeingRead();
    if (tensor < 0 || m_scan.isRunning() || m_values.running() != ValueSession::Task::None) return;
    const QString name =
        QString::fromStdString(m_document.checkpoint()->tensors[size_t(tensor)].fqn);
    startValueTask(tr("Reading %1 in both checkpoints").arg(name), tr("Cancel Reading"));
}

// The progress UI goes once nothing runs any more (a scan may have taken it over), or passes
// to a tensor read that is still running.
void MainWindow::endValueTask() {
    if (m_scan.isRunning() || m_values.running() != ValueSession::Task::None) return;
    if (m_values.pairBeingRead() >= 0) {
        showPairTask();
        return;
    }
    m_scanProgress->setVisible(false);
    m_cancelScanAction->setEnabled(false);
    m_cancelScanAction->setText(tr("Cancel Scan"));
    updateStatus();
}

void MainWindow::showValueProgress(const JobProgress& p) {
    if (p.total == 0) { // a phase that cannot know its total: busy, and what it has read
        m_scanProgress->setRange(0, 0);
        m_scanProgress->setFormat(p.phase);
        m_statusLabel->setText(tr("%1 · %2: %3 read")
                                   .arg(m_valueTaskText, p.phase,
                                        p.bytes ? bytesText(p.done) : QString::number(p.done)));
        return;
    }
    m_scanProgress->setRange(0, 1000);
    m_scanProgress->setValue(int(1000.0 * double(p.done) / double(p.total)));
    m_scanProgress->setFormat(p.phase + " %p%");
    const QString count = p.bytes ? tr("%1 of %2").arg(bytesText(p.done), bytesText(p.total))
                                  : tr("%1 of %2").arg(p.done).arg(p.total);
    QString text = tr("%1 · %2: %3").arg(m_valueTaskText, p.phase, count);
    if (const QString left = timeLeft(p); !left.isEmpty()) text += " · " + left;
    m_statusLabel->setText(text);
}

void MainWindow::cancelRunning() {
    if (m_scan.isRunning()) {
        m_scan.cancel(); // its result is never delivered: the open checkpoint stays
        m_scanProgress->setVisible(false);
        m_cancelScanAction->setEnabled(false);
        updateStatus();
        statusBar()->showMessage(tr("Scan cancelled"), 4000);
        return;
    }
    const ValueSession::Task task = m_values.cancel(); // nothing of it is kept
    if (task == ValueSession::Task::None) {
        if (!m_values.cancelPair()) return;
        endValueTask();
        statusBar()->showMessage(tr("Reading cancelled"), 4000);
        if (m_detailTensor >= 0) showTensorValues(m_detailTensor);
        return;
    }
    endValueTask();
    statusBar()->showMessage(task == ValueSession::Task::Check ? tr("Value check cancelled")
                                                               : tr("Comparison cancelled"),
                             4000);
}

void MainWindow::onValueCheckFinished() {
    endValueTask();
    const auto check = m_values.valueCheck();
    m_tensors->setValueCheck(check);
    m_problems->setValueFindings(check->checkpoint, check->findings);
    showValueColumns();
    updateStatus();
    m_detailTabs->setCurrentWidget(m_valuesPanel);
    if (m_detailTensor >= 0) showTensorValues(m_detailTensor);
    if (!check->findings.empty()) {
        m_problemsDock->show();
        m_problemsDock->raise();
    }
    const qint64 findings = qint64(check->findings.size());
    // Bytes read, which count a second read of tensors whose histograms needed one.
    uint64_t values = 0;
    for (size_t t = 0; t < check->stats->tensors.size(); ++t)
        if (check->stats->tensors[t].computed)
            for (const Chunk& c : check->checkpoint->tensors[t].chunks)
                values += c.bytes(); // replicas are read too, for a NaN in one copy
    const QString read = check->stats->bytesRead > values
                             ? tr("%1 read, some twice to bin their histograms exactly")
                                   .arg(bytesText(check->stats->bytesRead))
                             : bytesText(check->stats->bytesRead);
    statusBar()->showMessage(
        tr("Read the values of %1 (%2) in %3 s: %4")
            .arg(counted(qint64(computedCount(*check->stats)), tr("tensor"), tr("tensors")), read)
            .arg(check->seconds, 0, 'f', 2)
            .arg(findings ? counted(findings, tr("finding"), tr("findings")) : tr("no findings")),
        8000);
}

void MainWindow::onComparisonChanged() {
    endValueTask();
    const auto comparison = m_values.comparison();
    m_tensors->setComparison(comparison);
    if (!comparison) m_differsOnly->setChecked(false);
    m_differsOnly->setVisible(comparison != nullptr);
    showValueColumns();
    updateComparisonBanner();
    applyFilters();
    updateStatus();
    if (m_detailTensor >= 0) showTensorValues(m_detailTensor);
    if (!comparison) {
        // Opening another checkpoint ends a comparison too; the status then says what opened.
        if (!m_openingCheckpoint) statusBar()->showMessage(tr("Comparison cleared"), 4000);
        return;
    }
    m_detailTabs->setCurrentWidget(m_valuesPanel);
    statusBar()->showMessage(tr("Compared with %1 in %2 s: %3")
                                 .arg(comparison->directory)
                                 .arg(comparison->seconds, 0, 'f', 2)
                                 .arg(comparisonCounts(*comparison)),
                             8000);
}

void MainWindow::showValueColumns() {
    for (int c = 0; c < TensorTableModel::ColumnCount; ++c) {
        bool shown = true;
        if (c >= TensorTableModel::MaxAbsColumn && c <= TensorTableModel::NonFiniteColumn)
            shown = m_tensors->hasValueCheck();
        else if (c >= TensorTableModel::DiffColumn && c <= TensorTableModel::CosineColumn)
            shown = m_tensors->hasComparison();
        else
            continue;
        m_table->setColumnHidden(c, !shown);
        // Numbers whole: the table elides in the middle (for names), which would turn
        // -0.000127673 into "-0.0…7673", another number.
        if (shown) m_table->resizeColumnToContents(c);
    }
}

void MainWindow::updateComparisonBanner() {
    const auto comparison = m_values.comparison();
    m_comparisonBanner->setVisible(comparison != nullptr);
    if (!comparison) return;
    const QString within = comparison->tolerance
                               ? tr(" within atol %1, rtol %2")
                                     .arg(QString::number(comparison->tolerance->first, 'g', 6),
                                          QString::number(comparison->tolerance->second, 'g', 6))
                               : QString();
    QStringList onlyThere;
    for (const TensorDiff& d : comparison->report->tensors)
        if (d.status == DiffStatus::OnlyInB) onlyThere << QString::fromStdString(d.name);
    // They have no row in the table: the first ones are named here, the tooltip lists more.
    QString named;
    if (!onlyThere.isEmpty()) {
        constexpr qsizetype kNamed = 3;
        named = tr(" (only there: %1)")
                    .arg(onlyThere.size() <= kNamed
                             ? onlyThere.join(tr(", "))
                             : tr("%1 and %2 more")
                                   .arg(QStringList(onlyThere.mid(0, kNamed)).join(tr(", ")))
                                   .arg(onlyThere.size() - kNamed));
    }
    m_comparisonBanner->setText(tr("Compared with <b>%1</b>%2: %3%4 · <a href=\"clear\">Clear</a>")
                                    .arg(comparison->directory.toHtmlEscaped(),
                                         within.toHtmlEscaped(), comparisonCounts(*comparison),
                                         named.toHtmlEscaped()));
    QString tip = tr("The table lists this checkpoint's tensors; the diff columns say how each "
                     "compares.");
    if (!onlyThere.isEmpty())
        tip += "\n\n" + tr("Only in the other checkpoint:") + "\n" +
               QStringList(onlyThere.mid(0, 20)).join('\n') +
               (onlyThere.size() > 20 ? "\n" + tr("and %1 more").arg(onlyThere.size() - 20)
                                      : QString());
    m_comparisonBanner->setToolTip(tip);
}

// The Values tab: what is known about the tensor's values, reading both sides of a compared
// tensor when they are not known yet.
void MainWindow::showTensorValues(int tensor) {
    const TensorInfo& t = m_document.checkpoint()->tensors[size_t(tensor)];
    ValuesContent content;
    content.a = m_values.statsA(tensor);
    if (const auto check = m_values.valueCheck())
        for (const Problem& p : check->findings)
            if (p.tensor == t.fqn)
                content.findings.push_back(
                    {p.severity == Severity::Error, QString::fromStdString(p.message)});
    if (const auto comparison = m_values.comparison()) {
        content.comparing = true;
        content.diff = comparison->diffOf(size_t(tensor));
        content.tolerance = comparison->tolerance.has_value();
        if (content.diff && !content.diff->compared) // the layout or coverage says why
            content.note = m_tensors->index(tensor, TensorTableModel::DiffColumn)
                               .data(Qt::ToolTipRole)
                               .toString();
        content.otherName = comparison->directory;
        const TensorPairStats* pair = m_values.pair(tensor);
        if (pair) {
            content.b = pair->b ? &*pair->b : nullptr;
            content.difference = pair->difference ? &*pair->difference : nullptr;
        } else if (const QString error = m_values.pairError(tensor); !error.isEmpty()) {
            content.message = tr("Cannot read the values: %1").arg(error);
        } else if (m_values.wasPairCancelled(tensor)) {
            content.message = tr("Reading cancelled.");
            content.offerRead = true;
        } else {
            if (m_values.requestPair(tensor)) showPairTask();
            content.message = tr("Reading the tensor's values in both checkpoints…");
        }
        if (pair && !content.a && !content.b)
            content.message =
                tr("No statistics on either side (%1).")
                    .arg(hasValueStats(t.dtype) ? tr("not read") : dtypeName(t.dtype).data());
    } else if (!m_values.valueCheck()) {
        content.message = tr("Values not read yet. Check Values (Ctrl+K) reads every tensor: "
                             "statistics, a histogram, and findings such as NaN, Inf or an "
                             "all-zero chunk.");
    } else if (!content.a) {
        content.message = m_tensors->index(tensor, TensorTableModel::MaxAbsColumn)
                              .data(Qt::ToolTipRole)
                              .toString();
    }
    m_valuesPanel->setContent(content);
}

QString MainWindow::valueStatusText() const {
    const auto check = m_values.valueCheck();
    if (!check || !m_tensors->hasValueCheck()) return {};
    const qint64 findings = qint64(check->findings.size());
    return findings
               ? tr(" · values checked: %1").arg(counted(findings, tr("finding"), tr("findings")))
               : tr(" · values checked: no findings");
}

} // namespace shardscope
