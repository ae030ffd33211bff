// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "export_rules_document.h"

#include <QDialog>

#include <memory>

class QLabel;
class QPushButton;
class QTableWidget;

namespace shardscope {

// The ordered rename rules as a table (kind, pattern, replacement) with a live preview of a few
// names before and after and of what the rules would break (invalid expressions, collisions).
// The window applies rules() as one undoable edit when the dialog is accepted.
class RenameRulesDialog : public QDialog {
    Q_OBJECT

public:
    RenameRulesDialog(std::shared_ptr<const Checkpoint> checkpoint, ExportEdits edits,
                      QWidget* parent = nullptr);

    void setRules(const std::vector<RenameRule>& rules);
    std::vector<RenameRule> rules() const;
    QStringList previewLines() const; // "before → after", as shown
    QString errorText() const;        // what the rules would break, "" when nothing
    QTableWidget* rulesTable() { return m_table; }

    // Appends the wrapper prefixes that torch.compile, DDP and FSDP add.
    void addWrapperRules();
    // Appends the rules of a rename file; false (with the reason shown) when it does not parse.
    bool loadRulesFile(const QString& file);

private:
    QWidget* createButtons();
    void addRow(const RenameRule& rule);
    void removeCurrent();
    void moveCurrent(int by);
    void browseRulesFile();
    void refresh(); // preview and errors, after any change
    void showPreview(const ExportSelection& selection);
    void updateButtons();

    std::shared_ptr<const Checkpoint> m_checkpoint;
    ExportEdits m_edits; // the document's, with the rules replaced as edited here
    QTableWidget* m_table;
    QTableWidget* m_preview;
    QLabel* m_errors;
    QPushButton* m_remove = nullptr;
    QPushButton* m_up = nullptr;
    QPushButton* m_down = nullptr;
    QPushButton* m_ok = nullptr;
    bool m_filling = false; // rows being set up: no refresh per cell
};

} // namespace shardscope
