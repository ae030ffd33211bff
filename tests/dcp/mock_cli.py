#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""A stand-in shardscope-cli over selfcheck.py's reader, for testing check_export.py.

    mock_cli.py inspect DIR --json
    mock_cli.py consolidate DIR OUT [--include-training-state] [--hf-assets HFDIR] [--verify]
    mock_cli.py verify OUT --against DIR

It implements only the DCP contract check_export.py codes against, so that
`check_export.py --cli mock_cli.py` shows the checker can pass and what it accepts; it is not a
reference for anything else.
"""

import json
import pathlib
import shutil
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from selfcheck import Checkpoint, DcpError  # noqa: E402

HF_ASSETS = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
             "special_tokens_map.json", "chat_template.jinja"]


def problem(e):
    return {"severity": "error", "file": e.file, "tensor": e.tensor, "message": e.message,
            "kind": e.kind}


def inspect(folder):
    try:
        ck = Checkpoint(folder)
    except DcpError as e:
        print(json.dumps({"format": "dcp", "tensors": [], "byte_items": [],
                          "problems": [problem(e)]}))
        print(f"shardscope-cli: {e}", file=sys.stderr)
        return 1
    tensors = [{"fqn": fqn, "name": t["name"], "dtype": t["dtype"], "shape": t["shape"],
                "kind": t["kind"], "exported": t["kind"] == "model", "coverage": "complete"}
               for fqn, t in ck.tensors.items()]
    items = []
    for fqn, b in ck.byte_items.items():
        item = {"fqn": fqn, "type": b["type"], "size": b["size"]}
        if b["type"] in ("int", "float"):
            item["value"] = repr(b["value"])
        elif b["type"] == "str":
            item["value"] = b["value"]
        items.append(item)
    print(json.dumps({"format": "dcp", "tensors": tensors, "byte_items": items,
                      "problems": []}))
    return 0


def write_safetensors(path, tensors):
    header, data = {"__metadata__": {"format": "pt"}}, bytearray()
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data),
                                                                         len(data) + len(raw)]}
        data += raw
    js = json.dumps(header).encode()
    js += b" " * (-len(js) % 8)
    path.write_bytes(struct.pack("<Q", len(js)) + js + data)


def consolidate(folder, out, training, assets):
    try:
        ck = Checkpoint(folder)
    except DcpError as e:
        print(f"shardscope-cli: error: {e}", file=sys.stderr)
        return 1
    chosen = {(t["name"] if t["kind"] == "model" else fqn): (t["dtype"], t["shape"], t["data"])
              for fqn, t in ck.tensors.items() if t["kind"] == "model" or training}
    out.mkdir(parents=True)
    fname = "model-00001-of-00001.safetensors"
    write_safetensors(out / fname, chosen)
    (out / "model.safetensors.index.json").write_text(json.dumps({
        "metadata": {"total_size": sum(len(t[2]) for t in chosen.values())},
        "weight_map": {name: fname for name in chosen}}))
    for f in HF_ASSETS if assets else []:
        if (assets / f).is_file():
            shutil.copyfile(assets / f, out / f)
    return 0


def verify(out, folder):
    ck = Checkpoint(folder)
    by_name = {}
    for fqn, t in ck.tensors.items():
        by_name[t["name"]] = by_name[fqn] = t
    index = json.loads((out / "model.safetensors.index.json").read_text())
    for name, fname in index["weight_map"].items():
        raw = (out / fname).read_bytes()
        n = struct.unpack_from("<Q", raw)[0]
        info = json.loads(raw[8:8 + n])[name]
        begin, end = info["data_offsets"]
        if raw[8 + n + begin:8 + n + end] != by_name[name]["data"]:
            print(f"shardscope-cli: {name} differs", file=sys.stderr)
            return 1
    print("OK")
    return 0


def main(argv):
    args = argv[1:]
    flags = {a for a in args if a in ("--json", "--include-training-state", "--verify")}
    words = [a for a in args if a not in flags]
    opts = {}
    for opt in ("--hf-assets", "--against"):
        if opt in words:
            i = words.index(opt)
            opts[opt] = pathlib.Path(words[i + 1])
            del words[i:i + 2]
    cmd, paths = words[0], [pathlib.Path(w) for w in words[1:]]
    if cmd == "inspect":
        return inspect(paths[0])
    if cmd == "consolidate":
        return consolidate(paths[0], paths[1], "--include-training-state" in flags,
                           opts.get("--hf-assets"))
    if cmd == "verify":
        return verify(paths[0], opts["--against"])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
