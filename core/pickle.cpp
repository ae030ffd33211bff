// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "pickle.h"

#include "huge_pages.h"
#include "pickle_memo_scan.h"
#include "pickle_ops.h"
#include "utf8.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <unordered_set>

namespace shardscope::pickle {

static_assert(std::endian::native == std::endian::little, "pickle integers are read with memcpy");

namespace {

using namespace opcodes;

constexpr uint64_t kOwned = uint64_t(1) << 63; // Value.b of a string built in m_owned
constexpr Ref kUnset = ~Ref(0);                // an empty memo slot
constexpr size_t kMaxIntDigits = 4300;         // Python's own limit for int(str) (3.11+)

const char* opName(uint8_t code) {
#define SHARDSCOPE_OP_NAME(name, code)                                                             \
    case name:                                                                                     \
        return #name;
    switch (code) { SHARDSCOPE_PICKLE_OPS(SHARDSCOPE_OP_NAME) }
#undef SHARDSCOPE_OP_NAME
    return "?";
}

const char* typeName(Type t) {
    static constexpr const char* names[] = {"None", "bool",   "int",    "big int",      "float",
                                            "str",  "bytes",  "tuple",  "list",         "dict",
                                            "set",  "global", "object", "persistent id"};
    return size_t(t) < std::size(names) ? names[size_t(t)] : "?";
}

uint16_t le16(const char* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
uint32_t le32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
uint64_t le64(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Minimal little-endian two's complement of the decimal `digits` (negated when `negative`),
// as pickle's encode_long writes it.
std::string decimalToTwos(std::string_view digits, bool negative) {
    std::vector<uint32_t> limbs; // little-endian base 2^32 magnitude
    for (size_t i = 0; i < digits.size();) {
        const size_t n = std::min<size_t>(9, digits.size() - i);
        uint64_t mul = 1, chunk = 0;
        for (size_t k = 0; k < n; ++k, ++i) {
            mul *= 10;
            chunk = chunk * 10 + uint64_t(digits[i] - '0');
        }
        uint64_t carry = chunk;
        for (uint32_t& limb : limbs) {
            const uint64_t t = uint64_t(limb) * mul + carry;
            limb = uint32_t(t);
            carry = t >> 32;
        }
        if (carry) limbs.push_back(uint32_t(carry));
    }
    std::string out;
    for (uint32_t limb : limbs)
        for (int k = 0; k < 4; ++k)
            out += char((limb >> (8 * k)) & 0xFF);
    out += '\0'; // room for the sign bit
    if (negative) {
        unsigned carry = 1;
        for (char& c : out) {
            const unsigned t = unsigned(uint8_t(~uint8_t(c))) + carry;
            c = char(t & 0xFF);
            carry = t >> 8;
        }
    }
    while (out.size() > 1) {
        const uint8_t last = uint8_t(out.back()), prev = uint8_t(out[out.size() - 2]);
        if ((last == 0x00 && !(prev & 0x80)) || (last == 0xFF && (prev & 0x80)))
            out.pop_back();
        else
            break;
    }
    return out;
}

} // namespace

// Sizes of the arena when a MARK opened, so the values a harvested batch made can be dropped.
struct ArenaMark {
    size_t values = 0, items = 0, spans = 0, objects = 0;
    size_t pins = 0;            // Machine::m_pins.size()
    Ref mutatedBefore = kUnset; // Machine::m_mutated before the MARK
};

// Drops the values made since an ArenaMark, keeping only the given roots and what they refer
// to, renumbered right after the mark. Sound because every reference in the arena points to an
// older value, except those added to a container or object after it was made, and the caller
// refuses when such a change reached a value older than the mark.
class Reclaimer {
public:
    Reclaimer(Document& doc, const ArenaMark& from)
        : m_doc(doc), m_from(from), m_start(Ref(from.values)) {}

    // False, with nothing changed, when the roots hold too much to be worth moving.
    bool run(const std::vector<Ref>& roots);
    // After run(): the new Ref of a kept value; older values keep theirs; dropped ones: kUnset.
    Ref map(Ref old) const;

private:
    template <class F> void children(Ref v, F&& f) const;
    bool collect(const std::vector<Ref>& roots);
    void rebuild();

    static constexpr size_t kMaxKept = 4096;
    Document& m_doc;
    ArenaMark m_from;
    Ref m_start;
    std::vector<Ref> m_keep; // sorted
};

// The VM: one loop over the opcodes, a value stack with a separate mark stack (as CPython's
// _pickle.c keeps them, with the same "fence" so no opcode pops below the innermost MARK),
// and a memo of Refs. Every allocation it makes is checked against Limits first.
class Machine {
public:
    Machine(Document& doc, const Limits& limits, Harvester* harvester);
    void run();

private:
    using Value = Document::Value;

    // Errors, all naming the current opcode and its byte position.
    std::string where() const;
    [[noreturn]] void fail(const std::string& what) const;
    [[noreturn]] void failLimit(const std::string& what) const;
    [[noreturn]] void truncated(const std::string& what) const;
    [[noreturn]] void wrongType(const char* role, Ref v, const char* wanted) const;

    // Input
    const char* need(uint64_t n);
    std::string_view payload(uint64_t n);
    std::string_view line();
    uint64_t lineIndex();

    // Arena
    Ref add(const Value& v);
    Ref addInt(int64_t v) { return add({Type::Int, 0, 0, uint64_t(v)}); }
    Ref addView(Type t, std::string_view s);
    Ref addOwned(Type t, std::string_view s);
    Ref addContainer(Type t, const Ref* first, size_t n);
    Ref addTuple(const Ref* first, size_t n);
    Ref addObject(Ref callable, Ref args, ObjectKind kind);
    Ref shared(Ref& slot, const Value& v);
    Type typeOf(Ref v) const { return m_doc.m_values[v].type; }
    uint32_t addable(Ref target, Type want);
    void extend(uint32_t span, const Ref* first, size_t k);

    // Stack
    void push(Ref r);
    Ref pop();
    Ref top() const;
    size_t popMark();
    size_t needAbove(size_t n);
    size_t itemsTarget(size_t mark);

    // Opcodes
    void proto();
    void stop();
    void mark();
    void popOne();
    void popToMark();
    void textInt(bool isLong);
    void binInt1();
    void binLong(uint64_t n);
    void textFloat();
    void quotedString();
    void rawUnicode();
    void sized(Type t, uint64_t n);
    void tupleN(size_t n);
    void fromMark(Type t);
    void append();
    void setItem();
    void addFromMark(Type t);
    void global();
    void stackGlobal();
    void reduce(ObjectKind kind);
    void newObjEx();
    void build();
    void inst();
    void obj();
    void put(uint64_t index);
    void get(uint64_t index);

    // Harvesting
    bool offer(size_t dictPos, const Ref* items, size_t n);
    void reclaim();
    void binPersId();
    [[noreturn]] void unknownOpcode() const;
    uint64_t signedLength();

    Document& m_doc;
    const char* m_begin;
    const char* m_p;
    const char* m_end;
    uint64_t m_op = 0;  // byte position of the opcode being run
    uint8_t m_code = 0; // the opcode being run

    std::vector<Ref> m_stack;
    std::vector<size_t> m_marks; // m_stack sizes at each open MARK
    size_t m_fence = 0;          // m_marks.back(), or 0
    Memo m_memo;                 // grown on demand, never past m_maxMemo
    uint64_t m_memoCount = 0;    // set slots: MEMOIZE's index, as in CPython

    Harvester* m_harvester = nullptr;
    std::optional<ReadSlots> m_readSlots; // with a harvester: the memo slots read back
    std::vector<ArenaMark> m_arena;       // one per open MARK
    ArenaMark m_closed;                   // the one popMark() closed last
    std::vector<uint64_t> m_pins;         // memo slots set that the pickle reads back
    Ref m_mutated = kUnset;       // lowest container or object changed since the innermost MARK
    Ref m_closedMutated = kUnset; // the same, within the MARK popMark() closed last

    // Immutable values Python shares too, made once on first use: a .metadata pickle is full of
    // None, small ints and the () of every NEWOBJ.
    Ref m_none = kUnset, m_true = kUnset, m_false = kUnset, m_emptyTuple = kUnset;
    Ref m_smallInts[256];

    uint64_t m_maxValues;
    uint64_t m_maxMemo;
    uint64_t m_maxString;
    size_t m_maxStack;
    size_t m_maxMarks;
};

Machine::Machine(Document& doc, const Limits& limits, Harvester* harvester)
    : m_doc(doc), m_begin(doc.m_data.data()), m_p(m_begin), m_end(m_begin + doc.m_data.size()),
      // Refs are 32-bit and ~0 is noState(); lengths are 32-bit in a Value.
      m_maxValues(std::min<uint64_t>(limits.maxValues, 0xFFFFFFFEu)), m_maxMemo(limits.maxMemo),
      m_maxString(std::min<uint64_t>(limits.maxStringBytes, 0xFFFFFFFFu)),
      m_maxStack(limits.maxStackDepth), m_maxMarks(limits.maxMarkDepth) {
    m_harvester = harvester;
    if (doc.m_data.size() > limits.maxInputBytes)
        throw PickleError(true, 0,
                          "pickle of " + std::to_string(doc.m_data.size()) +
                              " bytes is over the limit of " +
                              std::to_string(limits.maxInputBytes));
    std::fill(std::begin(m_smallInts), std::end(m_smallInts), kUnset);
    m_stack.reserve(256);
    if (m_harvester) m_readSlots = ReadSlots::scan(doc.m_data, m_maxMemo);
    if (m_readSlots) {
        // Harvested batches are dropped as the run goes, so the arena stays small.
        m_memo.useReadSlots(&*m_readSlots);
        return;
    }
    // A .metadata pickle spends 6 to 8 bytes per value, 10 per memo slot and 40 per container.
    // Reserving that much up front saves copying hundreds of megabytes as the vectors grow; pages
    // never written are never touched.
    const uint64_t n = doc.m_data.size();
    reserveLarge(doc.m_values, std::min<uint64_t>(n / 5 + 16, m_maxValues));
    reserveLarge(doc.m_items, n / 4);
    reserveLarge(doc.m_spans, std::min<uint64_t>(n / 40, m_maxValues));
    reserveLarge(doc.m_objects, std::min<uint64_t>(n / 20, m_maxValues));
    m_memo.reserve(std::min<uint64_t>(n / 8, m_maxMemo));
}

std::string Machine::where() const {
    return std::string(opName(m_code)) + " at byte " + std::to_string(m_op);
}

void Machine::fail(const std::string& what) const {
    throw PickleError(false, m_op, where() + ": " + what);
}

void Machine::failLimit(const std::string& what) const {
    throw PickleError(true, m_op, where() + ": " + what);
}

void Machine::truncated(const std::string& what) const {
    throw PickleError(false, m_op, "truncated: " + where() + " " + what);
}

void Machine::wrongType(const char* role, Ref v, const char* wanted) const {
    fail(std::string(role) + " is " + typeName(typeOf(v)) + ", not " + wanted);
}

// --- input ------------------------------------------------------------------------------------

const char* Machine::need(uint64_t n) {
    const uint64_t left = uint64_t(m_end - m_p);
    if (n > left)
        truncated("needs " + std::to_string(n) + " bytes but only " + std::to_string(left) +
                  " remain");
    const char* p = m_p;
    m_p += n;
    return p;
}

// A length-prefixed string: the length is checked against the input and the limit before
// anything is read or allocated.
std::string_view Machine::payload(uint64_t n) {
    const uint64_t left = uint64_t(m_end - m_p);
    if (n > left)
        truncated("claims " + std::to_string(n) + " bytes but only " + std::to_string(left) +
                  " remain");
    if (n >= m_maxString)
        failLimit(std::to_string(n) + " bytes is over the string limit of " +
                  std::to_string(m_maxString));
    const char* p = m_p;
    m_p += n;
    return {p, size_t(n)};
}

// A protocol-0 argument: the bytes up to the next newline, which is consumed.
std::string_view Machine::line() {
    const void* nl = std::memchr(m_p, '\n', size_t(m_end - m_p));
    if (!nl) truncated("has no newline");
    const char* p = m_p;
    const size_t n = size_t(static_cast<const char*>(nl) - p);
    if (n >= m_maxString)
        failLimit("line of " + std::to_string(n) + " bytes is over the string limit of " +
                  std::to_string(m_maxString));
    m_p = p + n + 1;
    return {p, n};
}

// PUT/GET's decimal memo index; too large to parse counts as past any limit.
uint64_t Machine::lineIndex() {
    const std::string_view s = line();
    uint64_t v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc::result_out_of_range) return ~uint64_t(0);
    if (ec != std::errc() || ptr != s.data() + s.size() || s.empty())
        fail("memo index '" + std::string(s.substr(0, 32)) + "' is not a number");
    return v;
}

// --- arena ------------------------------------------------------------------------------------

Ref Machine::add(const Value& v) {
    auto& values = m_doc.m_values;
    if (values.size() >= m_maxValues)
        failLimit("more than " + std::to_string(m_maxValues) + " values");
    values.push_back(v);
    return Ref(values.size() - 1);
}

Ref Machine::addView(Type t, std::string_view s) {
    return add({t, 0, uint32_t(s.size()), uint64_t(s.data() - m_begin)});
}

Ref Machine::addOwned(Type t, std::string_view s) {
    if (s.size() >= m_maxString)
        failLimit(std::to_string(s.size()) + " bytes is over the string limit of " +
                  std::to_string(m_maxString));
    const uint64_t offset = m_doc.m_owned.size();
    m_doc.m_owned.append(s);
    return add({t, 0, uint32_t(s.size()), offset | kOwned});
}

Ref Machine::addContainer(Type t, const Ref* first, size_t n) {
    const Ref r = add({t, 0, uint32_t(m_doc.m_spans.size()), 0});
    m_doc.m_spans.push_back({m_doc.m_items.size(), uint32_t(n), uint32_t(n)});
    m_doc.m_items.insert(m_doc.m_items.end(), first, first + n);
    return r;
}

Ref Machine::addTuple(const Ref* first, size_t n) {
    const Ref r = add({Type::Tuple, 0, uint32_t(n), m_doc.m_items.size()});
    m_doc.m_items.insert(m_doc.m_items.end(), first, first + n);
    return r;
}

Ref Machine::shared(Ref& slot, const Value& v) {
    if (slot == kUnset) slot = add(v);
    return slot;
}

Ref Machine::addObject(Ref callable, Ref args, ObjectKind kind) {
    const Ref r = add({Type::Object, uint8_t(kind), uint32_t(m_doc.m_objects.size()), 0});
    m_doc.m_objects.push_back({callable, args, Document::noState()});
    return r;
}

// The span that APPEND(S)/SETITEM(S)/ADDITEMS extend: the container's, or the items added to an
// Object (an OrderedDict or a list subclass, whose own methods Python calls).
uint32_t Machine::addable(Ref target, Type want) {
    m_mutated = std::min(m_mutated, target);
    Value& v = m_doc.m_values[target];
    if (v.type == want) return v.a;
    if (v.type == Type::Object) {
        if (v.b == 0) {
            m_doc.m_spans.push_back({m_doc.m_items.size(), 0, 0});
            v.b = m_doc.m_spans.size();
        }
        return uint32_t(v.b - 1);
    }
    wrongType("the target", target,
              want == Type::List   ? "a list"
              : want == Type::Dict ? "a dict"
                                   : "a set");
}

// Appends k items to a span: in place while it has room or is the last span, else moved to the
// end of m_items with room to double, so even alternating appends cost O(1) each.
void Machine::extend(uint32_t span, const Ref* first, size_t k) {
    std::vector<Ref>& items = m_doc.m_items;
    Document::Span& s = m_doc.m_spans[span];
    const uint64_t need = uint64_t(s.size) + k;
    if (need > 0xFFFFFFFFu) failLimit("more than 4294967295 items in one container");
    if (need > s.capacity) {
        if (s.offset + s.capacity == items.size()) {
            items.resize(size_t(s.offset + need));
            s.capacity = uint32_t(need);
        } else {
            const uint64_t capacity =
                std::min<uint64_t>(0xFFFFFFFFu, std::max<uint64_t>(need, 2 * uint64_t(s.size)));
            const uint64_t to = items.size();
            items.resize(size_t(to + capacity));
            std::copy_n(items.begin() + ptrdiff_t(s.offset), s.size, items.begin() + ptrdiff_t(to));
            s.offset = to;
            s.capacity = uint32_t(capacity);
        }
    }
    std::copy_n(first, k, items.begin() + ptrdiff_t(s.offset + s.size));
    s.size = uint32_t(need);
}

// --- stack ------------------------------------------------------------------------------------

void Machine::push(Ref r) {
    if (m_stack.size() + m_marks.size() >= m_maxStack)
        failLimit("the stack is deeper than " + std::to_string(m_maxStack));
    m_stack.push_back(r);
}

Ref Machine::pop() {
    if (m_stack.size() <= m_fence) fail("stack underflow");
    const Ref r = m_stack.back();
    m_stack.pop_back();
    return r;
}

Ref Machine::top() const {
    if (m_stack.size() <= m_fence) fail("stack underflow");
    return m_stack.back();
}

// Closes the innermost MARK; its items are m_stack[returned position, end).
size_t Machine::popMark() {
    if (m_marks.empty()) fail("no MARK to close");
    const size_t at = m_marks.back();
    m_marks.pop_back();
    m_fence = m_marks.empty() ? 0 : m_marks.back();
    m_closed = m_arena.back();
    m_arena.pop_back();
    m_closedMutated = m_mutated;
    m_mutated = std::min(m_closed.mutatedBefore, m_mutated);
    return at;
}

// The position of the top n values, which must all lie above the fence.
size_t Machine::needAbove(size_t n) {
    if (m_stack.size() - m_fence < n) fail("stack underflow");
    return m_stack.size() - n;
}

// After popMark(): the position of the container under the mark (APPENDS, SETITEMS, ADDITEMS).
size_t Machine::itemsTarget(size_t mark) {
    if (mark == 0 || mark - 1 < m_fence) fail("stack underflow: nothing below the MARK");
    return mark - 1;
}

// --- opcodes ----------------------------------------------------------------------------------

void Machine::run() {
    const char* report = m_harvester ? m_begin + Harvester::kProgressBytes : m_end + 1;
    while (m_p < m_end) {
        if (m_p >= report) [[unlikely]] {
            m_harvester->reached(uint64_t(m_p - m_begin));
            report = m_p + Harvester::kProgressBytes;
        }
        m_op = uint64_t(m_p - m_begin);
        m_code = uint8_t(*m_p++);
        // One opcode per line reads like pickletools' table.
        // clang-format off
        switch (m_code) {
        case PROTO: proto(); break;
        case FRAME: need(8); break; // frames help streaming readers only: all data is here
        case STOP: stop(); return;
        case MARK: mark(); break;
        case POP: popOne(); break;
        case POP_MARK: popToMark(); break;
        case DUP: push(top()); break;
        case NONE: push(shared(m_none, {Type::None, 0, 0, 0})); break;
        case NEWTRUE: push(shared(m_true, {Type::Bool, 0, 0, 1})); break;
        case NEWFALSE: push(shared(m_false, {Type::Bool, 0, 0, 0})); break;
        case INT: textInt(false); break;
        case LONG: textInt(true); break;
        case BININT: push(addInt(int32_t(le32(need(4))))); break;
        case BININT1: binInt1(); break;
        case BININT2: push(addInt(le16(need(2)))); break;
        case LONG1: binLong(uint8_t(*need(1))); break;
        case LONG4: binLong(signedLength()); break;
        case FLOAT: textFloat(); break;
        case BINFLOAT: push(add({Type::Float, 0, 0, __builtin_bswap64(le64(need(8)))})); break;
        case STRING: quotedString(); break;
        case BINSTRING: sized(Type::Str, signedLength()); break;
        case SHORT_BINSTRING: sized(Type::Str, uint8_t(*need(1))); break;
        case UNICODE: rawUnicode(); break;
        case BINUNICODE: sized(Type::Str, le32(need(4))); break;
        case SHORT_BINUNICODE: sized(Type::Str, uint8_t(*need(1))); break;
        case BINUNICODE8: sized(Type::Str, le64(need(8))); break;
        case BINBYTES: sized(Type::Bytes, le32(need(4))); break;
        case SHORT_BINBYTES: sized(Type::Bytes, uint8_t(*need(1))); break;
        case BINBYTES8: sized(Type::Bytes, le64(need(8))); break;
        case BYTEARRAY8: sized(Type::Bytes, le64(need(8))); break;
        case EMPTY_TUPLE: push(shared(m_emptyTuple, {Type::Tuple, 0, 0, 0})); break;
        case TUPLE1: tupleN(1); break;
        case TUPLE2: tupleN(2); break;
        case TUPLE3: tupleN(3); break;
        case TUPLE: fromMark(Type::Tuple); break;
        case EMPTY_LIST: push(addContainer(Type::List, nullptr, 0)); break;
        case LIST: fromMark(Type::List); break;
        case APPEND: append(); break;
        case APPENDS: addFromMark(Type::List); break;
        case EMPTY_DICT: push(addContainer(Type::Dict, nullptr, 0)); break;
        case DICT: fromMark(Type::Dict); break;
        case SETITEM: setItem(); break;
        case SETITEMS: addFromMark(Type::Dict); break;
        case EMPTY_SET: push(addContainer(Type::Set, nullptr, 0)); break;
        case FROZENSET: fromMark(Type::Set); break;
        case ADDITEMS: addFromMark(Type::Set); break;
        case GLOBAL: global(); break;
        case STACK_GLOBAL: stackGlobal(); break;
        case REDUCE: reduce(ObjectKind::Reduce); break;
        case NEWOBJ: reduce(ObjectKind::NewObj); break;
        case NEWOBJ_EX: newObjEx(); break;
        case BUILD: build(); break;
        case INST: inst(); break;
        case OBJ: obj(); break;
        case PUT: put(lineIndex()); break;
        case BINPUT: put(uint8_t(*need(1))); break;
        case LONG_BINPUT: put(le32(need(4))); break;
        case MEMOIZE: put(m_memoCount); break;
        case GET: get(lineIndex()); break;
        case BINGET: get(uint8_t(*need(1))); break;
        case LONG_BINGET: get(le32(need(4))); break;
        case PERSID: push(add({Type::PersistentId, 0, 0, addView(Type::Str, line())})); break;
        case BINPERSID: binPersId(); break;
        case EXT1:
        case EXT2:
        case EXT4: fail("extension registry codes are not supported");
        case NEXT_BUFFER:
        case READONLY_BUFFER: fail("out-of-band buffers are not supported");
        default: unknownOpcode();
        }
        // clang-format on
    }
    throw PickleError(false, uint64_t(m_end - m_begin), "truncated: no STOP opcode");
}

void Machine::unknownOpcode() const {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", unsigned(m_code));
    throw PickleError(false, m_op,
                      std::string("unknown opcode ") + hex + " at byte " + std::to_string(m_op));
}

// LONG4 and BINSTRING: a signed 4-byte length, as CPython reads it.
uint64_t Machine::signedLength() {
    const int32_t n = int32_t(le32(need(4)));
    if (n < 0) fail("negative byte count " + std::to_string(n));
    return uint64_t(n);
}

void Machine::proto() {
    const uint8_t version = uint8_t(*need(1));
    if (version > 5) fail("unsupported pickle protocol " + std::to_string(version));
}

void Machine::stop() {
    if (!m_marks.empty()) fail("a MARK is still open");
    if (m_stack.size() != 1)
        fail("the stack holds " + std::to_string(m_stack.size()) + " values, not 1");
    m_doc.m_root = m_stack.back();
}

void Machine::mark() {
    if (m_marks.size() >= m_maxMarks)
        failLimit("more than " + std::to_string(m_maxMarks) + " nested marks");
    if (m_stack.size() + m_marks.size() >= m_maxStack)
        failLimit("the stack is deeper than " + std::to_string(m_maxStack));
    m_marks.push_back(m_stack.size());
    m_fence = m_stack.size();
    m_arena.push_back({m_doc.m_values.size(), m_doc.m_items.size(), m_doc.m_spans.size(),
                       m_doc.m_objects.size(), m_pins.size(), m_mutated});
    m_mutated = kUnset;
}

// POP drops the top value or, when nothing is above the innermost MARK, that MARK (protocol 0
// writes POP * (n + 1) to drop a recursive tuple's items and its MARK).
void Machine::popOne() {
    if (!m_marks.empty() && m_marks.back() == m_stack.size())
        popMark();
    else
        pop();
}

void Machine::popToMark() {
    m_stack.resize(popMark());
}

// INT and LONG: protocol-0 decimal text. INT's "00" and "01" are False and True.
void Machine::textInt(bool isLong) {
    std::string_view s = line();
    if (!isLong && (s == "00" || s == "01")) {
        push(s[1] == '1' ? shared(m_true, {Type::Bool, 0, 0, 1})
                         : shared(m_false, {Type::Bool, 0, 0, 0}));
        return;
    }
    if (isLong && !s.empty() && s.back() == 'L') s.remove_suffix(1);
    bool negative = false;
    std::string_view digits = s;
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
        negative = digits[0] == '-';
        digits.remove_prefix(1);
    }
    if (digits.empty() ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        fail("'" + std::string(s.substr(0, 32)) + "' is not an integer");
    if (digits.size() > kMaxIntDigits)
        failLimit(std::to_string(digits.size()) + " digits is over Python's limit of " +
                  std::to_string(kMaxIntDigits));
    int64_t v = 0;
    const char* first = negative ? digits.data() - 1 : digits.data();
    const auto [ptr, ec] = std::from_chars(first, digits.data() + digits.size(), v);
    if (ec == std::errc() && ptr == digits.data() + digits.size())
        push(addInt(v));
    else
        push(addOwned(Type::BigInt, decimalToTwos(digits, negative)));
}

void Machine::binInt1() {
    const uint8_t v = uint8_t(*need(1));
    push(shared(m_smallInts[v], {Type::Int, 0, 0, v}));
}

// LONG1/LONG4: little-endian two's complement; Int whenever the value fits in 64 bits.
void Machine::binLong(uint64_t n) {
    const std::string_view bytes = payload(n);
    if (n == 0) {
        push(addInt(0));
        return;
    }
    const uint8_t sign = (uint8_t(bytes[std::min<uint64_t>(n, 8) - 1]) & 0x80) ? 0xFF : 0x00;
    bool fits = true;
    for (uint64_t i = 8; i < n && fits; ++i)
        fits = uint8_t(bytes[i]) == sign;
    if (!fits) {
        push(addView(Type::BigInt, bytes));
        return;
    }
    uint64_t v = sign ? ~uint64_t(0) : 0; // the sign extension of n < 8 bytes
    std::memcpy(&v, bytes.data(), std::min<uint64_t>(n, 8));
    push(addInt(int64_t(v)));
}

void Machine::textFloat() {
    std::string_view s = line();
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    double d = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if ((ec != std::errc() && ec != std::errc::result_out_of_range) || ptr != s.data() + s.size() ||
        s.empty())
        fail("'" + std::string(s.substr(0, 32)) + "' is not a float");
    if (ec == std::errc::result_out_of_range) {
        // As CPython: an underflow is zero, an overflow an error. from_chars leaves d alone.
        const size_t e = s.find_first_of("eE");
        if (e == std::string_view::npos || e + 1 >= s.size() || s[e + 1] != '-')
            fail("'" + std::string(s.substr(0, 32)) + "' is out of range for a float");
        d = s[0] == '-' ? -0.0 : 0.0;
    }
    push(add({Type::Float, 0, 0, std::bit_cast<uint64_t>(d)}));
}

// STRING: a Python 2 repr, quoted, with the escapes of codecs.escape_decode.
void Machine::quotedString() {
    const std::string_view s = line();
    if (s.size() < 2 || s.front() != s.back() || (s.front() != '\'' && s.front() != '"'))
        fail("argument is not quoted");
    const std::string_view in = s.substr(1, s.size() - 2);
    if (in.find('\\') == std::string_view::npos) {
        push(addView(Type::Str, in));
        return;
    }
    std::string out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '\\') {
            out += in[i];
            continue;
        }
        if (++i == in.size()) fail("trailing \\ in string");
        const char c = in[i];
        static constexpr std::string_view simple = "\\'\"abfnrtv", meaning = "\\'\"\a\b\f\n\r\t\v";
        if (const size_t k = simple.find(c); k != std::string_view::npos) {
            out += meaning[k];
        } else if (c == 'x') {
            const int hi = i + 1 < in.size() ? hexDigit(in[i + 1]) : -1;
            const int lo = i + 2 < in.size() ? hexDigit(in[i + 2]) : -1;
            if (hi < 0 || lo < 0) fail("invalid \\x escape");
            out += char(hi * 16 + lo);
            i += 2;
        } else if (c >= '0' && c <= '7') { // up to three octal digits
            unsigned v = unsigned(c - '0');
            for (int k = 0; k < 2 && i + 1 < in.size() && in[i + 1] >= '0' && in[i + 1] <= '7'; ++k)
                v = v * 8 + unsigned(in[++i] - '0');
            out += char(v & 0xFF);
        } else { // unknown escapes stay as they are
            out += '\\';
            out += c;
        }
    }
    push(addOwned(Type::Str, out));
}

// UNICODE: raw-unicode-escape, i.e. latin-1 bytes plus \uXXXX and \UXXXXXXXX; stored as UTF-8.
void Machine::rawUnicode() {
    const std::string_view in = line();
    if (std::all_of(in.begin(), in.end(), [](char c) { return c != '\\' && uint8_t(c) < 0x80; })) {
        push(addView(Type::Str, in));
        return;
    }
    std::string out;
    out.reserve(in.size() + in.size() / 2);
    for (size_t i = 0; i < in.size(); ++i) {
        const uint8_t c = uint8_t(in[i]);
        if (c != '\\' || i + 1 == in.size() || (in[i + 1] != 'u' && in[i + 1] != 'U')) {
            appendUtf8(out, c);
            if (c == '\\' && i + 1 < in.size()) appendUtf8(out, uint8_t(in[++i]));
            continue;
        }
        const size_t count = in[i + 1] == 'u' ? 4 : 8;
        if (in.size() - (i + 2) < count) fail("truncated \\uXXXX escape");
        uint32_t cp = 0;
        for (size_t k = 0; k < count; ++k) {
            const int d = hexDigit(in[i + 2 + k]);
            if (d < 0) fail("invalid \\uXXXX escape");
            cp = cp * 16 + uint32_t(d);
        }
        if (cp > 0x10FFFF) fail("\\Uxxxxxxxx out of range");
        appendUtf8(out, cp);
        i += 1 + count;
    }
    push(addOwned(Type::Str, out));
}

void Machine::sized(Type t, uint64_t n) {
    push(addView(t, payload(n)));
}

void Machine::tupleN(size_t n) {
    const size_t at = needAbove(n);
    const Ref r = addTuple(m_stack.data() + at, n);
    m_stack.resize(at);
    m_stack.push_back(r); // replaces n >= 1 values: no deeper than before
}

// TUPLE, LIST, DICT, FROZENSET: the values since the innermost MARK become one container.
void Machine::fromMark(Type t) {
    const size_t at = popMark();
    const size_t n = m_stack.size() - at;
    if (t == Type::Dict && n % 2) fail("odd number of items (" + std::to_string(n) + ")");
    const Ref r = t == Type::Tuple ? addTuple(m_stack.data() + at, n)
                                   : addContainer(t, m_stack.data() + at, n);
    m_stack.resize(at);
    push(r);
}

void Machine::append() {
    const Ref v = pop();
    extend(addable(top(), Type::List), &v, 1);
}

void Machine::setItem() {
    const size_t at = needAbove(3);
    if (offer(at, m_stack.data() + at + 1, 2)) {
        m_stack.resize(at + 1);
        return;
    }
    extend(addable(m_stack[at], Type::Dict), m_stack.data() + at + 1, 2);
    m_stack.resize(at + 1);
}

// APPENDS, SETITEMS, ADDITEMS: the values since the MARK go into the container below it.
void Machine::addFromMark(Type t) {
    const size_t at = popMark();
    const size_t n = m_stack.size() - at;
    if (t == Type::Dict && n % 2) fail("odd number of items (" + std::to_string(n) + ")");
    const size_t target = itemsTarget(at);
    if (t == Type::Dict && offer(target, m_stack.data() + at, n)) {
        m_stack.resize(at);
        reclaim();
        return;
    }
    extend(addable(m_stack[target], t), m_stack.data() + at, n);
    m_stack.resize(at);
}

void Machine::global() {
    const std::string_view module = line();
    const std::string_view name = line();
    const Ref r = add({Type::Global, 0, uint32_t(m_doc.m_globals.size()), 0});
    m_doc.m_globals.push_back({module, name});
    push(r);
}

// The names are Str values (possibly in m_owned, which may still grow): the Global keeps their
// Refs, and module()/name() look the text up when asked.
void Machine::stackGlobal() {
    const size_t at = needAbove(2);
    const Ref module = m_stack[at], name = m_stack[at + 1];
    if (typeOf(module) != Type::Str) wrongType("the module name", module, "a str");
    if (typeOf(name) != Type::Str) wrongType("the class name", name, "a str");
    const Ref r = add({Type::Global, 1, 0, uint64_t(module) << 32 | name});
    m_stack.resize(at);
    m_stack.push_back(r);
}

// REDUCE(callable, args) and NEWOBJ(cls, args): an Object that records the call.
void Machine::reduce(ObjectKind kind) {
    const size_t at = needAbove(2);
    const Ref args = m_stack[at + 1];
    if (typeOf(args) != Type::Tuple) wrongType("the argument value", args, "a tuple");
    const Ref r = addObject(m_stack[at], args, kind);
    m_stack.resize(at);
    m_stack.push_back(r);
}

// NEWOBJ_EX(cls, args, kwargs): a NewObj Object whose args() is the tuple (args, kwargs).
void Machine::newObjEx() {
    const size_t at = needAbove(3);
    const Ref args = m_stack[at + 1], kwargs = m_stack[at + 2];
    if (typeOf(args) != Type::Tuple) wrongType("the argument value", args, "a tuple");
    if (typeOf(kwargs) != Type::Dict) wrongType("the keyword argument value", kwargs, "a dict");
    const Ref pair = addTuple(m_stack.data() + at + 1, 2);
    const Ref r = addObject(m_stack[at], pair, ObjectKind::NewObj);
    m_stack.resize(at);
    m_stack.push_back(r);
}

void Machine::build() {
    const size_t at = needAbove(2);
    const Ref target = m_stack[at];
    if (typeOf(target) != Type::Object) wrongType("the target", target, "an object");
    m_mutated = std::min(m_mutated, target);
    m_doc.m_objects[m_doc.m_values[target].a].state = m_stack[at + 1];
    m_stack.resize(at + 1);
}

// INST module name (protocol 0): MARK args... -> module.name(*args).
void Machine::inst() {
    const std::string_view module = line();
    const std::string_view name = line();
    const size_t at = popMark();
    const Ref cls = add({Type::Global, 0, uint32_t(m_doc.m_globals.size()), 0});
    m_doc.m_globals.push_back({module, name});
    const Ref args = addTuple(m_stack.data() + at, m_stack.size() - at);
    const Ref r = addObject(cls, args, ObjectKind::Reduce);
    m_stack.resize(at);
    push(r);
}

// OBJ (protocol 1): MARK cls args... -> cls(*args).
void Machine::obj() {
    const size_t at = popMark();
    if (m_stack.size() == at) fail("no class after the MARK");
    const Ref args = addTuple(m_stack.data() + at + 1, m_stack.size() - at - 1);
    const Ref r = addObject(m_stack[at], args, ObjectKind::Reduce);
    m_stack.resize(at);
    push(r);
}

void Machine::put(uint64_t index) {
    if (index >= m_maxMemo)
        failLimit("memo index " + std::to_string(index) + " is over the limit of " +
                  std::to_string(m_maxMemo) + " slots");
    const Ref v = top();
    if (m_memo.set(index, v)) ++m_memoCount;
    if (m_readSlots && m_readSlots->contains(index)) m_pins.push_back(index);
}

void Machine::get(uint64_t index) {
    const Ref v = m_memo.get(index);
    if (v == kUnset) fail("memo slot " + std::to_string(index) + " is not set");
    if (v >= m_doc.m_values.size()) // never: dropped values are never read back
        fail("memo slot " + std::to_string(index) + " holds a value that was dropped");
    push(v);
}

void Machine::binPersId() {
    const size_t at = needAbove(1);
    const Ref r = add({Type::PersistentId, 0, 0, m_stack[at]});
    m_stack[at] = r;
}

// --- harvesting -------------------------------------------------------------------------------

// The dict at dictPos is offered when it sits right after its key inside an enclosing MARK, as
// the pickler leaves it while saving `parent[key] = {...}`; the value below the enclosing dict
// (the owner) tells the harvester whose state that is.
bool Machine::offer(size_t dictPos, const Ref* items, size_t n) {
    if (!m_harvester || m_marks.empty() || m_fence < 2 || dictPos <= m_fence) return false;
    const size_t keyPos = dictPos - 1;
    if ((keyPos - m_fence) % 2 != 0) return false; // the dict is a key, not a value
    const Ref dict = m_stack[dictPos];
    if (typeOf(dict) != Type::Dict) return false;
    return m_harvester->take(m_doc, dict, m_stack[keyPos], m_stack[m_fence - 2],
                             std::span<const Ref>(items, n));
}

// After a harvested SETITEMS: the values made since its MARK are dropped, except those the
// memo will hand out again (moved down), unless something older was changed to hold one.
void Machine::reclaim() {
    const Ref start = Ref(m_closed.values);
    if (!m_readSlots || m_closedMutated < start) return;
    std::sort(m_pins.begin() + ptrdiff_t(m_closed.pins), m_pins.end());
    m_pins.erase(std::unique(m_pins.begin() + ptrdiff_t(m_closed.pins), m_pins.end()),
                 m_pins.end());
    std::vector<Ref> roots;
    for (size_t i = m_closed.pins; i < m_pins.size(); ++i)
        if (const Ref v = m_memo.at(m_pins[i]); v != kUnset && v >= start) roots.push_back(v);
    Reclaimer reclaimer(m_doc, m_closed);
    if (!reclaimer.run(roots)) return;
    // Every pin stays listed: an enclosing MARK may be reclaimed later too.
    for (size_t i = m_closed.pins; i < m_pins.size(); ++i)
        if (Ref& v = m_memo.at(m_pins[i]); v != kUnset && v >= start) v = reclaimer.map(v);
    // Slots never read back may now name dropped values: get() refuses them, and pass one
    // found that the pickle never asks.
    for (Ref* shared : {&m_none, &m_true, &m_false, &m_emptyTuple})
        if (*shared != kUnset && *shared >= start) *shared = reclaimer.map(*shared);
    for (Ref& shared : m_smallInts)
        if (shared != kUnset && shared >= start) shared = reclaimer.map(shared);
}

template <class F> void Reclaimer::children(Ref v, F&& f) const {
    const Document::Value& x = m_doc.m_values[v];
    auto span = [&](uint32_t index) {
        const Document::Span& s = m_doc.m_spans[index];
        for (uint32_t i = 0; i < s.size; ++i)
            f(m_doc.m_items[s.offset + i]);
    };
    switch (x.type) {
    case Type::Tuple:
        for (uint32_t i = 0; i < x.a; ++i)
            f(m_doc.m_items[x.b + i]);
        break;
    case Type::List:
    case Type::Dict:
    case Type::Set:
        span(x.a);
        break;
    case Type::Object: {
        const Document::ObjectSlots& o = m_doc.m_objects[x.a];
        f(o.callable);
        f(o.args);
        if (o.state != Document::noState()) f(o.state);
        if (x.b) span(uint32_t(x.b - 1));
        break;
    }
    case Type::PersistentId:
        f(Ref(x.b));
        break;
    case Type::Global:
        if (x.kind) {
            f(Ref(x.b >> 32));
            f(Ref(x.b & 0xFFFFFFFFu));
        }
        break;
    default:
        break;
    }
}

bool Reclaimer::collect(const std::vector<Ref>& roots) {
    std::vector<Ref> todo = roots;
    std::unordered_set<Ref> seen;
    while (!todo.empty()) {
        const Ref v = todo.back();
        todo.pop_back();
        if (v < m_start || !seen.insert(v).second) continue;
        if (seen.size() > kMaxKept) return false;
        children(v, [&](Ref c) { todo.push_back(c); });
        if (todo.size() > 16 * kMaxKept) return false; // a large container: not worth it
    }
    m_keep.assign(seen.begin(), seen.end());
    std::sort(m_keep.begin(), m_keep.end());
    return true;
}

Ref Reclaimer::map(Ref old) const {
    if (old < m_start) return old;
    const auto it = std::lower_bound(m_keep.begin(), m_keep.end(), old);
    if (it == m_keep.end() || *it != old) return kUnset;
    return Ref(m_start + size_t(it - m_keep.begin()));
}

bool Reclaimer::run(const std::vector<Ref>& roots) {
    if (!collect(roots)) return false;
    rebuild();
    return true;
}

// Copies the kept values out with their items and object slots, cuts every arena vector back to
// the mark, and appends the copies with their references renumbered.
void Reclaimer::rebuild() {
    struct Copy {
        Document::Value value;
        std::vector<Ref> items; // tuple or span items
        Document::ObjectSlots slots{};
        std::vector<Ref> added; // an Object's APPEND/SETITEM items
        bool hasAdded = false;
    };
    std::vector<Copy> copies;
    copies.reserve(m_keep.size());
    for (const Ref v : m_keep) {
        Copy c{m_doc.m_values[v], {}, {}, {}, false};
        const Document::Value& x = c.value;
        auto spanItems = [&](uint32_t index) {
            const Document::Span& s = m_doc.m_spans[index];
            return std::vector<Ref>(m_doc.m_items.begin() + ptrdiff_t(s.offset),
                                    m_doc.m_items.begin() + ptrdiff_t(s.offset + s.size));
        };
        if (x.type == Type::Tuple)
            c.items.assign(m_doc.m_items.begin() + ptrdiff_t(x.b),
                           m_doc.m_items.begin() + ptrdiff_t(x.b + x.a));
        else if (x.type == Type::List || x.type == Type::Dict || x.type == Type::Set)
            c.items = spanItems(x.a);
        else if (x.type == Type::Object) {
            c.slots = m_doc.m_objects[x.a];
            if (x.b) {
                c.added = spanItems(uint32_t(x.b - 1));
                c.hasAdded = true;
            }
        }
        copies.push_back(std::move(c));
    }
    m_doc.m_values.resize(m_from.values);
    m_doc.m_items.resize(m_from.items);
    m_doc.m_spans.resize(m_from.spans);
    m_doc.m_objects.resize(m_from.objects);
    auto remapped = [&](std::vector<Ref>& refs) {
        for (Ref& r : refs)
            r = map(r);
        return refs;
    };
    auto newSpan = [&](std::vector<Ref>& refs) {
        remapped(refs);
        const uint32_t n = uint32_t(refs.size());
        m_doc.m_spans.push_back({m_doc.m_items.size(), n, n});
        m_doc.m_items.insert(m_doc.m_items.end(), refs.begin(), refs.end());
        return uint32_t(m_doc.m_spans.size() - 1);
    };
    for (Copy& c : copies) {
        Document::Value x = c.value;
        switch (x.type) {
        case Type::Tuple:
            x.b = m_doc.m_items.size();
            remapped(c.items);
            m_doc.m_items.insert(m_doc.m_items.end(), c.items.begin(), c.items.end());
            break;
        case Type::List:
        case Type::Dict:
        case Type::Set:
            x.a = newSpan(c.items);
            break;
        case Type::Object: {
            const Ref state =
                c.slots.state == Document::noState() ? c.slots.state : map(c.slots.state);
            x.a = uint32_t(m_doc.m_objects.size());
            m_doc.m_objects.push_back({map(c.slots.callable), map(c.slots.args), state});
            x.b = c.hasAdded ? uint64_t(newSpan(c.added)) + 1 : 0;
            break;
        }
        case Type::PersistentId:
            x.b = map(Ref(x.b));
            break;
        case Type::Global:
            if (x.kind) x.b = uint64_t(map(Ref(x.b >> 32))) << 32 | map(Ref(x.b & 0xFFFFFFFFu));
            break;
        default:
            break;
        }
        m_doc.m_values.push_back(x);
    }
}

// --- Document ---------------------------------------------------------------------------------

Document Document::load(std::string_view data, const Limits& limits, Harvester* harvester) {
    Document doc;
    doc.m_data = data;
    Machine(doc, limits, harvester).run();
    return doc;
}

void Document::outOfRange(Ref v, const char* accessor) const {
    throw PickleError(false, 0,
                      std::string(accessor) + ": no pickle value " + std::to_string(v) +
                          " (the document has " + std::to_string(m_values.size()) + ")");
}

void Document::wrongType(Ref v, Type t, const char* accessor) const {
    throw PickleError(false, 0,
                      std::string(accessor) + ": pickle value " + std::to_string(v) + " is " +
                          typeName(m_values[v].type) + ", not " + typeName(t));
}

bool Document::boolean(Ref v) const {
    return expect(v, Type::Bool, "boolean()").b != 0;
}

double Document::real(Ref v) const {
    return std::bit_cast<double>(expect(v, Type::Float, "real()").b);
}

std::string_view Document::text(Ref v) const {
    const Value& x = at(v, "text()");
    if (x.type != Type::Str && x.type != Type::Bytes && x.type != Type::BigInt)
        expect(v, Type::Str, "text()");
    if (x.b & kOwned) return {m_owned.data() + (x.b & ~kOwned), x.a};
    return {m_data.data() + x.b, x.a};
}

std::string_view Document::module(Ref v) const {
    const Value& x = expect(v, Type::Global, "module()");
    return x.kind ? text(Ref(x.b >> 32)) : m_globals[x.a].module;
}

std::string_view Document::name(Ref v) const {
    const Value& x = expect(v, Type::Global, "name()");
    return x.kind ? text(Ref(x.b & 0xFFFFFFFFu)) : m_globals[x.a].name;
}

std::span<const Ref> Document::items(Ref v) const {
    const Value& x = at(v, "items()");
    switch (x.type) {
    case Type::Tuple:
        return {m_items.data() + x.b, x.a};
    case Type::List:
    case Type::Dict:
    case Type::Set:
        return spanItems(x.a);
    case Type::Object:
        return x.b ? spanItems(uint32_t(x.b - 1)) : std::span<const Ref>();
    default:
        expect(v, Type::List, "items()");
    }
    return {};
}

Ref Document::callable(Ref v) const {
    return m_objects[expect(v, Type::Object, "callable()").a].callable;
}

Ref Document::args(Ref v) const {
    return m_objects[expect(v, Type::Object, "args()").a].args;
}

Ref Document::state(Ref v) const {
    return m_objects[expect(v, Type::Object, "state()").a].state;
}

ObjectKind Document::objectKind(Ref v) const {
    return ObjectKind(expect(v, Type::Object, "objectKind()").kind);
}

Ref Document::persistentId(Ref v) const {
    return Ref(expect(v, Type::PersistentId, "persistentId()").b);
}

bool Document::isGlobal(Ref v, std::string_view name) const {
    return v < m_values.size() && m_values[v].type == Type::Global && this->name(v) == name;
}

std::string_view Document::className(Ref v) const {
    if (v >= m_values.size() || m_values[v].type != Type::Object) return {};
    const Ref c = m_objects[m_values[v].a].callable;
    if (c >= m_values.size() || m_values[c].type != Type::Global) return {};
    return name(c);
}

Ref Document::get(Ref dict, std::string_view key) const {
    if (dict >= m_values.size() || m_values[dict].type != Type::Dict) return noState();
    const std::span<const Ref> kv = spanItems(m_values[dict].a);
    for (size_t i = kv.size() / 2; i-- > 0;) {
        const Ref k = kv[2 * i];
        if (m_values[k].type == Type::Str && text(k) == key) return kv[2 * i + 1];
    }
    return noState();
}

size_t Document::valueCount() const {
    return m_values.size();
}

} // namespace shardscope::pickle
