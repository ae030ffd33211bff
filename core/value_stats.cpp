// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "value_stats.h"

#include <algorithm>
#include <atomic>
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
// log2 of its magnitude, and the keys of each special class. Built once per dtype.
struct KeyTables {
    // Keys in order whose values are finite, nonzero, of one sign, all normal or all subnormal,
    // and strictly monotonic from key to key in value and in log2|value|; a zero key is a run of
    // its own. Every finite key is in exactly one. Float and integer dtypes have a handful, so a
    // run's extremes are its counted ends and its histogram bins change at most 63 times along
    // it: the walks over a dense table do per key only what depends on each count.
    struct Run {
        uint32_t begin = 0, end = 0;
        bool zero = false, subnormal = false;
    };

    std::vector<double> value, square, log2Abs;
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
        const int lstep = log2Abs[k] > log2Abs[k - 1] ? 1 : log2Abs[k] < log2Abs[k - 1] ? -1 : 0;
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
        t.log2Abs.resize(n);
        for (size_t k = 0; k < n; ++k) {
            uint8_t bytes[8] = {uint8_t(k & 0xFF), uint8_t(k >> 8)};
            const double v = decodeElement(type, bytes);
            t.value[k] = v;
            t.square[k] = std::isfinite(v) ? v * v : 0;
            t.log2Abs[k] = std::isfinite(v) && v != 0 ? std::log2(std::fabs(v)) : kNaN;
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

// The same from an element as stored: an F32's own upper bits, without the trip through double.
template <class T> uint16_t wideKeyOf(T raw) {
    if constexpr (std::is_same_v<T, float>)
        return uint16_t(std::bit_cast<uint32_t>(raw) >> 16);
    else
        return wideKey(double(raw));
}

// Sums, extremes and class counts of n finite values, two at a time in SSE2 (in every x86-64):
// the scalar loop spilled its lanes to the stack and tested every compare for NaN, 1.9 ns an
// element, most of an F32 statistics run. The sum for the block's mean is also taken about its
// first value (`shift`): F64 values packed closer than their mean's rounding, such as
// 1e16 + {0, 2, 4, 6}, have exact differences from it, where about the rounded mean alone their
// deviations, and the means merged between blocks, would be off by a whole spacing.
struct BlockSums {
    double shift = 0; // sum is of (v - shift), total of v
    double sum = 0, total = 0, sumSq = 0, lo = kInf, hi = -kInf, maxAbs = 0, minAbs = kInf, m2 = 0;
    double totalError = 0; // what total's roundings left out
    double sumError = 0;   // the same for sum
    uint64_t zeros = 0, sub = 0;

    void addScalar(double v, double minNormal) {
        const double a = std::fabs(v);
        neumaierAdd(total, totalError, v);
        sumSq += v * v;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        maxAbs = std::max(maxAbs, a);
        zeros += a == 0;
        sub += (a != 0) & (a < minNormal);
        if (a != 0) minAbs = std::min(minAbs, a);
    }
};

// A compensated sum as two doubles, without adding its parts first: 1e30 + 341 would round
// the 341 away even in extended precision.
void splitSum(long double sum, long double compensation, double& high, double& low) {
    high = double(sum);
    low = double((sum - (long double)high) + compensation);
}

BlockSums blockSums(const double* values, size_t n, double minNormal, bool packed) {
    BlockSums out;
    size_t i = 0;
#if defined(__SSE2__)
    const __m128d absMask = _mm_castsi128_pd(_mm_set1_epi64x(0x7FFFFFFFFFFFFFFFll));
    const __m128d zero = _mm_setzero_pd(), inf = _mm_set1_pd(kInf);
    // Two loops over the block (8 KiB, in L1): together their lanes outnumber the 16
    // registers, and the spills cost more than the second walk.
    __m128d sum[2] = {zero, zero}, error[2] = {zero, zero}, squares[2] = {zero, zero};
    __m128d lo = inf, hi = _mm_set1_pd(-kInf);
    const size_t even = n & ~size_t(3);
    // F64 sums with their rounding errors (TwoSum, exact in any order), so that values that
    // cancel, 1e16 and -1e16 beside a 1, keep the 1.
    auto twoSum = [](__m128d& s, __m128d& e, __m128d v) {
        const __m128d t = _mm_add_pd(s, v), z = _mm_sub_pd(t, s);
        e = _mm_add_pd(e, _mm_add_pd(_mm_sub_pd(s, _mm_sub_pd(t, z)), _mm_sub_pd(v, z)));
        s = t;
    };
    for (i = 0; i < even; i += 4) {
        const __m128d v0 = _mm_loadu_pd(values + i), v1 = _mm_loadu_pd(values + i + 2);
        if (packed) { // F64 only: 16% of an F32 run's time, where double has 29 bits to spare
            twoSum(sum[0], error[0], v0);
            twoSum(sum[1], error[1], v1);
        } else {
            sum[0] = _mm_add_pd(sum[0], v0);
            sum[1] = _mm_add_pd(sum[1], v1);
        }
        squares[0] = _mm_add_pd(squares[0], _mm_mul_pd(v0, v0));
        squares[1] = _mm_add_pd(squares[1], _mm_mul_pd(v1, v1));
        lo = _mm_min_pd(lo, _mm_min_pd(v0, v1));
        hi = _mm_max_pd(hi, _mm_max_pd(v0, v1));
    }
    const __m128d normal = _mm_set1_pd(minNormal);
    __m128d maxAbs[2] = {zero, zero}, minAbs[2] = {inf, inf};
    __m128i zeros = _mm_setzero_si128(), sub = _mm_setzero_si128();
    for (i = 0; i < even; i += 4) {
        for (int j = 0; j < 2; ++j) { // two chains: min and max wait on their last result
            const __m128d a = _mm_and_pd(_mm_loadu_pd(values + i + 2 * j), absMask);
            maxAbs[j] = _mm_max_pd(maxAbs[j], a);
            const __m128d isZero = _mm_cmpeq_pd(a, zero); // all ones: -1 as an integer
            zeros = _mm_sub_epi64(zeros, _mm_castpd_si128(isZero));
            sub = _mm_sub_epi64(sub,
                                _mm_castpd_si128(_mm_andnot_pd(isZero, _mm_cmplt_pd(a, normal))));
            minAbs[j] = _mm_min_pd(minAbs[j], _mm_or_pd(_mm_and_pd(isZero, inf), a));
        }
    }
    auto lanes = [](__m128d x, auto f) {
        double a[2];
        _mm_storeu_pd(a, x);
        return f(a[0], a[1]);
    };
    auto plus = [](double x, double y) { return x + y; };
    auto less = [](double x, double y) { return std::min(x, y); };
    auto more = [](double x, double y) { return std::max(x, y); };
    {
        double parts[8];
        _mm_storeu_pd(parts, sum[0]);
        _mm_storeu_pd(parts + 2, sum[1]);
        _mm_storeu_pd(parts + 4, error[0]);
        _mm_storeu_pd(parts + 6, error[1]);
        long double total = 0, compensation = 0;
        for (double part : parts)
            neumaierAdd(total, compensation, (long double)part);
        splitSum(total, compensation, out.total, out.totalError);
    }
    out.sumSq = lanes(_mm_add_pd(squares[0], squares[1]), plus);
    out.lo = lanes(lo, less);
    out.hi = lanes(hi, more);
    out.maxAbs = lanes(_mm_max_pd(maxAbs[0], maxAbs[1]), more);
    out.minAbs = lanes(_mm_min_pd(minAbs[0], minAbs[1]), less);
    uint64_t counts[2];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(counts), zeros);
    out.zeros = counts[0] + counts[1];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(counts), sub);
    out.sub = counts[0] + counts[1];
    i = even;
#endif
    for (; i < n; ++i)
        out.addScalar(values[i], minNormal);
    // Narrower values: the lanes can swallow a small value whole only beside running sums
    // 2^53 times its size, which needs max|x| · n beyond 2^43 · min|x| (F32 1e30, -1e30 and 1;
    // weights span about 2^23). Such a block, or one whose sum cancels to almost nothing, is
    // summed again with every rounding error kept, so that blocks cancelling each other keep
    // their small terms. Otherwise each addition's error is below max|x| · 2^-43.
    if (!packed && (out.maxAbs * double(n) > out.minAbs * 0x1p43 ||
                    std::fabs(out.total) < out.maxAbs * double(n) * 0x1p-40)) {
        long double total = 0, error = 0;
        for (size_t k = 0; k < n; ++k)
            neumaierAdd(total, error, (long double)values[k]);
        splitSum(total, error, out.total, out.totalError);
    }
    if (!packed) { // values at least 2^-24 apart relative: the rounded mean is close enough
        out.sum = out.total;
        out.sumError = out.totalError;
        const double mean = (out.total + out.totalError) / double(n);
        double m2[4] = {};
        for (i = 0; i + 4 <= n; i += 4)
            for (size_t j = 0; j < 4; ++j)
                m2[j] += (values[i + j] - mean) * (values[i + j] - mean);
        for (; i < n; ++i)
            m2[0] += (values[i] - mean) * (values[i] - mean);
        out.m2 = (m2[0] + m2[1]) + (m2[2] + m2[3]);
        return out;
    }
    // F64: the block's values less its first (exact for close values), summed to place its mean
    // exactly; their deviations from the mean as rounded, less what that rounding adds (the
    // corrected two-pass formula: the deviations' own sum, squared, over n).
    out.shift = values[0];
    const double mean = (out.total + out.totalError) / double(n) - out.shift; // about the shift
    double m2[4] = {}, off[4] = {};
    i = 0;
#if defined(__SSE2__)
    {
        const __m128d shift = _mm_set1_pd(out.shift), centre = _mm_set1_pd(mean);
        __m128d squares[2] = {_mm_setzero_pd(), _mm_setzero_pd()};
        __m128d sums[2] = {_mm_setzero_pd(), _mm_setzero_pd()};
        for (; i + 4 <= n; i += 4)
            for (int j = 0; j < 2; ++j) {
                const __m128d e = _mm_sub_pd(_mm_loadu_pd(values + i + 2 * j), shift);
                const __m128d d = _mm_sub_pd(e, centre);
                squares[j] = _mm_add_pd(squares[j], _mm_mul_pd(d, d));
                sums[j] = _mm_add_pd(sums[j], e);
            }
        _mm_storeu_pd(m2, squares[0]);
        _mm_storeu_pd(m2 + 2, squares[1]);
        _mm_storeu_pd(off, sums[0]);
        _mm_storeu_pd(off + 2, sums[1]);
    }
#endif
    for (; i + 4 <= n; i += 4)
        for (size_t j = 0; j < 4; ++j) {
            const double e = values[i + j] - out.shift, d = e - mean;
            m2[j] += d * d;
            off[j] += e;
        }
    for (; i < n; ++i) {
        const double e = values[i] - out.shift, d = e - mean;
        m2[0] += d * d;
        off[0] += e;
    }
    out.sum = (off[0] + off[1]) + (off[2] + off[3]);
    const double drift = out.sum - double(n) * mean; // the deviations' sum
    out.m2 = std::max(0.0, ((m2[0] + m2[1]) + (m2[2] + m2[3])) - drift * drift / double(n));
    return out;
}

// Moments of up to kBlock finite values, folded into `into` as one Chan step.
// `packed`: the dtype's values can lie closer than a double mean's rounding (F64).
void addBlock(Moments& into, const double* values, size_t n, double minNormal, bool packed) {
    if (n == 0) return;
    const BlockSums b = blockSums(values, n, minNormal, packed);

    Moments block;
    // Squares of F64 values beyond 2^±500 leave double's range (to Inf, or to 0): such a block
    // is summed again in extended precision. Every other dtype stays on the fast path.
    constexpr double kSquareSafeHigh = 0x1p500, kSquareSafeLow = 0x1p-500;
    if (b.maxAbs > kSquareSafeHigh || b.minAbs < kSquareSafeLow) {
        // Compensated: MAX, −MAX and 1e300 in one block would otherwise lose the 1e300.
        // About the first value: the double mean of such a block may be Inf.
        const double shift = values[0];
        long double wideSum = 0, sumError = 0, wideTotal = 0, totalError = 0, wideSquares = 0,
                    wideM2 = 0, drift = 0;
        for (size_t i = 0; i < n; ++i) {
            neumaierAdd(wideSum, sumError, (long double)values[i] - shift);
            neumaierAdd(wideTotal, totalError, (long double)values[i]);
            wideSquares += (long double)values[i] * values[i];
        }
        const long double wideMean = (wideSum + sumError) / (long double)n;
        for (size_t i = 0; i < n; ++i) {
            const long double d = ((long double)values[i] - shift) - wideMean;
            wideM2 += d * d;
            drift += d;
        }
        block.shift = shift;
        block.sum = wideSum;
        block.sumCompensation = sumError;
        block.total = wideTotal;
        block.totalCompensation = totalError;
        block.sumSquares = wideSquares;
        block.m2 = std::max(0.0L, wideM2 - drift * drift / (long double)n);
    } else {
        block.shift = b.shift;
        block.sum = b.sum;
        block.sumCompensation = b.sumError;
        block.total = b.total;
        block.totalCompensation = b.totalError;
        block.sumSquares = b.sumSq;
        block.m2 = b.m2;
    }
    block.count = n;
    block.zeros = b.zeros;
    block.subnormals = b.sub;
    block.min = b.lo;
    block.max = b.hi;
    block.maxAbs = b.maxAbs;
    block.minAbsNonzero = b.minAbs;
    into.merge(block);
}

// Moments of up to kBlock I64/U64 elements, folded into `into` as one Chan step. In extended
// precision about the block's first element: its 64-bit mantissa holds every difference of two
// such integers, so the deviations are exact where double would round them above 2^53.
template <class T> void addIntegerBlock(Moments& into, const T* values, size_t n) {
    if (n == 0) return;
    const __int128 first = values[0];
    __int128 lo = first, hi = first;
    long double sum = 0, squares = 0;
    __int128 exactSum = 0;
    double minAbs = kInf;
    uint64_t zeros = 0;
    for (size_t i = 0; i < n; ++i) {
        const __int128 x = values[i];
        lo = std::min(lo, x);
        hi = std::max(hi, x);
        if (x == 0)
            ++zeros;
        else
            minAbs = std::min(minAbs, std::fabs(double(x)));
        sum += (long double)(x - first);
        squares += (long double)x * (long double)x;
        exactSum += x;
    }
    const long double mean = sum / (long double)n;
    long double m2 = 0;
    for (size_t i = 0; i < n; ++i) {
        const long double d = (long double)(__int128(values[i]) - first) - mean;
        m2 += d * d;
    }
    Moments block;
    block.count = n;
    block.zeros = zeros;
    block.shift = (long double)first;
    block.sum = sum;
    block.sumSquares = squares;
    block.m2 = m2;
    block.min = double(lo);
    block.max = double(hi);
    block.maxAbs = std::max(std::fabs(double(lo)), std::fabs(double(hi)));
    block.minAbsNonzero = minAbs;
    block.addIntegerRange(lo, hi);
    block.intSum = exactSum;
    into.merge(block);
}

std::string integerText(__int128 v) {
    const bool negative = v < 0;
    unsigned __int128 u = negative ? 0 - (unsigned __int128)v : (unsigned __int128)v;
    std::string digits;
    do {
        digits.insert(digits.begin(), char('0' + int(u % 10)));
        u /= 10;
    } while (u);
    return negative ? "-" + digits : digits;
}

} // namespace

std::optional<std::string> exactIntegerText(const Moments& m, Extreme which) {
    if (!m.hasInteger || m.finite() == 0) return std::nullopt;
    switch (which) {
    case Extreme::Min:
        return integerText(m.intMin);
    case Extreme::Max:
        return integerText(m.intMax);
    case Extreme::MaxAbs:
        break;
    }
    const __int128 lo = m.intMin < 0 ? -m.intMin : m.intMin;
    const __int128 hi = m.intMax < 0 ? -m.intMax : m.intMax;
    return integerText(std::max(lo, hi));
}

std::optional<std::string> integerBinStart(const Moments& m, int bin) {
    if (!m.hasInteger || m.finite() == 0) return std::nullopt;
    // floor((x - min) * 64 / range) >= bin  <=>  x - min >= ceil(bin * range / 64)
    const auto range = (unsigned __int128)(m.intMax - m.intMin);
    const unsigned __int128 offset = (range * unsigned(bin) + kHistogramBins - 1) / kHistogramBins;
    return integerText(m.intMin + (__int128)offset);
}

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

namespace {

// The squares of `count` BF16 values (a multiple of 8), NaN and Inf left out. Eight separate
// sums let the compiler use vector lanes without reordering any one sum (which it may not do for
// doubles): 0.30 against 0.88 ns per element, measured on diff of W1. A BF16 square is exact in
// double.
double bf16Squares(const unsigned char* p, uint64_t count) {
    constexpr size_t kLanes = 8;
    double lanes[kLanes] = {};
    for (uint64_t i = 0; i < count; i += kLanes)
        for (size_t j = 0; j < kLanes; ++j) {
            const uint32_t bits = uint32_t(loadLe<uint16_t>(p + 2 * (i + j))) << 16;
            const uint32_t finite = 0u - uint32_t((bits & 0x7FFFFFFFu) < 0x7F800000u);
            const double d = double(std::bit_cast<float>(bits & finite));
            lanes[j] += d * d;
        }
    double sum = 0;
    for (double lane : lanes)
        sum += lane;
    return sum;
}

} // namespace

long double sumOfSquares(DType type, const void* bytes, uint64_t n) {
    const auto* p = static_cast<const unsigned char*>(bytes);
    double total = 0;
    if (type == DType::BF16) {
        // The common case. A sum per block: one running sum over a 4 MiB window of positive squares
        // drifted by 3e-12 relative (a rounding per addition, all one way).
        uint64_t i = 0;
        for (; i + kBlock <= n; i += kBlock)
            total += bf16Squares(p + 2 * i, kBlock);
        const uint64_t whole = (n - i) / 8 * 8;
        total += bf16Squares(p + 2 * i, whole);
        i += whole;
        for (; i < n; ++i) {
            const float f = std::bit_cast<float>(uint32_t(loadLe<uint16_t>(p + 2 * i)) << 16);
            if (std::isfinite(f)) total += double(f) * double(f);
        }
        return total;
    }
    double values[kBlock];
    const unsigned size = dtypeBits(type) / 8;
    long double wide = 0;                      // F64 squares leave double's range beyond 2^±511
    for (uint64_t i = 0; i < n; i += kBlock) { // a sum per block, as above
        const uint64_t k = std::min<uint64_t>(kBlock, n - i);
        decodeRun(type, p + i * size, k, values);
        double block = 0;
        for (uint64_t j = 0; j < k; ++j) {
            if (!std::isfinite(values[j])) continue;
            if (type == DType::F64)
                wide += (long double)values[j] * values[j];
            else
                block += values[j] * values[j];
        }
        total += block;
    }
    return wide + total;
}

// ---- Moments ----

double Moments::mean() const {
    const uint64_t n = finite();
    if (n && hasInteger) return double((long double)intSum / (long double)(n));
    if (n == 0) return kNaN;
    // About the shift the mean keeps the digits of values packed closer than their spacing
    // (1e16 + {0, 2, 4, 6}); the plain sum keeps those of a mean far below the shift (−2^31
    // and five small values), where the shift's own digits would swamp it.
    const long double plain = (total + totalCompensation) / (long double)(n);
    if (std::fabs(shift) > 1024 * std::fabs(plain)) return double(plain);
    return double(shift + (sum + sumCompensation) / (long double)(n));
}

double Moments::stddev() const {
    const uint64_t n = finite();
    return n ? double(std::sqrt(std::max(0.0L, m2) / (long double)(n))) : kNaN;
}

long double Moments::l2Extended() const {
    return std::sqrt(std::max(0.0L, sumSquares + sumSquaresCompensation));
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
    one.sum = one.total = (long double)value * (long double)n;
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
            shift = o.shift;
        } else {
            // The means about this shift: o's differ by whole integers when shifted apart.
            const long double apart = o.shift - shift;
            const long double meanA = (sum + sumCompensation) / (long double)(na);
            const long double meanB = apart + (o.sum + o.sumCompensation) / (long double)(nb);
            const long double delta = meanB - meanA;
            m2 += o.m2 +
                  delta * delta * ((long double)(na) * (long double)(nb) / (long double)(na + nb));
            min = std::min(min, o.min);
            max = std::max(max, o.max);
            if (apart != 0) neumaierAdd(sum, sumCompensation, apart * (long double)(nb));
        }
        maxAbs = std::max(maxAbs, o.maxAbs);
        minAbsNonzero = std::min(minAbsNonzero, o.minAbsNonzero);
        if (o.hasInteger) {
            addIntegerRange(o.intMin, o.intMax);
            intSum += o.intSum;
        }
        neumaierAdd(sum, sumCompensation, o.sum);
        neumaierAdd(sum, sumCompensation, o.sumCompensation);
        neumaierAdd(total, totalCompensation, o.total);
        neumaierAdd(total, totalCompensation, o.totalCompensation);
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
    // Wide dtypes: every finite element itself while there are at most kExactLimit, so the
    // histograms of small tensors (norms, biases: narrow ranges) are binned exactly. The bits of
    // its double, or of its integer for I64/U64 (whose doubles may round).
    std::vector<uint64_t> exact;
    bool exactValid = true;

    void addExact(const void* elements, size_t n) {
        if (!exactValid || n == 0) return; // n == 0: `elements` may be null
        if (exact.size() + n > kExactLimit) return dropExact();
        const size_t at = exact.size();
        exact.resize(at + n);
        std::memcpy(exact.data() + at, elements, n * sizeof(uint64_t));
    }
    void dropExact() {
        exactValid = false;
        std::vector<uint64_t>().swap(exact);
    }

    void addKeys(const uint16_t* keys, size_t n) {
        if (used) {
            for (size_t i = 0; i < n; ++i)
                ++dense[keys[i]];
        } else {
            sparse.insert(sparse.end(), keys, keys + n);
            sorted = false;
        }
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
    if constexpr (sizeof(T) == 8 && std::is_integral_v<T>) {
        addWideIntegers<T>(p, count);
        return;
    }
    const double normal = minNormal(m_type);
    double block[kBlock];
    uint16_t keys[kBlock];
    m_keys->makeDenseFor(count);
    if (count > kExactLimit) m_keys->dropExact(); // not kept: no need to copy them first
    // A block at a time, each step a loop of its own without branches: decoding, keying and
    // summing element by element measured 2.8 ns an F32 element; the rare non-finite elements
    // are taken out afterwards.
    for (uint64_t at = 0; at < count; at += kBlock) {
        const size_t n = size_t(std::min<uint64_t>(kBlock, count - at));
        bool finite = true;
        for (size_t i = 0; i < n; ++i) {
            const T raw = loadLe<T>(p + (at + i) * sizeof(T));
            const double v = double(raw);
            block[i] = v;
            keys[i] = wideKeyOf(raw);
            finite &= std::fabs(v) <= DBL_MAX; // false for NaN too
        }
        m_keys->addKeys(keys, n);
        size_t kept = n;
        if (!finite) {
            kept = 0;
            for (size_t i = 0; i < n; ++i) {
                if (std::isfinite(block[i]))
                    block[kept++] = block[i];
                else
                    m_moments.addNonFinite(block[i], 1);
            }
        }
        addBlock(m_moments, block, kept, normal, m_type == DType::F64);
        m_keys->addExact(block, kept);
    }
}

template <class T> void ValueAccumulator::addWideIntegers(const unsigned char* p, uint64_t count) {
    T block[kBlock];
    uint16_t keys[kBlock];
    m_keys->makeDenseFor(count);
    if (count > kExactLimit) m_keys->dropExact();
    for (uint64_t at = 0; at < count; at += kBlock) {
        const size_t n = size_t(std::min<uint64_t>(kBlock, count - at));
        for (size_t i = 0; i < n; ++i) {
            block[i] = loadLe<T>(p + (at + i) * sizeof(T));
            keys[i] = wideKey(double(block[i]));
        }
        m_keys->addKeys(keys, n);
        addIntegerBlock(m_moments, block, n);
        m_keys->addExact(block, n);
    }
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

// The exact sign of a + b + c (extended, far from overflow): the three summed into an
// expansion of nonoverlapping parts (TwoSum, Shewchuk's Grow-Expansion), whose largest nonzero
// part has the sign of the whole.
int signOfSum(long double a, long double b, long double c) {
    auto twoSum = [](long double x, long double y, long double& error) {
        const long double sum = x + y, bv = sum - x;
        error = (x - (sum - bv)) + (y - bv);
        return sum;
    };
    long double e1, h0, h1;
    const long double s1 = twoSum(a, b, e1);
    const long double q1 = twoSum(c, e1, h0);
    const long double h2 = twoSum(q1, s1, h1);
    for (const long double part : {h2, h1, h0})
        if (part != 0) return part > 0 ? 1 : -1;
    return 0;
}

// Which of 64 bins from min to max of the finite values a value falls in: floor((v - min) /
// (max - min) * 64) exactly (the ratio in double, settled exactly when it lies near an edge),
// or for I64/U64 the same in integers (their doubles round above 2^53, so close integers
// would share a bin).
class LinearBins {
public:
    explicit LinearBins(const Moments& m) : m_empty(m.finite() == 0) {
        if (m_empty) return;
        m_lo = m.min;
        m_hi = m.max;
        m_width = m_hi - m_lo;
        m_integer = m.hasInteger;
        m_intLo = m.intMin;
        m_intHi = m.intMax;
    }
    bool empty() const { return m_empty; }
    bool integer() const { return m_integer; }
    Histogram histogram() const { return {m_lo, m_hi, {}}; }
    int integerBin(__int128 x) const {
        const auto range = (unsigned __int128)(m_intHi - m_intLo);
        if (range == 0 || x <= m_intLo) return 0;
        const auto offset = (unsigned __int128)(x - m_intLo);
        return offset >= range ? kHistogramBins - 1 : int(offset * kHistogramBins / range);
    }
    // The integer in [min, max] nearest a double (I64/U64).
    __int128 toInteger(double v) const {
        if (!(v > double(m_intLo))) return m_intLo;
        if (!(v < double(m_intHi))) return m_intHi;
        return std::clamp(__int128(v), m_intLo, m_intHi);
    }
    int bin(double v) const {
        if (m_integer) return integerBin(toInteger(v));
        if (!(m_width > 0)) return 0;
        const double at = std::isfinite(m_width)
                              ? (v - m_lo) / m_width * kHistogramBins
                              // a range beyond double: halve before dividing
                              : (v / 2 - m_lo / 2) / (m_hi / 2 - m_lo / 2) * kHistogramBins;
        const int bin = binOf(at);
        // The ratio's roundings (a few units in its last place) can cross an edge only near
        // one, such as 2^121 against min 2^-127 and max 2^127, which is 1 in double and just
        // under it exactly. (The fraction by truncation: nearbyint is a call without SSE4.1.)
        const double fraction = at - double(bin);
        return fraction < 1e-9 || fraction > 1 - 1e-9 ? settle(v, bin) : bin;
    }

private:
    // Whether v is at or above the lower edge of bin k: 64 (v - lo) >= k (hi - lo), that is
    // 64 v + (k - 64) lo - k hi >= 0, each product exact in extended precision (7 + 53 bits).
    bool atOrAbove(double v, int k) const {
        return signOfSum(64.0L * v, (long double)(k - kHistogramBins) * m_lo,
                         -(long double)k * m_hi) >= 0;
    }
    int settle(double v, int bin) const {
        while (bin > 0 && !atOrAbove(v, bin))
            --bin;
        while (bin + 1 < kHistogramBins && atOrAbove(v, bin + 1))
            ++bin;
        return bin;
    }

    bool m_empty;
    bool m_integer = false;
    double m_lo = 0, m_hi = 0, m_width = 0;
    __int128 m_intLo = 0, m_intHi = 0;
};

// Which of 64 bins of log|x| over the finite nonzero values a log2|x| falls in. The bins are
// those of log10 (the ratio does not depend on the base), taken in base 2 so that powers of
// two, such as every F8_E8M0 value, have exact logarithms and land on the edges they lie on; and
// with one rounding, (lg - lo) * 64 / width, for the same reason.
//
// Wide dtypes are binned by magnitude instead (magnitudeBin): log2 in double cannot tell apart
// F64 values closer than about 1e-16 relative, such as 1e16 + {0, 2, 4, 6}, which all fell in bin
// 0. Over a range narrower than a factor of 2 the position is log1p((a - min) / min) /
// log1p((max - min) / min) in extended precision, whose differences of close doubles are exact;
// over a wider one it is log2 in extended precision, exact for powers of two as in double. Off
// an edge by more than about 1e-18 relative (1e-16 over ranges as wide as 1e±300), a magnitude
// lands in its bin.
class LogBins {
public:
    explicit LogBins(const Moments& m) : m_empty(m.finite() == m.zeros) {
        if (m_empty) return;
        m_lo = std::log2(m.minAbsNonzero);
        m_width = std::log2(m.maxAbs) - m_lo;
        m_lo10 = std::log10(m.minAbsNonzero);
        m_hi10 = std::log10(m.maxAbs);
        m_min = m.minAbsNonzero;
        m_packed = m.maxAbs < 2 * m.minAbsNonzero; // one formulation per tensor: monotonic
        m_logMin = std::log2((long double)m_min);
        m_range = m_packed ? std::log1p(((long double)m.maxAbs - m_min) / m_min)
                           : std::log2((long double)m.maxAbs) - m_logMin;
    }
    bool empty() const { return m_empty; }
    Histogram histogram() const { return {m_lo10, m_hi10, {}}; } // lo and hi in log10
    int bin(double lg) const {
        return m_width > 0 ? binOf((lg - m_lo) * kHistogramBins / m_width) : 0;
    }
    int magnitudeBin(double a) const {
        if (!(m_range > 0)) return 0;
        const long double position = m_packed ? std::log1p(((long double)a - m_min) / m_min)
                                              : std::log2((long double)a) - m_logMin;
        const long double at = position * kHistogramBins / m_range; // as bin(): one rounding
        // Cut in extended precision: 31.9999999999999986 would round to 32 as a double.
        if (!(at >= 0)) return 0;
        return at < kHistogramBins ? int(at) : kHistogramBins - 1;
    }

private:
    bool m_empty;
    double m_lo = 0, m_width = 0, m_lo10 = 0, m_hi10 = 0;
    bool m_packed = false;
    long double m_min = 0, m_logMin = 0, m_range = 0;
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
        m.sum = m.total = sum;
        m.sumCompensation = m.totalCompensation = sumCompensation;
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
    const double* logs = t.log2Abs.data();
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
    const double* logs = t.log2Abs.data();
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

double ValueAccumulator::exactValue(uint64_t bits) const {
    if (m_type == DType::I64) return double(int64_t(bits));
    if (m_type == DType::U64) return double(bits);
    return std::bit_cast<double>(bits);
}

int ValueAccumulator::exactLinearBin(const LinearBins& bins, uint64_t bits) const {
    if (m_type == DType::I64) return bins.integerBin(int64_t(bits));
    if (m_type == DType::U64) return bins.integerBin(bits);
    return bins.bin(std::bit_cast<double>(bits));
}

Histogram ValueAccumulator::linearHistogram() const {
    const Moments& m = moments();
    const LinearBins bins(m);
    if (bins.empty()) return {};
    Histogram h = bins.histogram();
    if (!isNarrow(m_type) && m_keys->exactValid) {
        for (uint64_t bits : m_keys->exact)
            ++h.counts[size_t(exactLinearBin(bins, bits))];
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
        for (uint64_t bits : m_keys->exact)
            if (const double v = exactValue(bits); v != 0)
                ++h.counts[size_t(bins.magnitudeBin(std::fabs(v)))];
        return h;
    }
    const double* logs = keyTables(isNarrow(m_type) ? m_type : DType::BF16).log2Abs.data();
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
        h.counts[size_t(isNarrow(m_type) ? bins.bin(lg)
                                         : bins.magnitudeBin(std::fabs(keyValue(key))))] += n;
    });
    // Wide zeros and tiny values share the zero key: take the true zeros back out of bin 0.
    if (!isNarrow(m_type)) h.counts[0] -= std::min(h.counts[0], m.zeros);
    return h;
}

// The sums of a wide tensor whose finite elements are all kept, taken again over them in
// value order: the same values give the same digits however the tensor is split into chunks
// and windows (the window sums would otherwise be added in the chunks' order). Counts and
// extremes do not depend on the order and stay.
Moments ValueAccumulator::inValueOrder(const Moments& m) const {
    if (isNarrow(m_type) || !m_keys->exactValid || m_keys->exact.size() < 2) return m;
    std::vector<uint64_t> bits = m_keys->exact;
    Moments again;
    if (m_type == DType::I64 || m_type == DType::U64) {
        const bool isSigned = m_type == DType::I64;
        // Signed integers sort as unsigned once the sign bit is flipped.
        const uint64_t flip = isSigned ? uint64_t(1) << 63 : 0;
        for (uint64_t& b : bits)
            b ^= flip;
        std::sort(bits.begin(), bits.end());
        for (uint64_t& b : bits)
            b ^= flip;
        for (size_t at = 0; at < bits.size(); at += kBlock) {
            const size_t n = std::min(kBlock, bits.size() - at);
            if (isSigned)
                addIntegerBlock(again, reinterpret_cast<const int64_t*>(bits.data() + at), n);
            else
                addIntegerBlock(again, bits.data() + at, n);
        }
    } else {
        std::vector<double> values(bits.size());
        for (size_t i = 0; i < bits.size(); ++i)
            values[i] = std::bit_cast<double>(bits[i]);
        std::sort(values.begin(), values.end()); // -0 and +0 are equal: either order sums alike
        const double normal = minNormal(m_type);
        for (size_t at = 0; at < values.size(); at += kBlock)
            addBlock(again, values.data() + at, std::min(kBlock, values.size() - at), normal,
                     m_type == DType::F64);
    }
    Moments out = m;
    out.sum = again.sum;
    out.sumCompensation = again.sumCompensation;
    out.total = again.total;
    out.totalCompensation = again.totalCompensation;
    out.sumSquares = again.sumSquares;
    out.sumSquaresCompensation = again.sumSquaresCompensation;
    out.m2 = again.m2;
    out.intSum = again.intSum;
    out.shift = again.shift;
    return out;
}

ValueSummary ValueAccumulator::summary() const {
    if (!isNarrow(m_type) || !m_narrowDirty || !m_keys->used)
        return {inValueOrder(moments()), linearHistogram(), logHistogram()};
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

// ---- HistogramRefinement ----

struct HistogramRefinement::Impl {
    // A key whose magnitudes span log bins first ... first + (end - begin): an element's bin is
    // first plus the number of thresholds[begin, end) at or below its magnitude, each the
    // smallest magnitude of the next bin, found once by bisection (log2 per element measured
    // a third of the second read).
    struct LogSpan {
        int first;
        uint32_t begin, end;
    };
    DType type;
    LinearBins linearBins;
    LogBins logBins;
    Histogram linear, log;
    std::vector<uint16_t> linearKeys, logKeys; // binned element by element
    std::vector<LogSpan> logSpans;             // parallel to logKeys
    std::vector<double> thresholds;
    uint64_t id; // tells threads' key slots apart

    int logBin(double magnitude, const LogSpan& span) const {
        int bin = span.first;
        for (uint32_t t = span.begin; t < span.end; ++t)
            bin += magnitude >= thresholds[t];
        return bin;
    }
    // Magnitudes [lo, hi] of a key (clipped to the tensor's): its span, thresholds added.
    void addLogKey(uint16_t key, double lo, double hi) {
        const int first = logBins.magnitudeBin(lo), last = logBins.magnitudeBin(hi);
        const auto begin = uint32_t(thresholds.size());
        for (int b = first + 1; b <= last; ++b) { // the smallest magnitude in bin b or above
            uint64_t below = std::bit_cast<uint64_t>(lo), at = std::bit_cast<uint64_t>(hi);
            while (at - below > 1) { // positive doubles order as their bits
                const uint64_t mid = below + (at - below) / 2;
                (logBins.magnitudeBin(std::bit_cast<double>(mid)) >= b ? at : below) = mid;
            }
            thresholds.push_back(std::bit_cast<double>(at));
        }
        logKeys.push_back(key);
        logSpans.push_back({first, begin, uint32_t(thresholds.size())});
    }
};

namespace {

std::atomic<uint64_t> g_refinementIds{0};

// The values an element of a wide dtype under `key` can have, [lo, hi] (only finite keys). The
// key is its F32 cut toward zero, so the F32 lies in [key, next key); an F64 rounded to that F32
// lies within half an F32 step of it, hence the step below.
std::pair<double, double> wideKeyRange(uint16_t key) {
    const uint32_t magnitude = key & 0x7FFFu;
    const float a = std::bit_cast<float>(magnitude << 16);
    const float b = std::bit_cast<float>((magnitude + 1) << 16); // +Inf past the largest
    const double low = a > 0 ? double(std::nextafter(a, 0.0f)) : 0.0, high = double(b);
    return key & 0x8000u ? std::pair{-high, -low} : std::pair{low, high};
}

bool isIntegral64(DType type) {
    return type == DType::I64 || type == DType::U64;
}

// Whether every value in [lo, hi] falls in one linear bin; adds `n` to it when so.
bool binsWhole(const LinearBins& bins, double lo, double hi, const Moments& m, bool integral,
               uint64_t n, Histogram& h) {
    int first, last;
    if (integral) {
        // An I64/U64 rounds to its double by up to 2^10 above 2^63: widen by more.
        constexpr __int128 kSlack = 4096;
        first = bins.integerBin(std::max(bins.toInteger(lo) - kSlack, m.intMin));
        last = bins.integerBin(std::min(bins.toInteger(hi) + kSlack, m.intMax));
    } else {
        lo = std::max(lo, m.min);
        hi = std::min(hi, m.max);
        if (lo > hi) return false;
        first = bins.bin(lo);
        last = bins.bin(hi);
    }
    if (first != last) return false;
    h.counts[size_t(first)] += n;
    return true;
}

// The same for the log bins of magnitudes in [lo, hi] (0 < lo).
bool logBinsWhole(const LogBins& bins, double lo, double hi, const Moments& m, uint64_t n,
                  Histogram& h) {
    lo = std::max(lo, m.minAbsNonzero);
    hi = std::min(hi, m.maxAbs);
    if (lo > hi) return false;
    const int first = bins.magnitudeBin(lo), last = bins.magnitudeBin(hi);
    if (first != last) return false;
    h.counts[size_t(first)] += n;
    return true;
}

// The calling thread's slot per key for one refinement, set up again only when the thread moves
// to another: bit 15 for a linear key, the rest its log span's index + 1 (0: none).
// A bit per key as well, for the first look at every element: 8 KiB stay in L1 where the 128 KiB
// of slots do not.
constexpr uint16_t kLinearSlot = 0x8000;
struct KeySlots {
    std::vector<uint16_t> slots;
    std::vector<uint64_t> bits;
    uint64_t forId = ~uint64_t(0);

    bool picked(uint16_t key) const { return (bits[key >> 6] >> (key & 63)) & 1; }
};
const KeySlots& keySlots(const HistogramRefinement::Impl& r) {
    static thread_local KeySlots k;
    if (k.forId != r.id) {
        k.slots.assign(kKeySpace, 0);
        k.bits.assign(kKeySpace / 64, 0);
        for (uint16_t key : r.linearKeys)
            k.slots[key] |= kLinearSlot;
        for (size_t i = 0; i < r.logKeys.size(); ++i)
            k.slots[r.logKeys[i]] |= uint16_t(i + 1);
        for (size_t key = 0; key < kKeySpace; ++key)
            if (k.slots[key]) k.bits[key >> 6] |= uint64_t(1) << (key & 63);
        k.forId = r.id;
    }
    return k;
}

template <class T>
void refineRun(const HistogramRefinement::Impl& r, const unsigned char* p, uint64_t count,
               Histogram& linear, Histogram& log) {
    const KeySlots& keys = keySlots(r);
    const uint16_t* slots = keys.slots.data();
    // First the positions whose keys need binning, without a branch (most do not, at random),
    // then those elements.
    constexpr size_t kStep = 4096;
    uint32_t picked[kStep];
    for (uint64_t at = 0; at < count; at += kStep) {
        const size_t n = size_t(std::min<uint64_t>(kStep, count - at));
        const unsigned char* block = p + at * sizeof(T);
        size_t m = 0;
        for (size_t i = 0; i < n; ++i) {
            picked[m] = uint32_t(i);
            m += keys.picked(wideKeyOf(loadLe<T>(block + i * sizeof(T))));
        }
        for (size_t j = 0; j < m; ++j) {
            const T raw = loadLe<T>(block + picked[j] * sizeof(T));
            const double v = double(raw);
            if (!std::isfinite(v)) continue;
            const uint16_t slot = slots[wideKeyOf(raw)];
            if (slot & kLinearSlot) {
                if constexpr (sizeof(T) == 8 && std::is_integral_v<T>)
                    ++linear.counts[size_t(r.linearBins.integerBin(raw))];
                else
                    ++linear.counts[size_t(r.linearBins.bin(v))];
            }
            if (const uint16_t span = slot & ~kLinearSlot; span && v != 0)
                ++log.counts[size_t(r.logBin(std::fabs(v), r.logSpans[span - 1]))];
        }
    }
}

} // namespace

HistogramRefinement::HistogramRefinement(std::unique_ptr<const Impl> impl)
    : m_impl(std::move(impl)) {}
HistogramRefinement::~HistogramRefinement() = default;

const Histogram& HistogramRefinement::linear() const {
    return m_impl->linear;
}

const Histogram& HistogramRefinement::log() const {
    return m_impl->log;
}

void HistogramRefinement::add(const void* bytes, uint64_t count, Histogram& linear,
                              Histogram& log) const {
    const auto* p = static_cast<const unsigned char*>(bytes);
    switch (m_impl->type) {
    case DType::F32:
        return refineRun<float>(*m_impl, p, count, linear, log);
    case DType::F64:
        return refineRun<double>(*m_impl, p, count, linear, log);
    case DType::I32:
        return refineRun<int32_t>(*m_impl, p, count, linear, log);
    case DType::U32:
        return refineRun<uint32_t>(*m_impl, p, count, linear, log);
    case DType::I64:
        return refineRun<int64_t>(*m_impl, p, count, linear, log);
    default:
        return refineRun<uint64_t>(*m_impl, p, count, linear, log);
    }
}

std::unique_ptr<const HistogramRefinement> ValueAccumulator::refinement(const Moments& m) const {
    if (isNarrow(m_type) || m_keys->exactValid || m.finite() == 0) return nullptr;
    auto r = std::make_unique<HistogramRefinement::Impl>(HistogramRefinement::Impl{
        m_type, LinearBins(m), LogBins(m), {}, {}, {}, {}, {}, {}, ++g_refinementIds});
    r->linear = r->linearBins.histogram();
    if (!r->logBins.empty()) r->log = r->logBins.histogram();
    const bool integral = isIntegral64(m_type);
    // Nonzero values under a zero key: smaller than the smallest nonzero key.
    const double smallestKey = wideKeyRange(0).second;
    m_keys->forEach([&](uint16_t key, uint64_t n) {
        const double v = keyValue(key);
        if (std::isnan(v)) return;
        if (std::isinf(v)) { // finite F64 values beyond F32's range share it with the infinities
            if (beyondF32(v, n, m) == 0) return;
            r->linearKeys.push_back(key);
            if (!r->logBins.empty())
                r->addLogKey(key, std::max(double(FLT_MAX), m.minAbsNonzero), m.maxAbs);
            return;
        }
        const auto [lo, hi] = wideKeyRange(key);
        if (!binsWhole(r->linearBins, lo, hi, m, integral, n, r->linear))
            r->linearKeys.push_back(key);
        if (r->logBins.empty()) return;
        if (v == 0) { // zeros are in no log bin; tiny values under the key are
            if (m.minAbsNonzero < smallestKey)
                r->addLogKey(key, m.minAbsNonzero, std::min(smallestKey, m.maxAbs));
            return;
        }
        const double a = std::max(std::min(std::fabs(lo), std::fabs(hi)), m.minAbsNonzero);
        const double b = std::min(std::max(std::fabs(lo), std::fabs(hi)), m.maxAbs);
        if (a > b) // no magnitude of the key is the tensor's: bin each element anyway
            r->addLogKey(key, m.minAbsNonzero, m.maxAbs);
        else if (!logBinsWhole(r->logBins, a, b, m, n, r->log))
            r->addLogKey(key, a, b);
    });
    if (r->linearKeys.empty() && r->logKeys.empty()) return nullptr;
    // Slots hold a log key's index in 15 bits; the keys spanning a bin edge are a few per edge.
    if (r->logKeys.size() >= kLinearSlot) throw std::logic_error("refinement: too many log keys");
    return std::make_unique<const HistogramRefinement>(std::move(r));
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
