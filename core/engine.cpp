// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "engine.h"

#include "coordinator.h"
#include "dtype_cast.h"
#include "fault.h"
#include "format_units.h"
#include "model_config.h"
#include "output_set.h"
#include "parallel.h"
#include "posix_file.h"
#include "rank_assignment.h"
#include "runs.h"
#include "sidecars.h"
#include "stored_chunk.h"
#include "tensor_reader.h"
#include "throttled_progress.h"
#include "verify.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <sys/statvfs.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace shardscope {
namespace {

// Tensors whose runs are all at least this long are copied by the kernel straight from shard to
// output; the others are gathered into a window buffer so each output region is written once.
constexpr uint64_t kDirectRunBytes = 256 << 10;
// Reads of neighbouring chunks merge when the hole between them is at most this large.
constexpr uint64_t kReadMergeGap = 64 << 10;

bool isModelFileName(const std::string& name) {
    return name.rfind("model-", 0) == 0 && name.size() > 12 &&
           name.compare(name.size() - 12, 12, ".safetensors") == 0;
}

bool samePath(const fs::path& a, const fs::path& b) {
    std::error_code ec;
    if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec);
    return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

struct Task {
    size_t file;       // index into plan.files
    uint64_t from, to; // data-section range
};

// Tensors the plan writes in another dtype: assembled in source order by a TensorReader, then
// converted into the window. Counts of values the cast could not keep are summed per tensor.
class CastWriter {
public:
    CastWriter(const Checkpoint& ckpt, std::stop_token stop)
        : m_ckpt(ckpt), m_reader(ckpt), m_counts(ckpt.tensors.size()), m_stop(std::move(stop)) {}

    // Output bytes [lo, hi) of tensor `index` (written as `to`) into out[0, hi - lo).
    void write(size_t index, DType to, uint64_t lo, uint64_t hi, char* out,
               TensorReader::Scratch& scratch, std::vector<char>& source,
               std::vector<char>& staged) {
        const TensorInfo& t = m_ckpt.tensors[index];
        const uint64_t inBytes = dtypeBits(t.dtype) / 8, outBytes = dtypeBits(to) / 8;
        const uint64_t e0 = lo / outBytes, e1 = (hi + outBytes - 1) / outBytes;
        // Windows cut tensors at element boundaries unless an element straddles the window's
        // edge; then the whole elements are converted aside and the wanted bytes copied.
        const bool aligned = e0 * outBytes == lo && e1 * outBytes == hi;
        char* target = out;
        if (!aligned) {
            staged.resize((e1 - e0) * outBytes);
            target = staged.data();
        }
        source.resize((e1 - e0) * inBytes);
        m_reader.read(t, e0 * inBytes, e1 * inBytes, source.data(), scratch, m_stop);
        CastCounts counts;
        castElements(t.dtype, to, source.data(), target, e1 - e0, counts);
        if (!aligned) std::memcpy(out, staged.data() + (lo - e0 * outBytes), hi - lo);
        if (counts.overflow || counts.underflow) {
            std::lock_guard lock(m_mutex);
            m_counts[index].overflow += counts.overflow;
            m_counts[index].underflow += counts.underflow;
        }
    }

    // Tensors whose cast lost values, with the counts (called once the writers are done).
    std::vector<CastLoss> losses(const Plan& plan) const {
        std::vector<CastLoss> out;
        for (const auto& file : plan.files)
            for (const auto& pt : file.tensors) {
                const CastCounts& c = m_counts[pt.tensor];
                if (c.overflow || c.underflow)
                    out.push_back({m_ckpt.tensors[pt.tensor].fqn, m_ckpt.tensors[pt.tensor].dtype,
                                   pt.dtype, c.overflow, c.underflow});
            }
        return out;
    }

private:
    const Checkpoint& m_ckpt;
    TensorReader m_reader;
    std::mutex m_mutex;
    std::vector<CastCounts> m_counts;
    std::stop_token m_stop;
};

class Copier {
public:
    Copier(const Checkpoint& ckpt, const Plan& plan, const EngineOptions& options,
           const std::vector<PosixFile>& sources, const std::vector<PosixFile>& outputs,
           const std::vector<bool>& directTensors, DecodedChunks& decoded,
           std::vector<std::mutex>& writeLocks, CastWriter* caster)
        : m_ckpt(ckpt), m_plan(plan), m_options(options), m_sources(sources), m_outputs(outputs),
          m_writeLocks(writeLocks), m_direct(directTensors), m_decoded(decoded), m_caster(caster) {}

    void run(const Task& task, std::vector<char>& window, std::vector<char>& scratch) {
        const PlannedFile& file = m_plan.files[task.file];
        const PosixFile& out = m_outputs[task.file];
        const uint64_t dataStart = file.header.size();
        m_spans.clear();
        m_writes.clear();
        if (window.size() < task.to - task.from) window.resize(task.to - task.from);

        auto it =
            std::upper_bound(file.tensors.begin(), file.tensors.end(), task.from,
                             [](uint64_t pos, const PlannedTensor& t) { return pos < t.end; });
        for (; it != file.tensors.end() && it->begin < task.to; ++it) {
            const TensorInfo& tensor = m_ckpt.tensors[it->tensor];
            const uint64_t lo = std::max(it->begin, task.from) - it->begin;
            const uint64_t hi = std::min(it->end, task.to) - it->begin;
            if (lo >= hi) continue;
            const bool cast = it->dtype != tensor.dtype;
            const bool direct =
                !cast && m_options.directCopy && !m_noKernelCopy && m_direct[it->tensor];
            if (!direct) { // the gathered bytes of this tensor go out with the window
                if (!m_writes.empty() && m_writes.back().second == it->begin + lo)
                    m_writes.back().second = it->begin + hi;
                else
                    m_writes.push_back({it->begin + lo, it->begin + hi});
            }
            if (cast) {
                checkCancel();
                m_caster->write(it->tensor, it->dtype, lo, hi,
                                window.data() + (it->begin + lo - task.from), m_readScratch,
                                m_castSource, m_castStaged);
                continue;
            }
            const unsigned bits = dtypeBits(tensor.dtype);
            for (const Chunk& chunk : tensor.chunks) {
                if (chunk.replica) continue;
                checkCancel();
                ChunkRuns runs(tensor.shape, chunk.offsets, chunk.shape, bits);
                const uint64_t runBytes = runs.runBytes();
                if (runs.count() == 0 || runBytes == 0) continue;
                const uint64_t r0 = runs.firstEndingAfter(lo), r1 = runs.firstStartingFrom(hi);
                if (r0 >= r1) continue;
                if (chunk.stored) { // decoded once into row-major bytes, then scattered
                    const auto bytes = m_decoded.get(tensor, chunk, m_options.stop);
                    Span s{chunk.file, 0, 0, &tensor, &chunk, it->begin, lo, hi, r0, r1};
                    scatterRuns(s, bytes->data(), 0, 0, window.data(), task.from);
                    continue;
                }
                // The runs of one chunk are back to back in its shard: one span to read.
                const uint64_t first = runs.dstByte(r0), last = runs.dstByte(r1 - 1);
                const uint64_t srcStart =
                    chunk.begin + r0 * runBytes + (std::max(first, lo) - first);
                const uint64_t srcEnd =
                    chunk.begin + (r1 - 1) * runBytes + (std::min(last + runBytes, hi) - last);
                if (direct) {
                    for (uint64_t r = r0; r < r1; ++r) {
                        const uint64_t start = runs.dstByte(r);
                        const uint64_t a = std::max(start, lo), b = std::min(start + runBytes, hi);
                        naming(tensor, [&] {
                            copyDirect(chunk.file, chunk.begin + r * runBytes + (a - start),
                                       dataStart + it->begin + a, b - a, out, scratch);
                        });
                    }
                    continue;
                }
                m_spans.push_back(
                    {chunk.file, srcStart, srcEnd, &tensor, &chunk, it->begin, lo, hi, r0, r1});
            }
        }
        // Read in shard order, neighbouring spans merged into one read, then scatter the runs.
        std::sort(m_spans.begin(), m_spans.end(), [](const Span& a, const Span& b) {
            return a.file != b.file ? a.file < b.file : a.srcStart < b.srcStart;
        });
        for (size_t i = 0; i < m_spans.size();) {
            checkCancel();
            const uint32_t src = m_spans[i].file;
            const uint64_t readStart = m_spans[i].srcStart;
            uint64_t readEnd = m_spans[i].srcEnd;
            size_t j = i + 1;
            while (j < m_spans.size() && m_spans[j].file == src &&
                   m_spans[j].srcStart <= readEnd + kReadMergeGap &&
                   m_spans[j].srcEnd - readStart <=
                       std::max<uint64_t>(scratch.size(), task.to - task.from)) {
                readEnd = std::max(readEnd, m_spans[j].srcEnd);
                ++j;
            }
            try {
                if (!readInPlace(i, j, scratch, window.data(), task.from)) {
                    if (scratch.size() < readEnd - readStart) scratch.resize(readEnd - readStart);
                    m_sources[src].readExact(scratch.data(), readEnd - readStart, readStart);
                    for (size_t k = i; k < j; ++k)
                        scatter(m_spans[k], scratch.data(), readStart, window.data(), task.from);
                }
            } catch (const Error& e) {
                if (!e.tensor().empty()) throw;
                nameTheTensor(i, j, scratch);
                throw;
            }
            i = j;
        }
        // Buffered writes to one file serialize on its inode lock anyway, and a writer waiting
        // there spins in the kernel (measured: 43% of the CPU of a one-file W2d export); here
        // it sleeps instead.
        std::lock_guard lock(m_writeLocks[task.file]);
        for (const auto& [from, to] : m_writes)
            out.writeExact(window.data() + (from - task.from), to - from, dataStart + from);
    }

private:
    struct Span {
        uint32_t file;
        uint64_t srcStart, srcEnd; // absolute range in the shard file
        const TensorInfo* tensor;
        const Chunk* chunk;
        uint64_t tensorBegin; // the tensor's offset in the output data section
        uint64_t lo, hi;      // tensor-local bytes this window covers
        uint64_t r0, r1;      // the runs that fall in it
    };

    // `source` holds shard bytes from sourceFrom on; `window` data-section bytes from windowFrom
    // on.
    static void scatter(const Span& s, const char* source, uint64_t sourceFrom, char* window,
                        uint64_t windowFrom) {
        scatterRuns(s, source, s.chunk->begin, sourceFrom, window, windowFrom);
    }

    // The chunk's row-major byte k is source[chunkBase + k - sourceFrom]: file reads start
    // anywhere in a chunk (chunkBase is its file offset), decoded chunks at 0. The sum is
    // formed before the subtraction so no pointer ever leaves the buffer.
    static void scatterRuns(const Span& s, const char* source, uint64_t chunkBase,
                            uint64_t sourceFrom, char* window, uint64_t windowFrom) {
        ChunkRuns runs(s.tensor->shape, s.chunk->offsets, s.chunk->shape,
                       dtypeBits(s.tensor->dtype));
        const uint64_t runBytes = runs.runBytes();
        for (uint64_t r = s.r0; r < s.r1; ++r) {
            const uint64_t start = runs.dstByte(r);
            const uint64_t a = std::max(start, s.lo), b = std::min(start + runBytes, s.hi);
            std::memcpy(window + (s.tensorBegin + a - windowFrom),
                        source + (chunkBase + r * runBytes + (a - start) - sourceFrom), b - a);
        }
    }

    // Reads spans [i, j) of one file straight into their places in the window (one preadv
    // part per run; the gaps between spans go to scratch), saving the copy out of a read buffer
    // that column-split chunks cost (measured on W2d: a memcpy of every byte, 0.3 s of CPU).
    // False when the spans overlap, so the caller reads through scratch as before.
    // Writing the runs with pwritev straight from mmapped shards (one copy, not two) was
    // measured and is slower: W5 took 7.8-9.6 s instead of 3.7 s, the kernel faulting in every
    // source page (fault_in_readable) and updating page tables.
    bool readInPlace(size_t i, size_t j, std::vector<char>& scratch, char* window,
                     uint64_t windowFrom) {
        m_parts.clear();
        uint64_t at = m_spans[i].srcStart;
        for (size_t k = i; k < j; ++k) {
            const Span& s = m_spans[k];
            if (s.srcStart < at) return false;
            if (s.srcStart > at) { // at most kReadMergeGap: read and dropped
                if (scratch.size() < kReadMergeGap) scratch.resize(kReadMergeGap);
                m_parts.push_back({scratch.data(), size_t(s.srcStart - at)});
            }
            ChunkRuns runs(s.tensor->shape, s.chunk->offsets, s.chunk->shape,
                           dtypeBits(s.tensor->dtype));
            const uint64_t runBytes = runs.runBytes();
            uint64_t bytes = 0;
            for (uint64_t r = s.r0; r < s.r1; ++r) {
                const uint64_t start = runs.dstByte(r);
                const uint64_t a = std::max(start, s.lo), b = std::min(start + runBytes, s.hi);
                m_parts.push_back({window + (s.tensorBegin + a - windowFrom), size_t(b - a)});
                bytes += b - a;
            }
            // Only the first run can start late and the last end early, so the runs fill the
            // span exactly; anything else reads through scratch.
            if (bytes != s.srcEnd - s.srcStart) return false;
            at = s.srcEnd;
        }
        m_sources[m_spans[i].file].readScattered(m_parts, m_spans[i].srcStart);
        return true;
    }

    void checkCancel() const {
        if (m_options.stop.stop_requested()) throw Cancelled();
    }

    // A read error names the tensor whose bytes it lacks: a file cut short said only "file
    // ended early at byte N". A merged read spans several tensors, so each is read alone again
    // and the first that fails is named (if none does, the caller's error stands).
    void nameTheTensor(size_t begin, size_t end, std::vector<char>& scratch) {
        for (size_t k = begin; k < end; ++k) {
            const Span& s = m_spans[k];
            if (scratch.size() < s.srcEnd - s.srcStart) scratch.resize(s.srcEnd - s.srcStart);
            naming(*s.tensor, [&] {
                m_sources[s.file].readExact(scratch.data(), s.srcEnd - s.srcStart, s.srcStart);
            });
        }
    }

    template <class Read> static void naming(const TensorInfo& tensor, Read&& read) {
        try {
            read();
        } catch (const Error& e) {
            if (!e.tensor().empty()) throw;
            throw Error(e.kind(), e.file(), tensor.fqn, e.message());
        }
    }

    void copyDirect(uint32_t file, uint64_t src, uint64_t dst, uint64_t length,
                    const PosixFile& out, std::vector<char>& scratch) {
        loff_t in = loff_t(src), to = loff_t(dst);
        uint64_t left = length;
        while (left > 0 && !m_noKernelCopy) {
            ssize_t n = ::copy_file_range(m_sources[file].fd(), &in, out.fd(), &to, left, 0);
            if (n > 0) {
                left -= uint64_t(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
                          errno == EINVAL || errno == EBADF)) {
                m_noKernelCopy = true; // this filesystem pair cannot; copy through memory
                break;
            }
            if (n == 0)
                throw Error(ErrorKind::Io, m_sources[file].path(), "",
                            "file ended early at byte " + std::to_string(in));
            throw Error(ErrorKind::Io, out.path(), "", "copy failed: " + systemError(errno));
        }
        while (left > 0) { // through memory, in bounded blocks
            uint64_t n = std::min<uint64_t>(left, scratch.size());
            m_sources[file].readExact(scratch.data(), n, uint64_t(in));
            out.writeExact(scratch.data(), n, uint64_t(to));
            in += loff_t(n), to += loff_t(n), left -= n;
        }
    }

    const Checkpoint& m_ckpt;
    const Plan& m_plan;
    const EngineOptions& m_options;
    const std::vector<PosixFile>& m_sources;
    const std::vector<PosixFile>& m_outputs;
    std::vector<std::mutex>& m_writeLocks;
    const std::vector<bool>& m_direct;
    DecodedChunks& m_decoded;
    CastWriter* m_caster;
    TensorReader::Scratch m_readScratch;
    std::vector<char> m_castSource, m_castStaged;
    std::vector<Span> m_spans;
    std::vector<std::pair<uint64_t, uint64_t>> m_writes;
    std::vector<iovec> m_parts;
    bool m_noKernelCopy = false;
};

// Progress within one phase at a time, from any thread.
class ProgressReporter {
public:
    explicit ProgressReporter(const EngineOptions& options)
        : m_progress(options.progress, options.progressInterval) {}

    void phase(EnginePhase phase, uint64_t total, const std::string& file = {}) {
        m_progress.update([&](EngineProgress& p) {
            p = {phase, 0, total, file};
            return true;
        });
    }
    void add(uint64_t bytes, const std::string& file) {
        m_progress.update([&](EngineProgress& p) {
            p.bytesDone += bytes;
            p.currentFile = file;
            return p.bytesDone >= p.bytesTotal;
        });
    }
    void set(uint64_t done) {
        m_progress.update([&](EngineProgress& p) {
            p.bytesDone = done;
            return done >= p.bytesTotal;
        });
    }

private:
    ThrottledProgress<EngineProgress> m_progress;
};

// Writes the plan's data files into a directory: headers first, then every window of every file,
// round-robin over files so threads mostly write different files (buffered writes to one file
// serialize on its inode lock, and contending threads burn CPU spinning).
class DataFileWriter {
public:
    DataFileWriter(const Checkpoint& ckpt, const Plan& plan, const EngineOptions& options,
                   ProgressReporter& reporter)
        : m_ckpt(ckpt), m_plan(plan), m_options(options), m_reporter(reporter) {}

    // Writes the plan's files, or only those `mine` marks (a rank of a distributed run).
    void write(const fs::path& dir, const std::vector<bool>& mine = {}) {
        m_mine = mine.empty() ? std::vector<bool>(m_plan.files.size(), true) : mine;
        std::vector<PosixFile> sources(m_ckpt.files.size());
        for (size_t i = 0; i < m_ckpt.files.size(); ++i) {
            sources[i] = PosixFile::openRead(m_ckpt.files[i].path);
            ::posix_fadvise(sources[i].fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
        }
        std::vector<PosixFile> outputs(m_plan.files.size());
        for (size_t f = 0; f < m_plan.files.size(); ++f) {
            if (m_options.stop.stop_requested()) throw Cancelled();
            if (!m_mine[f]) continue;
            const PlannedFile& pf = m_plan.files[f];
            outputs[f] = PosixFile::createNew(dir / pf.name);
            outputs[f].truncate(pf.fileSize());
            outputs[f].writeExact(pf.header.data(), pf.header.size(), 0);
            m_reporter.add(pf.header.size(), pf.name);
        }
        const std::vector<Task> tasks = makeTasks();
        const int threads =
            std::max(1, std::min<int>(effectiveThreads(m_options.threads), int(tasks.size())));
        const std::vector<bool> direct = directTensors();
        const uint64_t window = std::max<uint64_t>(m_options.windowBytes, 4096);
        DecodedChunks decoded(m_ckpt, sources);
        if (planCasts()) m_caster = std::make_unique<CastWriter>(m_ckpt, m_options.stop);
        std::vector<std::mutex> writeLocks(outputs.size());
        std::vector<std::unique_ptr<Copier>> copiers;
        std::vector<std::vector<char>> windows(threads), scratches(threads);
        for (int t = 0; t < threads; ++t) {
            copiers.push_back(std::make_unique<Copier>(m_ckpt, m_plan, m_options, sources, outputs,
                                                       direct, decoded, writeLocks,
                                                       m_caster.get()));
            scratches[t].resize(std::min<uint64_t>(window, 16 << 20));
        }
        parallelForWorkers(tasks.size(), threads, [&](size_t i, int worker) {
            if (m_options.stop.stop_requested()) throw Cancelled();
            const Task& task = tasks[i];
            copiers[worker]->run(task, windows[worker], scratches[worker]);
            m_reporter.add(task.to - task.from, m_plan.files[task.file].name);
        });
        if (m_options.stop.stop_requested()) throw Cancelled();
        for (auto& out : outputs) {
            if (!out.isOpen()) continue;
            if (m_options.sync) out.sync();
            out.close();
        }
    }

    std::vector<CastLoss> castLosses() const {
        return m_caster ? m_caster->losses(m_plan) : std::vector<CastLoss>{};
    }

private:
    bool planCasts() const {
        for (const auto& file : m_plan.files)
            for (const auto& pt : file.tensors)
                if (pt.dtype != m_ckpt.tensors[pt.tensor].dtype) return true;
        return false;
    }

    std::vector<Task> makeTasks() const {
        std::vector<Task> tasks;
        const uint64_t window = std::max<uint64_t>(m_options.windowBytes, 4096);
        for (uint64_t from = 0;; from += window) {
            bool any = false;
            for (size_t f = 0; f < m_plan.files.size(); ++f) {
                const uint64_t size = m_plan.files[f].dataSize;
                if (from >= size || !m_mine[f]) continue;
                tasks.push_back({f, from, std::min(size, from + window)});
                any = true;
            }
            if (!any) break;
        }
        return tasks;
    }

    // A tensor goes the kernel-copy way only when every one of its runs is long.
    std::vector<bool> directTensors() const {
        std::vector<bool> direct(m_ckpt.tensors.size(), false);
        for (size_t i = 0; i < m_ckpt.tensors.size(); ++i) {
            const TensorInfo& t = m_ckpt.tensors[i];
            if (t.status != CoverageStatus::Complete) continue;
            bool allLong = !t.chunks.empty();
            for (const Chunk& c : t.chunks)
                allLong = allLong && !c.stored &&
                          ChunkRuns(t.shape, c.offsets, c.shape, dtypeBits(t.dtype)).runBytes() >=
                              kDirectRunBytes;
            direct[i] = allLong;
        }
        return direct;
    }

    const Checkpoint& m_ckpt;
    const Plan& m_plan;
    const EngineOptions& m_options;
    ProgressReporter& m_reporter;
    std::unique_ptr<CastWriter> m_caster;
    std::vector<bool> m_mine;
};

void copySidecar(const fs::path& from, const fs::path& to, const EngineOptions& options,
                 ProgressReporter& reporter) {
    if (const int injected = faultPoint(FaultOp::Copy))
        throw Error(ErrorKind::Io, from.string(), "", "cannot copy: " + systemError(injected));
    PosixFile in = PosixFile::openRead(from);
    PosixFile out = PosixFile::createNew(to);
    const uint64_t size = in.size();
    std::vector<char> buffer(std::min<uint64_t>(size, 1 << 20));
    for (uint64_t done = 0; done < size;) {
        if (options.stop.stop_requested()) throw Cancelled();
        const uint64_t n = std::min<uint64_t>(buffer.size(), size - done);
        in.readExact(buffer.data(), n, done);
        out.writeExact(buffer.data(), n, done);
        done += n;
        reporter.add(n, from.filename().string());
    }
    if (options.sync) out.sync();
    out.close();
}

void writeTextFile(const fs::path& path, const std::string& text, bool sync) {
    PosixFile file = PosixFile::createNew(path);
    file.writeExact(text.data(), text.size(), 0);
    if (sync) file.sync();
    file.close();
}

std::string configForExport(const fs::path& config, const Plan& plan) {
    const std::string text = readSmallFile(config, kMaxConfigBytes, "config.json");
    try {
        return updatedModelConfig(text, plan.castTo, plan.tiedEmbeddings);
    } catch (const std::exception& e) {
        throw Error(ErrorKind::Other, config.string(), "",
                    std::string("cannot record the export's dtype in it: ") + e.what());
    }
}

// The copy of config.json states the dtype the weights now have (and the tie, when lm_head was
// left out), or a loader would build the model in the old dtype; the source stays untouched.
void writeUpdatedConfig(const fs::path& from, const fs::path& to, const Plan& plan,
                        const EngineOptions& options, ProgressReporter& reporter) {
    const std::string updated = configForExport(from, plan);
    writeTextFile(to, updated, options.sync);
    reporter.add(updated.size(), from.filename().string());
}

uint64_t sidecarBytes(const Checkpoint& ckpt) {
    uint64_t sum = 0;
    std::error_code ec;
    for (const auto& side : sidecarFiles(ckpt)) {
        const auto size = fs::file_size(side, ec);
        if (!ec) sum += size;
    }
    return sum;
}

// --strict-cast: a value that became Inf is data lost, so the export is not published.
void refuseOverflow(const std::vector<CastLoss>& losses) {
    size_t tensors = 0;
    const CastLoss* first = nullptr;
    for (const auto& loss : losses)
        if (loss.overflow && tensors++ == 0) first = &loss;
    if (!first) return;
    throw Error(ErrorKind::CastOverflow, "", first->fqn,
                std::to_string(first->overflow) + " value(s) too large for " +
                    std::string(dtypeName(first->to)) + " would become Inf" +
                    (tensors > 1 ? " (and " + std::to_string(tensors - 1) + " more tensors)" : "") +
                    "; strict cast refuses to lose them");
}

const Problem* firstError(const std::vector<Problem>& problems, size_t* count) {
    const Problem* first = nullptr;
    *count = 0;
    for (const auto& p : problems)
        if (p.severity == Severity::Error && (*count)++ == 0) first = &p;
    return first;
}

// The sidecars, then the index, into the set's staging directory (rank 0's part of a
// distributed run).
void writeSidecarsAndIndex(const Checkpoint& ckpt, const Plan& plan, OutputSet& set,
                           const EngineOptions& options, ProgressReporter& reporter,
                           EngineResult& result) {
    const fs::path& staging = set.stagingDirectory();
    for (const auto& side : sidecarFiles(ckpt)) {
        const std::string name = side.filename().string();
        if (name == "config.json" && (plan.castTo || plan.tiedEmbeddings))
            writeUpdatedConfig(side, staging / name, plan, options, reporter);
        else
            copySidecar(side, staging / name, options, reporter);
        set.add(name);
        result.sidecars.push_back(name);
    }
    if (options.stop.stop_requested()) throw Cancelled();
    const std::string index = plan.indexJson();
    writeTextFile(staging / kIndexFileName, index, options.sync);
    reporter.add(index.size(), kIndexFileName);
    set.add(kIndexFileName);
}

// FNV-1a over the plan's index and headers: ranks that scanned different shards, or run
// different builds, would write files that do not fit together.
uint64_t planDigest(const Plan& plan) {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&](const std::string& text) {
        for (unsigned char c : text)
            h = (h ^ c) * 1099511628211ull;
    };
    mix(plan.indexJson());
    for (const auto& f : plan.files)
        mix(f.header);
    return h;
}

// consolidate() over several processes: every rank writes the files assigned to it into rank
// 0's staging directory, and rank 0 publishes once all agree that every rank succeeded. Each
// step ends in a collective, which every rank reaches whatever happened to it, so a failure
// anywhere is known everywhere and nothing is published.
class DistributedExport {
public:
    DistributedExport(const Checkpoint& ckpt, const Plan& plan, const fs::path& outDir,
                      const EngineOptions& options, Coordinator& peers)
        : m_ckpt(ckpt), m_plan(plan), m_outDir(outDir), m_options(options), m_peers(peers),
          m_root(peers.rank() == 0) {}

    EngineResult run() {
        const auto started = std::chrono::steady_clock::now();
        report(EnginePhase::Preparing, 0, 0);
        if (auto f = m_peers.agree(
                local([&] { preflight(m_ckpt, m_plan, m_outDir, m_options.overwrite); })))
            throw f->error(); // nothing touched yet, as with one process
        if (!m_peers.allEqual(planDigest(m_plan)))
            throw Error(ErrorKind::Usage, m_outDir.string(), "",
                        "the processes planned different outputs: every process must see the "
                        "same shards and run the same ShardScope");
        if (m_root) m_set.emplace(m_outDir, m_options.sync);
        try {
            openSet();
            writeOwnFiles();
            step([&] {
                if (!m_root) return;
                for (const auto& pf : m_plan.files)
                    m_set->add(pf.name); // the ranks wrote them
                writeSidecarsAndIndex(m_ckpt, m_plan, *m_set, m_own, *m_reporter, m_result);
            });
            if (m_options.verify) verifyOwnFiles();
            report(EnginePhase::Publishing, 0, 0);
            step([&] {
                if (!m_root) return;
                if (m_options.stop.stop_requested()) throw Cancelled();
                m_result.replacedFiles = m_set->previousFiles().size();
                m_set->publish();
            });
        } catch (const PeersLost& lost) { // no more collectives: each rank ends on its own
            const std::string onDisk = m_set ? m_set->abandon() : std::string();
            throw ExportFailed(Error(ErrorKind::Cancelled, "", "", lost.what()), true, onDisk,
                               m_notes);
        }
        for (const auto& pf : m_plan.files) {
            m_result.files.push_back(pf.name);
            m_result.bytesWritten += pf.fileSize();
        }
        m_result.notes = m_notes;
        m_result.verified = m_options.verify;
        m_result.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        report(EnginePhase::Done, 0, 0);
        return m_result;
    }

private:
    std::optional<RankFailure> local(const std::function<void()>& attempt) const {
        return failureOf(m_peers.rank(), attempt);
    }

    // A collective step: runs `attempt` here, then fails on every rank if it failed on any.
    void step(const std::function<void()>& attempt) {
        if (auto f = m_peers.agree(local(attempt))) failEverywhere(*f);
    }

    [[noreturn]] void failEverywhere(const RankFailure& f) {
        const std::string onDisk = m_peers.fromRoot(m_set ? m_set->abandon() : std::string());
        throw ExportFailed(f.error(), f.cancelled, onDisk, m_notes);
    }

    void openSet() {
        auto f = m_peers.agree(local([&] {
            if (!m_root) return;
            if (m_options.stop.stop_requested()) throw Cancelled();
            m_set->open();
        }));
        const bool opened = m_root && m_set->stagingDirectory() != fs::path();
        m_notes = splitText(m_peers.fromRoot(m_root ? joinLines(m_set->notes()) : ""), '\n');
        m_staging = m_peers.fromRoot(opened ? m_set->stagingDirectory().string() : "");
        if (f) failEverywhere(*f);
    }

    // This rank's files (assigned by bytes), with the byte counts of all ranks summed on rank 0.
    void writeOwnFiles() {
        std::vector<uint64_t> sizes;
        for (const auto& pf : m_plan.files)
            sizes.push_back(pf.fileSize());
        const std::vector<int> owners = assignByBytes(sizes, m_peers.size());
        m_mine.assign(sizes.size(), false);
        uint64_t mineBytes = 0;
        for (size_t f = 0; f < sizes.size(); ++f)
            if (owners[f] == m_peers.rank()) m_mine[f] = true, mineBytes += sizes[f];
        const uint64_t all = bytesToWrite(m_ckpt, m_plan);
        m_own = m_options;
        m_own.progress = [this](const EngineProgress& p) {
            if (p.phase == EnginePhase::Writing) m_done.store(p.bytesDone);
        };
        m_reporter = std::make_unique<ProgressReporter>(m_own);
        step([&] {
            m_peers.whileWorking(
                [&](std::stop_token token) {
                    m_own.stop = token;
                    m_reporter->phase(EnginePhase::Writing, mineBytes);
                    DataFileWriter writer(m_ckpt, m_plan, m_own, *m_reporter);
                    writer.write(m_staging, m_mine);
                    m_losses = writer.castLosses();
                    if (m_plan.strictCast) refuseOverflow(m_losses);
                },
                m_done, [&](uint64_t total) { report(EnginePhase::Writing, total, all); },
                m_options.stop);
        });
        m_own.stop = m_options.stop; // the writing token ends with whileWorking
        m_result.castLosses = gatherLosses();
    }

    void verifyOwnFiles() {
        report(EnginePhase::Verifying, 0, 0);
        VerifyShare share{{}, m_root};
        for (size_t f = 0; f < m_plan.files.size(); ++f)
            if (m_mine[f]) share.files.insert(m_plan.files[f].name);
        step([&] {
            const VerifyReport r = verifyOutput(m_staging, &m_ckpt, m_options.stop, {}, &share);
            if (!r.ok())
                throw Error(ErrorKind::VerifyFailed, r.problems.front().file,
                            r.problems.front().tensor,
                            "verification of the new files failed, so they were not "
                            "published: " +
                                r.problems.front().message);
        });
    }

    // Every rank's cast losses, on rank 0 (which reports them).
    std::vector<CastLoss> gatherLosses() {
        std::string mine;
        for (const auto& l : m_losses)
            mine += l.fqn + '\t' + std::to_string(int(l.from)) + '\t' + std::to_string(int(l.to)) +
                    '\t' + std::to_string(l.overflow) + '\t' + std::to_string(l.underflow) + '\n';
        std::vector<CastLoss> all;
        for (const std::string& text : m_peers.gatherToRoot(mine))
            for (const std::string& line : splitText(text, '\n')) {
                const std::vector<std::string> f = splitText(line, '\t');
                if (f.size() == 5)
                    all.push_back({f[0], DType(std::stoi(f[1])), DType(std::stoi(f[2])),
                                   std::stoull(f[3]), std::stoull(f[4])});
            }
        return all;
    }

    void report(EnginePhase phase, uint64_t done, uint64_t total) const {
        if (m_root && m_options.progress) m_options.progress({phase, done, total, ""});
    }

    static std::string joinLines(const std::vector<std::string>& lines) {
        std::string out;
        for (const auto& l : lines)
            out += l + '\n';
        return out;
    }

    const Checkpoint& m_ckpt;
    const Plan& m_plan;
    const fs::path m_outDir;
    const EngineOptions& m_options;
    Coordinator& m_peers;
    const bool m_root;
    std::optional<OutputSet> m_set; // rank 0's
    fs::path m_staging;
    std::vector<std::string> m_notes;
    std::vector<bool> m_mine;
    EngineOptions m_own; // this rank's writing: progress counted into m_done
    std::atomic<uint64_t> m_done{0};
    std::unique_ptr<ProgressReporter> m_reporter;
    std::vector<CastLoss> m_losses;
    EngineResult m_result;
};

} // namespace

EngineResult consolidateDistributed(const Checkpoint& checkpoint, const Plan& plan,
                                    const fs::path& outDir, const EngineOptions& options,
                                    Coordinator& peers) {
    return DistributedExport(checkpoint, plan, outDir, options, peers).run();
}

std::string_view enginePhaseName(EnginePhase phase) {
    switch (phase) {
    case EnginePhase::Preparing:
        return "Preparing";
    case EnginePhase::Writing:
        return "Writing";
    case EnginePhase::Verifying:
        return "Verifying";
    case EnginePhase::Publishing:
        return "Publishing";
    case EnginePhase::Done:
        return "Done";
    }
    return "?";
}

std::vector<fs::path> sidecarFiles(const Checkpoint& checkpoint) {
    std::vector<fs::path> files;
    if (!checkpoint.hfAssetsDir.empty()) files = collectHfAssets(checkpoint.hfAssetsDir).files;
    if (checkpoint.hfMetadataDir.empty()) return files;
    // The scan reported what is left out (special files) or leaves the checkpoint (links).
    // The user's HF assets win over .hf_metadata's files of the same name.
    for (auto& f : collectSidecars(checkpoint.hfMetadataDir, checkpoint.directory).files)
        if (std::none_of(files.begin(), files.end(),
                         [&](const fs::path& a) { return a.filename() == f.filename(); }))
            files.push_back(std::move(f));
    return files;
}

std::vector<std::string> existingOutputs(const Checkpoint& checkpoint, const fs::path& outDir) {
    std::vector<std::string> found;
    std::error_code ec;
    if (!fs::is_directory(outDir, ec)) return found;
    for (const auto& entry : fs::directory_iterator(outDir, ec)) {
        const std::string name = entry.path().filename().string();
        if (isModelFileName(name) || name == kIndexFileName) found.push_back(name);
    }
    for (const auto& side : sidecarFiles(checkpoint))
        if (fs::exists(outDir / side.filename(), ec)) found.push_back(side.filename().string());
    std::sort(found.begin(), found.end());
    return found;
}

uint64_t bytesToWrite(const Checkpoint& checkpoint, const Plan& plan) {
    return plan.totalFileBytes() + plan.indexJson().size() + sidecarBytes(checkpoint);
}

void preflight(const Checkpoint& checkpoint, const Plan& plan, const fs::path& outDir,
               bool overwrite) {
    size_t errors = 0;
    const Problem* first = firstError(checkpoint.problems, &errors);
    if (first)
        throw Error(first->kind, "", "",
                    "the checkpoint cannot be consolidated: " + first->text() +
                        (errors > 1 ? " (and " + std::to_string(errors - 1) +
                                          " more problems; run inspect to see them all)"
                                    : ""));
    first = firstError(plan.problems, &errors);
    if (first) throw Error(first->kind, "", "", first->text());
    if (plan.files.empty())
        throw Error(ErrorKind::NothingToWrite, checkpoint.directory.string(), "",
                    "nothing to write");
    if (samePath(outDir, checkpoint.directory))
        throw Error(ErrorKind::OutputIsInput, outDir.string(), "",
                    "the output directory is the shard directory; choose another so the shards "
                    "are never touched");
    std::error_code ec;
    if (fs::exists(outDir, ec) && !fs::is_directory(outDir, ec))
        throw Error(ErrorKind::OutputExists, outDir.string(), "", "exists and is not a directory");
    const auto existing = existingOutputs(checkpoint, outDir);
    if (!overwrite && !existing.empty()) {
        std::string list;
        for (size_t i = 0; i < existing.size() && i < 5; ++i)
            list += (i ? ", " : "") + existing[i];
        if (existing.size() > 5) list += ", …";
        throw Error(ErrorKind::OutputExists, outDir.string(), "",
                    "already holds output from an earlier run (" + list +
                        "); choose an empty directory or allow overwriting");
    }
    if (plan.castTo || plan.tiedEmbeddings) // a config that cannot be updated stops it now
        for (const auto& side : sidecarFiles(checkpoint))
            if (side.filename() == "config.json") configForExport(side, plan);
    // Free space: where the directory will be, or its nearest existing parent.
    fs::path probe = outDir;
    while (!probe.empty() && !fs::exists(probe, ec))
        probe = probe.parent_path();
    if (probe.empty()) probe = ".";
    struct statvfs vfs {};
    if (::statvfs(probe.c_str(), &vfs) == 0) {
        const uint64_t free = uint64_t(vfs.f_bavail) * vfs.f_frsize;
        const uint64_t needed = bytesToWrite(checkpoint, plan);
        if (free < needed)
            throw Error(ErrorKind::NoSpace, outDir.string(), "",
                        "not enough free space: " + formatBytes(needed) +
                            " needed (data files, index and sidecars), " + formatBytes(free) +
                            " available" +
                            (existing.empty()
                                 ? std::string()
                                 : "; the previous export stays until the new one is complete, "
                                   "so both must fit"));
    }
}

EngineResult consolidate(const Checkpoint& ckpt, const Plan& plan, const fs::path& outDir,
                         const EngineOptions& options) {
    const auto started = std::chrono::steady_clock::now();
    preflight(ckpt, plan, outDir, options.overwrite);
    ProgressReporter reporter(options);
    reporter.phase(EnginePhase::Preparing, 0);

    EngineResult result;
    OutputSet set(outDir, options.sync);
    try {
        if (options.stop.stop_requested()) throw Cancelled();
        set.open();
        result.notes = set.notes();
        const fs::path& staging = set.stagingDirectory();
        reporter.phase(EnginePhase::Writing, bytesToWrite(ckpt, plan), plan.files.front().name);
        DataFileWriter writer(ckpt, plan, options, reporter);
        writer.write(staging);
        result.castLosses = writer.castLosses();
        if (plan.strictCast) refuseOverflow(result.castLosses);
        for (const auto& pf : plan.files) {
            set.add(pf.name);
            result.files.push_back(pf.name);
            result.bytesWritten += pf.fileSize();
        }
        writeSidecarsAndIndex(ckpt, plan, set, options, reporter, result);

        if (options.verify) {
            reporter.phase(EnginePhase::Verifying, ckpt.totalBytes());
            const VerifyReport report = verifyOutput(
                staging, &ckpt, options.stop, [&](uint64_t done, uint64_t) { reporter.set(done); });
            if (!report.ok())
                throw Error(ErrorKind::VerifyFailed, report.problems.front().file,
                            report.problems.front().tensor,
                            "verification of the new files failed, so they were not published: " +
                                report.problems.front().message);
            result.verified = true;
        }
        if (options.stop.stop_requested()) throw Cancelled();
        // From here on the run completes: publishing is a few renames and is never cancelled.
        reporter.phase(EnginePhase::Publishing, 0);
        result.replacedFiles = set.previousFiles().size();
        set.publish();
    } catch (const Cancelled&) {
        throw ExportFailed(Error(ErrorKind::Cancelled, "", "", "cancelled"), true, set.abandon(),
                           set.notes());
    } catch (const Error& e) {
        throw ExportFailed(e, false, set.abandon(), set.notes());
    } catch (const std::exception& e) { // out of memory, a file system error
        throw ExportFailed(Error(ErrorKind::Io, outDir.string(), "", e.what()), false,
                           set.abandon(), set.notes());
    }
    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    reporter.phase(EnginePhase::Done, 0);
    return result;
}

} // namespace shardscope
