// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "posix_file.h"
#include "shard_builder.h"
#include "sidecars.h"

#include <QTemporaryDir>
#include <QTest>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <thread>

using namespace shardscope;
namespace fs = std::filesystem;
using namespace testing;

namespace {

void writeFile(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

} // namespace

class TestFiles : public QObject {
    Q_OBJECT

private slots:
    void init();
    void openReadRefusesWhatIsNotARegularFile();
    void openedFilesBlockAndCloseOnExec();
    void readSmallFileHonoursItsLimit();
    void sidecarsListRegularFilesByName();
    void sidecarsWarnAboutSpecialEntries();
    void sidecarLinksLeavingTheCheckpointAreNamed();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path root() const { return fs::path(m_tmp->path().toStdString()); }
    fs::path ckpt() const { return root() / "ckpt"; }
    fs::path meta() const { return ckpt() / ".hf_metadata"; }
    static QStringList names(const SidecarList& list) {
        QStringList out;
        for (const auto& p : list.files)
            out << QString::fromStdString(p.filename().string());
        return out;
    }
    static QStringList warnings(const SidecarList& list) {
        QStringList out;
        for (const auto& p : list.warnings) {
            if (p.severity != Severity::Warning) out << "not a warning:";
            out << QString::fromStdString(p.text());
        }
        return out;
    }
};

void TestFiles::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    fs::create_directories(meta());
}

void TestFiles::openReadRefusesWhatIsNotARegularFile() {
    const fs::path fifo = root() / "fifo";
    QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
    const fs::path socket = root() / "socket";
    QVERIFY(makeSocket(socket));
    fs::create_symlink(fifo, root() / "link-to-fifo");
    fs::create_symlink("nothing", root() / "dangling");

    const std::vector<std::pair<fs::path, std::string>> cases = {
        {fifo, "is a FIFO, not a regular file"},
        {root() / "link-to-fifo", "is a FIFO, not a regular file"},
        {socket, "is a socket, not a regular file"},
        {root(), "is a directory, not a regular file"},
        {"/dev/null", "is a character device, not a regular file"},
        {root() / "dangling", "is a symbolic link to a missing file"},
    };
    for (const auto& [path, message] : cases) {
        const auto outcome = finishWithin([path = path] { PosixFile::openRead(path); });
        QVERIFY2(outcome, ("blocked opening " + path.string()).c_str());
        QCOMPARE(*outcome, path.string() + ": " + message);
    }
    // The bounded reader goes through the same door.
    const auto viaReader = finishWithin([fifo] { readSmallFile(fifo, 100, "the mapping"); });
    QVERIFY(viaReader);
    QCOMPARE(*viaReader, fifo.string() + ": is a FIFO, not a regular file");
}

void TestFiles::openedFilesBlockAndCloseOnExec() {
    writeFile(root() / "plain", "abc");
    fs::create_symlink("plain", root() / "link");
    for (const char* name : {"plain", "link"}) {
        PosixFile f = PosixFile::openRead(root() / name);
        QVERIFY((::fcntl(f.fd(), F_GETFL) & O_NONBLOCK) == 0); // cleared after the check
        QVERIFY((::fcntl(f.fd(), F_GETFD) & FD_CLOEXEC) != 0);
        char buffer[3];
        f.readExact(buffer, 3, 0);
        QCOMPARE(std::string(buffer, 3), std::string("abc"));
    }
}

void TestFiles::readSmallFileHonoursItsLimit() {
    const fs::path p = root() / "small.json";
    writeFile(p, std::string("{\"a\": 1}\0tail", 13));
    QCOMPARE(readSmallFile(p, 13, "the mapping"), std::string("{\"a\": 1}\0tail", 13));
    QCOMPARE(readSmallFile(p, 1000, "the mapping").size(), size_t(13));
    try {
        readSmallFile(p, 12, "the mapping");
        QFAIL("read past the limit");
    } catch (const Error& e) {
        QCOMPARE(std::string(e.what()),
                 p.string() + ": the mapping is 13 bytes, over the limit of 12 bytes");
    }
    writeFile(p, "");
    QCOMPARE(readSmallFile(p, 0, "the mapping"), std::string());
    // A sparse file just over a MiB limit is refused from its size, without reading it.
    fs::resize_file(p, (uint64_t(1) << 20) + 1);
    try {
        readSmallFile(p, uint64_t(1) << 20, "the sidecar");
        QFAIL("read past the limit");
    } catch (const Error& e) {
        QCOMPARE(std::string(e.what()),
                 p.string() + ": the sidecar is 1048577 bytes, over the limit of 1 MiB");
    }
    // procfs files claim size 0: the limit still holds while reading.
    try {
        readSmallFile("/proc/self/status", 16, "the mapping");
        QFAIL("read past the limit");
    } catch (const Error& e) {
        QVERIFY2(QString(e.what()).contains("is more than 16 bytes, over the limit of 16 bytes"),
                 e.what());
    }
    QVERIFY(readSmallFile("/proc/self/status", 1 << 20, "status").find("Name:") == 0);
}

void TestFiles::sidecarsListRegularFilesByName() {
    writeFile(meta() / "tokenizer.json", "{}");
    writeFile(meta() / "config.json", "{}");
    writeFile(meta() / "chat_template.jinja", "x");
    writeFile(meta() / "fqn_to_file_index_mapping.json", "{}");
    writeFile(meta() / "fqn_to_dtype_mapping.json", "{}");
    writeFile(ckpt() / "README.md", "inside the checkpoint");
    fs::create_symlink("../README.md", meta() / "readme-link.md"); // a link that stays inside
    const SidecarList list = collectSidecars(meta(), ckpt());
    QCOMPARE(names(list), QStringList({"chat_template.jinja", "config.json", "readme-link.md",
                                       "tokenizer.json"}));
    QCOMPARE(list.files.front(), meta() / "chat_template.jinja");
    QCOMPARE(warnings(list), QStringList());
    // The checkpoint named with a trailing slash, or through a link, still contains its files.
    QCOMPARE(warnings(collectSidecars(meta(), ckpt().string() + "/")), QStringList());
    fs::create_directory_symlink(ckpt(), root() / "alias");
    QCOMPARE(warnings(collectSidecars(root() / "alias" / ".hf_metadata", root() / "alias")),
             QStringList());
    // No .hf_metadata: nothing to copy, nothing to say.
    const SidecarList none = collectSidecars({}, ckpt());
    QVERIFY(none.files.empty() && none.warnings.empty());
}

void TestFiles::sidecarsWarnAboutSpecialEntries() {
    writeFile(meta() / "config.json", "{}");
    QCOMPARE(::mkfifo((meta() / "pipe.json").c_str(), 0600), 0);
    QVERIFY(makeSocket(meta() / "sock"));
    fs::create_directories(meta() / "subdir");
    fs::create_symlink("missing.json", meta() / "dangling.json");
    fs::create_symlink("/dev/null", meta() / "null.json");
    QCOMPARE(::mkfifo((meta() / "fqn_to_fifo").c_str(), 0600), 0); // excluded before any check

    std::optional<SidecarList> list;
    const auto outcome = finishWithin([&list, this] { list = collectSidecars(meta(), ckpt()); });
    QVERIFY2(outcome, "blocked on a FIFO");
    QCOMPARE(names(*list), QStringList({"config.json"}));
    QCOMPARE(warnings(*list),
             QStringList({
                 ".hf_metadata/dangling.json: is a symbolic link to a missing file; not copied",
                 ".hf_metadata/null.json: is a character device, not a regular file; not copied",
                 ".hf_metadata/pipe.json: is a FIFO, not a regular file; not copied",
                 ".hf_metadata/sock: is a socket, not a regular file; not copied",
                 ".hf_metadata/subdir: is a directory, not a regular file; not copied",
             }));
}

void TestFiles::sidecarLinksLeavingTheCheckpointAreNamed() {
    writeFile(root() / "outside.json", "{\"secret\": true}");
    fs::create_symlink(root() / "outside.json", meta() / "config.json");
    fs::create_symlink("/etc/passwd", meta() / "passwd");
    const SidecarList list = collectSidecars(meta(), ckpt());
    QStringList expected;
    expected << ".hf_metadata/config.json: links to " +
                    QString::fromStdString(fs::canonical(root() / "outside.json").string()) +
                    ", outside the checkpoint; copied as its target's contents";
    if (fs::is_regular_file("/etc/passwd")) {
        QCOMPARE(names(list), QStringList({"config.json", "passwd"}));
        expected << ".hf_metadata/passwd: links to " +
                        QString::fromStdString(fs::canonical("/etc/passwd").string()) +
                        ", outside the checkpoint; copied as its target's contents";
    }
    QCOMPARE(warnings(list), expected);
}

QTEST_GUILESS_MAIN(TestFiles)
#include "tst_files.moc"
