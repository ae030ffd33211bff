// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "shard_scan.h"

#include "parallel.h"
#include "safetensors_reader.h"
#include "scan_support.h"
#include "sharding_info.h"
#include "sidecars.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace fs = std::filesystem;

namespace shardscope {
namespace {

constexpr uint32_t kNone = ~0u; // no tensor (or rank) known yet

// A chunk's offsets and shape as the merge needs them, found while other files are parsed.
struct PreparedChunk {
    ShapeRef offsets;
    ShapeRef shape;
    uint32_t tensor = kNone; // found in the first file's tensor list, else left to the merge
    bool hasOffsets = false; // DCP_SHARDING_INFO lists the tensor
    uint32_t offsetsRank = 0;
};

struct FileScan {
    SafetensorsHeader header;
    std::vector<ShardingEntry> sharding;
    std::vector<PreparedChunk> chunks; // one per header entry
    std::vector<Problem> problems;
    bool valid = false;
};

// Sharding info normally lists tensors in header order; a map is the fallback.
class ShardingLookup {
public:
    explicit ShardingLookup(const std::vector<ShardingEntry>& entries) : m_entries(entries) {}
    const Shape* find(size_t position, const std::string& name) {
        if (position < m_entries.size() && m_entries[position].fqn == name)
            return &m_entries[position].offsets;
        if (m_index.empty())
            for (size_t k = 0; k < m_entries.size(); ++k)
                m_index.emplace(m_entries[k].fqn, k);
        auto found = m_index.find(name);
        return found == m_index.end() ? nullptr : &m_entries[found->second].offsets;
    }

private:
    const std::vector<ShardingEntry>& m_entries;
    std::unordered_map<std::string_view, size_t> m_index;
};

// Everything about one file that needs no other file: parse, sharding info, interned tuples.
// `out` is the worker's own, reused from file to file (see readSafetensorsHeader).
void scanFile(const fs::path& path, const std::string& name, FileScan& out) {
    out.problems.clear();
    out.valid = false;
    try {
        readSafetensorsHeader(path, out.header);
        shardingInfoOf(out.header, out.sharding);
    } catch (const Error& e) {
        // Nothing of the previous file this worker read may pass for this one's.
        out.header.tensors.clear();
        out.header.fileSize = 0;
        out.header.headerSize = 0;
        out.problems.push_back({Severity::Error, name, e.tensor(), e.message(), e.kind()});
        return;
    }
    out.valid = true;
    ShardingLookup lookup(out.sharding);
    out.chunks.resize(out.header.tensors.size());
    for (size_t k = 0; k < out.chunks.size(); ++k) {
        const TensorEntry& entry = out.header.tensors[k];
        PreparedChunk& c = out.chunks[k];
        c.shape = entry.shape;
        c.tensor = kNone;
        c.hasOffsets = false;
        if (const Shape* offsets = lookup.find(k, entry.name)) {
            c.hasOffsets = true;
            c.offsetsRank = uint32_t(offsets->size());
            c.offsets = *offsets;
        }
    }
}

// Lets parsed files through one at a time, in file order. parallelFor hands out indices in
// order, so whoever holds the turn is running; a failure anywhere opens every gate (the waiters
// then return false) so no thread waits for a file that will never come.
class Turnstile {
public:
    bool wait(size_t turn) {
        std::unique_lock lock(m_mutex);
        m_changed.wait(lock, [&] { return m_turn == turn || m_aborted; });
        return !m_aborted;
    }
    // Waits until `turn` has been let through; false when the scan is failing.
    bool waitPast(size_t turn) {
        std::unique_lock lock(m_mutex);
        m_changed.wait(lock, [&] { return m_turn > turn || m_aborted; });
        return !m_aborted;
    }
    void next() {
        {
            std::lock_guard lock(m_mutex);
            ++m_turn;
        }
        m_changed.notify_all();
    }
    void abort() {
        {
            std::lock_guard lock(m_mutex);
            m_aborted = true;
        }
        m_changed.notify_all();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_changed;
    size_t m_turn = 0;
    bool m_aborted = false;
};

// The first file's tensors, frozen once it is merged. Ranks list the same tensors in the same
// order, so later files find their tensors here while they are parsed, on every core, and the
// one-at-a-time merge is left only the appending (W5: the merge took 1 s of 3 on one core).
class TensorTemplate {
public:
    void freeze(const std::vector<TensorEntry>& entries, const std::vector<uint32_t>& tensors) {
        m_names.reserve(entries.size());
        for (const TensorEntry& e : entries)
            m_names.push_back(e.name);
        m_tensors = tensors;
        m_index.reserve(m_names.size());
        for (size_t k = 0; k < m_names.size(); ++k)
            m_index.emplace(m_names[k], m_tensors[k]);
    }
    // Sets each chunk's tensor when the first file had it.
    void resolve(const std::vector<TensorEntry>& entries, std::vector<PreparedChunk>& chunks) const {
        for (size_t k = 0; k < entries.size(); ++k) {
            const std::string& name = entries[k].name;
            if (k < m_names.size() && m_names[k] == name) {
                chunks[k].tensor = m_tensors[k];
                continue;
            }
            auto found = m_index.find(name);
            if (found != m_index.end()) chunks[k].tensor = found->second;
        }
    }

private:
    std::vector<std::string> m_names;
    std::vector<uint32_t> m_tensors;
    std::unordered_map<std::string_view, uint32_t> m_index;
};

// Adds each file's chunks to the tensors they belong to, checking what one file cannot check
// alone: the same dtype and rank in every file.
class ShardMerger {
public:
    explicit ShardMerger(Checkpoint& ckpt) : m_ckpt(ckpt) {}

    void add(const fs::path& path, FileScan& scan, ScanReporter& reporter) {
        const uint32_t f = uint32_t(m_ckpt.files.size());
        ShardFile& file = m_ckpt.files.emplace_back();
        file.name = path.filename().string();
        file.path = path;
        file.size = scan.header.fileSize;
        file.dataStart = scan.header.dataStart();
        file.tensorCount = scan.header.tensors.size();
        file.valid = scan.valid;
        for (auto& p : scan.problems)
            m_ckpt.problems.push_back(std::move(p));
        if (!scan.valid) return;
        auto& entries = scan.header.tensors;
        m_lastOrder.resize(entries.size(), kNone);
        // Only the first file makes the template, so it is written before anyone reads it.
        std::vector<uint32_t> order(f == 0 ? entries.size() : 0);
        if (f == 0) reserveTensors(entries.size()); // most checkpoints have no others
        for (size_t position = 0; position < entries.size(); ++position) {
            if (position % 4096 == 4095) reporter.checkStop();
            prefetch(scan.chunks, position);
            const TensorEntry& entry = entries[position];
            const PreparedChunk& prepared = scan.chunks[position];
            const size_t ti =
                prepared.tensor != kNone ? prepared.tensor : tensorFor(entry, position, f);
            if (!order.empty()) order[position] = uint32_t(ti);
            if (const std::string problem = chunkProblem(ti, entry, prepared); !problem.empty()) {
                rejectTensor(m_ckpt, m_invalid, ti, file.name, problem);
                continue;
            }
            m_rank[ti] = uint32_t(entry.shape.size());
            Chunk& c = m_ckpt.tensors[ti].chunks.emplace_back();
            c.file = f;
            c.offsets = prepared.offsets;
            c.shape = prepared.shape;
            c.begin = file.dataStart + entry.begin;
            c.end = file.dataStart + entry.end;
        }
        if (f == 0) {
            m_template = std::make_unique<TensorTemplate>();
            m_template->freeze(entries, order);
        }
    }

    std::vector<bool>& invalid() { return m_invalid; }
    // Set while the first file is merged (when it is valid), read-only from then on.
    const TensorTemplate* tensorTemplate() const { return m_template.get(); }

private:
    // The merge is one thread's walk over tensors scattered in memory, so it waits on cache
    // misses: the tensor 16 positions ahead is fetched, and 8 ahead the end of its chunk list.
    void prefetch(const std::vector<PreparedChunk>& chunks, size_t position) const {
        if (position + 16 < chunks.size() && chunks[position + 16].tensor != kNone)
            __builtin_prefetch(&m_ckpt.tensors[chunks[position + 16].tensor]);
        if (position + 8 < chunks.size() && chunks[position + 8].tensor != kNone) {
            const TensorInfo& t = m_ckpt.tensors[chunks[position + 8].tensor];
            __builtin_prefetch(t.chunks.data() + t.chunks.size(), 1);
        }
    }

    void reserveTensors(size_t count) {
        m_ckpt.tensors.reserve(count);
        m_index.reserve(count);
        m_invalid.reserve(count);
        m_firstSeen.reserve(count);
        m_rank.reserve(count);
        m_dtype.reserve(count);
    }

    // The tensor an entry belongs to, created on first sight. Ranks list the same tensors in
    // the same order, so the tensor at this position in the previous file is tried before the
    // hash map.
    size_t tensorFor(const TensorEntry& entry, size_t position, uint32_t f) {
        if (position < m_lastOrder.size() && m_lastOrder[position] != kNone &&
            m_ckpt.tensors[m_lastOrder[position]].fqn == entry.name)
            return m_lastOrder[position];
        auto [it, inserted] = m_index.try_emplace(entry.name, m_ckpt.tensors.size());
        if (inserted) {
            TensorInfo& t = m_ckpt.tensors.emplace_back();
            t.fqn = entry.name;
            t.dtype = entry.dtype;
            m_invalid.push_back(false);
            m_firstSeen.push_back(f);
            m_rank.push_back(kNone);
            m_dtype.push_back(entry.dtype);
        }
        if (position < m_lastOrder.size()) m_lastOrder[position] = uint32_t(it->second);
        return it->second;
    }

    std::string chunkProblem(size_t ti, const TensorEntry& entry,
                             const PreparedChunk& prepared) const {
        if (!prepared.hasOffsets) return "no saved_offsets in DCP_SHARDING_INFO for this tensor";
        if (prepared.offsetsRank != entry.shape.size())
            return "saved_offsets " + formatShape(prepared.offsets) + " has " +
                   std::to_string(prepared.offsets.size()) + " entries but the chunk " +
                   formatShape(entry.shape) + " has rank " + std::to_string(entry.shape.size());
        if (entry.dtype != m_dtype[ti])
            return "dtype " + std::string(dtypeName(entry.dtype)) + " here but " +
                   std::string(dtypeName(m_dtype[ti])) + " in " +
                   m_ckpt.files[m_firstSeen[ti]].name;
        if (m_rank[ti] != kNone && m_rank[ti] != entry.shape.size()) {
            const TensorInfo& t = m_ckpt.tensors[ti];
            return "rank " + std::to_string(entry.shape.size()) + " here but " +
                   std::to_string(t.chunks.front().shape.size()) + " in " +
                   m_ckpt.files[t.chunks.front().file].name;
        }
        return {};
    }

    Checkpoint& m_ckpt;
    std::unordered_map<std::string, size_t> m_index;
    std::vector<bool> m_invalid;
    std::vector<uint32_t> m_firstSeen; // the file that set each tensor's dtype, for messages
    // Each tensor's chunk rank (kNone before its first chunk) and dtype, kept here rather than
    // read from the tensors, which are scattered in memory.
    std::vector<uint32_t> m_rank;
    std::vector<DType> m_dtype;
    std::unique_ptr<TensorTemplate> m_template;
    std::vector<uint32_t> m_lastOrder; // tensor at each header position of the previous file
};

// Chunk lists grow by doubling; the slack would be up to half of all chunk memory.
void trimChunkLists(Checkpoint& ckpt) {
    for (TensorInfo& t : ckpt.tensors)
        if (t.chunks.capacity() > t.chunks.size() + t.chunks.size() / 8) t.chunks.shrink_to_fit();
}

} // namespace

Checkpoint scanShardDirectory(const fs::path& directory, const ScanOptions& options) {
    Checkpoint ckpt;
    ckpt.directory = directory;
    const auto paths = listShardFiles(directory, &ckpt.problems);
    if (paths.empty())
        throw Error(ErrorKind::NoShards, directory.string(), "",
                    "no *.safetensors shard files in this directory" +
                        (ckpt.problems.empty() ? std::string()
                                               : " (" + ckpt.problems.front().text() + ")"));
    std::error_code ec;
    if (fs::is_directory(directory / ".hf_metadata", ec))
        ckpt.hfMetadataDir = directory / ".hf_metadata";
    if (!ckpt.hfMetadataDir.empty())
        for (auto& warning : collectSidecars(ckpt.hfMetadataDir, directory).warnings)
            ckpt.problems.push_back(std::move(warning));

    ScanReporter reporter(options);
    reporter.phase(ScanPhase::ReadingHeaders, paths.size());
    ckpt.files.reserve(paths.size());
    ShardMerger merger(ckpt);
    Turnstile turnstile;
    std::vector<FileScan> perWorker(size_t(effectiveThreads(options.threads)));
    parallelForWorkers(paths.size(), options.threads, [&](size_t i, int worker) {
        try {
            reporter.checkStop();
            FileScan& scan = perWorker[size_t(worker)];
            scanFile(paths[i], paths[i].filename().string(), scan);
            if (i > 0 && scan.valid) {
                if (!turnstile.waitPast(0)) return;
                if (const TensorTemplate* tensors = merger.tensorTemplate())
                    tensors->resolve(scan.header.tensors, scan.chunks);
            }
            if (!turnstile.wait(i)) return;
            merger.add(paths[i], scan, reporter);
            reporter.add(1);
            turnstile.next();
        } catch (...) {
            turnstile.abort();
            throw;
        }
    });
    trimChunkLists(ckpt);

    proveCoverage(ckpt, merger.invalid(), options, reporter, false);

    std::sort(ckpt.tensors.begin(), ckpt.tensors.end(),
              [](const TensorInfo& a, const TensorInfo& b) { return a.fqn < b.fqn; });
    return ckpt;
}

} // namespace shardscope
