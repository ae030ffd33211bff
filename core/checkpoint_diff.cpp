// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "checkpoint_diff.h"

#include "parallel.h"
#include "tensor_reader.h"
#include "value_stats.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>

namespace shardscope {
namespace {

constexpr size_t kBlock = 1024;
constexpr std::chrono::milliseconds kProgressInterval{100};

// Sums over one window, added up per tensor. The sums of squares in extended range: F64
// values beyond 1e154 or below 1e-154 have squares outside double's.
struct Partial {
    uint64_t differing = 0, beyond = 0, nanMismatch = 0, infMismatch = 0;
    double maxAbsDiff = 0;
    long double diffSquares = 0, aSquares = 0, bSquares = 0, dot = 0;

    void add(const Partial& o) {
        differing += o.differing;
        beyond += o.beyond;
        nanMismatch += o.nanMismatch;
        infMismatch += o.infMismatch;
        maxAbsDiff = std::max(maxAbsDiff, o.maxAbsDiff);
        diffSquares += o.diffSquares;
        aSquares += o.aSquares;
        bSquares += o.bSquares;
        dot += o.dot;
    }
};

// Element by element, for a window whose bytes differ.
class ElementCompare {
public:
    ElementCompare(DType type, const DiffOptions& options)
        : m_type(type), m_size(dtypeBits(type) / 8), m_options(options) {}

    void run(const char* a, const char* b, uint64_t n, Partial& out) const {
        // Only F64 squares can leave double's range; the others keep the faster double sums.
        if (m_type == DType::F64)
            runWith<long double>(a, b, n, out);
        else
            runWith<double>(a, b, n, out);
    }

private:
    template <class Sum> struct Sums { Sum diff = 0, a = 0, b = 0, dot = 0; };

    template <class Sum>
    void runWith(const char* a, const char* b, uint64_t n, Partial& out) const {
        double va[kBlock], vb[kBlock];
        // Summed per block, then the blocks: one running sum over a window's million squares
        // drifted by 3e-12 relative.
        Sums<Sum> sums;
        for (uint64_t i = 0; i < n; i += kBlock) {
            const uint64_t k = std::min<uint64_t>(kBlock, n - i);
            decodeRun(m_type, a + i * m_size, k, va);
            decodeRun(m_type, b + i * m_size, k, vb);
            Sums<Sum> block;
            for (uint64_t j = 0; j < k; ++j) {
                const uint64_t at = (i + j) * m_size;
                if (std::memcmp(a + at, b + at, m_size) != 0) ++out.differing;
                element(va[j], vb[j], distance(a + at, b + at, va[j], vb[j]), out, block);
            }
            sums.diff += block.diff;
            sums.a += block.a;
            sums.b += block.b;
            sums.dot += block.dot;
        }
        out.diffSquares += sums.diff;
        out.aSquares += sums.a;
        out.bSquares += sums.b;
        out.dot += sums.dot;
    }

    // |a - b|. 64-bit integers above 2^53 share doubles, so theirs is taken from the integers:
    // a difference of 1 at 2^62 must not read as none.
    double distance(const char* a, const char* b, double x, double y) const {
        if (m_type == DType::I64) {
            int64_t p, q;
            std::memcpy(&p, a, 8);
            std::memcpy(&q, b, 8);
            // Unsigned wrap-around gives the exact magnitude, which always fits 64 bits.
            return double(p >= q ? uint64_t(p) - uint64_t(q) : uint64_t(q) - uint64_t(p));
        }
        if (m_type == DType::U64) {
            uint64_t p, q;
            std::memcpy(&p, a, 8);
            std::memcpy(&q, b, 8);
            return double(p >= q ? p - q : q - p);
        }
        return std::fabs(x - y);
    }

    template <class Sum>
    void element(double x, double y, double d, Partial& out, Sums<Sum>& sums) const {
        const bool nx = std::isnan(x), ny = std::isnan(y);
        if (nx || ny) {
            if (nx != ny) ++out.nanMismatch, ++out.beyond;
            return;
        }
        if (!std::isfinite(x) || !std::isfinite(y)) {
            if (x != y) ++out.infMismatch, ++out.beyond;
            return;
        }
        out.maxAbsDiff = std::max(out.maxAbsDiff, d);
        if (d > m_options.atol + m_options.rtol * std::fabs(y)) ++out.beyond;
        // In extended range the difference too: MAX against −MAX is 2 · MAX there.
        const Sum diff = std::is_same_v<Sum, double> ? Sum(d) : Sum(x) - Sum(y);
        sums.diff += diff * diff;
        sums.a += Sum(x) * x;
        sums.b += Sum(y) * y;
        sums.dot += Sum(x) * y;
    }

    DType m_type;
    unsigned m_size;
    const DiffOptions& m_options;
};

struct Task {
    size_t pair = 0;
    uint64_t from = 0, to = 0; // bytes of the tensor
};

// Bytes of the fewest whole elements: windows of a packed dtype start on an element (F6: four
// elements in 3 bytes).
uint64_t wholeElementBytes(DType type) {
    const unsigned bits = dtypeBits(type);
    return bits % 8 == 0 ? std::max(1u, bits / 8) : std::lcm(bits, 8u) / 8;
}

// For dtypes without numbers to subtract (complex, packed sub-byte): the elements among
// [first, first + count) of the tensor, starting at bit 0 of `a` and `b`, whose bits differ.
// Packed elements are taken from bit 0 of each byte upward; padding after the last is not one.
uint64_t differingElements(const unsigned char* a, const unsigned char* b, uint64_t count,
                           unsigned bits) {
    uint64_t differing = 0;
    if (bits % 8 == 0) {
        const size_t size = bits / 8;
        for (uint64_t i = 0; i < count; ++i)
            differing += std::memcmp(a + i * size, b + i * size, size) != 0;
        return differing;
    }
    const unsigned mask = (1u << bits) - 1;
    for (uint64_t i = 0; i < count; ++i) {
        const uint64_t byte = i * bits / 8;
        const unsigned shift = unsigned(i * bits % 8);
        unsigned x = a[byte], y = b[byte];
        if (shift + bits > 8) { // into the next byte, which the element's own bits make exist
            x |= unsigned(a[byte + 1]) << 8;
            y |= unsigned(b[byte + 1]) << 8;
        }
        differing += (((x ^ y) >> shift) & mask) != 0;
    }
    return differing;
}

std::vector<TensorDiff> pairByName(const Checkpoint& a, const Checkpoint& b) {
    std::map<std::string, TensorDiff> byName;
    for (size_t i = 0; i < a.tensors.size(); ++i) {
        TensorDiff& d = byName[a.tensors[i].exportName()];
        d.name = a.tensors[i].exportName();
        d.a = int64_t(i);
    }
    for (size_t i = 0; i < b.tensors.size(); ++i) {
        TensorDiff& d = byName[b.tensors[i].exportName()];
        d.name = b.tensors[i].exportName();
        d.b = int64_t(i);
    }
    std::vector<TensorDiff> out;
    out.reserve(byName.size());
    for (auto& [name, d] : byName)
        out.push_back(std::move(d));
    return out;
}

class DiffRun {
public:
    DiffRun(const Checkpoint& a, const Checkpoint& b, const DiffOptions& options)
        : m_a(a), m_b(b), m_options(options), m_weightsOnly{weightsOnly(a), weightsOnly(b)} {}

    DiffReport run() {
        const auto start = std::chrono::steady_clock::now();
        DiffReport report;
        report.tensors = pairByName(m_a, m_b);
        for (auto& d : report.tensors)
            classify(d);
        if (!m_options.namesOnly) compareValues(report);
        if (m_options.namesOnly)
            for (auto& d : report.tensors)
                if (d.status == DiffStatus::Identical) d.status = DiffStatus::SameLayout;
        report.bytesRead = m_done;
        report.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return report;
    }

private:
    static bool weightsOnly(const Checkpoint& c) {
        return std::all_of(c.tensors.begin(), c.tensors.end(),
                           [](const TensorInfo& t) { return t.kind == TensorKind::Model; });
    }

    void classify(TensorDiff& d) const {
        if (d.a < 0 || d.b < 0) {
            // A training checkpoint against its export: the optimizer's tensors are not missing
            // from the export, they were never meant to be in it.
            const bool inA = d.b < 0;
            const TensorInfo& t = inA ? m_a.tensors[size_t(d.a)] : m_b.tensors[size_t(d.b)];
            if (t.kind != TensorKind::Model && m_weightsOnly[inA ? 1 : 0])
                d.status = DiffStatus::NotExported;
            else
                d.status = inA ? DiffStatus::OnlyInA : DiffStatus::OnlyInB;
            return;
        }
        const TensorInfo& ta = m_a.tensors[size_t(d.a)];
        const TensorInfo& tb = m_b.tensors[size_t(d.b)];
        if (ta.dtype != tb.dtype)
            d.status = DiffStatus::DtypeChanged;
        else if (ta.shape != tb.shape)
            d.status = DiffStatus::ShapeChanged;
        else if (ta.status != CoverageStatus::Complete || tb.status != CoverageStatus::Complete)
            d.status = DiffStatus::NotCompared;
        else
            d.elements = checkedNumel(ta.shape).value_or(0);
    }

    void compareValues(DiffReport& report) {
        std::vector<Task> tasks;
        uint64_t total = 0;
        for (size_t i = 0; i < report.tensors.size(); ++i) {
            const TensorDiff& d = report.tensors[i];
            if (d.status != DiffStatus::Identical) continue; // not yet known otherwise
            const TensorInfo& t = m_a.tensors[size_t(d.a)];
            const uint64_t element = wholeElementBytes(t.dtype);
            const uint64_t step = std::max(element, m_options.windowBytes / element * element);
            for (uint64_t from = 0; from < t.bytes; from += step)
                tasks.push_back({i, from, std::min(t.bytes, from + step)});
            total += 2 * t.bytes;
        }
        m_total = total;
        // A partial per window, added up in window order afterwards: the sums then do not
        // depend on which thread finished first, and a rerun prints the same digits.
        m_partials.assign(tasks.size(), {});
        m_readers[0] = std::make_unique<TensorReader>(m_a);
        m_readers[1] = std::make_unique<TensorReader>(m_b);
        parallelFor(tasks.size(), m_options.threads,
                    [&](size_t i) { runTask(report.tensors[tasks[i].pair], tasks[i], i); });
        std::vector<Partial> sums(report.tensors.size());
        for (size_t i = 0; i < tasks.size(); ++i)
            sums[tasks[i].pair].add(m_partials[i]);
        for (size_t i = 0; i < report.tensors.size(); ++i) {
            TensorDiff& d = report.tensors[i];
            if (d.status != DiffStatus::Identical) continue;
            d.compared = true;
            apply(sums[i], d);
        }
    }

    void runTask(const TensorDiff& d, const Task& task, size_t index) {
        if (m_options.stop.stop_requested()) throw Cancelled();
        const TensorInfo& ta = m_a.tensors[size_t(d.a)];
        const TensorInfo& tb = m_b.tensors[size_t(d.b)];
        thread_local std::vector<char> wa, wb;
        thread_local TensorReader::Scratch scratch;
        const uint64_t length = task.to - task.from;
        if (wa.size() < length) wa.resize(length); // grown only: no zeroing per window
        if (wb.size() < length) wb.resize(length);
        m_readers[0]->read(ta, task.from, task.to, wa.data(), scratch, m_options.stop);
        m_readers[1]->read(tb, task.from, task.to, wb.data(), scratch, m_options.stop);
        Partial p;
        const bool numeric = hasValueStats(ta.dtype);
        const uint64_t n = numeric ? length / (dtypeBits(ta.dtype) / 8) : 0;
        if (std::memcmp(wa.data(), wb.data(), length) == 0) {
            if (numeric) p.aSquares = p.bSquares = p.dot = sumOfSquares(ta.dtype, wa.data(), n);
        } else if (numeric) {
            ElementCompare(ta.dtype, m_options).run(wa.data(), wb.data(), n, p);
        } else { // complex or packed: the bits only, and no tolerance can cover a difference
            const unsigned bits = dtypeBits(ta.dtype);
            const uint64_t first = task.from * 8 / bits;
            const uint64_t count = std::min(length * 8 / bits, d.elements - first);
            p.differing = p.beyond =
                differingElements(reinterpret_cast<const unsigned char*>(wa.data()),
                                  reinterpret_cast<const unsigned char*>(wb.data()), count, bits);
        }
        std::lock_guard lock(m_mutex);
        m_partials[index] = p;
        m_done += 2 * length;
        // A few reports a second: a checkpoint of many small tensors has a window per tensor.
        const auto now = std::chrono::steady_clock::now();
        if (m_options.progress && (m_done == m_total || now - m_reported > kProgressInterval)) {
            m_reported = now;
            m_options.progress(m_done, m_total);
        }
    }

    void apply(const Partial& p, TensorDiff& d) const {
        d.bytesOnly = !hasValueStats(m_a.tensors[size_t(d.a)].dtype);
        d.differing = p.differing;
        d.beyondTolerance = p.beyond;
        d.nanMismatch = p.nanMismatch;
        d.infMismatch = p.infMismatch;
        d.maxAbsDiff = p.maxAbsDiff;
        const long double na = std::sqrt(p.aSquares), nb = std::sqrt(p.bSquares);
        const long double nd = std::sqrt(p.diffSquares);
        d.relativeL2 = na > 0 ? double(nd / na) : (nd > 0 ? INFINITY : 0.0);
        // One rounding under the root: equal sides (+0 against -0) give exactly 1, where
        // dot / (sqrt(aa) * sqrt(bb)) gives 1 - 2^-52.
        const long double norms = std::sqrt(p.aSquares * p.bSquares);
        d.cosine = na > 0 && nb > 0 ? std::clamp(double(p.dot / norms), -1.0, 1.0) : NAN;
        if (d.bytesOnly) d.maxAbsDiff = d.relativeL2 = d.cosine = NAN;
        if (p.differing == 0 && p.beyond == 0)
            d.status = DiffStatus::Identical;
        else if (m_options.tolerance && p.beyond == 0)
            d.status = DiffStatus::WithinTolerance;
        else
            d.status = DiffStatus::Differs;
    }

    const Checkpoint& m_a;
    const Checkpoint& m_b;
    const DiffOptions& m_options;
    const bool m_weightsOnly[2]; // a side without training state (an export, say)
    std::unique_ptr<TensorReader> m_readers[2];
    std::mutex m_mutex;
    std::vector<Partial> m_partials;
    uint64_t m_done = 0, m_total = 0;
    std::chrono::steady_clock::time_point m_reported{};
};

} // namespace

std::string_view diffStatusName(DiffStatus status) {
    switch (status) {
    case DiffStatus::Identical:
        return "identical";
    case DiffStatus::WithinTolerance:
        return "within-tolerance";
    case DiffStatus::Differs:
        return "differs";
    case DiffStatus::OnlyInA:
        return "only-in-a";
    case DiffStatus::OnlyInB:
        return "only-in-b";
    case DiffStatus::DtypeChanged:
        return "dtype-changed";
    case DiffStatus::ShapeChanged:
        return "shape-changed";
    case DiffStatus::NotCompared:
        return "not-compared";
    case DiffStatus::SameLayout:
        return "same-dtype-and-shape";
    case DiffStatus::NotExported:
        return "not-exported";
    }
    return "?";
}

bool DiffReport::same() const {
    return std::all_of(tensors.begin(), tensors.end(), [](const TensorDiff& d) {
        return d.status == DiffStatus::Identical || d.status == DiffStatus::WithinTolerance ||
               d.status == DiffStatus::SameLayout || d.status == DiffStatus::NotExported;
    });
}

DiffReport diffCheckpoints(const Checkpoint& a, const Checkpoint& b, const DiffOptions& options) {
    return DiffRun(a, b, options).run();
}

namespace {

// Both sides of one tensor, a window at a time, as doubles; `visit(x, y)` for every position.
class PairWalk {
public:
    PairWalk(const Checkpoint& a, const TensorInfo& ta, const Checkpoint& b, const TensorInfo& tb)
        : m_readers{TensorReader(a), TensorReader(b)}, m_ta(ta), m_tb(tb) {}

    // `pass` of `passes`: progress counts the bytes of both sides over every pass.
    template <class Visit>
    void run(std::stop_token stop, int pass, int passes, const DiffByteProgress& progress,
             Visit&& visit) {
        const uint64_t element = dtypeBits(m_ta.dtype) / 8;
        const uint64_t step = kWindowElements * element;
        std::vector<char> wa(step), wb(step);
        std::vector<double> va(kWindowElements), vb(kWindowElements);
        for (uint64_t from = 0; from < m_ta.bytes; from += step) {
            if (stop.stop_requested()) throw Cancelled();
            const uint64_t to = std::min(m_ta.bytes, from + step), n = (to - from) / element;
            m_readers[0].read(m_ta, from, to, wa.data(), m_scratch, stop);
            m_readers[1].read(m_tb, from, to, wb.data(), m_scratch, stop);
            decodeRun(m_ta.dtype, wa.data(), n, va.data());
            decodeRun(m_tb.dtype, wb.data(), n, vb.data());
            for (uint64_t i = 0; i < n; ++i)
                visit(va[i], vb[i]);
            if (progress) progress(2 * (uint64_t(pass) * m_ta.bytes + to), 2 * passes * m_ta.bytes);
        }
    }

private:
    static constexpr uint64_t kWindowElements = 1 << 18;
    TensorReader m_readers[2];
    TensorReader::Scratch m_scratch;
    const TensorInfo& m_ta;
    const TensorInfo& m_tb;
};

int binOf(double v, double lo, double hi) {
    if (!(hi > lo)) return 0;
    const double at = std::floor((v - lo) / (hi - lo) * kHistogramBins);
    return int(std::clamp(at, 0.0, double(kHistogramBins - 1)));
}

// The range of finite values (and of nonzero magnitudes) seen on one side, or on both.
struct Extent {
    double lo = INFINITY, hi = -INFINITY, smallAbs = INFINITY, bigAbs = 0;
    void add(double v) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        if (v == 0) return;
        smallAbs = std::min(smallAbs, std::fabs(v));
        bigAbs = std::max(bigAbs, std::fabs(v));
    }
    bool any() const { return lo <= hi; }
    bool anyNonzero() const { return bigAbs > 0; }
};

} // namespace

std::string notComparedReason(const TensorInfo& a, const TensorInfo& b, const std::string& sideA,
                              const std::string& sideB) {
    std::string out;
    for (const auto& [t, side] : {std::pair{&a, &sideA}, std::pair{&b, &sideB}}) {
        if (t->status == CoverageStatus::Complete) continue;
        out += (out.empty() ? "" : "; ") + *side + ", " +
               (t->coverageDetail.empty() ? std::string(coverageStatusName(t->status))
                                          : t->coverageDetail);
    }
    return out;
}

DifferenceHistograms differenceHistograms(const Checkpoint& a, const TensorInfo& ta,
                                          const Checkpoint& b, const TensorInfo& tb,
                                          std::stop_token stop, const DiffByteProgress& progress) {
    if (ta.dtype != tb.dtype || ta.shape != tb.shape || !hasValueStats(ta.dtype))
        throw std::invalid_argument("differenceHistograms: the tensors do not match");
    PairWalk walk(a, ta, b, tb);
    DifferenceHistograms out;
    Extent difference, sides; // |a − b| (nonzero); the values of both sides
    // Positions where a side is NaN or ±Inf, or a − b overflows (±1e308), are left out of the
    // difference; each side's finite values are in its own histograms.
    walk.run(stop, 0, 2, progress, [&](double x, double y) {
        const bool fx = std::isfinite(x), fy = std::isfinite(y);
        if (fx) sides.add(x);
        if (fy) sides.add(y);
        const double d = std::fabs(x - y);
        if (!fx || !fy || !std::isfinite(d)) return;
        ++out.counted;
        if (d == 0) return;
        ++out.nonzero;
        difference.add(d);
    });
    if (out.nonzero) {
        out.linear = {-difference.bigAbs, difference.bigAbs, {}};
        out.log = {std::log10(difference.smallAbs), std::log10(difference.bigAbs), {}};
    }
    for (int side = 0; side < 2; ++side) {
        if (sides.any()) out.sideLinear[side] = {sides.lo, sides.hi, {}};
        if (sides.anyNonzero())
            out.sideLog[side] = {std::log10(sides.smallAbs), std::log10(sides.bigAbs), {}};
    }
    if (!sides.any()) return out;
    auto binSide = [&](int side, double v) {
        ++out.sideLinear[side].counts[size_t(binOf(v, sides.lo, sides.hi))];
        if (v != 0)
            ++out.sideLog[side].counts[size_t(
                binOf(std::log10(std::fabs(v)), out.sideLog[side].lo, out.sideLog[side].hi))];
    };
    walk.run(stop, 1, 2, progress, [&](double x, double y) {
        const bool fx = std::isfinite(x), fy = std::isfinite(y);
        if (fx) binSide(0, x);
        if (fy) binSide(1, y);
        const double d = x - y;
        if (!fx || !fy || !std::isfinite(d)) return;
        ++out.linear.counts[size_t(binOf(d, out.linear.lo, out.linear.hi))];
        if (d != 0)
            ++out.log.counts[size_t(binOf(std::log10(std::fabs(d)), out.log.lo, out.log.hi))];
    });
    return out;
}

} // namespace shardscope
