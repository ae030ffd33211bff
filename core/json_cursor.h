// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include "error.h"
#include "shape.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace shardscope {

// "line 3, column 17" for a byte position in `text`, for messages about a JSON file; columns
// count characters, not UTF-8 bytes.
std::string lineAndColumn(std::string_view text, size_t position);

// A strict, allocation-light JSON pull parser for the shapes safetensors headers take: strings
// without escapes come back as views into the text, numbers are classified rather than
// converted to double, and any value can be skipped (still validated). Every problem is thrown
// as JsonError with a kind and the byte position.
class JsonCursor {
public:
    // serde_json's recursion limit: 127 nested arrays/objects parse, the 128th is refused.
    static constexpr int kMaxNesting = 128;

    enum class Number {
        Unsigned,     // value holds it
        Negative,     // below zero; the text holds it (the magnitude may exceed 64 bits)
        NegativeZero, // -0: an integer to JSON, a float to serde_json
        Fraction,     // a '.' or an exponent
        Overflow,     // a positive integer above 2^64 - 1
    };

    explicit JsonCursor(std::string_view text) : m_text(text) {}

    size_t position() const { return m_pos; }
    bool atEnd() {
        skipWhitespace();
        return m_pos >= m_text.size();
    }
    char peek() {
        skipWhitespace();
        return m_pos < m_text.size() ? m_text[m_pos] : '\0';
    }
    bool consume(char c) {
        if (peek() != c) return false;
        ++m_pos;
        return true;
    }
    void expect(char c, const char* what) {
        if (!consume(c)) failExpected(what);
    }
    // The kind of the next value, for messages: "a string", "an object", ...
    const char* describeNext();

    // Opens an object or array when `open` ('{' or '[') comes next, counting one nesting level;
    // throws NestingTooDeep past the limit. Close it with leaveIf or leave.
    bool enter(char open) {
        if (peek() != open) return false;
        // Checked before descending, so no input can run the stack out.
        if (m_depth + 1 >= kMaxNesting) failTooDeep();
        ++m_depth;
        ++m_pos;
        return true;
    }
    // After enter: true, one level closed, when `close` comes next (the empty container).
    bool leaveIf(char close) {
        if (!consume(close)) return false;
        --m_depth;
        return true;
    }
    // After the last member: `close` must come next.
    void leave(char close) {
        expect(close, close == '}' ? "',' or '}'" : "',' or ']'");
        --m_depth;
    }

    // The next string; a view into the text, or into `scratch` when it had escapes.
    std::string_view string(std::string& scratch);
    // The next number, classified; `text` (optional) receives it as written, for messages.
    Number number(uint64_t& value, std::string_view* text = nullptr);
    void skipValue();

    [[noreturn]] void fail(const std::string& what) const {
        throw JsonError(ErrorKind::JsonSyntax, m_pos, {}, what);
    }
    [[noreturn]] void fail(ErrorKind kind, std::string tensor, const std::string& what) const {
        throw JsonError(kind, m_pos, std::move(tensor), what);
    }

    // [n, n, ...] of non-negative integers into `out`, as the reference loader reads a usize
    // array. A wrong value throws JsonError with its kind, a message that starts with `field`
    // ("shape holds a negative number (-2)") and `tensor`.
    void unsignedArray(Shape& out, const char* field, const std::string& tensor);

private:
    // The rare paths of the inline tokens above, kept out of line (every token of millions of
    // header entries goes through them).
    [[noreturn]] void failExpected(const char* what) const;
    [[noreturn]] void failTooDeep() const;
    void skipWhitespace() {
        while (m_pos < m_text.size()) {
            const char c = m_text[m_pos];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
            ++m_pos;
        }
    }
    void slowString(std::string& out, size_t start);

    std::string_view m_text;
    size_t m_pos = 0;
    int m_depth = 0; // arrays and objects open around m_pos
};

} // namespace shardscope
