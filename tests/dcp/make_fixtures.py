#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Write PyTorch Distributed Checkpoint (DCP) fixtures without PyTorch.

    make_fixtures.py OUTDIR [--no-zstd]

For every case this writes OUTDIR/<case>/ (a `.metadata` pickle plus `__<rank>_<n>.distcp` data
files, laid out byte for byte as torch's FileSystemWriter does; see
docs/distcp-format.md in the shared docs) and OUTDIR/<case>.json, the expectation that
check_export.py and selfcheck.py read. Good cases also get OUTDIR/<case>.expected/<n>.bin, the
full logical tensors (row-major, little-endian).

Only the standard library is used: the torch classes are stand-ins that pickle under torch's real
module paths, and the torch.save zip archives are written record by record as PyTorch's miniz
writer does. Output is deterministic: the same bytes on every run.
"""

import collections
import io
import itertools
import json
import pathlib
import pickle
import pickletools
import random
import shutil
import struct
import subprocess
import sys
import types
import zlib

MARKER = ".dcp-fixtures"  # OUTDIR holds only what this script wrote, so it may be cleared


# ---------------------------------------------------------------------------------------------
# Stand-ins for torch objects. pickle writes a class or function as a global reference
# "module name" after checking that importing the module yields that very object, so every
# stand-in is published in a fake module registered in sys.modules under torch's real path.


def _fake_module(name):
    mod = sys.modules.get(name)
    if mod is None or not getattr(mod, "_shardscope_stand_in", False):
        mod = types.ModuleType(name)
        mod._shardscope_stand_in = True
        sys.modules[name] = mod
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(_fake_module(parent), child, mod)
    return mod


_published = {}


def _publish(obj, module, name):
    """Give `obj` the identity torch's own object has, once per (module, name)."""
    key = (module, name)
    if key in _published:
        return _published[key]
    obj.__module__ = module
    obj.__qualname__ = name
    obj.__name__ = name
    setattr(_fake_module(module), name, obj)
    _published[key] = obj
    return obj


class _DType:
    """torch.float32 and friends: torch.dtype.__reduce__ returns the bare name, so pickle emits
    the global `torch float32`."""

    def __init__(self, torch_name, st, itemsize, storage, nans):
        self.torch_name, self.st, self.itemsize, self.nans = torch_name, st, itemsize, nans
        self.storage = _publish(type(storage, (), {}), "torch", storage)

    def __reduce__(self):
        return self.torch_name


_publish(_DType, "torch", "dtype")


def _nan_bytes(fmt, *patterns):
    return [struct.pack(fmt, p) for p in patterns]


_F32_NANS = _nan_bytes("<I", 0x7FC00000, 0xFFC00001, 0x7F800001, 0x7FA5A5A5)
DTYPES = {}
for _st, _name, _size, _storage, _nans in [
    ("F32", "float32", 4, "FloatStorage", _F32_NANS),
    ("BF16", "bfloat16", 2, "BFloat16Storage", _nan_bytes("<H", 0x7FC0, 0xFFC1, 0x7F81)),
    ("F16", "float16", 2, "HalfStorage", _nan_bytes("<H", 0x7E00, 0xFE01, 0x7C01)),
    ("F64", "float64", 8, "DoubleStorage",
     _nan_bytes("<Q", 0x7FF8000000000000, 0xFFF8000000000001, 0x7FF0000000000001)),
    ("I64", "int64", 8, "LongStorage", []),
    ("I32", "int32", 4, "IntStorage", []),
    ("I16", "int16", 2, "ShortStorage", []),
    ("I8", "int8", 1, "CharStorage", []),
    ("U8", "uint8", 1, "ByteStorage", []),
    ("BOOL", "bool", 1, "BoolStorage", []),
    ("C64", "complex64", 8, "ComplexFloatStorage",
     [a + b for a, b in zip(_F32_NANS, _F32_NANS[1:])]),
]:
    _dt = _DType(_name, _st, _size, _storage, _nans)
    setattr(_fake_module("torch"), _name, _dt)
    DTYPES[_st] = _dt


class Size(tuple):
    """torch.Size pickles as REDUCE(torch.Size, ((d0, d1, ...),))."""

    def __reduce__(self):
        return (Size, (tuple(self),))


_publish(Size, "torch", "Size")


def _get_layout(name):
    raise NotImplementedError("stand-in")


_publish(_get_layout, "torch.serialization", "_get_layout")


class _Layout:
    """torch.serialization registers copyreg: layout -> _get_layout('torch.strided')."""

    def __reduce__(self):
        return (_get_layout, ("torch.strided",))


STRIDED = _Layout()

# Enum members pickle by value on Python <= 3.10 and by name (builtins.getattr) on newer ones.
ENUM_STYLE = {"by_name": True}


class _EnumMember:
    def __init__(self, cls, name, value):
        self.cls, self.name, self.value = cls, name, value

    def __reduce__(self):
        if ENUM_STYLE["by_name"]:
            return (getattr, (self.cls, self.name))
        return (self.cls, (self.value,))


def _enum(module, name):
    cls = _publish(type(name, (), {}), module, name)
    if not hasattr(cls, "TORCH_CONTIGUOUS_FORMAT"):
        for i, member in enumerate(
                ["TORCH_CONTIGUOUS_FORMAT", "TORCH_CHANNELS_LAST", "TORCH_PRESERVE_FORMAT"]):
            setattr(cls, member, _EnumMember(cls, member, i))
    return cls


class _Record:
    """A dataclass as pickle sees it: NEWOBJ(cls, ()) then BUILD with __dict__ (no BUILD when
    __dict__ is empty, as for BytesStorageMetadata)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def _record(module, name, **namespace):
    return _publish(type(name, (_Record,), namespace), module, name)


def _props_getstate(self):
    # TensorProperties.__getstate__: memory_format goes out as the enum
    return (self.dtype, self.layout, self.requires_grad, self.memory_format, self.pin_memory)


def _storage_info_getstate(self):
    # 2.x _StorageInfo.__getstate__ drops None fields, so transform_descriptors appears only if used
    return {k: v for k, v in self.__dict__.items() if v is not None}


class Classes:
    """The metadata classes of one torch generation, under that generation's module paths."""

    def __init__(self, generation):
        shard = "torch.distributed._shard"
        if generation == "1.13":
            md = f"{shard}.checkpoint.metadata"
            fs = f"{shard}.checkpoint.filesystem"
            props, enum = f"{shard}.sharded_tensor.metadata", "MEM_FORMAT_ENCODING"
        else:
            md = "torch.distributed.checkpoint.metadata"
            fs = "torch.distributed.checkpoint.filesystem"
            if generation == "2.x":
                props, enum = md, "_MEM_FORMAT_ENCODING"
            else:  # 2.3-era: new metadata module, TensorProperties still from _shard
                props, enum = f"{shard}.sharded_tensor.metadata", "MEM_FORMAT_ENCODING"
        self.generation = generation
        self.Metadata = _record(md, "Metadata")
        self.TensorStorageMetadata = _record(md, "TensorStorageMetadata")
        self.ChunkStorageMetadata = _record(md, "ChunkStorageMetadata")
        self.BytesStorageMetadata = _record(md, "BytesStorageMetadata")
        self.MetadataIndex = _record(md, "MetadataIndex")
        self.Mystery = _record("torch.distributed.checkpoint.metadata", "Mystery")
        self.StorageMeta = _record("torch.distributed.checkpoint.metadata", "StorageMeta")
        if generation == "1.13":
            self.StorageInfo = _record(fs, "_StorageInfo")
        else:
            self.StorageInfo = _record(fs, "_StorageInfo", __getstate__=_storage_info_getstate)
        self.TensorProperties = _record(props, "TensorProperties", __getstate__=_props_getstate)
        self.MemFormat = _enum(props, enum)

    def index(self, fqn, offset=None, index=None):
        # MetadataIndex.__init__ sets fqn, index, then offset only when given: that is the
        # order of its pickled __dict__, and byte items have no offset key at all.
        obj = self.MetadataIndex.__new__(self.MetadataIndex)
        obj.fqn = fqn
        obj.index = index
        if offset is not None:
            obj.offset = Size(offset)
        return obj

    def storage_info(self, path, offset, length, transforms=None):
        if self.generation == "1.13":
            return self.StorageInfo(relative_path=path, offset=offset, length=length)
        return self.StorageInfo(relative_path=path, offset=offset, length=length,
                                transform_descriptors=transforms)


# ---------------------------------------------------------------------------------------------
# torch.save


def _rebuild_tensor_v2(*args):
    raise NotImplementedError("stand-in")


_publish(_rebuild_tensor_v2, "torch._utils", "_rebuild_tensor_v2")


class _Storage:
    def __init__(self, cls, numel):
        self.cls, self.numel = cls, numel


class _Tensor:
    """Pickles as Tensor.__reduce_ex__ does: _rebuild_tensor_v2(storage, storage_offset, size,
    stride, requires_grad, backward_hooks[, metadata])."""

    def __init__(self, storage, size, stride, metadata=None):
        self.storage, self.size, self.stride, self.metadata = storage, size, stride, metadata

    def __reduce_ex__(self, protocol):
        args = (self.storage, 0, tuple(self.size), tuple(self.stride), False,
                collections.OrderedDict())
        if self.metadata:
            args += (self.metadata,)
        return (_rebuild_tensor_v2, args)


class _TorchPickler(pickle.Pickler):
    # torch.save's persistent_id: ('storage', storage_type, key, location, numel)
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", obj.cls, "0", "cpu", obj.numel)
        return None


def _data_pkl(obj):
    buf = io.BytesIO()
    _TorchPickler(buf, protocol=2).dump(obj)  # torch.save's DEFAULT_PROTOCOL
    return buf.getvalue()


def zip_records(records, prefix="archive", local_names=None):
    """The archive PyTorchStreamWriter (miniz, MZ_ZIP_FLAG_WRITE_ZIP64) writes to a stream.

    Local headers have crc and sizes 0 and flag 0x0808 (a data descriptor follows the data;
    miniz sets bit 3 only for non-empty records, so an empty record has 0x0800 and no
    descriptor). Each local header carries an "FB" extra field of 'Z' padding that puts the
    data at a multiple of 64 from the archive start. Time and date are 0. The central directory
    has the real sizes and CRCs and no extra fields; then the ZIP64 end record, its locator and
    the classic end record follow, with real (small) values."""
    out, central = bytearray(), bytearray()
    for name, data in records:
        full = f"{prefix}/{name}".encode()
        local = (local_names or {}).get(name, full)
        assert len(local) == len(full)
        offset = len(out)
        pad = -(offset + 30 + len(full) + 4) % 64
        extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        flags = 0x0808 if data else 0x0800
        crc = zlib.crc32(data)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 0, flags, 0, 0, 0, 0, 0, 0, len(full),
                           len(extra))
        out += local + extra + data
        if data:
            out += struct.pack("<IIII", 0x08074B50, crc, len(data), len(data))
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, 0, flags, 0, 0, 0, crc,
                               len(data), len(data), len(full), 0, 0, 0, 0, 0, offset) + full
    n, cd_offset, cd_size = len(records), len(out), len(central)
    out += central
    zip64_end = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 0x2D, 0, 0, n, n, cd_size, cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_offset, 0)
    return bytes(out)


def torch_save(obj, storages=(), generation="2.x", prefix="archive", byteorder="little",
               local_names=None):
    """Records in the order torch.save writes them: 1.13 data.pkl, data/N, version; 2.x adds
    .format_version, .storage_alignment and byteorder after data.pkl, and the writer's close adds
    version and .data/serialization_id."""
    records = [("data.pkl", _data_pkl(obj))]
    if generation != "1.13":
        records += [(".format_version", b"1"), (".storage_alignment", b"64"),
                    ("byteorder", byteorder.encode())]
    records += [(f"data/{i}", s) for i, s in enumerate(storages)]
    records.append(("version", b"3\n"))
    if generation != "1.13":
        # 20 digits of a record-name hash, 20 of a combined CRC: any fixed-length stand-in will do
        names = zlib.crc32("\n".join(sorted(n for n, _ in records)).encode())
        crcs = zlib.crc32(b"".join(d for _, d in records))
        records.append((".data/serialization_id", f"{names:020d}{crcs:020d}".encode()))
    return zip_records(records, prefix, local_names)


def safetensors_blob(tensors, metadata):
    """What safetensors.torch.save returns: tensors ordered by dtype size (largest first), then
    name; compact JSON header padded with spaces to a multiple of 8."""
    tensors = sorted(tensors, key=lambda t: (-DTYPES[t[1]].itemsize, t[0]))
    header = {"__metadata__": dict(sorted(metadata.items()))}
    data, pos = bytearray(), 0
    for name, st, shape, raw in tensors:
        header[name] = {"dtype": st, "shape": list(shape), "data_offsets": [pos, pos + len(raw)]}
        data += raw
        pos += len(raw)
    js = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js + bytes(data)


def zstd_compress(data):
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def have_zstd():
    try:
        return zlib.crc32(zstd_compress(b"probe")) is not None
    except (OSError, subprocess.CalledProcessError):
        return False


# ---------------------------------------------------------------------------------------------
# Tensor values


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def tensor_bytes(case, fqn, st, shape):
    """Deterministic pseudo-random values with NaN bit patterns sprinkled into float data."""
    dt = DTYPES[st]
    count = numel(shape)
    rng = random.Random(zlib.crc32(f"{case}/{fqn}".encode()))
    raw = bytearray(rng.randbytes(count * dt.itemsize))
    if st == "BOOL":
        raw = bytearray(b & 1 for b in raw)
    for k, i in enumerate(range(3, count, 11)):
        if dt.nans:
            raw[i * dt.itemsize:(i + 1) * dt.itemsize] = dt.nans[k % len(dt.nans)]
    return bytes(raw)


def row_major_strides(shape):
    strides, acc = [0] * len(shape), 1
    for d in reversed(range(len(shape))):
        strides[d] = acc
        acc *= max(shape[d], 1)
    return strides


def extract(full, shape, itemsize, offsets, sizes):
    """The row-major bytes of the block sizes at offsets."""
    if not shape:
        return full
    if 0 in sizes:
        return b""
    strides = row_major_strides(shape)
    out = bytearray()
    for idx in itertools.product(*[range(o, o + s) for o, s in zip(offsets[:-1], sizes[:-1])]):
        base = sum(i * s for i, s in zip(idx, strides)) + offsets[-1]
        out += full[base * itemsize:(base + sizes[-1]) * itemsize]
    return bytes(out)


def storage_layout(block, sizes, itemsize, order):
    """Lay a row-major block out in memory order `order` (dims from outermost to innermost) and
    return (storage bytes, strides), as a transposed or channels_last tensor holds it."""
    if order is None or list(order) == list(range(len(sizes))):
        return block, row_major_strides(sizes)
    strides, acc = [0] * len(sizes), 1
    for d in reversed(order):
        strides[d] = acc
        acc *= max(sizes[d], 1)
    storage = bytearray(len(block))
    for k, idx in enumerate(itertools.product(*[range(s) for s in sizes])):
        pos = sum(i * s for i, s in zip(idx, strides))
        storage[pos * itemsize:(pos + 1) * itemsize] = block[k * itemsize:(k + 1) * itemsize]
    return bytes(storage), strides


# ---------------------------------------------------------------------------------------------
# Which output a tensor goes to (the CLI contract, mirrored here for the expectations)

KINDS = {
    "model": "model",
    "optimizer": "optimizer", "optim": "optimizer", "optimizers": "optimizer",
    "lr_scheduler": "scheduler", "lr_schedulers": "scheduler", "scheduler": "scheduler",
    "schedulers": "scheduler",
    "dataloader": "dataloader", "data_loader": "dataloader", "dataloaders": "dataloader",
    "train_state": "train_state", "training_state": "train_state", "trainer_state": "train_state",
    "rng_state": "train_state", "rng_states": "train_state", "extra_state": "train_state",
}


def kind_of(fqn, path):
    first = path[0] if path else fqn.split(".")[0]
    return KINDS.get(str(first), "model")


def output_name(fqn, path):
    if path and len(path) > 1 and path[0] == "model":
        return ".".join(str(p) for p in path[1:])
    return fqn


# ---------------------------------------------------------------------------------------------
# Cases


class Chunk:
    def __init__(self, rank, offsets, sizes, order=None, meta7=None, pkl=None, zip_opts=None):
        self.rank, self.offsets, self.sizes = rank, tuple(offsets), tuple(sizes)
        self.order = order        # memory order of the stored storage (None: row-major)
        self.meta7 = meta7        # a 7th _rebuild_tensor_v2 argument
        self.pkl = pkl or {}      # overrides of data.pkl fields: storage, size, stride, numel
        self.zip_opts = zip_opts or {}  # byteorder, local_names


class TensorEntry:
    def __init__(self, fqn, st, shape, chunks, path):
        self.fqn, self.st, self.shape, self.chunks, self.path = fqn, st, tuple(shape), chunks, path


class ByteEntry:
    def __init__(self, fqn, obj, rank, path, expect):
        self.fqn, self.obj, self.rank, self.path, self.expect = fqn, obj, rank, path, expect


def split_rows(shape, ranks, dim=0):
    """torch.chunk-style even split of `dim`: ceil-sized pieces, the last ranks may get less or
    nothing (a zero-size chunk at offset = dim size)."""
    size = shape[dim]
    step = -(-size // ranks)
    chunks = []
    for r in range(ranks):
        lo = min(r * step, size)
        hi = min(lo + step, size)
        offsets = [0] * len(shape)
        sizes = list(shape)
        offsets[dim], sizes[dim] = lo, hi - lo
        chunks.append(Chunk(r, offsets, sizes))
    return chunks


def whole(shape, rank=0, **kw):
    return [Chunk(rank, [0] * len(shape), shape, **kw)]


class Case:
    def __init__(self, name, generation="2.x", ranks=2, protocol=4, enum_by_name=True,
                 files="per_rank", transform=None, prefix="archive", planner=True,
                 include_training_state=False, description=""):
        self.name, self.generation, self.ranks = name, generation, ranks
        self.protocol, self.enum_by_name, self.files = protocol, enum_by_name, files
        self.transform, self.prefix = transform, prefix
        self.planner = planner and generation != "1.13"  # 1.13 left planner_data None
        self.include_training_state = include_training_state
        self.description = description
        self.entries = []
        self.bad = None           # {"must_mention": [...], "kinds": [...]} for bad cases
        self.meta_hook = None     # (case, metadata, storage_infos) -> None, before pickling
        self.files_hook = None    # (case, files: {name: bytes}, metadata bytes) -> metadata bytes
        self.hf_assets = None
        self.consolidate_args = []  # extra consolidate options the checker passes
        self.seed_name = name     # values depend on this, so derived cases can share them

    def tensor(self, fqn, st, shape, chunks, path=None):
        self.entries.append(TensorEntry(fqn, st, shape, chunks, path or (fqn,)))

    def byte(self, fqn, obj, rank=0, path=None, expect=None):
        self.entries.append(ByteEntry(fqn, obj, rank, path or (fqn,), expect))

    def path_of(self, entry):
        return entry.path if self.planner else None

    # -- layout ---------------------------------------------------------------------------------

    def _plan(self, rank):
        """A rank's write items in plan (state dict) order."""
        items = []
        for e in self.entries:
            if isinstance(e, ByteEntry):
                if e.rank == rank:
                    items.append(e)
            else:
                items += [(e, c) for c in e.chunks if c.rank == rank]
        return items

    def _item_bytes(self, item, full):
        if isinstance(item, ByteEntry):
            return torch_save(item.obj, generation=self.generation, prefix=self.prefix)
        entry, chunk = item
        dt = DTYPES[entry.st]
        block = extract(full[entry.fqn], entry.shape, dt.itemsize, chunk.offsets, chunk.sizes)
        storage, strides = storage_layout(block, chunk.sizes, dt.itemsize, chunk.order)
        p = chunk.pkl
        tensor = _Tensor(_Storage(p.get("storage", dt.storage), p.get("numel", numel(chunk.sizes))),
                         p.get("size", chunk.sizes), p.get("stride", strides), chunk.meta7)
        return torch_save(tensor, [storage], self.generation, self.prefix, **chunk.zip_opts)

    def _buckets(self, items, bins):
        # filesystem._split_by_size_and_type: byte items round robin, tensors largest first into
        # the emptiest bucket; each file then holds its byte items, then its tensors
        size = lambda it: numel(it[1].sizes) * DTYPES[it[0].st].itemsize
        byte_items = [it for it in items if isinstance(it, ByteEntry)]
        tensors = sorted([it for it in items if not isinstance(it, ByteEntry)], key=size,
                         reverse=True)
        buckets, totals = [[] for _ in range(bins)], [0] * bins
        for i, it in enumerate(byte_items):
            buckets[i % bins].append(it)
        for it in tensors:
            b = min(range(bins), key=lambda k: totals[k])
            buckets[b].append(it)
            totals[b] += size(it)
        return buckets

    def _files_of_rank(self, rank):
        items = self._plan(rank)
        if self.files == "per_item":
            return [[it] for it in items]
        bytes_first = lambda its: ([it for it in its if isinstance(it, ByteEntry)] +
                                   [it for it in its if not isinstance(it, ByteEntry)])
        if self.files == "buckets2":
            return [bytes_first(b) for b in self._buckets(items, 2)]
        return [bytes_first(items)] if items else []

    # -- writing --------------------------------------------------------------------------------

    def build(self, outdir):
        C = Classes(self.generation)
        full = {e.fqn: tensor_bytes(self.seed_name, e.fqn, e.st, e.shape)
                for e in self.entries if isinstance(e, TensorEntry)}
        files = {}
        storage_data = {}
        storage_infos = {}  # (fqn, offsets or None) -> _StorageInfo, for hooks
        chunk_md = {}       # id(Chunk) -> (position in its tensor's chunk list, metadata)
        sdm = {}
        # state_dict_metadata and chunk lists in plan order: rank 0's items, then rank 1's, ...
        for rank in range(self.ranks):
            for item in self._plan(rank):
                if isinstance(item, ByteEntry):
                    sdm.setdefault(item.fqn, C.BytesStorageMetadata())
                    continue
                entry, chunk = item
                if entry.fqn not in sdm:
                    props = C.TensorProperties(
                        dtype=DTYPES[entry.st], layout=STRIDED, requires_grad=False,
                        memory_format=C.MemFormat.TORCH_CONTIGUOUS_FORMAT, pin_memory=False)
                    sdm[entry.fqn] = C.TensorStorageMetadata(
                        properties=props, size=Size(entry.shape), chunks=[])
                md = C.ChunkStorageMetadata(offsets=Size(chunk.offsets), sizes=Size(chunk.sizes))
                chunk_md[id(chunk)] = (len(sdm[entry.fqn].chunks), md)
                sdm[entry.fqn].chunks.append(md)

        for rank in range(self.ranks):
            for n, items in enumerate(self._files_of_rank(rank)):
                fname = f"__{rank}_{n}.distcp"
                data = bytearray()
                blob = []
                transforms = ["stream.zstd/1"] if self.transform == "zstd" else None
                for item in items:
                    if isinstance(item, ByteEntry):
                        key = C.index(item.fqn)
                        fqn, offsets = item.fqn, None
                    else:
                        entry, chunk = item
                        key = C.index(entry.fqn, chunk.offsets, chunk_md[id(chunk)][0])
                        fqn, offsets = entry.fqn, chunk.offsets
                    if self.files == "safetensors" and not isinstance(item, ByteEntry):
                        # written later as one blob; the recorded offset is where it will start
                        dt = DTYPES[entry.st]
                        info = C.storage_info(fname, len(data), numel(chunk.sizes) * dt.itemsize)
                        blob.append((entry, chunk))
                    else:
                        raw = self._item_bytes(item, full)
                        if transforms:
                            raw = zstd_compress(raw)
                        info = C.storage_info(fname, len(data), len(raw), transforms)
                        data += raw
                    storage_data[key] = info
                    storage_infos[(fqn, offsets)] = info
                if blob:
                    tensors, sharding = [], {}
                    for entry, chunk in blob:
                        dt = DTYPES[entry.st]
                        raw = extract(full[entry.fqn], entry.shape, dt.itemsize, chunk.offsets,
                                      chunk.sizes)
                        tensors.append((entry.fqn, entry.st, chunk.sizes, raw))
                        sharding[entry.fqn] = {"saved_offsets": list(chunk.offsets)}
                    data += safetensors_blob(tensors, {"DCP_SHARDING_INFO": json.dumps(sharding),
                                                       "DCP_VERSION": "1.0", "format": "pt"})
                files[fname] = bytes(data)

        fields = dict(state_dict_metadata=sdm,
                      planner_data={e.fqn: tuple(e.path) for e in self.entries}
                      if self.planner else None,
                      storage_data=storage_data)
        if self.generation != "1.13":
            fields["storage_meta"] = C.StorageMeta(
                checkpoint_id=pathlib.PosixPath(f"/checkpoints/{self.name}/step-1000"),
                save_id="5f0c2a9e-6d1b-4c8e-9a57-3b1e0d2c4f68", load_id=None, modules=[])
        if self.generation == "2.x":
            fields["version"] = "1.0.0"  # CURRENT_DCP_VERSION in torch/distributed/checkpoint
        metadata = C.Metadata(**fields)
        if self.meta_hook:
            self.meta_hook(self, C, metadata, storage_infos)
        ENUM_STYLE["by_name"] = self.enum_by_name
        meta_bytes = pickle.dumps(metadata, protocol=self.protocol)
        if self.files_hook:
            meta_bytes = self.files_hook(self, files, meta_bytes)

        folder = outdir / self.name
        folder.mkdir()
        if meta_bytes is not None:
            (folder / ".metadata").write_bytes(meta_bytes)
        for fname, data in files.items():
            (folder / fname).write_bytes(data)
        (outdir / f"{self.name}.json").write_text(
            json.dumps(self.expectation(outdir, full), indent=1, ensure_ascii=False) + "\n")

    def expectation(self, outdir, full):
        if self.bad:
            return {"ok": False, "description": self.description, **self.bad}
        tensors, excluded, inspect, byte_items = {}, [], {}, {}
        bins = outdir / f"{self.name}.expected"
        bins.mkdir()
        for e in self.entries:
            path = self.path_of(e)
            if isinstance(e, ByteEntry):
                byte_items[e.fqn] = e.expect
                continue
            kind = kind_of(e.fqn, path)
            name = output_name(e.fqn, path)
            inspect[e.fqn] = {"name": name, "kind": kind, "exported": kind == "model",
                              "dtype": e.st, "shape": list(e.shape)}
            if kind == "model" or self.include_training_state:
                n = len(tensors)
                (bins / f"{n}.bin").write_bytes(full[e.fqn])
                tensors[name] = {"fqn": e.fqn, "dtype": e.st, "shape": list(e.shape),
                                 "kind": kind, "expected": f"{self.name}.expected/{n}.bin"}
            else:
                excluded.append(e.fqn)
        out = {"ok": True, "description": self.description,
               "include_training_state": self.include_training_state,
               "tensors": tensors, "excluded": excluded, "byte_items": byte_items,
               "inspect": inspect, "consolidate_args": self.consolidate_args}
        if self.hf_assets:
            adir = outdir / f"{self.name}.hf-assets"
            adir.mkdir()
            for fname, text in self.hf_assets.items():
                (adir / fname).write_text(text)
            out["hf_assets"] = {"dir": adir.name, "files": sorted(self.hf_assets)}
        return out


def scalar(type_name, value):
    return {"type": type_name, "value": value if type_name == "str" else repr(value)}


# ---------------------------------------------------------------------------------------------
# The good cases


def good_cases(zstd):
    cases = []

    c = Case("v113_file_per_item", "1.13", ranks=2, protocol=2, enum_by_name=False,
             files="per_item", description="torch 1.13 layout on Python 3.10 (enum by value, "
             "pickle protocol 2): one file per item, planner_data None, ShardedTensor row split, "
             "a replicated bias written by rank 0 only, optimizer state found by fqn")
    c.tensor("layer.weight", "F32", (6, 4), split_rows((6, 4), 2))
    c.byte("epoch", 7, rank=0, expect=scalar("int", 7))
    c.tensor("layer.bias", "F32", (4,), whole((4,), rank=0))
    c.tensor("optim.state.0.exp_avg", "F32", (6, 4), split_rows((6, 4), 2))
    c.tensor("embed.weight", "F16", (4, 6), split_rows((4, 6), 2, dim=1))
    cases.append(c)

    c = Case("v113_blocks", "1.13", ranks=4, protocol=4, enum_by_name=True, files="per_item",
             description="torch 1.13 layout on Python 3.11 (enum by name, protocol 4): 2x2 "
             "blocks listed in permuted rank order, column split, rank-0 replica")
    # rank r holds block (r+3)%4: the chunk list starts at [4, 4], not [0, 0]
    blocks = [(4, 4), (0, 0), (4, 0), (0, 4)]
    c.tensor("blocks.weight", "BF16", (8, 8), [Chunk(r, blocks[r], (4, 4)) for r in range(4)])
    c.tensor("emb.weight", "I64", (6, 4), split_rows((6, 4), 4, dim=1))
    c.tensor("pos", "F16", (5,), whole((5,), rank=0))
    c.byte("step", 1234, rank=0, expect=scalar("int", 1234))
    cases.append(c)

    c = Case("v2_file_per_rank", ranks=4, protocol=4, description="torch 2.x, one file per "
             "rank (byte items first): uneven row split with an empty rank, column split, "
             "dim-2 split of a 3-D tensor, replicas deduplicated to ranks 1 and 2, byte items "
             "of several types")
    c.tensor("embed.weight", "F32", (5, 16), split_rows((5, 16), 4))  # 2, 2, 1, 0 rows
    c.byte("step", 1234, rank=0, expect=scalar("int", 1234))
    c.tensor("proj.weight", "F16", (6, 8), split_rows((6, 8), 4, dim=1))
    c.byte("lr", 0.0003, rank=1, expect=scalar("float", 0.0003))
    c.tensor("conv3d.weight", "BF16", (2, 3, 8), split_rows((2, 3, 8), 4, dim=2))
    c.byte("run_name", "ShardScope ✓ 𝄞", rank=2, expect=scalar("str", "ShardScope ✓ 𝄞"))
    c.tensor("norm.weight", "F32", (16,), whole((16,), rank=2))
    c.byte("blob", bytes(range(40)), rank=3, expect={"type": "bytes"})
    c.tensor("head.bias", "F64", (7,), whole((7,), rank=1))
    c.byte("config", {"layers": 2, "names": ["a", "b"], "eps": 1e-5}, rank=0,
           expect={"type": "dict"})
    c.byte("io_state", io.BytesIO(b"\x00\x01binary\xff"), rank=1, expect={"type": "BytesIO"})
    cases.append(c)

    c = Case("v2_blocks", ranks=4, protocol=4, description="2x2 blocks in permuted rank order; "
             "two chunks per rank (strided sharding); an uneven 3-rank split")
    c.tensor("blocks.weight", "I32", (12, 10),
             [Chunk(r, [(6, 5), (0, 0), (6, 0), (0, 5)][r], (6, 5)) for r in range(4)])
    c.tensor("strided.weight", "I16", (16, 4),
             [Chunk(r, (rows, 0), (2, 4)) for r in range(4) for rows in (2 * r, 8 + 2 * r)])
    c.tensor("uneven.weight", "U8", (7, 3), split_rows((7, 3), 3))
    cases.append(c)

    c = Case("v2_dtypes", ranks=2, protocol=5, description="every dtype (NaN patterns in the "
             "float ones), a 0-dim tensor, a [0, 4] tensor; pickle protocol 5 (Python 3.14)")
    for st, shape in [("F32", (4, 3)), ("BF16", (4, 5)), ("F16", (6, 2)), ("F64", (4, 2)),
                      ("I64", (2, 3)), ("I32", (4, 4)), ("I16", (2, 7)), ("I8", (6, 5)),
                      ("U8", (4, 9)), ("BOOL", (4, 6)), ("C64", (4, 3))]:
        c.tensor(f"t_{st.lower()}", st, shape, split_rows(shape, 2))
    c.tensor("scale", "F32", (), whole((), rank=1))
    c.tensor("empty", "F32", (0, 4), whole((0, 4), rank=0))
    c.byte("dtype_count", 11, rank=1, expect=scalar("int", 11))
    c.consolidate_args = ["--verify"]
    cases.append(c)

    c = Case("v2_strided", ranks=2, protocol=4, description="non-contiguous stored chunks: a "
             "transposed chunk (size (40,24) stride (1,40)) beside a contiguous one, and "
             "channels_last chunks ([4,3,2,5] stride (30,1,15,3))")
    c.tensor("proj.weight", "F32", (80, 24),
             [Chunk(0, (0, 0), (40, 24)), Chunk(1, (40, 0), (40, 24), order=(1, 0))])
    c.tensor("conv.weight", "BF16", (8, 3, 2, 5),
             [Chunk(r, (4 * r, 0, 0, 0), (4, 3, 2, 5), order=(0, 2, 3, 1)) for r in range(2)])
    cases.append(c)

    c = Case("v2_archive_variants", ranks=2, protocol=2, enum_by_name=False,
             prefix="checkpoint_item", description="item archives under the record prefix "
             "'checkpoint_item/', a 7-argument _rebuild_tensor_v2, .metadata in protocol 2 with "
             "enums by value")
    c.tensor("w", "F32", (4, 4), [Chunk(0, (0, 0), (2, 4), meta7={"shardscope_flag": True}),
                                  Chunk(1, (2, 0), (2, 4))])
    c.tensor("v", "I64", (3,), whole((3,), rank=1))
    c.byte("note", "prefix", rank=0, expect=scalar("str", "prefix"))
    cases.append(c)

    c = Case("v2_thread_buckets", ranks=2, protocol=4, files="buckets2",
             description="FileSystemWriter(thread_count=2): two files per rank, byte items "
             "round robin, tensors largest first into the emptier file")
    c.tensor("a.weight", "F32", (8, 16), split_rows((8, 16), 2))
    c.tensor("b.weight", "F32", (4, 4), split_rows((4, 4), 2))
    c.tensor("c.weight", "BF16", (10, 6), split_rows((10, 6), 2))
    c.tensor("d.bias", "F16", (3,), whole((3,), rank=1))
    c.tensor("e.weight", "I8", (12, 2), split_rows((12, 2), 2))
    for r in range(2):
        c.byte(f"state_{r}_a", r * 10 + 1, rank=r, expect=scalar("int", r * 10 + 1))
        c.byte(f"state_{r}_b", f"rank{r}", rank=r, expect=scalar("str", f"rank{r}"))
        c.byte(f"state_{r}_c", float(r) + 0.5, rank=r, expect=scalar("float", float(r) + 0.5))
    cases.append(c)

    if zstd:
        c = Case("v2_zstd", ranks=2, protocol=4, transform="zstd", description="every item, "
                 "byte items too, stored as a zstd frame (transform_descriptors "
                 "['stream.zstd/1'])")
        c.tensor("w", "F32", (6, 8), split_rows((6, 8), 2))
        c.tensor("b", "BF16", (8,), whole((8,), rank=1))
        c.byte("step", 99, rank=0, expect=scalar("int", 99))
        c.byte("tag", "zstd", rank=1, expect=scalar("str", "zstd"))
        cases.append(c)

    c = Case("v2_safetensors", ranks=2, protocol=4, files="safetensors",
             description="FileSystemWriter(serialization_format=SAFETENSORS): byte items, then "
             "one safetensors blob per rank file; _StorageInfo offsets do not locate tensors")
    c.byte("step", 5, rank=0, expect=scalar("int", 5))
    c.tensor("w", "F32", (6, 4), split_rows((6, 4), 2))
    c.tensor("m", "BF16", (4, 6), split_rows((4, 6), 2, dim=1))
    c.tensor("b", "F16", (5,), whole((5,), rank=1))
    c.tensor("i", "I64", (2, 2), whole((2, 2), rank=0))
    c.byte("tag", "st", rank=1, expect=scalar("str", "st"))
    cases.append(c)

    c = Case("v23_props_from_shard", "2.3", ranks=2, protocol=2, description="2.3-era: the new "
             "metadata module but TensorProperties/MEM_FORMAT_ENCODING from _shard, "
             "storage_meta without version; .metadata in protocol 2 with enums by name, so the "
             "enum goes through the global '__builtin__ getattr'")
    c.tensor("w", "F32", (4, 6), split_rows((4, 6), 2))
    c.tensor("v", "U8", (9,), whole((9,), rank=1))
    cases.append(c)

    for include in (False, True):
        name = "titan_training_state" if include else "titan"
        c = Case(name, ranks=2, protocol=4, include_training_state=include,
                 description="torchtitan-style: model tensors at top level, optimizer / "
                 "lr_scheduler / dataloader / train_state beside them" +
                 ("; exported with --include-training-state" if include else ""))
        c.seed_name = "titan"
        model = [("tok_embeddings.weight", "F32", (16, 8), 0),
                 ("layers.0.attention.wq.weight", "BF16", (8, 8), 0),
                 ("layers.0.attention.wo.weight", "BF16", (8, 8), 1),
                 ("layers.0.attention_norm.weight", "F32", (8,), None),
                 ("norm.weight", "F32", (8,), None),
                 ("output.weight", "F32", (16, 8), 0)]
        for fqn, st, shape, dim in model:
            chunks = whole(shape, rank=1) if dim is None else split_rows(shape, 2, dim)
            c.tensor(fqn, st, shape, chunks, path=(fqn,))
        for fqn, st, shape, dim in model[1:3]:
            for state in ("exp_avg", "exp_avg_sq"):
                key = f"state.{fqn}.{state}"
                c.tensor(f"optimizer.{key}", "F32", shape, split_rows(shape, 2, dim),
                         path=("optimizer", key))
            key = f"state.{fqn}.step"
            c.tensor(f"optimizer.{key}", "F32", (), whole((), rank=0), path=("optimizer", key))
        c.byte("optimizer.param_groups.0.lr", 0.0008, rank=0,
               path=("optimizer", "param_groups", 0, "lr"), expect=scalar("float", 0.0008))
        c.byte("optimizer.param_groups.0.weight_decay", 0.1, rank=1,
               path=("optimizer", "param_groups", 0, "weight_decay"),
               expect=scalar("float", 0.1))
        c.byte("lr_scheduler.last_epoch", 1000, rank=0, path=("lr_scheduler", "last_epoch"),
               expect=scalar("int", 1000))
        c.byte("lr_scheduler.base_lrs", [0.0008], rank=1, path=("lr_scheduler", "base_lrs"),
               expect={"type": "list"})
        c.tensor("lr_scheduler.warmup_factor", "F32", (), whole((), rank=1),
                 path=("lr_scheduler", "warmup_factor"))
        c.byte("dataloader.dp_rank_0", b"\x80\x05state-of-rank-0", rank=0,
               path=("dataloader", "dp_rank_0"), expect={"type": "bytes"})
        c.tensor("dataloader.sample_offsets", "I64", (2,), whole((2,), rank=0),
                 path=("dataloader", "sample_offsets"))
        c.byte("train_state.step", 1000, rank=0, path=("train_state", "step"),
               expect=scalar("int", 1000))
        c.tensor("train_state.ntokens_seen", "I64", (), whole((), rank=1),
                 path=("train_state", "ntokens_seen"))
        c.byte("train_state.log_steps", io.BytesIO(b"[10, 20]"), rank=1,
               path=("train_state", "log_steps"), expect={"type": "BytesIO"})
        if not include:
            c.hf_assets = {
                "config.json": '{"model_type": "llama", "hidden_size": 8}\n',
                "tokenizer.json": '{"version": "1.0", "model": {"type": "BPE"}}\n',
                "tokenizer_config.json": '{"bos_token": "<s>"}\n',
                "special_tokens_map.json": '{"bos_token": "<s>", "eos_token": "</s>"}\n',
                "chat_template.jinja": "{% for m in messages %}{{ m.content }}{% endfor %}\n",
            }
        cases.append(c)

    c = Case("accelerate", ranks=2, protocol=4, description="Accelerate-style FSDP sharded "
             "state dict: everything under a top-level 'model' key, output names drop it")
    for fqn, st, shape, dim in [("model.embed_tokens.weight", "BF16", (12, 4), 0),
                                ("model.layers.0.self_attn.q_proj.weight", "BF16", (4, 4), 0),
                                ("model.layers.0.input_layernorm.weight", "F32", (4,), None),
                                ("model.norm.weight", "F32", (4,), None),
                                ("lm_head.weight", "BF16", (12, 4), 1)]:
        chunks = whole(shape, rank=0) if dim is None else split_rows(shape, 2, dim)
        c.tensor(f"model.{fqn}", st, shape, chunks, path=("model", fqn))
    cases.append(c)
    return cases


# ---------------------------------------------------------------------------------------------
# The bad cases: each a small 2-rank checkpoint with one thing wrong


# Distinctive names, so that finding them in an error message means something.
W, B = "mlp.up_proj.weight", "mlp.norm.bias"


def small(name, description, **kw):
    c = Case(name, ranks=2, protocol=4, description=description, **kw)
    c.tensor(W, "F32", (8, 6), [Chunk(0, (0, 0), (4, 6)), Chunk(1, (4, 0), (4, 6))])
    c.tensor(B, "BF16", (6,), whole((6,), rank=0))
    c.byte("step", 3, rank=0)
    return c


def _bad(case, must_mention, kinds):
    case.bad = {"must_mention": must_mention, "kinds": kinds}
    return case


def _set_meta(fn):
    def hook(case, files, meta):
        return fn(meta)
    return hook


def _opcode_in_middle(meta):
    # overwrite an opcode (not an argument byte) near the middle with 0xff, an undefined opcode
    positions = [pos for _, _, pos in pickletools.genops(meta) if pos is not None]
    pos = positions[len(positions) // 2]
    return meta[:pos] + b"\xff" + meta[pos + 1:]


def _mystery_chunk(case, C, metadata, infos):
    chunks = metadata.state_dict_metadata[W].chunks
    chunks[1] = C.Mystery(offsets=chunks[1].offsets, sizes=chunks[1].sizes)


def _long_range(case, C, metadata, infos):
    infos[(W, (4, 0))].length += 100


def _huge_offset(case, C, metadata, infos):
    infos[(W, (4, 0))].offset = 2 ** 64 - 16  # a Python long beyond int64, not negative


def _lz4(case, C, metadata, infos):
    infos[(W, (4, 0))].transform_descriptors = ["stream.lz4/1"]


def _drop(fname):
    def hook(case, files, meta):
        del files[fname]
        return meta
    return hook


def _corrupt_zstd(case, files, meta):
    data = bytearray(files["__1_0.distcp"])
    data[len(data) // 2] ^= 0x55  # inside w's frame: its content checksum no longer matches
    files["__1_0.distcp"] = bytes(data)
    return meta


def _add_safetensors(case, files, meta):
    files["model.safetensors"] = safetensors_blob(
        [("x", "F32", (2,), b"\x00" * 8)], {"format": "pt"})
    return meta


def bad_cases(zstd):
    cases = []
    c = _bad(small("bad_metadata_empty", ".metadata is empty"), [".metadata"],
             ["PickleInvalid", "DcpMetadataInvalid"])
    c.files_hook = _set_meta(lambda m: b"")
    cases.append(c)

    c = _bad(small("bad_metadata_truncated", ".metadata cut in half"), [".metadata"],
             ["PickleInvalid"])
    c.files_hook = _set_meta(lambda m: m[:len(m) // 2])
    cases.append(c)

    c = _bad(small("bad_metadata_opcode", "an undefined opcode 0xff in the middle of .metadata"),
             [".metadata"], ["PickleInvalid"])
    c.files_hook = _set_meta(_opcode_in_middle)
    cases.append(c)

    c = _bad(small("bad_unknown_class", f"{W}'s chunk list holds a "
                   "torch.distributed.checkpoint.metadata.Mystery object"),
             [".metadata", W], ["UnknownClass", "DcpMetadataInvalid"])
    c.meta_hook = _mystery_chunk
    cases.append(c)

    c = _bad(small("bad_missing_distcp", "__1_0.distcp, named by .metadata, is absent"),
             ["__1_0.distcp"], ["MissingDataFile"])
    c.files_hook = _drop("__1_0.distcp")
    cases.append(c)

    c = _bad(small("bad_range_past_end", f"{W}'s item in __1_0.distcp is recorded 100 "
                   "bytes longer than the file"), ["__1_0.distcp", W], ["ItemOutOfRange"])
    c.meta_hook = _long_range
    cases.append(c)

    c = _bad(small("bad_offset_too_large", f"{W}'s item in __1_0.distcp is recorded at byte "
                   "2^64 - 16"), [W], ["DcpMetadataInvalid", "ItemOutOfRange"])
    c.meta_hook = _huge_offset
    cases.append(c)

    c = small("bad_zip_name", f"in {W}'s archive in __1_0.distcp the local header of "
              "data/0 is named archive/data/9, the central directory says archive/data/0")
    c.entries[0].chunks[1].zip_opts = {"local_names": {"data/0": b"archive/data/9"}}
    cases.append(_bad(c, ["__1_0.distcp", W], ["ZipInvalid"]))

    c = small("bad_storage_class", f"{B} is BF16 in .metadata but its archive stores a "
              "FloatStorage")
    c.entries[1].chunks[0].pkl = {"storage": DTYPES["F32"].storage}
    cases.append(_bad(c, ["__0_0.distcp", B], ["StorageMismatch"]))

    c = small("bad_stored_size", f"{W}'s chunk at [4, 0] is [4, 6] in .metadata, its "
              "archive holds size (6, 4)")
    c.entries[0].chunks[1].pkl = {"size": (6, 4), "stride": (4, 1)}
    cases.append(_bad(c, ["__1_0.distcp", W], ["StorageMismatch"]))

    c = small("bad_strides", f"{W}'s chunk at [4, 0] has stride (7, 1): element [3, 5] is "
              "at 26, past the 24-element storage")
    c.entries[0].chunks[1].pkl = {"stride": (7, 1)}
    cases.append(_bad(c, ["__1_0.distcp", W], ["StrideOutOfBounds"]))

    c = _bad(small("bad_unknown_transform", f"{W}'s item in __1_0.distcp lists transform "
                   "'stream.lz4/1'"), [W, "stream.lz4/1"], ["UnknownTransform"])
    c.meta_hook = _lz4
    cases.append(c)

    c = small("bad_byteorder_big", f"{W}'s archive in __1_0.distcp has a byteorder record "
              "'big'")
    c.entries[0].chunks[1].zip_opts = {"byteorder": "big"}
    cases.append(_bad(c, ["__1_0.distcp", W], ["BigEndian"]))

    c = small("bad_gap", f"{W}'s chunks cover rows 0-3 and 5-7: row 4 is in no chunk")
    c.entries[0].chunks[1] = Chunk(1, (5, 0), (3, 6))
    cases.append(_bad(c, [W, "gap"], ["Coverage"]))

    c = small("bad_overlap", f"{W}'s chunks cover rows 0-4 and 4-7: row 4 twice")
    c.entries[0].chunks[:] = [Chunk(0, (0, 0), (5, 6)), Chunk(1, (4, 0), (4, 6))]
    cases.append(_bad(c, [W, "overlap"], ["Coverage"]))

    c = _bad(small("bad_no_metadata", "*.distcp files without .metadata"), [".metadata"],
             ["MixedCheckpoint"])
    c.files_hook = _set_meta(lambda m: None)
    cases.append(c)

    c = _bad(small("bad_mixed_safetensors", "a folder holding .metadata, *.distcp and a "
                   "*.safetensors file"), [".metadata", "safetensors"], ["MixedCheckpoint"])
    c.files_hook = _add_safetensors
    cases.append(c)

    if zstd:
        c = _bad(small("bad_zstd_corrupt", f"{W}'s zstd frame in __1_0.distcp has a flipped "
                       "byte", transform="zstd"), ["__1_0.distcp", W], ["DecompressFailed"])
        c.files_hook = _corrupt_zstd
        cases.append(c)
    return cases


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 1 or any(a not in ("--no-zstd",) for a in argv[1:] if a.startswith("--")):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    outdir = pathlib.Path(args[0])
    if outdir.exists():
        if any(outdir.iterdir()) and not (outdir / MARKER).exists():
            print(f"make_fixtures.py: {outdir} is not empty and was not written by this script",
                  file=sys.stderr)
            return 1
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    (outdir / MARKER).write_text("written by tests/dcp/make_fixtures.py\n")
    zstd = "--no-zstd" not in argv and have_zstd()
    cases = good_cases(zstd) + bad_cases(zstd)
    for case in cases:
        case.build(outdir)
    print(f"wrote {len(cases)} cases to {outdir}" + ("" if zstd else " (no zstd: zstd cases "
                                                           "left out)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
