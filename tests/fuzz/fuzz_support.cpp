#include "fuzz_support.h"

#include <fcntl.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace fuzzing {

namespace {
struct Scratch {
    fs::path dir;
    Scratch() {
        // tmpfs when there is one: rewriting a file with O_TRUNC on ext4 flushes it on close
        // (auto_da_alloc), which made fuzz_scan five times slower.
        std::string base = "/tmp";
        if (const char* env = std::getenv("SHARDSCOPE_FUZZ_TMPDIR"); env && *env)
            base = env;
        else if (::access("/dev/shm", W_OK) == 0)
            base = "/dev/shm";
        else if (const char* tmp = std::getenv("TMPDIR"); tmp && *tmp)
            base = tmp;
        std::string pattern = base + "/shardscope-fuzz-XXXXXX";
        if (!mkdtemp(pattern.data())) {
            std::perror("shardscope fuzz: mkdtemp");
            std::abort();
        }
        dir = pattern;
    }
    ~Scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};
} // namespace

const fs::path& scratchDir() {
    static Scratch scratch;
    return scratch.dir;
}

void writeFile(const fs::path& path, std::string_view bytes) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::perror(("shardscope fuzz: open " + path.string()).c_str());
        std::abort();
    }
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n <= 0) {
            std::perror(("shardscope fuzz: write " + path.string()).c_str());
            std::abort();
        }
        done += size_t(n);
    }
    ::close(fd);
}

} // namespace fuzzing
