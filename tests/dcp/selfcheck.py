#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Prove the DCP fixtures consistent with a small reader that shares no code with the generator.

    selfcheck.py [FIXTURES]

Without FIXTURES, runs make_fixtures.py twice into temporary folders, checks that both runs
wrote the same bytes in under 5 seconds, and checks the first. For every good case the reader
unpickles .metadata (restricted Unpickler, stand-in classes), opens every item slice with
zipfile (or the safetensors blob), rebuilds each tensor through its stored strides and compares
it with the expected .bin; it also checks the zip records byte by byte (flags, "FB" padding,
64-byte alignment, descriptors, ZIP64 end records), that item ranges tile every file, and the
case's special features. Every bad case must fail in this reader with the expected error kind
and with every must_mention string in the message. mock_cli.py turns this reader into a
stand-in shardscope-cli for testing check_export.py.
"""

import codecs
import collections
import io
import itertools
import json
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = pathlib.Path(__file__).resolve().parent

ITEMSIZE = {"F32": 4, "BF16": 2, "F16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
            "U8": 1, "BOOL": 1, "C64": 8}
TORCH_DTYPES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16", "float64": "F64",
                "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8",
                "bool": "BOOL", "complex64": "C64"}
STORAGE_OF = {"F32": "FloatStorage", "BF16": "BFloat16Storage", "F16": "HalfStorage",
              "F64": "DoubleStorage", "I64": "LongStorage", "I32": "IntStorage",
              "I16": "ShortStorage", "I8": "CharStorage", "U8": "ByteStorage",
              "BOOL": "BoolStorage", "C64": "ComplexFloatStorage"}
KINDS = {"model": "model", "optimizer": "optimizer", "optim": "optimizer",
         "optimizers": "optimizer", "lr_scheduler": "scheduler", "lr_schedulers": "scheduler",
         "scheduler": "scheduler", "schedulers": "scheduler", "dataloader": "dataloader",
         "data_loader": "dataloader", "dataloaders": "dataloader",
         "train_state": "train_state", "training_state": "train_state",
         "trainer_state": "train_state", "rng_state": "train_state",
         "rng_states": "train_state", "extra_state": "train_state"}


class DcpError(Exception):
    def __init__(self, kind, file, tensor, message):
        self.kind, self.file, self.tensor, self.message = kind, file, tensor, message
        text = (f"{file}: " if file else "") + (f"tensor '{tensor}': " if tensor else "")
        super().__init__(text + message)


# ---------------------------------------------------------------------------------------------
# Unpickling with stand-ins


class Obj:
    """Any DCP dataclass: keeps whatever BUILD gives it."""
    known = True

    def __setstate__(self, state):
        self.state = state

    def get(self, key, default=None):
        state = getattr(self, "state", None) or {}
        return state.get(key, default) if isinstance(state, dict) else default


class MemFormat:
    """Both enum encodings: MEM_FORMAT_ENCODING(0) and getattr(MEM_FORMAT_ENCODING, name)."""
    TORCH_CONTIGUOUS_FORMAT = "contiguous"
    TORCH_CHANNELS_LAST = "channels_last"
    TORCH_PRESERVE_FORMAT = "preserve"

    def __new__(cls, value):
        return ["contiguous", "channels_last", "preserve"][value]


class TensorRec:
    def __init__(self, storage, offset, size, stride, requires_grad, hooks, metadata=None):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
        self.metadata = metadata


DCP_MODULES = {"torch.distributed.checkpoint.metadata",
               "torch.distributed._shard.checkpoint.metadata",
               "torch.distributed.checkpoint.filesystem",
               "torch.distributed._shard.checkpoint.filesystem",
               "torch.distributed._shard.sharded_tensor.metadata"}
DCP_CLASSES = {"Metadata", "TensorStorageMetadata", "ChunkStorageMetadata",
               "BytesStorageMetadata", "MetadataIndex", "StorageMeta", "_StorageInfo",
               "TensorProperties"}
_classes = {}


def _dcp_class(name, known):
    key = (name, known)
    if key not in _classes:
        _classes[key] = type(name, (Obj,), {"known": known})
    return _classes[key]


class Unpickler(pickle.Unpickler):
    globals_seen = None

    def find_class(self, module, name):
        if self.globals_seen is not None:
            self.globals_seen.append(f"{module}.{name}")
        if module == "torch":
            if name == "Size":
                return lambda dims=(): tuple(dims)
            if name in TORCH_DTYPES:
                return "dtype:" + TORCH_DTYPES[name]
            if name.endswith("Storage"):
                return "storage:" + name
        if (module, name) == ("torch.serialization", "_get_layout"):
            return lambda layout: layout
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return TensorRec
        if name in ("MEM_FORMAT_ENCODING", "_MEM_FORMAT_ENCODING") and module in DCP_MODULES:
            return MemFormat
        if module in DCP_MODULES:
            return _dcp_class(name, name in DCP_CLASSES)
        if module == "__builtin__":  # protocol 2 spells builtins the Python 2 way
            module = "builtins"
        allowed = {("builtins", "getattr"): getattr, ("collections", "OrderedDict"):
                   collections.OrderedDict, ("_codecs", "encode"): codecs.encode,
                   ("_io", "BytesIO"): io.BytesIO, ("builtins", "set"): set,
                   ("builtins", "frozenset"): frozenset, ("builtins", "bytearray"): bytearray}
        if (module, name) in allowed:
            return allowed[(module, name)]
        if module in ("pathlib", "pathlib._local") and name.endswith("Path"):
            return pathlib.PurePosixPath
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")

    def persistent_load(self, pid):
        return pid


def unpickle(data, seen=None):
    u = Unpickler(io.BytesIO(data))
    u.globals_seen = seen
    return u.load()


# ---------------------------------------------------------------------------------------------
# Items


def zstd_decompress(data):
    r = subprocess.run(["zstd", "-d", "-q", "-c"], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if r.returncode:
        raise ValueError(r.stderr.decode(errors="replace").strip() or "zstd failed")
    return r.stdout


def read_item(folder, info, fqn):
    """The bytes of one item, transforms undone."""
    path = info.get("relative_path")
    file = folder / path
    if not file.is_file():
        raise DcpError("MissingDataFile", path, fqn, "data file named by .metadata is absent")
    size = file.stat().st_size
    offset, length = info.get("offset"), info.get("length")
    if offset + length > size:
        raise DcpError("ItemOutOfRange", path, fqn,
                       f"item [{offset}, {offset + length}) runs past the end ({size} bytes)")
    with open(file, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    for t in reversed(info.get("transform_descriptors") or []):
        if t != "stream.zstd/1":
            raise DcpError("UnknownTransform", path, fqn, f"unknown transform {t}")
        try:
            data = zstd_decompress(data)
        except (OSError, ValueError) as e:
            raise DcpError("DecompressFailed", path, fqn, f"zstd: {e}")
    return data


def open_archive(data, path, fqn):
    """(records {name: bytes}, prefix) of a torch.save zip, by its central directory."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl")]
        if len(pkl) != 1:
            raise zipfile.BadZipFile("no single */data.pkl record")
        prefix = pkl[0][:-len("data.pkl")]
        records = {n[len(prefix):]: z.read(n) for n in names if n.startswith(prefix)}
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as e:
        raise DcpError("ZipInvalid", path, fqn, f"torch.save archive: {e}")
    order = records.get("byteorder", b"little")
    if order != b"little":
        raise DcpError("BigEndian", path, fqn, f"byteorder record is {order.decode()!r}")
    return records, prefix


def check_zip_bytes(data, generation):
    """The archive as miniz writes it; returns a list of deviations."""
    bad = []
    eocd = data.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + 22 != len(data):
        return ["no end record at the end"]
    _, _, _, n, total, cd_size, cd_off, _ = struct.unpack_from("<IHHHHIIH", data, eocd)
    loc = eocd - 20
    if data[loc:loc + 4] != b"PK\x06\x07":
        bad.append("no ZIP64 locator before the end record")
    else:
        z64 = struct.unpack_from("<Q", data, loc + 8)[0]
        if data[z64:z64 + 4] != b"PK\x06\x06" or z64 != cd_off + cd_size:
            bad.append("ZIP64 end record not right after the central directory")
    pos, names = cd_off, []
    for _ in range(n):
        (sig, _, _, flags, method, t, d, crc, csize, usize, nlen, elen, clen, _, _, _,
         lho) = struct.unpack_from("<IHHHHHHIIIHHHHHII", data, pos)
        name = data[pos + 46:pos + 46 + nlen]
        names.append(name.decode())
        pos += 46 + nlen + elen + clen
        lsig, _, lflags, lmethod, lt, ld, lcrc, lcs, lus, lnlen, lelen = struct.unpack_from(
            "<IHHHHHIIIHH", data, lho)
        lname = data[lho + 30:lho + 30 + lnlen]
        extra = data[lho + 30 + lnlen:lho + 30 + lnlen + lelen]
        start = lho + 30 + lnlen + lelen
        want_flags = 0x0808 if usize else 0x0800
        if lsig != 0x04034B50 or lname != name:
            bad.append(f"{name}: local header does not match the central directory")
        if (flags, lflags) != (want_flags, want_flags) or method or lmethod or t or d or lt or ld:
            bad.append(f"{name}: flags/method/time not as miniz writes them")
        if (lcrc, lcs, lus) != (0, 0, 0) or elen:
            bad.append(f"{name}: local sizes not 0 or central extra present")
        if extra[:2] != b"FB" or struct.unpack_from("<H", extra, 2)[0] != lelen - 4 or \
                set(extra[4:]) - {ord("Z")}:
            bad.append(f"{name}: no FB padding")
        if start % 64:
            bad.append(f"{name}: data at {start}, not 64-aligned")
        if usize:
            desc = struct.unpack_from("<IIII", data, start + usize)
            if desc != (0x08074B50, crc, csize, usize):
                bad.append(f"{name}: data descriptor disagrees")
    stems = [nm.split("/", 1)[1] for nm in names]
    datas = [s for s in stems if s.startswith("data/")]
    want = (["data.pkl"] + datas + ["version"] if generation == "1.13" else
            ["data.pkl", ".format_version", ".storage_alignment", "byteorder"] + datas +
            ["version", ".data/serialization_id"])
    if stems != want:
        bad.append(f"record order {stems}")
    return bad


def parse_safetensors_at(file, offset):
    with open(file, "rb") as f:
        f.seek(offset)
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        return header, offset + 8 + n


# ---------------------------------------------------------------------------------------------
# The checkpoint


class Checkpoint:
    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        self.tensors = {}      # fqn -> dict(dtype, shape, kind, name, data, chunks)
        self.byte_items = {}   # fqn -> dict(type, value, size)
        self.item_ranges = collections.defaultdict(list)  # file -> [(offset, length)]
        self.archives = []     # (file, fqn, raw archive bytes)
        self.rebuilt = {}      # (fqn, offsets) -> TensorRec
        self.globals_seen = []
        self.generation = None
        self.meta_protocol = None
        self.safetensors_mode = False
        self.read()

    def read(self):
        folder = self.folder
        names = os.listdir(folder) if folder.is_dir() else []
        has_meta = ".metadata" in names
        if not has_meta and any(n.endswith(".distcp") for n in names):
            raise DcpError("MixedCheckpoint", ".metadata", "",
                           "*.distcp files without .metadata")
        if has_meta and any(n.endswith(".safetensors") for n in names):
            raise DcpError("MixedCheckpoint", ".metadata", "",
                           "folder holds both .metadata and *.safetensors files")
        raw = (folder / ".metadata").read_bytes()
        try:
            meta = unpickle(raw, self.globals_seen)
        except Exception as e:  # any failure of the pickle VM: empty, truncated, bad opcode
            raise DcpError("PickleInvalid", ".metadata", "", f"{type(e).__name__}: {e}")
        self.meta_protocol = raw[1] if raw[:1] == b"\x80" else None
        if type(meta).__name__ != "Metadata":
            raise DcpError("DcpMetadataInvalid", ".metadata", "", "not a Metadata object")
        self.generation = "1.13" if any(g.startswith("torch.distributed._shard.checkpoint.")
                                        for g in self.globals_seen) else "2.x"
        self.meta = meta
        sdm = meta.get("state_dict_metadata")
        planner = meta.get("planner_data")
        storage = {}
        for key, info in meta.get("storage_data").items():
            off = key.get("offset")
            storage[(key.get("fqn"), tuple(off) if off is not None else None)] = info
            self.item_ranges[info.get("relative_path")].append(
                (info.get("offset"), info.get("length")))
        self.storage = storage
        for fqn, md in sdm.items():
            path = planner.get(fqn) if isinstance(planner, dict) else None
            if type(md).__name__ == "BytesStorageMetadata":
                self.byte_items[fqn] = self.read_bytes_item(fqn, storage)
            elif type(md).__name__ == "TensorStorageMetadata":
                self.tensors[fqn] = self.read_tensor(fqn, md, path, storage)
            else:
                raise DcpError("UnknownClass", ".metadata", fqn, f"class {type(md).__name__}")

    def read_bytes_item(self, fqn, storage):
        info = storage.get((fqn, None))
        if info is None:
            raise DcpError("DcpMetadataInvalid", ".metadata", fqn, "no storage entry")
        data = read_item(self.folder, info, fqn)
        records, _ = open_archive(data, info.get("relative_path"), fqn)
        self.archives.append((info.get("relative_path"), fqn, data))
        value = unpickle(records["data.pkl"])
        return {"type": type(value).__name__, "value": value, "size": info.get("length")}

    def read_tensor(self, fqn, md, path, storage):
        props = md.get("properties")
        pstate = getattr(props, "state", None)
        dtype = pstate[0] if isinstance(pstate, tuple) else props.get("dtype")
        st = dtype.split(":", 1)[1]
        shape = tuple(md.get("size"))
        isz = ITEMSIZE[st]
        count = 1
        for d in shape:
            count *= d
        full = bytearray(count * isz)
        cover = bytearray(count)
        strides_full = [0] * len(shape)
        acc = 1
        for d in reversed(range(len(shape))):
            strides_full[d] = acc
            acc *= max(shape[d], 1)
        chunks = []
        for chunk in md.get("chunks"):
            if not getattr(chunk, "known", False) or type(chunk).__name__ != \
                    "ChunkStorageMetadata":
                raise DcpError("UnknownClass", ".metadata", fqn,
                               f"chunk of unknown class {type(chunk).__name__}")
            offsets, sizes = tuple(chunk.get("offsets")), tuple(chunk.get("sizes"))
            chunks.append((offsets, sizes))
            info = storage.get((fqn, offsets))
            if info is None:
                raise DcpError("DcpMetadataInvalid", ".metadata", fqn,
                               f"no storage entry for the chunk at {list(offsets)}")
            file = info.get("relative_path")
            data = read_item(self.folder, info, fqn)
            if data[:4] != b"PK\x03\x04":  # SerializationFormat.SAFETENSORS
                self.safetensors_mode = True
                header, start = parse_safetensors_at(self.folder / file, info.get("offset"))
                sharding = json.loads(header["__metadata__"]["DCP_SHARDING_INFO"])
                entry = header[fqn]
                assert tuple(sharding[fqn]["saved_offsets"]) == offsets
                assert entry["dtype"] == st and tuple(entry["shape"]) == sizes
                with open(self.folder / file, "rb") as f:
                    f.seek(start + entry["data_offsets"][0])
                    block = f.read(entry["data_offsets"][1] - entry["data_offsets"][0])
                rec = TensorRec(None, 0, sizes, None, False, None)
                rec.stride = [0] * len(sizes)
                a = 1
                for d in reversed(range(len(sizes))):
                    rec.stride[d] = a
                    a *= max(sizes[d], 1)
                storage_bytes, storage_numel = block, len(block) // isz
            else:
                records, prefix = open_archive(data, file, fqn)
                self.archives.append((file, fqn, data))
                rec = unpickle(records["data.pkl"])
                if not isinstance(rec, TensorRec):
                    raise DcpError("StorageMismatch", file, fqn, "data.pkl is not a tensor")
                tag, cls, key, location, storage_numel = rec.storage
                if cls != "storage:" + STORAGE_OF[st]:
                    raise DcpError("StorageMismatch", file, fqn,
                                   f"{cls.split(':')[1]} for a {st} tensor")
                if tuple(rec.size) != sizes:
                    raise DcpError("StorageMismatch", file, fqn,
                                   f"stored size {list(rec.size)}, chunk {list(sizes)}")
                storage_bytes = records.get(f"data/{key}")
                if storage_bytes is None or len(storage_bytes) != storage_numel * isz:
                    raise DcpError("StorageMismatch", file, fqn, "storage record size")
            n = 1
            for s in sizes:
                n *= s
            if n:
                reach = rec.offset + sum((s - 1) * t for s, t in zip(sizes, rec.stride))
                if reach >= storage_numel:
                    raise DcpError("StrideOutOfBounds", file, fqn,
                                   f"strides {list(rec.stride)} reach element {reach} of "
                                   f"{storage_numel}")
            self.rebuilt[(fqn, offsets)] = rec
            for idx in itertools.product(*[range(s) for s in sizes]):
                src = rec.offset + sum(i * t for i, t in zip(idx, rec.stride))
                dst = sum((o + i) * t for o, i, t in zip(offsets, idx, strides_full))
                full[dst * isz:(dst + 1) * isz] = storage_bytes[src * isz:(src + 1) * isz]
                cover[dst] += 1
        if count and 0 in cover:
            raise DcpError("Coverage", "", fqn, f"gap: {cover.count(0)} of {count} elements "
                           "are in no chunk")
        if any(c > 1 for c in cover):
            raise DcpError("Coverage", "", fqn, "overlap: chunks cover some elements twice")
        first = path[0] if path else fqn.split(".")[0]
        kind = KINDS.get(str(first), "model")
        name = ".".join(map(str, path[1:])) if path and len(path) > 1 and path[0] == "model" \
            else fqn
        return {"dtype": st, "shape": list(shape), "kind": kind, "name": name,
                "data": bytes(full), "chunks": chunks}


# ---------------------------------------------------------------------------------------------
# The self-check


def tiles(ranges, size):
    pos = 0
    for off, length in sorted(set(ranges)):
        if off != pos:
            return False
        pos = off + length
    return pos == size


def feature_checks(name, ck):
    """What each case exists to show, checked on the bytes rather than taken on trust."""
    r = ck.rebuilt
    checks = {
        "v113_file_per_item": lambda: ck.generation == "1.13" and ck.meta_protocol == 2 and
        "torch.distributed._shard.sharded_tensor.metadata.MEM_FORMAT_ENCODING" in
        ck.globals_seen and "builtins.getattr" not in ck.globals_seen and
        ck.meta.get("planner_data") is None and
        all(off == 0 for rs in ck.item_ranges.values() for off, _ in rs),
        "v113_blocks": lambda: ck.generation == "1.13" and ck.meta_protocol == 4 and
        "builtins.getattr" in ck.globals_seen and
        ck.tensors["blocks.weight"]["chunks"][0][0] == (4, 4),
        "v2_file_per_rank": lambda: ((5, 0), (0, 16)) in ck.tensors["embed.weight"]["chunks"]
        and len(ck.item_ranges) == 4 and ck.storage[("norm.weight", (0,))].get(
            "relative_path") == "__2_0.distcp" and
        {v["type"] for v in ck.byte_items.values()} >=
        {"int", "float", "str", "bytes", "dict", "BytesIO"},
        "v2_blocks": lambda: ck.tensors["blocks.weight"]["chunks"][0][0] == (6, 5) and
        len(ck.tensors["strided.weight"]["chunks"]) == 8,
        "v2_dtypes": lambda: ck.meta_protocol == 5 and
        {t["dtype"] for t in ck.tensors.values()} == set(ITEMSIZE) and
        ck.tensors["scale"]["shape"] == [] and ck.tensors["empty"]["shape"] == [0, 4],
        "v2_strided": lambda: tuple(r[("proj.weight", (40, 0))].stride) == (1, 40) and
        tuple(r[("proj.weight", (0, 0))].stride) == (24, 1) and
        tuple(r[("conv.weight", (4, 0, 0, 0))].stride) == (30, 1, 15, 3),
        "v2_archive_variants": lambda: ck.meta_protocol == 2 and
        "builtins.getattr" not in ck.globals_seen and
        r[("w", (0, 0))].metadata == {"shardscope_flag": True} and
        all(zipfile.ZipFile(io.BytesIO(a)).namelist()[0] == "checkpoint_item/data.pkl"
            for _, _, a in ck.archives),
        "v2_thread_buckets": lambda: sorted(ck.item_ranges) ==
        ["__0_0.distcp", "__0_1.distcp", "__1_0.distcp", "__1_1.distcp"],
        "v2_zstd": lambda: all(i.get("transform_descriptors") == ["stream.zstd/1"]
                               for i in ck.storage.values()),
        "v2_safetensors": lambda: ck.safetensors_mode,
        "v23_props_from_shard": lambda: "torch.distributed._shard.sharded_tensor.metadata."
        "TensorProperties" in ck.globals_seen and "version" not in ck.meta.state and
        "__builtin__.getattr" in ck.globals_seen and ck.meta_protocol == 2 and
        "storage_meta" in ck.meta.state,
    }
    check = checks.get(name)
    return check is None or bool(check())


def check_case(fixtures, name, expect):
    folder = fixtures / name
    if not expect["ok"]:
        try:
            Checkpoint(folder)
        except DcpError as e:
            text = str(e)
            missing = [m for m in expect["must_mention"] if m not in text]
            if e.kind not in expect["kinds"]:
                return f"failed with {e.kind}, expected one of {expect['kinds']}: {text}"
            if missing:
                return f"error does not mention {missing}: {text}"
            return None
        return "read without error"
    ck = Checkpoint(folder)
    problems = []
    for out, t in expect["tensors"].items():
        got = ck.tensors.get(t["fqn"])
        if got is None:
            problems.append(f"{t['fqn']} missing")
            continue
        if got["name"] != out and not (expect["include_training_state"] and out == t["fqn"]):
            problems.append(f"{t['fqn']} is exported as {got['name']}, expected {out}")
        if got["kind"] != t["kind"] or (got["kind"] != "model" and
                                        not expect["include_training_state"]):
            problems.append(f"{t['fqn']}: kind {got['kind']}, expected {t['kind']}")
        want = (fixtures / t["expected"]).read_bytes()
        if got["data"] != want or got["dtype"] != t["dtype"] or got["shape"] != t["shape"]:
            problems.append(f"{t['fqn']} differs from {t['expected']}")
    for fqn, want in expect["inspect"].items():
        got = ck.tensors.get(fqn)
        if got is None or {k: got[k] for k in ("name", "kind", "dtype", "shape")} != \
                {k: want[k] for k in ("name", "kind", "dtype", "shape")}:
            problems.append(f"{fqn}: name/kind/dtype/shape not as expected")
    for fqn in expect["excluded"]:
        if ck.tensors.get(fqn, {}).get("kind", "model") == "model":
            problems.append(f"{fqn} is excluded but of kind model")
    if set(expect["inspect"]) != set(ck.tensors):
        problems.append("tensor set differs")
    for fqn, want in expect["byte_items"].items():
        got = ck.byte_items.get(fqn)
        if got is None or got["type"] != want["type"]:
            problems.append(f"byte item {fqn}: {got and got['type']} != {want['type']}")
        elif "value" in want and (repr(got["value"]) if want["type"] != "str"
                                  else got["value"]) != want["value"]:
            problems.append(f"byte item {fqn}: value {got['value']!r}")
    for file, ranges in ck.item_ranges.items():
        size = (ck.folder / file).stat().st_size
        if ck.safetensors_mode:
            continue  # the tensor ranges point at the blob start, not at the tensors
        if not tiles(ranges, size):
            problems.append(f"{file}: item ranges do not tile the file")
    for file, fqn, archive in ck.archives:
        for p in check_zip_bytes(archive, ck.generation):
            problems.append(f"{file} ({fqn}): {p}")
    if not feature_checks(name, ck):
        problems.append("the case's special feature is not in the bytes")
    return "; ".join(problems) or None


def run_all(fixtures):
    failures = 0
    for exp in sorted(fixtures.glob("*.json")):
        name = exp.stem
        expect = json.loads(exp.read_text())
        try:
            problem = check_case(fixtures, name, expect)
        except Exception as e:  # a reader crash on a good case is a fixture bug
            problem = f"{type(e).__name__}: {e}"
        print(f"{'PASS' if problem is None else 'FAIL'} {name}" +
              ("" if problem is None else f": {problem}"))
        failures += problem is not None
    return failures


def main(argv):
    if len(argv) > 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    if len(argv) == 2:
        return 1 if run_all(pathlib.Path(argv[1])) else 0
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for i in range(2):
            out = pathlib.Path(tmp) / f"run{i}"
            start = time.monotonic()
            subprocess.run([sys.executable, str(HERE / "make_fixtures.py"), str(out)],
                           check=True, stdout=subprocess.DEVNULL)
            runs.append((out, time.monotonic() - start))
        a, b = (sorted((p.relative_to(out), p.read_bytes() if p.is_file() else None)
                       for p in out.rglob("*")) for out, _ in runs)
        ok = a == b
        total = sum(len(d) for _, d in a if d)
        print(f"{'PASS' if ok else 'FAIL'} deterministic: two runs wrote the same "
              f"{len(a)} entries ({total} bytes)")
        slow = max(t for _, t in runs)
        print(f"{'PASS' if slow < 5 else 'FAIL'} fast: {slow:.2f} s per run")
        failures = run_all(runs[0][0]) + (not ok) + (slow >= 5)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
