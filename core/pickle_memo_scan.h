// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace shardscope::pickle {

// The memo slots a pickle ever reads back (GET, BINGET, LONG_BINGET), found by a walk over its
// opcodes that builds nothing. Python's pickler memoizes every container it writes, but reads
// back only the few that are shared, so knowing which lets the VM drop the rest once used.
class ReadSlots {
public:
    // Walks `data` to its STOP. Returns nothing when the walk cannot follow the bytes (a real
    // run of them fails anyway); slots at or past maxSlots are never recorded.
    static std::optional<ReadSlots> scan(std::string_view data, uint64_t maxSlots);

    bool contains(uint64_t slot) const {
        return slot / 64 < m_bits.size() && (m_bits[slot / 64] >> (slot % 64) & 1);
    }
    // Among the slots read back, the position of `slot` (which must be one), and their count.
    size_t rank(uint64_t slot) const {
        const uint64_t below = m_bits[slot / 64] & ((uint64_t(1) << (slot % 64)) - 1);
        return m_ranks[slot / 64] + size_t(__builtin_popcountll(below));
    }
    size_t count() const { return m_count; }

private:
    void add(uint64_t slot, uint64_t maxSlots);
    void finish();
    std::vector<uint64_t> m_bits;
    std::vector<uint32_t> m_ranks; // slots read back in the words before each word
    size_t m_count = 0;
};

// The memo: slot -> Ref, and which slots are set (MEMOIZE numbers slots by that count). Given
// the slots a pickle reads back, only those keep a value: a .metadata sets ten million slots and
// reads back a few thousand.
class Memo {
public:
    static constexpr uint32_t kUnset = ~uint32_t(0);

    void reserve(uint64_t slots);
    void useReadSlots(const ReadSlots* read);
    // Stores v in the slot; true when the slot was not set before.
    bool set(uint64_t slot, uint32_t v);
    // The slot's value, or kUnset when it is not set (or never read back, so never asked for).
    uint32_t get(uint64_t slot) const;
    // A slot that is read back and set, for renumbering its value.
    uint32_t& at(uint64_t slot) { return m_values[m_read ? m_read->rank(slot) : slot]; }

private:
    const ReadSlots* m_read = nullptr;
    std::vector<uint64_t> m_set; // one bit per slot
    std::vector<uint32_t> m_values;
};

} // namespace shardscope::pickle
