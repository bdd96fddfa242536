#!/usr/bin/env python3
"""Writes the seed corpora: `make_seed_corpus.py [target ...]` (default: all).

decode_frame/: each py2p vector frame (tests/data/py2p-wire.json) as raw bytes.
deframe/: split sizes (first byte = how many), then several frames back to back.
mesh/: hand-made op-code programs (handshakes, relays, peer exchange, route
replies, timeouts, overflow, renegotiation, capacity) for the `mesh` target.

Only the named targets' directories are written; files already there stay.
"""
import json, os, pathlib, sys

root = pathlib.Path(__file__).resolve().parent


def py2p_seeds(targets):
    vectors = json.loads((root.parent / "tests/data/py2p-wire.json").read_text())
    frames = [(f["name"], bytes.fromhex(f["frame_hex"])) for f in vectors["frames"]]
    small = [(n, b) for n, b in frames if len(b) < 4096]

    if "decode_frame" in targets:
        out = root / "corpus/decode_frame"
        out.mkdir(parents=True, exist_ok=True)
        for name, data in frames:
            (out / name).write_bytes(data)

    if "deframe" in targets:
        out = root / "corpus/deframe"
        out.mkdir(parents=True, exist_ok=True)
        for i in range(0, len(small), 3):
            group = small[i:i + 3]
            stream = b"".join(b for _, b in group)
            splits = bytes([1, 7, 64, 3, 200])
            (out / ("stream_" + "_".join(n for n, _ in group))).write_bytes(bytes([len(splits)]) + splits + stream)
            (out / ("bytewise_" + group[0][0])).write_bytes(bytes([1, 1]) + group[0][1])

# --- mesh/: op-code programs for mesh_proto::fuzz_checks::mesh_ops ---------
#
# [seed, flags, knobs] then ops; the op codes and their arguments are
# documented in MeshRun::step. `pick` indexes the open connections (sorted by
# id) of the kind the op wants; `who`/`addr` bytes below 0xf0 name one of eight
# fake peers (id and address); time byte 64 is "now".

NOW = 64


def accept(remote=0): return [0, remote]
def connect(addr): return [1, addr]
def dialed(pick, ok=True): return [2, pick, 0 if ok else 1]
def raw(pick, data): return [3, pick, len(data)] + list(data)
def handshake(pick, who, addr, v=0, mask=0x1F, extra=()):
    return [4, pick, who, addr, v, mask] + list(extra)
def broadcast(pick, sender, data, time=NOW, comp=0xFF):
    return [5, pick, sender, time, comp, len(data)] + list(data)
def generic(pick, msg_type_idx, sub, sender, packets=(), time=NOW, comp=0xFF):
    out = [6, pick, msg_type_idx | (len(packets) << 3), sub, sender, time, comp]
    for p in packets:
        out += [len(p)] + list(p)
    return out
def peers(pick, sender, entries):
    out = [7, pick, sender, len(entries)]
    for a, p in entries:
        out += [a, p]
    return out
def request_star(pick, b=0): return [8, pick, b]
def route_request(pick, target, sender, rid, time=NOW):
    return [9, pick, target, sender, time, len(rid)] + list(rid)
def route_response(pick, which=0, v=0, addr=5, time=NOW): return [10, pick, which, v, addr, time]
def renegotiate(pick, mask): return [11, pick, mask]
def resend(pick, comp=0xFF): return [12, pick, comp]
def corrupt(pick, at, flip, comp=0xFF): return [13, pick, at, flip, comp]
def partial(pick, cut, sender, data, time=NOW, comp=0xFF):
    return [14, pick, cut, sender, time, comp, len(data)] + list(data)
def rest(pick): return [15, pick]
def echo(pick, which): return [16, pick, which]
def closed(pick): return [17, pick]
def written(pick, b=0): return [18, pick, b]
def advance(step): return [19, step]  # index into STEPS: 3=500ms 5=1s 8=10s 11=60s 14=1h 15=7d
def tick(hundred_ms): return [20, hundred_ms]
def send(kind, data): return [21, kind, len(data)] + list(data)
def send_big(k256): return [21, 3, k256]
def reply(b, data): return [22, b, len(data)] + list(data)
def recv(): return [23, 1]
def recv_many(n): return [23, n << 1]
def close_mesh(): return [24]
def hello(pick, who): return [25, pick, who]


def program(seed, flags, knobs, *ops):
    out = [seed, flags, knobs]
    for op in ops:
        out += op
    return bytes(out)


PLAIN = 0x03  # snappy + zlib
MESH_SEEDS = {
    "handshake_broadcast": program(
        1, PLAIN, 0, accept(), hello(0, 0), broadcast(0, 3, b"hello"), recv(), advance(11), advance(14)),
    "relay_two_peers": program(
        2, PLAIN, 0, accept(), accept(), hello(0, 0), hello(1, 1),
        broadcast(0, 0, b"relay me"), broadcast(1, 5, b"zlib relay", comp=1), echo(0, 0),
        broadcast(0, 0, b"relay me"), recv_many(8), advance(11)),
    "peer_exchange_dials": program(
        3, PLAIN, 0, connect(0), dialed(0), hello(0, 0),
        peers(0, 0, [(1, 1), (2, 2), (3, 3), (4, 4), (0xF0, 0xF0), (0xFF, 0)]),
        dialed(0), dialed(0, ok=False), hello(1, 1), advance(8), advance(14), dialed(0), dialed(0)),
    "reply_via_route": program(
        4, PLAIN, 0, accept(), hello(0, 0), broadcast(0, 5, b"who am i"), recv(), reply(0, b"ack"),
        route_response(0, 0, 0, 5), dialed(0), hello(1, 5), recv(), advance(11)),
    "timeouts": program(
        5, PLAIN, 0, accept(), advance(8), accept(), hello(0, 2), partial(0, 10, 1, b"stalled frame!"),
        advance(11), accept(), partial(0, 3, 1, b"x"), tick(5), rest(0), advance(15)),
    "output_overflow": program(
        6, PLAIN, 0, accept(), hello(0, 0), written(0), send_big(200), send_big(200), send_big(200),
        accept(), hello(0, 1), send_big(100), written(0), send_big(200), written(0, 3)),
    "renegotiate_resend_corrupt": program(
        7, 0x07, 0, accept(), hello(0, 0), send(0, b"first"), renegotiate(0, 0x02), resend(0),
        renegotiate(0, 0x00), resend(0, 1), corrupt(0, 40, 0x55), corrupt(0, 7, 0x01),
        corrupt(0, 60, 0x80, comp=1), corrupt(0, 36, 0x10), corrupt(0, 50, 0x11)),
    "duplicate_connection": program(
        8, PLAIN, 0, accept(), connect(0), dialed(0), hello(0, 0), hello(1, 0),
        accept(), hello(1, 1), connect(1), dialed(0), hello(2, 1), broadcast(0, 0, b"dup")),
    "lost_peer_heal": program(
        9, PLAIN, 0, accept(), accept(), hello(0, 0), hello(1, 1), closed(0), advance(3), advance(5),
        dialed(0), hello(1, 0), closed(1), advance(9), dialed(0, ok=False), advance(12), dialed(0)),
    "inbound_capacity": program(
        10, PLAIN, 0, accept(), accept(), accept(), accept(), accept(), hello(0, 0), hello(1, 1),
        accept(), accept(), accept(), accept(), hello(2, 2), advance(8), accept()),
    "close_mesh": program(
        11, PLAIN, 0, accept(), hello(0, 0), connect(3), close_mesh(), accept(), connect(4),
        send(0, b"late"), reply(0xF0, b"late"), advance(14), close_mesh()),
    "app_handler": program(
        12, 0x20 | PLAIN, 0, accept(), accept(), hello(0, 0), hello(1, 1),
        broadcast(0, 0, b"R1"), broadcast(0, 0, b"S1"), generic(0, 2, 2, 0, [b"D1"]),
        broadcast(1, 6, b"R2"), route_response(1), generic(1, 2, 2, 1, [b"C1"]), recv_many(8)),
    "mismatch_self_malformed": program(
        13, PLAIN, 0, accept(), handshake(0, 0, 0, v=1), accept(), handshake(0, 0xF0, 0xF0),
        accept(), handshake(0, 1, 1, v=0x10), handshake(0, 1, 1, v=0x02 | 0x08, mask=0xC1),
        handshake(0, 2, 2, v=0x24 | 0x40, extra=[NOW, 1]), raw(0, b"\xff\xff\xff\xff garbage")),
    "seen_flood": program(
        14, 0x40 | PLAIN, 0, accept(), hello(0, 0), accept(), hello(1, 1),
        *[broadcast(0, 2, b"flood", time=t) for t in range(60, 72)],
        broadcast(0, 2, b"old", time=0x80), broadcast(0, 2, b"future", time=0x85), echo(1, 3),
        advance(11), broadcast(0, 2, b"flood", time=60)),
    "compressed_relay": program(
        15, 0x1F, 0, accept(), accept(), accept(),
        handshake(0, 0, 0, mask=0x01), handshake(1, 1, 1, mask=0x08), handshake(2, 2, 2, mask=0x02),
        broadcast(0, 0, b"snappy in" * 8, comp=0), broadcast(1, 1, b"bz2 in" * 8, comp=3),
        broadcast(2, 4, b"lzma in", comp=4), send(0, b"ours" * 20)),
    "queue_lagged": program(
        16, PLAIN, 0x04, accept(), hello(0, 0), broadcast(0, 1, b"a"), broadcast(0, 1, b"b"),
        generic(0, 2, 2, 1, [b"w"]), broadcast(0, 1, b"c"), recv(), recv()),
    "peer_requests": program(
        17, PLAIN, 0, accept(), accept(), hello(0, 0), hello(1, 1), request_star(0, 0),
        request_star(1, 1), route_request(0, 1, 0, b"abcd"), route_request(0, 7, 0, b"none"),
        route_request(1, 0, 2, b"r3", time=NOW + 1)),
    "tight_knobs": program(
        18, PLAIN, 0x55, accept(), hello(0, 0), peers(0, 0, [(1, 1), (2, 2), (3, 3)]),
        broadcast(0, 6, b"x"), recv(), reply(0, b"y"), reply(1, b"z"), closed(0), advance(14)),
}


def mesh_seeds():
    out = root / "corpus/mesh"
    out.mkdir(parents=True, exist_ok=True)
    for name, data in MESH_SEEDS.items():
        (out / ("seed_" + name)).write_bytes(data)


if __name__ == "__main__":
    targets = sys.argv[1:] or ["decode_frame", "deframe", "mesh"]
    unknown = set(targets) - {"decode_frame", "deframe", "mesh"}
    if unknown:
        sys.exit(f"unknown target(s): {', '.join(sorted(unknown))}")
    py2p_seeds(targets)
    if "mesh" in targets:
        mesh_seeds()
