// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace shardscope {

// The names seen so far, to find a duplicate among a header's tens of thousands of tensor names
// without a heap node per name (std::unordered_set cost one allocation and a cache miss per
// name: 8% of parsing 5 M chunk headers). The names must outlive the set.
class NameSet {
public:
    explicit NameSet(size_t expected) : m_slots(keptSlots()) {
        size_t capacity = 16;
        while (capacity < expected * 2)
            capacity *= 2;
        // The table is the thread's, kept between sets: clearing megabytes costs far less than
        // the page faults of fresh ones (W6: 256 files of 90,000 names, 6 s of system time).
        m_slots.assign(capacity, Slot{});
    }
    NameSet(const NameSet&) = delete;
    NameSet& operator=(const NameSet&) = delete;

    // False when `name` is already in the set.
    bool insert(std::string_view name) {
        const uint64_t hash = hashOf(name) | 1; // 0 marks a free slot
        const size_t mask = m_slots.size() - 1;
        for (size_t i = hash & mask;; i = (i + 1) & mask) {
            Slot& slot = m_slots[i];
            if (slot.hash == 0) {
                slot = {hash, name};
                if (++m_used * 2 > m_slots.size()) grow();
                return true;
            }
            if (slot.hash == hash && slot.name == name) return false;
        }
    }

private:
    struct Slot {
        uint64_t hash = 0;
        std::string_view name;
    };

    // One table per thread; a set lives within one function call, so two never share it.
    static std::vector<Slot>& keptSlots() {
        thread_local std::vector<Slot> slots;
        return slots;
    }

    static uint64_t hashOf(std::string_view s) {
        uint64_t h = s.size() * 0x9E3779B97F4A7C15ull;
        size_t i = 0;
        for (; i + 8 <= s.size(); i += 8) {
            uint64_t w;
            std::memcpy(&w, s.data() + i, 8);
            h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
            h ^= h >> 29;
        }
        uint64_t tail = 0;
        if (i < s.size()) std::memcpy(&tail, s.data() + i, s.size() - i);
        h = (h ^ tail) * 0x94D049BB133111EBull;
        return h ^ (h >> 31);
    }

    void grow() {
        std::vector<Slot> old(m_slots.size() * 2);
        old.swap(m_slots);
        const size_t mask = m_slots.size() - 1;
        for (const Slot& s : old)
            if (s.hash)
                for (size_t i = s.hash & mask;; i = (i + 1) & mask)
                    if (m_slots[i].hash == 0) {
                        m_slots[i] = s;
                        break;
                    }
    }

    std::vector<Slot>& m_slots;
    size_t m_used = 0;
};

} // namespace shardscope
