// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "chunk_table_model.h"
#include "coverage_view.h"
#include "shard_builder.h"

#include <QTemporaryDir>
#include <QTest>

#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

class TestCoverageView : public QObject {
    Q_OBJECT

private slots:
    void init();
    void emptyStateShowsAHint();
    void sliceLabelFixesLeadingDims();
    void conflictRegionIsMarked();
    void replicasAreStripedAndNamed();
    void legendShowsEveryFileByWhatTellsThemApart();
    void invalidTensorIsDrawnFromItsChunks();
    void invalidTensorWithoutChunksSaysWhy();
    void countsHaveTheirPlural();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path dir(const char* name) const { return fs::path(m_tmp->path().toStdString()) / name; }
    static int index(const Checkpoint& ckpt, const char* fqn) {
        return int(ckpt.find(fqn) - ckpt.tensors.data());
    }
    // A shown view of a fixed size, so layout and pixels are the same on every machine.
    static std::unique_ptr<CoverageView> view(int w = 400, int h = 300) {
        auto v = std::make_unique<CoverageView>();
        v->resize(w, h);
        v->show();
        return v;
    }
    static int countColor(const QImage& image, const QRect& area, const QColor& color) {
        int n = 0;
        for (int y = area.top(); y <= area.bottom(); ++y)
            for (int x = area.left(); x <= area.right(); ++x)
                n += image.pixelColor(x, y).rgb() == color.rgb();
        return n;
    }
};

void TestCoverageView::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
}

void TestCoverageView::emptyStateShowsAHint() {
    auto v = view();
    v->setTensor(nullptr, -1);
    QVERIFY(v->message().contains("Select a tensor"));
    QCOMPARE(v->summary(), QString("No tensor selected"));
    QVERIFY(v->legendEntries().isEmpty());
    const QImage image = v->grab().toImage();
    // Some text is drawn in the middle: not a blank pane.
    const QColor base = v->palette().color(QPalette::Base);
    QVERIFY(countColor(image, QRect(0, 130, 400, 40), base) < 400 * 40);
}

void TestCoverageView::sliceLabelFixesLeadingDims() {
    auto ckpt = std::make_shared<Checkpoint>();
    ckpt->files.push_back({"one.safetensors", {}, 0, 0, 2, true});
    auto whole = [](std::string fqn, Shape shape) {
        TensorInfo t;
        t.fqn = std::move(fqn);
        t.shape = shape;
        t.chunks.push_back({0, Shape(shape.size(), 0), shape, 0, 0, false});
        return t;
    };
    ckpt->tensors.push_back(whole("cube", {2, 4, 6}));
    ckpt->tensors.push_back(whole("hyper", {2, 3, 4, 5}));
    auto v = view();
    v->setTensor(ckpt, 0);
    QCOMPARE(v->sliceLabel(), QString("[0, :, :]"));
    v->setSlice(1);
    QCOMPARE(v->sliceLabel(), QString("[1, :, :]"));
    QVERIFY2(v->summary().contains("3-D: slice [1, :, :] of 2"), qPrintable(v->summary()));
    v->setTensor(ckpt, 1);
    QCOMPARE(v->sliceCount(), 6ull);
    v->setSlice(4); // flat index 4 over [2, 3] is [1, 1]
    QCOMPARE(v->sliceLabel(), QString("[1, 1, :, :]"));
    QVERIFY(v->summary().contains("[1, 1, :, :]"));
    QVERIFY(v->toolTipAt(v->elementRect(2, 3, 4, 5).center()).contains("[1, 1, 2, 4]"));
}

void TestCoverageView::conflictRegionIsMarked() {
    // Rows [0:4] are held by ranks 1 and 3, rows [4:8] by ranks 2 and 4; rank 4 differs.
    const fs::path d = dir("conflict");
    writeCheckpoint(d,
                    {{"w",
                      "U8",
                      {8, 8},
                      {{{0, 0}, {4, 8}}, {{4, 0}, {4, 8}}, {{0, 0}, {4, 8}}, {{4, 0}, {4, 8}}}}},
                    4);
    {
        std::fstream f(d / "shard-00004-model-00001-of-00001.safetensors",
                       std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(-1, std::ios::end);
        const char last = char(f.get() ^ 0x5a);
        f.seekp(-1, std::ios::end);
        f.put(last);
    }
    auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(d));
    QCOMPARE(ckpt->tensors.front().status, CoverageStatus::Conflict);
    auto v = view();
    v->setTensor(ckpt, 0);
    const QImage image = v->grab().toImage();
    const QColor mark = CoverageView::conflictColor();
    const QRect conflicting = v->elementRect(4, 8, 0, 8).toAlignedRect();
    QVERIFY(countColor(image, conflicting, mark) > 50);
    const QRectF clean = v->elementRect(0, 4, 0, 8);
    QCOMPARE(countColor(image, clean.adjusted(0, 0, 0, -1).toAlignedRect(), mark), 0);
    QVERIFY(v->legendKeys().contains("replicas differ"));
    const QString tip = v->toolTipAt(QRectF(conflicting).center());
    QVERIFY2(tip.contains("The replicas differ"), qPrintable(tip));
    QVERIFY(!v->toolTipAt(clean.center()).contains("differ"));
}

void TestCoverageView::replicasAreStripedAndNamed() {
    const fs::path d = dir("replicas");
    writeCheckpoint(d, {{"bias", "F32", {8}, {{{0}, {8}}, {{0}, {8}}, {{0}, {8}}}}}, 3);
    auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(d));
    QCOMPARE(ckpt->tensors.front().status, CoverageStatus::Complete);
    auto v = view();
    v->setTensor(ckpt, 0);
    QVERIFY(v->summary().contains("replicated in 3 files"));
    QCOMPARE(v->legendEntries().size(), 3);
    QVERIFY(v->legendKeys().contains("replicated in 3 files"));
    const QRectF bar = v->elementRect(0, 1, 0, 8);
    const QString tip = v->toolTipAt(bar.center());
    QVERIFY2(tip.contains("Replicated in 3 files"), qPrintable(tip));
    for (const auto& f : ckpt->files)
        QVERIFY2(tip.contains(QString::fromStdString(f.name)), qPrintable(tip));
    // Every holder's colour shows in the stripes.
    const QImage image = v->grab().toImage();
    for (uint32_t f = 0; f < 3; ++f)
        QVERIFY(countColor(image, bar.toAlignedRect(), ChunkTableModel::fileColor(f)) > 20);
}

void TestCoverageView::legendShowsEveryFileByWhatTellsThemApart() {
    // Long names that differ in two places: the rank and the output file.
    const fs::path d = dir("long");
    fs::create_directories(d);
    for (int r = 1; r <= 8; ++r) {
        char name[128];
        std::snprintf(name, sizeof name,
                      "llama-70b-finetune-step-120000-shard-%05d-model-%05d-of-00002.safetensors",
                      r, (r - 1) / 4 + 1);
        const Dims off{uint64_t(r - 1) * 2, 0}, shape{2, 4};
        writeShard(d / name, {{"w", "U8", off, shape, std::string(8, char(r))}});
    }
    auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(d));
    auto v = view(360, 240);
    v->setTensor(ckpt, index(*ckpt, "w"));
    const QStringList entries = v->legendEntries();
    QCOMPARE(entries.size(), 8);
    for (int r = 1; r <= 8; ++r)
        QVERIFY2(entries[r - 1].contains(QString("shard-%1").arg(r, 5, 10, QChar('0'))),
                 qPrintable(entries.join(" | ")));
    QVERIFY(entries[7].contains("model-00002"));
    for (const QString& e : entries)
        QVERIFY2(!e.contains("more") && !e.contains("llama"), qPrintable(e));
    const QStringList keys = v->legendKeys();
    QVERIFY(keys.filter("gap").size() == 1 && keys.filter("overlap").size() == 1);
    QVERIFY(!v->grab().isNull());
}

void TestCoverageView::invalidTensorIsDrawnFromItsChunks() {
    // "w" is [10, 6]; the chunk of rows [3:4] has another dtype, so only two chunks are read.
    const fs::path d = dir("dtype");
    fs::create_directories(d);
    writeShard(d / "shard-00001.safetensors", {{"w", "F32", {0, 0}, {3, 6}, std::string(72, 'a')}});
    writeShard(d / "shard-00002.safetensors",
               {{"w", "BF16", {3, 0}, {1, 6}, std::string(12, 'b')}});
    writeShard(d / "shard-00003.safetensors",
               {{"w", "F32", {4, 0}, {6, 6}, std::string(144, 'c')}});
    auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(d));
    const TensorInfo& t = ckpt->tensors.front();
    QCOMPARE(t.status, CoverageStatus::Invalid);
    QVERIFY(t.shape.empty());
    auto v = view();
    v->setTensor(ckpt, 0);
    QVERIFY(v->message().isEmpty());
    QVERIFY2(!v->summary().contains("Scalar"), qPrintable(v->summary()));
    QVERIFY2(v->summary().contains("Not valid: [10, 6] drawn from 2 readable"),
             qPrintable(v->summary()));
    QVERIFY(v->toolTipAt(v->elementRect(0, 1, 0, 1).center()).contains("dtype BF16 here"));
    const QImage image = v->grab().toImage();
    const QPoint first = v->elementRect(0, 3, 0, 6).center().toPoint();
    QCOMPARE(image.pixelColor(first).rgb(), ChunkTableModel::fileColor(0).rgb());
    const QPoint last = v->elementRect(4, 10, 0, 6).center().toPoint();
    QCOMPARE(image.pixelColor(last).rgb(), ChunkTableModel::fileColor(2).rgb());
    // The row whose chunk could not be read shows as a gap.
    QVERIFY(countColor(image, v->elementRect(3, 4, 0, 6).toAlignedRect().adjusted(2, 2, -2, -2),
                       QColor(255, 235, 235)) > 20);
}

void TestCoverageView::invalidTensorWithoutChunksSaysWhy() {
    auto ckpt = std::make_shared<Checkpoint>();
    ckpt->files.push_back({"one.safetensors", {}, 0, 0, 1, true});
    TensorInfo t;
    t.fqn = "lost";
    t.status = CoverageStatus::Invalid;
    t.coverageDetail = "no valid chunk";
    ckpt->tensors.push_back(t);
    auto v = view();
    v->setTensor(ckpt, 0);
    QCOMPARE(v->message(), QString("Cannot be drawn: no valid chunk"));
    QVERIFY(!v->summary().contains("Scalar"));
    QVERIFY(v->legendEntries().isEmpty());
    QVERIFY(!v->grab().isNull());
}

void TestCoverageView::countsHaveTheirPlural() {
    auto ckpt = std::make_shared<Checkpoint>();
    ckpt->files.push_back({"one.safetensors", {}, 0, 0, 3, true});
    for (const Shape& shape : {Shape{1, 128}, Shape{2048, 1}, Shape{1}}) {
        TensorInfo t;
        t.fqn = "t" + std::to_string(ckpt->tensors.size());
        t.shape = shape;
        t.chunks.push_back({0, Shape(shape.size(), 0), shape, 0, 0, false});
        ckpt->tensors.push_back(t);
    }
    auto v = view();
    v->setTensor(ckpt, 0);
    QVERIFY2(v->summary().startsWith("2-D: 1 row × 128 columns"), qPrintable(v->summary()));
    v->setTensor(ckpt, 1);
    QVERIFY2(v->summary().startsWith("2-D: 2,048 rows × 1 column"), qPrintable(v->summary()));
    v->setTensor(ckpt, 2);
    QVERIFY2(v->summary().startsWith("1-D: 1 element,"), qPrintable(v->summary()));
}

QTEST_MAIN(TestCoverageView)
#include "tst_coverage_view.moc"
