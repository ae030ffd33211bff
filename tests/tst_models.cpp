// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "byte_items_model.h"
#include "chunk_table_model.h"
#include "coverage_view.h"
#include "dcp_builder.h"
#include "dtype_totals.h"
#include "files_model.h"
#include "main_window.h"
#include "mapping_document.h"
#include "name_elide_delegate.h"
#include "output_files_model.h"
#include "problems_model.h"
#include "shard_builder.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"

#include <QAbstractItemModelTester>
#include <QComboBox>
#include <QHeaderView>
#include <QLocale>
#include <QSettings>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <filesystem>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

class TestModels : public QObject {
    Q_OBJECT

private slots:
    void dottedNamesKeepLayerNumbers();
    void fileNamesKeepTheirNumbers();
    void initTestCase();
    void init();
    void modelsPassTheTesterThroughEdits();
    void naturalSortAndSortBySize();
    void filtering();
    void editTargetThroughTheModelAndUndo();
    void assignManyAndNewFile();
    void groupBySizeThroughTheDocument();
    void unassignedAreFlagged();
    void coverageViewSlices();
    void invalidTensorRowsAndTargetAgreeWithThePlan();
    void brokenFileIsNeverComplete();
    void filesModelListsSkippedFiles();
    void shortOutputFormWithFullNameTooltip();
    void emptyStatesAndFilterChoices();
    void sizeTiesInNaturalOrderAndShapesByDims();
    void countsUseTheLocale();
    void dtypeTotals();
    void mainWindowLeadsToTheFileAndFits1024();
    void byteItemsModelListsAndSorts();
    void kindColumnSortsAndFilters();
    void trainingStateAloneIsNotExported();
    void trainingStateIsNotExportedNotUnassigned();
    void chunkTableShowsStridedAndZstd();
    void protocolTwoMetadataWithoutPlannerData();

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
    fs::path dir(const char* name) const { return fs::path(m_tmp->path().toStdString()) / name; }
    std::shared_ptr<const Checkpoint> openDir(const fs::path& d, const Mapping& m = {}) {
        auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(d));
        m_doc.reset(ckpt, m);
        return ckpt;
    }
    // "w" has a dtype conflict (F32 [3, 6] at [0, 0], F16 [1, 6] at [9, 0]); "nooff" has no
    // saved_offsets at all; "ok" is sound; the third file is truncated.
    std::shared_ptr<const Checkpoint> openBroken() {
        const fs::path d = dir("broken");
        fs::remove_all(d);
        fs::create_directories(d);
        const std::string six(6 * 4, 'x');
        writeShard(d / "rank-1.safetensors", {{"ok", "F32", {0}, {2}, std::string(8, 'a')},
                                              {"w", "F32", {0, 0}, {3, 6}, std::string(72, 'w')}});
        ShardOptions noOffsets;
        noOffsets.shardingInfoOverride =
            R"({"ok":{"saved_offsets":[2]},"w":{"saved_offsets":[9,0]}})";
        writeShard(d / "rank-2.safetensors",
                   {{"ok", "F32", {2}, {2}, std::string(8, 'b')},
                    {"w", "F16", {9, 0}, {1, 6}, std::string(12, 'v')},
                    {"nooff", "F32", {0}, {2}, std::string(8, 'n')}},
                   noOffsets);
        writeShard(d / "rank-3.safetensors", {{"ok", "F32", {0}, {2}, std::string(8, 'a')}});
        fs::resize_file(d / "rank-3.safetensors", fs::file_size(d / "rank-3.safetensors") - 3);
        return openDir(d);
    }
    std::shared_ptr<const Checkpoint> openDcp() {
        const fs::path d = dir("dcp");
        fs::remove_all(d);
        writeTrainingCheckpoint(d);
        auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(d));
        m_doc.reset(ckpt, defaultMapping(*ckpt));
        return ckpt;
    }
    int row(const char* fqn) const {
        auto ckpt = m_doc.checkpoint();
        return int(ckpt->find(fqn) - ckpt->tensors.data());
    }
    static QStringList column(QAbstractItemModel* m, int col) {
        QStringList out;
        for (int r = 0; r < m->rowCount(); ++r)
            out << m->index(r, col).data().toString();
        return out;
    }
};

void TestModels::initTestCase() {
    QLocale::setDefault(QLocale(QLocale::English, QLocale::UnitedStates)); // "2,048"
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName("ShardScopeTest");
    QCoreApplication::setApplicationName("ShardScopeModelsTest");
}

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
    FilesModel files(&m_doc);
    QAbstractItemModelTester t1(&tensors, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t2(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t3(&chunks, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t4(&outputs, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t5(&problems, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t6(&files, QAbstractItemModelTester::FailureReportingMode::QtTest);

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
    QCOMPARE(files.rowCount(), 2);
    proxy.sort(TensorTableModel::ShapeColumn);
    proxy.sort(TensorTableModel::SizeColumn, Qt::DescendingOrder);
    // Broken checkpoints through the same models: a skipped file, an invalid tensor.
    openBroken();
    QCOMPARE(files.rowCount(), 3);
    chunks.setTensor(m_doc.checkpoint(), 0);
    m_doc.reset(nullptr, {});
    QCOMPARE(files.rowCount(), 0);
    QCOMPARE(tensors.rowCount(), 0);
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
    // Regex mode ignores case too, and runs in linear time (RE2, as the command line): a pattern
    // that backtracks without end in a backtracking engine filters at once.
    proxy.setText(R"(^LAYERS\.1\.)", true);
    QCOMPARE(proxy.rowCount(), 1);
    proxy.setText("(l*)*(a*)*(y*)*(e*)*(r*)*(s*)*x$", true);
    QVERIFY(proxy.isRegexValid());
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
    QCOMPARE(cell.data().toString(), QString("00002/00002"));
    QCOMPARE(cell.data(TensorTableModel::TargetFileNameRole).toString(),
             QString("model-00002-of-00002.safetensors"));
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
    QCOMPARE(outputs.index(1, OutputFilesModel::TensorsColumn).data().toString(), QString("3"));
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
        const qulonglong count = outputs.index(r, OutputFilesModel::TensorsColumn)
                                     .data(OutputFilesModel::SortRole)
                                     .toULongLong();
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

void TestModels::invalidTensorRowsAndTargetAgreeWithThePlan() {
    auto ckpt = openBroken();
    TensorTableModel tensors(&m_doc);
    QAbstractItemModelTester tester(&tensors,
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    auto cell = [&](const char* fqn, int column) { return tensors.index(row(fqn), column); };
    // The shape the readable chunks imply, marked; never "[]", 1 element, 0 B.
    QCOMPARE(cell("w", TensorTableModel::StatusColumn).data().toString(), QString("Invalid"));
    QCOMPARE(cell("w", TensorTableModel::ShapeColumn).data().toString(), QString("[3, 6]?"));
    QCOMPARE(cell("w", TensorTableModel::ElementsColumn).data().toString(), QString("18?"));
    QCOMPARE(cell("w", TensorTableModel::SizeColumn).data().toString(), QString("?"));
    QVERIFY(cell("w", TensorTableModel::ShapeColumn)
                .data(Qt::ToolTipRole)
                .toString()
                .contains("dtype F16 here but F32"));
    QCOMPARE(cell("nooff", TensorTableModel::ShapeColumn).data().toString(), QString("?"));
    QCOMPARE(cell("nooff", TensorTableModel::ElementsColumn).data().toString(), QString("?"));
    QCOMPARE(cell("nooff", TensorTableModel::SizeColumn).data().toString(), QString("?"));
    // The target is what the export (and `shardscope-cli inspect`) would do: makePlan's map.
    const Plan plan = makePlan(*ckpt, m_doc.toMapping(), UnmappedPolicy::Error);
    for (int r = 0; r < tensors.rowCount(); ++r) {
        const std::string& fqn = ckpt->tensors[size_t(r)].fqn;
        auto it = plan.weightMap.find(fqn);
        const QString expected =
            it == plan.weightMap.end() ? "(unassigned)" : QString::fromStdString(it->second);
        QCOMPARE(tensors.index(r, 0).data(TensorTableModel::TargetFileNameRole).toString(),
                 expected);
    }
    QCOMPARE(cell("w", TensorTableModel::TargetColumn).data().toString(), QString("(unassigned)"));
    QCOMPARE(cell("w", 0).data(TensorTableModel::TargetRole).toInt(), 0);
    QVERIFY(!(cell("w", TensorTableModel::TargetColumn).flags() & Qt::ItemIsEditable));
    QVERIFY(!tensors.setData(cell("w", TensorTableModel::TargetColumn), 1));
    QCOMPARE(cell("ok", TensorTableModel::TargetColumn).data().toString(), QString("00001/00001"));
    // The output file list agrees: the invalid tensors are counted nowhere.
    OutputFilesModel outputs(&m_doc);
    QCOMPARE(outputs.rowCount(), 1);
    QCOMPARE(outputs.index(0, OutputFilesModel::TensorsColumn).data().toString(), QString("1"));
}

void TestModels::brokenFileIsNeverComplete() {
    auto ckpt = openBroken();
    QCOMPARE(ckpt->find("ok")->status, CoverageStatus::Complete); // the core's view
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    const QModelIndex status = tensors.index(row("ok"), TensorTableModel::StatusColumn);
    QCOMPARE(status.data().toString(), QString("Broken file"));
    QCOMPARE(status.data(TensorTableModel::StatusRole).toInt(), TensorTableModel::BrokenFileStatus);
    QCOMPARE(status.data(Qt::ForegroundRole).value<QColor>(),
             TensorTableModel::statusColor(TensorTableModel::BrokenFileStatus));
    QVERIFY(status.data(Qt::ToolTipRole).toString().contains("rank-3.safetensors"));
    QVERIFY(tensors.statusDetail(row("ok")).contains("past the end"));
    proxy.setStatusFilter(TensorFilterProxy::AnyProblem);
    QCOMPARE(proxy.rowCount(), 3); // ok (broken file), w and nooff (invalid)
    proxy.setStatusFilter(int(CoverageStatus::Complete));
    QCOMPARE(proxy.rowCount(), 0);
    proxy.setStatusFilter(TensorTableModel::BrokenFileStatus);
    QCOMPARE(proxy.rowCount(), 1);
    // A sound checkpoint has no broken file.
    open(sample());
    for (int r = 0; r < tensors.rowCount(); ++r)
        QVERIFY(tensors.index(r, 0).data(TensorTableModel::StatusRole).toInt() !=
                TensorTableModel::BrokenFileStatus);
}

void TestModels::filesModelListsSkippedFiles() {
    openBroken();
    FilesModel files(&m_doc);
    ProblemsModel problems(&m_doc);
    QAbstractItemModelTester tester(&files, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(column(&files, FilesModel::NameColumn),
             (QStringList{"rank-1.safetensors", "rank-2.safetensors", "rank-3.safetensors"}));
    QCOMPARE(column(&files, FilesModel::StatusColumn),
             (QStringList{"Valid", "Read, with problems", "Skipped"}));
    QCOMPARE(files.index(2, FilesModel::TensorsColumn).data().toString(), QString("—"));
    QCOMPARE(files.index(0, FilesModel::TensorsColumn).data().toString(), QString("2"));
    QVERIFY(files.index(2, FilesModel::ReasonColumn).data().toString().contains("past the end"));
    QCOMPARE(files.index(2, FilesModel::SizeColumn).data(FilesModel::SortRole).toULongLong(),
             qulonglong(fs::file_size(dir("broken") / "rank-3.safetensors")));
    QCOMPARE(files.skippedCount(), 1);
    // The truncated file's problem is file-level and leads to the file's row.
    int fileLevel = 0;
    for (int r = 0; r < problems.rowCount(); ++r) {
        const QModelIndex p = problems.index(r, 0);
        if (!p.data(ProblemsModel::FileLevelRole).toBool()) continue;
        ++fileLevel;
        QCOMPARE(p.data(ProblemsModel::FileIndexRole).toInt(), 2);
        QCOMPARE(files.rowOfFile(p.data(ProblemsModel::FileNameRole).toString()), 2);
    }
    QCOMPARE(fileLevel, 1);

    // Unknown dtype in every shard ("0 of 0 tensors"), plus an entry that is not a file.
    const fs::path d = dir("unknown");
    fs::create_directories(d);
    for (const char* name : {"a.safetensors", "b.safetensors"})
        writeShard(d / name, {{"x", "F7", {0}, {4}, "abcd"}});
    QVERIFY(makeSocket(d / "c.safetensors"));
    openDir(d);
    TensorTableModel tensors(&m_doc);
    QCOMPARE(tensors.rowCount(), 0);
    QVERIFY(tensors.emptyText().contains("every shard file was skipped"));
    QCOMPARE(files.rowCount(), 3);
    QCOMPARE(files.skippedCount(), 3);
    QVERIFY(files.index(0, FilesModel::ReasonColumn).data().toString().contains("F7"));
    QVERIFY(files.index(2, FilesModel::ReasonColumn).data().toString().contains("not a regular"));
    QCOMPARE(files.index(2, 0).data(FilesModel::FileIndexRole).toInt(), -1);
    for (int r = 0; r < problems.rowCount(); ++r) {
        const QModelIndex p = problems.index(r, 0);
        QVERIFY(p.data(ProblemsModel::FileLevelRole).toBool());
        QVERIFY(files.rowOfFile(p.data(ProblemsModel::FileNameRole).toString()) >= 0);
    }
}

void TestModels::shortOutputFormWithFullNameTooltip() {
    open(sample());
    TensorTableModel tensors(&m_doc);
    m_doc.assign({1}, 3);
    const QModelIndex cell = tensors.index(1, TensorTableModel::TargetColumn);
    QCOMPARE(cell.data().toString(), QString("00003/00003"));
    QCOMPARE(cell.data(Qt::ToolTipRole).toString(), QString("model-00003-of-00003.safetensors"));
    QCOMPARE(tensors.index(0, TensorTableModel::TargetColumn).data().toString(),
             QString("00001/00003"));
    QCOMPARE(TensorTableModel::shortTargetName(0, 4), QString("(unassigned)"));
    // The layout: the column to edit and the coverage come before the wide numeric ones.
    QCOMPARE(int(TensorTableModel::TargetColumn), 2);
    QVERIFY(TensorTableModel::StatusColumn < TensorTableModel::SizeColumn);
    QCOMPARE(tensors.headerData(TensorTableModel::TargetColumn, Qt::Horizontal, Qt::DisplayRole)
                 .toString(),
             QString("Output file"));
    const QFontMetrics metrics(QFont{});
    int width = 0;
    for (int c : {TensorTableModel::NameColumn, TensorTableModel::DTypeColumn,
                  TensorTableModel::TargetColumn, TensorTableModel::StatusColumn}) {
        QVERIFY(TensorTableModel::defaultColumnWidth(c, metrics) >=
                metrics.horizontalAdvance(
                    tensors.headerData(c, Qt::Horizontal, Qt::DisplayRole).toString()));
        width += TensorTableModel::defaultColumnWidth(c, metrics);
    }
    QVERIFY2(width < 600, qPrintable(QString::number(width))); // the table's share of 1024
    QVERIFY(TensorTableModel::defaultColumnWidth(TensorTableModel::TargetColumn, metrics) >=
            metrics.horizontalAdvance("00003/00004"));
}

void TestModels::emptyStatesAndFilterChoices() {
    m_doc.reset(nullptr, {});
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    ProblemsModel problems(&m_doc);
    ChunkTableModel chunks;
    // Nothing open: every combo still has its "Any" entry, and nothing else.
    QCOMPARE(TensorFilterProxy::dtypeChoices(m_doc).size(), size_t(1));
    QCOMPARE(TensorFilterProxy::dtypeChoices(m_doc).front().text, QString("Any dtype"));
    QCOMPARE(TensorFilterProxy::targetChoices(m_doc).size(), size_t(1));
    QCOMPARE(TensorFilterProxy::targetChoices(m_doc).front().text, QString("Any output file"));
    const auto statuses = TensorFilterProxy::statusChoices();
    QCOMPARE(statuses.front().text, QString("Any coverage"));
    QCOMPARE(statuses.back().text, QString("Broken file"));
    QCOMPARE(proxy.emptyText(), QString("No checkpoint open"));
    QCOMPARE(problems.emptyText(), QString("No checkpoint open"));
    QCOMPARE(chunks.emptyText(), QString("No tensor selected"));
    // A clean checkpoint: no rows, and the view paints "No problems" (no placeholder row).
    auto sound = sample();
    sound.pop_back(); // without "holey"
    open(sound);
    QCOMPARE(problems.rowCount(), 0);
    QCOMPARE(problems.emptyText(), QString("No problems"));
    QCOMPARE(problems.property("emptyText").toString(), QString("No problems"));
    QCOMPARE(TensorFilterProxy::dtypeChoices(m_doc).size(), size_t(5));  // Any, U8, F16, BF16, F32
    QCOMPARE(TensorFilterProxy::targetChoices(m_doc).size(), size_t(3)); // Any, 1, unassigned
    QCOMPARE(proxy.emptyText(), QString());
    proxy.setText("no such tensor", false);
    QCOMPARE(proxy.rowCount(), 0);
    QCOMPARE(proxy.emptyText(), QString("No tensor matches the filter"));
    QCOMPARE(proxy.property("emptyText").toString(), QString("No tensor matches the filter"));
    // The chunk table's headers stay short enough to read in a narrow pane.
    for (int c = 0; c < ChunkTableModel::ColumnCount; ++c)
        QVERIFY(chunks.headerData(c, Qt::Horizontal, Qt::DisplayRole).toString().size() <= 10);
    QVERIFY(chunks.headerData(ChunkTableModel::OffsetsColumn, Qt::Horizontal, Qt::ToolTipRole)
                .toString()
                .contains("saved_offsets"));
    chunks.setTensor(m_doc.checkpoint(), 0);
    QCOMPARE(chunks.emptyText(), QString());
}

void TestModels::sizeTiesInNaturalOrderAndShapesByDims() {
    open({{"a.10", "U8", {4}, splitDim({4}, 0, 2)},
          {"a.2", "U8", {4}, splitDim({4}, 0, 2)},
          {"a.100", "U8", {4}, splitDim({4}, 0, 2)},
          {"a.1", "U8", {4}, splitDim({4}, 0, 2)},
          {"big", "U8", {16}, splitDim({16}, 0, 2)},
          {"s.wide", "U8", {1024, 2}, splitDim({1024, 2}, 0, 2)},
          {"s.narrow", "U8", {256, 2}, splitDim({256, 2}, 0, 2)},
          {"s.cube", "U8", {2, 2, 2}, splitDim({2, 2, 2}, 0, 2)}});
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    proxy.setText("a.", false);
    proxy.sort(TensorTableModel::SizeColumn, Qt::AscendingOrder);
    const QStringList natural{"a.1", "a.2", "a.10", "a.100"};
    QCOMPARE(column(&proxy, TensorTableModel::NameColumn), natural);
    proxy.sort(TensorTableModel::SizeColumn, Qt::DescendingOrder);
    QCOMPARE(column(&proxy, TensorTableModel::NameColumn), natural); // ties stay ascending
    proxy.sort(TensorTableModel::DTypeColumn, Qt::AscendingOrder);
    QCOMPARE(column(&proxy, TensorTableModel::NameColumn), natural);
    // Shapes by rank, then each dim as a number: not "[1024, 2]" before "[256, 2]".
    proxy.setText("s.", false);
    proxy.sort(TensorTableModel::ShapeColumn, Qt::AscendingOrder);
    QCOMPARE(column(&proxy, TensorTableModel::ShapeColumn),
             (QStringList{"[256, 2]", "[1024, 2]", "[2, 2, 2]"}));
    proxy.sort(TensorTableModel::ShapeColumn, Qt::DescendingOrder);
    QCOMPARE(column(&proxy, TensorTableModel::ShapeColumn),
             (QStringList{"[2, 2, 2]", "[1024, 2]", "[256, 2]"}));
}

void TestModels::countsUseTheLocale() {
    std::vector<SplitTensor> many;
    for (int i = 0; i < 2100; ++i)
        many.push_back({"t." + std::to_string(i), "U8", {1}, {{{0}, {1}}}});
    many.push_back({"wide", "U8", {2048}, splitDim({2048}, 0, 2)});
    Mapping m = parseMapping(R"({"wide": 1})", "map.json");
    open(many, m);
    TensorTableModel tensors(&m_doc);
    OutputFilesModel outputs(&m_doc);
    ProblemsModel problems(&m_doc);
    QCOMPARE(tensors.index(row("wide"), TensorTableModel::ElementsColumn).data().toString(),
             QString("2,048"));
    QCOMPARE(outputs.rowCount(), 2); // file 1 and the unassigned
    QCOMPARE(outputs.index(1, OutputFilesModel::TensorsColumn).data().toString(), QString("2,100"));
    QCOMPARE(outputs.index(1, OutputFilesModel::TensorsColumn)
                 .data(OutputFilesModel::SortRole)
                 .toULongLong(),
             2100ull);
    QVERIFY(outputs.index(0, OutputFilesModel::BytesColumn)
                .data(Qt::ToolTipRole)
                .toString()
                .startsWith("2,048 bytes"));
    // 1,000 clickable rows, then one row that counts the rest with separators.
    const QModelIndex last = problems.index(problems.rowCount() - 1, ProblemsModel::MessageColumn);
    QCOMPARE(last.data().toString(),
             QString("1,100 more tensors are not assigned to an output file"));
    QCOMPARE(problems.rowCount(), int(ProblemsModel::kMaxUnassignedRows) + 1);
}

void TestModels::dtypeTotals() {
    auto ckpt = open(sample());
    const DTypeTotals totals = computeDTypeTotals(*ckpt);
    QCOMPARE(totals.tensors, 6ull);
    QCOMPARE(totals.parameters, 16ull + 2 + 512 + 300 + 72 + 8);
    QCOMPARE(totals.bytes, ckpt->totalBytes());
    QCOMPARE(totals.invalidTensors, 0ull);
    QCOMPARE(totals.byDType.size(), size_t(4));
    // Largest first: BF16 1,024 B; U8 308 B; F16 144 B; F32 72 B.
    QCOMPARE(totals.byDType[0].dtype, DType::BF16);
    QCOMPARE(totals.byDType[0].parameters, 512ull);
    QCOMPARE(totals.byDType[0].bytes, 1024ull);
    QCOMPARE(totals.byDType[1].dtype, DType::U8);
    QCOMPARE(totals.byDType[1].tensors, 2ull);
    QCOMPARE(totals.byDType[1].parameters, 308ull);
    QCOMPARE(totals.byDType[3].dtype, DType::F32);
    QCOMPARE(totals.byDType[3].tensors, 2ull);
    QCOMPARE(totals.byDType[3].parameters, 18ull);
    QCOMPARE(totals.byDType[3].bytes, 72ull);
    // Invalid tensors are counted apart, never as one element of 0 bytes.
    const DTypeTotals broken = computeDTypeTotals(*openBroken());
    QCOMPARE(broken.invalidTensors, 2ull);
    QCOMPARE(broken.tensors, 1ull);
    QCOMPARE(broken.parameters, 4ull);
    QCOMPARE(broken.bytes, 16ull);
}

void TestModels::mainWindowLeadsToTheFileAndFits1024() {
    QSettings().clear();
    MainWindow w;
    // Nothing open: every filter combo offers its "Any …" entry.
    for (QComboBox* combo : w.findChildren<QComboBox*>())
        QVERIFY2(combo->count() > 0 && combo->currentText().startsWith("Any"),
                 qPrintable(combo->currentText()));
    w.resize(1024, 700);
    w.show();
    openBroken();
    m_doc.reset(nullptr, {});
    QSignalSpy opened(&w, &MainWindow::checkpointOpened);
    w.openDirectory(QString::fromStdString(dir("broken").string()));
    QVERIFY(opened.wait(30000));
    QTest::qWait(50);
    // The columns to edit (output file, exported name) and the coverage are in view without
    // scrolling, the exported name beside the source name.
    QTableView* table = w.tensorView();
    for (int c : {TensorTableModel::NameColumn, TensorTableModel::ExportedNameColumn,
                  TensorTableModel::TargetColumn, TensorTableModel::StatusColumn})
        QVERIFY2(table->columnViewportPosition(c) + table->columnWidth(c) <=
                     table->viewport()->width(),
                 qPrintable(QString("column %1 ends at %2 of %3")
                                .arg(c)
                                .arg(table->columnViewportPosition(c) + table->columnWidth(c))
                                .arg(table->viewport()->width())));
    if (qEnvironmentVariableIsSet("SHARDSCOPE_SHOTS"))
        w.grab().save(qEnvironmentVariable("SHARDSCOPE_SHOTS") + "/models-1024x700.png");
    // A click on the truncated file's problem selects that file's row in the Files view.
    ProblemsModel* problems = w.problemsModel();
    int fileProblem = -1;
    for (int r = 0; r < problems->rowCount() && fileProblem < 0; ++r)
        if (problems->index(r, 0).data(ProblemsModel::FileLevelRole).toBool()) fileProblem = r;
    QVERIFY(fileProblem >= 0);
    emit w.problemsView()->activated(problems->index(fileProblem, 0));
    QVERIFY(w.filesView()->isVisible());
    const QModelIndexList rows = w.filesView()->selectionModel()->selectedRows();
    QCOMPARE(rows.size(), 1);
    QCOMPARE(rows.front().data().toString(), QString("rank-3.safetensors"));
}

void TestModels::byteItemsModelListsAndSorts() {
    ByteItemsModel items(&m_doc);
    QAbstractItemModelTester tester(&items, QAbstractItemModelTester::FailureReportingMode::QtTest);
    m_doc.reset(nullptr, {});
    QCOMPARE(items.rowCount(), 0);
    QCOMPARE(items.emptyText(), QString("No checkpoint open"));
    openDcp();
    QCOMPARE(items.rowCount(), 3);
    QCOMPARE(items.emptyText(), QString());
    // In the checkpoint's (byte) order: step, train_state.epoch, train_state.run.
    QCOMPARE(column(&items, ByteItemsModel::NameColumn),
             (QStringList{"step", "train_state.epoch", "train_state.run"}));
    QCOMPARE(column(&items, ByteItemsModel::TypeColumn), (QStringList{"int", "int", "str"}));
    QCOMPARE(column(&items, ByteItemsModel::ValueColumn), (QStringList{"1234", "3", "\"run-7\""}));
    QCOMPARE(column(&items, ByteItemsModel::FileColumn),
             (QStringList{"__0_0.distcp", "__1_0.distcp", "__0_0.distcp"}));
    const QModelIndex size = items.index(0, ByteItemsModel::SizeColumn);
    const qulonglong bytes = size.data(ByteItemsModel::SortRole).toULongLong();
    QVERIFY(bytes > 22); // a whole torch.save archive: at least its end record
    QCOMPARE(size.data(Qt::ToolTipRole).toString(), QString("%1 bytes").arg(bytes));
    QCOMPARE(size.data(Qt::TextAlignmentRole).toInt(), int(Qt::AlignRight | Qt::AlignVCenter));

    // Sorted through a proxy by SortRole: values as numbers (3 before 1234), then text.
    QSortFilterProxyModel sorted;
    sorted.setSourceModel(&items);
    sorted.setSortRole(ByteItemsModel::SortRole);
    QAbstractItemModelTester proxyTester(&sorted,
                                         QAbstractItemModelTester::FailureReportingMode::QtTest);
    sorted.sort(ByteItemsModel::ValueColumn, Qt::AscendingOrder);
    QCOMPARE(column(&sorted, ByteItemsModel::ValueColumn), (QStringList{"3", "1234", "\"run-7\""}));
    sorted.sort(ByteItemsModel::ValueColumn, Qt::DescendingOrder);
    QCOMPARE(column(&sorted, ByteItemsModel::NameColumn),
             (QStringList{"train_state.run", "step", "train_state.epoch"}));
    sorted.sort(ByteItemsModel::NameColumn, Qt::DescendingOrder);
    QCOMPARE(column(&sorted, ByteItemsModel::NameColumn),
             (QStringList{"train_state.run", "train_state.epoch", "step"}));
    sorted.sort(ByteItemsModel::SizeColumn, Qt::AscendingOrder);
    for (int r = 1; r < sorted.rowCount(); ++r)
        QVERIFY(sorted.index(r - 1, ByteItemsModel::SizeColumn)
                    .data(ByteItemsModel::SortRole)
                    .toULongLong() <= sorted.index(r, ByteItemsModel::SizeColumn)
                                          .data(ByteItemsModel::SortRole)
                                          .toULongLong());

    // A byte item holding tensors (a nested dict saved whole) says where they are listed.
    const fs::path nested = dir("nested");
    testing::DcpByteItem model{"model"};
    model.archive = testing::nestedTensorsArchive(
        {{{"w"}, "F32", {2}, std::string(8, 'a')}, {{"b"}, "F32", {1}, std::string(4, 'b')}});
    testing::DcpByteItem one{"extra"};
    one.archive = testing::nestedTensorsArchive({{{"x"}, "F32", {1}, std::string(4, 'x')}});
    testing::writeDcpCheckpoint(nested, {}, {one, model, {"step", 9}});
    auto withTensors = std::make_shared<const Checkpoint>(scanCheckpoint(nested));
    m_doc.reset(withTensors, defaultMapping(*withTensors));
    QCOMPARE(column(&items, ByteItemsModel::ValueColumn),
             (QStringList{"1 tensor: extra.*", "2 tensors: model.*", "9"}));
    QVERIFY(items.index(1, ByteItemsModel::ValueColumn)
                .data(Qt::ToolTipRole)
                .toString()
                .contains("listed as model.*"));
    QCOMPARE(withTensors->tensors.size(), size_t(3));

    // A shard checkpoint has none, and says so.
    open(sample());
    QCOMPARE(items.rowCount(), 0);
    QCOMPARE(sorted.rowCount(), 0);
    QCOMPARE(items.emptyText(), QString("No byte items"));
    QCOMPARE(items.property("emptyText").toString(), QString("No byte items"));
}

void TestModels::kindColumnSortsAndFilters() {
    auto ckpt = openDcp();
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(tensors.rowCount(), 8);
    QCOMPARE(tensors.headerData(TensorTableModel::KindColumn, Qt::Horizontal, Qt::DisplayRole)
                 .toString(),
             QString("Kind"));
    auto kind = [&](const char* fqn) {
        return tensors.index(row(fqn), TensorTableModel::KindColumn).data().toString();
    };
    QCOMPARE(kind("model.embed.weight"), QString("model"));
    QCOMPARE(kind("optimizer.state.embed.weight.exp_avg"), QString("optimizer"));
    QCOMPARE(kind("lr_scheduler.last_lr"), QString("scheduler"));
    QCOMPARE(kind("dataloader.position"), QString("dataloader"));
    QCOMPARE(kind("train_state.rng"), QString("train_state"));
    QCOMPARE(tensors.index(row("dataloader.position"), 0).data(TensorTableModel::KindRole).toInt(),
             int(TensorKind::Dataloader));

    // Sorted by kind (model, optimizer, scheduler, dataloader, train_state), names within.
    proxy.sort(TensorTableModel::KindColumn, Qt::AscendingOrder);
    QCOMPARE(
        column(&proxy, TensorTableModel::NameColumn),
        (QStringList{"model.embed.weight", "model.layers.0.attn.w", "model.norm.scale",
                     "optimizer.state.embed.weight.exp_avg", "optimizer.state.embed.weight.step",
                     "lr_scheduler.last_lr", "dataloader.position", "train_state.rng"}));
    proxy.sort(TensorTableModel::KindColumn, Qt::DescendingOrder);
    QCOMPARE(column(&proxy, TensorTableModel::KindColumn).front(), QString("train_state"));
    QCOMPARE(column(&proxy, TensorTableModel::KindColumn).back(), QString("model"));

    // The filter: model weights, or everything else.
    const auto choices = TensorFilterProxy::kindChoices();
    QCOMPARE(choices.size(), size_t(3));
    QCOMPARE(choices[0].text, QString("Any kind")); // as every filter's first entry
    QCOMPARE(choices[1].text, QString("Model weights"));
    QCOMPARE(choices[2].text, QString("Training state"));
    proxy.setKindFilter(TensorFilterProxy::ModelWeights);
    QCOMPARE(proxy.rowCount(), 3);
    for (const QString& k : column(&proxy, TensorTableModel::KindColumn))
        QCOMPARE(k, QString("model"));
    proxy.setKindFilter(TensorFilterProxy::TrainingState);
    QCOMPARE(proxy.rowCount(), 5);
    QVERIFY(!column(&proxy, TensorTableModel::KindColumn).contains("model"));
    proxy.setText("embed", false); // with the other filters
    QCOMPARE(column(&proxy, TensorTableModel::NameColumn),
             (QStringList{"optimizer.state.embed.weight.exp_avg",
                          "optimizer.state.embed.weight.step"})); // ties in name order
    proxy.setKindFilter(TensorFilterProxy::Any);
    QCOMPARE(proxy.rowCount(), 3);
    // A shard checkpoint is all model weights.
    open(sample());
    for (const QString& k : column(&tensors, TensorTableModel::KindColumn))
        QCOMPARE(k, QString("model"));
}

// A DCP checkpoint of training state alone groups into an empty mapping, which means "one file
// for everything" to the plan only for model weights: the window showed every tensor going to
// file 1 while the export refused to write any.
void TestModels::trainingStateAloneIsNotExported() {
    Checkpoint state = *openDcp();
    std::erase_if(state.tensors, [](const TensorInfo& t) { return t.kind == TensorKind::Model; });
    QCOMPARE(state.tensors.size(), size_t(5));
    auto ckpt = std::make_shared<const Checkpoint>(std::move(state));
    const Mapping mapping = defaultMapping(*ckpt);
    QVERIFY(mapping.fileIndex.empty());
    m_doc.reset(ckpt, mapping);
    QCOMPARE(m_doc.excludedCount(), size_t(5));
    for (size_t t = 0; t < ckpt->tensors.size(); ++t) {
        QCOMPARE(m_doc.target(t), 0);
        QVERIFY(m_doc.isExcluded(t));
    }
    const Plan plan = makePlan(*ckpt, m_doc.toMapping(), UnmappedPolicy::Error);
    QVERIFY(plan.files.empty());
    QCOMPARE(plan.excluded.size(), size_t(5));
    // The same mapping applied later (a mapping file with no entries) keeps them out too.
    m_doc.applyMapping(Mapping{}, "empty");
    QCOMPARE(m_doc.excludedCount(), size_t(5));
}

void TestModels::trainingStateIsNotExportedNotUnassigned() {
    auto ckpt = openDcp();
    TensorTableModel tensors(&m_doc);
    ProblemsModel problems(&m_doc);
    OutputFilesModel outputs(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    QCOMPARE(m_doc.excludedCount(), size_t(5));
    QCOMPARE(m_doc.unassignedCount(), size_t(0));
    QCOMPARE(problems.errorCount(), 0); // left out by choice: no "not assigned" errors
    const QModelIndex target =
        tensors.index(row("optimizer.state.embed.weight.exp_avg"), TensorTableModel::TargetColumn);
    QCOMPARE(target.data().toString(), QString("not exported (optimizer state)"));
    QVERIFY(target.data(Qt::ToolTipRole).toString().contains("Include training state"));
    QCOMPARE(target.data(TensorTableModel::TargetRole).toInt(),
             TensorTableModel::NotExportedTarget);
    QCOMPARE(target.data(Qt::ForegroundRole).value<QColor>(), QColor(Qt::gray));
    QCOMPARE(tensors.index(row("lr_scheduler.last_lr"), TensorTableModel::TargetColumn)
                 .data()
                 .toString(),
             QString("not exported (scheduler state)"));
    QCOMPARE(
        tensors.index(row("dataloader.position"), TensorTableModel::TargetColumn).data().toString(),
        QString("not exported (dataloader state)"));
    QCOMPARE(
        tensors.index(row("train_state.rng"), TensorTableModel::TargetColumn).data().toString(),
        QString("not exported (trainer state)"));
    // Model weights go where the plan puts them, under their exported names.
    const Plan plan = makePlan(*ckpt, m_doc.toMapping(), UnmappedPolicy::Error);
    QCOMPARE(plan.excluded.size(), size_t(5));
    for (const char* fqn : {"model.embed.weight", "model.layers.0.attn.w", "model.norm.scale"}) {
        const TensorInfo& t = *ckpt->find(fqn);
        QCOMPARE(tensors.index(row(fqn), 0).data(TensorTableModel::TargetFileNameRole).toString(),
                 QString::fromStdString(plan.weightMap.at(t.exportName())));
    }
    const QString nameTip = tensors.index(row("model.embed.weight"), TensorTableModel::NameColumn)
                                .data(Qt::ToolTipRole)
                                .toString();
    QVERIFY2(nameTip.contains("Exported as embed.weight"), qPrintable(nameTip));
    QVERIFY(!tensors.index(row("dataloader.position"), 0)
                 .data(Qt::ToolTipRole)
                 .toString()
                 .contains("Exported as"));
    // The output list counts them apart; the target filter can show them.
    QCOMPARE(outputs.rowCount(), 2);
    QCOMPARE(outputs.index(1, OutputFilesModel::NameColumn).data().toString(),
             QString("(training state, not exported)"));
    QCOMPARE(outputs.index(1, OutputFilesModel::TensorsColumn).data().toString(), QString("5"));
    QCOMPARE(outputs.index(1, 0).data(OutputFilesModel::FileIndexRole).toInt(),
             TensorTableModel::NotExportedTarget);
    QCOMPARE(TensorFilterProxy::targetChoices(m_doc).back().value,
             TensorTableModel::NotExportedTarget);
    proxy.setTargetFilter(TensorTableModel::NotExportedTarget);
    QCOMPARE(proxy.rowCount(), 5);
    proxy.setTargetFilter(0);
    QCOMPARE(proxy.rowCount(), 0); // nothing unassigned
    proxy.setTargetFilter(TensorFilterProxy::Any);
    // Sorting by output file puts them after the files.
    proxy.sort(TensorTableModel::TargetColumn);
    QCOMPARE(proxy.index(0, TensorTableModel::TargetColumn).data().toString(),
             QString("00001/00001"));
    QVERIFY(proxy.index(7, TensorTableModel::TargetColumn).data().toString().startsWith("not"));

    // Assigning one to a file exports it after all, as the plan does for a mapping that names it.
    const int step = row("optimizer.state.embed.weight.step");
    QVERIFY(tensors.setData(tensors.index(step, TensorTableModel::TargetColumn), 1));
    QCOMPARE(tensors.index(step, TensorTableModel::TargetColumn).data().toString(),
             QString("00001/00001"));
    QCOMPARE(m_doc.excludedCount(), size_t(4));
    const Plan edited = makePlan(*ckpt, m_doc.toMapping(), UnmappedPolicy::Error);
    QVERIFY(edited.weightMap.count("optimizer.state.embed.weight.step"));
    QCOMPARE(edited.excluded.size(), size_t(4));
    QCOMPARE(outputs.index(1, OutputFilesModel::TensorsColumn).data().toString(), QString("4"));
}

void TestModels::chunkTableShowsStridedAndZstd() {
    auto ckpt = openDcp();
    ChunkTableModel chunks;
    QAbstractItemModelTester tester(&chunks,
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    chunks.setTensor(ckpt, row("model.layers.0.attn.w"));
    QCOMPARE(chunks.rowCount(), 2);
    QStringList notes = column(&chunks, ChunkTableModel::NoteColumn);
    QStringList files = column(&chunks, ChunkTableModel::FileColumn);
    QCOMPARE(notes.at(files.indexOf("__0_0.distcp")), QString("strided"));
    QCOMPARE(notes.at(files.indexOf("__1_0.distcp")), QString("zstd"));
    const QString stridedTip =
        chunks.index(int(files.indexOf("__0_0.distcp")), ChunkTableModel::NoteColumn)
            .data(Qt::ToolTipRole)
            .toString();
    QVERIFY2(stridedTip.contains("strides [1, 3]"), qPrintable(stridedTip));
    QVERIFY(chunks.index(int(files.indexOf("__1_0.distcp")), ChunkTableModel::NoteColumn)
                .data(Qt::ToolTipRole)
                .toString()
                .contains("zstd-compressed"));
    chunks.setTensor(ckpt, row("model.embed.weight")); // plain row-major items: no note
    QCOMPARE(column(&chunks, ChunkTableModel::NoteColumn), (QStringList{"", ""}));
}

void TestModels::protocolTwoMetadataWithoutPlannerData() {
    // torch 1.13's shape: no planner_data, so kinds and export names come from the fqn alone.
    DcpOptions old;
    old.protocol = 2;
    old.plannerData = false;
    const fs::path d = dir("dcp-p2");
    writeDcpCheckpoint(d,
                       {{"model.w", "F32", {4, 6}, dcpSplit({4, 6}, 0, 2)},
                        {"optim.state.w.exp_avg", "F32", {4, 6}, dcpSplit({4, 6}, 1, 2)}},
                       {{"step", 70000, {}, false, 0}}, old);
    auto ckpt = openDir(d, defaultMapping(*std::make_shared<Checkpoint>(scanCheckpoint(d))));
    QVERIFY2(!ckpt->hasErrors(), ckpt->problems.empty() ? "" : ckpt->problems[0].text().c_str());
    TensorTableModel tensors(&m_doc);
    ByteItemsModel items(&m_doc);
    QCOMPARE(column(&tensors, TensorTableModel::KindColumn), (QStringList{"model", "optimizer"}));
    QCOMPARE(column(&tensors, TensorTableModel::TargetColumn),
             (QStringList{"00001/00001", "not exported (optimizer state)"}));
    QVERIFY(!tensors.index(0, 0).data(Qt::ToolTipRole).toString().contains("Exported as"));
    QCOMPARE(column(&items, ByteItemsModel::ValueColumn), QStringList{"70000"});
}

// Shard file names differ in their first number: cut, they keep it ("shard-00003-m…"), where
// middle elision gave "shar…sors" for every file of a checkpoint.
void TestModels::fileNamesKeepTheirNumbers() {
    const QFontMetrics fm(QApplication::font());
    const QString name = "shard-00003-model-00001-of-00001.safetensors";
    QCOMPARE(elideFileName(name, fm, fm.horizontalAdvance(name)), name);
    const QString stem = "shard-00003-model-00001-of-00001…";
    QCOMPARE(elideFileName(name, fm, fm.horizontalAdvance(stem)), stem);
    for (const QString& file : {QString("shard-00001-model-00001-of-00001.safetensors"),
                                QString("shard-00004-model-00001-of-00001.safetensors")}) {
        const int width = fm.horizontalAdvance("shard-00003-mo");
        const QString cut = elideFileName(file, fm, width);
        QVERIFY2(cut.startsWith(file.left(11)) && cut.endsWith("…") &&
                     fm.horizontalAdvance(cut) <= width,
                 qPrintable(cut));
    }
    // Too narrow for "shard-00004": the words before the number go ("shard-0000…" told no
    // file from another).
    const int narrow = fm.horizontalAdvance("shard-0000…");
    const QString cut = elideFileName("shard-00004-model-00001-of-00001.safetensors", fm, narrow);
    QVERIFY2(cut.startsWith("…00004") && fm.horizontalAdvance(cut) <= narrow, qPrintable(cut));
    const QString hf = "model-00002-of-00003.safetensors";
    QVERIFY(
        elideFileName(hf, fm, fm.horizontalAdvance("model-00002-of-0")).startsWith("model-00002"));
    QCOMPARE(elideFileName("__3_0.distcp", fm, 200), QString("__3_0.distcp"));
}

// Cut names drop their leading parts first and keep layer numbers and the last two parts, so
// that layers 10 and 11 still read apart; a name that fits is left whole.
void TestModels::dottedNamesKeepLayerNumbers() {
    const QFontMetrics fm(QApplication::font());
    const QString name = "model.layers.10.self_attn.q_proj.weight";
    QCOMPARE(elideDottedName(name, fm, fm.horizontalAdvance(name)), name);
    const QString lead = "…layers.10.self_attn.q_proj.weight";
    QCOMPARE(elideDottedName(name, fm, fm.horizontalAdvance(lead)), lead);
    const QString noLayers = "…10.self_attn.q_proj.weight";
    QCOMPARE(elideDottedName(name, fm, fm.horizontalAdvance(noLayers)), noLayers);
    const QString core = "…10.…q_proj.weight";
    QCOMPARE(elideDottedName(name, fm, fm.horizontalAdvance(core)), core);
    const QString other = "model.layers.11.self_attn.q_proj.weight";
    QVERIFY(elideDottedName(other, fm, fm.horizontalAdvance(core)) != core);
    // Narrower than the parts that stay: Qt's middle elision of them, within the width, and
    // the layer number at its start.
    const QString norm = "model.layers.7.input_layernorm.weight";
    const int narrow = fm.horizontalAdvance("…7.input_layernorm.weight") - 1;
    const QString cut = elideDottedName(norm, fm, narrow);
    QVERIFY2(cut.startsWith("…7.") && fm.horizontalAdvance(cut) <= narrow, qPrintable(cut));
    // Three parts or fewer: middle elision as before.
    QCOMPARE(
        elideDottedName("embed.tokens.weight", fm, fm.horizontalAdvance("embed…ght")),
        fm.elidedText("embed.tokens.weight", Qt::ElideMiddle, fm.horizontalAdvance("embed…ght")));
}

QTEST_MAIN(TestModels)
#include "tst_models.moc"
