// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "cli.h"
#include "cli_export.h"
#include "cli_values.h"
#include "mpi_launch.h"

#include "checkpoint.h"
#include "coordinator.h"
#include "demo.h"
#include "engine.h"
#include "fault.h"
#include "format_units.h"
#include "parallel.h"
#include "plan.h"
#include "posix_file.h"
#include "rank_assignment.h"
#include "safetensors_writer.h"
#include "signal_stop.h"
#include "verify.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#ifndef SHARDSCOPE_VERSION
#define SHARDSCOPE_VERSION "unknown"
#endif

namespace fs = std::filesystem;

namespace shardscope {
namespace {

constexpr int kOk = 0, kFailed = 1, kUsage = 2;

// One struct per command: what its options and arguments say, checked by the parser.
struct InspectOptions {
    std::string dir;
    std::string mapping; // empty: the checkpoint's own mapping
    std::string unmapped = "error";
    bool json = false;
    bool includeTrainingState = false;
};

struct ConsolidateOptions {
    std::string in, out;
    std::string mapping;
    std::string unmapped = "error";
    std::string hfAssets; // an HF model folder whose config and tokenizer files are copied
    int threads = 0;      // 0: one per core
    bool overwrite = false, verify = false, sync = false, quiet = false;
    bool includeTrainingState = false;
    bool distributed = false;
    ExportRuleOptions rules;
};

struct VerifyOptions {
    std::string out;
    std::string against; // empty: check OUT on its own
    bool distributed = false;
};

struct DemoOptions {
    std::string dir;
    bool valueFaults = false;
};

UnmappedPolicy policyOf(const std::string& unmapped) {
    return unmapped == "last" ? UnmappedPolicy::LastFile : UnmappedPolicy::Error;
}

Mapping mappingOf(const std::string& file, const Checkpoint& ckpt, bool includeTrainingState) {
    return file.empty() ? defaultMapping(ckpt, includeTrainingState) : loadMapping(file);
}

Checkpoint scan(const std::string& dir, std::stop_token stop) {
    ScanOptions options;
    options.stop = stop;
    return scanCheckpoint(dir, options);
}

std::string mappingSource(const Mapping& m) {
    if (m.fileIndex.empty()) return "none (every tensor in one file)";
    if (m.source.empty())
        return "model weights in files of at most 5 GB (" + std::to_string(m.fileCount()) +
               " files)";
    return m.source + " (" + std::to_string(m.fileCount()) + " files)";
}

void printProblems(std::ostream& out, const std::vector<Problem>& problems, size_t limit) {
    size_t shown = 0;
    for (const auto& p : problems) {
        if (shown++ == limit) {
            out << "… and " << problems.size() - limit << " more\n";
            break;
        }
        out << (p.severity == Severity::Error ? "error: " : "warning: ") << p.text() << "\n";
    }
}

std::string problemJson(const Problem& p) {
    return std::string(R"({"severity":")") + (p.severity == Severity::Error ? "error" : "warning") +
           R"(","file":)" + jsonQuote(p.file) + R"(,"tensor":)" + jsonQuote(p.tensor) +
           R"(,"message":)" + jsonQuote(p.message) + R"(,"kind":")" + errorKindName(p.kind) + "\"}";
}

// The "format" of inspect --json.
const char* formatKey(CheckpointFormat format) {
    switch (format) {
    case CheckpointFormat::Dcp:
        return "dcp";
    case CheckpointFormat::HfFolder:
        return "hf";
    case CheckpointFormat::SafetensorsShards:
        break;
    }
    return "safetensors";
}

// Written by hand so 800,000 chunks stream out without building a DOM.
void printInspectJson(const Checkpoint& ckpt, const Mapping& mapping, const Plan& plan,
                      bool consolidatable) {
    std::string out;
    out.reserve(1 << 21);
    auto flush = [&] {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
    };
    auto number = [&](uint64_t v) { appendDecimal(out, v); };
    out += R"({"directory":)";
    appendJsonQuoted(out, ckpt.directory.string());
    out += R"(,"format":")";
    out += formatKey(ckpt.format);
    out += '"';
    out += R"(,"mapping":)";
    if (mapping.fileIndex.empty() || mapping.source.empty())
        out += "null";
    else
        appendJsonQuoted(out, mapping.source);
    out += R"(,"consolidatable":)";
    out += consolidatable ? "true" : "false";
    out += R"(,"total_bytes":)";
    number(ckpt.totalBytes());
    out += R"(,"files":[)";
    for (size_t i = 0; i < ckpt.files.size(); ++i) {
        const auto& f = ckpt.files[i];
        out += i ? R"(,{"name":)" : R"({"name":)";
        appendJsonQuoted(out, f.name);
        out += R"(,"size":)";
        number(f.size);
        out += R"(,"tensors":)";
        number(f.tensorCount);
        out += R"(,"valid":)";
        out += f.valid ? "true}" : "false}";
    }
    out += R"(],"tensors":[)";
    for (size_t i = 0; i < ckpt.tensors.size(); ++i) {
        const auto& t = ckpt.tensors[i];
        auto target = plan.weightMap.find(t.exportName());
        out += i ? R"(,{"fqn":)" : R"({"fqn":)";
        appendJsonQuoted(out, t.fqn);
        out += R"(,"name":)";
        appendJsonQuoted(out, t.exportName());
        out += R"(,"kind":")";
        out += tensorKindName(t.kind);
        out += R"(","exported":)";
        out += target != plan.weightMap.end() ? "true" : "false";
        out += R"(,"dtype":")";
        out += dtypeName(t.dtype);
        out += R"(","shape":)";
        appendJsonArray(out, t.shape);
        out += R"(,"bytes":)";
        number(t.bytes);
        out += R"(,"coverage":")";
        out += coverageStatusName(t.status);
        out += '"';
        if (!t.coverageDetail.empty()) {
            out += R"(,"coverage_detail":)";
            appendJsonQuoted(out, t.coverageDetail);
        }
        out += R"(,"target":)";
        if (target == plan.weightMap.end())
            out += "null";
        else
            appendJsonQuoted(out, target->second);
        out += R"(,"chunks":[)";
        for (size_t c = 0; c < t.chunks.size(); ++c) {
            const auto& ch = t.chunks[c];
            const auto& file = ckpt.files[ch.file];
            out += c ? R"(,{"file":)" : R"({"file":)";
            appendJsonQuoted(out, file.name);
            out += R"(,"saved_offsets":)";
            appendJsonArray(out, ch.offsets);
            out += R"(,"shape":)";
            appendJsonArray(out, ch.shape);
            out += R"(,"data_offsets":[)";
            number(ch.begin - file.dataStart);
            out += ',';
            number(ch.end - file.dataStart);
            out += ch.replica ? R"(],"replica":true)" : R"(],"replica":false)";
            if (ch.stored)
                out += ckpt.stored[ch.stored - 1].zstd ? R"(,"stored":"zstd")"
                                                       : R"(,"stored":"strided")";
            out += '}';
        }
        out += "]}";
        if (out.size() > (1 << 20)) flush();
    }
    out += R"(],"byte_items":[)";
    for (size_t i = 0; i < ckpt.byteItems.size(); ++i) {
        const ByteItem& b = ckpt.byteItems[i];
        out += i ? R"(,{"fqn":)" : R"({"fqn":)";
        appendJsonQuoted(out, b.fqn);
        out += R"(,"type":)";
        appendJsonQuoted(out, b.type);
        out += R"(,"size":)";
        number(b.size);
        if (b.tensors) {
            out += R"(,"tensors":)";
            number(b.tensors);
        }
        if (!b.value.empty() || b.type == "str") {
            out += R"(,"value":)";
            appendJsonQuoted(out, b.value);
        }
        out += '}';
    }
    out += R"(],"problems":[)";
    bool first = true;
    for (const auto* list : {&ckpt.problems, &plan.problems})
        for (const auto& p : *list) {
            out += (first ? "" : ",") + problemJson(p);
            first = false;
        }
    out += "]}\n";
    flush();
}

// formatShape's "[2048, 5504]" of each interned tuple, made once: millions of chunks share a
// few hundred offsets and shapes.
class ShapeTexts {
public:
    const std::string& of(ShapeRef ref) {
        if (ref.id() >= m_texts.size()) m_texts.resize(size_t(ref.id()) + 1);
        std::string& text = m_texts[ref.id()];
        if (text.empty()) text = formatShape(ref);
        return text;
    }

private:
    std::vector<std::string> m_texts; // by id; "" not made yet (a made one has brackets)
};

// One line per chunk, appended without temporaries.
void appendChunkLine(std::string& out, const Checkpoint& ckpt, const Chunk& c, ShapeTexts& texts) {
    const ShardFile& f = ckpt.files[c.file];
    out += "    ";
    out += f.name;
    out += "  saved_offsets ";
    out += texts.of(c.offsets);
    out += "  shape ";
    out += texts.of(c.shape);
    out += "  data_offsets [";
    appendDecimal(out, c.begin - f.dataStart);
    out += ", ";
    appendDecimal(out, c.end - f.dataStart);
    out += ')';
    if (c.replica) out += "  (replica)";
    if (c.stored) out += ckpt.stored[c.stored - 1].zstd ? "  (zstd)" : "  (strided)";
    out += '\n';
}

void appendTensorLine(std::string& out, const TensorInfo& t, const Plan& plan) {
    auto target = plan.weightMap.find(t.exportName());
    const bool excluded = t.kind != TensorKind::Model && target == plan.weightMap.end();
    out += Error::printable(t.fqn) + "  " + std::string(dtypeName(t.dtype)) + " " +
           formatShape(t.shape) + "  " + formatBytes(t.bytes) + "  " +
           std::to_string(t.chunks.size()) + " chunk(s)  " +
           std::string(coverageStatusName(t.status)) + "  -> " +
           (excluded ? "(not exported: " +
                           std::string(t.kind == TensorKind::TrainState ? "trainer"
                                                                        : tensorKindName(t.kind)) +
                           " state; --include-training-state exports it)"
            : target == plan.weightMap.end() ? "(unassigned)"
                                             : target->second) +
           (t.name.empty() ? "" : " as " + t.name) + "\n";
}

// Every tensor with its chunks. Millions of chunk lines are formatted on every core, a batch of
// blocks at a time, and written in order (W5, 5 M chunks: 0.6 s of formatting on one core).
void printTensorLines(const Checkpoint& ckpt, const Plan& plan) {
    constexpr size_t kBlock = 64; // tensors per block: ~1 MB of text for 256 ranks
    const int threads = effectiveThreads(0);
    const size_t blocks = (ckpt.tensors.size() + kBlock - 1) / kBlock;
    std::vector<std::string> texts(size_t(threads) * 2);
    std::vector<ShapeTexts> shapes(static_cast<size_t>(threads));
    for (size_t first = 0; first < blocks; first += texts.size()) {
        const size_t count = std::min(texts.size(), blocks - first);
        parallelForWorkers(count, threads, [&](size_t i, int worker) {
            std::string& text = texts[i];
            text.clear();
            const size_t begin = (first + i) * kBlock;
            const size_t end = std::min(ckpt.tensors.size(), begin + kBlock);
            for (size_t k = begin; k < end; ++k) {
                appendTensorLine(text, ckpt.tensors[k], plan);
                for (const Chunk& c : ckpt.tensors[k].chunks)
                    appendChunkLine(text, ckpt, c, shapes[size_t(worker)]);
            }
        });
        for (size_t i = 0; i < count; ++i)
            std::fwrite(texts[i].data(), 1, texts[i].size(), stdout);
    }
}

void printInspectText(const Checkpoint& ckpt, const Mapping& mapping, const Plan& plan) {
    std::string out;
    out += "Checkpoint: " + ckpt.opened().string() + "\n";
    const bool hf = ckpt.format == CheckpointFormat::HfFolder;
    const std::string files = std::to_string(ckpt.files.size()) +
                              (ckpt.format == CheckpointFormat::Dcp ? " .distcp files, "
                               : hf                                 ? " file(s), "
                                                                    : " shard files, ");
    out += (!ckpt.singleFile.empty() ? std::string("  one safetensors file: ")
            : hf                     ? "  Hugging Face safetensors folder: " + files
                                     : "  " + files) +
           std::to_string(ckpt.tensors.size()) + " tensors, " + formatBytes(ckpt.totalBytes()) +
           "\n  mapping: " + mappingSource(mapping) + "\n\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    out.clear();
    printTensorLines(ckpt, plan);
    for (const ByteItem& b : ckpt.byteItems)
        out += (&b == &ckpt.byteItems.front()
                    ? "\nByte items (listed, not exported; tensors found inside them are, above):\n"
                    : "") +
               std::string("  ") + Error::printable(b.fqn) + "  " + b.type +
               (b.value.empty() ? "" : " = " + Error::printable(b.value)) +
               (b.tensors ? " holding " + std::to_string(b.tensors) +
                                (b.tensors == 1 ? " tensor" : " tensors") + ", listed above as " +
                                Error::printable(b.fqn) + ".*"
                          : "") +
               "  " + formatBytes(b.size) + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::cout << "\nOutput plan: " << plan.files.size() << " file(s), "
              << formatBytes(plan.totalFileBytes()) << "\n";
    for (const auto& f : plan.files)
        std::cout << "  " << f.name << "  " << f.tensors.size() << " tensors  "
                  << formatBytes(f.fileSize()) << "\n";
}

void printInspectProblems(const Checkpoint& ckpt, const Plan& plan) {
    std::vector<Problem> all = ckpt.problems;
    all.insert(all.end(), plan.problems.begin(), plan.problems.end());
    if (all.empty()) {
        std::cout << "\nNo problems: ready to consolidate.\n";
        return;
    }
    std::cout << "\nProblems (" << all.size() << "):\n";
    std::cout.flush();
    printProblems(std::cout, all, 200);
}

int runInspect(const InspectOptions& o, std::stop_token stop) {
    Checkpoint ckpt = scan(o.dir, stop);
    Mapping mapping = mappingOf(o.mapping, ckpt, o.includeTrainingState);
    Plan plan = makePlan(ckpt, mapping, policyOf(o.unmapped), o.includeTrainingState);
    const bool ok = !ckpt.hasErrors() && plan.ok();
    if (o.json) {
        printInspectJson(ckpt, mapping, plan, ok);
    } else {
        printInspectText(ckpt, mapping, plan);
        printInspectProblems(ckpt, plan);
    }
    std::cout.flush();
    if (!ok)
        std::cerr << "shardscope-cli: " << ckpt.opened().string()
                  << " cannot be consolidated as it stands (see the problems above)\n";
    return ok ? kOk : kFailed;
}

// Phase, percent, bytes, rate and ETA of the current phase, from the updates it is given.
class ProgressText {
public:
    std::string operator()(const EngineProgress& p) {
        const auto now = std::chrono::steady_clock::now();
        if (p.phase != m_phase) m_phase = p.phase, m_phaseStart = now;
        const double elapsed = std::chrono::duration<double>(now - m_phaseStart).count();
        const double fraction = p.bytesTotal ? double(p.bytesDone) / double(p.bytesTotal) : 1;
        const double rate = elapsed > 0 ? double(p.bytesDone) / elapsed : 0;
        const std::string eta = rate > 0 && fraction > 0.01 && p.bytesTotal >= p.bytesDone
                                    ? formatSeconds(double(p.bytesTotal - p.bytesDone) / rate)
                                    : "?";
        return std::string(enginePhaseName(p.phase)) + " [" + std::to_string(int(fraction * 100)) +
               "%] " + formatBytes(p.bytesDone) + " / " + formatBytes(p.bytesTotal) + "  " +
               formatBytes(uint64_t(rate)) + "/s  ETA " + eta;
    }

private:
    EnginePhase m_phase = EnginePhase::Preparing;
    std::chrono::steady_clock::time_point m_phaseStart = std::chrono::steady_clock::now();
};

// The live line on stderr (a terminal): rewritten in place.
std::function<void(const EngineProgress&)> progressLine() {
    return [text = ProgressText()](const EngineProgress& p) mutable {
        std::fprintf(stderr, "\r\033[K%s  %s", text(p).c_str(), p.currentFile.c_str());
        std::fflush(stderr);
    };
}

// Whole lines, one every `seconds` while bytes are written: what a log file (or mpirun, which
// passes stderr through a pipe) can show.
std::function<void(const EngineProgress&)> progressLog(double seconds) {
    return [text = ProgressText(), last = std::chrono::steady_clock::now(),
            seconds](const EngineProgress& p) mutable {
        const std::string line = text(p); // keeps the phase's start time current
        const auto now = std::chrono::steady_clock::now();
        if (p.phase != EnginePhase::Writing || p.bytesDone == 0 ||
            std::chrono::duration<double>(now - last).count() < seconds)
            return;
        last = now;
        std::fprintf(stderr, "%s\n", line.c_str());
        std::fflush(stderr);
    };
}

void reportExportFailed(const ExportFailed& e) {
    for (const auto& note : e.notes())
        std::fprintf(stderr, "note: %s\n", note.c_str());
    if (e.cancelled())
        std::fprintf(stderr, "shardscope-cli: cancelled. %s\n", e.onDisk().c_str());
    else
        std::fprintf(stderr, "shardscope-cli: error: %s\n%s\n", e.what(), e.onDisk().c_str());
}

void printSummary(const EngineResult& result, const std::string& out) {
    const double gib = double(result.bytesWritten) / double(1ull << 30);
    std::printf("Wrote %zu file(s), %s in %.2f s (%.2f GiB/s) to %s", result.files.size(),
                formatBytes(result.bytesWritten).c_str(), result.seconds,
                result.seconds > 0 ? gib / result.seconds : 0.0, out.c_str());
    if (!result.sidecars.empty())
        std::printf("; copied %zu sidecar file(s)", result.sidecars.size());
    if (result.verified) std::printf("; verified byte for byte before publishing");
    if (result.replacedFiles) std::printf("; replaced the previous export");
    std::printf("\n");
}

// The export's rules and what they make of each tensor; a rule that does not parse is a usage
// error, reported before the checkpoint's bytes are read.
struct RuledPlan {
    ExportRules rules;
    ExportSelection selection;
    Plan plan;
};

RuledPlan planWithRules(const ConsolidateOptions& o, const CLI::App& command,
                        const Checkpoint& ckpt, std::stop_token stop) {
    RuledPlan r;
    r.rules = exportRulesFrom(command, o.rules, o.includeTrainingState);
    r.selection = selectForExport(ckpt, r.rules); // compiles every expression first
    const std::string tied = resolveTiedWeights(ckpt, r.rules, stop);
    if (!tied.empty()) {
        if (!o.quiet) std::fprintf(stderr, "note: %s\n", tied.c_str());
        r.selection = selectForExport(ckpt, r.rules);
    }
    const Mapping mapping =
        o.mapping.empty() ? defaultMapping(ckpt, r.selection) : loadMapping(o.mapping);
    r.plan = makePlan(ckpt, mapping, policyOf(o.unmapped), r.rules, r.selection);
    return r;
}

EngineOptions engineOptionsOf(const ConsolidateOptions& o, std::stop_token stop) {
    EngineOptions options;
    options.threads = o.threads;
    options.overwrite = o.overwrite;
    options.sync = o.sync;
    options.verify = o.verify;
    options.stop = stop;
    return options;
}

int runConsolidate(const ConsolidateOptions& o, const CLI::App& command, std::stop_token stop) {
    std::error_code ec;
    if (!o.hfAssets.empty() && !fs::is_directory(o.hfAssets, ec)) {
        std::cerr << "shardscope-cli: --hf-assets " << o.hfAssets << ": not a directory\n";
        return kUsage;
    }
    Checkpoint ckpt = scan(o.in, stop);
    ckpt.hfAssetsDir = o.hfAssets;
    RuledPlan ruled;
    try {
        ruled = planWithRules(o, command, ckpt, stop);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::RuleInvalid) throw;
        std::cerr << "shardscope-cli: " << e.what() << "\nnothing written\n";
        return kUsage;
    }
    const Plan& plan = ruled.plan;
    std::vector<Problem> all = ckpt.problems;
    all.insert(all.end(), plan.problems.begin(), plan.problems.end());
    if (ckpt.hasErrors() || !plan.ok()) {
        printProblems(std::cerr, all, 50);
        std::cerr << "shardscope-cli: nothing written: fix the errors above first\n";
        return kFailed;
    }
    if (!o.quiet) printProblems(std::cerr, all, 50); // warnings only at this point
    const std::string summary = describeSelection(ckpt, ruled.selection);
    if (!o.quiet && !summary.empty()) std::fprintf(stderr, "%s\n", summary.c_str());

    EngineOptions options = engineOptionsOf(o, stop);
    const bool live = !o.quiet && ::isatty(STDERR_FILENO);
    if (live) options.progress = progressLine();
    EngineResult result;
    try {
        result = consolidate(ckpt, plan, o.out, options);
    } catch (const ExportFailed& e) {
        if (live) std::fprintf(stderr, "\r\033[K");
        reportExportFailed(e);
        return kFailed;
    }
    if (live) std::fprintf(stderr, "\r\033[K");
    if (!o.quiet) printCastLosses(result.castLosses);
    for (const auto& note : result.notes)
        std::fprintf(stderr, "note: %s\n", note.c_str());
    if (!o.quiet) printSummary(result, o.out);
    return kOk;
}

int runVerify(const VerifyOptions& o, std::stop_token stop) {
    std::optional<Checkpoint> ckpt;
    if (!o.against.empty()) {
        ckpt = scan(o.against, stop);
        if (ckpt->hasErrors()) {
            printProblems(std::cerr, ckpt->problems, 50);
            std::cerr << "shardscope-cli: the shards given to --against have errors\n";
            return kFailed;
        }
    }
    VerifyReport report = verifyOutput(o.out, ckpt ? &*ckpt : nullptr, stop);
    if (!report.ok()) {
        printProblems(std::cerr, report.problems, 100);
        std::cerr << "shardscope-cli: verification FAILED for " << o.out << "\n";
        return kFailed;
    }
    printProblems(std::cerr, report.problems, 100); // warnings: leftovers of interrupted runs
    std::printf("OK: %zu file(s), %zu tensors", report.files, report.tensors);
    if (ckpt)
        std::printf(", %s compared byte for byte with %s",
                    formatBytes(report.bytesCompared).c_str(), o.against.c_str());
    if (ckpt && report.castTensors)
        std::printf(" (%zu cast tensor(s) against the shards' values cast again)",
                    report.castTensors);
    std::printf("\n");
    return kOk;
}

// ---- Distributed mode: one rank of an mpirun or srun job ----

// "shardscope-cli (rank 1 of 3)": every line a rank prints says which rank printed it.
std::string rankName(const Coordinator& peers) {
    return "shardscope-cli (rank " + std::to_string(peers.rank()) + " of " +
           std::to_string(peers.size()) + ")";
}

int codeOf(const RankFailure& f) {
    return f.kind == ErrorKind::RuleInvalid || f.kind == ErrorKind::Usage ? kUsage : kFailed;
}

// Scans and plans on every rank; a failure on any rank is reported by all.
std::optional<RankFailure> prepareOnRanks(const ConsolidateOptions& o, const CLI::App& command,
                                          std::stop_token stop, Coordinator& peers,
                                          Checkpoint& ckpt, RuledPlan& ruled) {
    return peers.agree(failureOf(peers.rank(), [&] {
        std::error_code ec;
        if (!o.hfAssets.empty() && !fs::is_directory(o.hfAssets, ec))
            throw Error(ErrorKind::Usage, o.hfAssets, "", "--hf-assets: not a directory");
        ckpt = scan(o.in, stop);
        ckpt.hfAssetsDir = o.hfAssets;
        ruled = planWithRules(o, command, ckpt, stop);
    }));
}

int runConsolidateOnRanks(const ConsolidateOptions& options, const CLI::App& command,
                          std::stop_token stop, Coordinator& peers) {
    const bool root = peers.rank() == 0;
    const std::string who = rankName(peers);
    ConsolidateOptions o = options;
    o.quiet = o.quiet || !root; // the other ranks speak only of errors
    Checkpoint ckpt;
    RuledPlan ruled;
    if (auto f = prepareOnRanks(o, command, stop, peers, ckpt, ruled)) {
        std::fprintf(stderr, "%s: error: %s\nnothing written\n", who.c_str(), f->error().what());
        return codeOf(*f);
    }
    std::vector<Problem> all = ckpt.problems;
    all.insert(all.end(), ruled.plan.problems.begin(), ruled.plan.problems.end());
    const bool broken = ckpt.hasErrors() || !ruled.plan.ok();
    if (root && (broken || !o.quiet)) printProblems(std::cerr, all, 50);
    EngineOptions engine = engineOptionsOf(o, stop);
    const bool live = !o.quiet && ::isatty(STDERR_FILENO);
    if (live)
        engine.progress = progressLine();
    else if (!o.quiet)
        engine.progress = progressLog(2.0); // rank 0 only: the others are quiet
    EngineResult result;
    try {
        result = consolidateDistributed(ckpt, ruled.plan, o.out, engine, peers);
    } catch (const ExportFailed& e) {
        if (live) std::fprintf(stderr, "\r\033[K");
        for (const auto& note : e.notes())
            std::fprintf(stderr, "%s: note: %s\n", who.c_str(), note.c_str());
        std::fprintf(stderr, "%s: %s: %s\n", who.c_str(), e.cancelled() ? "cancelled" : "error",
                     e.what());
        // A rank that lost the others cannot hear from rank 0 what OUT holds.
        if (!e.onDisk().empty()) std::fprintf(stderr, "%s\n", e.onDisk().c_str());
        return kFailed;
    } catch (const Error& e) { // before anything was touched
        if (live) std::fprintf(stderr, "\r\033[K");
        std::fprintf(stderr, "%s: error: %s\nnothing written\n", who.c_str(), e.what());
        return e.kind() == ErrorKind::Usage ? kUsage : kFailed;
    }
    if (live) std::fprintf(stderr, "\r\033[K");
    if (!root) return kOk;
    if (!o.quiet) printCastLosses(result.castLosses);
    for (const auto& note : result.notes)
        std::fprintf(stderr, "note: %s\n", note.c_str());
    if (!o.quiet) {
        printSummary(result, o.out);
        std::printf("  by %d processes; output files assigned to them by bytes\n", peers.size());
    }
    return kOk;
}

// The model files in `dir` split between the ranks by bytes, as consolidate splits them.
VerifyShare verifyShareOf(const fs::path& dir, const Coordinator& peers) {
    std::vector<std::string> names;
    std::vector<uint64_t> sizes;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("model-", 0) == 0 && entry.path().extension() == ".safetensors")
            names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names)
        sizes.push_back(fs::file_size(dir / name, ec));
    const std::vector<int> owners = assignByBytes(sizes, peers.size());
    VerifyShare share{{}, peers.rank() == 0};
    for (size_t f = 0; f < names.size(); ++f)
        if (owners[f] == peers.rank()) share.files.insert(names[f]);
    return share;
}

// A report's problems and byte count as one message (the fields of a problem are separated by
// \x1f, problems by \x1e: neither occurs in names or messages).
std::string encodeReport(const VerifyReport& r) {
    std::string out = std::to_string(r.bytesCompared) + '\x1e';
    for (const auto& p : r.problems)
        out += std::string(p.severity == Severity::Error ? "E" : "W") + '\x1f' + p.file + '\x1f' +
               p.tensor + '\x1f' + p.message + '\x1f' + std::to_string(int(p.kind)) + '\x1e';
    return out;
}

void mergeReport(const std::string& text, VerifyReport& into, bool counts) {
    const std::vector<std::string> records = splitText(text, '\x1e');
    if (records.empty()) return;
    if (counts) into.bytesCompared += std::stoull(records[0]);
    for (size_t i = 1; i < records.size(); ++i) {
        const std::vector<std::string> f = splitText(records[i], '\x1f');
        if (f.size() == 5)
            into.problems.push_back({f[0] == "E" ? Severity::Error : Severity::Warning, f[1], f[2],
                                     f[3], ErrorKind(std::stoi(f[4]))});
    }
}

int runVerifyOnRanks(const VerifyOptions& o, std::stop_token stop, Coordinator& peers) {
    const bool root = peers.rank() == 0;
    std::optional<Checkpoint> ckpt;
    VerifyReport report;
    auto failed = peers.agree(failureOf(peers.rank(), [&] {
        if (!o.against.empty()) {
            ckpt = scan(o.against, stop);
            if (ckpt->hasErrors())
                throw Error(ErrorKind::VerifyFailed, o.against, "",
                            "the shards given to --against have errors (run inspect on them)");
        }
        const VerifyShare share = verifyShareOf(o.out, peers);
        report = verifyOutput(o.out, ckpt ? &*ckpt : nullptr, stop, {}, &share);
    }));
    if (failed) {
        std::fprintf(stderr, "%s: error: %s\n", rankName(peers).c_str(), failed->error().what());
        return kFailed;
    }
    const std::vector<std::string> parts = peers.gatherToRoot(encodeReport(report));
    VerifyReport all = report;
    for (size_t r = 1; r < parts.size(); ++r)
        mergeReport(parts[r], all, true);
    const bool ok = peers.fromRoot(root && all.ok() ? "ok" : "") == "ok";
    if (!root) return ok ? kOk : kFailed;
    printProblems(std::cerr, all.problems, 100);
    if (!ok) {
        std::cerr << "shardscope-cli: verification FAILED for " << o.out << "\n";
        return kFailed;
    }
    std::printf("OK: %zu file(s), %zu tensors", all.files, all.tensors);
    if (ckpt)
        std::printf(", %s compared byte for byte with %s by %d processes",
                    formatBytes(all.bytesCompared).c_str(), o.against.c_str(), peers.size());
    std::printf("\n");
    return kOk;
}

// The coordinator of a distributed run (--distributed, or started by mpirun or srun as one of
// several processes), or none for an ordinary run.
std::unique_ptr<Coordinator> peersFor(bool requested, std::stop_token stop) {
    const int launched = launcherWorldSize();
    if (!requested && launched <= 1) return nullptr;
    if (!builtWithMpi())
        throw Error(ErrorKind::Usage, "", "",
                    requested
                        ? "--distributed needs ShardScope built with MPI: install libopenmpi-dev "
                          "and openmpi-bin (scripts/shardscope.sh does) and rebuild"
                        : "started as one of " + std::to_string(launched) +
                              " processes (mpirun or srun), but this ShardScope was built "
                              "without MPI, so each would write the whole output: rebuild "
                              "with libopenmpi-dev installed, or run one process");
    return startMpi(stop);
}

// Runs a command on the ranks. A rank that lost the others (stopped while waiting for them)
// exits at once: finalizing MPI would wait for processes that are gone.
int onRanks(Coordinator& peers, const std::function<int()>& body) {
    int code = kFailed;
    try {
        code = body();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: error: %s\n", rankName(peers).c_str(), e.what());
    }
    if (peers.lost()) {
        std::fflush(nullptr);
        std::_Exit(code == kOk ? kFailed : code);
    }
    return code;
}

int runDemo(const DemoOptions& o) {
    const fs::path dir = o.dir;
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
        throw Error(dir.string(), "",
                    "is not empty; the demo is written only into a new or empty directory");
    writeDemoCheckpoint(dir, o.valueFaults);
    std::printf("Wrote the demo checkpoint%s to %s\n",
                o.valueFaults ? " with planted value faults" : "", dir.c_str());
    return kOk;
}

// CLI11 prefixes a validator's message with the option's name and a colon; these messages
// already name their option, so they leave the parser as they are.
class UsageError : public CLI::ParseError {
public:
    explicit UsageError(std::string message)
        : CLI::ParseError(std::move(message), CLI::ExitCodes::ValidationError) {}
};

// CLI11 takes the word after an option as its value even when it is another option, so
// `--mapping --json` would read a mapping file named "--json".
CLI::Validator pathValue(const std::string& option, const std::string& what) {
    return CLI::Validator(
        [=](const std::string& value) -> std::string {
            if (value.empty()) throw UsageError(option + " needs " + what);
            if (value.size() > 1 && value[0] == '-')
                throw UsageError(option + " needs " + what + ", not the option '" + value + "'");
            return {};
        },
        "");
}

CLI::Validator threadCount() {
    return CLI::Validator(
        [](std::string& value) -> std::string {
            int n = 0;
            const char* end = value.data() + value.size();
            auto [used, ec] = std::from_chars(value.data(), end, n);
            if (ec == std::errc() && used == end && n >= 1 && n <= 256) {
                value = std::to_string(n); // CLI11 would read "010" as octal
                return {};
            }
            throw UsageError("--threads takes a number from 1 to 256, not '" + value + "'");
        },
        "");
}

CLI::Validator unmappedPolicy() {
    return CLI::Validator(
        [](const std::string& value) -> std::string {
            if (value == "error" || value == "last") return {};
            throw UsageError("--unmapped takes 'error' or 'last', not '" + value + "'");
        },
        "");
}

// Usage first, then what the command does; the command list shows each command's synopsis,
// built from its options so it cannot drift from them.
class CliFormatter : public CLI::Formatter {
public:
    CliFormatter() {
        label("SUBCOMMAND", "COMMAND");
        label("Positionals", "Arguments");
        label("REQUIRED", "");
        column_width(26);
    }

    std::string make_help(const CLI::App* app, std::string name,
                          CLI::AppFormatMode mode) const override {
        return make_usage(app, name) + "\n" + make_description(app) + make_positionals(app) +
               make_groups(app, mode) + make_subcommands(app, mode) + "\n" + make_footer(app);
    }

    std::string make_subcommand(const CLI::App* sub) const override {
        const std::vector<std::string> words = synopsisWords(sub);
        std::string out = wrap(words, 2, 2 + words.front().size() + 1);
        std::istringstream description(sub->get_description());
        for (std::string line; std::getline(description, line);)
            out += "      " + line + "\n";
        return out;
    }

private:
    // "consolidate IN OUT", then one "[--option VALUE]" per option.
    static std::vector<std::string> synopsisWords(const CLI::App* sub) {
        std::vector<std::string> words{sub->get_name()};
        for (const CLI::Option* o : sub->get_options())
            if (o->get_positional()) words.front() += " " + o->get_name();
        for (const CLI::Option* o : sub->get_options()) {
            if (o->get_positional() || o == sub->get_help_ptr()) continue;
            std::string word = "[--" + o->get_lnames().front();
            if (!o->get_type_name().empty()) word += " " + o->get_type_name();
            words.push_back(word + "]");
        }
        return words;
    }

    // Lines of at most 80 columns; continuation lines start at column `hang`.
    static std::string wrap(const std::vector<std::string>& words, size_t indent, size_t hang) {
        std::string out(indent, ' ');
        size_t column = indent;
        for (size_t i = 0; i < words.size(); ++i) {
            if (i > 0 && column + 1 + words[i].size() > 80) {
                out += "\n" + std::string(hang, ' ');
                column = hang;
            } else if (i > 0) {
                out += ' ';
                ++column;
            }
            out += words[i];
            column += words[i].size();
        }
        return out + "\n";
    }
};

const char* kExitCodes = "Exit codes: 0 success, 1 bad input or failed run, 2 usage error.";

// The parser and the options it fills; one instance per run.
class CommandLine {
public:
    CommandLine();

    // Returns an exit code when the run ends here: help, version or a usage error.
    std::optional<int> parse(int argc, char** argv);
    int run(std::stop_token stop) const;
    // The exit code when the output could not be written: diff's "no answer", else a failure.
    int lostOutputCode() const { return *m_diff ? kUsage : kFailed; }
    void printUsage(std::FILE* to) const { std::fputs(m_app.help().c_str(), to); }

private:
    CLI::App* addCommand(const char* name, const char* description);
    void addInspect();
    void addConsolidate();
    void addVerify();
    void addDemo();
    void addStats();
    void addCheck();
    void addDiff();
    const CLI::App* selected() const;
    std::optional<std::string> leftoverProblem() const;
    bool isOption(const std::string& word) const;
    bool knownToACommand(const std::string& option) const;
    int usageError(const std::string& message) const;

    CLI::App m_app;
    CLI::App *m_inspect = nullptr, *m_consolidate = nullptr, *m_verify = nullptr, *m_demo = nullptr;
    CLI::App *m_stats = nullptr, *m_check = nullptr, *m_diff = nullptr;
    DiffCommand m_diffOptions;
    StatsCommand m_statsOptions;
    CheckCommand m_checkOptions;
    InspectOptions m_inspectOptions;
    ConsolidateOptions m_consolidateOptions;
    VerifyOptions m_verifyOptions;
    DemoOptions m_demoOptions;
    std::vector<std::string> m_beforeDashes, m_afterDashes; // the words around the first "--"
};

CommandLine::CommandLine()
    : m_app("Inspect and consolidate sharded safetensors checkpoints (PyTorch DCP shard\n"
            "directories) into Hugging Face safetensors files.",
            "shardscope-cli") {
    m_app.formatter(std::make_shared<CliFormatter>());
    m_app.set_help_flag("-h,--help", "Print this help and exit");
    m_app.set_version_flag("--version", std::string("shardscope-cli ") + SHARDSCOPE_VERSION,
                           "Print the version and exit");
    m_app.require_subcommand(1);
    // The last of a repeated option wins, as in most tools.
    m_app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    m_app.footer(kExitCodes);
    addInspect();
    addConsolidate();
    addVerify();
    addStats();
    addCheck();
    addDiff();
    addDemo();
    m_app.footer(std::string("Run 'shardscope-cli COMMAND --help' for the options of one "
                             "command.\n\n") +
                 kExitCodes);
}

CLI::App* CommandLine::addCommand(const char* name, const char* description) {
    CLI::App* cmd = m_app.add_subcommand(name, description);
    cmd->group("Commands");
    cmd->set_help_flag("-h,--help", "Print this help and exit");
    return cmd;
}

// --mapping and --unmapped, shared by inspect and consolidate.
void addMappingOptions(CLI::App* command, std::string& mapping, std::string& unmapped) {
    command
        ->add_option("--mapping", mapping,
                     "Tensor-to-file mapping (JSON); default: the\ncheckpoint's own, or every "
                     "tensor in one file")
        ->type_name("FILE")
        ->check(pathValue("--mapping", "a file"));
    command
        ->add_option("--unmapped", unmapped,
                     "Tensors the mapping does not name: an error (default)\nor into the last file")
        ->type_name("error|last")
        ->check(unmappedPolicy());
}

// DCP checkpoints: optimizer, scheduler, dataloader and trainer state are left out by default.
void addTrainingStateFlag(CLI::App* command, bool& include) {
    command->add_flag("--include-training-state", include,
                      "Also export a DCP checkpoint's optimizer, scheduler,\ndataloader and "
                      "trainer tensors (left out by default)");
}

void CommandLine::addInspect() {
    auto& o = m_inspectOptions;
    m_inspect =
        addCommand("inspect", "List every tensor of a checkpoint directory (DCP safetensors shards "
                              "or\n.metadata + *.distcp) (dtype, full shape, "
                              "chunks,\ncoverage, target file) and every problem. Exit 1 when it "
                              "cannot be\nconsolidated. DIR may also be a Hugging Face safetensors "
                              "folder or\none *.safetensors file.");
    m_inspect->add_option("DIR", o.dir, "The checkpoint directory or *.safetensors file")
        ->required()
        ->type_name("");
    m_inspect->add_flag("--json", o.json, "Print everything as one JSON document");
    addMappingOptions(m_inspect, o.mapping, o.unmapped);
    addTrainingStateFlag(m_inspect, o.includeTrainingState);
}

void CommandLine::addConsolidate() {
    auto& o = m_consolidateOptions;
    m_consolidate = addCommand(
        "consolidate",
        "Write Hugging Face safetensors files and model.safetensors.index.json\ninto OUT "
        "(created if needed). Files are staged inside OUT, verified\nwith --verify, and only "
        "then published; until then OUT keeps its\nprevious export.");
    m_consolidate->add_option("IN", o.in, "The shard directory")->required()->type_name("");
    m_consolidate->add_option("OUT", o.out, "The output directory")->required()->type_name("");
    addMappingOptions(m_consolidate, o.mapping, o.unmapped);
    addTrainingStateFlag(m_consolidate, o.includeTrainingState);
    m_consolidate
        ->add_option("--hf-assets", o.hfAssets,
                     "Copy config.json, generation_config.json, tokenizer files\nand the chat "
                     "template from this Hugging Face model folder")
        ->type_name("DIR")
        ->check(pathValue("--hf-assets", "a directory"));
    m_consolidate
        ->add_option("--threads", o.threads, "Worker threads, 1 to 256; default: one per core")
        ->type_name("N")
        ->transform(threadCount());
    m_consolidate->add_flag("--overwrite", o.overwrite,
                            "Replace an earlier export in OUT (refused otherwise)");
    m_consolidate->add_flag("--verify", o.verify,
                            "Compare every byte with the shards before publishing");
    m_consolidate->add_flag("--sync", o.sync, "fdatasync every file before publishing");
    m_consolidate->add_flag("-q,--quiet", o.quiet,
                            "No warnings, progress line or summary on success");
    m_consolidate->add_flag("--distributed", o.distributed,
                            "One of several processes started by mpirun or srun:\neach writes "
                            "its share of the files (automatic when\nstarted as one of several)");
    addExportRuleOptions(m_consolidate, o.rules);
}

void CommandLine::addVerify() {
    auto& o = m_verifyOptions;
    m_verify = addCommand("verify", "Check a consolidated directory; with --against, compare "
                                    "every byte\nwith the shards.");
    m_verify->add_option("OUT", o.out, "The consolidated directory")->required()->type_name("");
    m_verify->add_option("--against", o.against, "The shard directory OUT was written from")
        ->type_name("IN")
        ->check(pathValue("--against", "a directory"));
    m_verify->add_flag("--distributed", o.distributed,
                       "One of several processes started by mpirun or srun:\neach compares its "
                       "share of the files");
}

// --tensor, --json and --threads, shared by stats and check.
void addValueOptions(CLI::App* command, std::string& tensor, bool& json, int& threads) {
    command
        ->add_option("--tensor", tensor,
                     "Only tensors whose names match this regular\nexpression "
                     "(searched, RE2 syntax as the export's rules)")
        ->type_name("REGEX")
        ->check(
            CLI::Validator([](std::string& value) { return checkTensorPattern(value); }, ""));
    command->add_flag("--json", json, "Print everything as one JSON document");
    command->add_option("--threads", threads, "Worker threads, 1 to 256; default: one per core")
        ->type_name("N")
        ->transform(threadCount());
}

void CommandLine::addStats() {
    auto& o = m_statsOptions;
    m_stats = addCommand("stats", "Read every tensor's values and print its statistics: min, max, "
                                  "mean,\nstd, L2 norm, max |x|, NaN/Inf/zero/subnormal counts; "
                                  "with --json\nalso 64-bin linear and log10|x| histograms.");
    m_stats->add_option("DIR", o.dir, "The checkpoint directory")->required()->type_name("");
    addValueOptions(m_stats, o.tensor, o.json, o.threads);
    m_stats->add_flag("--histograms", o.histograms, "Also print each tensor's histograms as text");
}

void CommandLine::addCheck() {
    auto& o = m_checkOptions;
    m_check = addCommand(
        "check", "Read every tensor's values and report NaN, Inf, all-zero float\ntensors, "
                 "constant tensors (an all-zero mask or integer tensor is\nonly constant), "
                 "all-zero chunks of float tensors (a dropped shard)\nand chunks whose "
                 "RMS differs by more than --norm-spread. Exit 1\nwhen a --fail-on kind is found "
                 "or the checkpoint has errors.");
    m_check->add_option("DIR", o.dir, "The checkpoint directory")->required()->type_name("");
    addValueOptions(m_check, o.tensor, o.json, o.threads);
    m_check
        ->add_option("--fail-on", o.failOn,
                     "Kinds that fail the check, comma-separated: nan, inf,\nzeros, constant, "
                     "zero-chunk, norm-spread, tied,\ntie-config, all "
                     "(default: nan,inf,zeros,zero-chunk)")
        ->type_name("LIST")
        // Given twice, both lists count: a list is added to, not replaced (the lists are
        // checked one by one, then joined by a newline, which runCheck reads as a comma).
        ->multi_option_policy(CLI::MultiOptionPolicy::Join)
        ->check(CLI::Validator([](std::string& value) { return checkFailOnList(value); }, ""));
    m_check
        ->add_option("--norm-spread", o.normSpread,
                     "Report chunks of one tensor whose RMS differs by more\nthan this factor "
                     "(default 100)")
        ->type_name("X")
        ->check(CLI::Validator(
            [](std::string& value) {
                // NaN compares false with everything, so a plain "> 0" check let it through and
                // it then switched the finding off.
                double x = 0;
                if (!CLI::detail::lexical_cast(value, x)) return "not a number: " + value;
                // A ratio of the largest RMS to the smallest is at least 1: below it every
                // pair of chunks would be reported.
                return std::isfinite(x) && x >= 1
                           ? std::string()
                           : "must be a finite factor of at least 1, not " + value;
            },
            ""));
    m_check
        ->add_option("--min-elements", o.minElements,
                     "Report a float tensor or chunk of zeros, or a constant\ntensor, from "
                     "this many elements on (default 2: a\none-element tensor or chunk is "
                     "neither)")
        ->type_name("N")
        ->check(CLI::Validator(
            [](std::string& value) {
                // Digits only: strtoull would take "-1" as 2^64 - 1, and 2^64 as the same.
                uint64_t n = 0;
                const char* end = value.data() + value.size();
                const auto [at, error] = std::from_chars(value.data(), end, n);
                return error == std::errc() && at == end && n >= 1
                           ? std::string()
                           : "must be a whole number of at least 1, not " + value;
            },
            ""));
}

void CommandLine::addDiff() {
    auto& o = m_diffOptions;
    m_diff = addCommand(
        "diff",
        "Compare two checkpoints tensor by tensor (any inputs shardscope-cli\nopens): only "
        "in A or B, dtype or shape changed, identical bytes, or\nmax |a-b|, relative L2, "
        "cosine and the elements beyond tolerance.\nWithout --atol/--rtol any byte that differs "
        "counts (-0 against 0,\nanother NaN payload); with them values are compared. max "
        "|a-b|,\nrelative L2 and cosine are over the positions finite on both sides;\nNaN and "
        "Inf positions that differ are counted apart, and always\nfail. JSON prints null where "
        "a value is not finite (relative L2\nagainst an all-zero A, cosine of an all-zero "
        "side).");
    m_diff->footer("Exit codes: 0 every tensor identical (or within tolerance), 1 any\ndiffers, "
                   "2 usage error, an input that cannot be read or a\nstopped run: no answer.");
    m_diff->add_option("A", o.a, "The first checkpoint")->required()->type_name("");
    m_diff->add_option("B", o.b, "The second checkpoint")->required()->type_name("");
    m_diff->add_flag("--json", o.json, "Print everything as one JSON document");
    const CLI::Validator nonNegative(
        [](std::string& value) {
            // strtod, not stod: a subnormal such as 1e-310 is a number (stod throws on its
            // ERANGE); one beyond double's range, 1e309, is not.
            errno = 0;
            char* end = nullptr;
            const double x = std::strtod(value.c_str(), &end);
            if (value.empty() || end != value.c_str() + value.size() || std::isnan(x) ||
                (errno == ERANGE && std::fabs(x) > 1))
                return std::string("not a number: ") + value;
            return x >= 0 ? std::string() : std::string("must be 0 or more");
        },
        "");
    m_diff->add_option("--atol", o.atol, "Absolute tolerance: |a-b| <= atol + rtol*|b| passes")
        ->type_name("X")
        ->check(nonNegative);
    m_diff->add_option("--rtol", o.rtol, "Relative tolerance (see --atol)")
        ->type_name("Y")
        ->check(nonNegative);
    m_diff->add_flag("--names-only", o.namesOnly,
                     "Compare names, dtypes and shapes; read no values");
    m_diff->add_flag("--all", o.all, "Also list identical tensors (text output)");
    m_diff->add_option("--threads", o.threads, "Worker threads, 1 to 256; default: one per core")
        ->type_name("N")
        ->transform(threadCount());
}

void CommandLine::addDemo() {
    m_demo = addCommand("demo", "Write a small sharded demo checkpoint into DIR (new or empty).");
    m_demo->add_option("DIR", m_demoOptions.dir, "Where to write it")->required()->type_name("");
    m_demo->add_flag("--with-value-faults", m_demoOptions.valueFaults,
                     "Plant what 'check' finds: a zero chunk, an all-zero\ntensor, a NaN, an Inf "
                     "and a shard scaled 1000x");
}

const CLI::App* CommandLine::selected() const {
    auto parsed = m_app.get_subcommands();
    return parsed.empty() ? nullptr : parsed.front();
}

bool CommandLine::knownToACommand(const std::string& option) const {
    for (const CLI::App* cmd :
         {m_inspect, m_consolidate, m_verify, m_demo, m_stats, m_check, m_diff})
        if (cmd->get_option_no_throw(option)) return true;
    return false;
}

// CLI11's leftovers lose which side of "--" they came from; a word only after it is positional.
bool CommandLine::isOption(const std::string& word) const {
    if (word.size() < 2 || word[0] != '-') return false;
    return std::ranges::find(m_afterDashes, word) == m_afterDashes.end() ||
           std::ranges::find(m_beforeDashes, word) != m_beforeDashes.end();
}

// The words CLI11 could not place, explained; the first one usually says more than CLI11's
// own error (a missing DIR after `demo --overwrite` is the option's fault).
std::optional<std::string> CommandLine::leftoverProblem() const {
    const CLI::App* cmd = selected();
    std::vector<std::string> left = m_app.remaining(true);
    std::erase(left, "--");
    for (const auto& word : left)
        if (!cmd && !isOption(word)) return "unknown command '" + word + "'";
    for (const auto& word : left) {
        if (!isOption(word)) continue;
        const std::string name = word.substr(0, word.find('='));
        if (m_app.get_option_no_throw(name)) return name + " goes before the command";
        if (cmd && cmd->get_option_no_throw(name)) // given before the command
            return "misplaced option " + name + ": it goes after '" + cmd->get_name() + "'";
        if (!knownToACommand(name)) return "unknown option " + name;
        if (!cmd) return "misplaced option " + name + ": it goes after its command";
        return cmd->get_name() + " does not take " + name;
    }
    if (!left.empty()) return "unexpected argument '" + left.front() + "'";
    return std::nullopt;
}

int CommandLine::usageError(const std::string& message) const {
    const CLI::App* cmd = selected();
    const std::string help =
        cmd ? "shardscope-cli " + cmd->get_name() + " --help" : "shardscope-cli --help";
    std::fprintf(stderr, "shardscope-cli: %s\nRun '%s' for usage.\n", message.c_str(),
                 help.c_str());
    return kUsage;
}

std::optional<int> CommandLine::parse(int argc, char** argv) {
    const auto dashes = std::find(argv + 1, argv + argc, std::string_view("--"));
    m_beforeDashes.assign(argv + 1, dashes);
    if (dashes != argv + argc) m_afterDashes.assign(dashes + 1, argv + argc);
    try {
        m_app.parse(argc, argv);
        return std::nullopt;
    } catch (const CLI::Success& e) {
        return m_app.exit(e); // help or version, on stdout
    } catch (const CLI::ArgumentMismatch& e) {
        // CLI11 says "--threads: 1 required N missing"; with TakeLast that is its only mismatch.
        const std::string what = e.what();
        return usageError(
            leftoverProblem().value_or(what.substr(0, what.find(':')) + " needs a value"));
    } catch (const CLI::ParseError& e) {
        if (auto problem = leftoverProblem()) return usageError(*problem);
        if (selected()) return usageError(e.what());
        std::fputs("shardscope-cli: no command given\n\n", stderr);
        printUsage(stderr);
        return kUsage;
    }
}

int CommandLine::run(std::stop_token stop) const {
    if (*m_inspect) return runInspect(m_inspectOptions, stop);
    if (*m_consolidate || *m_verify) {
        std::unique_ptr<Coordinator> peers;
        try {
            peers = peersFor(*m_consolidate ? m_consolidateOptions.distributed
                                            : m_verifyOptions.distributed,
                             stop);
        } catch (const Error& e) {
            std::fprintf(stderr, "shardscope-cli: %s\n", e.message().c_str());
            return kUsage;
        }
        if (peers && *m_consolidate)
            return onRanks(*peers, [&] {
                return runConsolidateOnRanks(m_consolidateOptions, *m_consolidate, stop, *peers);
            });
        if (peers)
            return onRanks(*peers, [&] { return runVerifyOnRanks(m_verifyOptions, stop, *peers); });
    }
    if (*m_consolidate) return runConsolidate(m_consolidateOptions, *m_consolidate, stop);
    if (*m_verify) return runVerify(m_verifyOptions, stop);
    if (*m_stats) return runStats(m_statsOptions, stop);
    if (*m_check) return runCheck(m_checkOptions, stop);
    if (*m_diff) return runDiff(m_diffOptions, stop);
    return runDemo(m_demoOptions);
}

} // namespace

namespace {

// What was printed must have reached its file: a full disk or a closed descriptor under the
// output ended with exit 0 and the table or JSON lost.
int checkedOutput(int code, int lostCode) {
    std::cout.flush();
    errno = 0;
    const bool flushed = std::fflush(stdout) == 0;
    if (flushed && !std::ferror(stdout)) return code;
    // stdio keeps no errno of an earlier failed write: say what it is when this flush failed.
    const int error = flushed ? 0 : errno;
    std::fprintf(stderr,
                 "shardscope-cli: error: the output could not be written%s%s; what "
                 "was printed is incomplete\n",
                 error ? ": " : "", error ? std::strerror(error) : "");
    return code == kOk ? lostCode : code;
}

} // namespace

int runCli(int argc, char** argv) {
    CommandLine cli;
    if (argc < 2) {
        cli.printUsage(stderr);
        return kUsage;
    }
    if (argc == 2 && std::string_view(argv[1]) == "help") {
        cli.printUsage(stdout);
        return kOk;
    }
    if (auto code = cli.parse(argc, argv)) return checkedOutput(*code, kFailed);
    raiseOpenFileLimit();
    // Parsing starts no thread; every thread the command starts inherits the blocked signals.
    SignalStop signals;
    setFaultStopObserver([token = signals.token()] { return token.stop_requested(); });
    try {
        return checkedOutput(cli.run(signals.token()), cli.lostOutputCode());
    } catch (const Cancelled&) {
        std::fprintf(stderr, "shardscope-cli: cancelled; nothing was written\n");
        return kFailed;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "shardscope-cli: error: %s\n", e.what());
        return kFailed;
    }
}

} // namespace shardscope
