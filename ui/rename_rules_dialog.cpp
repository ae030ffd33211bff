// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "rename_rules_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

namespace shardscope {
namespace {

enum RuleColumn { KindColumn, PatternColumn, ReplacementColumn };
constexpr int kPreviewRows = 8;
constexpr size_t kShownErrors = 6;

QComboBox* kindCombo(RenameRule::Kind kind) {
    auto* combo = new QComboBox;
    combo->addItem(QObject::tr("Regex"), int(RenameRule::Kind::Regex));
    combo->addItem(QObject::tr("Strip prefix"), int(RenameRule::Kind::StripPrefix));
    combo->addItem(QObject::tr("Exact name"), int(RenameRule::Kind::Exact));
    combo->setCurrentIndex(combo->findData(int(kind)));
    return combo;
}

QString cellText(const QTableWidget* table, int row, int column) {
    const QTableWidgetItem* item = table->item(row, column);
    return item ? item->text() : QString();
}

} // namespace

RenameRulesDialog::RenameRulesDialog(std::shared_ptr<const Checkpoint> checkpoint,
                                     ExportEdits edits, QWidget* parent)
    : QDialog(parent), m_checkpoint(std::move(checkpoint)), m_edits(std::move(edits)) {
    setWindowTitle(tr("Rename Rules"));
    resize(760, 520);
    m_table = new QTableWidget(0, 3);
    m_table->setObjectName("renameRules");
    m_table->setHorizontalHeaderLabels({tr("Kind"), tr("Pattern"), tr("Replacement")});
    m_table->horizontalHeader()->setSectionResizeMode(PatternColumn, QHeaderView::Stretch);
    m_table->horizontalHeader()->setSectionResizeMode(ReplacementColumn, QHeaderView::Stretch);
    m_table->verticalHeader()->setVisible(true); // the rule's place in the order
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_preview = new QTableWidget(0, 2);
    m_preview->setObjectName("renamePreview");
    m_preview->setHorizontalHeaderLabels({tr("Source name"), tr("Exported name")});
    m_preview->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_preview->verticalHeader()->setVisible(false);
    m_preview->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_preview->setTextElideMode(Qt::ElideMiddle);
    m_errors = new QLabel;
    m_errors->setObjectName("renameErrors");
    m_errors->setWordWrap(true);
    m_errors->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_errors->setStyleSheet("color: #c62828");
    auto* note = new QLabel(tr("Rules apply in order, each to the name the one before gave. "
                               "Regex: RE2 syntax, $1 or \\1 in the replacement; found anywhere "
                               "unless anchored with ^ and $. Names typed into the table's "
                               "Exported name column apply after these rules."));
    note->setWordWrap(true);
    note->setStyleSheet("color: #5f6368");
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    m_ok = buttons->button(QDialogButtonBox::Ok);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(note);
    auto* rulesRow = new QHBoxLayout;
    rulesRow->addWidget(m_table, 1);
    rulesRow->addWidget(createButtons());
    layout->addLayout(rulesRow, 3);
    layout->addWidget(new QLabel(tr("Preview (names the rules change):")));
    layout->addWidget(m_preview, 2);
    layout->addWidget(m_errors);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_table, &QTableWidget::cellChanged, this, [this] {
        if (!m_filling) refresh();
    });
    connect(m_table, &QTableWidget::currentCellChanged, this, &RenameRulesDialog::updateButtons);
    setRules(m_edits.rename);
}

QWidget* RenameRulesDialog::createButtons() {
    auto* box = new QWidget;
    auto* column = new QVBoxLayout(box);
    column->setContentsMargins(0, 0, 0, 0);
    auto button = [&](const QString& text, auto slot) {
        auto* b = new QPushButton(text);
        b->setAutoDefault(false); // Return means OK
        connect(b, &QPushButton::clicked, this, slot);
        column->addWidget(b);
        return b;
    };
    button(tr("&Add"), [this] {
        addRow({RenameRule::Kind::Regex, {}, {}});
        m_table->setCurrentCell(m_table->rowCount() - 1, PatternColumn);
        m_table->editItem(m_table->currentItem());
        refresh();
    });
    m_remove = button(tr("&Remove"), [this] { removeCurrent(); });
    m_up = button(tr("Move &Up"), [this] { moveCurrent(-1); });
    m_down = button(tr("Move &Down"), [this] { moveCurrent(+1); });
    column->addSpacing(12);
    button(tr("&Strip wrapper prefixes"), [this] { addWrapperRules(); })
        ->setToolTip(tr("Removes what torch.compile (_orig_mod.), DDP (module.) and FSDP "
                        "(_fsdp_wrapped_module., _checkpoint_wrapped_module.) add to names"));
    button(tr("&Load rules file…"), [this] { browseRulesFile(); })
        ->setToolTip(tr("A JSON list of \"REGEX=>REPLACEMENT\" and {\"strip_prefix\": \"P\"}, "
                        "or an object {\"old name\": \"new name\"}"));
    column->addStretch();
    return box;
}

void RenameRulesDialog::setRules(const std::vector<RenameRule>& rules) {
    m_filling = true;
    m_table->setRowCount(0);
    for (const RenameRule& r : rules)
        addRow(r);
    m_filling = false;
    refresh();
}

void RenameRulesDialog::addRow(const RenameRule& rule) {
    const bool filling = m_filling;
    m_filling = true;
    const int row = m_table->rowCount();
    m_table->insertRow(row);
    QComboBox* combo = kindCombo(rule.kind);
    m_table->setCellWidget(row, KindColumn, combo);
    m_table->setItem(row, PatternColumn, new QTableWidgetItem(QString::fromStdString(rule.pattern)));
    m_table->setItem(row, ReplacementColumn,
                     new QTableWidgetItem(QString::fromStdString(rule.replacement)));
    connect(combo, &QComboBox::currentIndexChanged, this, &RenameRulesDialog::refresh);
    m_filling = filling;
}

std::vector<RenameRule> RenameRulesDialog::rules() const {
    std::vector<RenameRule> out;
    for (int row = 0; row < m_table->rowCount(); ++row) {
        const auto* combo = qobject_cast<const QComboBox*>(m_table->cellWidget(row, KindColumn));
        const auto kind = RenameRule::Kind(combo ? combo->currentData().toInt() : 0);
        const QString pattern = cellText(m_table, row, PatternColumn);
        if (pattern.isEmpty()) continue; // a row just added and not filled in yet
        out.push_back({kind, pattern.toStdString(),
                       cellText(m_table, row, ReplacementColumn).toStdString()});
    }
    return out;
}

void RenameRulesDialog::removeCurrent() {
    const int row = m_table->currentRow();
    if (row < 0) return;
    m_table->removeRow(row);
    refresh();
}

// Rows move by swapping their rules; cell widgets cannot be taken out of a table.
void RenameRulesDialog::moveCurrent(int by) {
    const int row = m_table->currentRow();
    const int to = row + by;
    if (row < 0 || to < 0 || to >= m_table->rowCount()) return;
    std::vector<RenameRule> all;
    for (int r = 0; r < m_table->rowCount(); ++r) {
        const auto* combo = qobject_cast<const QComboBox*>(m_table->cellWidget(r, KindColumn));
        all.push_back({RenameRule::Kind(combo->currentData().toInt()),
                       cellText(m_table, r, PatternColumn).toStdString(),
                       cellText(m_table, r, ReplacementColumn).toStdString()});
    }
    std::swap(all[size_t(row)], all[size_t(to)]);
    setRules(all);
    m_table->setCurrentCell(to, PatternColumn);
}

void RenameRulesDialog::addWrapperRules() {
    m_filling = true;
    for (const RenameRule& r : wrapperRules())
        addRow(r);
    m_filling = false;
    refresh();
}

bool RenameRulesDialog::loadRulesFile(const QString& file) {
    try {
        const auto loaded = loadRenameFile(file.toStdString());
        m_filling = true;
        for (const RenameRule& r : loaded)
            addRow(r);
        m_filling = false;
        refresh();
        return true;
    } catch (const Error& e) {
        m_errors->setText(tr("Cannot load %1: %2").arg(file, QString::fromUtf8(e.what())));
        return false;
    }
}

void RenameRulesDialog::browseRulesFile() {
    const QString file =
        QFileDialog::getOpenFileName(this, tr("Load rename rules"),
                                     QString::fromStdString(m_checkpoint->directory.string()),
                                     tr("Rename rules (*.json);;All files (*)"));
    if (!file.isEmpty()) loadRulesFile(file);
}

void RenameRulesDialog::refresh() {
    updateButtons();
    ExportEdits edits = m_edits;
    edits.rename = rules();
    ExportSelection selection;
    try {
        selection = selectForExport(*m_checkpoint, ExportRulesDocument::compose(*m_checkpoint, edits));
    } catch (const Error& e) {
        m_preview->setRowCount(0);
        m_errors->setText(QString::fromUtf8(e.what()));
        m_ok->setEnabled(false); // a rule that does not compile cannot be applied
        return;
    }
    m_ok->setEnabled(true);
    showPreview(selection);
    QStringList errors;
    size_t shown = 0, more = 0;
    for (const Problem& p : selection.problems) {
        if (p.kind != ErrorKind::NameCollision && p.kind != ErrorKind::RuleInvalid) continue;
        if (shown++ < kShownErrors)
            errors << QString::fromStdString(p.text());
        else
            ++more;
    }
    if (more) errors << tr("… and %1 more").arg(more);
    m_errors->setText(errors.join('\n'));
}

void RenameRulesDialog::showPreview(const ExportSelection& selection) {
    m_preview->setRowCount(0);
    const auto& tensors = m_checkpoint->tensors;
    for (size_t t = 0; t < tensors.size() && m_preview->rowCount() < kPreviewRows; ++t) {
        if (selection.tensors[t].name == tensors[t].fqn) continue;
        const int row = m_preview->rowCount();
        m_preview->insertRow(row);
        m_preview->setItem(row, 0, new QTableWidgetItem(QString::fromStdString(tensors[t].fqn)));
        m_preview->setItem(row, 1,
                           new QTableWidgetItem(QString::fromStdString(selection.tensors[t].name)));
    }
}

QStringList RenameRulesDialog::previewLines() const {
    QStringList lines;
    for (int row = 0; row < m_preview->rowCount(); ++row)
        lines << cellText(m_preview, row, 0) + QStringLiteral(" → ") + cellText(m_preview, row, 1);
    return lines;
}

QString RenameRulesDialog::errorText() const {
    return m_errors->text();
}

void RenameRulesDialog::updateButtons() {
    const int row = m_table->currentRow();
    m_remove->setEnabled(row >= 0);
    m_up->setEnabled(row > 0);
    m_down->setEnabled(row >= 0 && row + 1 < m_table->rowCount());
}

} // namespace shardscope
