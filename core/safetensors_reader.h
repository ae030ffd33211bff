// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype.h"
#include "shape.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace shardscope {

inline constexpr uint64_t kMaxHeaderSize = 100'000'000;

struct TensorEntry {
    std::string name;
    DType dtype = DType::U8;
    Shape shape;
    uint64_t begin = 0; // relative to the data section
    uint64_t end = 0;
};

struct SafetensorsHeader {
    std::string path;
    uint64_t fileSize = 0;
    uint64_t headerSize = 0; // N: the JSON length, padding included
    uint64_t dataStart() const { return 8 + headerSize; }
    uint64_t dataSize() const { return fileSize - dataStart(); }
    std::vector<TensorEntry> tensors; // in header order
    std::map<std::string, std::string> metadata;
    bool hasMetadata = false;
};

// Reads only the 8-byte length and the header, never the data; throws Error naming the file,
// with the ErrorKind of the check that failed (Io when the file cannot be read).
SafetensorsHeader readSafetensorsHeader(const std::filesystem::path& path);
// The same into `into`, reusing its memory: a scan of many files keeps one per thread, since
// fresh multi-megabyte vectors per file cost a page fault per 4 KiB (W6: 10 s of system time).
void readSafetensorsHeader(const std::filesystem::path& path, SafetensorsHeader& into);

// Whether the header's __metadata__ has `key`, read only as far as __metadata__ (which writers
// put first), not checked further: a quick look at what kind of file this is, before a scan.
// Throws Error as readSafetensorsHeader does when the header cannot be read or is not JSON.
bool headerMetadataHas(const std::filesystem::path& path, std::string_view key);

// The checks behind readSafetensorsHeader, on header bytes already in memory. JSON nesting is
// limited as serde_json limits it, so no header can exhaust the stack.
SafetensorsHeader parseSafetensorsHeader(std::string_view json, uint64_t fileSize,
                                         const std::string& path);
void parseSafetensorsHeader(std::string_view json, uint64_t fileSize, const std::string& path,
                            SafetensorsHeader& into);

// True when the bytes are well-formed UTF-8 (no overlongs, no surrogates).
bool isValidUtf8(std::string_view text);

} // namespace shardscope
