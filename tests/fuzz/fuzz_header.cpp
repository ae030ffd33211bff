// libFuzzer target: the strict safetensors header reader on arbitrary bytes.
//
// The input is a whole shard file (8-byte little-endian header length, header, data). It is read
// twice: through readSafetensorsHeader from a memfd (the length-prefix checks and the file-size
// arithmetic), and, as raw JSON, straight through parseSafetensorsHeader.

#include "fuzz_support.h"
#include "safetensors_reader.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace {

int memFile() {
    static const int fd = [] {
        const int f = memfd_create("shardscope-fuzz-header", MFD_CLOEXEC);
        if (f < 0) {
            std::perror("shardscope fuzz: memfd_create");
            std::abort();
        }
        return f;
    }();
    return fd;
}

void touch(const shardscope::SafetensorsHeader& h) {
    // Use every field so nothing is optimised away and the accessors run on what was accepted.
    volatile uint64_t sink = h.dataStart() + h.tensors.size() + h.metadata.size();
    if (h.dataStart() <= h.fileSize) sink = sink + h.dataSize();
    for (const auto& t : h.tensors)
        sink = sink + t.end - t.begin + t.name.size() + t.shape.size();
    (void)sink;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);

    const int fd = memFile();
    if (ftruncate(fd, 0) != 0 || pwrite(fd, bytes.data(), bytes.size(), 0) != ssize_t(size)) {
        std::perror("shardscope fuzz: memfd write");
        std::abort();
    }
    static const std::string path = "/proc/self/fd/" + std::to_string(fd);
    fuzzing::expectOnlyErrors([&] { touch(shardscope::readSafetensorsHeader(path)); });

    // The same bytes as header JSON of a file with no data section.
    fuzzing::expectOnlyErrors(
        [&] { touch(shardscope::parseSafetensorsHeader(bytes, 8 + size, "fuzz.safetensors")); });
    return 0;
}
