#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Runs shardscope-cli over checkpoints written by PyTorch itself (make_pytorch_fixtures.py).

  check_pytorch_fixtures.py --cli PATH [--fixtures DIR]

Per case: `inspect --json` names every tensor with the dtype and shape torch saved, and every
byte item with its value (tensors inside byte items, as torch 1.13 saves nested dicts, are
listed as tensors and exported under the names the expected file gives); `stats` gives the min, max, mean and zero count torch computes;
`consolidate --include-training-state` writes each tensor's bytes
exactly as torch's own `.contiguous()` holds them; `verify --against` passes; the default
export leaves the optimizer tensors out. Standard library only: CI has no torch.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                       p.stderr))
    return p.stdout


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        out[name] = (entry["dtype"], entry["shape"], data[begin:end])
    return out


def exported(out_dir):
    with open(os.path.join(out_dir, "model.safetensors.index.json")) as f:
        index = json.load(f)
    tensors = {}
    for name in sorted(set(index["weight_map"].values())):
        tensors.update(read_safetensors(os.path.join(out_dir, name)))
    if set(tensors) != set(index["weight_map"]):
        raise AssertionError("index and files disagree: %s" % sorted(
            set(tensors) ^ set(index["weight_map"])))
    return tensors


def check_case(cli, case_dir):
    with open(os.path.join(case_dir + ".expected", "expected.json")) as f:
        expected = json.load(f)
    want = {t["fqn"]: t for t in expected["tensors"]}

    doc = json.loads(run([cli, "inspect", "--json", case_dir]))
    seen = {t["fqn"]: t for t in doc["tensors"]}
    if set(seen) != set(want):
        raise AssertionError("inspect: tensors differ: %s" % sorted(set(seen) ^ set(want)))
    for fqn, t in want.items():
        if (seen[fqn]["dtype"], seen[fqn]["shape"]) != (t["dtype"], t["shape"]):
            raise AssertionError("inspect: %s is %s %s, torch saved %s %s" % (
                fqn, seen[fqn]["dtype"], seen[fqn]["shape"], t["dtype"], t["shape"]))
        if seen[fqn]["coverage"] != "complete":
            raise AssertionError("inspect: %s coverage %s" % (fqn, seen[fqn]["coverage"]))
    items = {i["fqn"]: i for i in doc["byte_items"]}
    if set(items) != set(expected["byte_items"]):
        raise AssertionError("inspect: byte items differ: %s" % sorted(
            set(items) ^ set(expected["byte_items"])))
    for fqn, value in expected["byte_items"].items():
        inside = sum(1 for f in want if f.startswith(fqn + "."))
        if items[fqn].get("tensors", 0) != inside:
            raise AssertionError("inspect: byte item %s holds %r tensors, torch saved %d in it" % (
                fqn, items[fqn].get("tensors"), inside))
        if value is None:
            continue
        shown = items[fqn].get("value")
        ok = (float(shown) == value) if isinstance(value, float) else shown == str(value)
        if not ok:
            raise AssertionError("inspect: byte item %s shows %r, torch saved %r" % (
                fqn, shown, value))

    stats = {t["name"]: t for t in json.loads(run([cli, "stats", "--json", case_dir]))["tensors"]}
    for fqn, t in want.items():
        for key, value in t.get("stats", {}).items():
            shown = stats[fqn][key]
            if abs(shown - value) > 1e-12 * max(1.0, abs(value)):
                raise AssertionError("stats: %s %s is %r, torch computes %r" % (fqn, key, shown,
                                                                                 value))

    with tempfile.TemporaryDirectory() as tmp:
        full = os.path.join(tmp, "all")
        run([cli, "consolidate", "--include-training-state", case_dir, full])
        got = exported(full)
        names = {t.get("export", fqn): fqn for fqn, t in want.items()}
        if set(got) != set(names):
            raise AssertionError("export: tensors differ: %s" % sorted(set(got) ^ set(names)))
        for fqn, t in want.items():
            with open(os.path.join(case_dir + ".expected", t["file"]), "rb") as f:
                data = f.read()
            dtype, shape, raw = got[t.get("export", fqn)]
            if (dtype, shape) != (t["dtype"], t["shape"]):
                raise AssertionError("export: %s is %s %s" % (fqn, dtype, shape))
            if raw != data:
                at = next((i for i in range(min(len(raw), len(data))) if raw[i] != data[i]),
                          min(len(raw), len(data)))
                raise AssertionError("export: %s differs from torch's bytes at byte %d "
                                     "(%d bytes written, %d expected)" % (fqn, at, len(raw),
                                                                         len(data)))
        run([cli, "verify", full, "--against", case_dir])

        model = os.path.join(tmp, "model")
        run([cli, "consolidate", case_dir, model])
        left = set(exported(model))
        kept = {t.get("export", fqn) for fqn, t in want.items()
                if not fqn.startswith("optimizer.") and not t.get("training")}
        if left != kept:
            raise AssertionError("default export: %s" % sorted(left ^ kept))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--fixtures", default=os.path.join(here, "fixtures"))
    args = parser.parse_args()
    cases = sorted(d for d in os.listdir(args.fixtures)
                   if os.path.isdir(os.path.join(args.fixtures, d)) and not d.endswith(".expected"))
    if not cases:
        print("no cases in %s" % args.fixtures)
        return 1
    failed = 0
    for case in cases:
        try:
            check_case(args.cli, os.path.join(args.fixtures, case))
            print("PASS %s" % case)
        except AssertionError as e:
            failed += 1
            print("FAIL %s: %s" % (case, e))
    print("%d of %d cases passed" % (len(cases) - failed, len(cases)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
