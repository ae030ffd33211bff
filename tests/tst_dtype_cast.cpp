// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// Casting between the floating dtypes F64, F32, F16 and BF16 (dtype_cast.h).
//
// Expected values never come from the code under test. Hand-derived cases are hex literals (the
// derivation is in the comment next to each group). The sweeps compare with this file's own
// reference, which works without bit manipulation of the result: it decodes the source to its
// exact value (a long double, 64-bit significand, so every F64 is exact) and finds the nearest
// target value by a search over the target's bit patterns ordered by value, comparing the source
// with the exact midpoint of the two neighbours (a comparison, never a rounded subtraction); a
// tie picks the neighbour with the even pattern. The reference is itself checked against every
// literal below (a "reference self-check" failure is a bug in this file) and against the
// hardware's double->float (and, where the compiler has _Float16, ->half) conversions.
//
// Readings of the contract chosen where it leaves room (from the header comments):
// - Identity casts (from == to) are allowed: both dtypes are castable and nothing forbids them.
//   They copy every non-NaN value bit for bit; a signalling NaN comes out quiet like any other
//   NaN ("NaN stays NaN, made quiet").
// - "Made quiet": the target's quiet bit (the top mantissa bit) is set. "As much of its payload
//   as fits": the payload keeps the high-order mantissa bits, as IEEE 754 conversions do: when
//   widening the source mantissa moves up by the difference in width, when narrowing its top
//   bits are kept (the low bits are dropped). Checked only in nanPayload, so a different reading
//   shows there alone; every other NaN check needs only NaN, quiet and the sign.
// - CastCounts: every call here starts from a zeroed CastCounts, so it does not matter whether
//   the counts are set or added to. Inf and NaN sources count as neither overflow nor underflow;
//   +-0 sources are not underflow.
// - An in-place cast writes only the first n target elements: the rest of the source array
//   (src is const) keeps its bytes. No cast writes outside its n target elements.

#include "dtype_cast.h"

#include <QElapsedTimer>
#include <QString>
#include <QStringList>
#include <QTest>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

using namespace shardscope;

static_assert(std::endian::native == std::endian::little);

namespace {

using LD = long double;
static_assert(std::numeric_limits<LD>::digits >= 64, "the reference needs an exact F64 in LD");

// ---------------------------------------------------------------------------------------------
// Formats, written from their definitions.

struct Fmt {
    DType type;
    const char* name;
    int bytes;
    int expBits;
    int manBits;

    uint64_t signBit() const { return uint64_t(1) << (bytes * 8 - 1); }
    uint64_t allBits() const { return bytes == 8 ? ~uint64_t(0) : (uint64_t(1) << bytes * 8) - 1; }
    uint64_t manMask() const { return (uint64_t(1) << manBits) - 1; }
    uint64_t infBits() const { return ((uint64_t(1) << expBits) - 1) << manBits; }
    uint64_t quietBit() const { return uint64_t(1) << (manBits - 1); }
    int bias() const { return (1 << (expBits - 1)) - 1; }
    int digits() const { return bytes * 2; }
};

const Fmt kF64{DType::F64, "F64", 8, 11, 52};
const Fmt kF32{DType::F32, "F32", 4, 8, 23};
const Fmt kF16{DType::F16, "F16", 2, 5, 10};
const Fmt kBF16{DType::BF16, "BF16", 2, 8, 7};
const Fmt* const kAll[] = {&kF64, &kF32, &kF16, &kBF16};

const Fmt& fmtOf(DType t) {
    switch (t) {
    case DType::F64:
        return kF64;
    case DType::F32:
        return kF32;
    case DType::F16:
        return kF16;
    case DType::BF16:
        return kBF16;
    default:
        qFatal("not a castable format");
    }
}

QString hex(uint64_t bits, int digits) {
    return QStringLiteral("0x%1")
        .arg(bits, digits, 16, QLatin1Char('0'))
        .toUpper()
        .replace("0X", "0x");
}
QString hexOf(const Fmt& f, uint64_t bits) {
    return hex(bits, f.digits());
}

// Little-endian element I/O, byte by byte.
void put(const Fmt& f, unsigned char* p, uint64_t bits) {
    for (int i = 0; i < f.bytes; ++i)
        p[i] = static_cast<unsigned char>(bits >> (8 * i));
}
uint64_t get(const Fmt& f, const unsigned char* p) {
    uint64_t bits = 0;
    for (int i = 0; i < f.bytes; ++i)
        bits |= uint64_t(p[i]) << (8 * i);
    return bits;
}

// ---------------------------------------------------------------------------------------------
// The reference.

LD pow2(int k) {
    static const std::vector<LD> table = [] {
        std::vector<LD> t(2201);
        for (int i = 0; i < 2201; ++i)
            t[i] = std::ldexp(LD(1), i - 1100);
        return t;
    }();
    return table.at(k + 1100);
}

// The value of a sign-less pattern: a finite one, or the Inf pattern, which decodes (with an
// unbounded exponent) to 2^(emax+1), the value just past the largest finite one.
LD decodeMag(const Fmt& f, uint64_t mag) {
    const uint64_t e = mag >> f.manBits, m = mag & f.manMask();
    if (e == 0) return LD(m) * pow2(1 - f.bias() - f.manBits);
    return LD(m | (uint64_t(1) << f.manBits)) * pow2(int(e) - f.bias() - f.manBits);
}

class Rounder {
public:
    explicit Rounder(const Fmt& f) : m_f(f) {
        if (f.bytes == 2) {
            m_table.resize(f.infBits() + 1);
            for (uint64_t p = 0; p <= f.infBits(); ++p)
                m_table[p] = decodeMag(f, p);
        }
    }

    // The nearest pattern (ties to the even pattern) to the finite a >= 0; infBits() when a is
    // at or past the midpoint between the largest finite value and 2^(emax+1).
    uint64_t round(LD a) const {
        const uint64_t inf = m_f.infBits();
        if (a >= at(inf)) return inf;
        uint64_t lo = 0, hi = inf; // at(lo) <= a < at(hi)
        if (!m_table.empty()) {
            lo =
                uint64_t(std::upper_bound(m_table.begin(), m_table.end(), a) - m_table.begin()) - 1;
            hi = lo + 1;
        } else {
            while (hi - lo > 1) {
                const uint64_t mid = lo + (hi - lo) / 2;
                (at(mid) <= a ? lo : hi) = mid;
            }
        }
        const LD below = at(lo);
        if (below == a) return lo;
        const LD half = (below + at(hi)) / 2; // exact: adjacent target values
        if (a < half) return lo;
        if (a > half) return hi;
        return lo % 2 == 0 ? lo : hi;
    }

private:
    LD at(uint64_t p) const { return m_table.empty() ? decodeMag(m_f, p) : m_table[p]; }

    const Fmt& m_f;
    std::vector<LD> m_table;
};

const Rounder& rounderFor(const Fmt& f) {
    static const Rounder r64(kF64), r32(kF32), r16(kF16), rb16(kBF16);
    switch (f.type) {
    case DType::F64:
        return r64;
    case DType::F32:
        return r32;
    case DType::F16:
        return r16;
    default:
        return rb16;
    }
}

struct Expect {
    uint64_t bits = 0; // for a NaN: the payload reading described at the top
    bool nan = false;
    bool overflow = false;
    bool underflow = false;
};

Expect refCast(const Fmt& from, const Fmt& to, uint64_t src) {
    src &= from.allBits();
    const uint64_t mag = src & ~from.signBit();
    const uint64_t sign = (src & from.signBit()) ? to.signBit() : 0;
    if (mag > from.infBits()) {
        const uint64_t m = mag & from.manMask();
        const uint64_t payload = to.manBits >= from.manBits ? m << (to.manBits - from.manBits)
                                                            : m >> (from.manBits - to.manBits);
        return {sign | to.infBits() | to.quietBit() | payload, true, false, false};
    }
    if (mag == from.infBits()) return {sign | to.infBits(), false, false, false};
    const LD a = decodeMag(from, mag);
    const uint64_t p = rounderFor(to).round(a);
    return {sign | p, false, p == to.infBits(), p == 0 && a != 0};
}

bool isQuietNaN(const Fmt& f, uint64_t bits) {
    const uint64_t mag = bits & ~f.signBit() & f.allBits();
    return (mag & f.infBits()) == f.infBits() && (mag & f.quietBit()) != 0;
}

// The check every cast result gets: exact bits, or for a NaN source a quiet NaN with its sign.
bool matches(const Fmt& to, const Expect& e, uint64_t got) {
    if (!e.nan) return got == e.bits;
    return isQuietNaN(to, got) && (got & to.signBit()) == (e.bits & to.signBit()) &&
           (got & ~to.allBits()) == 0;
}

// One element through castElements, with guard bytes around the result.
uint64_t castOne(const Fmt& from, const Fmt& to, uint64_t src, CastCounts& counts,
                 bool* guardsIntact) {
    alignas(16) unsigned char in[16] = {};
    alignas(16) unsigned char out[24];
    std::memset(out, 0xA5, sizeof out);
    put(from, in, src);
    castElements(from.type, to.type, in, out + 8, 1, counts);
    bool intact = true;
    for (int i = 0; i < 8; ++i)
        intact = intact && out[i] == 0xA5;
    for (int i = 8 + to.bytes; i < 24; ++i)
        intact = intact && out[i] == 0xA5;
    *guardsIntact = intact;
    return get(to, out + 8);
}

// ---------------------------------------------------------------------------------------------
// Sources for the sweeps.

struct Lcg {
    uint64_t s;
    uint32_t u32() {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        return uint32_t(s >> 32);
    }
    uint64_t u64() { return (uint64_t(u32()) << 32) | u32(); }
    uint32_t below(uint32_t n) { return uint32_t((uint64_t(u32()) * n) >> 32); }
};

// The exact source pattern of v >= 0, if v is representable in `from`: for F64 and F32 the
// hardware conversion (exact for a representable value; the round trip proves it), for the
// 16-bit formats the reference's own search.
bool exactBits(const Fmt& from, LD v, uint64_t* bits) {
    if (from.type == DType::F64) {
        const double d = static_cast<double>(v);
        *bits = std::bit_cast<uint64_t>(d);
        return LD(d) == v;
    }
    if (from.type == DType::F32) {
        const float f = static_cast<float>(v);
        *bits = std::bit_cast<uint32_t>(f);
        return LD(f) == v;
    }
    *bits = rounderFor(from).round(v);
    return *bits < from.infBits() && decodeMag(from, *bits) == v;
}

// A mix of uniform patterns, patterns with exponents around the target's range, and (when the
// target is narrower) values on, next to and a few source ulps around target values and the
// midpoints between them, subnormal and overflow ones included.
std::vector<uint64_t> sampleSources(const Fmt& from, const Fmt& to, size_t count, uint64_t seed,
                                    bool* ok) {
    Lcg rng{seed};
    std::vector<uint64_t> out;
    out.reserve(count);
    *ok = true;
    const int emax = to.bias();
    const int eminSub = 1 - to.bias() - to.manBits; // exponent of the smallest subnormal
    const bool narrowing = from.manBits > to.manBits;
    const int ulpRatioBits = narrowing ? from.manBits - to.manBits : 2;
    while (out.size() < count) {
        const uint32_t kind = rng.below(8);
        uint64_t bits = 0;
        if (kind < 2 || (!narrowing && kind >= 3)) {
            bits = rng.u64() & from.allBits();
        } else if (kind == 2) {
            const int unbiased = eminSub - 3 + int(rng.below(uint32_t(emax - eminSub + 7)));
            int e = unbiased + from.bias();
            e = std::clamp(e, 0, (1 << from.expBits) - 2);
            bits = (uint64_t(e) << from.manBits) | (rng.u64() & from.manMask());
            if (rng.u32() & 1) bits |= from.signBit();
        } else {
            const uint64_t inf = to.infBits();
            uint64_t p;
            const uint32_t where = rng.below(8);
            if (where < 2)
                p = rng.below(uint32_t(uint64_t(1) << to.manBits)); // subnormal (or zero)
            else if (where == 2)
                p = inf - 1 - rng.below(8); // near the largest finite value
            else
                p = uint64_t(rng.u32()) % inf;
            const LD lo = decodeMag(to, p), hi = decodeMag(to, p + 1);
            const LD v = (rng.u32() & 1) ? (lo + hi) / 2 : lo;
            uint64_t mag;
            if (!exactBits(from, v, &mag)) {
                if (from.bytes == 2) continue; // F16 holds only part of BF16's range: pick again
                *ok = false;
                return out;
            }
            int64_t delta = 0;
            switch (rng.below(6)) {
            case 0:
                delta = 0;
                break;
            case 1:
                delta = 1;
                break;
            case 2:
                delta = -1;
                break;
            case 3:
                delta = (rng.u32() & 1) ? 2 : -2;
                break;
            default: {
                const uint64_t span = uint64_t(1) << ulpRatioBits;
                delta = int64_t(1 + rng.u64() % span);
                if (rng.u32() & 1) delta = -delta;
            }
            }
            if (delta < 0 && uint64_t(-delta) > mag)
                mag = 0;
            else
                mag = std::min<uint64_t>(mag + uint64_t(delta), from.infBits());
            bits = mag;
            if (rng.u32() & 1) bits |= from.signBit();
        }
        out.push_back(bits);
    }
    return out;
}

// Casts all of srcs in one call and compares every element with the reference.
void checkBatch(const Fmt& from, const Fmt& to, const std::vector<uint64_t>& srcs) {
    const size_t n = srcs.size();
    std::vector<unsigned char> in(n * from.bytes);
    for (size_t i = 0; i < n; ++i)
        put(from, &in[i * from.bytes], srcs[i]);
    std::vector<unsigned char> out(n * to.bytes + 16, 0xA5);
    CastCounts counts;
    castElements(from.type, to.type, in.data(), out.data() + 8, n, counts);

    uint64_t badValues = 0, badNaNs = 0, overflow = 0, underflow = 0;
    QStringList examples, nanExamples;
    for (size_t i = 0; i < n; ++i) {
        const Expect e = refCast(from, to, srcs[i]);
        overflow += e.overflow;
        underflow += e.underflow;
        const uint64_t got = get(to, &out[8 + i * to.bytes]);
        if (!matches(to, e, got)) {
            QStringList& list = e.nan ? nanExamples : examples;
            ++(e.nan ? badNaNs : badValues);
            if (list.size() < 6)
                list << QStringLiteral("%1 -> %2, expected %3%4")
                            .arg(hexOf(from, srcs[i]), hexOf(to, got), hexOf(to, e.bits),
                                 e.nan ? QStringLiteral(" (or any quiet NaN of that sign)")
                                       : QString());
        }
    }
    QVERIFY2(badValues == 0,
             qPrintable(QStringLiteral("%1 of %2 %3->%4 non-NaN casts wrong, e.g. %5")
                            .arg(badValues)
                            .arg(n)
                            .arg(from.name, to.name, examples.join("; "))));
    QVERIFY2(badNaNs == 0,
             qPrintable(QStringLiteral("%1 of %2 %3->%4 NaN sources not a quiet NaN of their "
                                       "sign, e.g. %5")
                            .arg(badNaNs)
                            .arg(n)
                            .arg(from.name, to.name, nanExamples.join("; "))));
    QCOMPARE(counts.overflow, overflow);
    QCOMPARE(counts.underflow, underflow);
    for (size_t i = 0; i < 8; ++i) {
        QCOMPARE(int(out[i]), 0xA5);
        QCOMPARE(int(out[8 + n * to.bytes + i]), 0xA5);
    }
}

// ---------------------------------------------------------------------------------------------
// Literal rows.

void addLiteralColumns() {
    QTest::addColumn<int>("from");
    QTest::addColumn<int>("to");
    QTest::addColumn<quint64>("src");
    QTest::addColumn<quint64>("expected");
    QTest::addColumn<int>("overflow");
    QTest::addColumn<int>("underflow");
}

void row(const char* what, const Fmt& from, const Fmt& to, quint64 src, quint64 expected,
         int overflow = 0, int underflow = 0) {
    QTest::addRow("%s->%s %s %s", from.name, to.name, qPrintable(hexOf(from, src)), what)
        << int(from.type) << int(to.type) << src << expected << overflow << underflow;
}

void checkLiteralRow() {
    QFETCH(int, from);
    QFETCH(int, to);
    QFETCH(quint64, src);
    QFETCH(quint64, expected);
    QFETCH(int, overflow);
    QFETCH(int, underflow);
    const Fmt& f = fmtOf(DType(from));
    const Fmt& t = fmtOf(DType(to));

    const Expect e = refCast(f, t, src);
    QVERIFY2(!e.nan && e.bits == expected && e.overflow == (overflow != 0) &&
                 e.underflow == (underflow != 0),
             qPrintable(QStringLiteral("reference self-check: the reference gives %1 (overflow "
                                       "%2, underflow %3)")
                            .arg(hexOf(t, e.bits))
                            .arg(int(e.overflow))
                            .arg(int(e.underflow))));

    CastCounts counts;
    bool guards = false;
    const uint64_t got = castOne(f, t, src, counts, &guards);
    QVERIFY2(got == expected,
             qPrintable(QStringLiteral("%1 -> %2, expected %3")
                            .arg(hexOf(f, src), hexOf(t, got), hexOf(t, expected))));
    QVERIFY2(guards, "wrote outside the target element");
    QCOMPARE(counts.overflow, uint64_t(overflow));
    QCOMPARE(counts.underflow, uint64_t(underflow));
}

} // namespace

class TestDtypeCast : public QObject {
    Q_OBJECT

private slots:
    void isCastable_data();
    void isCastable();
    void exactValues_data();
    void exactValues();
    void roundToNearestEven_data();
    void roundToNearestEven();
    void subnormals_data();
    void subnormals();
    void overflowAndInf_data();
    void overflowAndInf();
    void nanStaysQuietNaN_data();
    void nanStaysQuietNaN();
    void nanPayload_data();
    void nanPayload();
    void referenceAgreesWithHardware();
    void exhaustive16_data();
    void exhaustive16();
    void sampled_data();
    void sampled();
    void emptyCast();
    void lengthsAndAlignment_data();
    void lengthsAndAlignment();
    void inPlace_data();
    void inPlace();
    void mixedBatchCounts();
    void kernelsMatchOneByOne();
};

void TestDtypeCast::isCastable_data() {
    QTest::addColumn<int>("type");
    QTest::addColumn<bool>("castable");
    const struct {
        DType t;
        const char* name;
        bool castable;
    } all[] = {
        {DType::BOOL, "BOOL", false},
        {DType::U8, "U8", false},
        {DType::I8, "I8", false},
        {DType::F8_E4M3, "F8_E4M3", false},
        {DType::F8_E5M2, "F8_E5M2", false},
        {DType::F8_E8M0, "F8_E8M0", false},
        {DType::F8_E4M3FNUZ, "F8_E4M3FNUZ", false},
        {DType::F8_E5M2FNUZ, "F8_E5M2FNUZ", false},
        {DType::I16, "I16", false},
        {DType::U16, "U16", false},
        {DType::F16, "F16", true},
        {DType::BF16, "BF16", true},
        {DType::I32, "I32", false},
        {DType::U32, "U32", false},
        {DType::F32, "F32", true},
        {DType::I64, "I64", false},
        {DType::U64, "U64", false},
        {DType::F64, "F64", true},
        {DType::C64, "C64", false},
        {DType::F4, "F4", false},
        {DType::F6_E2M3, "F6_E2M3", false},
        {DType::F6_E3M2, "F6_E3M2", false},
    };
    static_assert(sizeof all / sizeof all[0] == kDTypeCount);
    for (const auto& a : all)
        QTest::newRow(a.name) << int(a.t) << a.castable;
}

void TestDtypeCast::isCastable() {
    QFETCH(int, type);
    QFETCH(bool, castable);
    QCOMPARE(shardscope::isCastable(DType(type)), castable);
}

// 0, -0, 1, -2, 0.5, +-Inf for all 16 ordered pairs; then per pair the largest finite value of
// the narrower format and the target's smallest subnormal (both signs), the target's smallest
// normal, and a few more exact values.
void TestDtypeCast::exactValues_data() {
    addLiteralColumns();
    struct Common {
        const Fmt* f;
        quint64 v[7]; // 0, -0, 1, -2, 0.5, +Inf, -Inf
    };
    const Common common[] = {
        {&kF64,
         {0x0, 0x8000'0000'0000'0000, 0x3FF0'0000'0000'0000, 0xC000'0000'0000'0000,
          0x3FE0'0000'0000'0000, 0x7FF0'0000'0000'0000, 0xFFF0'0000'0000'0000}},
        {&kF32,
         {0x0, 0x8000'0000, 0x3F80'0000, 0xC000'0000, 0x3F00'0000, 0x7F80'0000, 0xFF80'0000}},
        {&kF16, {0x0, 0x8000, 0x3C00, 0xC000, 0x3800, 0x7C00, 0xFC00}},
        {&kBF16, {0x0, 0x8000, 0x3F80, 0xC000, 0x3F00, 0x7F80, 0xFF80}},
    };
    const char* names[7] = {"+0", "-0", "1", "-2", "0.5", "+Inf", "-Inf"};
    for (const Common& a : common)
        for (const Common& b : common)
            for (int i = 0; i < 7; ++i)
                row(names[i], *a.f, *b.f, a.v[i], b.v[i]);

    // F32 max (2-2^-23)*2^127: F64 exponent 127+1023 = 0x47E, 23 ones on top of the mantissa.
    row("F32 max", kF64, kF32, 0x47EF'FFFF'E000'0000, 0x7F7F'FFFF);
    row("-F32 max", kF64, kF32, 0xC7EF'FFFF'E000'0000, 0xFF7F'FFFF);
    row("2^-149", kF64, kF32, 0x36A0'0000'0000'0000, 0x0000'0001); // exponent 1023-149 = 0x36A
    row("-2^-149", kF64, kF32, 0xB6A0'0000'0000'0000, 0x8000'0001);
    row("2^-126", kF64, kF32, 0x3810'0000'0000'0000, 0x0080'0000);
    row("F32 max subnormal", kF64, kF32, 0x380F'FFFF'C000'0000, 0x007F'FFFF);
    row("pi", kF64, kF32, 0x4009'21FB'5444'2D18, 0x4049'0FDB);
    row("1/3", kF64, kF32, 0x3FD5'5555'5555'5555, 0x3EAA'AAAB);
    // F16 max 65504 = (2-2^-10)*2^15: F64 exponent 0x40E, ten ones.
    row("F16 max", kF64, kF16, 0x40EF'FC00'0000'0000, 0x7BFF);
    row("-F16 max", kF64, kF16, 0xC0EF'FC00'0000'0000, 0xFBFF);
    row("2^-24", kF64, kF16, 0x3E70'0000'0000'0000, 0x0001);
    row("-2^-24", kF64, kF16, 0xBE70'0000'0000'0000, 0x8001);
    row("2^-14", kF64, kF16, 0x3F10'0000'0000'0000, 0x0400);
    row("F16 max subnormal", kF64, kF16, 0x3F0F'F800'0000'0000, 0x03FF);
    row("pi", kF64, kF16, 0x4009'21FB'5444'2D18, 0x4248);
    row("1/3", kF64, kF16, 0x3FD5'5555'5555'5555, 0x3555);
    // BF16 max (2-2^-7)*2^127.
    row("BF16 max", kF64, kBF16, 0x47EF'E000'0000'0000, 0x7F7F);
    row("-BF16 max", kF64, kBF16, 0xC7EF'E000'0000'0000, 0xFF7F);
    row("2^-133", kF64, kBF16, 0x37A0'0000'0000'0000, 0x0001); // exponent 1023-133 = 0x37A
    row("-2^-133", kF64, kBF16, 0xB7A0'0000'0000'0000, 0x8001);
    row("2^-126", kF64, kBF16, 0x3810'0000'0000'0000, 0x0080);
    row("pi", kF64, kBF16, 0x4009'21FB'5444'2D18, 0x4049);
    row("1/3", kF64, kBF16, 0x3FD5'5555'5555'5555, 0x3EAB);

    row("F16 max", kF32, kF16, 0x477F'E000, 0x7BFF);
    row("-F16 max", kF32, kF16, 0xC77F'E000, 0xFBFF);
    row("2^-24", kF32, kF16, 0x3380'0000, 0x0001);
    row("-2^-24", kF32, kF16, 0xB380'0000, 0x8001);
    row("2^-14", kF32, kF16, 0x3880'0000, 0x0400);
    row("F16 max subnormal", kF32, kF16, 0x387F'C000, 0x03FF);
    row("BF16 max", kF32, kBF16, 0x7F7F'0000, 0x7F7F);
    row("-BF16 max", kF32, kBF16, 0xFF7F'0000, 0xFF7F);
    row("2^-133 (F32 subnormal)", kF32, kBF16, 0x0001'0000, 0x0001);
    row("-2^-133 (F32 subnormal)", kF32, kBF16, 0x8001'0000, 0x8001);
    row("2^-126", kF32, kBF16, 0x0080'0000, 0x0080);
    row("pi", kF32, kBF16, 0x4049'0FDB, 0x4049);

    // Between F16 and BF16: 65280 = 0x477F is the largest BF16 value F16 holds (0x7BF8).
    row("2^-24", kF16, kBF16, 0x0001, 0x3380);
    row("-2^-24", kF16, kBF16, 0x8001, 0xB380);
    row("3*2^-24", kF16, kBF16, 0x0003, 0x3440);
    row("2^-14", kF16, kBF16, 0x0400, 0x3880);
    row("65280", kF16, kBF16, 0x7BF8, 0x477F);
    row("-65280", kF16, kBF16, 0xFBF8, 0xC77F);
    row("65280", kBF16, kF16, 0x477F, 0x7BF8);
    row("-65280", kBF16, kF16, 0xC77F, 0xFBF8);
    row("2^-24", kBF16, kF16, 0x3380, 0x0001);
    row("-2^-24", kBF16, kF16, 0xB380, 0x8001);
    row("2^-14", kBF16, kF16, 0x3880, 0x0400);
    row("pi", kBF16, kF16, 0x4049, 0x4248);

    // Widening is exact.
    row("F32 max", kF32, kF64, 0x7F7F'FFFF, 0x47EF'FFFF'E000'0000);
    row("2^-149", kF32, kF64, 0x0000'0001, 0x36A0'0000'0000'0000);
    row("-F32 max subnormal", kF32, kF64, 0x807F'FFFF, 0xB80F'FFFF'C000'0000);
    row("-3*2^-149", kF32, kF64, 0x8000'0003, 0xB6B8'0000'0000'0000);
    row("2^-126", kF32, kF64, 0x0080'0000, 0x3810'0000'0000'0000);
    row("pi", kF32, kF64, 0x4049'0FDB, 0x4009'21FB'6000'0000);
    row("F16 max", kF16, kF32, 0x7BFF, 0x477F'E000);
    row("2^-24", kF16, kF32, 0x0001, 0x3380'0000);
    row("-F16 max subnormal", kF16, kF32, 0x83FF, 0xB87F'C000);
    row("2^-14", kF16, kF32, 0x0400, 0x3880'0000);
    row("F16 max", kF16, kF64, 0x7BFF, 0x40EF'FC00'0000'0000);
    row("2^-24", kF16, kF64, 0x0001, 0x3E70'0000'0000'0000);
    row("-F16 max subnormal", kF16, kF64, 0x83FF, 0xBF0F'F800'0000'0000);
    row("2^-14", kF16, kF64, 0x0400, 0x3F10'0000'0000'0000);
    row("BF16 max", kBF16, kF32, 0x7F7F, 0x7F7F'0000);
    row("2^-133", kBF16, kF32, 0x0001, 0x0001'0000);
    row("-BF16 max subnormal", kBF16, kF32, 0x807F, 0x807F'0000);
    row("2^-126", kBF16, kF32, 0x0080, 0x0080'0000);
    row("BF16 max", kBF16, kF64, 0x7F7F, 0x47EF'E000'0000'0000);
    row("2^-133", kBF16, kF64, 0x0001, 0x37A0'0000'0000'0000);
    // 0x7F * 2^-133 = 1.111111b * 2^-127: exponent 896 = 0x380, six ones.
    row("-BF16 max subnormal", kBF16, kF64, 0x807F, 0xB80F'C000'0000'0000);
    row("2^-126", kBF16, kF64, 0x0080, 0x3810'0000'0000'0000);

    // Identity: a bit-for-bit copy.
    const struct {
        const Fmt* f;
        quint64 v[4]; // max, smallest subnormal, -largest subnormal, pi
    } same[] = {
        {&kF64, {0x7FEF'FFFF'FFFF'FFFF, 0x1, 0x800F'FFFF'FFFF'FFFF, 0x4009'21FB'5444'2D18}},
        {&kF32, {0x7F7F'FFFF, 0x1, 0x807F'FFFF, 0x4049'0FDB}},
        {&kF16, {0x7BFF, 0x1, 0x83FF, 0x4248}},
        {&kBF16, {0x7F7F, 0x1, 0x807F, 0x4049}},
    };
    const char* sameNames[4] = {"max", "smallest subnormal", "-largest subnormal", "pi"};
    for (const auto& s : same)
        for (int i = 0; i < 4; ++i)
            row(sameNames[i], *s.f, *s.f, s.v[i], s.v[i]);
}

void TestDtypeCast::exactValues() {
    checkLiteralRow();
}

// Halfway cases. At 1.0 the target ulp is 2^-23 (F32), 2^-10 (F16) or 2^-7 (BF16): the
// midpoint 1 + ulp/2 lies between an even pattern (1.0) and an odd one, so ties go down; the
// midpoint 1 + 3*ulp/2 lies between an odd and an even pattern, so ties go up.
void TestDtypeCast::roundToNearestEven_data() {
    addLiteralColumns();
    // F64 -> F32: 1 + 2^-24 is mantissa bit 28 (0x1000'0000).
    row("tie to even below", kF64, kF32, 0x3FF0'0000'1000'0000, 0x3F80'0000);
    row("just above tie", kF64, kF32, 0x3FF0'0000'1000'0001, 0x3F80'0001);
    row("just below tie", kF64, kF32, 0x3FF0'0000'0FFF'FFFF, 0x3F80'0000);
    row("tie to even above", kF64, kF32, 0x3FF0'0000'3000'0000, 0x3F80'0002);
    row("just below tie", kF64, kF32, 0x3FF0'0000'2FFF'FFFF, 0x3F80'0001);
    row("just above tie", kF64, kF32, 0x3FF0'0000'3000'0001, 0x3F80'0002);
    row("-tie to even above", kF64, kF32, 0xBFF0'0000'3000'0000, 0xBF80'0002);
    row("-tie to even below", kF64, kF32, 0xBFF0'0000'1000'0000, 0xBF80'0000);
    // F64 -> F16: 1 + 2^-11 is mantissa bit 41.
    row("tie to even below", kF64, kF16, 0x3FF0'0200'0000'0000, 0x3C00);
    row("just above tie", kF64, kF16, 0x3FF0'0200'0000'0001, 0x3C01);
    row("just below tie", kF64, kF16, 0x3FF0'01FF'FFFF'FFFF, 0x3C00);
    row("tie to even above", kF64, kF16, 0x3FF0'0600'0000'0000, 0x3C02);
    row("just below tie", kF64, kF16, 0x3FF0'05FF'FFFF'FFFF, 0x3C01);
    row("just above tie", kF64, kF16, 0x3FF0'0600'0000'0001, 0x3C02);
    row("-tie to even above", kF64, kF16, 0xBFF0'0600'0000'0000, 0xBC02);
    // F64 -> BF16: 1 + 2^-8 is mantissa bit 44.
    row("tie to even below", kF64, kBF16, 0x3FF0'1000'0000'0000, 0x3F80);
    row("just above tie", kF64, kBF16, 0x3FF0'1000'0000'0001, 0x3F81);
    row("just below tie", kF64, kBF16, 0x3FF0'0FFF'FFFF'FFFF, 0x3F80);
    row("tie to even above", kF64, kBF16, 0x3FF0'3000'0000'0000, 0x3F82);
    row("just below tie", kF64, kBF16, 0x3FF0'2FFF'FFFF'FFFF, 0x3F81);
    row("just above tie", kF64, kBF16, 0x3FF0'3000'0000'0001, 0x3F82);
    row("-tie to even below", kF64, kBF16, 0xBFF0'1000'0000'0000, 0xBF80);
    // Double-rounding traps: 2^-40 (mantissa 0x1000) is far below F32's half ulp at 1 (2^-24),
    // so an F32 step would land exactly on the BF16/F16 midpoint and then tie the wrong way.
    row("double rounding trap above tie", kF64, kBF16, 0x3FF0'1000'0000'1000, 0x3F81);
    row("double rounding trap below tie", kF64, kBF16, 0x3FF0'2FFF'FFFF'F000, 0x3F81);
    row("-double rounding trap above tie", kF64, kBF16, 0xBFF0'1000'0000'1000, 0xBF81);
    row("double rounding trap above tie", kF64, kF16, 0x3FF0'0200'0000'1000, 0x3C01);
    row("double rounding trap below tie", kF64, kF16, 0x3FF0'05FF'FFFF'F000, 0x3C01);
    // 2^-25 * (1 + 2^-35): above half of F16's smallest subnormal; through F32 it would become
    // exactly 2^-25 and tie to 0. Likewise 2^-134 * (1 + 2^-40) for BF16.
    row("double rounding trap at half 2^-24", kF64, kF16, 0x3E60'0000'0002'0000, 0x0001);
    row("double rounding trap at half 2^-133", kF64, kBF16, 0x3790'0000'0000'1000, 0x0001);
    // F32 -> F16: 1 + 2^-11 is mantissa bit 12.
    row("tie to even below", kF32, kF16, 0x3F80'1000, 0x3C00);
    row("just above tie", kF32, kF16, 0x3F80'1001, 0x3C01);
    row("just below tie", kF32, kF16, 0x3F80'0FFF, 0x3C00);
    row("tie to even above", kF32, kF16, 0x3F80'3000, 0x3C02);
    row("just below tie", kF32, kF16, 0x3F80'2FFF, 0x3C01);
    row("just above tie", kF32, kF16, 0x3F80'3001, 0x3C02);
    row("-tie to even above", kF32, kF16, 0xBF80'3000, 0xBC02);
    // F32 -> BF16: 1 + 2^-8 is mantissa bit 15.
    row("tie to even below", kF32, kBF16, 0x3F80'8000, 0x3F80);
    row("just above tie", kF32, kBF16, 0x3F80'8001, 0x3F81);
    row("just below tie", kF32, kBF16, 0x3F80'7FFF, 0x3F80);
    row("tie to even above", kF32, kBF16, 0x3F81'8000, 0x3F82);
    row("just below tie", kF32, kBF16, 0x3F81'7FFF, 0x3F81);
    row("just above tie", kF32, kBF16, 0x3F81'8001, 0x3F82);
    row("-tie to even above", kF32, kBF16, 0xBF81'8000, 0xBF82);
    row("1/3", kF32, kBF16, 0x3EAA'AAAB, 0x3EAB);
    // F16 -> BF16: 1 + 2^-8 is F16 mantissa 0x004.
    row("tie to even below", kF16, kBF16, 0x3C04, 0x3F80);
    row("just above tie", kF16, kBF16, 0x3C05, 0x3F81);
    row("just below tie", kF16, kBF16, 0x3C03, 0x3F80);
    row("tie to even above", kF16, kBF16, 0x3C0C, 0x3F82);
    row("just below tie", kF16, kBF16, 0x3C0B, 0x3F81);
    row("just above tie", kF16, kBF16, 0x3C0D, 0x3F82);
    row("-tie to even above", kF16, kBF16, 0xBC0C, 0xBF82);
    // 65504 = 1.1111111111b*2^15 keeps 8 bits: rounds up to 2^16 (BF16 exponent 143).
    row("F16 max rounds up", kF16, kBF16, 0x7BFF, 0x4780);
    // 1023*2^-24 rounds up to 2^-14; 511*2^-24 = 111111111b (a tie, odd below) -> 2^-15;
    // 509*2^-24 = 111111101b (a tie, even below) -> 254*2^-23 = 1.1111110b*2^-16.
    row("F16 max subnormal rounds up", kF16, kBF16, 0x03FF, 0x3880);
    row("subnormal tie to even above", kF16, kBF16, 0x01FF, 0x3800);
    row("subnormal tie to even below", kF16, kBF16, 0x01FD, 0x37FE);
    // BF16 -> F16: exact in F16's normal range; rounding happens among F16 subnormals (ulp
    // 2^-24). 1.5*2^-24 ties between 0x0001 (odd) and 0x0002; 2.5*2^-24 (0x3420 = 1.01b*2^-23)
    // ties between 0x0002 (even) and 0x0003.
    row("tie to even above", kBF16, kF16, 0x33C0, 0x0002);
    row("just above tie", kBF16, kF16, 0x33C1, 0x0002);
    row("just below tie", kBF16, kF16, 0x33BF, 0x0001);
    row("tie to even below", kBF16, kF16, 0x3420, 0x0002);
    row("just above tie", kBF16, kF16, 0x3421, 0x0003);
    row("just below tie", kBF16, kF16, 0x341F, 0x0002);
    row("-tie to even below", kBF16, kF16, 0xB420, 0x8002);
    row("3.5*2^-24 tie to even above", kBF16, kF16, 0x3460, 0x0004);
}

void TestDtypeCast::roundToNearestEven() {
    checkLiteralRow();
}

void TestDtypeCast::subnormals_data() {
    addLiteralColumns();
    // F64 -> F32: smallest subnormal 2^-149; half of it 2^-150 (exponent 0x369).
    row("F64 smallest subnormal", kF64, kF32, 0x0000'0000'0000'0001, 0x0000'0000, 0, 1);
    row("-F64 smallest subnormal", kF64, kF32, 0x8000'0000'0000'0001, 0x8000'0000, 0, 1);
    row("F64 largest subnormal", kF64, kF32, 0x000F'FFFF'FFFF'FFFF, 0x0000'0000, 0, 1);
    row("F64 smallest normal", kF64, kF32, 0x0010'0000'0000'0000, 0x0000'0000, 0, 1);
    row("2^-200", kF64, kF32, 0x3370'0000'0000'0000, 0x0000'0000, 0, 1);
    row("half smallest subnormal", kF64, kF32, 0x3690'0000'0000'0000, 0x0000'0000, 0, 1);
    row("-half smallest subnormal", kF64, kF32, 0xB690'0000'0000'0000, 0x8000'0000, 0, 1);
    row("just above half", kF64, kF32, 0x3690'0000'0000'0001, 0x0000'0001);
    row("-just above half", kF64, kF32, 0xB690'0000'0000'0001, 0x8000'0001);
    row("just below half", kF64, kF32, 0x368F'FFFF'FFFF'FFFF, 0x0000'0000, 0, 1);
    row("1.5*2^-149 ties up", kF64, kF32, 0x36A8'0000'0000'0000, 0x0000'0002);
    row("2.5*2^-149 ties down", kF64, kF32, 0x36B4'0000'0000'0000, 0x0000'0002);
    row("2^-140", kF64, kF32, 0x3730'0000'0000'0000, 0x0000'0200);
    // (1-2^-25)*2^-126 is above the midpoint between the largest subnormal and 2^-126.
    row("rounds up to smallest normal", kF64, kF32, 0x380F'FFFF'F000'0000, 0x0080'0000);
    // F64 -> F16: smallest subnormal 2^-24, half 2^-25 (exponent 0x3E6).
    row("F64 smallest subnormal", kF64, kF16, 0x0000'0000'0000'0001, 0x0000, 0, 1);
    row("-F32 smallest normal", kF64, kF16, 0xB810'0000'0000'0000, 0x8000, 0, 1);
    row("half smallest subnormal", kF64, kF16, 0x3E60'0000'0000'0000, 0x0000, 0, 1);
    row("-half smallest subnormal", kF64, kF16, 0xBE60'0000'0000'0000, 0x8000, 0, 1);
    row("just above half", kF64, kF16, 0x3E60'0000'0000'0001, 0x0001);
    row("just below half", kF64, kF16, 0x3E5F'FFFF'FFFF'FFFF, 0x0000, 0, 1);
    row("1.5*2^-24 ties up", kF64, kF16, 0x3E78'0000'0000'0000, 0x0002);
    // Midpoint between 0x03FF and 0x0400, 2^-14 - 2^-25 = 1.1111111111b*2^-15: ties up.
    row("tie into smallest normal", kF64, kF16, 0x3F0F'FC00'0000'0000, 0x0400);
    row("rounds up to smallest normal", kF64, kF16, 0x3F0F'FE00'0000'0000, 0x0400);
    // F64 -> BF16: smallest subnormal 2^-133, half 2^-134 (exponent 0x379).
    row("F64 smallest subnormal", kF64, kBF16, 0x0000'0000'0000'0001, 0x0000, 0, 1);
    row("half smallest subnormal", kF64, kBF16, 0x3790'0000'0000'0000, 0x0000, 0, 1);
    row("-half smallest subnormal", kF64, kBF16, 0xB790'0000'0000'0000, 0x8000, 0, 1);
    row("just above half", kF64, kBF16, 0x3790'0000'0000'0001, 0x0001);
    row("just below half", kF64, kBF16, 0x378F'FFFF'FFFF'FFFF, 0x0000, 0, 1);
    row("1.5*2^-133 ties up", kF64, kBF16, 0x37A8'0000'0000'0000, 0x0002);
    // F32 -> F16: half of 2^-24 is 2^-25 = 0x3300'0000.
    row("F32 smallest subnormal", kF32, kF16, 0x0000'0001, 0x0000, 0, 1);
    row("-F32 subnormal", kF32, kF16, 0x8040'0000, 0x8000, 0, 1);
    row("half smallest subnormal", kF32, kF16, 0x3300'0000, 0x0000, 0, 1);
    row("-half smallest subnormal", kF32, kF16, 0xB300'0000, 0x8000, 0, 1);
    row("just above half", kF32, kF16, 0x3300'0001, 0x0001);
    row("-just above half", kF32, kF16, 0xB300'0001, 0x8001);
    row("just below half", kF32, kF16, 0x32FF'FFFF, 0x0000, 0, 1);
    row("1.5*2^-24 ties up", kF32, kF16, 0x33C0'0000, 0x0002);
    row("2^-20", kF32, kF16, 0x3580'0000, 0x0010);
    // F32 -> BF16: BF16 subnormals are F32 subnormals cut to their top 7 mantissa bits.
    row("F32 smallest subnormal", kF32, kBF16, 0x0000'0001, 0x0000, 0, 1);
    row("half smallest subnormal", kF32, kBF16, 0x0000'8000, 0x0000, 0, 1);
    row("-half smallest subnormal", kF32, kBF16, 0x8000'8000, 0x8000, 0, 1);
    row("just above half", kF32, kBF16, 0x0000'8001, 0x0001);
    row("just below half", kF32, kBF16, 0x0000'7FFF, 0x0000, 0, 1);
    row("1.5*2^-133 ties up", kF32, kBF16, 0x0001'8000, 0x0002);
    row("2.5*2^-133 ties down", kF32, kBF16, 0x0002'8000, 0x0002);
    row("subnormal rounds down", kF32, kBF16, 0x0012'3456, 0x0012);
    row("rounds up to smallest normal", kF32, kBF16, 0x007F'C000, 0x0080);
    // BF16 -> F16: half of 2^-24 is 2^-25 = BF16 0x3300.
    row("BF16 smallest subnormal", kBF16, kF16, 0x0001, 0x0000, 0, 1);
    row("-BF16 smallest subnormal", kBF16, kF16, 0x8001, 0x8000, 0, 1);
    row("BF16 smallest normal", kBF16, kF16, 0x0080, 0x0000, 0, 1);
    row("half smallest subnormal", kBF16, kF16, 0x3300, 0x0000, 0, 1);
    row("-half smallest subnormal", kBF16, kF16, 0xB300, 0x8000, 0, 1);
    row("just above half", kBF16, kF16, 0x3301, 0x0001);
    row("just below half", kBF16, kF16, 0x32FF, 0x0000, 0, 1);
    row("2^-20", kBF16, kF16, 0x3580, 0x0010);
    // F16 -> BF16: every F16 subnormal is a BF16 normal (rounded to 8 bits).
    row("F16 subnormal 0x155", kF16, kBF16, 0x0155, 0x37AA); // 101010101b*2^-24: a tie, even below
    row("-F16 subnormal 0x2AA", kF16, kBF16, 0x82AA,
        0xB82A); // 1010101010b*2^-24: a tie, even below
}

void TestDtypeCast::subnormals() {
    checkLiteralRow();
}

void TestDtypeCast::overflowAndInf_data() {
    addLiteralColumns();
    // F32 -> F16: 65520 = 65504 + half an ulp (32/2) sits between 0x7BFF (odd) and 2^16: Inf.
    row("65520 ties to Inf", kF32, kF16, 0x477F'F000, 0x7C00, 1);
    row("-65520 ties to -Inf", kF32, kF16, 0xC77F'F000, 0xFC00, 1);
    row("65519.992 rounds to max", kF32, kF16, 0x477F'EFFF, 0x7BFF);
    row("-65519.992 rounds to -max", kF32, kF16, 0xC77F'EFFF, 0xFBFF);
    row("65512 rounds to max", kF32, kF16, 0x477F'E800, 0x7BFF);
    row("65536", kF32, kF16, 0x4780'0000, 0x7C00, 1);
    row("F32 max", kF32, kF16, 0x7F7F'FFFF, 0x7C00, 1);
    row("-F32 max", kF32, kF16, 0xFF7F'FFFF, 0xFC00, 1);
    // F32 -> BF16: max + half ulp = (2-2^-8)*2^127 = 0x7F7F8000 ties to Inf.
    row("max + half ulp ties to Inf", kF32, kBF16, 0x7F7F'8000, 0x7F80, 1);
    row("-max - half ulp ties to -Inf", kF32, kBF16, 0xFF7F'8000, 0xFF80, 1);
    row("just below max + half ulp", kF32, kBF16, 0x7F7F'7FFF, 0x7F7F);
    row("F32 max", kF32, kBF16, 0x7F7F'FFFF, 0x7F80, 1);
    // F64 -> F32: (2-2^-24)*2^127: 24 ones in the mantissa.
    row("max + half ulp ties to Inf", kF64, kF32, 0x47EF'FFFF'F000'0000, 0x7F80'0000, 1);
    row("-max - half ulp ties to -Inf", kF64, kF32, 0xC7EF'FFFF'F000'0000, 0xFF80'0000, 1);
    row("just below max + half ulp", kF64, kF32, 0x47EF'FFFF'EFFF'FFFF, 0x7F7F'FFFF);
    row("2^128", kF64, kF32, 0x47F0'0000'0000'0000, 0x7F80'0000, 1);
    row("F64 max", kF64, kF32, 0x7FEF'FFFF'FFFF'FFFF, 0x7F80'0000, 1);
    row("-F64 max", kF64, kF32, 0xFFEF'FFFF'FFFF'FFFF, 0xFF80'0000, 1);
    // F64 -> F16: 65520 has eleven ones.
    row("65520 ties to Inf", kF64, kF16, 0x40EF'FE00'0000'0000, 0x7C00, 1);
    row("-65520 ties to -Inf", kF64, kF16, 0xC0EF'FE00'0000'0000, 0xFC00, 1);
    row("just below 65520", kF64, kF16, 0x40EF'FDFF'FFFF'FFFF, 0x7BFF);
    row("1e300", kF64, kF16, 0x7E37'E43C'8800'759C, 0x7C00, 1);
    row("F64 max", kF64, kF16, 0x7FEF'FFFF'FFFF'FFFF, 0x7C00, 1);
    // F64 -> BF16: (2-2^-8)*2^127: eight ones.
    row("max + half ulp ties to Inf", kF64, kBF16, 0x47EF'F000'0000'0000, 0x7F80, 1);
    row("just below max + half ulp", kF64, kBF16, 0x47EF'EFFF'FFFF'FFFF, 0x7F7F);
    row("F32 max", kF64, kBF16, 0x47EF'FFFF'E000'0000, 0x7F80, 1);
    row("-F64 max", kF64, kBF16, 0xFFEF'FFFF'FFFF'FFFF, 0xFF80, 1);
    // BF16 -> F16.
    row("65536", kBF16, kF16, 0x4780, 0x7C00, 1);
    row("-65536", kBF16, kF16, 0xC780, 0xFC00, 1);
    row("BF16 max", kBF16, kF16, 0x7F7F, 0x7C00, 1);
    row("-BF16 max", kBF16, kF16, 0xFF7F, 0xFC00, 1);
    // Inf is not an overflow (the common +-Inf rows of exactValues check that for every pair;
    // these also check no count is touched when Inf sits next to an overflowing value).
    row("Inf", kF32, kF16, 0x7F80'0000, 0x7C00);
    row("-Inf", kF64, kBF16, 0xFFF0'0000'0000'0000, 0xFF80);
}

void TestDtypeCast::overflowAndInf() {
    checkLiteralRow();
}

void TestDtypeCast::nanStaysQuietNaN_data() {
    QTest::addColumn<int>("from");
    QTest::addColumn<int>("to");
    QTest::addColumn<quint64>("src");
    const struct {
        const Fmt* f;
        quint64
            v[6]; // qNaN, -qNaN, sNaN (lowest payload bit), -sNaN, sNaN (high payload), all ones
    } nans[] = {
        {&kF64,
         {0x7FF8'0000'0000'0000, 0xFFF8'0000'0000'0000, 0x7FF0'0000'0000'0001,
          0xFFF0'0000'0000'0001, 0x7FF4'0000'0000'0000, 0xFFFF'FFFF'FFFF'FFFF}},
        {&kF32, {0x7FC0'0000, 0xFFC0'0000, 0x7F80'0001, 0xFF80'0001, 0x7FA0'0000, 0xFFFF'FFFF}},
        {&kF16, {0x7E00, 0xFE00, 0x7C01, 0xFC01, 0x7D00, 0xFFFF}},
        {&kBF16, {0x7FC0, 0xFFC0, 0x7F81, 0xFF81, 0x7FA0, 0xFFFF}},
    };
    for (const auto& a : nans)
        for (const Fmt* to : kAll)
            for (quint64 v : a.v)
                QTest::addRow("%s->%s %s", a.f->name, to->name, qPrintable(hexOf(*a.f, v)))
                    << int(a.f->type) << int(to->type) << v;
}

void TestDtypeCast::nanStaysQuietNaN() {
    QFETCH(int, from);
    QFETCH(int, to);
    QFETCH(quint64, src);
    const Fmt& f = fmtOf(DType(from));
    const Fmt& t = fmtOf(DType(to));
    CastCounts counts;
    bool guards = false;
    const uint64_t got = castOne(f, t, src, counts, &guards);
    const uint64_t mag = got & ~t.signBit();
    const QString ctx = QStringLiteral("%1 -> %2").arg(hexOf(f, src), hexOf(t, got));
    QVERIFY2((mag & t.infBits()) == t.infBits() && (mag & t.manMask()) != 0,
             qPrintable(ctx + " is not a NaN"));
    QVERIFY2((mag & t.quietBit()) != 0, qPrintable(ctx + " is not quiet"));
    QVERIFY2(((got & t.signBit()) != 0) == ((src & f.signBit()) != 0),
             qPrintable(ctx + " lost the sign"));
    QVERIFY2(guards, "wrote outside the target element");
    QCOMPARE(counts.overflow, uint64_t(0));
    QCOMPARE(counts.underflow, uint64_t(0));
}

// The payload reading (see the top): high-order mantissa bits move, plus the quiet bit.
void TestDtypeCast::nanPayload_data() {
    addLiteralColumns();
    auto nan = [](const char* what, const Fmt& f, const Fmt& t, quint64 src, quint64 expected) {
        row(what, f, t, src, expected);
    };
    // F64 mantissa >> 29 for F32: 0x8'0001'2345'6789 >> 29 = 0x40'0009.
    nan("high payload", kF64, kF32, 0x7FF4'0000'0000'0000, 0x7FE0'0000);
    nan("mixed payload", kF64, kF32, 0x7FF8'0001'2345'6789, 0x7FC0'0009);
    nan("low payload only", kF64, kF32, 0xFFF0'0000'0000'0001, 0xFFC0'0000);
    nan("all ones", kF64, kF32, 0x7FFF'FFFF'FFFF'FFFF, 0x7FFF'FFFF);
    nan("high payload", kF64, kF16, 0x7FF4'0000'0000'0000, 0x7F00);
    nan("low payload only", kF64, kF16, 0xFFF0'0000'0000'0001, 0xFE00);
    nan("all ones", kF64, kF16, 0x7FFF'FFFF'FFFF'FFFF, 0x7FFF);
    nan("high payload", kF64, kBF16, 0x7FF4'0000'0000'0000, 0x7FE0);
    nan("low payload only", kF64, kBF16, 0xFFF0'0000'0000'0001, 0xFFC0);
    nan("all ones", kF64, kBF16, 0x7FFF'FFFF'FFFF'FFFF, 0x7FFF);
    nan("high payload", kF32, kF64, 0x7FA0'0000, 0x7FFC'0000'0000'0000);
    nan("low payload", kF32, kF64, 0x7F80'0001, 0x7FF8'0000'2000'0000);
    nan("all ones", kF32, kF64, 0xFFFF'FFFF, 0xFFFF'FFFF'E000'0000);
    nan("high payload", kF32, kF16, 0x7FA0'0000, 0x7F00);
    nan("low payload only", kF32, kF16, 0xFF80'0001, 0xFE00);
    nan("quiet with payload", kF32, kF16, 0x7FC0'2000, 0x7E01);
    nan("high payload", kF32, kBF16, 0x7FA0'0000, 0x7FE0);
    nan("low payload only", kF32, kBF16, 0xFF80'0001, 0xFFC0);
    nan("quiet with payload", kF32, kBF16, 0x7FC1'0000, 0x7FC1);
    nan("high payload", kF16, kF32, 0x7D00, 0x7FE0'0000);
    nan("low payload", kF16, kF32, 0x7C01, 0x7FC0'2000);
    nan("-low payload", kF16, kF32, 0xFC01, 0xFFC0'2000);
    nan("high payload", kF16, kF64, 0x7D00, 0x7FFC'0000'0000'0000);
    nan("low payload", kF16, kF64, 0x7C01, 0x7FF8'0400'0000'0000);
    nan("all ones", kF16, kF64, 0xFFFF, 0xFFFF'FC00'0000'0000);
    nan("high payload", kF16, kBF16, 0x7D00, 0x7FE0);
    nan("low payload only", kF16, kBF16, 0x7C01, 0x7FC0);
    nan("quiet with payload", kF16, kBF16, 0x7E08, 0x7FC1);
    nan("-low payload only", kF16, kBF16, 0xFC01, 0xFFC0);
    nan("high payload", kBF16, kF32, 0x7FA0, 0x7FE0'0000);
    nan("-low payload", kBF16, kF32, 0xFF81, 0xFFC1'0000);
    nan("low payload", kBF16, kF64, 0x7F81, 0x7FF8'2000'0000'0000);
    nan("high payload", kBF16, kF64, 0x7FA0, 0x7FFC'0000'0000'0000);
    nan("high payload", kBF16, kF16, 0x7FA0, 0x7F00);
    nan("-low payload", kBF16, kF16, 0xFF81, 0xFE08);
    nan("low payload", kBF16, kF16, 0x7F81, 0x7E08);
    nan("signalling", kF64, kF64, 0x7FF0'0000'0000'0001, 0x7FF8'0000'0000'0001);
    nan("signalling", kF32, kF32, 0x7F80'0001, 0x7FC0'0001);
    nan("signalling", kF16, kF16, 0x7C01, 0x7E01);
    nan("-signalling", kBF16, kBF16, 0xFF81, 0xFFC1);
    nan("quiet", kF32, kF32, 0xFFC1'2345, 0xFFC1'2345);
}

void TestDtypeCast::nanPayload() {
    QFETCH(int, from);
    QFETCH(int, to);
    QFETCH(quint64, src);
    QFETCH(quint64, expected);
    const Fmt& f = fmtOf(DType(from));
    const Fmt& t = fmtOf(DType(to));
    const Expect e = refCast(f, t, src);
    QVERIFY2(e.nan && e.bits == expected, "reference self-check");
    CastCounts counts;
    bool guards = false;
    const uint64_t got = castOne(f, t, src, counts, &guards);
    QVERIFY2(got == expected,
             qPrintable(QStringLiteral("%1 -> %2, expected %3")
                            .arg(hexOf(f, src), hexOf(t, got), hexOf(t, expected))));
}

// The reference against the hardware: F64 -> F32 by static_cast<float> and, where the compiler
// has _Float16, F64 -> F16 and F32 -> F16. A failure here is a bug in this file's reference.
void TestDtypeCast::referenceAgreesWithHardware() {
    bool ok = false;
    const std::vector<uint64_t> s64 = sampleSources(kF64, kF32, 1 << 17, 11, &ok);
    QVERIFY(ok);
    for (uint64_t bits : s64) {
        const double d = std::bit_cast<double>(bits);
        if (std::isnan(d)) continue;
        const uint32_t hw = std::bit_cast<uint32_t>(static_cast<float>(d));
        const Expect e = refCast(kF64, kF32, bits);
        QVERIFY2(e.bits == hw,
                 qPrintable(QStringLiteral("reference %1 vs hardware %2 for %3")
                                .arg(hexOf(kF32, e.bits), hexOf(kF32, hw), hexOf(kF64, bits))));
    }
#ifdef __FLT16_MAX__
    const std::vector<uint64_t> h64 = sampleSources(kF64, kF16, 1 << 16, 12, &ok);
    QVERIFY(ok);
    for (uint64_t bits : h64) {
        const double d = std::bit_cast<double>(bits);
        if (std::isnan(d)) continue;
        const uint16_t hw = std::bit_cast<uint16_t>(static_cast<_Float16>(d));
        QCOMPARE(refCast(kF64, kF16, bits).bits, uint64_t(hw));
    }
    const std::vector<uint64_t> h32 = sampleSources(kF32, kF16, 1 << 16, 13, &ok);
    QVERIFY(ok);
    for (uint64_t bits : h32) {
        const float f = std::bit_cast<float>(uint32_t(bits));
        if (std::isnan(f)) continue;
        const uint16_t hw = std::bit_cast<uint16_t>(static_cast<_Float16>(f));
        QCOMPARE(refCast(kF32, kF16, bits).bits, uint64_t(hw));
    }
#endif
}

// Every F16 and BF16 pattern to every format, in one call per pair.
void TestDtypeCast::exhaustive16_data() {
    QTest::addColumn<int>("from");
    QTest::addColumn<int>("to");
    for (const Fmt* f : {&kF16, &kBF16})
        for (const Fmt* t : kAll)
            QTest::addRow("%s->%s", f->name, t->name) << int(f->type) << int(t->type);
}

void TestDtypeCast::exhaustive16() {
    QFETCH(int, from);
    QFETCH(int, to);
    std::vector<uint64_t> all(65536);
    for (uint64_t i = 0; i < all.size(); ++i)
        all[i] = i;
    checkBatch(fmtOf(DType(from)), fmtOf(DType(to)), all);
}

// A fixed-seed sample of F32 and F64 patterns to every format, in one call per pair.
void TestDtypeCast::sampled_data() {
    QTest::addColumn<int>("from");
    QTest::addColumn<int>("to");
    QTest::addColumn<int>("count");
    QTest::addRow("F32->F16") << int(DType::F32) << int(DType::F16) << (1 << 20);
    QTest::addRow("F32->BF16") << int(DType::F32) << int(DType::BF16) << (1 << 20);
    QTest::addRow("F32->F64") << int(DType::F32) << int(DType::F64) << (1 << 18);
    QTest::addRow("F32->F32") << int(DType::F32) << int(DType::F32) << (1 << 16);
    QTest::addRow("F64->F32") << int(DType::F64) << int(DType::F32) << (1 << 20);
    QTest::addRow("F64->F16") << int(DType::F64) << int(DType::F16) << (1 << 20);
    QTest::addRow("F64->BF16") << int(DType::F64) << int(DType::BF16) << (1 << 20);
    QTest::addRow("F64->F64") << int(DType::F64) << int(DType::F64) << (1 << 16);
}

void TestDtypeCast::sampled() {
    QFETCH(int, from);
    QFETCH(int, to);
    QFETCH(int, count);
    const Fmt& f = fmtOf(DType(from));
    const Fmt& t = fmtOf(DType(to));
    bool ok = false;
    const std::vector<uint64_t> srcs =
        sampleSources(f, t, size_t(count), 0x5EED + from * 31 + to, &ok);
    QVERIFY(ok);
    checkBatch(f, t, srcs);
}

void TestDtypeCast::emptyCast() {
    for (const Fmt* f : kAll)
        for (const Fmt* t : kAll) {
            unsigned char in[16], out[16];
            std::memset(in, 0x3C, sizeof in);
            std::memset(out, 0xA5, sizeof out);
            CastCounts counts;
            castElements(f->type, t->type, in, out, 0, counts);
            for (unsigned char b : out)
                QCOMPARE(int(b), 0xA5);
            QCOMPARE(counts.overflow, uint64_t(0));
            QCOMPARE(counts.underflow, uint64_t(0));
        }
}

// Every pair at several lengths (tails of any block size) and unaligned offsets.
void TestDtypeCast::lengthsAndAlignment_data() {
    QTest::addColumn<int>("from");
    QTest::addColumn<int>("to");
    for (const Fmt* f : kAll)
        for (const Fmt* t : kAll)
            QTest::addRow("%s->%s", f->name, t->name) << int(f->type) << int(t->type);
}

void TestDtypeCast::lengthsAndAlignment() {
    QFETCH(int, from);
    QFETCH(int, to);
    const Fmt& f = fmtOf(DType(from));
    const Fmt& t = fmtOf(DType(to));
    bool ok = false;
    const std::vector<uint64_t> pool = sampleSources(f, t, 1100, 1 + from * 31 + to, &ok);
    QVERIFY(ok);
    for (size_t n : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1023, 1029})
        for (int srcOff : {0, 1, 3})
            for (int dstOff : {0, 1, 2, 5}) {
                const size_t start = (n * 7 + srcOff + dstOff) % (pool.size() - n + 1);
                std::vector<unsigned char> in(n * f.bytes + 8), out(n * t.bytes + 16, 0xA5);
                for (size_t i = 0; i < n; ++i)
                    put(f, &in[srcOff + i * f.bytes], pool[start + i]);
                unsigned char* dst = out.data() + 8 - dstOff;
                CastCounts counts;
                castElements(f.type, t.type, in.data() + srcOff, dst, n, counts);
                uint64_t ov = 0, un = 0;
                for (size_t i = 0; i < n; ++i) {
                    const Expect e = refCast(f, t, pool[start + i]);
                    ov += e.overflow;
                    un += e.underflow;
                    const uint64_t got = get(t, dst + i * t.bytes);
                    if (!matches(t, e, got))
                        QFAIL(qPrintable(QStringLiteral("n=%1 srcOff=%2 dstOff=%3 element %4: "
                                                        "%5 -> %6, expected %7%8")
                                             .arg(n)
                                             .arg(srcOff)
                                             .arg(dstOff)
                                             .arg(i)
                                             .arg(hexOf(f, pool[start + i]), hexOf(t, got),
                                                  hexOf(t, e.bits),
                                                  e.nan ? QStringLiteral(" (or any quiet NaN "
                                                                         "of that sign)")
                                                        : QString())));
                }
                QCOMPARE(counts.overflow, ov);
                QCOMPARE(counts.underflow, un);
                const size_t end = 8 - dstOff + n * t.bytes;
                for (size_t i = 0; i < out.size(); ++i)
                    if ((i < size_t(8 - dstOff) || i >= end) && out[i] != 0xA5)
                        QFAIL(qPrintable(QStringLiteral("n=%1 dstOff=%2: wrote outside the "
                                                        "target elements")
                                             .arg(n)
                                             .arg(dstOff)));
            }
}

// src == dst for every pair whose target is no wider than its source.
void TestDtypeCast::inPlace_data() {
    QTest::addColumn<int>("from");
    QTest::addColumn<int>("to");
    for (const Fmt* f : kAll)
        for (const Fmt* t : kAll)
            if (t->bytes <= f->bytes)
                QTest::addRow("%s->%s", f->name, t->name) << int(f->type) << int(t->type);
}

void TestDtypeCast::inPlace() {
    QFETCH(int, from);
    QFETCH(int, to);
    const Fmt& f = fmtOf(DType(from));
    const Fmt& t = fmtOf(DType(to));
    bool ok = false;
    const std::vector<uint64_t> pool = sampleSources(f, t, 100003, 77 + from * 31 + to, &ok);
    QVERIFY(ok);
    for (size_t n :
         {size_t(1), size_t(2), size_t(3), size_t(17), size_t(64), size_t(1000), size_t(100003)})
        for (int off : {0, 1, 3}) {
            std::vector<unsigned char> buf(n * f.bytes + 16, 0xA5);
            unsigned char* p = buf.data() + 8 + off;
            for (size_t i = 0; i < n; ++i)
                put(f, p + i * f.bytes, pool[i]);
            const std::vector<unsigned char> before = buf;
            CastCounts counts;
            castElements(f.type, t.type, p, p, n, counts);
            uint64_t bad = 0, ov = 0, un = 0;
            QString first;
            for (size_t i = 0; i < n; ++i) {
                const Expect e = refCast(f, t, pool[i]);
                ov += e.overflow;
                un += e.underflow;
                const uint64_t got = get(t, p + i * t.bytes);
                if (!matches(t, e, got) && bad++ == 0)
                    first = QStringLiteral("element %1: %2 -> %3, expected %4")
                                .arg(i)
                                .arg(hexOf(f, pool[i]), hexOf(t, got), hexOf(t, e.bits));
            }
            QVERIFY2(bad == 0, qPrintable(QStringLiteral("n=%1 off=%2: %3 wrong, first %4")
                                              .arg(n)
                                              .arg(off)
                                              .arg(bad)
                                              .arg(first)));
            QCOMPARE(counts.overflow, ov);
            QCOMPARE(counts.underflow, un);
            // Nothing outside the n target elements changes: not the guards, not the rest of
            // the source array.
            const size_t written = 8 + off + n * t.bytes;
            for (size_t i = 0; i < buf.size(); ++i)
                if ((i < size_t(8 + off) || i >= written) && buf[i] != before[i])
                    QFAIL(qPrintable(QStringLiteral("n=%1 off=%2: byte %3 outside the target "
                                                    "elements changed")
                                         .arg(n)
                                         .arg(off)
                                         .arg(i)));
        }
}

// Overflow, underflow, Inf, NaN and zeros mixed in one call: the counts add up per kind.
void TestDtypeCast::mixedBatchCounts() {
    const std::vector<uint64_t> srcs = {
        0x477F'F000, // 65520 -> Inf (overflow)
        0x7F80'0000, // Inf (not counted)
        0x3300'0000, // 2^-25 -> 0 (underflow)
        0x0000'0000, // +0 (not counted)
        0x8000'0000, // -0 (not counted)
        0x7FC0'0000, // NaN (not counted)
        0xFF80'0001, // -sNaN (not counted)
        0xC780'0000, // -65536 -> -Inf (overflow)
        0x8000'0001, // -2^-149 -> -0 (underflow)
        0x3300'0001, // just above 2^-25 -> 0x0001 (neither)
        0x3F80'0000, // 1
        0x32FF'FFFF, // -> 0 (underflow)
    };
    const uint64_t expected[] = {0x7C00, 0x7C00, 0x0000, 0x0000, 0x8000, 0,
                                 0,      0xFC00, 0x8000, 0x0001, 0x3C00, 0x0000};
    unsigned char in[12 * 4], out[12 * 2];
    for (size_t i = 0; i < srcs.size(); ++i)
        put(kF32, in + 4 * i, srcs[i]);
    CastCounts counts;
    castElements(DType::F32, DType::F16, in, out, srcs.size(), counts);
    for (size_t i = 0; i < srcs.size(); ++i) {
        const uint64_t got = get(kF16, out + 2 * i);
        if (i == 5 || i == 6) {
            QVERIFY2(isQuietNaN(kF16, got), qPrintable(hexOf(kF16, got)));
            QCOMPARE(got >> 15, srcs[i] >> 31);
        } else {
            QVERIFY2(got == expected[i],
                     qPrintable(QStringLiteral("element %1: %2, expected %3")
                                    .arg(i)
                                    .arg(hexOf(kF16, got), hexOf(kF16, expected[i]))));
        }
    }
    QCOMPARE(counts.overflow, uint64_t(2));
    QCOMPARE(counts.underflow, uint64_t(3));
}

// The vector kernels against the element-at-a-time path (itself checked against the
// independent reference above): every 16-bit pattern, and for wider sources the edges of every
// range (zero, subnormal, normal, overflow, Inf, NaN payloads) plus random patterns.
void TestDtypeCast::kernelsMatchOneByOne() {
    const DType all[] = {DType::F64, DType::F32, DType::F16, DType::BF16};
    std::vector<uint64_t> wide;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 200000; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        wide.push_back(x);
    }
    for (uint64_t e = 0; e < 2048; ++e) // every F64 exponent, with edge mantissas
        for (uint64_t m : {0ull, 1ull, 0x10000000ull, 0x0FFFFFFFull, 0x8000000000000ull,
                           0xFFFFFFFFFFFFFull, 0x7FFFFFFFull})
            for (uint64_t sign : {0ull, 1ull << 63})
                wide.push_back(sign | (e << 52) | m);
    for (uint64_t e = 0; e < 256; ++e) // every F32 exponent, with edge mantissas
        for (uint64_t m : {0u, 1u, 0xFFFu, 0x1000u, 0x1FFFu, 0x2000u, 0x3FFFu, 0x7FFFu, 0x8000u,
                           0xFFFFu, 0x10000u, 0x400000u, 0x7FFFFFu})
            for (uint64_t sign : {0ull, 0x80000000ull})
                wide.push_back(sign | (e << 23) | m);
    for (DType from : all)
        for (DType to : all) {
            const unsigned in = dtypeBits(from) / 8, out = dtypeBits(to) / 8;
            std::vector<unsigned char> src;
            if (in == 2) {
                for (uint32_t b = 0; b < 65536; ++b)
                    src.push_back(uint8_t(b)), src.push_back(uint8_t(b >> 8));
            } else {
                for (uint64_t v : wide)
                    for (unsigned k = 0; k < in; ++k)
                        src.push_back(uint8_t(v >> (8 * k)));
            }
            const uint64_t n = src.size() / in;
            std::vector<unsigned char> fast(n * out), slow(n * out);
            CastCounts a, b;
            castElements(from, to, src.data(), fast.data(), n, a);
            castElementsOneByOne(from, to, src.data(), slow.data(), n, b);
            const QString pair = QString("%1 -> %2").arg(QString::fromStdString(std::string(dtypeName(from))),
                                                         QString::fromStdString(std::string(dtypeName(to))));
            for (uint64_t i = 0; i < n; ++i)
                if (std::memcmp(fast.data() + i * out, slow.data() + i * out, out) != 0)
                    QFAIL(qPrintable(pair + QString(": element %1 differs").arg(i)));
            QVERIFY2(a.overflow == b.overflow && a.underflow == b.underflow, qPrintable(pair));
        }
}

QTEST_APPLESS_MAIN(TestDtypeCast)
#include "tst_dtype_cast.moc"
