#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace shardscope {

// Base for the strict SAX handlers: records the first error and lets a handler skip any value
// it does not care about (unknown keys) without building a DOM.
class StrictSax : public nlohmann::json_sax<nlohmann::json> {
public:
    const std::string& error() const { return m_error; }

protected:
    bool fail(std::string message) {
        if (m_error.empty()) m_error = std::move(message);
        return false;
    }
    // Call when the next value should be ignored; then route events through skipping().
    void beginSkip() { m_skip = 0, m_skipping = true; }
    // Consumes the event while skipping; `opens` is +1/-1/0 for containers/scalars.
    bool skipping(int opens) {
        if (!m_skipping) return false;
        m_skip += opens;
        if (m_skip == 0) m_skipping = false;
        return true;
    }

public:
    bool binary(binary_t&) override { return fail("binary values are not JSON"); }
    bool parse_error(std::size_t position, const std::string&,
                     const nlohmann::detail::exception& ex) override {
        std::string what = ex.what();
        // nlohmann's text starts with "[json.exception.parse_error.101] parse error at ...".
        auto pos = what.find("] ");
        if (pos != std::string::npos) what = what.substr(pos + 2);
        return fail("not valid JSON at byte " + std::to_string(position) + ": " + what);
    }

private:
    std::string m_error;
    int m_skip = 0;
    bool m_skipping = false;
};

} // namespace shardscope
