// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// Writes the seed corpora for the ShardScope fuzz targets: make_seeds OUTDIR creates
// OUTDIR/fuzz_header, fuzz_scan, fuzz_mapping, fuzz_sharding_info, fuzz_pickle and fuzz_zip
// with valid and near-valid inputs. Shard and archive bytes are built here, byte by byte,
// independent of the core's writer and of Qt; the zip seeds add the archives Python's zipfile
// wrote for the tests; pickle bytes are copied from CPython's output or written by hand.

#include "../zip_fixtures.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
using namespace std::literals;

namespace {

using Dims = std::vector<uint64_t>;

unsigned bitsOf(const std::string& dtype) {
    static const std::map<std::string, unsigned> bits = {
        {"BOOL", 8},    {"U8", 8},          {"I8", 8},          {"F8_E4M3", 8}, {"F8_E5M2", 8},
        {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8}, {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},
        {"F16", 16},    {"BF16", 16},       {"I32", 32},        {"U32", 32},    {"F32", 32},
        {"I64", 64},    {"U64", 64},        {"F64", 64},        {"C64", 64},    {"F4", 4},
        {"F6_E2M3", 6}, {"F6_E3M2", 6}};
    auto it = bits.find(dtype);
    return it == bits.end() ? 8 : it->second;
}

uint64_t numel(const Dims& d) {
    uint64_t n = 1;
    for (auto x : d)
        n *= x;
    return n;
}

std::string quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += char(c);
        }
    }
    return out + "\"";
}

std::string dims(const Dims& d) {
    std::string out = "[";
    for (size_t i = 0; i < d.size(); ++i)
        out += (i ? "," : "") + std::to_string(d[i]);
    return out + "]";
}

std::string le64(uint64_t n) {
    std::string out;
    for (int i = 0; i < 8; ++i)
        out += char((n >> (8 * i)) & 0xFF);
    return out;
}

// length prefix + header + data; the prefix is the header size unless overridden.
std::string rawFile(const std::string& header, const std::string& data, int64_t length = -1) {
    return le64(length >= 0 ? uint64_t(length) : header.size()) + header + data;
}

struct Chunk {
    Chunk(std::string name, std::string dtype, Dims shape, Dims offsets = {}, int64_t bytes = -1,
          int64_t shift = 0, char fill = 0)
        : name(std::move(name)), dtype(std::move(dtype)), shape(std::move(shape)),
          offsets(std::move(offsets)), bytes(bytes), shift(shift), fill(fill) {}
    std::string name;
    std::string dtype;
    Dims shape;
    Dims offsets;  // saved_offsets; empty: all zero
    int64_t bytes; // data bytes; -1: exactly what the shape needs
    int64_t shift; // added to data_offsets' end (near-valid inputs)
    char fill;     // the byte pattern; 0: derived from the name
};

struct Options {
    bool shardingInfo = true;
    std::string shardingOverride;
    bool metadataLast = false;
    std::string extraMetadata; // raw `"k":"v"` pairs appended inside __metadata__
    std::string trailing;      // bytes after the data section
};

std::string shard(const std::vector<Chunk>& chunks, const Options& o = {}) {
    std::string entries, info = "{", data;
    for (size_t i = 0; i < chunks.size(); ++i) {
        const Chunk& c = chunks[i];
        const uint64_t n = c.bytes >= 0 ? uint64_t(c.bytes) : numel(c.shape) * bitsOf(c.dtype) / 8;
        const uint64_t begin = data.size();
        for (uint64_t b = 0; b < n; ++b)
            data += c.fill ? c.fill : char(c.name.size() * 31 + b * 7);
        entries += (i ? "," : "") + quote(c.name) + ":{\"dtype\":" + quote(c.dtype) +
                   ",\"shape\":" + dims(c.shape) + ",\"data_offsets\":[" + std::to_string(begin) +
                   "," + std::to_string(int64_t(data.size()) + c.shift) + "]}";
        info += (i ? "," : "") + quote(c.name) + ":{\"saved_offsets\":" +
                dims(c.offsets.empty() ? Dims(c.shape.size(), 0) : c.offsets) + "}";
    }
    info += "}";
    std::string meta = "\"__metadata__\":{\"format\":\"pt\"";
    if (o.shardingInfo)
        meta += ",\"DCP_SHARDING_INFO\":" +
                quote(o.shardingOverride.empty() ? info : o.shardingOverride);
    if (!o.extraMetadata.empty()) meta += "," + o.extraMetadata;
    meta += "}";
    std::string header = "{";
    if (o.metadataLast)
        header += entries + (entries.empty() ? "" : ",") + meta;
    else
        header += meta + (entries.empty() ? "" : ",") + entries;
    header += "}";
    while (header.size() % 8)
        header += ' ';
    return rawFile(header, data + o.trailing);
}

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out << bytes;
    if (!out) {
        std::fprintf(stderr, "make_seeds: cannot write %s\n", (dir / name).c_str());
        std::exit(1);
    }
}

const char* kSep = "@@SHARD@@";

void headerSeeds(const fs::path& dir) {
    write(dir, "valid_f32", shard({{"w", "F32", {2, 3}}}));
    std::vector<Chunk> all;
    for (const char* d :
         {"BOOL", "U8",  "I8",  "F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
          "I16",  "U16", "F16", "BF16",    "I32",     "U32",     "F32",         "I64",
          "U64",  "F64", "C64", "F4",      "F6_E2M3", "F6_E3M2"})
        all.push_back({std::string("t.") + d, d, {2, 4}});
    write(dir, "valid_all_dtypes", shard(all));
    write(dir, "valid_metadata_last",
          shard({{"a.weight", "BF16", {4, 2}, {4, 0}}}, {.metadataLast = true}));
    write(dir, "valid_scalar_and_empty",
          shard({{"s", "F64", {}}, {"e", "F32", {0, 5}}, {"v", "I8", {3}}}));
    write(dir, "valid_empty_header", rawFile("{}      ", ""));
    write(dir, "valid_no_metadata",
          rawFile(R"({"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "ab"));
    write(dir, "valid_escaped_names",
          shard({{"caf\xc3\xa9.w\"q\\", "F16", {2}}, {"layers.10.mlp", "F16", {1}}},
                {.extraMetadata = "\"note\":\"tab\\there \\u00e9 \\ud83d\\ude00\""}));

    write(dir, "bad_dtype", shard({{"w", "F12", {2}, {}, 2}}));
    write(dir, "bad_offsets_short", shard({{"w", "F32", {2, 3}, {}, 20}}));
    write(dir, "bad_offsets_past_end", shard({{"w", "F32", {2}, {}, -1, 4}}));
    write(dir, "bad_trailing_bytes", shard({{"w", "U8", {4}}}, {.trailing = "xyz"}));
    write(
        dir, "bad_overlap",
        rawFile(
            R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
            "abcdef"));
    write(
        dir, "bad_hole",
        rawFile(
            R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}})",
            "abcdef"));
    write(
        dir, "bad_duplicate",
        rawFile(
            R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
            "ab"));
    write(dir, "bad_reversed",
          rawFile(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}})", "a"));
    write(dir, "bad_metadata_value", rawFile(R"({"__metadata__":{"format":1,"k":["v"]}})", ""));
    write(dir, "bad_metadata_type", rawFile(R"({"__metadata__":"pt"})", ""));
    write(dir, "bad_negative_shape",
          rawFile(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", ""));
    write(dir, "bad_fraction_shape",
          rawFile(R"({"a":{"dtype":"U8","shape":[1.5e0],"data_offsets":[0,1]}})", "a"));
    write(
        dir, "bad_shape_overflow",
        rawFile(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
                "abcdefgh"));
    write(
        dir, "bad_huge_offsets",
        rawFile(
            R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,18446744073709551616]}})",
            "a"));
    write(
        dir, "bad_missing_field",
        rawFile(R"({"a":{"dtype":"U8","shape":[1]},"b":{"shape":[1],"data_offsets":[0,1]}})", "a"));
    write(
        dir, "bad_extra_field",
        rawFile(
            R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":{"y":[null,true,false]}}})",
            "a"));
    write(dir, "bad_sub_byte_bits",
          rawFile(R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", "ab"));
    write(dir, "bad_utf8_name",
          rawFile("{\"\xff\xfe\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "a"));
    write(dir, "bad_not_object", rawFile("[1,2,3] ", ""));
    write(dir, "bad_leading_space", rawFile(" {}     ", ""));
    write(dir, "bad_length_past_end", rawFile("{}", "", 4096));
    write(dir, "bad_length_over_limit", rawFile("{}", "", 100000001));
    write(dir, "bad_short_file", std::string("\x02\0\0\0", 4));
    write(dir, "bad_truncated_json", rawFile(R"({"a":{"dtype":"U8","shape":[1],"data_off)", ""));
    write(
        dir, "bad_deep_nesting",
        rawFile("{\"__metadata__\":{},\"a\":" + std::string(200, '[') + std::string(200, ']') + "}",
                ""));
    // Raw header JSON without the length prefix, for the in-memory parse.
    write(
        dir, "json_only_valid",
        R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})");
}

void scanSeeds(const fs::path& dir) {
    auto two = [](const std::string& a, const std::string& b) { return a + kSep + b; };
    auto three = [&](const std::string& a, const std::string& b, const std::string& m) {
        return a + kSep + b + kSep + m;
    };
    // Rows of w over two ranks, a replicated bias, a column split of v.
    const std::string r0 = shard({{"w", "F32", {2, 4}, {0, 0}},
                                  {"b", "F32", {4}, {0}, -1, 0, 'b'},
                                  {"v", "BF16", {4, 2}, {0, 0}}});
    const std::string r1 = shard({{"w", "F32", {2, 4}, {2, 0}},
                                  {"b", "F32", {4}, {0}, -1, 0, 'b'},
                                  {"v", "BF16", {4, 2}, {0, 2}}});
    write(dir, "valid_rows_and_cols", two(r0, r1));
    write(dir, "valid_one_shard",
          shard({{"layers.0.w", "F16", {3, 3}}, {"layers.10.w", "F4", {4}}}));
    write(dir, "valid_with_mapping", three(r0, r1, R"({"w":1,"b":2,"v":2})"));
    write(dir, "valid_mapping_partial", three(r0, r1, R"({"w":3})"));
    write(
        dir, "valid_sub_byte_rows",
        two(shard({{"q", "F6_E2M3", {2, 4}, {0, 0}}}), shard({{"q", "F6_E2M3", {2, 4}, {2, 0}}})));
    write(dir, "bad_gap",
          two(shard({{"w", "F32", {1, 4}, {0, 0}}}), shard({{"w", "F32", {1, 4}, {2, 0}}})));
    write(dir, "bad_overlap",
          two(shard({{"w", "F32", {2, 4}, {0, 0}}}), shard({{"w", "F32", {2, 4}, {1, 0}}})));
    write(dir, "bad_dtype_conflict",
          two(shard({{"w", "F32", {2}, {0}}}), shard({{"w", "F16", {2}, {2}}})));
    write(dir, "bad_rank_mismatch",
          two(shard({{"w", "F32", {2, 2}, {0, 0}}}), shard({{"w", "F32", {4}, {4}}})));
    write(dir, "bad_replica_conflict",
          two(shard({{"b", "U8", {4}, {0}, -1, 0, 'x'}}),
              shard({{"b", "U8", {4}, {0}, -1, 0, 'y'}})));
    write(dir, "bad_no_sharding_info",
          two(shard({{"w", "U8", {2}}}, {.shardingInfo = false}), shard({{"w", "U8", {2}, {2}}})));
    write(dir, "bad_sharding_info_missing_tensor",
          shard({{"w", "U8", {2}}, {"z", "U8", {2}}},
                {.shardingOverride = R"({"w":{"saved_offsets":[0]}})"}));
    write(dir, "bad_sharding_info_json",
          shard({{"w", "U8", {2}}}, {.shardingOverride = R"({"w":{"saved_offsets":[0]})"}));
    write(dir, "bad_offsets_rank", shard({{"w", "U8", {2}, {0, 0}}}));
    write(dir, "bad_huge_offsets", shard({{"w", "U8", {2}, {18446744073709551615ull}}}));
    write(dir, "bad_mapping_zero", three(r0, r1, R"({"w":0})"));
    write(dir, "bad_mapping_json", three(r0, r1, R"({"w":1)"));
    write(dir, "bad_second_file_broken", two(r0, rawFile("{}", "", 9999)));
}

void mappingSeeds(const fs::path& dir) {
    const std::map<std::string, std::string> seeds = {
        {"valid_one", R"({"model.layers.0.weight": 1})"},
        {"valid_many", R"({"a": 1, "b": 2, "layers.10.w": 3, "layers.2.w": 99999})"},
        {"valid_empty", "{}"},
        {"valid_escapes", R"({"caf\u00e9\n\"x\"": 2, "\ud83d\ude00": 1})"},
        {"valid_pretty", "{\n  \"a\": 1,\n  \"b\": 2\n}\n"},
        {"bad_zero", R"({"a": 0})"},
        {"bad_negative", R"({"a": -1})"},
        {"bad_fraction", R"({"a": 1.5})"},
        {"bad_exponent", R"({"a": 1e3})"},
        {"bad_too_large", R"({"a": 100000})"},
        {"bad_huge", R"({"a": 18446744073709551616})"},
        {"bad_string", R"({"a": "1"})"},
        {"bad_null", R"({"a": null, "b": [1], "c": {"d": true}})"},
        {"bad_array", "[1, 2]"},
        {"bad_truncated", R"({"a": 1)"},
        {"bad_duplicate", R"({"a": 1, "a": 2})"},
        {"bad_utf8", "{\"\xc3\x28\": 1}"},
        {"bad_trailing", R"({"a": 1} x)"},
    };
    for (const auto& [name, text] : seeds)
        write(dir, name, text);
}

void shardingInfoSeeds(const fs::path& dir) {
    const std::map<std::string, std::string> seeds = {
        {"valid_one", R"({"w":{"saved_offsets":[0,0]}})"},
        {"valid_many",
         R"({"a":{"saved_offsets":[4,0]},"b":{"saved_offsets":[]},"c":{"saved_offsets":[0]}})"},
        {"valid_empty", "{}"},
        {"valid_extra_keys",
         R"({"w":{"other":{"x":[1,2.5,"s",null,true]},"saved_offsets":[1,2,3]}})"},
        {"valid_escapes", R"({"caf\u00e9\t":{"saved_offsets":[7]}})"},
        {"valid_whitespace", " {\n \"w\" : { \"saved_offsets\" : [ 0 , 8 ] } } \n"},
        {"bad_missing", R"({"w":{}})"},
        {"bad_negative", R"({"w":{"saved_offsets":[-1]}})"},
        {"bad_fraction", R"({"w":{"saved_offsets":[0.5]}})"},
        {"bad_overflow", R"({"w":{"saved_offsets":[18446744073709551616]}})"},
        {"bad_not_array", R"({"w":{"saved_offsets":3}})"},
        {"bad_entry_type", R"({"w":[0]})"},
        {"bad_not_object", "[]"},
        {"bad_truncated", R"({"w":{"saved_offsets":[0)"},
        {"bad_trailing", R"({"w":{"saved_offsets":[0]}}})"},
        {"bad_duplicate", R"({"w":{"saved_offsets":[0]},"w":{"saved_offsets":[1]}})"},
        {"bad_utf8", "{\"\xed\xa0\x80\":{\"saved_offsets\":[0]}}"},
        {"bad_deep", R"({"w":{"x":)" + std::string(300, '[') + std::string(300, ']') +
                         R"(,"saved_offsets":[0]}})"},
    };
    for (const auto& [name, text] : seeds)
        write(dir, name, text);
}

// ---- zip archives (fuzz_zip) ----

void putLe(std::string& s, uint64_t v, int width) {
    for (int i = 0; i < width; ++i)
        s += char((v >> (8 * i)) & 0xFF);
}

struct ZipFile {
    std::string name;
    std::string data;
};

uint32_t crc32(const std::string& data) {
    uint32_t crc = 0xFFFFFFFF;
    for (unsigned char c : data) {
        crc ^= c;
        for (int k = 0; k < 8; ++k)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

struct ZipStyle {
    bool torch = true;         // flags 0x0808, zero local sizes, FB padding, data descriptors
    bool placeholders = false; // 0xFFFFFFFF/0xFFFF + ZIP64 extras and 8-byte descriptors
    bool zip64End = true;      // ZIP64 end record + locator before the EOCD
    std::string comment;
};

// torch.save's layout (PyTorch's miniz writer) or, with torch = false, zipfile's: real sizes in
// the local headers, no padding, no descriptors.
std::string zipArchive(const std::vector<ZipFile>& files, const ZipStyle& o) {
    std::string out;
    std::vector<uint64_t> locals;
    const uint64_t version = o.placeholders ? 45 : 20;
    for (const ZipFile& f : files) {
        locals.push_back(out.size());
        putLe(out, 0x04034b50, 4);
        putLe(out, version, 2);
        putLe(out, o.torch ? 0x0808 : 0, 2);
        out.append(2 + 4, '\0'); // method, time and date
        putLe(out, o.torch ? 0 : crc32(f.data), 4);
        putLe(out, o.torch ? 0 : f.data.size(), 4);
        putLe(out, o.torch ? 0 : f.data.size(), 4);
        putLe(out, f.name.size(), 2);
        uint64_t pad = 0;
        if (o.torch) {
            const uint64_t start = out.size() + 2 + f.name.size() + 4;
            pad = (64 - start % 64) % 64;
        }
        putLe(out, o.torch ? 4 + pad : 0, 2);
        out += f.name;
        if (o.torch) {
            out += "FB";
            putLe(out, pad, 2);
            out.append(pad, 'Z');
        }
        out += f.data;
        if (o.torch) {
            putLe(out, 0x08074b50, 4);
            putLe(out, crc32(f.data), 4);
            putLe(out, f.data.size(), o.placeholders ? 8 : 4);
            putLe(out, f.data.size(), o.placeholders ? 8 : 4);
        }
    }
    const uint64_t directory = out.size();
    for (size_t i = 0; i < files.size(); ++i) {
        std::string extra;
        if (o.placeholders) {
            putLe(extra, 1, 2);
            putLe(extra, 24, 2);
            putLe(extra, files[i].data.size(), 8);
            putLe(extra, files[i].data.size(), 8);
            putLe(extra, locals[i], 8);
        }
        putLe(out, 0x02014b50, 4);
        putLe(out, version, 2);
        putLe(out, version, 2);
        putLe(out, o.torch ? 0x0808 : 0, 2);
        out.append(2 + 4, '\0'); // method, time and date
        putLe(out, crc32(files[i].data), 4);
        putLe(out, o.placeholders ? 0xFFFFFFFF : files[i].data.size(), 4);
        putLe(out, o.placeholders ? 0xFFFFFFFF : files[i].data.size(), 4);
        putLe(out, files[i].name.size(), 2);
        putLe(out, extra.size(), 2);
        out.append(2 + 2 + 2 + 4, '\0'); // comment, disk, attributes
        putLe(out, o.placeholders ? 0xFFFFFFFF : locals[i], 4);
        out += files[i].name + extra;
    }
    const uint64_t directorySize = out.size() - directory;
    if (o.zip64End || o.placeholders) {
        const uint64_t record = out.size();
        putLe(out, 0x06064b50, 4);
        putLe(out, 44, 8);
        putLe(out, 45, 2);
        putLe(out, 45, 2);
        putLe(out, 0, 8);
        putLe(out, files.size(), 8);
        putLe(out, files.size(), 8);
        putLe(out, directorySize, 8);
        putLe(out, directory, 8);
        putLe(out, 0x07064b50, 4);
        putLe(out, 0, 4);
        putLe(out, record, 8);
        putLe(out, 1, 4);
    }
    putLe(out, 0x06054b50, 4);
    putLe(out, 0, 4);
    putLe(out, o.placeholders ? 0xFFFF : files.size(), 2);
    putLe(out, o.placeholders ? 0xFFFF : files.size(), 2);
    putLe(out, o.placeholders ? 0xFFFFFFFF : directorySize, 4);
    putLe(out, o.placeholders ? 0xFFFFFFFF : directory, 4);
    putLe(out, o.comment.size(), 2);
    return out + o.comment;
}

std::vector<ZipFile> torchRecords(const std::string& prefix, size_t storage) {
    std::string bytes;
    for (size_t i = 0; i < storage; ++i)
        bytes += char(i * 37 + 11);
    return {
        {prefix + "/data.pkl", std::string("\x80\x02\x63torch._utils\n_rebuild_tensor_v2\n.", 36)},
        {prefix + "/.format_version", "1"},
        {prefix + "/.storage_alignment", "64"},
        {prefix + "/byteorder", "little"},
        {prefix + "/data/0", bytes},
        {prefix + "/version", "3\n"},
        {prefix + "/.data/serialization_id", "1620471298237617485000123412907410001234"}};
}

void zipSeeds(const fs::path& dir) {
    const std::vector<ZipFile> records = torchRecords("archive", 48);
    write(dir, "torch", zipArchive(records, {}));
    write(dir, "torch_placeholders", zipArchive(records, {.placeholders = true}));
    write(dir, "torch_other_prefix", zipArchive(torchRecords("model.7", 0), {}));
    write(dir, "torch_comment", zipArchive(records, {.comment = "PK\x05\x06 in a comment"}));
    write(dir, "plain", zipArchive(records, {.torch = false, .zip64End = false}));
    write(dir, "plain_one", zipArchive({{"a", "b"}}, {.torch = false, .zip64End = false}));
    write(dir, "empty", zipArchive({}, {.torch = false, .zip64End = false}));
    write(dir, "empty_zip64", zipArchive({}, {}));
    const auto fixture = [](const unsigned char* bytes, size_t size) {
        return std::string(reinterpret_cast<const char*>(bytes), size);
    };
    write(dir, "python_plain",
          fixture(zip_fixtures::kPythonPlain, sizeof zip_fixtures::kPythonPlain));
    write(dir, "python_forced_zip64",
          fixture(zip_fixtures::kPythonForcedZip64, sizeof zip_fixtures::kPythonForcedZip64));
    write(dir, "python_streamed",
          fixture(zip_fixtures::kPythonStreamed, sizeof zip_fixtures::kPythonStreamed));
    write(dir, "python_zip64_records",
          fixture(zip_fixtures::kPythonZip64Records, sizeof zip_fixtures::kPythonZip64Records));
    write(dir, "python_commented",
          fixture(zip_fixtures::kPythonCommented, sizeof zip_fixtures::kPythonCommented));
    // Near-valid: compressed, encrypted, and a local header that is not there.
    std::string bad = zipArchive(records, {});
    const size_t central = bad.find("PK\x01\x02");
    std::string compressed = bad, encrypted = bad, noLocal = bad;
    compressed[central + 10] = 8;
    encrypted[central + 8] = 9;
    noLocal[0] = 'Q';
    write(dir, "bad_compressed", compressed);
    write(dir, "bad_encrypted", encrypted);
    write(dir, "bad_no_local_header", noLocal);
}

void pickleSeeds(const fs::path& dir) {
    // Pickles CPython wrote (tests/make_pickle_vectors.py prints them), copied here as bytes.
    const std::pair<const char*, std::string_view> seeds[] = {
        // metadata() (the DCP stand-ins), protocol 4
        {"valid_dcp_metadata_p4",
         "\x80\x04\x95\x82\x03\x00\x00\x00\x00\x00\x00\x8c%torch.distributed.checkpoint.metadata"
         "\x94\x8c\x08Metadata\x94\x93\x94)\x81\x94}\x94(\x8c\x13state_dict_metadata\x94}\x94("
         "\x8c\x01w\x94h\x00\x8c\x15TensorStorageMetadata\x94\x93\x94)\x81\x94}\x94(\x8c\nproper"
         "ties\x94\x8c\x30torch.distributed._shard.sharded_tensor.metadata\x94\x8c\x10TensorProp"
         "erties\x94\x93\x94)\x81\x94(\x8c\x05torch\x94\x8c\x07\x66loat32\x94\x93\x94\x8c\x13tor"
         "ch.serialization\x94\x8c\x0b_get_layout\x94\x93\x94\x8c\x0dtorch.strided\x94\x85\x94R"
         "\x94\x89\x8c\x08\x62uiltins\x94\x8c\x07getattr\x94\x93\x94h\x0d\x8c\x13MEM_FORMAT_ENCO"
         "DING\x94\x93\x94\x8c\x17TORCH_CONTIGUOUS_FORMAT\x94\x86\x94R\x94\x89t\x94\x62\x8c\x04s"
         "ize\x94h\x11\x8c\x04Size\x94\x93\x94K\x04K\x04\x86\x94\x85\x94R\x94\x8c\x06\x63hunks"
         "\x94]\x94(h\x00\x8c\x14\x43hunkStorageMetadata\x94\x93\x94)\x81\x94}\x94(\x8c\x07offse"
         "ts\x94h%K\x02K\x00\x86\x94\x85\x94R\x94\x8c\x05sizes\x94h%K\x02K\x04\x86\x94\x85\x94R"
         "\x94ubh,)\x81\x94}\x94(h/h%K\x00K\x00\x86\x94\x85\x94R\x94h3h%K\x02K\x04\x86\x94\x85"
         "\x94R\x94ubeub\x8c\x04step\x94h\x00\x8c\x14\x42ytesStorageMetadata\x94\x93\x94)\x81"
         "\x94u\x8c\x0cplanner_data\x94N\x8c\x0cstorage_data\x94}\x94(h\x00\x8c\x0dMetadataIndex"
         "\x94\x93\x94)\x81\x94}\x94(\x8c\x03\x66qn\x94h\x07\x8c\x06offset\x94h%K\x02K\x00\x86"
         "\x94\x85\x94R\x94\x8c\x05index\x94K\x00ub\x8c'torch.distributed.checkpoint.filesystem"
         "\x94\x8c\x0c_StorageInfo\x94\x93\x94)\x81\x94}\x94(\x8c\x0drelative_path\x94\x8c\x0c__"
         "1_0.distcp\x94hKK\x00\x8c\x06length\x94M\xe8\x03ubhG)\x81\x94}\x94(hJh\x07hKh%K\x00K"
         "\x00\x86\x94\x85\x94R\x94hOK\x01ubhR)\x81\x94}\x94(hU\x8c\x0c__0_0.distcp\x94hKK@hWM"
         "\xe8\x03ubhG)\x81\x94}\x94(hJh\x3fhKNhONubhR)\x81\x94}\x94(hUh_hKK\x00hWK@ubuub."sv},
        // metadata() (the DCP stand-ins), protocol 2
        {"valid_dcp_metadata_p2",
         "\x80\x02\x63torch.distributed.checkpoint.metadata\nMetadata\nq\x00)\x81q\x01}q\x02(X"
         "\x13\x00\x00\x00state_dict_metadataq\x03}q\x04(X\x01\x00\x00\x00wq\x05\x63torch.distri"
         "buted.checkpoint.metadata\nTensorStorageMetadata\nq\x06)\x81q\x07}q\x08(X\n\x00\x00"
         "\x00propertiesq\x09\x63torch.distributed._shard.sharded_tensor.metadata\nTensorPropert"
         "ies\nq\n)\x81q\x0b(ctorch\nfloat32\nq\x0c\x63torch.serialization\n_get_layout\nq\x0dX"
         "\x0d\x00\x00\x00torch.stridedq\x0e\x85q\x0fRq\x10\x89\x63__builtin__\ngetattr\nq\x11"
         "\x63torch.distributed._shard.sharded_tensor.metadata\nMEM_FORMAT_ENCODING\nq\x12X\x17"
         "\x00\x00\x00TORCH_CONTIGUOUS_FORMATq\x13\x86q\x14Rq\x15\x89tq\x16\x62X\x04\x00\x00\x00"
         "sizeq\x17\x63torch\nSize\nq\x18K\x04K\x04\x86q\x19\x85q\x1aRq\x1bX\x06\x00\x00\x00\x63"
         "hunksq\x1c]q\x1d(ctorch.distributed.checkpoint.metadata\nChunkStorageMetadata\nq\x1e)"
         "\x81q\x1f}q (X\x07\x00\x00\x00offsetsq!h\x18K\x02K\x00\x86q\"\x85q#Rq$X\x05\x00\x00"
         "\x00sizesq%h\x18K\x02K\x04\x86q&\x85q'Rq(ubh\x1e)\x81q)}q*(h!h\x18K\x00K\x00\x86q+\x85"
         "q,Rq-h%h\x18K\x02K\x04\x86q.\x85q/Rq0ubeubX\x04\x00\x00\x00stepq1ctorch.distributed.ch"
         "eckpoint.metadata\nBytesStorageMetadata\nq2)\x81q3uX\x0c\x00\x00\x00planner_dataq4NX"
         "\x0c\x00\x00\x00storage_dataq5}q6(ctorch.distributed.checkpoint.metadata\nMetadataInde"
         "x\nq7)\x81q8}q9(X\x03\x00\x00\x00\x66qnq:h\x05X\x06\x00\x00\x00offsetq;h\x18K\x02K\x00"
         "\x86q<\x85q=Rq>X\x05\x00\x00\x00indexq\x3fK\x00ubctorch.distributed.checkpoint.filesys"
         "tem\n_StorageInfo\nq@)\x81qA}qB(X\x0d\x00\x00\x00relative_pathqCX\x0c\x00\x00\x00__1_0"
         ".distcpqDh;K\x00X\x06\x00\x00\x00lengthqEM\xe8\x03ubh7)\x81qF}qG(h:h\x05h;h\x18K\x00K"
         "\x00\x86qH\x85qIRqJh\x3fK\x01ubh@)\x81qK}qL(hCX\x0c\x00\x00\x00__0_0.distcpqMh;K@hEM"
         "\xe8\x03ubh7)\x81qN}qO(h:h1h;Nh\x3fNubh@)\x81qP}qQ(hChMh;K\x00hEK@ubuub."sv},
        // Tensor() with storage Storage() via TorchPickler (torch.save's data.pkl), protocol 2
        {"valid_torch_data_pkl_p2",
         "\x80\x02\x63torch._utils\n_rebuild_tensor_v2\nq\x00((X\x07\x00\x00\x00storageq\x01\x63"
         "torch\nFloatStorage\nq\x02X\x01\x00\x00\x00\x30q\x03X\x03\x00\x00\x00\x63puq\x04K\x06t"
         "q\x05QK\x00K\x02K\x03\x86q\x06K\x03K\x01\x86q\x07\x89\x63\x63ollections\nOrderedDict\n"
         "q\x08)Rq\x09tq\nRq\x0b."sv},
        // [Storage(), 1] via TextPickler (persistent_id -> 'storage-0'), protocol 0
        {"valid_persid_p0", "(lp0\nPstorage-0\naI1\na."sv},
        // l = []; l.append(l); l, protocol 4
        {"valid_self_list_p4", "\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94h\x00\x61."sv},
        // l = []; t = (l,); l.append(t); t (POP pops the MARK), protocol 0
        {"valid_recursive_tuple_p0", "((lp0\n(g0\ntp1\na00g1\n."sv},
        // l = []; t = (l,); l.append(t); t (POP_MARK), protocol 1
        {"valid_recursive_tuple_p1", "(]q\x00(h\x00tq\x01\x61\x31h\x01."sv},
        // Keyword(1, k=2) (__getnewargs_ex__), protocol 4
        {"valid_newobj_ex_p4",
         "\x80\x04\x95S\x00\x00\x00\x00\x00\x00\x00\x8c%torch.distributed.checkpoint.metadata"
         "\x94\x8c\x07Keyword\x94\x93\x94K\x01\x85\x94}\x94\x8c\x01k\x94K\x02s\x92\x94}\x94(\x8c"
         "\x01\x61\x94K\x01h\x05K\x02ub."sv},
        // Items([1, 2]), protocol 4
        {"valid_list_subclass_p4",
         "\x80\x04\x95<\x00\x00\x00\x00\x00\x00\x00\x8c%torch.distributed.checkpoint.metadata"
         "\x94\x8c\x05Items\x94\x93\x94)\x81\x94(K\x01K\x02\x65."sv},
        // OrderedDict([('a', 1), ('b', 2)]), protocol 2
        {"valid_ordered_dict_p2",
         "\x80\x02\x63\x63ollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00\x61q\x02K\x01X"
         "\x01\x00\x00\x00\x62q\x03K\x02u."sv},
        // bytearray(b'ba'), protocol 5
        {"valid_bytearray_p5",
         "\x80\x05\x95\x0d\x00\x00\x00\x00\x00\x00\x00\x96\x02\x00\x00\x00\x00\x00\x00\x00\x62"
         "\x61\x94."sv},
        // [{1, 2}, frozenset({3}), set()], protocol 4
        {"valid_sets_p4",
         "\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00]\x94(\x8f\x94(K\x01K\x02\x90(K\x03\x91"
         "\x94\x8f\x94\x65."sv},
        // _MEM_FORMAT_ENCODING.TORCH_CHANNELS_LAST, protocol 4
        {"valid_enum_p4",
         "\x80\x04\x95H\x00\x00\x00\x00\x00\x00\x00\x8c%torch.distributed.checkpoint.metadata"
         "\x94\x8c\x14_MEM_FORMAT_ENCODING\x94\x93\x94K\x01\x85\x94R\x94."sv},
        // Python 2.7: ['ab\n\'"\x00\xff', u'caf\xe9', 1 << 70], protocol 0
        {"valid_py2_strings_p0",
         "(lp0\nS'ab\\n\\'\"\\x00\\xff'\np1\naVcaf\xe9\np2\naL1180591620717411303424L\na."sv},
        // Python 2.7: C() with __getinitargs__ (1, 2) and x = 1 (old-style class), protocol 0
        {"valid_py2_inst_p0", "(I1\nI2\ni__main__\nC\np1\n(dp2\nS'x'\np3\nI1\nsb."sv},
        // Python 2.7: C() with __getinitargs__ (1, 2) and x = 1 (old-style class), protocol 1
        {"valid_py2_obj_p1", "(c__main__\nC\nq\x01K\x01K\x02oq\x02}q\x03U\x01xq\x04K\x01sb."sv},
        // nested containers (tst_pickle's kNestedRepr), protocol 0
        {"valid_containers_p0",
         "(dp0\nVt\np1\n(I1\n(I2\nI3\ntp2\n(t(I4\nI5\nI6\nI7\ntp3\ntp4\nsVl\np5\n(lp6\nI1\na(lp7"
         "\nI2\naa(lp8\nasVd\np9\n(dp10\nVa\np11\nNssVe\np12\n(dp13\nsVb\np14\n(lp15\nI01\naI00"
         "\nas."sv},
        // nested containers (tst_pickle's kNestedRepr), protocol 1
        {"valid_containers_p1",
         "}q\x00(X\x01\x00\x00\x00tq\x01(K\x01(K\x02K\x03tq\x02)(K\x04K\x05K\x06K\x07tq\x03tq"
         "\x04X\x01\x00\x00\x00lq\x05]q\x06(K\x01]q\x07K\x02\x61]q\x08\x65X\x01\x00\x00\x00\x64q"
         "\x09}q\nX\x01\x00\x00\x00\x61q\x0bNsX\x01\x00\x00\x00\x65q\x0c}q\x0dX\x01\x00\x00\x00"
         "\x62q\x0e]q\x0f(I01\nI00\neu."sv},
        // nested containers (tst_pickle's kNestedRepr), protocol 5
        {"valid_containers_p5",
         "\x80\x05\x95M\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01t\x94(K\x01K\x02K\x03\x86\x94)("
         "K\x04K\x05K\x06K\x07t\x94t\x94\x8c\x01l\x94]\x94(K\x01]\x94K\x02\x61]\x94\x65\x8c\x01"
         "\x64\x94}\x94\x8c\x01\x61\x94Ns\x8c\x01\x65\x94}\x94\x8c\x01\x62\x94]\x94(\x88\x89\x65"
         "u."sv},
        // Hand-written: every integer and string width, text opcodes, and broken inputs.
        {"valid_ints_p2", "\x80\x02(K\x01M\x00\x01J\xff\xff\xff\xff\x8a\x05\x00\x00\x00\x00\x80"
                          "\x8b\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80"
                          "\x88\x89NG?\xf8\x00\x00\x00\x00\x00\x00l."sv},
        {"valid_text_p0", "(I01\nI-7\nL99999999999999999999L\nF1.5\nS'a\\n\\x41'\nVcaf\\u00e9\n"
                          "p0\ng0\nccollections\nOrderedDict\n)Rt."sv},
        {"valid_sized_p4",
         "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00(C\x02hiB\x01\x00\x00\x00x"
         "\x8e\x01\x00\x00\x00\x00\x00\x00\x00y\x8d\x01\x00\x00\x00\x00\x00\x00\x00z"
         "\x96\x00\x00\x00\x00\x00\x00\x00\x00U\x01sT\x01\x00\x00\x00t\x94\x94h\x00"
         "j\x01\x00\x00\x00r\x05\x00\x00\x00\x32\x30t."sv},
        {"bad_unknown_opcode", "\x80\x02K\x01\xff."sv},
        {"bad_truncated_string", "\x80\x04X\xff\xff\xff\xff\x61\x62\x63"sv},
        {"bad_memo_index", "\x80\x02K\x01r\xff\xff\xff\x7f."sv},
        {"bad_ext_and_buffers", "\x80\x05\x82\x01\x97\x98."sv},
        {"bad_two_values", "\x80\x02K\x01K\x02."sv},
    };
    for (const auto& [name, bytes] : seeds)
        write(dir, name, std::string(bytes));
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds OUTDIR\n");
        return 2;
    }
    const fs::path out = argv[1];
    const std::pair<const char*, void (*)(const fs::path&)> targets[] = {
        {"fuzz_header", headerSeeds},
        {"fuzz_scan", scanSeeds},
        {"fuzz_mapping", mappingSeeds},
        {"fuzz_sharding_info", shardingInfoSeeds},
        {"fuzz_zip", zipSeeds},
        {"fuzz_pickle", pickleSeeds},
    };
    for (const auto& [name, make] : targets) {
        fs::create_directories(out / name);
        make(out / name);
    }
    return 0;
}
