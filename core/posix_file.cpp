#include "posix_file.h"

#include "error.h"
#include "fault.h"

#include <cerrno>
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

std::string readSmallFile(const std::filesystem::path& path, uint64_t maxBytes, const char* what) {
    PosixFile file = PosixFile::openRead(path);
    const uint64_t size = file.size();
    if (size > maxBytes)
        throw Error(file.path(), "",
                    std::string("the ") + what + " is " + std::to_string(size) +
                        " bytes, over the limit of " + std::to_string(maxBytes));
    std::string text(size, '\0');
    file.readExact(text.data(), size, 0);
    return text;
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

PosixFile PosixFile::openRead(const std::filesystem::path& path) {
    PosixFile f;
    f.m_path = path.string();
    // O_NONBLOCK so a FIFO cannot block open(); only regular files are read.
    f.m_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f.m_fd < 0) throw Error(f.m_path, "", "cannot open: " + systemError(errno));
    struct stat st {};
    if (::fstat(f.m_fd, &st) != 0) throw Error(f.m_path, "", "cannot stat: " + systemError(errno));
    if (!S_ISREG(st.st_mode)) throw Error(f.m_path, "", "not a regular file");
    ::fcntl(f.m_fd, F_SETFL, ::fcntl(f.m_fd, F_GETFL) & ~O_NONBLOCK);
    return f;
}

PosixFile PosixFile::createNew(const std::filesystem::path& path) {
    PosixFile f;
    f.m_path = path.string();
    f.m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f.m_fd < 0) throw Error(f.m_path, "", "cannot create: " + systemError(errno));
    return f;
}

uint64_t PosixFile::size() const {
    struct stat st {};
    if (::fstat(m_fd, &st) != 0) throw Error(m_path, "", "cannot stat: " + systemError(errno));
    return uint64_t(st.st_size);
}

void PosixFile::readExact(void* buffer, uint64_t length, uint64_t offset) const {
    auto* p = static_cast<char*>(buffer);
    while (length > 0) {
        ssize_t got = ::pread(m_fd, p, length, off_t(offset));
        if (got < 0) {
            if (errno == EINTR) continue;
            throw Error(m_path, "",
                        "read failed at byte " + std::to_string(offset) + ": " +
                            systemError(errno));
        }
        if (got == 0)
            throw Error(m_path, "",
                        "file ended early at byte " + std::to_string(offset) +
                            " (was it truncated while reading?)");
        p += got, offset += uint64_t(got), length -= uint64_t(got);
    }
}

void PosixFile::writeExact(const void* buffer, uint64_t length, uint64_t offset) const {
    const auto* p = static_cast<const char*>(buffer);
    if (const int injected = faultPoint(FaultOp::Write))
        throw Error(m_path, "",
                    "write failed at byte " + std::to_string(offset) + ": " +
                        systemError(injected));
    while (length > 0) {
        ssize_t put = ::pwrite(m_fd, p, length, off_t(offset));
        if (put < 0) {
            if (errno == EINTR) continue;
            throw Error(m_path, "",
                        "write failed at byte " + std::to_string(offset) + ": " +
                            systemError(errno));
        }
        p += put, offset += uint64_t(put), length -= uint64_t(put);
    }
}

void PosixFile::truncate(uint64_t length) const {
    if (::ftruncate(m_fd, off_t(length)) != 0)
        throw Error(m_path, "", "cannot set the file size: " + systemError(errno));
}

void PosixFile::sync() const {
    if (::fdatasync(m_fd) != 0) throw Error(m_path, "", "cannot sync: " + systemError(errno));
}

void PosixFile::close() {
    if (m_fd < 0) return;
    int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0) throw Error(m_path, "", "close failed: " + systemError(errno));
}

} // namespace shardscope
