// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "compare_dialog.h"

#include <QAbstractItemView>
#include <QCompleter>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleValidator>
#include <QFileDialog>
#include <QFileInfo>
#include <QFileSystemModel>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QItemSelectionModel>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace shardscope {

CompareDialog::CompareDialog(const QString& openDirectory, const QString& proposed, QWidget* parent)
    : QDialog(parent), m_open(QDir::cleanPath(openDirectory)) {
    setWindowTitle(tr("Compare With"));
    m_path = new QLineEdit(proposed);
    m_path->setMinimumWidth(m_path->fontMetrics().averageCharWidth() * 48);
    m_path->setPlaceholderText(tr("Folder or .safetensors file of the other checkpoint"));
    auto* folders = new QFileSystemModel(this);
    folders->setFilter(QDir::AllDirs | QDir::Files | QDir::NoDotAndDotDot);
    folders->setNameFilters({QStringLiteral("*.safetensors")});
    folders->setNameFilterDisables(false); // other files are hidden, not greyed
    folders->setRootPath(QString());
    auto* completer = new QCompleter(folders, this);
    m_path->setCompleter(completer);
    // The popup takes Return for itself; with no proposal chosen in it, Return compares.
    completer->popup()->installEventFilter(this);
    auto* browse = new QPushButton(tr("&Browse…"));
    browse->setAutoDefault(false); // Return means Compare
    auto* pathRow = new QHBoxLayout;
    pathRow->addWidget(m_path, 1);
    pathRow->addWidget(browse);
    m_atol = toleranceEdit(tr("Absolute tolerance: elements with |a − b| ≤ atol + rtol·|b| "
                              "count as within tolerance. 0 with rtol 0: bytes must match."));
    m_rtol = toleranceEdit(tr("Relative tolerance, against the other checkpoint's value |b|"));
    m_problem = new QLabel;
    m_problem->setWordWrap(true);
    // Two lines kept for it whether it has a message or not: a dialog that grew and shrank as
    // the message came and went while a path was typed left the path's completion list on top
    // of the field.
    m_problem->setMinimumHeight(m_problem->fontMetrics().lineSpacing() * 2);
    m_problem->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    m_compare = buttons->button(QDialogButtonBox::Ok);
    m_compare->setText(tr("&Compare"));
    auto* form = new QFormLayout;
    auto* pathLabel = new QLabel(tr("&Other checkpoint:"));
    pathLabel->setBuddy(m_path); // a row with a layout gets no buddy of its own
    form->addRow(pathLabel, pathRow);
    form->addRow(tr("&atol:"), m_atol);
    form->addRow(tr("&rtol:"), m_rtol);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(new QLabel(tr("Compare %1 tensor by tensor with:").arg(m_open)));
    layout->addLayout(form);
    layout->addWidget(m_problem);
    layout->addWidget(buttons);
    connect(browse, &QPushButton::clicked, this, &CompareDialog::browse);
    connect(m_path, &QLineEdit::textChanged, this, &CompareDialog::validate);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    validate();
}

bool CompareDialog::eventFilter(QObject* watched, QEvent* event) {
    auto* popup = m_path->completer() ? m_path->completer()->popup() : nullptr;
    if (watched == popup && event->type() == QEvent::KeyPress) {
        const int key = static_cast<QKeyEvent*>(event)->key();
        if ((key == Qt::Key_Return || key == Qt::Key_Enter) &&
            !popup->selectionModel()->hasSelection()) {
            popup->hide();
            if (m_compare->isEnabled()) accept();
            return true;
        }
    }
    return QDialog::eventFilter(watched, event);
}

QLineEdit* CompareDialog::toleranceEdit(const QString& toolTip) {
    auto* edit = new QLineEdit;
    auto* validator = new QDoubleValidator(0, 1e300, 20, edit);
    validator->setNotation(QDoubleValidator::ScientificNotation);
    edit->setValidator(validator);
    edit->setPlaceholderText(QStringLiteral("0"));
    edit->setToolTip(toolTip);
    edit->setMaximumWidth(edit->fontMetrics().averageCharWidth() * 16);
    return edit;
}

QString CompareDialog::directory() const {
    return QDir::cleanPath(QDir::fromNativeSeparators(m_path->text().trimmed()));
}

void CompareDialog::setDirectory(const QString& directory) {
    m_path->setText(directory);
}

double CompareDialog::atol() const {
    return QLocale().toDouble(m_atol->text());
}

double CompareDialog::rtol() const {
    return QLocale().toDouble(m_rtol->text());
}

void CompareDialog::browse() {
    const QString chosen = QFileDialog::getExistingDirectory(
        this, tr("Folder of the checkpoint to compare with"),
        m_path->text().isEmpty() ? QFileInfo(m_open).path() : m_path->text());
    if (!chosen.isEmpty()) m_path->setText(QDir::toNativeSeparators(chosen));
}

QString CompareDialog::atolText() const {
    return m_atol->text();
}

QString CompareDialog::rtolText() const {
    return m_rtol->text();
}

void CompareDialog::setTolerances(const QString& atol, const QString& rtol) {
    m_atol->setText(atol);
    m_rtol->setText(rtol);
}

QString CompareDialog::problemText() const {
    return m_problem->text();
}

// A checkpoint folder, or one .safetensors file (as shardscope-cli diff takes).
static bool isComparable(const QFileInfo& info) {
    return info.isDir() ||
           (info.isFile() && info.suffix().compare("safetensors", Qt::CaseInsensitive) == 0);
}

void CompareDialog::validate() {
    const QString dir = m_path->text().trimmed();
    QString problem;
    if (dir.isEmpty())
        problem = tr("Type or choose the folder of the checkpoint to compare with.");
    else if (!isComparable(QFileInfo(dir)))
        problem = QFileInfo(dir).isFile()
                      ? tr("%1 is not a folder or a .safetensors file.").arg(dir)
                      : tr("%1 does not exist.").arg(dir);
    else if (QDir(directory()).absolutePath() == QDir(m_open).absolutePath())
        problem = tr("This is the open checkpoint: every tensor will be identical.");
    m_problem->setText(problem);
    m_compare->setEnabled(!dir.isEmpty() && isComparable(QFileInfo(dir)));
}

} // namespace shardscope
