// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "json_cursor.h"

#include <cstring>

#include "utf8.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>

namespace shardscope {

std::string lineAndColumn(std::string_view text, size_t position) {
    position = std::min(position, text.size());
    size_t line = 1, column = 1;
    for (size_t i = 0; i < position; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\n')
            ++line, column = 1;
        else if ((c & 0xC0) != 0x80)
            ++column;
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

void JsonCursor::failExpected(const char* what) const {
    fail(std::string("expected ") + what);
}

void JsonCursor::failTooDeep() const {
    fail(ErrorKind::NestingTooDeep, {},
         "arrays and objects nested " + std::to_string(kMaxNesting) +
             " deep, past the reference loader's recursion limit");
}

const char* JsonCursor::describeNext() {
    switch (peek()) {
    case '"':
        return "a string";
    case '{':
        return "an object";
    case '[':
        return "an array";
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    case '-':
        return "a number";
    default:
        if (m_pos < m_text.size() && m_text[m_pos] >= '0' && m_text[m_pos] <= '9')
            return "a number";
        fail("expected a value"); // not a value at all: a syntax error, not a wrong type
    }
}

namespace {
// A flag in the high bit of each byte of `word` that is '"', '\\' or below 0x20. Flags above
// the first may be false (borrows), the first is exact, and the first is all the caller uses.
inline uint64_t specialBytes(uint64_t word) {
    constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
    auto zeroBytes = [](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
    return zeroBytes(word ^ (kOnes * '"')) | zeroBytes(word ^ (kOnes * '\\')) |
           ((word - kOnes * 0x20) & ~word & kHigh);
}

// The index of the first '"', '\\' or control byte of data[i, size), or size. Names are most of
// a header's bytes: a byte loop was the parse's largest cost on 5 M chunk headers, eight bytes
// at a time halved it, and sixteen (SSE2, which every x86-64 has) took 16 of W5's headers and
// their sharding info from 81 to 72 ms.
inline size_t plainRunEnd(const char* data, size_t i, size_t size) {
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i control = _mm_set1_epi8(0x1F);
    while (i + 16 <= size) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
        const __m128i below = _mm_cmpeq_epi8(_mm_max_epu8(v, control), control); // v <= 0x1F
        const __m128i special = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), below);
        if (const unsigned mask = unsigned(_mm_movemask_epi8(special)))
            return i + unsigned(__builtin_ctz(mask));
        i += 16;
    }
#endif
    while (i + 8 <= size) {
        uint64_t word;
        std::memcpy(&word, data + i, 8);
        if (const uint64_t found = specialBytes(word))
            return i + size_t(__builtin_ctzll(found)) / 8;
        i += 8;
    }
    for (; i < size; ++i) {
        const auto c = static_cast<unsigned char>(data[i]);
        if (c == '"' || c == '\\' || c < 0x20) return i;
    }
    return size;
}
} // namespace

std::string_view JsonCursor::string(std::string& scratch) {
    if (peek() != '"') fail("expected a string");
    const size_t start = ++m_pos;
    const char* data = m_text.data();
    const size_t size = m_text.size();
    const size_t i = plainRunEnd(data, start, size);
    if (i >= size) {
        m_pos = size;
        fail("unterminated string");
    }
    if (data[i] == '"') { // the common case: no escapes, so no copy
        m_pos = i + 1;
        return m_text.substr(start, i - start);
    }
    if (data[i] != '\\') {
        m_pos = i;
        fail("control character in a string");
    }
    scratch.assign(data + start, i - start);
    slowString(scratch, i);
    return scratch;
}

void JsonCursor::slowString(std::string& out, size_t i) {
    const size_t size = m_text.size();
    auto hex4 = [&](size_t at) -> uint32_t {
        if (at + 4 > size) {
            m_pos = at;
            fail("truncated \\u escape");
        }
        uint32_t v = 0;
        for (size_t k = 0; k < 4; ++k) {
            const char h = m_text[at + k];
            v <<= 4;
            if (h >= '0' && h <= '9')
                v |= uint32_t(h - '0');
            else if (h >= 'a' && h <= 'f')
                v |= uint32_t(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F')
                v |= uint32_t(h - 'A' + 10);
            else {
                m_pos = at + k;
                fail("bad hex digit in a \\u escape");
            }
        }
        return v;
    };
    while (i < size) {
        const unsigned char c = static_cast<unsigned char>(m_text[i]);
        if (c == '"') {
            m_pos = i + 1;
            return;
        }
        if (c < 0x20) {
            m_pos = i;
            fail("control character in a string");
        }
        if (c != '\\') { // the plain run up to the next quote or backslash, in one go
            const size_t j = plainRunEnd(m_text.data(), i + 1, size);
            out.append(m_text.data() + i, j - i);
            i = j;
            continue;
        }
        if (i + 1 >= size) break;
        const char e = m_text[i + 1];
        i += 2;
        switch (e) {
        case '"':
            out += '"';
            break;
        case '\\':
            out += '\\';
            break;
        case '/':
            out += '/';
            break;
        case 'b':
            out += '\b';
            break;
        case 'f':
            out += '\f';
            break;
        case 'n':
            out += '\n';
            break;
        case 'r':
            out += '\r';
            break;
        case 't':
            out += '\t';
            break;
        case 'u': {
            uint32_t cp = hex4(i);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) { // a surrogate pair must follow
                if (i + 6 > size || m_text[i] != '\\' || m_text[i + 1] != 'u') {
                    m_pos = i;
                    fail("unpaired surrogate in a \\u escape");
                }
                const uint32_t low = hex4(i + 2);
                if (low < 0xDC00 || low > 0xDFFF) {
                    m_pos = i;
                    fail("unpaired surrogate in a \\u escape");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                i += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                m_pos = i;
                fail("unpaired surrogate in a \\u escape");
            }
            appendUtf8(out, cp);
            break;
        }
        default:
            m_pos = i - 1;
            fail(std::string("invalid escape \\") + e);
        }
    }
    m_pos = size;
    fail("unterminated string");
}

JsonCursor::Number JsonCursor::number(uint64_t& value, std::string_view* text) {
    skipWhitespace();
    const size_t size = m_text.size();
    const size_t start = m_pos;
    // Almost every number in a header is a plain integer of a few digits: up to 19 digits
    // cannot overflow, so they need no checks per digit.
    {
        const char* d = m_text.data();
        size_t q = start;
        uint64_t v = 0;
        if (q < size && d[q] >= '1' && d[q] <= '9') {
            while (q < size && q - start < 19 && d[q] >= '0' && d[q] <= '9')
                v = v * 10 + uint64_t(d[q++] - '0');
            const bool ends = q >= size || !((d[q] >= '0' && d[q] <= '9') || d[q] == '.' ||
                                             d[q] == 'e' || d[q] == 'E');
            if (ends) {
                value = v;
                m_pos = q;
                if (text) *text = m_text.substr(start, q - start);
                return Number::Unsigned;
            }
        }
    }
    bool negative = false;
    if (m_pos < size && m_text[m_pos] == '-') negative = true, ++m_pos;
    if (m_pos >= size || m_text[m_pos] < '0' || m_text[m_pos] > '9') fail("expected a value");
    value = 0;
    bool overflow = false;
    if (m_text[m_pos] == '0') {
        ++m_pos; // JSON allows no leading zeros
    } else {
        while (m_pos < size && m_text[m_pos] >= '0' && m_text[m_pos] <= '9') {
            overflow |= __builtin_mul_overflow(value, 10u, &value);
            overflow |= __builtin_add_overflow(value, uint64_t(m_text[m_pos] - '0'), &value);
            ++m_pos;
        }
    }
    bool fraction = false;
    if (m_pos < size && m_text[m_pos] == '.') {
        fraction = true;
        ++m_pos;
        if (m_pos >= size || m_text[m_pos] < '0' || m_text[m_pos] > '9')
            fail("digits must follow '.'");
        while (m_pos < size && m_text[m_pos] >= '0' && m_text[m_pos] <= '9')
            ++m_pos;
    }
    if (m_pos < size && (m_text[m_pos] == 'e' || m_text[m_pos] == 'E')) {
        fraction = true;
        ++m_pos;
        if (m_pos < size && (m_text[m_pos] == '+' || m_text[m_pos] == '-')) ++m_pos;
        if (m_pos >= size || m_text[m_pos] < '0' || m_text[m_pos] > '9')
            fail("digits must follow the exponent");
        while (m_pos < size && m_text[m_pos] >= '0' && m_text[m_pos] <= '9')
            ++m_pos;
    }
    if (text) *text = m_text.substr(start, m_pos - start);
    if (fraction) return Number::Fraction;
    // A wrapped magnitude is never reported: callers quote the text instead.
    if (negative) return value == 0 && !overflow ? Number::NegativeZero : Number::Negative;
    return overflow ? Number::Overflow : Number::Unsigned;
}

namespace {
// A number as written, shortened so that a megabyte of digits cannot flood a message.
std::string quoted(std::string_view text) {
    constexpr size_t kMax = 40;
    return text.size() <= kMax ? std::string(text) : std::string(text.substr(0, kMax)) + "...";
}
} // namespace

void JsonCursor::unsignedArray(Shape& out, const char* field, const std::string& tensor) {
    out.clear();
    auto named = [field] { return std::string(field); }; // only when a message needs it
    if (peek() != '[')
        fail(ErrorKind::InvalidHeaderField, tensor,
             named() + " must be an array, found " + describeNext());
    enter('[');
    if (leaveIf(']')) return;
    do {
        const char next = peek();
        if (next != '-' && (next < '0' || next > '9'))
            fail(ErrorKind::NotAnInteger, tensor,
                 named() + " must hold non-negative integers, found " + describeNext());
        const size_t at = m_pos;
        uint64_t v = 0;
        std::string_view text;
        switch (number(v, &text)) {
        case Number::Unsigned:
            out.push_back(v);
            break;
        case Number::Negative:
            throw JsonError(ErrorKind::NegativeNumber, at, tensor,
                            named() + " holds a negative number (" + quoted(text) + ")");
        case Number::NegativeZero:
            throw JsonError(ErrorKind::NegativeZero, at, tensor,
                            named() + " holds -0, which the reference loader reads as a float and "
                                      "refuses (write 0)");
        case Number::Fraction:
            throw JsonError(ErrorKind::NotAnInteger, at, tensor,
                            named() + " must hold non-negative integers, found a fraction (" +
                                quoted(text) + ")");
        case Number::Overflow:
            throw JsonError(ErrorKind::NumberOverflow, at, tensor,
                            named() + " holds " + quoted(text) +
                                ", too large for an unsigned 64-bit integer");
        }
    } while (consume(','));
    leave(']');
}

void JsonCursor::skipValue() {
    std::string scratch;
    switch (peek()) {
    case '"':
        string(scratch);
        return;
    case '{':
        enter('{');
        if (leaveIf('}')) return;
        do {
            string(scratch);
            expect(':', "':'");
            skipValue();
        } while (consume(','));
        leave('}');
        return;
    case '[':
        enter('[');
        if (leaveIf(']')) return;
        do
            skipValue();
        while (consume(','));
        leave(']');
        return;
    case 't':
    case 'f':
    case 'n': {
        for (const char* word : {"true", "false", "null"})
            if (m_text.substr(m_pos, std::char_traits<char>::length(word)) == word) {
                m_pos += std::char_traits<char>::length(word);
                return;
            }
        fail("expected a value");
    }
    default: {
        uint64_t ignored; // any number is fine where the value is ignored, as in serde_json
        number(ignored);
    }
    }
}

} // namespace shardscope
