// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <QDialog>

class QLabel;
class QLineEdit;
class QPushButton;

namespace shardscope {

// File ▸ Compare With…: the other checkpoint's folder, typed or chosen, and an optional
// tolerance (as shardscope-cli diff --atol/--rtol). Compare is enabled for an existing folder.
class CompareDialog : public QDialog {
    Q_OBJECT

public:
    CompareDialog(const QString& openDirectory, const QString& proposed, QWidget* parent = nullptr);

    QString directory() const;
    void setDirectory(const QString& directory);
    double atol() const;
    double rtol() const;
    bool hasTolerance() const { return atol() > 0 || rtol() > 0; }
    // The tolerances as typed ("" for none), so that the next comparison can start from them.
    QString atolText() const;
    QString rtolText() const;
    void setTolerances(const QString& atol, const QString& rtol);
    QString problemText() const; // why Compare is disabled, or a note; "" when none
    QPushButton* compareButton() const { return m_compare; }

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    QLineEdit* toleranceEdit(const QString& toolTip);
    void browse();
    void validate();

    QString m_open; // the open checkpoint's folder
    QLineEdit* m_path;
    QLineEdit* m_atol;
    QLineEdit* m_rtol;
    QLabel* m_problem;
    QPushButton* m_compare;
};

} // namespace shardscope
