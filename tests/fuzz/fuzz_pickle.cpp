// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

// libFuzzer target: the bounded pickle VM on arbitrary bytes, then every accessor on what it
// built, so a bad Ref or view in the arena shows up under ASan rather than in a caller; once
// more with a harvester taking every batch it can, so the values dropped after each are checked.
//
// A rejected input must be a PickleError; anything else escapes and libFuzzer keeps the input.
// The limits are small so a memo index or a value count near them costs milliseconds.

#include "dcp_metadata.h"
#include "error.h"
#include "pickle.h"
#include "torch_record.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

namespace pk = shardscope::pickle;

namespace {

[[noreturn]] void finding(const char* what, pk::Ref v) {
    std::fprintf(stderr, "FINDING: %s (value %u)\n", what, unsigned(v));
    std::abort();
}

// Every value, those reachable from the root first, iteratively with a visited bitmap (the arena
// can hold cycles and deep chains), calling each accessor valid for the value's type.
class Walker {
public:
    explicit Walker(const pk::Document& d) : m_doc(d), m_seen(d.valueCount()) {}

    // What `roots` reach (a batch a harvester is offered, mid-run).
    uint64_t from(std::span<const pk::Ref> roots) {
        for (pk::Ref v : roots)
            reach(v);
        drain();
        return m_sink;
    }

    uint64_t run() {
        reach(m_doc.root());
        drain();
        // Then the values nothing reachable refers to (popped, or only on the memo).
        for (pk::Ref v = 0; v < m_seen.size(); ++v) {
            reach(v);
            drain();
        }
        return m_sink;
    }

private:
    void drain() {
        while (!m_todo.empty()) {
            const pk::Ref v = m_todo.back();
            m_todo.pop_back();
            visit(v);
        }
    }

    void reach(pk::Ref v) {
        if (v >= m_seen.size()) finding("a Ref past the arena", v);
        if (m_seen[v]) return;
        m_seen[v] = true;
        m_todo.push_back(v);
    }

    void visit(pk::Ref v) {
        const pk::Document& d = m_doc;
        switch (d.type(v)) {
        case pk::Type::None:
            break;
        case pk::Type::Bool:
            m_sink += uint64_t(d.boolean(v)) + uint64_t(d.integer(v));
            break;
        case pk::Type::Int:
            m_sink += uint64_t(d.integer(v));
            break;
        case pk::Type::Float:
            m_sink += d.real(v) > 0;
            break;
        case pk::Type::Str:
        case pk::Type::Bytes:
        case pk::Type::BigInt: {
            const std::string_view t = d.text(v);
            for (char c : t) // read every byte: ASan checks the view
                m_sink += uint8_t(c);
            break;
        }
        case pk::Type::Global:
            m_sink += d.module(v).size() + d.name(v).size() + d.isGlobal(v, "Size");
            break;
        case pk::Type::Object:
            reach(d.callable(v));
            if (d.type(d.args(v)) != pk::Type::Tuple) finding("object args not a tuple", v);
            reach(d.args(v));
            if (d.state(v) != pk::Document::noState()) reach(d.state(v));
            m_sink += d.className(v).size() + uint64_t(d.objectKind(v));
            items(v);
            break;
        case pk::Type::PersistentId:
            reach(d.persistentId(v));
            break;
        case pk::Type::Dict: {
            const auto kv = d.items(v);
            if (kv.size() % 2) finding("a dict with an odd item count", v);
            for (size_t i = 0; i < kv.size(); i += 2)
                if (d.type(kv[i]) == pk::Type::Str) {
                    const pk::Ref found = d.get(v, d.text(kv[i]));
                    if (found == pk::Document::noState()) finding("get() misses a key", v);
                    reach(found);
                }
            items(v);
            break;
        }
        case pk::Type::Tuple:
        case pk::Type::List:
        case pk::Type::Set:
            items(v);
            break;
        }
        m_sink += d.get(v, "fqn") != pk::Document::noState();
    }

    void items(pk::Ref v) {
        for (pk::Ref item : m_doc.items(v))
            reach(item);
    }

    const pk::Document& m_doc;
    std::vector<bool> m_seen;
    std::vector<pk::Ref> m_todo;
    uint64_t m_sink = 0;
};

// Takes every dict the VM offers, walking the batch first; each taken batch's values are then
// dropped, and the walk of the finished document checks that nothing still names them.
class TakeAll : public pk::Harvester {
public:
    bool take(const pk::Document& d, pk::Ref, pk::Ref, pk::Ref,
              std::span<const pk::Ref> items) override {
        if (d.valueCount() < 100'000) m_sink += Walker(d).from(items);
        return true;
    }
    uint64_t m_sink = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const pk::Limits limits{.maxValues = 1'000'000,
                                   .maxMemo = 100'000,
                                   .maxStackDepth = 100'000,
                                   .maxMarkDepth = 1'000,
                                   .maxStringBytes = 1 << 20};
    try {
        const pk::Document d =
            pk::Document::load({reinterpret_cast<const char*>(data), size}, limits);
        volatile uint64_t sink = Walker(d).run();
        (void)sink;
    } catch (const pk::PickleError& e) {
        if (!*e.what()) finding("a PickleError without a message", 0);
    }
    try {
        TakeAll all;
        const pk::Document d =
            pk::Document::load({reinterpret_cast<const char*>(data), size}, limits, &all);
        volatile uint64_t sink = Walker(d).run() + all.m_sink;
        (void)sink;
    } catch (const pk::PickleError& e) {
        if (!*e.what()) finding("a PickleError without a message", 0);
    }
    // The readers built on the VM: the same bytes as a DCP .metadata and as a tensor's data.pkl.
    // Any failure must be an Error naming the file; anything else escapes and is a finding.
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    try {
        (void)shardscope::parseDcpMetadata(bytes, ".metadata");
    } catch (const shardscope::Error& e) {
        if (e.file() != ".metadata") finding("a .metadata error that does not name the file", 0);
    }
    try {
        (void)shardscope::parseTensorRecord(bytes, "__0_0.distcp", "w");
    } catch (const shardscope::Error& e) {
        if (e.tensor() != "w") finding("a data.pkl error that does not name the tensor", 0);
    }
    return 0;
}
