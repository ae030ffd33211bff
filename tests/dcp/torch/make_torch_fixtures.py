#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Write small DCP checkpoints with real PyTorch, for check_torch_fixtures.py.

Needs torch (Debian 12's python3-torch, 1.13.1); on this machine that is the system Python,
not the pyenv `python3` on PATH:

    /usr/bin/python3 tests/dcp/torch/make_torch_fixtures.py [OUTDIR]

OUTDIR defaults to tests/dcp/torch/fixtures/ and is replaced. The result is committed, so the
ctest (tst_dcp_torch) runs without torch. Layout, per fixture:

    <name>/ckpt/              what torch's FileSystemWriter wrote (.metadata, __<rank>_<n>.distcp)
    <name>/expected.json      every tensor (fqn, safetensors dtype, shape, .bin name, how torch held
                              it before saving) and every byte item (python type, value if simple)
    <name>/expected/<k>_<safe fqn>.bin
                              the tensor's full logical value, row-major, little-endian: the bytes
                              of torch's own `t.contiguous()` (sharded tensors: built from the same
                              fill every rank used, and checked against a DCP load on every rank)

Fixtures:
    single_per_item   one process (no_dist=True), single_file_per_rank=False (1.13's default)
    single_per_rank   the same state, single_file_per_rank=True
    gloo2_per_item    2 gloo processes, ShardedTensors + replicated tensors, one file per item
    gloo3_per_rank    3 gloo processes, one file per rank
    gloo4_per_item    4 gloo processes (more ranks than cores), one file per item
    single_complex128 a complex128 tensor, which safetensors cannot hold: expected.json has
                      "expect_error" instead of tensors (inspect and consolidate must exit 1)

Torch 1.13 notes: DCP lives in torch.distributed._shard.checkpoint (torch.distributed.checkpoint
does not exist yet); its planner does not flatten nested containers, so a nested dict (model /
optimizer state) is saved whole as one byte item, tensors inside it included (ShardScope lists
those tensors as tensors named by the item and their keys, so expected.json does too); only the
coordinator (rank 0) writes replicated tensors and byte items. Values are deterministic
(arange-based with a different start per tensor), so a misplaced chunk or a wrong slice shows.
"""
import copy
import dataclasses
import io
import json
import os
import re
import shutil
import sys
import tempfile


def import_dcp():
    # torch 1.13's sharded_tensor.metadata gives a dataclass field an unhashable instance as its
    # default, which Python 3.11's dataclasses refuse. Turn such defaults into factories while
    # torch's modules are imported, then put dataclasses back as it was.
    plain_field = dataclasses.field

    def tolerant_field(*args, **kwargs):
        default = kwargs.get("default", dataclasses.MISSING)
        if default is not dataclasses.MISSING and type(default).__hash__ is None:
            del kwargs["default"]
            kwargs["default_factory"] = lambda value=default: copy.copy(value)
        return plain_field(*args, **kwargs)

    dataclasses.field = tolerant_field
    try:
        import torch.distributed._shard.checkpoint as dcp_module
        import torch.distributed._shard.sharded_tensor  # noqa: F401
    finally:
        dataclasses.field = plain_field
    return dcp_module


dcp = import_dcp()
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch.distributed._shard import sharded_tensor  # noqa: E402
from torch.distributed._shard.sharding_spec import (  # noqa: E402
    ChunkShardingSpec, EnumerableShardingSpec, ShardMetadata)

ST_DTYPE = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16",
            torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
            torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL", torch.complex64: "C64"}


# ---------------------------------------------------------------------------------------------
# Values

def fill(shape, dtype, start):
    """A tensor of `shape` whose elements all differ (within the dtype's range), from `start`."""
    n = 1
    for d in shape:
        n *= d
    i = torch.arange(n, dtype=torch.float64) + start
    if dtype == torch.bool:
        t = (i.remainder(3) != 1)
    elif dtype == torch.complex64:
        t = torch.complex(i.float() * 0.5, -i.float() - 0.25)
    elif dtype == torch.uint8:
        t = i.remainder(256).to(torch.uint8)
    elif dtype == torch.int8:
        t = (i.remainder(256) - 128).to(torch.int8)
    elif dtype == torch.int16:
        t = (i * 37 - 3000).to(torch.int16)
    elif dtype == torch.int32:
        t = (i * 100003 - 2 ** 30).to(torch.int32)
    elif dtype == torch.int64:
        # Beyond 2**53: a reader that goes through doubles loses the low bits.
        t = (torch.arange(n, dtype=torch.int64) + int(start)) * 7 + (2 ** 62 + 1)
        t[::2] = -t[::2]
    elif dtype in (torch.float16, torch.bfloat16):
        t = ((i.remainder(500) - 250) * 0.5).to(dtype)
    else:
        t = ((i - n / 2) * 0.125 + 1.0 / 3.0).to(dtype)
    return t.reshape(shape)


def special_floats(t):
    """Put a NaN with a payload, +Inf, -Inf and -0.0 into a float32 tensor (bytes must survive)."""
    flat = t.view(-1)
    bits = flat.view(torch.int32)
    bits[0] = 0x7FC12345
    flat[1] = float("inf")
    flat[2] = float("-inf")
    bits[3] = -2 ** 31  # -0.0
    return t


def le_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    if t.dtype == torch.bool:
        return t.to(torch.uint8).numpy().tobytes()
    a = t.numpy()
    return a.astype(a.dtype.newbyteorder("<")).tobytes()


# ---------------------------------------------------------------------------------------------
# Expectations

def safe_name(k, fqn):
    return "%03d_%s.bin" % (k, re.sub(r"[^A-Za-z0-9._-]", "_", fqn)[:60])


def describe_byte_item(v):
    entry = {"type": type(v).__name__}
    if v is None or isinstance(v, (bool, int, float, str)):
        entry["value"] = v
    elif isinstance(v, (list, tuple)) and all(isinstance(x, (int, float, str)) for x in v):
        entry["value"] = list(v)
    elif isinstance(v, io.BytesIO):
        entry["bytes_hex"] = v.getvalue().hex()
    elif isinstance(v, dict):
        entry["keys"] = sorted(str(k) for k in v)
    return entry


def stored_layout(t):
    return {"stride": list(t.stride()), "storage_offset": t.storage_offset(),
            "contiguous": t.is_contiguous()}


def write_expected(case_dir, description, world, tensors, byte_items, layouts):
    exp_dir = os.path.join(case_dir, "expected")
    os.makedirs(exp_dir)
    entries = []
    for k, fqn in enumerate(sorted(tensors)):
        t = tensors[fqn]
        name = safe_name(k, fqn)
        with open(os.path.join(exp_dir, name), "wb") as f:
            f.write(le_bytes(t))
        entry = {"fqn": fqn, "dtype": ST_DTYPE[t.dtype], "shape": list(t.shape), "bin": name,
                 "nbytes": t.numel() * t.element_size()}
        entry.update(layouts.get(fqn, {}))
        entries.append(entry)
    doc = {"description": description, "world_size": world,
           "written_by": "torch %s, Python %s" % (torch.__version__, sys.version.split()[0]),
           "tensors": entries,
           "byte_items": {fqn: describe_byte_item(v) for fqn, v in sorted(byte_items.items())}}
    with open(os.path.join(case_dir, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def same_bytes(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and le_bytes(a) == le_bytes(b)


# ---------------------------------------------------------------------------------------------
# One process: every dtype, odd shapes and layouts, byte items

LONG_FQN = "encoder." + ".".join("block%02d" % i for i in range(40)) + ".weight"  # > 256 bytes


def single_state():
    s = {}
    start = 0
    for dtype, tag in ST_DTYPE.items():
        s["dtypes.%s" % tag.lower()] = fill((3, 7), dtype, start)
        start += 1000
    s["dtypes.f32_special"] = special_floats(fill((2, 4), torch.float32, 77))
    s["shapes.scalar_f32"] = torch.tensor(3.25)
    s["shapes.scalar_i64"] = torch.tensor(-(2 ** 40) - 5, dtype=torch.int64)
    s["shapes.one_element"] = fill((1,), torch.float16, 9)
    s["shapes.empty_rows"] = torch.zeros((0, 4))
    s["shapes.empty_middle"] = torch.zeros((3, 0, 2), dtype=torch.bfloat16)
    s["shapes.five_dims"] = fill((2, 1, 3, 2, 2), torch.int32, 4242)
    # Non-contiguous but owning its whole storage: DCP stores these strides as they are.
    s["views.transposed"] = fill((6, 10), torch.float32, 5000).t()
    s["views.permuted"] = fill((3, 4, 5), torch.int16, 6000).permute(2, 0, 1)
    s["views.channels_last"] = fill((2, 3, 4, 5), torch.float16, 7000).contiguous(
        memory_format=torch.channels_last)
    # Views into a bigger storage: DCP clones them (storage size != numel).
    big = fill((8, 6), torch.float64, 8000)
    s["views.rows"] = big[2:5]            # storage offset 12
    s["views.columns"] = big[:, 1:4]      # strided, offset 1
    s["views.every_other_row"] = fill((9, 4), torch.int64, 9000)[::2]
    s["views.expanded"] = fill((1, 5), torch.float32, 9500).expand(4, 5)  # stride 0
    s["views.complex_t"] = fill((4, 3), torch.complex64, 9900).t()
    param = torch.nn.Parameter(fill((4, 4), torch.float32, 10000))
    s["model.linear.weight"] = param       # requires_grad=True
    s["model.linear.bias"] = fill((4,), torch.bfloat16, 10100)
    s[LONG_FQN] = fill((2, 3), torch.float32, 11000)
    s["modèle.poids_é"] = fill((5,), torch.float32, 12000)  # non-ASCII fqn
    tied = fill((4, 3), torch.float32, 12500)
    s["tied.input.weight"] = tied          # one tensor object under two names
    s["tied.output.weight"] = tied
    # Non-tensor values: each becomes a byte item (torch.save of the object).
    s["step"] = 1234
    s["big_step"] = 2 ** 40 + 7
    s["lr"] = 3e-4
    s["run_name"] = "shardscope-torch-fixture"
    s["nothing"] = None
    s["flag"] = True
    s["milestones"] = [10, 20, 30]
    s["schedule"] = {"warmup": 10, "decay": [0.5, 0.25]}
    s["blob"] = io.BytesIO(b"\x00\x01\xffopaque")
    # 1.13 does not flatten nested containers: these two are byte items with tensors inside.
    s["optim"] = {"state": {0: {"step": 3, "exp_avg": fill((4, 4), torch.float32, 13000)}},
                  "param_groups": [{"lr": 0.1, "params": [0]}]}
    s["nested_model"] = {"inner.weight": fill((2, 2), torch.float32, 14000)}
    return s


def nested_tensors(prefix, v, out):
    """The tensors inside a byte item, named as ShardScope lists them: the item's key, then
    every dict key or list index down to the tensor, joined with dots."""
    if torch.is_tensor(v):
        out[prefix] = v.detach()
    elif isinstance(v, dict):
        for k, x in v.items():
            nested_tensors("%s.%s" % (prefix, k), x, out)
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            nested_tensors("%s.%d" % (prefix, i), x, out)


def save_single(out, name, single_file):
    state = single_state()
    tensors = {k: v.detach() for k, v in state.items() if torch.is_tensor(v)}
    inside = {}
    for k, v in state.items():
        if not torch.is_tensor(v):
            nested_tensors(k, v, inside)
    layouts = {k: stored_layout(v) for k, v in tensors.items()}
    case_dir = os.path.join(out, name)
    ckpt = os.path.join(case_dir, "ckpt")
    dcp.save_state_dict(state, storage_writer=dcp.FileSystemWriter(
        ckpt, single_file_per_rank=single_file), no_dist=True)
    # Read it back with torch itself: the expectation is what torch loads.
    back = {k: torch.empty_like(v, memory_format=torch.contiguous_format).zero_()
            if v.numel() else torch.empty_like(v) for k, v in tensors.items()}
    back.update({k: None for k in state if k not in tensors})
    dcp.load_state_dict(back, storage_reader=dcp.FileSystemReader(ckpt), no_dist=True)
    for k, v in tensors.items():
        if not same_bytes(back[k], v):
            raise SystemExit("%s: torch reads %s back differently" % (name, k))
    byte_items = {k: v for k, v in state.items() if k not in tensors}
    tensors.update(inside)  # ShardScope lists the tensors inside byte items as tensors too
    write_expected(case_dir, "one process (no_dist=True), single_file_per_rank=%s" % single_file,
                   1, tensors, byte_items, layouts)


# ---------------------------------------------------------------------------------------------
# Several gloo processes: ShardedTensors, replicated tensors

def chunk_spec(dim, ranks):
    return ChunkShardingSpec(dim=dim, placements=["rank:%d/cpu" % r for r in ranks])


def block_spec(shape, block, owner):
    """2-D blocks of `block` over `shape`; block number k goes to rank owner(k)."""
    shards = []
    k = 0
    for r0 in range(0, shape[0], block[0]):
        for c0 in range(0, shape[1], block[1]):
            shards.append(ShardMetadata(
                shard_offsets=[r0, c0],
                shard_sizes=[min(block[0], shape[0] - r0), min(block[1], shape[1] - c0)],
                placement="rank:%d/cpu" % owner(k)))
            k += 1
    return EnumerableShardingSpec(shards)


def sharded_layout(world):
    w = world
    last = w - 1
    return [
        # fqn, shape, dtype, spec
        ("sharded.rows_even", (4 * w, 6), torch.float32, chunk_spec(0, range(w))),
        ("sharded.rows_uneven", (3 * w - 1, 5), torch.bfloat16, chunk_spec(0, range(w))),
        ("sharded.columns_uneven", (5, 3 * w + 1), torch.float64, chunk_spec(1, range(w))),
        ("sharded.dim2_of_3d", (2, 3, 2 * w + 1), torch.int16, chunk_spec(2, range(w))),
        ("sharded.fewer_rows_than_ranks", (w - 1, 4), torch.int64, chunk_spec(0, range(w))),
        # Placements in reverse: the last rank holds offset 0; rank order != offset order.
        ("sharded.reversed_placements", (2 * w + 1, 3), torch.uint8,
         chunk_spec(0, range(last, -1, -1))),
        # Only ranks 0 and the last hold shards.
        ("sharded.two_ranks_only", (7, 2), torch.int8, chunk_spec(0, sorted({0, last}))),
        ("sharded.bool_rows", (2 * w + 1, 3), torch.bool, chunk_spec(0, range(w))),
        ("sharded.complex_rows", (w + 1, 2), torch.complex64, chunk_spec(0, range(w))),
        ("sharded.f16_columns", (3, 4 * w), torch.float16, chunk_spec(1, range(w))),
        # 2-D blocks (3x3 of a 7x8 with ragged edges): several chunks per rank, assigned backwards.
        ("sharded.blocks_2d", (7, 8), torch.float32,
         block_spec((7, 8), (3, 3), lambda k: (last - k) % w)),
        ("optimizer.exp_avg_sq", (4 * w, 6), torch.float32, chunk_spec(0, range(w))),
    ]


def replicated_state():
    return {
        "replicated.norm.weight": fill((6,), torch.float32, 50000),
        "replicated.transposed": fill((3, 5), torch.bfloat16, 51000).t(),
        "replicated.scalar": torch.tensor(-7, dtype=torch.int32),
    }


def sharded_worker(rank, world, init, ckpt, out_case, single_file):
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    full, state = {}, {}
    for k, (fqn, shape, dtype, spec) in enumerate(sharded_layout(world)):
        full[fqn] = fill(shape, dtype, 20000 + 1000 * k)
        st = sharded_tensor.empty(spec, *shape, dtype=dtype)
        for shard in st.local_shards():
            md = shard.metadata
            index = tuple(slice(o, o + n) for o, n in zip(md.shard_offsets, md.shard_sizes))
            shard.tensor.copy_(full[fqn][index])
        state[fqn] = st
    for fqn, t in replicated_state().items():
        full[fqn] = t
        state[fqn] = t
    state["step"] = 77
    state["run_name"] = "gloo-%d" % world
    dcp.save_state_dict(state, storage_writer=dcp.FileSystemWriter(
        ckpt, single_file_per_rank=single_file))
    dist.barrier()

    # Load into fresh zeroed tensors of the same layout and compare with the fill on every rank.
    back = {}
    for fqn, shape, dtype, spec in sharded_layout(world):
        back[fqn] = sharded_tensor.zeros(spec, *shape, dtype=dtype)
    for fqn, t in replicated_state().items():
        back[fqn] = torch.zeros_like(t)
    dcp.load_state_dict(back, storage_reader=dcp.FileSystemReader(ckpt))
    for fqn, shape, dtype, spec in sharded_layout(world):
        for shard in back[fqn].local_shards():
            md = shard.metadata
            index = tuple(slice(o, o + n) for o, n in zip(md.shard_offsets, md.shard_sizes))
            if not same_bytes(shard.tensor, full[fqn][index].contiguous()):
                raise SystemExit("rank %d: %s reads back wrong at %s" % (rank, fqn, index))
    for fqn, t in replicated_state().items():
        if not same_bytes(back[fqn], t):
            raise SystemExit("rank %d: %s reads back wrong" % (rank, fqn))

    # Gather each sharded tensor on rank 0 as a second witness of the expected bytes.
    for fqn, shape, dtype, spec in sharded_layout(world):
        if dtype not in (torch.float32, torch.int16, torch.int8, torch.uint8):
            continue  # 1.13's gather moves every dtype through float32 buffers: lossy for others
        gathered = torch.zeros(shape, dtype=dtype) if rank == 0 else None
        state[fqn].gather(0, gathered)
        if rank == 0 and not same_bytes(gathered, full[fqn]):
            raise SystemExit("%s: gather disagrees with the fill" % fqn)
    dist.barrier()

    if rank == 0:
        layouts = {fqn: {"sharding": [[list(s.shard_offsets), list(s.shard_sizes), str(s.placement)]
                                      for s in state[fqn].metadata().shards_metadata]}
                   for fqn, _, _, _ in sharded_layout(world)}
        layouts.update({k: stored_layout(v) for k, v in replicated_state().items()})
        write_expected(out_case, "%d gloo processes, ShardedTensors and replicated tensors, "
                       "single_file_per_rank=%s" % (world, single_file), world, full,
                       {"step": 77, "run_name": "gloo-%d" % world}, layouts)
    dist.destroy_process_group()



def save_sharded(out, name, world, single_file):
    case_dir = os.path.join(out, name)
    os.makedirs(case_dir)
    with tempfile.TemporaryDirectory() as tmp:
        init = "file://" + os.path.join(tmp, "rendezvous")
        mp.spawn(sharded_worker, nprocs=world, join=True,
                 args=(world, init, os.path.join(case_dir, "ckpt"), case_dir, single_file))


def save_unsupported(out, name):
    """complex128 has no safetensors dtype: ShardScope must refuse it by name, never guess."""
    case_dir = os.path.join(out, name)
    ckpt = os.path.join(case_dir, "ckpt")
    state = {"ok.weight": fill((2, 3), torch.float32, 60000),
             "spectrum": torch.complex(fill((4,), torch.float64, 61000),
                                       fill((4,), torch.float64, 62000))}
    dcp.save_state_dict(state, storage_writer=dcp.FileSystemWriter(ckpt), no_dist=True)
    with open(os.path.join(case_dir, "expected.json"), "w") as f:
        json.dump({"description": "complex128 (no safetensors dtype): inspect and consolidate "
                                  "must fail and name the tensor and the dtype",
                   "written_by": "torch %s, Python %s" % (torch.__version__,
                                                          sys.version.split()[0]),
                   "expect_error": {"tensor": "spectrum", "dtype": "complex128"}},
                  f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(here, "fixtures")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    save_single(out, "single_per_item", single_file=False)
    save_single(out, "single_per_rank", single_file=True)
    save_sharded(out, "gloo2_per_item", 2, single_file=False)
    save_sharded(out, "gloo3_per_rank", 3, single_file=True)
    save_sharded(out, "gloo4_per_item", 4, single_file=False)
    save_unsupported(out, "single_complex128")
    total = 0
    for root, _, files in os.walk(out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print("wrote %s: %d bytes" % (out, total))


if __name__ == "__main__":
    main()
