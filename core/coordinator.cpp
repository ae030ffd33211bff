// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "coordinator.h"

#include <cstring>

namespace shardscope {
namespace {

void putNumber(std::string& out, uint64_t value) {
    char bytes[8];
    std::memcpy(bytes, &value, 8);
    out.append(bytes, 8);
}

void putText(std::string& out, const std::string& text) {
    putNumber(out, text.size());
    out += text;
}

class Reader {
public:
    explicit Reader(const std::string& bytes) : m_bytes(bytes) {}
    uint64_t number() {
        uint64_t value = 0;
        if (m_at + 8 > m_bytes.size()) throw std::runtime_error("truncated failure message");
        std::memcpy(&value, m_bytes.data() + m_at, 8);
        m_at += 8;
        return value;
    }
    std::string text() {
        const uint64_t size = number();
        if (size > m_bytes.size() - m_at) throw std::runtime_error("truncated failure message");
        std::string out = m_bytes.substr(m_at, size);
        m_at += size;
        return out;
    }

private:
    const std::string& m_bytes;
    size_t m_at = 0;
};

} // namespace

std::vector<std::string> splitText(const std::string& text, char separator) {
    std::vector<std::string> out;
    for (size_t at = 0; at < text.size();) {
        const size_t end = text.find(separator, at);
        out.push_back(text.substr(at, end - at));
        if (end == std::string::npos) break;
        at = end + 1;
    }
    return out;
}

Error RankFailure::error() const {
    return Error(kind, file, tensor, message + " (on rank " + std::to_string(rank) + ")");
}

std::optional<RankFailure> failureOf(int rank, const std::function<void()>& attempt) {
    try {
        attempt();
        return std::nullopt;
    } catch (const Cancelled&) {
        return RankFailure{rank, ErrorKind::Cancelled, "", "", "cancelled", true};
    } catch (const Error& e) {
        return RankFailure{rank, e.kind(), e.file(), e.tensor(), e.message(), false};
    } catch (const std::exception& e) { // out of memory, a file system error
        return RankFailure{rank, ErrorKind::Io, "", "", e.what(), false};
    }
}

std::string encodeFailure(const RankFailure& f) {
    std::string out;
    putNumber(out, uint64_t(f.rank));
    putNumber(out, uint64_t(f.kind));
    putNumber(out, f.cancelled ? 1 : 0);
    putText(out, f.file);
    putText(out, f.tensor);
    putText(out, f.message);
    return out;
}

RankFailure decodeFailure(const std::string& bytes) {
    Reader in(bytes);
    RankFailure f;
    f.rank = int(in.number());
    f.kind = ErrorKind(in.number());
    f.cancelled = in.number() != 0;
    f.file = in.text();
    f.tensor = in.text();
    f.message = in.text();
    return f;
}

} // namespace shardscope
