// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "coverage_view.h"
#include "plural.h"

#include "chunk_table_model.h"
#include "coverage.h"

#include <QHelpEvent>
#include <QPainter>
#include <QScrollArea>
#include <QScrollBar>
#include <QToolTip>

#include <algorithm>
#include <optional>

namespace shardscope {
namespace {
constexpr double kMargin = 12;
constexpr int kLegendLine = 18;
constexpr int kLegendMinLines = 3; // the legend may always take this much before it scrolls
constexpr double kLegendLabelWidth = 240;
constexpr double kMaxAspect = 12; // beyond this a true-scale picture is a hairline
constexpr size_t kMaxOverlapChecks = 400;
constexpr double kStripe = 7;        // width of one replica's stripe
constexpr int kMaxToolTipFiles = 32; // a tooltip listing every rank of a large job is unreadable
const QColor kGapBackground(255, 235, 235);
const QColor kProblemRed(0xc6, 0x28, 0x28);
const QColor kOverlapBand(239, 108, 0, 150);

Shape regionEnd(const Chunk& c) {
    Shape end = c.offsets;
    for (size_t d = 0; d < end.size(); ++d)
        end[d] += c.shape[d];
    return end;
}

bool sameRegion(const Chunk& a, const Chunk& b) {
    return a.offsets == b.offsets && a.shape == b.shape;
}

QString fileName(const Checkpoint& ckpt, const Chunk& c) {
    return QString::fromStdString(ckpt.files[c.file].name);
}

// The swatches and the picture share these, so the legend shows exactly what the picture does.
void paintGap(QPainter& p, const QRectF& r) {
    p.fillRect(r, kGapBackground);
    p.fillRect(r, QBrush(kProblemRed, Qt::BDiagPattern));
}

void paintOverlap(QPainter& p, const QRectF& r) {
    p.fillRect(r, kOverlapBand);
    p.setPen(QPen(kProblemRed, 2));
    p.drawRect(r);
}

void paintConflict(QPainter& p, const QRectF& r) {
    p.fillRect(r, QBrush(CoverageView::conflictColor(), Qt::DiagCrossPattern));
    p.setPen(QPen(CoverageView::conflictColor(), 2));
    p.drawRect(r.adjusted(1, 1, -1, -1)); // inside, so the mark never spills onto a neighbour
}

// Diagonal stripes, one per replica's file colour, so each holder stays visible.
void paintStripes(QPainter& p, const QRectF& r, const std::vector<QColor>& colors) {
    p.save();
    p.setClipRect(r);
    p.setPen(Qt::NoPen);
    const double h = r.height();
    size_t k = 0;
    for (double x = r.left() - h; x < r.right(); x += kStripe, ++k) {
        p.setBrush(colors[k % colors.size()]);
        const QPointF band[] = {{x, r.bottom()},
                                {x + kStripe, r.bottom()},
                                {x + kStripe + h, r.top()},
                                {x + h, r.top()}};
        p.drawPolygon(band, 4);
    }
    p.restore();
}

// Replicas say how many files hold them in a badge, where the block has room for one.
void paintBadge(QPainter& p, const QRectF& r, size_t copies) {
    const QFontMetrics fm = p.fontMetrics();
    QString text = CoverageView::tr("replicated in %1 files").arg(copies);
    if (fm.horizontalAdvance(text) + 16 > r.width()) text = QStringLiteral("×%1").arg(copies);
    const QRectF badge(0, 0, fm.horizontalAdvance(text) + 8, fm.height() + 2);
    if (badge.width() + 8 > r.width() || badge.height() + 8 > r.height()) return;
    const QRectF at = badge.translated(r.right() - badge.width() - 4, r.top() + 4);
    p.setPen(QColor(40, 40, 40));
    p.setBrush(QColor(255, 255, 255, 225));
    p.drawRect(at);
    p.drawText(at, Qt::AlignCenter, text);
}

// Short labels that keep what tells the files apart: the words that differ between the names
// ("shard-00003 model-00002"), with the word before each number for context.
struct Words {
    std::vector<std::string> words;
    std::string delimiters; // delimiters[i] follows words[i]
};

Words splitWords(const std::string& name) {
    Words w;
    std::string current;
    for (char ch : name) {
        if (ch == '-' || ch == '_' || ch == '.') {
            w.words.push_back(current);
            w.delimiters.push_back(ch);
            current.clear();
        } else {
            current += ch;
        }
    }
    w.words.push_back(current);
    return w;
}

bool isNumber(const std::string& s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string stem(const std::string& name) {
    const std::string ext = ".safetensors";
    return name.size() > ext.size() && name.ends_with(ext)
               ? name.substr(0, name.size() - ext.size())
               : name;
}

// Names with the same word structure: keep the differing words.
std::vector<std::string> differingWords(const std::vector<Words>& split) {
    const Words& first = split.front();
    std::vector<bool> differs(first.words.size(), false);
    for (const Words& w : split)
        for (size_t i = 0; i < w.words.size(); ++i)
            differs[i] = differs[i] || w.words[i] != first.words[i];
    std::vector<std::string> labels;
    for (const Words& w : split) {
        std::string label;
        for (size_t i = 0; i < w.words.size(); ++i) {
            if (!differs[i]) continue;
            const bool runStart = i == 0 || !differs[i - 1];
            if (runStart && !label.empty()) label += ' ';
            if (runStart && i > 0 && isNumber(w.words[i]) && !isNumber(w.words[i - 1]))
                label += w.words[i - 1] + w.delimiters[i - 1];
            else if (!runStart)
                label += w.delimiters[i - 1];
            label += w.words[i];
        }
        labels.push_back(label);
    }
    return labels;
}

// Any other names: what lies between the common prefix and suffix.
std::vector<std::string> differingMiddle(const std::vector<std::string>& stems) {
    size_t prefix = stems.front().size(), suffix = stems.front().size();
    for (const auto& s : stems) {
        const auto& f = stems.front();
        size_t i = 0, j = 0;
        while (i < prefix && i < s.size() && s[i] == f[i])
            ++i;
        while (j < suffix && j < s.size() && s[s.size() - 1 - j] == f[f.size() - 1 - j])
            ++j;
        prefix = i, suffix = j;
    }
    std::vector<std::string> labels;
    for (const auto& s : stems) {
        const size_t p = std::min(prefix, s.size()), q = std::min(suffix, s.size() - p);
        labels.push_back((p ? "…" : "") + s.substr(p, s.size() - p - q) + (q ? "…" : ""));
    }
    return labels;
}

// DCP data files, __<rank>_<n>.distcp: "rank 3", or "rank 3.1" when a rank wrote several files.
std::optional<std::vector<std::string>> dcpLabels(const std::vector<std::string>& names) {
    std::vector<std::pair<std::string, std::string>> parts;
    bool severalPerRank = false;
    for (const auto& n : names) {
        const std::string ext = ".distcp";
        if (!n.starts_with("__") || !n.ends_with(ext)) return std::nullopt;
        const std::string body = n.substr(2, n.size() - 2 - ext.size());
        const size_t sep = body.find('_');
        if (sep == std::string::npos || !isNumber(body.substr(0, sep)) ||
            !isNumber(body.substr(sep + 1)))
            return std::nullopt;
        parts.emplace_back(body.substr(0, sep), body.substr(sep + 1));
        severalPerRank = severalPerRank || parts.back().second != "0";
    }
    std::vector<std::string> labels;
    for (const auto& [rank, n] : parts)
        labels.push_back("rank " + rank + (severalPerRank ? "." + n : ""));
    return labels;
}

std::vector<std::string> distinctLabels(const std::vector<std::string>& names) {
    if (auto dcp = dcpLabels(names)) return *dcp;
    std::vector<std::string> stems;
    for (const auto& n : names)
        stems.push_back(stem(n));
    if (stems.size() < 2) return stems;
    std::vector<Words> split;
    for (const auto& s : stems)
        split.push_back(splitWords(s));
    const bool sameStructure = std::all_of(split.begin(), split.end(), [&](const Words& w) {
        return w.delimiters == split.front().delimiters;
    });
    std::vector<std::string> labels =
        sameStructure ? differingWords(split) : differingMiddle(stems);
    std::vector<std::string> sorted = labels;
    std::sort(sorted.begin(), sorted.end());
    const bool distinct =
        std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end() &&
        std::none_of(sorted.begin(), sorted.end(), [](const std::string& l) { return l.empty(); });
    return distinct ? labels : stems;
}

} // namespace

// Legend entries laid out in lines, files first, then the pattern keys on their own line.
class CoverageLegend : public QWidget {
public:
    enum class Kind { File, Gap, Overlap, Conflict, Replicas };
    struct Entry {
        Kind kind;
        std::vector<QColor> colors;
        QString label;
        QString toolTip;
    };

    explicit CoverageLegend(QWidget* parent) : QWidget(parent) {}

    void setEntries(std::vector<Entry> entries) {
        m_entries = std::move(entries);
        update();
    }
    const std::vector<Entry>& entries() const { return m_entries; }

    bool hasHeightForWidth() const override { return true; }
    int heightForWidth(int width) const override {
        const auto boxes = layout(width);
        return boxes.empty() ? 0 : int(boxes.back().bottom());
    }

protected:
    void paintEvent(QPaintEvent*) override {
        QPainter p(this);
        p.fillRect(rect(), palette().base());
        const auto boxes = layout(width());
        for (size_t i = 0; i < m_entries.size(); ++i)
            paintEntry(p, m_entries[i], boxes[i]);
    }

    bool event(QEvent* e) override {
        if (e->type() != QEvent::ToolTip) return QWidget::event(e);
        auto* help = static_cast<QHelpEvent*>(e);
        const auto boxes = layout(width());
        for (size_t i = 0; i < boxes.size(); ++i)
            if (boxes[i].contains(help->pos()) && !m_entries[i].toolTip.isEmpty()) {
                QToolTip::showText(help->globalPos(), m_entries[i].toolTip, this);
                return true;
            }
        QToolTip::hideText();
        return true;
    }

private:
    QString shown(const Entry& e) const {
        return fontMetrics().elidedText(e.label, Qt::ElideRight, int(kLegendLabelWidth));
    }

    double entryWidth(const Entry& e) const {
        return 18 + fontMetrics().horizontalAdvance(shown(e)) + 14;
    }

    // Files in equal columns so ranks line up; the keys flow on the lines after them.
    std::vector<QRectF> layout(int width) const {
        double column = 0;
        for (const Entry& e : m_entries)
            if (e.kind == Kind::File) column = std::max(column, entryWidth(e));
        std::vector<QRectF> boxes;
        double x = kMargin, y = 0;
        for (size_t i = 0; i < m_entries.size(); ++i) {
            const bool file = m_entries[i].kind == Kind::File;
            const bool firstKey = !file && (i == 0 || m_entries[i - 1].kind == Kind::File);
            const double w = file ? column : entryWidth(m_entries[i]);
            if (x > kMargin && (firstKey || x + w > width - kMargin)) x = kMargin, y += kLegendLine;
            boxes.emplace_back(x, y, w, kLegendLine);
            x += w;
        }
        return boxes;
    }

    void paintEntry(QPainter& p, const Entry& e, const QRectF& box) const {
        const QRectF swatch(box.left(), box.top() + 3, 14, 12);
        switch (e.kind) {
        case Kind::File:
            p.fillRect(swatch, e.colors.front());
            break;
        case Kind::Gap:
            paintGap(p, swatch);
            break;
        case Kind::Overlap:
            paintOverlap(p, swatch);
            break;
        case Kind::Conflict:
            paintConflict(p, swatch);
            break;
        case Kind::Replicas:
            paintStripes(p, swatch, e.colors);
            break;
        }
        p.setPen(palette().color(QPalette::WindowText));
        p.drawText(QPointF(box.left() + 18, box.top() + 13), shown(e));
    }

    std::vector<Entry> m_entries;
};

CoverageView::CoverageView(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    m_legend = new CoverageLegend(this);
    m_legendScroll = new QScrollArea(this);
    m_legendScroll->setFrameShape(QFrame::NoFrame);
    m_legendScroll->setFocusPolicy(Qt::NoFocus); // no Tab stop: the wheel scrolls it
    m_legendScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_legendScroll->setWidget(m_legend);
    m_legendScroll->viewport()->setBackgroundRole(QPalette::Base);
    m_legendScroll->hide();
}

CoverageView::~CoverageView() = default;

QColor CoverageView::conflictColor() {
    return {0xd0, 0x00, 0xd0}; // fully saturated: never one of the file colours
}

void CoverageView::computeLabels() {
    m_labels.clear();
    if (!m_checkpoint) return;
    std::vector<std::string> names;
    for (const auto& f : m_checkpoint->files)
        names.push_back(f.name);
    for (const auto& l : distinctLabels(names))
        m_labels.push_back(QString::fromStdString(l));
}

void CoverageView::setTensor(std::shared_ptr<const Checkpoint> checkpoint, int tensor) {
    if (checkpoint != m_checkpoint) {
        m_checkpoint = std::move(checkpoint);
        computeLabels();
    }
    m_tensor = m_checkpoint && tensor >= 0 && size_t(tensor) < m_checkpoint->tensors.size()
                   ? &m_checkpoint->tensors[size_t(tensor)]
                   : nullptr;
    m_slice = 0;
    deriveShape();
    layoutBlocks();
    updateLegend();
    update();
}

void CoverageView::setSlice(uint64_t slice) {
    m_slice = std::min(slice, sliceCount() - 1);
    layoutBlocks();
    updateLegend();
    update();
}

// An invalid tensor has no shape of its own: draw the box its readable chunks span.
void CoverageView::deriveShape() {
    m_shape.clear();
    m_drawable = false;
    if (!m_tensor) return;
    if (!invalid()) {
        m_shape = m_tensor->shape;
        m_drawable = true;
        return;
    }
    const auto& chunks = m_tensor->chunks;
    if (chunks.empty()) return;
    const size_t rank = chunks.front().shape.size();
    Shape implied(rank, 0);
    for (const Chunk& c : chunks) {
        if (c.shape.size() != rank || c.offsets.size() != rank) return;
        for (size_t d = 0; d < rank; ++d) {
            uint64_t end;
            if (__builtin_add_overflow(c.offsets[d], c.shape[d], &end)) return;
            implied[d] = std::max(implied[d], end);
        }
    }
    if (std::find(implied.begin(), implied.end(), 0) != implied.end()) return;
    m_shape = std::move(implied);
    m_drawable = true;
}

uint64_t CoverageView::sliceCount() const {
    if (m_shape.size() <= 2) return 1;
    uint64_t n = 1;
    for (size_t d = 0; d + 2 < m_shape.size(); ++d)
        n = n > UINT64_MAX / std::max<uint64_t>(m_shape[d], 1) ? UINT64_MAX : n * m_shape[d];
    return std::max<uint64_t>(n, 1);
}

Shape CoverageView::leadingIndex() const {
    Shape lead(m_shape.size() > 2 ? m_shape.size() - 2 : 0);
    uint64_t rest = m_slice;
    for (size_t d = lead.size(); d-- > 0;) {
        lead[d] = m_shape[d] ? rest % m_shape[d] : 0;
        rest = m_shape[d] ? rest / m_shape[d] : 0;
    }
    return lead;
}

QString CoverageView::sliceLabel() const {
    if (m_shape.size() <= 2) return {};
    QStringList parts;
    for (uint64_t i : leadingIndex())
        parts << QString::number(i);
    parts << QStringLiteral(":") << QStringLiteral(":");
    return "[" + parts.join(", ") + "]";
}

void CoverageView::layoutBlocks() {
    m_blocks.clear();
    m_overlaps.clear();
    m_rows = m_cols = 1;
    if (!m_drawable || !message().isEmpty()) return;
    const Shape& s = m_shape;
    const size_t rank = s.size();
    if (rank == 1) m_cols = s[0];
    if (rank >= 2) m_rows = s[rank - 2], m_cols = s[rank - 1];

    const Shape lead = leadingIndex();
    std::vector<const Chunk*> inSlice;
    for (const Chunk& c : m_tensor->chunks) {
        bool inside = c.offsets.size() == rank && c.shape.size() == rank;
        for (size_t d = 0; inside && d < lead.size(); ++d)
            inside = lead[d] >= c.offsets[d] && lead[d] < c.offsets[d] + c.shape[d];
        if (inside) inSlice.push_back(&c);
    }
    // Chunks of one region are replicas: one block lists them all, in file order.
    std::stable_sort(inSlice.begin(), inSlice.end(), [](const Chunk* a, const Chunk* b) {
        return a->offsets != b->offsets ? a->offsets < b->offsets : a->shape < b->shape;
    });
    for (const Chunk* c : inSlice) {
        if (!m_blocks.empty() && sameRegion(*m_blocks.back().chunks.front(), *c)) {
            m_blocks.back().chunks.push_back(c);
            continue;
        }
        Block b{{c}, 0, 1, 0, 1};
        if (rank == 1) b.c0 = c->offsets[0], b.c1 = c->offsets[0] + c->shape[0];
        if (rank >= 2) {
            b.r0 = c->offsets[rank - 2], b.r1 = b.r0 + c->shape[rank - 2];
            b.c0 = c->offsets[rank - 1], b.c1 = b.c0 + c->shape[rank - 1];
        }
        m_blocks.push_back(std::move(b));
    }
    findOverlaps();
    markConflicts();
}

void CoverageView::findOverlaps() {
    const size_t n = std::min(m_blocks.size(), kMaxOverlapChecks);
    for (size_t i = 0; i < n; ++i)
        for (size_t j = i + 1; j < n; ++j) {
            const Block& a = m_blocks[i];
            const Block& b = m_blocks[j];
            const uint64_t r0 = std::max(a.r0, b.r0), r1 = std::min(a.r1, b.r1);
            const uint64_t c0 = std::max(a.c0, b.c0), c1 = std::min(a.c1, b.c1);
            if (r0 < r1 && c0 < c1)
                m_overlaps.push_back(
                    QRectF(double(c0), double(r0), double(c1 - c0), double(r1 - r0)));
        }
}

// The scan names the region whose replicas differ in the detail; mark that one. Should the
// wording ever not name a region, every replicated region is suspect.
void CoverageView::markConflicts() {
    if (!m_tensor || m_tensor->status != CoverageStatus::Conflict) return;
    const std::string& detail = m_tensor->coverageDetail;
    auto named = [&](const Chunk& c) {
        return detail.find("region " + formatRegion(c.offsets, regionEnd(c))) != std::string::npos;
    };
    const bool anyNamed = std::any_of(m_tensor->chunks.begin(), m_tensor->chunks.end(), named);
    for (Block& b : m_blocks)
        b.conflict = b.chunks.size() > 1 && (!anyNamed || named(*b.chunks.front()));
}

size_t CoverageView::maxReplicas() const {
    size_t n = 1;
    for (const Block& b : m_blocks)
        n = std::max(n, b.chunks.size());
    return n;
}

void CoverageView::updateLegend() {
    std::vector<CoverageLegend::Entry> entries;
    if (m_tensor && message().isEmpty()) {
        std::vector<uint32_t> files;
        for (const Chunk& c : m_tensor->chunks)
            files.push_back(c.file);
        std::sort(files.begin(), files.end());
        files.erase(std::unique(files.begin(), files.end()), files.end());
        for (uint32_t f : files)
            entries.push_back({CoverageLegend::Kind::File,
                               {ChunkTableModel::fileColor(f)},
                               m_labels[f],
                               QString::fromStdString(m_checkpoint->files[f].name)});
        entries.push_back({CoverageLegend::Kind::Gap, {}, tr("gap: in no chunk"), {}});
        entries.push_back({CoverageLegend::Kind::Overlap, {}, tr("overlap: in two chunks"), {}});
        if (const size_t n = maxReplicas(); n > 1) {
            std::vector<QColor> colors;
            QStringList holders;
            for (const Block& b : m_blocks)
                if (b.chunks.size() == n) {
                    for (const Chunk* c : b.chunks) {
                        colors.push_back(ChunkTableModel::fileColor(c->file));
                        holders << fileName(*m_checkpoint, *c);
                    }
                    break;
                }
            entries.push_back({CoverageLegend::Kind::Replicas, colors,
                               tr("replicated in %1 files").arg(n), holders.join("\n")});
        }
        if (std::any_of(m_blocks.begin(), m_blocks.end(),
                        [](const Block& b) { return b.conflict; }))
            entries.push_back({CoverageLegend::Kind::Conflict,
                               {},
                               tr("replicas differ"),
                               QString::fromStdString(m_tensor->coverageDetail)});
    }
    m_legend->setEntries(std::move(entries));
    placeLegend();
}

// The legend takes what it needs up to half the view, then scrolls.
void CoverageView::placeLegend() {
    if (m_legend->entries().empty()) {
        m_legendScroll->hide();
        m_legendHeight = 0;
        return;
    }
    const int maxHeight = std::max(kLegendMinLines * kLegendLine, height() / 2);
    int legendWidth = width();
    int content = m_legend->heightForWidth(legendWidth);
    if (content > maxHeight) {
        legendWidth -= m_legendScroll->verticalScrollBar()->sizeHint().width();
        content = m_legend->heightForWidth(legendWidth);
    }
    const int shown = std::min(content, maxHeight);
    m_legend->resize(legendWidth, content);
    m_legendScroll->setGeometry(0, height() - shown - 4, width(), shown);
    m_legendScroll->show();
    m_legendHeight = shown + 10;
}

void CoverageView::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    placeLegend();
}

QString CoverageView::message() const {
    if (!m_tensor)
        return tr("Select a tensor in the table to see which shard files hold its parts");
    if (!m_drawable)
        return tr("Cannot be drawn: %1")
            .arg(m_tensor->coverageDetail.empty()
                     ? tr("no chunk gives its shape")
                     : QString::fromStdString(m_tensor->coverageDetail));
    for (uint64_t d : m_shape)
        if (d == 0) return tr("Zero-size tensor: nothing to cover");
    return {};
}

QString CoverageView::summary() const {
    if (!m_tensor) return tr("No tensor selected");
    if (!m_drawable) return tr("Not valid: cannot be drawn");
    const Shape& s = m_shape;
    const double aspect =
        double(std::max<uint64_t>(m_cols, 1)) / double(std::max<uint64_t>(m_rows, 1));
    const QString squeezed = s.size() >= 2 && (aspect > kMaxAspect || aspect < 1 / kMaxAspect)
                                 ? tr(" (the long side is compressed to fit)")
                                 : QString();
    QString text;
    if (invalid())
        text = tr("Not valid: %1 drawn from %2")
                   .arg(QString::fromStdString(formatShape(s)),
                        counted(qint64(m_tensor->chunks.size()), tr("readable chunk"),
                                tr("readable chunks")));
    else if (s.empty())
        text = tr("Scalar: one element");
    else if (s.size() == 1)
        text =
            tr("1-D: %1, drawn as a bar").arg(counted(qint64(s[0]), tr("element"), tr("elements")));
    else if (s.size() == 2)
        text = tr("2-D: %1 × %2")
                   .arg(counted(qint64(s[0]), tr("row"), tr("rows")),
                        counted(qint64(s[1]), tr("column"), tr("columns"))) +
               squeezed;
    else
        text = tr("%1-D: slice %2 of %3").arg(s.size()).arg(sliceLabel()).arg(sliceCount());
    if (invalid() && s.size() > 2) text += tr(" · slice %1").arg(sliceLabel());
    if (const size_t n = maxReplicas(); n > 1) text += tr(" · replicated in %1 files").arg(n);
    return text;
}

QRectF CoverageView::plane() const {
    QRectF area = QRectF(rect()).adjusted(kMargin, kMargin, -kMargin, -kMargin - m_legendHeight);
    if (invalid()) area.setTop(area.top() + problemRect().height() + 6);
    if (!m_tensor || !message().isEmpty() || area.width() <= 0 || area.height() <= 0) return {};
    if (m_shape.empty()) { // a scalar: one square cell
        const double side = std::min({area.width(), area.height(), 80.0});
        return QRectF(area.center().x() - side / 2, area.center().y() - side / 2, side, side);
    }
    if (m_shape.size() == 1) { // a bar across the width
        const double h = std::min(area.height(), 48.0);
        return QRectF(area.left(), area.center().y() - h / 2, area.width(), h);
    }
    // To scale, unless the ratio is so extreme that one side would vanish.
    double aspect = double(std::max<uint64_t>(m_cols, 1)) / double(std::max<uint64_t>(m_rows, 1));
    aspect = std::clamp(aspect, 1 / kMaxAspect, kMaxAspect);
    double w = area.width(), h = w / aspect;
    if (h > area.height()) h = area.height(), w = h * aspect;
    return QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h);
}

QRectF CoverageView::elementRect(uint64_t r0, uint64_t r1, uint64_t c0, uint64_t c1) const {
    Block b{{}, r0, r1, c0, c1};
    return blockRect(b, plane());
}

QRectF CoverageView::blockRect(const Block& b, const QRectF& area) const {
    const double sx = area.width() / double(std::max<uint64_t>(m_cols, 1));
    const double sy = area.height() / double(std::max<uint64_t>(m_rows, 1));
    return QRectF(area.left() + double(b.c0) * sx, area.top() + double(b.r0) * sy,
                  double(b.c1 - b.c0) * sx, double(b.r1 - b.r0) * sy);
}

void CoverageView::paintBlock(QPainter& p, const Block& b, const QRectF& r, bool thin) const {
    if (b.chunks.size() > 1 && !thin) {
        std::vector<QColor> colors;
        for (const Chunk* c : b.chunks)
            colors.push_back(ChunkTableModel::fileColor(c->file));
        paintStripes(p, r, colors);
    } else {
        p.fillRect(r, ChunkTableModel::fileColor(b.chunks.front()->file));
    }
    if (!thin) {
        p.setPen(QPen(QColor(40, 40, 40), 1));
        p.drawRect(r.adjusted(0.5, 0.5, -0.5, -0.5));
    }
}

void CoverageView::paintProblem(QPainter& p, const QRectF& area) const {
    p.setPen(QPen(kProblemRed, 2, Qt::DashLine));
    p.setBrush(Qt::NoBrush);
    p.drawRect(area.adjusted(-3, -3, 3, 3));
    const QRectF r = problemRect();
    p.save();
    p.setClipRect(r);
    p.setPen(kProblemRed);
    p.drawText(r, Qt::AlignLeft | Qt::AlignTop | Qt::TextWordWrap, problemText());
    p.restore();
}

QString CoverageView::problemText() const {
    return tr("Not valid: %1").arg(QString::fromStdString(m_tensor->coverageDetail));
}

// Above the picture, wrapped to at most two lines; the tooltip has it all.
QRectF CoverageView::problemRect() const {
    const QRectF line(kMargin, kMargin, width() - 2 * kMargin, fontMetrics().height());
    const QRectF wrapped =
        fontMetrics().boundingRect(line.toRect(), Qt::TextWordWrap, problemText());
    return QRectF(line.topLeft(),
                  QSizeF(line.width(), std::min(wrapped.height(), 2 * line.height())));
}

void CoverageView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), palette().base());
    if (const QString text = message(); !text.isEmpty()) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect().adjusted(int(kMargin), 0, -int(kMargin), 0),
                   Qt::AlignCenter | Qt::TextWordWrap, text);
        return;
    }
    const QRectF area = plane();
    if (area.isEmpty()) return;
    // Uncovered first: whatever no chunk paints over stays visibly a gap.
    paintGap(p, area);
    const bool thin = m_blocks.size() > 2000; // borders and stripes would drown the colours
    for (const Block& b : m_blocks) {
        // So would a border around a block a few pixels across (256 rows of one chunk each).
        const QRectF r = blockRect(b, area);
        paintBlock(p, b, r, thin || r.width() < 4 || r.height() < 4);
    }
    const double sx = area.width() / double(std::max<uint64_t>(m_cols, 1));
    const double sy = area.height() / double(std::max<uint64_t>(m_rows, 1));
    for (const QRectF& o : m_overlaps)
        paintOverlap(p, QRectF(area.left() + o.x() * sx, area.top() + o.y() * sy, o.width() * sx,
                               o.height() * sy));
    for (const Block& b : m_blocks)
        if (b.conflict) paintConflict(p, blockRect(b, area));
    if (!thin)
        for (const Block& b : m_blocks)
            if (b.chunks.size() > 1) paintBadge(p, blockRect(b, area), b.chunks.size());
    p.setPen(QPen(palette().color(QPalette::WindowText), 1));
    p.setBrush(Qt::NoBrush);
    p.drawRect(area);
    if (invalid()) paintProblem(p, area);
}

QString CoverageView::describe(const Block& b) const {
    const Chunk& c = *b.chunks.front();
    QString where = tr("region %1\nchunk shape %2")
                        .arg(QString::fromStdString(formatRegion(c.offsets, regionEnd(c))),
                             QString::fromStdString(formatShape(c.shape)));
    if (b.chunks.size() == 1) return fileName(*m_checkpoint, c) + "\n" + where;
    QStringList files;
    for (const Chunk* r : b.chunks) {
        if (files.size() == kMaxToolTipFiles) {
            files << tr("  and %1 more (see the chunk table)")
                         .arg(b.chunks.size() - kMaxToolTipFiles);
            break;
        }
        files << "  " + fileName(*m_checkpoint, *r);
    }
    QString text =
        tr("Replicated in %1 files:\n%2\n%3").arg(b.chunks.size()).arg(files.join("\n"), where);
    if (b.conflict)
        text += "\n" +
                tr("The replicas differ: %1").arg(QString::fromStdString(m_tensor->coverageDetail));
    return text;
}

QString CoverageView::toolTipAt(QPointF pos) const {
    const QRectF area = plane();
    if (area.isEmpty() || !area.contains(pos)) return {};
    const uint64_t col =
        std::min(m_cols - 1, uint64_t((pos.x() - area.left()) / area.width() * double(m_cols)));
    const uint64_t row =
        std::min(m_rows - 1, uint64_t((pos.y() - area.top()) / area.height() * double(m_rows)));
    QStringList lines;
    for (const Block& b : m_blocks)
        if (row >= b.r0 && row < b.r1 && col >= b.c0 && col < b.c1) lines << describe(b);
    QStringList index;
    for (uint64_t i : leadingIndex())
        index << QString::number(i);
    if (m_shape.size() >= 2) index << QString::number(row);
    if (!m_shape.empty()) index << QString::number(col);
    const QString where = "[" + index.join(", ") + "]";
    if (lines.isEmpty())
        lines << tr("Gap: element %1 is in no chunk").arg(where);
    else
        lines.prepend(lines.size() > 1 ? tr("Overlap at %1:").arg(where)
                                       : tr("Element %1 is in:").arg(where));
    if (invalid())
        lines.prepend(tr("Not valid: %1").arg(QString::fromStdString(m_tensor->coverageDetail)));
    return lines.join("\n\n");
}

bool CoverageView::event(QEvent* e) {
    if (e->type() != QEvent::ToolTip) return QWidget::event(e);
    auto* help = static_cast<QHelpEvent*>(e);
    const QString text = toolTipAt(help->pos());
    if (text.isEmpty())
        QToolTip::hideText();
    else
        QToolTip::showText(help->globalPos(), text, this);
    return true;
}

QStringList CoverageView::legendEntries() const {
    QStringList out;
    for (const auto& e : m_legend->entries())
        if (e.kind == CoverageLegend::Kind::File) out << e.label;
    return out;
}

QStringList CoverageView::legendKeys() const {
    QStringList out;
    for (const auto& e : m_legend->entries())
        if (e.kind != CoverageLegend::Kind::File) out << e.label;
    return out;
}

} // namespace shardscope
