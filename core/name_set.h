// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace shardscope {

// Finds the first repeated name in a list of tens of thousands (a header's tensor names)
// without a heap node per name: std::unordered_set cost an allocation and a cache miss per name,
// 8% of parsing 5 M chunk headers. Slots are 8 bytes (a hash tag and the name's index), so the
// table of 90,000 names stays within the caches, and each thread keeps its table from call to
// call, since clearing it costs far less than the page faults of a fresh one.
class NameSet {
public:
    // The index of the first name equal to an earlier one, or names.size() when all differ.
    template <class Names, class NameOf>
    static size_t firstRepeat(const Names& names, NameOf nameOf) {
        std::vector<Slot>& slots = keptSlots();
        size_t capacity = 16;
        while (capacity < names.size() * 2)
            capacity *= 2;
        slots.assign(capacity, Slot{});
        const size_t mask = capacity - 1;
        for (size_t k = 0; k < names.size(); ++k) {
            const std::string_view name = nameOf(names[k]);
            const uint64_t hash = hashOf(name);
            const uint32_t tag = uint32_t(hash >> 32) | 1; // 0 marks a free slot
            for (size_t i = hash & mask;; i = (i + 1) & mask) {
                Slot& slot = slots[i];
                if (slot.tag == 0) {
                    slot = {tag, uint32_t(k)};
                    break;
                }
                if (slot.tag == tag && nameOf(names[slot.index]) == name) return k;
            }
        }
        return names.size();
    }

private:
    struct Slot {
        uint32_t tag = 0;
        uint32_t index = 0;
    };

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
};

} // namespace shardscope
