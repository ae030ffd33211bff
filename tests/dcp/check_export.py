#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Run shardscope-cli over the DCP fixtures and judge every result by its bytes.

    check_export.py --cli PATH --fixtures OUTDIR [--case NAME]... [--timeout SECONDS] [--keep]

OUTDIR is what make_fixtures.py wrote. For each good case: `inspect --json` must list every
tensor with its kind, output name, dtype, shape and exported flag, and every byte item with its
type (and value for int/float/str); `consolidate` into a fresh folder must write
model-0000i-of-0000N.safetensors files and model.safetensors.index.json holding exactly the
expected tensors, byte for byte; `verify --against` must pass. For each bad case:
`consolidate` must exit 1 naming every must_mention string on stderr and leave no output
folder, and `inspect --json` must exit 1 with a problem (or an error) saying the same.
Prints one PASS/FAIL line per case; exits 1 if any case fails.
"""

import argparse
import json
import math
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile

ITEMSIZE = {"F32": 4, "BF16": 2, "F16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
            "U8": 1, "BOOL": 1, "C64": 8}
OUTPUT_FILE = re.compile(r"model-(\d{5})-of-(\d{5})\.safetensors")


class CaseFailed(Exception):
    pass


class Runner:
    def __init__(self, cli, timeout):
        self.cli, self.timeout = cli, timeout

    def __call__(self, *args):
        try:
            r = subprocess.run([self.cli, *map(str, args)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise CaseFailed(f"`{' '.join(map(str, args[:1]))}` ran past {self.timeout} s")
        r.out = r.stdout.decode("utf-8", "replace")
        r.err = r.stderr.decode("utf-8", "replace")
        r.what = f"`{args[0]}` exited {r.returncode}"
        if r.returncode < 0:
            raise CaseFailed(f"{r.what} (killed by signal {-r.returncode}): {tail(r.err)}")
        return r


def tail(text, n=300):
    text = text.strip().replace("\n", " | ")
    return text if len(text) <= n else "…" + text[-n:]


def read_safetensors(path):
    """{name: (dtype, shape, bytes)}, checking the layout safetensors requires."""
    raw = path.read_bytes()
    if len(raw) < 8:
        raise CaseFailed(f"{path.name}: shorter than 8 bytes")
    n = struct.unpack_from("<Q", raw)[0]
    if 8 + n > len(raw):
        raise CaseFailed(f"{path.name}: header length {n} past the end")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except ValueError as e:
        raise CaseFailed(f"{path.name}: header is not JSON: {e}")
    data = raw[8 + n:]
    header.pop("__metadata__", None)
    tensors, spans = {}, []
    for name, info in header.items():
        begin, end = info["data_offsets"]
        numel = math.prod(info["shape"])
        if info["dtype"] not in ITEMSIZE or end - begin != numel * ITEMSIZE[info["dtype"]]:
            raise CaseFailed(f"{path.name}: {name}: data_offsets do not fit dtype and shape")
        spans.append((begin, end))
        tensors[name] = (info["dtype"], info["shape"], data[begin:end])
    pos = 0
    for begin, end in sorted(spans):
        if begin != pos:
            raise CaseFailed(f"{path.name}: data section has a hole or overlap at {pos}")
        pos = end
    if pos != len(data):
        raise CaseFailed(f"{path.name}: {len(data) - pos} bytes after the last tensor")
    return tensors


def same_type(got, want):
    # "io.BytesIO", "_io.BytesIO" and "BytesIO" are one type
    return str(got).rsplit(".", 1)[-1].lower() == want.rsplit(".", 1)[-1].lower()


def check_inspect(run, folder, expect, problems):
    r = run("inspect", folder, "--json")
    if r.returncode != 0:
        problems.append(f"inspect: {r.what}: {tail(r.err)}")
        return
    try:
        doc = json.loads(r.out)
    except ValueError as e:
        problems.append(f"inspect --json: not JSON: {e}")
        return
    if doc.get("format") != "dcp":
        problems.append(f"inspect: format is {doc.get('format')!r}, not 'dcp'")
    errors = [p for p in doc.get("problems", []) if p.get("severity") == "error"]
    if errors:
        problems.append(f"inspect: errors on a good checkpoint: {errors[:3]}")
    listed = {t.get("fqn"): t for t in doc.get("tensors", [])}
    for fqn, want in expect["inspect"].items():
        t = listed.get(fqn)
        if t is None:
            problems.append(f"inspect: tensor {fqn} not listed")
            continue
        for key in ("name", "kind", "dtype", "shape", "exported"):
            if t.get(key) != want[key]:
                problems.append(f"inspect: {fqn}: {key} is {t.get(key)!r}, "
                                f"expected {want[key]!r}")
        if t.get("coverage") != "complete":
            problems.append(f"inspect: {fqn}: coverage is {t.get('coverage')!r}")
    extra = set(listed) - set(expect["inspect"])
    if extra:
        problems.append(f"inspect: unexpected tensors {sorted(extra)}")
    items = {b.get("fqn"): b for b in doc.get("byte_items", [])}
    for fqn, want in expect["byte_items"].items():
        b = items.get(fqn)
        if b is None:
            problems.append(f"inspect: byte item {fqn} not listed")
            continue
        if not same_type(b.get("type"), want["type"]):
            problems.append(f"inspect: byte item {fqn}: type {b.get('type')!r}, "
                            f"expected {want['type']!r}")
            continue
        if not isinstance(b.get("size"), int) or b["size"] < 0:
            problems.append(f"inspect: byte item {fqn}: size {b.get('size')!r}")
        value = b.get("value")
        if "value" not in want:
            if value is not None:
                problems.append(f"inspect: byte item {fqn}: a {want['type']} has no value "
                                f"string, got {value!r}")
        elif not isinstance(value, str):
            problems.append(f"inspect: byte item {fqn}: value {value!r} is not a string")
        elif not value_matches(want["type"], value, want["value"]):
            problems.append(f"inspect: byte item {fqn}: value {value!r}, "
                            f"expected {want['value']!r}")
    extra = set(items) - set(expect["byte_items"])
    if extra:
        problems.append(f"inspect: unexpected byte items {sorted(extra)}")


def value_matches(type_name, got, want):
    try:
        if type_name == "int":
            return int(got) == int(want)
        if type_name == "float":
            return float(got) == float(want)  # any spelling of the same double
    except ValueError:
        return False
    return got == want


def check_outputs(out, fixtures, expect, problems):
    files = sorted(p.name for p in out.iterdir())
    shards = [f for f in files if f.endswith(".safetensors")]
    numbered = [OUTPUT_FILE.fullmatch(f) for f in shards]
    if not shards or not all(numbered) or \
            sorted((int(m[1]), int(m[2])) for m in numbered) != \
            [(i + 1, len(shards)) for i in range(len(shards))]:
        problems.append(f"output files {shards}, expected model-0000i-of-0000N.safetensors")
    written, where = {}, {}
    for f in shards:
        for name, t in read_safetensors(out / f).items():
            if name in written:
                problems.append(f"{name} is in {where[name]} and {f}")
            written[name], where[name] = t, f
    want = expect["tensors"]
    for name, w in want.items():
        if name not in written:
            problems.append(f"{name} ({w['fqn']}) not written")
            continue
        dtype, shape, data = written[name]
        if dtype != w["dtype"] or shape != w["shape"]:
            problems.append(f"{name}: {dtype} {shape}, expected {w['dtype']} {w['shape']}")
        elif data != (fixtures / w["expected"]).read_bytes():
            problems.append(f"{name}: bytes differ from {w['expected']}")
    for name in sorted(set(written) - set(want)):
        problems.append(f"unexpected tensor {name} written")
    for fqn in expect["excluded"]:
        if fqn in written:
            problems.append(f"excluded tensor {fqn} written")
    index = out / "model.safetensors.index.json"
    try:
        doc = json.loads(index.read_text())
        weight_map = doc["weight_map"]
        total = doc["metadata"]["total_size"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        problems.append(f"model.safetensors.index.json: {type(e).__name__}: {e}")
    else:
        if weight_map != where:
            wrong = sorted(set(weight_map.items()) ^ set(where.items()))[:4]
            problems.append(f"index weight_map disagrees with the files: {wrong}")
        if total != sum(len(t[2]) for t in written.values()):
            problems.append(f"index total_size {total} is not the sum of the tensor bytes")
    assets = expect.get("hf_assets")
    if assets:
        src = fixtures / assets["dir"]
        for f in assets["files"]:
            if not (out / f).is_file() or (out / f).read_bytes() != (src / f).read_bytes():
                problems.append(f"--hf-assets: {f} not copied unchanged")
        absent = {"config.json", "generation_config.json", "tokenizer.json",
                  "tokenizer_config.json", "special_tokens_map.json",
                  "chat_template.jinja"} - set(assets["files"])
        for f in sorted(absent & set(files)):
            problems.append(f"--hf-assets: {f} written though the asset folder has none")


def check_good(run, fixtures, name, expect, tmp):
    problems = []
    folder = fixtures / name
    check_inspect(run, folder, expect, problems)
    out = tmp / "out"
    args = ["consolidate", folder, out]
    if expect["include_training_state"]:
        args.append("--include-training-state")
    if expect.get("hf_assets"):
        args += ["--hf-assets", fixtures / expect["hf_assets"]["dir"]]
    args += expect.get("consolidate_args", [])
    r = run(*args)
    if r.returncode != 0:
        problems.append(f"consolidate: {r.what}: {tail(r.err)}")
        return problems
    if not out.is_dir():
        return problems + ["consolidate exited 0 but wrote no output folder"]
    check_outputs(out, fixtures, expect, problems)
    r = run("verify", out, "--against", folder)
    if r.returncode != 0:
        problems.append(f"verify --against: {r.what}: {tail(r.err)}")
    return problems


def check_bad(run, fixtures, name, expect, tmp):
    problems = []
    folder = fixtures / name
    must = expect["must_mention"]
    out = tmp / "out"
    r = run("consolidate", folder, out)
    if r.returncode != 1:
        problems.append(f"consolidate: {r.what}, expected 1")
    missing = [m for m in must if m not in r.err]
    if missing:
        problems.append(f"consolidate stderr does not mention {missing}: {tail(r.err)}")
    if out.exists():
        problems.append("consolidate left an output folder")
    r = run("inspect", folder, "--json")
    if r.returncode != 1:
        problems.append(f"inspect: {r.what}, expected 1")
    try:
        doc = json.loads(r.out)
    except ValueError:
        doc = None  # an error on stderr instead of a document is allowed
    said = r.err
    if isinstance(doc, dict):
        errors = [p for p in doc.get("problems", []) if p.get("severity") == "error"]
        said += "\n" + "\n".join(f"{p.get('file')}: {p.get('tensor')}: {p.get('message')}"
                                 for p in errors)
        if errors and not any(p.get("kind") in expect["kinds"] for p in errors):
            problems.append(f"inspect: no error problem of kind {expect['kinds']}: "
                            f"{[p.get('kind') for p in errors]}")
        if not errors and r.returncode == 1 and not r.err.strip():
            problems.append("inspect: exit 1 without an error problem or message")
    missing = [m for m in must if m not in said]
    if missing:
        problems.append(f"inspect does not mention {missing}: {tail(said)}")
    return problems


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--cli", required=True, help="the shardscope-cli executable")
    p.add_argument("--fixtures", required=True, type=pathlib.Path,
                   help="the folder make_fixtures.py wrote")
    p.add_argument("--case", action="append", help="check only this case (repeatable)")
    p.add_argument("--timeout", type=float, default=120, help="seconds per CLI run")
    p.add_argument("--keep", action="store_true", help="keep the output folders")
    a = p.parse_args(argv[1:])
    run = Runner(a.cli, a.timeout)
    cases = sorted(f.stem for f in a.fixtures.glob("*.json"))
    if a.case:
        unknown = set(a.case) - set(cases)
        if unknown:
            p.error(f"no such case: {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c in a.case]
    if not cases:
        p.error(f"no cases in {a.fixtures}")
    failed = 0
    root = pathlib.Path(tempfile.mkdtemp(prefix="dcp-export-"))
    try:
        for name in cases:
            expect = json.loads((a.fixtures / f"{name}.json").read_text())
            tmp = root / name
            tmp.mkdir()
            try:
                check = check_good if expect["ok"] else check_bad
                problems = check(run, a.fixtures, name, expect, tmp)
            except CaseFailed as e:
                problems = [str(e)]
            failed += bool(problems)
            print(f"{'FAIL' if problems else 'PASS'} {name}" +
                  (": " + "; ".join(problems) if problems else ""), flush=True)
    finally:
        if a.keep:
            print(f"outputs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{len(cases) - failed} of {len(cases)} DCP cases passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
