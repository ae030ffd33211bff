// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "pickle_memo_scan.h"

#include "huge_pages.h"
#include "pickle_ops.h"

#include <charconv>
#include <cstring>

namespace shardscope::pickle {
namespace {

using namespace opcodes;

// Steps over opcode arguments exactly as the VM reads them; any step it cannot take ends the
// walk.
class Walker {
public:
    explicit Walker(std::string_view data) : m_p(data.data()), m_end(data.data() + data.size()) {}

    bool atEnd() const { return m_p >= m_end; }
    uint8_t opcode() { return uint8_t(*m_p++); }

    bool skip(uint64_t n) {
        if (n > uint64_t(m_end - m_p)) return false;
        m_p += n;
        return true;
    }
    // A little-endian count of `width` bytes (4: signed, as LONG4 and BINSTRING read it).
    bool count(unsigned width, uint64_t& out, bool isSigned = false) {
        if (width > uint64_t(m_end - m_p)) return false;
        out = 0;
        std::memcpy(&out, m_p, width);
        m_p += width;
        return !(isSigned && width == 4 && (out & 0x80000000u));
    }
    bool sized(unsigned width, bool isSigned = false) {
        uint64_t n = 0;
        return count(width, n, isSigned) && skip(n);
    }
    bool line(std::string_view* out = nullptr) {
        const void* nl = std::memchr(m_p, '\n', size_t(m_end - m_p));
        if (!nl) return false;
        if (out) *out = std::string_view(m_p, size_t(static_cast<const char*>(nl) - m_p));
        m_p = static_cast<const char*>(nl) + 1;
        return true;
    }

private:
    const char* m_p;
    const char* m_end;
};

} // namespace

void ReadSlots::add(uint64_t slot, uint64_t maxSlots) {
    if (slot >= maxSlots) return; // the VM refuses it
    if (slot / 64 >= m_bits.size()) m_bits.resize(size_t(slot / 64 + 1) * 2, 0);
    m_bits[slot / 64] |= uint64_t(1) << (slot % 64);
}

void ReadSlots::finish() {
    m_ranks.resize(m_bits.size());
    size_t total = 0;
    for (size_t i = 0; i < m_bits.size(); ++i) {
        m_ranks[i] = uint32_t(total);
        total += size_t(__builtin_popcountll(m_bits[i]));
    }
    m_count = total;
}

void Memo::reserve(uint64_t slots) {
    reserveLarge(m_values, slots);
}

void Memo::useReadSlots(const ReadSlots* read) {
    m_read = read;
    m_values.assign(read ? read->count() : 0, kUnset);
}

bool Memo::set(uint64_t slot, uint32_t v) {
    if (slot / 64 >= m_set.size()) m_set.resize(size_t(slot / 64 + 1) * 2, 0);
    uint64_t& word = m_set[size_t(slot / 64)];
    const uint64_t bit = uint64_t(1) << (slot % 64);
    const bool fresh = !(word & bit);
    word |= bit;
    if (m_read) {
        if (m_read->contains(slot)) m_values[m_read->rank(slot)] = v;
    } else {
        if (slot >= m_values.size()) m_values.resize(size_t(slot + 1), kUnset);
        m_values[size_t(slot)] = v;
    }
    return fresh;
}

uint32_t Memo::get(uint64_t slot) const {
    if (m_read) return m_read->contains(slot) ? m_values[m_read->rank(slot)] : kUnset;
    return slot < m_values.size() ? m_values[size_t(slot)] : kUnset;
}

std::optional<ReadSlots> ReadSlots::scan(std::string_view data, uint64_t maxSlots) {
    ReadSlots slots;
    Walker w(data);
    while (!w.atEnd()) {
        uint64_t n = 0;
        bool ok = true;
        std::string_view text;
        switch (w.opcode()) {
        case STOP:
            slots.finish();
            return slots;
        case BINGET:
            ok = w.count(1, n);
            if (ok) slots.add(n, maxSlots);
            break;
        case LONG_BINGET:
            ok = w.count(4, n);
            if (ok) slots.add(n, maxSlots);
            break;
        case GET: {
            ok = w.line(&text);
            const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
            if (ok && ec == std::errc() && ptr == text.data() + text.size()) slots.add(n, maxSlots);
            break;
        }
        case PROTO:
        case BININT1:
        case BINPUT:
        case EXT1:
            ok = w.skip(1);
            break;
        case BININT2:
        case EXT2:
            ok = w.skip(2);
            break;
        case BININT:
        case LONG_BINPUT:
        case EXT4:
            ok = w.skip(4);
            break;
        case FRAME:
        case BINFLOAT:
            ok = w.skip(8);
            break;
        case LONG1:
        case SHORT_BINSTRING:
        case SHORT_BINUNICODE:
        case SHORT_BINBYTES:
            ok = w.sized(1);
            break;
        case LONG4:
        case BINSTRING:
            ok = w.sized(4, true);
            break;
        case BINUNICODE:
        case BINBYTES:
            ok = w.sized(4);
            break;
        case BINUNICODE8:
        case BINBYTES8:
        case BYTEARRAY8:
            ok = w.sized(8);
            break;
        case INT:
        case LONG:
        case FLOAT:
        case STRING:
        case UNICODE:
        case PERSID:
        case PUT:
            ok = w.line();
            break;
        case GLOBAL:
        case INST:
            ok = w.line() && w.line();
            break;
        case MARK:
        case POP:
        case POP_MARK:
        case DUP:
        case NONE:
        case NEWTRUE:
        case NEWFALSE:
        case EMPTY_TUPLE:
        case TUPLE1:
        case TUPLE2:
        case TUPLE3:
        case TUPLE:
        case EMPTY_LIST:
        case LIST:
        case APPEND:
        case APPENDS:
        case EMPTY_DICT:
        case DICT:
        case SETITEM:
        case SETITEMS:
        case EMPTY_SET:
        case FROZENSET:
        case ADDITEMS:
        case STACK_GLOBAL:
        case REDUCE:
        case NEWOBJ:
        case NEWOBJ_EX:
        case BUILD:
        case OBJ:
        case MEMOIZE:
        case BINPERSID:
            break;
        default: // unknown, or an opcode the VM refuses
            ok = false;
        }
        if (!ok) return std::nullopt;
    }
    return std::nullopt;
}

} // namespace shardscope::pickle
