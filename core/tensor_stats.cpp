// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "tensor_stats.h"

#include "format_units.h"
#include "parallel.h"
#include "posix_file.h"
#include "stored_chunk.h"
#include "throttled_progress.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>

namespace shardscope {
namespace {

// Windows of at least this many 8- or 16-bit elements are counted per bit pattern in a table
// and folded straight into their tensor; below it a list of patterns is cheaper than a walk
// over 2^16 counts.
constexpr uint64_t kPatternCountsFrom = 16384;
// Read size within a pattern-counted window: well inside L2 with the counting tables.
constexpr uint64_t kPieceBytes = 256 << 10;

// One read-and-reduce step: a window of a plain chunk, or a whole stored (decoded) chunk.
struct Task {
    uint32_t tensor = 0;
    uint32_t chunk = 0;
    uint64_t from = 0; // bytes into the chunk
    uint64_t to = 0;
};

// A chunk's counts so far; every field adds up over its windows.
struct ChunkState {
    uint64_t count = 0, zeros = 0, nan = 0, inf = 0, finite = 0;
    long double sumSquares = 0; // as Moments keeps it: F64 squares may leave double's range
    uint32_t windowsLeft = 0;

    void add(const Moments& m) {
        count += m.count;
        zeros += m.zeros;
        nan += m.nan;
        inf += m.posInf + m.negInf;
        finite += m.finite();
        sumSquares += m.sumSquares + m.sumSquaresCompensation;
    }
    ChunkSummary summary() const {
        return {count, zeros, nan, inf,
                finite ? double(std::sqrt(std::max(0.0L, sumSquares) / (long double)(finite)))
                       : 0.0};
    }
};

// What is being gathered for one tensor; freed as soon as its last chunk is in, so memory
// stays bounded by the tensors in flight (tasks are handed out in tensor order).
struct TensorState {
    std::mutex mutex;
    std::unique_ptr<ValueAccumulator> acc;
    std::vector<ChunkState> chunks;
    size_t chunksLeft = 0;
};

// Accumulators hold a 512 KiB table once dense: recycled rather than freed, since fresh
// pages cost a fault each.
class AccumulatorPool {
public:
    std::unique_ptr<ValueAccumulator> take(DType type) {
        std::lock_guard lock(m_mutex);
        if (m_spare.empty()) return std::make_unique<ValueAccumulator>(type);
        auto acc = std::move(m_spare.back());
        m_spare.pop_back();
        acc->reset(type);
        return acc;
    }
    void give(std::unique_ptr<ValueAccumulator> acc) {
        std::lock_guard lock(m_mutex);
        m_spare.push_back(std::move(acc));
    }

private:
    std::mutex m_mutex;
    std::vector<std::unique_ptr<ValueAccumulator>> m_spare;
};

class StatsRun {
public:
    StatsRun(const Checkpoint& ckpt, const StatsOptions& options)
        : m_ckpt(ckpt), m_options(options),
          m_progress(options.progress, std::chrono::milliseconds(100)) {}

    CheckpointStats run() {
        const auto start = std::chrono::steady_clock::now();
        m_result.tensors.resize(m_ckpt.tensors.size());
        m_states = std::vector<TensorState>(m_ckpt.tensors.size());
        m_refinements.resize(m_ckpt.tensors.size());
        planTasks();
        openSources();
        m_progress.update([&](StatsProgress& p) {
            p.bytesTotal = m_total;
            return true;
        });
        // In rounds of tensors (tasks are in tensor order), each read once and then, where its
        // histograms need it, a second time: what waits for the second read is bounded by a
        // round, not by the checkpoint (a few KiB per tensor).
        for (size_t from = 0; from < m_tasks.size();) {
            const uint32_t first = m_tasks[from].tensor;
            size_t to = from;
            while (to < m_tasks.size() &&
                   m_tasks[to].tensor - first < std::max(1u, m_options.tensorsPerRound))
                ++to;
            if (from > 0)
                m_progress.update([&](StatsProgress& p) {
                    p.binning = false;
                    return true;
                });
            parallelForWorkers(to - from, m_options.threads,
                               [&](size_t i, int) { runTask(m_tasks[from + i]); });
            refineHistograms(first, size_t(m_tasks[to - 1].tensor) + 1);
            from = to;
        }
        m_progress.update([&](StatsProgress& p) {
            p.bytesDone = m_total;
            return true;
        });
        m_result.bytesRead = m_total;
        m_result.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return std::move(m_result);
    }

private:
    bool selected(const TensorInfo& t) const {
        if (!hasValueStats(t.dtype) || t.status == CoverageStatus::Invalid) return false;
        return !m_options.select || m_options.select(t);
    }

    void planTasks() {
        for (size_t i = 0; i < m_ckpt.tensors.size(); ++i) {
            const TensorInfo& t = m_ckpt.tensors[i];
            if (!selected(t)) continue;
            TensorState& state = m_states[i];
            state.chunks.resize(t.chunks.size());
            state.chunksLeft = t.chunks.size();
            m_result.tensors[i].computed = true;
            m_result.tensors[i].chunks.resize(t.chunks.size());
            if (t.chunks.empty()) finishTensor(i, state);
            for (size_t j = 0; j < t.chunks.size(); ++j) {
                m_total += t.chunks[j].bytes();
                m_files.push_back(t.chunks[j].file);
                state.chunks[j].windowsLeft = addWindows(m_tasks, i, j);
            }
        }
    }

    // Tasks reading chunk j of tensor i a window at a time (a stored chunk, decoded, whole).
    uint32_t addWindows(std::vector<Task>& tasks, size_t i, size_t j) const {
        const TensorInfo& t = m_ckpt.tensors[i];
        const Chunk& c = t.chunks[j];
        const uint64_t bytes = c.bytes();
        if (c.stored) {
            tasks.push_back({uint32_t(i), uint32_t(j), 0, bytes});
            return 1;
        }
        const uint64_t element = std::max(1u, dtypeBits(t.dtype) / 8);
        const uint64_t window = std::max<uint64_t>(m_options.windowBytes, 64);
        const uint64_t step = std::max(element, window / element * element);
        uint32_t windows = 0;
        for (uint64_t from = 0; from < bytes || windows == 0; from += step, ++windows)
            tasks.push_back({uint32_t(i), uint32_t(j), from, std::min(bytes, from + step)});
        return windows;
    }

    // The second read, of the wide-dtype tensors among [begin, end) whose keys left elements near
    // bin edges: each such element is binned by its value, so every histogram is exact.
    void refineHistograms(size_t begin, size_t end) {
        std::vector<Task> tasks;
        uint64_t bytes = 0;
        for (size_t i = begin; i < end; ++i) {
            if (!m_refinements[i]) continue;
            const TensorInfo& t = m_ckpt.tensors[i];
            m_result.tensors[i].linear = m_refinements[i]->linear();
            m_result.tensors[i].log = m_refinements[i]->log();
            for (size_t j = 0; j < t.chunks.size(); ++j) {
                if (t.chunks[j].replica) continue; // counted once, through its first copy
                addWindows(tasks, i, j);
                bytes += t.chunks[j].bytes();
            }
        }
        if (tasks.empty()) return;
        m_total += bytes;
        m_progress.update([&](StatsProgress& p) {
            p.bytesTotal = m_total;
            p.binning = true;
            return true;
        });
        parallelForWorkers(tasks.size(), m_options.threads,
                           [&](size_t i, int) { runTask(tasks[i], &StatsRun::refine); });
        for (size_t i = begin; i < end; ++i)
            m_refinements[i].reset();
    }

    void refine(const TensorInfo& t, const Chunk& c, const Task& task) {
        const uint64_t element = dtypeBits(t.dtype) / 8;
        const std::span<const char> bytes = read(t, c, task);
        Histogram linear, log;
        m_refinements[task.tensor]->add(bytes.data(), bytes.size() / element, linear, log);
        TensorStats& out = m_result.tensors[task.tensor];
        std::lock_guard lock(m_states[task.tensor].mutex);
        for (int b = 0; b < kHistogramBins; ++b) {
            out.linear.counts[size_t(b)] += linear.counts[size_t(b)];
            out.log.counts[size_t(b)] += log.counts[size_t(b)];
        }
    }

    void openSources() {
        std::sort(m_files.begin(), m_files.end());
        m_files.erase(std::unique(m_files.begin(), m_files.end()), m_files.end());
        if (m_files.size() > 64) raiseOpenFileLimit();
        m_sources.resize(m_ckpt.files.size());
        for (uint32_t f : m_files)
            m_sources[f] = PosixFile::openRead(m_ckpt.files[f].path);
    }

    using Step = void (StatsRun::*)(const TensorInfo&, const Chunk&, const Task&);
    void runTask(const Task& task, Step step = &StatsRun::reduce) {
        if (m_options.stop.stop_requested()) throw Cancelled();
        const TensorInfo& t = m_ckpt.tensors[task.tensor];
        const Chunk& c = t.chunks[task.chunk];
        try {
            (this->*step)(t, c, task);
        } catch (const Error& e) {
            if (!e.tensor().empty()) throw;
            throw Error(e.kind(), e.file(), t.fqn, e.message() + " (chunk " + regionText(c) + ")");
        }
        m_progress.update([&](StatsProgress& p) {
            p.bytesDone += c.stored ? c.bytes() : task.to - task.from;
            return false;
        });
    }

    void reduce(const TensorInfo& t, const Chunk& c, const Task& task) {
        const uint64_t element = std::max(1u, dtypeBits(t.dtype) / 8);
        if (!hasPatternCounts(t.dtype) || (task.to - task.from) / element < kPatternCountsFrom) {
            static thread_local std::unique_ptr<ValueAccumulator> window;
            if (!window) window = std::make_unique<ValueAccumulator>(t.dtype);
            window->reset(t.dtype);
            const std::span<const char> bytes = read(t, c, task);
            window->add(bytes.data(), bytes.size() / element);
            fold(task, *window);
            return;
        }
        static thread_local PatternCounts patterns;
        patterns.reset(t.dtype);
        if (c.stored) {
            const std::span<const char> bytes = read(t, c, task);
            patterns.add(bytes.data(), bytes.size() / element);
        } else {
            countPieces(c, task, element, patterns);
        }
        foldPatterns(task, patterns);
    }

    // A window of a plain chunk, read and counted a piece at a time so that each piece is
    // still in the core's cache when it is counted (a whole window is larger than L2).
    void countPieces(const Chunk& c, const Task& task, uint64_t element, PatternCounts& patterns) {
        static thread_local std::vector<char> piece;
        const uint64_t step = std::max(element, kPieceBytes / element * element);
        piece.resize(step);
        for (uint64_t at = task.from; at < task.to; at += step) {
            const uint64_t length = std::min(step, task.to - at);
            m_sources[c.file].readExact(piece.data(), length, c.begin + at);
            patterns.add(piece.data(), length / element);
        }
    }

    // The task's bytes: a window read from its file, or the whole stored chunk decoded. Valid
    // until the thread's next task.
    std::span<const char> read(const TensorInfo& t, const Chunk& c, const Task& task) {
        static thread_local std::vector<char> buffer;
        if (c.stored) {
            buffer = decodeStoredChunk(m_ckpt, t, c, m_sources[c.file], m_options.stop);
            return buffer;
        }
        const uint64_t length = task.to - task.from;
        if (buffer.size() < length) buffer.resize(length);
        m_sources[c.file].readExact(buffer.data(), length, c.begin + task.from);
        return {buffer.data(), length};
    }

    void fold(const Task& task, const ValueAccumulator& window) {
        const Moments counts = window.counts(); // outside the lock: the costly part
        const bool replica = m_ckpt.tensors[task.tensor].chunks[task.chunk].replica;
        TensorState& state = m_states[task.tensor];
        std::lock_guard lock(state.mutex);
        if (!replica) { // replicas are counted once, through their first copy
            if (!state.acc) state.acc = m_pool.take(window.dtype());
            state.acc->merge(window);
        }
        finishWindow(task, state, counts);
    }

    void foldPatterns(const Task& task, PatternCounts& patterns) {
        const bool replica = m_ckpt.tensors[task.tensor].chunks[task.chunk].replica;
        TensorState& state = m_states[task.tensor];
        std::lock_guard lock(state.mutex);
        if (!replica && !state.acc) state.acc = m_pool.take(m_ckpt.tensors[task.tensor].dtype);
        const Moments counts = patterns.foldInto(replica ? nullptr : state.acc.get());
        finishWindow(task, state, counts);
    }

    // Under the tensor's lock: the window's counts join its chunk's; the last window of the
    // last chunk finishes the tensor.
    void finishWindow(const Task& task, TensorState& state, const Moments& counts) {
        ChunkState& chunk = state.chunks[task.chunk];
        chunk.add(counts);
        if (--chunk.windowsLeft > 0) return;
        m_result.tensors[task.tensor].chunks[task.chunk] = chunk.summary();
        if (--state.chunksLeft == 0) finishTensor(task.tensor, state);
    }

    void finishTensor(size_t i, TensorState& state) {
        TensorStats& out = m_result.tensors[i];
        if (state.acc) {
            ValueSummary summary = state.acc->summary();
            out.moments = summary.moments;
            out.linear = summary.linear;
            out.log = summary.log;
            m_refinements[i] = state.acc->refinement(summary.moments);
            m_pool.give(std::move(state.acc));
        }
        std::vector<ChunkState>().swap(state.chunks);
    }

    const Checkpoint& m_ckpt;
    const StatsOptions& m_options;
    ThrottledProgress<StatsProgress> m_progress;
    CheckpointStats m_result;
    std::vector<TensorState> m_states;
    // Per tensor, when its histograms need the second read.
    std::vector<std::unique_ptr<const HistogramRefinement>> m_refinements;
    AccumulatorPool m_pool;
    std::vector<Task> m_tasks;
    std::vector<uint32_t> m_files;
    std::vector<PosixFile> m_sources;
    uint64_t m_total = 0;
};

std::string fileName(const Checkpoint& ckpt, const Chunk& c) {
    return c.file < ckpt.files.size() ? ckpt.files[c.file].name : std::string();
}

std::string countText(uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string number(double v) {
    std::ostringstream out;
    out.precision(6);
    out << v;
    return out.str();
}

// The shortest text that reads back as `v`: a constant BF16 -3.140625 read "-3.14062" at six
// digits, another value.
std::string exactNumber(double v) {
    char text[32];
    const auto end = std::to_chars(text, text + sizeof text, v).ptr;
    return std::string(text, end);
}

// A ratio of two RMS values, in extended range (1e300 against 1e-300 is 1e600, "inf" in a
// double), with digits enough to read above the threshold it passed (100.00001 read "100").
std::string ratioText(long double ratio, double threshold) {
    char text[64];
    for (int digits = 6;; ++digits) {
        std::snprintf(text, sizeof text, "%.*Lg", digits, ratio);
        if (digits >= 21 || std::strtold(text, nullptr) > threshold) return text;
    }
}

// Findings of one tensor, in kind order.
class TensorFindings {
public:
    TensorFindings(const Checkpoint& ckpt, const TensorInfo& tensor, const TensorStats& stats,
                   const FindingOptions& options, std::vector<Problem>& out)
        : m_ckpt(ckpt), m_tensor(tensor), m_stats(stats), m_options(options), m_out(out) {}

    void run() {
        nonFinite(true);
        nonFinite(false);
        const Moments& m = m_stats.moments;
        const bool allZero = m.count > 0 && m.zeros == m.count;
        const bool isFloat = isFloatDType(m_tensor.dtype);
        // A one-element tensor tells nothing by being zero or constant (a step counter, a gate).
        // An all-zero mask or counter (BOOL, integers) is ordinary: it is only "constant".
        const bool enough = m.count >= m_options.minConstantElements;
        const std::string all =
            m.count == 1 ? "its 1 element" : "all " + std::to_string(m.count) + " elements";
        if (enough && allZero && isFloat)
            add(Severity::Warning, ErrorKind::AllZeros, firstFile(),
                all + (m.count == 1 ? " is zero" : " are zero") + spannedFiles() +
                    " (a tensor saved before it was filled?)");
        else if (enough && m.finite() == m.count && m.constant())
            add(Severity::Warning, ErrorKind::ConstantTensor, firstFile(),
                all + (m.count == 1 ? " is " : " equal ") +
                    exactIntegerText(m, Extreme::Min).value_or(exactNumber(m.min)) +
                    spannedFiles());
        // Masks and indices (BOOL, integers) hold all-zero blocks and chunks of very different
        // sizes by design: a causal mask split 2 × 2 has an all-false corner, and an arange
        // split in chunks has RMS from 0.5 to its length. Dropped and mis-scaled shards are a
        // float tensor's failures.
        if (!isFloat) return;
        if (!allZero) zeroChunks();
        normSpread();
    }

private:
    void add(Severity severity, ErrorKind kind, const std::string& file, std::string message) {
        m_out.push_back({severity, file, m_tensor.fqn, std::move(message), kind});
    }

    std::string firstFile() const {
        return m_tensor.chunks.empty() ? std::string() : fileName(m_ckpt, m_tensor.chunks[0]);
    }

    // ", across a, b and c": the files of a tensor held by more than one, so a finding about
    // the whole tensor names every file it came from (the first is the problem's file).
    std::string spannedFiles() const {
        std::vector<std::string> names;
        for (const Chunk& c : m_tensor.chunks) {
            if (checkedNumel(c.shape).value_or(1) == 0) continue; // holds none of the elements
            std::string name = fileName(m_ckpt, c);
            if (std::find(names.begin(), names.end(), name) == names.end())
                names.push_back(std::move(name));
        }
        if (names.size() < 2) return {};
        constexpr size_t kNamed = 4;
        std::string out = ", across " + std::to_string(names.size()) + " files: ";
        for (size_t k = 0; k < names.size() && k < kNamed; ++k)
            out += (k ? ", " : "") + names[k];
        if (names.size() > kNamed) out += " and " + std::to_string(names.size() - kNamed) + " more";
        return out;
    }

    std::string where(size_t j) const {
        const Chunk& c = m_tensor.chunks[j];
        return "chunk " + regionText(c) + " in " + fileName(m_ckpt, c) +
               (c.replica ? " (a replica)" : "");
    }

    // NaN (nan = true) or Inf, in the tensor or in any replica of it.
    void nonFinite(bool nan) {
        const Moments& m = m_stats.moments;
        std::vector<size_t> where_;
        for (size_t j = 0; j < m_stats.chunks.size(); ++j)
            if (nan ? m_stats.chunks[j].nan : m_stats.chunks[j].inf) where_.push_back(j);
        if (where_.empty()) return;
        uint64_t inReplicas = 0; // replicas are not in the tensor's totals
        for (size_t j : where_)
            if (m_tensor.chunks[j].replica)
                inReplicas += nan ? m_stats.chunks[j].nan : m_stats.chunks[j].inf;
        const uint64_t own = nan ? m.nan : m.posInf + m.negInf;
        std::string message;
        if (nan)
            message = countText(own ? own : inReplicas, "NaN element", "NaN elements");
        else if (own)
            message = m.posInf && m.negInf
                          ? countText(m.posInf, "+Inf", "+Inf") + " and " +
                                countText(m.negInf, "-Inf element", "-Inf elements")
                          : countText(own, m.posInf ? "+Inf element" : "-Inf element",
                                      m.posInf ? "+Inf elements" : "-Inf elements");
        else
            message = countText(inReplicas, "Inf element", "Inf elements");
        if (!own)
            message += ", all in replicas (the first copy of the region is clean)";
        else if (inReplicas)
            message +=
                ", and " + std::to_string(inReplicas) + " more in replicas of the same region";
        message += ", in ";
        for (size_t k = 0; k < where_.size() && k < 3; ++k)
            message += (k ? "; " : "") + where(where_[k]);
        if (where_.size() > 3) message += "; and " + std::to_string(where_.size() - 3) + " more";
        add(Severity::Error, nan ? ErrorKind::ValueNaN : ErrorKind::ValueInf,
            fileName(m_ckpt, m_tensor.chunks[where_[0]]), message);
    }

    void zeroChunks() {
        for (size_t j = 0; j < m_stats.chunks.size(); ++j) {
            const ChunkSummary& s = m_stats.chunks[j];
            // A one-element chunk holding a zero says nothing of a dropped shard.
            if (s.count < m_options.minConstantElements || s.zeros != s.count) continue;
            add(Severity::Error, ErrorKind::ZeroChunk, fileName(m_ckpt, m_tensor.chunks[j]),
                where(j) + " is all zeros (" + countText(s.count, "element", "elements") +
                    ") while the rest of the tensor is not: a dropped or unwritten shard?");
        }
    }

    void normSpread() {
        size_t lo = SIZE_MAX, hi = SIZE_MAX;
        for (size_t j = 0; j < m_stats.chunks.size(); ++j) {
            const ChunkSummary& s = m_stats.chunks[j];
            if (m_tensor.chunks[j].replica || !(s.rms > 0) || !std::isfinite(s.rms)) continue;
            if (lo == SIZE_MAX || s.rms < m_stats.chunks[lo].rms) lo = j;
            if (hi == SIZE_MAX || s.rms > m_stats.chunks[hi].rms) hi = j;
        }
        if (lo == hi || lo == SIZE_MAX) return;
        // Decided in double: RMS values whose true ratio is exactly 100 come out a few units in
        // the last place apart, which the double quotient rounds away and a wider one keeps.
        // Only a quotient past double's range is formed again in extended range.
        const double rhi = m_stats.chunks[hi].rms, rlo = m_stats.chunks[lo].rms;
        const double quotient = rhi / rlo;
        if (!(quotient > m_options.normSpread)) return;
        const long double ratio =
            std::isinf(quotient) ? (long double)rhi / (long double)rlo : (long double)quotient;
        add(Severity::Warning, ErrorKind::NormSpread, fileName(m_ckpt, m_tensor.chunks[hi]),
            "chunk RMS differs " + ratioText(ratio, m_options.normSpread) +
                "x: " + number(m_stats.chunks[hi].rms) + " in " + where(hi) + " against " +
                number(m_stats.chunks[lo].rms) + " in " + where(lo) + " (a mis-scaled shard?)");
    }

    const Checkpoint& m_ckpt;
    const TensorInfo& m_tensor;
    const TensorStats& m_stats;
    const FindingOptions& m_options;
    std::vector<Problem>& m_out;
};

} // namespace

CheckpointStats computeStats(const Checkpoint& checkpoint, const StatsOptions& options) {
    return StatsRun(checkpoint, options).run();
}

std::vector<Problem> valueFindings(const Checkpoint& checkpoint, const CheckpointStats& stats,
                                   const FindingOptions& options) {
    std::vector<Problem> out;
    const size_t n = std::min(checkpoint.tensors.size(), stats.tensors.size());
    for (size_t i = 0; i < n; ++i)
        if (stats.tensors[i].computed)
            TensorFindings(checkpoint, checkpoint.tensors[i], stats.tensors[i], options, out).run();
    return out;
}

std::string regionText(const Chunk& chunk) {
    std::string out = "[";
    for (size_t d = 0; d < chunk.shape.size(); ++d) {
        const uint64_t from = d < chunk.offsets.size() ? chunk.offsets[d] : 0;
        out += (d ? ", " : "") + std::to_string(from) + ":" + std::to_string(from + chunk.shape[d]);
    }
    return out + "]";
}

} // namespace shardscope
