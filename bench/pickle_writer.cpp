// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "pickle_writer.h"

#include <stdexcept>

namespace shardscope::bench {
namespace {

constexpr size_t kFrameTarget = 64 * 1024; // pickle's _FRAME_SIZE_TARGET
constexpr size_t kFrameMin = 4;            // smaller frames get no FRAME header

// Opcodes used here (pickletools names).
constexpr char kProto = char(0x80), kFrame = char(0x95), kMemoize = char(0x94);
constexpr char kBinPut = 'q', kLongBinPut = 'r', kBinGet = 'h', kLongBinGet = 'j';
constexpr char kBinInt1 = 'K', kBinInt2 = 'M', kBinInt = 'J', kLong1 = char(0x8a);
constexpr char kShortBinUnicode = char(0x8c), kBinUnicode = 'X', kGlobal = 'c', kStop = '.';

} // namespace

template <typename T> void PickleWriter::little(T v, int bytes) {
    for (int i = 0; i < bytes; ++i)
        m_frame += char((uint64_t(v) >> (8 * i)) & 0xFF);
}

PickleWriter::PickleWriter(int protocol, std::FILE* sink) : m_protocol(protocol), m_sink(sink) {
    m_out += kProto;
    m_out += char(protocol);
}

void PickleWriter::save() {
    if (m_protocol >= 4 && m_frame.size() >= kFrameTarget) commitFrame();
}

void PickleWriter::commitFrame() {
    if (m_protocol >= 4 && m_frame.size() >= kFrameMin) {
        m_out += kFrame;
        const uint64_t n = m_frame.size();
        for (int i = 0; i < 8; ++i)
            m_out += char((n >> (8 * i)) & 0xFF);
    }
    m_out += m_frame;
    m_frame.clear();
    if (m_sink) {
        if (std::fwrite(m_out.data(), 1, m_out.size(), m_sink) != m_out.size())
            throw std::runtime_error("pickle: short write");
        m_out.clear();
    }
}

void PickleWriter::str(std::string_view s) {
    // CPython writes strings of 64 KiB and more outside the frame; nothing here is that long.
    if (s.size() >= kFrameTarget) throw std::length_error("pickle: string too long for a frame");
    if (m_protocol >= 4 && s.size() < 256) {
        m_frame += kShortBinUnicode;
        little(s.size(), 1);
    } else {
        m_frame += kBinUnicode;
        little(s.size(), 4);
    }
    m_frame += s;
    memoize();
}

void PickleWriter::integer(int64_t v) {
    if (v >= 0 && v <= 0xFF) {
        m_frame += kBinInt1;
        little(v, 1);
    } else if (v >= 0 && v <= 0xFFFF) {
        m_frame += kBinInt2;
        little(v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        m_frame += kBinInt;
        little(v, 4);
    } else {
        // LONG1: the shortest little-endian two's complement (pickle.encode_long).
        int bytes = 8;
        while (bytes > 1) {
            const int64_t high = v >> (8 * (bytes - 1) - 1); // the top byte and the sign bit below
            if (high != 0 && high != -1) break;
            --bytes;
        }
        m_frame += kLong1;
        little(bytes, 1);
        little(v, bytes);
    }
}

void PickleWriter::global(std::string_view module, std::string_view name) {
    m_frame += kGlobal;
    m_frame += module;
    m_frame += '\n';
    m_frame += name;
    m_frame += '\n';
    memoize();
}

uint32_t PickleWriter::memoize() {
    const uint32_t index = m_memo++;
    if (m_protocol >= 4) {
        m_frame += kMemoize;
    } else if (index < 256) {
        m_frame += kBinPut;
        little(index, 1);
    } else {
        m_frame += kLongBinPut;
        little(index, 4);
    }
    return index;
}

void PickleWriter::get(uint32_t index) {
    if (index < 256) {
        m_frame += kBinGet;
        little(index, 1);
    } else {
        m_frame += kLongBinGet;
        little(index, 4);
    }
}

void PickleWriter::shared(const std::string& key, const std::function<void()>& emit) {
    save();
    if (auto it = m_shared.find(key); it != m_shared.end()) {
        get(it->second);
        return;
    }
    emit();
    m_shared.emplace(key, m_memo - 1);
}

void PickleWriter::sharedStr(std::string_view s) {
    std::string key = "s:";
    key += s;
    shared(key, [&] { str(s); });
}

std::string PickleWriter::finish() {
    m_frame += kStop;
    commitFrame();
    return std::move(m_out);
}

} // namespace shardscope::bench
