// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace shardscope {

// A file descriptor with positioned, fully-completed reads and writes; errors name the file.
class PosixFile {
public:
    PosixFile() = default;
    ~PosixFile();
    PosixFile(PosixFile&& other) noexcept;
    PosixFile& operator=(PosixFile&& other) noexcept;
    PosixFile(const PosixFile&) = delete;
    PosixFile& operator=(const PosixFile&) = delete;

    // Regular files only: a FIFO, device or directory is refused before it can block a read.
    static PosixFile openRead(const std::filesystem::path& path);
    // Creates a new file; fails if it exists so a temporary never clobbers anything.
    static PosixFile createNew(const std::filesystem::path& path);
    // Takes ownership of an open descriptor (a lock file opened with its own flags).
    static PosixFile adopt(int fd, const std::filesystem::path& path);

    int fd() const { return m_fd; }
    const std::string& path() const { return m_path; }
    bool isOpen() const { return m_fd >= 0; }
    uint64_t size() const;

    void readExact(void* buffer, uint64_t length, uint64_t offset) const;
    // The same for consecutive file bytes spread over `parts` in order (preadv); `parts` is
    // consumed as it goes. Same errors as readExact.
    void readScattered(std::span<iovec> parts, uint64_t offset) const;
    void writeExact(const void* buffer, uint64_t length, uint64_t offset) const;
    void truncate(uint64_t length) const;
    void sync() const;
    void close(); // reports a failed close, which can hide a failed write

private:
    int m_fd = -1;
    std::string m_path;
};

// For messages: "a FIFO", "a directory", "a character device", ...
const char* fileKindName(std::filesystem::file_type type);

// A whole small file (a mapping, a sidecar) through openRead's checks, refused when larger than
// maxBytes so that a huge or endless file fails with a message instead of exhausting memory.
// `what` names the file's role in messages ("the mapping").
std::string readSmallFile(const std::filesystem::path& path, uint64_t maxBytes, const char* what);

// Checkpoints from large jobs have thousands of shard files, all open during a copy: lift the
// soft open-file limit to the hard one. Returns the limit now in force.
uint64_t raiseOpenFileLimit();

// The errno text for messages, thread-safe.
std::string systemError(int error);

} // namespace shardscope
