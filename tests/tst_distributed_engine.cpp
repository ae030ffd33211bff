// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// consolidateDistributed with its ranks as threads of this process (ThreadPeers below): the same
// files as one process, idle ranks, a failure or a cancel on one rank reported by all with
// nothing published, and ranks that planned differently. The same steps over MPI, as processes,
// are in tst_distributed.

#include "checkpoint.h"
#include "coordinator.h"
#include "engine.h"
#include "plan.h"
#include "shard_builder.h"

#include <QTemporaryDir>
#include <QTest>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

namespace {

// What the ranks of one run share: an all-to-all exchange of one string per rank, and a stop
// that any rank's failed work raises for all.
class ThreadGroup {
public:
    explicit ThreadGroup(int size) : m_size(size), m_slots(size_t(size)) {}
    int size() const { return m_size; }

    std::vector<std::string> exchange(int rank, std::string payload) {
        std::unique_lock lock(m_mutex);
        m_slots[size_t(rank)] = std::move(payload);
        if (++m_arrived == m_size) {
            m_result = m_slots;
            m_arrived = 0;
            ++m_generation;
            m_changed.notify_all();
        } else {
            const uint64_t generation = m_generation;
            m_changed.wait(lock, [&] { return m_generation != generation; });
        }
        return m_result; // the next round cannot finish before this rank joins it
    }
    std::stop_source& failed() { return m_failed; }

private:
    const int m_size;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::vector<std::string> m_slots, m_result;
    int m_arrived = 0;
    uint64_t m_generation = 0;
    std::stop_source m_failed;
};

class ThreadPeers final : public Coordinator {
public:
    ThreadPeers(ThreadGroup& group, int rank, bool failWork = false)
        : m_group(group), m_rank(rank), m_failWork(failWork) {}
    int rank() const override { return m_rank; }
    int size() const override { return m_group.size(); }

    std::optional<RankFailure> agree(const std::optional<RankFailure>& local) override {
        const auto all = m_group.exchange(m_rank, local ? encodeFailure(*local) : "");
        std::optional<RankFailure> winner;
        for (const std::string& bytes : all) { // rank order: the lowest real failure wins
            if (bytes.empty()) continue;
            RankFailure f = decodeFailure(bytes);
            if (!winner || (winner->cancelled && !f.cancelled)) winner = f;
        }
        return winner;
    }
    std::string fromRoot(const std::string& text) override {
        return m_group.exchange(m_rank, text)[0];
    }
    bool allEqual(uint64_t value) override {
        const auto all = m_group.exchange(m_rank, std::to_string(value));
        return std::all_of(all.begin(), all.end(), [&](const auto& v) { return v == all[0]; });
    }
    std::vector<std::string> gatherToRoot(const std::string& text) override {
        auto all = m_group.exchange(m_rank, text);
        return m_rank == 0 ? all : std::vector<std::string>{};
    }
    void whileWorking(const std::function<void(std::stop_token)>& work,
                      const std::atomic<uint64_t>& localBytes,
                      const std::function<void(uint64_t)>& onTotal, std::stop_token stop) override {
        std::stop_source cancel; // this rank's stop, or another rank's failure
        std::stop_callback own(stop, [&] { cancel.request_stop(); });
        std::stop_callback others(m_group.failed().get_token(), [&] { cancel.request_stop(); });
        std::exception_ptr thrown;
        try {
            if (m_failWork)
                throw Error(ErrorKind::Io, "disk-of-rank-" + std::to_string(m_rank), "",
                            "write failed: injected");
            work(cancel.get_token());
        } catch (...) {
            thrown = std::current_exception();
            m_group.failed().request_stop();
        }
        uint64_t total = 0;
        for (const auto& bytes : m_group.exchange(m_rank, std::to_string(localBytes.load())))
            total += std::stoull(bytes);
        if (m_rank == 0 && onTotal) onTotal(total);
        m_total = total;
        if (thrown) std::rethrow_exception(thrown);
    }
    uint64_t total() const { return m_total; }

private:
    ThreadGroup& m_group;
    const int m_rank;
    const bool m_failWork;
    uint64_t m_total = 0;
};

// The outcome of one rank's run.
struct RankRun {
    bool ok = false;
    EngineResult result;
    std::string error, onDisk;
    bool cancelled = false;
};

} // namespace

class TestDistributedEngine : public QObject {
    Q_OBJECT

private slots:
    void init();
    void sameFilesAsOneProcess_data();
    void sameFilesAsOneProcess();
    void failureOnOneRankIsEveryRanksFailure();
    void cancelLeavesNothing();
    void differentPlansRefused();
    void progressCountsEveryRank();
    void verifiesEachRanksFiles();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path path(const char* name) const { return fs::path(m_tmp->path().toStdString()) / name; }
    // Four tensors of different sizes into `files` output files (file i + 1 for tensor i).
    Plan writeAndPlan(Checkpoint& ckpt, int files);
    std::vector<RankRun> runRanks(const Checkpoint& ckpt, const Plan& plan, const fs::path& out,
                                  int ranks, int failingRank = -1,
                                  std::function<void(EngineOptions&, int)> adjust = {},
                                  std::vector<const Plan*> plans = {});
};

void TestDistributedEngine::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
}

Plan TestDistributedEngine::writeAndPlan(Checkpoint& ckpt, int files) {
    const std::vector<SplitTensor> tensors = {
        {"embed", "BF16", {512, 64}, splitDim({512, 64}, 0, 4)},
        {"proj", "F32", {96, 40}, splitDim({96, 40}, 1, 4)},
        {"norm", "F32", {40}, splitDim({40}, 0, 4)},
        {"head", "F16", {300, 16}, splitDim({300, 16}, 0, 4)},
    };
    writeCheckpoint(path("in"), tensors, 4);
    ckpt = scanCheckpoint(path("in"));
    std::string mapping = "{";
    for (size_t i = 0; i < tensors.size(); ++i)
        mapping += std::string(i ? "," : "") + "\"" + tensors[i].fqn +
                   "\":" + std::to_string(1 + int(i) % files);
    mapping += "}";
    return makePlan(ckpt, parseMapping(mapping, "mapping"), UnmappedPolicy::Error);
}

std::vector<RankRun> TestDistributedEngine::runRanks(
    const Checkpoint& ckpt, const Plan& plan, const fs::path& out, int ranks, int failingRank,
    std::function<void(EngineOptions&, int)> adjust, std::vector<const Plan*> plans) {
    ThreadGroup group(ranks);
    std::vector<RankRun> runs(static_cast<size_t>(ranks));
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r)
        threads.emplace_back([&, r] {
            ThreadPeers peers(group, r, r == failingRank);
            EngineOptions options;
            options.threads = 1;
            options.windowBytes = 4096; // several tasks per file
            if (adjust) adjust(options, r);
            const Plan& mine = plans.empty() ? plan : *plans[size_t(r)];
            RankRun& run = runs[size_t(r)];
            try {
                run.result = consolidateDistributed(ckpt, mine, out, options, peers);
                run.ok = true;
            } catch (const ExportFailed& e) {
                run.error = e.what();
                run.onDisk = e.onDisk();
                run.cancelled = e.cancelled();
            } catch (const Error& e) {
                run.error = e.what();
            }
        });
    for (auto& t : threads)
        t.join();
    return runs;
}

void TestDistributedEngine::sameFilesAsOneProcess_data() {
    QTest::addColumn<int>("files");
    QTest::addColumn<int>("ranks");
    QTest::newRow("4 files, 3 ranks") << 4 << 3;
    QTest::newRow("4 files, 2 ranks") << 4 << 2;
    QTest::newRow("1 file, 3 ranks (two idle)") << 1 << 3;
    QTest::newRow("2 files, 5 ranks") << 2 << 5;
}

void TestDistributedEngine::sameFilesAsOneProcess() {
    QFETCH(int, files);
    QFETCH(int, ranks);
    Checkpoint ckpt;
    const Plan plan = writeAndPlan(ckpt, files);
    QVERIFY(plan.ok());
    QCOMPARE(plan.files.size(), size_t(files));
    consolidate(ckpt, plan, path("alone"), EngineOptions{});
    const auto runs = runRanks(ckpt, plan, path("out"), ranks);
    for (const auto& run : runs)
        QVERIFY2(run.ok, run.error.c_str());
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path("alone")))
        if (e.path().filename().string()[0] != '.') names.push_back(e.path().filename().string());
    std::vector<std::string> distributed;
    for (const auto& e : fs::directory_iterator(path("out")))
        if (e.path().filename().string()[0] != '.')
            distributed.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    std::sort(distributed.begin(), distributed.end());
    QCOMPARE(distributed, names);
    QCOMPARE(names.size(), size_t(files + 1)); // the files and the index
    for (const auto& name : names)
        QVERIFY2(readFile(path("out") / name) == readFile(path("alone") / name), name.c_str());
    for (const auto& e : fs::directory_iterator(path("out")))
        QVERIFY2(e.path().filename().string().rfind(".shardscope-staging", 0) != 0,
                 e.path().c_str());
    QCOMPARE(runs[0].result.files.size(), size_t(files));
}

// Rank 1's work fails: every rank throws the same error naming rank 1, nothing is published,
// the staging directory is gone, and the directory the run created is removed again.
void TestDistributedEngine::failureOnOneRankIsEveryRanksFailure() {
    Checkpoint ckpt;
    const Plan plan = writeAndPlan(ckpt, 4);
    const auto runs = runRanks(ckpt, plan, path("out"), 3, 1);
    for (const auto& run : runs) {
        QVERIFY(!run.ok);
        QVERIFY2(run.error.find("disk-of-rank-1") != std::string::npos, run.error.c_str());
        QVERIFY2(run.error.find("(on rank 1)") != std::string::npos, run.error.c_str());
        QVERIFY(!run.cancelled); // the real cause wins over the others' stopping
        QCOMPARE(run.onDisk, runs[0].onDisk);
    }
    QVERIFY2(!fs::exists(path("out")), runs[0].onDisk.c_str());
}

void TestDistributedEngine::cancelLeavesNothing() {
    Checkpoint ckpt;
    const Plan plan = writeAndPlan(ckpt, 4);
    fs::create_directories(path("out"));
    std::ofstream(path("out") / "keep.txt") << "mine";
    std::stop_source stop;
    stop.request_stop();
    const auto runs = runRanks(ckpt, plan, path("out"), 3, -1, [&](EngineOptions& o, int r) {
        if (r == 2) o.stop = stop.get_token(); // only rank 2 is told to stop
    });
    for (const auto& run : runs) {
        QVERIFY(!run.ok);
        QVERIFY2(run.cancelled, run.error.c_str());
    }
    std::vector<std::string> left;
    for (const auto& e : fs::directory_iterator(path("out")))
        left.push_back(e.path().filename().string());
    QCOMPARE(left, std::vector<std::string>{"keep.txt"});
}

// Ranks that scanned different shards (or run different builds) make different plans: refused
// before anything is written.
void TestDistributedEngine::differentPlansRefused() {
    Checkpoint ckpt;
    const Plan plan = writeAndPlan(ckpt, 4);
    const Plan other =
        makePlan(ckpt, parseMapping(R"({"embed":1,"proj":1,"norm":2,"head":2})", "m"),
                 UnmappedPolicy::Error);
    QVERIFY(other.ok());
    const auto runs = runRanks(ckpt, plan, path("out"), 3, -1, {}, {&plan, &plan, &other});
    for (const auto& run : runs)
        QVERIFY2(run.error.find("planned different outputs") != std::string::npos,
                 run.error.c_str());
    QVERIFY(!fs::exists(path("out")));
}

// Rank 0's progress reaches the bytes of every rank's files, and only rank 0 reports.
void TestDistributedEngine::progressCountsEveryRank() {
    Checkpoint ckpt;
    const Plan plan = writeAndPlan(ckpt, 4);
    std::mutex mutex;
    std::vector<EngineProgress> seen[3];
    const auto runs = runRanks(ckpt, plan, path("out"), 3, -1, [&](EngineOptions& o, int r) {
        o.progress = [&, r](const EngineProgress& p) {
            std::lock_guard lock(mutex);
            seen[r].push_back(p);
        };
    });
    for (const auto& run : runs)
        QVERIFY2(run.ok, run.error.c_str());
    QVERIFY(seen[1].empty() && seen[2].empty());
    uint64_t data = 0;
    for (const auto& pf : plan.files)
        data += pf.fileSize();
    uint64_t writing = 0;
    for (const auto& p : seen[0])
        if (p.phase == EnginePhase::Writing) writing = std::max(writing, p.bytesDone);
    QVERIFY2(writing >= data, qPrintable(QString("%1 of %2").arg(writing).arg(data)));
    QCOMPARE(seen[0].back().phase, EnginePhase::Done);
}

// --verify: each rank compares its own files before the vote; all pass on a good export.
void TestDistributedEngine::verifiesEachRanksFiles() {
    Checkpoint ckpt;
    const Plan plan = writeAndPlan(ckpt, 4);
    const auto runs = runRanks(ckpt, plan, path("out"), 3, -1,
                               [](EngineOptions& o, int) { o.verify = true; });
    for (const auto& run : runs) {
        QVERIFY2(run.ok, run.error.c_str());
        QVERIFY(run.result.verified);
    }
    QVERIFY(fs::exists(path("out") / "model.safetensors.index.json"));
}

QTEST_GUILESS_MAIN(TestDistributedEngine)
#include "tst_distributed_engine.moc"
