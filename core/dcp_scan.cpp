// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "dcp_scan.h"

#include "dcp_items.h"
#include "dcp_metadata.h"
#include "huge_pages.h"
#include "parallel.h"
#include "posix_file.h"
#include "safetensors_reader.h"
#include "scan_support.h"
#include "sharding_info.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

namespace fs = std::filesystem;

namespace shardscope {
namespace {

constexpr uint64_t kMaxMetadataBytes = uint64_t(4) << 30;

bool isPlainFileName(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
           name.find('\0') == std::string::npos;
}

// What reading an item found beyond its data range: rare, so kept out of line.
struct ItemOutcome {
    std::string error; // empty: read fine
    ErrorKind kind = ErrorKind::Other;
    bool special = false; // strided or compressed: `layout` says how
    StoredLayout layout;
};

// One chunk's item and where its data is; 800,000 of these stay small.
struct ItemJob {
    static constexpr uint32_t kDropped = ~uint32_t(0); // `tensor` of a job no chunk uses

    uint32_t tensor = 0;
    uint32_t chunk = 0;
    uint32_t transforms = 0;
    uint32_t path = 0; // index into DcpMetadata::paths
    uint64_t offset = 0;
    uint64_t length = 0;
    uint64_t begin = 0, end = 0;
    std::unique_ptr<ItemOutcome> outcome;
    // Set for jobs made while .metadata is parsed: the chunk's shape and dtype, and whether the
    // item was read then.
    const Shape* shape = nullptr;
    DType dtype = DType::U8;
    bool read = false;

    ItemOutcome& more() {
        if (!outcome) outcome = std::make_unique<ItemOutcome>();
        return *outcome;
    }
    void fail(const Error& e) {
        more().error = e.message();
        outcome->kind = e.kind();
    }
};

// A rank file written with SerializationFormat.SAFETENSORS: after the byte items, one
// safetensors blob whose DCP_SHARDING_INFO places each chunk. The blob is parsed once per file.
class SafetensorsBlobs {
public:
    void locate(const PosixFile& file, const std::string& fileName, uint64_t blobStart,
                const TensorInfo& t, const Chunk& c, ItemJob& job) {
        auto it = m_blobs.find(blobStart);
        if (it == m_blobs.end())
            it = m_blobs.emplace(blobStart, parse(file, fileName, blobStart)).first;
        const Blob& blob = it->second;
        if (!blob.error.empty()) throw Error(blob.kind, fileName, t.fqn, blob.error);
        const auto found = blob.byName.find(t.fqn);
        if (found == blob.byName.end())
            throw Error(ErrorKind::StorageMismatch, fileName, t.fqn,
                        "the item at byte " + std::to_string(blobStart) +
                            " is neither a torch.save archive nor a safetensors blob holding "
                            "this tensor");
        const TensorEntry& e = blob.header.tensors[found->second.first];
        if (found->second.second != c.offsets || e.shape != c.shape || e.dtype != t.dtype)
            throw Error(ErrorKind::StorageMismatch, fileName, t.fqn,
                        "the safetensors blob at byte " + std::to_string(blobStart) + " holds " +
                            std::string(dtypeName(e.dtype)) + " " + formatShape(e.shape) +
                            " at offsets " + formatShape(found->second.second) +
                            " but .metadata says " + std::string(dtypeName(t.dtype)) + " " +
                            formatShape(c.shape) + " at " + formatShape(c.offsets));
        job.begin = blobStart + blob.header.dataStart() + e.begin;
        job.end = blobStart + blob.header.dataStart() + e.end;
    }

private:
    struct Blob {
        SafetensorsHeader header;
        std::unordered_map<std::string, std::pair<size_t, Shape>> byName;
        std::string error;
        ErrorKind kind = ErrorKind::Other;
    };

    static Blob parse(const PosixFile& file, const std::string& fileName, uint64_t start) {
        Blob blob;
        try {
            const uint64_t size = file.size() - start;
            if (size < 8) throw Error(ErrorKind::HeaderTooSmall, fileName, "", "too small");
            uint64_t n = 0;
            file.readExact(&n, 8, start);
            if (n > kMaxHeaderSize || n > size - 8)
                throw Error(ErrorKind::InvalidHeaderLength, fileName, "",
                            "an impossible header length (" + std::to_string(n) + " bytes)");
            std::string json(n, '\0');
            file.readExact(json.data(), n, start + 8);
            blob.header = parseSafetensorsHeader(json, size, fileName);
            const auto sharding = shardingInfoOf(blob.header);
            std::unordered_map<std::string_view, const Shape*> offsets;
            for (const auto& s : sharding)
                offsets.emplace(s.fqn, &s.offsets);
            for (size_t i = 0; i < blob.header.tensors.size(); ++i) {
                const auto o = offsets.find(blob.header.tensors[i].name);
                blob.byName.emplace(blob.header.tensors[i].name,
                                    std::pair{i, o == offsets.end() ? Shape{} : *o->second});
            }
        } catch (const Error& e) {
            blob.error =
                "the safetensors blob at byte " + std::to_string(start) + ": " + e.message();
            blob.kind = e.kind();
        }
        return blob;
    }

    std::map<uint64_t, Blob> m_blobs;
};

// Small items are read in large sequential blocks (jobs come in offset order), so a checkpoint of
// many small chunks costs a few reads per file instead of one or two per item. The buffer belongs
// to the worker thread and serves file after file: a fresh 4 MiB block per file would be zeroed
// and page-faulted in each time.
class BlockReader {
public:
    BlockReader(const PosixFile& file, std::string& buffer)
        : m_file(file), m_size(file.size()), m_buffer(buffer) {}

    // The item's bytes, or empty when it is too large to hold (it is then read at its ends).
    std::string_view get(uint64_t offset, uint64_t length) {
        constexpr uint64_t kBlock = 4 << 20, kMaxItem = 256 << 10;
        if (length == 0 || length > kMaxItem || offset > m_size || length > m_size - offset)
            return {};
        if (offset < m_start || offset + length > m_start + m_blockSize) {
            m_blockSize = std::min(m_size - offset, std::max(kBlock, length));
            if (m_buffer.size() < m_blockSize) m_buffer.resize(m_blockSize);
            m_file.readExact(m_buffer.data(), m_blockSize, offset);
            m_start = offset;
        }
        return std::string_view(m_buffer.data() + (offset - m_start), length);
    }

private:
    const PosixFile& m_file;
    uint64_t m_size;
    std::string& m_buffer; // m_blockSize bytes from m_start are the file's
    uint64_t m_start = 0;
    uint64_t m_blockSize = 0;
};

// Where a tensor held in a torch.save archive (the item at itemBegin..itemEnd) lies: [begin,
// end) of plain row-major bytes when `layout` is empty, else the item range to decode.
struct ArchivePlace {
    uint64_t begin = 0, end = 0;
    std::optional<StoredLayout> layout;
};

ArchivePlace placeInArchive(const TensorRecord& r, uint64_t dataOffset, uint64_t dataBytes,
                            uint64_t streamBytes, bool zstd, uint64_t itemBegin, uint64_t itemEnd) {
    ArchivePlace out;
    const uint64_t element = dtypeBits(r.dtype) / 8;
    if (!zstd && isRowMajor(r.size, r.stride)) { // the record was checked to fit its storage
        out.begin = itemBegin + dataOffset + r.storageOffset * element;
        out.end = out.begin + *checkedNumel(r.size) * element;
        return out;
    }
    StoredLayout& layout = out.layout.emplace();
    layout.strides = r.stride;
    layout.storageOffset = r.storageOffset;
    layout.zstd = zstd;
    layout.itemBegin = itemBegin;
    layout.itemEnd = itemEnd;
    layout.dataOffset = dataOffset;
    layout.dataBytes = dataBytes;
    layout.streamBytes = streamBytes;
    out.begin = zstd ? itemBegin : itemBegin + dataOffset;
    out.end = zstd ? itemEnd : out.begin + dataBytes;
    return out;
}

// Reads a chunk's torch.save archive (already in memory as `bytes` unless zstd) and sets where
// its data is: plain row-major bytes, or a StoredLayout to decode.
void readArchiveItem(const PosixFile& file, const std::string& fileName, const std::string& fqn,
                     DType dtype, const Shape& shape, const std::vector<std::string>& transforms,
                     bool zstd, std::string_view bytes, ItemCache& cache, ItemJob& job) {
    const TensorItem item = readTensorItem(file, {job.offset, job.length, &transforms, bytes},
                                           dtype, shape, fileName, fqn, &cache);
    ArchivePlace place =
        placeInArchive(item.record, item.dataOffset, item.dataBytes, item.streamBytes, zstd,
                       job.offset, job.offset + job.length);
    job.begin = place.begin;
    job.end = place.end;
    if (!place.layout) return;
    ItemOutcome& more = job.more();
    more.special = true;
    more.layout = std::move(*place.layout);
}

// Reads items while .metadata is still being parsed: the parse places chunk after chunk, and
// on a second core their archives are read in the time the parse takes (800,000 items: 0.6 s
// of a 2 s inspect). Only plain torch.save items are read here; anything else, and whatever
// is not reached, is left to the scanner's own pass. Jobs go into the scanner's job vector,
// whose capacity is reserved up front so that it never moves while the worker reads it.
class ItemPrefetcher {
    // A job points at its chunk's shape inside the tensor's chunk list, which moves (never
    // copies) as the parse grows the tensor list.
    static_assert(std::is_nothrow_move_constructible_v<DcpTensorMeta>);

public:
    ItemPrefetcher(const fs::path& directory, std::vector<ItemJob>& jobs,
                   const ScanOptions& options, const HeapReserve& heap)
        : m_directory(directory), m_jobs(jobs), m_options(options), m_heap(heap) {
        m_files.reserve(kMaxFiles);
        m_worker = std::thread([this] { run(); });
    }
    ~ItemPrefetcher() {
        m_stop = true;
        finish();
    }

    // Parsing thread: a chunk's storage entry was matched.
    void placed(size_t tensor, size_t chunk, const DcpTensorMeta& t, const DcpStorage& where,
                std::string_view path) {
        if (m_jobs.size() == m_jobs.capacity() || where.path >= kMaxFiles || where.transforms)
            return; // the scanner reads it
        while (m_files.size() <= where.path) {
            m_files.emplace_back();
            m_opened.push_back(false);
        }
        // Opened once, even when that fails: the worker may be reading the slot already.
        if (!m_opened[where.path]) {
            m_files[where.path] = open(path);
            m_opened[where.path] = true;
        }
        ItemJob& job = m_jobs.emplace_back();
        job.tensor = uint32_t(tensor);
        job.chunk = uint32_t(chunk);
        job.path = where.path;
        job.offset = where.offset;
        job.length = where.length;
        job.shape = &t.chunks[chunk].shape.get(); // interned tuples never move
        job.dtype = t.dtype;
        if (m_jobs.size() % 256 == 0) publish();
    }

    // Parsing thread: no more jobs; returns once the worker is done.
    void finish() {
        if (!m_worker.joinable()) return;
        publish();
        {
            std::lock_guard lock(m_mutex);
            m_finished = true;
        }
        m_wake.notify_one();
        m_worker.join();
    }

private:
    static constexpr uint32_t kMaxFiles = 4096;

    struct OpenFile {
        PosixFile file;
        std::string name;
    };

    std::unique_ptr<OpenFile> open(std::string_view path) const {
        const std::string name(path);
        if (!isPlainFileName(name)) return nullptr;
        try {
            return std::make_unique<OpenFile>(
                OpenFile{PosixFile::openRead(m_directory / name), name});
        } catch (const Error&) {
            return nullptr; // the scanner reports it
        }
    }

    void publish() {
        {
            std::lock_guard lock(m_mutex);
            m_published = m_jobs.size();
        }
        m_wake.notify_one();
    }

    void run() {
        m_heap.populate(); // while the parse makes its chunk lists: nothing to read until then
        size_t next = 0;
        for (;;) {
            size_t end;
            {
                std::unique_lock lock(m_mutex);
                m_wake.wait(lock, [&] { return m_published > next || m_finished; });
                end = m_published;
                if (next == end && m_finished) return;
            }
            for (; next < end; ++next) {
                if (m_stop || m_options.stop.stop_requested()) return;
                read(m_jobs[next]);
            }
        }
    }

    void read(ItemJob& job) {
        const OpenFile* f = m_files[job.path].get();
        if (!f) return;
        if (job.path != m_current) {
            m_blocks.emplace(f->file, m_block);
            m_cache = {};
            m_current = job.path;
        }
        const std::string_view bytes = m_blocks->get(job.offset, job.length);
        if (bytes.empty() || !startsLikeZip(f->file, job.offset, job.length, bytes)) return;
        try {
            readArchiveItem(f->file, f->name, "", job.dtype, *job.shape, kNoTransforms, false,
                            bytes, m_cache, job);
        } catch (const Error& e) {
            job.fail(e);
        }
        job.read = true;
    }

    static inline const std::vector<std::string> kNoTransforms;

    fs::path m_directory;
    std::vector<ItemJob>& m_jobs;
    const ScanOptions& m_options;
    const HeapReserve& m_heap;
    std::vector<std::unique_ptr<OpenFile>> m_files; // by path index; reserved: never moves
    std::vector<bool> m_opened;                     // parsing thread only: open() was tried
    std::mutex m_mutex;
    std::condition_variable m_wake;
    size_t m_published = 0; // jobs [0, m_published) are complete
    bool m_finished = false;
    std::atomic<bool> m_stop = false;
    std::thread m_worker;
    // Worker state
    uint32_t m_current = ~uint32_t(0);
    std::optional<BlockReader> m_blocks;
    std::string m_block;
    ItemCache m_cache;
};

class DcpScanner {
public:
    DcpScanner(const fs::path& directory, const ScanOptions& options)
        : m_directory(directory), m_options(options), m_reporter(options) {
        m_ckpt.directory = directory;
        m_ckpt.format = CheckpointFormat::Dcp;
    }

    Checkpoint scan() {
        const std::string text =
            readSmallFile(m_directory / ".metadata", kMaxMetadataBytes, "the DCP metadata");
        parseMetadata(text);
        m_reporter.checkStop();
        openFiles();
        buildTensors();
        buildByteItems();
        readItems();
        addNestedTensors();
        proveCoverage(m_ckpt, m_invalid, m_options, m_reporter, true);
        std::sort(m_ckpt.tensors.begin(), m_ckpt.tensors.end(),
                  [](const TensorInfo& a, const TensorInfo& b) { return a.fqn < b.fqn; });
        std::sort(m_ckpt.byteItems.begin(), m_ckpt.byteItems.end(),
                  [](const ByteItem& a, const ByteItem& b) { return a.fqn < b.fqn; });
        return std::move(m_ckpt);
    }

private:
    // With a second thread, items are read while the parse goes on (see ItemPrefetcher). Every
    // storage entry takes more than 64 bytes of pickle, so the jobs never outgrow the reserve.
    void parseMetadata(std::string_view text) {
        reserveLarge(m_jobs, text.size() / 64 + 1024);
        m_reporter.phase(ScanPhase::ReadingMetadata, text.size());
        uint64_t reported = 0;
        DcpParseHooks hooks;
        hooks.progress = [&](uint64_t bytes) {
            m_reporter.checkStop();
            m_reporter.add(bytes - reported);
            reported = bytes;
        };
        // The chunk lists take about a byte of heap per byte of pickle (0.9 for 800,000 chunks).
        const HeapReserve heap(text.size() + text.size() / 4);
        if (effectiveThreads(m_options.threads) < 2) {
            heap.populate();
            m_meta = parseDcpMetadata(text, ".metadata", hooks);
            m_reporter.add(text.size() - reported);
            return;
        }
        ItemPrefetcher prefetcher(m_directory, m_jobs, m_options, heap);
        hooks.placed = [&](size_t tensor, size_t chunk, const DcpTensorMeta& t,
                           const DcpStorage& where, std::string_view path) {
            prefetcher.placed(tensor, chunk, t, where, path);
        };
        m_meta = parseDcpMetadata(text, ".metadata", hooks);
        m_reporter.add(text.size() - reported);
        prefetcher.finish();
        indexPrefetched();
    }

    // Where each prefetched job's chunk is: m_byChunk[m_chunkBase[tensor] + chunk].
    void indexPrefetched() {
        m_prefetched = m_jobs.size();
        if (m_prefetched == 0) return;
        m_chunkBase.resize(m_meta.tensors.size() + 1);
        for (size_t t = 0; t < m_meta.tensors.size(); ++t)
            m_chunkBase[t + 1] = m_chunkBase[t] + m_meta.tensors[t].chunks.size();
        m_byChunk.assign(m_chunkBase.back(), kNoJob);
        for (size_t j = 0; j < m_prefetched; ++j)
            m_byChunk[m_chunkBase[m_jobs[j].tensor] + m_jobs[j].chunk] = uint32_t(j);
    }

    // A chunk's job: the one made during the parse, else a new one.
    void addJob(size_t tensor, size_t chunk, const DcpStorage& storage) {
        if (!m_byChunk.empty()) {
            if (const uint32_t j = m_byChunk[m_chunkBase[tensor] + chunk]; j != kNoJob) {
                m_taken[j] = true;
                return;
            }
        }
        m_jobs.push_back(makeJob(tensor, chunk, storage));
    }

    // Every file .metadata names, plus *.distcp files it does not name (listed, with a warning).
    void openFiles() {
        std::vector<std::string> names = m_meta.paths;
        std::unordered_map<std::string, uint32_t> named;
        for (const auto& n : names)
            named.emplace(n, 0);
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(m_directory, ec))
            if (entry.path().extension() == ".distcp" &&
                !named.count(entry.path().filename().string()))
                names.push_back(entry.path().filename().string());
        std::sort(names.begin(), names.end());
        std::unordered_map<std::string, uint32_t> indexOf;
        for (const std::string& name : names) {
            indexOf.emplace(name, uint32_t(m_ckpt.files.size()));
            m_ckpt.files.push_back(describeFile(name));
            if (!named.count(name))
                m_ckpt.problems.push_back({Severity::Warning, name, "",
                                           ".metadata does not name this file; it is ignored",
                                           ErrorKind::Other});
        }
        for (const auto& path : m_meta.paths)
            m_fileOf.push_back(indexOf.at(path));
    }

    ShardFile describeFile(const std::string& name) {
        ShardFile f;
        f.name = name;
        f.path = m_directory / name;
        f.valid = isPlainFileName(name);
        if (!f.valid) {
            fileProblem(name, "is not a plain file name inside the checkpoint directory",
                        ErrorKind::DcpMetadataInvalid);
            return f;
        }
        std::error_code ec;
        const auto status = fs::status(f.path, ec);
        if (status.type() == fs::file_type::not_found) {
            f.valid = false;
            fileProblem(name, "missing: .metadata names it but it is not in the directory",
                        ErrorKind::MissingDataFile);
        } else if (status.type() != fs::file_type::regular) {
            f.valid = false;
            fileProblem(name,
                        std::string("is ") + fileKindName(status.type()) + ", not a regular file",
                        ErrorKind::NotRegularFile);
        } else {
            f.size = fs::file_size(f.path, ec);
        }
        return f;
    }

    void fileProblem(const std::string& name, const std::string& message, ErrorKind kind) {
        m_ckpt.problems.push_back({Severity::Error, name, "", message, kind});
    }

    void buildTensors() {
        m_reporter.phase(ScanPhase::Merging, m_meta.chunkCount);
        m_ckpt.tensors.reserve(m_meta.tensors.size());
        if (m_jobs.capacity() < m_meta.chunkCount) m_jobs.reserve(m_meta.chunkCount);
        m_taken.assign(m_prefetched, false);
        for (auto& meta : m_meta.tensors) {
            const size_t ti = m_ckpt.tensors.size();
            TensorInfo t;
            t.fqn = meta.fqn;
            t.dtype = meta.dtype;
            t.shape = meta.size;
            t.kind = classifyTensor(meta.path.empty() ? firstComponent(meta.fqn) : meta.path[0]);
            t.name = exportNameOf(meta.fqn, meta.path);
            if (t.name == t.fqn) t.name.clear();
            m_ckpt.tensors.push_back(std::move(t));
            m_invalid.push_back(false);
            if (!meta.problem.empty()) {
                rejectTensor(m_ckpt, m_invalid, ti, ".metadata", meta.problem,
                             ErrorKind::DcpMetadataInvalid);
                continue;
            }
            if (meta.chunks.empty()) {
                rejectTensor(m_ckpt, m_invalid, ti, ".metadata", "has no chunks",
                             ErrorKind::Coverage);
                continue;
            }
            const size_t count = meta.chunks.size();
            addChunks(ti, meta);
            m_reporter.add(count);
        }
        for (size_t j = 0; j < m_prefetched; ++j)
            if (!m_taken[j]) m_jobs[j].tensor = ItemJob::kDropped; // its chunk was rejected
    }

    // Fills in the chunks .metadata gave and moves them into the tensor; at the first unusable
    // one the tensor is rejected and keeps only the chunks before it.
    void addChunks(size_t ti, DcpTensorMeta& meta) {
        TensorInfo& t = m_ckpt.tensors[ti];
        size_t c = 0;
        for (; c < meta.chunks.size(); ++c)
            if (!placeChunk(ti, meta.chunks, meta.storage[c], c)) break;
        meta.chunks.resize(c);
        t.chunks = std::move(meta.chunks);
        meta.storage = {};
    }

    // A chunk listed again with the same offsets finds its storage_data entry taken.
    static bool listedBefore(const std::vector<Chunk>& chunks, size_t index) {
        for (size_t j = 0; j < index; ++j)
            if (chunks[j].offsets == chunks[index].offsets) return true;
        return false;
    }

    bool placeChunk(size_t ti, std::vector<Chunk>& chunks, const DcpStorage& storage,
                    size_t index) {
        Chunk& chunk = chunks[index];
        const Shape& shape = m_ckpt.tensors[ti].shape;
        if (chunk.offsets.size() != shape.size() || chunk.shape.size() != shape.size()) {
            rejectTensor(m_ckpt, m_invalid, ti, ".metadata",
                         "the chunk at offsets " + formatShape(chunk.offsets) + " of size " +
                             formatShape(chunk.shape) + " does not have the tensor's rank " +
                             std::to_string(shape.size()),
                         ErrorKind::DcpMetadataInvalid);
            return false;
        }
        if (storage.path == kNoStorage) {
            rejectTensor(m_ckpt, m_invalid, ti, ".metadata",
                         listedBefore(chunks, index)
                             ? "the chunk at offsets " + formatShape(chunk.offsets) +
                                   " is listed twice in its chunks, with one storage_data "
                                   "entry for both"
                             : "storage_data has no entry for the chunk at offsets " +
                                   formatShape(chunk.offsets),
                         ErrorKind::DcpMetadataInvalid);
            return false;
        }
        const uint32_t file = m_fileOf[storage.path];
        const ShardFile& f = m_ckpt.files[file];
        chunk.file = file;
        chunk.begin = storage.offset;
        chunk.end = storage.offset; // set once the item is read
        if (!f.valid) {
            rejectTensor(m_ckpt, m_invalid, ti, f.name,
                         "its chunk at offsets " + formatShape(chunk.offsets) +
                             " is in this file, which cannot be read",
                         ErrorKind::MissingDataFile);
            return false;
        }
        uint64_t end;
        if (__builtin_add_overflow(storage.offset, storage.length, &end) || end > f.size) {
            rejectTensor(m_ckpt, m_invalid, ti, f.name,
                         "the item of the chunk at offsets " + formatShape(chunk.offsets) +
                             " is at bytes " + std::to_string(storage.offset) + ".." +
                             std::to_string(storage.offset + storage.length) +
                             ", past the end of the file (" + std::to_string(f.size) + " bytes)",
                         ErrorKind::ItemOutOfRange);
            return false;
        }
        addJob(ti, index, storage);
        return true;
    }

    void buildByteItems() {
        for (const auto& b : m_meta.bytes) {
            ByteItem item;
            item.fqn = b.fqn;
            if (b.storage.path == kNoStorage) {
                item.type = "missing";
                m_ckpt.problems.push_back({Severity::Warning, ".metadata", b.fqn,
                                           "storage_data has no entry for this byte item",
                                           ErrorKind::DcpMetadataInvalid});
            } else {
                item.file = m_fileOf[b.storage.path];
                item.size = b.storage.length;
                m_byteJobs.push_back(makeJob(m_ckpt.byteItems.size(), 0, b.storage));
            }
            m_ckpt.byteItems.push_back(std::move(item));
        }
        m_nested.resize(m_ckpt.byteItems.size());
    }

    // Items are read file by file in offset order, so each file is read front to back.
    void readItems() {
        std::vector<std::vector<ItemJob*>> byFile(m_ckpt.files.size());
        size_t readEarly = 0;
        for (auto& job : m_jobs) {
            if (job.tensor == ItemJob::kDropped) continue;
            if (job.read) {
                ++readEarly;
                continue;
            }
            byFile[m_ckpt.tensors[job.tensor].chunks[job.chunk].file].push_back(&job);
        }
        for (auto& list : byFile)
            std::sort(list.begin(), list.end(),
                      [](const ItemJob* a, const ItemJob* b) { return a->offset < b->offset; });
        m_reporter.phase(ScanPhase::ReadingHeaders, m_jobs.size() + m_byteJobs.size());
        m_reporter.add(readEarly);
        std::vector<std::string> blocks(size_t(effectiveThreads(m_options.threads)));
        parallelForWorkers(m_ckpt.files.size(), m_options.threads, [&](size_t f, int worker) {
            if (byFile[f].empty() && !hasByteItems(f)) return;
            m_reporter.checkStop();
            readFile(f, byFile[f], blocks[size_t(worker)]);
        });
        for (ItemJob& job : m_jobs)
            if (job.tensor != ItemJob::kDropped) applyJob(job);
        std::vector<ItemJob>().swap(m_jobs);
    }

    bool hasByteItems(size_t f) const {
        for (const auto& b : m_byteJobs)
            if (m_ckpt.byteItems[b.tensor].file == f) return true;
        return false;
    }

    void readFile(size_t f, const std::vector<ItemJob*>& jobs, std::string& block) {
        const ShardFile& sf = m_ckpt.files[f];
        PosixFile file;
        try {
            file = PosixFile::openRead(sf.path);
        } catch (const Error& e) {
            for (ItemJob* job : jobs)
                job->fail(e);
            return;
        }
        SafetensorsBlobs blobs;
        BlockReader blocks(file, block);
        ItemCache cache;
        size_t n = 0;
        for (ItemJob* job : jobs) {
            if (++n % 256 == 0) {
                m_reporter.checkStop();
                m_reporter.add(256);
            }
            try {
                readItem(file, sf.name, blobs, blocks, cache, *job);
            } catch (const Error& e) {
                job->fail(e);
            }
        }
        m_reporter.add(n % 256);
        for (const auto& b : m_byteJobs) {
            ByteItem& item = m_ckpt.byteItems[b.tensor];
            if (item.file != f) continue;
            try {
                checkTransforms(m_meta.transforms[b.transforms], sf.name, item.fqn);
                describeByteItem(file, {b.offset, b.length, &m_meta.transforms[b.transforms], {}},
                                 sf.name, item, &m_nested[b.tensor]);
            } catch (const Error& e) {
                item.type = "unreadable";
                // A broken item may have held tensors (see NestedTensor): exporting without
                // them would look complete. Only an item too large to read is let pass.
                const bool tooLarge = e.kind() == ErrorKind::PickleLimit;
                std::lock_guard lock(m_problemMutex);
                m_ckpt.problems.push_back(
                    {tooLarge ? Severity::Warning : Severity::Error, sf.name, item.fqn,
                     e.message() +
                         (tooLarge ? std::string()
                                   : " (a byte item; it may hold tensors, as PyTorch before 2.0 "
                                     "saves nested state dicts)"),
                     e.kind()});
            }
        }
    }

    void readItem(const PosixFile& file, const std::string& fileName, SafetensorsBlobs& blobs,
                  BlockReader& blocks, ItemCache& cache, ItemJob& job) {
        const TensorInfo& t = m_ckpt.tensors[job.tensor];
        const Chunk& c = t.chunks[job.chunk];
        const auto& transforms = m_meta.transforms[job.transforms];
        const bool zstd = checkTransforms(transforms, fileName, t.fqn);
        const std::string_view bytes =
            zstd ? std::string_view() : blocks.get(job.offset, job.length);
        if (!zstd && !startsLikeZip(file, job.offset, job.length, bytes)) {
            blobs.locate(file, fileName, job.offset, t, c, job);
            return;
        }
        readArchiveItem(file, fileName, t.fqn, t.dtype, c.shape, transforms, zstd, bytes, cache,
                        job);
    }

    void applyJob(ItemJob& job) {
        TensorInfo& t = m_ckpt.tensors[job.tensor];
        Chunk& c = t.chunks[job.chunk];
        if (job.outcome && !job.outcome->error.empty()) {
            rejectTensor(m_ckpt, m_invalid, job.tensor, m_ckpt.files[c.file].name,
                         job.outcome->error, job.outcome->kind);
            return;
        }
        c.begin = job.begin;
        c.end = job.end;
        ++m_ckpt.files[c.file].tensorCount;
        if (job.outcome && job.outcome->special) {
            m_ckpt.stored.push_back(std::move(job.outcome->layout));
            c.stored = uint32_t(m_ckpt.stored.size());
        }
    }

    // The tensors found inside byte items (see NestedTensor) join the checkpoint's tensors,
    // named by the item's fqn and their keys, each one whole chunk in the item's file.
    void addNestedTensors() {
        size_t total = 0;
        for (const auto& list : m_nested)
            total += list.size();
        if (total > 0) {
            std::unordered_set<std::string> taken;
            for (const TensorInfo& t : m_ckpt.tensors)
                taken.insert(t.fqn);
            m_ckpt.tensors.reserve(m_ckpt.tensors.size() + total);
            for (const ItemJob& job : m_byteJobs)
                for (const NestedTensor& n : m_nested[job.tensor])
                    addNested(job, n, taken);
        }
        for (const ByteItem& item : m_ckpt.byteItems)
            if (item.tensorsNotRead) reportNotRead(item);
        std::vector<std::vector<NestedTensor>>().swap(m_nested);
    }

    void addNested(const ItemJob& job, const NestedTensor& n,
                   std::unordered_set<std::string>& taken) {
        const ByteItem& item = m_ckpt.byteItems[job.tensor];
        const std::string& file = m_ckpt.files[item.file].name;
        TensorInfo t = nestedTensor(item, job, n);
        if (!taken.insert(t.fqn).second) { // keys with dots, or a hand-made checkpoint
            m_ckpt.problems.push_back(
                {Severity::Error, file, t.fqn,
                 "two tensors have this name: one inside byte item '" + item.fqn +
                     "' and another saved as its own item or reached by other keys (keys that "
                     "hold dots); ShardScope cannot tell which one the name means",
                 ErrorKind::DcpMetadataInvalid});
            return;
        }
        m_ckpt.tensors.push_back(std::move(t));
        m_invalid.push_back(false);
        if (!n.problem.empty())
            rejectTensor(m_ckpt, m_invalid, m_ckpt.tensors.size() - 1, file,
                         n.problem + " (a tensor inside byte item '" + item.fqn + "')", n.kind);
    }

    // Tensors the walk did not reach (inside a ShardedTensor, a module or another class,
    // under a key that is not a name, too deep, or sparse or quantized): an error when they
    // may be model weights, since the export would look complete without them.
    void reportNotRead(const ByteItem& item) {
        const bool training = classifyTensor(firstComponent(item.fqn)) != TensorKind::Model;
        const std::string count = std::to_string(item.tensorsNotRead) +
                                  (item.tensorsNotRead == 1 ? " tensor" : " tensors");
        m_ckpt.problems.push_back(
            {training ? Severity::Warning : Severity::Error, m_ckpt.files[item.file].name, item.fqn,
             "byte item '" + item.fqn + "' holds " + count +
                 " that ShardScope cannot read: inside an object other than a dict, list, "
                 "tuple or nn.Parameter (a ShardedTensor, a module, ...), under a key that is "
                 "not a string or number, nested too deep, or sparse or quantized; " +
                 (item.tensorsNotRead == 1 ? "it is" : "they are") + " not listed or exported",
             ErrorKind::StorageMismatch});
    }

    TensorInfo nestedTensor(const ByteItem& item, const ItemJob& job, const NestedTensor& n) {
        TensorInfo t;
        std::vector<std::string> path;
        for (size_t from = 0;;) { // the item's own fqn may hold dots: split it as DCP would
            const size_t dot = item.fqn.find('.', from);
            path.push_back(item.fqn.substr(from, dot - from));
            if (dot == std::string::npos) break;
            from = dot + 1;
        }
        t.fqn = item.fqn;
        for (const std::string& key : n.path) {
            t.fqn += "." + key;
            path.push_back(key);
        }
        t.kind = classifyTensor(path[0]);
        t.name = exportNameOf(t.fqn, path);
        if (t.name == t.fqn) t.name.clear();
        if (!n.problem.empty()) return t;
        t.dtype = n.record.dtype;
        t.shape = n.record.size;
        Chunk c;
        c.file = item.file;
        c.offsets = Shape(n.record.size.size(), 0);
        c.shape = n.record.size;
        ArchivePlace place = placeInArchive(n.record, n.dataOffset, n.dataBytes, n.streamBytes,
                                            !m_meta.transforms[job.transforms].empty(), job.offset,
                                            job.offset + job.length);
        c.begin = place.begin;
        c.end = place.end;
        if (place.layout) {
            m_ckpt.stored.push_back(std::move(*place.layout));
            c.stored = uint32_t(m_ckpt.stored.size());
        }
        ++m_ckpt.files[c.file].tensorCount;
        t.chunks.push_back(c);
        return t;
    }

    static ItemJob makeJob(size_t owner, size_t chunk, const DcpStorage& storage) {
        ItemJob job;
        job.tensor = uint32_t(owner);
        job.chunk = uint32_t(chunk);
        job.offset = storage.offset;
        job.length = storage.length;
        job.transforms = storage.transforms;
        return job;
    }

    static std::string firstComponent(const std::string& fqn) {
        return fqn.substr(0, fqn.find('.'));
    }

    fs::path m_directory;
    const ScanOptions& m_options;
    ScanReporter m_reporter;
    Checkpoint m_ckpt;
    DcpMetadata m_meta;
    std::vector<bool> m_invalid;
    std::vector<uint32_t> m_fileOf; // metadata path index -> file index
    std::vector<ItemJob> m_jobs;
    static constexpr uint32_t kNoJob = ~uint32_t(0);
    size_t m_prefetched = 0;         // m_jobs[0, m_prefetched) were made during the parse
    std::vector<size_t> m_chunkBase; // per tensor: its first chunk's place in m_byChunk
    std::vector<uint32_t> m_byChunk; // per chunk: its prefetched job, or kNoJob
    std::vector<bool> m_taken;       // per prefetched job: a chunk uses it
    std::vector<ItemJob> m_byteJobs; // `tensor` is the byte item's index
    std::vector<std::vector<NestedTensor>> m_nested; // per byte item, while items are read
    std::mutex m_problemMutex;
};

} // namespace

TensorKind classifyTensor(std::string_view first) {
    static const std::pair<std::string_view, TensorKind> kKinds[] = {
        {"optimizer", TensorKind::Optimizer},       {"optim", TensorKind::Optimizer},
        {"optimizers", TensorKind::Optimizer},      {"optimizer_state", TensorKind::Optimizer},
        {"lr_scheduler", TensorKind::Scheduler},    {"lr_schedulers", TensorKind::Scheduler},
        {"scheduler", TensorKind::Scheduler},       {"schedulers", TensorKind::Scheduler},
        {"dataloader", TensorKind::Dataloader},     {"data_loader", TensorKind::Dataloader},
        {"dataloaders", TensorKind::Dataloader},    {"train_state", TensorKind::TrainState},
        {"training_state", TensorKind::TrainState}, {"trainer_state", TensorKind::TrainState},
        {"rng_state", TensorKind::TrainState},      {"rng_states", TensorKind::TrainState},
        {"extra_state", TensorKind::TrainState},
    };
    for (const auto& [name, kind] : kKinds)
        if (first == name) return kind;
    return TensorKind::Model;
}

std::string exportNameOf(const std::string& fqn, const std::vector<std::string>& path) {
    if (path.size() < 2 || path[0] != "model") return fqn;
    std::string name;
    for (size_t i = 1; i < path.size(); ++i)
        name += (i > 1 ? "." : "") + path[i];
    return name;
}

Checkpoint scanDcpCheckpoint(const fs::path& directory, const ScanOptions& options) {
    return DcpScanner(directory, options).scan();
}

} // namespace shardscope
