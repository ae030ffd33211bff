#include "safetensors_reader.h"

#include "error.h"
#include "json_skip.h"
#include "posix_file.h"

#include <algorithm>
#include <unordered_set>

namespace shardscope {

bool isValidUtf8(std::string_view text) {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
        else return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

namespace {

// Walks the header once, validating shape while it goes, without a DOM.
class HeaderSax final : public StrictSax {
public:
    std::vector<TensorEntry> tensors;
    std::map<std::string, std::string> metadata;
    bool hasMetadata = false;

    bool null() override { return scalar("null"); }
    bool boolean(bool) override { return scalar("a boolean"); }
    bool number_float(double, const string_t&) override { return scalar("a fraction"); }
    bool number_integer(number_integer_t v) override {
        if (skipping(0)) return true;
        if (m_state == State::Shape || m_state == State::Offsets)
            return fail(where() + std::string(fieldName()) + " holds a negative number (" +
                        std::to_string(v) + ")");
        return scalar("a number");
    }
    bool number_unsigned(number_unsigned_t v) override {
        if (skipping(0)) return true;
        if (m_state == State::Shape) {
            m_entry.shape.push_back(v);
            return true;
        }
        if (m_state == State::Offsets) {
            m_offsets.push_back(v);
            return true;
        }
        return scalar("a number");
    }
    bool string(string_t& v) override {
        if (skipping(0)) return true;
        if (m_state == State::Meta && m_expect == Expect::MetaValue) {
            metadata[m_metaKey] = std::move(v);
            m_expect = Expect::None;
            return true;
        }
        if (m_state == State::Entry && m_expect == Expect::DType) {
            auto type = parseDType(v);
            if (!type) return fail(where() + "unknown dtype \"" + v + "\"");
            m_entry.dtype = *type;
            m_haveDtype = true;
            m_expect = Expect::None;
            return true;
        }
        return scalar("a string");
    }
    bool start_object(std::size_t) override {
        if (skipping(1)) return true;
        switch (m_state) {
        case State::Start:
            m_state = State::Top;
            return true;
        case State::Top:
            if (m_expect == Expect::MetaObject) {
                m_state = State::Meta;
                hasMetadata = true;
            } else {
                m_state = State::Entry;
                m_entry = TensorEntry{};
                m_entry.name = m_key;
                m_offsets.clear();
                m_haveDtype = m_haveShape = m_haveOffsets = false;
                m_entryKeys.clear();
            }
            m_expect = Expect::None;
            return true;
        default:
            return scalar("an object");
        }
    }
    bool end_object() override {
        if (skipping(-1)) return true;
        switch (m_state) {
        case State::Meta:
            m_state = State::Top;
            return true;
        case State::Entry:
            m_state = State::Top;
            return finishEntry();
        case State::Top:
            m_state = State::Done;
            return true;
        default:
            return fail("unexpected end of object");
        }
    }
    bool start_array(std::size_t) override {
        if (skipping(1)) return true;
        if (m_state == State::Entry && m_expect == Expect::Shape) {
            m_state = State::Shape;
            m_entry.shape.clear();
            return true;
        }
        if (m_state == State::Entry && m_expect == Expect::Offsets) {
            m_state = State::Offsets;
            return true;
        }
        return scalar("an array");
    }
    bool end_array() override {
        if (skipping(-1)) return true;
        if (m_state == State::Shape) {
            m_haveShape = true;
        } else if (m_state == State::Offsets) {
            if (m_offsets.size() != 2)
                return fail(where() + "data_offsets must hold exactly 2 numbers, found " +
                            std::to_string(m_offsets.size()));
            m_haveOffsets = true;
        } else {
            return fail("unexpected end of array");
        }
        m_state = State::Entry;
        m_expect = Expect::None;
        return true;
    }
    bool key(string_t& k) override {
        if (skipping(0)) return true;
        switch (m_state) {
        case State::Top:
            if (!m_names.insert(k).second) return fail("duplicate tensor name \"" + k + "\"");
            m_key = k;
            m_expect = k == "__metadata__" ? Expect::MetaObject : Expect::EntryObject;
            return true;
        case State::Meta:
            m_metaKey = k;
            m_expect = Expect::MetaValue;
            return true;
        case State::Entry:
            if (!m_entryKeys.insert(k).second)
                return fail(where() + "duplicate key \"" + k + "\"");
            if (k == "dtype") m_expect = Expect::DType;
            else if (k == "shape") m_expect = Expect::Shape;
            else if (k == "data_offsets") m_expect = Expect::Offsets;
            else beginSkip(); // unknown keys are tolerated, as the reference loader does
            return true;
        default:
            return fail("unexpected key \"" + k + "\"");
        }
    }

private:
    enum class State { Start, Top, Meta, Entry, Shape, Offsets, Done };
    enum class Expect { None, MetaObject, EntryObject, MetaValue, DType, Shape, Offsets };

    std::string where() const { return "tensor '" + m_key + "': "; }
    const char* fieldName() const { return m_state == State::Shape ? "shape" : "data_offsets"; }

    // Any value that is not what the current position allows.
    bool scalar(const char* what) {
        if (skipping(0)) return true;
        switch (m_state) {
        case State::Start:
            return fail(std::string("header is not a JSON object (it starts with ") + what + ")");
        case State::Top:
            if (m_expect == Expect::MetaObject)
                return fail("__metadata__ must be an object of strings, found " +
                            std::string(what));
            return fail(where() + "entry must be an object, found " + what);
        case State::Meta:
            return fail("__metadata__ must map strings to strings; \"" + m_metaKey + "\" holds " +
                        what);
        case State::Entry:
            if (m_expect == Expect::DType) return fail(where() + "dtype must be a string");
            if (m_expect == Expect::Shape) return fail(where() + "shape must be an array");
            if (m_expect == Expect::Offsets)
                return fail(where() + "data_offsets must be an array");
            return fail(where() + "unexpected " + what);
        case State::Shape:
        case State::Offsets:
            return fail(where() + fieldName() + " must hold non-negative integers, found " + what);
        default:
            return fail(std::string("unexpected ") + what);
        }
    }

    bool finishEntry() {
        if (!m_haveDtype) return fail(where() + "missing \"dtype\"");
        if (!m_haveShape) return fail(where() + "missing \"shape\"");
        if (!m_haveOffsets) return fail(where() + "missing \"data_offsets\"");
        m_entry.begin = m_offsets[0];
        m_entry.end = m_offsets[1];
        tensors.push_back(std::move(m_entry));
        return true;
    }

    State m_state = State::Start;
    Expect m_expect = Expect::None;
    std::string m_key, m_metaKey;
    TensorEntry m_entry;
    std::vector<uint64_t> m_offsets;
    bool m_haveDtype = false, m_haveShape = false, m_haveOffsets = false;
    std::unordered_set<std::string> m_names;
    std::unordered_set<std::string> m_entryKeys;
};

} // namespace

SafetensorsHeader parseSafetensorsHeader(std::string_view json, uint64_t fileSize,
                                         const std::string& path) {
    if (!isValidUtf8(json)) throw Error(path, "", "header is not valid UTF-8");
    // The reference loader insists on '{' first; padding may only trail.
    if (json.empty() || json.front() != '{')
        throw Error(path, "", "header is not a JSON object (it must start with '{')");
    HeaderSax sax;
    bool ok = nlohmann::json::sax_parse(json.begin(), json.end(), &sax,
                                        nlohmann::json::input_format_t::json, true, false);
    if (!ok || !sax.error().empty())
        throw Error(path, "", "header " + (sax.error().empty() ? "is not valid JSON" : sax.error()));

    SafetensorsHeader h;
    h.path = path;
    h.fileSize = fileSize;
    h.headerSize = json.size();
    h.tensors = std::move(sax.tensors);
    h.metadata = std::move(sax.metadata);
    h.hasMetadata = sax.hasMetadata;

    const uint64_t dataSize = h.dataSize();
    for (const auto& t : h.tensors) {
        if (t.begin > t.end)
            throw Error(path, t.name,
                        "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                            "] end before they begin");
        if (t.end > dataSize)
            throw Error(path, t.name,
                        "data_offsets end at " + std::to_string(t.end) +
                            ", past the end of the data section (" + std::to_string(dataSize) +
                            " bytes)");
        auto numel = checkedNumel(t.shape);
        if (!numel) throw Error(path, t.name, "shape " + formatShape(t.shape) + " overflows");
        auto bytes = checkedBytes(*numel, dtypeBits(t.dtype));
        if (!bytes)
            throw Error(path, t.name,
                        std::to_string(*numel) + " elements of " + std::string(dtypeName(t.dtype)) +
                            " are not a whole number of bytes");
        if (t.end - t.begin != *bytes)
            throw Error(path, t.name,
                        "data_offsets span " + std::to_string(t.end - t.begin) +
                            " bytes but shape " + formatShape(t.shape) + " of " +
                            std::string(dtypeName(t.dtype)) + " needs " + std::to_string(*bytes));
    }

    // The data section must be tiled exactly: no overlap, no hole, nothing after the last tensor.
    std::vector<const TensorEntry*> order;
    order.reserve(h.tensors.size());
    for (const auto& t : h.tensors) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](const TensorEntry* a, const TensorEntry* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    uint64_t expected = 0;
    const TensorEntry* previous = nullptr;
    for (const auto* t : order) {
        if (t->begin < expected)
            throw Error(path, t->name,
                        "data_offsets [" + std::to_string(t->begin) + ", " +
                            std::to_string(t->end) + ") overlap tensor '" + previous->name + "'");
        if (t->begin > expected)
            throw Error(path, t->name,
                        "hole in the data section: bytes " + std::to_string(expected) + ".." +
                            std::to_string(t->begin) + " belong to no tensor");
        expected = t->end;
        previous = t;
    }
    if (expected != dataSize)
        throw Error(path, "",
                    std::to_string(dataSize - expected) +
                        " trailing bytes after the last tensor (data ends at " +
                        std::to_string(expected) + " of " + std::to_string(dataSize) + ")");
    return h;
}

SafetensorsHeader readSafetensorsHeader(const std::filesystem::path& path) {
    const std::string name = path.string();
    PosixFile file = PosixFile::openRead(path);
    const uint64_t size = file.size();
    if (size < 8)
        throw Error(name, "",
                    "file is " + std::to_string(size) +
                        " bytes, shorter than the 8-byte header length");
    unsigned char lenBytes[8];
    file.readExact(lenBytes, 8, 0);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | lenBytes[i];
    if (n > kMaxHeaderSize)
        throw Error(name, "",
                    "header length " + std::to_string(n) + " exceeds the limit of " +
                        std::to_string(kMaxHeaderSize) + " bytes");
    if (n > size - 8)
        throw Error(name, "",
                    "header length " + std::to_string(n) + " runs past the end of the file (" +
                        std::to_string(size) + " bytes)");
    std::string json(n, '\0');
    file.readExact(json.data(), n, 8);
    return parseSafetensorsHeader(json, size, name);
}

} // namespace shardscope
