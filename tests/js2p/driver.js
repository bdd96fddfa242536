#!/usr/bin/env node
/*
 * Runs ONE real js2p (npm `js2p@0.7.870`) MeshSocket for interop tests: the
 * Node twin of ../py2p/driver.py, with the same line protocol.
 *
 * Commanded over stdin, one JSON object a line; answers and reports over
 * stdout, one JSON object a line. Everything js2p itself prints (its
 * console.log/warn lines) goes to stderr, so stdout carries only this
 * protocol.
 *
 * js2p is loaded from $JS2P_NODE_MODULES (a node_modules directory holding
 * js2p 0.7.870), else from ./node_modules next to this file (`npm ci` here).
 * Runs on Node >= 18 (tested with 20).
 *
 * Commands: {"seq": N, "cmd": NAME, ...}, each answered by
 * {"seq": N, "ok": true, ...} or {"seq": N, "ok": false, "error": TEXT}:
 *
 * - start: host, port, subnet, encryption ("Plaintext" or "SSL"), optional
 *   max_outgoing (js2p.mesh.max_outgoing, module-wide, default 4) and
 *   debug_level. Answered once the listener is bound (a bind error is an
 *   error answer). Answers id, protocol_id, out_addr and compression (the
 *   methods this js2p offers, in its order: [19, 17] = zlib, gzip here;
 *   snappy is an optional native module that does not build on new Node).
 * - connect: host, port (and optional id, js2p's third connect argument).
 *   Answers "dialed": false when js2p's connect() refused to dial (it
 *   refuses any address whose host OR port equals a routing-table peer's).
 * - send: packets (typed values), optional flag and type:
 *   MeshSocket.send(packets, flag, type).
 * - reply: id (hex of a reported message's id), packets: Message.reply(packets).
 * - register: handler, "register_1" or "register_2" (js2p's own test
 *   handlers, js_src/test/test_mesh.js, verbatim).
 * - routes: answers ids (routing table), awaiting (connections without a
 *   handshake), outgoing (ids we dialed) and peers
 *   ([{"id", "addr", "compression", "outgoing"}]).
 * - status: answers js2p's status ("Nominal" or its exception list, as
 *   strings), and compressed/decompressed: how many frames this process
 *   compressed / successfully decompressed, by method flag.
 * - close: MeshSocket.close(), then the process exits. End of stdin does
 *   the same.
 *
 * Reports: every message js2p queues (its "message" event) is taken with
 * recv() at once and written as {"event": "message", "id": HEX, "sender":
 * TEXT, "time": T, "msg_type": N, "packets": [...]} (packets with the
 * sub-flag at index 0, as msg.packets). Not in driver.py: an exception that
 * escapes js2p (it would kill the process) is caught and reported as
 * {"event": "exception", "error": TEXT}.
 *
 * Values use the typed JSON of the vectors and of mesh_proto::wire::json:
 * {"bin": hex}, {"str": s}, {"int": "decimal"}, {"float": repr},
 * {"map": [[k, v], ...]}, arrays as arrays, null/true/false.
 * Limits of js2p's msgpack-lite 0.1.x, which this driver cannot hide:
 * - sent: an integral float goes out as an int, and ints outside int32 as
 *   float 64, so this driver sends ints outside [-2^31, 2^31) as uint64 /
 *   int64 (0xcf / 0xd3) instead of the smallest form; map keys must be str.
 * - received: floats with integral values and ints (uint64/int64 beyond
 *   2^53 lose precision) are both JS numbers, reported as int when integral;
 *   map keys are always reported as str.
 *
 * `driver.js --check` only loads js2p and prints its version.
 */

"use strict";

const path = require("path");
const readline = require("readline");
const util = require("util");

// js2p prints with console.log (even its exception notices): keep stdout
// for the protocol. Must happen before js2p is loaded.
const OUT = process.stdout;
for (const name of ["log", "info", "debug", "warn", "error", "trace"]) {
    console[name] = (...args) => process.stderr.write(util.format(...args) + "\n");
}

function emit(obj) {
    OUT.write(JSON.stringify(obj) + "\n");
}

const MODULES = process.env.JS2P_NODE_MODULES || path.join(__dirname, "node_modules");
const js2p = require(path.join(MODULES, "js2p"));
const base = js2p.base;
const mesh = js2p.mesh;
const Int64 = require(path.join(MODULES, "int64-buffer"));

// ---- typed values ---------------------------------------------------------

const I32_MIN = -(2n ** 31n);
const I32_MAX = 2n ** 31n - 1n;

function fromTyped(j) {
    if (j === null || typeof j === "boolean") {
        return j;
    }
    if (Array.isArray(j)) {
        return j.map(fromTyped);
    }
    if (typeof j !== "object" || Object.keys(j).length !== 1) {
        throw new Error(`not a typed value: ${JSON.stringify(j)}`);
    }
    const tag = Object.keys(j)[0];
    const v = j[tag];
    switch (tag) {
        case "bin":
            return Buffer.from(v, "hex");
        case "str":
            return v;
        case "int": {
            const n = BigInt(v);
            if (n >= I32_MIN && n <= I32_MAX) {
                return Number(n);
            }
            if (n >= 0n && n < 2n ** 64n) {
                return new Int64.Uint64BE(n.toString(), 10);
            }
            if (n < 0n && n >= -(2n ** 63n)) {
                return new Int64.Int64BE(n.toString(), 10);
            }
            throw new Error(`int out of msgpack range: ${v}`);
        }
        case "float": {
            const s = String(v).trim().toLowerCase();
            if (s === "inf" || s === "+inf") return Infinity;
            if (s === "-inf") return -Infinity;
            if (s === "nan") return NaN;
            return Number(s);
        }
        case "map": {
            const obj = {};
            for (const [k, x] of v) {
                if (k === null || typeof k !== "object" || !("str" in k)) {
                    throw new Error("js2p (msgpack-lite) sends only maps with str keys");
                }
                obj[k.str] = fromTyped(x);
            }
            return obj;
        }
        default:
            throw new Error(`unknown tag ${JSON.stringify(tag)}`);
    }
}

function floatRepr(v) {
    if (Number.isNaN(v)) return "nan";
    if (v === Infinity) return "inf";
    if (v === -Infinity) return "-inf";
    return String(v);
}

function toTyped(v) {
    if (v === null || v === undefined || typeof v === "boolean") {
        return v === undefined ? null : v;
    }
    if (typeof v === "number") {
        return Number.isInteger(v) ? { int: BigInt(v).toString() } : { float: floatRepr(v) };
    }
    if (typeof v === "bigint") {
        return { int: v.toString() };
    }
    if (typeof v === "string") {
        return { str: v };
    }
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) {
        return { bin: Buffer.from(v).toString("hex") };
    }
    if (Array.isArray(v)) {
        return v.map(toTyped);
    }
    if (Int64.Uint64BE.isUint64BE(v) || Int64.Int64BE.isInt64BE(v)) {
        return { int: v.toString(10) };
    }
    if (typeof v === "object") {
        return { map: Object.keys(v).map((k) => [{ str: k }, toTyped(v[k])]) };
    }
    throw new Error(`cannot type ${util.inspect(v)}`);
}

function text(b) {
    if (b === null || b === undefined) return null;
    return Buffer.isBuffer(b) ? b.toString("utf8") : String(b);
}

function plainList(list) {
    // Compression lists as py2p's driver gives them: numbers as numbers.
    return Array.from(list || []).map((x) => (typeof x === "number" ? x : toTyped(x)));
}

function addr(a) {
    if (!a) return null;
    return Array.from(a).map((x) => (Buffer.isBuffer(x) ? x.toString("utf8") : x));
}

// ---- compression accounting -----------------------------------------------
// InternalMessage calls base.compress / base.decompress through the module
// object (base.js:716, :627): wrap them to count what really went over the
// wire.

const COMPRESSED = {};
const DECOMPRESSED = {};
const _compress = base.compress;
const _decompress = base.decompress;
base.compress = function countingCompress(data, method) {
    const out = _compress(data, method);
    COMPRESSED[method] = (COMPRESSED[method] || 0) + 1;
    return out;
};
base.decompress = function countingDecompress(data, method) {
    const out = _decompress(data, method); // throws when it is not this method
    DECOMPRESSED[method] = (DECOMPRESSED[method] || 0) + 1;
    return out;
};

// ---- js2p's own test handlers (js_src/test/test_mesh.js, 0.7.870, verbatim) --

function register_1(msg, handler) {
    var packets = msg.packets;
    if (packets[1].toString() === 'test') {
        handler.send(base.flags.whisper, [base.flags.whisper, 'success']);
        return true;
    }
}

function register_2(msg, handler) {
    var packets = msg.packets;
    if (packets[1].toString() === 'test') {
        msg.reply(['success']);
        return true;
    }
}

const HANDLERS = { register_1, register_2 };

// ---- the node ---------------------------------------------------------------

class Node {
    constructor() {
        this.sock = null;
        this.received = new Map(); // hex id -> js2p Message, for reply
    }

    onMessage(sock) {
        const msg = sock.recv();
        if (!msg) {
            return;
        }
        const ident = Buffer.from(msg.id).toString("hex");
        this.received.set(ident, msg);
        emit({
            event: "message",
            id: ident,
            sender: text(msg.sender),
            time: Number(msg.time),
            msg_type: msg.msg.msg_type,
            packets: msg.packets.map(toTyped),
        });
    }

    async start(c) {
        if (this.sock !== null) {
            throw new Error("already started");
        }
        mesh.max_outgoing = parseInt(c.max_outgoing === undefined ? 4 : c.max_outgoing, 10);
        const prot = new base.Protocol(c.subnet === undefined ? "mesh" : c.subnet,
                                       c.encryption === undefined ? "Plaintext" : c.encryption);
        const host = c.host === undefined ? "127.0.0.1" : c.host;
        const port = parseInt(c.port, 10);
        const sock = new mesh.MeshSocket(host, port, prot, undefined,
                                         parseInt(c.debug_level || 0, 10));
        // js2p listens without waiting: wait for the bind here.
        await new Promise((resolve, reject) => {
            if (sock.incoming.listening) {
                resolve();
                return;
            }
            sock.incoming.once("listening", resolve);
            sock.incoming.once("error", reject);
        });
        sock.incoming.on("error", (e) => emit({ event: "exception", error: `listener: ${e}` }));
        this.sock = sock;
        sock.on("message", (s) => this.onMessage(s));
        return {
            id: text(sock.id),
            protocol_id: text(prot.id),
            out_addr: addr(sock.out_addr),
            compression: plainList(base.compression),
        };
    }

    connect(c) {
        const r = this.sock.connect(c.host === undefined ? "127.0.0.1" : c.host,
                                    parseInt(c.port, 10), c.id);
        // connect() returns undefined when it dialed, true/false when it refused.
        return { dialed: r === undefined };
    }

    send(c) {
        const packets = (c.packets || []).map(fromTyped);
        const flag = c.flag === undefined ? undefined : parseInt(c.flag, 10);
        const type = c.type === undefined ? undefined : parseInt(c.type, 10);
        this.sock.send(packets, flag, type);
        return {};
    }

    reply(c) {
        const msg = this.received.get(c.id);
        if (!msg) {
            throw new Error(`no received message with id ${c.id}`);
        }
        msg.reply((c.packets || []).map(fromTyped));
        return {};
    }

    register(c) {
        const h = HANDLERS[c.handler];
        if (!h) {
            throw new Error(`unknown handler ${c.handler}`);
        }
        this.sock.register_handler(h);
        return {};
    }

    routes() {
        const table = Array.from(this.sock.routing_table.entries());
        return {
            ids: table.map(([k]) => text(k)),
            awaiting: this.sock.awaiting_ids.length,
            outgoing: this.sock.outgoing.map((h) => text(h.id)),
            peers: table.map(([k, h]) => ({
                id: text(k),
                addr: addr(h.addr),
                compression: plainList(h.compression),
                outgoing: Boolean(h.outgoing),
            })),
        };
    }

    status() {
        const st = this.sock.status;
        return {
            status: typeof st === "string" ? st : st.map((e) => String(e && e.stack ? e.stack : e)),
            compressed: Object.assign({}, COMPRESSED),
            decompressed: Object.assign({}, DECOMPRESSED),
        };
    }

    close() {
        if (this.sock !== null) {
            this.sock.close();
            // js2p's close() leaves connections still awaiting a handshake.
            for (const h of this.sock.awaiting_ids) {
                try { h.close(); } catch (e) { /* already gone */ }
            }
        }
        return {};
    }
}

function exit(code) {
    // Let stdout drain, then go: js2p leaves timers/sockets behind.
    OUT.write("", () => process.exit(code));
    setTimeout(() => process.exit(code), 500).unref();
}

async function main() {
    if (process.argv[2] === "--check") {
        emit({ js2p: js2p.version, node: process.versions.node, compression: base.compression });
        exit(0);
        return;
    }
    process.on("uncaughtException", (e) => {
        process.stderr.write(`uncaught: ${e && e.stack ? e.stack : e}\n`);
        emit({ event: "exception", error: String(e && e.message ? e.message : e) });
    });
    const node = new Node();
    const commands = {
        start: (c) => node.start(c), connect: (c) => node.connect(c), send: (c) => node.send(c),
        reply: (c) => node.reply(c), register: (c) => node.register(c),
        routes: (c) => node.routes(c), status: (c) => node.status(c), close: (c) => node.close(c),
    };
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    // One command at a time, in order (start is asynchronous).
    let chain = Promise.resolve();
    rl.on("line", (line) => {
        chain = chain.then(async () => {
            line = line.trim();
            if (!line) {
                return;
            }
            let seq = null;
            try {
                const c = JSON.parse(line);
                seq = c.seq === undefined ? null : c.seq;
                const name = c.cmd;
                if (!Object.prototype.hasOwnProperty.call(commands, name)) {
                    throw new Error(`unknown command ${JSON.stringify(name)}`);
                }
                if (name !== "start" && node.sock === null) {
                    throw new Error("not started");
                }
                const answer = await commands[name](c);
                emit(Object.assign(answer, { seq, ok: true }));
                if (name === "close") {
                    exit(0);
                }
            } catch (e) {
                process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
                emit({ seq, ok: false, error: `${e && e.name ? e.name : "Error"}: ${e && e.message ? e.message : e}` });
            }
        });
    });
    rl.on("close", () => {
        // End of stdin: the test is gone.
        chain.then(() => {
            try { node.close(); } catch (e) { /* ignore */ }
            exit(0);
        });
    });
}

main();
