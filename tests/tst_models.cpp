// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "chunk_table_model.h"
#include "coverage_view.h"
#include "mapping_document.h"
#include "output_files_model.h"
#include "problems_model.h"
#include "shard_builder.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <filesystem>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

class TestModels : public QObject {
    Q_OBJECT

private slots:
    void init();
    void modelsPassTheTesterThroughEdits();
    void naturalSortAndSortBySize();
    void filtering();
    void editTargetThroughTheModelAndUndo();
    void assignManyAndNewFile();
    void groupBySizeThroughTheDocument();
    void unassignedAreFlagged();
    void coverageViewSlices();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    MappingDocument m_doc;
    std::shared_ptr<const Checkpoint> open(const std::vector<SplitTensor>& tensors,
                                           const Mapping& m = {}) {
        const fs::path dir = fs::path(m_tmp->path().toStdString()) / "ck";
        fs::remove_all(dir);
        writeCheckpoint(dir, tensors, 2);
        auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(dir));
        m_doc.reset(ckpt, m);
        return ckpt;
    }
    std::vector<SplitTensor> sample() {
        return {{"layers.10.w", "F32", {4, 4}, splitDim({4, 4}, 0, 2)},
                {"layers.2.w", "BF16", {64, 8}, splitDim({64, 8}, 1, 2)},
                {"layers.1.w", "F32", {2}, splitDim({2}, 0, 2)},
                {"embed", "U8", {300}, splitDim({300}, 0, 2)},
                {"cube", "F16", {3, 4, 6}, splitDim({3, 4, 6}, 2, 2)},
                {"holey", "U8", {8}, {{{0}, {3}}, {{5}, {3}}}}};
    }
    static QStringList column(QAbstractItemModel* m, int col) {
        QStringList out;
        for (int r = 0; r < m->rowCount(); ++r)
            out << m->index(r, col).data().toString();
        return out;
    }
};

void TestModels::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
}

void TestModels::modelsPassTheTesterThroughEdits() {
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    ChunkTableModel chunks;
    OutputFilesModel outputs(&m_doc);
    ProblemsModel problems(&m_doc);
    QAbstractItemModelTester t1(&tensors, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t2(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t3(&chunks, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t4(&outputs, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t5(&problems, QAbstractItemModelTester::FailureReportingMode::QtTest);

    auto ckpt = open(sample());
    QCOMPARE(tensors.rowCount(), 6);
    chunks.setTensor(ckpt, 0);
    QVERIFY(chunks.rowCount() > 0);
    proxy.sort(TensorTableModel::NameColumn);
    proxy.setText("layers", false);
    QCOMPARE(proxy.rowCount(), 3);
    m_doc.assign({0, 1}, 3);
    m_doc.undoStack()->undo();
    m_doc.undoStack()->redo();
    proxy.setText({}, false);
    proxy.setTargetFilter(3);
    QCOMPARE(proxy.rowCount(), 2);
    proxy.setTargetFilter(TensorFilterProxy::Any);
    chunks.setTensor(ckpt, 4);
    open(sample()); // a second reset from a new snapshot
    chunks.setTensor(nullptr, -1);
    QCOMPARE(chunks.rowCount(), 0);
    QVERIFY(problems.rowCount() >= 1); // the hole
}

void TestModels::naturalSortAndSortBySize() {
    open(sample());
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    proxy.setText("layers.", false);
    proxy.sort(TensorTableModel::NameColumn, Qt::AscendingOrder);
    QCOMPARE(column(&proxy, TensorTableModel::NameColumn),
             (QStringList{"layers.1.w", "layers.2.w", "layers.10.w"}));
    proxy.setText({}, false);
    proxy.sort(TensorTableModel::SizeColumn, Qt::DescendingOrder);
    // By bytes, not by the text "1.00 KiB" vs "300 B": 1024, 300, 144, 64, then 8 and 8.
    const QStringList names = column(&proxy, TensorTableModel::NameColumn);
    QCOMPARE(names.mid(0, 4), (QStringList{"layers.2.w", "embed", "cube", "layers.10.w"}));
}

void TestModels::filtering() {
    open(sample());
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    proxy.setText("LAYERS", false); // case-insensitive substring
    QCOMPARE(proxy.rowCount(), 3);
    proxy.setText(R"(^layers\.(1|2)\.)", true);
    QCOMPARE(proxy.rowCount(), 2);
    proxy.setText("([unclosed", true);
    QVERIFY(!proxy.isRegexValid());
    QCOMPARE(proxy.rowCount(), 0);
    proxy.setText({}, false);
    proxy.setDTypeFilter(int(DType::F32));
    QCOMPARE(proxy.rowCount(), 2);
    proxy.setDTypeFilter(TensorFilterProxy::Any);
    proxy.setStatusFilter(TensorFilterProxy::AnyProblem);
    QCOMPARE(proxy.rowCount(), 1);
    QCOMPARE(proxy.index(0, TensorTableModel::NameColumn).data().toString(), QString("holey"));
    QCOMPARE(proxy.index(0, TensorTableModel::StatusColumn).data().toString(), QString("Gap"));
    proxy.setStatusFilter(int(CoverageStatus::Complete));
    QCOMPARE(proxy.rowCount(), 5);
}

void TestModels::editTargetThroughTheModelAndUndo() {
    open(sample());
    TensorTableModel tensors(&m_doc);
    QSignalSpy changed(&tensors, &QAbstractItemModel::dataChanged);
    const QModelIndex cell = tensors.index(2, TensorTableModel::TargetColumn);
    QVERIFY(tensors.flags(cell) & Qt::ItemIsEditable);
    QVERIFY(!(tensors.flags(tensors.index(2, 0)) & Qt::ItemIsEditable));
    QCOMPARE(cell.data(Qt::EditRole).toInt(), 1);
    QVERIFY(tensors.setData(cell, 2));
    QCOMPARE(m_doc.target(2), 2);
    QCOMPARE(m_doc.fileCount(), 2);
    QCOMPARE(cell.data().toString(), QString("model-00002-of-00002.safetensors"));
    QVERIFY(changed.count() >= 1);
    QVERIFY(m_doc.undoStack()->undoText().startsWith("Assign "));
    QVERIFY(!tensors.setData(cell, 0)); // index 0 is not a file
    QVERIFY(!tensors.setData(cell, "x"));
    m_doc.undoStack()->undo();
    QCOMPARE(m_doc.target(2), 1);
    QCOMPARE(m_doc.fileCount(), 1);
    m_doc.undoStack()->redo();
    QCOMPARE(m_doc.target(2), 2);
    QCOMPARE(m_doc.fileCount(), 2);
}

void TestModels::assignManyAndNewFile() {
    open(sample());
    OutputFilesModel outputs(&m_doc);
    QCOMPARE(outputs.rowCount(), 1);
    m_doc.assign({0, 3, 5}, 2);
    QCOMPARE(m_doc.undoStack()->undoText(), QString("Assign 3 tensors to file 2"));
    QCOMPARE(outputs.rowCount(), 2);
    QCOMPARE(outputs.index(1, OutputFilesModel::TensorsColumn).data().toULongLong(), 3ull);
    const int added = m_doc.addOutputFile();
    QCOMPARE(added, 3);
    QCOMPARE(outputs.rowCount(), 3);
    QVERIFY(outputs.index(2, 0).data().toString().contains("empty"));
    m_doc.undoStack()->undo();
    m_doc.undoStack()->undo();
    QCOMPARE(outputs.rowCount(), 1);
    QCOMPARE(m_doc.target(3), 1);
    Mapping m = m_doc.toMapping();
    QCOMPARE(m.fileIndex.size(), size_t(6));
}

void TestModels::groupBySizeThroughTheDocument() {
    auto ckpt = open(sample());
    OutputFilesModel outputs(&m_doc);
    m_doc.applyMapping(groupBySize(*ckpt, 400), "Group by maximum size");
    // Natural order: cube 144; embed 300 would pass 400 -> file 2 with holey and layers.1;
    // layers.2 (1024) alone in 3; layers.10 starts 4.
    QCOMPARE(m_doc.target(size_t(ckpt->find("cube") - ckpt->tensors.data())), 1);
    QCOMPARE(m_doc.target(size_t(ckpt->find("embed") - ckpt->tensors.data())), 2);
    QCOMPARE(m_doc.target(size_t(ckpt->find("layers.2.w") - ckpt->tensors.data())), 3);
    QCOMPARE(m_doc.target(size_t(ckpt->find("layers.10.w") - ckpt->tensors.data())), 4);
    for (int r = 0; r < outputs.rowCount(); ++r) {
        const auto bytes = outputs.index(r, 0).data(OutputFilesModel::SortRole);
        Q_UNUSED(bytes);
        const qulonglong size = outputs.index(r, OutputFilesModel::BytesColumn)
                                    .data(OutputFilesModel::SortRole)
                                    .toULongLong();
        const qulonglong count =
            outputs.index(r, OutputFilesModel::TensorsColumn).data().toULongLong();
        QVERIFY(size <= 400 || count == 1);
    }
    QCOMPARE(m_doc.undoStack()->undoText(), QString("Group by maximum size"));
    m_doc.undoStack()->undo();
    QCOMPARE(m_doc.fileCount(), 1);
}

void TestModels::unassignedAreFlagged() {
    Mapping m = parseMapping(R"({"embed": 1, "cube": 2, "tied.alias": 2})", "map.json");
    open(sample(), m);
    ProblemsModel problems(&m_doc);
    TensorTableModel tensors(&m_doc);
    QCOMPARE(m_doc.unassignedCount(), size_t(4));
    int unassignedRows = 0, absentRows = 0;
    for (int r = 0; r < problems.rowCount(); ++r) {
        const QString message = problems.index(r, ProblemsModel::MessageColumn).data().toString();
        if (message.contains("not assigned")) {
            ++unassignedRows;
            QVERIFY(problems.index(r, 0).data(ProblemsModel::TensorIndexRole).toInt() >= 0);
        }
        if (message.contains("in no shard")) ++absentRows;
    }
    QCOMPARE(unassignedRows, 4);
    QCOMPARE(absentRows, 1);
    const QModelIndex layer1 = tensors.index(
        int(m_doc.checkpoint()->find("layers.1.w") - m_doc.checkpoint()->tensors.data()),
        TensorTableModel::TargetColumn);
    QCOMPARE(layer1.data().toString(), QString("(unassigned)"));
    m_doc.assign({size_t(layer1.row())}, 1);
    QCOMPARE(m_doc.unassignedCount(), size_t(3));
    QVERIFY(m_doc.toMapping().fileIndex.count("tied.alias")); // kept for saving
}

void TestModels::coverageViewSlices() {
    auto ckpt = open(sample());
    CoverageView view;
    view.resize(400, 300);
    const int cube = int(ckpt->find("cube") - ckpt->tensors.data());
    view.setTensor(ckpt, cube);
    QCOMPARE(view.sliceCount(), 3ull);
    view.setSlice(2);
    QVERIFY(view.summary().contains("3-D"));
    QVERIFY(!view.grab().isNull());
    view.setTensor(ckpt, int(ckpt->find("holey") - ckpt->tensors.data()));
    QCOMPARE(view.sliceCount(), 1ull);
    QVERIFY(view.summary().contains("1-D"));
    // 400x300 widget: the bar spans x 12..388 around y 139; "holey" covers [0:3] and [5:8].
    const QImage image = view.grab().toImage();
    const QColor gapBackground(255, 235, 235), hatch(0xc6, 0x28, 0x28);
    int background = 0;
    for (int x = 160; x < 240; ++x) { // inside [3:5] -> x 153..247
        const QColor c = image.pixelColor(x, 139);
        QVERIFY2(c.rgb() == gapBackground.rgb() || c.rgb() == hatch.rgb(), qPrintable(c.name()));
        background += c.rgb() == gapBackground.rgb();
    }
    QVERIFY(background > 10);
    const uint32_t firstFile = ckpt->find("holey")->chunks.front().file;
    QCOMPARE(image.pixelColor(60, 139).rgb(), ChunkTableModel::fileColor(firstFile).rgb());
}

QTEST_MAIN(TestModels)
#include "tst_models.moc"
