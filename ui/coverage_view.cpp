// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "coverage_view.h"

#include "chunk_table_model.h"
#include "coverage.h"

#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>

#include <algorithm>

namespace shardscope {
namespace {
constexpr double kMargin = 12;
constexpr double kLegendLine = 18;
constexpr int kLegendMaxLines = 3;
constexpr double kMaxAspect = 12; // beyond this a true-scale picture is a hairline
constexpr size_t kMaxOverlapChecks = 400;
} // namespace

CoverageView::CoverageView(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void CoverageView::computeLabels() {
    m_labels.clear();
    if (!m_checkpoint) return;
    const auto& files = m_checkpoint->files;
    // Rank files differ in one token ("shard-00003-model-00001-of-00001"): show the name up to
    // the end of the token where names first differ, when the rest is the same for all.
    size_t prefix = files.empty() ? 0 : files[0].name.size();
    for (const auto& f : files) {
        size_t i = 0;
        while (i < prefix && i < f.name.size() && f.name[i] == files[0].name[i])
            ++i;
        prefix = i;
    }
    std::vector<std::string> heads, tails;
    for (const auto& f : files) {
        size_t end = prefix;
        while (end < f.name.size() && f.name[end] != '-' && f.name[end] != '_' &&
               f.name[end] != '.')
            ++end;
        heads.push_back(f.name.substr(0, end));
        tails.push_back(f.name.substr(end));
    }
    const bool sameTail = std::all_of(tails.begin(), tails.end(),
                                      [&](const std::string& t) { return t == tails[0]; });
    for (size_t i = 0; i < files.size(); ++i)
        m_labels.push_back(
            QString::fromStdString(sameTail && files.size() > 1 ? heads[i] : files[i].name));
}

std::vector<CoverageView::LegendItem> CoverageView::legendLayout(double& height) const {
    std::vector<LegendItem> items;
    height = 0;
    if (!m_tensor) return items;
    std::vector<uint32_t> files;
    for (const Chunk& c : m_tensor->chunks)
        if (std::find(files.begin(), files.end(), c.file) == files.end()) files.push_back(c.file);
    std::sort(files.begin(), files.end());
    const QFontMetrics fm(font());
    double x = kMargin;
    int line = 0;
    for (uint32_t f : files) {
        const QString label = fm.elidedText(m_labels[f], Qt::ElideMiddle, 200);
        const double w = 16 + fm.horizontalAdvance(label) + 14;
        if (x + w > width() - kMargin && x > kMargin) {
            if (++line == kLegendMaxLines) {
                items.push_back(
                    {f, QRectF(-1, -1, 0, 0), tr("+%1 more").arg(files.size() - items.size())});
                break;
            }
            x = kMargin;
        }
        items.push_back({f, QRectF(x, line * kLegendLine, w, kLegendLine), label});
        x += w;
    }
    height = (std::min(line, kLegendMaxLines - 1) + 1) * kLegendLine + 6;
    return items;
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
    layoutBlocks();
    update();
}

void CoverageView::setSlice(uint64_t slice) {
    m_slice = std::min(slice, sliceCount() - 1);
    layoutBlocks();
    update();
}

uint64_t CoverageView::sliceCount() const {
    if (!m_tensor || m_tensor->shape.size() <= 2) return 1;
    uint64_t n = 1;
    for (size_t d = 0; d + 2 < m_tensor->shape.size(); ++d)
        n *= m_tensor->shape[d];
    return std::max<uint64_t>(n, 1);
}

void CoverageView::layoutBlocks() {
    m_blocks.clear();
    m_overlaps.clear();
    m_rows = m_cols = 1;
    if (!m_tensor) return;
    const Shape& s = m_tensor->shape;
    const size_t rank = s.size();
    if (rank == 1) m_cols = s[0];
    if (rank >= 2) m_rows = s[rank - 2], m_cols = s[rank - 1];

    // The leading index this slice stands for.
    Shape lead(rank > 2 ? rank - 2 : 0);
    uint64_t rest = m_slice;
    for (size_t d = lead.size(); d-- > 0;) {
        lead[d] = rest % s[d];
        rest /= s[d];
    }
    for (const Chunk& c : m_tensor->chunks) {
        if (c.replica) continue;
        bool inSlice = true;
        for (size_t d = 0; d < lead.size(); ++d)
            inSlice &= lead[d] >= c.offsets[d] && lead[d] < c.offsets[d] + c.shape[d];
        if (!inSlice) continue;
        Block b{&c, 0, 1, 0, 1};
        if (rank == 1) b.c0 = c.offsets[0], b.c1 = c.offsets[0] + c.shape[0];
        if (rank >= 2) {
            b.r0 = c.offsets[rank - 2], b.r1 = b.r0 + c.shape[rank - 2];
            b.c0 = c.offsets[rank - 1], b.c1 = b.c0 + c.shape[rank - 1];
        }
        m_blocks.push_back(b);
    }
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

QString CoverageView::summary() const {
    if (!m_tensor) return tr("No tensor selected");
    const Shape& s = m_tensor->shape;
    if (s.empty()) return tr("Scalar: one element");
    if (s.size() == 1) return tr("1-D: %1 elements, drawn as a bar").arg(s[0]);
    const double aspect =
        double(std::max<uint64_t>(m_cols, 1)) / double(std::max<uint64_t>(m_rows, 1));
    const QString squeezed = aspect > kMaxAspect || aspect < 1 / kMaxAspect
                                 ? tr(" (the long side is compressed to fit)")
                                 : QString();
    if (s.size() == 2) return tr("2-D: %1 rows × %2 columns").arg(s[0]).arg(s[1]) + squeezed;
    Shape lead(s.size() - 2);
    uint64_t rest = m_slice;
    for (size_t d = lead.size(); d-- > 0;) {
        lead[d] = rest % s[d];
        rest /= s[d];
    }
    QString index;
    for (auto v : lead)
        index += QString::number(v) + ", ";
    return tr("%1-D: the last two dims [%2:, :] of %3 slices")
        .arg(s.size())
        .arg(index.chopped(2))
        .arg(sliceCount());
}

QRectF CoverageView::plane() const {
    double legend = 0;
    legendLayout(legend);
    QRectF area = QRectF(rect()).adjusted(kMargin, kMargin, -kMargin, -kMargin - legend);
    if (!m_tensor || area.width() <= 0 || area.height() <= 0) return {};
    if (m_tensor->shape.empty()) { // a scalar: one square cell
        const double side = std::min({area.width(), area.height(), 80.0});
        return QRectF(area.center().x() - side / 2, area.center().y() - side / 2, side, side);
    }
    if (m_tensor->shape.size() == 1) { // a bar across the width
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

QRectF CoverageView::blockRect(const Block& b, const QRectF& area) const {
    const double sx = area.width() / double(std::max<uint64_t>(m_cols, 1));
    const double sy = area.height() / double(std::max<uint64_t>(m_rows, 1));
    return QRectF(area.left() + double(b.c0) * sx, area.top() + double(b.r0) * sy,
                  double(b.c1 - b.c0) * sx, double(b.r1 - b.r0) * sy);
}

void CoverageView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), palette().base());
    if (!m_tensor) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect(), Qt::AlignCenter, tr("Select a tensor to see its chunks"));
        return;
    }
    const QRectF area = plane();
    if (area.isEmpty()) return;
    if (m_tensor->bytes == 0 && !m_tensor->shape.empty()) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect(), Qt::AlignCenter, tr("Zero-size tensor: nothing to cover"));
        return;
    }
    // Uncovered first: whatever no chunk paints over stays visibly a gap.
    p.fillRect(area, QColor(255, 235, 235));
    p.fillRect(area, QBrush(QColor(0xc6, 0x28, 0x28), Qt::BDiagPattern));

    const bool thin = m_blocks.size() > 2000; // borders would drown the colours
    for (const Block& b : m_blocks) {
        const QRectF r = blockRect(b, area);
        p.fillRect(r, ChunkTableModel::fileColor(b.chunk->file));
        if (!thin) {
            p.setPen(QPen(QColor(40, 40, 40), 1));
            p.drawRect(r.adjusted(0.5, 0.5, -0.5, -0.5));
        }
    }
    const double sx = area.width() / double(std::max<uint64_t>(m_cols, 1));
    const double sy = area.height() / double(std::max<uint64_t>(m_rows, 1));
    for (const QRectF& o : m_overlaps) {
        QRectF r(area.left() + o.x() * sx, area.top() + o.y() * sy, o.width() * sx,
                 o.height() * sy);
        p.fillRect(r, QColor(239, 108, 0, 150));
        p.setPen(QPen(QColor(0xc6, 0x28, 0x28), 2));
        p.drawRect(r);
    }
    p.setPen(QPen(palette().color(QPalette::WindowText), 1));
    p.drawRect(area);

    // Legend: the files this tensor's chunks come from.
    double legendHeight = 0;
    const auto legend = legendLayout(legendHeight);
    const double top = height() - legendHeight;
    p.setPen(palette().color(QPalette::WindowText));
    for (const LegendItem& item : legend) {
        if (item.box.width() <= 0) { // the "+N more" marker goes after the last line
            p.drawText(
                QPointF(width() - kMargin - QFontMetrics(font()).horizontalAdvance(item.label),
                        height() - 6),
                item.label);
            continue;
        }
        const double y = top + item.box.top();
        p.fillRect(QRectF(item.box.left(), y + 3, 12, 12), ChunkTableModel::fileColor(item.file));
        p.drawText(QPointF(item.box.left() + 16, y + 13), item.label);
    }
}

QString CoverageView::describe(const Block& b) const {
    const Chunk& c = *b.chunk;
    Shape end = c.offsets;
    for (size_t d = 0; d < end.size(); ++d)
        end[d] += c.shape[d];
    return tr("%1\nregion %2\nchunk shape %3")
        .arg(QString::fromStdString(m_checkpoint->files[c.file].name),
             QString::fromStdString(formatRegion(c.offsets, end)),
             QString::fromStdString(formatShape(c.shape)));
}

bool CoverageView::event(QEvent* e) {
    if (e->type() != QEvent::ToolTip || !m_tensor) return QWidget::event(e);
    auto* help = static_cast<QHelpEvent*>(e);
    const QRectF area = plane();
    if (!area.contains(help->pos())) {
        QToolTip::hideText();
        return true;
    }
    const uint64_t col = uint64_t((help->pos().x() - area.left()) / area.width() * double(m_cols));
    const uint64_t row = uint64_t((help->pos().y() - area.top()) / area.height() * double(m_rows));
    QStringList lines;
    for (const Block& b : m_blocks)
        if (row >= b.r0 && row < b.r1 && col >= b.c0 && col < b.c1) lines << describe(b);
    QString where = m_tensor->shape.size() >= 2 ? QStringLiteral("[%1, %2]").arg(row).arg(col)
                                                : QStringLiteral("[%1]").arg(col);
    if (lines.isEmpty())
        lines << tr("Gap: element %1 is in no chunk").arg(where);
    else if (lines.size() > 1)
        lines.prepend(tr("Overlap at %1:").arg(where));
    QToolTip::showText(help->globalPos(), lines.join("\n\n"), this);
    return true;
}

} // namespace shardscope
