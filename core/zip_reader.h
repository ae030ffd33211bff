// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace shardscope {

// The central directory of one uncompressed zip archive, as torch.save writes it: local headers
// carry zero sizes (flag bit 3), so only the central directory is trusted, and each entry is
// checked against its local header. Offsets are relative to the archive's first byte, which is
// rarely the file's first byte: a .distcp file holds many archives back to back.
struct ZipEntry {
    std::string name;
    uint64_t dataOffset = 0; // first byte of the stored data, archive-relative
    uint64_t size = 0;       // stored (= uncompressed) size
};

struct ZipDirectory {
    std::vector<ZipEntry> entries; // central-directory order
    uint64_t centralDirectoryOffset = 0;
    const ZipEntry* find(std::string_view name) const;
    // The entry whose name ends in "/data.pkl" or is "data.pkl" (the first one); nullptr if none.
    const ZipEntry* findRecord(std::string_view suffix) const;
};

// Reads `length` archive-relative bytes at `offset` into `out`; throws on a short read.
using ArchiveReader = std::function<void(uint64_t offset, uint64_t length, char* out)>;

inline constexpr uint64_t kMaxZipEntries = 1'000'000;

// Reads the end records (classic EOCD, and ZIP64 locator + record when present or needed), then
// the central directory, then each entry's local header. Throws Error(ErrorKind::ZipInvalid,
// `file`, "", message naming the record and archive offset) when any of them is missing,
// truncated, runs outside [0, archiveSize), names a compressed or encrypted entry, or disagrees
// with another (local name vs central name, overlapping entries, data past the central directory).
ZipDirectory readZipDirectory(const ArchiveReader& read, uint64_t archiveSize,
                              const std::string& file);

// The same checks and messages for an archive already in memory, read in place with no copy.
// `out` is overwritten (left unspecified when this throws) and its storage reused: a caller that
// reads many archives into one ZipDirectory, as the DCP scanner does for 800,000 small items,
// allocates only while its names outgrow what earlier archives left.
void readZipDirectory(std::string_view archive, const std::string& file, ZipDirectory& out);

} // namespace shardscope
