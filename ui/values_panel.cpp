// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "values_panel.h"

#include "histogram_view.h"
#include "value_format.h"

#include <QCheckBox>
#include <QLabel>
#include <QPushButton>
#include <QResizeEvent>
#include <QScrollArea>
#include <QTextDocument>
#include <QVBoxLayout>

#include <algorithm>
#include <cstdio>
#include <functional>

namespace shardscope {
namespace {

struct StatRow {
    const char* name;
    std::function<QString(const Moments&)> value;
};

QString count(uint64_t n) {
    return QLocale().toString(qulonglong(n));
}

QString real(double v) {
    return valueText(v, 6, QStringLiteral("–"));
}

// Digits enough to tell min, max and mean apart to a hundredth of the range: values packed
// near 1000 (999.995 to 1000.005) would all read "1,000" at six.
int spreadDigits(const Moments& m) {
    const double range = m.max - m.min, size = std::max(std::fabs(m.min), std::fabs(m.max));
    if (!(range > 0) || !std::isfinite(size / range)) return 6;
    return std::clamp(int(std::ceil(std::log10(size / range))) + 2, 6, 17);
}

QString spread(const Moments& m, double v) {
    return valueText(v, spreadDigits(m), QStringLiteral("–"));
}

// An I64/U64 extreme as its exact integer (the double rounds above 2^53).
QString extreme(const Moments& m, double v, Extreme which) {
    if (const auto exact = exactIntegerText(m, which)) return QString::fromStdString(*exact);
    return spread(m, v);
}

// The statistics in the order the details list them.
const std::vector<StatRow>& statRows() {
    static const std::vector<StatRow> rows{
        {QT_TR_NOOP("Elements"), [](const Moments& m) { return count(m.count); }},
        {QT_TR_NOOP("Min"), [](const Moments& m) { return extreme(m, m.min, Extreme::Min); }},
        {QT_TR_NOOP("Max"), [](const Moments& m) { return extreme(m, m.max, Extreme::Max); }},
        {QT_TR_NOOP("Mean"), [](const Moments& m) { return spread(m, m.mean()); }},
        {QT_TR_NOOP("Std"), [](const Moments& m) { return real(m.stddev()); }},
        {QT_TR_NOOP("L2"),
         [](const Moments& m) {
             const long double wide = m.l2Extended(); // past double's range for some F64
             if (std::isfinite(m.l2()) || !std::isfinite(wide)) return real(m.l2());
             char text[48]; // not QString::asprintf: it narrows long double to double
             std::snprintf(text, sizeof text, "%.6Lg", wide);
             return QString::fromLatin1(text);
         }},
        {QT_TR_NOOP("max |x|"),
         [](const Moments& m) {
             return m.finite() ? extreme(m, m.maxAbs, Extreme::MaxAbs) : QStringLiteral("–");
         }},
        {QT_TR_NOOP("NaN"), [](const Moments& m) { return count(m.nan); }},
        {QT_TR_NOOP("+Inf"), [](const Moments& m) { return count(m.posInf); }},
        {QT_TR_NOOP("−Inf"), [](const Moments& m) { return count(m.negInf); }},
        {QT_TR_NOOP("Zeros"), [](const Moments& m) { return count(m.zeros); }},
        {QT_TR_NOOP("Subnormals"), [](const Moments& m) { return count(m.subnormals); }},
    };
    return rows;
}

QString cell(const QString& text, bool name, const QString& style = {}) {
    return QStringLiteral("<td align=%1 style='padding:0 6px 0 0;%2'>%3</td>")
        .arg(name ? "left" : "right", style, text.toHtmlEscaped());
}

QString nameCell(const char* name, const QColor& color) {
    return cell(ValuesPanel::tr(name), true, QStringLiteral("color:%1").arg(color.name()));
}

// The numbers a reader looks for first, above the histogram: in a short pane the table under
// it is out of view. Non-finite counts only when there are some.
QString keyNumbers(const Moments& m) {
    if (m.count == 0) return ValuesPanel::tr("No elements");
    QString text =
        ValuesPanel::tr("Mean %1 · Std %2 · max |x| %3")
            .arg(spread(m, m.mean()), real(m.stddev()),
                 m.finite() ? extreme(m, m.maxAbs, Extreme::MaxAbs) : QStringLiteral("–"));
    if (m.nan) text += " · " + ValuesPanel::tr("%1 NaN").arg(count(m.nan));
    if (m.posInf) text += " · " + ValuesPanel::tr("%1 +Inf").arg(count(m.posInf));
    if (m.negInf) text += " · " + ValuesPanel::tr("%1 −Inf").arg(count(m.negInf));
    return text; // plain: the label shows it as such
}

// Both sides: name, here, other, or (`stacked`) here's rows above other's; a value that
// differs from the other side's is bold.
QString comparedTable(const Moments* a, const Moments& b, bool stacked, const QColor& names) {
    const auto& rows = statRows();
    auto heading = [](const QString& text) { return cell(text, false, "font-weight:bold"); };
    QString html = QStringLiteral("<table cellspacing=0 cellpadding=0>");
    if (!stacked)
        html += "<tr><td></td>" + heading(ValuesPanel::tr("here")) +
                heading(ValuesPanel::tr("other")) + "</tr>";
    for (int side = 0; side < (stacked ? 2 : 1); ++side) {
        if (stacked)
            html += "<tr><td></td>" +
                    heading(side ? ValuesPanel::tr("other") : ValuesPanel::tr("here")) + "</tr>";
        for (const StatRow& row : rows) {
            const QString x = a ? row.value(*a) : QStringLiteral("–"), y = row.value(b);
            const QString bold = x != y ? QStringLiteral("font-weight:bold") : QString();
            html += "<tr>" + nameCell(row.name, names);
            if (!stacked || side == 0) html += cell(x, false, bold);
            if (!stacked || side == 1) html += cell(y, false, bold);
            html += "</tr>";
        }
    }
    return html + "</table>";
}

// One side: `pairs` name/value pairs per row.
QString statsTable(const Moments& a, int pairs, const QColor& names) {
    const auto& rows = statRows();
    QString html = QStringLiteral("<table cellspacing=0 cellpadding=0>");
    const size_t perColumn = (rows.size() + size_t(pairs) - 1) / size_t(pairs);
    for (size_t r = 0; r < perColumn; ++r) {
        html += "<tr>";
        for (size_t c = 0; c < size_t(pairs) && r + c * perColumn < rows.size(); ++c) {
            const StatRow& row = rows[r + c * perColumn];
            html += nameCell(row.name, names) +
                    cell(row.value(a), false, c + 1 < size_t(pairs) ? "padding-right:14px" : "");
        }
        html += "</tr>";
    }
    return html + "</table>";
}

// The compared side's bars in the highlight colour turned half-way round the colour wheel.
QColor otherSideColor(const QPalette& palette) {
    const QColor c = palette.color(QPalette::Highlight).toHsv();
    return QColor::fromHsv((std::max(0, c.hue()) + 180) % 360, std::max(c.saturation(), 120),
                           c.value());
}

} // namespace

ValuesPanel::ValuesPanel(QWidget* parent) : QWidget(parent) {
    auto* inner = new QWidget;
    auto* layout = new QVBoxLayout(inner);
    layout->setContentsMargins(4, 4, 4, 4);
    m_summary = new QLabel;
    m_summary->setWordWrap(true);
    m_summary->setTextFormat(Qt::RichText); // the diff's status in its colour; messages escaped
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_read = new QPushButton(tr("&Read Both Sides"));
    m_read->setVisible(false);
    connect(m_read, &QPushButton::clicked, this, &ValuesPanel::readRequested);
    m_log = new QCheckBox(tr("log10 |x|"));
    m_log->setToolTip(tr("Show the histogram of log10|x| over the nonzero finite elements instead "
                         "of the values'"));
    m_stats = new QLabel;
    m_stats->setTextFormat(Qt::RichText);
    m_stats->setWordWrap(true); // the table is laid out to fit; a note under it wraps
    // Selectable by keyboard too, which makes it a Tab stop: the scroll area then brings the
    // numbers into view for a keyboard user.
    m_stats->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    m_stats->setFocusPolicy(Qt::StrongFocus); // those flags alone give a label click focus only
    // The table is laid out to the pane's width (statsHtml), never the pane widened to it.
    m_stats->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Minimum);
    m_histA = new HistogramView;
    m_histB = new HistogramView;
    m_histB->setBarColor(otherSideColor(palette()));
    m_histD = new HistogramView;
    m_histD->setBarColor(palette().color(QPalette::Text));
    // The histograms first: at a small size they stay in view and the numbers scroll.
    layout->addWidget(m_summary);
    layout->addWidget(m_read, 0, Qt::AlignLeft);
    layout->addWidget(m_log);
    layout->addWidget(m_histA, 1);
    layout->addWidget(m_histB, 1);
    layout->addWidget(m_histD, 1);
    layout->addWidget(m_stats);
    layout->addStretch(0); // a message alone stays at the top; histograms take the space
    auto* scroll = new QScrollArea;
    scroll->setWidgetResizable(true);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff); // the width always fits
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setFocusPolicy(Qt::NoFocus); // Tab goes to the log toggle, not an invisible frame
    scroll->setWidget(inner);
    m_viewport = scroll->viewport();
    m_scroll = scroll;
    // Tab from outside the pane does not scroll it to the focused widget by itself.
    m_log->installEventFilter(this);
    m_stats->installEventFilter(this);
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(scroll);
    connect(m_log, &QCheckBox::toggled, this, [this](bool log) {
        const auto scale = log ? HistogramView::Scale::Log10Abs : HistogramView::Scale::Linear;
        m_histA->setScale(scale);
        m_histB->setScale(scale);
        m_histD->setScale(scale);
    });
    setContent(ValuesContent{});
}

// Plain text for the summary label, which shows rich text.
static QString html(const QString& plain) {
    return plain.toHtmlEscaped().replace(QLatin1Char('\n'), QStringLiteral("<br>"));
}

void ValuesPanel::setContent(const ValuesContent& content) {
    m_read->setVisible(content.offerRead);
    if (!content.a && !content.b && !content.diff) {
        m_otherMissing = false;
        m_summary->setText(html(content.message));
        m_summary->setVisible(true);
        setStats(nullptr, nullptr);
        m_histA->setVisible(false);
        m_histB->setVisible(false);
        m_histD->setVisible(false);
        m_log->setVisible(false);
        return;
    }
    // With a message (the other side being read, cancelled or unreadable) what is known stays:
    // the comparison's numbers for the tensor and this side's statistics.
    const bool pair = content.comparing && content.message.isEmpty();
    QStringList summary;
    if (content.diff)
        summary << diffSummary(*content.diff, content.note, content.tolerance);
    else if (!content.comparing && content.a)
        summary << html(keyNumbers(content.a->moments));
    for (const ValuesContent::Finding& f : content.findings)
        summary << QStringLiteral("<span style=\"color:%1\">%2</span> %3")
                       .arg(f.error ? QStringLiteral("#c62828") : QStringLiteral("#b26a00"),
                            f.error ? tr("Error:") : tr("Warning:"), html(f.message));
    if (!content.message.isEmpty()) summary << html(content.message);
    m_summary->setText(summary.join(QStringLiteral("<br>")));
    m_summary->setVisible(!summary.isEmpty());
    m_log->setVisible(content.a || pair);
    m_otherMissing = pair && !content.b;
    setStats(content.a, pair ? content.b : nullptr);
    if (content.a || pair)
        showHistogram(m_histA, content.a, content.comparing ? tr("Here") : QString());
    else
        m_histA->setVisible(false);
    m_histB->setVisible(pair);
    if (pair) {
        showHistogram(m_histB, content.b, tr("Other: %1").arg(content.otherName));
        if (content.difference && content.a && content.b)
            showOnCommonBins(*content.difference);
        else if (content.a && content.b)
            shareAxes(*content.a, *content.b);
    }
    m_histD->setVisible(pair && content.difference != nullptr);
    if (pair && content.difference) {
        const DifferenceHistograms& d = *content.difference;
        m_histD->setCaption(tr("Here − other"));
        if (d.counted == 0)
            m_histD->clear(tr("No position finite on both sides"));
        else
            m_histD->setHistograms(d.linear, d.log);
    }
}

void ValuesPanel::setStats(const TensorStats* a, const TensorStats* b) {
    m_shownA = a ? std::optional(a->moments) : std::nullopt;
    m_shownB = b ? std::optional(b->moments) : std::nullopt;
    const bool any = m_shownA || m_shownB;
    m_stats->setVisible(any);
    m_stats->setText(any ? statsHtml() : QString());
}

QString ValuesPanel::statsHtml() const {
    const QColor names = palette().color(QPalette::PlaceholderText);
    if (m_shownB) {
        const Moments* a = m_shownA ? &*m_shownA : nullptr;
        const QString sideBySide = comparedTable(a, *m_shownB, false, names);
        const QString table =
            fits(sideBySide) ? sideBySide : comparedTable(a, *m_shownB, true, names);
        return table + comparedFiniteNote(a, *m_shownB);
    }
    if (!m_shownA) return {};
    const QString two = statsTable(*m_shownA, 2, names);
    const QString table =
        (fits(two) ? two : statsTable(*m_shownA, 1, names)) + finiteOnlyNote(*m_shownA);
    if (!m_otherMissing) return table;
    return table + "<p>" + tr("The other checkpoint has no statistics for it.").toHtmlEscaped();
}

// The same for both sides, each named: here 536,870,912 finite of as many, other one less.
QString ValuesPanel::comparedFiniteNote(const Moments* a, const Moments& b) const {
    const bool hereAll = !a || a->finite() == a->count, otherAll = b.finite() == b.count;
    if (hereAll && otherAll) return {};
    QString text;
    if (a && hereAll)
        text = tr("Min, Max, Mean, Std, L2 and max |x| are over the %1 finite elements here (all "
                  "of them) and the %2 of the other.")
                   .arg(count(a->finite()), count(b.finite()));
    else if (a && otherAll)
        text = tr("Min, Max, Mean, Std, L2 and max |x| are over the %1 finite elements here and "
                  "the %2 of the other (all of them).")
                   .arg(count(a->finite()), count(b.finite()));
    else if (a)
        text = tr("Min, Max, Mean, Std, L2 and max |x| are over the %1 finite elements here and "
                  "the %2 of the other.")
                   .arg(count(a->finite()), count(b.finite()));
    else
        text = tr("Min, Max, Mean, Std, L2 and max |x| of the other are over its %1 finite "
                  "elements.")
                   .arg(count(b.finite()));
    return "<p>" + text.toHtmlEscaped() + "</p>";
}

// Said under the table when NaN or Inf are present: Max 1.02 beside "+Inf 1" must not read
// as the largest value.
QString ValuesPanel::finiteOnlyNote(const Moments& m) const {
    if (m.finite() == m.count) return {};
    return "<p>" +
           tr("Min, Max, Mean, Std, L2 and max |x| are over the %1 finite elements.")
               .arg(count(m.finite()))
               .toHtmlEscaped() +
           "</p>";
}

// Measured as the label lays it out (numbers such as 1.47822e-05 and 44,040 are wider than
// any guess by characters), against the scroll area's width less the margins.
bool ValuesPanel::fits(const QString& html) const {
    QTextDocument doc;
    doc.setDefaultFont(m_stats->font());
    doc.setDocumentMargin(0);
    doc.setHtml(html);
    const int margins = 4 + 4 + 2; // the inner layout's, and a pixel of rounding each side
    return doc.idealWidth() + margins <= m_viewport->width();
}

// Both sides binned on the same edges (read with the difference), their bars drawn to one
// scale: bin by bin, the heights compare.
void ValuesPanel::showOnCommonBins(const DifferenceHistograms& d) {
    auto fullest = [](const Histogram& h) {
        return *std::max_element(h.counts.begin(), h.counts.end());
    };
    const uint64_t linearTop = std::max(fullest(d.sideLinear[0]), fullest(d.sideLinear[1]));
    const uint64_t logTop = std::max(fullest(d.sideLog[0]), fullest(d.sideLog[1]));
    HistogramView* views[2] = {m_histA, m_histB};
    for (int side = 0; side < 2; ++side) {
        views[side]->setHistograms(d.sideLinear[side], d.sideLog[side]);
        views[side]->setBarScale(linearTop, logTop);
    }
}

// Here and other on one axis per scale, so that a shifted or widened distribution shows as
// such. A side without elements on a scale takes no part in its range.
void ValuesPanel::shareAxes(const TensorStats& a, const TensorStats& b) {
    auto filled = [](const Histogram& h) {
        return std::any_of(h.counts.begin(), h.counts.end(), [](uint64_t n) { return n > 0; });
    };
    for (auto scale : {HistogramView::Scale::Linear, HistogramView::Scale::Log10Abs}) {
        const bool linear = scale == HistogramView::Scale::Linear;
        const Histogram& x = linear ? a.linear : a.log;
        const Histogram& y = linear ? b.linear : b.log;
        if (!filled(x) || !filled(y)) continue;
        const double lo = std::min(x.lo, y.lo), hi = std::max(x.hi, y.hi);
        m_histA->setAxisRange(scale, lo, hi);
        m_histB->setAxisRange(scale, lo, hi);
    }
}

void ValuesPanel::showHistogram(HistogramView* view, const TensorStats* stats,
                                const QString& caption) {
    view->setVisible(true);
    view->setCaption(caption);
    view->setLogLeftOut(stats ? stats->moments.zeros : 0);
    if (stats) {
        view->setHistograms(stats->linear, stats->log);
        if (integerBinStart(stats->moments, 0)) { // I64/U64: exact bin labels
            QStringList starts;
            for (int b = 0; b < kHistogramBins; ++b)
                starts << QString::fromStdString(*integerBinStart(stats->moments, b));
            view->setIntegerLabels(
                starts, QString::fromStdString(*exactIntegerText(stats->moments, Extreme::Max)));
        }
    } else
        view->clear(tr("No statistics"));
}

QString ValuesPanel::diffSummary(const TensorDiff& d, const QString& note, bool tolerance) const {
    QString text = QStringLiteral("<b style='color:%1'>%2</b>")
                       .arg(diffStatusColor(d.status).name(), diffStatusText(d.status));
    if (d.compared)
        text +=
            " · " + (d.differing
                         ? tr("%1 of %2 elements differ").arg(count(d.differing), count(d.elements))
                         : tr("%1 elements, bytes equal").arg(count(d.elements)));
    // With a tolerance, how many of those it does not cover (the CLI's beyond_tolerance).
    if (d.compared && d.differing && tolerance)
        text += ", " + tr("%1 beyond the tolerance").arg(count(d.beyondTolerance));
    if (!note.isEmpty()) text += "<br>" + note.toHtmlEscaped();
    if (!d.compared) return text;
    if (d.bytesOnly)
        return text + "<br>" +
               tr("Compared by their bits: this dtype has no numbers to subtract").toHtmlEscaped();
    const QString finite = tr("max |a−b| %1 · rel L2 %2 · cosine %3")
                               .arg(valueText(d.maxAbsDiff, 4), valueText(d.relativeL2, 4),
                                    valueText(d.cosine, 6, QStringLiteral("–")));
    if (!d.nanMismatch && !d.infMismatch) return text + "<br>" + finite.toHtmlEscaped();
    // As the table says it (a NaN or an Inf in a − b makes those NaN or ∞), then the same
    // numbers over the positions finite on both sides.
    QStringList apart;
    if (d.nanMismatch) apart << tr("%1 NaN on one side only").arg(count(d.nanMismatch));
    if (d.infMismatch) apart << tr("%1 Inf against another value").arg(count(d.infMismatch));
    const QString whole = d.nanMismatch ? QStringLiteral("NaN") : QStringLiteral("∞");
    text += "<br>" + tr("max |a−b| %1 · rel L2 %1 · cosine – (%2)")
                         .arg(whole, apart.join(tr(", ")))
                         .toHtmlEscaped();
    text += "<br>" + tr("Where both are finite: %1").arg(finite).toHtmlEscaped();
    return text;
}

bool ValuesPanel::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::FocusIn && (watched == m_log || watched == m_stats))
        m_scroll->ensureWidgetVisible(static_cast<QWidget*>(watched));
    return QWidget::eventFilter(watched, event);
}

void ValuesPanel::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    if (!m_shownA && !m_shownB) return;
    // The viewport takes its new width once the layouts have run: lay the table out then.
    QMetaObject::invokeMethod(
        this,
        [this] {
            const QString html = statsHtml();
            if (html != m_stats->text() && (m_shownA || m_shownB)) m_stats->setText(html);
        },
        Qt::QueuedConnection);
}

QString ValuesPanel::text() const {
    QTextDocument doc;
    QString html = m_summary->text();
    if (m_stats->isVisibleTo(this)) html += "<br>" + m_stats->text();
    doc.setHtml(html);
    return doc.toPlainText();
}

} // namespace shardscope
