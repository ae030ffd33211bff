// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2026 The ShardScope authors

#include "torch_archive.h"

#include "pickle_writer.h"

#include <stdexcept>
#include <zlib.h>

namespace shardscope::bench {
namespace {

constexpr uint64_t kAlignment = 64; // torch.save's storage alignment
constexpr uint16_t kFlags = 0x0808; // data descriptor + UTF-8 names, as miniz writes them
constexpr uint32_t kLocalSig = 0x04034b50, kDescriptorSig = 0x08074b50;
constexpr uint32_t kCentralSig = 0x02014b50, kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50, kEndSig = 0x06054b50;

void saveTuple(PickleWriter& w, const std::vector<uint64_t>& v) {
    if (v.empty()) {
        w.op(')'); // EMPTY_TUPLE, never memoized
        return;
    }
    if (v.size() > 3) w.op('(');
    for (uint64_t d : v)
        w.integer(int64_t(d));
    w.op(v.size() > 3 ? 't' : char(0x84 + v.size())); // TUPLE or TUPLE1..3
    w.memoize();
}

void put16(std::string& out, uint64_t v) {
    out += char(v & 0xFF);
    out += char((v >> 8) & 0xFF);
}
void put32(std::string& out, uint64_t v) {
    put16(out, v);
    put16(out, v >> 16);
}
void put64(std::string& out, uint64_t v) {
    put32(out, v);
    put32(out, v >> 32);
}

uint32_t crcOf(std::string_view bytes) {
    return uint32_t(crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(bytes.data()),
                          uInt(bytes.size())));
}

// Appends entries to `*out`, counting archive-relative offsets across data written elsewhere.
class ZipBuilder {
public:
    explicit ZipBuilder(std::string* out) : m_out(out) {}
    void target(std::string* out) { m_out = out; }

    void entry(const std::string& name, std::string_view data) {
        localHeader(name);
        append(data);
        descriptor(crcOf(data), data.size());
    }
    void localHeader(const std::string& name);
    void skipData(uint64_t bytes) { m_cursor += bytes; }
    void descriptor(uint32_t crc, uint64_t size);
    void finish();

private:
    struct Central {
        std::string name;
        uint64_t offset = 0, size = 0;
        uint32_t crc = 0;
    };
    void append(std::string_view bytes) {
        *m_out += bytes;
        m_cursor += bytes.size();
    }

    std::string* m_out;
    uint64_t m_cursor = 0;
    std::vector<Central> m_central;
};

void ZipBuilder::localHeader(const std::string& name) {
    // PyTorch's getPadding: the "FB" extra field pads the data start to 64 bytes.
    const uint64_t start = m_cursor + 30 + name.size() + 4;
    const uint64_t padding = (kAlignment - start % kAlignment) % kAlignment;
    m_central.push_back({name, m_cursor, 0, 0});
    std::string h;
    put32(h, kLocalSig);
    put16(h, 0); // version needed: miniz writes 0 for stored entries
    put16(h, kFlags);
    put16(h, 0); // method: stored
    put32(h, 0); // DOS time and date
    put32(h, 0); // crc: in the descriptor and central directory only
    put64(h, 0); // compressed and uncompressed sizes, likewise
    put16(h, name.size());
    put16(h, 4 + padding);
    h += name;
    h += "FB";
    put16(h, padding);
    h.append(padding, 'Z'); // PyTorch pads with 'Z'
    append(h);
}

void ZipBuilder::descriptor(uint32_t crc, uint64_t size) {
    if (size >= 0xFFFFFFFFull || m_cursor >= 0xFFFFFFFFull)
        throw std::length_error("torch archive: ZIP64 entries are not written by this benchmark");
    m_central.back().crc = crc;
    m_central.back().size = size;
    std::string d;
    put32(d, kDescriptorSig);
    put32(d, crc);
    put32(d, size);
    put32(d, size);
    append(d);
}

void ZipBuilder::finish() {
    const uint64_t centralOffset = m_cursor;
    std::string c;
    for (const Central& e : m_central) {
        put32(c, kCentralSig);
        put16(c, 0); // version made by
        put16(c, 0); // version needed
        put16(c, kFlags);
        put16(c, 0); // method
        put32(c, 0); // time and date
        put32(c, e.crc);
        put32(c, e.size);
        put32(c, e.size);
        put16(c, e.name.size());
        put16(c, 0); // extra: the padding lives in the local header only
        put16(c, 0); // comment
        put16(c, 0); // disk
        put16(c, 0); // internal attributes
        put32(c, 0); // external attributes
        put32(c, e.offset);
        c += e.name;
    }
    const uint64_t centralSize = c.size();
    const uint64_t zip64EndOffset = centralOffset + centralSize;
    // PyTorch opens its writer with MZ_ZIP_FLAG_WRITE_ZIP64: the ZIP64 records are always there.
    put32(c, kZip64EndSig);
    put64(c, 44); // size of the rest of the record
    put16(c, 0x031E);
    put16(c, 0x002D);
    put32(c, 0);
    put32(c, 0);
    put64(c, m_central.size());
    put64(c, m_central.size());
    put64(c, centralSize);
    put64(c, centralOffset);
    put32(c, kZip64LocatorSig);
    put32(c, 0);
    put64(c, zip64EndOffset);
    put32(c, 1); // total disks
    put32(c, kEndSig);
    put16(c, 0);
    put16(c, 0);
    put16(c, m_central.size());
    put16(c, m_central.size());
    put32(c, centralSize);
    put32(c, centralOffset);
    put16(c, 0); // comment length
    append(c);
}

} // namespace

std::string tensorDataPkl(std::string_view storageClass, uint64_t storageNumel,
                          const std::vector<uint64_t>& size, const std::vector<uint64_t>& stride) {
    PickleWriter w(2);
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.op('('); // the six arguments
    w.op('('); // the persistent id ('storage', class, key, location, numel)
    w.str("storage");
    w.global("torch", storageClass);
    w.str("0");
    w.str("cpu");
    w.integer(int64_t(storageNumel));
    w.op('t');
    w.memoize();
    w.op('Q'); // BINPERSID
    w.integer(0);
    saveTuple(w, size);
    saveTuple(w, stride);
    w.op(char(0x89)); // NEWFALSE: requires_grad
    w.global("collections", "OrderedDict");
    w.op(')');
    w.op('R');
    w.memoize();
    w.op('t');
    w.memoize();
    w.op('R');
    w.memoize();
    return w.finish();
}

TorchArchive torchArchive(std::string_view dataPkl, uint64_t dataBytes, uint32_t dataCrc) {
    TorchArchive a;
    a.dataBytes = dataBytes;
    // torch.save's order: data.pkl, the 2.x markers, the storages, then version at close.
    ZipBuilder zip(&a.head);
    zip.entry("archive/data.pkl", dataPkl);
    zip.entry("archive/.format_version", "1");
    zip.entry("archive/.storage_alignment", "64");
    zip.entry("archive/byteorder", "little");
    zip.localHeader("archive/data/0");
    zip.skipData(dataBytes);
    zip.target(&a.tail);
    zip.descriptor(dataCrc, dataBytes);
    zip.entry("archive/version", "3\n");
    zip.finish();
    return a;
}

} // namespace shardscope::bench
