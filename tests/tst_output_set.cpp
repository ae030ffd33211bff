// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// The staged output transaction on its own: publishing, abandoning, the lock, and recovery from
// every state a run killed during publishing can leave. The crash states are laid out by hand
// (journal included) so the recovery code is checked against the documented protocol, not
// against its own writer.
#include "error.h"
#include "output_set.h"
#include "plan.h"

#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace shardscope;
namespace fs = std::filesystem;

namespace {

void writeText(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

std::string readText(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// name -> contents of every file directly in dir, dot-files included.
std::map<std::string, std::string> contents(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::directory_iterator(dir))
        out[e.path().filename().string()] = e.is_directory() ? "<dir>" : readText(e.path());
    return out;
}

std::string journal(const std::string& aside, const std::vector<std::string>& files,
                    const std::vector<std::string>& previous) {
    auto list = [](const std::vector<std::string>& names) {
        std::string out = "[";
        for (size_t i = 0; i < names.size(); ++i)
            out += (i ? ",\"" : "\"") + names[i] + "\"";
        return out + "]";
    };
    return "{\"aside\":\"" + aside + "\",\"files\":" + list(files) +
           ",\"previous\":" + list(previous) + "}";
}

const std::string kIndex = kIndexFileName;
const std::string kOld1 = "model-00001-of-00002.safetensors";
const std::string kOld2 = "model-00002-of-00002.safetensors";
const std::string kNew1 = "model-00001-of-00001.safetensors";

} // namespace

class TestOutputSet : public QObject {
    Q_OBJECT

private slots:
    void init();
    void publishIntoNewDirectory();
    void publishReplacesThePreviousSet();
    void abandonKeepsThePreviousSet();
    void abandonRemovesADirectoryItCreated();
    void secondLockFailsWithThePid();
    void lockIsFreeAgainAfterRelease();
    void recoversFromEveryPublishingState_data();
    void recoversFromEveryPublishingState();
    void unfinishedStagingIsRemoved();
    void orphanedPreviousSetIsRestored();
    void orphanedPreviousSetIsDroppedWhenAnIndexExists();
    void oldPartialFilesAreRemoved();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path out() const { return fs::path(m_tmp->path().toStdString()) / "out"; }
    // An earlier export: two model files, the index, a sidecar listed in its manifest, and a
    // file of the user's that no run may touch.
    void writePreviousExport() {
        fs::create_directories(out());
        writeText(out() / kOld1, "old-1");
        writeText(out() / kOld2, "old-2");
        writeText(out() / kIndex, "old-index");
        writeText(out() / "config.json", "old-config");
        writeText(out() / "tokenizer.json", "old-tokenizer");
        writeText(
            out() / kManifestFileName,
            R"({"files":["model-00001-of-00002.safetensors","model-00002-of-00002.safetensors",)"
            R"("config.json","tokenizer.json","model.safetensors.index.json",".shardscope-export.json"]})");
        writeText(out() / "README.md", "the user's own");
    }
    void stageNewSet(OutputSet& set) {
        writeText(set.stagingDirectory() / kNew1, "new-1");
        writeText(set.stagingDirectory() / "config.json", "new-config");
        writeText(set.stagingDirectory() / kIndex, "new-index");
        set.add(kNew1);
        set.add("config.json");
        set.add(kIndex);
    }
    void checkNewSet() {
        auto files = contents(out());
        QCOMPARE(files[kNew1], std::string("new-1"));
        QCOMPARE(files["config.json"], std::string("new-config"));
        QCOMPARE(files[kIndex], std::string("new-index"));
        QCOMPARE(files["README.md"], std::string("the user's own"));
        QVERIFY(!files.count(kOld1));
        QVERIFY(!files.count(kOld2));
        QVERIFY(!files.count("tokenizer.json")); // the old export's sidecar, by its manifest
        for (const auto& [name, text] : files)
            QVERIFY2(name.rfind(".shardscope-staging", 0) != 0 &&
                         name.rfind(".shardscope-previous", 0) != 0 && name != kLockFileName,
                     name.c_str());
    }
};

void TestOutputSet::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
}

void TestOutputSet::publishIntoNewDirectory() {
    OutputSet set(out(), false);
    set.open();
    QVERIFY(fs::is_directory(set.stagingDirectory()));
    QCOMPARE(set.stagingDirectory().parent_path(), out());
    QVERIFY(set.previousFiles().empty());
    stageNewSet(set);
    set.publish();
    QVERIFY(set.published());
    auto files = contents(out());
    QCOMPARE(files.size(), size_t(4)); // three files and the manifest
    QCOMPARE(files[kNew1], std::string("new-1"));
    QVERIFY(files[kManifestFileName].find(kNew1) != std::string::npos);
}

void TestOutputSet::publishReplacesThePreviousSet() {
    writePreviousExport();
    OutputSet set(out(), true);
    set.open();
    const std::vector<std::string> expected = {
        kManifestFileName, "config.json", kOld1, kOld2, kIndex, "tokenizer.json"};
    QCOMPARE(set.previousFiles().size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i)
        QCOMPARE(set.previousFiles()[i], expected[i]);
    stageNewSet(set);
    set.publish();
    checkNewSet();
}

void TestOutputSet::abandonKeepsThePreviousSet() {
    writePreviousExport();
    const auto before = contents(out());
    std::string said;
    {
        OutputSet set(out(), false);
        set.open();
        stageNewSet(set);
        said = set.abandon();
    }
    QCOMPARE(contents(out()), before);
    QVERIFY2(said.find("is unchanged: its previous export (2 model file(s) and the index)") !=
                 std::string::npos,
             said.c_str());
}

void TestOutputSet::abandonRemovesADirectoryItCreated() {
    std::string said;
    {
        OutputSet set(out(), false);
        set.open();
        stageNewSet(set);
        said = set.abandon();
    }
    QVERIFY(!fs::exists(out()));
    QVERIFY2(said.find("did not exist before and was removed") != std::string::npos, said.c_str());
    // The destructor abandons too.
    {
        OutputSet set(out(), false);
        set.open();
        stageNewSet(set);
    }
    QVERIFY(!fs::exists(out()));
}

void TestOutputSet::secondLockFailsWithThePid() {
    fs::create_directories(out());
    OutputLock first = OutputLock::acquire(out());
    QVERIFY(first.held());
    try {
        OutputLock::acquire(out());
        QFAIL("locked twice");
    } catch (const Error& e) {
        QCOMPARE(e.kind(), ErrorKind::OutputLocked);
        const std::string pid = "(pid " + std::to_string(QCoreApplication::applicationPid()) + ")";
        QVERIFY2(std::string(e.what()).find("another ShardScope run is writing to") !=
                         std::string::npos &&
                     std::string(e.what()).find(pid) != std::string::npos,
                 e.what());
    }
    // An OutputSet into a locked directory fails the same way and leaves everything alone.
    OutputSet set(out(), false);
    QVERIFY_THROWS_EXCEPTION(Error, set.open());
    QVERIFY(fs::exists(out() / kLockFileName));
    QCOMPARE(set.abandon(), "Nothing was written to " + out().string() + ".");
    QVERIFY(fs::exists(out() / kLockFileName)); // still the other run's
}

void TestOutputSet::lockIsFreeAgainAfterRelease() {
    fs::create_directories(out());
    OutputLock first = OutputLock::acquire(out());
    first.release();
    QVERIFY(!fs::exists(out() / kLockFileName));
    OutputLock second = OutputLock::acquire(out());
    QVERIFY(second.held());
}

// Each row is a moment inside publishing: which names have already moved.
void TestOutputSet::recoversFromEveryPublishingState_data() {
    QTest::addColumn<int>("step");
    const char* names[] = {"journal written, nothing moved",
                           "old index aside",
                           "old index and one model file aside",
                           "old set aside",
                           "one new file in",
                           "all but the index in",
                           "index in",
                           "aside removed"};
    for (int i = 0; i < 8; ++i)
        QTest::newRow(names[i]) << i;
}

void TestOutputSet::recoversFromEveryPublishingState() {
    QFETCH(int, step);
    writePreviousExport();
    const fs::path staging = out() / (std::string(kStagingPrefix) + "99-abc");
    const fs::path aside = out() / (std::string(kAsidePrefix) + "99-abc");
    fs::create_directories(staging);
    writeText(staging / kNew1, "new-1");
    writeText(staging / "config.json", "new-config");
    writeText(staging / kManifestFileName, R"({"files":[]})");
    writeText(staging / kIndex, "new-index");
    const std::vector<std::string> previous = {
        kManifestFileName, "config.json", kOld1, kOld2, kIndex, "tokenizer.json"};
    writeText(staging / ".shardscope-journal",
              journal(aside.filename().string(), {kNew1, "config.json", kManifestFileName, kIndex},
                      previous));
    auto move = [](const fs::path& from, const fs::path& to) { fs::rename(from, to); };
    if (step >= 1) fs::create_directories(aside), move(out() / kIndex, aside / kIndex);
    if (step >= 2) move(out() / kOld1, aside / kOld1);
    if (step >= 3)
        for (const auto& n : {kOld2, std::string("config.json"), std::string("tokenizer.json"),
                              std::string(kManifestFileName)})
            move(out() / n, aside / n);
    if (step >= 4) move(staging / kNew1, out() / kNew1);
    if (step >= 5)
        for (const auto& n : {std::string("config.json"), std::string(kManifestFileName)})
            move(staging / n, out() / n);
    if (step >= 6) move(staging / kIndex, out() / kIndex);
    if (step >= 7) fs::remove_all(aside);

    OutputSet set(out(), false);
    set.open();
    QCOMPARE(set.notes().size(), size_t(1));
    QVERIFY2(set.notes().front().find("publishing was completed") != std::string::npos,
             set.notes().front().c_str());
    set.abandon(); // this run's own staging directory
    checkNewSet();
    QCOMPARE(readText(out() / kManifestFileName), std::string(R"({"files":[]})"));
}

void TestOutputSet::unfinishedStagingIsRemoved() {
    writePreviousExport();
    const auto before = contents(out());
    const fs::path staging = out() / (std::string(kStagingPrefix) + "12-dead");
    fs::create_directories(staging);
    writeText(staging / kNew1, "half-written");
    OutputSet set(out(), false);
    set.open();
    QCOMPARE(set.notes().size(), size_t(1));
    QVERIFY(set.notes().front().find("removed the unfinished files") != std::string::npos);
    QVERIFY(!fs::exists(staging));
    set.abandon();
    QCOMPARE(contents(out()), before);
}

void TestOutputSet::orphanedPreviousSetIsRestored() {
    // No journal and no index: the only complete set is the one aside; it comes back.
    writePreviousExport();
    const auto before = contents(out());
    const fs::path aside = out() / (std::string(kAsidePrefix) + "7-x");
    fs::create_directories(aside);
    fs::rename(out() / kIndex, aside / kIndex);
    fs::rename(out() / kOld2, aside / kOld2);
    OutputSet set(out(), false);
    set.open();
    QVERIFY(set.notes().front().find("restored the previous export") != std::string::npos);
    set.abandon();
    QCOMPARE(contents(out()), before);
}

void TestOutputSet::orphanedPreviousSetIsDroppedWhenAnIndexExists() {
    writePreviousExport();
    const auto before = contents(out());
    const fs::path aside = out() / (std::string(kAsidePrefix) + "7-y");
    fs::create_directories(aside);
    writeText(aside / kOld1, "older still");
    OutputSet set(out(), false);
    set.open();
    QVERIFY(set.notes().front().find("already replaced") != std::string::npos);
    set.abandon();
    QCOMPARE(contents(out()), before);
}

void TestOutputSet::oldPartialFilesAreRemoved() {
    writePreviousExport();
    const auto before = contents(out());
    writeText(out() / ".model-00001-of-00002.safetensors.shardscope-partial", "x");
    OutputSet set(out(), false);
    set.open();
    QCOMPARE(set.notes().size(), size_t(1));
    set.abandon();
    QCOMPARE(contents(out()), before);
}

QTEST_GUILESS_MAIN(TestOutputSet)
#include "tst_output_set.moc"
