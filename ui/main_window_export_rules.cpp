// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// The main window's export rules: Exclude from Export, Include in Export, Rename (in place)
// and the Rename Rules dialog, each an undoable edit of the document's export rules; and the
// export rules files they are saved to and loaded from.

#include "main_window.h"
#include "plural.h"

#include "problems_model.h"
#include "rename_rules_dialog.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"

#include <QAction>
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QSaveFile>
#include <QStatusBar>
#include <QTableView>

namespace shardscope {
namespace {

const char* const kExportRulesFileName = "export_rules.json";

} // namespace

void MainWindow::createExportRuleActions() {
    // Del and Ins act on the table's selection; in a text field they keep their usual meaning.
    m_excludeAction = new QAction(tr("E&xclude from Export"), this);
    m_excludeAction->setShortcut(QKeySequence(Qt::Key_Delete));
    m_excludeAction->setToolTip(tr("Leave the selected tensors out of the export (Del)"));
    connect(m_excludeAction, &QAction::triggered, this, &MainWindow::excludeSelection);
    m_includeAction = new QAction(tr("&Include in Export"), this);
    m_includeAction->setShortcut(QKeySequence(Qt::Key_Insert));
    m_includeAction->setToolTip(tr("Export the selected tensors after all (Ins)"));
    connect(m_includeAction, &QAction::triggered, this, &MainWindow::includeSelection);
    m_renameAction = new QAction(tr("R&ename…"), this);
    m_renameAction->setShortcut(QKeySequence(Qt::Key_F2));
    m_renameAction->setToolTip(tr("Type the name the current tensor is exported under (F2)"));
    connect(m_renameAction, &QAction::triggered, this, &MainWindow::renameCurrent);
    for (QAction* a : {m_excludeAction, m_includeAction, m_renameAction}) {
        a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
        a->setEnabled(false);
    }
    m_renameRulesAction = new QAction(tr("Rena&me Rules…"), this);
    m_renameRulesAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R));
    connect(m_renameRulesAction, &QAction::triggered, this, [this] { showRenameRulesDialog(); });
    // A mapping file names output files only: the rules are saved to a file of their own.
    m_loadRulesAction = new QAction(tr("Load E&xport Rules…"), this);
    m_loadRulesAction->setToolTip(tr("Renames, exclusions and the cast from a JSON file"));
    connect(m_loadRulesAction, &QAction::triggered, this, &MainWindow::loadExportRules);
    m_saveRulesAction = new QAction(tr("Save Export R&ules…"), this);
    m_saveRulesAction->setToolTip(tr("Renames, exclusions and the cast to a JSON file"));
    connect(m_saveRulesAction, &QAction::triggered, this, &MainWindow::saveExportRules);
}

// After the table exists: its keys only work while it (or its editor) has the focus.
void MainWindow::connectExportRules() {
    m_table->addActions({m_excludeAction, m_includeAction, m_renameAction});
    ExportRulesDocument* rules = m_document.exportRules();
    connect(rules, &ExportRulesDocument::selectionChanged, this, [this] {
        updateStatus();
        updateFilterChoices();
        refreshDetailFacts();
        updateExportRuleActions();
    });
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &MainWindow::updateExportRuleActions);
    connect(&m_document, &MappingDocument::targetsChanged, this,
            &MainWindow::updateExportRuleActions);
    connect(&m_document, &MappingDocument::resetDone, this, &MainWindow::updateExportRuleActions);
}

void MainWindow::updateExportRuleActions() {
    bool exportable = false, leftOut = false;
    const auto ckpt = m_document.checkpoint();
    for (size_t t : ckpt ? selectedTensors() : std::vector<size_t>()) {
        if (t >= ckpt->tensors.size()) continue; // the table is still the last checkpoint's
        const bool out = m_tensors->isLeftOut(int(t));
        const bool invalid = ckpt->tensors[t].status == CoverageStatus::Invalid;
        leftOut |= out;
        exportable |= !out && !invalid;
    }
    m_excludeAction->setEnabled(exportable);
    m_includeAction->setEnabled(leftOut);
    const int current = currentTensor();
    m_renameAction->setEnabled(ckpt && current >= 0 && size_t(current) < ckpt->tensors.size() &&
                               ckpt->tensors[size_t(current)].status != CoverageStatus::Invalid);
    m_renameRulesAction->setEnabled(m_document.isOpen());
    m_loadRulesAction->setEnabled(m_document.isOpen());
    m_saveRulesAction->setEnabled(m_document.isOpen());
}

void MainWindow::excludeSelection() {
    std::vector<size_t> tensors;
    for (size_t t : selectedTensors())
        if (!m_tensors->isLeftOut(int(t))) tensors.push_back(t);
    m_document.exportRules()->exclude(tensors);
    reportRuleProblems();
}

void MainWindow::includeSelection() {
    std::vector<size_t> tensors;
    for (size_t t : selectedTensors())
        if (m_tensors->isLeftOut(int(t))) tensors.push_back(t);
    m_document.exportRules()->include(tensors);
    reportRuleProblems();
}

void MainWindow::renameCurrent() {
    const QModelIndex current = m_table->selectionModel()->currentIndex();
    if (!current.isValid()) return;
    const QModelIndex cell = current.siblingAtColumn(TensorTableModel::ExportedNameColumn);
    if (!m_namesFittedRenamed) fitNameColumns(true); // room to type the new name
    m_table->setCurrentIndex(cell);
    m_table->scrollTo(cell);
    m_table->edit(cell);
}

RenameRulesDialog* MainWindow::showRenameRulesDialog() {
    const auto ckpt = m_document.checkpoint();
    if (!ckpt) return nullptr;
    auto* dialog = new RenameRulesDialog(ckpt, m_document.exportRules()->edits(), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        m_document.exportRules()->setRenameRules(dialog->rules()); // one undoable edit
        reportRuleProblems();
    });
    dialog->open();
    return dialog;
}

QString MainWindow::chooseRulesFile(bool save) {
    const QString title = save ? tr("Save export rules") : tr("Load export rules");
    const QString filter = tr("Export rules (*.json);;All files (*)");
    const QString proposed = m_directory + "/" + kExportRulesFileName;
    return save ? QFileDialog::getSaveFileName(this, title, proposed, filter)
                : QFileDialog::getOpenFileName(this, title, m_directory, filter);
}

void MainWindow::saveExportRules() {
    if (!m_document.isOpen()) return;
    const QString file = chooseRulesFile(true);
    if (!file.isEmpty()) saveExportRulesFile(file);
}

void MainWindow::loadExportRules() {
    if (!m_document.isOpen()) return;
    const QString file = chooseRulesFile(false);
    if (!file.isEmpty()) loadExportRulesFile(file);
}

bool MainWindow::saveExportRulesFile(const QString& file) {
    if (!m_document.isOpen()) return false;
    QSaveFile out(file); // written whole or not at all
    const std::string json = exportRulesToJson(m_document.exportRules()->rules()) + "\n";
    if (!out.open(QIODevice::WriteOnly) ||
        out.write(json.data(), qint64(json.size())) != qint64(json.size()) || !out.commit()) {
        showMessage(tr("Cannot save export rules"), tr("%1: %2").arg(file, out.errorString()),
                    true);
        return false;
    }
    m_document.exportRules()->markSaved();
    statusBar()->showMessage(tr("Export rules saved to %1").arg(file), 5000);
    return true;
}

bool MainWindow::loadExportRulesFile(const QString& file) {
    if (!m_document.isOpen()) return false;
    QFile in(file);
    if (in.size() > qint64(kMaxMappingBytes) || !in.open(QIODevice::ReadOnly)) {
        showMessage(tr("Cannot load export rules"),
                    tr("%1: %2").arg(file, in.isOpen() ? tr("too large") : in.errorString()), true);
        return false;
    }
    const QByteArray json = in.readAll();
    try { // the core names the file, and for a syntax error the line and column
        const ExportRules rules = exportRulesFromJson(json.toStdString(), file.toStdString());
        const Renamer check(rules.rename); // a rule that does not compile is refused, not kept
        m_document.exportRules()->load(rules,
                                       tr("Load export rules %1").arg(QFileInfo(file).fileName()));
    } catch (const Error& e) {
        QString text = QString::fromUtf8(e.what());
        if (!text.contains(file)) text = tr("%1: %2").arg(file, text);
        showMessage(tr("Cannot load export rules"), text, true);
        return false;
    }
    reportRuleProblems();
    return true;
}

// A rename or exclusion that breaks the export says so at once; the Problems panel lists all.
void MainWindow::reportRuleProblems() {
    const auto problems = m_document.exportRules()->problems();
    int errors = 0;
    QString first;
    for (const Problem& p : problems)
        if (p.severity == Severity::Error && errors++ == 0)
            first = QString::fromStdString(p.text());
    if (errors == 0) return;
    statusBar()->showMessage(
        (errors == 1 ? tr("1 export rule problem blocks export: %1").arg(first)
                     : tr("%1 export rule problems block export: %2").arg(errors).arg(first)),
        10000);
    m_problemsDock->show();
    m_problemsDock->raise();
}

} // namespace shardscope
