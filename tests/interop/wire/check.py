#!/usr/bin/env python3
"""Wire conformance: libwire.py (written from docs/wire-format.md alone) against the test
vectors and against live libipc peers (the Rust `ipc-test-peer`).

    python3 tests/interop/wire/check.py --peer /abs/path/ipc-test-peer [--vectors-only]

Prints one line per check and a summary; exits 1 on any mismatch, 2 on a usage or setup error.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import libwire as w  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "tests" / "vectors"
IO_TIMEOUT = 15.0  # watchdog on every socket read: a hang fails the check, it asserts no speed

results: list[tuple[str, bool, str]] = []
notes: list[str] = []
not_run: list[str] = []  # parts that could not run: listed in the summary, and the run fails


def record(name: str, ok: bool, detail: str = "") -> bool:
    results.append((name, ok, detail))
    print(f"{'PASS' if ok else 'FAIL'} {name}{'' if ok or not detail else ': ' + detail}", flush=True)
    return ok


def expect(name: str, got, want) -> bool:
    return record(name, got == want, f"expected {want!r}, got {got!r}")


# ---------------------------------------------------------------------------------------------
# 1. Vectors


def decode_as(raw: bytes, role: str) -> w.Hello | w.WireError:
    try:
        return w.decode_hello(raw, server=(role == "server"))
    except w.WireError as e:
        return e


def refusal_problem(v: dict, e: w.WireError) -> str | None:
    """libwire refused the vector's bytes with e: None when the vector says so (invalid, with
    e's error), else what differs."""
    if v["valid"]:
        return f"valid vector refused: {e}"
    return None if e.kind == v["error"] else f"error {e.kind}, vector says {v['error']}"


def replay_hello(v: dict) -> str | None:
    """Returns None when the vector agrees with libwire, else what differs."""
    raw = bytes.fromhex(v["hex"])
    # `decoded_by` names the role that reads the bytes (a server reading a client hello makes
    # check 6 too); every hello vector has it (tests/vectors/README.md).
    if "decoded_by" not in v:
        return "no decoded_by"
    role = v["decoded_by"]
    if role not in ("server", "client", "either"):
        return f"unknown decoded_by {role!r}"
    outcomes = [decode_as(raw, r) for r in (("server", "client") if role == "either" else (role,))]
    for h in outcomes:
        if isinstance(h, w.WireError):
            problem = refusal_problem(v, h)
            if problem:
                return problem
            continue
        if not v["valid"]:
            return f"decoded, vector says {v['error']}"
        got = {k: getattr(h, k) for k in ("major", "minor", "length", "capabilities", "status", "max_message_size")}
        want = {k: v[k] for k in got}
        if got != want:
            return f"fields {got} != {want}"
        enc = w.Hello(h.major, h.minor, h.length, h.capabilities, h.status, h.max_message_size).encode()
        if enc[:24] != raw[:24]:
            return f"re-encoded {enc.hex()} != {raw[:24].hex()}"
        if h.length == 24 and enc != raw:
            return "re-encoded length differs"
    return None


def replay_frame(v: dict) -> str | None:
    raw = bytes.fromhex(v["hex"])
    try:
        f = w.decode_frame(raw, v["max_message_size"])
    except w.WireError as e:
        return refusal_problem(v, e)
    if not v["valid"]:
        return f"decoded, vector says {v['error']}"
    got = {
        "type": w.TYPE_NAMES[f.header.type],
        "flags": f.header.flags,
        "length": f.header.length,
        "payload_hex": f.payload.hex(),
    }
    if f.header.type == w.ERROR:
        got["error_code"] = f.error_code
        got["error_message"] = f.error_message
    want = {k: v.get(k) for k in got}
    if got != want:
        return f"fields {got} != {want}"
    if f.header.type == w.ERROR:
        enc = w.encode_error_frame(f.error_code, f.error_message)
    else:
        enc = w.encode_frame(f.header.type, f.payload, f.header.flags)
    return None if enc == raw else f"re-encoded {enc.hex()} != {raw.hex()}"


def replay_fifo(v: dict) -> str | None:
    raw = bytes.fromhex(v["hex"])
    try:
        token = w.decode_fifo_request(raw)
    except w.WireError as e:
        return refusal_problem(v, e)
    if not v["valid"]:
        return f"decoded, vector says {v['error']}"
    if token != v["token"]:
        return f"token {token!r} != {v['token']!r}"
    enc = w.encode_fifo_request(token)
    return None if enc == raw else f"re-encoded {enc.hex()} != {raw.hex()}"


def replay_rpc(v: dict) -> str | None:
    raw = bytes.fromhex(v["hex"])
    try:
        env, body = w.decode_envelope(raw, v["decoded_by"])
    except w.WireError as e:
        return refusal_problem(v, e)
    if not v["valid"]:
        return f"decoded, vector says {v['error']}"
    got = {"type": w.ENVELOPE_KINDS[env.kind], "status": env.status, "id": env.id, "body_hex": body.hex()}
    if env.kind == w.REPLY and env.status != 0:
        got["text"] = body.decode("utf-8")
    want = {k: v.get(k) for k in got}
    if got != want or ("text" in v) != ("text" in got):
        return f"fields {got} != {want}"
    enc = w.encode_envelope(env.kind, env.status, env.id, body)
    return None if enc == raw else f"re-encoded {enc.hex()} != {raw.hex()}"


def replay_pubsub(v: dict) -> str | None:
    raw = bytes.fromhex(v["hex"])
    try:
        m = w.decode_pubsub(raw, v["decoded_by"])
    except w.WireError as e:
        return refusal_problem(v, e)
    if not v["valid"]:
        return f"decoded, vector says {v['error']}"
    got: dict = {"type": w.PUBSUB_KINDS[m.kind]}
    if m.kind == w.SUBSCRIBE:
        got["prefixes_hex"] = [p.hex() for p in m.prefixes or []]
        enc = w.encode_subscribe(m.prefixes or [])
    elif m.kind == w.SUBSCRIBED:
        got["seq"] = m.seq
        enc = w.encode_subscribed(m.seq)
    else:
        got.update(seq=m.seq, topic_hex=m.topic.hex(), payload_hex=m.payload.hex())
        enc = w.encode_message(m.seq, m.topic, m.payload)
    want = {k: v.get(k) for k in got}
    if got != want:
        return f"fields {got} != {want}"
    return None if enc == raw else f"re-encoded {enc.hex()} != {raw.hex()}"


REPLAY = {"hello": replay_hello, "frames": replay_frame, "fifo-request": replay_fifo, "rpc-envelope": replay_rpc, "pubsub-envelope": replay_pubsub}
# The version each kind of vector file tests.
VECTOR_VERSION = {"rpc-envelope": "1.1", "pubsub-envelope": "1.2"}


def check_vectors() -> None:
    files = sorted(VECTORS.glob("*.json"))
    record("vectors: files present", bool(files), f"no *.json in {VECTORS}")
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        kind = doc.get("kind")
        replay = REPLAY.get(kind)
        if not record(f"vectors/{path.name}: kind {kind!r} known", replay is not None, "no replay for this kind"):
            continue
        version = VECTOR_VERSION.get(kind, "1.0")
        record(f"vectors/{path.name}: wire_version {version}", doc.get("wire_version") == version, str(doc.get("wire_version")))
        vectors = doc.get("vectors") or []
        record(f"vectors/{path.name}: not empty", bool(vectors))
        for v in vectors:
            problem = replay(v)
            record(f"vectors/{path.name}/{v['name']}", problem is None, problem or "")


# ---------------------------------------------------------------------------------------------
# Live: helpers


class Peer:
    """An ipc-test-peer process; its stdout lines arrive in a queue."""

    def __init__(self, exe: str, args: list[str], env: dict):
        self.args = args
        self.proc = subprocess.Popen(
            [exe, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(stream, put) -> None:
        for line in stream:
            put(line.rstrip("\n"))
        put(None)

    def line(self, timeout: float = IO_TIMEOUT) -> str | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return f"<no line within the {timeout:g} s watchdog>"

    def stop(self) -> int:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout=IO_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def open_sock(endpoint: str) -> socket.socket:
    s = w.connect_socket(endpoint)
    s.settimeout(IO_TIMEOUT)
    return s


def read_frame(sock: socket.socket, limit: int = w.U32_MAX) -> tuple[w.Header, bytes]:
    header = w.decode_header(w.read_exact(sock, w.HEADER_LEN, "header bytes"), limit)
    return header, w.read_exact(sock, header.length, "payload bytes")


def describe(frame: tuple[w.Header, bytes]) -> str:
    h, p = frame
    if h.type == w.ERROR:
        code, text = w.decode_error_payload(p)
        return f"ERROR {code} {text!r}"
    return f"{w.TYPE_NAMES[h.type]} len={h.length} flags={h.flags}"


def rest_of_stream(sock: socket.socket) -> list[str]:
    """Every frame until the stream ends, described, then 'EOF' or 'reset' (or what broke)."""
    out = []
    while True:
        try:
            first = sock.recv(1)
        except ConnectionResetError:
            out.append("reset")
            return out
        except socket.timeout:
            out.append("<watchdog: stream did not end>")
            return out
        if not first:
            out.append("EOF")
            return out
        try:
            hdr = first + w.read_exact(sock, w.HEADER_LEN - 1)
            header = w.decode_header(hdr, w.U32_MAX)
            out.append(describe((header, w.read_exact(sock, header.length))))
        except w.WireError as e:
            out.append(f"<{e}>")
            return out


def pattern(n: int) -> bytes:
    return bytes(i % 251 for i in range(n)) if n < 4096 else (bytes(range(251)) * (n // 251 + 1))[:n]


def end_line(peer: Peer) -> str:
    """The next `end <Kind>` line of a peer (skipping others such as `connected`)."""
    while True:
        line = peer.line()
        if line is None or line.startswith("end ") or line.startswith("<") or line.startswith("fail"):
            return str(line)


# ---------------------------------------------------------------------------------------------
# 2a. Live: this implementation as a client of a libipc server


SERVER_MAX = 1 << 20  # the echo server's limit: "large" messages go up to it


def client_session_ok(t: str, ep: str, peer: Peer) -> None:
    ch = w.client_handshake(open_sock(ep))
    h = ch.peer
    expect(f"{t}: server hello v1.{w.MINOR} length 24", (h.major, h.minor, h.length), (1, w.MINOR, 24))
    expect(f"{t}: server hello status 0, capabilities 0", (h.status, h.capabilities), (0, 0))
    expect(f"{t}: server hello max_message_size", h.max_message_size, SERVER_MAX)
    expect(f"{t}: negotiated limit = min of both (§6)", ch.max_message_size, SERVER_MAX)
    cases = [
        ("empty", b"", None),
        ("small", b"hello", None),
        ("all 256 byte values", bytes(range(256)), None),
        ("fragments (MORE, §5.3) incl. an empty one", pattern(3000), [1000, 0, 1500]),
        ("fragmented, exactly the limit", pattern(SERVER_MAX), [SERVER_MAX // 2]),
        ("large, exactly the limit", pattern(SERVER_MAX), None),
    ]
    for name, msg, frags in cases:
        ch.send(msg, frags)
        try:
            got = ch.recv()
        except w.WireError as e:
            record(f"{t}: echo {name}", False, str(e))
            return
        record(f"{t}: echo {name}", got == msg, f"{len(got)} bytes back for {len(msg)}")
    # §6: over the negotiated limit fails locally, nothing sent, channel usable.
    try:
        ch.send(pattern(SERVER_MAX + 1))
        record(f"{t}: local MessageTooLarge", False, "sent")
    except w.WireError as e:
        expect(f"{t}: local MessageTooLarge", e.kind, "MessageTooLarge")
    ch.send(b"\x2a")
    expect(f"{t}: usable after local MessageTooLarge", ch.recv(), b"\x2a")
    # §8.1: our CLOSE; we keep reading to see what the server does.
    ch.sock.sendall(w.CLOSE_FRAME)
    ch.sock.shutdown(socket.SHUT_WR)
    expect(f"{t}: after our CLOSE the server sends CLOSE, then the stream ends", rest_of_stream(ch.sock), ["CLOSE len=0 flags=0", "EOF"])
    ch.sock.close()
    expect(f"{t}: server application sees Closed", end_line(peer), "end Closed")


def raw_session(t: str, ep: str, peer: Peer, name: str, send: bytes, want_end: str, half_close: bool = True) -> list[str]:
    """Handshake, write `send`, (half-close), read the server's answer to the end; check what
    the server's application saw. Returns the server's frames (described) and how it ended."""
    ch = w.client_handshake(open_sock(ep))
    try:
        ch.sock.sendall(send)
    except OSError as e:  # the server may refuse and close before it read everything we wrote
        notes.append(f"{t}: {name}: our write failed with {e!r} (the server had closed)")
    if half_close:
        try:
            ch.sock.shutdown(socket.SHUT_WR)
        except OSError as e:  # the server hung up with our bytes unread: its kernel reset
            notes.append(f"{t}: {name}: our shutdown failed with {e!r} (the server had closed)")
    got = rest_of_stream(ch.sock)
    ch.sock.close()
    expect(f"{t}: {name}: server application sees", end_line(peer), want_end)
    return got


def raw_hello(t: str, ep: str, name: str, hello: bytes, want_status: int, shutdown_write: bool = False) -> tuple[w.Hello | None, list[str]]:
    s = open_sock(ep)
    try:
        s.sendall(hello)
        if shutdown_write:
            s.shutdown(socket.SHUT_WR)
    except OSError as e:
        # §4.3: a server that refuses before reading the hello (uid allow-list) may have closed
        # already; its refusal still waits to be read.
        notes.append(f"{t}: {name}: our write failed with {e!r}; reading the refusal anyway")
    try:
        h = w.read_hello(s, server=False)
    except (w.WireError, OSError) as e:
        record(f"{t}: {name}: refusing hello", False, str(e))
        s.close()
        return None, []
    rest = rest_of_stream(s)
    s.close()
    record(
        f"{t}: {name}: v1 hello (1.0, 24 bytes) with status {want_status}",
        (h.major, h.minor, h.length, h.status) == (1, w.MINOR, 24, want_status),
        f"got {h}",
    )
    if want_status:
        record(
            f"{t}: {name}: then ERROR {want_status} and the end (§4.3)",
            len(rest) == 2 and rest[0].startswith(f"ERROR {want_status} ") and rest[1] == "EOF",
            f"got {rest}",
        )
    return h, rest


def refusal_then_more(t: str, ep: str) -> None:
    """§4.3: a refusal does not linger, so client bytes that arrive after the server closed
    (or more than it discards) meet a reset on TCP; the refusal, sent first, still arrives."""
    m2 = w.Hello(major=2).encode()
    # The prefix alone is refused (checks 1-3); the rest comes once the refusal is here.
    s = open_sock(ep)
    s.sendall(m2[:8])
    select.select([s], [], [], IO_TIMEOUT)
    time.sleep(0.2)
    writes = []
    for chunk in (m2[8:], b"more after the hello"):
        try:
            s.sendall(chunk)
            writes.append("ok")
        except OSError as e:
            writes.append(type(e).__name__)
        time.sleep(0.1)
    h = w.read_hello(s, server=False)
    rest = rest_of_stream(s)
    s.close()
    record(
        f"{t}: rest of a major-2 hello sent after the refusal: refusal intact",
        h.status == 8 and bool(rest) and rest[0].startswith("ERROR 8 "),
        f"status {h.status}, {rest}",
    )
    notes.append(f"{t}: rest of a major-2 hello after the refusal: our writes {writes}, then read {rest}")
    # A whole hello that fails check 5, followed by 2 MiB (more than libipc discards).
    s = open_sock(ep)
    hello = w.Hello().encode()
    s.sendall(hello[:14] + b"\x01" + hello[15:])
    failed: list[str] = []

    def flood() -> None:
        try:
            s.sendall(bytes(2 << 20))
        except OSError as e:
            failed.append(type(e).__name__)

    pump = threading.Thread(target=flood, daemon=True)
    pump.start()
    h = w.read_hello(s, server=False)
    rest = rest_of_stream(s)
    pump.join(IO_TIMEOUT)
    s.close()
    record(
        f"{t}: bad hello followed by 2 MiB: refusal intact",
        h.status == 9 and bool(rest) and rest[0].startswith("ERROR 9 "),
        f"status {h.status}, {rest}",
    )
    notes.append(f"{t}: bad hello followed by 2 MiB: our flood {failed or ['completed']}, read {rest}")


def live_client(exe: str, env: dict, tmp: Path, transport: str) -> None:
    ep = f"unix://{tmp}/echo-{transport}.sock" if transport == "unix" else "tcp://127.0.0.1:0"
    peer = Peer(exe, ["echo-server", ep, "--max-message", str(SERVER_MAX), "--handshake-timeout-ms", "500"], env)
    ready = peer.line()
    if not record(f"{transport} client: echo-server ready", bool(ready) and ready.startswith("ready "), f"got {ready!r} {peer.stderr}"):
        peer.stop()
        return
    ep = ready.split(" ", 1)[1]
    t = f"{transport} client"
    try:
        client_session_ok(t, ep, peer)

        # §5.1 check 5 / §9: a header over the limit; ERROR 7 comes before any payload is sent.
        got = raw_session(
            t, ep, peer, "DATA header over the limit",
            w.Header(SERVER_MAX + 1, w.DATA).encode(),
            "end MessageTooLarge", half_close=False,
        )
        record(f"{t}: DATA header over the limit: ERROR 7, then CLOSE? then end", bool(got) and got[0].startswith("ERROR 7 "), f"got {got}")
        notes.append(f"{t}: after its own ERROR 7 the server sent: {got}")
        # §5.3: reassembled size over the limit.
        frag = w.encode_frame(w.DATA, pattern(SERVER_MAX // 2 + 1), w.FLAG_MORE)
        got = raw_session(t, ep, peer, "fragments over the limit", frag + frag, "end MessageTooLarge")
        record(f"{t}: fragments over the limit: ERROR 7", bool(got) and got[0].startswith("ERROR 7 "), f"got {got}")
        for name, raw in [
            ("unknown frame type 0x09", w.Header(0, 0x09).encode()),
            ("SETUP on a stream", w.Header(24, w.SETUP).encode() + bytes(24)),
            ("PAD on a stream", w.Header(0, w.PAD).encode()),
            ("reserved header byte", bytes.fromhex("0100000001000100") + b"x"),
            ("flag 0x02 on DATA", bytes.fromhex("0100000001020000") + b"x"),
            ("MORE on CLOSE", bytes.fromhex("0000000002010000")),
            ("CLOSE with a payload", bytes.fromhex("0100000002000000") + b"x"),
            ("ERROR payload of 3 bytes", bytes.fromhex("0300000003000000090000")),
            ("ERROR text not UTF-8", bytes.fromhex("060000000300000009000000fffe")),
            ("CLOSE between fragments", w.encode_frame(w.DATA, b"abc", w.FLAG_MORE) + w.CLOSE_FRAME),
        ]:
            got = raw_session(t, ep, peer, name, raw, "end ProtocolViolation")
            record(f"{t}: {name}: ERROR 9 (§9)", bool(got) and got[0].startswith("ERROR 9 "), f"got {got}")
            notes.append(f"{t}: {name}: server sent {got}")

        # §8.2: our ERROR; §8.3: EOF mid-frame, mid-message, and without CLOSE.
        for name, raw, want_end in [
            ("our ERROR 4", w.encode_error_frame(4, "go away"), "end PermissionDenied"),
            ("our ERROR with unknown code 999", w.encode_error_frame(999, "from the future"), "end ProtocolViolation"),
            ("our ERROR with local code 104 (§7)", w.encode_error_frame(104, "cancelled here"), "end ProtocolViolation"),
            ("EOF mid-header", bytes.fromhex("05000000"), "end PeerDisconnected"),
            ("EOF mid-payload", bytes.fromhex("0500000001000000") + b"he", "end PeerDisconnected"),
            ("EOF mid-fragmented-message", w.encode_frame(w.DATA, b"abc", w.FLAG_MORE), "end PeerDisconnected"),
            ("EOF without CLOSE", b"", "end PeerDisconnected"),
        ]:
            got = raw_session(t, ep, peer, name, raw, want_end)
            notes.append(f"{t}: {name}: server sent {got}")
            record(f"{t}: {name}: server sends no DATA and ends", got[-1] == "EOF" and all(not g.startswith("DATA") for g in got), f"got {got}")

        # §3 / §4: hellos the server must refuse or accept.
        v1 = w.Hello().encode()
        _, rest = raw_hello(t, ep, "bad magic", b"LIPX" + v1[4:], 9)
        h, rest = raw_hello(t, ep, "major 2", w.Hello(major=2).encode(), 8)
        if h:
            notes.append(f"{t}: refusal hello fields: capabilities={h.capabilities} max_message_size={h.max_message_size}")
        # §4.4: a longer future hello, refused on its prefix; every byte of it was sent, so
        # the refusal must arrive intact even if the server does not read the rest.
        raw_hello(t, ep, "major 2, 1024-byte hello", w.Hello(major=2, length=1024, extension=bytes(1000)).encode(), 8)
        raw_hello(t, ep, "an HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"y" * 400 + b"\r\n\r\n", 9)
        raw_hello(t, ep, "length 16", v1[:6] + (16).to_bytes(2, "little") + v1[8:], 9)
        refusal_then_more(t, ep)
        raw_hello(t, ep, "reserved byte 14", v1[:14] + b"\x01" + v1[15:], 9)
        raw_hello(t, ep, "client status 3 (check 6)", w.Hello(status=3).encode(), 9)
        for name, hello in [
            ("CAP_SHM offered (§3.2)", w.Hello(capabilities=w.CAP_SHM).encode()),
            ("unknown capability bits", w.Hello(capabilities=0x80000000).encode()),
            ("v1.1 hello of 32 bytes", w.Hello(minor=1, length=32, extension=b"\xa0" * 8).encode()),
            ("client limit 0", w.Hello(max_message_size=0).encode()),
        ]:
            s = open_sock(ep)
            s.sendall(hello)
            h = w.read_hello(s, server=False)
            record(f"{t}: {name}: accepted, capabilities 0", (h.status, h.capabilities) == (0, 0), f"got {h}")
            s.sendall(w.encode_frame(w.DATA, b""))
            expect(f"{t}: {name}: empty message echoed", describe(read_frame(s)), "DATA len=0 flags=0")
            s.sendall(w.CLOSE_FRAME)
            s.close()
            expect(f"{t}: {name}: server sees Closed", end_line(peer), "end Closed")
        # A client advertising 0: the echo of a 1-byte message cannot be sent back (§6).
        s = open_sock(ep)
        s.sendall(w.Hello(max_message_size=0).encode())
        w.read_hello(s, server=False)
        s.sendall(w.encode_frame(w.DATA, b"x"))
        s.shutdown(socket.SHUT_WR)
        got = rest_of_stream(s)
        s.close()
        record(f"{t}: client limit 0: the server never sends a DATA over it (§6)", all(not g.startswith("DATA len=1") for g in got), f"got {got}")
        notes.append(f"{t}: client limit 0, 1-byte message: server sent {got}, then {end_line(peer)}")

        # Silent client, with the 500 ms handshake timeout.
        s = open_sock(ep)
        h = w.read_hello(s, server=False)
        rest = rest_of_stream(s)
        s.close()
        expect(f"{t}: silent client: hello status 6", h.status, 6)
        record(f"{t}: silent client: ERROR 6 then end", len(rest) == 2 and rest[0].startswith("ERROR 6 ") and rest[1] == "EOF", f"got {rest}")
        notes.append(f"{t}: silent client (500 ms): {rest}")
        # A hello that stops after its prefix: the server waits for the rest, then times out.
        h, rest = raw_hello(t, ep, "hello cut after the prefix (timeout)", v1[:8], 6)
        # A hello cut short by EOF: nobody to answer (§4.2 last row).
        s = open_sock(ep)
        s.sendall(v1[:10])
        s.shutdown(socket.SHUT_WR)
        expect(f"{t}: hello cut by EOF: server sends nothing", rest_of_stream(s), ["EOF"])
        s.close()

        # No written limit after the handshake: an idle channel and a half-sent frame survive
        # longer than the handshake timeout (500 ms).
        ch = w.client_handshake(open_sock(ep))
        time.sleep(1.2)
        ch.sock.sendall(bytes.fromhex("0500000001"))
        time.sleep(1.2)
        ch.sock.sendall(bytes.fromhex("000000") + b"hel")
        time.sleep(0.6)
        ch.sock.sendall(b"lo")
        try:
            got = ch.recv()
        except w.WireError as e:
            got = str(e)
        expect(f"{t}: idle channel and slow frame outlive the handshake timeout", got, b"hello")
        ch.close()
        end_line(peer)
    finally:
        rc = peer.stop()
        expect(f"{t}: echo-server exits 0 when stdin closes", rc, 0)


def silent_default(exe: str, env: dict, tmp: Path) -> None:
    """§10's silent-client example with the default 5 s handshake timeout."""
    peer = Peer(exe, ["echo-server", f"unix://{tmp}/silent.sock"], env)
    ready = peer.line()
    if not record("silent client (default timeout): echo-server ready", bool(ready) and ready.startswith("ready "), str(ready)):
        peer.stop()
        return
    s = open_sock(ready.split(" ", 1)[1])
    raw = s.recv(24, socket.MSG_WAITALL)
    hdr = w.read_exact(s, 8)
    payload = w.read_exact(s, w.decode_header(hdr, 0).length)
    s.close()
    peer.stop()
    code, text = w.decode_error_payload(payload)
    expect("silent client (default timeout): hello status 6, default limit", w.decode_hello(raw).status, 6)
    expect("silent client (default timeout): ERROR code 6", code, 6)
    notes.append(f"§10 silent client, default timeout: hello {raw.hex()} ERROR header {hdr.hex()} text {text!r}")


def uid_allow_list(exe: str, env: dict, tmp: Path) -> None:
    """§4.1 vs §4.2: is the uid allow-list checked before or after the client's hello?"""
    t = "unix client, uid allow-list"
    other = (os.getuid() + 4242) % 60000
    peer = Peer(exe, ["echo-server", f"unix://{tmp}/uid.sock", "--allowed-uid", str(other), "--handshake-timeout-ms", "2000"], env)
    ready = peer.line()
    if not record(f"{t}: echo-server ready", bool(ready) and ready.startswith("ready "), str(ready)):
        peer.stop()
        return
    ep = ready.split(" ", 1)[1]
    try:
        h, _ = raw_hello(t, ep, "good hello from a uid not allowed", w.Hello().encode(), 4)
        h, rest = raw_hello(t, ep, "bad-magic hello from a uid not allowed", b"LIPX" + w.Hello().encode()[4:], 4)
        notes.append(f"{t}: bad-magic hello: status {h.status if h else None}, {rest}")
        s = open_sock(ep)
        try:
            h = w.read_hello(s, server=False)
            rest = rest_of_stream(s)
        except (w.WireError, OSError) as e:
            h, rest = None, [repr(e)]
        s.close()
        notes.append(f"{t}: silent client: status {h.status if h else None}, {rest}")
        expect(f"{t}: silent client from a uid not allowed: refused with status 4 (checked before the hello)", h.status if h else None, 4)
    finally:
        peer.stop()


# ---------------------------------------------------------------------------------------------
# 2b. Live: this implementation as a server for a libipc client (`ipc-test-peer connect`)


def accept_client(exe: str, env: dict, lst: w.Listener, extra: list[str] = ()) -> tuple[Peer, socket.socket]:
    peer = Peer(exe, ["connect", lst.endpoint, *extra], env)
    s = lst.accept_socket(IO_TIMEOUT)
    s.settimeout(IO_TIMEOUT)
    return peer, s


def live_server(exe: str, env: dict, tmp: Path, transport: str) -> None:
    t = f"{transport} server"
    lst = w.Listener(f"unix://{tmp}/ours-{transport}.sock" if transport == "unix" else "tcp://127.0.0.1:0")
    client_max = 1 << 20
    try:
        # Echo session, our orderly close.
        peer, s = accept_client(exe, env, lst, ["--max-message", str(client_max)])
        ch = w.server_handshake(s, max_message_size=2 * client_max)
        h = ch.peer
        expect(f"{t}: client hello v1.{w.MINOR}, 24 bytes, status 0, capabilities 0", (h.major, h.minor, h.length, h.status, h.capabilities), (1, w.MINOR, 24, 0, 0))
        expect(f"{t}: client hello max_message_size", h.max_message_size, client_max)
        line = peer.line()
        record(f"{t}: client connected", str(line).startswith("connected "), str(line))
        for name, msg, frags in [
            ("empty", b"", None),
            ("small", b"hello", None),
            ("all 256 byte values", bytes(range(256)), None),
            ("fragments (MORE)", pattern(5000), [1, 0, 4000]),
            ("large, exactly the client's limit", pattern(client_max), None),
        ]:
            ch.send(msg, frags)
            try:
                got = ch.recv()
                record(f"{t}: echo {name}", got == msg, f"{len(got)} bytes back for {len(msg)}")
            except w.WireError as e:
                record(f"{t}: echo {name}", False, str(e))
        ch.sock.sendall(w.CLOSE_FRAME)
        ch.sock.shutdown(socket.SHUT_WR)
        got = rest_of_stream(ch.sock)
        ch.sock.close()
        expect(f"{t}: after our CLOSE the client sends CLOSE, then ends", got, ["CLOSE len=0 flags=0", "EOF"])
        expect(f"{t}: client application sees Closed", end_line(peer), "end Closed")
        expect(f"{t}: client exits 0", peer.stop(), 0)

        # The client closes: it reaches end-of-input only by our ERROR; we see its answer.
        for name, frame, want_end, want_back in [
            ("our ERROR 7", w.encode_error_frame(7, "too big"), "end MessageTooLarge", None),
            ("our ERROR 999 (unknown code)", w.encode_error_frame(999, "?"), "end ProtocolViolation", None),
            ("our ERROR 104 (local code, §7)", w.encode_error_frame(104, "?"), "end ProtocolViolation", None),
            ("unknown frame type", w.Header(0, 0x09).encode(), "end ProtocolViolation", "ERROR 9 "),
            ("DATA over the client's limit", w.Header(client_max + 1, w.DATA).encode(), "end MessageTooLarge", "ERROR 7 "),
            ("CLOSE between fragments", w.encode_frame(w.DATA, b"ab", w.FLAG_MORE) + w.CLOSE_FRAME, "end ProtocolViolation", "ERROR 9 "),
            ("EOF without CLOSE", b"", "end PeerDisconnected", None),
        ]:
            peer, s = accept_client(exe, env, lst, ["--max-message", str(client_max)])
            w.server_handshake(s, 2 * client_max)
            s.sendall(frame)
            s.shutdown(socket.SHUT_WR)
            got = rest_of_stream(s)
            s.close()
            notes.append(f"{t}: {name}: client sent {got}")
            if want_back:
                record(f"{t}: {name}: client answers {want_back.strip()}", bool(got) and got[0].startswith(want_back), f"got {got}")
            else:
                record(f"{t}: {name}: client sends no DATA and ends", got[-1] == "EOF" and not any(g.startswith("DATA") for g in got), f"got {got}")
            expect(f"{t}: {name}: client application sees", end_line(peer), want_end)
            peer.stop()

        # Refusals (§4.3) and odd server hellos.
        for name, answer, want in [
            ("refusal status 4", w.Hello(status=4).encode() + w.encode_error_frame(4, "not you"), "fail PermissionDenied"),
            ("refusal status 6", w.Hello(status=6).encode() + w.encode_error_frame(6, "too slow"), "fail Timeout"),
            ("refusal with an unknown code 999", w.Hello(status=999).encode() + w.encode_error_frame(999, "?"), "fail ProtocolViolation"),
            ("refusal with the local code 104", w.Hello(status=104).encode() + w.encode_error_frame(104, "?"), "fail ProtocolViolation"),
            ("server hello length 16", w.Hello().encode()[:6] + (16).to_bytes(2, "little") + w.Hello().encode()[8:], "fail ProtocolViolation"),
            ("server hello major 2", w.Hello(major=2).encode(), "fail ProtocolMismatch"),
            ("server hello bad magic", b"LIPX" + w.Hello().encode()[4:], "fail ProtocolViolation"),
            ("server hello reserved set", w.Hello().encode()[:23] + b"\x01", "fail ProtocolViolation"),
        ]:
            peer, s = accept_client(exe, env, lst)
            w.read_hello(s, server=True)
            try:
                s.sendall(answer)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:  # the client may have read enough, closed and reset already
                notes.append(f"{t}: {name}: our write/shutdown failed with {e!r}")
            got = rest_of_stream(s)
            s.close()
            line = end_line(peer)
            record(f"{t}: {name}: client reports {want.split()[1]}", line.startswith(want + " "), f"got {line!r}")
            # The client may close before reading all we sent: its kernel then resets.
            record(f"{t}: {name}: client sends nothing more", got in (["EOF"], ["reset"]), f"got {got}")
            notes.append(f"{t}: {name}: client's end of stream: {got}")
            peer.stop()

        # Accepting hellos a v1.0 client must take: a later minor, a longer hello, CAP_SHM
        # that the client did not offer (§3.2: takes effect only if both carry it).
        for name, answer in [
            ("server hello v1.1 of 32 bytes", w.Hello(minor=1, length=32, extension=b"\xff" * 8).encode()),
            ("server hello with CAP_SHM and unknown bits", w.Hello(capabilities=0xFFFFFFFF).encode()),
        ]:
            peer, s = accept_client(exe, env, lst)
            w.read_hello(s, server=True)
            s.sendall(answer + w.encode_frame(w.DATA, b"ping"))
            got = describe(read_frame(s))
            s.sendall(w.CLOSE_FRAME)
            s.shutdown(socket.SHUT_WR)
            rest = rest_of_stream(s)
            s.close()
            line = end_line(peer)
            notes.append(f"{t}: {name}: client echoed {got}, then {rest}, {line}")
            record(f"{t}: {name}: client accepts it and echoes", got == "DATA len=4 flags=0" and line == "end Closed", f"got {got}, {line}")
            peer.stop()

        # Our limit is smaller than the client's: it must not send us more than ours (§6).
        peer, s = accept_client(exe, env, lst, ["--max-message", str(client_max)])
        ch = w.server_handshake(s, max_message_size=1000)
        # One write: the client may end as soon as it has read the first message (it cannot
        # echo it), and a second write could then fail with EPIPE.
        ch.sock.sendall(w.encode_frame(w.DATA, pattern(1001)) + w.encode_frame(w.DATA, b"after"))
        try:
            first = ch.recv()
        except w.WireError as e:
            first = f"<{e.kind}>"
        notes.append(f"{t}: client asked to echo 1001 bytes to a 1000-byte server: first receive {first!r}")
        record(f"{t}: the client never sends more than our limit", first == b"after" or isinstance(first, str) and "MessageTooLarge" not in first, f"got {first!r}")
        ch.close()
        notes.append(f"{t}: ... client then: {end_line(peer)}")
        peer.stop()

        # Silent server: the client's handshake timeout.
        peer, s = accept_client(exe, env, lst, ["--handshake-timeout-ms", "300"])
        w.read_hello(s, server=True)
        line = end_line(peer)
        record(f"{t}: silent server: client reports Timeout", line.startswith("fail Timeout"), f"got {line!r}")
        expect(f"{t}: silent server: client sends nothing more and ends", rest_of_stream(s), ["EOF"])
        s.close()
        peer.stop()
    finally:
        lst.close()


def live_contract_client(exe: str, env: dict, tmp: Path, transport: str) -> None:
    """tests/interop/README.md `client` mode against this implementation's echo server."""
    t = f"{transport} server, contract client"
    probe = subprocess.run([exe, "client", "--endpoint", "unix:///nonexistent/x.sock", "--case", "empty"], capture_output=True, text=True, env=env, timeout=IO_TIMEOUT)
    if "unknown mode" in probe.stdout + probe.stderr:
        not_run.append(f"{t}: this ipc-test-peer has no `client` mode (tests/interop/README.md) yet")
        print(f"NOT RUN {t}: no `client` mode in this ipc-test-peer")
        return
    lst = w.Listener(f"unix://{tmp}/contract-{transport}.sock" if transport == "unix" else "tcp://127.0.0.1:0")
    limit = 2 * 1024 * 1024
    stop = threading.Event()

    def serve(sock: socket.socket) -> None:
        try:
            ch = w.server_handshake(sock, limit)
            while True:
                msg = ch.recv()
                if msg == b"interop:close":
                    ch.close()
                    return
                if msg == b"interop:kill":
                    sock.close()
                    return
                ch.send(msg)
        except (w.WireError, OSError):
            sock.close()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                s = lst.accept_socket(0.2)
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=serve, args=(s,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    cases = "empty,one-byte,all-bytes,non-utf8,64k,1m,max-size,over-max,random-10k,server-close,server-killed"
    try:
        proc = subprocess.run([exe, "client", "--endpoint", lst.endpoint, "--case", cases], capture_output=True, text=True, env=env, timeout=60)
        for line in proc.stdout.splitlines():
            record(f"{t}: {line.split()[1] if len(line.split()) > 1 else line}", line.startswith("PASS "), line)
        expect(f"{t}: exit status", proc.returncode, 0)
        # §6 against §10's worked example: a side whose own limit is the smaller one (1000
        # bytes, ours is 2 MiB) may send at most its own limit, not the peer's.
        proc = subprocess.run([exe, "client", "--endpoint", lst.endpoint, "--case", "max-size,over-max", "--max-message", "1000"], capture_output=True, text=True, env=env, timeout=60)
        for line in proc.stdout.splitlines():
            record(f"{t}, client limit 1000: {line.split()[1] if len(line.split()) > 1 else line}", line.startswith("PASS "), line)
        expect(f"{t}, client limit 1000: exit status", proc.returncode, 0)
    finally:
        stop.set()
        lst.close()


def live_contract_server(exe: str, env: dict, tmp: Path, transport: str) -> None:
    """tests/interop/README.md `server` mode: the server closes first, or is killed."""
    t = f"{transport} client, contract server"
    ep = f"unix://{tmp}/cserver-{transport}.sock" if transport == "unix" else "tcp://127.0.0.1:0"
    peer = Peer(exe, ["server", "--endpoint", ep, "--max-message", "2097152"], env)
    ready = peer.line()
    if ready is not None and not ready.startswith("READY ") and "unknown mode" in ready + "".join(peer.stderr):
        not_run.append(f"{t}: this ipc-test-peer has no `server` mode (tests/interop/README.md) yet")
        peer.stop()
        return
    if not record(f"{t}: READY", bool(ready) and ready.startswith("READY "), f"got {ready!r} {peer.stderr}"):
        peer.stop()
        return
    ep = ready.split(" ", 1)[1]
    try:
        ch = w.client_handshake(open_sock(ep))
        expect(f"{t}: server limit from --max-message", ch.peer.max_message_size, 2097152)
        ch.send(pattern(2097152))
        expect(f"{t}: echo 2 MiB", ch.recv(), pattern(2097152))
        # The server closes first (§8.1): its CLOSE, then the end of its sending direction.
        ch.send(b"interop:close")
        got = rest_of_stream(ch.sock)
        expect(f"{t}: server-initiated close: CLOSE, then the stream ends", got, ["CLOSE len=0 flags=0", "EOF"])
        try:  # §8.1: after the peer's CLOSE we SHOULD close too; the bytes are not read
            ch.sock.sendall(w.CLOSE_FRAME)
        except OSError as e:
            notes.append(f"{t}: our CLOSE after the server's: {e!r}")
        ch.sock.close()
        # A crash: the stream ends with no CLOSE (§8.3).
        ch = w.client_handshake(open_sock(ep))
        ch.send(b"interop:kill")
        got = rest_of_stream(ch.sock)
        ch.sock.close()
        record(f"{t}: killed server: the stream ends without CLOSE", got in (["EOF"], ["reset"]), f"got {got}")
    finally:
        peer.stop()


# ---------------------------------------------------------------------------------------------


def live_rpc(exe: str, env: dict, tmp: Path, transport: str) -> None:
    """§16 against libipc's request/reply server (`ipc-test-peer rpc-echo-server --async`, handlers
    delayed at random, so replies come out of order)."""
    ep = f"unix://{tmp}/rpc-{transport}.sock" if transport == "unix" else "tcp://127.0.0.1:0"
    peer = Peer(exe, ["rpc-echo-server", ep, "--async", "--max-delay-ms", "20"], env)
    ready = peer.line()
    t = f"{transport} rpc"
    if not record(f"{t}: rpc-server ready", bool(ready) and ready.startswith("ready "), f"got {ready!r} {peer.stderr}"):
        peer.stop()
        return
    ep = ready.split(" ", 1)[1]
    try:
        # §16.1: the server's hello carries CAP_RPC; a client without it is refused with 8.
        c = w.rpc_connect(ep)
        record(f"{t}: server hello offers CAP_RPC", bool(c.channel.peer.capabilities & w.CAP_RPC))
        try:
            w.connect(ep)
            record(f"{t}: a plain client is refused", False, "accepted")
        except w.WireError as e:
            record(f"{t}: a plain client is refused with status 8 and an ERROR frame", e.kind == "ProtocolMismatch" and e.remote and e.code == 8, f"{e.kind} {e.code} {e.message}")
        # §16.4: pipelined requests, each reply matched by id, whatever the order.
        ids = {c.start(f"request {i}".encode()): i for i in range(200)}
        mismatched = 0
        for id_, i in ids.items():
            status, body = c.wait(id_)
            mismatched += status != 0 or body != f"request {i}".encode()
        record(f"{t}: 200 pipelined requests, every reply matched", mismatched == 0, f"{mismatched} wrong")
        # An error reply: its status and UTF-8 text; the channel goes on.
        status, body = c.call(b"fail:42:no such thing")
        record(f"{t}: error reply status 42 and its text", (status, body) == (42, b"no such thing"), f"{status} {body!r}")
        status, body = c.call(b"")
        record(f"{t}: empty request, empty reply", (status, body) == (0, b""), f"{status} {body!r}")
        # CANCEL: the async server aborts the handler, so no reply comes for it.
        slow = c.start(b"sleep:300")
        c.abandon(slow)
        time.sleep(0.5)
        status, body = c.call(b"after")
        record(f"{t}: after a CANCEL, no reply for it (the handler was aborted)", (status, body, c.late) == (0, b"after", 0), f"{status} {body!r} late={c.late}")
        c.channel.close()
        # §16.3: every malformed envelope is answered with ERROR 9 and the end of the connection.
        vectors = json.loads((VECTORS / "rpc.json").read_text(encoding="utf-8"))["vectors"]
        bad = [v for v in vectors if not v["valid"] and v["decoded_by"] == "server"]
        for v in bad:
            ch = w.rpc_connect(ep).channel
            ch.sock.settimeout(IO_TIMEOUT)
            ch.send(bytes.fromhex(v["hex"]))
            try:
                ch.recv()
                record(f"{t}: malformed {v['name']}: ERROR 9", False, "a message came back")
            except w.WireError as e:
                record(f"{t}: malformed {v['name']}: ERROR 9", e.remote and e.code == 9, f"{e.kind} {e.code} {e.message}")
            ch.sock.close()
        # The server goes on serving.
        c = w.rpc_connect(ep)
        record(f"{t}: still serving after the hostile clients", c.call(b"ok") == (0, b"ok"))
        c.channel.close()
    finally:
        code = peer.stop()
        record(f"{t}: rpc-server exits 0", code == 0, f"exit {code} {peer.stderr}")


def live_pubsub(exe: str, env: dict, tmp: Path, transport: str) -> None:
    """§17 against libipc's publisher (`ipc-test-peer publish`): two subscribers of this
    implementation, one on a topic prefix; refusals; every malformed first message."""
    ep = f"unix://{tmp}/pubsub-{transport}.sock" if transport == "unix" else "tcp://127.0.0.1:0"
    t = f"{transport} pubsub"
    peer = Peer(exe, ["publish", ep, "--subscribers", "2", "--count", "500", "--size", "40", "--block-ms", "60000", "--topic", "cam/1"], env)
    ready = peer.line()
    if not record(f"{t}: publisher ready", bool(ready) and ready.startswith("ready "), f"got {ready!r} {peer.stderr}"):
        peer.stop()
        return
    ep = ready.split(" ", 1)[1]
    try:
        try:
            w.connect(ep)
            record(f"{t}: a plain client is refused", False, "accepted")
        except w.WireError as e:
            record(f"{t}: a plain client is refused with status 8 and an ERROR frame", e.kind == "ProtocolMismatch" and e.remote and e.code == 8, f"{e.kind} {e.code} {e.message}")
        # §17.3: every malformed first message is answered with ERROR 9.
        vectors = json.loads((VECTORS / "pubsub.json").read_text(encoding="utf-8"))["vectors"]
        for v in [v for v in vectors if not v["valid"] and v["decoded_by"] == "publisher"]:
            ch = w.client_handshake(w.connect_socket(ep), capabilities=w.CAP_PUBSUB)
            ch.sock.settimeout(IO_TIMEOUT)
            ch.send(bytes.fromhex(v["hex"]))
            try:
                ch.recv()
                record(f"{t}: malformed {v['name']}: ERROR 9", False, "a message came back")
            except w.WireError as e:
                record(f"{t}: malformed {v['name']}: ERROR 9", e.remote and e.code == 9, f"{e.kind} {e.code} {e.message}")
            ch.sock.close()
        subs = [w.subscribe(ep), w.subscribe(ep, [b"cam/"])]
        record(f"{t}: publisher hello offers CAP_PUBSUB", all(s.channel.peer.capabilities & w.CAP_PUBSUB for s in subs))
        for name, s in zip(("all topics", "prefix cam/"), subs):
            bad = 0
            for i in range(500):
                seq, dropped, topic, payload = s.recv()
                bad += (seq, dropped, topic, payload[:8], len(payload)) != (i, 0, b"cam/1", struct.pack("<Q", i), 40)
            record(f"{t}: {name}: 500 messages in order, numbered from 0, none dropped", bad == 0, f"{bad} wrong")
            try:
                s.channel.recv()
                record(f"{t}: {name}: CLOSE after the last message", False, "more came")
            except w.WireError as e:
                record(f"{t}: {name}: CLOSE after the last message", e.kind == "Closed", f"{e.kind} {e.message}")
    finally:
        code = peer.stop()
        record(f"{t}: publisher exits 0", code == 0, f"exit {code} {peer.stderr}")


def where(e: BaseException) -> str:
    """Where in this file an exception came from: the check.py lines of its traceback."""
    lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if f.filename == __file__]
    return f"(check.py lines {lines})" if lines else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer", help="absolute path of ipc-test-peer (needed unless --vectors-only)")
    ap.add_argument("--vectors-only", action="store_true", help="replay tests/vectors only")
    args = ap.parse_args()
    if not args.vectors_only and not (args.peer and os.path.isabs(args.peer) and os.access(args.peer, os.X_OK)):
        print("check.py: --peer must be the absolute path of an executable ipc-test-peer", file=sys.stderr)
        return 2

    # A watchdog against hangs only: the whole run normally takes seconds.
    watchdog = threading.Timer(240, lambda: (print("FAIL watchdog: check.py hung", flush=True), os._exit(1)))
    watchdog.daemon = True
    watchdog.start()

    check_vectors()
    if not args.vectors_only:
        tmp = Path(tempfile.mkdtemp(prefix="libwire-"))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LIBIPC_RUNTIME_DIR": str(tmp)}
        try:
            for transport in ("unix", "tcp"):
                for part in (live_client, live_server, live_contract_client, live_contract_server, live_rpc, live_pubsub):
                    try:
                        part(args.peer, env, tmp, transport)
                    except Exception as e:  # a crash of one part is a failure, not the end
                        record(f"{transport} {part.__name__}", False, f"raised {type(e).__name__}: {e} {where(e)}")
            for part in (uid_allow_list, silent_default):
                try:
                    part(args.peer, env, tmp)
                except Exception as e:
                    record(part.__name__, False, f"raised {type(e).__name__}: {e} {where(e)}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    failed = [r for r in results if not r[1]]
    print()
    if notes:
        print("Observations (for the findings list):")
        for n in notes:
            print(f"  {n}")
    print(f"\nwire conformance: {len(results) - len(failed)} passed, {len(failed)} failed, {len(not_run)} parts not run")
    for n in not_run:
        print(f"  NOT RUN {n}")
    for name, _, detail in failed:
        print(f"  FAIL {name}: {detail}")
    return 1 if failed or not_run else 0


if __name__ == "__main__":
    sys.exit(main())
