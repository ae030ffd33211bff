// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// shardscope-bench: consolidation against the physical limit, a plain copy of the same shards.
// Generates its workloads once into a cache, then alternates `cp -r` and `shardscope-cli
// consolidate` with a warm page cache and reports medians, ratios, throughput and peak RSS.
// The TREE workload times the module tree the desktop window builds for 100,000 tensors, in
// memory, without files.

#include "export_rules.h"
#include "module_tree.h"
#include "workloads.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace fs = std::filesystem;
using namespace shardscope::bench;

namespace {

struct Run {
    double seconds = 0;
    double cpuSeconds = 0; // user + system of the child
    long maxRssKiB = 0;
    int status = 0;
};

// fork/exec/wait4: wall time and the child's own peak RSS. With `stderrPath`, the child's
// stderr goes to that file, so a failure can be quoted in the report.
Run runCommand(const std::vector<std::string>& args, bool quietStdout,
               const fs::path& stderrPath = {}) {
    std::vector<char*> argv;
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const auto start = std::chrono::steady_clock::now();
    pid_t pid = fork();
    if (pid == 0) {
        if (quietStdout) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, STDOUT_FILENO);
        }
        if (!stderrPath.empty()) {
            int err = open(stderrPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (err >= 0) dup2(err, STDERR_FILENO);
        }
        execvp(argv[0], argv.data());
        _exit(127);
    }
    int status = 0;
    struct rusage usage {};
    wait4(pid, &status, 0, &usage);
    Run r;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.maxRssKiB = usage.ru_maxrss;
    r.cpuSeconds = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                   double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

struct Stats {
    double median = 0, min = 0, max = 0;
    double cpuMedian = 0;
    long rssKiB = 0;
};

Stats stats(std::vector<Run> runs) {
    Stats s;
    std::sort(runs.begin(), runs.end(),
              [](const Run& a, const Run& b) { return a.seconds < b.seconds; });
    const size_t n = runs.size();
    s.median = n % 2 ? runs[n / 2].seconds : (runs[n / 2 - 1].seconds + runs[n / 2].seconds) / 2;
    s.min = runs.front().seconds;
    s.max = runs.back().seconds;
    for (const auto& r : runs)
        s.rssKiB = std::max(s.rssKiB, r.maxRssKiB);
    std::vector<double> cpu;
    for (const auto& r : runs)
        cpu.push_back(r.cpuSeconds);
    std::sort(cpu.begin(), cpu.end());
    s.cpuMedian = n % 2 ? cpu[n / 2] : (cpu[n / 2 - 1] + cpu[n / 2]) / 2;
    return s;
}

uint64_t modelBytes(const fs::path& dir) {
    uint64_t sum = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().extension() == ".safetensors") sum += e.file_size();
    return sum;
}

// 100,000 tensors named as a large mixture-of-experts model names them:
// model.layers.{0..N}.mlp.experts.{0..63}.{gate,up,down}_proj.weight and the like.
std::vector<shardscope::TensorInfo> treeTensors(size_t count) {
    using shardscope::TensorInfo;
    std::vector<TensorInfo> out;
    out.reserve(count);
    auto add = [&](std::string fqn, shardscope::Shape shape) {
        TensorInfo t;
        t.fqn = std::move(fqn);
        t.dtype = shardscope::DType::BF16;
        t.bytes = shardscope::checkedNumel(shape).value_or(0) * 2;
        t.shape = std::move(shape);
        out.push_back(std::move(t));
    };
    add("model.embed_tokens.weight", {151936, 4096});
    add("model.norm.weight", {4096});
    add("lm_head.weight", {151936, 4096});
    for (int l = 0; out.size() < count; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        for (const char* w : {"self_attn.q_proj.weight", "self_attn.k_proj.weight",
                              "self_attn.v_proj.weight", "self_attn.o_proj.weight"})
            add(p + w, {4096, 4096});
        add(p + "input_layernorm.weight", {4096});
        add(p + "post_attention_layernorm.weight", {4096});
        add(p + "mlp.gate.weight", {64, 4096});
        for (int e = 0; e < 64; ++e)
            for (const char* w : {"gate_proj", "up_proj", "down_proj"})
                add(p + "mlp.experts." + std::to_string(e) + "." + w + ".weight", {1408, 4096});
    }
    out.resize(count);
    std::sort(out.begin(), out.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.fqn < b.fqn; });
    return out;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Times buildModuleTree on the tensors above: the first build of the process on its own (its
// memory is fresh, as when the window opens a checkpoint), then the median of `runs` more.
std::string runTreeWorkload(int runs) {
    constexpr size_t kTensors = 100000;
    const auto tensors = treeTensors(kTensors);
    auto start = std::chrono::steady_clock::now();
    size_t nodes = shardscope::buildModuleTree(tensors).nodes.size();
    const double first = secondsSince(start);
    std::vector<Run> builds;
    for (int r = 0; r < runs; ++r) {
        start = std::chrono::steady_clock::now();
        const shardscope::ModuleTree tree = shardscope::buildModuleTree(tensors);
        Run run;
        run.seconds = secondsSince(start);
        nodes = tree.nodes.size();
        builds.push_back(run);
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const Stats s = stats(builds);
    std::printf("TREE  module tree of %zu tensors (%zu nodes): first build %.3f s, then %.3f s "
                "median (%.3f-%.3f) over %d runs; budget 0.5 s; peak RSS %.0f MiB\n",
                kTensors, nodes, first, s.median, s.min, s.max, runs,
                double(usage.ru_maxrss) / 1024);
    char row[256];
    std::snprintf(row, sizeof row, "| TREE, %zu tensors | %.3f | %.3f (%.3f–%.3f) | %zu |\n",
                  kTensors, first, s.median, s.min, s.max, nodes);
    std::fflush(stdout);
    return row;
}

// 100,000 names as a compiled, FSDP-wrapped, checkpointed model saves them, so every name has
// three wrapper components to strip.
shardscope::Checkpoint wrappedCheckpoint(size_t count) {
    shardscope::Checkpoint ckpt;
    ckpt.tensors = treeTensors(count);
    for (auto& t : ckpt.tensors) {
        std::string& n = t.fqn;
        const size_t layers = n.find("layers.");
        if (layers != std::string::npos) {
            const size_t block = n.find('.', layers + 7);
            n.insert(block + 1, "_checkpoint_wrapped_module.");
            n.insert(layers, "_fsdp_wrapped_module.");
        }
        n.insert(0, "_orig_mod.");
    }
    return ckpt;
}

// Times the rename rules of an export over 100,000 names: --strip-wrappers, two regex rules
// with captures and an --exclude, first through the Renamer alone, then the whole selection
// (rename, collisions, include/exclude, cast decisions).
std::string runRenameWorkload(int runs) {
    using namespace shardscope;
    constexpr size_t kTensors = 100000;
    const Checkpoint ckpt = wrappedCheckpoint(kTensors);
    ExportRules rules = {};
    rules.rename = wrapperRules();
    rules.rename.push_back(parseRenameRule(R"(^model\.layers\.(\d+)\.=>blocks.$1.)"));
    rules.rename.push_back(parseRenameRule(R"(\.experts\.(\d+)\.=>.expert$1.)"));
    rules.select.push_back({false, R"(\.mlp\.gate\.weight$)", false});
    rules.cast.to = DType::F16;
    std::vector<Run> renames, selections;
    size_t changed = 0;
    for (int r = 0; r < runs; ++r) {
        auto start = std::chrono::steady_clock::now();
        const Renamer renamer(rules.rename);
        changed = 0;
        for (const auto& t : ckpt.tensors)
            changed += renamer.apply(t.fqn) != t.fqn;
        renames.push_back({secondsSince(start)});
        start = std::chrono::steady_clock::now();
        const ExportSelection selection = selectForExport(ckpt, rules);
        selections.push_back({secondsSince(start)});
        if (!selection.ok()) std::printf("RENAME: the selection has errors\n");
    }
    const Stats a = stats(renames), b = stats(selections);
    std::printf("RENAME %zu names (%zu changed): rename %.3f s median (%.3f-%.3f), whole selection "
                "%.3f s (%.3f-%.3f); target <= 0.2 s: %s\n",
                kTensors, changed, a.median, a.min, a.max, b.median, b.min, b.max,
                a.median <= 0.2 ? "met" : "MISSED");
    char row[256];
    std::snprintf(row, sizeof row, "| RENAME, %zu names | %.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) |\n",
                  kTensors, a.median, a.min, a.max, b.median, b.min, b.max);
    std::fflush(stdout);
    return row;
}

struct Bench {
    fs::path self, cli, cache, scratch;
    int runs = 5;
    std::string threads; // --threads for consolidate, empty: its default
};

// One workload's markdown row, and whether shardscope-cli failed on it.
struct Outcome {
    std::string row;
    bool failed = false;
};

// The first line of what a failed command wrote to stderr, for the report.
std::string firstLine(const fs::path& path) {
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return "";
    char line[400] = {};
    std::string text;
    while (text.empty() && std::fgets(line, sizeof line, f)) {
        text = line;
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
            text.pop_back();
    }
    std::fclose(f);
    return text;
}

std::string failureText(const std::string& command, const Run& run, const fs::path& stderrPath) {
    std::string text =
        "shardscope-cli " + command + " failed (exit " + std::to_string(run.status) + ")";
    std::string why = firstLine(stderrPath);
    if (why.rfind("shardscope-cli: ", 0) == 0) why.erase(0, 16);
    return why.empty() ? text : text + ": " + why;
}

std::string targetText(const Target& t) {
    std::string text;
    auto add = [&](const char* format, double value) {
        char part[64];
        std::snprintf(part, sizeof part, format, value);
        text += (text.empty() ? "" : ", ") + std::string(part);
    };
    if (t.maxRatio > 0)
        add(t.againstCat      ? "<= %.2fx cat"
            : t.againstExport ? "<= %.2fx plain export"
                              : "<= %.2fx cp -r",
            t.maxRatio);
    if (t.maxSeconds > 0) add("<= %g s", t.maxSeconds);
    if (t.maxRssMiB > 0) add("<= %.0f MiB", t.maxRssMiB);
    return text.empty() ? "-" : text;
}

// The target and "met", or "MISSED" with the figures that are over it.
std::string verdict(const Target& t, double ratio, double seconds, double rssMiB) {
    const std::string text = targetText(t);
    if (text == "-") return text;
    std::string over;
    auto add = [&](const char* figure) {
        over += (over.empty() ? "" : ", ") + std::string(figure);
    };
    if (t.maxRatio > 0 && ratio > t.maxRatio) add("ratio");
    if (t.maxSeconds > 0 && seconds > t.maxSeconds) add("time");
    if (t.maxRssMiB > 0 && rssMiB > t.maxRssMiB) add("RSS");
    return text + (over.empty() ? ": met" : ": MISSED (" + over + ")");
}

// Prints and returns the row of a workload shardscope-cli failed on; `copy` is the cp -r
// baseline when there is one.
std::string failedRow(const Workload& w, const std::string& why, const Stats* copy = nullptr) {
    char console[64] = "-", markdown[64] = "-", cpu[32] = "-";
    if (copy) {
        std::snprintf(console, sizeof console, "%6.3f (%.3f-%.3f)", copy->median, copy->min,
                      copy->max);
        std::snprintf(markdown, sizeof markdown, "%.3f (%.3f–%.3f)", copy->median, copy->min,
                      copy->max);
        std::snprintf(cpu, sizeof cpu, "%.2f / -", copy->cpuMedian);
    }
    std::printf("%-7s %-22s FAILED: %s\n", w.name.c_str(), console, why.c_str());
    return "| " + w.name + " | " + markdown + " | **failed**: " + why + " | - | - | - | " + cpu +
           " | " + targetText(w.target) + " |\n";
}

// `inspect DIR [args]`, timed: run 0 warms the page cache and is not counted. DIR holds the
// files of dataWorkload(w) (W5i inspects W5's).
Outcome runInspectWorkload(const Bench& b, const Workload& w) {
    const fs::path dir = b.cache / dataWorkload(w).name, errors = b.scratch / "stderr.txt";
    std::vector<std::string> args = {b.cli.string(), "inspect", dir.string()};
    args.insert(args.end(), w.inspectArgs.begin(), w.inspectArgs.end());
    std::vector<Run> inspect;
    for (int r = 0; r <= b.runs; ++r) {
        Run run = runCommand(args, true, errors);
        if (run.status != 0) return {failedRow(w, failureText("inspect", run, errors)), true};
        if (r > 0) inspect.push_back(run);
    }
    const Stats s = stats(inspect);
    const double rss = double(s.rssKiB) / 1024;
    const std::string target = verdict(w.target, 0, s.median, rss);
    std::printf("%-7s %-22s %6.3f (%.3f-%.3f)   %-7s %-9s %-8.0f %-8s %-8.2f %s\n", w.name.c_str(),
                "-", s.median, s.min, s.max, "-", "-", rss, "-", s.cpuMedian, target.c_str());
    char row[320];
    std::snprintf(row, sizeof row,
                  "| %s inspect | - | %.3f (%.3f–%.3f) | - | - | %.0f MiB | - / %.2f | %s |\n",
                  w.name.c_str(), s.median, s.min, s.max, rss, s.cpuMedian, target.c_str());
    return {row, false};
}

// Prints the console line of a workload timed against a baseline (`cp -r` or `cat`) and returns
// its markdown row; `bytes` are the bytes written (or read) per run.
std::string ratioRow(const Workload& w, const std::string& label, const Stats& c, const Stats& s,
                     uint64_t bytes, const char* rateNote) {
    const double ratio = s.median / c.median, rss = double(s.rssKiB) / 1024;
    const double gibs = double(bytes) / double(1ull << 30) / s.median;
    const std::string target = verdict(w.target, ratio, s.median, rss);
    std::printf(
        "%-7s %6.3f (%.3f-%.3f)   %6.3f (%.3f-%.3f)   %-7.2f %-9.2f %-8.0f %-8.2f %-8.2f %s\n",
        w.name.c_str(), c.median, c.min, c.max, s.median, s.min, s.max, ratio, gibs, rss,
        c.cpuMedian, s.cpuMedian, target.c_str());
    char row[400];
    std::snprintf(row, sizeof row,
                  "| %s | %.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) | %.2f× | %.2f%s | %.0f MiB | %.2f / "
                  "%.2f | %s |\n",
                  label.c_str(), c.median, c.min, c.max, s.median, s.min, s.max, ratio, gibs,
                  rateNote, rss, c.cpuMedian, s.cpuMedian, target.c_str());
    return row;
}

// Alternates `cp -r` and `consolidate` (run 0 warms the cache). When consolidate fails, the
// copies still run, so the report has the baseline next to the failure.
Outcome runConsolidateWorkload(const Bench& b, const Workload& w) {
    const fs::path dir = b.cache / w.name, copyDir = b.scratch / "copy", outDir = b.scratch / "out";
    const fs::path errors = b.scratch / "stderr.txt";
    std::vector<Run> copies, consolidations;
    uint64_t outBytes = 0;
    std::string failure;
    // Each timed command starts with no dirty pages of an earlier run still being written
    // back: outputs are removed and the disk synced, untimed, before it.
    auto settle = [&] {
        fs::remove_all(copyDir);
        fs::remove_all(outDir);
        ::sync();
    };
    for (int r = 0; r <= b.runs; ++r) {
        settle();
        const std::vector<std::string> baseline =
            w.target.againstExport
                ? std::vector<std::string>{b.cli.string(), "consolidate", dir.string(),
                                           copyDir.string(), "--quiet"}
                : std::vector<std::string>{"cp", "-r", dir.string(), copyDir.string()};
        Run copy = runCommand(baseline, false);
        if (copy.status != 0) {
            settle();
            return {
                failedRow(w, baseline[0] + " failed (exit " + std::to_string(copy.status) + ")"),
                true};
        }
        if (r > 0) copies.push_back(copy);
        if (!failure.empty()) continue;
        settle();
        std::vector<std::string> args = {b.cli.string(), "consolidate", dir.string(),
                                         outDir.string(), "--quiet"};
        args.insert(args.end(), w.inspectArgs.begin(), w.inspectArgs.end());
        if (!b.threads.empty()) args.insert(args.end(), {"--threads", b.threads});
        Run cons = runCommand(args, false, errors);
        if (cons.status != 0) {
            failure = failureText("consolidate", cons, errors);
            continue;
        }
        if (r == 0)
            outBytes = modelBytes(outDir);
        else
            consolidations.push_back(cons);
    }
    settle();
    const Stats c = stats(copies);
    if (!failure.empty()) return {failedRow(w, failure, &c), true};
    const std::string label = w.target.againstExport ? w.name + " (vs plain export)" : w.name;
    return {ratioRow(w, label, c, stats(consolidations), outBytes, ""), false};
}

// The data files of a directory (shards or an export), for the `cat` baseline.
std::vector<std::string> dataFiles(const fs::path& dir) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".safetensors" || ext == ".distcp"))
            files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

// DIFF compares W1's shards with their export, made once into the cache.
bool ensureExport(const Bench& b, const fs::path& shards, const fs::path& out) {
    if (fs::exists(out / "model.safetensors.index.json")) return true;
    fs::remove_all(out);
    return runCommand({b.cli.string(), "consolidate", shards.string(), out.string(), "--quiet"},
                      false)
               .status == 0;
}

// Alternates `cat FILES > /dev/null` (the cost of reading every byte once, warm) and the
// command; run 0 warms the cache.
Outcome runValuesWorkload(const Bench& b, const Workload& w) {
    const fs::path dir = b.cache / w.dataOf, errors = b.scratch / "stderr.txt";
    std::vector<fs::path> inputs = {dir};
    if (w.inspectArgs.front() == "diff") {
        inputs.push_back(b.cache / (w.dataOf + ".export"));
        if (!ensureExport(b, dir, inputs.back())) return {failedRow(w, "export failed"), true};
    }
    std::vector<std::string> cat = {"cat"}, args = {b.cli.string()};
    args.insert(args.end(), w.inspectArgs.begin(), w.inspectArgs.end());
    for (const auto& in : inputs) {
        const auto files = dataFiles(in);
        cat.insert(cat.end(), files.begin(), files.end());
        args.push_back(in.string());
    }
    if (!b.threads.empty()) args.insert(args.end(), {"--threads", b.threads});
    std::vector<Run> cats, runs;
    for (int r = 0; r <= b.runs; ++r) {
        const Run c = runCommand(cat, true);
        if (c.status != 0) return {failedRow(w, "cat failed"), true};
        const Run run = runCommand(args, true, errors);
        // diff exits 1 when tensors differ; the export of W1 is identical, so 0 is expected.
        if (run.status != 0)
            return {failedRow(w, failureText(w.inspectArgs.front(), run, errors)), true};
        if (r > 0) cats.push_back(c), runs.push_back(run);
    }
    uint64_t bytes = 0;
    for (const auto& in : inputs)
        bytes += modelBytes(in);
    return {ratioRow(w, w.name + " (vs cat)", stats(cats), stats(runs), bytes, " read"), false};
}

void usage() {
    std::fputs(
        "usage: shardscope-bench [--runs N] [--only W1,W2,...] [--cache DIR] [--scratch DIR]\n"
        "                        [--cli PATH] [--threads N]\n"
        "  --only takes W1,W2,W3,W4,W1x2,W1w (safetensors shards), W1f (F32 W1 cast to BF16,\n"
        "         against the plain export), W1d,W2d,DCPMETA (PyTorch DCP\n"
        "         folders), STATS and DIFF (values of W1, against cat), STATSw (values of\n"
        "         W1w, W1 with weight-like values), STATSf (values of W1f: F32,\n"
        "         with the second read for exact histograms), RENAME (export rules\n"
        "         over 100,000 names, in memory), TREE (the module\n"
        "         tree of 100,000 in-memory tensors, no files) and the 256-rank loads:\n"
        "         W5 (5.12 M chunks, consolidated), W5i (inspect of W5), W6 (inspect of\n"
        "         23 M chunks, headers only), W7 (columns split, consolidated), W7i\n"
        "         (inspect of W7)\n",
        stderr);
}

} // namespace

int main(int argc, char** argv) {
    int runs = 5;
    std::string only, threads;
    fs::path self = fs::canonical("/proc/self/exe");
    fs::path cli = self.parent_path() / "shardscope-cli";
    fs::path cache = self.parent_path().parent_path() / "bench-cache";
    fs::path scratch;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage();
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--runs")
            runs = std::max(1, std::atoi(next().c_str()));
        else if (a == "--only")
            only = next();
        else if (a == "--cache")
            cache = next();
        else if (a == "--scratch")
            scratch = next();
        else if (a == "--cli")
            cli = next();
        else if (a == "--threads")
            threads = next();
        else if (a ==
                 "--generate") { // internal: runs in a child so its memory stays out of the figures
            const std::string name = next();
            for (const Workload& w : workloads())
                if (w.name == name) {
                    fs::path where = cache;
                    for (int k = i + 1; k + 1 < argc; ++k)
                        if (std::string(argv[k]) == "--cache") where = argv[k + 1];
                    ensureWorkload(w, where);
                    return 0;
                }
            return 2;
        } else {
            usage();
            return a == "--help" ? 0 : 2;
        }
    }
    auto wanted = [&](const std::string& name) {
        return only.empty() || ("," + only + ",").find("," + name + ",") != std::string::npos;
    };
    if (wanted("TREE")) {
        const std::string row = runTreeWorkload(runs);
        if (only == "TREE") {
            std::printf("\n| workload | first build (s) | build, median (s) | nodes |\n"
                        "|---|---|---|---|\n%s",
                        row.c_str());
            return 0;
        }
    }
    if (wanted("RENAME")) {
        const std::string row = runRenameWorkload(runs);
        if (only == "RENAME") {
            std::printf("\n| workload | rename, median (s) | whole selection, median (s) |\n"
                        "|---|---|---|\n%s",
                        row.c_str());
            return 0;
        }
    }
    if (scratch.empty()) scratch = cache / "scratch";
    fs::create_directories(scratch);

    const Bench bench{self, cli, cache, scratch, runs, threads};
    std::printf("ShardScope benchmark: %d runs each, alternating, warm page cache; %ld cores\n",
                runs, sysconf(_SC_NPROCESSORS_ONLN));
    std::printf("%-7s %-22s %-22s %-7s %-9s %-8s %-8s %-8s %s\n", "load", "copy s (min-max)",
                "shardscope s (min-max)", "ratio", "out GiB/s", "RSS MiB", "cp CPU s", "ss CPU s",
                "target");
    std::string markdown =
        "| workload | copy (s) | ShardScope (s) | ratio | output GiB/s | peak RSS | "
        "CPU s (copy / ShardScope) | target |\n"
        "|---|---|---|---|---|---|---|---|\n";
    int failures = 0;
    for (const Workload& w : workloads()) {
        if (!wanted(w.name)) continue;
        // A forked child's peak RSS includes the parent's at fork time, so generation (which
        // holds chunk buffers) runs in a process of its own.
        if (!isGenerated(w, cache)) {
            const auto start = std::chrono::steady_clock::now();
            Run gen =
                runCommand({self.string(), "--generate", w.name, "--cache", cache.string()}, false);
            if (gen.status != 0) {
                ++failures;
                markdown +=
                    failedRow(w, "generation failed (exit " + std::to_string(gen.status) + ")");
                continue;
            }
            std::fprintf(stderr, "%s: generated in %.1f s\n", w.name.c_str(), secondsSince(start));
        }
        const Outcome out = w.mode == Mode::Inspect  ? runInspectWorkload(bench, w)
                            : w.mode == Mode::Values ? runValuesWorkload(bench, w)
                                                     : runConsolidateWorkload(bench, w);
        failures += out.failed;
        markdown += out.row;
        std::fflush(stdout);
    }
    std::printf("\n%s", markdown.c_str());
    if (failures)
        std::printf("\n%d workload(s) failed; their other figures are above.\n", failures);
    return failures ? 1 : 0;
}
