// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "posix_file.h"

#include <filesystem>
#include <string>
#include <vector>

namespace shardscope {

// An exclusive claim on an output directory for a whole run: flock() on a lock file inside it,
// so a second run into the same directory fails at once instead of interleaving with the first.
// The kernel drops the lock when the process dies, so a crashed run never blocks the next.
class OutputLock {
public:
    // Throws Error (OutputLocked) naming the directory and the holder's pid.
    static OutputLock acquire(const std::filesystem::path& directory);
    bool held() const { return m_file.isOpen(); }
    void release(); // removes the lock file, then unlocks

private:
    PosixFile m_file; // closing it drops the lock
};

inline constexpr const char* kLockFileName = ".shardscope.lock";
inline constexpr const char* kManifestFileName = ".shardscope-export.json";
inline constexpr const char* kStagingPrefix = ".shardscope-staging-";
inline constexpr const char* kAsidePrefix = ".shardscope-previous-";

// The output of one run as a transaction. Everything is written into a private staging directory
// inside the output directory (same file system, unique per run); publish() then moves the
// previous export aside, renames the new files in (the index last) and removes the old set.
// Until publish() starts, a failure, cancel or kill leaves the previous export byte-identical.
// Publishing is renames only and follows a journal, so a run killed inside it is completed by the
// next run; at no moment does an index name a missing or foreign file.
class OutputSet {
public:
    OutputSet(std::filesystem::path directory, bool sync);
    ~OutputSet(); // an unpublished set is abandoned
    OutputSet(const OutputSet&) = delete;
    OutputSet& operator=(const OutputSet&) = delete;

    // Creates the directory if needed, locks it, finishes or removes what an interrupted run left
    // (each step described in notes()), and makes the staging directory.
    void open();
    const std::vector<std::string>& notes() const { return m_notes; }
    // Names of the export already in the directory: model files, index, copied sidecars.
    const std::vector<std::string>& previousFiles() const { return m_previous; }

    const std::filesystem::path& directory() const { return m_directory; }
    const std::filesystem::path& stagingDirectory() const { return m_staging; }
    // Registers a file the caller wrote at stagingDirectory()/name. The index goes last.
    void add(const std::string& name);

    // Renames only. Throws Error if it cannot complete; it then puts the previous set back when it
    // can (abandonState() says which).
    void publish();
    bool published() const { return m_published; }

    // Removes the staging directory (and the output directory when this run created it and it is
    // empty again); returns one sentence saying what the output directory holds now.
    std::string abandon();

private:
    void recoverLeftovers();
    void findPrevious();
    void writeJournal() const;

    std::filesystem::path m_directory;
    std::filesystem::path m_staging;
    std::filesystem::path m_aside;
    bool m_sync = false;
    std::vector<std::filesystem::path> m_createdDirectories; // by this run, innermost first
    bool m_recoveryStopped = false; // finishing an interrupted run's publishing failed
    bool m_published = false;
    bool m_abandoned = false;
    bool m_rolledBack = true; // false only when publish() failed and could not put things back
    OutputLock m_lock;
    std::vector<std::string> m_files;
    std::vector<std::string> m_previous;
    std::vector<std::string> m_notes;
};

} // namespace shardscope
