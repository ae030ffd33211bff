// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint_diff.h"
#include "tensor_stats.h"

#include <QWidget>

#include <optional>

class QCheckBox;
class QLabel;
class QPushButton;
class QScrollArea;

namespace shardscope {

class HistogramView;

// What the details pane's Values tab shows for one tensor.
struct ValuesContent {
    QString message;                // instead of statistics: not read yet, no statistics, …
    const TensorStats* a = nullptr; // this checkpoint's side
    bool comparing = false;         // b and diff belong to a comparison
    const TensorStats* b = nullptr; // the compared checkpoint's side
    const TensorDiff* diff = nullptr;
    bool tolerance = false; // the comparison had one: say how many elements it does not cover
    const DifferenceHistograms* difference = nullptr; // how a − b is spread, when read
    QString note;      // under the diff's status: what changed when the values were not compared
    QString otherName; // the compared checkpoint, for the captions
    bool offerRead = false; // under the message, a button that asks for the values (readRequested)
    // The tensor's value findings, whole (the problems panel cuts them to its column).
    struct Finding {
        bool error = false;
        QString message;
    };
    QList<Finding> findings;
};

// A tensor's statistics and histogram, or both sides' with the difference numbers during a
// comparison. Scrolls rather than squeezes when the pane is small.
class ValuesPanel : public QWidget {
    Q_OBJECT

public:
    explicit ValuesPanel(QWidget* parent = nullptr);

    void setContent(const ValuesContent& content); // the pointers are used only during the call
    QString text() const;                          // what is shown, as plain text
    // 0: this checkpoint's, 1: the other's, 2: the difference a − b.
    HistogramView* histogram(int which) const {
        return which == 0 ? m_histA : which == 1 ? m_histB : m_histD;
    }
    QCheckBox* logToggle() const { return m_log; }
    QLabel* statsLabel() const { return m_stats; }
    QPushButton* readButton() const { return m_read; }

signals:
    void readRequested(); // the button of ValuesContent::offerRead

protected:
    void resizeEvent(QResizeEvent* event) override;
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void setStats(const TensorStats* a, const TensorStats* b);
    void showHistogram(HistogramView* view, const TensorStats* stats, const QString& caption);
    void shareAxes(const TensorStats& a, const TensorStats& b);
    void showOnCommonBins(const DifferenceHistograms& d);
    QString diffSummary(const TensorDiff& d, const QString& note, bool tolerance) const;
    // The statistics as the widest layout that fits the pane: two pairs of name and value per
    // row, or one; both sides next to each other, or one above the other.
    QString statsHtml() const;
    bool fits(const QString& html) const;
    QString finiteOnlyNote(const Moments& m) const;
    QString comparedFiniteNote(const Moments* a, const Moments& b) const;

    QLabel* m_summary;
    QCheckBox* m_log;
    QPushButton* m_read;
    QLabel* m_stats;
    HistogramView* m_histA;
    HistogramView* m_histB;
    HistogramView* m_histD;
    QScrollArea* m_scroll = nullptr;
    QWidget* m_viewport = nullptr; // the scroll area's: the width the table must fit
    // Kept to lay the table out again when the width changes.
    std::optional<Moments> m_shownA, m_shownB;
    bool m_otherMissing = false; // comparing, and the other side has no statistics
};

} // namespace shardscope
