// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "value_stats.h"

#include <QColor>
#include <QStringList>
#include <QWidget>

#include <optional>

namespace shardscope {

// A tensor's 64-bin histogram, of its values or of log10|x|, drawn with QPainter: bars scaled to
// the fullest bin, the range's ends under the axis, a bin's range and count as a tooltip.
class HistogramView : public QWidget {
    Q_OBJECT

public:
    enum class Scale { Linear, Log10Abs };

    explicit HistogramView(QWidget* parent = nullptr);

    // Both histograms at once, so switching the scale needs no new read.
    void setHistograms(const Histogram& linear, const Histogram& log);
    // I64/U64: the first integer of each linear bin (64) and the largest, shown in place of
    // the doubles, which round above 2^53. Cleared by setHistograms().
    void setIntegerLabels(const QStringList& binStarts, const QString& max);
    void clear(const QString& placeholder = {}); // no bars, the placeholder centred instead
    void setScale(Scale scale);
    Scale scale() const { return m_scale; }
    // Draw the bars on this range of the scale (wider than the histogram's own) so that two
    // histograms side by side share an axis; cleared by setHistograms() and clear().
    void setAxisRange(Scale scale, double lo, double hi);
    // Bars scaled to this count instead of the fullest bin's (two histograms of as many
    // elements drawn to one scale); 0: the fullest bin's. Cleared by setHistograms().
    void setBarScale(uint64_t linearTop, uint64_t logTop);
    void setCaption(const QString& caption); // above the bars, left: "Here"
    // Zeros have no log10 |x|: the log scale says how many it leaves out.
    void setLogLeftOut(uint64_t zeros);
    void setBarColor(const QColor& color); // default: the palette's highlight

    bool hasHistogram() const { return m_linear.has_value(); }
    const Histogram* shown() const;     // the histogram of the current scale, or nullptr
    int binAt(const QPoint& pos) const; // -1 when not over a bin
    QRectF barRect(int bin) const;      // the whole column of a bin, from the axis up
    QString binText(int bin) const;     // "-0.02 to -0.019: 1,234 elements (0.47%)"
    QString lowLabel() const;           // under the axis, left
    QString highLabel() const;          // and right
    QString leftOutText() const;        // "44,036 zeros not shown" on the log scale
    QStringList axisNames() const;
    QString peakLabel() const; // above, right: the fullest bin's count

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent* event) override;
    bool event(QEvent* event) override; // tooltips
    void mouseMoveEvent(QMouseEvent* event) override;
    void leaveEvent(QEvent* event) override;

private:
    QRect plotRect() const;

    double edge(int i) const;       // the value at the left edge of bin i (i = 64: the right end)
    double xOf(double value) const; // where a value of the scale is drawn
    std::optional<std::pair<double, double>> axis() const; // the shared range of this scale
    bool singleValue() const; // lo == hi: every finite element has one value
    uint64_t total() const;
    uint64_t peak() const;
    void paintBars(QPainter& p) const;
    void paintAxis(QPainter& p) const;
    void paintCaption(QPainter& p) const;
    QFont smallFont() const;
    void describe(); // the accessible description

    std::optional<Histogram> m_linear, m_log;
    std::optional<std::pair<double, double>> m_linearAxis, m_logAxis;
    uint64_t m_barScale[2] = {0, 0}; // linear, log
    QStringList m_intStarts;         // empty unless setIntegerLabels
    QString m_intMax;
    bool integerLabels() const;
    Scale m_scale = Scale::Linear;
    QString m_caption;
    uint64_t m_logLeftOut = 0;
    QString m_placeholder;
    QColor m_barColor;
    int m_hovered = -1;
};

} // namespace shardscope
