// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// Check Values and Compare With in the GUI: the table's statistics and difference columns, the
// problems panel's findings, the histogram, and the main window's runs, cancel and filters.

#include "compare_dialog.h"
#include "histogram_view.h"
#include "main_window.h"
#include "mapping_document.h"
#include "mnemonic.h"
#include "problems_model.h"
#include "shard_builder.h"
#include "tensor_filter_proxy.h"
#include "tensor_table_model.h"
#include "value_jobs.h"
#include "values_panel.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QDir>
#include <QFile>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMenu>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QScrollArea>
#include <QScrollBar>
#include <QSet>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTextDocument>
#include <QThreadPool>
#include <QTimer>
#include <QtEndian>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::string f32(const std::vector<float>& values) {
    std::string out(values.size() * 4, '\0');
    for (size_t i = 0; i < values.size(); ++i)
        qToLittleEndian(values[i], out.data() + 4 * i);
    return out;
}

// A 1-D F32 tensor in two chunks: the first half in rank-0, the second in rank-1.
struct Halves {
    std::string fqn;
    std::vector<float> first, second;
};

void writeHalves(const fs::path& dir, const std::vector<Halves>& tensors,
                 const std::vector<TestChunk>& extra = {}) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::vector<TestChunk> rank[2];
    for (const Halves& t : tensors) {
        const uint64_t n = t.first.size(), m = t.second.size();
        rank[0].push_back({t.fqn, "F32", {0}, {n}, f32(t.first)});
        rank[1].push_back({t.fqn, "F32", {n}, {m}, f32(t.second)});
    }
    for (const TestChunk& c : extra)
        rank[0].push_back(c);
    writeShard(dir / "rank-0.safetensors", rank[0]);
    writeShard(dir / "rank-1.safetensors", rank[1]);
}

// Overwrites element `i` of the F32 chunk `fqn` in a shard file, located through the file's own
// header (read here with Qt's JSON parser, not the core's).
void setElement(const fs::path& file, const std::string& fqn, size_t i, float value) {
    QFile f(QString::fromStdString(file.string()));
    QVERIFY(f.open(QIODevice::ReadWrite));
    const QByteArray prefix = f.read(8);
    const quint64 length = qFromLittleEndian<quint64>(prefix.constData());
    const QJsonObject header = QJsonDocument::fromJson(f.read(qint64(length))).object();
    const QJsonArray offsets =
        header.value(QString::fromStdString(fqn)).toObject().value("data_offsets").toArray();
    QCOMPARE(offsets.size(), 2);
    char bytes[4];
    qToLittleEndian(value, bytes);
    QVERIFY(f.seek(qint64(8 + length) + offsets[0].toInteger() + qint64(4 * i)));
    QCOMPARE(f.write(bytes, 4), qint64(4));
}

// a: max |x| 5; b: 0.4; c: constant 10; n: a NaN and an Inf; skip: left out of the check;
// u: C64, which has no statistics.
std::vector<Halves> sample() {
    return {{"a", {1, -5}, {2, 0.5f}},
            {"b", {0.1f, 0.2f}, {0.3f, 0.4f}},
            {"c", {10, 10}, {10, 10}},
            {"n", {1, kNaN}, {2, kInf}},
            {"skip", {7}, {8}}};
}

TestChunk complexTensor() {
    return {"u", "C64", {0}, {2}, std::string(16, '\x01')};
}

QStringList column(const QAbstractItemModel* m, int col) {
    QStringList out;
    for (int r = 0; r < m->rowCount(); ++r)
        out << m->index(r, col).data().toString();
    return out;
}

// The value check as the GUI's worker makes it, on this thread; `select` as StatsOptions.
std::shared_ptr<const ValueCheck> checkOf(std::shared_ptr<const Checkpoint> ckpt,
                                          const std::string& leaveOut = {}) {
    auto check = std::make_shared<ValueCheck>();
    StatsOptions options;
    options.select = [leaveOut](const TensorInfo& t) { return t.fqn != leaveOut; };
    auto stats = std::make_shared<CheckpointStats>(computeStats(*ckpt, options));
    check->findings = valueFindings(*ckpt, *stats);
    check->stats = std::move(stats);
    check->checkpoint = std::move(ckpt);
    return check;
}

std::shared_ptr<const Comparison> compareOf(std::shared_ptr<const Checkpoint> a,
                                            const fs::path& b) {
    QObject receiver;
    JobContext context(
        {}, std::make_shared<LatestValue<JobProgress>>(&receiver, [](const JobProgress&) {}));
    return compareCheckpoints({std::move(a), QString::fromStdString(b.string())}, context);
}

QModelIndex rowOf(QAbstractItemModel* model, const QString& name, int column = 0) {
    for (int r = 0; r < model->rowCount(); ++r)
        if (model->index(r, TensorTableModel::NameColumn).data().toString() == name)
            return model->index(r, column);
    return {};
}

} // namespace

class TestValuesGui : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void statisticsColumnsSortByNumberWithoutStatsLast();
    void differenceColumnsAndDiffersOnly();
    void problemsListValueFindingsOnce();
    void histogramBinsLabelsAndTooltips();
    void histogramLabelsNarrowAndIntegerRanges();
    void valuesPanelListsTheStatistics();
    void checkValuesFillsColumnsIconsAndProblems();
    void cancellingACheckKeepsNothing();
    void cancellingATensorReadKeepsTheComparison();
    void compareWithAFlippedValue();
    void compareDialogTakesATypedFolder();
    void compareDialogKeepsItsTolerancesAndItsHeight();
    void openingAnotherCheckpointSaysSoAndShowsNames();
    void bannerNamesTensorsOnlyInTheOther();
    void toleranceIsNamed();
    void statisticsFitANarrowPane();
    void nonFiniteDifferencesSortFirstAndAreNamed();
    void complexTensorsDifferByTheirBits();
    void notComparedSaysWhy();
    void problemsOnlyShowsValueFindings();
    void checkValuesFindsIdenticalTensorsAsTheCliDoes();
    void sortByFromTheKeyboardAndCopyProblems();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    MappingDocument m_doc;

    fs::path dir(const char* name) const { return fs::path(m_tmp->path().toStdString()) / name; }
    std::shared_ptr<const Checkpoint> open(const fs::path& d) {
        auto ckpt = std::make_shared<const Checkpoint>(scanCheckpoint(d));
        m_doc.reset(ckpt, {});
        return ckpt;
    }
    bool openAndWait(MainWindow& w, const fs::path& d) {
        QSignalSpy opened(&w, &MainWindow::checkpointOpened);
        w.openDirectory(QString::fromStdString(d.string()));
        return opened.wait(30000);
    }
    void showActive(MainWindow& w) {
        w.resize(1024, 700);
        w.show();
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
    }
};

void TestValuesGui::initTestCase() {
    QLocale::setDefault(QLocale(QLocale::English, QLocale::UnitedStates));
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName("ShardScopeTest");
    QCoreApplication::setApplicationName("ShardScopeValuesTest");
}

void TestValuesGui::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    QSettings().clear();
}

void TestValuesGui::statisticsColumnsSortByNumberWithoutStatsLast() {
    writeHalves(dir("ck"), sample(), {complexTensor()});
    auto ckpt = open(dir("ck"));
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    QAbstractItemModelTester t1(&tensors, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t2(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    using M = TensorTableModel;
    QCOMPARE(tensors.columnCount(), int(M::ColumnCount));
    QCOMPARE(tensors.headerData(M::MaxAbsColumn, Qt::Horizontal, Qt::DisplayRole).toString(),
             QString("max |x|"));
    QCOMPARE(tensors.headerData(M::NonFiniteColumn, Qt::Horizontal, Qt::DisplayRole).toString(),
             QString("NaN/Inf"));
    // Before a check the columns are empty.
    QVERIFY(!tensors.hasValueCheck());
    QCOMPARE(column(&tensors, M::MaxAbsColumn), QStringList(6, QString()));
    QVERIFY(!rowOf(&tensors, "n", M::NameColumn).data(Qt::DecorationRole).isValid());

    proxy.sort(M::MaxAbsColumn, Qt::AscendingOrder);
    tensors.setValueCheck(checkOf(ckpt, "skip"));
    QVERIFY(tensors.hasValueCheck());
    QCOMPARE(rowOf(&tensors, "a", M::MaxAbsColumn).data().toString(), QString("5"));
    QCOMPARE(rowOf(&tensors, "a", M::MeanColumn).data().toString(), QString("-0.375"));
    QCOMPARE(rowOf(&tensors, "a", M::StdColumn).data().toString(), QString("2.724"));
    QCOMPARE(rowOf(&tensors, "a", M::NonFiniteColumn).data().toString(), QString("0"));
    QCOMPARE(rowOf(&tensors, "n", M::MaxAbsColumn).data().toString(), QString("2")); // finite
    QCOMPARE(rowOf(&tensors, "n", M::MeanColumn).data().toString(), QString("1.5"));
    QCOMPARE(rowOf(&tensors, "n", M::NonFiniteColumn).data().toString(), QString("2"));
    QVERIFY(rowOf(&tensors, "n", M::NonFiniteColumn)
                .data(Qt::ToolTipRole)
                .toString()
                .contains("1 NaN · 1 +Inf · 0 −Inf"));
    for (const char* none : {"skip", "u"}) {
        QCOMPARE(rowOf(&tensors, none, M::MaxAbsColumn).data().toString(), QString());
        QVERIFY(!rowOf(&tensors, none, M::MaxAbsColumn).data(M::SortRole).isValid());
    }
    QVERIFY(rowOf(&tensors, "u", M::MeanColumn).data(Qt::ToolTipRole).toString().contains("C64"));

    // Sorted by number, both ways, the rows without statistics last (in name order).
    QCOMPARE(column(&proxy, M::NameColumn), (QStringList{"b", "n", "a", "c", "skip", "u"}));
    proxy.sort(M::MaxAbsColumn, Qt::DescendingOrder);
    QCOMPARE(column(&proxy, M::NameColumn), (QStringList{"c", "a", "n", "b", "skip", "u"}));
    proxy.sort(M::NonFiniteColumn, Qt::DescendingOrder);
    QCOMPARE(column(&proxy, M::NameColumn), (QStringList{"n", "a", "b", "c", "skip", "u"}));
    proxy.sort(M::MeanColumn, Qt::AscendingOrder); // -0.375, 0.25, 1.5, 10
    QCOMPARE(column(&proxy, M::NameColumn), (QStringList{"a", "b", "n", "c", "skip", "u"}));

    // Findings: a warning icon on the name and the findings in its tooltip.
    for (const char* flagged : {"n", "c"}) {
        const QModelIndex name = rowOf(&tensors, flagged, M::NameColumn);
        QVERIFY(!name.data(Qt::DecorationRole).value<QIcon>().isNull());
        QVERIFY(name.data(Qt::ToolTipRole).toString().contains("Check Values found:"));
    }
    QVERIFY(rowOf(&tensors, "n", 0).data(M::FindingsRole).toString().contains("1 NaN element"));
    QVERIFY(rowOf(&tensors, "c", 0).data(M::FindingsRole).toString().contains("equal 10"));
    QVERIFY(!rowOf(&tensors, "a", M::NameColumn).data(Qt::DecorationRole).isValid());
    QCOMPARE(rowOf(&tensors, "a", 0).data(M::FindingsRole).toString(), QString());

    // A check of another checkpoint (the same files scanned again) is not shown; a new
    // checkpoint in the document empties the columns.
    tensors.setValueCheck(checkOf(std::make_shared<const Checkpoint>(scanCheckpoint(dir("ck")))));
    QVERIFY(!tensors.hasValueCheck());
    tensors.setValueCheck(checkOf(ckpt));
    QCOMPARE(rowOf(&tensors, "skip", M::MaxAbsColumn).data().toString(), QString("8"));
    open(dir("ck"));
    QVERIFY(!tensors.hasValueCheck());
    QCOMPARE(column(&tensors, M::MaxAbsColumn), QStringList(6, QString()));
}

void TestValuesGui::differenceColumnsAndDiffersOnly() {
    writeHalves(dir("a"), sample());
    auto other = sample();
    other[1].second[1] = 0.5f;            // b: one element differs
    other.erase(other.begin() + 4);       // skip: only here
    other.push_back({"extra", {1}, {2}}); // only in the other
    writeHalves(dir("b"), other);
    auto ckpt = open(dir("a"));
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    QAbstractItemModelTester t1(&tensors, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester t2(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    using M = TensorTableModel;
    QCOMPARE(rowOf(&tensors, "b", 0).data(M::DiffStatusRole).toInt(), -1);
    proxy.sort(M::NameColumn);
    proxy.setDiffersOnly(true); // without a comparison nothing differs
    QCOMPARE(proxy.rowCount(), 0);
    proxy.setDiffersOnly(false);

    const auto comparison = compareOf(ckpt, dir("b"));
    tensors.setComparison(comparison);
    QVERIFY(tensors.hasComparison());
    QCOMPARE(column(&proxy, M::DiffColumn),
             (QStringList{"Identical", "Differs", "Identical", "Identical", "Only here"}));
    QCOMPARE(rowOf(&tensors, "b", M::MaxDiffColumn).data().toString(), QString("0.1"));
    QVERIFY(rowOf(&tensors, "b", M::RelativeL2Column).data(M::SortRole).toDouble() > 0);
    const double cosine = rowOf(&tensors, "b", M::CosineColumn).data(M::SortRole).toDouble();
    QVERIFY(cosine > 0.99 && cosine < 1);
    QCOMPARE(rowOf(&tensors, "a", M::MaxDiffColumn).data().toString(), QString("0"));
    QCOMPARE(rowOf(&tensors, "skip", M::MaxDiffColumn).data().toString(), QString());
    QVERIFY(rowOf(&tensors, "b", M::DiffColumn)
                .data(Qt::ToolTipRole)
                .toString()
                .startsWith("1 of 4 elements differ"));

    proxy.setDiffersOnly(true);
    QCOMPARE(column(&proxy, M::NameColumn), (QStringList{"b", "skip"}));
    proxy.sort(M::DiffColumn); // worst first
    QCOMPARE(column(&proxy, M::NameColumn), (QStringList{"b", "skip"}));
    tensors.setComparison(nullptr);
    QCOMPARE(proxy.rowCount(), 0);
    QCOMPARE(rowOf(&tensors, "b", M::DiffColumn).data().toString(), QString());
}

void TestValuesGui::problemsListValueFindingsOnce() {
    writeHalves(dir("ck"), sample());
    auto ckpt = open(dir("ck"));
    ProblemsModel problems(&m_doc);
    QAbstractItemModelTester tester(&problems,
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    const int before = problems.rowCount();
    const int blocking = problems.errorCount();
    auto first = checkOf(ckpt);
    QCOMPARE(first->findings.size(), size_t(3)); // c constant; n NaN and Inf
    problems.setValueFindings(ckpt, first->findings);
    QCOMPARE(problems.rowCount(), before + 3);
    QCOMPARE(problems.valueFindingCount(), 3);
    QCOMPARE(problems.errorCount(), blocking); // NaN and Inf are errors, yet block no export
    QList<int> kinds;
    for (int r = 0; r < problems.rowCount(); ++r) {
        const QModelIndex row = problems.index(r, 0);
        if (!row.data(ProblemsModel::ValueFindingRole).toBool()) continue;
        kinds << row.data(ProblemsModel::KindRole).toInt();
        QVERIFY(row.data(ProblemsModel::TensorIndexRole).toInt() >= 0);
        QVERIFY(row.data(Qt::ToolTipRole).toString().contains("does not block"));
    }
    std::sort(kinds.begin(), kinds.end());
    QCOMPARE(kinds, (QList<int>{int(ErrorKind::ValueNaN), int(ErrorKind::ValueInf),
                                int(ErrorKind::ConstantTensor)}));
    // A second run replaces the first one's rows.
    problems.setValueFindings(ckpt, checkOf(ckpt)->findings);
    QCOMPARE(problems.rowCount(), before + 3);
    problems.setValueFindings(ckpt, checkOf(ckpt, "n")->findings);
    QCOMPARE(problems.valueFindingCount(), 1);
    // Findings of a checkpoint that is no longer open are not listed.
    open(dir("ck"));
    QCOMPARE(problems.valueFindingCount(), 0);
    QCOMPARE(problems.rowCount(), before);
}

void TestValuesGui::histogramBinsLabelsAndTooltips() {
    HistogramView view;
    QVERIFY(!view.hasHistogram());
    view.clear("Not read");
    Histogram linear;
    linear.lo = -1;
    linear.hi = 1;
    linear.counts[0] = 10;
    linear.counts[32] = 30;
    linear.counts[63] = 60;
    Histogram log;
    log.lo = -2;
    log.hi = 0;
    log.counts[63] = 100;
    view.setHistograms(linear, log);
    view.resize(320, 140);
    QVERIFY(view.hasHistogram());
    QCOMPARE(view.lowLabel(), QString("-1"));
    QCOMPARE(view.highLabel(), QString("1"));
    QCOMPARE(view.peakLabel(), QString("fullest bin 60"));
    QCOMPARE(view.accessibleDescription(), QString("values from -1 to 1, fullest bin 60"));
    QCOMPARE(view.binText(32), QString("0 to 0.03125: 30 elements (30.00%)"));
    QCOMPARE(view.binText(1), QString("-0.96875 to -0.9375: 0 elements (0.00%)"));
    const QRect plot = view.rect().adjusted(4, 4, -4, -30);
    QCOMPARE(view.binAt(QPoint(plot.left() + 1, plot.center().y())), 0);
    QCOMPARE(view.binAt(QPoint(plot.right() - 1, plot.center().y())), 63);
    QCOMPARE(view.binAt(QPoint(plot.center().x(), view.height() - 2)), -1); // under the axis
    view.setScale(HistogramView::Scale::Log10Abs);
    QCOMPARE(view.lowLabel(), QString("0.01"));
    QCOMPARE(view.highLabel(), QString("1"));
    QVERIFY(view.binText(63).startsWith("|x| from 0.93057 to 1: 100 elements"));
    // Zeros have no log10 |x|: the log scale says how many it leaves out, the linear one not.
    QCOMPARE(view.accessibleDescription(), QString("log10 |x| from 0.01 to 1, fullest bin 100"));
    view.setLogLeftOut(44036);
    QCOMPARE(view.axisNames().value(0), QString("log10 |x| · 44,036 zeros not shown"));
    QVERIFY(view.accessibleDescription().endsWith(", 44,036 zeros not shown"));
    view.setScale(HistogramView::Scale::Linear);
    QCOMPARE(view.axisNames(), QStringList{"value"});
    view.setScale(HistogramView::Scale::Log10Abs);
    view.setLogLeftOut(0);
    // One value everywhere: a single bar in the middle.
    Histogram single;
    single.lo = single.hi = 3;
    single.counts[0] = 7;
    view.setScale(HistogramView::Scale::Linear);
    view.setHistograms(single, Histogram{});
    QCOMPARE(view.binAt(QPoint(2, 2)), -1);
    QCOMPARE(view.binAt(view.rect().center()), 0);
    QCOMPARE(view.binText(0), QString("All 7 elements equal 3"));
    // Painted at any size without trouble, down to its minimum.
    for (QSize size : {QSize(320, 140), view.minimumSizeHint(), QSize(40, 30)}) {
        view.resize(size);
        QVERIFY(!view.grab().isNull());
    }
}

// A range narrow against its values labels its ends and bins with the digits that tell them apart
// (not "1e+03" twice); I64 labels are the exact integers of each bin, until setHistograms.
void TestValuesGui::histogramLabelsNarrowAndIntegerRanges() {
    HistogramView view;
    view.resize(320, 140);
    Histogram narrow;
    narrow.lo = 999.99536;
    narrow.hi = 1000.0046;
    narrow.counts[0] = 1;
    narrow.counts[63] = 1;
    view.setHistograms(narrow, Histogram{});
    QCOMPARE(view.lowLabel(), QString("999.99536"));
    QCOMPARE(view.highLabel(), QString("1,000.0046"));
    QVERIFY2(view.binText(0).startsWith("999.99536 to 999.995504:"), qPrintable(view.binText(0)));

    // 2^63 - 1000 ... 2^63 - 1: the doubles of both ends are 2^63.
    Moments m;
    m.count = 1000;
    m.addIntegerRange(std::numeric_limits<int64_t>::max() - 999,
                      std::numeric_limits<int64_t>::max());
    Histogram ints;
    ints.lo = ints.hi = 9.2233720368547758e18;
    ints.counts[0] = 500;
    ints.counts[63] = 500;
    view.setHistograms(ints, Histogram{});
    QStringList starts;
    for (int b = 0; b < kHistogramBins; ++b)
        starts << QString::fromStdString(integerBinStart(m, b).value());
    QCOMPARE(starts[1], QString("9223372036854774824")); // 808 + ceil(999 / 64)
    view.setIntegerLabels(starts, QString::fromStdString(*exactIntegerText(m, Extreme::Max)));
    QCOMPARE(view.lowLabel(), QString("9223372036854774808"));
    QCOMPARE(view.highLabel(), QString("9223372036854775807"));
    // The doubles of both ends are equal, the integers are not: two bins, not one value.
    QCOMPARE(view.binText(0), QString("9223372036854774808 to 9223372036854774824: 500 elements "
                                      "(50.00%)"));
    ints.lo = 9.2233720368547748e18;
    view.setHistograms(ints, Histogram{});
    QCOMPARE(view.lowLabel(), QString("9.2233720368547748E+18")); // labels cleared: the double
    view.setIntegerLabels(starts, QString::fromStdString(*exactIntegerText(m, Extreme::Max)));
    QCOMPARE(view.binText(63), QString("9223372036854775792 to 9223372036854775807: 500 elements "
                                       "(50.00%)"));
    // 2^62 and 2^62 + 1: one double, two values; not drawn as a single value.
    Moments two;
    two.count = 2;
    two.addIntegerRange(__int128(1) << 62, (__int128(1) << 62) + 1);
    Histogram pair;
    pair.lo = pair.hi = 0x1p62;
    pair.counts[0] = pair.counts[63] = 1;
    view.setHistograms(pair, Histogram{});
    QStringList pairStarts;
    for (int b = 0; b < kHistogramBins; ++b)
        pairStarts << QString::fromStdString(integerBinStart(two, b).value());
    view.setIntegerLabels(pairStarts, QString::fromStdString(*exactIntegerText(two, Extreme::Max)));
    QCOMPARE(view.binText(0), QString("4611686018427387904 to 4611686018427387905: 1 element "
                                      "(50.00%)"));
}

void TestValuesGui::valuesPanelListsTheStatistics() {
    writeHalves(dir("ck"), sample());
    auto ckpt = open(dir("ck"));
    const auto check = checkOf(ckpt);
    ValuesPanel panel;
    panel.resize(420, 400);
    ValuesContent content;
    content.a = check->statsOf(size_t(ckpt->find("n") - ckpt->tensors.data()));
    panel.setContent(content);
    const QString text = panel.text();
    for (const char* expected : {"Elements", "Min", "Max", "Mean", "Std", "L2", "max |x|", "NaN",
                                 "+Inf", "−Inf", "Zeros", "Subnormals"})
        QVERIFY2(text.contains(expected), qPrintable(text));
    QVERIFY(text.contains("1.5")); // the mean of 1 and 2
    // Above the histogram, where a short pane still shows them: mean, std (of 1 and 2: 0.5),
    // max |x| and the non-finite counts.
    QVERIFY2(text.startsWith("Mean 1.5 · Std 0.5 · max |x| 2 · 1 NaN · 1 +Inf\n"),
             qPrintable(text));
    // n holds a NaN and an Inf: the extremes and sums are said to be over the finite ones.
    QVERIFY2(text.contains("Min, Max, Mean, Std, L2 and max |x| are over the 2 finite elements."),
             qPrintable(text));
    QVERIFY(panel.histogram(0)->hasHistogram());
    QVERIFY(panel.histogram(1)->isHidden());
    panel.logToggle()->setChecked(true);
    QCOMPARE(panel.histogram(0)->scale(), HistogramView::Scale::Log10Abs);
    // Focus on the toggle scrolls it into view (Tab from outside the pane does not by itself).
    panel.resize(420, 120);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    auto* scroll = panel.findChild<QScrollArea*>();
    QVERIFY(scroll && scroll->verticalScrollBar()->maximum() > 0);
    QApplication::setActiveWindow(&panel); // offscreen: no window manager to activate it
    QTRY_VERIFY(panel.isActiveWindow());
    panel.statsLabel()->setFocus(Qt::TabFocusReason); // under the histograms: scrolls down
    QTRY_VERIFY(scroll->verticalScrollBar()->value() > 0);
    panel.logToggle()->setFocus(Qt::BacktabFocusReason); // above them: back up
    QTRY_COMPARE(scroll->verticalScrollBar()->value(), 0);
    content = {};
    content.message = "Values not read yet.";
    panel.setContent(content);
    QCOMPARE(panel.text(), QString("Values not read yet."));
    QVERIFY(panel.histogram(0)->isHidden());
}

void TestValuesGui::checkValuesFillsColumnsIconsAndProblems() {
    // "nan" holds a NaN; "zchunk" has an all-zero second chunk; "ok" is sound.
    writeHalves(dir("ck"), {{"nan", {1, 2}, {kNaN, 4}},
                            {"ok", {0.5f, -0.5f}, {0.25f, 1}},
                            {"zchunk", {3, -3}, {0, 0}}});
    MainWindow w;
    showActive(w);
    QVERIFY(openAndWait(w, dir("ck")));
    QTableView* table = w.tensorView();
    using M = TensorTableModel;
    for (int c = M::MaxAbsColumn; c <= M::CosineColumn; ++c)
        QVERIFY2(table->isColumnHidden(c), qPrintable(QString::number(c)));
    QVERIFY(w.checkValuesAction()->isEnabled());
    w.selectTensor(0);
    QVERIFY(w.valuesPanel()->text().startsWith("Values not read yet."));

    QSignalSpy done(w.valueSession(), &ValueSession::checkFinished);
    auto* filter = w.findChild<QLineEdit*>("tensorFilter");
    filter->setFocus(); // Ctrl+K is Check Values, also while typing a filter
    QTest::keyClick(filter, Qt::Key_K, Qt::ControlModifier);
    QVERIFY(done.wait(30000));
    for (int c = M::MaxAbsColumn; c <= M::NonFiniteColumn; ++c)
        QVERIFY(!table->isColumnHidden(c));
    for (int c = M::DiffColumn; c <= M::CosineColumn; ++c)
        QVERIFY(table->isColumnHidden(c));
    QAbstractItemModel* rows = table->model();
    QCOMPARE(rowOf(rows, "nan", M::NonFiniteColumn).data().toString(), QString("1"));
    QCOMPARE(rowOf(rows, "nan", M::MaxAbsColumn).data().toString(), QString("4"));
    QCOMPARE(rowOf(rows, "ok", M::MaxAbsColumn).data().toString(), QString("1"));
    QCOMPARE(rowOf(rows, "ok", M::MeanColumn).data().toString(), QString("0.3125"));
    QCOMPARE(rowOf(rows, "zchunk", M::NonFiniteColumn).data().toString(), QString("0"));
    for (const char* flagged : {"nan", "zchunk"})
        QVERIFY(!rowOf(rows, flagged).data(Qt::DecorationRole).value<QIcon>().isNull());
    QVERIFY(!rowOf(rows, "ok").data(Qt::DecorationRole).isValid());
    QVERIFY(rowOf(rows, "zchunk").data(Qt::ToolTipRole).toString().contains("is all zeros"));

    // The problems panel lists the findings; a second run replaces them.
    auto findingKinds = [&w] {
        QList<int> kinds;
        ProblemsModel* problems = w.problemsModel();
        for (int r = 0; r < problems->rowCount(); ++r)
            if (problems->index(r, 0).data(ProblemsModel::ValueFindingRole).toBool())
                kinds << problems->index(r, 0).data(ProblemsModel::KindRole).toInt();
        std::sort(kinds.begin(), kinds.end());
        return kinds;
    };
    const QList<int> expected{int(ErrorKind::ValueNaN), int(ErrorKind::ZeroChunk)};
    QCOMPARE(findingKinds(), expected);
    QVERIFY2(w.statusText().contains("values checked: 2 findings"), qPrintable(w.statusText()));
    QVERIFY(w.statusText().contains("ready to export")); // findings do not block the export
    const auto first = w.valueSession()->valueCheck();
    w.checkValuesAction()->trigger();
    QVERIFY(done.wait(30000));
    QCOMPARE(findingKinds(), expected);
    QVERIFY(w.valueSession()->valueCheck() != first);

    // The details show the kept statistics at once, tensor after tensor.
    QCOMPARE(w.detailTabs()->currentWidget(), w.valuesPanel());
    w.selectTensor(
        int(w.document()->checkpoint()->find("nan") - w.document()->checkpoint()->tensors.data()));
    QVERIFY(w.valuesPanel()->text().contains("4")); // max |x|
    // The tensor's finding in full, under its key numbers (the problems panel cuts it).
    QVERIFY2(
        w.valuesPanel()->text().contains(QRegularExpression("\nError: 1 NaN element, in chunk ")),
        qPrintable(w.valuesPanel()->text()));
    QVERIFY(w.valuesPanel()->histogram(0)->hasHistogram());
    QVERIFY(!w.valuesPanel()->histogram(0)->isHidden());
    if (qEnvironmentVariableIsSet("SHARDSCOPE_SHOTS"))
        w.grab().save(qEnvironmentVariable("SHARDSCOPE_SHOTS") + "/values-check.png");

    // Reloading drops them: columns, findings and details.
    QVERIFY(openAndWait(w, dir("ck")));
    QVERIFY(!w.tensorModel()->hasValueCheck());
    QVERIFY(!w.valueSession()->valueCheck());
    QVERIFY(table->isColumnHidden(M::MaxAbsColumn));
    QCOMPARE(findingKinds(), QList<int>());
}

void TestValuesGui::cancellingACheckKeepsNothing() {
    const Dims shape{2048, 16384}; // 2 × 32 MiB
    writeCheckpoint(
        dir("big"),
        {{"a", "U8", shape, splitDim(shape, 1, 4)}, {"b", "U8", shape, splitDim(shape, 0, 4)}}, 4);
    MainWindow w;
    showActive(w);
    QVERIFY(openAndWait(w, dir("big")));
    QSignalSpy done(w.valueSession(), &ValueSession::checkFinished);
    bool pressed = false;
    QString format;
    connect(w.valueSession(), &ValueSession::progress, this, [&](const JobProgress&) {
        if (pressed) return;
        pressed = true;
        format = w.findChild<QProgressBar*>()->format();
        QTest::keyClick(&w, Qt::Key_Escape);
    });
    w.checkValues();
    QTRY_VERIFY_WITH_TIMEOUT(pressed, 30000);
    // Whichever phase the first report came in (the read is quick: on an idle machine the
    // first throttled report may come from the search for identical tensors after it).
    QVERIFY2(format.startsWith("Reading values") || format.startsWith("Comparing identical"),
             qPrintable(format));
    QCOMPARE(w.statusBar()->currentMessage(), QString("Value check cancelled"));
    QVERIFY(w.valueSession()->running() == ValueSession::Task::None);
    QVERIFY(QThreadPool::globalInstance()->waitForDone(30000));
    QTest::qWait(100); // anything the pool thread posted has arrived by now
    QCOMPARE(done.count(), 0);
    QVERIFY(!w.valueSession()->valueCheck());
    QVERIFY(!w.tensorModel()->hasValueCheck());
    QVERIFY(w.tensorView()->isColumnHidden(TensorTableModel::MaxAbsColumn));
    QCOMPARE(w.problemsModel()->valueFindingCount(), 0);
    QVERIFY(!w.findChild<QProgressBar*>()->isVisible());
    // Nothing is left running: a new check completes. Compare With is refused meanwhile,
    // before a folder is typed, with the reason in the status bar.
    w.checkValues();
    w.compareAction()->trigger();
    QVERIFY(!w.findChild<CompareDialog*>());
    QVERIFY2(w.statusBar()->currentMessage().contains("is running (Esc cancels it)"),
             qPrintable(w.statusBar()->currentMessage()));
    QVERIFY(done.wait(60000));
    QVERIFY(w.tensorModel()->hasValueCheck());

    // A comparison is cancelled the same way and leaves no columns behind; the check stays.
    QSignalSpy compared(w.valueSession(), &ValueSession::comparisonChanged);
    pressed = false;
    w.compareWith(QString::fromStdString(dir("big").string()));
    QTRY_VERIFY_WITH_TIMEOUT(pressed, 30000);
    QCOMPARE(w.statusBar()->currentMessage(), QString("Comparison cancelled"));
    QVERIFY(QThreadPool::globalInstance()->waitForDone(30000));
    QTest::qWait(100);
    QCOMPARE(compared.count(), 0);
    QVERIFY(!w.valueSession()->comparison());
    QVERIFY(w.tensorView()->isColumnHidden(TensorTableModel::DiffColumn));
    QVERIFY(w.tensorModel()->hasValueCheck());
}

// Reading a compared tensor for the Values tab shows its progress and Esc stops it. The
// comparison stays; the tensor is read again once another one was selected in between.
void TestValuesGui::cancellingATensorReadKeepsTheComparison() {
    const Dims shape{2048, 16384}; // 32 MiB a side, and two reads of both for the difference
    writeCheckpoint(dir("big"),
                    {{"a", "U8", shape, splitDim(shape, 0, 2)}, {"b", "U8", {4}, {{{0}, {4}}}}}, 2);
    const fs::path other = dir("big2") / "model.safetensors";
    fs::create_directories(other.parent_path());
    writeWholeFile(other, {{"a", "U8", shape}, {"b", "U8", {4}}});
    { // a's first byte changes: the data begins right after the header
        std::fstream f(other, std::ios::in | std::ios::out | std::ios::binary);
        uint64_t length = 0;
        f.read(reinterpret_cast<char*>(&length), 8);
        f.seekg(std::streamoff(8 + length));
        const char was = char(f.get());
        f.seekp(std::streamoff(8 + length));
        f.put(char(was ^ 0x40));
        QVERIFY(f.good());
    }
    MainWindow w;
    showActive(w);
    QVERIFY(openAndWait(w, dir("big")));
    QSignalSpy compared(w.valueSession(), &ValueSession::comparisonChanged);
    w.compareWith(QString::fromStdString(dir("big2").string()));
    QVERIFY(compared.wait(60000));
    QCOMPARE(column(w.tensorView()->model(), TensorTableModel::DiffColumn),
             (QStringList{"Differs", "Identical"}));

    QSignalSpy ready(w.valueSession(), &ValueSession::pairReady);
    auto* bar = w.findChild<QProgressBar*>();
    auto* statusLabel = w.findChild<QLabel*>("statusLabel");
    // Progress as it arrives (a loaded machine may deliver none before the end): the bar names
    // the phase.
    QStringList formats;
    connect(w.valueSession(), &ValueSession::pairProgress, this, [&](const JobProgress&) {
        if (bar->isVisible()) formats << bar->format();
    });
    w.selectTensor(0);
    QVERIFY(w.valuesPanel()->text().contains("Reading the tensor's values in both checkpoints"));
    QVERIFY(!w.valuesPanel()->readButton()->isVisible());
    QCOMPARE(w.valueSession()->pairBeingRead(), 0);
    QVERIFY(bar->isVisible());
    QVERIFY2(statusLabel->text().contains("Reading a in both checkpoints"),
             qPrintable(statusLabel->text()));
    QTest::keyClick(&w, Qt::Key_Escape);
    QCOMPARE(w.statusBar()->currentMessage(), QString("Reading cancelled"));
    QCOMPARE(w.valueSession()->pairBeingRead(), -1);
    QVERIFY(QThreadPool::globalInstance()->waitForDone(30000));
    QTest::qWait(100); // anything the pool thread posted has arrived by now
    QCOMPARE(ready.count(), 0);
    QVERIFY(!w.valueSession()->pair(0));
    QVERIFY(!bar->isVisible());
    QVERIFY2(w.valuesPanel()->text().contains("Reading cancelled"),
             qPrintable(w.valuesPanel()->text()));
    // What the comparison already says of the tensor stays in view (it was replaced by the
    // message alone): its status and counts. No side is said to lack statistics.
    QVERIFY2(w.valuesPanel()->text().startsWith("Differs · 1 of 33,554,432 elements differ"),
             qPrintable(w.valuesPanel()->text()));
    QVERIFY(!w.valuesPanel()->text().contains("no statistics"));
    QVERIFY(w.valuesPanel()->histogram(1)->isHidden());
    QVERIFY(w.comparisonBanner()->isVisible());
    QVERIFY(w.valueSession()->comparison()); // kept, with its columns
    QVERIFY(!w.tensorView()->isColumnHidden(TensorTableModel::DiffColumn));
    QPushButton* read = w.valuesPanel()->readButton();
    QVERIFY(read->isVisible());
    w.selectTensor(0); // the same tensor again: still cancelled, nothing read
    QCOMPARE(w.valueSession()->pairBeingRead(), -1);

    // Read Both Sides starts it again (from the keyboard: the button is a Tab stop); cancelled
    // once more, another tensor and back reads it as well.
    read->setFocus();
    QVERIFY(read->hasFocus());
    QTest::keyClick(read, Qt::Key_Space);
    QVERIFY(!read->isVisible());
    QCOMPARE(w.valueSession()->pairBeingRead(), 0);
    QVERIFY(bar->isVisible());
    QTest::keyClick(&w, Qt::Key_Escape);
    QCOMPARE(w.statusBar()->currentMessage(), QString("Reading cancelled"));
    QVERIFY(QThreadPool::globalInstance()->waitForDone(30000));
    QTest::qWait(100);
    QCOMPARE(ready.count(), 0);
    QVERIFY(read->isVisible());
    w.selectTensor(1);
    QTRY_VERIFY_WITH_TIMEOUT(w.valueSession()->pair(1) != nullptr, 30000);
    QVERIFY(!read->isVisible());
    w.selectTensor(0);
    QCOMPARE(w.valueSession()->pairBeingRead(), 0);
    QTRY_VERIFY_WITH_TIMEOUT(w.valueSession()->pair(0) != nullptr, 60000);
    for (const QString& format : formats)
        QVERIFY2(format.startsWith("Reading here") || format.startsWith("Reading the other") ||
                     format.startsWith("Binning the difference"),
                 qPrintable(format));
    QVERIFY(w.valueSession()->pair(0)->difference.has_value());
    QCOMPARE(w.valueSession()->pair(0)->difference->nonzero, uint64_t(1));
    QTRY_VERIFY(!bar->isVisible());
    QVERIFY(w.valuesPanel()->histogram(2)->hasHistogram());
}

void TestValuesGui::compareWithAFlippedValue() {
    writeHalves(dir("a"), {{"w1", {1, 2}, {3, 4}}, {"w2", {5, 6}, {7, 8}}, {"w3", {0, 1}, {0, 1}}});
    fs::copy(dir("a"), dir("b"), fs::copy_options::recursive);
    setElement(dir("b") / "rank-1.safetensors", "w2", 1, 8.5f); // w2[3]: 8 -> 8.5
    MainWindow w;
    showActive(w);
    QVERIFY(openAndWait(w, dir("a")));
    QVERIFY(!w.clearComparisonAction()->isEnabled());
    QVERIFY(w.differsOnlyFilter()->isHidden());

    // Through the dialog, with the folder typed.
    QSignalSpy changed(w.valueSession(), &ValueSession::comparisonChanged);
    w.compareAction()->trigger();
    auto* dialog = w.findChild<CompareDialog*>();
    QVERIFY(dialog);
    dialog->setDirectory(QString::fromStdString(dir("b").string()));
    QVERIFY(dialog->compareButton()->isEnabled());
    dialog->compareButton()->click();
    QVERIFY(changed.wait(30000));
    using M = TensorTableModel;
    QTableView* table = w.tensorView();
    const QAbstractItemView* view = table; // sizeHintForColumn is public there
    for (int c = M::DiffColumn; c <= M::CosineColumn; ++c) {
        QVERIFY(!table->isColumnHidden(c));
        // Wide enough for every number: the table elides in the middle, which would change one.
        QVERIFY2(table->columnWidth(c) >= view->sizeHintForColumn(c),
                 qPrintable(QString("column %1: %2 < %3")
                                .arg(c)
                                .arg(table->columnWidth(c))
                                .arg(view->sizeHintForColumn(c))));
    }
    QAbstractItemModel* rows = table->model();
    QCOMPARE(column(rows, M::NameColumn), (QStringList{"w1", "w2", "w3"}));
    QCOMPARE(column(rows, M::DiffColumn), (QStringList{"Identical", "Differs", "Identical"}));
    QCOMPARE(rowOf(rows, "w2", M::MaxDiffColumn).data().toString(), QString("0.5"));
    QVERIFY(!rowOf(rows, "w2", M::RelativeL2Column).data().toString().isEmpty());
    QVERIFY(!rowOf(rows, "w2", M::CosineColumn).data().toString().isEmpty());
    QVERIFY(w.comparisonBanner()->isVisible());
    QVERIFY(w.comparisonBanner()->text().contains("2 identical, 1 differs"));

    // Differs only: exactly the differing row.
    QVERIFY(w.differsOnlyFilter()->isVisible());
    // The offscreen platform leaves the closed dialog active; a window manager would not.
    QApplication::setActiveWindow(&w);
    QTRY_VERIFY(w.isActiveWindow());
    auto* filter = w.findChild<QLineEdit*>("tensorFilter");
    filter->setFocus(); // the key is the window's, also while typing a filter
    QTest::keyClick(filter, Qt::Key_D, Qt::ControlModifier);
    QVERIFY(w.differsOnlyFilter()->isChecked());
    QCOMPARE(column(rows, M::NameColumn), QStringList{"w2"});

    // The details read the tensor on both sides, off the GUI thread.
    QSignalSpy pair(w.valueSession(), &ValueSession::pairReady);
    w.selectTensor(1);
    QTRY_VERIFY_WITH_TIMEOUT(w.valueSession()->pair(1) != nullptr, 30000);
    QCOMPARE(w.detailTabs()->currentWidget(), w.valuesPanel());
    const QString details = w.valuesPanel()->text();
    QVERIFY2(details.contains("Differs") && details.contains("1 of 4 elements differ"),
             qPrintable(details));
    QVERIFY(w.valuesPanel()->histogram(0)->hasHistogram());
    QVERIFY(w.valuesPanel()->histogram(1)->hasHistogram());
    // Both sides binned on the same edges, 5 to 8.5: here's 8 in bin 54, other's 8.5 in 63.
    HistogramView* here = w.valuesPanel()->histogram(0);
    HistogramView* other = w.valuesPanel()->histogram(1);
    QCOMPARE(other->highLabel(), QString("8.5"));
    QCOMPARE(here->highLabel(), QString("8.5"));
    QCOMPARE(here->lowLabel(), QString("5"));
    QVERIFY(here->shown()->lo == other->shown()->lo && here->shown()->hi == other->shown()->hi);
    QCOMPARE(here->shown()->counts[54], uint64_t(1));
    QCOMPARE(here->shown()->counts[63], uint64_t(0));
    QCOMPARE(other->shown()->counts[54], uint64_t(0));
    QCOMPARE(other->shown()->counts[63], uint64_t(1));
    for (int bin : {0, 18, 36}) // 5, 6, 7 on both sides
        QVERIFY(here->shown()->counts[size_t(bin)] == 1 &&
                other->shown()->counts[size_t(bin)] == 1);
    // The difference here − other: one element at 8 − 8.5, the rest at 0, over ±0.5.
    HistogramView* difference = w.valuesPanel()->histogram(2);
    QVERIFY(!difference->isHidden());
    QVERIFY(difference->hasHistogram());
    QCOMPARE(difference->highLabel(), QString("0.5"));
    QVERIFY2(difference->lowLabel().endsWith("0.5") && difference->lowLabel() != "0.5",
             qPrintable(difference->lowLabel()));
    QCOMPARE(difference->shown()->counts[0], uint64_t(1));  // −0.5
    QCOMPARE(difference->shown()->counts[32], uint64_t(3)); // 0
    w.selectTensor(0);                                      // identical: no difference to draw
    QTRY_VERIFY_WITH_TIMEOUT(w.valueSession()->pair(0) != nullptr, 30000);
    QVERIFY(w.valuesPanel()->histogram(2)->isHidden());
    w.selectTensor(1);
    if (qEnvironmentVariableIsSet("SHARDSCOPE_SHOTS"))
        w.grab().save(qEnvironmentVariable("SHARDSCOPE_SHOTS") + "/values-compare.png");

    // Clear Comparison: the columns, the filter and the banner go; every row is back.
    QVERIFY(w.clearComparisonAction()->isEnabled());
    w.clearComparisonAction()->trigger();
    QCOMPARE(w.statusBar()->currentMessage(), QString("Comparison cleared"));
    QVERIFY(!w.tensorModel()->hasComparison());
    QVERIFY(table->isColumnHidden(M::DiffColumn));
    QVERIFY(!w.differsOnlyFilter()->isChecked());
    QVERIFY(w.differsOnlyFilter()->isHidden());
    QVERIFY(w.comparisonBanner()->isHidden());
    QCOMPARE(rows->rowCount(), 3);
    // A folder that is not a checkpoint: the core's message, and no comparison.
    fs::create_directories(dir("empty"));
    w.compareWith(QString::fromStdString(dir("empty").string()));
    QMessageBox* box = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((box = w.findChild<QMessageBox*>()) != nullptr, 30000);
    QCOMPARE(box->windowTitle(), QString("Comparison failed"));
    QVERIFY2(box->text().contains(QString::fromStdString(dir("empty").string())),
             qPrintable(box->text()));
    box->close();
    QVERIFY(!w.valueSession()->comparison());
    QVERIFY(w.valueSession()->running() == ValueSession::Task::None);
    QVERIFY(!w.findChild<QProgressBar*>()->isVisible());

    // The next Compare With proposes the folder compared last.
    w.compareAction()->trigger();
    auto* again = w.findChildren<CompareDialog*>().last();
    QVERIFY(again->isVisible());
    QCOMPARE(again->directory(), QString::fromStdString(dir("empty").string()));
    again->reject();
}

// With a tolerance the banner names it, and the details say how many differing elements it does
// not cover: w1's 1 -> 1.001 is within atol 0.01, w2's 8 -> 8.5 is not.
void TestValuesGui::toleranceIsNamed() {
    writeHalves(dir("a"), {{"w1", {1, 2}, {3, 4}}, {"w2", {5, 6}, {7, 8}}});
    fs::copy(dir("a"), dir("b"), fs::copy_options::recursive);
    setElement(dir("b") / "rank-0.safetensors", "w1", 0, 1.001f);
    setElement(dir("b") / "rank-1.safetensors", "w2", 1, 8.5f);
    MainWindow w;
    showActive(w);
    QVERIFY(openAndWait(w, dir("a")));
    QSignalSpy changed(w.valueSession(), &ValueSession::comparisonChanged);
    w.compareWith(QString::fromStdString(dir("b").string()), 0.01, 0);
    QVERIFY(changed.wait(30000));
    QVERIFY2(w.comparisonBanner()->text().contains("within atol 0.01, rtol 0: 1 within "
                                                   "tolerance, 1 differs"),
             qPrintable(w.comparisonBanner()->text()));
    for (auto [row, expected] : {std::pair{0, "1 of 4 elements differ, 0 beyond the tolerance"},
                                 std::pair{1, "1 of 4 elements differ, 1 beyond the tolerance"}}) {
        w.selectTensor(row);
        QTRY_VERIFY_WITH_TIMEOUT(w.valueSession()->pair(row) != nullptr, 30000);
        QVERIFY2(w.valuesPanel()->text().contains(expected), qPrintable(w.valuesPanel()->text()));
    }
    // Without one, nothing is said of a tolerance.
    w.compareWith(QString::fromStdString(dir("b").string()));
    QVERIFY(changed.wait(30000));
    QVERIFY(!w.comparisonBanner()->text().contains("atol"));
    w.selectTensor(1);
    QTRY_VERIFY_WITH_TIMEOUT(w.valueSession()->pair(1) != nullptr, 30000);
    QVERIFY(!w.valuesPanel()->text().contains("tolerance"));
}

void TestValuesGui::compareDialogTakesATypedFolder() {
    CompareDialog dialog(QString::fromStdString(dir("a").string()), QString());
    QVERIFY(!dialog.compareButton()->isEnabled());
    dialog.setDirectory(QString::fromStdString(dir("nowhere").string()));
    QVERIFY(!dialog.compareButton()->isEnabled());
    QVERIFY2(dialog.problemText().contains("does not exist"), qPrintable(dialog.problemText()));
    // A file: one .safetensors file is a checkpoint (as for shardscope-cli diff), others not.
    fs::create_directories(dir("files"));
    std::ofstream(dir("files") / "notes.txt") << "x";
    std::ofstream(dir("files") / "model.safetensors") << "x";
    dialog.setDirectory(QString::fromStdString((dir("files") / "notes.txt").string()));
    QVERIFY(!dialog.compareButton()->isEnabled());
    QVERIFY2(dialog.problemText().contains("is not a folder or a .safetensors file"),
             qPrintable(dialog.problemText()));
    dialog.setDirectory(QString::fromStdString((dir("files") / "model.safetensors").string()));
    QVERIFY(dialog.compareButton()->isEnabled());
    QVERIFY(dialog.problemText().isEmpty());
    fs::create_directories(dir("b"));
    dialog.setDirectory(QString::fromStdString(dir("b").string()) + "/");
    QVERIFY(dialog.compareButton()->isEnabled());
    QCOMPARE(dialog.directory(), QString::fromStdString(dir("b").string()));
    QVERIFY(!dialog.hasTolerance());
}

// The tolerances typed for one comparison are proposed for the next (they came back as 0);
// and the dialog keeps its height while its message comes and goes as a path is typed (it
// grew and shrank, leaving the path's completion list over the field).
void TestValuesGui::compareDialogKeepsItsTolerancesAndItsHeight() {
    writeHalves(dir("a"), {{"w", {1, 2}, {3, 4}}});
    fs::copy(dir("a"), dir("b"), fs::copy_options::recursive);
    MainWindow w;
    showActive(w);
    QVERIFY(openAndWait(w, dir("a")));
    w.compareAction()->trigger();
    auto* dialog = w.findChildren<CompareDialog*>().last();
    QVERIFY(QTest::qWaitForWindowExposed(dialog));
    dialog->setDirectory(QString::fromStdString(dir("b").string()));
    QVERIFY(dialog->problemText().isEmpty());
    const int height = dialog->height();
    dialog->setDirectory(QString::fromStdString(dir("b").string()) + "x");
    QVERIFY(!dialog->problemText().isEmpty());
    QApplication::processEvents();
    QCOMPARE(dialog->height(), height);
    dialog->setDirectory(QString::fromStdString(dir("b").string()));
    dialog->setTolerances("0.02", "0.001");
    QSignalSpy changed(w.valueSession(), &ValueSession::comparisonChanged);
    dialog->accept();
    QVERIFY(changed.wait(30000));
    QVERIFY2(w.comparisonBanner()->text().contains("atol 0.02, rtol 0.001"),
             qPrintable(w.comparisonBanner()->text()));
    w.compareAction()->trigger();
    auto* again = w.findChildren<CompareDialog*>().last();
    QVERIFY(again != dialog);
    QCOMPARE(again->atolText(), QString("0.02"));
    QCOMPARE(again->rtolText(), QString("0.001"));
    again->reject();
}

// Opening another checkpoint during a comparison: the status bar does not say "Comparison
// cleared" over what was opened, and the table starts at the names again, not at the last
// checkpoint's horizontal scroll.
void TestValuesGui::openingAnotherCheckpointSaysSoAndShowsNames() {
    writeHalves(dir("a"), sample());
    fs::copy(dir("a"), dir("b"), fs::copy_options::recursive);
    MainWindow w;
    showActive(w);
    QVERIFY(openAndWait(w, dir("a")));
    QSignalSpy changed(w.valueSession(), &ValueSession::comparisonChanged);
    w.compareWith(QString::fromStdString(dir("b").string()));
    QVERIFY(changed.wait(30000));
    QScrollBar* across = w.tensorView()->horizontalScrollBar();
    QTRY_VERIFY(across->maximum() > 0); // the diff columns widen the table past the pane
    across->setValue(across->maximum());
    QVERIFY(openAndWait(w, dir("b")));
    QVERIFY(!w.valueSession()->comparison());
    QVERIFY2(!w.statusBar()->currentMessage().contains("cleared"),
             qPrintable(w.statusBar()->currentMessage()));
    QCOMPARE(across->value(), 0);
    // Cleared by the user, it says so.
    w.compareWith(QString::fromStdString(dir("a").string()));
    QVERIFY(changed.wait(30000));
    w.valueSession()->clearComparison();
    QCOMPARE(w.statusBar()->currentMessage(), QString("Comparison cleared"));
}

// Tensors only in the other checkpoint have no row: the banner names the first ones (it only
// counted them), the tooltip lists them.
void TestValuesGui::bannerNamesTensorsOnlyInTheOther() {
    writeHalves(dir("a"), {{"w", {1}, {2}}});
    writeHalves(dir("b"), {{"w", {1}, {2}},
                           {"x1", {1}, {2}},
                           {"x2", {1}, {2}},
                           {"x3", {1}, {2}},
                           {"x4", {1}, {2}},
                           {"x5", {1}, {2}}});
    writeHalves(dir("c"), {{"w", {1}, {2}}, {"y", {1}, {2}}});
    MainWindow w;
    showActive(w);
    QVERIFY(openAndWait(w, dir("a")));
    QSignalSpy changed(w.valueSession(), &ValueSession::comparisonChanged);
    w.compareWith(QString::fromStdString(dir("b").string()));
    QVERIFY(changed.wait(30000));
    const QString text = w.comparisonBanner()->text();
    QVERIFY2(text.contains("1 identical, 5 only in the other (only there: x1, x2, x3 and 2 more)"),
             qPrintable(text));
    QVERIFY2(w.comparisonBanner()->toolTip().contains("x5"),
             qPrintable(w.comparisonBanner()->toolTip()));
    w.compareWith(QString::fromStdString(dir("c").string()));
    QVERIFY(changed.wait(30000));
    QVERIFY2(w.comparisonBanner()->text().contains("1 only in the other (only there: y)"),
             qPrintable(w.comparisonBanner()->text()));
}

// Long numbers (1.47822e-05, 44,040) in a pane of 300 px: one pair a row, every value inside
// the pane; a wide pane takes two pairs a row. Comparing: here and other side by side when
// they fit, else one above the other.
void TestValuesGui::statisticsFitANarrowPane() {
    std::vector<float> first(600), second(600);
    for (size_t i = 0; i < first.size(); ++i) {
        first[i] = i % 7 ? 0.0198975f * std::sin(float(i)) : 0.0f;
        second[i] = i % 5 ? 1.47822e-05f * float(i) : 0.0f;
    }
    writeHalves(dir("ck"), {{"w", first, second}});
    auto ckpt = open(dir("ck"));
    const auto check = checkOf(ckpt);
    auto fitsIn = [](ValuesPanel& panel) {
        auto* stats = panel.findChildren<QLabel*>().last();
        QTextDocument doc;
        doc.setDefaultFont(stats->font());
        doc.setDocumentMargin(0);
        doc.setHtml(stats->text());
        return doc.idealWidth() <= stats->width();
    };
    ValuesContent content;
    content.a = check->statsOf(0);
    for (int width : {300, 700}) {
        ValuesPanel panel;
        panel.resize(width, 600);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        panel.setContent(content);
        QTest::qWait(20); // the table is laid out again once the pane has its width
        QVERIFY2(fitsIn(panel), qPrintable(QString::number(width)));
        // 12 statistics: 6 rows of two pairs, or 12 of one.
        const qsizetype rows = panel.findChildren<QLabel*>().last()->text().count("<tr>");
        QCOMPARE(rows, width == 700 ? 6 : 12);
    }
    // Both sides in a narrow pane: stacked, still inside it.
    ValuesPanel panel;
    panel.resize(240, 600);
    panel.show();
    QVERIFY(QTest::qWaitForWindowExposed(&panel));
    content.comparing = true;
    content.b = check->statsOf(0);
    content.otherName = "other";
    panel.setContent(content);
    QTest::qWait(20);
    QVERIFY(fitsIn(panel));
    QVERIFY2(panel.text().contains("here") && panel.text().contains("other"),
             qPrintable(panel.text()));
}

// A tensor whose replicas conflict on one side is not compared; the tooltip (and so the Values
// tab) says which side and why. It said "a side's chunks do not cover the tensor".
void TestValuesGui::notComparedSaysWhy() {
    for (const char* side : {"a", "b"}) {
        fs::create_directories(dir(side));
        const bool conflict = std::string(side) == "a";
        writeShard(dir(side) / "rank-0.safetensors", {{"r", "F32", {0}, {2}, f32({1, 2})}});
        writeShard(dir(side) / "rank-1.safetensors",
                   {{"r", "F32", {0}, {2}, f32({1, conflict ? 3.0f : 2.0f})}});
    }
    auto ckpt = open(dir("a"));
    TensorTableModel tensors(&m_doc);
    const auto comparison = compareOf(ckpt, dir("b"));
    tensors.setComparison(comparison);
    using M = TensorTableModel;
    QCOMPARE(rowOf(&tensors, "r", M::DiffColumn).data().toString(), QString("Not compared"));
    const QString tip = rowOf(&tensors, "r", M::DiffColumn).data(Qt::ToolTipRole).toString();
    QVERIFY2(tip.startsWith("Here, conflict: rank-0.safetensors and rank-1.safetensors both "
                            "hold region [0:2] with different bytes") &&
                 tip.endsWith("(see Problems)") && !tip.contains("Not compared"),
             qPrintable(tip));
}

// A C64 tensor has no numbers to subtract: its difference is counted by the bits, and the
// number columns say "–" (they said 0 and 0, as if the sides were equal).
void TestValuesGui::complexTensorsDifferByTheirBits() {
    std::string bytes(4 * 8, '\0');
    for (size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = char(i + 1);
    for (const char* side : {"a", "b"}) {
        fs::create_directories(dir(side));
        writeShard(dir(side) / "rank-0.safetensors", {{"z", "C64", {0}, {4}, bytes}});
        bytes[2 * 8 + 3] ^= 0x10; // element 2 differs in b
    }
    auto ckpt = open(dir("a"));
    TensorTableModel tensors(&m_doc);
    using M = TensorTableModel;
    const auto comparison = compareOf(ckpt, dir("b"));
    tensors.setComparison(comparison);
    QCOMPARE(rowOf(&tensors, "z", M::DiffColumn).data().toString(), QString("Differs"));
    for (int c : {M::MaxDiffColumn, M::RelativeL2Column, M::CosineColumn}) {
        QCOMPARE(rowOf(&tensors, "z", c).data().toString(), QString("–"));
        QVERIFY(!rowOf(&tensors, "z", c).data(M::SortRole).isValid());
    }
    const QString tip = rowOf(&tensors, "z", M::DiffColumn).data(Qt::ToolTipRole).toString();
    QVERIFY2(tip.startsWith("1 of 4 elements differ, compared by their bits"), qPrintable(tip));

    ValuesPanel panel;
    ValuesContent content;
    content.comparing = true;
    content.diff = comparison->diffOf(0);
    QVERIFY(content.diff);
    TensorStats none;
    content.a = &none;
    panel.setContent(content);
    QVERIFY2(panel.text().contains("1 of 4 elements differ") &&
                 panel.text().contains("Compared by their bits") &&
                 !panel.text().contains("max |a−b|"),
             qPrintable(panel.text()));
}

// +Inf against 1 and a NaN against 3: |a − b| there is ∞ and NaN, not 0; both sort above
// every number and the details say why.
void TestValuesGui::nonFiniteDifferencesSortFirstAndAreNamed() {
    writeHalves(dir("a"), {{"big", {1, 2}, {3, 4}},
                           {"inf", {kInf, 2}, {3, 4}},
                           {"nan", {1, 2}, {kNaN, 4}},
                           {"same", {1, 2}, {3, 4}}});
    writeHalves(dir("b"), {{"big", {1, 2}, {3, 400}},
                           {"inf", {1, 2}, {3, 4}},
                           {"nan", {1, 2}, {3, 4}},
                           {"same", {1, 2}, {3, 4}}});
    auto ckpt = open(dir("a"));
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    using M = TensorTableModel;
    const auto comparison = compareOf(ckpt, dir("b"));
    tensors.setComparison(comparison);
    QCOMPARE(rowOf(&tensors, "inf", M::MaxDiffColumn).data().toString(), QString("∞"));
    QCOMPARE(rowOf(&tensors, "nan", M::MaxDiffColumn).data().toString(), QString("NaN"));
    QCOMPARE(rowOf(&tensors, "big", M::MaxDiffColumn).data().toString(), QString("396"));
    // rel L2 and cosine say the same: not 0 and 1 beside an ∞.
    QCOMPARE(rowOf(&tensors, "inf", M::RelativeL2Column).data().toString(), QString("∞"));
    QCOMPARE(rowOf(&tensors, "nan", M::RelativeL2Column).data().toString(), QString("NaN"));
    QCOMPARE(rowOf(&tensors, "inf", M::CosineColumn).data().toString(), QString("–"));
    QVERIFY(!rowOf(&tensors, "inf", M::CosineColumn).data(M::SortRole).isValid());
    QVERIFY(rowOf(&tensors, "big", M::CosineColumn).data().toString() != "–");
    QVERIFY(rowOf(&tensors, "inf", M::DiffColumn)
                .data(Qt::ToolTipRole)
                .toString()
                .contains("1 Inf against another value"));
    // NaN above ∞ above the numbers, and ascending is descending reversed.
    for (int c : {M::MaxDiffColumn, M::RelativeL2Column}) {
        proxy.sort(c, Qt::DescendingOrder);
        QCOMPARE(column(&proxy, M::NameColumn), (QStringList{"nan", "inf", "big", "same"}));
        proxy.sort(c, Qt::AscendingOrder);
        QCOMPARE(column(&proxy, M::NameColumn), (QStringList{"same", "big", "inf", "nan"}));
    }

    ValuesPanel panel;
    ValuesContent content;
    content.comparing = true;
    content.diff = comparison->diffOf(size_t(ckpt->find("inf") - ckpt->tensors.data()));
    QVERIFY(content.diff);
    content.message = {};
    TensorStats none;
    content.a = &none;
    panel.setContent(content);
    // The same ∞ as the table, then the numbers over the finite positions.
    QVERIFY2(panel.text().contains("max |a−b| ∞ · rel L2 ∞ · cosine – (1 Inf against another "
                                   "value)"),
             qPrintable(panel.text()));
    QVERIFY2(panel.text().contains("Where both are finite: max |a−b| "), qPrintable(panel.text()));
    // The note on finite elements names the side that has fewer.
    TensorStats here, other;
    for (TensorStats* side : {&here, &other}) {
        side->computed = true;
        side->moments.count = 4;
        side->moments.min = 1;
        side->moments.max = 2;
    }
    other.moments.posInf = 1;
    content.a = &here;
    content.b = &other;
    panel.setContent(content);
    QVERIFY2(panel.text().contains("are over the 4 finite elements here (all of them) and the 3 "
                                   "of the other."),
             qPrintable(panel.text()));
}

void TestValuesGui::problemsOnlyShowsValueFindings() {
    writeHalves(dir("ck"), sample());
    auto ckpt = open(dir("ck"));
    TensorTableModel tensors(&m_doc);
    TensorFilterProxy proxy;
    proxy.setSourceModel(&tensors);
    proxy.sort(TensorTableModel::NameColumn);
    proxy.setStatusFilter(TensorFilterProxy::AnyProblem);
    QCOMPARE(proxy.rowCount(), 0); // every tensor covered, nothing checked yet
    tensors.setValueCheck(checkOf(ckpt));
    QCOMPARE(column(&proxy, TensorTableModel::NameColumn), (QStringList{"c", "n"}));
    // n holds a NaN (an error), c is constant (a warning): the icons say which.
    const auto pixels = [](const QVariant& icon) {
        return icon.value<QIcon>().pixmap(16).toImage();
    };
    QCOMPARE(pixels(rowOf(&tensors, "n").data(Qt::DecorationRole)),
             pixels(qApp->style()->standardIcon(QStyle::SP_MessageBoxCritical)));
    QCOMPARE(pixels(rowOf(&tensors, "c").data(Qt::DecorationRole)),
             pixels(qApp->style()->standardIcon(QStyle::SP_MessageBoxWarning)));
    tensors.setValueCheck(nullptr);
    QCOMPARE(proxy.rowCount(), 0);
}

// shardscope-cli check reports tensors with equal bytes; Check Values in the window does too.
void TestValuesGui::checkValuesFindsIdenticalTensorsAsTheCliDoes() {
    writeHalves(dir("ck"), {{"layers.0.norm.weight", {1, 1}, {1, 1.5f}},
                            {"layers.1.norm.weight", {1, 1}, {1, 1.5f}},
                            {"other", {1, 2}, {3, 4}}});
    MainWindow w;
    showActive(w);
    QVERIFY(openAndWait(w, dir("ck")));
    QSignalSpy done(w.valueSession(), &ValueSession::checkFinished);
    w.checkValuesAction()->trigger();
    QVERIFY(done.wait(30000));
    QStringList tied;
    ProblemsModel* problems = w.problemsModel();
    for (int r = 0; r < problems->rowCount(); ++r)
        if (problems->index(r, 0).data(ProblemsModel::KindRole).toInt() ==
            int(ErrorKind::TiedWeights))
            tied << problems->index(r, ProblemsModel::MessageColumn).data().toString();
    QCOMPARE(tied.size(), 1);
    QVERIFY2(tied[0].contains("layers.0.norm.weight") || tied[0].contains("layers.1.norm.weight"),
             qPrintable(tied[0]));
    CliResult cli =
        runCli({"check", QString::fromStdString(dir("ck").string()), "--json"}, m_tmp->path());
    QVERIFY2(cli.out.contains("\"TiedWeights\""), qPrintable(cli.out));
}

// Shift+F10 on the table: Sort By ▸ a column, then the order. Ctrl+C on a problem copies its
// whole message.
void TestValuesGui::sortByFromTheKeyboardAndCopyProblems() {
    writeHalves(dir("ck"), sample());
    MainWindow w;
    showActive(w);
    QVERIFY(openAndWait(w, dir("ck")));
    QTableView* table = w.tensorView();
    table->setFocus();
    QTRY_VERIFY(table->hasFocus());
    using M = TensorTableModel;
    QStringList sortEntries; // as last shown
    auto pick = [&](const QString& item) {
        bool done = false;
        std::function<void(int)> poll = [&](int attempts) {
            QTimer::singleShot(10, [&, attempts] {
                auto* menu = qobject_cast<QMenu*>(QApplication::activePopupWidget());
                if (!menu) {
                    if (attempts > 0) poll(attempts - 1);
                    return;
                }
                for (QAction* a : menu->actions())
                    if (a->menu() && a->menu()->title() == "S&ort By") {
                        sortEntries.clear();
                        for (QAction* s : a->menu()->actions()) {
                            if (s->isSeparator()) continue;
                            sortEntries << s->text();
                            if (QString(s->text()).remove('&') == item) s->trigger();
                        }
                    }
                menu->close();
                done = true;
            });
        };
        poll(500);
        QTest::keyClick(table, Qt::Key_F10, Qt::ShiftModifier);
        QTRY_VERIFY(done);
    };
    // Every entry has its own mnemonic, those of the value columns too (below).
    auto distinctMnemonics = [&] {
        QSet<QChar> keys;
        for (const QString& text : sortEntries) {
            const qsizetype at = text.indexOf('&');
            if (at < 0 || at + 1 >= text.size() || keys.contains(text.at(at + 1).toLower()))
                return false;
            keys.insert(text.at(at + 1).toLower());
        }
        return true;
    };
    pick("Tensor");
    QVERIFY2(sortEntries.size() > 4 && distinctMnemonics(), qPrintable(sortEntries.join('|')));
    QVERIFY2(sortEntries.contains("&Tensor"), qPrintable(sortEntries.join('|')));
    pick("Descending");
    QCOMPARE(table->horizontalHeader()->sortIndicatorSection(), int(M::NameColumn));
    QCOMPARE(table->horizontalHeader()->sortIndicatorOrder(), Qt::DescendingOrder);
    QCOMPARE(table->model()->index(0, M::NameColumn).data().toString(), QString("skip"));
    pick("Ascending");
    QCOMPARE(table->model()->index(0, M::NameColumn).data().toString(), QString("a"));

    QSignalSpy done(w.valueSession(), &ValueSession::checkFinished);
    w.checkValuesAction()->trigger();
    QVERIFY(done.wait(30000));
    // Ctrl+P shows the tensors with findings (c constant, n NaN/Inf); again shows them all.
    QTest::keyClick(table, Qt::Key_P, Qt::ControlModifier);
    QCOMPARE(column(table->model(), M::NameColumn), (QStringList{"c", "n"}));
    QTest::keyClick(table, Qt::Key_P, Qt::ControlModifier);
    QCOMPARE(table->model()->rowCount(), 5);
    auto* problems = w.findChild<QTableView*>("problemTable");
    int nanRow = -1;
    for (int r = 0; r < problems->model()->rowCount(); ++r)
        if (problems->model()->index(r, 0).data(ProblemsModel::KindRole).toInt() ==
            int(ErrorKind::ValueNaN))
            nanRow = r;
    QVERIFY(nanRow >= 0);
    problems->setFocus();
    problems->selectRow(nanRow);
    QApplication::clipboard()->clear();
    QTest::keyClick(problems, Qt::Key_C, Qt::ControlModifier);
    const QString copied = QApplication::clipboard()->text();
    const QString message =
        problems->model()->index(nanRow, ProblemsModel::MessageColumn).data().toString();
    QVERIFY(!message.isEmpty());
    QVERIFY2(copied.startsWith("Error\t") && copied.endsWith("\t" + message), qPrintable(copied));

    // Mnemonics for run-time text: the first free character, an '&' of the text kept as one,
    // a free letter after a text whose characters are all taken.
    QString used = "a";
    QCOMPARE(withMnemonic("a&b", used), QString("a&&&b"));
    QCOMPARE(used, QString("ab"));
    QCOMPARE(withMnemonic("|x|", used), QString("|&x|"));
    QCOMPARE(withMnemonic("Ab", used), QString("Ab (&C)"));
    QCOMPARE(used, QString("abxc"));

    // The value columns in Sort By have mnemonics of their own as well.
    const qsizetype before = sortEntries.size();
    table->setFocus();
    pick("Ascending");
    QVERIFY2(sortEntries.size() > before && distinctMnemonics(), qPrintable(sortEntries.join('|')));
}

QTEST_MAIN(TestValuesGui)
#include "tst_values_gui.moc"
