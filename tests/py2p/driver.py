#!/usr/bin/env python3
"""Runs ONE real py2p (0.7.878) MeshSocket for the interop tests.

Commanded over stdin, one JSON object a line; answers and reports over
stdout, one JSON object a line (flushed at once). Everything py2p itself
prints goes to stderr, so stdout carries only this protocol.

Commands: ``{"seq": N, "cmd": NAME, ...}``, each answered by
``{"seq": N, "ok": true, ...}`` or ``{"seq": N, "ok": false, "error": TEXT}``:

- ``start``: ``host``, ``port``, ``subnet``, ``encryption`` ("Plaintext" or
  "SSL"), optional ``max_outgoing`` (py2p's module-wide dial limit, default 4)
  and ``debug_level``. Answers ``id``, ``protocol_id``, ``out_addr`` and
  ``compression`` (the methods this py2p offers, in its order).
- ``connect``: ``host``, ``port``.
- ``send``: ``packets`` (typed values), optional ``flag`` and ``type``:
  ``MeshSocket.send(*packets, flag=flag, type=type)``.
- ``reply``: ``id`` (hex of a reported message's id), ``packets``:
  ``Message.reply(*packets)``.
- ``register``: ``handler``, "register_1" or "register_2" (py2p's own test
  handlers, below).
- ``routes``: answers ``ids`` (routing table), ``awaiting`` (connections
  without a handshake), ``outgoing`` (ids we dialed) and ``peers``
  (``[{"id", "addr", "compression", "outgoing"}]``).
- ``status``: answers py2p's ``status`` ("Nominal" or its exception list),
  and ``compressed``/``decompressed``: how many frames this process
  compressed / successfully decompressed, by method flag.
- ``close``: ``MeshSocket.close()``, then the process exits. End of stdin
  does the same.

Reports: every message py2p queues (the ``message`` event) is taken with
``recv()`` at once and written as ``{"event": "message", "id": HEX,
"sender": TEXT, "time": T, "msg_type": N, "packets": [...]}`` (packets with
the sub-flag at index 0, as ``msg.packets``).

Values use the typed JSON of the vectors and of ``mesh_proto::wire::json``:
``{"bin": hex}``, ``{"str": s}``, ``{"int": "decimal"}``, ``{"float": repr}``,
``{"map": [[k, v], ...]}``, arrays as arrays, null/true/false.

``driver.py --check`` only imports py2p and prints its version.
"""

# u-msgpack-python 2.3.0 (py2p's pin) decodes maps with collections.Hashable,
# gone since Python 3.10.
import collections
import collections.abc

collections.Hashable = collections.abc.Hashable  # type: ignore[attr-defined]

import importlib.metadata  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402

import py2p  # noqa: E402
import py2p.messages as messages  # noqa: E402
from py2p import flags, mesh  # noqa: E402

OUT = sys.stdout
# py2p prints its debug lines (and some errors, at level 0) with print():
# keep them off the protocol stream.
sys.stdout = sys.stderr
OUT_LOCK = threading.Lock()


def emit(obj):
    line = json.dumps(obj)
    with OUT_LOCK:
        OUT.write(line + "\n")
        OUT.flush()


# ---- typed values ---------------------------------------------------------


def from_typed(j, key=False):
    """Typed JSON to the Python value py2p sends (lists as tuples for keys)."""
    if j is None or isinstance(j, bool):
        return j
    if isinstance(j, list):
        items = [from_typed(x, key) for x in j]
        return tuple(items) if key else items
    if not isinstance(j, dict) or len(j) != 1:
        raise ValueError("not a typed value: %r" % (j,))
    ((tag, v),) = j.items()
    if tag == "bin":
        return bytes.fromhex(v)
    if tag == "str":
        return v
    if tag == "int":
        return int(v)
    if tag == "float":
        return float(v)
    if tag == "map":
        return {from_typed(k, True): from_typed(x) for k, x in v}
    raise ValueError("unknown tag %r" % (tag,))


def to_typed(v):
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"float": repr(v)}
    if isinstance(v, str):
        return {"str": v}
    if isinstance(v, (bytes, bytearray)):
        return {"bin": bytes(v).hex()}
    if isinstance(v, (list, tuple)):
        return [to_typed(x) for x in v]
    if isinstance(v, dict):
        return {"map": [[to_typed(k), to_typed(x)] for k, x in v.items()]}
    raise TypeError("cannot type %r" % (v,))


def text(b):
    if isinstance(b, (bytes, bytearray)):
        return bytes(b).decode("utf-8", "replace")
    return str(b)


# ---- compression accounting -------------------------------------------------
# py2p's InternalMessage calls the module-level compress/decompress of
# py2p.messages: wrap them to count what was really used on the wire.

COUNT_LOCK = threading.Lock()
COMPRESSED = {}
DECOMPRESSED = {}
_compress = messages.compress
_decompress = messages.decompress


def _counting_compress(msg, method):
    out = _compress(msg, method)
    with COUNT_LOCK:
        COMPRESSED[method] = COMPRESSED.get(method, 0) + 1
    return out


def _counting_decompress(msg, method):
    out = _decompress(msg, method)  # raises when it is not this method
    with COUNT_LOCK:
        DECOMPRESSED[method] = DECOMPRESSED.get(method, 0) + 1
    return out


messages.compress = _counting_compress
messages.decompress = _counting_decompress


# ---- py2p's own test handlers (py2p/test/test_mesh.py, 0.7.878, verbatim) ---


def register_1(msg, handler):
    packets = msg.packets
    if packets[1] == b'test':
        handler.send(flags.whisper, flags.whisper, b"success")
        return True
    return None


def register_2(msg, handler):
    packets = msg.packets
    if packets[1] == b'test':
        msg.reply(b"success")
        return True
    return None


HANDLERS = {"register_1": register_1, "register_2": register_2}


# ---- the node ----------------------------------------------------------------


class Node(object):
    def __init__(self):
        self.sock = None
        self.received = {}  # hex id -> py2p Message, for reply
        self.lock = threading.Lock()

    def on_message(self, sock):
        # Runs on py2p's daemon thread right after it queued a message.
        msg = sock.recv()
        if msg is None:
            return
        ident = bytes(msg.id).hex()
        with self.lock:
            self.received[ident] = msg
        emit({
            "event": "message",
            "id": ident,
            "sender": text(msg.sender),
            "time": msg.time,
            "msg_type": msg.msg.msg_type,
            "packets": [to_typed(p) for p in msg.packets],
        })

    def start(self, c):
        if self.sock is not None:
            raise RuntimeError("already started")
        mesh.max_outgoing = int(c.get("max_outgoing", 4))
        prot = mesh.Protocol(c.get("subnet", "mesh"), c.get("encryption", "Plaintext"))
        self.sock = mesh.MeshSocket(
            c.get("host", "127.0.0.1"), int(c["port"]), prot=prot,
            debug_level=int(c.get("debug_level", 0)))
        self.sock.on("message", self.on_message)
        return {
            "id": text(self.sock.id),
            "protocol_id": text(prot.id),
            "out_addr": list(self.sock.out_addr),
            "compression": list(messages.compression),
        }

    def connect(self, c):
        self.sock.connect(c.get("host", "127.0.0.1"), int(c["port"]))
        return {}

    def send(self, c):
        packets = [from_typed(p) for p in c.get("packets", [])]
        kwargs = {}
        if "flag" in c:
            kwargs["flag"] = int(c["flag"])
        if "type" in c:
            kwargs["type"] = int(c["type"])
        self.sock.send(*packets, **kwargs)
        return {}

    def reply(self, c):
        with self.lock:
            msg = self.received.get(c["id"])
        if msg is None:
            raise KeyError("no received message with id %s" % c["id"])
        msg.reply(*[from_typed(p) for p in c.get("packets", [])])
        return {}

    def register(self, c):
        self.sock.register_handler(HANDLERS[c["handler"]])
        return {}

    def routes(self, c):
        table = dict(self.sock.routing_table)
        return {
            "ids": [text(k) for k in table],
            "awaiting": len(self.sock.awaiting_ids),
            "outgoing": [text(k) for k in self.sock.outgoing],
            "peers": [{
                "id": text(k),
                "addr": list(h.addr) if h.addr else None,
                "compression": list(h.compression or []),
                "outgoing": bool(h.outgoing),
            } for k, h in table.items()],
        }

    def status(self, c):
        st = self.sock.status
        with COUNT_LOCK:
            return {
                "status": st if isinstance(st, str) else list(st),
                "compressed": {str(k): v for k, v in COMPRESSED.items()},
                "decompressed": {str(k): v for k, v in DECOMPRESSED.items()},
            }

    def close(self, c):
        if self.sock is not None:
            self.sock.close()
        return {}


def main():
    if sys.argv[1:] == ["--check"]:
        emit({"py2p": importlib.metadata.version("py2p"), "python": sys.version.split()[0]})
        return 0
    node = Node()
    commands = {
        "start": node.start, "connect": node.connect, "send": node.send,
        "reply": node.reply, "register": node.register, "routes": node.routes,
        "status": node.status, "close": node.close,
    }
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        seq = None
        try:
            c = json.loads(line)
            seq = c.get("seq")
            name = c["cmd"]
            if name != "start" and node.sock is None:
                raise RuntimeError("not started")
            answer = commands[name](c)
            answer.update({"seq": seq, "ok": True})
            emit(answer)
            if name == "close":
                return 0
        except Exception as e:  # report, keep serving
            traceback.print_exc(file=sys.stderr)
            emit({"seq": seq, "ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    # End of stdin: the test is gone.
    if node.sock is not None:
        try:
            node.sock.close()
        except Exception:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
