// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "verify.h"

#include "bounded_json.h"
#include "output_set.h"
#include "pieces.h"
#include "plan.h"
#include "posix_file.h"
#include "runs.h"
#include "safetensors_reader.h"
#include "stored_chunk.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace shardscope {

bool VerifyReport::ok() const {
    return std::none_of(problems.begin(), problems.end(),
                        [](const Problem& p) { return p.severity == Severity::Error; });
}

namespace {

// An index lists every tensor once; even a million tensors stay far below this.
constexpr uint64_t kMaxIndexBytes = 512ull << 20;

struct OutputTensor {
    std::string file;
    uint64_t dataStart = 0;
    TensorEntry entry;
};

void checkLayout(const SafetensorsHeader& h, const std::string& name, VerifyReport& report) {
    auto problem = [&](const std::string& tensor, const std::string& message) {
        report.problems.push_back(
            {Severity::Error, name, tensor, message, ErrorKind::VerifyFailed});
    };
    if (h.dataStart() % 8 != 0) problem("", "header is not padded to a multiple of 8 bytes");
    if (!h.hasMetadata || h.metadata != std::map<std::string, std::string>{{"format", "pt"}})
        problem("", "__metadata__ is not {\"format\":\"pt\"}");
    uint64_t expected = 0;
    for (size_t i = 0; i < h.tensors.size(); ++i) {
        const TensorEntry& t = h.tensors[i];
        if (t.begin != expected) problem(t.name, "not laid out back to back in header order");
        expected = t.end;
        const unsigned bits = dtypeBits(t.dtype);
        if ((bits >= 8 && t.begin % (bits / 8) != 0))
            problem(t.name, "not aligned to its element size");
        if (i > 0) {
            const TensorEntry& p = h.tensors[i - 1];
            unsigned pb = dtypeBits(p.dtype);
            if (pb < bits || (pb == bits && !(p.name < t.name)))
                problem(t.name, "out of order (widest dtype first, then name)");
        }
    }
}

// A run killed while writing or publishing leaves its staging directory; the next consolidate
// into the directory completes or removes it. Say so, since the directory is not final yet.
void reportInterruptedRuns(const fs::path& outDir, VerifyReport& report) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(outDir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind(kStagingPrefix, 0) != 0 && name.rfind(kAsidePrefix, 0) != 0) continue;
        report.problems.push_back(
            {Severity::Warning, name, "",
             "left by an interrupted ShardScope run; the next consolidate into this directory "
             "completes its publishing or removes it",
             ErrorKind::VerifyFailed});
    }
}

// Chunks a DCP item holds strided or compressed are decoded and compared run by run.
void compareStoredChunks(const Checkpoint& ckpt, const TensorInfo& t,
                         const std::vector<PosixFile>& sources, const PosixFile& out,
                         uint64_t base, const std::string& outName, std::stop_token stop,
                         VerifyReport& report) {
    std::vector<char> written;
    for (const Chunk& chunk : t.chunks) {
        if (!chunk.stored) continue;
        if (stop.stop_requested()) throw Cancelled();
        const std::vector<char> bytes = decodeStoredChunk(ckpt, t, chunk, sources[chunk.file], stop);
        ChunkRuns runs(t.shape, chunk.offsets, chunk.shape, dtypeBits(t.dtype));
        const uint64_t runBytes = runs.runBytes();
        written.resize(runBytes);
        for (uint64_t r = 0; r < runs.count() && runBytes; ++r) {
            out.readExact(written.data(), runBytes, base + runs.dstByte(r));
            if (std::memcmp(written.data(), bytes.data() + r * runBytes, runBytes) != 0) {
                report.problems.push_back(
                    {Severity::Error, outName, t.fqn,
                     "bytes at " + std::to_string(runs.dstByte(r)) + ".." +
                         std::to_string(runs.dstByte(r) + runBytes) + " differ from the chunk at " +
                         formatShape(chunk.offsets) + " in " + ckpt.files[chunk.file].name,
                     ErrorKind::VerifyFailed});
                return;
            }
            report.bytesCompared += runBytes;
        }
    }
}

} // namespace

VerifyReport verifyOutput(const fs::path& outDir, const Checkpoint* against, std::stop_token stop,
                          const std::function<void(uint64_t, uint64_t)>& progress) {
    VerifyReport report;
    auto error = [&](const std::string& file, const std::string& tensor, const std::string& m) {
        report.problems.push_back({Severity::Error, file, tensor, m, ErrorKind::VerifyFailed});
    };
    reportInterruptedRuns(outDir, report);
    const fs::path indexPath = outDir / kIndexFileName;
    nlohmann::json index;
    {
        std::string text;
        try {
            text = readSmallFile(indexPath, kMaxIndexBytes, "the index");
        } catch (const Error& e) {
            const bool missing = !fs::exists(fs::symlink_status(indexPath));
            error(indexPath.string(), "",
                  missing ? "missing: the output is not complete" : e.message());
            return report;
        }
        try {
            index = parseBoundedJson(text);
        } catch (const nlohmann::json::exception& e) {
            error(indexPath.string(), "", std::string("not valid JSON: ") + e.what());
            return report;
        }
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object() ||
        !index.contains("metadata") || !index["metadata"].is_object() ||
        !index["metadata"].contains("total_size") ||
        !index["metadata"]["total_size"].is_number_unsigned()) {
        error(indexPath.string(), "",
              "must hold {\"metadata\": {\"total_size\": N}, \"weight_map\": {...}}");
        return report;
    }
    std::map<std::string, std::string> weightMap;
    for (const auto& [fqn, file] : index["weight_map"].items()) {
        if (!file.is_string()) {
            error(indexPath.string(), fqn, "weight_map value is not a file name");
            continue;
        }
        weightMap[fqn] = file.get<std::string>();
    }

    std::map<std::string, SafetensorsHeader> headers;
    for (const auto& [fqn, file] : weightMap) {
        if (headers.count(file)) continue;
        if (file.find('/') != std::string::npos || file.empty() || file[0] == '.') {
            error(indexPath.string(), fqn, "weight_map names an odd file \"" + file + "\"");
            headers[file] = {};
            continue;
        }
        try {
            headers[file] = readSafetensorsHeader(outDir / file);
            checkLayout(headers[file], file, report);
            ++report.files;
        } catch (const Error& e) {
            report.problems.push_back(
                {Severity::Error, file, e.tensor(), e.message(), ErrorKind::VerifyFailed});
            headers[file] = {};
        }
    }

    std::map<std::string, OutputTensor> outputs;
    uint64_t total = 0;
    for (const auto& [file, h] : headers) {
        for (const auto& t : h.tensors) {
            auto it = weightMap.find(t.name);
            if (it == weightMap.end())
                error(file, t.name, "in the file but not in the index");
            else if (it->second != file)
                error(file, t.name, "in this file but the index says " + it->second);
            outputs[t.name] = {file, h.dataStart(), t};
            total += t.end - t.begin;
        }
    }
    for (const auto& [fqn, file] : weightMap)
        if (!outputs.count(fqn) && !headers[file].path.empty())
            error(file, fqn, "listed in the index but not in the file");
    report.tensors = outputs.size();
    if (total != index["metadata"]["total_size"].get<uint64_t>())
        error(indexPath.string(), "",
              "total_size is " + std::to_string(index["metadata"]["total_size"].get<uint64_t>()) +
                  " but the tensors hold " + std::to_string(total) + " bytes");
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(outDir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("model-", 0) == 0 && entry.path().extension() == ".safetensors" &&
            !headers.count(name))
            error(name, "", "a model file the index does not mention (left from another run?)");
    }
    if (!against) return report;

    // Every chunk, replicas included, must sit byte for byte where the layout puts it.
    std::vector<PosixFile> sources;
    for (const auto& f : against->files)
        sources.push_back(PosixFile::openRead(f.path));
    std::map<std::string, PosixFile> outFiles;
    const uint64_t totalBytes = against->totalBytes();
    uint64_t done = 0;
    constexpr uint64_t kWindow = 16 << 20;
    std::vector<char> window, scratch(kWindow);
    std::vector<Piece> pieces;
    for (const TensorInfo& t : against->tensors) {
        if (stop.stop_requested()) throw Cancelled();
        auto it = outputs.find(t.exportName());
        if (it == outputs.end()) {
            if (t.kind != TensorKind::Model) continue; // training state is exported only on request
            error("", t.fqn, "in the shards but in no output file");
            continue;
        }
        const OutputTensor& o = it->second;
        if (o.entry.dtype != t.dtype || o.entry.shape != t.shape) {
            error(o.file, t.fqn,
                  "is " + std::string(dtypeName(o.entry.dtype)) + " " + formatShape(o.entry.shape) +
                      " but the shards hold " + std::string(dtypeName(t.dtype)) + " " +
                      formatShape(t.shape));
            continue;
        }
        auto [fileIt, inserted] = outFiles.try_emplace(o.file);
        if (inserted) fileIt->second = PosixFile::openRead(outDir / o.file);
        const uint64_t base = o.dataStart + o.entry.begin;
        bool mismatch = false;
        for (uint64_t from = 0; from < t.bytes && !mismatch; from += kWindow) {
            if (stop.stop_requested()) throw Cancelled();
            const uint64_t to = std::min(t.bytes, from + kWindow);
            window.resize(to - from);
            fileIt->second.readExact(window.data(), to - from, base + from);
            pieces.clear();
            collectPieces(t, from, to, 0, true, pieces);
            readPieces(pieces, sources, scratch, [&](const Piece& p, const char* bytes) {
                if (!mismatch &&
                    std::memcmp(window.data() + (p.dst - from), bytes, p.length) != 0) {
                    mismatch = true;
                    error(o.file, t.fqn,
                          "bytes at " + std::to_string(p.dst) + ".." +
                              std::to_string(p.dst + p.length) + " differ from " +
                              against->files[p.file].name);
                }
                report.bytesCompared += p.length;
            });
            done += to - from;
            if (progress) progress(done, totalBytes);
        }
        if (!mismatch)
            compareStoredChunks(*against, t, sources, fileIt->second, base, o.file, stop, report);
    }
    return report;
}

} // namespace shardscope
