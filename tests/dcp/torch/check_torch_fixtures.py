#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Run shardscope-cli over the DCP checkpoints real PyTorch wrote (make_torch_fixtures.py).

    python3 check_torch_fixtures.py --cli PATH/shardscope-cli [--fixtures DIR] [--case NAME]

Standard library only (CI has no torch). For every fixture DIR/<name>/:
  1. `inspect ckpt` exits 0 and names every tensor;
  2. `inspect --json --include-training-state ckpt`: format dcp, consolidatable, no problems,
     exactly the expected tensors (fqn, dtype, shape, complete coverage, exported) and byte
     items (fqn, python type, simple values);
  3. `consolidate ckpt OUT --include-training-state`: the safetensors files are parsed here
     (u64 LE header length, JSON header, data) and every tensor's bytes must equal
     expected/<bin> byte for byte; the index's weight_map must match the files;
  4. `verify OUT --against ckpt` exits 0.
A fixture whose expected.json has "expect_error" (a dtype safetensors cannot hold) must instead
make inspect and consolidate exit 1 naming the tensor and dtype, and write no safetensors file.
One PASS/FAIL line per fixture; exit 1 if any failed, with what differed.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

DTYPE_BYTES = {"F32": 4, "BF16": 2, "F16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
               "U8": 1, "BOOL": 1, "C64": 8}


class Mismatch(Exception):
    pass


def run(args, expect_rc=0):
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != expect_rc:
        raise Mismatch("`%s` exited %d (expected %d)\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(args), proc.returncode, expect_rc, out[-4000:], err[-4000:]))
    return out


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def parse_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise Mismatch("%s: shorter than the 8-byte header length" % path)
    (hlen,) = struct.unpack("<Q", blob[:8])
    if 8 + hlen > len(blob):
        raise Mismatch("%s: header length %d runs past the file (%d bytes)" % (path, hlen, len(blob)))
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    data = blob[8 + hlen:]
    tensors = {}
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= len(data):
            raise Mismatch("%s: %r data_offsets %r outside the %d data bytes"
                           % (path, name, entry["data_offsets"], len(data)))
        spans.append((begin, end, name))
        tensors[name] = (entry["dtype"], entry["shape"], data[begin:end])
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            raise Mismatch("%s: %r starts at %d, expected %d (gap or overlap)" % (path, name, begin, pos))
        pos = end
    if pos != len(data):
        raise Mismatch("%s: tensors cover %d of %d data bytes" % (path, pos, len(data)))
    return tensors


def read_export(out_dir):
    with open(os.path.join(out_dir, "model.safetensors.index.json"), encoding="utf-8") as f:
        index = json.load(f)
    tensors = {}
    where = {}
    files = sorted(n for n in os.listdir(out_dir) if n.endswith(".safetensors"))
    for name in files:
        for fqn, value in parse_safetensors(os.path.join(out_dir, name)).items():
            if fqn in tensors:
                raise Mismatch("%r is in both %s and %s" % (fqn, where[fqn], name))
            tensors[fqn] = value
            where[fqn] = name
    if where != index["weight_map"]:
        diff = sorted(set(where.items()) ^ set(index["weight_map"].items()))
        raise Mismatch("index weight_map disagrees with the files: %r" % diff[:10])
    return tensors


def same_value(expected, shown):
    """inspect prints simple byte-item values as text; compare them as python would see them."""
    kind = expected["type"]
    value = expected["value"]
    if kind == "float":
        try:
            return float(shown) == value
        except ValueError:
            return False
    return shown == str(value)


def check_inspect_json(cli, ckpt, expected):
    doc = json.loads(run([cli, "inspect", "--json", "--include-training-state", ckpt]))
    problems = []
    if doc.get("format") != "dcp":
        problems.append("format is %r, not 'dcp'" % doc.get("format"))
    if doc.get("consolidatable") is not True:
        problems.append("not consolidatable")
    if doc.get("problems"):
        problems.append("problems reported: %s" % json.dumps(doc["problems"])[:2000])
    want = {t["fqn"]: t for t in expected["tensors"]}
    got = {t["fqn"]: t for t in doc.get("tensors", [])}
    for fqn in sorted(set(want) - set(got)):
        problems.append("tensor %r missing from inspect --json" % fqn)
    for fqn in sorted(set(got) - set(want)):
        problems.append("inspect --json lists an unexpected tensor %r" % fqn)
    for fqn in sorted(set(want) & set(got)):
        w, g = want[fqn], got[fqn]
        if g.get("dtype") != w["dtype"]:
            problems.append("%r: dtype %r, expected %r" % (fqn, g.get("dtype"), w["dtype"]))
        if g.get("shape") != w["shape"]:
            problems.append("%r: shape %r, expected %r" % (fqn, g.get("shape"), w["shape"]))
        if g.get("coverage") != "complete":
            problems.append("%r: coverage %r" % (fqn, g.get("coverage")))
        if g.get("exported") is not True:
            problems.append("%r: not exported with --include-training-state" % fqn)
        if g.get("bytes") != w["nbytes"]:
            problems.append("%r: %r bytes, expected %d" % (fqn, g.get("bytes"), w["nbytes"]))
        if "sharding" in w:
            want_chunks = sorted((s[0], s[1]) for s in w["sharding"] if 0 not in s[1])
            got_chunks = sorted((c["saved_offsets"], c["shape"]) for c in g.get("chunks", [])
                                if 0 not in c["shape"])
            if want_chunks != got_chunks:
                problems.append("%r: chunks %r, torch's shards %r" % (fqn, got_chunks, want_chunks))
    want_items = expected["byte_items"]
    got_items = {b["fqn"]: b for b in doc.get("byte_items", [])}
    if set(want_items) != set(got_items):
        problems.append("byte items %r, expected %r" % (sorted(got_items), sorted(want_items)))
    for fqn in sorted(set(want_items) & set(got_items)):
        w, g = want_items[fqn], got_items[fqn]
        want_type = "None" if w["type"] == "NoneType" else w["type"]
        if g.get("type") != want_type:
            problems.append("byte item %r: type %r, expected %r" % (fqn, g.get("type"), want_type))
        if "value" in w and w["value"] is not None and "value" in g \
                and not same_value(w, g["value"]):
            problems.append("byte item %r: value %r, expected %r" % (fqn, g["value"], w["value"]))
        if "value" in w and w["value"] is not None and w["type"] in ("int", "str", "bool", "float") \
                and "value" not in g:
            problems.append("byte item %r: no value shown, expected %r" % (fqn, w["value"]))
    return problems


def check_export(out_dir, case_dir, expected):
    problems = []
    tensors = read_export(out_dir)
    want = {t["fqn"]: t for t in expected["tensors"]}
    for fqn in sorted(set(want) - set(tensors)):
        problems.append("tensor %r missing from the export" % fqn)
    for fqn in sorted(set(tensors) - set(want)):
        problems.append("the export has an unexpected tensor %r" % fqn)
    for fqn in sorted(set(want) & set(tensors)):
        w = want[fqn]
        dtype, shape, data = tensors[fqn]
        if dtype != w["dtype"] or shape != w["shape"]:
            problems.append("%r: exported as %s %r, expected %s %r"
                            % (fqn, dtype, shape, w["dtype"], w["shape"]))
            continue
        with open(os.path.join(case_dir, "expected", w["bin"]), "rb") as f:
            ref = f.read()
        if len(ref) != w["nbytes"]:
            problems.append("%r: expected/%s holds %d bytes, expected.json says %d (fixture broken)"
                            % (fqn, w["bin"], len(ref), w["nbytes"]))
        elif data != ref:
            at = first_diff(data, ref)
            size = DTYPE_BYTES[dtype]
            elem = at // size
            problems.append("%r: %d bytes differ from torch's; first at byte %d (element %d): "
                            "got %s, torch %s" % (
                                fqn, sum(1 for a, b in zip(data, ref) if a != b) + abs(len(data) - len(ref)),
                                at, elem, data[elem * size:(elem + 1) * size].hex(),
                                ref[elem * size:(elem + 1) * size].hex()))
    return problems


def check_refused(cli, ckpt, expect):
    """A checkpoint ShardScope must refuse: exit 1, naming the tensor and the dtype, no output."""
    problems = []
    words = (expect["tensor"], expect["dtype"])
    run([cli, "inspect", ckpt], expect_rc=1)
    doc = json.loads(run([cli, "inspect", "--json", ckpt], expect_rc=1))
    if not any(all(w in json.dumps(p) for w in words) for p in doc.get("problems", [])):
        problems.append("inspect --json: no problem names %r and %r: %s"
                        % (words + (json.dumps(doc.get("problems"))[:1000],)))
    with tempfile.TemporaryDirectory(prefix="shardscope-torch-") as tmp:
        out_dir = os.path.join(tmp, "out")
        proc = subprocess.run([cli, "consolidate", ckpt, out_dir], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=300)
        err = proc.stderr.decode("utf-8", "replace")
        if proc.returncode != 1:
            problems.append("consolidate exited %d, expected 1" % proc.returncode)
        if not all(w in err for w in words):
            problems.append("consolidate's error does not name %r and %r: %s" % (words + (err,)))
        if os.path.exists(out_dir) and any(n.endswith(".safetensors") for n in os.listdir(out_dir)):
            problems.append("consolidate wrote safetensors files although it failed")
    return problems


def check_case(cli, case_dir):
    with open(os.path.join(case_dir, "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    ckpt = os.path.join(case_dir, "ckpt")
    if "expect_error" in expected:
        return check_refused(cli, ckpt, expected["expect_error"])
    problems = []
    text = run([cli, "inspect", ckpt])
    for t in expected["tensors"]:
        if t["fqn"] not in text:
            problems.append("`inspect` does not name %r" % t["fqn"])
    problems += check_inspect_json(cli, ckpt, expected)
    with tempfile.TemporaryDirectory(prefix="shardscope-torch-") as tmp:
        out_dir = os.path.join(tmp, "out")
        run([cli, "consolidate", ckpt, out_dir, "--include-training-state", "--quiet"])
        problems += check_export(out_dir, case_dir, expected)
        run([cli, "verify", out_dir, "--against", ckpt])
    return problems


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cli", required=True, help="path of shardscope-cli")
    parser.add_argument("--fixtures", default=os.path.join(here, "fixtures"))
    parser.add_argument("--case", action="append", help="only this fixture (repeatable)")
    args = parser.parse_args()
    cases = args.case or sorted(n for n in os.listdir(args.fixtures)
                                if os.path.isfile(os.path.join(args.fixtures, n, "expected.json")))
    if not cases:
        print("no fixtures under %s" % args.fixtures, file=sys.stderr)
        return 1
    failed = 0
    for name in cases:
        try:
            problems = check_case(args.cli, os.path.join(args.fixtures, name))
        except (Mismatch, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
            problems = ["%s: %s" % (type(e).__name__, e)]
        if problems:
            failed += 1
            print("FAIL %s" % name)
            for p in problems:
                print("    " + p.replace("\n", "\n    "))
        else:
            print("PASS %s" % name)
    print("%d of %d fixtures passed" % (len(cases) - failed, len(cases)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
