#include "engine.h"

#include "parallel.h"
#include "posix_file.h"
#include "runs.h"

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

std::string tempName(const std::string& finalName) {
    return "." + finalName + ".shardscope-partial";
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

// Remembers everything this run created so a failure can take it all back.
class Rollback {
public:
    void add(const fs::path& p) {
        std::lock_guard lock(m_mutex);
        m_paths.push_back(p);
    }
    void createdDirectory(const fs::path& p) { m_directory = p; }
    void commit() {
        m_paths.clear();
        m_directory.clear();
    }
    ~Rollback() {
        std::error_code ec;
        for (const auto& p : m_paths)
            fs::remove(p, ec);
        if (!m_directory.empty()) fs::remove(m_directory, ec); // only while still empty
    }

private:
    std::mutex m_mutex;
    std::vector<fs::path> m_paths;
    fs::path m_directory;
};

class Copier {
public:
    Copier(const Checkpoint& ckpt, const Plan& plan, const EngineOptions& options,
           const std::vector<PosixFile>& sources, const std::vector<PosixFile>& outputs,
           const std::vector<bool>& directTensors)
        : m_ckpt(ckpt), m_plan(plan), m_options(options), m_sources(sources), m_outputs(outputs),
          m_direct(directTensors) {}

    void run(const Task& task, std::vector<char>& window, std::vector<char>& scratch) {
        const PlannedFile& file = m_plan.files[task.file];
        const PosixFile& out = m_outputs[task.file];
        const uint64_t dataStart = file.header.size();
        m_spans.clear();
        m_writes.clear();

        auto it =
            std::upper_bound(file.tensors.begin(), file.tensors.end(), task.from,
                             [](uint64_t pos, const PlannedTensor& t) { return pos < t.end; });
        for (; it != file.tensors.end() && it->begin < task.to; ++it) {
            const TensorInfo& tensor = m_ckpt.tensors[it->tensor];
            const uint64_t lo = std::max(it->begin, task.from) - it->begin;
            const uint64_t hi = std::min(it->end, task.to) - it->begin;
            if (lo >= hi) continue;
            const bool direct = m_options.directCopy && !m_noKernelCopy && m_direct[it->tensor];
            if (!direct) { // the gathered bytes of this tensor go out with the window
                if (!m_writes.empty() && m_writes.back().second == it->begin + lo)
                    m_writes.back().second = it->begin + hi;
                else
                    m_writes.push_back({it->begin + lo, it->begin + hi});
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
                        copyDirect(chunk.file, chunk.begin + r * runBytes + (a - start),
                                   dataStart + it->begin + a, b - a, out, scratch);
                    }
                    continue;
                }
                m_spans.push_back(
                    {chunk.file, srcStart, srcEnd, &tensor, &chunk, it->begin, lo, hi, r0, r1});
            }
        }
        if (m_spans.empty()) return;

        // Read in shard order, neighbouring spans merged into one read, then scatter the runs.
        if (window.size() < task.to - task.from) window.resize(task.to - task.from);
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
            if (scratch.size() < readEnd - readStart) scratch.resize(readEnd - readStart);
            m_sources[src].readExact(scratch.data(), readEnd - readStart, readStart);
            for (size_t k = i; k < j; ++k)
                scatter(m_spans[k], scratch.data(), readStart, window.data(), task.from);
            i = j;
        }
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
        ChunkRuns runs(s.tensor->shape, s.chunk->offsets, s.chunk->shape,
                       dtypeBits(s.tensor->dtype));
        const uint64_t runBytes = runs.runBytes();
        for (uint64_t r = s.r0; r < s.r1; ++r) {
            const uint64_t start = runs.dstByte(r);
            const uint64_t a = std::max(start, s.lo), b = std::min(start + runBytes, s.hi);
            std::memcpy(window + (s.tensorBegin + a - windowFrom),
                        source + (s.chunk->begin + r * runBytes + (a - start) - sourceFrom), b - a);
        }
    }

    void checkCancel() const {
        if (m_options.cancel && m_options.cancel->load(std::memory_order_relaxed))
            throw Cancelled();
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
                throw Error(m_sources[file].path(), "",
                            "file ended early at byte " + std::to_string(in));
            throw Error(out.path(), "", "copy failed: " + systemError(errno));
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
    const std::vector<bool>& m_direct;
    std::vector<Span> m_spans;
    std::vector<std::pair<uint64_t, uint64_t>> m_writes;
    bool m_noKernelCopy = false;
};

std::string firstError(const std::vector<Problem>& problems, size_t* count) {
    std::string text;
    *count = 0;
    for (const auto& p : problems)
        if (p.severity == Severity::Error && (*count)++ == 0) text = p.text();
    return text;
}

} // namespace

std::vector<fs::path> sidecarFiles(const Checkpoint& checkpoint) {
    std::vector<fs::path> out;
    if (checkpoint.hfMetadataDir.empty()) return out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(checkpoint.hfMetadataDir, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.rfind("fqn_to_", 0) == 0) continue; // ShardScope's input, not the model's
        std::error_code fileEc;
        if (entry.is_regular_file(fileEc)) out.push_back(entry.path());
    }
    std::sort(out.begin(), out.end());
    return out;
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

void preflight(const Checkpoint& checkpoint, const Plan& plan, const fs::path& outDir,
               bool overwrite) {
    size_t errors = 0;
    std::string first = firstError(checkpoint.problems, &errors);
    if (errors)
        throw Error("", "",
                    "the checkpoint cannot be consolidated: " + first +
                        (errors > 1 ? " (and " + std::to_string(errors - 1) +
                                          " more problems; run inspect to see them all)"
                                    : ""));
    first = firstError(plan.problems, &errors);
    if (errors) throw Error("", "", first);
    if (plan.files.empty()) throw Error(checkpoint.directory.string(), "", "nothing to write");
    if (samePath(outDir, checkpoint.directory))
        throw Error(outDir.string(), "",
                    "the output directory is the shard directory; choose another so the shards "
                    "are never touched");
    std::error_code ec;
    if (fs::exists(outDir, ec) && !fs::is_directory(outDir, ec))
        throw Error(outDir.string(), "", "exists and is not a directory");
    if (!overwrite) {
        auto existing = existingOutputs(checkpoint, outDir);
        if (!existing.empty()) {
            std::string list;
            for (size_t i = 0; i < existing.size() && i < 5; ++i)
                list += (i ? ", " : "") + existing[i];
            if (existing.size() > 5) list += ", …";
            throw Error(outDir.string(), "",
                        "already holds output from an earlier run (" + list +
                            "); choose an empty directory or allow overwriting");
        }
    }
    // Free space: where the directory will be, or its nearest existing parent.
    fs::path probe = outDir;
    while (!probe.empty() && !fs::exists(probe, ec))
        probe = probe.parent_path();
    if (probe.empty()) probe = ".";
    struct statvfs vfs {};
    if (::statvfs(probe.c_str(), &vfs) == 0) {
        uint64_t free = uint64_t(vfs.f_bavail) * vfs.f_frsize;
        if (free < plan.totalFileBytes())
            throw Error(outDir.string(), "",
                        "not enough free space: " + std::to_string(plan.totalFileBytes()) +
                            " bytes needed, " + std::to_string(free) + " available");
    }
}

EngineResult consolidate(const Checkpoint& ckpt, const Plan& plan, const fs::path& outDir,
                         const EngineOptions& options) {
    const auto started = std::chrono::steady_clock::now();
    preflight(ckpt, plan, outDir, options.overwrite);
    auto cancelled = [&] { return options.cancel && options.cancel->load(); };

    std::error_code ec;
    const bool existed = fs::exists(outDir, ec);
    fs::create_directories(outDir, ec);
    if (ec) throw Error(outDir.string(), "", "cannot create the output directory: " + ec.message());
    Rollback rollback;
    if (!existed) rollback.createdDirectory(outDir);

    EngineProgress progress;
    progress.bytesTotal = plan.totalFileBytes();
    progress.phase = "Preparing";
    std::mutex progressMutex;
    auto lastReport = std::chrono::steady_clock::now() - options.progressInterval;
    auto report = [&](uint64_t add, const std::string& file, bool force) {
        if (!options.progress) return;
        std::lock_guard lock(progressMutex);
        progress.bytesDone += add;
        progress.currentFile = file;
        auto now = std::chrono::steady_clock::now();
        if (force || now - lastReport >= options.progressInterval) {
            lastReport = now;
            options.progress(progress);
        }
    };
    report(0, "", true);

    // An old index pointing at a mix of old and new files must not survive an overwrite.
    if (options.overwrite) fs::remove(outDir / kIndexFileName, ec);

    std::vector<PosixFile> sources(ckpt.files.size());
    for (size_t i = 0; i < ckpt.files.size(); ++i) {
        sources[i] = PosixFile::openRead(ckpt.files[i].path);
        ::posix_fadvise(sources[i].fd(), 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    std::vector<PosixFile> outputs(plan.files.size());
    std::vector<Task> tasks;
    const uint64_t window = std::max<uint64_t>(options.windowBytes, 4096);
    for (size_t f = 0; f < plan.files.size(); ++f) {
        const PlannedFile& pf = plan.files[f];
        const fs::path temp = outDir / tempName(pf.name);
        fs::remove(temp, ec); // a leftover of an interrupted run: ours by its name
        outputs[f] = PosixFile::createNew(temp);
        rollback.add(temp);
        outputs[f].truncate(pf.fileSize());
        outputs[f].writeExact(pf.header.data(), pf.header.size(), 0);
    }
    // Round-robin over files: threads then mostly write different files, because buffered
    // writes to one file serialize on its inode lock and contending threads burn CPU spinning.
    for (uint64_t from = 0;; from += window) {
        bool any = false;
        for (size_t f = 0; f < plan.files.size(); ++f) {
            const uint64_t size = plan.files[f].dataSize;
            if (from >= size) continue;
            tasks.push_back({f, from, std::min(size, from + window)});
            any = true;
        }
        if (!any) break;
    }
    {
        std::lock_guard lock(progressMutex);
        progress.phase = "Writing";
    }
    uint64_t headerBytes = 0;
    for (const auto& pf : plan.files)
        headerBytes += pf.header.size();
    report(headerBytes, plan.files.front().name, true);

    const int threads =
        std::max(1, std::min<int>(effectiveThreads(options.threads), int(tasks.size())));
    // A tensor goes the kernel-copy way only when every one of its runs is long.
    std::vector<bool> direct(ckpt.tensors.size(), false);
    for (size_t i = 0; i < ckpt.tensors.size(); ++i) {
        const TensorInfo& t = ckpt.tensors[i];
        if (t.status != CoverageStatus::Complete) continue;
        bool allLong = !t.chunks.empty();
        for (const Chunk& c : t.chunks)
            allLong =
                allLong && ChunkRuns(t.shape, c.offsets, c.shape, dtypeBits(t.dtype)).runBytes() >=
                               kDirectRunBytes;
        direct[i] = allLong;
    }
    std::vector<std::unique_ptr<Copier>> copiers;
    std::vector<std::vector<char>> windows(threads), scratches(threads);
    for (int t = 0; t < threads; ++t) {
        copiers.push_back(std::make_unique<Copier>(ckpt, plan, options, sources, outputs, direct));
        scratches[t].resize(std::min<uint64_t>(window, 16 << 20));
    }
    parallelForWorkers(tasks.size(), threads, [&](size_t i, int worker) {
        if (cancelled()) throw Cancelled();
        const Task& task = tasks[i];
        copiers[worker]->run(task, windows[worker], scratches[worker]);
        report(task.to - task.from, plan.files[task.file].name, false);
    });
    if (cancelled()) throw Cancelled();

    {
        std::lock_guard lock(progressMutex);
        progress.phase = "Finishing";
    }
    report(0, "", true);
    for (auto& out : outputs) {
        if (options.sync) out.sync();
        out.close();
    }

    EngineResult result;
    for (const auto& pf : plan.files) {
        const fs::path final = outDir / pf.name;
        fs::rename(outDir / tempName(pf.name), final, ec);
        if (ec) throw Error(final.string(), "", "cannot rename into place: " + ec.message());
        rollback.add(final);
        result.files.push_back(pf.name);
        result.bytesWritten += pf.fileSize();
    }
    if (options.overwrite) { // model files of an earlier, different layout
        for (const auto& entry : fs::directory_iterator(outDir, ec)) {
            const std::string name = entry.path().filename().string();
            if (isModelFileName(name) &&
                std::find(result.files.begin(), result.files.end(), name) == result.files.end())
                fs::remove(entry.path(), ec);
        }
    }
    for (const auto& side : sidecarFiles(ckpt)) {
        if (cancelled()) throw Cancelled();
        const fs::path final = outDir / side.filename();
        const fs::path temp = outDir / tempName(side.filename().string());
        fs::remove(temp, ec);
        rollback.add(temp);
        fs::copy_file(side, temp, fs::copy_options::overwrite_existing, ec);
        if (ec) throw Error(side.string(), "", "cannot copy: " + ec.message());
        fs::rename(temp, final, ec);
        if (ec) throw Error(final.string(), "", "cannot rename into place: " + ec.message());
        rollback.add(final);
        result.sidecars.push_back(side.filename().string());
    }
    if (cancelled()) throw Cancelled();

    // The index last: its presence says the set is complete.
    const fs::path indexTemp = outDir / tempName(kIndexFileName);
    fs::remove(indexTemp, ec);
    {
        PosixFile index = PosixFile::createNew(indexTemp);
        rollback.add(indexTemp);
        const std::string json = plan.indexJson();
        index.writeExact(json.data(), json.size(), 0);
        if (options.sync) index.sync();
        index.close();
    }
    fs::rename(indexTemp, outDir / kIndexFileName, ec);
    if (ec)
        throw Error((outDir / kIndexFileName).string(), "",
                    "cannot rename into place: " + ec.message());
    rollback.commit();

    result.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    {
        std::lock_guard lock(progressMutex);
        progress.phase = "Done";
    }
    report(0, "", true);
    return result;
}

} // namespace shardscope
