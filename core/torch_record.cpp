// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "torch_record.h"

#include "error.h"
#include "pickle.h"
#include "torch_names.h"

namespace shardscope {
namespace {

using pickle::Document;
using pickle::Ref;
using pickle::Type;

class RecordReader {
public:
    RecordReader(const Document& doc, const std::string& file, const std::string& fqn)
        : m_doc(doc), m_file(file), m_fqn(fqn) {}

    TensorRecord read(Ref root) {
        const std::string_view fn = m_doc.className(root);
        if (m_doc.type(root) != Type::Object ||
            (fn != "_rebuild_tensor_v2" && fn != "_rebuild_tensor_v3"))
            fail("data.pkl does not rebuild a tensor (expected torch._utils._rebuild_tensor_v2, "
                 "found " +
                 describe(root) + ")");
        const auto args = tuple(m_doc.args(root), "the arguments of " + std::string(fn));
        const bool v3 = fn == "_rebuild_tensor_v3";
        if (args.size() < 6 || args.size() > (v3 ? 8u : 7u))
            fail(std::string(fn) + " has " + std::to_string(args.size()) +
                 " arguments; expected 6 or 7");
        TensorRecord r;
        readStorage(args[0], r);
        r.storageOffset = count(args[1], "the storage offset");
        r.size = shape(args[2], "the size");
        r.stride = shape(args[3], "the stride");
        if (r.size.size() != r.stride.size())
            fail("size " + formatShape(r.size) + " and stride " + formatShape(r.stride) +
                 " have different ranks");
        if (v3) { // the dtype is an argument; an untyped storage counts bytes
            const auto dtype = m_doc.type(args[6]) == Type::Global
                                   ? dtypeFromTorchName(m_doc.name(args[6]))
                                   : std::nullopt;
            if (!dtype) fail("_rebuild_tensor_v3 names an unsupported dtype " + describe(args[6]));
            if (r.storageClass == "UntypedStorage") {
                const unsigned bits = dtypeBits(*dtype);
                if (bits % 8 || r.storageNumel % (bits / 8))
                    fail("an untyped storage of " + std::to_string(r.storageNumel) +
                         " bytes is not a whole number of " + std::string(dtypeName(*dtype)));
                r.storageNumel /= bits / 8;
            } else if (r.dtype != *dtype) {
                mismatch("storage " + r.storageClass + " holds " + std::string(dtypeName(r.dtype)) +
                         " but _rebuild_tensor_v3 says " + std::string(dtypeName(*dtype)));
            }
            r.dtype = *dtype;
        }
        return r;
    }

private:
    void readStorage(Ref v, TensorRecord& r) {
        if (m_doc.type(v) != Type::PersistentId)
            fail("the first argument is " + describe(v) + ", not a persistent storage reference");
        const auto pid = tuple(m_doc.persistentId(v), "the storage reference");
        if (pid.size() != 5 || m_doc.type(pid[0]) != Type::Str || m_doc.text(pid[0]) != "storage")
            fail("the storage reference is not ('storage', class, key, location, numel)");
        if (m_doc.type(pid[1]) != Type::Global) fail("the storage class is " + describe(pid[1]));
        r.storageClass = std::string(m_doc.name(pid[1]));
        if (r.storageClass != "UntypedStorage") {
            const auto dtype = dtypeFromStorageClass(r.storageClass);
            if (!dtype) mismatch("unsupported storage class torch." + r.storageClass);
            r.dtype = *dtype;
        }
        if (m_doc.type(pid[2]) != Type::Str) fail("the storage key is " + describe(pid[2]));
        r.key = std::string(m_doc.text(pid[2]));
        r.storageNumel = count(pid[4], "the storage size");
    }

    std::span<const Ref> tuple(Ref v, const std::string& what) {
        if (m_doc.type(v) != Type::Tuple) fail(what + " is " + describe(v) + ", not a tuple");
        return m_doc.items(v);
    }

    uint64_t count(Ref v, const std::string& what) {
        if (m_doc.type(v) != Type::Int || m_doc.integer(v) < 0)
            fail(what + " is " + describe(v) + ", not a non-negative integer");
        return uint64_t(m_doc.integer(v));
    }

    Shape shape(Ref v, const std::string& what) {
        Shape out;
        for (Ref item : tuple(v, what))
            out.push_back(count(item, "an entry of " + what));
        return out;
    }

    std::string describe(Ref v) const {
        switch (m_doc.type(v)) {
        case Type::Global:
            return std::string(m_doc.module(v)) + "." + std::string(m_doc.name(v));
        case Type::Object:
            return "a call of " + std::string(m_doc.className(v));
        case Type::Int:
            return std::to_string(m_doc.integer(v));
        case Type::Str:
            return "'" + std::string(m_doc.text(v).substr(0, 40)) + "'";
        default:
            return "a value of another type";
        }
    }

    [[noreturn]] void fail(const std::string& message) const {
        throw Error(ErrorKind::StorageMismatch, m_file, m_fqn, message);
    }
    [[noreturn]] void mismatch(const std::string& message) const { fail(message); }

    const Document& m_doc;
    const std::string& m_file;
    const std::string& m_fqn;
};

} // namespace

TensorRecord parseTensorRecord(std::string_view bytes, const std::string& file,
                               const std::string& fqn) {
    pickle::Limits limits; // a tensor record is a few hundred bytes
    limits.maxValues = 100'000;
    limits.maxMemo = 10'000;
    try {
        const Document doc = Document::load(bytes, limits);
        return RecordReader(doc, file, fqn).read(doc.root());
    } catch (const pickle::PickleError& e) {
        throw Error(e.limit() ? ErrorKind::PickleLimit : ErrorKind::PickleInvalid, file, fqn,
                    std::string("data.pkl: ") + e.what());
    }
}

TensorRecord readTensorRecord(const pickle::Document& doc, pickle::Ref v, const std::string& file,
                              const std::string& fqn) {
    try {
        return RecordReader(doc, file, fqn).read(v);
    } catch (const pickle::PickleError& e) { // an accessor met a value of another type
        throw Error(ErrorKind::PickleInvalid, file, fqn, std::string("data.pkl: ") + e.what());
    }
}

std::optional<uint64_t> stridedExtent(const Shape& size, const Shape& stride, uint64_t offset) {
    uint64_t last = offset;
    for (size_t d = 0; d < size.size(); ++d) {
        if (size[d] == 0) return 0;
        uint64_t reach;
        if (__builtin_mul_overflow(size[d] - 1, stride[d], &reach) ||
            __builtin_add_overflow(last, reach, &last))
            return std::nullopt;
    }
    uint64_t extent;
    if (__builtin_add_overflow(last, 1, &extent)) return std::nullopt;
    return extent;
}

bool isRowMajor(const Shape& size, const Shape& stride) {
    uint64_t expected = 1;
    for (size_t d = size.size(); d-- > 0;) {
        if (size[d] == 0) return true; // nothing is stored
        if (size[d] != 1 && stride[d] != expected) return false;
        expected *= size[d];
    }
    return true;
}

} // namespace shardscope
