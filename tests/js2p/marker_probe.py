#!/usr/bin/env python3
"""Probe: does a real js2p 0.7.870 node tolerate an UNKNOWN int in a peer's
handshake compression list (our planned "same implementation" marker)?

A fake peer (this script, raw TCP on 127.0.0.1) joins js2p node J, which has
a second js2p node K behind it (both run by driver.js). For each marker and
list shape it checks that J keeps the connection, answers the handshake with
its handshake and peer list, delivers our broadcast and relays it to K, sends
us its own and K's broadcasts (compressed only with a method we both know),
answers request_peers, and stays "Nominal". Then it shows the renegotiate
behaviour that does break js2p (it has nothing to do with the marker).

Needs u-msgpack-python (the py2p venv has it) and node; js2p from
$JS2P_NODE_MODULES or ./node_modules (npm ci here). Ports 46700-46999.
Run: .venv/py2p/bin/python tests/js2p/marker_probe.py   (exit 0 = harmless)
"""

import collections
import collections.abc

collections.Hashable = collections.abc.Hashable  # u-msgpack-python 2.3.0 on Python >= 3.10

import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402

import umsgpack  # noqa: E402

DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "driver.js")
PROTO = b"EpAmyZWv9rZUKmjQgU3FTUD4GrJHvVEXizmghVBc8eGD"  # Protocol("mesh", "Plaintext")
ZLIB, GZIP = 0x13, 0x11


class Driver:
    """One driver.js process (every wait bounded; `timeout` ends a stray one)."""

    def __init__(self):
        self.p = subprocess.Popen(["timeout", "120", "node", DRIVER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, bufsize=1)
        self.answers, self.events, self.seq = queue.Queue(), queue.Queue(), 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            o = json.loads(line)
            (self.events if "event" in o else self.answers).put(o)

    def cmd(self, name, **kw):
        self.seq += 1
        kw.update(seq=self.seq, cmd=name)
        self.p.stdin.write(json.dumps(kw) + "\n")
        self.p.stdin.flush()
        a = self.answers.get(timeout=10)
        if not a.get("ok"):
            raise RuntimeError(a)
        return a

    def event(self, timeout=2.0):
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self):
        try:
            self.cmd("close")
        except Exception:
            pass
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def frame(body_obj, method=None):
    body = umsgpack.packb(body_obj)
    data = hashlib.sha256(body).digest() + body
    if method == ZLIB:
        data = zlib.compress(data)
    elif method == GZIP:
        c = zlib.compressobj(wbits=31)
        data = c.compress(data) + c.flush()
    return struct.pack(">I", len(data)) + data, hashlib.sha256(body).hexdigest()


def unframe(data):
    for how in ("compressed", "raw"):
        try:
            d = zlib.decompress(data, 47) if how != "raw" else data  # zlib or gzip
        except zlib.error:
            continue
        if hashlib.sha256(d[32:]).digest() == d[:32]:
            return how, umsgpack.unpackb(d[32:])
    return "BAD", None


class FakePeer:
    def __init__(self, port, compression, name):
        self.me = name.encode()
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.frames, self.closed = queue.Queue(), threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        self.send([2, self.me, int(time.time()), 5, self.me, PROTO, ["127.0.0.1", 46999], compression])

    def _read(self):
        buf = b""
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 4:
                    n = struct.unpack(">I", buf[:4])[0]
                    if len(buf) < 4 + n:
                        break
                    self.frames.put(unframe(buf[4:4 + n]))
                    buf = buf[4 + n:]
        except OSError:
            pass
        self.closed.set()

    def send(self, body_obj, method=None):
        raw, ident = frame(body_obj, method)
        self.s.sendall(raw)
        return ident

    def drain(self, t=0.8):
        out, end = [], time.time() + t
        while time.time() < end:
            try:
                out.append(self.frames.get(timeout=max(0.01, end - time.time())))
            except queue.Empty:
                break
        return out

    def close(self):
        self.s.close()


def free_port():
    """A port nothing listens on now (the OS picks it): js2p needs a port
    number up front, and fixed ones collide with whatever else runs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(compression, send_method):
    """True when js2p treats a peer advertising `compression` normally."""
    J, K = Driver(), Driver()
    problems = []
    peer = None
    port = free_port()
    try:
        J.cmd("start", port=port)
        K.cmd("start", port=free_port())
        K.cmd("connect", port=port)
        time.sleep(0.4)
        peer = FakePeer(port, compression, "FakePeer%d" % port)
        got = peer.drain()
        kinds = [m[3] for how, m in got if m]
        if kinds.count(5) < 1 or kinds.count(7) != 1:
            problems.append("no handshake+peers answer: %r" % kinds)
        mine = [p for p in J.cmd("routes")["peers"] if p["id"] == peer.me.decode()]
        if not mine or mine[0]["compression"] != compression:
            problems.append("not in J's routing table as sent: %r" % mine)
        bid = peer.send([0, peer.me, int(time.time()), 0, b"from-fake"], send_method)
        for name, d in (("J", J), ("K (relayed)", K)):
            ev = d.event()
            if not ev or ev["id"] != bid:
                problems.append("%s did not get our broadcast: %r" % (name, ev))
        J.cmd("send", packets=[{"str": "from-J"}])
        K.cmd("send", packets=[{"str": "from-K"}])
        got = peer.drain(1.0)
        texts = sorted(m[4] for how, m in got if m and m[0] == 0)
        if texts != ["from-J", "from-K"] or any(how == "BAD" for how, _ in got):
            problems.append("broadcasts from J/K: %r" % got)
        if ZLIB not in compression and GZIP not in compression and any(h == "compressed" for h, _ in got):
            problems.append("js2p compressed with a method we did not advertise")
        peer.send([2, peer.me, int(time.time()), 8, b"*"])
        got = peer.drain(0.6)
        if [m[3] for how, m in got if m] != [7]:
            problems.append("request_peers answer: %r" % got)
        status = J.cmd("status")["status"]
        if status != "Nominal":
            problems.append("J status %r" % status)
        if peer.closed.is_set():
            problems.append("J closed the connection")
    finally:
        if peer:
            peer.close()
        J.close()
        K.close()
    print("  %-22s send %-5s -> %s" % (compression, send_method and hex(send_method),
                                         "ok" if not problems else "PROBLEM: %s" % problems))
    return not problems


def check_twice(compression, send_method):
    """`check`, tried again once if it fails: a js2p node now and then
    misses a first handshake (one such miss in a CI dry run, its sibling
    case with the same list fine). A marker that harms js2p fails both."""
    if check(compression, send_method):
        return True
    print("  (one more try)")
    return check(compression, send_method)


def renegotiate_demo():
    print("renegotiate (not marker-related; js2p base.js:1082/1087 use an undefined `self`):")
    adv = [ZLIB, GZIP, 19536]
    for label, body in (("compression, same list", [1, None, None, 1, adv]),
                        ("compression, [] (py2p's bad-frame answer)", [1, None, None, 1, []]),
                        ("compression, marker dropped", [1, None, None, 1, [ZLIB, GZIP]]),
                        ("resend", [1, None, None, 9])):
        J = Driver()
        port = free_port()
        try:
            J.cmd("start", port=port)
            peer = FakePeer(port, adv, "FakePeer%d" % port)
            peer.drain(0.6)
            body[1], body[2] = peer.me, int(time.time())
            peer.send(body)
            time.sleep(0.5)
            st = J.cmd("status")["status"]
            print("  %-42s -> connection %s, status %s" % (
                label, "CLOSED" if peer.closed.is_set() else "kept",
                st if st == "Nominal" else [s.splitlines()[0] for s in st]))
            peer.close()
        finally:
            J.close()


def main():
    ok = True
    for marker in (19536, 19540, 43):
        print("marker %d:" % marker)
        for lst in ([ZLIB, GZIP, marker], [marker, ZLIB, GZIP], [marker], [marker, GZIP]):
            for method in [None] + [m for m in (ZLIB, GZIP) if m in lst][:1]:
                ok &= check_twice(lst, method)
    renegotiate_demo()
    print("marker harmless to js2p:", ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
