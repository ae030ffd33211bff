#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Process-level faults while exporting DCP checkpoints: a failed write, a kill, an interrupt,
a second run into the same folder, and a failed overwrite of a good export.

Uses the fixtures make_fixtures.py wrote and ShardScope's test hook SHARDSCOPE_TEST_FAULT
(op:k[:kill|:int|:pause]). Each case must leave the output folder exactly as the message says.
"""

import argparse
import hashlib
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from check_export import check_outputs  # noqa: E402

CASES = ["v2_strided", "v2_zstd", "titan"]


def run(cli, args, fault=None, wait=True):
    env = dict(os.environ)
    env.pop("SHARDSCOPE_TEST_FAULT", None)
    if fault:
        env["SHARDSCOPE_TEST_FAULT"] = fault
    p = subprocess.Popen([cli, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env)
    if not wait:
        return p
    out, err = p.communicate(timeout=120)
    return p.returncode, out.decode(), err.decode()


def snapshot(folder):
    """Every file under folder with its hash: what 'unchanged' means."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def args_for(fixtures, name, expect, out):
    args = ["consolidate", fixtures / name, out]
    if expect["include_training_state"]:
        args.append("--include-training-state")
    if expect.get("hf_assets"):
        args += ["--hf-assets", fixtures / expect["hf_assets"]["dir"]]
    return args


def expect_good(out, fixtures, expect, problems, what):
    found = []
    check_outputs(out, fixtures, expect, found)
    # .shardscope-export.json is every export's manifest; the rest belong to unfinished runs.
    leftovers = [p.name for p in out.iterdir()
                 if p.name.startswith(".shardscope") and p.name != ".shardscope-export.json"]
    if leftovers:
        found.append(f"leftovers {leftovers}")
    problems += [f"{what}: {p}" for p in found]


def failed_write(cli, fixtures, name, expect, tmp, problems):
    out = tmp / "failed"
    rc, _, err = run(cli, args_for(fixtures, name, expect, out), "write:3")
    if rc != 1 or "Nothing was left behind" not in err or out.exists():
        problems.append(f"write:3: rc {rc}, output left: {out.exists()}: {err.strip()[-200:]}")


def killed(cli, fixtures, name, expect, tmp, problems):
    out = tmp / "killed"
    rc, _, _ = run(cli, args_for(fixtures, name, expect, out), "write:3:kill")
    if rc != -signal.SIGKILL:
        problems.append(f"write:3:kill: rc {rc}, expected death by SIGKILL")
        return
    if (out / "model.safetensors.index.json").exists():
        problems.append("a killed run left an index that looks complete")
    rc, _, err = run(cli, args_for(fixtures, name, expect, out))
    if rc != 0:
        problems.append(f"the run after a kill: rc {rc}: {err.strip()[-200:]}")
        return
    if "note:" not in err:
        problems.append("the run after a kill did not say what it found")
    expect_good(out, fixtures, expect, problems, "after a kill")


def interrupted(cli, fixtures, name, expect, tmp, problems):
    # SIGINT is delivered to the signal thread asynchronously: on a small export the run may
    # already be publishing, which always completes. Either way the disk must match the message.
    out = tmp / "interrupted"
    rc, _, err = run(cli, args_for(fixtures, name, expect, out), "write:2:int")
    if rc == 0:
        expect_good(out, fixtures, expect, problems, "an interrupt that came too late")
    elif rc != 1 or "cancelled" not in err or out.exists():
        problems.append(f"write:2:int: rc {rc}, output left: {out.exists()}: {err.strip()[-200:]}")


def concurrent(cli, fixtures, name, expect, tmp, problems):
    out = tmp / "concurrent"
    first = run(cli, args_for(fixtures, name, expect, out), "write:1:pause", wait=False)
    try:
        # The first run stops itself once it holds the lock; a busy machine may take a while.
        for _ in range(2400):
            if open(f"/proc/{first.pid}/stat").read().split(") ")[1].startswith("T"):
                break
            time.sleep(0.05)
        else:
            problems.append("the first run never reached its first write")
            return
        rc, _, err = run(cli, args_for(fixtures, name, expect, out) + ["--overwrite"])
        if rc != 1 or "another ShardScope run is writing" not in err:
            problems.append(f"second run: rc {rc}: {err.strip()[-200:]}")
    finally:
        first.send_signal(signal.SIGCONT)
        first.communicate(timeout=120)
    if first.returncode != 0:
        problems.append(f"the paused run: rc {first.returncode}")
    else:
        expect_good(out, fixtures, expect, problems, "the paused run")


def failed_overwrite(cli, fixtures, name, expect, tmp, problems):
    out = tmp / "overwrite"
    rc, _, err = run(cli, args_for(fixtures, name, expect, out))
    if rc != 0:
        problems.append(f"first export: rc {rc}: {err.strip()[-200:]}")
        return
    before = snapshot(out)
    rc, _, err = run(cli, args_for(fixtures, name, expect, out) + ["--overwrite"], "write:3")
    if rc != 1 or "unchanged" not in err:
        problems.append(f"failed overwrite: rc {rc}: {err.strip()[-200:]}")
    if snapshot(out) != before:
        problems.append("a failed overwrite changed the previous export")


CHECKS = [failed_write, killed, interrupted, concurrent, failed_overwrite]


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--cli", required=True)
    p.add_argument("--fixtures", required=True, type=pathlib.Path)
    a = p.parse_args(argv[1:])
    root = pathlib.Path(tempfile.mkdtemp(prefix="dcp-faults-"))
    failed = 0
    try:
        for name in CASES:
            expect = json.loads((a.fixtures / f"{name}.json").read_text())
            for check in CHECKS:
                tmp = root / f"{name}-{check.__name__}"
                tmp.mkdir()
                problems = []
                check(a.cli, a.fixtures, name, expect, tmp, problems)
                failed += bool(problems)
                print(f"{'FAIL' if problems else 'PASS'} {name} {check.__name__}" +
                      (": " + "; ".join(problems) if problems else ""), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    total = len(CASES) * len(CHECKS)
    print(f"{total - failed} of {total} DCP fault checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
