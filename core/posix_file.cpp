// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "posix_file.h"

#include "error.h"
#include "fault.h"
#include "huge_pages.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace shardscope {

std::string systemError(int error) {
    char buffer[256];
    // GNU strerror_r returns the message pointer, which may not be `buffer`.
    return strerror_r(error, buffer, sizeof buffer);
}

uint64_t raiseOpenFileLimit() {
    struct rlimit limit {};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        ::getrlimit(RLIMIT_NOFILE, &limit);
    }
    return uint64_t(limit.rlim_cur);
}

PosixFile PosixFile::adopt(int fd, const std::filesystem::path& path) {
    PosixFile f;
    f.m_fd = fd;
    f.m_path = path.string();
    return f;
}

PosixFile::~PosixFile() {
    if (m_fd >= 0) ::close(m_fd);
}

PosixFile::PosixFile(PosixFile&& other) noexcept
    : m_fd(other.m_fd), m_path(std::move(other.m_path)) {
    other.m_fd = -1;
}

PosixFile& PosixFile::operator=(PosixFile&& other) noexcept {
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = other.m_fd;
        m_path = std::move(other.m_path);
        other.m_fd = -1;
    }
    return *this;
}

namespace {

std::filesystem::file_type typeOf(mode_t mode) {
    using std::filesystem::file_type;
    if (S_ISREG(mode)) return file_type::regular;
    if (S_ISDIR(mode)) return file_type::directory;
    if (S_ISFIFO(mode)) return file_type::fifo;
    if (S_ISSOCK(mode)) return file_type::socket;
    if (S_ISCHR(mode)) return file_type::character;
    if (S_ISBLK(mode)) return file_type::block;
    if (S_ISLNK(mode)) return file_type::symlink;
    return file_type::unknown;
}

std::string notRegular(mode_t mode) {
    return std::string("is ") + fileKindName(typeOf(mode)) + ", not a regular file";
}

// "256 MiB" for round limits, exact bytes otherwise.
std::string limitText(uint64_t bytes) {
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

// Reads from the current position until `n` bytes or the end of the file; returns how many.
uint64_t readUpTo(const PosixFile& f, char* out, uint64_t n) {
    uint64_t done = 0;
    while (done < n) {
        const ssize_t got =
            ::read(f.fd(), out + done, size_t(std::min<uint64_t>(n - done, 1 << 30)));
        if (got < 0) {
            if (errno == EINTR) continue;
            throw Error(ErrorKind::Io, f.path(), "",
                        "read failed at byte " + std::to_string(done) + ": " + systemError(errno));
        }
        if (got == 0) break;
        done += uint64_t(got);
    }
    return done;
}

} // namespace

const char* fileKindName(std::filesystem::file_type type) {
    using std::filesystem::file_type;
    switch (type) {
    case file_type::regular:
        return "a regular file";
    case file_type::directory:
        return "a directory";
    case file_type::fifo:
        return "a FIFO";
    case file_type::socket:
        return "a socket";
    case file_type::character:
        return "a character device";
    case file_type::block:
        return "a block device";
    case file_type::symlink:
        return "a symbolic link";
    case file_type::not_found:
        return "missing";
    default:
        return "a special file";
    }
}

PosixFile PosixFile::openRead(const std::filesystem::path& path) {
    PosixFile f;
    f.m_path = path.string();
    // O_NONBLOCK: a plain open of a FIFO waits for a writer, possibly forever.
    f.m_fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f.m_fd < 0) {
        const int error = errno;
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode) && error == ENOENT)
            throw Error(ErrorKind::NotRegularFile, f.m_path, "",
                        "is a symbolic link to a missing file");
        // A socket cannot be opened at all (ENXIO); say what it is rather than the errno text.
        if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
            throw Error(ErrorKind::NotRegularFile, f.m_path, "", notRegular(st.st_mode));
        throw Error(ErrorKind::Io, f.m_path, "", "cannot open: " + systemError(error));
    }
    struct stat st {};
    if (::fstat(f.m_fd, &st) != 0)
        throw Error(ErrorKind::Io, f.m_path, "", "cannot stat: " + systemError(errno));
    if (!S_ISREG(st.st_mode))
        throw Error(ErrorKind::NotRegularFile, f.m_path, "", notRegular(st.st_mode));
    const int flags = ::fcntl(f.m_fd, F_GETFL);
    if (flags < 0 || ::fcntl(f.m_fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
        throw Error(ErrorKind::Io, f.m_path, "",
                    "cannot set blocking reads: " + systemError(errno));
    return f;
}

std::string readSmallFile(const std::filesystem::path& path, uint64_t maxBytes, const char* what) {
    PosixFile f = PosixFile::openRead(path);
    auto tooLarge = [&](uint64_t size, bool atLeast) {
        return Error(ErrorKind::FileTooLarge, f.path(), "",
                     std::string(what) + " is " + (atLeast ? "more than " : "") +
                         std::to_string(size) + " bytes, over the limit of " + limitText(maxBytes));
    };
    const uint64_t size = f.size();
    if (size > maxBytes) throw tooLarge(size, false);
    std::string out;
    // Straight into the string, in large reads: a .metadata can be hundreds of megabytes.
    reserveLarge(out, size);
    if (size >= (uint64_t(32) << 20)) populate(out.data(), size_t(size));
    out.resize(size_t(size));
    out.resize(size_t(readUpTo(f, out.data(), size)));
    if (out.size() < size) return out;
    // Read to the end rather than trusting the size: the file may grow, or report 0 (procfs).
    char buffer[1 << 16];
    for (;;) {
        ssize_t got = ::read(f.fd(), buffer, sizeof buffer);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw Error(ErrorKind::Io, f.path(), "",
                        "read failed at byte " + std::to_string(out.size()) + ": " +
                            systemError(errno));
        }
        if (got == 0) break;
        if (uint64_t(got) > maxBytes - out.size()) throw tooLarge(maxBytes, true);
        out.append(buffer, size_t(got));
    }
    return out;
}

PosixFile PosixFile::createNew(const std::filesystem::path& path) {
    PosixFile f;
    f.m_path = path.string();
    f.m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f.m_fd < 0)
        throw Error(ErrorKind::Io, f.m_path, "", "cannot create: " + systemError(errno));
    return f;
}

uint64_t PosixFile::size() const {
    struct stat st {};
    if (::fstat(m_fd, &st) != 0)
        throw Error(ErrorKind::Io, m_path, "", "cannot stat: " + systemError(errno));
    return uint64_t(st.st_size);
}

void PosixFile::readExact(void* buffer, uint64_t length, uint64_t offset) const {
    iovec part{buffer, size_t(length)};
    readScattered({&part, 1}, offset);
}

void PosixFile::readScattered(std::span<iovec> parts, uint64_t offset) const {
    size_t i = 0;
    while (i < parts.size()) {
        if (parts[i].iov_len == 0) {
            ++i;
            continue;
        }
        const int count = int(std::min<size_t>(parts.size() - i, IOV_MAX));
        const ssize_t got = ::preadv(m_fd, &parts[i], count, off_t(offset));
        if (got < 0) {
            if (errno == EINTR) continue;
            throw Error(ErrorKind::Io, m_path, "",
                        "read failed at byte " + std::to_string(offset) + ": " +
                            systemError(errno));
        }
        if (got == 0)
            throw Error(ErrorKind::Io, m_path, "",
                        "file ended early at byte " + std::to_string(offset) +
                            " (was it truncated while reading?)");
        offset += uint64_t(got);
        for (size_t left = size_t(got); left > 0;) {
            const size_t take = std::min(left, parts[i].iov_len);
            parts[i].iov_base = static_cast<char*>(parts[i].iov_base) + take;
            parts[i].iov_len -= take;
            left -= take;
            if (parts[i].iov_len == 0) ++i;
        }
    }
}

void PosixFile::writeExact(const void* buffer, uint64_t length, uint64_t offset) const {
    const auto* p = static_cast<const char*>(buffer);
    if (const int injected = faultPoint(FaultOp::Write))
        throw Error(ErrorKind::Io, m_path, "",
                    "write failed at byte " + std::to_string(offset) + ": " +
                        systemError(injected));
    while (length > 0) {
        ssize_t put = ::pwrite(m_fd, p, length, off_t(offset));
        if (put < 0) {
            const int error = errno;
            if (error == EINTR) continue;
            const bool full = error == ENOSPC || error == EDQUOT || error == EFBIG;
            throw Error(full ? ErrorKind::NoSpace : ErrorKind::Io, m_path, "",
                        "write failed at byte " + std::to_string(offset) + ": " +
                            systemError(error));
        }
        p += put, offset += uint64_t(put), length -= uint64_t(put);
    }
}

void PosixFile::truncate(uint64_t length) const {
    if (::ftruncate(m_fd, off_t(length)) != 0)
        throw Error(ErrorKind::Io, m_path, "", "cannot set the file size: " + systemError(errno));
}

void PosixFile::sync() const {
    if (::fdatasync(m_fd) != 0)
        throw Error(ErrorKind::Io, m_path, "", "cannot sync: " + systemError(errno));
}

void PosixFile::close() {
    if (m_fd < 0) return;
    int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0)
        throw Error(ErrorKind::Io, m_path, "", "close failed: " + systemError(errno));
}

} // namespace shardscope
