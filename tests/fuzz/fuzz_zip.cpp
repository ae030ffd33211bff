// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// libFuzzer target: the zip directory reader on arbitrary bytes.
//
// The input is one archive, read through an ArchiveReader over the buffer that throws Error on a
// read outside it (as a caller's reader does on a short read). The reader checks every range
// itself, so such a read is still a finding: it is recorded and trapped on after the call. Every
// entry it accepts must lie inside the buffer, before the central directory, and is read back.

#include "error.h"
#include "fuzz_support.h"
#include "zip_reader.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void finding(const char* what) {
    std::fprintf(stderr, "FINDING: %s\n", what);
    __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* bytes = reinterpret_cast<const char*>(data);
    bool outOfRange = false;
    const shardscope::ArchiveReader read = [&](uint64_t offset, uint64_t length, char* out) {
        if (offset > size || length > size - offset) {
            outOfRange = true;
            throw shardscope::Error(shardscope::ErrorKind::Io, "fuzz.distcp", "",
                                    "read past the end of the item");
        }
        if (length) std::memcpy(out, bytes + offset, length);
    };
    fuzzing::expectOnlyErrors([&] {
        const shardscope::ZipDirectory dir =
            shardscope::readZipDirectory(read, size, "fuzz.distcp");
        if (dir.centralDirectoryOffset > size) finding("central directory past the end");
        std::vector<char> buffer;
        volatile uint64_t sink = 0;
        for (const shardscope::ZipEntry& e : dir.entries) {
            if (e.dataOffset > dir.centralDirectoryOffset ||
                e.size > dir.centralDirectoryOffset - e.dataOffset)
                finding("entry data outside [0, central directory)");
            if (e.name.empty()) finding("empty entry name");
            buffer.resize(e.size);
            read(e.dataOffset, e.size, buffer.data());
            for (char c : buffer)
                sink = sink + static_cast<unsigned char>(c);
            if (dir.find(e.name) == nullptr) finding("find() misses an entry");
        }
        (void)dir.findRecord("data.pkl");
        (void)sink;
    });
    if (outOfRange) finding("readZipDirectory asked for bytes outside the archive");
    return 0;
}
