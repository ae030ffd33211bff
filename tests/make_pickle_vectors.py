# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Prints the pickle test vectors of tst_pickle.cpp as C++ string literals.

Every vector is written by CPython's own pickle module (or, for opcodes only Python 2 wrote, is
hand-written here and checked by loading it with pickle.loads). The DCP classes are stand-ins:
empty modules named like torch's, holding dataclasses whose __module__ and __qualname__ match the
real ones, so the pickles carry the same globals and the same NEWOBJ/BUILD/REDUCE shapes.

    python3 tests/make_pickle_vectors.py > /tmp/vectors.inc
"""

import collections
import dataclasses
import enum
import io
import os
import pickle
import sys
import types
from typing import Optional


def module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    parent, _, leaf = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], leaf, m)
    return m


for n in ["torch", "torch._utils", "torch.serialization", "torch.distributed",
          "torch.distributed.checkpoint", "torch.distributed.checkpoint.metadata",
          "torch.distributed.checkpoint.filesystem", "torch.distributed._shard",
          "torch.distributed._shard.sharded_tensor",
          "torch.distributed._shard.sharded_tensor.metadata"]:
    module(n)


def place(obj, modname, name=None):
    name = name or obj.__name__
    obj.__module__ = modname
    obj.__qualname__ = name
    setattr(sys.modules[modname], name, obj)
    return obj


class Size(tuple):
    def __reduce__(self):
        return (Size, (tuple(self),))


place(Size, "torch")


class dtype:
    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        return self.name  # pickled by name: GLOBAL torch float32


place(dtype, "torch")
torch_float32 = dtype("float32")
sys.modules["torch"].float32 = torch_float32


def _get_layout(name):
    return name


place(_get_layout, "torch.serialization")


class layout:
    def __reduce__(self):
        return (_get_layout, ("torch.strided",))


place(layout, "torch")

SHT = "torch.distributed._shard.sharded_tensor.metadata"
DCP = "torch.distributed.checkpoint.metadata"


class MEM_FORMAT_ENCODING(enum.Enum):
    TORCH_CONTIGUOUS_FORMAT = 0
    TORCH_CHANNELS_LAST = 1

    # By name, REDUCE(getattr, (cls, 'NAME')), as observed in real .metadata files; CPython's
    # default is by value, REDUCE(cls, (0,)) (kEnumByValue4).
    __reduce_ex__ = enum.pickle_by_enum_name


place(MEM_FORMAT_ENCODING, SHT)


class _MEM_FORMAT_ENCODING(enum.Enum):
    TORCH_CONTIGUOUS_FORMAT = 0
    TORCH_CHANNELS_LAST = 1


place(_MEM_FORMAT_ENCODING, DCP)


@dataclasses.dataclass
class TensorProperties:
    dtype: object
    layout: object
    requires_grad: bool = False
    memory_format: object = MEM_FORMAT_ENCODING.TORCH_CONTIGUOUS_FORMAT
    pin_memory: bool = False

    def __getstate__(self):  # the real class pickles a 5-tuple
        return (self.dtype, self.layout, self.requires_grad, self.memory_format, self.pin_memory)

    def __setstate__(self, state):
        (self.dtype, self.layout, self.requires_grad, self.memory_format, self.pin_memory) = state


place(TensorProperties, SHT)


@dataclasses.dataclass
class ChunkStorageMetadata:
    offsets: Size
    sizes: Size


@dataclasses.dataclass
class TensorStorageMetadata:
    properties: TensorProperties
    size: Size
    chunks: list


@dataclasses.dataclass
class BytesStorageMetadata:
    pass


@dataclasses.dataclass(frozen=True)
class MetadataIndex:
    fqn: str
    offset: Optional[Size] = None
    index: Optional[int] = dataclasses.field(hash=False, compare=False, default=None)


@dataclasses.dataclass
class Metadata:
    state_dict_metadata: dict
    planner_data: object = None
    storage_data: object = None


for c in [ChunkStorageMetadata, TensorStorageMetadata, BytesStorageMetadata, MetadataIndex,
          Metadata]:
    place(c, DCP)


@dataclasses.dataclass
class _StorageInfo:
    relative_path: str
    offset: int
    length: int


place(_StorageInfo, "torch.distributed.checkpoint.filesystem")


class Point:  # a dataclass-like with its own __reduce__
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __reduce__(self):
        return (Point, (self.x, self.y))


place(Point, DCP)


class Keyword:  # NEWOBJ_EX: keyword-only construction
    def __new__(cls, a, *, k):
        o = super().__new__(cls)
        o.a, o.k = a, k
        return o

    def __getnewargs_ex__(self):
        return ((self.a,), {"k": self.k})


place(Keyword, DCP)


class Items(list):  # a list subclass: NEWOBJ, then APPENDS on the object
    pass


place(Items, DCP)


def metadata():
    props = TensorProperties(torch_float32, layout())
    chunks = [ChunkStorageMetadata(Size([2, 0]), Size([2, 4])),
              ChunkStorageMetadata(Size([0, 0]), Size([2, 4]))]
    return Metadata(
        state_dict_metadata={"w": TensorStorageMetadata(props, Size([4, 4]), chunks),
                             "step": BytesStorageMetadata()},
        planner_data=None,
        storage_data={
            MetadataIndex("w", Size([2, 0]), 0): _StorageInfo("__1_0.distcp", 0, 1000),
            MetadataIndex("w", Size([0, 0]), 1): _StorageInfo("__0_0.distcp", 64, 1000),
            MetadataIndex("step"): _StorageInfo("__0_0.distcp", 0, 64),
        })


# torch.save's data.pkl for a 2x3 float32 tensor: the storage is a persistent id.
def _rebuild_tensor_v2(*args):
    return args


place(_rebuild_tensor_v2, "torch._utils")


class FloatStorage:
    pass


place(FloatStorage, "torch")


class Storage:
    pass


class Tensor:
    storage = Storage()

    def __reduce_ex__(self, proto):
        return (_rebuild_tensor_v2,
                (self.storage, 0, (2, 3), (3, 1), False, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, "0", "cpu", 6)
        return None


class TextPickler(pickle.Pickler):
    def persistent_id(self, obj):
        return "storage-0" if isinstance(obj, Storage) else None


def with_pickler(cls, obj, proto):
    out = io.BytesIO()
    cls(out, protocol=proto).dump(obj)
    return out.getvalue()


class Unpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        return ("pid", pid)


def check_loads(data, **kw):
    Unpickler(io.BytesIO(data), **kw).load()  # raises if CPython refuses it
    return data


def cpp(data):
    out, line, prev_hex = [], "", False
    for b in data:
        c = chr(b)
        if c in '\n"\\':
            piece, prev_hex = {"\n": "\\n", '"': '\\"', "\\": "\\\\"}[c], False
        elif 32 <= b < 127 and c != "?" and not (prev_hex and c in "0123456789abcdefABCDEF"):
            piece, prev_hex = c, False
        else:
            piece, prev_hex = "\\x%02x" % b, True
        if len(line) + len(piece) > 86:
            out.append('"' + line + '"')
            line = ""
        line += piece
    out.append('"' + line + '"')
    return "\n    ".join(out) + "sv"


def emit(name, expr, proto, data):
    print(f"// {expr}, protocol {proto}")
    print(f"constexpr auto {name} =\n    {cpp(data)};")


def dumps(v, p):
    return pickle.dumps(v, protocol=p)


l = []
l.append(l)
shared = [1]
rl = []
rt = (rl,)
rl.append(rt)
strings300 = ["s%d" % i for i in range(300)]

cases = [
    ("kMetadata4", "metadata() (the DCP stand-ins)", 4, dumps(metadata(), 4)),
    ("kMetadata2", "metadata() (the DCP stand-ins)", 2, dumps(metadata(), 2)),
    ("kMetadata5", "metadata() (the DCP stand-ins)", 5, dumps(metadata(), 5)),
    ("kTensor2", "Tensor() with storage Storage() via TorchPickler (torch.save's data.pkl)", 2,
     with_pickler(TorchPickler, Tensor(), 2)),
    ("kTextPersId0", "[Storage(), 1] via TextPickler (persistent_id -> 'storage-0')", 0,
     with_pickler(TextPickler, [Storage(), 1], 0)),
    ("kShared0", "[x, x] with x = [1]", 0, dumps([shared, shared], 0)),
    ("kShared2", "[x, x] with x = [1]", 2, dumps([shared, shared], 2)),
    ("kShared4", "[x, x] with x = [1]", 4, dumps([shared, shared], 4)),
    ("kLongMemo2", "strings300 + strings300, strings300 = ['s0' .. 's299']", 2,
     dumps(strings300 + strings300, 2)),
    ("kSelfList0", "l = []; l.append(l); l", 0, dumps(l, 0)),
    ("kSelfList2", "l = []; l.append(l); l", 2, dumps(l, 2)),
    ("kSelfList4", "l = []; l.append(l); l", 4, dumps(l, 4)),
    ("kRecTuple0", "l = []; t = (l,); l.append(t); t (POP pops the MARK)", 0, dumps(rt, 0)),
    ("kRecTuple1", "l = []; t = (l,); l.append(t); t (POP_MARK)", 1, dumps(rt, 1)),
    ("kRecTuple2", "l = []; t = (l,); l.append(t); t (POP)", 2, dumps(rt, 2)),
    ("kPoint2", "Point(1, 'y') (__reduce__)", 2, dumps(Point(1, "y"), 2)),
    ("kKeyword4", "Keyword(1, k=2) (__getnewargs_ex__)", 4, dumps(Keyword(1, k=2), 4)),
    ("kItems4", "Items([1, 2])", 4, dumps(Items([1, 2]), 4)),
    ("kOrderedDict2", "OrderedDict([('a', 1), ('b', 2)])", 2,
     dumps(collections.OrderedDict([("a", 1), ("b", 2)]), 2)),
    ("kBytes2", "b'\\x00\\xff' (protocol 2: _codecs.encode)", 2, dumps(b"\x00\xff", 2)),
    ("kByteArray5", "bytearray(b'ba')", 5, dumps(bytearray(b"ba"), 5)),
    ("kSet4", "[{1, 2}, frozenset({3}), set()]", 4, dumps([{1, 2}, frozenset({3}), set()], 4)),
    ("kSet2", "{1, 2}", 2, dumps({1, 2}, 2)),
    ("kEnumByValue4", "_MEM_FORMAT_ENCODING.TORCH_CHANNELS_LAST", 4,
     dumps(_MEM_FORMAT_ENCODING.TORCH_CHANNELS_LAST, 4)),
]

# Opcodes that only Python 2 writes (STRING, BINSTRING, SHORT_BINSTRING, INST, OBJ), from
# CPython 2.7's pickle module when one is installed.
PY2 = r'''
import pickle, binascii
class C:
    def __getinitargs__(self): return (1, 2)
    def __init__(self, *a): self.x = 1
for name, expr, proto, v in [
        ("kPy2Strings0", "['ab\\n\\'\"\\x00\\xff', u'caf\\xe9', 1 << 70]", 0,
         ['ab\n\'"\x00\xff', u'caf\xe9', 1 << 70]),
        ("kPy2Strings1", "['ab', 'y' * 300]", 1, ['ab', 'y' * 300]),
        ("kPy2Inst0", "C() with __getinitargs__ (1, 2) and x = 1 (old-style class)", 0, C()),
        ("kPy2Obj1", "C() with __getinitargs__ (1, 2) and x = 1 (old-style class)", 1, C()),
        ]:
    data = pickle.dumps(v, proto)
    pickle.loads(data)
    print("%s|%s|%d|%s" % (name, expr, proto, binascii.hexlify(data)))
'''


def python2_cases():
    import shutil
    import subprocess
    exe = os.environ.get("PYTHON2") or shutil.which("python2") or shutil.which("python2.7")
    if not exe:
        sys.exit("make_pickle_vectors: set PYTHON2 to a CPython 2.7 interpreter")
    out = subprocess.run([exe, "-c", PY2], check=True, capture_output=True, text=True).stdout
    for ln in out.splitlines():
        name, expr, proto, hexdata = ln.split("|")
        yield name, "Python 2.7: " + expr, int(proto), bytes.fromhex(hexdata)


cases += list(python2_cases())

nested = {"t": (1, (2, 3), (), (4, 5, 6, 7)), "l": [1, [2], []], "d": {"a": None}, "e": {},
          "b": [True, False]}
print("// Generated by tests/make_pickle_vectors.py\n")
for name, expr, proto, data in cases:
    emit(name, expr, proto, data if name.startswith("kPy2") else check_loads(data))
    print()

print(f"// repr() of {nested!r}")
print(f"constexpr auto kNestedRepr =\n    {cpp(repr(nested).encode())};")
for p in (0, 1, 2, 3, 4, 5):
    emit(f"kNested{p}", "the dict above", p, dumps(nested, p))
    print()

# Scalars per protocol: (expression, protocol, pickle, expected).
def row(tag, expr, p, data, expected):
    print(f'    // {expr}, protocol {p}')
    print(f'    {{"{tag}", {cpp(data)},\n     "{expected}"}},')


ints = [0, 1, 255, 256, 65535, 65536, -1, -256, 2**31 - 1, -2**31, 2**31, 2**40, 2**63 - 1,
        -2**63]
bigs = [2**63, -2**63 - 1, 2**100, -(2**100), 2**2100]
print("const Row kIntRows[] = {")
for v in ints:
    for p in (0, 2, 4):
        row(f"{v} p{p}", repr(v), p, dumps(v, p), str(v))
for v in bigs:
    for p in (0, 2, 4):
        e = "big:" + pickle.encode_long(v).hex()
        row(f"{'2**2100' if v == 2**2100 else v} p{p}", "2**2100" if v == 2**2100 else repr(v),
            p, dumps(v, p), e)
for v in (True, False):
    for p in (0, 2):
        row(f"{v} p{p}", repr(v), p, dumps(v, p), "bool:" + str(int(v)))
print("};\n")

import struct
floats = [1.5, -0.0, 1e300, float("inf"), float("-inf"), float("nan"), 5e-324, 0.1]
print("const Row kFloatRows[] = {")
for v in floats:
    for p in (0, 2):
        row(f"{v!r} p{p}", repr(v), p, dumps(v, p), struct.pack("<d", v).hex())
print("};\n")

strs = ["", "abc", "caf\u00e9 \u20ac \U0001f600", "a\\b\nc\r\x1a\x00d", "x" * 300]
print("const Row kStrRows[] = {")
for i, v in enumerate(strs):
    for p in (0, 2, 4):
        row(f"str{i} p{p}", repr(v) if len(v) < 40 else "'x' * 300", p, dumps(v, p),
            v.encode("utf-8").hex())
for i, v in enumerate([b"", b"\x00\xff", b"y" * 300]):
    for p in (3, 4, 5):
        row(f"bytes{i} p{p}", repr(v) if len(v) < 40 else "b'y' * 300", p, dumps(v, p),
            v.hex())
print("};")
