// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "safetensors_writer.h"

#include <algorithm>

namespace shardscope {

void sortForOutput(std::vector<HeaderTensor>& tensors) {
    std::sort(tensors.begin(), tensors.end(), [](const HeaderTensor& a, const HeaderTensor& b) {
        unsigned wa = dtypeBits(a.dtype), wb = dtypeBits(b.dtype);
        return wa != wb ? wa > wb : a.name < b.name;
    });
}

uint64_t layoutBackToBack(std::vector<HeaderTensor>& tensors) {
    uint64_t offset = 0;
    for (auto& t : tensors) {
        uint64_t bytes = t.end - t.begin;
        t.begin = offset;
        t.end = offset + bytes;
        offset = t.end;
    }
    return offset;
}

std::string jsonQuote(const std::string& text) {
    std::string out;
    appendJsonQuoted(out, text);
    return out;
}

void appendDecimal(std::string& out, uint64_t value) {
    // Two digits per division: inspect prints tens of millions of offsets.
    static constexpr char kPairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";
    char digits[24];
    char* end = digits + sizeof digits;
    char* p = end;
    while (value >= 100) {
        const size_t pair = size_t(value % 100) * 2;
        value /= 100;
        *--p = kPairs[pair + 1];
        *--p = kPairs[pair];
    }
    if (value >= 10) {
        *--p = kPairs[value * 2 + 1];
        *--p = kPairs[value * 2];
    } else {
        *--p = char('0' + value);
    }
    out.append(p, size_t(end - p));
}

void appendJsonArray(std::string& out, const Shape& values) {
    out += '[';
    for (size_t i = 0; i < values.size(); ++i) {
        if (i) out += ',';
        appendDecimal(out, values[i]);
    }
    out += ']';
}

void appendJsonQuoted(std::string& out, std::string_view text) {
    out += '"';
    bool plain = true;
    for (unsigned char c : text)
        if (c < 0x20 || c == '"' || c == '\\') {
            plain = false;
            break;
        }
    if (plain) {
        out.append(text);
        out += '"';
        return;
    }
    for (unsigned char c : text) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        default:
            if (c < 0x20) {
                static const char* hex = "0123456789abcdef";
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += char(c);
            }
        }
    }
    out += '"';
}

std::string buildHeader(const std::vector<HeaderTensor>& tensors) {
    std::string json = R"({"__metadata__":{"format":"pt"})";
    for (const auto& t : tensors) {
        json += ',';
        json += jsonQuote(t.name);
        json += R"(:{"dtype":")";
        json += dtypeName(t.dtype);
        json += R"(","shape":[)";
        for (size_t i = 0; i < t.shape.size(); ++i) {
            if (i) json += ',';
            json += std::to_string(t.shape[i]);
        }
        json += R"(],"data_offsets":[)";
        json += std::to_string(t.begin) + "," + std::to_string(t.end) + "]}";
    }
    json += '}';
    while ((8 + json.size()) % 8 != 0)
        json += ' ';
    std::string out(8, '\0');
    uint64_t n = json.size();
    for (int i = 0; i < 8; ++i)
        out[i] = char((n >> (8 * i)) & 0xFF);
    return out + json;
}

} // namespace shardscope
