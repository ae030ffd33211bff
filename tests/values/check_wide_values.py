#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Checks `shardscope-cli stats --json` on wide dtypes past the 65,536 values kept exactly,
against values computed here from the bytes this script writes (standard library only):
tightly packed F32/F64, subnormals, F64 beyond F32's range, I32/U32 near their tops and I64/U64
beyond 2^53. Extremes exactly (I64/U64 as integers), mean to 1e-12, integer std to 1e-9 from
exact fractions, and both 64-bin histograms bin by bin: linear floor((x - min) / (max - min) *
64) (integers: exactly), log floor((ln|x| - ln min|x|) * 64 / (ln max|x| - ln min|x|)) in 30 digits over the magnitudes'
nearest doubles.

usage: check_wide_values.py --cli PATH/shardscope-cli
"""
import argparse
import json
import math
import os
import random
import struct
import subprocess
import sys
from decimal import Context, Decimal

LOG_CONTEXT = Context(prec=30)
import tempfile
from fractions import Fraction


parser = argparse.ArgumentParser()
parser.add_argument("--cli", required=True)
cli = parser.parse_args().cli
random.seed(11)
N = 120000
MIN_NORMAL = {"F32": 2.0**-126, "F64": 2.2250738585072014e-308}
def f32(x): return struct.unpack('<f', struct.pack('<f', x))[0]
cases = {
 "f32_1000": ("F32", 'f', [f32(1000 + random.gauss(0, 1e-3)) for _ in range(N)]),
 "f32_unif": ("F32", 'f', [f32(random.uniform(1, 1.001)) for _ in range(N)]),
 "f32_sub": ("F32", 'f', [struct.unpack('<f', struct.pack('<I', random.randrange(1, 1 << 23) | (random.getrandbits(1) << 31)))[0] for _ in range(N)]),
 "f64_tight": ("F64", 'd', [1 + random.randrange(100000) * 1e-12 for _ in range(N)]),
 "f64_wide": ("F64", 'd', [random.choice([0.0, 10 ** random.uniform(-200, -190), -10 ** random.uniform(39, 300), 10 ** random.uniform(39, 300)]) for _ in range(N)]),
 "i32_top": ("I32", 'i', [2**31 - 1 - random.randrange(10**6) for _ in range(N)]),
 "u32_top": ("U32", 'I', [2**32 - 1 - random.randrange(5000) for _ in range(N)]),
 "i64_top": ("I64", 'q', [2**63 - 1 - random.randrange(1000) for _ in range(N)]),
 "i64_bottom": ("I64", 'q', [-2**63 + random.randrange(1000) for _ in range(N)]),
 "u64_alt": ("U64", 'Q', [2**62 + (i % 2) for i in range(N)]),
 "i64_rand": ("I64", 'q', [random.randrange(-2**63, 2**63) for _ in range(N)]),
}
tmp = tempfile.TemporaryDirectory()
d = tmp.name
hdr, blobs, off = {}, [], 0
for name, (dt, fmt, vals) in cases.items():
    b = struct.pack('<%d%s' % (len(vals), fmt), *vals)
    hdr[name] = {"dtype": dt, "shape": [len(vals)], "data_offsets": [off, off + len(b)]}
    off += len(b); blobs.append(b)
h = json.dumps(hdr).encode()
with open(d + "/model.safetensors", "wb") as f:
    f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
out = subprocess.run([cli, "stats", d, "--json"], capture_output=True, text=True)
if out.returncode != 0:
    sys.exit("stats failed: " + out.stderr)
doc = json.loads(out.stdout)
fails = 0
for t in doc["tensors"]:
    dt, fmt, vals = cases[t["name"]]
    integer = dt in ("I64", "U64")
    fin = [v for v in vals if not (isinstance(v, float) and not math.isfinite(v))]
    lo, hi = min(fin), max(fin)
    probs = []
    zeros = sum(1 for v in fin if v == 0)
    sub = sum(1 for v in fin if v != 0 and abs(v) < MIN_NORMAL.get(dt, 0))
    if (t["elements"], t["zeros"], t["subnormals"]) != (len(vals), zeros, sub):
        probs.append("counts %r vs %r" % ((t["elements"], t["zeros"], t["subnormals"]), (len(vals), zeros, sub)))
    if t["min"] != lo or t["max"] != hi: probs.append("min/max %r %r vs %r %r" % (t["min"], t["max"], lo, hi))
    if t["max_abs"] != max(abs(lo), abs(hi)): probs.append("max_abs")
    n = len(fin)
    mean = Fraction(sum(Fraction(v) for v in fin), n)
    var = sum((Fraction(v) - mean) ** 2 for v in fin) / n if integer or dt == "I32" or dt == "U32" else None
    if abs(t["mean"] - float(mean)) > 1e-12 * max(abs(float(mean)), 1e-300) + 1e-300: probs.append("mean %r vs %r" % (t["mean"], float(mean)))
    if var is not None:
        sd = math.sqrt(float(var))
        if abs(t["std"] - sd) > 1e-9 * sd: probs.append("std %r vs %r" % (t["std"], sd))
    # linear bins
    exp = [0] * 64
    for v in fin:
        if hi == lo: b = 0
        elif integer: b = min(63, (v - lo) * 64 // (hi - lo))
        else: b = min(63, max(0, math.floor((float(v) - lo) / (hi - lo) * 64)))
        exp[b] += 1
    got = t["histogram"]["linear"]["counts"]
    if got != exp: probs.append("linear bins differ in %d bins" % sum(1 for a, b in zip(got, exp) if a != b))
    nz = [abs(float(v)) for v in fin if v != 0]
    if nz:
        # In 30 digits: doubles closer than math.log2's own rounding (F64 packed tight, I64 past
        # 2^53 by their nearest double) still have distinct places.
        logs = {}
        def ln(a):
            if a not in logs: logs[a] = Decimal(a).ln(LOG_CONTEXT)
            return logs[a]
        l0, l1 = ln(min(nz)), ln(max(nz))
        expl = [0] * 64
        for a in nz:
            b = 0 if l1 == l0 else min(63, max(0, math.floor((ln(a) - l0) * 64 / (l1 - l0))))
            expl[b] += 1
        gotl = t["histogram"]["log10_abs"]["counts"]
        if gotl != expl: probs.append("log bins differ in %d bins: %s" % (sum(1 for a, b in zip(gotl, expl) if a != b), [(i, a, b) for i, (a, b) in enumerate(zip(gotl, expl)) if a != b][:4]))
    print(("FAIL " if probs else "PASS ") + t["name"] + (": " + "; ".join(probs) if probs else ""))
    fails += bool(probs)
print("%d failing" % fails); sys.exit(1 if fails else 0)
