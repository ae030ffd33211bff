// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <QRectF>
#include <QStringList>
#include <QWidget>

#include <memory>
#include <vector>

class QScrollArea;

namespace shardscope {

class CoverageLegend;

// Draws a tensor to scale with each chunk as a block coloured by its shard file; uncovered
// regions are hatched red, overlaps banded orange, replicas striped in their files' colours and
// replicas that differ cross-hatched magenta. 1-D tensors are a bar, 2-D a rectangle, N-D the
// last two dims at one index of the leading dims (setSlice). A tensor that is not valid is drawn
// from the chunks that could be read, with the problem written above it. Below the picture a
// legend names every file (scrolling when long) and explains the patterns.
class CoverageView : public QWidget {
    Q_OBJECT

public:
    explicit CoverageView(QWidget* parent = nullptr);
    ~CoverageView() override;

    void setTensor(std::shared_ptr<const Checkpoint> checkpoint, int tensor);
    // For rank > 2: the flat index over the leading dims.
    void setSlice(uint64_t slice);
    uint64_t sliceCount() const; // 1 for rank <= 2
    QString summary() const;     // one line describing what is drawn

    QString sliceLabel() const;           // "[1, 1, :, :]" for rank > 2, else empty
    QString message() const;              // the text shown instead of a picture, else empty
    QStringList legendEntries() const;    // one short, distinct label per file of the tensor
    QStringList legendKeys() const;       // what the hatches, bands and stripes mean
    QString toolTipAt(QPointF pos) const; // what the tooltip at a widget position says
    // Widget pixels of rows [r0, r1) x columns [c0, c1) of the drawn plane.
    QRectF elementRect(uint64_t r0, uint64_t r1, uint64_t c0, uint64_t c1) const;
    static QColor conflictColor();

    QSize sizeHint() const override { return {420, 260}; }
    QSize minimumSizeHint() const override { return {200, 120}; }

protected:
    void paintEvent(QPaintEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    bool event(QEvent* event) override;

private:
    // One region of the tensor and every chunk holding it (more than one: replicas).
    struct Block {
        std::vector<const Chunk*> chunks;
        uint64_t r0, r1, c0, c1; // in the drawn 2-D plane
        bool conflict = false;   // the replicas named in the tensor's conflict detail
    };
    void deriveShape();
    void layoutBlocks();
    void findOverlaps();
    void markConflicts();
    void updateLegend();
    void placeLegend();
    Shape leadingIndex() const;
    QRectF plane() const; // where the tensor is drawn
    QRectF blockRect(const Block& b, const QRectF& area) const;
    void paintBlock(QPainter& p, const Block& b, const QRectF& r, bool thin) const;
    void paintProblem(QPainter& p, const QRectF& area) const;
    QString problemText() const;
    QRectF problemRect() const;
    QString describe(const Block& b) const;
    bool invalid() const { return m_tensor && m_tensor->status == CoverageStatus::Invalid; }
    size_t maxReplicas() const;
    void computeLabels();

    std::shared_ptr<const Checkpoint> m_checkpoint;
    const TensorInfo* m_tensor = nullptr;
    Shape m_shape; // what is drawn: the tensor's, or for an invalid one what chunks imply
    bool m_drawable = false;
    uint64_t m_slice = 0;
    uint64_t m_rows = 1, m_cols = 1;
    std::vector<Block> m_blocks;
    std::vector<QRectF> m_overlaps; // in element coordinates (x = column, y = row)
    std::vector<QString> m_labels;  // short, distinct name per shard file ("shard-00003")
    QScrollArea* m_legendScroll = nullptr;
    int m_legendHeight = 0; // what the legend takes from the bottom
    CoverageLegend* m_legend = nullptr;
};

} // namespace shardscope
