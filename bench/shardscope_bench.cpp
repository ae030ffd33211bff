// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// shardscope-bench: consolidation against the physical limit, a plain copy of the same shards.
// Generates its workloads once into a cache, then alternates `cp -r` and `shardscope-cli
// consolidate` with a warm page cache and reports medians, ratios, throughput and peak RSS.
// The TREE workload times the module tree the desktop window builds for 100,000 tensors, in
// memory, without files.

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

// fork/exec/wait4: wall time and the child's own peak RSS.
Run runCommand(const std::vector<std::string>& args, bool quietStdout) {
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
    for (const auto& e : fs::directory_iterator(dir))
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

void usage() {
    std::fputs(
        "usage: shardscope-bench [--runs N] [--only W1,W2,...] [--cache DIR] [--scratch DIR]\n"
        "                        [--cli PATH] [--threads N]\n"
        "  --only TREE times the module tree of 100,000 in-memory tensors (no files)\n",
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
    if (scratch.empty()) scratch = cache / "scratch";
    fs::create_directories(scratch);

    std::printf("ShardScope benchmark: %d runs each, alternating, warm page cache; %ld cores\n",
                runs, sysconf(_SC_NPROCESSORS_ONLN));
    std::printf("%-5s %-22s %-22s %-7s %-9s %-8s %-8s %-8s\n", "load", "copy s (min-max)",
                "shardscope s (min-max)", "ratio", "out GiB/s", "RSS MiB", "cp CPU s", "ss CPU s");
    std::string markdown =
        "| workload | copy (s) | ShardScope (s) | ratio | output GiB/s | peak RSS |\n"
        "|---|---|---|---|---|---|\n";
    for (const Workload& w : workloads()) {
        if (!wanted(w.name)) continue;
        // A forked child's peak RSS includes the parent's at fork time, so generation (which
        // holds chunk buffers) runs in a process of its own.
        if (!isGenerated(w, cache)) {
            Run gen =
                runCommand({self.string(), "--generate", w.name, "--cache", cache.string()}, false);
            if (gen.status != 0) {
                std::fprintf(stderr, "%s: generation failed\n", w.name.c_str());
                return 1;
            }
        }
        const fs::path dir = cache / w.name;
        if (w.inspectOnly) {
            std::vector<Run> inspect;
            for (int r = 0; r <= runs; ++r) {
                Run run = runCommand({cli.string(), "inspect", dir.string(), "--json"}, true);
                if (run.status != 0) {
                    std::fprintf(stderr, "%s: inspect failed (%d)\n", w.name.c_str(), run.status);
                    return 1;
                }
                if (r > 0) inspect.push_back(run); // the first run warms the cache
            }
            Stats s = stats(inspect);
            std::printf("%-5s %-22s %6.3f (%.3f-%.3f)   %-7s %-9s %-10.0f\n", w.name.c_str(), "-",
                        s.median, s.min, s.max, "-", "-", double(s.rssKiB) / 1024);
            char row[256];
            std::snprintf(row, sizeof row,
                          "| %s inspect | - | %.3f (%.3f–%.3f) | - | - | %.0f MiB |\n",
                          w.name.c_str(), s.median, s.min, s.max, double(s.rssKiB) / 1024);
            markdown += row;
            continue;
        }
        std::vector<Run> copies, consolidations;
        const fs::path copyDir = scratch / "copy", outDir = scratch / "out";
        uint64_t outBytes = 0;
        // Each timed command starts with no dirty pages of an earlier run still being written
        // back: outputs are removed and the disk synced, untimed, before it.
        auto settle = [&] {
            fs::remove_all(copyDir);
            fs::remove_all(outDir);
            ::sync();
        };
        for (int r = 0; r <= runs; ++r) { // run 0 warms the cache and is not counted
            settle();
            Run copy = runCommand({"cp", "-r", dir.string(), copyDir.string()}, false);
            settle();
            std::vector<std::string> args = {cli.string(), "consolidate", dir.string(),
                                             outDir.string(), "--quiet"};
            if (!threads.empty()) args.insert(args.end(), {"--threads", threads});
            Run cons = runCommand(args, false);
            if (copy.status != 0 || cons.status != 0) {
                std::fprintf(stderr, "%s: a run failed (cp %d, consolidate %d)\n", w.name.c_str(),
                             copy.status, cons.status);
                return 1;
            }
            if (r == 0) {
                outBytes = modelBytes(outDir);
                continue;
            }
            copies.push_back(copy);
            consolidations.push_back(cons);
        }
        fs::remove_all(outDir);
        Stats c = stats(copies), s = stats(consolidations);
        const double ratio = s.median / c.median;
        const double gibs = double(outBytes) / double(1ull << 30) / s.median;
        std::printf(
            "%-5s %6.3f (%.3f-%.3f)   %6.3f (%.3f-%.3f)   %-7.2f %-9.2f %-8.0f %-8.2f %-8.2f\n",
            w.name.c_str(), c.median, c.min, c.max, s.median, s.min, s.max, ratio, gibs,
            double(s.rssKiB) / 1024, c.cpuMedian, s.cpuMedian);
        char row[320];
        std::snprintf(row, sizeof row,
                      "| %s | %.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) | %.2f× | %.2f | %.0f MiB |\n",
                      w.name.c_str(), c.median, c.min, c.max, s.median, s.min, s.max, ratio, gibs,
                      double(s.rssKiB) / 1024);
        markdown += row;
        std::fflush(stdout);
    }
    std::printf("\n%s", markdown.c_str());
    return 0;
}
