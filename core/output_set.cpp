// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "output_set.h"

#include "bounded_json.h"
#include "error.h"
#include "fault.h"
#include "plan.h"
#include "posix_file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace shardscope {
namespace {

constexpr const char* kJournalFileName = ".shardscope-journal";
constexpr uint64_t kMaxJournalBytes = 64 << 20;

bool isModelFileName(const std::string& name) {
    return name.rfind("model-", 0) == 0 && name.size() > 12 &&
           name.compare(name.size() - 12, 12, ".safetensors") == 0;
}

bool present(const fs::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

void renameOrThrow(const fs::path& from, const fs::path& to) {
    int error = faultPoint(FaultOp::Rename);
    if (error == 0 && ::rename(from.c_str(), to.c_str()) != 0) error = errno;
    if (error != 0)
        throw Error(ErrorKind::PublishFailed, to.string(), "",
                    "cannot rename " + from.filename().string() +
                        " into place: " + systemError(error));
}

void syncDirectory(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

std::string runId() {
    std::random_device device;
    char text[64];
    std::snprintf(text, sizeof text, "%d-%08x", int(::getpid()), unsigned(device()));
    return text;
}

// What publishing needs to be redone by another process: written before the first rename.
struct Journal {
    std::string aside;                 // directory name for the previous set
    std::vector<std::string> files;    // the new set, index last
    std::vector<std::string> previous; // the previous set's names
};

std::string journalJson(const Journal& j) {
    nlohmann::json doc;
    doc["aside"] = j.aside;
    doc["files"] = j.files;
    doc["previous"] = j.previous;
    return doc.dump() + "\n";
}

// Only names ShardScope itself would write: no separators, no dot-dot, nothing hidden but ours.
bool plainName(const std::string& name) {
    return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

bool readJournal(const fs::path& staging, Journal& out) {
    std::string text;
    try {
        text = readSmallFile(staging / kJournalFileName, kMaxJournalBytes, "the journal");
        auto doc = parseBoundedJson(text);
        out.aside = doc.at("aside").get<std::string>();
        out.files = doc.at("files").get<std::vector<std::string>>();
        out.previous = doc.at("previous").get<std::vector<std::string>>();
    } catch (const std::exception&) {
        return false;
    }
    if (out.aside.rfind(kAsidePrefix, 0) != 0 || !plainName(out.aside)) return false;
    for (const auto* list : {&out.files, &out.previous})
        for (const auto& name : *list)
            if (!plainName(name)) return false;
    return !out.files.empty() && out.files.back() == kIndexFileName;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
}

void makeDirectory(const fs::path& p, const char* what) {
    int error = faultPoint(FaultOp::Mkdir);
    if (error == 0 && ::mkdir(p.c_str(), 0755) != 0) error = errno;
    if (error != 0)
        throw Error(ErrorKind::Io, p.string(), "",
                    std::string("cannot create ") + what + ": " + systemError(error));
}

// One rename that publishing made, so a failure can undo it.
struct Move {
    fs::path from, to;
};

// The publishing steps, written so that running them again after a crash at any point finishes
// the job: each name is in exactly one place at a time, and where it is says what is left to do.
// Order: the old index aside first (so it never names a file that is gone), the rest of the old
// set aside, the new files in, the new index last (so it never names a file not yet there).
void publishSteps(const fs::path& dir, const fs::path& staging, const Journal& j,
                  std::vector<Move>& done) {
    const fs::path aside = dir / j.aside;
    if (!present(aside)) makeDirectory(aside, "a directory for the previous export");
    auto move = [&](const fs::path& from, const fs::path& to) {
        renameOrThrow(from, to);
        done.push_back({from, to});
    };
    const bool newIndexPending = present(staging / kIndexFileName);
    if (contains(j.previous, kIndexFileName) && newIndexPending && present(dir / kIndexFileName))
        move(dir / kIndexFileName, aside / kIndexFileName);
    for (const auto& name : j.previous) {
        if (name == kIndexFileName || !present(dir / name)) continue;
        // A name in both sets that has left staging already is the new file: leave it.
        if (contains(j.files, name) && !present(staging / name)) continue;
        move(dir / name, aside / name);
    }
    for (const auto& name : j.files)
        if (name != kIndexFileName && present(staging / name)) move(staging / name, dir / name);
    if (newIndexPending) move(staging / kIndexFileName, dir / kIndexFileName);
}

void undo(const std::vector<Move>& done) {
    for (auto it = done.rbegin(); it != done.rend(); ++it)
        if (::rename(it->to.c_str(), it->from.c_str()) != 0)
            throw Error(ErrorKind::PublishFailed, it->to.string(), "",
                        "cannot move back: " + systemError(errno));
}

void removeTree(const fs::path& p) {
    std::error_code ec;
    fs::remove_all(p, ec);
}

} // namespace

// ---- OutputLock ------------------------------------------------------------------------------

OutputLock OutputLock::acquire(const fs::path& directory) {
    const fs::path path = directory / kLockFileName;
    // A holder may remove the lock file as it finishes: retry until the locked file is the one
    // the path names.
    for (int attempt = 0; attempt < 16; ++attempt) {
        const int fd =
            ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        if (fd < 0)
            throw Error(ErrorKind::Io, directory.string(), "",
                        "cannot create the lock file " + std::string(kLockFileName) + ": " +
                            systemError(errno));
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int error = errno;
            char text[32] = {};
            const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
            ::close(fd);
            if (error != EWOULDBLOCK)
                throw Error(ErrorKind::OutputLocked, directory.string(), "",
                            "cannot lock: " + systemError(error));
            const long pid = n > 0 ? std::strtol(text, nullptr, 10) : 0;
            throw Error(ErrorKind::OutputLocked, directory.string(), "",
                        "another ShardScope run is writing to this directory" +
                            (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                            "; wait for it to finish or choose another directory");
        }
        struct stat held {
        }, named{};
        if (::fstat(fd, &held) == 0 && ::lstat(path.c_str(), &named) == 0 &&
            held.st_ino == named.st_ino && held.st_dev == named.st_dev) {
            const std::string pid = std::to_string(::getpid()) + "\n";
            if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
                // The pid is only for the other run's message; the lock itself holds.
            }
            OutputLock lock;
            lock.m_file = PosixFile::adopt(fd, path);
            return lock;
        }
        ::close(fd);
    }
    throw Error(ErrorKind::OutputLocked, directory.string(), "",
                "cannot lock: the lock file keeps changing");
}

void OutputLock::release() {
    if (!m_file.isOpen()) return;
    ::unlink(m_file.path().c_str()); // while still holding it: no one locks the file being removed
    m_file = PosixFile();            // closing drops the lock
}

// ---- OutputSet -------------------------------------------------------------------------------

OutputSet::OutputSet(fs::path directory, bool sync)
    : m_directory(std::move(directory)), m_sync(sync) {}

OutputSet::~OutputSet() {
    if (!m_published && !m_abandoned) abandon();
}

void OutputSet::open() {
    // Each missing directory on the way is made (and so can be taken back) one by one.
    std::vector<fs::path> missing;
    for (fs::path p = m_directory; !p.empty() && !present(p); p = p.parent_path()) {
        missing.push_back(p);
        if (p == p.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        makeDirectory(*it, "the output directory");
        m_createdDirectories.insert(m_createdDirectories.begin(), *it); // innermost first
    }
    m_lock = OutputLock::acquire(m_directory);
    try {
        recoverLeftovers();
    } catch (const Error&) {
        m_recoveryStopped = true;
        throw;
    }
    findPrevious();
    const std::string id = runId();
    m_staging = m_directory / (kStagingPrefix + id);
    m_aside = m_directory / (kAsidePrefix + id);
    makeDirectory(m_staging, "the staging directory");
}

void OutputSet::recoverLeftovers() {
    std::vector<fs::path> stagings, asides, partials;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(m_directory, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind(kStagingPrefix, 0) == 0)
            stagings.push_back(entry.path());
        else if (name.rfind(kAsidePrefix, 0) == 0)
            asides.push_back(entry.path());
        else if (name[0] == '.' && name.ends_with(".shardscope-partial")) // older versions' temps
            partials.push_back(entry.path());
    }
    if (ec) throw Error(ErrorKind::Io, m_directory.string(), "", "cannot list: " + ec.message());
    for (const auto& staging : stagings) {
        Journal journal;
        if (readJournal(staging, journal)) {
            std::vector<Move> done;
            try {
                publishSteps(m_directory, staging, journal, done);
            } catch (const Error&) {
                undo(done); // back to exactly what the interrupted run left
                throw;
            }
            removeTree(m_directory / journal.aside);
            removeTree(staging);
            m_notes.push_back("an earlier run was interrupted while publishing a complete export; "
                              "its publishing was completed (" +
                              staging.filename().string() + ")");
        } else {
            removeTree(staging);
            m_notes.push_back("removed the unfinished files of an interrupted run (" +
                              staging.filename().string() + ")");
        }
    }
    for (const auto& aside : asides) {
        if (!present(aside)) continue; // removed with its staging directory above
        if (present(m_directory / kIndexFileName)) {
            removeTree(aside);
            m_notes.push_back("removed an export that an interrupted run had already replaced (" +
                              aside.filename().string() + ")");
            continue;
        }
        // No index and no journal: put the old set back rather than guess; index last.
        std::vector<fs::path> names;
        for (const auto& entry : fs::directory_iterator(aside, ec))
            names.push_back(entry.path().filename());
        std::stable_partition(names.begin(), names.end(),
                              [](const fs::path& n) { return n != kIndexFileName; });
        for (const auto& n : names)
            if (!present(m_directory / n)) renameOrThrow(aside / n, m_directory / n);
        removeTree(aside);
        m_notes.push_back("restored the previous export that an interrupted run had moved aside (" +
                          aside.filename().string() + ")");
    }
    for (const auto& partial : partials) {
        fs::remove(partial, ec);
        m_notes.push_back("removed " + partial.filename().string() +
                          ", left by an interrupted run");
    }
}

void OutputSet::findPrevious() {
    std::error_code ec;
    // The sidecars an earlier ShardScope export copied are listed in its manifest.
    try {
        const std::string text =
            readSmallFile(m_directory / kManifestFileName, kMaxJournalBytes, "the manifest");
        const auto doc = parseBoundedJson(text); // kept alive: the loop borrows from it
        for (const auto& name : doc.at("files"))
            if (name.is_string() && plainName(name.get<std::string>()) &&
                present(m_directory / name.get<std::string>()))
                m_previous.push_back(name.get<std::string>());
    } catch (const std::exception&) {
        // No manifest (or not ours): the model files and the index below are the previous set.
    }
    for (const auto& entry : fs::directory_iterator(m_directory, ec)) {
        const std::string name = entry.path().filename().string();
        if ((isModelFileName(name) || name == kIndexFileName || name == kManifestFileName) &&
            !contains(m_previous, name))
            m_previous.push_back(name);
    }
    std::sort(m_previous.begin(), m_previous.end());
}

void OutputSet::add(const std::string& name) {
    if (!contains(m_files, name)) m_files.push_back(name);
}

void OutputSet::writeJournal() const {
    Journal journal;
    journal.aside = m_aside.filename().string();
    journal.files = m_files;
    // The index last, whatever order the caller added it in.
    std::stable_partition(journal.files.begin(), journal.files.end(),
                          [](const std::string& n) { return n != kIndexFileName; });
    journal.previous = m_previous;
    // Files of the new set that would replace same-named files already there are part of the
    // previous set too: they go aside, never get overwritten in place.
    for (const auto& name : journal.files)
        if (!contains(journal.previous, name) && present(m_directory / name))
            journal.previous.push_back(name);
    const fs::path path = m_staging / kJournalFileName;
    PosixFile file = PosixFile::createNew(path);
    const std::string text = journalJson(journal);
    file.writeExact(text.data(), text.size(), 0);
    file.sync(); // publishing relies on it after a crash, so always durable
    file.close();
    syncDirectory(m_staging);
}

void OutputSet::publish() {
    if (!contains(m_files, kIndexFileName))
        throw Error(ErrorKind::Io, m_directory.string(), "", "internal: the new set has no index");
    // Everything the manifest lists, so the next run knows which sidecars were ours.
    {
        nlohmann::json manifest;
        std::vector<std::string> names = m_files;
        names.push_back(kManifestFileName);
        manifest["files"] = names;
        const std::string text = manifest.dump(1) + "\n";
        PosixFile file = PosixFile::createNew(m_staging / kManifestFileName);
        file.writeExact(text.data(), text.size(), 0);
        if (m_sync) file.sync();
        file.close();
        m_files.push_back(kManifestFileName); // the journal puts the index last
    }
    if (m_sync) syncDirectory(m_staging);
    writeJournal();
    Journal journal;
    if (!readJournal(m_staging, journal))
        throw Error(ErrorKind::Io, m_staging.string(), "",
                    "cannot read back the publishing journal");

    std::vector<Move> done;
    try {
        publishSteps(m_directory, m_staging, journal, done);
    } catch (const Error& e) {
        try {
            undo(done);
            std::error_code ec;
            fs::remove(m_staging / kJournalFileName, ec);
        } catch (const Error&) {
            m_rolledBack = false;
        }
        throw Error(ErrorKind::PublishFailed, e.file(), e.tensor(),
                    e.message() + (m_rolledBack
                                       ? "; publishing was undone"
                                       : "; publishing stopped part-way and the journal is kept: "
                                         "the next run into this directory completes it"));
    }
    m_published = true;
    if (m_sync) syncDirectory(m_directory);
    // The old set goes only now that the new one is complete; the journal last. If this is cut
    // short, the next run removes what is left (the new index is in place, so nothing mixes).
    if (faultPoint(FaultOp::Remove) == 0) {
        removeTree(m_aside);
        std::error_code ec;
        fs::remove(m_staging / kJournalFileName, ec);
        fs::remove(m_staging, ec);
    }
    m_lock.release();
}

std::string OutputSet::abandon() {
    m_abandoned = true;
    const std::string dir = m_directory.string();
    if (m_published) return dir + " holds the new export.";
    if (!m_rolledBack) {
        m_lock.release();
        return "publishing into " + dir +
               " stopped part-way; the next consolidate run into it completes it "
               "(its journal is kept in " +
               m_staging.filename().string() + ").";
    }
    if (m_recoveryStopped) {
        m_lock.release();
        return "An earlier, interrupted run's publishing into " + dir +
               " could not be completed now; it is as that run left it, and the next consolidate "
               "run into " +
               dir + " completes it.";
    }
    if (!m_staging.empty()) removeTree(m_staging);
    if (!m_aside.empty()) removeTree(m_aside); // empty when publishing was undone
    const bool hadLock = m_lock.held();
    m_lock.release();
    if (!m_createdDirectories.empty() && hadLock) {
        std::error_code ec;
        for (const auto& d : m_createdDirectories) // innermost first; only while empty
            if (!fs::remove(d, ec))
                return dir + " was created by this run; nothing of the export is in it.";
        return "Nothing was left behind: " + m_createdDirectories.back().string() +
               " did not exist before and was removed.";
    }
    if (m_previous.empty()) return "Nothing was written to " + dir + ".";
    size_t models = 0;
    for (const auto& n : m_previous)
        models += isModelFileName(n);
    return dir + " is unchanged: its previous export (" + std::to_string(models) +
           " model file(s)" + (contains(m_previous, kIndexFileName) ? " and the index" : "") +
           ") is as it was.";
}

} // namespace shardscope
