// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// Value statistics (value_stats.h) and checkpoint statistics and findings (tensor_stats.h).
//
// Expected values never come from the code under test: bit patterns are written here as hex
// literals and expected results as literals, or as long double reductions this file computes
// from values it decodes with its own decoder (refDecode below, written from the format
// definitions and itself checked against the literals in decodeElement()).
//
// Readings of the contract chosen where it leaves room (from the header comments):
// - decodeElement decodes -0 as -0.0 ("IEEE/OCP decoding").
// - F8_E8M0 has no zero and no subnormals: its minNormal() is only required to be <= 2^-127.
// - min/max are doubles: an I64/U64 extreme is compared with its double conversion
//   (INT64_MAX -> 2^63, UINT64_MAX -> 2^64).
// - Mean and standard deviation of hand-chosen arrays are compared within a tolerance relative
//   to the RMS of the data (the error bound of the documented blocked double sums, which
//   scales with sum |x|); the precision tests use strictly relative tolerances.
// - Histograms: a value exactly on a bin edge may fall either side (bin = floor of a rounded
//   quotient); the last edge (the maximum) belongs to bin 63. For dtypes wider than 16 bits the
//   key is the value truncated to BF16, so a value may move toward zero by up to 2^-7 relative
//   (the header's "within 0.4% of a bin edge"; truncation to 8 significant bits allows 2^-7).
//   A wide value below 2^-126 has no such key (BF16 subnormals, nothing below 2^-133) and may
//   be counted in a lower bin, down to bin 0, but must be counted. A wide value above BF16's
//   range is held to the header's promise: it lies between min and max, so its bin is its own
//   (wideValuesBeyondBf16Range).
// - Findings: an all-zero tensor is AllZeros only (not also ConstantTensor, which the brief
//   describes as "constant nonzero", nor ZeroChunk, which needs other chunks not to be zero);
//   a zero chunk's RMS is not the "smallest nonzero" of NormSpread. Sorting "by tensor, then
//   kind" is read as fqn order, then the ErrorKind's numeric order.
// - progress: bytesDone never decreases between calls and the last call has bytesDone ==
//   bytesTotal; CheckpointStats::bytesRead is the same total.

#include "checkpoint.h"
#include "checkpoint_diff.h"
#include "dcp_builder.h"
#include "error.h"
#include "shard_builder.h"
#include "tensor_stats.h"
#include "value_stats.h"

#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

using namespace shardscope;
using namespace testing;
namespace fs = std::filesystem;

namespace {

using LD = long double;
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();
const LD kNaNL = std::numeric_limits<LD>::quiet_NaN();
const LD kInfL = std::numeric_limits<LD>::infinity();

// ---------------------------------------------------------------------------------------------
// The test's own decoding, written from the format definitions.

size_t itemBytes(DType t) {
    switch (t) {
    case DType::BOOL:
    case DType::U8:
    case DType::I8:
    case DType::F8_E4M3:
    case DType::F8_E5M2:
    case DType::F8_E8M0:
    case DType::F8_E4M3FNUZ:
    case DType::F8_E5M2FNUZ:
        return 1;
    case DType::I16:
    case DType::U16:
    case DType::F16:
    case DType::BF16:
        return 2;
    case DType::I32:
    case DType::U32:
    case DType::F32:
        return 4;
    case DType::I64:
    case DType::U64:
    case DType::F64:
    case DType::C64:
        return 8;
    default:
        return 0;
    }
}

bool isWide(DType t) { // keyed by a BF16 truncation rather than by its own bit pattern
    return itemBytes(t) > 2;
}

enum class Style {
    Ieee, // all-ones exponent: Inf (mantissa 0) or NaN
    Fn,   // no Inf; only the all-ones exponent with all-ones mantissa is NaN
    Fnuz, // no Inf, no -0: the pattern of -0 is the only NaN
};

LD miniFloat(uint32_t bits, int expBits, int manBits, int bias, Style style) {
    const bool negative = (bits >> (expBits + manBits)) & 1u;
    const uint32_t e = (bits >> manBits) & ((1u << expBits) - 1);
    const uint32_t m = bits & ((1u << manBits) - 1);
    const uint32_t eMax = (1u << expBits) - 1, mMax = (1u << manBits) - 1;
    if (style == Style::Fnuz && negative && e == 0 && m == 0) return kNaNL;
    if (style == Style::Ieee && e == eMax) return m ? kNaNL : (negative ? -kInfL : kInfL);
    if (style == Style::Fn && e == eMax && m == mMax) return kNaNL;
    const LD magnitude = e == 0 ? std::ldexp(LD(m), 1 - bias - manBits)
                                : std::ldexp(LD(m + (1u << manBits)), int(e) - bias - manBits);
    return negative ? -magnitude : magnitude;
}

template <class T> T load(const unsigned char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

LD refDecode(DType t, const unsigned char* p) {
    switch (t) {
    case DType::BOOL:
        return p[0] ? 1 : 0;
    case DType::U8:
        return p[0];
    case DType::I8:
        return int8_t(p[0]);
    case DType::I16:
        return load<int16_t>(p);
    case DType::U16:
        return load<uint16_t>(p);
    case DType::I32:
        return load<int32_t>(p);
    case DType::U32:
        return load<uint32_t>(p);
    case DType::I64:
        return LD(load<int64_t>(p));
    case DType::U64:
        return LD(load<uint64_t>(p));
    case DType::F32:
        return load<float>(p);
    case DType::F64:
        return load<double>(p);
    case DType::F16:
        return miniFloat(load<uint16_t>(p), 5, 10, 15, Style::Ieee);
    case DType::BF16:
        return miniFloat(load<uint16_t>(p), 8, 7, 127, Style::Ieee);
    case DType::F8_E4M3:
        return miniFloat(p[0], 4, 3, 7, Style::Fn);
    case DType::F8_E5M2:
        return miniFloat(p[0], 5, 2, 15, Style::Ieee);
    case DType::F8_E4M3FNUZ:
        return miniFloat(p[0], 4, 3, 8, Style::Fnuz);
    case DType::F8_E5M2FNUZ:
        return miniFloat(p[0], 5, 2, 16, Style::Fnuz);
    case DType::F8_E8M0:
        return p[0] == 0xFF ? kNaNL : std::ldexp(1.0L, int(p[0]) - 127);
    default:
        return kNaNL;
    }
}

std::vector<LD> refDecodeAll(DType t, const std::string& bytes) {
    const size_t w = itemBytes(t);
    std::vector<LD> out(bytes.size() / w);
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    for (size_t i = 0; i < out.size(); ++i)
        out[i] = refDecode(t, p + i * w);
    return out;
}

// The smallest positive normal magnitude; 0 where nothing is subnormal.
LD refMinNormal(DType t) {
    switch (t) {
    case DType::F64:
        return 0x1p-1022L;
    case DType::F32:
    case DType::BF16:
        return 0x1p-126L;
    case DType::F16:
    case DType::F8_E5M2:
        return 0x1p-14L;
    case DType::F8_E4M3:
        return 0x1p-6L;
    case DType::F8_E4M3FNUZ:
        return 0x1p-7L;
    case DType::F8_E5M2FNUZ:
        return 0x1p-15L;
    default:
        return 0;
    }
}

template <class T> std::string bytesOf(const std::vector<T>& values) {
    std::string out(values.size() * sizeof(T), '\0');
    if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
    return out;
}

// Little-endian bytes of `bits`, `width` bytes of it.
std::string bitsBytes(uint64_t bits, size_t width) {
    std::string out(width, '\0');
    for (size_t i = 0; i < width; ++i)
        out[i] = char((bits >> (8 * i)) & 0xFF);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Long double reference moments.

struct Compensated { // Neumaier, in long double
    LD s = 0, c = 0;
    void add(LD x) {
        const LD t = s + x;
        if (std::fabs(s) >= std::fabs(x))
            c += (s - t) + x;
        else
            c += (x - t) + s;
        s = t;
    }
    LD value() const { return s + c; }
};

struct Ref {
    uint64_t count = 0, nan = 0, posInf = 0, negInf = 0, zeros = 0, subnormals = 0, finite = 0;
    LD min = kNaNL, max = kNaNL, maxAbs = 0, minAbsNonzero = kInfL;
    LD sum = 0, sumSquares = 0, m2 = 0;
    LD mean() const { return finite ? sum / LD(finite) : kNaNL; }
    LD stddev() const { return finite ? std::sqrt(m2 / LD(finite)) : kNaNL; }
    LD l2() const { return std::sqrt(sumSquares); }
    LD rms() const { return finite ? std::sqrt(sumSquares / LD(finite)) : kNaNL; }
};

// Two passes over at(0) .. at(n - 1).
template <class At> Ref referenceOf(uint64_t n, At at, LD minNormal) {
    Ref r;
    Compensated sum, squares;
    for (uint64_t i = 0; i < n; ++i) {
        const LD v = at(i);
        ++r.count;
        if (std::isnan(v)) {
            ++r.nan;
            continue;
        }
        if (std::isinf(v)) {
            ++(v > 0 ? r.posInf : r.negInf);
            continue;
        }
        ++r.finite;
        const LD a = std::fabs(v);
        if (v == 0) {
            ++r.zeros;
        } else {
            if (a < minNormal) ++r.subnormals;
            r.minAbsNonzero = std::min(r.minAbsNonzero, a);
        }
        r.min = std::isnan(r.min) ? v : std::min(r.min, v);
        r.max = std::isnan(r.max) ? v : std::max(r.max, v);
        r.maxAbs = std::max(r.maxAbs, a);
        sum.add(v);
        squares.add(v * v);
    }
    r.sum = sum.value();
    r.sumSquares = squares.value();
    if (r.finite) {
        const LD mean = r.sum / LD(r.finite);
        Compensated m2;
        for (uint64_t i = 0; i < n; ++i) {
            const LD v = at(i);
            if (std::isfinite(v)) m2.add((v - mean) * (v - mean));
        }
        r.m2 = m2.value();
    }
    return r;
}

Ref referenceOf(const std::vector<LD>& values, LD minNormal) {
    return referenceOf(
        values.size(), [&](uint64_t i) { return values[i]; }, minNormal);
}

// ---------------------------------------------------------------------------------------------
// Comparisons with context in the failure message.

QString num(LD v) {
    return QString::number(double(v), 'g', 17);
}

bool nearValue(double actual, LD expected, LD tolerance) {
    if (std::isnan(expected)) return std::isnan(actual);
    if (std::isinf(expected)) return LD(actual) == expected;
    return std::fabs(LD(actual) - expected) <= tolerance;
}

#define EXPECT_EXACT(ctx, actual, expected)                                                        \
    do {                                                                                           \
        const double a_ = (actual);                                                                \
        const double e_ = double(expected);                                                        \
        QVERIFY2((std::isnan(a_) && std::isnan(e_)) || a_ == e_,                                   \
                 qPrintable(QStringLiteral("%1: %2 = %3, expected %4")                             \
                                .arg(QString(ctx), QLatin1String(#actual), num(a_), num(e_))));    \
    } while (false)

#define EXPECT_NEAR(ctx, actual, expected, tolerance)                                              \
    do {                                                                                           \
        const double a_ = (actual);                                                                \
        const LD e_ = (expected);                                                                  \
        const LD t_ = (tolerance);                                                                 \
        QVERIFY2(nearValue(a_, e_, t_),                                                            \
                 qPrintable(QStringLiteral("%1: %2 = %3, expected %4 (difference %5, tolerance "   \
                                           "%6)")                                                  \
                                .arg(QString(ctx), QLatin1String(#actual), num(a_), num(e_),       \
                                     num(LD(a_) - e_), num(t_))));                                 \
    } while (false)

#define EXPECT_EQ(ctx, actual, expected)                                                           \
    do {                                                                                           \
        const auto a_ = (actual);                                                                  \
        const auto e_ = (expected);                                                                \
        QVERIFY2(a_ == e_, qPrintable(QStringLiteral("%1: %2 = %3, expected %4")                   \
                                          .arg(QString(ctx), QLatin1String(#actual),               \
                                               QString::number(a_), QString::number(e_))));        \
    } while (false)

// Runs a checking helper and stops the test function when it failed.
#define CHECK(call)                                                                                \
    do {                                                                                           \
        call;                                                                                      \
        if (QTest::currentTestFailed()) return;                                                    \
    } while (false)

void checkCounts(const Moments& m, const Ref& r, const QString& ctx) {
    EXPECT_EQ(ctx, m.count, r.count);
    EXPECT_EQ(ctx, m.nan, r.nan);
    EXPECT_EQ(ctx, m.posInf, r.posInf);
    EXPECT_EQ(ctx, m.negInf, r.negInf);
    EXPECT_EQ(ctx, m.zeros, r.zeros);
    EXPECT_EQ(ctx, m.subnormals, r.subnormals);
    EXPECT_EQ(ctx, m.finite(), r.finite);
    EXPECT_EXACT(ctx, m.min, r.min);
    EXPECT_EXACT(ctx, m.max, r.max);
    EXPECT_EXACT(ctx, m.maxAbs, r.maxAbs);
    EXPECT_EXACT(ctx, m.minAbsNonzero, r.minAbsNonzero);
}

// strict: mean and stddev within rel of themselves; otherwise within rel of the data's RMS
// (which bounds the mean absolute value, the scale of a blocked double sum's error).
void checkMoments(const Moments& m, const Ref& r, LD rel, bool strict, const QString& ctx) {
    CHECK(checkCounts(m, r, ctx));
    if (r.finite == 0) {
        QVERIFY2(std::isnan(m.mean()), qPrintable(ctx + ": mean of no finite values"));
        return;
    }
    const LD rms = r.rms();
    EXPECT_NEAR(ctx, m.mean(), r.mean(), rel * (strict ? std::fabs(r.mean()) : rms));
    // I64/U64 sum about an element (Moments::shift).
    EXPECT_NEAR(ctx, m.shift * LD(r.finite) + m.sum + m.sumCompensation, r.sum,
                rel * (strict ? std::fabs(r.sum) : rms * LD(r.finite)));
    EXPECT_NEAR(ctx, m.stddev(), r.stddev(), rel * (strict ? r.stddev() : rms));
    EXPECT_NEAR(ctx, m.l2(), r.l2(), rel * r.l2());
    EXPECT_NEAR(ctx, m.sumSquares + m.sumSquaresCompensation, r.sumSquares, rel * r.sumSquares);
    EXPECT_NEAR(ctx, m.rms(), rms, rel * rms);
}

// The same elements reduced in another order: counts equal, sums within a few ulps.
void checkAgree(const Moments& m, const Moments& reference, const QString& ctx) {
    EXPECT_EQ(ctx, m.count, reference.count);
    EXPECT_EQ(ctx, m.nan, reference.nan);
    EXPECT_EQ(ctx, m.posInf, reference.posInf);
    EXPECT_EQ(ctx, m.negInf, reference.negInf);
    EXPECT_EQ(ctx, m.zeros, reference.zeros);
    EXPECT_EQ(ctx, m.subnormals, reference.subnormals);
    EXPECT_EXACT(ctx, m.min, reference.min);
    EXPECT_EXACT(ctx, m.max, reference.max);
    EXPECT_EXACT(ctx, m.maxAbs, reference.maxAbs);
    EXPECT_EXACT(ctx, m.minAbsNonzero, reference.minAbsNonzero);
    if (reference.finite() == 0) return;
    const LD rms = reference.rms();
    const LD rel = 2e-15L;
    EXPECT_NEAR(ctx, m.mean(), reference.mean(), rel * rms);
    EXPECT_NEAR(ctx, m.stddev(), reference.stddev(), rel * rms);
    EXPECT_NEAR(ctx, m.l2(), reference.l2(), rel * LD(reference.l2()));
    EXPECT_NEAR(ctx, m.rms(), rms, rel * rms);
}

uint64_t binSum(const Histogram& h) {
    uint64_t total = 0;
    for (uint64_t c : h.counts)
        total += c;
    return total;
}

QString binsText(const Histogram& h) {
    QString out;
    for (int b = 0; b < kHistogramBins; ++b)
        if (h.counts[b]) out += QStringLiteral(" %1:%2").arg(b).arg(h.counts[b]);
    return out;
}

// Checks h's bins against the positions of `values` (already restricted to what the histogram
// covers) in [lo, hi]; `position` maps a value to its coordinate (the value, or log10 |value|).
// A value within 1e-7 bins of an edge may be in either bin; with keyError > 0 the value may
// also have been moved toward zero by up to that relative amount before binning.
template <class Position>
void checkBins(const Histogram& h, const std::vector<LD>& values, LD lo, LD hi, Position position,
               LD keyError, const QString& ctx) {
    EXPECT_EQ(ctx, binSum(h), uint64_t(values.size()));
    if (values.empty()) return;
    if (lo == hi) {
        int filled = 0;
        for (uint64_t c : h.counts)
            filled += c != 0;
        QVERIFY2(filled == 1, qPrintable(ctx + ": lo == hi, bins" + binsText(h)));
        return;
    }
    std::array<uint64_t, kHistogramBins> low{}, high{};
    auto place = [&](LD v) { return (position(v) - lo) / (hi - lo) * kHistogramBins; };
    for (LD v : values) {
        const LD p1 = place(v);
        const LD p2 = keyError > 0 ? place(v * (1 - keyError)) : p1;
        const LD a = std::min(p1, p2) - 1e-7L, b = std::max(p1, p2) + 1e-7L;
        // A wide value below BF16's normal range has no 2^-7-accurate key: BF16 subnormals
        // hold fewer bits and nothing below 2^-133 is representable. Such a value may be
        // counted anywhere from the bottom bin up to its own.
        const bool tiny = keyError > 0 && std::fabs(v) < 0x1p-126L;
        const int first = tiny ? 0 : std::clamp(int(std::floor(a)), 0, kHistogramBins - 1);
        const int last = std::clamp(int(std::floor(b)), 0, kHistogramBins - 1);
        if (first == last) ++low[first];
        for (int k = first; k <= last; ++k)
            ++high[k];
    }
    for (int b = 0; b < kHistogramBins; ++b)
        QVERIFY2(low[b] <= h.counts[b] && h.counts[b] <= high[b],
                 qPrintable(QStringLiteral("%1: bin %2 holds %3, expected %4..%5; bins%6")
                                .arg(ctx)
                                .arg(b)
                                .arg(h.counts[b])
                                .arg(low[b])
                                .arg(high[b])
                                .arg(binsText(h))));
}

LD log10Abs(LD v) {
    return std::log10(std::fabs(v));
}

// Both histograms of a `type` tensor against the reference values it was fed.
void checkHistograms(const Histogram& linear, const Histogram& log, DType type,
                     const std::vector<LD>& values, const QString& ctx) {
    const LD keyError = isWide(type) ? 0x1p-7L : 0;
    std::vector<LD> finite, nonzero;
    LD min = kInfL, max = -kInfL, minAbs = kInfL, maxAbs = 0;
    for (LD v : values) {
        if (!std::isfinite(v)) continue;
        finite.push_back(v);
        min = std::min(min, v);
        max = std::max(max, v);
        if (v == 0) continue;
        nonzero.push_back(v);
        minAbs = std::min(minAbs, std::fabs(v));
        maxAbs = std::max(maxAbs, std::fabs(v));
    }
    if (!finite.empty()) {
        EXPECT_EXACT(ctx + " linear", linear.lo, min);
        EXPECT_EXACT(ctx + " linear", linear.hi, max);
    }
    CHECK(checkBins(
        linear, finite, min, max, [](LD v) { return v; }, keyError, ctx + " linear"));
    if (!nonzero.empty()) {
        const LD lo = std::log10(minAbs), hi = std::log10(maxAbs);
        EXPECT_NEAR(ctx + " log", log.lo, lo, 1e-12L * (1 + std::fabs(lo)));
        EXPECT_NEAR(ctx + " log", log.hi, hi, 1e-12L * (1 + std::fabs(hi)));
        if (minAbs == maxAbs) QVERIFY2(log.lo == log.hi, qPrintable(ctx + ": log lo != hi"));
        CHECK(checkBins(log, nonzero, lo, hi, log10Abs, keyError, ctx + " log"));
    } else {
        EXPECT_EQ(ctx + " log", binSum(log), uint64_t(0));
    }
}

void checkHistograms(const ValueAccumulator& acc, const std::vector<LD>& values,
                     const QString& ctx) {
    checkHistograms(acc.linearHistogram(), acc.logHistogram(), acc.dtype(), values, ctx);
}

// ---------------------------------------------------------------------------------------------
// Hand-chosen arrays, one per dtype, with their counts and extremes written as literals.

struct HandCase {
    const char* name;
    DType type;
    std::string bytes;
    uint64_t count, nan, posInf, negInf, zeros, subnormals;
    double min, max, maxAbs, minAbsNonzero;
};

const std::vector<HandCase>& handCases() {
    static const std::vector<HandCase> cases = [] {
        using V8 = std::vector<uint8_t>;
        using V16 = std::vector<uint16_t>;
        using V32 = std::vector<uint32_t>;
        using V64 = std::vector<uint64_t>;
        std::vector<HandCase> c;
        // 1, -2.5, +0, -0, 2^-1074, -(2^-1022 - 2^-1074), 2^-1022, 1e150, -3e149, +Inf, -Inf,
        // NaN, -NaN (payload), 0.1
        c.push_back({"F64", DType::F64,
                     bytesOf(V64{0x3FF0000000000000, 0xC004000000000000, 0, 0x8000000000000000,
                                 0x0000000000000001, 0x800FFFFFFFFFFFFF, 0x0010000000000000,
                                 std::bit_cast<uint64_t>(1e150), std::bit_cast<uint64_t>(-3e149),
                                 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000,
                                 0xFFF8000000000001, std::bit_cast<uint64_t>(0.1)}),
                     14, 2, 1, 1, 2, 2, -3e149, 1e150, 1e150, 0x1p-1074});
        // 1, -2.5, +0, -0, 2^-149, -(2^-126 - 2^-149), 2^-126, FLT_MAX, -FLT_MAX, +Inf, -Inf,
        // NaN, -NaN, 0.1f
        c.push_back({"F32", DType::F32,
                     bytesOf(V32{0x3F800000, 0xC0200000, 0x00000000, 0x80000000, 0x00000001,
                                 0x807FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000,
                                 0xFF800000, 0x7FC00000, 0xFFC00001, 0x3DCCCCCD}),
                     14, 2, 1, 1, 2, 2, -0x1.fffffep127, 0x1.fffffep127, 0x1.fffffep127, 0x1p-149});
        // 1, -2.5, +0, -0, 2^-24, -1023*2^-24, 2^-14, 65504, -65504, +Inf, -Inf, NaN, -NaN,
        // 0.333251953125
        c.push_back({"F16", DType::F16,
                     bytesOf(V16{0x3C00, 0xC100, 0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x7BFF,
                                 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0xFE01, 0x3555}),
                     14, 2, 1, 1, 2, 2, -65504, 65504, 65504, 0x1p-24});
        // 1, -2.5, +0, -0, 2^-133, -127*2^-133, 2^-126, max, -max, +Inf, -Inf, NaN, -NaN,
        // 3.140625
        c.push_back({"BF16", DType::BF16,
                     bytesOf(V16{0x3F80, 0xC020, 0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x7F7F,
                                 0xFF7F, 0x7F80, 0xFF80, 0x7FC0, 0xFFC1, 0x4049}),
                     14, 2, 1, 1, 2, 2, -0x1.fep127, 0x1.fep127, 0x1.fep127, 0x1p-133});
        // 1, -2, +0, -0, 2^-9, -7*2^-9, 2^-6, 448, -448, 256, 384 (no Inf), NaN, -NaN, 1.5
        c.push_back({"F8_E4M3", DType::F8_E4M3,
                     bytesOf(V8{0x38, 0xC0, 0x00, 0x80, 0x01, 0x87, 0x08, 0x7E, 0xFE, 0x78, 0x7C,
                                0x7F, 0xFF, 0x3C}),
                     14, 2, 0, 0, 2, 2, -448, 448, 448, 0x1p-9});
        // 1, -2, +0, -0, 2^-16, -3*2^-16, 2^-14, 57344, -57344, +Inf, -Inf, NaN x3, 1.5
        c.push_back({"F8_E5M2", DType::F8_E5M2,
                     bytesOf(V8{0x3C, 0xC0, 0x00, 0x80, 0x01, 0x83, 0x04, 0x7B, 0xFB, 0x7C, 0xFC,
                                0x7D, 0x7E, 0xFF, 0x3E}),
                     15, 3, 1, 1, 2, 2, -57344, 57344, 57344, 0x1p-16});
        // 1, -2, +0, NaN (0x80), 2^-10, -7*2^-10, 2^-7, 240, -240, 128, 1.5
        c.push_back({"F8_E4M3FNUZ", DType::F8_E4M3FNUZ,
                     bytesOf(V8{0x40, 0xC8, 0x00, 0x80, 0x01, 0x87, 0x08, 0x7F, 0xFF, 0x78, 0x44}),
                     11, 1, 0, 0, 1, 2, -240, 240, 240, 0x1p-10});
        // 1, -2, +0, NaN (0x80), 2^-17, -3*2^-17, 2^-15, 57344, -57344, 32768 (no Inf), 1.5
        c.push_back({"F8_E5M2FNUZ", DType::F8_E5M2FNUZ,
                     bytesOf(V8{0x40, 0xC4, 0x00, 0x80, 0x01, 0x83, 0x04, 0x7F, 0xFF, 0x7C, 0x42}),
                     11, 1, 0, 0, 1, 2, -57344, 57344, 57344, 0x1p-17});
        // 1, 2, 2^-127, 2^127, NaN, 0.5
        c.push_back({"F8_E8M0", DType::F8_E8M0, bytesOf(V8{0x7F, 0x80, 0x00, 0xFE, 0xFF, 0x7E}), 6,
                     1, 0, 0, 0, 0, 0x1p-127, 0x1p127, 0x1p127, 0x1p-127});
        c.push_back({"I8", DType::I8, bytesOf(std::vector<int8_t>{0, -128, 127, -1, 5, 0}), 6, 0, 0,
                     0, 2, 0, -128, 127, 128, 1});
        c.push_back(
            {"U8", DType::U8, bytesOf(V8{0, 255, 1, 128}), 4, 0, 0, 0, 1, 0, 0, 255, 255, 1});
        c.push_back({"I16", DType::I16, bytesOf(std::vector<int16_t>{-32768, 32767, 0, -7, 300}), 5,
                     0, 0, 0, 1, 0, -32768, 32767, 32768, 7});
        c.push_back({"U16", DType::U16, bytesOf(V16{65535, 0, 0, 1, 40000}), 5, 0, 0, 0, 2, 0, 0,
                     65535, 65535, 1});
        c.push_back(
            {"I32", DType::I32,
             bytesOf(std::vector<int32_t>{std::numeric_limits<int32_t>::min(),
                                          std::numeric_limits<int32_t>::max(), 0, -1, 123456}),
             5, 0, 0, 0, 1, 0, -2147483648.0, 2147483647.0, 2147483648.0, 1});
        c.push_back({"U32", DType::U32, bytesOf(V32{0xFFFFFFFF, 0, 7}), 3, 0, 0, 0, 1, 0, 0,
                     4294967295.0, 4294967295.0, 7});
        // INT64_MAX's double is 2^63.
        c.push_back({"I64", DType::I64,
                     bytesOf(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), 0, -1,
                                                  int64_t(1) << 53, int64_t(1) << 62, 123,
                                                  std::numeric_limits<int64_t>::max()}),
                     7, 0, 0, 0, 1, 0, -0x1p63, 0x1p63, 0x1p63, 1});
        // UINT64_MAX's double is 2^64.
        c.push_back({"U64", DType::U64, bytesOf(V64{0xFFFFFFFFFFFFFFFF, 0, 1, uint64_t(1) << 63}),
                     4, 0, 0, 0, 1, 0, 0, 0x1p64, 0x1p64, 1});
        c.push_back(
            {"BOOL", DType::BOOL, bytesOf(V8{1, 0, 1, 1, 0}), 5, 0, 0, 0, 2, 0, 0, 1, 1, 1});
        return c;
    }();
    return cases;
}

// Every bit pattern of an 8- or 16-bit dtype, with its counts and extremes as literals.
struct SweepCase {
    const char* name;
    DType type;
    uint64_t nan, posInf, negInf, zeros, subnormals;
    double min, max, maxAbs, minAbsNonzero;
};

const std::vector<SweepCase>& sweepCases() {
    static const std::vector<SweepCase> cases = {
        {"F16", DType::F16, 2046, 1, 1, 2, 2046, -65504, 65504, 65504, 0x1p-24},
        {"BF16", DType::BF16, 254, 1, 1, 2, 254, -0x1.fep127, 0x1.fep127, 0x1.fep127, 0x1p-133},
        {"F8_E4M3", DType::F8_E4M3, 2, 0, 0, 2, 14, -448, 448, 448, 0x1p-9},
        {"F8_E5M2", DType::F8_E5M2, 6, 1, 1, 2, 6, -57344, 57344, 57344, 0x1p-16},
        {"F8_E4M3FNUZ", DType::F8_E4M3FNUZ, 1, 0, 0, 1, 14, -240, 240, 240, 0x1p-10},
        {"F8_E5M2FNUZ", DType::F8_E5M2FNUZ, 1, 0, 0, 1, 6, -57344, 57344, 57344, 0x1p-17},
        {"F8_E8M0", DType::F8_E8M0, 1, 0, 0, 0, 0, 0x1p-127, 0x1p127, 0x1p127, 0x1p-127},
        {"I8", DType::I8, 0, 0, 0, 1, 0, -128, 127, 128, 1},
        {"U8", DType::U8, 0, 0, 0, 1, 0, 0, 255, 255, 1},
        {"I16", DType::I16, 0, 0, 0, 1, 0, -32768, 32767, 32768, 1},
        {"U16", DType::U16, 0, 0, 0, 1, 0, 0, 65535, 65535, 1},
    };
    return cases;
}

void checkLiteralCounts(const Moments& m, uint64_t reps, uint64_t count, uint64_t nan,
                        uint64_t posInf, uint64_t negInf, uint64_t zeros, uint64_t subnormals,
                        double min, double max, double maxAbs, double minAbsNonzero,
                        const QString& ctx) {
    EXPECT_EQ(ctx, m.count, count * reps);
    EXPECT_EQ(ctx, m.nan, nan * reps);
    EXPECT_EQ(ctx, m.posInf, posInf * reps);
    EXPECT_EQ(ctx, m.negInf, negInf * reps);
    EXPECT_EQ(ctx, m.zeros, zeros * reps);
    EXPECT_EQ(ctx, m.subnormals, subnormals * reps);
    EXPECT_EXACT(ctx, m.min, min);
    EXPECT_EXACT(ctx, m.max, max);
    EXPECT_EXACT(ctx, m.maxAbs, maxAbs);
    EXPECT_EXACT(ctx, m.minAbsNonzero, minAbsNonzero);
}

// ---------------------------------------------------------------------------------------------
// Deterministic pseudo-random data.

struct SplitMix {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
};

// F16 or BF16 patterns: mostly normal values of magnitude 2^-5..8 (F16) or 2^-7..16 (BF16), a
// quarter negative, with NaN, +Inf, -Inf, +0, -0 and a subnormal sprinkled at fixed places.
std::vector<uint16_t> randomHalfs(DType t, size_t n, uint64_t seed) {
    SplitMix g{seed};
    const bool f16 = t == DType::F16;
    std::vector<uint16_t> out(n);
    for (size_t i = 0; i < n; ++i) {
        const uint64_t r = g.next();
        const uint16_t sign = (r & 3) == 0 ? 0x8000 : 0;
        uint16_t bits = f16 ? uint16_t(sign | ((10 + (r >> 2) % 8) << 10) | ((r >> 8) & 0x3FF))
                            : uint16_t(sign | ((120 + (r >> 2) % 11) << 7) | ((r >> 8) & 0x7F));
        if (i % 997 == 3)
            bits = f16 ? 0x7E00 : 0x7FC0;
        else if (i % 1009 == 5)
            bits = f16 ? 0x7C00 : 0x7F80;
        else if (i % 1013 == 7)
            bits = f16 ? 0xFC00 : 0xFF80;
        else if (i % 1019 == 1)
            bits = 0x0000;
        else if (i % 1021 == 9)
            bits = 0x8000;
        else if (i % 1031 == 8)
            bits = uint16_t(sign | 0x0003);
        out[i] = bits;
    }
    return out;
}

// Exact F16 / BF16 patterns of small integers (|v| < 128) and of powers of two.
uint16_t f16Int(int v) {
    if (v == 0) return 0;
    const uint16_t sign = v < 0 ? 0x8000 : 0;
    const int a = std::abs(v);
    int e = 0;
    while ((2 << e) <= a)
        ++e;
    return uint16_t(sign | ((e + 15) << 10) | ((a - (1 << e)) << (10 - e)));
}
uint16_t bf16Int(int v) {
    if (v == 0) return 0;
    const uint16_t sign = v < 0 ? 0x8000 : 0;
    const int a = std::abs(v);
    int e = 0;
    while ((2 << e) <= a)
        ++e;
    return uint16_t(sign | ((e + 127) << 7) | ((a - (1 << e)) << (7 - e)));
}
uint16_t f16Pow2(int k) { // 2^k, -24 <= k <= 15
    return k >= -14 ? uint16_t((k + 15) << 10) : uint16_t(1u << (k + 24));
}
uint16_t bf16Pow2(int k) { // 2^k, -133 <= k <= 127
    return k >= -126 ? uint16_t((k + 127) << 7) : uint16_t(1u << (k + 133));
}

// ---------------------------------------------------------------------------------------------
// Checkpoints on disk.

struct Part {
    std::string file;
    Dims offsets;
    Dims shape;
};

struct Planned {
    std::string fqn;
    DType type;
    Dims shape;
    std::string full; // row-major bytes of the whole tensor
    std::vector<Part> parts;
};

std::string partBytes(const Planned& t, const Part& p) {
    return slice(t.full, t.shape, p.offsets, p.shape, unsigned(itemBytes(t.type)));
}

void writePlan(const fs::path& dir, const std::vector<Planned>& plan) {
    fs::create_directories(dir);
    std::map<std::string, std::vector<TestChunk>> files;
    for (const auto& t : plan)
        for (const auto& p : t.parts)
            files[p.file].push_back(
                {t.fqn, std::string(dtypeName(t.type)), p.offsets, p.shape, partBytes(t, p)});
    for (const auto& [name, chunks] : files)
        writeShard(dir / name, chunks);
}

uint64_t elementCount(const Dims& shape) {
    uint64_t n = 1;
    for (uint64_t d : shape)
        n *= d;
    return n;
}

const char* kS1 = "shard-1.safetensors";
const char* kS2 = "shard-2.safetensors";
const char* kS3 = "shard-3.safetensors";
const char* kS4 = "shard-4.safetensors";

// 1-D parts of `each` elements, part i in files[i].
std::vector<Part> rows(const std::vector<const char*>& files, uint64_t each) {
    std::vector<Part> out;
    for (size_t i = 0; i < files.size(); ++i)
        out.push_back({files[i], {i * each}, {each}});
    return out;
}

Planned f32Tensor(std::string fqn, Dims shape, const std::vector<float>& values,
                  std::vector<Part> parts) {
    return {std::move(fqn), DType::F32, std::move(shape), bytesOf(values), std::move(parts)};
}

// A mixed checkpoint: replicas, a scalar, an empty tensor, column splits, a C64 tensor.
std::vector<Planned> statsPlan() {
    std::vector<Planned> plan;
    {
        std::vector<float> v(24);
        for (int i = 0; i < 24; ++i)
            v[i] = float((i * 7) % 13) - 5.5f + float(i) * 0.01f;
        v[3] = 0.0f;
        v[10] = -0.0f;
        // rows 0-1 in shard-1 and again (a replica) in shard-3; rows 2-3 in shard-2
        plan.push_back(
            f32Tensor("a.w", {4, 6}, v,
                      {{kS1, {0, 0}, {2, 6}}, {kS2, {2, 0}, {2, 6}}, {kS3, {0, 0}, {2, 6}}}));
    }
    {
        auto parts = rows({kS1, kS2, kS3}, 1000);
        parts.push_back({kS4, {1000}, {1000}}); // a replica of the middle third
        plan.push_back(
            {"b.h", DType::BF16, {3000}, bytesOf(randomHalfs(DType::BF16, 3000, 7)), parts});
    }
    plan.push_back({"c.i",
                    DType::I64,
                    {10},
                    bytesOf(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), 0, -1,
                                                 int64_t(1) << 53, int64_t(1) << 62, 123,
                                                 std::numeric_limits<int64_t>::max(), 7, 0, -5}),
                    rows({kS1, kS2}, 5)});
    plan.push_back({"d.s", DType::F64, {}, bytesOf(std::vector<double>{-3.25}), {{kS4, {}, {}}}});
    plan.push_back({"e.empty", DType::F32, {0, 4}, "", {{kS1, {0, 0}, {0, 4}}}});
    {
        std::vector<uint8_t> all(256);
        for (int i = 0; i < 256; ++i)
            all[i] = uint8_t(i);
        plan.push_back({"g.f8",
                        DType::F8_E5M2,
                        {16, 16},
                        bytesOf(all),
                        {{kS2, {0, 0}, {16, 8}}, {kS3, {0, 8}, {16, 8}}}});
    }
    plan.push_back({"z.c64", DType::C64, {2}, pattern("z.c64", 16), {{kS1, {0}, {2}}}});
    return plan;
}

const Planned& planned(const std::vector<Planned>& plan, const std::string& fqn) {
    for (const auto& t : plan)
        if (t.fqn == fqn) return t;
    throw std::runtime_error("test bug: no planned tensor " + fqn);
}

// Bytes of the chunks of the tensors that have statistics and pass `selected`.
template <class Selected>
uint64_t plannedBytes(const std::vector<Planned>& plan, Selected selected) {
    uint64_t total = 0;
    for (const auto& t : plan) {
        if (t.type == DType::C64 || !selected(t.fqn)) continue;
        for (const auto& p : t.parts)
            total += elementCount(p.shape) * itemBytes(t.type);
    }
    return total;
}

// computeStats' answer for every tensor against the plan. `selected`: which tensors are expected
// computed (C64 never).
template <class Selected>
void checkStats(const Checkpoint& c, const CheckpointStats& stats, const std::vector<Planned>& plan,
                Selected selected, const QString& label) {
    QCOMPARE(stats.tensors.size(), c.tensors.size());
    for (size_t i = 0; i < c.tensors.size(); ++i) {
        const TensorInfo& info = c.tensors[i];
        const TensorStats& ts = stats.tensors[i];
        const Planned& t = planned(plan, info.fqn);
        const QString ctx = label + " " + QString::fromStdString(info.fqn);
        const bool expectComputed = t.type != DType::C64 && selected(t.fqn);
        QVERIFY2(ts.computed == expectComputed, qPrintable(ctx + ": computed"));
        if (!expectComputed) continue;
        const std::vector<LD> values = refDecodeAll(t.type, t.full);
        const Ref r = referenceOf(values, refMinNormal(t.type));
        CHECK(checkMoments(ts.moments, r, 1e-13L, false, ctx));
        // Histograms: sums always; bins where the key is the element's own pattern.
        EXPECT_EQ(ctx + " linear", binSum(ts.linear), r.finite);
        EXPECT_EQ(ctx + " log", binSum(ts.log), r.finite - r.zeros);
        if (r.finite) {
            EXPECT_EXACT(ctx + " linear", ts.linear.lo, r.min);
            EXPECT_EXACT(ctx + " linear", ts.linear.hi, r.max);
        }
        if (r.finite > r.zeros) {
            const LD lo = std::log10(r.minAbsNonzero), hi = std::log10(r.maxAbs);
            EXPECT_NEAR(ctx + " log", ts.log.lo, lo, 1e-12L * (1 + std::fabs(lo)));
            EXPECT_NEAR(ctx + " log", ts.log.hi, hi, 1e-12L * (1 + std::fabs(hi)));
        }
        // Chunks: parallel to info.chunks, replicas included, each summarised on its own.
        QVERIFY2(ts.chunks.size() == info.chunks.size(), qPrintable(ctx + ": chunk count"));
        for (size_t k = 0; k < info.chunks.size(); ++k) {
            const Chunk& chunk = info.chunks[k];
            const std::string& file = c.files[chunk.file].name;
            const Part* part = nullptr;
            for (const auto& p : t.parts)
                if (p.file == file && p.offsets.size() == chunk.offsets.size() &&
                    std::equal(p.offsets.begin(), p.offsets.end(), chunk.offsets.begin()))
                    part = &p;
            QVERIFY2(part,
                     qPrintable(ctx + ": unplanned chunk in " + QString::fromStdString(file)));
            const std::vector<LD> cv = refDecodeAll(t.type, partBytes(t, *part));
            const Ref cr = referenceOf(cv, refMinNormal(t.type));
            const QString cctx = ctx + " chunk in " + QString::fromStdString(file);
            const ChunkSummary& s = ts.chunks[k];
            EXPECT_EQ(cctx, s.count, cr.count);
            EXPECT_EQ(cctx, s.zeros, cr.zeros);
            EXPECT_EQ(cctx, s.nan, cr.nan);
            EXPECT_EQ(cctx, s.inf, cr.posInf + cr.negInf);
            if (cr.finite) EXPECT_NEAR(cctx, s.rms, cr.rms(), 1e-13L * cr.rms());
        }
    }
}

// The big checkpoint for progress and cancel: one F32 [2048, 1024] tensor (8 MiB) in four row
// chunks, one per file.
constexpr uint64_t kBigRows = 2048, kBigCols = 1024;
void writeBig(const fs::path& dir) {
    fs::create_directories(dir);
    std::vector<float> v(kBigRows * kBigCols);
    for (size_t i = 0; i < v.size(); ++i)
        v[i] = float(i % 1000) * 0.5f;
    const std::string all = bytesOf(v);
    const uint64_t part = kBigRows / 4;
    for (uint64_t p = 0; p < 4; ++p) {
        const std::string bytes = all.substr(p * part * kBigCols * 4, part * kBigCols * 4);
        writeShard(dir / ("big-" + std::to_string(p + 1) + ".safetensors"),
                   {{"big.w", "F32", {p * part, 0}, {part, kBigCols}, bytes}});
    }
}

struct ProgressLog {
    std::mutex mutex;
    std::vector<StatsProgress> calls;
    void operator()(const StatsProgress& p) {
        std::lock_guard lock(mutex);
        calls.push_back(p);
    }
};

// `total` is the last call's; a second read for exact histograms raises it once the first
// read is done, so earlier calls may hold `firstTotal`.
void checkProgress(const std::vector<StatsProgress>& calls, uint64_t total, const QString& ctx,
                   uint64_t firstTotal = 0) {
    QVERIFY2(!calls.empty(), qPrintable(ctx + ": no progress reported"));
    for (size_t i = 0; i < calls.size(); ++i) {
        if (calls[i].bytesTotal != firstTotal || firstTotal == 0)
            EXPECT_EQ(ctx, calls[i].bytesTotal, total);
        if (i && calls[i].bytesTotal == firstTotal)
            EXPECT_EQ(ctx + " first read", calls[i - 1].bytesTotal, firstTotal);
        QVERIFY2(calls[i].bytesDone <= calls[i].bytesTotal,
                 qPrintable(ctx +
                            QStringLiteral(": bytesDone %1 > bytesTotal").arg(calls[i].bytesDone)));
        if (i)
            QVERIFY2(calls[i].bytesDone >= calls[i - 1].bytesDone,
                     qPrintable(ctx + QStringLiteral(": bytesDone went from %1 to %2")
                                          .arg(calls[i - 1].bytesDone)
                                          .arg(calls[i].bytesDone)));
    }
    EXPECT_EQ(ctx + " last call", calls.back().bytesDone, total);
}

std::map<std::string, std::vector<ErrorKind>> kindsByTensor(const std::vector<Problem>& problems) {
    std::map<std::string, std::vector<ErrorKind>> out;
    for (const Problem& p : problems)
        out[p.tensor].push_back(p.kind);
    return out;
}

QString kindsText(const std::vector<ErrorKind>& kinds) {
    QStringList names;
    for (ErrorKind k : kinds)
        names << QString::fromLatin1(errorKindName(k));
    return "{" + names.join(", ") + "}";
}

} // namespace

class TestValueStats : public QObject {
    Q_OBJECT

private slots:
    void smallWideTensorsAreBinnedExactly();
    void init();
    void dtypeTraits();
    void decodeElement_data();
    void decodeElement();
    void momentsPrimitives();
    void handChosen_data();
    void handChosen();
    void allBitPatterns_data();
    void allBitPatterns();
    void emptyAndNonFiniteOnly();
    void largeRuns_data();
    void largeRuns();
    void patternCountsInBothWidths_data();
    void patternCountsInBothWidths();
    void denseBinsAtEdges();
    void denseSummaryWithGaps_data();
    void denseSummaryWithGaps();
    void largeIntegersThatDifferAreNotConstant();
    void wideHistogramsAreExact_data();
    void wideHistogramsAreExact();
    void largeIntegerMoments();
    void powersOfTwoOnLogEdges();
    void secondReadCountsReplicasOnce();
    void secondReadOfDcpItems();
    void secondReadInRounds();
    void meanPrecisionF32();
    void meanPrecisionF64();
    void valuesCloserThanTheirMeansRounding();
    void cancellingValuesKeepTheSmallTerms();
    void binsJustUnderAnEdge();
    void f64RangeEnds();
    void linearHistogram_data();
    void linearHistogram();
    void logHistogram_data();
    void logHistogram();
    void constantAndEmptyHistograms();
    void wideValuesBeyondBf16Range_data();
    void wideValuesBeyondBf16Range();
    void regionTextFormat();
    void computeStatsMatchesReference();
    void selectLimitsTensors();
    void progressCoversSelectedBytes();
    void cancelBeforeStart();
    void cancelFromProgress();
    void findings();
    void findingThresholds();
    void findingMessagesAreExact();
    void truncatedShardThrows();
    void differenceHistogramsBinEveryFinitePair();

private:
    std::unique_ptr<QTemporaryDir> m_tmp;
    fs::path dir(const char* name) const { return fs::path(m_tmp->path().toStdString()) / name; }
};

void TestValueStats::init() {
    m_tmp = std::make_unique<QTemporaryDir>();
    QVERIFY(m_tmp->isValid());
}

void TestValueStats::dtypeTraits() {
    const DType withStats[] = {
        DType::BOOL,    DType::U8,          DType::I8,          DType::F8_E4M3, DType::F8_E5M2,
        DType::F8_E8M0, DType::F8_E4M3FNUZ, DType::F8_E5M2FNUZ, DType::I16,     DType::U16,
        DType::F16,     DType::BF16,        DType::I32,         DType::U32,     DType::F32,
        DType::I64,     DType::U64,         DType::F64};
    for (DType t : withStats)
        QVERIFY2(hasValueStats(t), dtypeName(t).data());
    for (DType t : {DType::C64, DType::F4, DType::F6_E2M3, DType::F6_E3M2})
        QVERIFY2(!hasValueStats(t), dtypeName(t).data());

    for (DType t : {DType::F64, DType::F32, DType::F16, DType::BF16, DType::F8_E4M3, DType::F8_E5M2,
                    DType::F8_E8M0, DType::F8_E4M3FNUZ, DType::F8_E5M2FNUZ, DType::F4,
                    DType::F6_E2M3, DType::F6_E3M2})
        QVERIFY2(isFloatDType(t), dtypeName(t).data());
    for (DType t : {DType::BOOL, DType::U8, DType::I8, DType::I16, DType::U16, DType::I32,
                    DType::U32, DType::I64, DType::U64})
        QVERIFY2(!isFloatDType(t), dtypeName(t).data());

    const QString ctx = "minNormal";
    EXPECT_EXACT(ctx, minNormal(DType::F64), 0x1p-1022);
    EXPECT_EXACT(ctx, minNormal(DType::F32), 0x1p-126);
    EXPECT_EXACT(ctx, minNormal(DType::F16), 0x1p-14);
    EXPECT_EXACT(ctx, minNormal(DType::BF16), 0x1p-126);
    EXPECT_EXACT(ctx, minNormal(DType::F8_E4M3), 0x1p-6);
    EXPECT_EXACT(ctx, minNormal(DType::F8_E5M2), 0x1p-14);
    EXPECT_EXACT(ctx, minNormal(DType::F8_E4M3FNUZ), 0x1p-7);
    EXPECT_EXACT(ctx, minNormal(DType::F8_E5M2FNUZ), 0x1p-15);
    // E8M0 has no subnormals: whatever its minNormal, 2^-127 (its smallest value) is not below.
    QVERIFY(minNormal(DType::F8_E8M0) <= 0x1p-127);
    for (DType t : {DType::BOOL, DType::U8, DType::I8, DType::I16, DType::U16, DType::I32,
                    DType::U32, DType::I64, DType::U64})
        EXPECT_EXACT(ctx + " " + QString::fromLatin1(dtypeName(t).data()), minNormal(t), 0.0);
}

void TestValueStats::decodeElement_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<double>("expected");
    auto row = [](DType t, uint64_t bits, double expected) {
        const std::string b = bitsBytes(bits, itemBytes(t));
        QTest::addRow("%s 0x%llx", std::string(dtypeName(t)).c_str(), (unsigned long long)bits)
            << int(t) << QByteArray(b.data(), qsizetype(b.size())) << expected;
    };
    const double nan = kNaN, inf = kInf;

    row(DType::F64, 0x3FF0000000000000, 1.0);
    row(DType::F64, 0xC004000000000000, -2.5);
    row(DType::F64, 0x0000000000000000, 0.0);
    row(DType::F64, 0x8000000000000000, -0.0);
    row(DType::F64, 0x0000000000000001, 0x1p-1074);
    row(DType::F64, 0x000FFFFFFFFFFFFF, 0x0.fffffffffffffp-1022);
    row(DType::F64, 0x0010000000000000, 0x1p-1022);
    row(DType::F64, 0x7FEFFFFFFFFFFFFF, 0x1.fffffffffffffp+1023);
    row(DType::F64, 0xFFEFFFFFFFFFFFFF, -0x1.fffffffffffffp+1023);
    row(DType::F64, 0x7FF0000000000000, inf);
    row(DType::F64, 0xFFF0000000000000, -inf);
    row(DType::F64, 0x7FF8000000000000, nan);
    row(DType::F64, 0xFFF0000000000001, nan);

    row(DType::F32, 0x3F800000, 1.0);
    row(DType::F32, 0xC0200000, -2.5);
    row(DType::F32, 0x00000000, 0.0);
    row(DType::F32, 0x80000000, -0.0);
    row(DType::F32, 0x00000001, 0x1p-149);
    row(DType::F32, 0x007FFFFF, 0x1.fffffcp-127);
    row(DType::F32, 0x00800000, 0x1p-126);
    row(DType::F32, 0x7F7FFFFF, 0x1.fffffep127);
    row(DType::F32, 0xFF7FFFFF, -0x1.fffffep127);
    row(DType::F32, 0x7F800000, inf);
    row(DType::F32, 0xFF800000, -inf);
    row(DType::F32, 0x7FC00000, nan);
    row(DType::F32, 0xFF800001, nan);
    row(DType::F32, 0x3DCCCCCD, 0x1.99999ap-4); // 0.1f

    row(DType::F16, 0x3C00, 1.0);
    row(DType::F16, 0xC100, -2.5);
    row(DType::F16, 0x0000, 0.0);
    row(DType::F16, 0x8000, -0.0);
    row(DType::F16, 0x0001, 0x1p-24);
    row(DType::F16, 0x03FF, 0x1.ff8p-15); // 1023 * 2^-24, the largest subnormal
    row(DType::F16, 0x0400, 0x1p-14);
    row(DType::F16, 0x7BFF, 65504.0);
    row(DType::F16, 0xFBFF, -65504.0);
    row(DType::F16, 0x7C00, inf);
    row(DType::F16, 0xFC00, -inf);
    row(DType::F16, 0x7E00, nan);
    row(DType::F16, 0x7C01, nan);
    row(DType::F16, 0xFFFF, nan);
    row(DType::F16, 0x3555, 0.333251953125);

    row(DType::BF16, 0x3F80, 1.0);
    row(DType::BF16, 0xC020, -2.5);
    row(DType::BF16, 0x0000, 0.0);
    row(DType::BF16, 0x8000, -0.0);
    row(DType::BF16, 0x0001, 0x1p-133);
    row(DType::BF16, 0x007F, 0x1.fcp-127); // 127 * 2^-133
    row(DType::BF16, 0x0080, 0x1p-126);
    row(DType::BF16, 0x7F7F, 0x1.fep127);
    row(DType::BF16, 0xFF7F, -0x1.fep127);
    row(DType::BF16, 0x7F80, inf);
    row(DType::BF16, 0xFF80, -inf);
    row(DType::BF16, 0x7FC0, nan);
    row(DType::BF16, 0x7F81, nan);
    row(DType::BF16, 0xFFFF, nan);
    row(DType::BF16, 0x4049, 3.140625);

    // OCP E4M3FN: bias 7, no Inf, NaN only S.1111.111
    row(DType::F8_E4M3, 0x38, 1.0);
    row(DType::F8_E4M3, 0xC0, -2.0);
    row(DType::F8_E4M3, 0x00, 0.0);
    row(DType::F8_E4M3, 0x80, -0.0);
    row(DType::F8_E4M3, 0x01, 0x1p-9);
    row(DType::F8_E4M3, 0x07, 0x1.cp-7); // 7 * 2^-9
    row(DType::F8_E4M3, 0x08, 0x1p-6);
    row(DType::F8_E4M3, 0x7E, 448.0);
    row(DType::F8_E4M3, 0xFE, -448.0);
    row(DType::F8_E4M3, 0x78, 256.0); // exponent 1111 is an ordinary exponent
    row(DType::F8_E4M3, 0x7C, 384.0);
    row(DType::F8_E4M3, 0x7D, 416.0);
    row(DType::F8_E4M3, 0x7F, nan);
    row(DType::F8_E4M3, 0xFF, nan);
    row(DType::F8_E4M3, 0x3C, 1.5);

    // E5M2: bias 15, IEEE-like
    row(DType::F8_E5M2, 0x3C, 1.0);
    row(DType::F8_E5M2, 0xC0, -2.0);
    row(DType::F8_E5M2, 0x00, 0.0);
    row(DType::F8_E5M2, 0x80, -0.0);
    row(DType::F8_E5M2, 0x01, 0x1p-16);
    row(DType::F8_E5M2, 0x03, 0x1.8p-15); // 3 * 2^-16
    row(DType::F8_E5M2, 0x04, 0x1p-14);
    row(DType::F8_E5M2, 0x7B, 57344.0);
    row(DType::F8_E5M2, 0xFB, -57344.0);
    row(DType::F8_E5M2, 0x7C, inf);
    row(DType::F8_E5M2, 0xFC, -inf);
    row(DType::F8_E5M2, 0x7D, nan);
    row(DType::F8_E5M2, 0x7E, nan);
    row(DType::F8_E5M2, 0x7F, nan);
    row(DType::F8_E5M2, 0xFD, nan);
    row(DType::F8_E5M2, 0xFF, nan);
    row(DType::F8_E5M2, 0x3E, 1.5);

    // E4M3FNUZ: bias 8, NaN only 0x80, no -0, no Inf
    row(DType::F8_E4M3FNUZ, 0x40, 1.0);
    row(DType::F8_E4M3FNUZ, 0xC8, -2.0);
    row(DType::F8_E4M3FNUZ, 0x00, 0.0);
    row(DType::F8_E4M3FNUZ, 0x80, nan);
    row(DType::F8_E4M3FNUZ, 0x01, 0x1p-10);
    row(DType::F8_E4M3FNUZ, 0x81, -0x1p-10);
    row(DType::F8_E4M3FNUZ, 0x07, 0x1.cp-8); // 7 * 2^-10
    row(DType::F8_E4M3FNUZ, 0x08, 0x1p-7);
    row(DType::F8_E4M3FNUZ, 0x7F, 240.0);
    row(DType::F8_E4M3FNUZ, 0xFF, -240.0);
    row(DType::F8_E4M3FNUZ, 0x78, 128.0);
    row(DType::F8_E4M3FNUZ, 0x44, 1.5);

    // E5M2FNUZ: bias 16, NaN only 0x80, no -0, no Inf
    row(DType::F8_E5M2FNUZ, 0x40, 1.0);
    row(DType::F8_E5M2FNUZ, 0xC4, -2.0);
    row(DType::F8_E5M2FNUZ, 0x00, 0.0);
    row(DType::F8_E5M2FNUZ, 0x80, nan);
    row(DType::F8_E5M2FNUZ, 0x01, 0x1p-17);
    row(DType::F8_E5M2FNUZ, 0x81, -0x1p-17);
    row(DType::F8_E5M2FNUZ, 0x03, 0x1.8p-16); // 3 * 2^-17
    row(DType::F8_E5M2FNUZ, 0x04, 0x1p-15);
    row(DType::F8_E5M2FNUZ, 0x7F, 57344.0);
    row(DType::F8_E5M2FNUZ, 0xFF, -57344.0);
    row(DType::F8_E5M2FNUZ, 0x7C, 32768.0);
    row(DType::F8_E5M2FNUZ, 0x42, 1.5);

    // E8M0: 2^(bits - 127), 0xFF NaN
    row(DType::F8_E8M0, 0x7F, 1.0);
    row(DType::F8_E8M0, 0x80, 2.0);
    row(DType::F8_E8M0, 0x7E, 0.5);
    row(DType::F8_E8M0, 0x00, 0x1p-127);
    row(DType::F8_E8M0, 0x01, 0x1p-126);
    row(DType::F8_E8M0, 0xFE, 0x1p127);
    row(DType::F8_E8M0, 0xFF, nan);

    row(DType::I8, 0x80, -128.0);
    row(DType::I8, 0x7F, 127.0);
    row(DType::I8, 0xFF, -1.0);
    row(DType::I8, 0x00, 0.0);
    row(DType::U8, 0xFF, 255.0);
    row(DType::U8, 0x80, 128.0);
    row(DType::I16, 0x8000, -32768.0);
    row(DType::I16, 0x7FFF, 32767.0);
    row(DType::I16, 0xFFFF, -1.0);
    row(DType::U16, 0xFFFF, 65535.0);
    row(DType::U16, 0x8000, 32768.0);
    row(DType::I32, 0x80000000, -2147483648.0);
    row(DType::I32, 0x7FFFFFFF, 2147483647.0);
    row(DType::I32, 0xFFFFFFFF, -1.0);
    row(DType::U32, 0xFFFFFFFF, 4294967295.0);
    row(DType::U32, 0x80000000, 2147483648.0);
    row(DType::I64, 0x8000000000000000, -0x1p63);
    row(DType::I64, 0x7FFFFFFFFFFFFFFF, double(std::numeric_limits<int64_t>::max())); // 2^63
    row(DType::I64, 0xFFFFFFFFFFFFFFFF, -1.0);
    row(DType::I64, 0x0020000000000001, double(int64_t(0x0020000000000001)));          // 2^53 + 1
    row(DType::U64, 0xFFFFFFFFFFFFFFFF, double(std::numeric_limits<uint64_t>::max())); // 2^64
    row(DType::U64, 0x8000000000000000, 0x1p63);
    row(DType::U64, 0x0000000000000001, 1.0);
    row(DType::BOOL, 0x00, 0.0);
    row(DType::BOOL, 0x01, 1.0);
}

void TestValueStats::decodeElement() {
    QFETCH(int, type);
    QFETCH(QByteArray, bytes);
    QFETCH(double, expected);
    const DType t = DType(type);
    const QString ctx = QTest::currentDataTag();
    // The test's own decoder agrees with the literal (it computes the references below).
    const LD mine = refDecode(t, reinterpret_cast<const unsigned char*>(bytes.constData()));
    EXPECT_EXACT(ctx + " (test decoder)", double(mine), expected);
    // Aligned, and at an odd address.
    const double got = shardscope::decodeElement(t, bytes.constData());
    EXPECT_EXACT(ctx, got, expected);
    if (expected == 0)
        QVERIFY2(std::signbit(got) == std::signbit(expected), qPrintable(ctx + ": sign of zero"));
    QByteArray shifted(1, '\x5A');
    shifted += bytes;
    EXPECT_EXACT(ctx + " unaligned", shardscope::decodeElement(t, shifted.constData() + 1),
                 expected);
}

void TestValueStats::momentsPrimitives() {
    // Values {2, 2, 2, 0.5, 0, 0} with minNormal 1 (0.5 is then "subnormal"), NaN x2, +Inf,
    // -Inf x4, and a repeat of zero elements.
    Moments m;
    m.addRepeated(2.0, 3, 1.0);
    m.addNonFinite(kNaN, 2);
    m.addRepeated(0.5, 1, 1.0);
    m.addRepeated(7.0, 0, 1.0); // n == 0: nothing, not even min/max
    m.addNonFinite(kInf, 1);
    m.addRepeated(0.0, 1, 1.0);
    m.addRepeated(-0.0, 1, 1.0);
    m.addNonFinite(-kInf, 4);
    const std::vector<LD> values = {2,     2,     2,      0.5L,   0,      -0.0L, kNaNL,
                                    kNaNL, kInfL, -kInfL, -kInfL, -kInfL, -kInfL};
    const Ref r = referenceOf(values, 1.0L);
    QCOMPARE(r.count, uint64_t(13)); // the reference's own literals
    QCOMPARE(r.subnormals, uint64_t(1));
    CHECK(checkMoments(m, r, 1e-14L, true, "addRepeated"));
    EXPECT_EXACT("literal", m.mean(), 6.5 / 6);
    EXPECT_EXACT("literal", m.l2(), 3.5);

    // Merging: in pieces, into an empty one, and an empty one in.
    Moments a, b;
    a.addRepeated(2.0, 3, 1.0);
    a.addNonFinite(kNaN, 2);
    a.addRepeated(0.5, 1, 1.0);
    b.addNonFinite(kInf, 1);
    b.addRepeated(0.0, 1, 1.0);
    b.addRepeated(-0.0, 1, 1.0);
    b.addNonFinite(-kInf, 4);
    a.merge(b);
    CHECK(checkAgree(a, m, "merged"));
    Moments empty, e;
    e.merge(m);
    CHECK(checkAgree(e, m, "into empty"));
    Moments copy = m;
    copy.merge(empty);
    CHECK(checkAgree(copy, m, "empty in"));

    // Nothing at all.
    Moments none;
    QCOMPARE(none.count, uint64_t(0));
    QVERIFY(std::isnan(none.mean()));
    QVERIFY(std::isnan(none.min));
    QVERIFY(std::isnan(none.max));
    QCOMPARE(none.finite(), uint64_t(0));
}

void TestValueStats::handChosen_data() {
    QTest::addColumn<int>("index");
    for (size_t i = 0; i < handCases().size(); ++i)
        QTest::addRow("%s", handCases()[i].name) << int(i);
}

void TestValueStats::handChosen() {
    QFETCH(int, index);
    const HandCase& c = handCases()[size_t(index)];
    const size_t w = itemBytes(c.type);
    const uint64_t n = c.bytes.size() / w;
    const char* p = c.bytes.data();
    const std::vector<LD> values = refDecodeAll(c.type, c.bytes);
    const Ref r = referenceOf(values, refMinNormal(c.type));

    // The test's own reference agrees with the literals.
    QCOMPARE(r.count, c.count);
    QCOMPARE(r.nan, c.nan);
    QCOMPARE(r.zeros, c.zeros);
    QCOMPARE(r.subnormals, c.subnormals);
    QCOMPARE(double(r.max), c.max);

    ValueAccumulator one(c.type);
    QCOMPARE(one.dtype(), c.type);
    one.add(p, n);
    CHECK(checkLiteralCounts(one.moments(), 1, c.count, c.nan, c.posInf, c.negInf, c.zeros,
                             c.subnormals, c.min, c.max, c.maxAbs, c.minAbsNonzero, "one call"));
    CHECK(checkMoments(one.moments(), r, 1e-13L, false, "one call"));

    ValueAccumulator split(c.type);
    split.add(p, 1);
    split.add(p + w, 0);
    split.add(p + w, n / 2 - 1);
    split.add(p + w * (n / 2), n - n / 2);
    CHECK(checkAgree(split.moments(), one.moments(), "split"));

    ValueAccumulator a(c.type), b(c.type);
    a.add(p, n / 3);
    b.add(p + w * (n / 3), n - n / 3);
    a.merge(b);
    CHECK(checkAgree(a.moments(), one.moments(), "merged"));

    ValueAccumulator intoEmpty(c.type);
    intoEmpty.merge(one);
    CHECK(checkAgree(intoEmpty.moments(), one.moments(), "merged into empty"));
    ValueAccumulator moved(std::move(intoEmpty));
    moved.merge(ValueAccumulator(c.type));
    CHECK(checkAgree(moved.moments(), one.moments(), "moved, empty merged in"));

    // Histograms, where the bins are predictable: F32/F64 hold values outside BF16's range
    // (wideValuesBeyondBf16Range covers those).
    if (c.type != DType::F32 && c.type != DType::F64) {
        CHECK(checkHistograms(one, values, "one call"));
        CHECK(checkHistograms(a, values, "merged"));
    }

    // 4096 copies: the large-run (per bit pattern) path of the 8- and 16-bit dtypes.
    constexpr uint64_t reps = 4096;
    std::string repeated;
    repeated.reserve(c.bytes.size() * reps);
    for (uint64_t i = 0; i < reps; ++i)
        repeated += c.bytes;
    ValueAccumulator big(c.type);
    big.add(repeated.data(), n * reps);
    CHECK(checkLiteralCounts(big.moments(), reps, c.count, c.nan, c.posInf, c.negInf, c.zeros,
                             c.subnormals, c.min, c.max, c.maxAbs, c.minAbsNonzero, "x4096"));
    const Ref rr = referenceOf(
        n * reps, [&](uint64_t i) { return values[i % n]; }, refMinNormal(c.type));
    CHECK(checkMoments(big.moments(), rr, 1e-13L, false, "x4096"));
    // The repeated one merged from a direct (small) and a large part.
    ValueAccumulator mixed(c.type), rest(c.type);
    mixed.add(repeated.data(), n);
    rest.add(repeated.data() + c.bytes.size(), n * (reps - 1));
    mixed.merge(rest);
    CHECK(checkAgree(mixed.moments(), big.moments(), "x4096 merged"));
    if (c.type != DType::F32 && c.type != DType::F64) {
        std::vector<LD> repeatedValues(n * reps);
        for (uint64_t i = 0; i < n * reps; ++i)
            repeatedValues[i] = values[i % n];
        CHECK(checkHistograms(big, repeatedValues, "x4096"));
    }
}

void TestValueStats::allBitPatterns_data() {
    QTest::addColumn<int>("index");
    for (size_t i = 0; i < sweepCases().size(); ++i)
        QTest::addRow("%s", sweepCases()[i].name) << int(i);
}

void TestValueStats::allBitPatterns() {
    QFETCH(int, index);
    const SweepCase& c = sweepCases()[size_t(index)];
    const size_t w = itemBytes(c.type);
    const uint64_t patterns = uint64_t(1) << (8 * w);
    std::string bytes;
    for (uint64_t b = 0; b < patterns; ++b)
        bytes += bitsBytes(b, w);
    const std::vector<LD> values = refDecodeAll(c.type, bytes);
    const Ref r = referenceOf(values, refMinNormal(c.type));
    QCOMPARE(r.nan, c.nan); // the test's decoder against the literals
    QCOMPARE(r.subnormals, c.subnormals);
    QCOMPARE(double(r.minAbsNonzero), c.minAbsNonzero);

    ValueAccumulator once(c.type);
    once.add(bytes.data(), patterns);
    CHECK(checkLiteralCounts(once.moments(), 1, patterns, c.nan, c.posInf, c.negInf, c.zeros,
                             c.subnormals, c.min, c.max, c.maxAbs, c.minAbsNonzero, "once"));
    CHECK(checkMoments(once.moments(), r, 1e-13L, false, "once"));
    CHECK(checkHistograms(once, values, "once"));

    // Several copies in uneven calls.
    const uint64_t reps = w == 1 ? 2000 : 5;
    std::string repeated;
    for (uint64_t i = 0; i < reps; ++i)
        repeated += bytes;
    const uint64_t total = patterns * reps;
    ValueAccumulator many(c.type);
    const uint64_t cuts[] = {0, 3, 1000, total / 2 + 1, total};
    for (int i = 0; i + 1 < 5; ++i)
        many.add(repeated.data() + cuts[i] * w, cuts[i + 1] - cuts[i]);
    CHECK(checkLiteralCounts(many.moments(), reps, patterns, c.nan, c.posInf, c.negInf, c.zeros,
                             c.subnormals, c.min, c.max, c.maxAbs, c.minAbsNonzero, "repeated"));
    const Ref rr = referenceOf(
        total, [&](uint64_t i) { return values[i % patterns]; }, refMinNormal(c.type));
    CHECK(checkMoments(many.moments(), rr, 1e-13L, false, "repeated"));
    const Histogram lin = many.linearHistogram(), single = once.linearHistogram();
    for (int b = 0; b < kHistogramBins; ++b)
        QCOMPARE(lin.counts[b], single.counts[b] * reps);
    const Histogram log = many.logHistogram(), singleLog = once.logHistogram();
    for (int b = 0; b < kHistogramBins; ++b)
        QCOMPARE(log.counts[b], singleLog.counts[b] * reps);
}

void TestValueStats::emptyAndNonFiniteOnly() {
    ValueAccumulator empty(DType::F32);
    QCOMPARE(empty.moments().count, uint64_t(0));
    QVERIFY(std::isnan(empty.moments().mean()));
    QVERIFY(std::isnan(empty.moments().min));
    QVERIFY(std::isnan(empty.moments().max));
    QCOMPARE(empty.moments().maxAbs, 0.0);
    QVERIFY(std::isinf(empty.moments().minAbsNonzero));
    QCOMPARE(binSum(empty.linearHistogram()), uint64_t(0));
    QCOMPARE(binSum(empty.logHistogram()), uint64_t(0));

    const std::string nonFinite =
        bytesOf(std::vector<uint32_t>{0x7FC00000, 0x7F800000, 0xFF800000, 0xFFC00000});
    ValueAccumulator nf(DType::F32);
    nf.add(nonFinite.data(), 4);
    const Moments& m = nf.moments();
    QCOMPARE(m.count, uint64_t(4));
    QCOMPARE(m.nan, uint64_t(2));
    QCOMPARE(m.posInf, uint64_t(1));
    QCOMPARE(m.negInf, uint64_t(1));
    QCOMPARE(m.finite(), uint64_t(0));
    QVERIFY(std::isnan(m.mean()));
    QVERIFY(std::isnan(m.min));
    QVERIFY(std::isnan(m.max));
    QCOMPARE(m.maxAbs, 0.0);
    QVERIFY(std::isinf(m.minAbsNonzero));
    QCOMPARE(binSum(nf.linearHistogram()), uint64_t(0));
    QCOMPARE(binSum(nf.logHistogram()), uint64_t(0));

    // Only zeros (+0, -0): finite, so in the linear histogram; none in the log one.
    const std::string zeros = bytesOf(std::vector<uint16_t>{0x0000, 0x8000, 0x0000});
    ValueAccumulator z(DType::F16);
    z.add(zeros.data(), 3);
    QCOMPARE(z.moments().zeros, uint64_t(3));
    QCOMPARE(z.moments().mean(), 0.0);
    QCOMPARE(z.moments().maxAbs, 0.0);
    QVERIFY(std::isinf(z.moments().minAbsNonzero));
    const Histogram lin = z.linearHistogram();
    QCOMPARE(lin.lo, 0.0);
    QCOMPARE(lin.hi, 0.0);
    QCOMPARE(binSum(lin), uint64_t(3));
    QCOMPARE(std::count(lin.counts.begin(), lin.counts.end(), uint64_t(3)), 1L);
    QCOMPARE(binSum(z.logHistogram()), uint64_t(0));
}

void TestValueStats::largeRuns_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("n");
    for (DType t : {DType::F16, DType::BF16})
        for (int n : {10, 5000, 300000})
            QTest::addRow("%s %d", std::string(dtypeName(t)).c_str(), n) << int(t) << n;
}

void TestValueStats::largeRuns() {
    QFETCH(int, type);
    QFETCH(int, n);
    const DType t = DType(type);
    const std::string bytes = bytesOf(randomHalfs(t, size_t(n), 12345 + uint64_t(n)));
    const std::vector<LD> values = refDecodeAll(t, bytes);
    const Ref r = referenceOf(values, refMinNormal(t));
    QVERIFY(r.nan >= 1 && r.posInf >= 1 && r.negInf >= 1 && r.zeros >= 2 && r.subnormals >= 1);

    ValueAccumulator one(t);
    one.add(bytes.data(), uint64_t(n));
    // Strict: mean, stddev, l2 and rms within 1e-12 of themselves.
    CHECK(checkMoments(one.moments(), r, 1e-12L, true, "one call"));
    CHECK(checkHistograms(one, values, "one call"));

    // Uneven pieces, and two accumulators merged.
    ValueAccumulator pieces(t);
    uint64_t at = 0;
    for (uint64_t size : {uint64_t(1), uint64_t(7), uint64_t(4096), uint64_t(65537)}) {
        const uint64_t take = std::min(size, uint64_t(n) - at);
        pieces.add(bytes.data() + 2 * at, take);
        at += take;
    }
    pieces.add(bytes.data() + 2 * at, uint64_t(n) - at);
    CHECK(checkAgree(pieces.moments(), one.moments(), "pieces"));
    CHECK(checkMoments(pieces.moments(), r, 1e-12L, true, "pieces"));
    ValueAccumulator a(t), b(t);
    a.add(bytes.data(), uint64_t(n) / 3);
    b.add(bytes.data() + 2 * (uint64_t(n) / 3), uint64_t(n) - uint64_t(n) / 3);
    b.merge(a);
    CHECK(checkAgree(b.moments(), one.moments(), "merged"));
    CHECK(checkMoments(b.moments(), r, 1e-12L, true, "merged"));
    for (int k = 0; k < kHistogramBins; ++k) {
        QCOMPARE(b.linearHistogram().counts[k], one.linearHistogram().counts[k]);
        QCOMPARE(b.logHistogram().counts[k], one.logHistogram().counts[k]);
    }
}

void TestValueStats::patternCountsInBothWidths_data() {
    QTest::addColumn<int>("type");
    for (DType t : {DType::F16, DType::BF16})
        QTest::addRow("%s", std::string(dtypeName(t)).c_str()) << int(t);
}

// PatternCounts counts a window in 32-bit counters, or in bytes that carry into them when the
// previous window spread over many keys. Windows alternate so that both ways run, a carry
// happens on every count of 256, and each window's counts and the folded tensor match the
// reference.
void TestValueStats::patternCountsInBothWidths() {
    QFETCH(int, type);
    const DType t = DType(type);
    auto spread = [](size_t n, uint64_t seed) { // every bit pattern, NaNs and Infs included
        SplitMix g{seed};
        std::vector<uint16_t> out(n);
        for (auto& v : out)
            v = uint16_t(g.next());
        return out;
    };
    auto skewed = [&](size_t n, uint64_t seed) { // under 2,000 keys, three of them hot
        const std::vector<uint16_t> pool = randomHalfs(t, 2000, seed);
        SplitMix g{seed};
        std::vector<uint16_t> out(n);
        for (auto& v : out)
            v = pool[g.next() % pool.size()];
        const uint16_t hot[] = {0x3C00, 0x0000, 0xC000};
        const size_t repeats[] = {256 * 37, 255, 512};
        for (size_t h = 0; h < 3; ++h)
            for (size_t i = 0; i < repeats[h]; ++i)
                out[(i * 7 + h) % n] = hot[h];
        return out;
    };
    const std::vector<uint16_t> windows[] = {spread(300000, 1), skewed(300000, 2),
                                             spread(300000, 3), spread(200000, 4),
                                             skewed(100000, 5)};
    const bool inBytes[] = {false, true, false, true, true};

    PatternCounts counts;
    ValueAccumulator tensor(t);
    std::vector<LD> all;
    for (size_t w = 0; w < std::size(windows); ++w) {
        const QString ctx = QStringLiteral("window %1").arg(w);
        const std::string bytes = bytesOf(windows[w]);
        counts.reset(t);
        QCOMPARE(counts.countsInBytes(), inBytes[w]);
        counts.add(bytes.data(), windows[w].size());
        const Moments m = counts.foldInto(&tensor);
        const std::vector<LD> values = refDecodeAll(t, bytes);
        const Ref r = referenceOf(values, refMinNormal(t));
        EXPECT_EQ(ctx, m.count, r.count);
        EXPECT_EQ(ctx, m.nan, r.nan);
        EXPECT_EQ(ctx, m.posInf, r.posInf);
        EXPECT_EQ(ctx, m.negInf, r.negInf);
        EXPECT_EQ(ctx, m.zeros, r.zeros);
        QVERIFY2(std::fabs(LD(m.sumSquares) - r.sumSquares) <= 1e-12L * r.sumSquares,
                 qPrintable(ctx));
        all.insert(all.end(), values.begin(), values.end());
    }
    const Ref r = referenceOf(all, refMinNormal(t));
    // summary() walks the counts twice for all three; asked one by one they take four walks.
    const ValueSummary summary = tensor.summary();
    CHECK(checkMoments(summary.moments, r, 1e-12L, true, "summary"));
    CHECK(checkMoments(tensor.moments(), r, 1e-12L, true, "folded"));
    CHECK(checkHistograms(tensor, all, "folded"));
    const Histogram linear = tensor.linearHistogram(), log = tensor.logHistogram();
    QCOMPARE(summary.linear.counts, linear.counts);
    QCOMPARE(summary.log.counts, log.counts);
    EXPECT_EXACT("summary linear", summary.linear.lo, linear.lo);
    EXPECT_EXACT("summary linear", summary.linear.hi, linear.hi);
    EXPECT_EXACT("summary log", summary.log.lo, log.lo);
    EXPECT_EXACT("summary log", summary.log.hi, log.hi);
}

// Values exactly on bin edges, counted densely (over kSparseLimit elements): -32..32 each 300
// times put k in linear bin k + 32 and the maximum in the last bin with 31; +-2^j, j = 0..63,
// put j in log bin min(63, floor(64 j / 63)), so 0 and 63 share bins with no other.
void TestValueStats::denseBinsAtEdges() {
    std::vector<uint16_t> linearValues, logValues;
    for (int rep = 0; rep < 300; ++rep) {
        for (int k = -32; k <= 32; ++k)
            linearValues.push_back(bf16Int(k));
        for (int j = 0; j < 64; ++j)
            for (uint16_t sign : {0x0000, 0x8000}) // 2^j in BF16: exponent j + 127, no fraction
                logValues.push_back(uint16_t(sign | ((j + 127) << 7)));
    }
    std::array<uint64_t, kHistogramBins> linearBins{}, logBins{};
    for (int b = 0; b < kHistogramBins; ++b)
        linearBins[size_t(b)] = b == 63 ? 600 : 300;
    for (int j = 0; j < 64; ++j)
        logBins[size_t(std::min(63, 64 * j / 63))] += 600;
    for (bool together : {false, true}) {
        const QString ctx = together ? "summary" : "one by one";
        ValueAccumulator lin(DType::BF16), lg(DType::BF16);
        const std::string linearBytes = bytesOf(linearValues), logBytes = bytesOf(logValues);
        lin.add(linearBytes.data(), linearValues.size());
        lg.add(logBytes.data(), logValues.size());
        const Histogram linear = together ? lin.summary().linear : lin.linearHistogram();
        const Histogram log = together ? lg.summary().log : lg.logHistogram();
        EXPECT_EXACT(ctx, linear.lo, -32.0);
        EXPECT_EXACT(ctx, linear.hi, 32.0);
        QVERIFY2(linear.counts == linearBins, qPrintable(ctx + ": linear " + binsText(linear)));
        EXPECT_EXACT(ctx, log.lo, 0.0);
        QVERIFY2(log.counts == logBins, qPrintable(ctx + ": log " + binsText(log)));
    }
}

// summary() walks a dense table run by run (KeyTables::Run in core/value_stats.cpp): extremes
// from each run's first and last counted key, bins by binary search along a run. Every dtype's
// patterns kept one in `keepOneIn`, so runs start, end and skip keys anywhere, against the
// test's own decoding and against linearHistogram()/logHistogram(), which bin key by key.
void TestValueStats::denseSummaryWithGaps_data() {
    QTest::addColumn<int>("index");
    QTest::addColumn<int>("keepOneIn");
    for (size_t i = 0; i < sweepCases().size(); ++i)
        for (int keep : {1, 2, 7, 300})
            QTest::addRow("%s 1/%d", sweepCases()[i].name, keep) << int(i) << keep;
}

void TestValueStats::denseSummaryWithGaps() {
    QFETCH(int, index);
    QFETCH(int, keepOneIn);
    const SweepCase& c = sweepCases()[size_t(index)];
    const size_t w = itemBytes(c.type);
    const uint64_t patterns = uint64_t(1) << (8 * w);
    std::mt19937_64 rng(uint64_t(index) * 1000 + uint64_t(keepOneIn));
    std::string bytes;
    for (uint64_t b = 0; b < patterns; ++b) {
        if (rng() % uint64_t(keepOneIn) != 0) continue;
        for (uint64_t copies = 1 + rng() % 3; copies > 0; --copies)
            bytes += bitsBytes(b, w);
    }
    const std::vector<LD> values = refDecodeAll(c.type, bytes);
    const Ref r = referenceOf(values, refMinNormal(c.type));

    PatternCounts counts;
    counts.reset(c.type);
    counts.add(bytes.data(), values.size());
    ValueAccumulator tensor(c.type);
    counts.foldInto(&tensor);
    const ValueSummary summary = tensor.summary();
    CHECK(checkMoments(summary.moments, r, 1e-13L, false, "summary"));
    CHECK(checkHistograms(summary.linear, summary.log, c.type, values, "summary"));
    const Histogram linear = tensor.linearHistogram(), log = tensor.logHistogram();
    for (int b = 0; b < kHistogramBins; ++b) {
        EXPECT_EQ(QStringLiteral("linear bin %1").arg(b), summary.linear.counts[size_t(b)],
                  linear.counts[size_t(b)]);
        EXPECT_EQ(QStringLiteral("log bin %1").arg(b), summary.log.counts[size_t(b)],
                  log.counts[size_t(b)]);
    }
}

// Above 2^53 neighbouring 64-bit integers share a double: min == max there, yet the tensor is
// not constant. Within one accumulator and across a merge of two constant halves.
void TestValueStats::largeIntegersThatDifferAreNotConstant() {
    const uint64_t big = uint64_t(1) << 62;
    for (DType type : {DType::I64, DType::U64}) {
        const QString ctx = QString::fromLatin1(dtypeName(type).data());
        const std::vector<uint64_t> differ = {big, big + 1, big};
        ValueAccumulator both(type);
        both.add(differ.data(), differ.size());
        EXPECT_EXACT(ctx, both.moments().min, both.moments().max); // the doubles cannot tell
        QVERIFY2(!both.moments().constant(), qPrintable(ctx + ": 2^62 and 2^62+1 are constant"));

        const std::vector<uint64_t> same = {big + 1, big + 1};
        ValueAccumulator first(type), second(type);
        first.add(differ.data(), 1);
        second.add(same.data(), same.size());
        QVERIFY2(first.moments().constant() && second.moments().constant(), qPrintable(ctx));
        first.merge(second);
        QVERIFY2(!first.moments().constant(), qPrintable(ctx + ": merged halves are constant"));
        ValueAccumulator twice(type);
        twice.add(same.data(), same.size());
        twice.merge(second);
        QVERIFY2(twice.moments().constant(), qPrintable(ctx + ": a constant tensor is not"));
    }
    ValueAccumulator f(DType::F32);
    const std::vector<float> ones = {1.0f, 1.0f};
    f.add(ones.data(), ones.size());
    QVERIFY(f.moments().constant());
}

// A wide-dtype case: raw little-endian elements and the test's own value of each (a double, and
// the exact integer for I64/U64).
struct WideCase {
    DType type = DType::F32;
    std::string bytes;
    std::vector<double> values;
    std::vector<__int128> integers; // I64/U64 only
};
Q_DECLARE_METATYPE(std::shared_ptr<WideCase>)

template <class T, class Gen> std::shared_ptr<WideCase> wideCase(DType type, size_t n, Gen gen) {
    auto c = std::make_shared<WideCase>();
    c->type = type;
    c->bytes.resize(n * sizeof(T));
    for (size_t i = 0; i < n; ++i) {
        const T v = gen(i);
        std::memcpy(c->bytes.data() + i * sizeof(T), &v, sizeof v);
        c->values.push_back(double(v));
        if constexpr (std::is_integral_v<T> && sizeof(T) == 8) c->integers.push_back(__int128(v));
    }
    return c;
}

void TestValueStats::wideHistogramsAreExact_data() {
    QTest::addColumn<std::shared_ptr<WideCase>>("data");
    constexpr size_t n = 200'000; // past the 65,536 values kept exactly
    SplitMix g{2026};
    auto unit = [&g] { return double(g.next() >> 11) * 0x1p-53; };
    QTest::newRow("F32 1000 + 1e-5 k") << wideCase<float>(
        DType::F32, n, [&](size_t) { return 1000.0f + float(g.next() % 997) * 1e-5f; });
    QTest::newRow("F32 [0.5, 1)") << wideCase<float>(
        DType::F32, n, [&](size_t) { return float(0.5 + 0.5 * unit()); });
    QTest::newRow("F32 subnormals") << wideCase<float>(DType::F32, n, [&](size_t i) {
        const uint32_t bits = 1 + uint32_t(g.next() % 0x7FFFFF);
        return std::bit_cast<float>(i % 2 ? bits : bits | 0x80000000u);
    });
    QTest::newRow("F32 NaN Inf and 0..499.5") << wideCase<float>(DType::F32, n, [&](size_t i) {
        if (i % 1000 == 7) return std::numeric_limits<float>::quiet_NaN();
        if (i % 1000 == 8) return i % 2 ? std::numeric_limits<float>::infinity() : -1.0f / 0.0f;
        return float(i % 1000) * 0.5f;
    });
    QTest::newRow("F64 1 + 1e-12 k") << wideCase<double>(
        DType::F64, n, [&](size_t) { return 1.0 + double(g.next() % 100'000) * 1e-12; });
    QTest::newRow("F64 constant") << wideCase<double>(DType::F64, n, [](size_t) { return 3.25; });
    QTest::newRow("F64 tiny, huge and zero") << wideCase<double>(DType::F64, n, [&](size_t i) {
        switch (i % 4) {
        case 0:
            return std::pow(10.0, -200 + 10 * unit());
        case 1:
            return -std::pow(10.0, 39 + 261 * unit());
        case 2:
            return std::pow(10.0, 39 + 261 * unit());
        default:
            return 0.0;
        }
    });
    QTest::newRow("I32 near 2^31") << wideCase<int32_t>(
        DType::I32, n, [&](size_t) { return int32_t(2147483647 - int32_t(g.next() % 1'000'000)); });
    QTest::newRow("U32 near 2^32") << wideCase<uint32_t>(
        DType::U32, n, [&](size_t) { return uint32_t(4294967295u - uint32_t(g.next() % 5000)); });
    QTest::newRow("I64 near 2^63") << wideCase<int64_t>(DType::I64, n, [&](size_t) {
        return int64_t(std::numeric_limits<int64_t>::max() - int64_t(g.next() % 1000));
    });
    QTest::newRow("I64 near -2^63") << wideCase<int64_t>(DType::I64, n, [&](size_t) {
        return int64_t(std::numeric_limits<int64_t>::min() + int64_t(g.next() % 1000));
    });
    QTest::newRow("I64 full range")
        << wideCase<int64_t>(DType::I64, n, [&](size_t) { return int64_t(g.next()); });
    QTest::newRow("U64 near 2^64") << wideCase<uint64_t>(
        DType::U64, n, [&](size_t) { return ~uint64_t(0) - g.next() % 3000; });
    QTest::newRow("U64 2^62 and 2^62 + 1")
        << wideCase<uint64_t>(DType::U64, n, [](size_t i) { return (uint64_t(1) << 62) + i % 2; });
}

// Histograms of wide dtypes past 65,536 elements, binned by key and then by value for the
// keys that span a bin edge (as computeStats does in its second read), against the test's own
// binning of every element.
void TestValueStats::wideHistogramsAreExact() {
    QFETCH(std::shared_ptr<WideCase>, data);
    const WideCase& c = *data;
    const size_t size = dtypeBits(c.type) / 8, n = c.values.size();
    // In uneven windows, merged, as the tensor's chunks are.
    ValueAccumulator acc(c.type), window(c.type);
    for (size_t at = 0; at < n;) {
        const size_t step = std::min(n - at, size_t(4099 + at % 7919));
        window.reset(c.type);
        window.add(c.bytes.data() + at * size, step);
        acc.merge(window);
        at += step;
    }
    const ValueSummary summary = acc.summary();
    Histogram linear = summary.linear, log = summary.log;
    if (const auto refinement = acc.refinement(summary.moments)) {
        linear = refinement->linear();
        log = refinement->log();
        refinement->add(c.bytes.data(), n / 2, linear, log);
        refinement->add(c.bytes.data() + n / 2 * size, n - n / 2, linear, log);
    }

    double lo = kInf, hi = -kInf, minAbs = kInf, maxAbs = 0;
    __int128 intLo = 0, intHi = 0;
    for (size_t i = 0; i < n; ++i) {
        const double v = c.values[i];
        if (!std::isfinite(v)) continue;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        maxAbs = std::max(maxAbs, std::fabs(v));
        if (v != 0) minAbs = std::min(minAbs, std::fabs(v));
    }
    if (!c.integers.empty()) {
        intLo = *std::min_element(c.integers.begin(), c.integers.end());
        intHi = *std::max_element(c.integers.begin(), c.integers.end());
    }
    std::array<uint64_t, kHistogramBins> expectLinear{}, expectLog{};
    // The log positions in extended precision from the values as doubles (I64/U64 past 2^53
    // by their nearest double), so that doubles closer than log10's own rounding in double,
    // as near 2^63, still get the places they have.
    const long double logLo = std::log(static_cast<long double>(minAbs)),
                      logHi = std::log(static_cast<long double>(maxAbs));
    for (size_t i = 0; i < n; ++i) {
        const double v = c.values[i];
        if (!std::isfinite(v)) continue;
        double at = hi > lo ? (v - lo) / (hi - lo) * kHistogramBins : 0;
        if (!c.integers.empty()) // integers: exactly, in 128 bits
            at = intHi > intLo ? double((c.integers[i] - intLo) * kHistogramBins / (intHi - intLo))
                               : 0;
        ++expectLinear[size_t(std::clamp(std::floor(at), 0.0, 63.0))];
        if (v == 0) continue;
        const long double logAt = logHi > logLo
                                      ? (std::log(static_cast<long double>(std::fabs(v))) - logLo) /
                                            (logHi - logLo) * kHistogramBins
                                      : 0;
        ++expectLog[size_t(std::clamp(std::floor(logAt), 0.0L, 63.0L))];
    }
    for (int b = 0; b < kHistogramBins; ++b) {
        EXPECT_EQ(QStringLiteral("linear bin %1").arg(b), linear.counts[size_t(b)],
                  expectLinear[size_t(b)]);
        EXPECT_EQ(QStringLiteral("log bin %1").arg(b), log.counts[size_t(b)], expectLog[size_t(b)]);
    }
    EXPECT_EXACT("linear lo", linear.lo, lo);
    EXPECT_EXACT("linear hi", linear.hi, hi);
}

std::string integerString(__int128 v) {
    if (v < 0) return "-" + integerString(-v);
    return v < 10 ? std::string(1, char('0' + int(v)))
                  : integerString(v / 10) + char('0' + int(v % 10));
}

// I64/U64 past 2^53: exact extremes, and mean and deviation from sums about an element, against
// the test's own 128-bit sums.
void TestValueStats::largeIntegerMoments() {
    SplitMix g{63};
    for (const bool top : {true, false}) {
        for (DType type : {DType::I64, DType::U64}) {
            const QString ctx =
                QStringLiteral("%1 %2").arg(dtypeName(type).data(), top ? "top" : "bottom");
            std::vector<uint64_t> bits(5000);
            std::vector<__int128> x(bits.size());
            for (size_t i = 0; i < bits.size(); ++i) {
                const uint64_t k = g.next() % 1000;
                if (type == DType::I64)
                    x[i] = top ? __int128(std::numeric_limits<int64_t>::max()) - k
                               : __int128(std::numeric_limits<int64_t>::min()) + k;
                else
                    x[i] = top ? __int128(~uint64_t(0)) - k : __int128(k);
                bits[i] = uint64_t(x[i]);
            }
            ValueAccumulator acc(type), part(type);
            acc.add(bits.data(), 1234);
            part.add(bits.data() + 1234, bits.size() - 1234);
            acc.merge(part);
            const Moments& m = acc.moments();
            const __int128 lo = *std::min_element(x.begin(), x.end());
            const __int128 hi = *std::max_element(x.begin(), x.end());
            QCOMPARE(exactIntegerText(m, Extreme::Min).value_or("none"), integerString(lo));
            QCOMPARE(exactIntegerText(m, Extreme::Max).value_or("none"), integerString(hi));
            const __int128 absMax = std::max(lo < 0 ? -lo : lo, hi < 0 ? -hi : hi);
            QCOMPARE(exactIntegerText(m, Extreme::MaxAbs).value_or("none"), integerString(absMax));
            // Mean and variance about x[0], exact in 128 bits (differences below 2^10).
            __int128 sum = 0, squares = 0;
            for (__int128 v : x) {
                sum += v - x[0];
                squares += (v - x[0]) * (v - x[0]);
            }
            const LD count = LD(x.size());
            const LD meanOffset = LD(sum) / count;
            const LD variance = LD(squares) / count - meanOffset * meanOffset;
            EXPECT_NEAR(ctx + " std", LD(m.stddev()), std::sqrt(variance),
                        1e-9L * std::sqrt(variance));
            EXPECT_NEAR(ctx + " mean", LD(m.mean()), LD(x[0]) + meanOffset,
                        1e-15L * std::fabs(LD(x[0]) + meanOffset) + 1);
            QVERIFY2(!m.constant(), qPrintable(ctx));
        }
    }
    // Sums past extended precision's 64 bits: exact in 128. {2^63 - 1, -2^63, 5} has mean 4/3.
    const std::vector<int64_t> ends = {std::numeric_limits<int64_t>::max(),
                                       std::numeric_limits<int64_t>::min(), 5};
    ValueAccumulator spread(DType::I64);
    spread.add(ends.data(), ends.size());
    EXPECT_EXACT("mean of the I64 ends", spread.moments().mean(), double(4.0L / 3.0L));
    // Random I64 over the whole range, in two accumulators merged: the mean from a 128-bit sum.
    std::vector<int64_t> wide(10'000);
    __int128 total = 0;
    for (int64_t& x : wide) {
        x = int64_t(g.next());
        total += x;
    }
    ValueAccumulator a(DType::I64), b(DType::I64);
    a.add(wide.data(), 3000);
    b.add(wide.data() + 3000, wide.size() - 3000);
    a.merge(b);
    EXPECT_EXACT("mean of random I64", a.moments().mean(),
                 double((long double)total / (long double)wide.size()));

    ValueAccumulator f(DType::F64);
    const double v = 2.5;
    f.add(&v, 1);
    QVERIFY(!exactIntegerText(f.moments(), Extreme::Min));
}

// Powers of two whose exponents put them exactly on log bin edges land in the bin they start:
// F8_E8M0 codes c (2^(c - 127)) spread over exponents 0 ... E are in bin floor(e * 64 / E),
// computed here in integers. Also F32 (values kept exactly) and F64 past 65,536 elements.
void TestValueStats::powersOfTwoOnLogEdges() {
    for (int step : {1, 3, 5}) {
        std::vector<uint8_t> codes;
        for (int c = 0; c <= 254; c += step)
            codes.push_back(uint8_t(c));
        const int span = codes.back() - codes.front();
        std::array<uint64_t, kHistogramBins> expect{};
        for (uint8_t c : codes)
            ++expect[size_t(std::min(63, (c - codes.front()) * 64 / span))];
        ValueAccumulator e8(DType::F8_E8M0);
        e8.add(codes.data(), codes.size());
        const Histogram log = e8.summary().log;
        const Histogram alone = e8.logHistogram();
        for (int b = 0; b < kHistogramBins; ++b) {
            EXPECT_EQ(QStringLiteral("E8M0 step %1 bin %2").arg(step).arg(b), log.counts[size_t(b)],
                      expect[size_t(b)]);
            EXPECT_EQ(QStringLiteral("E8M0 step %1 bin %2").arg(step).arg(b),
                      alone.counts[size_t(b)], expect[size_t(b)]);
        }
    }
    // U16 1, 2, 4 ... 256: bin 8k, 256 in bin 63; through the summary and the histogram alone.
    std::vector<uint16_t> u16;
    for (int k = 0; k <= 8; ++k)
        u16.push_back(uint16_t(1 << k));
    ValueAccumulator small(DType::U16);
    small.add(u16.data(), u16.size());
    for (const Histogram& log : {small.summary().log, small.logHistogram()})
        for (int k = 0; k <= 8; ++k)
            EXPECT_EQ(QStringLiteral("U16 2^%1").arg(k), log.counts[size_t(std::min(63, 8 * k))],
                      uint64_t(1));
    // 2^0 ... 2^192 in F64, repeated past the exact list: bin floor(k / 3), 2^192 in bin 63.
    std::vector<double> powers;
    for (int r = 0; r < 400; ++r)
        for (int k = 0; k <= 192; ++k)
            powers.push_back(std::ldexp(1.0, k));
    for (const size_t n : {size_t(193), powers.size()}) {
        ValueAccumulator acc(DType::F64);
        acc.add(powers.data(), n);
        const ValueSummary summary = acc.summary();
        Histogram log = summary.log;
        if (const auto r = acc.refinement(summary.moments)) {
            log = r->log();
            Histogram linear = r->linear();
            r->add(powers.data(), n, linear, log);
        }
        for (int b = 0; b < kHistogramBins; ++b)
            EXPECT_EQ(QStringLiteral("F64 2^k, %1 elements, bin %2").arg(n).arg(b),
                      log.counts[size_t(b)], (n / 193) * (b == 63 ? 4 : 3));
    }
}

// An F32 tensor past 65,536 elements held whole by two files (the second a replica): the first
// read takes both (the replica for its own counts), the second read for the histograms only the
// first copy, and the histograms count every element once, in its own bin.
void TestValueStats::secondReadCountsReplicasOnce() {
    const fs::path d = dir("replicated");
    fs::create_directories(d);
    constexpr uint64_t rows = 400, cols = 250; // 100,000 elements
    std::vector<float> v(rows * cols);
    for (size_t i = 0; i < v.size(); ++i)
        v[i] = 1000.0f + float(i % 977) * 0x1p-10f; // 1000 ... 1000.95: packed under few keys
    const std::string bytes = bytesOf(v);
    for (int f = 1; f <= 2; ++f)
        writeShard(d / ("rep-" + std::to_string(f) + ".safetensors"),
                   {{"w", "F32", {0, 0}, {rows, cols}, bytes}});
    const Checkpoint c = scanCheckpoint(d);
    QVERIFY(!c.hasErrors());
    QCOMPARE(c.tensors.at(0).chunks.size(), size_t(2));
    QVERIFY(c.tensors.at(0).chunks[0].replica != c.tensors.at(0).chunks[1].replica);
    StatsOptions options;
    options.windowBytes = 64 << 10;
    const CheckpointStats stats = computeStats(c, options);
    QCOMPARE(stats.bytesRead, 3 * uint64_t(bytes.size()));
    const TensorStats& t = stats.tensors.at(0);
    QCOMPARE(t.moments.count, rows * cols);
    std::array<uint64_t, kHistogramBins> expect{};
    const double lo = 1000.0, hi = 1000.0 + 976 * 0x1p-10;
    for (float x : v)
        ++expect[size_t(std::min(63.0, std::floor((double(x) - lo) / (hi - lo) * 64)))];
    for (int b = 0; b < kHistogramBins; ++b)
        EXPECT_EQ(QStringLiteral("bin %1").arg(b), t.linear.counts[size_t(b)], expect[size_t(b)]);
    QCOMPARE(binSum(t.log), rows * cols);
}

// The second read goes through every kind of DCP item as the first does: a plain item, one
// stored transposed and one zstd-compressed (both decoded whole). F32 of random bit patterns
// (NaN and Inf among them) span every bin edge; the histograms are the test's own.
void TestValueStats::secondReadOfDcpItems() {
    const fs::path d = dir("dcp");
    constexpr uint64_t rows = 480, cols = 250; // 120,000 elements, 4 chunks of 30,000
    std::vector<DcpChunk> chunks = dcpSplit({rows, cols}, 0, 4);
    chunks[1].columnMajor = true;
    chunks[2].zstd = true;
    const auto written = writeDcpCheckpoint(d, {{"w", "F32", {rows, cols}, chunks}});
    const std::string& bytes = written.at("w");
    const Checkpoint c = scanCheckpoint(d);
    QVERIFY(!c.hasErrors());
    const CheckpointStats stats = computeStats(c);
    const auto it = std::find_if(c.tensors.begin(), c.tensors.end(),
                                 [](const TensorInfo& t) { return t.fqn == "w"; });
    QVERIFY(it != c.tensors.end());
    const TensorStats& t = stats.tensors.at(size_t(it - c.tensors.begin()));
    QVERIFY(stats.bytesRead > bytes.size()); // a second read took place

    std::vector<double> finite;
    for (size_t i = 0; i < bytes.size(); i += 4) {
        float f;
        std::memcpy(&f, bytes.data() + i, 4);
        if (std::isfinite(f)) finite.push_back(f);
    }
    const auto [lo, hi] = std::minmax_element(finite.begin(), finite.end());
    double minAbs = kInf, maxAbs = 0;
    for (double v : finite)
        if (v != 0) {
            minAbs = std::min(minAbs, std::fabs(v));
            maxAbs = std::max(maxAbs, std::fabs(v));
        }
    std::array<uint64_t, kHistogramBins> linear{}, log{};
    for (double v : finite) {
        ++linear[size_t(std::clamp(std::floor((v - *lo) / (*hi - *lo) * 64), 0.0, 63.0))];
        if (v == 0) continue;
        const double at = (std::log2(std::fabs(v)) - std::log2(minAbs)) * 64 /
                          (std::log2(maxAbs) - std::log2(minAbs));
        ++log[size_t(std::clamp(std::floor(at), 0.0, 63.0))];
    }
    QCOMPARE(t.moments.finite(), uint64_t(finite.size()));
    for (int b = 0; b < kHistogramBins; ++b) {
        EXPECT_EQ(QStringLiteral("linear bin %1").arg(b), t.linear.counts[size_t(b)],
                  linear[size_t(b)]);
        EXPECT_EQ(QStringLiteral("log bin %1").arg(b), t.log.counts[size_t(b)], log[size_t(b)]);
    }
}

// Rounds of one tensor (as 4,096 are on a large checkpoint): each tensor is read, then read again
// for its histograms, before the next; the histograms are those of one round, progress only
// moves forward and ends at the total of both reads.
void TestValueStats::secondReadInRounds() {
    const fs::path d = dir("rounds");
    fs::create_directories(d);
    constexpr uint64_t n = 70'000;
    std::vector<TestChunk> tensors;
    for (int t = 0; t < 3; ++t) {
        std::vector<float> v(n);
        for (size_t i = 0; i < n; ++i)
            v[i] = float(t + 1) * 1000.0f + float(i % 613) * 0x1p-9f;
        tensors.push_back({"t" + std::to_string(t), "F32", {0}, {n}, bytesOf(v)});
    }
    writeShard(d / "model.safetensors", tensors);
    const Checkpoint c = scanCheckpoint(d);
    QVERIFY(!c.hasErrors());
    StatsOptions all, rounds;
    rounds.tensorsPerRound = 1;
    ProgressLog log;
    rounds.progress = std::ref(log);
    const CheckpointStats once = computeStats(c, all), byRound = computeStats(c, rounds);
    QCOMPARE(byRound.bytesRead, 2 * 3 * n * 4);
    QCOMPARE(once.bytesRead, byRound.bytesRead);
    for (size_t t = 0; t < 3; ++t) {
        QVERIFY(once.tensors[t].linear.counts == byRound.tensors[t].linear.counts);
        QVERIFY(once.tensors[t].log.counts == byRound.tensors[t].log.counts);
        QCOMPARE(binSum(byRound.tensors[t].linear), n);
    }
    QVERIFY(!log.calls.empty());
    for (size_t i = 1; i < log.calls.size(); ++i) {
        QVERIFY(log.calls[i].bytesDone >= log.calls[i - 1].bytesDone);
        QVERIFY(log.calls[i].bytesTotal >= log.calls[i - 1].bytesTotal);
        QVERIFY(log.calls[i].bytesDone <= log.calls[i].bytesTotal);
    }
    QCOMPARE(log.calls.back().bytesDone, 2 * 3 * n * 4);
    QCOMPARE(log.calls.back().bytesTotal, 2 * 3 * n * 4);
    // Reading again after a second read: the rounds took turns.
    const auto binning = std::find_if(log.calls.begin(), log.calls.end(),
                                      [](const StatsProgress& p) { return p.binning; });
    QVERIFY(binning != log.calls.end());
    QVERIFY(
        std::any_of(binning, log.calls.end(), [](const StatsProgress& p) { return !p.binning; }));
}

void TestValueStats::meanPrecisionF32() {
    // 10^7 values 1 + k * 2^-23, k pseudo-random in [0, 4096): a float accumulator drifts far
    // past 1e-12; the reference sum is exact in long double.
    QElapsedTimer timer;
    timer.start();
    constexpr uint64_t n = 10'000'000;
    std::vector<float> v(n);
    SplitMix g{99};
    for (uint64_t i = 0; i < n; ++i)
        v[i] = 1.0f + float(g.next() % 4096) * 0x1p-23f;
    const Ref r = referenceOf(
        n, [&](uint64_t i) { return LD(v[i]); }, 0x1p-126L);
    ValueAccumulator acc(DType::F32);
    acc.add(v.data(), n);
    const Moments& m = acc.moments();
    QCOMPARE(m.count, n);
    EXPECT_NEAR("F32 1e7", m.mean(), r.mean(), 1e-12L * r.mean());
    EXPECT_NEAR("F32 1e7", m.stddev(), r.stddev(), 1e-9L * r.stddev());
    EXPECT_NEAR("F32 1e7", m.l2(), r.l2(), 1e-12L * r.l2());
    EXPECT_EXACT("F32 1e7", m.min, r.min);
    EXPECT_EXACT("F32 1e7", m.max, r.max);
    qInfo("10^7 F32 elements: %lld ms including the reference", qint64(timer.elapsed()));
}

void TestValueStats::meanPrecisionF64() {
    // 10^7 values 1e9 + 0.75 + j, j in [-500, 500]: every running double sum past 2^52 rounds
    // the same way (a naive sum is off by ~1e-10 relative); the reference is exact.
    QElapsedTimer timer;
    timer.start();
    constexpr uint64_t n = 10'000'000;
    std::vector<double> v(n);
    SplitMix g{4242};
    for (uint64_t i = 0; i < n; ++i)
        v[i] = 1e9 + 0.75 + double(int64_t(g.next() % 1001) - 500);
    const Ref r = referenceOf(
        n, [&](uint64_t i) { return LD(v[i]); }, 0x1p-1022L);
    ValueAccumulator acc(DType::F64);
    acc.add(v.data(), n);
    const Moments& m = acc.moments();
    QCOMPARE(m.count, n);
    EXPECT_NEAR("F64 1e7", m.mean(), r.mean(), 1e-12L * r.mean());
    EXPECT_NEAR("F64 1e7", m.stddev(), r.stddev(), 1e-9L * r.stddev());
    EXPECT_NEAR("F64 1e7", m.l2(), r.l2(), 1e-12L * r.l2());
    EXPECT_NEAR("F64 1e7", m.rms(), r.rms(), 1e-12L * r.rms());
    // The same in two accumulators of different sizes, merged.
    ValueAccumulator a(DType::F64), b(DType::F64);
    a.add(v.data(), 1234567);
    b.add(v.data() + 1234567, n - 1234567);
    a.merge(b);
    EXPECT_NEAR("F64 1e7 merged", a.moments().mean(), r.mean(), 1e-12L * r.mean());
    EXPECT_NEAR("F64 1e7 merged", a.moments().stddev(), r.stddev(), 1e-9L * r.stddev());
    qInfo("10^7 F64 elements: %lld ms including the reference", qint64(timer.elapsed()));
}

// Values packed closer than the rounding of their mean: 1e16 + {0, 2, 4, 6} (spacing 2, mean
// 1e16 + 3 between two doubles) has variance (9 + 1 + 1 + 9) / 4 = 5 exactly; about a rounded
// mean its deviations were -4, -2, 0, 2 (variance 6), and repeated past one block the merged
// block means made it 14. 1 + 2^-52 once and 1 three times: variance 3/16 · 2^-104. A mean far
// below the first value keeps its digits: I32 -2^31, 2^31 - 1, 0, 5, 6, 7 has mean 17/6.
void TestValueStats::valuesCloserThanTheirMeansRounding() {
    struct Case {
        const char* name;
        DType type;
        std::vector<double> pattern;
        size_t repeat;
        double mean, stddev;
    };
    const double e = 0x1p-52;
    const Case cases[] = {
        {"1e16 + 0, 2, 4, 6",
         DType::F64,
         {1e16, 1e16 + 2, 1e16 + 4, 1e16 + 6},
         1,
         1e16 + 4,
         std::sqrt(5.0)},
        {"1e16 + 0, 2, 4, 6, x 70,000",
         DType::F64,
         {1e16, 1e16 + 2, 1e16 + 4, 1e16 + 6},
         17'500,
         1e16 + 4,
         std::sqrt(5.0)},
        {"1 + 2^-52, 1, 1, 1", DType::F64, {1 + e, 1, 1, 1}, 1, 1, std::sqrt(3.0) / 4 * e},
        {"1 + 2^-52, 1, 1, 1, x 70,000",
         DType::F64,
         {1 + e, 1, 1, 1},
         17'500,
         1,
         std::sqrt(3.0) / 4 * e},
        {"I32 -2^31 ... 7", DType::I32, {-0x1p31, 0x1p31 - 1, 0, 5, 6, 7}, 1, 17.0 / 6, 0},
    };
    for (const Case& c : cases) {
        std::vector<double> values;
        for (size_t r = 0; r < c.repeat; ++r)
            values.insert(values.end(), c.pattern.begin(), c.pattern.end());
        std::string bytes;
        for (double v : values) {
            char raw[8];
            if (c.type == DType::F64) {
                std::memcpy(raw, &v, 8); // x86-64 is little-endian, as the files are
            } else {
                const int32_t i32 = int32_t(v); // the I32 case's values fit
                std::memcpy(raw, &i32, 4);
            }
            bytes.append(raw, c.type == DType::F64 ? 8 : 4);
        }
        // In one piece, and in pieces of 3 elements merged (other blocks, other shifts).
        ValueAccumulator one(c.type), pieces(c.type);
        one.add(bytes.data(), values.size());
        const size_t width = c.type == DType::F64 ? 8 : 4;
        for (size_t at = 0; at < values.size(); at += 3) {
            ValueAccumulator piece(c.type);
            piece.add(bytes.data() + at * width, std::min<size_t>(3, values.size() - at));
            pieces.merge(piece);
        }
        for (const ValueAccumulator* acc : {&one, &pieces})
            for (const Moments& m : {acc->moments(), acc->summary().moments}) {
                QVERIFY2(m.mean() == c.mean,
                         qPrintable(QString("%1: mean %2").arg(c.name).arg(m.mean(), 0, 'g', 17)));
                if (c.type == DType::I32) continue; // its deviation is not the point here
                QVERIFY2(std::fabs(m.stddev() - c.stddev) <= 1e-15 * c.stddev,
                         qPrintable(QString("%1: std %2 against %3")
                                        .arg(c.name)
                                        .arg(m.stddev(), 0, 'g', 17)
                                        .arg(c.stddev, 0, 'g', 17)));
            }
    }
}

// Values just under a bin edge are in the bin below it, though the ratio rounds onto the edge
// in double. F8_E8M0 2^j against min 2^-127 and max 2^127: 64 (2^j - 2^-127) / (2^127 - 2^-127)
// is just under 2^(j - 121), so bin 2^(j - 121) - 1. F64 over [0, 3]: 3k/64 is on edge k, the
// double below it in bin k - 1. Log scale: 1e16 + {0, 2, 4, 6} at 64 ln(1 + 2i·1e-16) /
// ln(1 + 6e-16), bins 0, 21, 42 and 63, where log10 in double makes them one value.
void TestValueStats::binsJustUnderAnEdge() {
    const std::vector<uint8_t> e8m0{0, 248, 249, 250, 251, 252, 253, 254};
    ValueAccumulator scales(DType::F8_E8M0);
    scales.add(e8m0.data(), e8m0.size());
    std::array<uint64_t, kHistogramBins> expected{};
    for (int bin : {0, 0, 1, 3, 7, 15, 31, 63})
        ++expected[size_t(bin)];
    QCOMPARE(scales.summary().linear.counts, expected);

    std::vector<double> edges{0, 3};
    expected = {};
    expected[0] = 1;
    expected[63] = 1;
    for (int k = 1; k < kHistogramBins; ++k) {
        const double edge = 3.0 * k / kHistogramBins; // exact: 3k has few bits
        edges.push_back(edge);
        edges.push_back(std::nextafter(edge, 0.0));
        ++expected[size_t(k)];
        ++expected[size_t(k - 1)];
    }
    ValueAccumulator f64(DType::F64);
    f64.add(edges.data(), edges.size());
    QCOMPARE(f64.summary().linear.counts, expected);

    const std::vector<double> packed{1e16, 1e16 + 2, 1e16 + 4, 1e16 + 6};
    ValueAccumulator close(DType::F64);
    close.add(packed.data(), packed.size());
    expected = {};
    for (int bin : {0, 21, 42, 63})
        ++expected[size_t(bin)];
    QCOMPARE(close.summary().log.counts, expected);
}

// 1e16 (or 1e30), its negative and 1, 90,000 of them in F64 and F32 (many blocks, each block's
// sum rounding its ones away where plain double lanes add them, the blocks then cancelling each
// other): the mean is 1/3, each block's rounding errors kept.
void TestValueStats::cancellingValuesKeepTheSmallTerms() {
    for (const double big : {1e16, 1e30}) {
        std::vector<double> values;
        for (int r = 0; r < 30'000; ++r)
            values.insert(values.end(), {big, -big, 1.0});
        ValueAccumulator acc(DType::F64);
        acc.add(values.data(), values.size());
        QVERIFY2(acc.moments().mean() == 1.0 / 3,
                 qPrintable(QString("F64 %1: %2").arg(big).arg(acc.moments().mean(), 0, 'g', 17)));
        ValueAccumulator few(DType::F64); // the same three, kept and summed in value order
        few.add(values.data(), 3);
        QVERIFY(few.summary().moments.mean() == 1.0 / 3);
    }
    std::vector<float> narrow;
    for (int r = 0; r < 30'000; ++r)
        narrow.insert(narrow.end(), {1e30f, -1e30f, 1.0f});
    ValueAccumulator f32(DType::F32);
    f32.add(narrow.data(), narrow.size());
    QVERIFY2(f32.moments().mean() == 1.0 / 3,
             qPrintable(QString("F32: %1").arg(f32.moments().mean(), 0, 'g', 17)));
}

// F64 values whose squares leave double's range (1e200, 1e-200, the largest finite): exact
// norms and deviations, worked out by hand, in one accumulator and across a merge.
void TestValueStats::f64RangeEnds() {
    struct Case {
        const char* name;
        std::vector<double> values;
        double mean, stddev, l2;
    };
    const double big = std::numeric_limits<double>::max();
    const Case cases[] = {
        {"1e200 twice", {1e200, 1e200}, 1e200, 0, std::sqrt(2.0) * 1e200},
        {"+-1e200", {1e200, -1e200}, 0, 1e200, std::sqrt(2.0) * 1e200},
        // mean 1e-200, deviations 0, 1e-200, -1e-200: variance 2/3 * 1e-400
        {"1e-200 and 2e-200 and 0",
         {1e-200, 2e-200, 0},
         1e-200,
         std::sqrt(2.0 / 3.0) * 1e-200,
         std::sqrt(5.0) * 1e-200},
        {"+-max", {big, -big}, 0, big, std::numeric_limits<double>::infinity()},
        {"max twice", {big, big}, big, 0, std::numeric_limits<double>::infinity()},
    };
    for (const Case& c : cases) {
        ValueAccumulator one(DType::F64);
        one.add(c.values.data(), c.values.size());
        ValueAccumulator split(DType::F64), rest(DType::F64);
        split.add(c.values.data(), 1);
        rest.add(c.values.data() + 1, c.values.size() - 1);
        split.merge(rest);
        for (const Moments* m : {&one.moments(), &split.moments()}) {
            QVERIFY2(m->finite() == c.values.size(), c.name);
            QVERIFY2(std::fabs(m->mean() - c.mean) <= 1e-15 * std::fabs(c.mean), c.name);
            QVERIFY2(std::fabs(m->stddev() - c.stddev) <= 1e-15 * c.stddev, c.name);
            if (std::isinf(c.l2))
                QVERIFY2(std::isinf(m->l2()), c.name);
            else
                QVERIFY2(std::fabs(m->l2() - c.l2) <= 1e-15 * c.l2, c.name);
        }
    }
}

void TestValueStats::linearHistogram_data() {
    QTest::addColumn<int>("type");
    for (DType t : {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I8, DType::I16,
                    DType::I32, DType::I64, DType::U8, DType::U16, DType::U32, DType::U64})
        QTest::addRow("%s", std::string(dtypeName(t)).c_str()) << int(t);
}

void TestValueStats::linearHistogram() {
    // 128 consecutive integers (-64..63, or 0..127 for unsigned dtypes), shuffled, plus NaN and
    // +-Inf where the dtype has them. lo and hi are the extremes; value k-th from the bottom is
    // in bin min(63, floor(64 k / 127)): 64 k / 127 is never an integer for 0 < k < 127.
    QFETCH(int, type);
    const DType t = DType(type);
    const bool isUnsigned = t == DType::U8 || t == DType::U16 || t == DType::U32 || t == DType::U64;
    const int base = isUnsigned ? 0 : -64;
    std::string bytes;
    for (int i = 0; i < 128; ++i) {
        const int v = base + (i * 37) % 128;
        switch (t) {
        case DType::F16:
            bytes += bytesOf(std::vector<uint16_t>{f16Int(v)});
            break;
        case DType::BF16:
            bytes += bytesOf(std::vector<uint16_t>{bf16Int(v)});
            break;
        case DType::F32:
            bytes += bytesOf(std::vector<float>{float(v)});
            break;
        case DType::F64:
            bytes += bytesOf(std::vector<double>{double(v)});
            break;
        case DType::I8:
            bytes += bytesOf(std::vector<int8_t>{int8_t(v)});
            break;
        case DType::I16:
            bytes += bytesOf(std::vector<int16_t>{int16_t(v)});
            break;
        case DType::I32:
            bytes += bytesOf(std::vector<int32_t>{v});
            break;
        case DType::I64:
            bytes += bytesOf(std::vector<int64_t>{v});
            break;
        case DType::U8:
            bytes += bytesOf(std::vector<uint8_t>{uint8_t(v)});
            break;
        case DType::U16:
            bytes += bytesOf(std::vector<uint16_t>{uint16_t(v)});
            break;
        case DType::U32:
            bytes += bytesOf(std::vector<uint32_t>{uint32_t(v)});
            break;
        case DType::U64:
            bytes += bytesOf(std::vector<uint64_t>{uint64_t(v)});
            break;
        default:
            QFAIL("unexpected dtype");
        }
    }
    uint64_t nonFinite = 0;
    if (t == DType::F16) bytes += bytesOf(std::vector<uint16_t>{0x7E00, 0x7C00, 0xFC00});
    if (t == DType::BF16) bytes += bytesOf(std::vector<uint16_t>{0x7FC0, 0x7F80, 0xFF80});
    if (t == DType::F32) bytes += bytesOf(std::vector<float>{float(kNaN), float(kInf)});
    if (t == DType::F64) bytes += bytesOf(std::vector<double>{kNaN, -kInf});
    nonFinite = bytes.size() / itemBytes(t) - 128;

    // The test's own decoder reads back the integers.
    const std::vector<LD> values = refDecodeAll(t, bytes);
    for (int i = 0; i < 128; ++i)
        QCOMPARE(double(values[size_t(i)]), double(base + (i * 37) % 128));

    std::array<uint64_t, kHistogramBins> expected{};
    for (int k = 0; k < 128; ++k)
        ++expected[size_t(std::min(63, 64 * k / 127))];

    ValueAccumulator acc(t);
    acc.add(bytes.data(), 128 + nonFinite);
    QCOMPARE(acc.moments().finite(), uint64_t(128));
    const Histogram h = acc.linearHistogram();
    QCOMPARE(h.lo, double(base));
    QCOMPARE(h.hi, double(base + 127));
    QCOMPARE(binSum(h), uint64_t(128));
    for (int b = 0; b < kHistogramBins; ++b)
        QVERIFY2(h.counts[b] == expected[b],
                 qPrintable(QStringLiteral("bin %1: %2, expected %3; bins%4")
                                .arg(b)
                                .arg(h.counts[b])
                                .arg(expected[b])
                                .arg(binsText(h))));

    // The F16 set of the brief: 0..63 puts one value in each bin.
    if (t == DType::F16) {
        std::vector<uint16_t> small;
        for (int v = 0; v < 64; ++v)
            small.push_back(f16Int(v));
        ValueAccumulator s(t);
        s.add(small.data(), small.size());
        const Histogram hs = s.linearHistogram();
        QCOMPARE(hs.lo, 0.0);
        QCOMPARE(hs.hi, 63.0);
        for (int b = 0; b < kHistogramBins; ++b)
            QCOMPARE(hs.counts[b], uint64_t(1));
    }
}

void TestValueStats::logHistogram_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<int>("kmin");
    QTest::addColumn<int>("kmax");
    // kmax - kmin is prime to 64, so (k - kmin) * 64 / (kmax - kmin) is never on an edge.
    QTest::newRow("F16") << int(DType::F16) << -24 << 15;
    QTest::newRow("BF16") << int(DType::BF16) << -133 << 126;
    QTest::newRow("F32") << int(DType::F32) << -133 << 126;
    QTest::newRow("F64") << int(DType::F64) << -133 << 126;
    QTest::newRow("I32") << int(DType::I32) << 0 << 29;
    QTest::newRow("I64") << int(DType::I64) << 0 << 61;
}

void TestValueStats::logHistogram() {
    // +-2^k for k in [kmin, kmax], plus zeros and non-finite values (excluded). log10|x| of
    // 2^k is k log10(2), so 2^k is in bin min(63, floor(64 (k - kmin) / (kmax - kmin))).
    QFETCH(int, type);
    QFETCH(int, kmin);
    QFETCH(int, kmax);
    const DType t = DType(type);
    std::string bytes;
    for (int k = kmin; k <= kmax; ++k) {
        for (int sign : {1, -1}) {
            switch (t) {
            case DType::F16:
                bytes +=
                    bytesOf(std::vector<uint16_t>{uint16_t(f16Pow2(k) | (sign < 0 ? 0x8000 : 0))});
                break;
            case DType::BF16:
                bytes +=
                    bytesOf(std::vector<uint16_t>{uint16_t(bf16Pow2(k) | (sign < 0 ? 0x8000 : 0))});
                break;
            case DType::F32:
                bytes += bytesOf(std::vector<float>{float(sign) * std::ldexp(1.0f, k)});
                break;
            case DType::F64:
                bytes += bytesOf(std::vector<double>{double(sign) * std::ldexp(1.0, k)});
                break;
            case DType::I32:
                bytes += bytesOf(std::vector<int32_t>{sign * (int32_t(1) << k)});
                break;
            case DType::I64:
                bytes += bytesOf(std::vector<int64_t>{sign * (int64_t(1) << k)});
                break;
            default:
                QFAIL("unexpected dtype");
            }
        }
    }
    const uint64_t nonzero = uint64_t(2 * (kmax - kmin + 1));
    if (t == DType::F16) bytes += bytesOf(std::vector<uint16_t>{0, 0x8000, 0x7E00, 0x7C00, 0xFC00});
    if (t == DType::BF16) bytes += bytesOf(std::vector<uint16_t>{0, 0x8000, 0x7FC0, 0xFF80});
    if (t == DType::F32) bytes += bytesOf(std::vector<float>{0.0f, -0.0f, float(kNaN)});
    if (t == DType::F64) bytes += bytesOf(std::vector<double>{0.0, kInf, -kInf});
    if (t == DType::I32) bytes += bytesOf(std::vector<int32_t>{0, 0});
    if (t == DType::I64) bytes += bytesOf(std::vector<int64_t>{0});
    const uint64_t n = bytes.size() / itemBytes(t);

    const std::vector<LD> values = refDecodeAll(t, bytes);
    QCOMPARE(double(values[0]), std::ldexp(1.0, kmin)); // the encoders, checked

    std::array<uint64_t, kHistogramBins> expected{};
    for (int k = kmin; k <= kmax; ++k)
        expected[size_t(std::min(63, 64 * (k - kmin) / (kmax - kmin)))] += 2;

    ValueAccumulator acc(t);
    acc.add(bytes.data(), n);
    const Histogram h = acc.logHistogram();
    const LD log2 = std::log10(2.0L);
    EXPECT_NEAR("lo", h.lo, kmin * log2, 1e-12L);
    EXPECT_NEAR("hi", h.hi, kmax * log2, 1e-12L);
    QCOMPARE(binSum(h), nonzero);
    for (int b = 0; b < kHistogramBins; ++b)
        QVERIFY2(h.counts[b] == expected[b],
                 qPrintable(QStringLiteral("bin %1: %2, expected %3; bins%4")
                                .arg(b)
                                .arg(h.counts[b])
                                .arg(expected[b])
                                .arg(binsText(h))));
    // The linear one of the same values covers every finite value.
    QCOMPARE(binSum(acc.linearHistogram()), acc.moments().finite());
}

void TestValueStats::constantAndEmptyHistograms() {
    // A constant (2.5 x 10, plus a NaN): lo == hi and one bin holds every finite element.
    std::vector<float> constant(10, 2.5f);
    constant.push_back(float(kNaN));
    ValueAccumulator c(DType::F32);
    c.add(constant.data(), constant.size());
    for (const Histogram& h : {c.linearHistogram(), c.logHistogram()}) {
        QVERIFY(h.lo == h.hi);
        QCOMPARE(binSum(h), uint64_t(10));
        QCOMPARE(std::count(h.counts.begin(), h.counts.end(), uint64_t(10)), 1L);
    }
    QCOMPARE(c.linearHistogram().lo, 2.5);
    EXPECT_NEAR("log lo", c.logHistogram().lo, std::log10(2.5L), 1e-12L);

    // +-3 (F16): the log histogram is constant, the linear one has both ends.
    std::vector<uint16_t> pm;
    for (int i = 0; i < 5; ++i) {
        pm.push_back(0x4200);
        pm.push_back(0xC200);
    }
    ValueAccumulator s(DType::F16);
    s.add(pm.data(), pm.size());
    const Histogram lin = s.linearHistogram(), log = s.logHistogram();
    QCOMPARE(lin.lo, -3.0);
    QCOMPARE(lin.hi, 3.0);
    QCOMPARE(lin.counts[0], uint64_t(5));
    QCOMPARE(lin.counts[63], uint64_t(5));
    QVERIFY(log.lo == log.hi);
    EXPECT_NEAR("log lo", log.lo, std::log10(3.0L), 1e-12L);
    QCOMPARE(std::count(log.counts.begin(), log.counts.end(), uint64_t(10)), 1L);

    // BOOL: false at the bottom, true at the top; the log histogram holds the trues only.
    const std::vector<uint8_t> flags = {1, 0, 1, 1, 0, 1};
    ValueAccumulator b(DType::BOOL);
    b.add(flags.data(), flags.size());
    QCOMPARE(b.moments().zeros, uint64_t(2));
    EXPECT_NEAR("BOOL mean", b.moments().mean(), 4.0L / 6, 1e-15L);
    QCOMPARE(b.linearHistogram().counts[0], uint64_t(2));
    QCOMPARE(b.linearHistogram().counts[63], uint64_t(4));
    QCOMPARE(binSum(b.logHistogram()), uint64_t(4));
}

void TestValueStats::wideValuesBeyondBf16Range_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<QByteArray>("bytes");
    auto row = [](const char* name, DType t, const std::string& b) {
        QTest::newRow(name) << int(t) << QByteArray(b.data(), qsizetype(b.size()));
    };
    row("F32 below 2^-133", DType::F32,
        bytesOf(std::vector<float>{0x1p-149f, 0x1p-140f, 1.0f, 3.0f, 0.0f}));
    // 1e150 belongs in the top linear bin, -3e149 in the bottom one, 1 and 0 in bin 14.
    row("F64 above BF16 max", DType::F64, bytesOf(std::vector<double>{1e150, -3e149, 1.0, 0.0}));
    row("F64 below 2^-133", DType::F64, bytesOf(std::vector<double>{0x1p-1074, 1e-300, 1.0, 3.0}));
}

void TestValueStats::wideValuesBeyondBf16Range() {
    // F32/F64 values outside BF16's normal range: the header keys wide dtypes by a BF16
    // truncation but promises the histograms span the finite (nonzero) values from the smallest
    // to the largest, with only a near-edge error. Values above BF16's range must land in their
    // own bins (the maximum in the top one); values below 2^-126 cannot be keyed precisely and
    // may be counted low (see checkBins), but must still be counted.
    QFETCH(int, type);
    QFETCH(QByteArray, bytes);
    const DType t = DType(type);
    const std::string b(bytes.constData(), size_t(bytes.size()));
    ValueAccumulator acc(t);
    acc.add(b.data(), b.size() / itemBytes(t));
    CHECK(checkHistograms(acc, refDecodeAll(t, b), QTest::currentDataTag()));
}

void TestValueStats::regionTextFormat() {
    Chunk chunk;
    chunk.offsets = {0, 8};
    chunk.shape = {4, 8};
    QCOMPARE(regionText(chunk), std::string("[0:4, 8:16]"));
    chunk.offsets = {4};
    chunk.shape = {4};
    QCOMPARE(regionText(chunk), std::string("[4:8]"));
}

void TestValueStats::computeStatsMatchesReference() {
    const std::vector<Planned> plan = statsPlan();
    writePlan(dir("stats"), plan);
    const Checkpoint c = scanCheckpoint(dir("stats"));
    QVERIFY2(!c.hasErrors(), c.problems.empty() ? "" : c.problems.front().text().c_str());
    QCOMPARE(c.tensors.size(), plan.size());
    // The setup has the replicas it means to have.
    for (const char* fqn : {"a.w", "b.h"}) {
        const TensorInfo* t = c.find(fqn);
        QVERIFY(t);
        QCOMPARE(std::count_if(t->chunks.begin(), t->chunks.end(),
                               [](const Chunk& ch) { return ch.replica; }),
                 1L);
    }
    const uint64_t total = plannedBytes(plan, [](const std::string&) { return true; });
    QCOMPARE(total, uint64_t(3 * 48 + 4 * 2000 + 80 + 8 + 0 + 256));

    struct Variant {
        const char* name;
        int threads;
        uint64_t window;
    };
    std::vector<CheckpointStats> results;
    for (const Variant& v : {Variant{"default", 0, 0}, Variant{"1 thread, 64 B windows", 1, 64},
                             Variant{"2 threads, 1 KiB windows", 2, 1024}}) {
        StatsOptions options;
        options.threads = v.threads;
        if (v.window) options.windowBytes = v.window;
        CheckpointStats stats = computeStats(c, options);
        CHECK(checkStats(
            c, stats, plan, [](const std::string&) { return true; }, v.name));
        EXPECT_EQ(QString(v.name), stats.bytesRead, total);
        QVERIFY(stats.seconds >= 0);
        results.push_back(std::move(stats));
    }
    // The variants agree with each other to a few ulps.
    for (size_t i = 0; i < c.tensors.size(); ++i)
        if (results[0].tensors[i].computed)
            for (size_t v = 1; v < results.size(); ++v)
                CHECK(checkAgree(results[v].tensors[i].moments, results[0].tensors[i].moments,
                                 QString::fromStdString(c.tensors[i].fqn) + " variant"));

    // Replicas: a.w has 24 elements once, though 36 were read.
    const size_t aw = size_t(c.find("a.w") - c.tensors.data());
    QCOMPARE(results[0].tensors[aw].moments.count, uint64_t(24));
    QCOMPARE(results[0].tensors[aw].chunks.size(), size_t(3));
    uint64_t chunkElements = 0;
    for (const ChunkSummary& s : results[0].tensors[aw].chunks)
        chunkElements += s.count;
    QCOMPARE(chunkElements, uint64_t(36));
    const size_t bh = size_t(c.find("b.h") - c.tensors.data());
    QCOMPARE(results[0].tensors[bh].moments.count, uint64_t(3000));
    QCOMPARE(results[0].tensors[bh].chunks.size(), size_t(4));

    // The empty tensor is computed, with nothing in it.
    const size_t empty = size_t(c.find("e.empty") - c.tensors.data());
    QVERIFY(results[0].tensors[empty].computed);
    QCOMPARE(results[0].tensors[empty].moments.count, uint64_t(0));
    QVERIFY(std::isnan(results[0].tensors[empty].moments.mean()));

    // A histogram of an exactly keyed dtype matches the reference bins.
    const TensorStats& f8 = results[0].tensors[size_t(c.find("g.f8") - c.tensors.data())];
    ValueAccumulator direct(DType::F8_E5M2);
    const std::string& all = planned(plan, "g.f8").full;
    direct.add(all.data(), all.size());
    for (int b = 0; b < kHistogramBins; ++b) {
        QCOMPARE(f8.linear.counts[b], direct.linearHistogram().counts[b]);
        QCOMPARE(f8.log.counts[b], direct.logHistogram().counts[b]);
    }
    CHECK(checkHistograms(direct, refDecodeAll(DType::F8_E5M2, all), "g.f8 direct"));
}

void TestValueStats::selectLimitsTensors() {
    const std::vector<Planned> plan = statsPlan();
    writePlan(dir("stats"), plan);
    const Checkpoint c = scanCheckpoint(dir("stats"));
    QVERIFY(!c.hasErrors());
    auto wanted = [](const std::string& fqn) { return fqn == "b.h" || fqn == "d.s"; };
    StatsOptions options;
    options.select = [&](const TensorInfo& t) { return wanted(t.fqn); };
    ProgressLog log;
    options.progress = std::ref(log);
    const CheckpointStats stats = computeStats(c, options);
    CHECK(checkStats(c, stats, plan, wanted, "selected"));
    for (size_t i = 0; i < c.tensors.size(); ++i)
        QCOMPARE(stats.tensors[i].computed, wanted(c.tensors[i].fqn));
    const uint64_t total = plannedBytes(plan, wanted);
    QCOMPARE(total, uint64_t(4 * 2000 + 8));
    CHECK(checkProgress(log.calls, total, "selected"));
    QCOMPARE(stats.bytesRead, total);
}

void TestValueStats::progressCoversSelectedBytes() {
    {
        const std::vector<Planned> plan = statsPlan();
        writePlan(dir("stats"), plan);
        const Checkpoint c = scanCheckpoint(dir("stats"));
        QVERIFY(!c.hasErrors());
        StatsOptions options;
        ProgressLog log;
        options.progress = std::ref(log);
        const CheckpointStats stats = computeStats(c, options);
        // Every tensor with statistics (not the C64 one), replicas included.
        const uint64_t total = plannedBytes(plan, [](const std::string&) { return true; });
        CHECK(checkProgress(log.calls, total, "stats"));
    }
    {
        writeBig(dir("big"));
        const Checkpoint c = scanCheckpoint(dir("big"));
        QVERIFY(!c.hasErrors());
        StatsOptions options;
        options.threads = 2;
        options.windowBytes = 64 << 10;
        ProgressLog log;
        options.progress = std::ref(log);
        const CheckpointStats stats = computeStats(c, options);
        // F32 keys (8 significant bits) of 0 ... 499.5 span bin edges of 499.5 / 64: the
        // tensor is read twice, the second time for its histograms.
        const uint64_t total = kBigRows * kBigCols * 4;
        CHECK(checkProgress(log.calls, 2 * total, "big", total));
        QCOMPARE(stats.bytesRead, 2 * total);
        // Exact histograms: each residue r in floor(r / 2 / 499.5 * 64), and log bins of
        // log10(r / 2) over [log10 0.5, log10 499.5].
        std::array<uint64_t, kHistogramBins> linear{}, logBins{};
        const uint64_t elements = kBigRows * kBigCols;
        for (uint64_t r = 0; r < 1000; ++r) {
            const uint64_t n = elements / 1000 + (r < elements % 1000 ? 1 : 0);
            const double v = double(r) * 0.5;
            linear[size_t(std::min(63.0, std::floor(v / 499.5 * 64)))] += n;
            if (r == 0) continue;
            const double at =
                (std::log10(v) - std::log10(0.5)) * (64 / (std::log10(499.5) - std::log10(0.5)));
            logBins[size_t(std::clamp(std::floor(at), 0.0, 63.0))] += n;
        }
        for (size_t b = 0; b < size_t(kHistogramBins); ++b) {
            EXPECT_EQ(QStringLiteral("big linear bin %1").arg(b),
                      stats.tensors.at(0).linear.counts[b], linear[b]);
            EXPECT_EQ(QStringLiteral("big log bin %1").arg(b), stats.tensors.at(0).log.counts[b],
                      logBins[b]);
        }
        QCOMPARE(stats.tensors.at(0).moments.count, kBigRows * kBigCols);
        QCOMPARE(stats.tensors.at(0).moments.max, 499.5);
        // mean of (i % 1000) / 2 over 2^21 elements: exact from the counts of each residue.
        LD sum = 0;
        const uint64_t n = kBigRows * kBigCols;
        for (uint64_t r = 0; r < 1000; ++r)
            sum += LD(r) * 0.5L * LD(n / 1000 + (r < n % 1000 ? 1 : 0));
        EXPECT_NEAR("big mean", stats.tensors.at(0).moments.mean(), sum / LD(n),
                    1e-13L * sum / LD(n));
    }
}

void TestValueStats::cancelBeforeStart() {
    writeBig(dir("big"));
    const Checkpoint c = scanCheckpoint(dir("big"));
    QVERIFY(!c.hasErrors());
    std::stop_source source;
    source.request_stop();
    StatsOptions options;
    options.stop = source.get_token();
    options.windowBytes = 64 << 10;
    QVERIFY_THROWS_EXCEPTION(Cancelled, computeStats(c, options));
}

void TestValueStats::cancelFromProgress() {
    writeBig(dir("big"));
    const Checkpoint c = scanCheckpoint(dir("big"));
    QVERIFY(!c.hasErrors());
    std::stop_source source;
    StatsOptions options;
    options.stop = source.get_token();
    options.windowBytes = 64 << 10;
    options.threads = 2;
    std::atomic<int> calls = 0;
    options.progress = [&](const StatsProgress&) {
        ++calls;
        source.request_stop();
    };
    QVERIFY_THROWS_EXCEPTION(Cancelled, computeStats(c, options));
    QVERIFY(calls >= 1);
}

namespace {

std::vector<Planned> findingsPlan() {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<Planned> plan;
    plan.push_back(
        f32Tensor("t01.clean", {6}, {0.5f, -1.25f, 2, 3.5f, -0.75f, 1}, rows({kS1, kS2}, 3)));
    plan.push_back(f32Tensor("t02.zeros", {6}, {0, 0, -0.0f, 0, 0, 0}, rows({kS1, kS2}, 3)));
    plan.push_back(f32Tensor("t03.nan", {4}, {1, nan, 2, 3}, rows({kS1}, 4)));
    plan.push_back(f32Tensor("t04.inf", {4}, {1, 2, inf, 3}, rows({kS2}, 4)));
    plan.push_back(f32Tensor("t05.ninf", {4}, {-inf, 1, 2, 3}, rows({kS3}, 4)));
    plan.push_back(f32Tensor("t06.naninf", {4}, {nan, inf, 1, 2}, rows({kS1}, 4)));
    plan.push_back(
        f32Tensor("t07.const", {6}, {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, rows({kS1, kS2}, 3)));
    // The middle chunk, [4:8] in shard-2, is all zeros; the others have the same RMS.
    plan.push_back(f32Tensor("t08.zerochunk", {12}, {1, 2, 3, 4, 0, 0, -0.0f, 0, 2, 1, 4, 3},
                             rows({kS1, kS2, kS3}, 4)));
    // Chunk RMS 1 and 200: a ratio of 200.
    plan.push_back(
        f32Tensor("t09.spread", {8}, {1, -1, 1, -1, 200, -200, 200, -200}, rows({kS1, kS2}, 4)));
    // Chunk RMS 1 and 50: a ratio of 50.
    plan.push_back(
        f32Tensor("t10.spread50", {8}, {1, -1, 1, -1, 50, -50, 50, -50}, rows({kS2, kS3}, 4)));
    plan.push_back(f32Tensor("t11.scalar", {}, {5}, {{kS3, {}, {}}}));
    // BF16 {1, NaN | 2, 0}
    plan.push_back({"t12.bf16nan",
                    DType::BF16,
                    {4},
                    bytesOf(std::vector<uint16_t>{0x3F80, 0x7FC0, 0x4000, 0x0000}),
                    rows({kS1, kS2}, 2)});
    plan.push_back({"t13.intzeros",
                    DType::I32,
                    {4},
                    bytesOf(std::vector<int32_t>{0, 0, 0, 0}),
                    rows({kS3}, 4)});
    // A 4 × 4 causal mask (true on and below the diagonal), its upper half split in two: the
    // upper-right block is all false by design. And I32 indices with a zero half. Neither is a
    // dropped shard.
    std::vector<uint8_t> mask(16);
    for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 4; ++c)
            mask[size_t(4 * r + c)] = c <= r;
    plan.push_back({"t14.causalmask",
                    DType::BOOL,
                    {4, 4},
                    bytesOf(mask),
                    {{kS1, {0, 0}, {2, 2}}, {kS2, {0, 2}, {2, 2}}, {kS3, {2, 0}, {2, 4}}}});
    plan.push_back({"t15.intzerohalf",
                    DType::I32,
                    {4},
                    bytesOf(std::vector<int32_t>{0, 0, 7, 9}),
                    rows({kS1, kS2}, 2)});
    // An all-false mask: ordinary, so only constant (as t13, a buffer of zero indices such as
    // BERT's token_type_ids). A float scalar 0 (a gate, a step): one element tells nothing.
    plan.push_back({"t16.falsemask",
                    DType::BOOL,
                    {2, 3},
                    bytesOf(std::vector<uint8_t>(6, 0)),
                    {{kS1, {0, 0}, {1, 3}}, {kS2, {1, 0}, {1, 3}}}});
    plan.push_back(f32Tensor("t17.zeroscalar", {}, {0}, {{kS2, {}, {}}}));
    return plan;
}

using Kinds = std::vector<ErrorKind>;

std::map<std::string, Kinds> defaultFindings() {
    return {{"t01.clean", {}},
            {"t02.zeros", {ErrorKind::AllZeros}},
            {"t03.nan", {ErrorKind::ValueNaN}},
            {"t04.inf", {ErrorKind::ValueInf}},
            {"t05.ninf", {ErrorKind::ValueInf}},
            {"t06.naninf", {ErrorKind::ValueNaN, ErrorKind::ValueInf}},
            {"t07.const", {ErrorKind::ConstantTensor}},
            {"t08.zerochunk", {ErrorKind::ZeroChunk}},
            {"t09.spread", {ErrorKind::NormSpread}},
            {"t10.spread50", {}},
            {"t11.scalar", {}},
            {"t12.bf16nan", {ErrorKind::ValueNaN}},
            {"t13.intzeros", {ErrorKind::ConstantTensor}},
            {"t14.causalmask", {}},
            {"t15.intzerohalf", {}},
            {"t16.falsemask", {ErrorKind::ConstantTensor}},
            {"t17.zeroscalar", {}}};
}

Severity severityOf(ErrorKind kind) {
    switch (kind) {
    case ErrorKind::ValueNaN:
    case ErrorKind::ValueInf:
    case ErrorKind::ZeroChunk:
        return Severity::Error;
    default:
        return Severity::Warning;
    }
}

// The problems against `expected` (every tensor of the checkpoint listed there), severities,
// and the order: by tensor, then kind.
void checkFindings(const std::vector<Problem>& problems, std::map<std::string, Kinds> expected,
                   const QString& ctx) {
    auto found = kindsByTensor(problems);
    for (auto& [fqn, kinds] : expected) {
        Kinds got = found.count(fqn) ? found[fqn] : Kinds{};
        std::sort(got.begin(), got.end());
        std::sort(kinds.begin(), kinds.end());
        QVERIFY2(got == kinds, qPrintable(QStringLiteral("%1 %2: %3, expected %4")
                                              .arg(ctx, QString::fromStdString(fqn), kindsText(got),
                                                   kindsText(kinds))));
        found.erase(fqn);
    }
    QVERIFY2(found.empty(),
             qPrintable(ctx + ": findings for unknown tensor '" +
                        QString::fromStdString(found.empty() ? "" : found.begin()->first) + "'"));
    for (size_t i = 0; i < problems.size(); ++i) {
        const Problem& p = problems[i];
        QVERIFY2(p.severity == severityOf(p.kind),
                 qPrintable(ctx + ": severity of " + QString::fromLatin1(errorKindName(p.kind)) +
                            " for " + QString::fromStdString(p.tensor)));
        QVERIFY2(!p.message.empty(), qPrintable(ctx + ": empty message"));
        if (i) {
            const Problem& q = problems[i - 1];
            QVERIFY2(q.tensor < p.tensor || (q.tensor == p.tensor && int(q.kind) <= int(p.kind)),
                     qPrintable(ctx + ": not sorted: " + QString::fromStdString(q.text()) +
                                " before " + QString::fromStdString(p.text())));
        }
    }
}

} // namespace

void TestValueStats::findings() {
    const std::vector<Planned> plan = findingsPlan();
    writePlan(dir("findings"), plan);
    const Checkpoint c = scanCheckpoint(dir("findings"));
    QVERIFY2(!c.hasErrors(), c.problems.empty() ? "" : c.problems.front().text().c_str());
    const CheckpointStats stats = computeStats(c);
    CHECK(checkStats(
        c, stats, plan, [](const std::string&) { return true; }, "findings"));
    const std::vector<Problem> problems = valueFindings(c, stats);
    CHECK(checkFindings(problems, defaultFindings(), "default"));

    // The zero chunk is named by its file and region.
    const TensorInfo* zc = c.find("t08.zerochunk");
    QVERIFY(zc);
    const Chunk* zero = nullptr;
    for (const Chunk& ch : zc->chunks)
        if (c.files[ch.file].name == kS2) zero = &ch;
    QVERIFY(zero);
    QCOMPARE(regionText(*zero), std::string("[4:8]"));
    for (const Problem& p : problems) {
        if (p.kind != ErrorKind::ZeroChunk) continue;
        const std::string text = p.text();
        QVERIFY2(text.find(kS2) != std::string::npos, text.c_str());
        QVERIFY2(text.find("[4:8]") != std::string::npos, text.c_str());
        QCOMPARE(p.tensor, std::string("t08.zerochunk"));
    }
    // Per-chunk summaries behind the findings.
    const TensorStats& zs = stats.tensors[size_t(zc - c.tensors.data())];
    for (size_t k = 0; k < zc->chunks.size(); ++k) {
        const bool isZero = &zc->chunks[k] == zero;
        QCOMPARE(zs.chunks[k].zeros, isZero ? uint64_t(4) : uint64_t(0));
        EXPECT_NEAR("t08 chunk rms", zs.chunks[k].rms, isZero ? 0.0L : std::sqrt(7.5L), 1e-15L);
    }

    // Tensors left out by `select` are not computed, and have no findings.
    StatsOptions options;
    options.select = [](const TensorInfo& t) {
        return t.fqn != "t02.zeros" && t.fqn != "t07.const" && t.fqn != "t03.nan";
    };
    const CheckpointStats some = computeStats(c, options);
    auto expected = defaultFindings();
    expected["t02.zeros"] = {};
    expected["t07.const"] = {};
    expected["t03.nan"] = {};
    CHECK(checkFindings(valueFindings(c, some), expected, "selected"));
}

void TestValueStats::findingThresholds() {
    const std::vector<Planned> plan = findingsPlan();
    writePlan(dir("findings"), plan);
    const Checkpoint c = scanCheckpoint(dir("findings"));
    QVERIFY(!c.hasErrors());
    const CheckpointStats stats = computeStats(c);

    // Ratio 50 is reported once the threshold is 10; ratio 200 no longer at 300.
    auto expected = defaultFindings();
    expected["t10.spread50"] = {ErrorKind::NormSpread};
    CHECK(checkFindings(valueFindings(c, stats, FindingOptions{.normSpread = 10}), expected,
                        "normSpread 10"));
    expected = defaultFindings();
    expected["t09.spread"] = {};
    CHECK(checkFindings(valueFindings(c, stats, FindingOptions{.normSpread = 300}), expected,
                        "normSpread 300"));

    // A single element is constant once one element is enough; six are not when seven are
    // needed.
    expected = defaultFindings();
    expected["t11.scalar"] = {ErrorKind::ConstantTensor};
    expected["t17.zeroscalar"] = {ErrorKind::AllZeros};
    CHECK(checkFindings(valueFindings(c, stats, FindingOptions{.minConstantElements = 1}), expected,
                        "minConstantElements 1"));
    expected = defaultFindings();
    expected["t07.const"] = {};
    expected["t02.zeros"] = {}; // six zeros are too few as well
    expected["t16.falsemask"] = {};
    expected["t13.intzeros"] = {};
    expected["t08.zerochunk"] = {}; // its zero chunk has 4 elements
    CHECK(checkFindings(valueFindings(c, stats, FindingOptions{.minConstantElements = 7}), expected,
                        "minConstantElements 7"));
}

// What the findings say: a constant as stored (BF16 -3.140625, not "-3.14062"); a ratio past
// double's range (1e600, not "inf") and one just over the threshold with the digits that show
// it (100.00001, not "100"); "its 1 element"; no file named for an empty chunk; and no RMS
// spread for integers (an arange in chunks is not a mis-scaled shard).
void TestValueStats::findingMessagesAreExact() {
    std::vector<Planned> plan;
    plan.push_back({"m1.const",
                    DType::BF16,
                    {4},
                    bytesOf(std::vector<uint16_t>(4, 0xC049)), // -3.140625
                    rows({kS1, kS2}, 2)});
    plan.push_back({"m2.huge",
                    DType::F64,
                    {4},
                    bytesOf(std::vector<double>{1e300, 1e300, 1e-300, 1e-300}),
                    rows({kS1, kS2}, 2)});
    plan.push_back(f32Tensor("m3.edge", {4}, {1, 1, 100.00001f, 100.00001f}, rows({kS1, kS2}, 2)));
    plan.push_back(f32Tensor("m4.one", {}, {5}, {{kS3, {}, {}}}));
    plan.push_back({"m5.zeros",
                    DType::F32,
                    {4},
                    bytesOf(std::vector<float>(4, 0.0f)),
                    {{kS1, {0}, {4}}, {kS2, {4}, {0}}}}); // shard-2's chunk holds nothing
    plan.push_back({"m6.arange",
                    DType::I32,
                    {4},
                    bytesOf(std::vector<int32_t>{1, -1, 200, -200}),
                    rows({kS1, kS2}, 2)});
    // RMS √2.5 and √25000: a ratio of exactly 100, which the default threshold does not pass
    // (in extended precision the two rounded roots gave 100.000000000000003).
    plan.push_back(f32Tensor("m7.exact100", {4}, {1, 2, 100, 200}, rows({kS1, kS2}, 2)));
    writePlan(dir("messages"), plan);
    const Checkpoint c = scanCheckpoint(dir("messages"));
    QVERIFY2(!c.hasErrors(), c.problems.empty() ? "" : c.problems.front().text().c_str());
    const CheckpointStats stats = computeStats(c);
    std::map<std::string, std::string> said;
    for (const Problem& p : valueFindings(c, stats, FindingOptions{.minConstantElements = 1}))
        said[p.tensor] += p.message;
    auto has = [&](const char* tensor, const char* text) {
        return said[tensor].find(text) != std::string::npos;
    };
    QVERIFY2(has("m1.const", "all 4 elements equal -3.140625"), said["m1.const"].c_str());
    QVERIFY2(has("m2.huge", "chunk RMS differs 1e+600x"), said["m2.huge"].c_str());
    QVERIFY2(has("m3.edge", "chunk RMS differs 100.00001"), said["m3.edge"].c_str());
    QVERIFY2(has("m4.one", "its 1 element is 5"), said["m4.one"].c_str());
    QVERIFY2(has("m5.zeros", "all 4 elements are zero (a tensor"), said["m5.zeros"].c_str());
    QVERIFY2(!has("m5.zeros", kS2), said["m5.zeros"].c_str());
    QVERIFY2(said["m6.arange"].empty(), said["m6.arange"].c_str());
    QVERIFY2(said["m7.exact100"].empty(), said["m7.exact100"].c_str());
}

void TestValueStats::truncatedShardThrows() {
    const std::vector<Planned> plan = statsPlan();
    writePlan(dir("stats"), plan);
    const Checkpoint c = scanCheckpoint(dir("stats"));
    QVERIFY(!c.hasErrors());
    // shard-2's data ends with g.f8's 128-byte chunk: cut 100 bytes of it.
    const fs::path file = dir("stats") / kS2;
    fs::resize_file(file, fs::file_size(file) - 100);
    try {
        computeStats(c);
        QFAIL("computeStats read a truncated shard without an error");
    } catch (const Error& e) {
        const std::string what = e.what();
        QVERIFY2(what.find(kS2) != std::string::npos, what.c_str());
        QVERIFY2(what.find("g.f8") != std::string::npos, what.c_str());
    } catch (const std::exception& e) {
        QFAIL(qPrintable(QStringLiteral("not an Error: %1").arg(e.what())));
    }
}

// A small F32 tensor of a narrow range (a norm's weights near 1.0): 64 values one bin apart
// each land in their own bin, which keys of 8 significant bits could not tell apart.
void TestValueStats::smallWideTensorsAreBinnedExactly() {
    std::vector<float> values;
    for (int k = 0; k < 64; ++k)
        values.push_back(1.0f + float(k) * 1e-4f);
    ValueAccumulator acc(DType::F32);
    acc.add(values.data(), values.size() / 2);
    ValueAccumulator rest(DType::F32);
    rest.add(values.data() + 32, 32);
    acc.merge(rest);
    const Histogram h = acc.linearHistogram();
    QCOMPARE(h.lo, double(values.front()));
    QCOMPARE(h.hi, double(values.back()));
    for (int k = 0; k < 64; ++k) {
        // Bin of value k: floor((v_k - lo) / (hi - lo) * 64), computed here in long double.
        const long double f = (static_cast<long double>(values[size_t(k)]) - values.front()) /
                              (static_cast<long double>(values.back()) - values.front()) * 64;
        const int bin = std::min(63, int(std::floor(f)));
        QVERIFY2(h.counts[size_t(bin)] >= 1,
                 qPrintable(QString("value %1 not in bin %2").arg(k).arg(bin)));
    }
    uint64_t total = 0;
    for (uint64_t c : h.counts)
        total += c;
    QCOMPARE(total, uint64_t(64));
    int used = 0;
    for (uint64_t c : h.counts)
        used += c > 0;
    QVERIFY2(used >= 60, qPrintable(QString("only %1 bins used").arg(used)));
}

QTEST_GUILESS_MAIN(TestValueStats)
// a − b of two F32 tensors split differently on each side, with NaN/Inf positions and equal
// elements: bins computed here from the values (the range from −max to max |a − b|).
void TestValueStats::differenceHistogramsBinEveryFinitePair() {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const uint64_t n = 600'000; // more than one window of the walk
    std::vector<float> a(n), b(n);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (uint64_t i = 0; i < n; ++i) {
        a[i] = normal(rng);
        b[i] = i % 3 ? a[i] + normal(rng) * 1e-3f : a[i]; // a third equal
    }
    a[5] = nan;
    b[6] = inf;
    a[7] = b[7] = inf;
    auto bytes = [](const std::vector<float>& v) {
        std::string out(v.size() * 4, '\0');
        std::memcpy(out.data(), v.data(), out.size());
        return out;
    };
    const Dims shape{n};
    writePlan(dir("a"), {{"w",
                          DType::F32,
                          shape,
                          bytes(a),
                          {{kS1, {0}, {n / 2}}, {"shard-2.safetensors", {n / 2}, {n - n / 2}}}}});
    writePlan(dir("b"), {{"w", DType::F32, shape, bytes(b), {{kS1, {0}, {n}}}}});
    const Checkpoint ca = scanCheckpoint(dir("a")), cb = scanCheckpoint(dir("b"));
    QVERIFY(!ca.hasErrors() && !cb.hasErrors());
    std::vector<std::pair<uint64_t, uint64_t>> progress;
    const DifferenceHistograms d = differenceHistograms(
        ca, ca.tensors.front(), cb, cb.tensors.front(), {},
        [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); });
    // Progress: both sides' bytes over both reads, 3 windows each, growing to the total.
    QCOMPARE(progress.size(), size_t(6));
    for (size_t i = 0; i < progress.size(); ++i) {
        QCOMPARE(progress[i].second, 4 * n * 4);
        if (i) QVERIFY(progress[i].first > progress[i - 1].first);
    }
    QCOMPARE(progress[2].first, 2 * n * 4); // the first read ends half way
    QCOMPARE(progress.back().first, 4 * n * 4);

    double largest = 0, smallest = INFINITY;
    uint64_t counted = 0, nonzero = 0;
    for (uint64_t i = 0; i < n; ++i) {
        if (!std::isfinite(a[i]) || !std::isfinite(b[i])) continue;
        ++counted;
        const double diff = std::fabs(double(a[i]) - double(b[i]));
        if (diff == 0) continue;
        ++nonzero;
        largest = std::max(largest, diff);
        smallest = std::min(smallest, diff);
    }
    QCOMPARE(d.counted, counted);
    QCOMPARE(d.counted, n - 3);
    QCOMPARE(d.nonzero, nonzero);
    QCOMPARE(d.linear.lo, -largest);
    QCOMPARE(d.linear.hi, largest);
    QCOMPARE(d.log.lo, std::log10(smallest));
    QCOMPARE(d.log.hi, std::log10(largest));
    std::array<uint64_t, kHistogramBins> linear{}, log{};
    auto bin = [](double v, double lo, double hi) {
        const double at = std::floor((v - lo) / (hi - lo) * kHistogramBins);
        return size_t(std::clamp(at, 0.0, double(kHistogramBins - 1)));
    };
    for (uint64_t i = 0; i < n; ++i) {
        if (!std::isfinite(a[i]) || !std::isfinite(b[i])) continue;
        const double diff = double(a[i]) - double(b[i]);
        ++linear[bin(diff, -largest, largest)];
        if (diff != 0) ++log[bin(std::log10(std::fabs(diff)), d.log.lo, d.log.hi)];
    }
    QCOMPARE(d.linear.counts, linear);
    QCOMPARE(d.log.counts, log);
    QVERIFY(linear[32] >= n / 3); // the equal third, at 0

    // Each side's finite values on common edges: the range of both sides together.
    double lo = INFINITY, hi = -INFINITY, small = INFINITY, big = 0;
    for (const auto* side : {&a, &b})
        for (float v : *side) {
            if (!std::isfinite(v)) continue;
            lo = std::min(lo, double(v));
            hi = std::max(hi, double(v));
            if (v != 0) {
                small = std::min(small, std::fabs(double(v)));
                big = std::max(big, std::fabs(double(v)));
            }
        }
    for (int side = 0; side < 2; ++side) {
        const std::vector<float>& values = side == 0 ? a : b;
        std::array<uint64_t, kHistogramBins> sideLinear{}, sideLog{};
        uint64_t finite = 0;
        for (float v : values) {
            if (!std::isfinite(v)) continue;
            ++finite;
            ++sideLinear[bin(v, lo, hi)];
            if (v != 0)
                ++sideLog[bin(std::log10(std::fabs(double(v))), std::log10(small),
                              std::log10(big))];
        }
        QCOMPARE(finite, n - 2); // a: one NaN and one Inf; b: two Inf
        QCOMPARE(d.sideLinear[side].lo, lo);
        QCOMPARE(d.sideLinear[side].hi, hi);
        QCOMPARE(d.sideLog[side].lo, std::log10(small));
        QCOMPARE(d.sideLinear[side].counts, sideLinear);
        QCOMPARE(d.sideLog[side].counts, sideLog);
    }
    // Mismatched layouts are refused; a stop request stops the walk.
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                             differenceHistograms(ca, ca.tensors.front(), ca, TensorInfo{}));
    std::stop_source stop;
    stop.request_stop();
    QVERIFY_THROWS_EXCEPTION(Cancelled, differenceHistograms(ca, ca.tensors.front(), cb,
                                                             cb.tensors.front(), stop.get_token()));
}

#include "tst_value_stats.moc"
