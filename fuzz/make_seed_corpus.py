#!/usr/bin/env python3
"""Writes the seed corpora from the py2p vectors (tests/data/py2p-wire.json).

decode_frame/: each vector frame as raw bytes.
deframe/: split sizes (first byte = how many), then several frames back to back.
"""
import json, os, pathlib

root = pathlib.Path(__file__).resolve().parent
vectors = json.loads((root.parent / "tests/data/py2p-wire.json").read_text())
frames = [(f["name"], bytes.fromhex(f["frame_hex"])) for f in vectors["frames"]]
small = [(n, b) for n, b in frames if len(b) < 4096]

out = root / "corpus/decode_frame"
out.mkdir(parents=True, exist_ok=True)
for name, data in frames:
    (out / name).write_bytes(data)

out = root / "corpus/deframe"
out.mkdir(parents=True, exist_ok=True)
for i in range(0, len(small), 3):
    group = small[i:i + 3]
    stream = b"".join(b for _, b in group)
    splits = bytes([1, 7, 64, 3, 200])
    (out / ("stream_" + "_".join(n for n, _ in group))).write_bytes(bytes([len(splits)]) + splits + stream)
    (out / ("bytewise_" + group[0][0])).write_bytes(bytes([1, 1]) + group[0][1])
