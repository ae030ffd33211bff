// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "dtype.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shardscope {

// Whether ShardScope computes statistics for a dtype: every float, integer and BOOL dtype but
// C64 (complex) and the packed sub-byte F4/F6 dtypes.
bool hasValueStats(DType type);
bool isFloatDType(DType type); // F64 ... F8_E8M0, F4, F6

// The value of one stored element, as ShardScope reads it: IEEE/OCP decoding for the float
// dtypes (F8_E8M0 is 2^(bits-127), 0xFF NaN), the integer for integer dtypes, 0/1 for BOOL.
// `bytes` points at one element, little-endian.
double decodeElement(DType type, const void* bytes);
// The same for `n` consecutive elements into out[0, n) (a dtype with statistics).
void decodeRun(DType type, const void* bytes, uint64_t n, double* out);
// Sum of the squares of the finite elements among `n` (a dtype with statistics).
long double sumOfSquares(DType type, const void* bytes, uint64_t n);

// Counts and moments of a set of elements, mergeable in any order.
//
// Method: elements are summed in blocks of at most 1024 in double; each block's sum, sum of
// squares and centred second moment (computed about the block's own mean) are then folded in
// with Neumaier-compensated sums and Chan's pairwise update for the centred moment. For 8- and
// 16-bit dtypes large runs are counted per distinct bit pattern first and the moments are formed
// from those counts, so rounding does not grow with the element count.
struct Moments {
    uint64_t count = 0;      // every element, NaN and Inf included
    uint64_t nan = 0;        // NaN elements
    uint64_t posInf = 0;     // +Inf
    uint64_t negInf = 0;     // -Inf
    uint64_t zeros = 0;      // +0 and -0 (false for BOOL)
    uint64_t subnormals = 0; // nonzero values below the dtype's smallest normal magnitude
    // Over the finite elements only (count - nan - posInf - negInf of them):
    double min = std::numeric_limits<double>::quiet_NaN(); // NaN when there are none
    double max = std::numeric_limits<double>::quiet_NaN();
    double maxAbs = 0;
    double minAbsNonzero = std::numeric_limits<double>::infinity(); // for the log histogram
    // Neumaier sums: value = first + second. Extended precision (x87: exponents to 2^±16383),
    // so F64 values near the ends of their range square without overflowing to Inf or
    // underflowing to 0 (1e200 and 1e-200 have exact L2 norms and deviations).
    long double sum = 0, sumCompensation = 0; // of (x - shift), for the deviations' merge
    long double sumSquares = 0, sumSquaresCompensation = 0;
    long double m2 = 0; // sum of squared deviations from the mean (Chan)
    // The plain sum, for the mean of floats when the shift is far from it (see mean()).
    long double total = 0, totalCompensation = 0;
    // I64 and U64: above 2^53 neighbouring integers share a double, so their extremes are
    // also kept as integers, and their sums are taken about `shift` (one element's value) so
    // that the deviations stay exact.
    bool hasInteger = false;
    __int128 intMin = 0, intMax = 0;
    // Their exact sum (2^64 x 2^40 elements still fits): the mean of {2^63 - 1, -2^63, 5} is
    // 4/3, where extended precision, one bit short, made it 1.5.
    __int128 intSum = 0;
    // sum + sumCompensation is the sum of (x - shift): for floats the first value of a block,
    // so that values packed closer than their mean's rounding (1e16 + {0, 2, 4, 6}) keep exact
    // deviations.
    long double shift = 0;

    uint64_t finite() const { return count - nan - posInf - negInf; }
    double mean() const;   // of the finite elements; NaN when there are none
    double stddev() const; // population standard deviation of the finite elements
    double l2() const;     // sqrt of the sum of squares of the finite elements
    // The same in extended precision: finite where l2() overflows (F64 norms past 1.8e308).
    long double l2Extended() const;
    double rms() const; // l2 / sqrt(finite)

    // Adds `n` finite elements all equal to `value` (n may be 0).
    void addRepeated(double value, uint64_t n, double minNormal);
    // Adds a non-finite element n times.
    void addNonFinite(double value, uint64_t n);
    void merge(const Moments& other);
    // Folds in the exact extremes of a block of I64/U64 elements.
    void addIntegerRange(__int128 lo, __int128 hi) {
        intMin = hasInteger ? std::min(intMin, lo) : lo;
        intMax = hasInteger ? std::max(intMax, hi) : hi;
        hasInteger = true;
    }
    // All finite elements equal (at least one).
    bool constant() const {
        return finite() > 0 && min == max && (!hasInteger || intMin == intMax);
    }
};

enum class Extreme { Min, Max, MaxAbs };
// The exact integer of an I64/U64 tensor's min, max or max |x| as decimal text (the doubles
// round above 2^53); nullopt for other dtypes or when there are no finite elements.
std::optional<std::string> exactIntegerText(const Moments& m, Extreme which);
// For I64/U64: the smallest integer of linear histogram bin `bin` (0 ... 63), exactly.
std::optional<std::string> integerBinStart(const Moments& m, int bin);

// The smallest positive normal value of a float dtype (0 for integer dtypes: no subnormals).
double minNormal(DType type);

inline constexpr int kHistogramBins = 64;

struct Histogram {
    double lo = 0, hi = 0; // the range the bins split evenly; lo == hi: one bin holds everything
    std::array<uint64_t, kHistogramBins> counts{};
};

struct ValueSummary {
    Moments moments;
    Histogram linear, log;
};

class LinearBins;
class LogBins;
class HistogramRefinement;

// Accumulates elements of one dtype into Moments and into a fine-grained count per 16-bit key
// from which the two 64-bin histograms are built at the end.
//
// The key is the element's own bit pattern for 8- and 16-bit dtypes, so their histograms are
// exact. Wider dtypes keep their values themselves up to 65,536 of them, so small tensors are
// binned exactly too; beyond that they are keyed by their value as F32 cut to BF16 (8
// significant bits), and the histograms here bin each key whole: an element near a bin edge
// may be counted in the neighbouring bin. refinement() says what a second read needs to make
// them exact (computeStats does that read).
class ValueAccumulator {
public:
    explicit ValueAccumulator(DType type);
    ~ValueAccumulator();
    ValueAccumulator(ValueAccumulator&&) noexcept;
    ValueAccumulator& operator=(ValueAccumulator&&) noexcept;

    DType dtype() const { return m_type; }
    // `count` whole elements, little-endian, `bytes` holding count * itemsize bytes.
    void add(const void* bytes, uint64_t count);
    // Empties it for another run, keeping its memory (a dense table is 512 KiB).
    void reset(DType type);
    // Folds another accumulator of the same dtype in.
    void merge(const ValueAccumulator& other);

    // For 8- and 16-bit dtypes the moments are formed from the key counts on first use after an
    // add, so these three are not safe to call from two threads at once.
    const Moments& moments() const;
    // Cheaper, for per-chunk counts: for 8- and 16-bit dtypes only count, the NaN/Inf/zero
    // counts and sumSquares are filled in.
    Moments counts() const;
    // 64 bins from min to max of the finite values.
    Histogram linearHistogram() const;
    // 64 bins of log|x| over the finite nonzero values (lo/hi are log10 of the extremes).
    Histogram logHistogram() const;
    // All three at once: for 8- and 16-bit dtypes in two walks over the counts, not four.
    // The moments with the sums of kept wide elements taken again in value order.
    Moments inValueOrder(const Moments& m) const;
    ValueSummary summary() const;
    // For a wide dtype binned by key: what a second read needs to make both histograms exact,
    // or null when they already are (8/16-bit dtypes, at most 65,536 elements, or no counted
    // key whose values span a bin edge). `m` is moments() (or summary()'s).
    std::unique_ptr<const HistogramRefinement> refinement(const Moments& m) const;

private:
    friend class PatternCounts;
    struct Keys;
    void addKey(uint16_t key, uint64_t n);
    template <class T> void addWide(const unsigned char* p, uint64_t count);
    template <class T> void addWideIntegers(const unsigned char* p, uint64_t count);
    double exactValue(uint64_t bits) const;
    int exactLinearBin(const LinearBins& bins, uint64_t bits) const;
    double keyValue(uint16_t key) const;
    Moments momentsFromKeys(bool centred) const;
    void addDeviations(Moments& m, const LinearBins& linearBins, Histogram* linear,
                       const LogBins& logBins, Histogram* log) const;
    uint64_t beyondF32(double keyValue, uint64_t n, const Moments& m) const;

    DType m_type;
    const double* m_values = nullptr; // decoded value per key, for 8- and 16-bit dtypes
    mutable Moments m_moments;
    mutable bool m_narrowDirty = false;
    std::unique_ptr<Keys> m_keys;
};

// Exact histograms of a wide-dtype tensor of more than 65,536 elements, from a second read.
// The first read counts its elements per key (their value as F32 cut to 8 significant bits);
// every key whose possible values lie in one bin is binned whole here, and the elements under
// the few keys that span a bin edge (at most a few per edge) are binned one by one by add().
// Immutable once made: threads share one.
class HistogramRefinement {
public:
    struct Impl;
    explicit HistogramRefinement(std::unique_ptr<const Impl> impl);
    ~HistogramRefinement();

    // The bins of the elements placed from their keys (with lo and hi).
    const Histogram& linear() const;
    const Histogram& log() const;
    // Adds to `linear` and `log` the elements among `count` (little-endian, of the tensor's
    // dtype) whose keys span a bin edge; only their counts are touched.
    void add(const void* bytes, uint64_t count, Histogram& linear, Histogram& log) const;

private:
    std::unique_ptr<const Impl> m_impl;
};

// An 8- or 16-bit window counted by bit pattern in a table (one per thread), then folded
// into a tensor's accumulator in one walk that also yields the window's own counts. This is the
// statistics pass's fast path: it saves the three other walks over 2^16 counts per window that
// going through a ValueAccumulator of the window costs.
class PatternCounts {
public:
    // `type` must be an 8- or 16-bit dtype with statistics.
    void reset(DType type);
    // At most 2^31 - 1 elements between folds.
    void add(const void* bytes, uint64_t count);
    // Adds the counts to `into` (same dtype; null to add them nowhere) and empties this.
    // Returns the window's count, NaN/Inf/zero counts and sumSquares, as counts() would.
    Moments foldInto(ValueAccumulator* into);
    // Whether the window since reset() is counted in bytes (chosen from the previous window).
    bool countsInBytes() const { return m_byteCounters; }

private:
    // A window whose values spread over more keys than this (as random bit patterns do) is
    // counted in bytes next time: the 256 KiB table of 32-bit counts then misses L1 on most
    // elements (0.83 ns each, measured), a 64 KiB table of bytes mostly hits (0.38 ns). Values
    // as training leaves them touch a few thousand keys, which the 32-bit table counts in
    // 0.31 ns, against 0.38 ns in bytes.
    static constexpr size_t kByteCountersFrom = 16384;

    DType m_type = DType::BF16;
    std::vector<uint32_t> m_table; // counts; with byte counters, the 256s carried out of them
    std::vector<uint8_t> m_bytes;  // byte counters of 16-bit keys, when m_byteCounters
    uint64_t m_elements = 0;
    bool m_byteCounters = false; // chosen at reset, from the previous window's spread
    bool m_lastSpread = false;
    bool m_carried = false; // a byte counter wrapped since reset (the 32-bit table holds counts)
};

// Whether PatternCounts takes the dtype (8- or 16-bit with statistics).
bool hasPatternCounts(DType type);

} // namespace shardscope
