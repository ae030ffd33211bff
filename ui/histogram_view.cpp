// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "histogram_view.h"

#include "plural.h"
#include "value_format.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>

#include <algorithm>
#include <cmath>

namespace shardscope {
namespace {

constexpr int kMargin = 3;

} // namespace

HistogramView::HistogramView(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true); // the bin under the pointer is highlighted
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    setAccessibleName(tr("Histogram"));
}

// What a screen reader says in place of the bars.
void HistogramView::describe() {
    if (total() == 0) {
        setAccessibleDescription(m_placeholder);
        return;
    }
    const QString left = leftOutText();
    setAccessibleDescription(tr("%1 from %2 to %3, %4")
                                 .arg(m_scale == Scale::Log10Abs ? tr("log10 |x|") : tr("values"),
                                      lowLabel(), highLabel(), peakLabel()) +
                             (left.isEmpty() ? QString() : ", " + left));
}

void HistogramView::setLogLeftOut(uint64_t zeros) {
    m_logLeftOut = zeros;
    describe();
    update();
}

QString HistogramView::leftOutText() const {
    return m_scale == Scale::Log10Abs && m_logLeftOut > 0
               ? tr("%1 zeros not shown").arg(QLocale().toString(qulonglong(m_logLeftOut)))
               : QString();
}

// The axis name, longest first: with what the log scale leaves out, then without.
QStringList HistogramView::axisNames() const {
    const QString name = m_scale == Scale::Log10Abs ? tr("log10 |x|") : tr("value");
    const QString left = leftOutText();
    return left.isEmpty() ? QStringList{name} : QStringList{name + " · " + left, left, name};
}

void HistogramView::setHistograms(const Histogram& linear, const Histogram& log) {
    m_linear = linear;
    m_log = log;
    m_linearAxis.reset();
    m_logAxis.reset();
    m_barScale[0] = m_barScale[1] = 0;
    m_intStarts.clear();
    m_intMax.clear();
    m_placeholder.clear();
    m_hovered = -1;
    describe();
    update();
}

void HistogramView::setIntegerLabels(const QStringList& binStarts, const QString& max) {
    if (binStarts.size() != kHistogramBins) return;
    m_intStarts = binStarts;
    m_intMax = max;
    describe();
    update();
}

bool HistogramView::integerLabels() const {
    return m_scale == Scale::Linear && !m_intStarts.isEmpty();
}

void HistogramView::setBarScale(uint64_t linearTop, uint64_t logTop) {
    m_barScale[0] = linearTop;
    m_barScale[1] = logTop;
    update();
}

void HistogramView::setAxisRange(Scale scale, double lo, double hi) {
    if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return;
    (scale == Scale::Linear ? m_linearAxis : m_logAxis) = std::pair{lo, hi};
    m_hovered = -1;
    describe();
    update();
}

std::optional<std::pair<double, double>> HistogramView::axis() const {
    if (integerLabels() || !shown()) return std::nullopt; // exact integer labels: own range
    const auto& range = m_scale == Scale::Linear ? m_linearAxis : m_logAxis;
    if (!range || range->first > shown()->lo || range->second < shown()->hi) return std::nullopt;
    return range;
}

double HistogramView::xOf(double value) const {
    const QRectF plot = QRectF(plotRect()).adjusted(1, 1, 0, 0);
    const auto range = axis();
    const double lo = range ? range->first : shown()->lo, hi = range ? range->second : shown()->hi;
    // In extended range: -1.7e308 .. 1.7e308 spans more than a double holds.
    return double(plot.left() + ((long double)value - lo) / ((long double)hi - lo) * plot.width());
}

void HistogramView::clear(const QString& placeholder) {
    m_linear.reset();
    m_log.reset();
    m_linearAxis.reset();
    m_logAxis.reset();
    m_placeholder = placeholder;
    m_hovered = -1;
    describe();
    update();
}

void HistogramView::setScale(Scale scale) {
    if (scale == m_scale) return;
    m_scale = scale;
    m_hovered = -1;
    describe();
    update();
}

void HistogramView::setCaption(const QString& caption) {
    m_caption = caption;
    update();
}

void HistogramView::setBarColor(const QColor& color) {
    m_barColor = color;
    update();
}

const Histogram* HistogramView::shown() const {
    const auto& h = m_scale == Scale::Linear ? m_linear : m_log;
    return h ? &*h : nullptr;
}

uint64_t HistogramView::total() const {
    uint64_t n = 0;
    if (const Histogram* h = shown())
        for (uint64_t c : h->counts)
            n += c;
    return n;
}

uint64_t HistogramView::peak() const {
    const Histogram* h = shown();
    return h ? *std::max_element(h->counts.begin(), h->counts.end()) : 0;
}

bool HistogramView::singleValue() const {
    const Histogram* h = shown();
    // I64/U64 such as 2^62 and 2^62 + 1 share a double: their integers tell.
    if (integerLabels()) return m_intStarts.front() == m_intMax;
    return h && h->lo == h->hi;
}

double HistogramView::edge(int i) const {
    const Histogram* h = shown();
    return double(h->lo + ((long double)h->hi - h->lo) * i / kHistogramBins);
}

QFont HistogramView::smallFont() const {
    QFont f = font();
    f.setPointSizeF(f.pointSizeF() * 0.85);
    return f;
}

// Caption and scale above, axis labels below, the bars between.
QRect HistogramView::plotRect() const {
    const int line = QFontMetrics(smallFont()).height();
    const int top = kMargin + line + 2;
    const int bottom = height() - kMargin - line - 2;
    return QRect(QPoint(kMargin, top), QPoint(width() - 1 - kMargin, bottom));
}

QRectF HistogramView::barRect(int bin) const {
    const QRectF plot = QRectF(plotRect()).adjusted(1, 1, 0, 0);
    if (singleValue()) { // one bar: there is no range to spread over
        const double w = std::max(3.0, plot.width() / 16);
        const double at = axis() ? xOf(shown()->lo) : plot.center().x();
        return {std::clamp(at - w / 2, plot.left(), plot.right() - w), plot.top(), w,
                plot.height()};
    }
    if (axis()) { // on the shared range: a bin at least a pixel wide
        const double left = xOf(edge(bin)), right = xOf(edge(bin + 1));
        return {left, plot.top(), std::max(1.0, right - left), plot.height()};
    }
    const double w = plot.width() / kHistogramBins;
    return {plot.left() + w * bin, plot.top(), w, plot.height()};
}

int HistogramView::binAt(const QPoint& pos) const {
    if (total() == 0 || !plotRect().contains(pos)) return -1;
    if (singleValue()) return barRect(0).contains(pos) ? 0 : -1;
    if (axis()) {
        for (int b = 0; b < kHistogramBins; ++b)
            if (barRect(b).left() <= pos.x() && pos.x() < barRect(b).right()) return b;
        return -1;
    }
    const QRect plot = plotRect();
    return std::clamp(int(double(pos.x() - plot.left()) * kHistogramBins / plot.width()), 0,
                      kHistogramBins - 1);
}

namespace {

// Significant digits, from `least`, that show a and b to a hundredth of their distance: a narrow
// range such as 999.995 to 1000.005 would otherwise label both ends "1e+03".
int digitsApart(double a, double b, int least) {
    const double apart = std::fabs(b - a), size = std::max(std::fabs(a), std::fabs(b));
    if (!(apart > 0) || !std::isfinite(size / apart)) return least;
    return std::clamp(int(std::ceil(std::log10(size / apart))) + 2, least, 17);
}

} // namespace

QString HistogramView::binText(int bin) const {
    const Histogram* h = shown();
    if (!h || bin < 0 || bin >= kHistogramBins) return {};
    const bool log = m_scale == Scale::Log10Abs;
    auto value = [&](double e) { return log ? std::pow(10.0, e) : e; };
    const int digits = digitsApart(value(edge(bin)), value(edge(bin + 1)), 5);
    auto at = [&](double e) { return valueText(value(e), digits); };
    const uint64_t n = h->counts[size_t(bin)];
    const QString count = counted(qint64(n), tr("element"), tr("elements"));
    const bool integers = integerLabels();
    if (singleValue())
        return log ? tr("All %1 have |x| = %2").arg(count, at(h->lo))
                   : tr("All %1 equal %2").arg(count, integers ? m_intMax : at(h->lo));
    const QString share = QLocale().toString(100.0 * double(n) / double(total()), 'f', 2);
    const QString range =
        integers
            ? tr("%1 to %2")
                  .arg(m_intStarts[bin], bin + 1 < kHistogramBins ? m_intStarts[bin + 1] : m_intMax)
            : tr("%1 to %2").arg(at(edge(bin)), at(edge(bin + 1)));
    return (log ? tr("|x| from %1: %2 (%3%)") : tr("%1: %2 (%3%)")).arg(range, count, share);
}

QString HistogramView::lowLabel() const {
    const Histogram* h = shown();
    if (!h || total() == 0) return {};
    if (integerLabels()) return m_intStarts.front();
    const bool log = m_scale == Scale::Log10Abs;
    const auto range = singleValue() ? std::nullopt : axis();
    const double l = range ? range->first : h->lo, u = range ? range->second : h->hi;
    const double lo = log ? std::pow(10.0, l) : l, hi = log ? std::pow(10.0, u) : u;
    return valueText(lo, digitsApart(lo, hi, 3));
}

QString HistogramView::highLabel() const {
    const Histogram* h = shown();
    if (!h || total() == 0) return {};
    if (integerLabels()) return m_intMax;
    const bool log = m_scale == Scale::Log10Abs;
    const auto range = singleValue() ? std::nullopt : axis();
    const double l = range ? range->first : h->lo, u = range ? range->second : h->hi;
    const double lo = log ? std::pow(10.0, l) : l, hi = log ? std::pow(10.0, u) : u;
    return valueText(hi, digitsApart(lo, hi, 3));
}

QSize HistogramView::sizeHint() const {
    return {280, 120};
}

QSize HistogramView::minimumSizeHint() const {
    const int line = QFontMetrics(smallFont()).height();
    return {100, 2 * line + 56};
}

void HistogramView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    const QRect plot = plotRect();
    p.fillRect(plot, palette().color(QPalette::Base));
    p.setPen(palette().color(QPalette::Mid));
    p.drawRect(plot);
    p.setFont(smallFont());
    paintCaption(p);
    if (total() == 0) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        const QString text = shown() ? (m_scale == Scale::Log10Abs ? tr("No nonzero finite values")
                                                                   : tr("No finite values"))
                                     : m_placeholder;
        p.drawText(plot.adjusted(4, 2, -4, -2), Qt::AlignCenter | Qt::TextWordWrap, text);
        return;
    }
    paintBars(p);
    paintAxis(p);
}

// The caption on the left, the fullest bin's count on the right: the bars' scale.
void HistogramView::paintCaption(QPainter& p) const {
    const QRect line(kMargin, kMargin, width() - 2 * kMargin, plotRect().top() - kMargin - 2);
    const QString peak = peakLabel();
    const int peakWidth = peak.isEmpty() ? 0 : p.fontMetrics().horizontalAdvance(peak) + 8;
    p.setPen(palette().color(QPalette::WindowText));
    p.drawText(line.adjusted(0, 0, -peakWidth, 0), Qt::AlignLeft | Qt::AlignVCenter,
               p.fontMetrics().elidedText(m_caption, Qt::ElideRight, line.width() - peakWidth));
    if (peak.isEmpty() || peakWidth > line.width()) return;
    p.setPen(palette().color(QPalette::PlaceholderText));
    p.drawText(line, Qt::AlignRight | Qt::AlignVCenter, peak);
}

QString HistogramView::peakLabel() const {
    if (total() == 0) return {};
    return tr("fullest bin %1").arg(QLocale().toString(qulonglong(peak())));
}

void HistogramView::paintBars(QPainter& p) const {
    const Histogram& h = *shown();
    const QColor bar = m_barColor.isValid() ? m_barColor : palette().color(QPalette::Highlight);
    const double top = double(std::max(peak(), m_barScale[m_scale == Scale::Linear ? 0 : 1]));
    const int bins = singleValue() ? 1 : kHistogramBins;
    for (int b = 0; b < bins; ++b) {
        const uint64_t n = singleValue() ? total() : h.counts[size_t(b)];
        const QRectF column = barRect(b);
        if (b == m_hovered) p.fillRect(column, palette().color(QPalette::AlternateBase));
        if (n == 0) continue;
        // At least a pixel: a bin with one element among millions still shows.
        const double height = std::max(1.0, std::round(double(n) / top * (column.height() - 2)));
        const double gap = column.width() >= 4 ? 1 : 0;
        const QRectF rect(column.left() + gap / 2, column.bottom() - height, column.width() - gap,
                          height);
        p.fillRect(rect, b == m_hovered ? bar.darker(140) : bar);
    }
}

void HistogramView::paintAxis(QPainter& p) const {
    const QRect plot = plotRect();
    const QRect labels(plot.left(), plot.bottom() + 2, plot.width(), height() - plot.bottom() - 2);
    p.setPen(palette().color(QPalette::WindowText));
    const QFontMetrics fm = p.fontMetrics();
    if (singleValue()) { // the value under its bar
        const QString value = lowLabel();
        const double w = fm.horizontalAdvance(value) + 4;
        const double centre = barRect(0).center().x();
        const double left = std::clamp(centre - w / 2, double(labels.left()),
                                       std::max(double(labels.left()), labels.right() - w));
        p.drawText(QRectF(left, labels.top(), w, labels.height()), Qt::AlignHCenter | Qt::AlignTop,
                   value);
        return;
    }
    const QString low = lowLabel(), high = highLabel();
    p.drawText(labels, Qt::AlignLeft | Qt::AlignTop, low);
    p.drawText(labels, Qt::AlignRight | Qt::AlignTop, high);
    // The scale's name between the ends, where it fits; on the log scale with the zeros it
    // leaves out (a tensor of 44,036 zeros showed only its other values).
    const int room =
        labels.width() - 2 * std::max(fm.horizontalAdvance(low), fm.horizontalAdvance(high));
    for (const QString& name : axisNames()) {
        if (fm.horizontalAdvance(name) + 16 >= room) continue;
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(labels, Qt::AlignHCenter | Qt::AlignTop, name);
        break;
    }
}

bool HistogramView::event(QEvent* event) {
    if (event->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(event);
        const int bin = binAt(help->pos());
        if (bin < 0) {
            QToolTip::hideText();
            event->ignore();
        } else {
            QToolTip::showText(help->globalPos(), binText(bin), this, barRect(bin).toRect());
        }
        return true;
    }
    return QWidget::event(event);
}

void HistogramView::mouseMoveEvent(QMouseEvent* event) {
    const int bin = binAt(event->position().toPoint());
    if (bin != m_hovered) {
        m_hovered = bin;
        update();
    }
    QWidget::mouseMoveEvent(event);
}

void HistogramView::leaveEvent(QEvent* event) {
    if (m_hovered >= 0) {
        m_hovered = -1;
        update();
    }
    QWidget::leaveEvent(event);
}

} // namespace shardscope
