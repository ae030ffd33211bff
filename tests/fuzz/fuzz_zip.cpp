// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// libFuzzer target: the zip directory reader on arbitrary bytes.
//
// The input is one archive, read through an ArchiveReader over the buffer that throws Error on a
// read outside it (as a caller's reader does on a short read). The reader checks every range
// itself, so such a read is still a finding: it is recorded and trapped on after the call. Every
// entry it accepts must lie inside the buffer, before the central directory, and is read back.
// The in-place reader must then agree with it exactly.

#include "error.h"
#include "fuzz_support.h"
#include "zip_reader.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void finding(const char* what) {
    std::fprintf(stderr, "FINDING: %s\n", what);
    __builtin_trap();
}

// The in-place reader (what the DCP scan uses on items already in memory) must give the same
// entries, or the same error message, as the reader through an ArchiveReader. Read twice into
// one ZipDirectory, as the scan reuses it from item to item.
void inPlaceAgrees(std::string_view archive) {
    const shardscope::ArchiveReader read = [&](uint64_t offset, uint64_t length, char* out) {
        if (offset > archive.size() || length > archive.size() - offset)
            throw shardscope::Error(shardscope::ErrorKind::Io, "fuzz.distcp", "", "short read");
        if (length) std::memcpy(out, archive.data() + offset, length);
    };
    std::string viaReader, inPlace;
    shardscope::ZipDirectory expected;
    try {
        expected = shardscope::readZipDirectory(read, archive.size(), "fuzz.distcp");
    } catch (const shardscope::Error& e) {
        viaReader = e.message();
    }
    static shardscope::ZipDirectory reused; // keeps the names of the previous input
    for (int round = 0; round < 2; ++round) {
        inPlace.clear();
        try {
            shardscope::readZipDirectory(archive, "fuzz.distcp", reused);
        } catch (const shardscope::Error& e) {
            inPlace = e.message();
        }
        if (inPlace != viaReader) finding("the in-place reader fails differently");
        if (!inPlace.empty()) continue;
        if (reused.centralDirectoryOffset != expected.centralDirectoryOffset ||
            reused.entries.size() != expected.entries.size())
            finding("the in-place reader gives another directory");
        for (size_t i = 0; i < expected.entries.size(); ++i)
            if (reused.entries[i].name != expected.entries[i].name ||
                reused.entries[i].dataOffset != expected.entries[i].dataOffset ||
                reused.entries[i].size != expected.entries[i].size)
                finding("the in-place reader gives another entry");
    }
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
    inPlaceAgrees(std::string_view(bytes, size));
    return 0;
}
