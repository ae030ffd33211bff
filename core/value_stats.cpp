// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "value_stats.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace shardscope {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr size_t kKeySpace = 65536;
// Below this many keys a run is kept as a list; above, as a dense count per key. A dense table
// costs 512 KiB and a 65536-step walk, which only pays off for runs of this size and more.
constexpr size_t kSparseLimit = 16384;
constexpr size_t kBlock = 1024;
constexpr size_t kExactLimit = 65536;

template <class T> void neumaierAdd(T& sum, T& compensation, T x) {
    const T t = sum + x;
    compensation += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
}

template <class T> T loadLe(const void* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

double f16Value(uint16_t h) {
    const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 31) return m ? kNaN : sign * kInf;
    if (e == 0) return sign * std::ldexp(double(m), -24);
    return sign * std::ldexp(double(m | 0x400), e - 25);
}

double bf16Value(uint16_t b) {
    return double(std::bit_cast<float>(uint32_t(b) << 16));
}

// An OCP/FNUZ minifloat: `mantissaBits` of fraction, exponent bias `bias`.
double minifloat(uint8_t b, int mantissaBits, int bias) {
    const int m = b & ((1 << mantissaBits) - 1);
    const int e = (b & 0x7F) >> mantissaBits;
    const double sign = (b & 0x80) ? -1.0 : 1.0;
    if (e == 0) return sign * std::ldexp(double(m), 1 - bias - mantissaBits);
    return sign * std::ldexp(double(m | (1 << mantissaBits)), e - bias - mantissaBits);
}

double f8Value(DType type, uint8_t b) {
    switch (type) {
    case DType::F8_E4M3:
        if ((b & 0x7F) == 0x7F) return kNaN;
        return minifloat(b, 3, 7);
    case DType::F8_E5M2:
        if ((b & 0x7C) == 0x7C) return (b & 3) ? kNaN : ((b & 0x80) ? -kInf : kInf);
        return minifloat(b, 2, 15);
    case DType::F8_E4M3FNUZ:
        return b == 0x80 ? kNaN : minifloat(b, 3, 8);
    case DType::F8_E5M2FNUZ:
        return b == 0x80 ? kNaN : minifloat(b, 2, 16);
    case DType::F8_E8M0:
        return b == 0xFF ? kNaN : std::ldexp(1.0, int(b) - 127);
    default:
        return kNaN;
    }
}

bool isNarrow(DType type) {
    const unsigned bits = dtypeBits(type);
    return bits == 8 || bits == 16;
}

// Per key of an 8- or 16-bit dtype (wide dtypes use BF16's): its value, its square and
// log10 of its magnitude, and the keys of each special class. Built once per dtype.
struct KeyTables {
    // Keys in order whose values are finite, nonzero, of one sign, all normal or all subnormal,
    // and strictly monotonic from key to key in value and in log10|value|; a zero key is a run of
    // its own. Every finite key is in exactly one. Float and integer dtypes have a handful, so a
    // run's extremes are its counted ends and its histogram bins change at most 63 times along
    // it: the walks over a dense table do per key only what depends on each count.
    struct Run {
        uint32_t begin = 0, end = 0;
        bool zero = false, subnormal = false;
    };

    std::vector<double> value, square, log10Abs;
    std::vector<uint16_t> zero, nan, posInf, negInf;
    std::vector<Run> runs;

    void buildRuns(double normal);
};

void KeyTables::buildRuns(double normal) {
    int valueStep = 0, logStep = 0; // directions along the open run: -1, +1, 0 (not yet known)
    auto extends = [&](const Run& r, uint32_t k) {
        const double prev = value[k - 1], v = value[k];
        if (r.zero || r.end != k || std::signbit(prev) != std::signbit(v)) return false;
        if ((std::fabs(v) < normal) != r.subnormal) return false;
        const int step = v > prev ? 1 : v < prev ? -1 : 0;
        const int lstep = log10Abs[k] > log10Abs[k - 1]   ? 1
                          : log10Abs[k] < log10Abs[k - 1] ? -1
                                                          : 0;
        if (step == 0 || lstep == 0 || (valueStep && step != valueStep) ||
            (logStep && lstep != logStep))
            return false;
        valueStep = step;
        logStep = lstep;
        return true;
    };
    for (uint32_t k = 0; k < value.size(); ++k) {
        const double v = value[k];
        if (!std::isfinite(v)) continue;
        if (!runs.empty() && v != 0 && extends(runs.back(), k)) {
            runs.back().end = k + 1;
            continue;
        }
        runs.push_back({k, k + 1, v == 0, v != 0 && std::fabs(v) < normal});
        valueStep = logStep = 0;
    }
}

const KeyTables& keyTables(DType type) {
    static KeyTables tables[kDTypeCount];
    static std::once_flag once[kDTypeCount];
    const size_t index = size_t(type);
    std::call_once(once[index], [&] {
        KeyTables& t = tables[index];
        const size_t n = dtypeBits(type) == 8 ? 256 : kKeySpace;
        t.value.resize(n);
        t.square.resize(n);
        t.log10Abs.resize(n);
        for (size_t k = 0; k < n; ++k) {
            uint8_t bytes[8] = {uint8_t(k & 0xFF), uint8_t(k >> 8)};
            const double v = decodeElement(type, bytes);
            t.value[k] = v;
            t.square[k] = std::isfinite(v) ? v * v : 0;
            t.log10Abs[k] = std::isfinite(v) && v != 0 ? std::log10(std::fabs(v)) : kNaN;
            if (std::isnan(v))
                t.nan.push_back(uint16_t(k));
            else if (v == kInf)
                t.posInf.push_back(uint16_t(k));
            else if (v == -kInf)
                t.negInf.push_back(uint16_t(k));
            else if (v == 0)
                t.zero.push_back(uint16_t(k));
        }
        t.buildRuns(minNormal(type));
    });
    return tables[index];
}

// Wide dtypes are keyed by their value as F32, cut to its upper 16 bits (BF16 rounded toward
// zero). Finite F64 values beyond F32's range share the key of their sign's infinity; the
// histograms tell them from true infinities by the Inf counts and bin them at the extremes.
uint16_t wideKey(double v) {
    return uint16_t(std::bit_cast<uint32_t>(float(v)) >> 16);
}

// Moments of up to kBlock finite values, folded into `into` as one Chan step.
void addBlock(Moments& into, const double* values, size_t n, double minNormal) {
    if (n == 0) return;
    double sum = 0, sumSq = 0, lo = values[0], hi = values[0], maxAbs = 0;
    double minAbs = kInf;
    uint64_t zeros = 0, sub = 0;
    for (size_t i = 0; i < n; ++i) {
        const double v = values[i], a = std::fabs(v);
        sum += v;
        sumSq += v * v;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        maxAbs = std::max(maxAbs, a);
        if (a == 0)
            ++zeros;
        else {
            minAbs = std::min(minAbs, a);
            if (a < minNormal) ++sub;
        }
    }
    const double mean = sum / double(n);
    double m2 = 0;
    for (size_t i = 0; i < n; ++i)
        m2 += (values[i] - mean) * (values[i] - mean);

    Moments block;
    // Squares of F64 values beyond 2^±500 leave double's range (to Inf, or to 0): such a block
    // is summed again in extended precision. Every other dtype stays on the fast path.
    constexpr double kSquareSafeHigh = 0x1p500, kSquareSafeLow = 0x1p-500;
    if (maxAbs > kSquareSafeHigh || minAbs < kSquareSafeLow) {
        long double wideSum = 0, wideSquares = 0, wideM2 = 0;
        for (size_t i = 0; i < n; ++i) {
            wideSum += values[i];
            wideSquares += (long double)values[i] * values[i];
        }
        const long double wideMean = wideSum / (long double)n;
        for (size_t i = 0; i < n; ++i)
            wideM2 += (values[i] - wideMean) * (values[i] - wideMean);
        block.sum = wideSum;
        block.sumSquares = wideSquares;
        block.m2 = wideM2;
    } else {
        block.sum = sum;
        block.sumSquares = sumSq;
        block.m2 = m2;
    }
    block.count = n;
    block.zeros = zeros;
    block.subnormals = sub;
    block.min = lo;
    block.max = hi;
    block.maxAbs = maxAbs;
    block.minAbsNonzero = minAbs;
    into.merge(block);
}

} // namespace

bool hasValueStats(DType type) {
    return type != DType::C64 && type != DType::F4 && type != DType::F6_E2M3 &&
           type != DType::F6_E3M2;
}

bool isFloatDType(DType type) {
    switch (type) {
    case DType::F64:
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::F8_E4M3:
    case DType::F8_E5M2:
    case DType::F8_E4M3FNUZ:
    case DType::F8_E5M2FNUZ:
    case DType::F8_E8M0:
    case DType::F4:
    case DType::F6_E2M3:
    case DType::F6_E3M2:
        return true;
    default:
        return false;
    }
}

double decodeElement(DType type, const void* p) {
    switch (type) {
    case DType::BOOL:
        return loadLe<uint8_t>(p) ? 1.0 : 0.0;
    case DType::U8:
        return loadLe<uint8_t>(p);
    case DType::I8:
        return loadLe<int8_t>(p);
    case DType::I16:
        return loadLe<int16_t>(p);
    case DType::U16:
        return loadLe<uint16_t>(p);
    case DType::I32:
        return loadLe<int32_t>(p);
    case DType::U32:
        return loadLe<uint32_t>(p);
    case DType::I64:
        return double(loadLe<int64_t>(p));
    case DType::U64:
        return double(loadLe<uint64_t>(p));
    case DType::F16:
        return f16Value(loadLe<uint16_t>(p));
    case DType::BF16:
        return bf16Value(loadLe<uint16_t>(p));
    case DType::F32:
        return loadLe<float>(p);
    case DType::F64:
        return loadLe<double>(p);
    case DType::F8_E4M3:
    case DType::F8_E5M2:
    case DType::F8_E4M3FNUZ:
    case DType::F8_E5M2FNUZ:
    case DType::F8_E8M0:
        return f8Value(type, loadLe<uint8_t>(p));
    default:
        return kNaN;
    }
}

double minNormal(DType type) {
    switch (type) {
    case DType::F64:
        return DBL_MIN;
    case DType::F32:
    case DType::BF16:
        return double(FLT_MIN);
    case DType::F16:
    case DType::F8_E5M2:
        return std::ldexp(1.0, -14);
    case DType::F8_E4M3:
        return std::ldexp(1.0, -6);
    case DType::F8_E4M3FNUZ:
        return std::ldexp(1.0, -7);
    case DType::F8_E5M2FNUZ:
        return std::ldexp(1.0, -15);
    default:
        return 0; // integers, BOOL and F8_E8M0 have no subnormals
    }
}

void decodeRun(DType type, const void* bytes, uint64_t n, double* out) {
    const auto* p = static_cast<const unsigned char*>(bytes);
    switch (type) {
    case DType::BF16:
        for (uint64_t i = 0; i < n; ++i)
            out[i] = bf16Value(loadLe<uint16_t>(p + 2 * i));
        return;
    case DType::F32:
        for (uint64_t i = 0; i < n; ++i)
            out[i] = loadLe<float>(p + 4 * i);
        return;
    default:
        break;
    }
    if (isNarrow(type)) {
        const double* values = keyTables(type).value.data();
        const unsigned size = dtypeBits(type) / 8;
        for (uint64_t i = 0; i < n; ++i)
            out[i] = values[size == 1 ? p[i] : loadLe<uint16_t>(p + 2 * i)];
        return;
    }
    const unsigned size = dtypeBits(type) / 8;
    for (uint64_t i = 0; i < n; ++i)
        out[i] = decodeElement(type, p + i * size);
}

double sumOfSquares(DType type, const void* bytes, uint64_t n) {
    const auto* p = static_cast<const unsigned char*>(bytes);
    double total = 0;
    if (type == DType::BF16) {
        // The common case. Eight separate sums let the compiler use vector lanes without
        // reordering any one sum (which it may not do for doubles): 0.30 against 0.88 ns per
        // element, measured on diff of W1. A BF16 square is exact in double.
        constexpr size_t kLanes = 8;
        double lanes[kLanes] = {};
        uint64_t i = 0;
        for (; i + kLanes <= n; i += kLanes)
            for (size_t j = 0; j < kLanes; ++j) {
                const uint32_t bits = uint32_t(loadLe<uint16_t>(p + 2 * (i + j))) << 16;
                const uint32_t finite = 0u - uint32_t((bits & 0x7FFFFFFFu) < 0x7F800000u);
                const double d = double(std::bit_cast<float>(bits & finite));
                lanes[j] += d * d;
            }
        for (; i < n; ++i) {
            const float f = std::bit_cast<float>(uint32_t(loadLe<uint16_t>(p + 2 * i)) << 16);
            if (std::isfinite(f)) total += double(f) * double(f);
        }
        for (double lane : lanes)
            total += lane;
        return total;
    }
    double values[kBlock];
    const unsigned size = dtypeBits(type) / 8;
    for (uint64_t i = 0; i < n; i += kBlock) {
        const uint64_t k = std::min<uint64_t>(kBlock, n - i);
        decodeRun(type, p + i * size, k, values);
        for (uint64_t j = 0; j < k; ++j)
            if (std::isfinite(values[j])) total += values[j] * values[j];
    }
    return total;
}

// ---- Moments ----

double Moments::mean() const {
    const uint64_t n = finite();
    return n ? double((sum + sumCompensation) / (long double)(n)) : kNaN;
}

double Moments::stddev() const {
    const uint64_t n = finite();
    return n ? double(std::sqrt(std::max(0.0L, m2) / (long double)(n))) : kNaN;
}

double Moments::l2() const {
    return double(std::sqrt(std::max(0.0L, sumSquares + sumSquaresCompensation)));
}

double Moments::rms() const {
    const uint64_t n = finite();
    return n ? double(std::sqrt(std::max(0.0L, sumSquares + sumSquaresCompensation) /
                                (long double)(n)))
             : 0.0;
}

void Moments::addRepeated(double value, uint64_t n, double minNormalValue) {
    if (n == 0) return;
    Moments one;
    one.count = n;
    const double a = std::fabs(value);
    if (a == 0)
        one.zeros = n;
    else {
        one.minAbsNonzero = a;
        if (a < minNormalValue) one.subnormals = n;
    }
    one.min = one.max = value;
    one.maxAbs = a;
    one.sum = (long double)value * (long double)n;
    one.sumSquares = (long double)value * value * (long double)n;
    merge(one);
}

void Moments::addNonFinite(double value, uint64_t n) {
    count += n;
    if (std::isnan(value))
        nan += n;
    else if (value > 0)
        posInf += n;
    else
        negInf += n;
}

void Moments::merge(const Moments& o) {
    const uint64_t na = finite(), nb = o.finite();
    if (nb > 0) {
        if (na == 0) {
            min = o.min;
            max = o.max;
            m2 = o.m2;
        } else {
            const long double meanA = (sum + sumCompensation) / (long double)(na);
            const long double meanB = (o.sum + o.sumCompensation) / (long double)(nb);
            const long double delta = meanB - meanA;
            m2 += o.m2 +
                  delta * delta * ((long double)(na) * (long double)(nb) / (long double)(na + nb));
            min = std::min(min, o.min);
            max = std::max(max, o.max);
        }
        maxAbs = std::max(maxAbs, o.maxAbs);
        minAbsNonzero = std::min(minAbsNonzero, o.minAbsNonzero);
        integersVary = integersVary || o.integersVary;
        if (o.hasInteger) addInteger(o.firstInteger);
        neumaierAdd(sum, sumCompensation, o.sum);
        neumaierAdd(sum, sumCompensation, o.sumCompensation);
        neumaierAdd(sumSquares, sumSquaresCompensation, o.sumSquares);
        neumaierAdd(sumSquares, sumSquaresCompensation, o.sumSquaresCompensation);
    }
    count += o.count;
    nan += o.nan;
    posInf += o.posInf;
    negInf += o.negInf;
    zeros += o.zeros;
    subnormals += o.subnormals;
}

// ---- ValueAccumulator ----

// Counts per 16-bit key: a list while short, then a dense table.
struct ValueAccumulator::Keys {
    std::vector<uint16_t> sparse;
    std::vector<uint64_t> dense; // kKeySpace entries once used; kept, zeroed, by reset()
    bool used = false;           // dense holds the counts (else sparse does)
    bool sorted = true;          // sparse is in key order
    // Wide dtypes: every finite value itself while there are at most kExactLimit, so the
    // histograms of small tensors (norms, biases: narrow ranges) are binned exactly.
    std::vector<double> exact;
    bool exactValid = true;

    void addExact(const double* values, size_t n) {
        if (!exactValid) return;
        if (exact.size() + n > kExactLimit) return dropExact();
        exact.insert(exact.end(), values, values + n);
    }
    void dropExact() {
        exactValid = false;
        std::vector<double>().swap(exact);
    }

    void makeDenseFor(uint64_t more) {
        if (!used && sparse.size() + more > kSparseLimit) makeDense();
    }
    void makeDense() {
        if (used) return;
        if (dense.empty()) dense.assign(kKeySpace, 0);
        used = true;
        for (uint16_t k : sparse)
            ++dense[k];
        sparse.clear();
        sparse.shrink_to_fit();
    }
    // Calls f(key, count) for every key held, in key order. Sorts the list once (it stays
    // sorted until the next add), by radix: std::sort was most of the time on checkpoints of
    // many small tensors.
    // With `ordered` false, a short list is walked as it is, a key at a time (for sums that
    // do not care about order, such as a window's counts).
    template <class F> void forEach(F&& f, bool ordered = true) {
        if (used) {
            for (size_t k = 0; k < kKeySpace; ++k)
                if (dense[k]) f(uint16_t(k), dense[k]);
            return;
        }
        if (!ordered && !sorted) {
            for (uint16_t k : sparse)
                f(k, uint64_t(1));
            return;
        }
        if (!sorted) sortSparse();
        for (size_t i = 0; i < sparse.size();) {
            size_t j = i;
            while (j < sparse.size() && sparse[j] == sparse[i])
                ++j;
            f(sparse[i], uint64_t(j - i));
            i = j;
        }
    }
    void sortSparse() {
        sorted = true;
        if (sparse.size() < 1024) {
            std::sort(sparse.begin(), sparse.end());
            return;
        }
        std::vector<uint16_t> other(sparse.size());
        for (int shift : {0, 8}) {
            size_t start[257] = {};
            for (uint16_t k : sparse)
                ++start[((k >> shift) & 0xFF) + 1];
            for (int b = 0; b < 256; ++b)
                start[b + 1] += start[b];
            for (uint16_t k : sparse)
                other[start[(k >> shift) & 0xFF]++] = k;
            sparse.swap(other);
        }
    }
};

ValueAccumulator::ValueAccumulator(DType type) : m_keys(std::make_unique<Keys>()) {
    reset(type);
}
ValueAccumulator::~ValueAccumulator() = default;
ValueAccumulator::ValueAccumulator(ValueAccumulator&&) noexcept = default;
ValueAccumulator& ValueAccumulator::operator=(ValueAccumulator&&) noexcept = default;

double ValueAccumulator::keyValue(uint16_t key) const {
    return m_values ? m_values[key] : bf16Value(key);
}

void ValueAccumulator::addKey(uint16_t key, uint64_t n) {
    Keys& keys = *m_keys;
    keys.makeDenseFor(n);
    if (keys.used)
        keys.dense[key] += n;
    else {
        keys.sparse.insert(keys.sparse.end(), size_t(n), key);
        keys.sorted = false;
    }
}

namespace {

// Counts every element of a narrow run into the dense table, through a 32-bit table per thread:
// half the cache footprint of the 64-bit one, which measured 0.70 against 0.85 ns per BF16
// element (one table beat two or four interleaved ones too).
template <class T> void countKeys(const unsigned char* p, uint64_t n, uint64_t* dense) {
    static thread_local std::vector<uint32_t> counts(kKeySpace);
    const size_t keys = size_t(1) << (8 * sizeof(T));
    constexpr uint64_t kMaxRun = uint64_t(1) << 31; // below 2^32 per count
    for (uint64_t base = 0; base < n; base += kMaxRun) {
        const uint64_t end = std::min<uint64_t>(n, base + kMaxRun);
        uint32_t* c = counts.data();
        for (uint64_t i = base; i < end; ++i)
            ++c[loadLe<T>(p + i * sizeof(T))];
        for (size_t k = 0; k < keys; ++k) {
            dense[k] += c[k];
            c[k] = 0;
        }
    }
}

} // namespace

void ValueAccumulator::add(const void* bytes, uint64_t count) {
    if (count == 0 || !hasValueStats(m_type)) return;
    const auto* p = static_cast<const unsigned char*>(bytes);
    const unsigned size = dtypeBits(m_type) / 8;
    if (isNarrow(m_type)) { // moments come from the key counts at the end
        Keys& keys = *m_keys;
        keys.makeDenseFor(count);
        if (!keys.used) {
            for (uint64_t i = 0; i < count; ++i)
                keys.sparse.push_back(size == 1 ? p[i] : loadLe<uint16_t>(p + 2 * i));
            keys.sorted = false;
        } else if (size == 1) {
            countKeys<uint8_t>(p, count, keys.dense.data());
        } else {
            countKeys<uint16_t>(p, count, keys.dense.data());
        }
        m_narrowDirty = true;
        return;
    }
    switch (m_type) {
    case DType::F32:
        return addWide<float>(p, count);
    case DType::F64:
        return addWide<double>(p, count);
    case DType::I32:
        return addWide<int32_t>(p, count);
    case DType::U32:
        return addWide<uint32_t>(p, count);
    case DType::I64:
        return addWide<int64_t>(p, count);
    default:
        return addWide<uint64_t>(p, count);
    }
}

template <class T> void ValueAccumulator::addWide(const unsigned char* p, uint64_t count) {
    const double normal = minNormal(m_type);
    double block[kBlock];
    size_t filled = 0;
    m_keys->makeDenseFor(count);
    for (uint64_t i = 0; i < count; ++i) {
        const T raw = loadLe<T>(p + i * sizeof(T));
        if constexpr (sizeof(T) == 8 && std::is_integral_v<T>) m_moments.addInteger(uint64_t(raw));
        const double v = double(raw);
        addKey(wideKey(v), 1);
        if (!std::isfinite(v)) {
            m_moments.addNonFinite(v, 1);
            continue;
        }
        block[filled++] = v;
        if (filled == kBlock) {
            addBlock(m_moments, block, filled, normal);
            m_keys->addExact(block, filled);
            filled = 0;
        }
    }
    addBlock(m_moments, block, filled, normal);
    m_keys->addExact(block, filled);
}

void ValueAccumulator::merge(const ValueAccumulator& other) {
    const Keys& theirs = *other.m_keys;
    if (!isNarrow(m_type)) {
        m_moments.merge(other.m_moments);
        if (theirs.exactValid)
            m_keys->addExact(theirs.exact.data(), theirs.exact.size());
        else
            m_keys->dropExact();
    }
    if (theirs.used) {
        m_keys->makeDense();
        for (size_t k = 0; k < kKeySpace; ++k)
            m_keys->dense[k] += theirs.dense[k];
    } else {
        m_keys->makeDenseFor(theirs.sparse.size());
        if (m_keys->used) {
            for (uint16_t k : theirs.sparse)
                ++m_keys->dense[k];
        } else {
            m_keys->sparse.insert(m_keys->sparse.end(), theirs.sparse.begin(), theirs.sparse.end());
            m_keys->sorted = m_keys->sparse.size() == theirs.sparse.size() && theirs.sorted;
        }
    }
    m_narrowDirty = true;
}

// floor(x) clamped to a bin. Without SSE4.1 floor is six dependent instructions (a third of the
// histogram walk); truncation is floor for the x that are not clamped.
inline int binOf(double x) {
    if (!(x >= 0)) return 0;
    return x < kHistogramBins ? int(x) : kHistogramBins - 1;
}

// Which of 64 bins from min to max of the finite values a value falls in.
class LinearBins {
public:
    explicit LinearBins(const Moments& m) : m_empty(m.finite() == 0) {
        if (m_empty) return;
        m_lo = m.min;
        m_hi = m.max;
        m_width = m_hi - m_lo;
    }
    bool empty() const { return m_empty; }
    Histogram histogram() const { return {m_lo, m_hi, {}}; }
    int bin(double v) const {
        if (m_width > 0 && std::isfinite(m_width))
            return binOf((v - m_lo) / m_width * kHistogramBins);
        if (m_width > 0) // a range beyond double: halve before dividing
            return binOf((v / 2 - m_lo / 2) / (m_hi / 2 - m_lo / 2) * kHistogramBins);
        return 0;
    }

private:
    bool m_empty;
    double m_lo = 0, m_hi = 0, m_width = 0;
};

// Which of 64 bins of log10|x| over the finite nonzero values a log10|x| falls in.
class LogBins {
public:
    explicit LogBins(const Moments& m) : m_empty(m.finite() == m.zeros) {
        if (m_empty) return;
        m_lo = std::log10(m.minAbsNonzero);
        m_hi = std::log10(m.maxAbs);
        const double width = m_hi - m_lo;
        m_scale = width > 0 ? kHistogramBins / width : 0;
    }
    bool empty() const { return m_empty; }
    Histogram histogram() const { return {m_lo, m_hi, {}}; }
    int bin(double lg) const { return binOf((lg - m_lo) * m_scale); }

private:
    bool m_empty;
    double m_lo = 0, m_hi = 0, m_scale = 0;
};

namespace {

// What both walks over counted keys sum, in key order, and their extremes.
struct KeySums {
    double sum = 0, sumCompensation = 0, squares = 0, squaresCompensation = 0;
    double lo = kInf, hi = -kInf;

    void add(double v, uint64_t n) {
        neumaierAdd(sum, sumCompensation, v * double(n));
        neumaierAdd(squares, squaresCompensation, v * v * double(n));
    }
    // Into `m`, whose counts are complete.
    void finish(Moments& m) const {
        m.sum = sum;
        m.sumCompensation = sumCompensation;
        m.sumSquares = squares;
        m.sumSquaresCompensation = squaresCompensation;
        if (m.finite() == 0) return;
        m.min = lo;
        m.max = hi;
    }
};

// The sums of momentsFromKeys over a dense table, run by run: the same additions in the same
// order as its walk over every key, so the same bits, with the extremes and the special classes
// taken once per run. On random 16-bit patterns (every key counted) this halves the walk.
Moments denseMoments(const KeyTables& t, const uint64_t* dense) {
    Moments m;
    for (const std::vector<uint16_t>* keys : {&t.nan, &t.posInf, &t.negInf})
        for (uint16_t k : *keys)
            if (dense[k]) m.addNonFinite(t.value[k], dense[k]);
    const double* values = t.value.data();
    KeySums sums;
    for (const KeyTables::Run& r : t.runs) {
        uint64_t count = 0;
        size_t first = 0, last = 0; // the run's first and last key with a count
        for (size_t k = r.begin; k < r.end; ++k) {
            const uint64_t n = dense[k];
            if (!n) continue;
            const double v = values[k];
            if (!count) first = k;
            last = k;
            count += n;
            sums.add(v, n);
        }
        if (!count) continue;
        m.count += count;
        const double a = values[first], b = values[last];
        sums.lo = std::min(sums.lo, std::min(a, b));
        sums.hi = std::max(sums.hi, std::max(a, b));
        m.maxAbs = std::max(m.maxAbs, std::max(std::fabs(a), std::fabs(b)));
        if (r.zero) {
            m.zeros += count;
            continue;
        }
        m.minAbsNonzero = std::min(m.minAbsNonzero, std::min(std::fabs(a), std::fabs(b)));
        if (r.subnormal) m.subnormals += count;
    }
    sums.finish(m);
    return m;
}

// Adds the counts of keys [begin, end) of a run to their bins, `binOf(key)` being monotonic
// along the run: a binary search per bin touched instead of a bin per key.
template <class BinOf>
void addBinned(Histogram& h, const uint64_t* dense, size_t begin, size_t end, BinOf binOf) {
    for (size_t k = begin; k < end;) {
        const int bin = binOf(k);
        size_t lo = k + 1, hi = end; // the first key past the bin
        while (lo < hi) {
            const size_t mid = lo + (hi - lo) / 2;
            if (binOf(mid) == bin)
                lo = mid + 1;
            else
                hi = mid;
        }
        uint64_t n = 0;
        for (; k < lo; ++k)
            n += dense[k];
        h.counts[size_t(bin)] += n;
    }
}

// addDeviations over a dense table, run by run; the squared deviations in key order as there.
double denseDeviations(const KeyTables& t, const uint64_t* dense, double mean,
                       const LinearBins& linearBins, Histogram* linear, const LogBins& logBins,
                       Histogram* log) {
    const double* values = t.value.data();
    const double* logs = t.log10Abs.data();
    double m2 = 0, m2Compensation = 0;
    for (const KeyTables::Run& r : t.runs) {
        size_t first = r.end, last = 0; // the run's first and last key with a count
        for (size_t k = r.begin; k < r.end; ++k) {
            const uint64_t n = dense[k];
            if (!n) continue;
            const double v = values[k];
            first = std::min(first, k);
            last = k;
            neumaierAdd(m2, m2Compensation, (v - mean) * (v - mean) * double(n));
        }
        if (first == r.end) continue;
        if (linear)
            addBinned(*linear, dense, first, last + 1,
                      [&](size_t k) { return linearBins.bin(values[k]); });
        if (log && !r.zero)
            addBinned(*log, dense, first, last + 1, [&](size_t k) { return logBins.bin(logs[k]); });
    }
    return m2 + m2Compensation;
}

} // namespace

// Moments of counted keys in two walks: sums first, then (when `centred`) squared deviations
// from the mean, so each distinct value costs a few multiply-adds.
Moments ValueAccumulator::momentsFromKeys(bool centred) const {
    if (m_keys->used) {
        Moments m = denseMoments(keyTables(m_type), m_keys->dense.data());
        if (centred && m.finite() > 0)
            addDeviations(m, LinearBins(m), nullptr, LogBins(m), nullptr);
        return m;
    }
    Moments m;
    const double normal = minNormal(m_type);
    const double* values = keyTables(m_type).value.data();
    // In double: 8- and 16-bit values square well inside its range, and extended precision
    // would cost more than the walk itself.
    KeySums sums;
    m_keys->forEach(
        [&](uint16_t key, uint64_t n) {
            const double v = values[key];
            if (!std::isfinite(v)) {
                m.addNonFinite(v, n);
                return;
            }
            const double a = std::fabs(v);
            m.count += n;
            if (a == 0)
                m.zeros += n;
            else {
                m.minAbsNonzero = std::min(m.minAbsNonzero, a);
                if (a < normal) m.subnormals += n;
            }
            sums.lo = std::min(sums.lo, v);
            sums.hi = std::max(sums.hi, v);
            m.maxAbs = std::max(m.maxAbs, a);
            sums.add(v, n);
        },
        centred);
    sums.finish(m);
    if (centred && m.finite() > 0) addDeviations(m, LinearBins(m), nullptr, LogBins(m), nullptr);
    return m;
}

// The second walk: squared deviations from the mean of the sums in `m`, and the histograms
// (of the narrow dtype's keys) when given.
void ValueAccumulator::addDeviations(Moments& m, const LinearBins& linearBins, Histogram* linear,
                                     const LogBins& logBins, Histogram* log) const {
    const KeyTables& t = keyTables(m_type);
    const double* values = t.value.data();
    const double* logs = t.log10Abs.data();
    const double mean = m.mean();
    if (m_keys->used) {
        m.m2 = denseDeviations(t, m_keys->dense.data(), mean, linearBins, linear, logBins, log);
        return;
    }
    double m2 = 0, m2Compensation = 0;
    m_keys->forEach([&](uint16_t key, uint64_t n) {
        const double v = values[key];
        if (!std::isfinite(v)) return; // narrow: in neither histogram
        neumaierAdd(m2, m2Compensation, (v - mean) * (v - mean) * double(n));
        if (linear) linear->counts[size_t(linearBins.bin(v))] += n;
        if (log && !std::isnan(logs[key])) log->counts[size_t(logBins.bin(logs[key]))] += n;
    });
    m.m2 = m2 + m2Compensation;
}

Moments ValueAccumulator::counts() const {
    if (!isNarrow(m_type) || !m_narrowDirty) return m_moments;
    if (!m_keys->used) return momentsFromKeys(false);
    // A dense table: straight sums over it, which the compiler vectorises.
    const KeyTables& t = keyTables(m_type);
    const uint64_t* dense = m_keys->dense.data();
    const size_t n = t.value.size();
    Moments m;
    double sumSquares = 0;
    for (size_t k = 0; k < n; ++k) {
        m.count += dense[k];
        sumSquares += double(dense[k]) * t.square[k];
    }
    auto total = [&](const std::vector<uint16_t>& keys) {
        uint64_t sum = 0;
        for (uint16_t k : keys)
            sum += dense[k];
        return sum;
    };
    m.zeros = total(t.zero);
    m.nan = total(t.nan);
    m.posInf = total(t.posInf);
    m.negInf = total(t.negInf);
    m.sumSquares = sumSquares;
    return m;
}

const Moments& ValueAccumulator::moments() const {
    if (isNarrow(m_type) && m_narrowDirty) {
        m_moments = momentsFromKeys(true);
        m_narrowDirty = false;
    }
    return m_moments;
}

void ValueAccumulator::reset(DType type) {
    m_type = type;
    m_values = isNarrow(type) ? keyTables(type).value.data() : nullptr;
    m_moments = {};
    m_narrowDirty = false;
    m_keys->sparse.clear();
    if (m_keys->used) std::fill(m_keys->dense.begin(), m_keys->dense.end(), 0);
    m_keys->used = false;
    m_keys->exact.clear();
    m_keys->exactValid = true;
}

// Of the `n` elements under an infinite key, the finite F64 values beyond F32's range.
uint64_t ValueAccumulator::beyondF32(double keyValue, uint64_t n, const Moments& m) const {
    if (isNarrow(m_type) || std::isnan(keyValue)) return 0;
    const uint64_t infinite = keyValue > 0 ? m.posInf : m.negInf;
    return n > infinite ? n - infinite : 0;
}

Histogram ValueAccumulator::linearHistogram() const {
    const Moments& m = moments();
    const LinearBins bins(m);
    if (bins.empty()) return {};
    Histogram h = bins.histogram();
    if (!isNarrow(m_type) && m_keys->exactValid) {
        for (double v : m_keys->exact)
            ++h.counts[size_t(bins.bin(v))];
        return h;
    }
    m_keys->forEach([&](uint16_t key, uint64_t n) {
        const double v = keyValue(key);
        if (!std::isfinite(v)) {
            if (const uint64_t beyond = beyondF32(v, n, m))
                h.counts[v > 0 ? kHistogramBins - 1 : 0] += beyond;
            return;
        }
        h.counts[size_t(bins.bin(v))] += n;
    });
    return h;
}

Histogram ValueAccumulator::logHistogram() const {
    const Moments& m = moments();
    const LogBins bins(m);
    if (bins.empty()) return {};
    Histogram h = bins.histogram();
    if (!isNarrow(m_type) && m_keys->exactValid) {
        for (double v : m_keys->exact)
            if (v != 0) ++h.counts[size_t(bins.bin(std::log10(std::fabs(v))))];
        return h;
    }
    const double* logs = keyTables(isNarrow(m_type) ? m_type : DType::BF16).log10Abs.data();
    m_keys->forEach([&](uint16_t key, uint64_t n) {
        const double lg = logs[key];
        if (std::isnan(lg)) { // zero or not finite
            const double v = keyValue(key);
            // A wide value too small for its key still counts, in the lowest bin.
            if (!isNarrow(m_type) && std::isfinite(v))
                h.counts[0] += n;
            else
                h.counts[kHistogramBins - 1] += beyondF32(v, n, m);
            return;
        }
        h.counts[size_t(bins.bin(lg))] += n;
    });
    // Wide zeros and tiny values share the zero key: take the true zeros back out of bin 0.
    if (!isNarrow(m_type)) h.counts[0] -= std::min(h.counts[0], m.zeros);
    return h;
}

ValueSummary ValueAccumulator::summary() const {
    if (!isNarrow(m_type) || !m_narrowDirty || !m_keys->used)
        return {moments(), linearHistogram(), logHistogram()};
    // One walk for the sums, one for the deviations and both histograms (which need the sums'
    // extremes): two walks over the counts where asking for each part costs four.
    ValueSummary out{momentsFromKeys(false), {}, {}};
    const LinearBins linearBins(out.moments);
    const LogBins logBins(out.moments);
    if (!linearBins.empty()) out.linear = linearBins.histogram();
    if (!logBins.empty()) out.log = logBins.histogram();
    if (out.moments.finite() > 0)
        addDeviations(out.moments, linearBins, linearBins.empty() ? nullptr : &out.linear, logBins,
                      logBins.empty() ? nullptr : &out.log);
    m_moments = out.moments;
    m_narrowDirty = false;
    return out;
}

bool hasPatternCounts(DType type) {
    return hasValueStats(type) && isNarrow(type);
}

void PatternCounts::reset(DType type) {
    m_type = type;
    if (m_table.empty()) m_table.assign(kKeySpace, 0);
    if (m_elements) std::fill(m_table.begin(), m_table.end(), 0);
    if (m_elements && m_byteCounters) std::fill(m_bytes.begin(), m_bytes.end(), 0);
    m_elements = 0;
    m_carried = false;
    m_byteCounters = m_lastSpread && dtypeBits(type) == 16;
    if (m_byteCounters && m_bytes.empty()) m_bytes.assign(kKeySpace, 0);
}

void PatternCounts::add(const void* bytes, uint64_t count) {
    if (m_elements + count > INT32_MAX)
        throw std::length_error("PatternCounts: too many elements between folds");
    m_elements += count;
    const auto* p = static_cast<const unsigned char*>(bytes);
    uint32_t* c = m_table.data();
    if (dtypeBits(m_type) == 8) {
        for (uint64_t i = 0; i < count; ++i)
            ++c[p[i]];
    } else if (m_byteCounters) {
        // Bytes that wrap carry 256 into the 32-bit table, which is then touched once per 256.
        uint8_t* b = m_bytes.data();
        bool carried = false;
        for (uint64_t i = 0; i < count; ++i) {
            const uint16_t k = loadLe<uint16_t>(p + 2 * i);
            if (++b[k] == 0) [[unlikely]] {
                c[k] += 256;
                carried = true;
            }
        }
        m_carried = m_carried || carried;
    } else {
        for (uint64_t i = 0; i < count; ++i)
            ++c[loadLe<uint16_t>(p + 2 * i)];
    }
}

namespace {

// One walk over a window's counts: adds them to `dense` (when given), sums count × square and
// counts the keys touched, and empties the tables: the bytes `b` when kBytes, the 32-bit table
// `c` when kTable (byte counters that never wrapped leave it empty). Every count is below 2^31
// (see add()), so it converts to double as a signed 32-bit integer. The sum runs in four lanes,
// since one waits on each add in turn (4 cycles a key, measured as 11% of a W1 stats run).
#if defined(__SSE2__)
// Four keys at a time (SSE2 is in every x86-64): the scalar walk below was still 7.5% of a W1
// statistics run, about 20 instructions a key. Each lane adds in the scalar walk's order, so
// both give the same sums to the bit.
template <bool kBytes, bool kTable, bool kDense>
double foldKeys(uint32_t* c, uint8_t* b, uint64_t* dense, const double* square, size_t keys,
                size_t& touched) {
    const __m128i zero = _mm_setzero_si128();
    __m128d partial01 = _mm_setzero_pd(), partial23 = _mm_setzero_pd();
    __m128i empty = zero; // minus the keys without a count, per lane
    for (size_t k = 0; k < keys; k += 4) {
        __m128i n = zero;
        if constexpr (kTable) {
            auto* counts = reinterpret_cast<__m128i*>(c + k);
            n = _mm_loadu_si128(counts);
            _mm_storeu_si128(counts, zero);
        }
        if constexpr (kBytes) {
            const __m128i bytes = _mm_cvtsi32_si128(loadLe<int32_t>(b + k));
            n = _mm_add_epi32(n, _mm_unpacklo_epi16(_mm_unpacklo_epi8(bytes, zero), zero));
            std::memset(b + k, 0, 4);
        }
        if constexpr (kDense) {
            auto* d = reinterpret_cast<__m128i*>(dense + k);
            _mm_storeu_si128(d, _mm_add_epi64(_mm_loadu_si128(d), _mm_unpacklo_epi32(n, zero)));
            _mm_storeu_si128(d + 1,
                             _mm_add_epi64(_mm_loadu_si128(d + 1), _mm_unpackhi_epi32(n, zero)));
        }
        empty = _mm_add_epi32(empty, _mm_cmpeq_epi32(n, zero));
        partial01 = _mm_add_pd(partial01, _mm_mul_pd(_mm_cvtepi32_pd(n), _mm_loadu_pd(square + k)));
        partial23 = _mm_add_pd(partial23, _mm_mul_pd(_mm_cvtepi32_pd(_mm_unpackhi_epi64(n, n)),
                                                     _mm_loadu_pd(square + k + 2)));
    }
    int32_t lanes[4];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes), empty);
    touched = keys - size_t(-(int64_t(lanes[0]) + lanes[1] + lanes[2] + lanes[3]));
    double partial[4];
    _mm_storeu_pd(partial, partial01);
    _mm_storeu_pd(partial + 2, partial23);
    return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}
#else
template <bool kBytes, bool kTable, bool kDense>
double foldKeys(uint32_t* c, uint8_t* b, uint64_t* dense, const double* square, size_t keys,
                size_t& touched) {
    double partial[4] = {0, 0, 0, 0};
    size_t used = 0;
    for (size_t k = 0; k < keys; k += 4) {
        for (size_t j = 0; j < 4; ++j) {
            uint32_t n = 0;
            if constexpr (kTable) {
                n = c[k + j];
                c[k + j] = 0;
            }
            if constexpr (kBytes) {
                n += b[k + j];
                b[k + j] = 0;
            }
            if constexpr (kDense) dense[k + j] += n;
            used += n != 0;
            partial[j] += double(int32_t(n)) * square[k + j];
        }
    }
    touched = used;
    return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}
#endif

template <bool kBytes, bool kTable>
double foldKeysInto(uint32_t* c, uint8_t* b, uint64_t* dense, const double* square, size_t keys,
                    size_t& touched) {
    return dense ? foldKeys<kBytes, kTable, true>(c, b, dense, square, keys, touched)
                 : foldKeys<kBytes, kTable, false>(c, b, dense, square, keys, touched);
}

} // namespace

Moments PatternCounts::foldInto(ValueAccumulator* into) {
    const KeyTables& t = keyTables(m_type);
    const size_t keys = t.value.size(); // 256 or 65536
    uint32_t* c = m_table.data();
    uint8_t* b = m_byteCounters ? m_bytes.data() : nullptr;
    Moments m;
    auto total = [&](const std::vector<uint16_t>& list) {
        uint64_t sum = 0;
        for (uint16_t k : list)
            sum += c[k] + (b ? b[k] : 0);
        return sum;
    };
    m.count = m_elements;
    m.zeros = total(t.zero);
    m.nan = total(t.nan);
    m.posInf = total(t.posInf);
    m.negInf = total(t.negInf);
    uint64_t* dense = nullptr;
    if (into) {
        into->m_keys->makeDense();
        into->m_narrowDirty = true;
        dense = into->m_keys->dense.data();
    }
    const double* square = t.square.data();
    size_t touched = 0;
    if (!b)
        m.sumSquares = foldKeysInto<false, true>(c, b, dense, square, keys, touched);
    else if (m_carried)
        m.sumSquares = foldKeysInto<true, true>(c, b, dense, square, keys, touched);
    else // bytes that never wrapped: the 32-bit table is still empty
        m.sumSquares = foldKeysInto<true, false>(c, b, dense, square, keys, touched);
    m_lastSpread = touched > kByteCountersFrom;
    m_elements = 0;
    return m;
}

} // namespace shardscope
