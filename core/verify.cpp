// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "verify.h"

#include "bounded_json.h"
#include "dtype_cast.h"
#include "export_rules.h"
#include "output_set.h"
#include "pieces.h"
#include "plan.h"
#include "posix_file.h"
#include "runs.h"
#include "safetensors_reader.h"
#include "stored_chunk.h"
#include "tensor_reader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
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
                         const std::vector<PosixFile>& sources, const PosixFile& out, uint64_t base,
                         const std::string& outName, std::stop_token stop, VerifyReport& report) {
    std::vector<char> written;
    for (const Chunk& chunk : t.chunks) {
        if (!chunk.stored) continue;
        if (stop.stop_requested()) throw Cancelled();
        const std::vector<char> bytes =
            decodeStoredChunk(ckpt, t, chunk, sources[chunk.file], stop);
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

// What the export made of each source tensor: recomputed from the rules it recorded in the
// index, or a plain export's when it recorded none.
std::optional<ExportSelection> recordedSelection(const nlohmann::json& metadata,
                                                 const Checkpoint& against,
                                                 const fs::path& indexPath, VerifyReport& report) {
    auto it = metadata.find(kExportRecordKey);
    if (it == metadata.end()) return plainExportSelection(against, false);
    try {
        ExportSelection selection =
            selectForExport(against, exportRulesFromJson(it->dump(), indexPath.string()));
        bool applies = true;
        for (const auto& p : selection.problems)
            if (p.severity == Severity::Error) {
                applies = false;
                report.problems.push_back({Severity::Error, indexPath.string(), p.tensor,
                                           "the recorded export rules do not apply to these "
                                           "shards: " +
                                               p.message,
                                           ErrorKind::VerifyFailed});
            }
        if (applies) return selection;
    } catch (const Error& e) {
        report.problems.push_back(
            {Severity::Error, indexPath.string(), "", e.message(), ErrorKind::VerifyFailed});
    }
    return std::nullopt;
}

// Every chunk, replicas included, must sit byte for byte where the layout puts it; a cast
// tensor must hold the cast of the shards' values.
class ShardComparison {
public:
    ShardComparison(const fs::path& outDir, const Checkpoint& against,
                    const ExportSelection& selection,
                    const std::map<std::string, OutputTensor>& outputs, std::stop_token stop,
                    const std::function<void(uint64_t, uint64_t)>& progress, VerifyReport& report,
                    const VerifyShare* share)
        : m_outDir(outDir), m_ckpt(against), m_selection(selection), m_outputs(outputs),
          m_stop(std::move(stop)), m_progress(progress), m_report(report), m_share(share),
          m_totalBytes(against.totalBytes()) {
        for (const auto& f : against.files)
            m_sources.push_back(PosixFile::openRead(f.path));
    }

    void run() {
        std::set<std::string_view> exported; // every name the shards' tensors go out under
        for (size_t i = 0; i < m_ckpt.tensors.size(); ++i) {
            if (m_stop.stop_requested()) throw Cancelled();
            compareTensor(m_ckpt.tensors[i], m_selection.tensors[i]);
            exported.insert(m_selection.tensors[i].name);
        }
        // The output of other shards, or of an older export, would otherwise pass unnoticed.
        for (const auto& [name, o] : m_outputs)
            if (!exported.count(name) && (!m_share || m_share->files.count(o.file)))
                error(o.file, name, "in the output but in none of the shards");
    }

private:
    void error(const std::string& file, const std::string& tensor, const std::string& message) {
        m_report.problems.push_back(
            {Severity::Error, file, tensor, message, ErrorKind::VerifyFailed});
    }

    void compareTensor(const TensorInfo& t, const TensorExport& x) {
        auto it = m_outputs.find(x.name);
        if (m_share) { // another rank compares the other files; rank 0 reports what is absent
            const bool found = it != m_outputs.end();
            if (found ? !m_share->files.count(it->second.file) : !m_share->wholeDirectory) return;
        }
        if (x.excluded) {
            // Training state is exported only on request; anything else left out must be absent.
            if (!x.byDefault && it != m_outputs.end())
                error(it->second.file, t.fqn,
                      "left out by the export's rules (" + x.reason + ") but present as " + x.name);
            if (x.byDefault && it != m_outputs.end()) compareWritten(t, x, it->second);
            return;
        }
        if (it == m_outputs.end()) {
            error("", t.fqn, "in the shards but in no output file");
            return;
        }
        compareWritten(t, x, it->second);
    }

    void compareWritten(const TensorInfo& t, const TensorExport& x, const OutputTensor& o) {
        if (o.entry.dtype != x.dtype || o.entry.shape != t.shape) {
            error(o.file, t.fqn,
                  "is " + std::string(dtypeName(o.entry.dtype)) + " " + formatShape(o.entry.shape) +
                      " but the export should have written " + std::string(dtypeName(x.dtype)) +
                      " " + formatShape(t.shape));
            return;
        }
        auto [fileIt, inserted] = m_outFiles.try_emplace(o.file);
        if (inserted) fileIt->second = PosixFile::openRead(m_outDir / o.file);
        const uint64_t base = o.dataStart + o.entry.begin;
        if (x.dtype != t.dtype) {
            ++m_report.castTensors;
            compareCast(t, x.dtype, fileIt->second, base, o.file);
            return;
        }
        if (comparePlain(t, fileIt->second, base, o.file))
            compareStoredChunks(m_ckpt, t, m_sources, fileIt->second, base, o.file, m_stop,
                                m_report);
    }

    bool comparePlain(const TensorInfo& t, const PosixFile& out, uint64_t base,
                      const std::string& outName) {
        bool mismatch = false;
        for (uint64_t from = 0; from < t.bytes && !mismatch; from += kWindow) {
            if (m_stop.stop_requested()) throw Cancelled();
            const uint64_t to = std::min(t.bytes, from + kWindow);
            m_window.resize(to - from);
            out.readExact(m_window.data(), to - from, base + from);
            m_pieces.clear();
            collectPieces(t, from, to, 0, true, m_pieces);
            readPieces(m_pieces, m_sources, m_scratch, [&](const Piece& p, const char* bytes) {
                if (!mismatch &&
                    std::memcmp(m_window.data() + (p.dst - from), bytes, p.length) != 0) {
                    mismatch = true;
                    error(outName, t.fqn,
                          "bytes at " + std::to_string(p.dst) + ".." +
                              std::to_string(p.dst + p.length) + " differ from " +
                              m_ckpt.files[p.file].name);
                }
                m_report.bytesCompared += p.length;
            });
            advance(to - from);
        }
        return !mismatch;
    }

    // The source values, assembled by a reader, cast again and compared with what was written.
    void compareCast(const TensorInfo& t, DType to, const PosixFile& out, uint64_t base,
                     const std::string& outName) {
        if (!m_reader) m_reader = std::make_unique<TensorReader>(m_ckpt);
        const uint64_t inBytes = dtypeBits(t.dtype) / 8, outBytes = dtypeBits(to) / 8;
        const uint64_t elements = t.bytes / inBytes, step = kWindow / inBytes;
        for (uint64_t e0 = 0; e0 < elements; e0 += step) {
            if (m_stop.stop_requested()) throw Cancelled();
            const uint64_t e1 = std::min(elements, e0 + step);
            m_source.resize((e1 - e0) * inBytes);
            m_expected.resize((e1 - e0) * outBytes);
            m_window.resize((e1 - e0) * outBytes);
            m_reader->read(t, e0 * inBytes, e1 * inBytes, m_source.data(), m_readScratch, m_stop);
            CastCounts counts;
            castElements(t.dtype, to, m_source.data(), m_expected.data(), e1 - e0, counts);
            out.readExact(m_window.data(), m_window.size(), base + e0 * outBytes);
            if (std::memcmp(m_window.data(), m_expected.data(), m_window.size()) != 0) {
                error(outName, t.fqn,
                      "elements " + std::to_string(e0) + ".." + std::to_string(e1) +
                          " differ from the shards' values cast to " + std::string(dtypeName(to)));
                return;
            }
            m_report.bytesCompared += m_source.size();
            advance(m_source.size());
        }
    }

    void advance(uint64_t bytes) {
        m_done += bytes;
        if (m_progress) m_progress(m_done, m_totalBytes);
    }

    static constexpr uint64_t kWindow = 16 << 20;
    const fs::path& m_outDir;
    const Checkpoint& m_ckpt;
    const ExportSelection& m_selection;
    const std::map<std::string, OutputTensor>& m_outputs;
    std::stop_token m_stop;
    const std::function<void(uint64_t, uint64_t)>& m_progress;
    VerifyReport& m_report;
    const VerifyShare* m_share;
    const uint64_t m_totalBytes;
    uint64_t m_done = 0;
    std::vector<PosixFile> m_sources;
    std::map<std::string, PosixFile> m_outFiles;
    std::unique_ptr<TensorReader> m_reader;
    TensorReader::Scratch m_readScratch;
    std::vector<char> m_window, m_scratch = std::vector<char>(kWindow), m_source, m_expected;
    std::vector<Piece> m_pieces;
};

} // namespace

namespace {

// verifyOutput's work; `structural` ends as the number of problems found before the bytes were
// compared (the checks of the index and layout).
VerifyReport verifyDirectory(const fs::path& outDir, const Checkpoint* against,
                             std::stop_token stop,
                             const std::function<void(uint64_t, uint64_t)>& progress,
                             const VerifyShare* share, size_t& structural) {
    VerifyReport report;
    structural = SIZE_MAX;
    auto error = [&](const std::string& file, const std::string& tensor, const std::string& m) {
        report.problems.push_back({Severity::Error, file, tensor, m, ErrorKind::VerifyFailed});
    };
    // An export is a folder: a file or a missing path is said as such, not as a missing index
    // inside it ("model.safetensors/model.safetensors.index.json: missing").
    std::error_code typeError;
    const fs::file_type type = fs::status(outDir, typeError).type();
    if (type != fs::file_type::directory) {
        error(outDir.string(), "",
              type == fs::file_type::not_found ? "no such directory"
                                               : "not a directory: verify checks an export's "
                                                 "folder");
        return report;
    }
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
            error(indexPath.string(), "", "not valid JSON: " + jsonErrorText(e));
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
    const auto selection = recordedSelection(index["metadata"], *against, indexPath, report);
    structural = report.problems.size();
    if (selection)
        ShardComparison(outDir, *against, *selection, outputs, stop, progress, report, share).run();
    return report;
}

} // namespace

VerifyReport verifyOutput(const fs::path& outDir, const Checkpoint* against, std::stop_token stop,
                          const std::function<void(uint64_t, uint64_t)>& progress,
                          const VerifyShare* share) {
    size_t structural = SIZE_MAX;
    VerifyReport report = verifyDirectory(outDir, against, stop, progress, share, structural);
    if (share && !share->wholeDirectory) // rank 0 reports those
        report.problems.erase(report.problems.begin(),
                              report.problems.begin() +
                                  std::ptrdiff_t(std::min(structural, report.problems.size())));
    return report;
}

} // namespace shardscope
