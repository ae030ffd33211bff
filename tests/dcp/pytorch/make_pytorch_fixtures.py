#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Writes DCP checkpoints with PyTorch itself, for check_pytorch_fixtures.py.

Run by hand with a Python that has torch (Debian 12: `apt install python3-torch`, torch 1.13.1,
then `/usr/bin/python3 tests/dcp/pytorch/make_pytorch_fixtures.py tests/dcp/pytorch/fixtures`).
The output is committed, so the tests need no torch. Each case is `fixtures/<case>/` (what
torch wrote) beside `fixtures/<case>.expected/`: `expected.json` (fqn, dtype, shape, file of
every tensor; the byte items with their values) and one `<n>.bin` per tensor holding its full
value, row-major, as torch itself lays it out with `.contiguous()`.

torch 1.13 keeps DCP under `torch.distributed._shard.checkpoint` (the older of the two module
layouts) and writes one file per item unless `single_file_per_rank=True`.
"""
import copy
import dataclasses
import io
import json
import os
import shutil
import sys
import tempfile


def allow_unhashable_dataclass_defaults():
    # torch 1.13's sharded-tensor metadata predates Python 3.11's refusal of unhashable
    # dataclass defaults; give such a default a factory so the module imports.
    original = dataclasses._get_field

    def get_field(cls, name, a_type, *rest):
        default = cls.__dict__.get(name, dataclasses.MISSING)
        value = default.default if isinstance(default, dataclasses.Field) else default
        if value is not dataclasses.MISSING and type(value).__hash__ is None:
            setattr(cls, name, dataclasses.field(default_factory=lambda d=value: copy.deepcopy(d)))
        return original(cls, name, a_type, *rest)

    dataclasses._get_field = get_field


allow_unhashable_dataclass_defaults()
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.distributed._shard.checkpoint as dcp  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch.distributed._shard import sharded_tensor  # noqa: E402
from torch.distributed._shard.sharding_spec import ChunkShardingSpec  # noqa: E402

DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16",
          torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
          torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def values(shape, dtype, start):
    """Distinct, exactly representable values: a wrong slice or order shows."""
    n = 1
    for d in shape:
        n *= d
    base = torch.arange(start, start + n, dtype=torch.float64)
    if dtype == torch.bool:
        return (base.remainder(3) == 0).reshape(shape)
    if dtype in (torch.int8, torch.uint8, torch.bfloat16, torch.float16):
        base = base.remainder(97) - (0 if dtype == torch.uint8 else 40)
    return base.to(dtype).reshape(shape)


def raw(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return t.numpy().tobytes()


def plain_state():
    state = {}
    k = 0
    for dtype in DTYPES:
        state["model.dense_%s" % DTYPES[dtype].lower()] = values((5, 7), dtype, 100 * k)
        k += 1
    state["model.scalar"] = torch.tensor(2.5, dtype=torch.float32)
    state["model.empty"] = torch.zeros((0, 4), dtype=torch.float32)
    state["model.transposed"] = values((6, 4), torch.float32, 1000).t()
    state["model.channels_last"] = values((2, 3, 4, 5), torch.bfloat16, 7).to(
        memory_format=torch.channels_last)
    big = values((10, 8), torch.float16, 3)
    state["model.view_of_rows"] = big[3:7]        # storage offset 24, the rest not saved
    state["model.view_of_columns"] = big[:, 2:5]  # strided inside a larger storage
    state["optimizer.step_sizes"] = values((4,), torch.float32, 9)
    state["step"] = 1234
    state["lr"] = 0.0003
    state["run_name"] = "shardscope-fixture"
    state["schedule"] = {"warmup": 10, "decay": [1, 2, 3]}
    state["blob"] = io.BytesIO(b"\x00\x01opaque bytes")
    return state


def write_expected(case_dir, state, tensors, export_names=None, training=()):
    """export_names: fqn -> the name the export gives it, where that differs; training: the
    fqns a default export leaves out (besides optimizer.*)."""
    expected = case_dir + ".expected"
    os.makedirs(expected)
    entries, items = [], {}
    for n, (fqn, t) in enumerate(sorted(tensors.items())):
        with open(os.path.join(expected, "%d.bin" % n), "wb") as f:
            f.write(raw(t))
        entry = {"fqn": fqn, "dtype": DTYPES[t.dtype], "shape": list(t.shape),
                 "file": "%d.bin" % n}
        if export_names and fqn in export_names:
            entry["export"] = export_names[fqn]
        if fqn in training:
            entry["training"] = True
        if t.numel() > 0:  # what `stats` must report, computed by torch in float64
            t64 = t.detach().to(torch.float64)
            entry["stats"] = {"min": t64.min().item(), "max": t64.max().item(),
                              "mean": t64.mean().item(), "zeros": int((t64 == 0).sum().item())}
        entries.append(entry)
    for fqn, v in sorted(state.items()):
        if fqn in tensors:
            continue
        items[fqn] = v if isinstance(v, (int, float, str)) else None
    with open(os.path.join(expected, "expected.json"), "w") as f:
        json.dump({"tensors": entries, "byte_items": items}, f, indent=1, sort_keys=True)


def save_plain(out, name, single_file):
    state = plain_state()
    case_dir = os.path.join(out, name)
    dcp.save_state_dict(state, storage_writer=dcp.FileSystemWriter(
        case_dir, single_file_per_rank=single_file), no_dist=True)
    write_expected(case_dir, state, {k: v for k, v in state.items() if torch.is_tensor(v)})


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 4)
        self.emb = torch.nn.Embedding(5, 2)
        self.register_buffer("running", values((4,), torch.float32, 60))
        with torch.no_grad():
            self.proj.weight.copy_(values((4, 3), torch.float32, 10))
            self.proj.bias.copy_(values((4,), torch.float32, 30))
            self.emb.weight.copy_(values((5, 2), torch.float32, 40))


def save_nested(out, name):
    """torch 1.13 saves every top-level entry that is not a tensor as one byte item, so a
    nested state dict ({"model": module.state_dict(), ...}) is one object holding its tensors."""
    big = values((4, 4), torch.float16, 3)
    state = {
        "model": Tiny().state_dict(),  # an OrderedDict of tensors
        "extra": {"transposed": values((3, 5), torch.bfloat16, 5).t(),
                  "rows": big[1:3], "cols": big[:, 1:3],  # views of one storage
                  "param": torch.nn.Parameter(values((2, 3), torch.float32, 9)),
                  "list": [values((2,), torch.int64, 1), values((2, 2), torch.bfloat16, 4)],
                  "lr": 0.5},
        "optim": {"state": {0: {"exp_avg": values((4, 3), torch.float32, 200),
                                "step": torch.tensor(3.0)}},
                  "param_groups": [{"lr": 0.01, "params": [0]}]},
        "lm_head.weight": values((2, 2), torch.float32, 70),
        "step": 5,
    }
    tensors, export_names, training = {}, {}, set()

    def collect(prefix, path, v):
        if torch.is_tensor(v):
            fqn = ".".join(prefix + path)
            tensors[fqn] = v
            if prefix and prefix[0] == "model":
                export_names[fqn] = ".".join(path)
            if prefix and prefix[0] == "optim":
                training.add(fqn)
        elif isinstance(v, dict):
            for k, x in v.items():
                collect(prefix, path + [str(k)], x)
        elif isinstance(v, (list, tuple)):
            for i, x in enumerate(v):
                collect(prefix, path + [str(i)], x)

    for key, v in state.items():
        if torch.is_tensor(v):
            tensors[key] = v
        else:
            collect([key], [], v)
    case_dir = os.path.join(out, name)
    # One file per item: each byte item's archive is a file of its own, a fuzzing seed.
    dcp.save_state_dict(state, storage_writer=dcp.FileSystemWriter(
        case_dir, single_file_per_rank=False), no_dist=True)
    write_expected(case_dir, state, tensors, export_names, training)


def sharded(shape, dim, world, dtype, start):
    spec = ChunkShardingSpec(dim=dim, placements=["rank:%d/cpu" % r for r in range(world)])
    st = sharded_tensor.empty(spec, *shape, dtype=dtype)
    full = values(shape, dtype, start)
    for shard in st.local_shards():
        index = tuple(slice(o, o + s) for o, s in zip(shard.metadata.shard_offsets,
                                                        shard.metadata.shard_sizes))
        shard.tensor.copy_(full[index])
    return st, full


def sharded_state(world):
    tensors, state = {}, {}
    layout = [("model.rows_uneven", (10, 6), 0, torch.float32),
              ("model.columns", (4, 9), 1, torch.bfloat16),
              ("model.dim2_of_3d", (2, 3, 7), 2, torch.float16),
              ("model.fewer_rows_than_ranks", (2, 5), 0, torch.int64),
              ("optimizer.exp_avg.rows", (10, 6), 0, torch.float32)]
    for k, (fqn, shape, dim, dtype) in enumerate(layout):
        state[fqn], tensors[fqn] = sharded(shape, dim, world, dtype, 50 * k)
    tensors["model.norm_replicated"] = values((6,), torch.float32, 500)
    state["model.norm_replicated"] = tensors["model.norm_replicated"].clone()
    state["step"] = 77
    return state, tensors


def sharded_worker(rank, world, init, out, name, single_file):
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    state, tensors = sharded_state(world)
    case_dir = os.path.join(out, name)
    dcp.save_state_dict(state, storage_writer=dcp.FileSystemWriter(
        case_dir, single_file_per_rank=single_file))
    dist.barrier()
    if rank == 0:
        write_expected(case_dir, state, tensors)
    dist.destroy_process_group()


def save_sharded(out, name, world, single_file):
    with tempfile.TemporaryDirectory() as tmp:
        init = "file://" + os.path.join(tmp, "rendezvous")
        mp.spawn(sharded_worker, args=(world, init, out, name, single_file), nprocs=world)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "fixtures")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    torch.manual_seed(0)
    save_plain(out, "plain_file_per_item", single_file=False)
    save_plain(out, "plain_file_per_rank", single_file=True)
    save_sharded(out, "sharded_3_ranks_file_per_item", 3, single_file=False)
    save_sharded(out, "sharded_4_ranks_file_per_rank", 4, single_file=True)
    save_nested(out, "nested_dicts_file_per_item")
    with open(os.path.join(out, "VERSION"), "w") as f:
        f.write("written by torch %s, Python %s\n" % (torch.__version__, sys.version.split()[0]))


if __name__ == "__main__":
    main()
