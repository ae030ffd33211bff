#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# SPDX-FileCopyrightText: 2026 The ShardScope authors
"""Writes tests/zip_fixtures.h: zip archives made by Python's own zipfile module, embedded as
bytes so tst_zip_reader needs no Python at run time. Run from the repository root:

    python3 tests/make_zip_fixtures.py > tests/zip_fixtures.h

Every archive is stored (ZIP_STORED) with fixed timestamps, so the output is deterministic.
"""

import io
import sys
import zipfile

DATE = (1980, 1, 1, 0, 0, 0)

# name -> bytes; the same contents in every fixture, so the test checks them from one table.
ENTRIES = [
    ("archive/data.pkl", b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."),
    ("archive/data/0", bytes(range(256)) + b"PK\x05\x06" + bytes(18)),  # a fake EOCD in data
    ("archive/version", b"3\n"),
    ("archive/byteorder", b"little"),
    ("archive/gr\u00f6\u00dfe", b"utf-8 name, flag bit 11"),
    ("archive/empty", b""),
]


class Unseekable(io.RawIOBase):
    """A write-only stream without seek/tell, so zipfile streams: flag bit 3, zero sizes in
    the local headers, data descriptors after the data."""

    def __init__(self):
        self.buffer = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.buffer += b
        return len(b)


def info(name):
    zi = zipfile.ZipInfo(name, DATE)
    zi.compress_type = zipfile.ZIP_STORED
    zi.external_attr = 0o644 << 16
    return zi


def plain():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, data in ENTRIES:
            zf.writestr(info(name), data)
    return out.getvalue()


def forced_zip64():
    # force_zip64 on open-for-writing: ZIP64 extra fields in every local header, whose 32-bit
    # sizes read 0xFFFFFFFF; the central directory keeps real 32-bit values.
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, data in ENTRIES:
            with zf.open(info(name), "w", force_zip64=True) as f:
                f.write(data)
    return out.getvalue()


def streamed():
    # Written to an unseekable stream: data descriptors, ZIP64-sized for the forced entries.
    out = Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for i, (name, data) in enumerate(ENTRIES):
            with zf.open(info(name), "w", force_zip64=(i % 2 == 0)) as f:
                f.write(data)
    return bytes(out.buffer)


def zip64_records():
    # zipfile writes ZIP64 central-directory extras and the ZIP64 end record + locator only past
    # its module limits; lowering them makes its own code emit both for a small archive.
    saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 64, 2
    try:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
            for name, data in ENTRIES:
                zf.writestr(info(name), data)
        return out.getvalue()
    finally:
        zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved


def commented(comment=b"note PK\x05\x06" + bytes(18) + b" trailing words"):
    # An archive comment holding a fake end-of-central-directory record whose comment length
    # (0) does not match the bytes after it: a backward scan must skip it. (Python 3.11's own
    # reader takes the fake one, so check() reads the same archive without the comment.)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, data in ENTRIES[:3]:
            zf.writestr(info(name), data)
        zf.comment = comment
    return out.getvalue()


def check(name, blob):
    if name == "kPythonCommented":
        bare = commented(b"")
        if blob[:len(bare) - 2] != bare[:-2]:
            sys.exit(f"{name}: the comment changed more than the comment length")
        blob = bare
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        if zf.testzip() is not None:
            sys.exit(f"{name}: zipfile finds a bad entry")
        expected = ENTRIES[:3] if name == "kPythonCommented" else ENTRIES
        got = [(i.filename, zf.read(i)) for i in zf.infolist()]
        if got != expected:
            sys.exit(f"{name}: zipfile reads back different entries")


def array(name, blob):
    lines = [f"inline constexpr unsigned char {name}[{len(blob)}] = {{"]
    for i in range(0, len(blob), 16):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in blob[i:i + 16]) + ",")
    lines.append("};")
    return "\n".join(lines)


def cstring(data):
    # Printable ASCII as is, everything else as three-digit octal (never swallows a digit).
    out = ""
    for b in data:
        ch = chr(b)
        out += ch if 0x20 <= b < 0x7F and ch not in '"\\?' else f"\\{b:03o}"
    return '"' + out + '"'


def main():
    fixtures = [
        ("kPythonPlain", plain()),
        ("kPythonForcedZip64", forced_zip64()),
        ("kPythonStreamed", streamed()),
        ("kPythonZip64Records", zip64_records()),
        ("kPythonCommented", commented()),
    ]
    for name, blob in fixtures:
        check(name, blob)
    print("// SPDX-License-Identifier: MIT")
    print("// SPDX-FileCopyrightText: 2026 The ShardScope authors")
    print()
    print("// Generated by tests/make_zip_fixtures.py with Python " +
          ".".join(map(str, sys.version_info[:3])) + "'s zipfile; do not edit.")
    print()
    print("#pragma once")
    print()
    print("#include <string_view>")
    print()
    print("namespace zip_fixtures {")
    print()
    print("struct Entry {")
    print("    std::string_view name;")
    print("    std::string_view data;")
    print("};")
    print()
    print("// What every fixture holds (kPythonCommented: the first three), in this order.")
    print("inline constexpr Entry kEntries[] = {")
    for name, data in ENTRIES:
        print(f"    {{{cstring(name.encode())}, {{{cstring(data)}, {len(data)}}}}},")
    print("};")
    for name, blob in fixtures:
        print()
        print(array(name, blob))
    print()
    print("} // namespace zip_fixtures")


main()
