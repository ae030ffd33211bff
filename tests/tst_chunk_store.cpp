// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// The compact chunk store (interned offsets and shapes, 32-byte chunks, the parallel merge in
// file order, the coverage sweep) judged against the straightforward layout: what the test
// itself wrote, recorded as plain vectors, and coverage counted element by element.

#include "checkpoint.h"
#include "coverage.h"
#include "shape_pool.h"
#include "shard_builder.h"

#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

static_assert(sizeof(shardscope::Chunk) == 32);

namespace {

// Fixed seeds; draws use only the engine (std distributions differ between libraries).
struct Rng {
    std::mt19937_64 engine;
    explicit Rng(uint64_t seed) : engine(seed) {}
    uint64_t next() { return engine(); }
    uint64_t below(uint64_t n) { return engine() % n; }
    uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
    bool chance(unsigned percent) { return below(100) < percent; }
    template <class T> void shuffle(std::vector<T>& v) {
        for (size_t i = v.size(); i > 1; --i)
            std::swap(v[i - 1], v[below(i)]);
    }
};

Dims dimsOf(const Shape& s) {
    return Dims(s.begin(), s.end());
}
Dims dimsOf(ShapeRef s) { // through ShapeRef's own iterators
    return Dims(s.begin(), s.end());
}
Shape shapeOf(const Dims& d) {
    Shape s;
    for (uint64_t v : d)
        s.push_back(v);
    return s;
}

// Test-side formatting, so expected messages do not come from the code under test.
std::string text(const Dims& d) {
    std::string out = "[";
    for (size_t i = 0; i < d.size(); ++i)
        out += (i ? ", " : "") + std::to_string(d[i]);
    return out + "]";
}
std::string region(const Dims& lo, const Dims& hi) {
    std::string out = "[";
    for (size_t i = 0; i < lo.size(); ++i)
        out += (i ? ", " : "") + std::to_string(lo[i]) + ":" + std::to_string(hi[i]);
    return out + "]";
}

std::string rankFile(size_t r) {
    char name[64];
    std::snprintf(name, sizeof name, "shard-%05zu-model-00001-of-00001.safetensors", r + 1);
    return name;
}

uint64_t headerEnd(const fs::path& path) { // 8 + N, read here rather than by the core
    std::ifstream in(path, std::ios::binary);
    unsigned char b[8] = {};
    in.read(reinterpret_cast<char*>(b), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | b[i];
    return 8 + n;
}

// Every field a scan fills, one line each, so two scans compare line by line.
QStringList render(const Checkpoint& c) {
    QStringList out;
    auto q = [](const std::string& s) { return QString::fromStdString(s); };
    // An unreadable file's size and data start are judged on their own, in
    // brokenFilesKeepTheirOwnSizes, so that a bug there is named once.
    for (const ShardFile& f : c.files)
        out << QString("file %1 path=%2 size=%3 dataStart=%4 tensors=%5 valid=%6")
                   .arg(q(f.name), q(f.path.string()))
                   .arg(f.valid ? QString::number(f.size) : QString("-"))
                   .arg(f.valid ? QString::number(f.dataStart) : QString("-"))
                   .arg(f.tensorCount)
                   .arg(f.valid);
    for (const TensorInfo& t : c.tensors) {
        out << QString("tensor %1 %2 %3 bytes=%4 status=%5 kind=%6 name=%7 detail=%8")
                   .arg(q(t.fqn), q(std::string(dtypeName(t.dtype))), q(text(dimsOf(t.shape))))
                   .arg(t.bytes)
                   .arg(int(t.status))
                   .arg(int(t.kind))
                   .arg(q(t.name), q(t.coverageDetail));
        for (const Chunk& ch : t.chunks)
            out << QString("  chunk file=%1 offsets=%2#%3 shape=%4#%5 stored=%6 replica=%7 "
                           "range=%8..%9")
                       .arg(ch.file)
                       .arg(q(text(dimsOf(ch.offsets))))
                       .arg(ch.offsets.id())
                       .arg(q(text(dimsOf(ch.shape))))
                       .arg(ch.shape.id())
                       .arg(uint32_t(ch.stored))
                       .arg(uint32_t(ch.replica))
                       .arg(ch.begin)
                       .arg(ch.end);
    }
    for (const Problem& p : c.problems)
        out << QString("problem %1|%2|%3|%4|%5")
                   .arg(int(p.severity))
                   .arg(q(p.file), q(p.tensor), q(p.message),
                        QString::fromLatin1(errorKindName(p.kind)));
    out << QString("format=%1 stored=%2 items=%3")
               .arg(int(c.format))
               .arg(c.stored.size())
               .arg(c.byteItems.size());
    return out;
}

void compareScans(const Checkpoint& a, const Checkpoint& b) {
    const QStringList x = render(a), y = render(b);
    for (qsizetype i = 0; i < std::min(x.size(), y.size()); ++i)
        QCOMPARE(y[i], x[i]);
    QCOMPARE(y.size(), x.size());
}

ScanOptions withThreads(int threads) {
    ScanOptions options;
    options.threads = threads;
    return options;
}

// ---- The layout a randomised checkpoint was written with ----

struct WrittenChunk {
    size_t file = 0; // into WrittenLayout::files
    Dims offsets, shape;
    uint64_t begin = 0, end = 0; // in the file's data section
    bool replica = false;        // the same region as a chunk in an earlier file
};

struct WrittenTensor {
    std::string dtype;
    Dims shape;
    std::vector<WrittenChunk> chunks; // in file order
};

struct WrittenLayout {
    std::vector<std::string> files; // sorted, as the scan lists them
    std::vector<uint64_t> dataStart, size, tensorCount;
    std::map<std::string, WrittenTensor> tensors; // byte order, as the scan sorts them
};

// [0, size) cut into `parts` non-empty pieces at random points: (start, length) each.
std::vector<std::pair<uint64_t, uint64_t>> cut(Rng& rng, uint64_t size, uint64_t parts) {
    std::set<uint64_t> points;
    while (points.size() + 1 < parts)
        points.insert(rng.between(1, size - 1));
    points.insert(size);
    std::vector<std::pair<uint64_t, uint64_t>> out;
    uint64_t at = 0;
    for (uint64_t p : points)
        out.push_back({at, p - at}), at = p;
    return out;
}

// One tensor's chunks (offsets, shape), each region listed `copies` times.
struct Split {
    std::vector<std::pair<Dims, Dims>> boxes;
    size_t copies = 1;
};

Split randomSplit(Rng& rng, const Dims& shape, size_t ranks) {
    const size_t rank = shape.size();
    enum Kind { Whole, Replicated, Rows, Columns, Grid, RowsReplicated };
    std::vector<Kind> kinds = {Whole};
    if (ranks >= 2) kinds.push_back(Replicated);
    if (ranks >= 2 && rank >= 1 && shape[0] >= 2) kinds.push_back(Rows);
    if (ranks >= 2 && rank >= 2) kinds.push_back(Columns);
    if (ranks >= 4 && rank >= 2 && shape[0] >= 2 && shape[1] >= 2) kinds.push_back(Grid);
    if (ranks >= 4 && rank >= 1 && shape[0] >= 2) kinds.push_back(RowsReplicated);
    Split s;
    const Dims origin(rank, 0);
    auto along = [&](size_t dim, uint64_t parts) {
        for (auto [start, length] : cut(rng, shape[dim], parts)) {
            Dims off = origin, sh = shape;
            off[dim] = start, sh[dim] = length;
            s.boxes.push_back({off, sh});
        }
    };
    switch (kinds[rng.below(kinds.size())]) {
    case Whole:
        s.boxes.push_back({origin, shape});
        break;
    case Replicated: // a bias or scalar written whole by several ranks
        s.boxes.push_back({origin, shape});
        s.copies = rng.between(2, std::min<size_t>(ranks, 6));
        break;
    case Rows:
        along(0, rng.between(2, std::min<uint64_t>(ranks, shape[0])));
        break;
    case Columns: { // any dimension past the first; every chunk starts at 0 along dim 0
        const size_t dim = rng.between(1, rank - 1);
        if (shape[dim] < 2) {
            s.boxes.push_back({origin, shape});
            break;
        }
        along(dim, rng.between(2, std::min<uint64_t>(ranks, shape[dim])));
        break;
    }
    case Grid: {
        const uint64_t g = rng.between(2, std::min<uint64_t>(shape[0], ranks / 2));
        const uint64_t h = rng.between(2, std::min<uint64_t>(shape[1], ranks / g));
        for (auto [r0, rl] : cut(rng, shape[0], g))
            for (auto [c0, cl] : cut(rng, shape[1], h)) {
                Dims off = origin, sh = shape;
                off[0] = r0, sh[0] = rl, off[1] = c0, sh[1] = cl;
                s.boxes.push_back({off, sh});
            }
        break;
    }
    case RowsReplicated: // hybrid sharding: each row block held by several ranks
        s.copies = rng.between(2, std::min<size_t>(3, ranks / 2));
        along(0, rng.between(2, std::min<uint64_t>(shape[0], ranks / s.copies)));
        break;
    }
    return s;
}

// Writes a random checkpoint into dir with the test-side writer and returns its layout.
WrittenLayout writeRandomCheckpoint(const fs::path& dir, uint64_t seed) {
    Rng rng(seed);
    fs::create_directories(dir);
    WrittenLayout w;
    const size_t ranks = rng.between(1, 24);
    for (size_t r = 0; r < ranks; ++r)
        w.files.push_back(rankFile(r));
    static const char* const dtypes[] = {"F32", "BF16", "F16", "I64", "U8"};
    static const char* const leaves[] = {"self_attn.q_proj.weight", "mlp.down_proj.weight",
                                         "input_layernorm.weight", "mlp.up_proj.bias", "scale"};
    struct Placed {
        std::string fqn;
        size_t chunk; // index in the tensor's chunk list, before sorting by file
        TestChunk data;
    };
    std::vector<std::vector<Placed>> perFile(ranks);
    const size_t tensorCount = rng.between(1, 40);
    while (w.tensors.size() < tensorCount) {
        std::string fqn;
        switch (rng.below(8)) {
        case 0:
            fqn = "lm_head.weight";
            break;
        case 1:
            fqn = "model.norm.\xc3\xa9" + std::to_string(rng.below(3)); // UTF-8 sorts by bytes
            break;
        default: // layers.10 sorts before layers.2 in byte order
            fqn = "model.layers." + std::to_string(rng.below(12)) + "." + leaves[rng.below(5)];
        }
        if (w.tensors.count(fqn)) continue;
        WrittenTensor& t = w.tensors[fqn];
        t.dtype = dtypes[rng.below(5)];
        const size_t rank = rng.below(5);
        for (size_t d = 0; d < rank; ++d)
            t.shape.push_back(rng.between(1, rank <= 2 ? 24 : 6));
        Split split = randomSplit(rng, t.shape, ranks);
        // Now and then an empty tensor, whole: zero bytes at a data offset shared with the next.
        if (rank > 0 && split.boxes.size() == 1 && rng.chance(10)) {
            const size_t d = rng.below(rank);
            t.shape[d] = 0;
            split.boxes[0].second[d] = 0;
        }
        const unsigned itemBytes = bitsOf(t.dtype) / 8;
        const std::string full = pattern(fqn, numel(t.shape) * itemBytes);
        std::vector<size_t> files(ranks);
        for (size_t r = 0; r < ranks; ++r)
            files[r] = r;
        rng.shuffle(files); // at most one chunk of a tensor per file, in any files
        size_t next = 0;
        for (size_t copy = 0; copy < split.copies; ++copy)
            for (const auto& [off, sh] : split.boxes) {
                const size_t f = files[next++];
                t.chunks.push_back({f, off, sh, 0, 0, false});
                perFile[f].push_back(
                    {fqn,
                     t.chunks.size() - 1,
                     {fqn, t.dtype, off, sh, slice(full, t.shape, off, sh, itemBytes)}});
            }
    }
    // Files are created in random order and hold their tensors in random order.
    std::vector<size_t> creation(ranks);
    for (size_t r = 0; r < ranks; ++r)
        creation[r] = r;
    rng.shuffle(creation);
    w.dataStart.resize(ranks), w.size.resize(ranks), w.tensorCount.resize(ranks);
    for (size_t f : creation) {
        rng.shuffle(perFile[f]);
        std::vector<TestChunk> chunks;
        uint64_t at = 0;
        for (const Placed& p : perFile[f]) {
            WrittenChunk& c = w.tensors[p.fqn].chunks[p.chunk];
            c.begin = at;
            c.end = at += p.data.bytes.size();
            chunks.push_back(p.data);
        }
        ShardOptions options;
        options.metadataLast = rng.chance(50);
        writeShard(dir / w.files[f], chunks, options);
        w.dataStart[f] = headerEnd(dir / w.files[f]);
        w.size[f] = fs::file_size(dir / w.files[f]);
        w.tensorCount[f] = chunks.size();
        if (w.size[f] != w.dataStart[f] + at) throw std::runtime_error("test bug: file size");
    }
    for (auto& [fqn, t] : w.tensors) {
        std::stable_sort(
            t.chunks.begin(), t.chunks.end(),
            [](const WrittenChunk& a, const WrittenChunk& b) { return a.file < b.file; });
        for (size_t i = 0; i < t.chunks.size(); ++i)
            for (size_t j = 0; j < i && !t.chunks[i].replica; ++j)
                t.chunks[i].replica = t.chunks[j].offsets == t.chunks[i].offsets &&
                                      t.chunks[j].shape == t.chunks[i].shape;
    }
    return w;
}

QString writtenLine(const WrittenLayout& w, const std::string& fqn, size_t i) {
    const WrittenChunk& c = w.tensors.at(fqn).chunks[i];
    return QString("%1 #%2: %3 at %4 shape %5 data %6..%7 (%8 bytes) replica=%9 stored=0")
        .arg(QString::fromStdString(fqn))
        .arg(i)
        .arg(QString::fromStdString(w.files[c.file]))
        .arg(QString::fromStdString(text(c.offsets)), QString::fromStdString(text(c.shape)))
        .arg(c.begin)
        .arg(c.end)
        .arg(c.end - c.begin)
        .arg(c.replica);
}

QString scannedLine(const Checkpoint& ckpt, const TensorInfo& t, size_t i) {
    const Chunk& c = t.chunks[i];
    const ShardFile& f = ckpt.files[c.file];
    return QString("%1 #%2: %3 at %4 shape %5 data %6..%7 (%8 bytes) replica=%9 stored=%10")
        .arg(QString::fromStdString(t.fqn))
        .arg(i)
        .arg(QString::fromStdString(f.name))
        .arg(QString::fromStdString(text(dimsOf(c.offsets))),
             QString::fromStdString(text(dimsOf(c.shape))))
        .arg(c.begin - f.dataStart)
        .arg(c.end - f.dataStart)
        .arg(c.bytes())
        .arg(bool(c.replica))
        .arg(uint32_t(c.stored));
}

void compareWithLayout(const Checkpoint& c, const WrittenLayout& w, const fs::path& dir) {
    QVERIFY2(c.problems.empty(), c.problems.empty() ? "" : c.problems.front().text().c_str());
    QVERIFY(!c.hasErrors());
    QCOMPARE(c.format, CheckpointFormat::SafetensorsShards);
    QCOMPARE(c.files.size(), w.files.size());
    for (size_t f = 0; f < w.files.size(); ++f) {
        QCOMPARE(c.files[f].name, w.files[f]);
        QCOMPARE(c.files[f].path, dir / w.files[f]);
        QCOMPARE(c.files[f].dataStart, w.dataStart[f]);
        QCOMPARE(c.files[f].size, w.size[f]);
        QCOMPARE(c.files[f].tensorCount, w.tensorCount[f]);
        QVERIFY(c.files[f].valid);
    }
    QCOMPARE(c.tensors.size(), w.tensors.size());
    auto expected = w.tensors.begin();
    for (size_t ti = 0; ti < c.tensors.size(); ++ti, ++expected) {
        const TensorInfo& t = c.tensors[ti];
        const WrittenTensor& wt = expected->second;
        QCOMPARE(t.fqn, expected->first); // sorted by fqn, byte order
        if (ti > 0) QVERIFY(c.tensors[ti - 1].fqn < t.fqn);
        QCOMPARE(c.find(t.fqn), &t);
        QCOMPARE(std::string(dtypeName(t.dtype)), wt.dtype);
        QCOMPARE(text(dimsOf(t.shape)), text(wt.shape));
        QCOMPARE(t.bytes, numel(wt.shape) * bitsOf(wt.dtype) / 8);
        QCOMPARE(t.status, CoverageStatus::Complete);
        QCOMPARE(t.coverageDetail, std::string());
        QCOMPARE(t.kind, TensorKind::Model);
        QCOMPARE(t.exportName(), t.fqn);
        QCOMPARE(t.chunks.size(), wt.chunks.size());
        for (size_t i = 0; i < t.chunks.size(); ++i) {
            const Chunk& ch = t.chunks[i];
            const WrittenChunk& wc = wt.chunks[i];
            QVERIFY(ch.file < c.files.size());
            QCOMPARE(ch.file, uint32_t(wc.file)); // chunks in file order
            QCOMPARE(scannedLine(c, t, i), writtenLine(w, t.fqn, i));
            // Typed, too: the interned tuples are the ones the plain values intern to.
            QVERIFY(ch.offsets == shapeOf(wc.offsets));
            QVERIFY(ch.shape == shapeOf(wc.shape));
            QCOMPARE(ch.offsets.id(), ShapeRef(shapeOf(wc.offsets)).id());
            QCOMPARE(ch.shape.id(), ShapeRef(shapeOf(wc.shape)).id());
            QCOMPARE(ch.offsets.size(), wt.shape.size());
            QCOMPARE(ch.bytes(), numel(wc.shape) * bitsOf(wt.dtype) / 8);
            QCOMPARE(bool(ch.replica), wc.replica);
            QCOMPARE(uint32_t(ch.stored), 0u);
        }
    }
}

// The sharding info writeShard would write, with one tensor left out or one offset dropped.
std::string shardingInfo(const std::vector<TestChunk>& chunks, const std::string& leaveOut,
                         const std::string& shorten) {
    std::string info = "{";
    for (const TestChunk& c : chunks) {
        if (c.fqn == leaveOut) continue;
        Dims off = c.offsets;
        if (c.fqn == shorten) off.pop_back();
        std::string list;
        for (size_t i = 0; i < off.size(); ++i)
            list += (i ? "," : "") + std::to_string(off[i]);
        info += (info.size() > 1 ? "," : "") + jsonString(c.fqn) + ":{\"saved_offsets\":[" + list +
                "]}";
    }
    return info + "}";
}

// ---- Coverage in memory ----

std::vector<ShardFile> memoryFiles(size_t n) {
    std::vector<ShardFile> files(n);
    for (size_t i = 0; i < n; ++i)
        files[i].name = "rank-" + std::to_string(i) + ".safetensors";
    return files;
}

Chunk memoryChunk(uint32_t file, const Dims& offsets, const Dims& shape) {
    Chunk c;
    c.file = file;
    c.offsets = shapeOf(offsets);
    c.shape = shapeOf(shape);
    c.begin = 0;
    c.end = numel(shape) * 2;
    return c;
}

// `ways` equal chunks along `dim`, chunk k in file k.
TensorInfo evenSplit(const Dims& shape, size_t dim, uint64_t ways) {
    TensorInfo t;
    t.fqn = "w";
    t.dtype = DType::BF16;
    t.shape = shapeOf(shape);
    const uint64_t width = shape[dim] / ways;
    for (uint64_t k = 0; k < ways; ++k) {
        Dims off(shape.size(), 0), sh = shape;
        off[dim] = k * width;
        sh[dim] = width;
        t.chunks.push_back(memoryChunk(uint32_t(k), off, sh));
    }
    return t;
}

// Records what the proof asked to compare; answers `equal`.
struct ByteChecks {
    bool equal = true;
    std::vector<std::pair<const Chunk*, const Chunk*>> calls;
    ChunkBytesEqual fn() {
        return [this](const Chunk& a, const Chunk& b) {
            calls.push_back({&a, &b});
            return equal;
        };
    }
};

size_t replicaCount(const TensorInfo& t) {
    return size_t(
        std::count_if(t.chunks.begin(), t.chunks.end(), [](const Chunk& c) { return c.replica; }));
}

// A random exact tiling of [lo, hi): boxes cut in two along random dimensions.
void tile(Rng& rng, const Dims& lo, const Dims& hi, std::vector<std::pair<Dims, Dims>>& out) {
    std::vector<size_t> splittable;
    for (size_t d = 0; d < lo.size(); ++d)
        if (hi[d] - lo[d] >= 2) splittable.push_back(d);
    if (splittable.empty() || rng.chance(25)) {
        Dims sh(lo.size());
        for (size_t d = 0; d < lo.size(); ++d)
            sh[d] = hi[d] - lo[d];
        out.push_back({lo, sh});
        return;
    }
    const size_t d = splittable[rng.below(splittable.size())];
    const uint64_t at = rng.between(lo[d] + 1, hi[d] - 1);
    Dims mid = hi;
    mid[d] = at;
    tile(rng, lo, mid, out);
    Dims start = lo;
    start[d] = at;
    tile(rng, start, hi, out);
}

std::optional<std::pair<Dims, Dims>> parseRegion(const std::string& detail,
                                                 const std::string& after) {
    const size_t at = detail.find(after);
    if (at == std::string::npos) return std::nullopt;
    Dims lo, hi;
    const char* p = detail.c_str() + at + after.size();
    while (*p && *p != ']') {
        char* end = nullptr;
        lo.push_back(std::strtoull(p, &end, 10));
        if (*end != ':') return std::nullopt;
        hi.push_back(std::strtoull(end + 1, &end, 10));
        p = end;
        if (*p == ',') p += 2;
    }
    return std::make_pair(lo, hi);
}

// Calls f(index, linear) for every element index of the box [lo, hi) of a tensor `shape`.
template <class F> void forEachIn(const Dims& shape, const Dims& lo, const Dims& hi, F f) {
    const size_t rank = shape.size();
    for (size_t d = 0; d < rank; ++d)
        if (lo[d] >= hi[d]) return;
    Dims at = lo;
    for (;;) {
        uint64_t linear = 0;
        for (size_t d = 0; d < rank; ++d)
            linear = linear * shape[d] + at[d];
        f(at, linear);
        size_t d = rank;
        while (d-- > 0) {
            if (++at[d] < hi[d]) break;
            at[d] = lo[d];
        }
        if (d == size_t(-1)) return;
    }
}

// ---- Cancellation ----

struct CancelState {
    std::stop_source stop;
    uint64_t target = 1; // files merged before the stop
    uint64_t stopAt = 0; // progress.done when it was requested
    uint64_t total = 0;
    bool laterPhase = false;
};

// nullopt when the scan has not returned within `seconds` (its thread is abandoned, so a hang
// fails the test instead of the suite); otherwise how it ended.
std::optional<QString> scanWithin(const fs::path& dir, const ScanOptions& options, int seconds) {
    auto done = std::make_shared<std::promise<QString>>();
    std::future<QString> future = done->get_future();
    std::thread([dir, options, done] {
        try {
            scanCheckpoint(dir, options);
            done->set_value("finished");
        } catch (const Cancelled&) {
            done->set_value("cancelled");
        } catch (const std::exception& e) {
            done->set_value(QString("failed: ") + e.what());
        }
    }).detach();
    if (future.wait_for(std::chrono::seconds(seconds)) != std::future_status::ready)
        return std::nullopt;
    return future.get();
}

} // namespace

class TestChunkStore : public QObject {
    Q_OBJECT

private slots:
    void init();
    void internedTuplesReadAsPlainShapes();
    void chunkFieldsAreIndependent();
    void scanMatchesWrittenLayout_data();
    void scanMatchesWrittenLayout();
    void mergeProblemsDoNotDependOnThreads();
    void brokenFilesKeepTheirOwnSizes();
    void splitsProveCoverage_data();
    void splitsProveCoverage();
    void gridProvesCoverage();
    void coverageAgreesWithElementCounts();
    void cancelWhileReadingHeadersLetsWaitersGo();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path dir() const { return fs::path(m_tmp->path().toStdString()) / "ckpt"; }
};

void TestChunkStore::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
}

// Ids from any thread name the tuple they were made from; equal tuples share one id.
void TestChunkStore::internedTuplesReadAsPlainShapes() {
    Rng rng(2026);
    const uint64_t max = ~uint64_t(0);
    // Common tuples repeat (few values, low ranks collide often); fresh ones each hold a value
    // nothing else interns, so each is new to the process-wide pool.
    std::vector<Shape> common, fresh;
    for (int i = 0; i < 2500; ++i) {
        Shape s;
        const size_t rank = rng.below(8);
        for (size_t d = 0; d < rank; ++d)
            s.push_back(rng.chance(30) ? max - rng.below(2) : rng.below(3));
        common.push_back(s);
    }
    const uint64_t salt = 0x5EEDC0DE00000000ull;
    for (uint64_t i = 0; i < 4500; ++i) { // with the others, past the pool's first 4,096-id block
        Shape s;
        const size_t rank = rng.between(1, 7);
        for (size_t d = 0; d < rank; ++d) {
            switch (rng.below(5)) {
            case 0:
                s.push_back(0);
                break;
            case 1:
                s.push_back(max - rng.below(3));
                break;
            case 2:
                s.push_back(uint64_t(1) << rng.below(64));
                break;
            default:
                s.push_back(rng.next());
            }
        }
        s[rng.below(rank)] = salt + i;
        fresh.push_back(s);
    }
    for (const Shape& s : common)
        (void)ShapeRef(s);
    const size_t before = ShapePool::size();

    std::vector<Shape> all = common;
    all.insert(all.end(), fresh.begin(), fresh.end());
    rng.shuffle(all);
    QVERIFY(std::count_if(all.begin(), all.end(), [](const Shape& s) { return s.size() > 4; }) >
            1000); // Shape keeps these on the heap
    QVERIFY(std::count_if(all.begin(), all.end(), [](const Shape& s) { return s.empty(); }) > 100);

    // Two threads walk forward and two backward: pairs race for the same new tuple.
    std::vector<std::vector<uint32_t>> ids(4, std::vector<uint32_t>(all.size()));
    std::atomic<int> misreads{0};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < ids.size(); ++t)
        threads.emplace_back([&, t] {
            for (size_t k = 0; k < all.size(); ++k) {
                const size_t i = t < 2 ? k : all.size() - 1 - k;
                const ShapeRef ref(all[i]);
                ids[t][i] = ref.id();
                if (!(ref.get() == all[i]) || !(ShapePool::at(ref.id()) == all[i])) ++misreads;
            }
        });
    for (auto& t : threads)
        t.join();
    QCOMPARE(misreads.load(), 0);
    QCOMPARE(ShapePool::size() - before, fresh.size()); // one id per new tuple, however many met it

    std::map<Dims, uint32_t> idOf;
    std::map<uint32_t, Dims> tupleOf;
    for (size_t i = 0; i < all.size(); ++i) {
        for (size_t t = 1; t < ids.size(); ++t)
            QCOMPARE(ids[t][i], ids[0][i]);
        const Dims key = dimsOf(all[i]);
        const auto [byTuple, newTuple] = idOf.emplace(key, ids[0][i]);
        if (!newTuple) QCOMPARE(ids[0][i], byTuple->second); // equal tuples, equal ids
        const auto [byId, newId] = tupleOf.emplace(ids[0][i], key);
        if (!newId) QVERIFY(byId->second == key); // different tuples, different ids
        QCOMPARE(ids[0][i] == 0, all[i].empty()); // the empty tuple is id 0, and only it
    }

    // Every accessor reads as the Shape (from this thread, whose cache met none of them).
    for (size_t i = 0; i < all.size(); ++i) {
        const Shape& s = all[i];
        const ShapeRef ref(s);
        QCOMPARE(ref.id(), ids[0][i]);
        QVERIFY(ref.get() == s);
        const Shape& converted = ref;
        QCOMPARE(&converted, &ref.get());
        QCOMPARE(ref.size(), s.size());
        QCOMPARE(ref.empty(), s.empty());
        for (size_t d = 0; d < s.size(); ++d)
            QCOMPARE(ref[d], s[d]);
        Dims iterated;
        for (uint64_t v : ref)
            iterated.push_back(v);
        QVERIFY(iterated == dimsOf(s));
        QCOMPARE(size_t(ref.end() - ref.begin()), s.size());
        if (!s.empty()) {
            QCOMPARE(ref.front(), s.front());
            QCOMPARE(ref.back(), s.back());
        }
        for (size_t j : {(i + 1) % all.size(), size_t(rng.below(all.size())), i}) {
            const ShapeRef other(all[j]);
            const Shape& t = all[j];
            QCOMPARE(ref == other, s == t);
            QCOMPARE(ref == t, s == t);
            QCOMPARE(ref < other, s < t);
            QCOMPARE(other < ref, t < s);
            QCOMPARE(ref < t, s < t);
            QCOMPARE(s < other, s < t);
        }
    }
    // Sorting by ShapeRef orders exactly as sorting by Shape.
    std::vector<size_t> byShape(all.size()), byRef(all.size());
    for (size_t i = 0; i < all.size(); ++i)
        byShape[i] = byRef[i] = i;
    std::stable_sort(byShape.begin(), byShape.end(),
                     [&](size_t a, size_t b) { return all[a] < all[b]; });
    std::vector<ShapeRef> refs(all.begin(), all.end());
    std::stable_sort(byRef.begin(), byRef.end(),
                     [&](size_t a, size_t b) { return refs[a] < refs[b]; });
    QVERIFY(byShape == byRef);

    // The empty tuple, and tuples made from initializer lists.
    QCOMPARE(ShapeRef().id(), 0u);
    QVERIFY(ShapeRef().empty());
    QCOMPARE(ShapeRef().size(), size_t(0));
    QVERIFY(ShapeRef().begin() == ShapeRef().end());
    QVERIFY(ShapeRef() == Shape{});
    QVERIFY(ShapeRef() == ShapeRef(Shape{}));
    QCOMPARE(ShapePool::intern(Shape{}), 0u);
    QVERIFY(ShapePool::at(0).empty());
    QVERIFY(ShapeRef() < Shape{0});
    QVERIFY(!(ShapeRef() < Shape{}));
    QVERIFY((ShapeRef{0, max, 7}) == (Shape{0, max, 7}));
    QCOMPARE((ShapeRef{0, max, 7}).id(), ShapeRef(Shape{0, max, 7}).id());

    // Interning known tuples again, from a thread with a cold cache too, adds nothing.
    const size_t after = ShapePool::size();
    std::thread again([&] {
        for (const Shape& s : all)
            (void)ShapeRef(s);
    });
    again.join();
    for (const Shape& s : all)
        (void)ShapePool::intern(s);
    QCOMPARE(ShapePool::size(), after);
}

// stored and replica share a word: writing one must leave the other and every field alone.
void TestChunkStore::chunkFieldsAreIndependent() {
    Chunk c;
    QCOMPARE(c.file, 0u);
    QVERIFY(c.offsets.empty() && c.offsets.id() == 0);
    QVERIFY(c.shape.empty() && c.shape.id() == 0);
    QCOMPARE(uint32_t(c.stored), 0u);
    QCOMPARE(uint32_t(c.replica), 0u);
    QCOMPARE(c.bytes(), uint64_t(0));

    const uint32_t maxStored = (1u << 31) - 1;
    c.file = ~0u;
    c.offsets = Shape{1, 2, 3, 4, 5};
    c.shape = Shape{~uint64_t(0)};
    c.stored = maxStored;
    c.replica = 1;
    c.begin = 7;
    c.end = ~uint64_t(0);
    QCOMPARE(uint32_t(c.stored), maxStored);
    QCOMPARE(uint32_t(c.replica), 1u);
    c.replica = 0;
    QCOMPARE(uint32_t(c.stored), maxStored);
    c.stored = 0;
    c.replica = 1;
    QCOMPARE(uint32_t(c.stored), 0u);
    QCOMPARE(uint32_t(c.replica), 1u);
    c.stored = 12345;
    QCOMPARE(uint32_t(c.replica), 1u);
    QCOMPARE(c.file, ~0u);
    QVERIFY(c.offsets == (Shape{1, 2, 3, 4, 5}));
    QVERIFY(c.shape == (Shape{~uint64_t(0)}));
    QCOMPARE(c.begin, uint64_t(7));
    QCOMPARE(c.bytes(), ~uint64_t(0) - 7);
    const Chunk copy = c; // a trivially copied chunk keeps its ids
    QCOMPARE(copy.offsets.id(), c.offsets.id());
    QCOMPARE(uint32_t(copy.stored), 12345u);
    QCOMPARE(uint32_t(copy.replica), 1u);
}

void TestChunkStore::scanMatchesWrittenLayout_data() {
    QTest::addColumn<int>("seed");
    for (int seed = 1; seed <= 20; ++seed)
        QTest::newRow(qPrintable(QString("seed %1").arg(seed))) << seed;
}

// Random tensors, splits, rank counts and header orders: the scan gives back exactly what was
// written, chunk for chunk, on one thread or several.
void TestChunkStore::scanMatchesWrittenLayout() {
    QFETCH(int, seed);
    const WrittenLayout w = writeRandomCheckpoint(dir(), uint64_t(seed) * 7919);
    const Checkpoint one = scanCheckpoint(dir(), withThreads(1));
    compareWithLayout(one, w, dir());
    if (QTest::currentTestFailed()) return;
    for (int threads : {2, 3}) {
        const Checkpoint many = scanCheckpoint(dir(), withThreads(threads));
        compareWithLayout(many, w, dir());
        if (QTest::currentTestFailed()) return;
        compareScans(one, many);
        if (QTest::currentTestFailed()) return;
    }
}

// A dtype, rank or saved_offsets problem and a broken file among many: the same problems, in
// file order, word for word, on any number of threads.
void TestChunkStore::mergeProblemsDoNotDependOnThreads() {
    fs::create_directories(dir());
    Rng rng(99);
    const size_t ranks = 16;
    for (size_t r = 0; r < ranks; ++r) {
        std::vector<TestChunk> chunks;
        for (int k = 0; k < 6; ++k) // rows of [16, 3], one per rank: complete
            chunks.push_back({"good." + std::to_string(k),
                              "F32",
                              {r, 0},
                              {1, 3},
                              pattern("good" + std::to_string(k * 100 + int(r)), 12)});
        if (r % 4 == 0) // slow early files, so later ones wait for their turn
            for (int k = 0; k < 1500; ++k)
                chunks.push_back(
                    {"pad." + std::to_string(r) + "." + std::to_string(k), "U8", {0}, {1}, "p"});
        if (r >= 3) {
            const bool odd = r == 11;
            chunks.push_back(
                {"bad.dtype", odd ? "BF16" : "F32", {r * 2}, {2}, std::string(odd ? 4 : 8, 'd')});
        }
        if (r >= 2) {
            if (r == 13)
                chunks.push_back({"bad.rank", "U8", {r * 4}, {4}, "rank"});
            else
                chunks.push_back({"bad.rank", "U8", {r, 0}, {1, 4}, "rank"});
        }
        chunks.push_back({"bad.missing", "I64", {r}, {1}, std::string(8, 'm')});
        chunks.push_back({"bad.offsets", "U8", {r, 0}, {1, 4}, "offs"});
        rng.shuffle(chunks);
        ShardOptions options;
        if (r == 5) options.shardingInfoOverride = shardingInfo(chunks, "", "bad.offsets");
        if (r == 7) options.shardingInfoOverride = shardingInfo(chunks, "bad.missing", "");
        writeShard(dir() / rankFile(r), chunks, options);
    }
    // Sorts between shard-00008 and shard-00009-model.
    const std::string broken = "shard-00009-broken.safetensors";
    writeRaw(dir() / broken, "{\"good.0\":", "");

    struct Expected {
        std::string file, tensor, message;
        ErrorKind kind;
    };
    const std::vector<Expected> expected = {
        {rankFile(5), "bad.offsets",
         "saved_offsets [5] has 1 entries but the chunk [1, 4] has rank 2",
         ErrorKind::ChunkConflict},
        {rankFile(7), "bad.missing", "no saved_offsets in DCP_SHARDING_INFO for this tensor",
         ErrorKind::ChunkConflict},
        {broken, "", "header not valid JSON", ErrorKind::JsonSyntax}, // message: a prefix
        {rankFile(11), "bad.dtype", "dtype BF16 here but F32 in " + rankFile(3),
         ErrorKind::ChunkConflict},
        {rankFile(13), "bad.rank", "rank 1 here but 2 in " + rankFile(2), ErrorKind::ChunkConflict},
    };

    std::optional<Checkpoint> first;
    for (int threads : {1, 2, 3, 2, 2, 2, 2}) {
        const Checkpoint c = scanCheckpoint(dir(), withThreads(threads));
        QCOMPARE(c.files.size(), ranks + 1);
        QCOMPARE(c.files[8].name, broken);
        QVERIFY(!c.files[8].valid);
        QCOMPARE(c.files[8].tensorCount, size_t(0));
        for (size_t f = 0; f < c.files.size(); ++f)
            QCOMPARE(c.files[f].valid, f != 8);
        QCOMPARE(c.problems.size(), expected.size());
        for (size_t i = 0; i < expected.size(); ++i) {
            const Problem& p = c.problems[i];
            const Expected& e = expected[i];
            QCOMPARE(p.severity, Severity::Error);
            QCOMPARE(p.file, e.file);
            QCOMPARE(p.kind, e.kind);
            if (e.kind == ErrorKind::JsonSyntax) {
                QVERIFY2(p.message.rfind(e.message, 0) == 0, p.message.c_str());
                continue;
            }
            QCOMPARE(p.tensor, e.tensor);
            QCOMPARE(p.message, e.message);
            QCOMPARE(p.text(), e.file + ": tensor '" + e.tensor + "': " + e.message);
            const TensorInfo* t = c.find(e.tensor);
            QVERIFY(t);
            QCOMPARE(t->status, CoverageStatus::Invalid);
            QCOMPARE(t->coverageDetail, e.message);
        }
        for (const TensorInfo& t : c.tensors)
            if (t.fqn.rfind("bad.", 0) != 0) {
                QVERIFY2(t.status == CoverageStatus::Complete, t.fqn.c_str());
                QCOMPARE(t.chunks.size(), size_t(t.fqn.rfind("good.", 0) == 0 ? ranks : 1));
            }
        QCOMPARE(c.tensors.size(), size_t(6 + 4 * 1500 + 4));
        if (!first)
            first = c;
        else
            compareScans(*first, c);
        if (QTest::currentTestFailed()) return;
    }
}

// A file whose header fails is listed with its own size (or 0, unknown), never the size or data
// start of another file the same worker read before it, and so the same on any thread count.
void TestChunkStore::brokenFilesKeepTheirOwnSizes() {
    fs::create_directories(dir());
    for (size_t r = 0; r < 12; ++r) { // files of different sizes around the broken ones
        std::vector<TestChunk> chunks;
        for (size_t k = 0; k <= r * 20; ++k)
            chunks.push_back(
                {"t" + std::to_string(k), "U8", {0}, {r + 1}, std::string(r + 1, 'x')});
        writeShard(dir() / ("f" + std::to_string(10 + r) + ".safetensors"), chunks);
    }
    // Sorted among them: bad JSON (header 10 bytes), and a length past the end of the file.
    writeRaw(dir() / "f15-json.safetensors", "{\"good.0\":", "");
    writeRaw(dir() / "f18-length.safetensors", "{}", "", 4096);
    std::optional<Checkpoint> first;
    for (int threads : {1, 2, 3}) {
        const Checkpoint c = scanCheckpoint(dir(), withThreads(threads));
        QCOMPARE(c.files.size(), size_t(14));
        size_t broken = 0;
        for (size_t f = 0; f < c.files.size(); ++f) {
            const ShardFile& file = c.files[f];
            const uint64_t real = fs::file_size(file.path);
            if (file.valid) {
                QCOMPARE(file.size, real);
                continue;
            }
            ++broken;
            const QByteArray where = QString("threads=%1 %2: size %3 (the file has %4 bytes), "
                                             "dataStart %5")
                                         .arg(threads)
                                         .arg(QString::fromStdString(file.name))
                                         .arg(file.size)
                                         .arg(real)
                                         .arg(file.dataStart)
                                         .toUtf8();
            QVERIFY2(file.size == 0 || file.size == real, where.constData());
            QVERIFY2(file.dataStart == 0 || file.dataStart == 8 ||
                         file.dataStart == headerEnd(file.path),
                     where.constData());
            QCOMPARE(file.tensorCount, size_t(0));
            if (first) {
                QCOMPARE(file.size, first->files[f].size);
                QCOMPARE(file.dataStart, first->files[f].dataStart);
            }
        }
        QCOMPARE(broken, size_t(2));
        if (!first) first = c;
    }
}

void TestChunkStore::splitsProveCoverage_data() {
    QTest::addColumn<QList<quint64>>("shape");
    QTest::addColumn<int>("dim");
    QTest::addColumn<int>("ways");
    QTest::newRow("columns 256-way [64, 4096]") << QList<quint64>{64, 4096} << 1 << 256;
    QTest::newRow("columns 4096-way [64, 4096]") << QList<quint64>{64, 4096} << 1 << 4096;
    QTest::newRow("columns 256-way [64, 8192]") << QList<quint64>{64, 8192} << 1 << 256;
    QTest::newRow("columns 4096-way [64, 8192]") << QList<quint64>{64, 8192} << 1 << 4096;
    QTest::newRow("rows 256-way [4096, 64]") << QList<quint64>{4096, 64} << 0 << 256;
    QTest::newRow("rows 4096-way [8192, 64]") << QList<quint64>{8192, 64} << 0 << 4096;
    QTest::newRow("3-D last dim 1024-way [4, 8, 4096]") << QList<quint64>{4, 8, 4096} << 2 << 1024;
    QTest::newRow("3-D last dim 4096-way [2, 3, 8192]") << QList<quint64>{2, 3, 8192} << 2 << 4096;
}

// An even split along one dimension (all chunks start at 0 along the others): complete, and a
// missing, shifted or doubled chunk named by the region it leaves or covers twice.
void TestChunkStore::splitsProveCoverage() {
    QFETCH(QList<quint64>, shape);
    QFETCH(int, dim);
    QFETCH(int, ways);
    const Dims full(shape.begin(), shape.end());
    const size_t d = size_t(dim);
    const uint64_t width = full[d] / uint64_t(ways), total = numel(full);
    const std::vector<ShardFile> files = memoryFiles(size_t(ways));
    auto span = [&](uint64_t lo, uint64_t hi) { // [lo, hi) along d, whole along the rest
        Dims a(full.size(), 0), b = full;
        a[d] = lo, b[d] = hi;
        return region(a, b);
    };
    auto at = [&](uint64_t start) {
        Dims a(full.size(), 0);
        a[d] = start;
        return text(a);
    };
    auto file = [&](uint64_t k) { return files[k].name; };

    {
        TensorInfo t = evenSplit(full, d, uint64_t(ways));
        ByteChecks bytes;
        checkCoverage(t, files, bytes.fn());
        QCOMPARE(t.status, CoverageStatus::Complete);
        QCOMPARE(t.coverageDetail, std::string());
        QCOMPARE(replicaCount(t), size_t(0));
        QVERIFY(bytes.calls.empty());
    }
    for (uint64_t missing : {uint64_t(0), uint64_t(ways) / 3, uint64_t(ways) - 1}) {
        TensorInfo t = evenSplit(full, d, uint64_t(ways));
        t.chunks.erase(t.chunks.begin() + ptrdiff_t(missing));
        ByteChecks bytes;
        checkCoverage(t, files, bytes.fn());
        QCOMPARE(t.status, CoverageStatus::Gap);
        QCOMPARE(t.coverageDetail, "gap: " + std::to_string(total / uint64_t(ways)) + " of " +
                                       std::to_string(total) +
                                       " elements are in no chunk, first at " +
                                       span(missing * width, (missing + 1) * width));
    }
    const uint64_t m = uint64_t(ways) / 2;
    if (width >= 2) {
        // Chunk m moved back half a width: it and chunk m-1 both cover that half.
        TensorInfo back = evenSplit(full, d, uint64_t(ways));
        Dims off(full.size(), 0), sh = full;
        off[d] = m * width - width / 2, sh[d] = width;
        back.chunks[m] = memoryChunk(uint32_t(m), off, sh);
        ByteChecks bytes;
        checkCoverage(back, files, bytes.fn());
        QCOMPARE(back.status, CoverageStatus::Overlap);
        QCOMPARE(back.coverageDetail, "overlap: chunks in " + file(m - 1) + " (at " +
                                          at((m - 1) * width) + ") and " + file(m) + " (at " +
                                          at(m * width - width / 2) + ") both cover " +
                                          span(m * width - width / 2, m * width));
        // Chunk m moved on half a width: it and chunk m+1.
        TensorInfo on = evenSplit(full, d, uint64_t(ways));
        off[d] = m * width + width / 2;
        on.chunks[m] = memoryChunk(uint32_t(m), off, sh);
        checkCoverage(on, files, bytes.fn());
        QCOMPARE(on.status, CoverageStatus::Overlap);
        QCOMPARE(on.coverageDetail, "overlap: chunks in " + file(m) + " (at " +
                                        at(m * width + width / 2) + ") and " + file(m + 1) +
                                        " (at " + at((m + 1) * width) + ") both cover " +
                                        span((m + 1) * width, m * width + width / 2 + width));
    }
    // Chunk m moved onto chunk m-1 exactly: a replica of it (compared, the later one marked),
    // and a gap where m was.
    for (bool equal : {true, false}) {
        TensorInfo t = evenSplit(full, d, uint64_t(ways));
        t.chunks[m] = memoryChunk(uint32_t(m), dimsOf(t.chunks[m - 1].offsets),
                                  dimsOf(t.chunks[m - 1].shape));
        ByteChecks bytes;
        bytes.equal = equal;
        checkCoverage(t, files, bytes.fn());
        QCOMPARE(replicaCount(t), size_t(1));
        QVERIFY(t.chunks[m].replica);
        QCOMPARE(bytes.calls.size(), size_t(1));
        QCOMPARE(bytes.calls[0].first, &t.chunks[m - 1]);
        QCOMPARE(bytes.calls[0].second, &t.chunks[m]);
        if (equal) {
            QCOMPARE(t.status, CoverageStatus::Gap);
            QCOMPARE(t.coverageDetail, "gap: " + std::to_string(total / uint64_t(ways)) + " of " +
                                           std::to_string(total) +
                                           " elements are in no chunk, first at " +
                                           span(m * width, (m + 1) * width));
        } else {
            QCOMPARE(t.status, CoverageStatus::Conflict);
            QCOMPARE(t.coverageDetail, "conflict: " + file(m - 1) + " and " + file(m) +
                                           " both hold region " + span((m - 1) * width, m * width) +
                                           " with different bytes");
        }
    }
}

// A 64 x 64 grid (both dimensions have as many chunk starts): complete, with a replicated
// cell, a missing cell and a cell one column too wide.
void TestChunkStore::gridProvesCoverage() {
    const std::vector<ShardFile> files = memoryFiles(4097);
    auto grid = [] {
        TensorInfo t;
        t.fqn = "g";
        t.shape = {64 * 4, 64 * 8};
        for (uint64_t r = 0; r < 64; ++r)
            for (uint64_t c = 0; c < 64; ++c)
                t.chunks.push_back(memoryChunk(uint32_t(r * 64 + c), {r * 4, c * 8}, {4, 8}));
        return t;
    };
    {
        TensorInfo t = grid();
        ByteChecks bytes;
        checkCoverage(t, files, bytes.fn());
        QCOMPARE(t.status, CoverageStatus::Complete);
        QCOMPARE(replicaCount(t), size_t(0));
    }
    // Cell 77 is [4:8, 104:112]; a copy in file 4096, after it or before it in file order.
    for (bool copyFirst : {false, true}) {
        TensorInfo t = grid();
        Chunk copy = t.chunks[77];
        copy.file = 4096;
        const size_t primary = copyFirst ? 0 : 77, replica = copyFirst ? 78 : t.chunks.size();
        t.chunks.insert(copyFirst ? t.chunks.begin() : t.chunks.end(), copy);
        ByteChecks bytes;
        checkCoverage(t, files, bytes.fn());
        QCOMPARE(t.status, CoverageStatus::Complete);
        QCOMPARE(replicaCount(t), size_t(1));
        QVERIFY(t.chunks[replica].replica);
        QCOMPARE(bytes.calls.size(), size_t(1));
        QCOMPARE(bytes.calls[0].first, &t.chunks[primary]);
        QCOMPARE(bytes.calls[0].second, &t.chunks[replica]);
        // The same replica with other bytes is a conflict naming both files in file order.
        ByteChecks differ;
        differ.equal = false;
        checkCoverage(t, files, differ.fn());
        QCOMPARE(t.status, CoverageStatus::Conflict);
        QCOMPARE(t.coverageDetail, "conflict: " + files[t.chunks[primary].file].name + " and " +
                                       files[t.chunks[replica].file].name +
                                       " both hold region [4:8, 104:112] with different bytes");
    }
    {
        TensorInfo t = grid();
        t.chunks.erase(t.chunks.begin() + 31 * 64 + 16); // [124:128, 128:136]
        checkCoverage(t, files, ByteChecks().fn());
        QCOMPARE(t.status, CoverageStatus::Gap);
        QCOMPARE(
            t.coverageDetail,
            std::string("gap: 32 of 131072 elements are in no chunk, first at [124:128, 128:136]"));
    }
    {
        // Cell (5, 10) one column wider reaches into cell (5, 11) at [20, 88]. Both start on
        // the same row, so which one the message names first is the sort's business.
        TensorInfo t = grid();
        t.chunks[5 * 64 + 10] = memoryChunk(5 * 64 + 10, {20, 80}, {4, 9});
        checkCoverage(t, files, ByteChecks().fn());
        QCOMPARE(t.status, CoverageStatus::Overlap);
        const std::string& detail = t.coverageDetail;
        const std::string a = files[5 * 64 + 10].name + " (at [20, 80])";
        const std::string b = files[5 * 64 + 11].name + " (at [20, 88])";
        QVERIFY2(detail == "overlap: chunks in " + a + " and " + b + " both cover [20:24, 88:89]" ||
                     detail ==
                         "overlap: chunks in " + b + " and " + a + " both cover [20:24, 88:89]",
                 detail.c_str());
    }
}

// Random small tilings, damaged at random, against counting every element: the status, the
// replicas, the gap's size and region and the overlap's region all agree.
void TestChunkStore::coverageAgreesWithElementCounts() {
    Rng rng(4242);
    const std::vector<ShardFile> files = memoryFiles(64);
    int seen[5] = {};
    for (int round = 0; round < 600; ++round) {
        const size_t rank = rng.between(1, 3);
        Dims shape(rank);
        for (auto& v : shape)
            v = rng.between(1, rank == 1 ? 40 : 7);
        std::vector<std::pair<Dims, Dims>> boxes;
        tile(rng, Dims(rank, 0), shape, boxes);
        for (int damage = int(rng.below(3)); damage > 0; --damage) {
            const size_t k = rng.below(boxes.size());
            auto& [off, sh] = boxes[k];
            const size_t d = rng.below(rank);
            switch (rng.below(6)) {
            case 0: // lost
                if (boxes.size() > 1) boxes.erase(boxes.begin() + ptrdiff_t(k));
                break;
            case 1: // replicated
                boxes.push_back(boxes[k]);
                break;
            case 2: // moved one step, staying inside
                if (off[d] > 0 && rng.chance(50))
                    --off[d];
                else if (off[d] + sh[d] < shape[d])
                    ++off[d];
                break;
            case 3: // one wider, staying inside
                if (off[d] + sh[d] < shape[d]) ++sh[d];
                break;
            case 4: // one narrower
                if (sh[d] > 1) --sh[d];
                break;
            default: { // a stray box anywhere
                Dims o(rank), s(rank);
                for (size_t i = 0; i < rank; ++i) {
                    o[i] = rng.below(shape[i]);
                    s[i] = rng.between(1, shape[i] - o[i]);
                }
                boxes.push_back({o, s});
            }
            }
        }
        rng.shuffle(boxes);

        TensorInfo t;
        t.fqn = "t";
        t.shape = shapeOf(shape);
        for (size_t i = 0; i < boxes.size(); ++i)
            t.chunks.push_back(
                memoryChunk(uint32_t(i % files.size()), boxes[i].first, boxes[i].second));
        ByteChecks bytes;
        checkCoverage(t, files, bytes.fn());

        // The straightforward answer: replicas are regions seen earlier in the list.
        std::vector<bool> replica(boxes.size(), false);
        for (size_t i = 0; i < boxes.size(); ++i)
            for (size_t j = 0; j < i; ++j)
                replica[i] = replica[i] || boxes[i] == boxes[j];
        std::vector<int> count(numel(shape), 0);
        for (size_t i = 0; i < boxes.size(); ++i) {
            if (replica[i]) continue;
            Dims hi = boxes[i].first;
            for (size_t x = 0; x < rank; ++x)
                hi[x] += boxes[i].second[x];
            forEachIn(shape, boxes[i].first, hi, [&](const Dims&, uint64_t e) { ++count[e]; });
        }
        const uint64_t zeros = uint64_t(std::count(count.begin(), count.end(), 0));
        const bool twice = std::any_of(count.begin(), count.end(), [](int c) { return c > 1; });
        const CoverageStatus want = twice   ? CoverageStatus::Overlap
                                    : zeros ? CoverageStatus::Gap
                                            : CoverageStatus::Complete;
        const QByteArray where =
            QString("round %1: %2 %3")
                .arg(round)
                .arg(QString::fromStdString(text(shape)), QString::fromStdString(t.coverageDetail))
                .toUtf8();
        QVERIFY2(t.status == want, where.constData());
        ++seen[int(want)];
        for (size_t i = 0; i < boxes.size(); ++i)
            QVERIFY2(bool(t.chunks[i].replica) == replica[i], where.constData());
        QCOMPARE(bytes.calls.size(), size_t(std::count(replica.begin(), replica.end(), true)));
        for (const auto& [a, b] : bytes.calls) { // an earlier chunk of the same region, then it
            QVERIFY(a < b && b->replica);
            QVERIFY(a->offsets == b->offsets && a->shape == b->shape);
        }
        if (want == CoverageStatus::Gap) {
            const std::string head = "gap: " + std::to_string(zeros) + " of " +
                                     std::to_string(numel(shape)) + " elements are in no chunk";
            QVERIFY2(t.coverageDetail.rfind(head, 0) == 0, where.constData());
            // Every element of the named region is uncovered, and it holds the first one.
            const auto r = parseRegion(t.coverageDetail, ", first at [");
            QVERIFY2(r && r->first.size() == rank, where.constData());
            uint64_t cells = 0;
            bool allUncovered = true;
            forEachIn(shape, r->first, r->second, [&](const Dims&, uint64_t e) {
                ++cells;
                allUncovered = allUncovered && count[e] == 0;
            });
            QVERIFY2(cells > 0 && allUncovered, where.constData());
            const uint64_t firstZero =
                uint64_t(std::find(count.begin(), count.end(), 0) - count.begin());
            bool holdsFirst = false;
            forEachIn(shape, r->first, r->second,
                      [&](const Dims&, uint64_t e) { holdsFirst = holdsFirst || e == firstZero; });
            QVERIFY2(holdsFirst, where.constData());
        }
        if (want == CoverageStatus::Overlap) {
            const auto r = parseRegion(t.coverageDetail, "both cover [");
            QVERIFY2(r && r->first.size() == rank, where.constData());
            uint64_t cells = 0;
            bool allTwice = true;
            forEachIn(shape, r->first, r->second, [&](const Dims&, uint64_t e) {
                ++cells;
                allTwice = allTwice && count[e] >= 2;
            });
            QVERIFY2(cells > 0 && allTwice, where.constData());
        }
        if (want == CoverageStatus::Complete) QCOMPARE(t.coverageDetail, std::string());
        if (QTest::currentTestFailed()) return;
    }
    // The rounds reached every outcome often.
    QVERIFY(seen[int(CoverageStatus::Complete)] > 50);
    QVERIFY(seen[int(CoverageStatus::Gap)] > 50);
    QVERIFY(seen[int(CoverageStatus::Overlap)] > 50);
}

// A stop requested from the progress callback while headers are read and merged: every thread
// leaves (those waiting for their turn too) and the scan throws Cancelled.
void TestChunkStore::cancelWhileReadingHeadersLetsWaitersGo() {
    // 4,200 tensors per file, so a merge also checks for a stop partway through a file.
    fs::create_directories(dir());
    const size_t ranks = 24, tensors = 4200;
    for (size_t r = 0; r < ranks; ++r) {
        std::vector<TestChunk> chunks;
        for (size_t k = 0; k < tensors; ++k)
            chunks.push_back({"t" + std::to_string(k), "U8", {r}, {1}, std::string(1, char(k))});
        writeShard(dir() / rankFile(r), chunks);
    }
    for (int threads : {2, 3}) {
        for (int run = 0; run < (threads == 2 ? 20 : 10); ++run) {
            auto state = std::make_shared<CancelState>();
            state->target = 1 + uint64_t(run % 3);
            ScanOptions options;
            options.threads = threads;
            options.stop = state->stop.get_token();
            options.progress = [state](const ScanProgress& p) {
                if (p.phase != ScanPhase::ReadingHeaders) {
                    state->laterPhase = true;
                    return;
                }
                if (state->stop.stop_requested()) return;
                if (p.done < state->target) {
                    // Reports are throttled to one per 50 ms: after this pause the next
                    // merged file reports at once, so the stop lands after `target` files.
                    std::this_thread::sleep_for(std::chrono::milliseconds(55));
                    return;
                }
                if (p.done < p.total) {
                    state->stopAt = p.done;
                    state->total = p.total;
                    state->stop.request_stop();
                }
            };
            const auto outcome = scanWithin(dir(), options, 15);
            QVERIFY2(outcome, qPrintable(QString("threads=%1 run %2: the scan did not return "
                                                 "after the stop")
                                             .arg(threads)
                                             .arg(run)));
            QCOMPARE(*outcome, QString("cancelled"));
            QCOMPARE(state->total, uint64_t(ranks));
            QCOMPARE(state->stopAt, state->target);
            QVERIFY(!state->laterPhase);
        }
    }
    // Nothing of a cancelled scan lingers: the next one reads everything.
    const Checkpoint c = scanCheckpoint(dir(), withThreads(2));
    QVERIFY(c.problems.empty());
    QCOMPARE(c.tensors.size(), tensors);
    for (const TensorInfo& t : c.tensors) {
        QCOMPARE(t.status, CoverageStatus::Complete);
        QCOMPARE(t.chunks.size(), ranks);
    }
}

QTEST_GUILESS_MAIN(TestChunkStore)
#include "tst_chunk_store.moc"
