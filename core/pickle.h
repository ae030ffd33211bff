// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shardscope::pickle {

// A bounded reader of Python pickles (protocols 0-style GLOBAL through 5) that executes nothing:
// every callable stays a description. REDUCE and NEWOBJ build an Object naming the callable and
// its arguments; BUILD stores its state in that Object. Callers interpret the tree they need
// (torch.Size, dataclasses, enums) and ignore the rest, so unknown classes cost nothing.
//
// Values live in one arena owned by the Document and are referred to by index, so memo
// references, shared sub-objects and even cycles (a list appended to itself) need no ownership
// and cannot leak. Strings and bytes are views into the input, which the Document keeps.

using Ref = uint32_t;

enum class Type : uint8_t {
    None,
    Bool,
    Int,    // fits int64
    BigInt, // LONG1/LONG4 wider than 64 bits: bytes() holds little-endian two's complement
    Float,
    Str,   // UTF-8 (unicode opcodes) or latin-1 (protocol 0/1 STRING opcodes)
    Bytes, // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
    Tuple,
    List,
    Dict,   // items() alternates key, value, in insertion order (duplicates kept: last wins on
            // lookup)
    Set,    // set and frozenset
    Global, // GLOBAL / STACK_GLOBAL: module() and name()
    Object, // REDUCE(callable, args) or NEWOBJ(cls, args), then BUILD(state)
    PersistentId, // BINPERSID/PERSID: persistentId() is the pid value
};

struct Limits {
    uint64_t maxInputBytes = uint64_t(4) << 30;
    uint64_t maxValues = 200'000'000; // arena entries
    uint64_t maxMemo = 50'000'000;    // memo slots (an index past this is an error, never a resize)
    uint32_t maxStackDepth = 1'000'000; // values + marks on the VM stack
    uint32_t maxMarkDepth = 10'000;     // nested MARKs
    uint64_t maxStringBytes = uint64_t(1) << 31;
};

// Thrown for every malformed or over-limit input, with the byte position of the opcode. The
// caller wraps it into an Error naming the file (kind PickleInvalid or PickleLimit).
class PickleError : public std::runtime_error {
public:
    PickleError(bool limit, uint64_t position, const std::string& message)
        : std::runtime_error(message), m_limit(limit), m_position(position) {}
    bool limit() const { return m_limit; } // true: a Limits value was exceeded
    uint64_t position() const { return m_position; }

private:
    bool m_limit;
    uint64_t m_position;
};

enum class ObjectKind : uint8_t { Reduce, NewObj };

class Document;

// Lets a caller consume the items of a large dict while the pickle runs, so that a pickle of a
// million entries (a DCP .metadata) never holds them all: the values made for a batch the
// harvester takes are dropped once it returns, unless the pickle refers to them again later.
class Harvester {
public:
    virtual ~Harvester() = default;
    // Called when SETITEM(S) is about to add `items` (key, value, key, value, ...) to `dict`
    // and the stack shows what the dict is for: it is the value of the string `key` in an
    // enclosing dict being filled, and `owner` is the value right below that enclosing dict (for
    // a dataclass, the object the enclosing dict becomes the BUILD state of). Returns true to
    // take the items: they are then not added to `dict`. The Refs are valid only during the call,
    // and show the values as they are when the batch ends (a pickle could change one later, as
    // Python's pickler never does for the dicts a caller would harvest).
    virtual bool take(const Document& doc, Ref dict, Ref key, Ref owner,
                      std::span<const Ref> items) = 0;
    // Called as the run passes every kProgressBytes of input, with the byte position; may throw
    // to stop the run (the exception leaves Document::load as it is).
    static constexpr uint64_t kProgressBytes = 64 << 10;
    virtual void reached(uint64_t position) { (void)position; }
};

class Document {
public:
    // Runs the pickle in `data` (which must stay alive as long as the Document) to its STOP.
    // Bytes after STOP are ignored, as Python ignores them.
    static Document load(std::string_view data, const Limits& limits = {},
                         Harvester* harvester = nullptr);

    Ref root() const { return m_root; }
    Type type(Ref v) const;

    bool boolean(Ref v) const;               // Bool
    int64_t integer(Ref v) const;            // Int (and Bool as 0/1)
    double real(Ref v) const;                // Float
    std::string_view text(Ref v) const;      // Str or Bytes: the raw bytes (BigInt: its LE bytes)
    std::string_view module(Ref v) const;    // Global
    std::string_view name(Ref v) const;      // Global
    std::span<const Ref> items(Ref v) const; // Tuple, List, Set; Dict as key, value, key, value
    // (Object: what APPEND(S)/SETITEM(S)/ADDITEMS added to it, e.g. an OrderedDict's key, value
    // pairs or a list subclass's items: Python calls the object's own append/__setitem__)
    Ref callable(Ref v) const; // Object: the Global (or any value) that was called
    Ref args(Ref v) const;     // Object: the argument tuple (NEWOBJ_EX: (args, kwargs))
    Ref state(Ref v) const;    // Object: the BUILD state, or noState() when never built
    ObjectKind objectKind(Ref v) const;
    Ref persistentId(Ref v) const; // PersistentId

    static constexpr Ref noState() { return ~Ref(0); }
    // The accessors above throw PickleError (position 0) for a Ref out of range or of the wrong
    // type, so a caller walking an untrusted tree needs no checks of its own.

    // Helpers for the common questions; all return false / noState() rather than throw.
    bool isGlobal(Ref v, std::string_view name) const; // a Global with this class name
    // For an Object whose callable is a Global: that Global's class name, else "".
    std::string_view className(Ref v) const;
    // Dict lookup by string key (last occurrence wins); noState() when absent or not a Dict.
    Ref get(Ref dict, std::string_view key) const;

    size_t valueCount() const;

    // Implementation detail, public for the VM in pickle.cpp.
    struct Value {
        Type type = Type::None;
        uint8_t kind = 0; // ObjectKind for Object; Global: 1 when b names two Str values
        uint32_t a = 0;   // Str/Bytes/BigInt: length; List/Dict/Set: index into m_spans;
                          // Global: index into m_globals; Object: index into m_objects;
                          // Tuple: count
        uint64_t b = 0;   // Int/Bool: value; Float: bits; Str/Bytes/BigInt: offset in m_data
                          // or in m_owned (high bit set); PersistentId: the pid Ref; Tuple:
                          // offset in m_items; Object: 1 + m_spans index of added items, or 0;
                          // Global of kind 1 (STACK_GLOBAL): module Ref << 32 | name Ref
    };
    struct GlobalName {
        std::string_view module, name;
    };
    struct ObjectSlots {
        Ref callable, args, state;
    };

private:
    friend class Machine;
    friend class Reclaimer;
    // Inline: a .metadata of a million chunks asks these ~50 million times.
    const Value& at(Ref v, const char* accessor) const {
        if (v >= m_values.size()) [[unlikely]]
            outOfRange(v, accessor);
        return m_values[v];
    }
    const Value& expect(Ref v, Type t, const char* accessor) const {
        const Value& x = at(v, accessor);
        if (x.type != t) [[unlikely]]
            wrongType(v, t, accessor);
        return x;
    }
    [[noreturn]] void outOfRange(Ref v, const char* accessor) const;
    [[noreturn]] void wrongType(Ref v, Type t, const char* accessor) const;
    std::span<const Ref> spanItems(uint32_t span) const {
        const Span& s = m_spans[span];
        return {m_items.data() + s.offset, s.size};
    }

    // The items of a List, Dict or Set: m_items[offset, offset + size). A span that outgrows its
    // capacity moves to the end of m_items (in place when it is already last), so containers
    // stay referred to by index, with no allocation of their own.
    struct Span {
        uint64_t offset;
        uint32_t size, capacity;
    };
    std::string_view m_data;
    std::string m_owned; // strings the VM had to build (protocol-0 STRING unescaping, etc.)
    std::vector<Value> m_values;
    std::vector<Span> m_spans;
    std::vector<Ref> m_items; // Tuple items (tuples never change) and Spans
    std::vector<GlobalName> m_globals;
    std::vector<ObjectSlots> m_objects;
    Ref m_root = 0;
};

static_assert(sizeof(Document::Value) == 16, "the arena holds millions of values");

inline Type Document::type(Ref v) const {
    return at(v, "type()").type;
}

inline int64_t Document::integer(Ref v) const {
    const Value& x = at(v, "integer()");
    if (x.type == Type::Bool) return int64_t(x.b);
    return int64_t(expect(v, Type::Int, "integer()").b);
}

} // namespace shardscope::pickle
