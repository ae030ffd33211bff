#pragma once

#include "shape.h"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace shardscope {

// A syntax error at a byte position; callers add the file and tensor.
struct JsonSyntaxError : std::runtime_error {
    JsonSyntaxError(size_t position, const std::string& what)
        : std::runtime_error(what), position(position) {}
    size_t position;
};

// A strict, allocation-light JSON pull parser for the shapes safetensors headers take: strings
// without escapes come back as views into the text, numbers are classified rather than
// converted to double, and any value can be skipped (still validated).
class JsonCursor {
public:
    enum class Number { Unsigned, Negative, Fraction };

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
    void expect(char c, const char* what);
    // The kind of the next value, for messages: "a string", "an object", ...
    const char* describeNext();

    // The next string; a view into the text, or into `scratch` when it had escapes.
    std::string_view string(std::string& scratch);
    // The next number: value holds it when Unsigned (or its magnitude when Negative and small).
    Number number(uint64_t& value);
    void skipValue();

    [[noreturn]] void fail(const std::string& what) const { throw JsonSyntaxError(m_pos, what); }

    // [n, n, ...] of non-negative integers into `out`. A wrong shape is returned as a message
    // that starts with `field` ("shape holds a negative number (-2)"); bad JSON still throws.
    std::string unsignedArray(Shape& out, const char* field);

private:
    void skipWhitespace() {
        while (m_pos < m_text.size()) {
            const char c = m_text[m_pos];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
            ++m_pos;
        }
    }
    void slowString(std::string& out, size_t start);
    void skipValue(int depth);

    std::string_view m_text;
    size_t m_pos = 0;
};

} // namespace shardscope
