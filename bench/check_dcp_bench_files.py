#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Checks a DCP folder written by shardscope-bench (W1d, W2d, DCPMETA) without torch.

Run by hand after changing bench/dcp_writer.cpp, bench/torch_archive.cpp or
bench/pickle_writer.cpp; not part of ctest (it needs the generated workloads, GiBs).

  bench/check_dcp_bench_files.py build/bench-cache/W1d [--same-bytes-as build/bench-cache/W1]

- .metadata is loaded with an Unpickler whose find_class hands out stand-in classes (no torch),
  then pickled again by CPython's own pickler (protocol 4): the bytes must come out identical,
  FRAMEs and memo included, so the writer emits what `pickle.dump(metadata, f)` would.
- The loaded Metadata is checked: properties, sizes, chunks tiling each tensor exactly once,
  storage_data naming every chunk (fqn, offset, index), planner_data, version.
- Every storage range is sliced out of its .distcp (the ranges must tile each file) and read as a
  zip by hand and by zipfile: flags 0x0808, zero crc/sizes in local headers, "FB" padding putting
  every entry's data on 64 bytes from the archive start, data descriptors, central directory,
  ZIP64 end record + locator + EOCD, entry names, order and contents, CRCs.
- data.pkl must equal, byte for byte, what CPython pickles (protocol 2) for a stand-in tensor
  graph built from the metadata: _rebuild_tensor_v2(storage pid, 0, size, stride, False,
  OrderedDict()).
- With --same-bytes-as, each chunk's bytes must equal those of the same chunk in the safetensors
  workload (W1 or W2), which the bench generates with the same seeds.
- Sparse data files (DCPMETA) are only checked for their sizes and the ranges' lengths.
"""

import argparse
import collections
import enum
import io
import json
import math
import mmap
import os
import pickle
import struct
import sys
import types
import zipfile
import zlib

# ---- stand-ins for the torch classes the pickles name ---------------------------------------

TORCH = "torch"
META = "torch.distributed.checkpoint.metadata"
FILESYSTEM = "torch.distributed.checkpoint.filesystem"
SERIALIZATION = "torch.serialization"
UTILS = "torch._utils"


def _module(name):
    if name not in sys.modules:
        sys.modules[name] = types.ModuleType(name)
    return sys.modules[name]


for _name in ("torch", "torch.distributed", "torch.distributed.checkpoint", META, FILESYSTEM,
              SERIALIZATION, UTILS):
    _module(_name)


class Size(tuple):
    __module__ = TORCH

    def __reduce__(self):
        return (Size, (tuple(self),))


class DType:
    __module__ = TORCH

    def __init__(self, name, storage, itemsize):
        self.name, self.storage, self.itemsize = name, storage, itemsize

    def __reduce__(self):  # torch.dtype pickles as its global name
        return self.name

    def __repr__(self):
        return "torch." + self.name


class Layout:
    def __reduce__(self):  # torch.serialization registers this with copyreg
        return (_get_layout, ("torch.strided",))


STRIDED = Layout()


def _get_layout(name):
    assert name == "torch.strided", name
    return STRIDED


_get_layout.__module__ = SERIALIZATION


class _MEM_FORMAT_ENCODING(enum.Enum):
    __module__ = META
    TORCH_CONTIGUOUS_FORMAT = 0
    TORCH_CHANNELS_LAST = 1
    TORCH_PRESERVE_FORMAT = 2

    # By name, as Enum does in Debian's 3.11.2 and in 3.12+ (3.11.7 pickles by value): the form
    # the bench writes. A reader must accept both.
    def __reduce_ex__(self, protocol):
        return getattr, (self.__class__, self._name_)


class TensorProperties:
    __module__ = META

    def __getstate__(self):
        return (self.dtype, self.layout, self.requires_grad, self.memory_format, self.pin_memory)

    def __setstate__(self, state):
        (self.dtype, self.layout, self.requires_grad, self.memory_format,
         self.pin_memory) = state


def _dataclass(module, name):
    return type(name, (), {"__module__": module})


Metadata = _dataclass(META, "Metadata")
TensorStorageMetadata = _dataclass(META, "TensorStorageMetadata")
ChunkStorageMetadata = _dataclass(META, "ChunkStorageMetadata")
BytesStorageMetadata = _dataclass(META, "BytesStorageMetadata")
MetadataIndex = _dataclass(META, "MetadataIndex")
_StorageInfo = _dataclass(FILESYSTEM, "_StorageInfo")

DTYPES = {
    "bfloat16": DType("bfloat16", "BFloat16Storage", 2),
    "float16": DType("float16", "HalfStorage", 2),
    "float32": DType("float32", "FloatStorage", 4),
    "float64": DType("float64", "DoubleStorage", 8),
    "int64": DType("int64", "LongStorage", 8),
    "int32": DType("int32", "IntStorage", 4),
    "int8": DType("int8", "CharStorage", 1),
    "uint8": DType("uint8", "ByteStorage", 1),
    "bool": DType("bool", "BoolStorage", 1),
}


def _storage_class(name):
    return type(name, (), {"__module__": TORCH})


STORAGES = {d.storage: _storage_class(d.storage) for d in DTYPES.values()}


class Storage:
    """What data.pkl's persistent id names: ('storage', class, key, location, numel)."""

    def __init__(self, pid):
        self.pid = pid


class Tensor:
    def __init__(self, storage, storage_offset, size, stride, requires_grad, hooks):
        self.storage, self.storage_offset = storage, storage_offset
        self.size, self.stride = size, stride
        self.requires_grad, self.hooks = requires_grad, hooks

    def __reduce_ex__(self, protocol):
        return (_rebuild_tensor_v2, (self.storage, self.storage_offset, self.size, self.stride,
                                     self.requires_grad, self.hooks))


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks,
                       metadata=None):
    assert metadata is None, "no 7th argument expected"
    return Tensor(storage, storage_offset, size, stride, requires_grad, hooks)


_rebuild_tensor_v2.__module__ = UTILS

CLASSES = {
    (TORCH, "Size"): Size,
    (SERIALIZATION, "_get_layout"): _get_layout,
    ("builtins", "getattr"): getattr,
    (UTILS, "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("collections", "OrderedDict"): collections.OrderedDict,
    (META, "_MEM_FORMAT_ENCODING"): _MEM_FORMAT_ENCODING,
    (META, "TensorProperties"): TensorProperties,
    **{(META, c.__name__): c for c in (Metadata, TensorStorageMetadata, ChunkStorageMetadata,
                                        BytesStorageMetadata, MetadataIndex)},
    (FILESYSTEM, "_StorageInfo"): _StorageInfo,
    **{(TORCH, name): d for name, d in DTYPES.items()},
    **{(TORCH, name): c for name, c in STORAGES.items()},
}
for (_mod, _name), _obj in CLASSES.items():  # CPython's pickler looks globals up by module
    if _mod != "builtins" and _mod != "collections":
        setattr(sys.modules[_mod], _name, _obj)


class StandInUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return CLASSES[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name}") from None

    def persistent_load(self, pid):
        return Storage(pid)


class TorchSavePickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, Storage) else None


# ---- checks -----------------------------------------------------------------------------------

class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def load_metadata(path):
    data = open(path, "rb").read()
    metadata = StandInUnpickler(io.BytesIO(data)).load()
    again = pickle.dumps(metadata, protocol=4)
    if again != data:
        at = next((i for i, (a, b) in enumerate(zip(data, again)) if a != b),
                  min(len(data), len(again)))
        raise Failure(f".metadata differs from CPython's pickle of the same objects at byte {at} "
                      f"(sizes {len(data)} vs {len(again)}): {data[at - 16:at + 16]!r} vs "
                      f"{again[at - 16:at + 16]!r}")
    return metadata, len(data)


def contiguous_stride(size):
    stride, step = [], 1
    for d in reversed(size):
        stride.append(step)
        step *= max(d, 1)
    return tuple(reversed(stride))


def check_tiling(fqn, size, chunks):
    check(sum(math.prod(c.sizes) for c in chunks) == math.prod(size),
          f"{fqn}: chunk volumes do not add up to the tensor")
    for c in chunks:
        check(len(c.offsets) == len(size) and len(c.sizes) == len(size), f"{fqn}: chunk rank")
        check(all(o + s <= d for o, s, d in zip(c.offsets, c.sizes, size)),
              f"{fqn}: chunk {tuple(c.offsets)} runs outside {tuple(size)}")
    boxes = sorted((tuple(c.offsets), tuple(c.sizes)) for c in chunks)
    for i, (oa, sa) in enumerate(boxes):  # equal volumes + no overlap = exact tiling
        for ob, sb in boxes[i + 1:]:
            if ob[0] >= oa[0] + sa[0]:
                break
            overlap = all(a < b + t and b < a + s for a, s, b, t in zip(oa, sa, ob, sb))
            check(not overlap, f"{fqn}: chunks {oa} and {ob} overlap")


def check_metadata(md, folder):
    check(type(md) is Metadata, "the pickle is not a Metadata")
    state = md.__dict__
    check(list(state) == ["state_dict_metadata", "planner_data", "storage_data", "storage_meta",
                          "version"], f"Metadata fields {list(state)}")
    check(md.storage_meta is None and md.version == "2.0.0", "storage_meta / version")
    sdm = md.state_dict_metadata
    check(md.planner_data == {fqn: (fqn,) for fqn in sdm}, "planner_data is not {fqn: (fqn,)}")
    chunk_count = 0
    for fqn, t in sdm.items():
        check(type(t) is TensorStorageMetadata, f"{fqn}: not a TensorStorageMetadata")
        check(list(t.__dict__) == ["properties", "size", "chunks"], f"{fqn}: fields")
        p = t.properties
        check(type(p.dtype) is DType and p.layout is STRIDED and p.requires_grad is False
              and p.memory_format is _MEM_FORMAT_ENCODING.TORCH_CONTIGUOUS_FORMAT
              and p.pin_memory is False, f"{fqn}: properties")
        check(type(t.size) is Size, f"{fqn}: size is not a torch.Size")
        for c in t.chunks:
            check(type(c) is ChunkStorageMetadata and list(c.__dict__) == ["offsets", "sizes"]
                  and type(c.offsets) is Size and type(c.sizes) is Size, f"{fqn}: chunk fields")
        check_tiling(fqn, t.size, t.chunks)
        chunk_count += len(t.chunks)
    check(len(md.storage_data) == chunk_count,
          f"{len(md.storage_data)} storage entries for {chunk_count} chunks")
    ranges = collections.defaultdict(list)
    items = []
    for key, info in md.storage_data.items():
        check(type(key) is MetadataIndex and list(key.__dict__) == ["fqn", "index", "offset"],
              "MetadataIndex fields")
        check(type(info) is _StorageInfo and list(info.__dict__) ==
              ["relative_path", "offset", "length"], "_StorageInfo fields")
        t = sdm.get(key.fqn)
        check(t is not None, f"storage entry for unknown tensor {key.fqn}")
        chunk = t.chunks[key.index]
        check(type(key.offset) is Size and key.offset == chunk.offsets,
              f"{key.fqn}: index {key.index} does not name the chunk at {tuple(key.offset)}")
        ranges[info.relative_path].append((info.offset, info.length))
        items.append((key.fqn, t, chunk, info))
    names = sorted(n for n in os.listdir(folder) if n.endswith(".distcp"))
    check(sorted(ranges) == names, f"storage names {sorted(ranges)[:3]}… vs files {names[:3]}…")
    for name, spans in ranges.items():  # back to back, no padding, nothing after
        spans.sort()
        at = 0
        for offset, length in spans:
            check(offset == at, f"{name}: gap or overlap at {at}")
            at += length
        check(at == os.path.getsize(os.path.join(folder, name)), f"{name}: size is not {at}")
    return items, chunk_count


ENTRIES = ["data.pkl", ".format_version", ".storage_alignment", "byteorder", "data/0", "version"]
FIXED = {".format_version": b"1", ".storage_alignment": b"64", "byteorder": b"little",
         "version": b"3\n"}


def expected_data_pkl(t, chunk):
    numel = math.prod(chunk.sizes)
    pid = ("storage", STORAGES[t.properties.dtype.storage], "0", "cpu", numel)
    tensor = Tensor(Storage(pid), 0, tuple(chunk.sizes), contiguous_stride(chunk.sizes), False,
                    collections.OrderedDict())
    out = io.BytesIO()
    TorchSavePickler(out, protocol=2).dump(tensor)
    return out.getvalue()


def archive_length(data_pkl_size, data_size):
    """What PyTorch's writer makes of the six entries, computed independently of the bench."""
    cursor, central = 0, 0
    for entry in ENTRIES:
        name = "archive/" + entry
        size = {"data.pkl": data_pkl_size, "data/0": data_size}.get(entry) or len(FIXED[entry])
        start = cursor + 30 + len(name) + 4
        cursor = start + (-start % 64) + size + 16
        central += 46 + len(name)
    return cursor + central + 56 + 20 + 22


def u16(b, at):
    return struct.unpack_from("<H", b, at)[0]


def u32(b, at):
    return struct.unpack_from("<I", b, at)[0]


def u64(b, at):
    return struct.unpack_from("<Q", b, at)[0]


def check_archive(where, a, data_pkl, data_size):
    """Reads one torch.save archive by hand (the layout PyTorch's miniz writer produces)."""
    n = len(a)
    check(u32(a, n - 22) == 0x06054B50, f"{where}: no EOCD at the end")
    entries, cd_size, cd_offset = u16(a, n - 12), u32(a, n - 10), u32(a, n - 6)
    check(u16(a, n - 14) == entries and u16(a, n - 2) == 0, f"{where}: EOCD counts/comment")
    loc = n - 22 - 20
    check(u32(a, loc) == 0x07064B50 and u32(a, loc + 4) == 0 and u32(a, loc + 16) == 1,
          f"{where}: no ZIP64 locator before the EOCD")
    z64 = u64(a, loc + 8)
    check(z64 == loc - 56 and u32(a, z64) == 0x06064B50 and u64(a, z64 + 4) == 44,
          f"{where}: ZIP64 end record")
    check(u16(a, z64 + 12) == 0x031E and u16(a, z64 + 14) == 0x002D, f"{where}: ZIP64 versions")
    check(u64(a, z64 + 24) == entries == u64(a, z64 + 32) and u64(a, z64 + 40) == cd_size
          and u64(a, z64 + 48) == cd_offset and cd_offset + cd_size == z64,
          f"{where}: ZIP64 record disagrees with the EOCD")
    check(entries == len(ENTRIES), f"{where}: {entries} entries")
    at, expected_local = cd_offset, 0
    for entry in ENTRIES:
        name = "archive/" + entry
        check(u32(a, at) == 0x02014B50, f"{where}: central header {entry}")
        flags, method, crc = u16(a, at + 8), u16(a, at + 10), u32(a, at + 16)
        csize, usize, nlen = u32(a, at + 20), u32(a, at + 24), u16(a, at + 28)
        xlen, clen, local = u16(a, at + 30), u16(a, at + 32), u32(a, at + 42)
        check(a[at + 46:at + 46 + nlen] == name.encode(), f"{where}: entry order/name {entry}")
        check(flags == 0x0808 and method == 0 and csize == usize and xlen == 0 and clen == 0,
              f"{where}: central fields of {entry}")
        check(local == expected_local, f"{where}: {entry} is not right after the previous entry")
        at += 46 + nlen
        # Local header: zero crc and sizes, "FB" padding to a 64-byte data start.
        check(u32(a, local) == 0x04034B50 and u16(a, local + 6) == 0x0808
              and u16(a, local + 8) == 0 and u32(a, local + 10) == 0,
              f"{where}: local header of {entry}")
        check(u32(a, local + 14) == 0 and u32(a, local + 18) == 0 and u32(a, local + 22) == 0,
              f"{where}: local header of {entry} has a crc or sizes")
        check(u16(a, local + 26) == nlen and a[local + 30:local + 30 + nlen] == name.encode(),
              f"{where}: local name of {entry}")
        lxlen = u16(a, local + 28)
        extra = a[local + 30 + nlen:local + 30 + nlen + lxlen]
        check(extra[:2] == b"FB" and u16(extra, 2) == lxlen - 4 and
              extra[4:] == b"Z" * (lxlen - 4), f"{where}: FB padding of {entry}")
        data_at = local + 30 + nlen + lxlen
        check(data_at % 64 == 0, f"{where}: data of {entry} at {data_at}, not 64-aligned")
        body = a[data_at:data_at + usize]
        check(zlib.crc32(body) == crc, f"{where}: crc of {entry}")
        d = data_at + usize
        check(u32(a, d) == 0x08074B50 and u32(a, d + 4) == crc and u32(a, d + 8) == usize
              and u32(a, d + 12) == usize, f"{where}: data descriptor of {entry}")
        expected_local = d + 16
        if entry in FIXED:
            check(body == FIXED[entry], f"{where}: {entry} is {body!r}")
        elif entry == "data.pkl":
            check(body == data_pkl, f"{where}: data.pkl differs from CPython's pickle")
        else:
            check(usize == data_size, f"{where}: data/0 holds {usize} bytes, not {data_size}")
    check(expected_local == cd_offset, f"{where}: bytes between the last entry and the directory")
    check(n == archive_length(len(data_pkl), data_size), f"{where}: archive length {n}")
    with zipfile.ZipFile(io.BytesIO(a)) as z:  # and a stock zip reader agrees
        check(z.namelist() == ["archive/" + e for e in ENTRIES], f"{where}: zipfile names")
        check(z.testzip() is None, f"{where}: zipfile finds a bad CRC")


def data_range(a):
    """(start, size) of archive/data/0 inside one archive, from its central directory."""
    n = len(a)
    at = u32(a, n - 6)
    for _ in range(u16(a, n - 12)):
        nlen, local = u16(a, at + 28), u32(a, at + 42)
        if a[at + 46:at + 46 + nlen] == b"archive/data/0":
            start = local + 30 + u16(a, local + 26) + u16(a, local + 28)
            return start, u32(a, at + 24)
        at += 46 + nlen
    raise Failure("no archive/data/0")


class Safetensors:
    """Chunk bytes of the safetensors workload the DCP one mirrors, by (fqn, offsets)."""

    def __init__(self, folder):
        self.chunks = {}
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".safetensors"):
                continue
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                n = struct.unpack("<Q", f.read(8))[0]
                header = json.loads(f.read(n))
            info = json.loads(header.pop("__metadata__")["DCP_SHARDING_INFO"])
            for fqn, e in header.items():
                key = (fqn, tuple(info[fqn]["saved_offsets"]))
                begin, end = e["data_offsets"]
                self.chunks.setdefault(key, (path, 8 + n + begin, end - begin))

    def read(self, fqn, offsets):
        path, at, size = self.chunks[(fqn, tuple(offsets))]
        with open(path, "rb") as f:
            f.seek(at)
            return f.read(size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--same-bytes-as", metavar="SAFETENSORS_FOLDER")
    args = parser.parse_args()
    folder = args.folder
    md, metadata_size = load_metadata(os.path.join(folder, ".metadata"))
    print(f".metadata: {metadata_size:,} bytes, identical to CPython's protocol-4 pickle of the "
          "loaded stand-ins")
    items, chunks = check_metadata(md, folder)
    print(f"metadata: {len(md.state_dict_metadata):,} tensors, {chunks:,} chunks tile their "
          f"tensors; {len(md.storage_data):,} storage entries tile "
          f"{len(set(i[3].relative_path for i in items))} .distcp files")
    reference = Safetensors(args.same_bytes_as) if args.same_bytes_as else None
    maps, sparse_files = {}, set()
    for name in sorted(set(i[3].relative_path for i in items)):
        path = os.path.join(folder, name)
        st = os.stat(path)
        if st.st_blocks * 512 < st.st_size // 2:
            sparse_files.add(name)
            continue
        with open(path, "rb") as f:
            maps[name] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    archives = compared = 0
    for fqn, t, chunk, info in items:
        pkl = expected_data_pkl(t, chunk)
        data_size = math.prod(chunk.sizes) * t.properties.dtype.itemsize
        if info.relative_path in sparse_files:
            check(info.length == archive_length(len(pkl), data_size),
                  f"{fqn} {tuple(chunk.offsets)}: length {info.length} in a sparse file")
            continue
        a = maps[info.relative_path][info.offset:info.offset + info.length]
        where = f"{info.relative_path}@{info.offset} ({fqn} {tuple(chunk.offsets)})"
        check_archive(where, a, pkl, data_size)
        archives += 1
        if reference:
            start, size = data_range(a)
            check(a[start:start + size] == reference.read(fqn, chunk.offsets),
                  f"{where}: bytes differ from the safetensors workload's chunk")
            compared += 1
    print(f"archives: {archives:,} read and checked (layout, CRCs, data.pkl bytes); "
          f"{len(sparse_files)} sparse files checked for sizes only")
    if reference:
        print(f"chunk bytes: {compared:,} chunks equal to {args.same_bytes_as}'s")
    print("OK")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
