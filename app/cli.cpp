#include "cli.h"

#include "checkpoint.h"
#include "demo.h"
#include "engine.h"
#include "format_units.h"
#include "plan.h"
#include "posix_file.h"
#include "safetensors_writer.h"
#include "signal_stop.h"
#include "verify.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;

namespace shardscope {
namespace {

constexpr int kOk = 0, kFailed = 1, kUsage = 2;

std::stop_token g_stop; // set by runCli from its SignalStop

const char* kUsageText =
    R"(Usage: shardscope-cli <command> [options]

Commands:
  inspect DIR [--json] [--mapping FILE] [--unmapped error|last]
      List every tensor of a DCP shard directory (dtype, full shape, chunks,
      coverage, target file) and every problem. Exit 1 when it cannot be
      consolidated.
  consolidate IN OUT [--mapping FILE] [--threads N] [--unmapped error|last]
                     [--overwrite] [--verify] [--sync] [--quiet]
      Write Hugging Face safetensors files and model.safetensors.index.json
      into OUT (created if needed). Files are staged inside OUT, verified
      with --verify, and only then published; until then OUT keeps its
      previous export.
  verify OUT [--against IN]
      Check a consolidated directory; with --against, compare every byte
      with the shards.
  demo DIR
      Write a small sharded demo checkpoint into DIR.

Exit codes: 0 success, 1 bad input or failed run, 2 usage error.
)";

struct Args {
    std::vector<std::string> positional;
    std::optional<std::string> mapping, against, unmapped, threads;
    bool json = false, overwrite = false, quiet = false, sync = false, help = false, verify = false;
};

class UsageError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

Args parseArgs(int argc, char** argv, int first) {
    Args a;
    for (int i = first; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&](std::optional<std::string>& slot) {
            auto eq = arg.find('=');
            if (eq != std::string::npos) {
                slot = arg.substr(eq + 1);
                return;
            }
            if (i + 1 >= argc) throw UsageError(arg + " needs a value");
            slot = argv[++i];
        };
        auto is = [&](const char* name) {
            return arg == name || arg.rfind(std::string(name) + "=", 0) == 0;
        };
        if (arg == "--json")
            a.json = true;
        else if (arg == "--overwrite")
            a.overwrite = true;
        else if (arg == "--quiet" || arg == "-q")
            a.quiet = true;
        else if (arg == "--verify")
            a.verify = true;
        else if (arg == "--sync")
            a.sync = true;
        else if (arg == "--help" || arg == "-h")
            a.help = true;
        else if (is("--mapping"))
            value(a.mapping);
        else if (is("--against"))
            value(a.against);
        else if (is("--unmapped"))
            value(a.unmapped);
        else if (is("--threads"))
            value(a.threads);
        else if (arg.size() > 1 && arg[0] == '-')
            throw UsageError("unknown option " + arg);
        else
            a.positional.push_back(arg);
    }
    return a;
}

void expectPositional(const Args& a, size_t count, const char* what) {
    if (a.positional.size() != count) throw UsageError(std::string("expected ") + what);
}

UnmappedPolicy policyOf(const Args& a) {
    if (!a.unmapped || *a.unmapped == "error") return UnmappedPolicy::Error;
    if (*a.unmapped == "last") return UnmappedPolicy::LastFile;
    throw UsageError("--unmapped takes 'error' or 'last', not '" + *a.unmapped + "'");
}

int threadsOf(const Args& a) {
    if (!a.threads) return 0;
    try {
        size_t used = 0;
        int n = std::stoi(*a.threads, &used);
        if (used == a.threads->size() && n >= 1 && n <= 256) return n;
    } catch (const std::exception&) {
    }
    throw UsageError("--threads takes a number from 1 to 256, not '" + *a.threads + "'");
}

Mapping mappingOf(const Args& a, const Checkpoint& ckpt) {
    return a.mapping ? loadMapping(*a.mapping) : defaultMapping(ckpt);
}

std::string mappingSource(const Mapping& m) {
    if (m.fileIndex.empty()) return "none (every tensor in one file)";
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
           R"(,"message":)" + jsonQuote(p.message) + "}";
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
    out += R"(,"mapping":)";
    if (mapping.fileIndex.empty())
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
        auto target = plan.weightMap.find(t.fqn);
        out += i ? R"(,{"fqn":)" : R"({"fqn":)";
        appendJsonQuoted(out, t.fqn);
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
            out += ch.replica ? R"(],"replica":true})" : R"(],"replica":false})";
        }
        out += "]}";
        if (out.size() > (1 << 20)) flush();
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

void printInspectText(const Checkpoint& ckpt, const Mapping& mapping, const Plan& plan) {
    std::string out;
    out += "Checkpoint: " + ckpt.directory.string() + "\n";
    out += "  " + std::to_string(ckpt.files.size()) + " shard files, " +
           std::to_string(ckpt.tensors.size()) + " tensors, " + formatBytes(ckpt.totalBytes()) +
           "\n  mapping: " + mappingSource(mapping) + "\n\n";
    for (const auto& t : ckpt.tensors) {
        auto target = plan.weightMap.find(t.fqn);
        out += t.fqn + "  " + std::string(dtypeName(t.dtype)) + " " + formatShape(t.shape) + "  " +
               formatBytes(t.bytes) + "  " + std::to_string(t.chunks.size()) + " chunk(s)  " +
               std::string(coverageStatusName(t.status)) + "  -> " +
               (target == plan.weightMap.end() ? "(unassigned)" : target->second) + "\n";
        for (const auto& c : t.chunks) {
            const auto& f = ckpt.files[c.file];
            out += "    " + f.name + "  saved_offsets " + formatShape(c.offsets) + "  shape " +
                   formatShape(c.shape) + "  data_offsets [" +
                   std::to_string(c.begin - f.dataStart) + ", " +
                   std::to_string(c.end - f.dataStart) + ")" + (c.replica ? "  (replica)" : "") +
                   "\n";
        }
        if (out.size() > (1 << 20)) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            out.clear();
        }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::cout << "\nOutput plan: " << plan.files.size() << " file(s), "
              << formatBytes(plan.totalFileBytes()) << "\n";
    for (const auto& f : plan.files)
        std::cout << "  " << f.name << "  " << f.tensors.size() << " tensors  "
                  << formatBytes(f.fileSize()) << "\n";
}

int cmdInspect(const Args& a) {
    expectPositional(a, 1, "inspect DIR");
    UnmappedPolicy policy = policyOf(a);
    ScanOptions scan;
    scan.stop = g_stop;
    Checkpoint ckpt = scanCheckpoint(a.positional[0], scan);
    Mapping mapping = mappingOf(a, ckpt);
    Plan plan = makePlan(ckpt, mapping, policy);
    const bool ok = !ckpt.hasErrors() && plan.ok();
    if (a.json) {
        printInspectJson(ckpt, mapping, plan, ok);
    } else {
        printInspectText(ckpt, mapping, plan);
        std::vector<Problem> all = ckpt.problems;
        all.insert(all.end(), plan.problems.begin(), plan.problems.end());
        if (all.empty())
            std::cout << "\nNo problems: ready to consolidate.\n";
        else {
            std::cout << "\nProblems (" << all.size() << "):\n";
            std::cout.flush();
            printProblems(std::cout, all, 200);
        }
    }
    std::cout.flush();
    if (!ok)
        std::cerr << "shardscope-cli: " << ckpt.directory.string()
                  << " cannot be consolidated as it stands (see the problems above)\n";
    return ok ? kOk : kFailed;
}

int cmdConsolidate(const Args& a) {
    expectPositional(a, 2, "consolidate IN OUT");
    UnmappedPolicy policy = policyOf(a);
    EngineOptions options;
    options.threads = threadsOf(a);
    options.overwrite = a.overwrite;
    options.sync = a.sync;
    options.verify = a.verify;
    options.stop = g_stop;

    ScanOptions scan;
    scan.stop = g_stop;
    Checkpoint ckpt = scanCheckpoint(a.positional[0], scan);
    Mapping mapping = mappingOf(a, ckpt);
    Plan plan = makePlan(ckpt, mapping, policy);
    std::vector<Problem> all = ckpt.problems;
    all.insert(all.end(), plan.problems.begin(), plan.problems.end());
    if (ckpt.hasErrors() || !plan.ok()) {
        printProblems(std::cerr, all, 50);
        std::cerr << "shardscope-cli: nothing written: fix the errors above first\n";
        return kFailed;
    }
    if (!a.quiet) printProblems(std::cerr, all, 50); // warnings only at this point

    const bool live = !a.quiet && ::isatty(STDERR_FILENO);
    const auto start = std::chrono::steady_clock::now();
    if (live) {
        options.progress = [start, phase = EnginePhase::Preparing,
                            phaseStart = start](const EngineProgress& p) mutable {
            if (p.phase != phase) phase = p.phase, phaseStart = std::chrono::steady_clock::now();
            const double elapsed =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - phaseStart)
                    .count();
            const double fraction = p.bytesTotal ? double(p.bytesDone) / double(p.bytesTotal) : 1;
            const double rate = elapsed > 0 ? double(p.bytesDone) / elapsed : 0;
            std::string eta = rate > 0 && fraction > 0.01
                                  ? formatSeconds(double(p.bytesTotal - p.bytesDone) / rate)
                                  : "?";
            std::fprintf(stderr, "\r\033[K%s [%3d%%] %s / %s  %s/s  ETA %s  %s",
                         std::string(enginePhaseName(p.phase)).c_str(), int(fraction * 100),
                         formatBytes(p.bytesDone).c_str(), formatBytes(p.bytesTotal).c_str(),
                         formatBytes(uint64_t(rate)).c_str(), eta.c_str(), p.currentFile.c_str());
            std::fflush(stderr);
        };
    }
    EngineResult result;
    try {
        result = consolidate(ckpt, plan, a.positional[1], options);
    } catch (const ExportFailed& e) {
        if (live) std::fprintf(stderr, "\r\033[K");
        for (const auto& note : e.notes())
            std::fprintf(stderr, "note: %s\n", note.c_str());
        if (e.cancelled())
            std::fprintf(stderr, "shardscope-cli: cancelled. %s\n", e.onDisk().c_str());
        else
            std::fprintf(stderr, "shardscope-cli: error: %s\n%s\n", e.what(), e.onDisk().c_str());
        return kFailed;
    }
    if (live) std::fprintf(stderr, "\r\033[K");
    for (const auto& note : result.notes)
        std::fprintf(stderr, "note: %s\n", note.c_str());
    if (!a.quiet) {
        const double gib = double(result.bytesWritten) / double(1ull << 30);
        std::printf("Wrote %zu file(s), %s in %.2f s (%.2f GiB/s) to %s", result.files.size(),
                    formatBytes(result.bytesWritten).c_str(), result.seconds,
                    result.seconds > 0 ? gib / result.seconds : 0.0, a.positional[1].c_str());
        if (!result.sidecars.empty())
            std::printf("; copied %zu sidecar file(s)", result.sidecars.size());
        if (result.verified) std::printf("; verified byte for byte before publishing");
        if (result.replacedFiles) std::printf("; replaced the previous export");
        std::printf("\n");
    }
    return kOk;
}

int cmdVerify(const Args& a) {
    expectPositional(a, 1, "verify OUT");
    std::optional<Checkpoint> ckpt;
    if (a.against) {
        ScanOptions scan;
        scan.stop = g_stop;
        ckpt = scanCheckpoint(*a.against, scan);
        if (ckpt->hasErrors()) {
            printProblems(std::cerr, ckpt->problems, 50);
            std::cerr << "shardscope-cli: the shards given to --against have errors\n";
            return kFailed;
        }
    }
    VerifyReport report = verifyOutput(a.positional[0], ckpt ? &*ckpt : nullptr, g_stop);
    if (!report.ok()) {
        printProblems(std::cerr, report.problems, 100);
        std::cerr << "shardscope-cli: verification FAILED for " << a.positional[0] << "\n";
        return kFailed;
    }
    std::printf("OK: %zu file(s), %zu tensors", report.files, report.tensors);
    if (ckpt)
        std::printf(", %s compared byte for byte with %s",
                    formatBytes(report.bytesCompared).c_str(), a.against->c_str());
    std::printf("\n");
    return kOk;
}

int cmdDemo(const Args& a) {
    expectPositional(a, 1, "demo DIR");
    const fs::path dir = a.positional[0];
    std::error_code ec;
    if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
        throw Error(dir.string(), "",
                    "is not empty; the demo is written only into a new or empty directory");
    writeDemoCheckpoint(dir);
    std::printf("Wrote the demo checkpoint to %s\n", dir.c_str());
    return kOk;
}

} // namespace

int runCli(int argc, char** argv) {
    if (argc < 2) {
        std::fputs(kUsageText, stderr);
        return kUsage;
    }
    const std::string command = argv[1];
    if (command == "--help" || command == "-h" || command == "help") {
        std::fputs(kUsageText, stdout);
        return kOk;
    }
    raiseOpenFileLimit();
    SignalStop signals;
    g_stop = signals.token();
    try {
        Args a = parseArgs(argc, argv, 2);
        if (a.help) {
            std::fputs(kUsageText, stdout);
            return kOk;
        }
        if (command == "inspect") return cmdInspect(a);
        if (command == "consolidate") return cmdConsolidate(a);
        if (command == "verify") return cmdVerify(a);
        if (command == "demo") return cmdDemo(a);
        throw UsageError("unknown command '" + command + "'");
    } catch (const UsageError& e) {
        std::fprintf(stderr, "shardscope-cli: %s\n\n%s", e.what(), kUsageText);
        return kUsage;
    } catch (const Cancelled&) {
        std::fprintf(stderr, "shardscope-cli: cancelled; nothing was written\n");
        return kFailed;
    } catch (const Error& e) {
        std::fprintf(stderr, "shardscope-cli: error: %s\n", e.what());
        return kFailed;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "shardscope-cli: error: %s\n", e.what());
        return kFailed;
    }
}

} // namespace shardscope
