// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "checkpoint.h"

#include <QRectF>
#include <QWidget>

#include <memory>
#include <vector>

namespace shardscope {

// Draws a tensor to scale with each chunk as a block coloured by its shard file; uncovered
// regions are hatched red and overlaps outlined. 1-D tensors are a bar, 2-D a rectangle, N-D the
// last two dims at one index of the leading dims (setSlice). Hover tooltips name file and region.
class CoverageView : public QWidget {
    Q_OBJECT

public:
    explicit CoverageView(QWidget* parent = nullptr);

    void setTensor(std::shared_ptr<const Checkpoint> checkpoint, int tensor);
    // For rank > 2: the flat index over the leading dims.
    void setSlice(uint64_t slice);
    uint64_t sliceCount() const; // 1 for rank <= 2
    QString summary() const;     // one line describing what is drawn

    QSize sizeHint() const override { return {420, 260}; }
    QSize minimumSizeHint() const override { return {200, 120}; }

protected:
    void paintEvent(QPaintEvent* event) override;
    bool event(QEvent* event) override;

private:
    struct Block {
        const Chunk* chunk;
        uint64_t r0, r1, c0, c1; // in the drawn 2-D plane
    };
    void layoutBlocks();
    QRectF plane() const; // where the tensor is drawn
    QRectF blockRect(const Block& b, const QRectF& area) const;
    QString describe(const Block& b) const;
    // Legend entries laid out for the current width; the picture gets what is left.
    struct LegendItem {
        uint32_t file;
        QRectF box;
        QString label;
    };
    std::vector<LegendItem> legendLayout(double& height) const;
    void computeLabels();

    std::shared_ptr<const Checkpoint> m_checkpoint;
    const TensorInfo* m_tensor = nullptr;
    uint64_t m_slice = 0;
    uint64_t m_rows = 1, m_cols = 1;
    std::vector<Block> m_blocks;
    std::vector<QRectF> m_overlaps; // in element coordinates (x = column, y = row)
    std::vector<QString> m_labels;  // short, distinct name per shard file ("shard-00003")
};

} // namespace shardscope
