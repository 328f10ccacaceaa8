"""An independent implementation of libipc wire format v1.1, from docs/wire-format.md alone.

Pure Python 3.11, standard library only; it never imports libipc. Section numbers (§) refer
to docs/wire-format.md. Where the document was silent and this code had to choose, the choice
is marked `DOC-GAP:` (none is open: the gaps found were filled in the document, and their
comments name the section now).

Layers:
- codecs (no I/O): hello (§3), frame header (§5.1), ERROR payload (§5.5), whole frames as the
  vectors hold them, FIFO connection requests (§12.2);
- a blocking stream channel over a connected socket (§4, §5.3 reassembly, §8, §9);
- endpoints: `unix:///path` and `tcp://host:port` client and listener (docs/endpoints.md);
- request/reply (1.1, §16): the envelope codec and a pipelining client over a channel.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import time
from dataclasses import dataclass

# §3: the hello.
MAGIC = b"LIPC"
MAJOR = 1
MINOR = 2
HELLO_LEN = 24
HELLO_MAX_LEN = 1024
PREFIX_LEN = 8
CAP_SHM = 0x00000001
CAP_RPC = 0x00000002
CAP_PUBSUB = 0x00000004

# §5.1: frames.
HEADER_LEN = 8
DATA, CLOSE, ERROR, SETUP, PAD = 0x01, 0x02, 0x03, 0x04, 0x05
TYPE_NAMES = {DATA: "DATA", CLOSE: "CLOSE", ERROR: "ERROR"}
STREAM_TYPES = (DATA, CLOSE, ERROR)
FLAG_MORE = 0x01
ERROR_MIN_LEN = 4
ERROR_MAX_LEN = 4096

# §6: libipc's default limit.
DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024
U32_MAX = 0xFFFFFFFF

# §7: the error codes (the table is generated in the document; copied here by hand, as an
# outside implementer would).
CODES = {
    1: "InvalidEndpoint",
    2: "AddressInUse",
    3: "NotFound",
    4: "PermissionDenied",
    5: "PeerDisconnected",
    6: "Timeout",
    7: "MessageTooLarge",
    8: "ProtocolMismatch",
    9: "ProtocolViolation",
    10: "Closed",
    11: "Io",
    12: "Unsupported",
    13: "InvalidArgument",
    100: "BufferTooSmall",
    102: "Busy",
    104: "Cancelled",
    105: "Remote",
}
KINDS = {name: code for code, name in CODES.items()}

# §12.2: FIFO connection requests.
FIFO_MAGIC = b"LIPF"
FIFO_VERSION = 1
FIFO_REQUEST_LEN = 64
FIFO_TOKEN_MAX = 56
FIFO_TOKEN_RE = re.compile(rb"[0-9a-z-]+")


class WireError(Exception):
    """An error of one of §7's kinds. `remote` is True when the peer reported it (hello status or
    ERROR frame) rather than this side detecting it."""

    def __init__(self, kind: str, message: str = "", remote: bool = False, code: int | None = None):
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message
        self.remote = remote
        # The code as received, for remote errors (it may be unknown, §5.5).
        self.code = code if code is not None else KINDS.get(kind, 0)


def kind_of_code(code: int) -> str:
    """§5.5/§7: a known code below 100 maps to its kind; an unknown one (including 0), and
    one of the local conditions from 100 up, which never travel, to ProtocolViolation."""
    return CODES.get(code, "ProtocolViolation") if code < 100 else "ProtocolViolation"


# ---------------------------------------------------------------------------------------------
# Hello (§3)


@dataclass
class Hello:
    major: int = MAJOR
    minor: int = MINOR
    length: int = HELLO_LEN
    capabilities: int = 0
    status: int = 0
    max_message_size: int = DEFAULT_MAX_MESSAGE
    extension: bytes = b""

    def encode(self) -> bytes:
        """The 24 bytes of §3 (plus `extension` for a later minor, with `length` to match)."""
        body = struct.pack(
            "<4sBBHIHHII",
            MAGIC,
            self.major,
            self.minor,
            self.length,
            self.capabilities,
            self.status,
            0,
            self.max_message_size,
            0,
        )
        return body + self.extension


def check_hello_prefix(prefix: bytes) -> tuple[int, int, int]:
    """§3.3 checks 1-3 on the 8-byte frozen prefix (§3.1). Returns (major, minor, length)."""
    if len(prefix) < PREFIX_LEN:
        raise WireError("ProtocolViolation", f"hello prefix of {len(prefix)} bytes")
    magic, major, minor, length = struct.unpack_from("<4sBBH", prefix)
    if magic != MAGIC:
        raise WireError("ProtocolViolation", f"bad magic {magic!r}")
    if major != MAJOR:
        raise WireError("ProtocolMismatch", f"peer speaks wire version {major}.{minor}")
    if not HELLO_LEN <= length <= HELLO_MAX_LEN:
        raise WireError("ProtocolViolation", f"hello length {length} outside 24..=1024")
    return major, minor, length


def decode_hello(buf: bytes, server: bool = False) -> Hello:
    """§3.3 checks 1-5 on a whole hello (check 6 too when `server`: it decodes a client's hello).

    `buf` must be exactly the hello: check 4 ("exactly `length` bytes present") applies.
    """
    major, minor, length = check_hello_prefix(buf[:PREFIX_LEN])
    if len(buf) != length:
        raise WireError("ProtocolViolation", f"hello length field {length}, {len(buf)} bytes present")
    (capabilities, status, reserved1, max_message_size, reserved2) = struct.unpack_from("<IHHII", buf, 8)
    if reserved1 != 0 or reserved2 != 0:
        raise WireError("ProtocolViolation", "hello reserved field not zero")
    if server and status != 0:
        raise WireError("ProtocolViolation", f"client hello with status {status}")
    return Hello(major, minor, length, capabilities, status, max_message_size, bytes(buf[HELLO_LEN:]))


# ---------------------------------------------------------------------------------------------
# Frames (§5)


@dataclass
class Header:
    length: int
    type: int
    flags: int = 0

    def encode(self) -> bytes:
        return struct.pack("<IBBH", self.length, self.type, self.flags, 0)


def decode_header(buf: bytes, max_message_size: int, so_far: int = 0) -> Header:
    """§5.1 checks 1-5 on an 8-byte stream frame header. `so_far` is the size of the fragments
    of the current message already received (§5.3)."""
    if len(buf) != HEADER_LEN:
        raise WireError("ProtocolViolation", f"frame header of {len(buf)} bytes")
    length, ftype, flags, reserved = struct.unpack("<IBBH", buf)
    if ftype not in STREAM_TYPES:
        raise WireError("ProtocolViolation", f"unknown frame type 0x{ftype:02x}")
    if reserved != 0:
        raise WireError("ProtocolViolation", "frame header reserved bytes not zero")
    allowed = FLAG_MORE if ftype == DATA else 0
    if flags & ~allowed:
        raise WireError("ProtocolViolation", f"flags 0x{flags:02x} on frame type 0x{ftype:02x}")
    if ftype == CLOSE and length != 0:
        raise WireError("ProtocolViolation", f"CLOSE with length {length}")
    if ftype == ERROR and not ERROR_MIN_LEN <= length <= ERROR_MAX_LEN:
        raise WireError("ProtocolViolation", f"ERROR with length {length}")
    if ftype == DATA and so_far + length > max_message_size:
        raise WireError(
            "MessageTooLarge",
            f"peer sent a {so_far + length}-byte message; this side accepts at most {max_message_size} bytes",
        )
    return Header(length, ftype, flags)


def encode_error_payload(code: int, text: str) -> bytes:
    """§5.5: code, two reserved zero bytes, UTF-8 text truncated at a character boundary to 4092."""
    raw = text.encode("utf-8")
    limit = ERROR_MAX_LEN - 4
    if len(raw) > limit:
        raw = raw[:limit]
        while raw:
            try:
                raw.decode("utf-8")
                break
            except UnicodeDecodeError:
                raw = raw[:-1]
    return struct.pack("<HH", code, 0) + raw


def decode_error_payload(payload: bytes) -> tuple[int, str]:
    """§5.5 receiver checks: reserved zero, text valid UTF-8 (Python's strict decoder rejects
    overlong forms, surrogates and truncated sequences)."""
    if not ERROR_MIN_LEN <= len(payload) <= ERROR_MAX_LEN:
        raise WireError("ProtocolViolation", f"ERROR payload of {len(payload)} bytes")
    code, reserved = struct.unpack_from("<HH", payload)
    if reserved != 0:
        raise WireError("ProtocolViolation", "ERROR payload reserved field not zero")
    try:
        text = payload[4:].decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise WireError("ProtocolViolation", f"ERROR text is not UTF-8: {e}") from None
    return code, text


def encode_frame(ftype: int, payload: bytes = b"", flags: int = 0) -> bytes:
    return Header(len(payload), ftype, flags).encode() + payload


def encode_error_frame(code: int, text: str) -> bytes:
    return encode_frame(ERROR, encode_error_payload(code, text))


CLOSE_FRAME = encode_frame(CLOSE)


@dataclass
class Frame:
    header: Header
    payload: bytes
    error_code: int | None = None
    error_message: str | None = None


def decode_frame(buf: bytes, max_message_size: int) -> Frame:
    """One isolated frame, exactly (tests/vectors/README.md "Frame vectors")."""
    if len(buf) < HEADER_LEN:
        raise WireError("ProtocolViolation", f"{len(buf)} bytes: shorter than a frame header")
    header = decode_header(buf[:HEADER_LEN], max_message_size)
    payload = bytes(buf[HEADER_LEN:])
    if len(payload) != header.length:
        raise WireError("ProtocolViolation", f"header announces {header.length} bytes, {len(payload)} follow")
    frame = Frame(header, payload)
    if header.type == ERROR:
        frame.error_code, frame.error_message = decode_error_payload(payload)
    return frame


# ---------------------------------------------------------------------------------------------
# FIFO connection requests (§12.2)


def encode_fifo_request(token: str) -> bytes:
    raw = token.encode("ascii")
    if not 1 <= len(raw) <= FIFO_TOKEN_MAX or not FIFO_TOKEN_RE.fullmatch(raw):
        raise WireError("InvalidArgument", f"bad token {token!r}")
    return struct.pack("<4sBBH", FIFO_MAGIC, FIFO_VERSION, len(raw), 0) + raw.ljust(FIFO_TOKEN_MAX, b"\0")


def decode_fifo_request(buf: bytes) -> str:
    """§12.2: magic, version, reserved, token length and characters, padding, in that order."""
    # §12.2: a listener cuts its rendezvous byte stream into 64-byte records; a buffer of
    # another size is not a record (ProtocolViolation, as for the vectors).
    if len(buf) != FIFO_REQUEST_LEN:
        raise WireError("ProtocolViolation", f"request of {len(buf)} bytes")
    magic, version, n, reserved = struct.unpack_from("<4sBBH", buf)
    if magic != FIFO_MAGIC:
        raise WireError("ProtocolViolation", "bad magic")
    if version != FIFO_VERSION:
        raise WireError("ProtocolMismatch", f"request version {version}")
    if reserved != 0:
        raise WireError("ProtocolViolation", "reserved bytes not zero")
    if not 1 <= n <= FIFO_TOKEN_MAX:
        raise WireError("ProtocolViolation", f"token length {n}")
    token = buf[8 : 8 + n]
    if not FIFO_TOKEN_RE.fullmatch(token):
        raise WireError("ProtocolViolation", f"token characters {token!r}")
    if any(buf[8 + n :]):
        raise WireError("ProtocolViolation", "padding after the token not zero")
    return token.decode("ascii")


# ---------------------------------------------------------------------------------------------
# Streams


def read_exact(sock: socket.socket, n: int, what: str = "bytes", deadline: float | None = None) -> bytes:
    """Exactly n bytes; a stream that ends first is PeerDisconnected (§3.3, §5.1, §8.3).
    With `deadline` (time.monotonic()), raises socket.timeout when it passes."""
    chunks = []
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("deadline passed")
            sock.settimeout(left)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except ConnectionResetError as e:
            raise WireError("PeerDisconnected", f"connection reset reading {what}: {e}") from None
        if not chunk:
            raise WireError("PeerDisconnected", f"stream ended after {got} of {n} {what}")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_hello(sock: socket.socket, server: bool, deadline: float | None = None) -> Hello:
    """§3.3 on a stream: the prefix, checks 1-3, then `length - 8` more bytes, then 5 (and 6)."""
    prefix = read_exact(sock, PREFIX_LEN, "hello bytes", deadline)
    _, _, length = check_hello_prefix(prefix)
    rest = read_exact(sock, length - PREFIX_LEN, "hello bytes", deadline)
    # §3.3: check 4 cannot fail here, exactly `length` bytes were read (a stream that ends
    # first is PeerDisconnected, a silent one Timeout); it applies to buffers (the vectors).
    return decode_hello(prefix + rest, server=server)


class Channel:
    """One side of an established stream connection (after the handshake).

    `recv()` returns one whole message (bytes), reassembling fragments (§5.3), or raises
    WireError: `Closed` after the peer's CLOSE (§8.1), the code's kind after its ERROR (§8.2,
    remote=True), `PeerDisconnected` at EOF (§8.3), or the violation it found (§9: it has then
    written the ERROR frame and shut the connection down).
    """

    # §8.4: libipc writes CLOSE when its application closes, also after the peer's ERROR or
    # EOF; a peer MUST accept (and MAY ignore) that CLOSE. This one writes CLOSE only from
    # `close()`.

    def __init__(self, sock: socket.socket, own: Hello, peer: Hello):
        self.sock = sock
        self.own = own
        self.peer = peer
        self.ended: WireError | None = None

    @property
    def max_message_size(self) -> int:
        """§6: what this side may send, the smaller of both limits."""
        return min(self.own.max_message_size, self.peer.max_message_size)

    # -- sending ------------------------------------------------------------------------------

    def send(self, message: bytes, fragments: list[int] | None = None) -> None:
        """One message as one DATA frame (§5.3: what a v1 stream sender does), or, with
        `fragments` (sizes of the MORE fragments), as a run of fragments and a last frame."""
        if len(message) > self.max_message_size:
            raise WireError("MessageTooLarge", f"{len(message)} bytes over the limit {self.max_message_size}")
        out = []
        pos = 0
        for size in fragments or []:
            out.append(encode_frame(DATA, message[pos : pos + size], FLAG_MORE))
            pos += size
        out.append(encode_frame(DATA, message[pos:]))
        self.sock.sendall(b"".join(out))

    def close(self) -> None:
        """§8.1: CLOSE after everything sent, then shut the connection down, read nothing more."""
        try:
            self.sock.sendall(CLOSE_FRAME)
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def send_error(self, code: int, text: str) -> None:
        """§8.2: ERROR, nothing after it, shut down."""
        try:
            self.sock.sendall(encode_error_frame(code, text))
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- receiving ----------------------------------------------------------------------------

    def recv(self) -> bytes:
        if self.ended is not None:
            raise self.ended
        try:
            return self._recv()
        except WireError as e:
            self.ended = e
            raise

    def _violation(self, e: WireError) -> WireError:
        """§9: ERROR 9 or 7 with a reason, then close both directions."""
        self.send_error(KINDS[e.kind], e.message)
        return e

    def _recv(self) -> bytes:
        parts: list[bytes] = []
        so_far = 0
        in_message = False
        while True:
            raw = read_exact(self.sock, HEADER_LEN, "frame header bytes")
            try:
                header = decode_header(raw, self.own.max_message_size, so_far)
            except WireError as e:
                raise self._violation(e) from None
            if header.type == CLOSE:
                if in_message:
                    # §5.1 check 6 (§5.3): CLOSE between fragments is a violation, ERROR 9.
                    raise self._violation(WireError("ProtocolViolation", "CLOSE inside a fragmented message"))
                raise WireError("Closed", "the peer closed the channel")
            payload = read_exact(self.sock, header.length, "payload bytes")
            if header.type == ERROR:
                try:
                    code, text = decode_error_payload(payload)
                except WireError as e:
                    raise self._violation(e) from None
                raise WireError(kind_of_code(code), text, remote=True, code=code)
            parts.append(payload)
            so_far += header.length
            if header.flags & FLAG_MORE:
                in_message = True
                continue
            return b"".join(parts)


def read_refusal(sock: socket.socket, hello: Hello) -> WireError:
    """§4.3, client side: the error of a refusing hello, with the following ERROR frame's text
    if it arrives intact."""
    text = ""
    ercode = None
    try:
        raw = read_exact(sock, HEADER_LEN, "frame header bytes")
        header = decode_header(raw, 0)
        payload = read_exact(sock, header.length, "payload bytes")
        if header.type == ERROR:
            ercode, text = decode_error_payload(payload)
    except WireError:
        pass
    err = WireError(kind_of_code(hello.status), text, remote=True, code=hello.status)
    err.error_frame_code = ercode
    return err


def client_handshake(sock: socket.socket, max_message_size: int = DEFAULT_MAX_MESSAGE, capabilities: int = 0) -> Channel:
    """§4.1 client: send the hello first, read the server's, checks 1-5, status 0 or refusal."""
    own = Hello(capabilities=capabilities, max_message_size=max_message_size)
    # §4.3: a server may refuse (uid allow-list) and close before our hello is written; its
    # refusal then still waits to be read, and says more than the failed write.
    try:
        sock.sendall(own.encode())
        write_error = None
    except OSError as e:
        write_error = e
    try:
        peer = read_hello(sock, server=False)
    except (WireError, OSError):
        if write_error is not None:
            raise WireError("PeerDisconnected", f"writing the hello: {write_error}") from None
        raise
    if write_error is not None and peer.status == 0:
        raise WireError("PeerDisconnected", f"writing the hello: {write_error}")
    if peer.status != 0:
        err = read_refusal(sock, peer)
        sock.close()
        raise err
    # §3.2: capability bits this client did not offer (it offers none) are ignored.
    return Channel(sock, own, peer)


def refuse(sock: socket.socket, code: int, text: str, max_message_size: int = DEFAULT_MAX_MESSAGE) -> None:
    """§4.3: a v1 hello with the code as status, an ERROR frame with the same code, shut down."""
    # §4.3: the other fields carry no meaning; this sends its own limit and capabilities 0,
    # as libipc does. §4.3 also says what libipc reads before closing (what has arrived, no
    # linger) and what a client may then see; this one reads nothing more and closes.
    hello = Hello(status=code, max_message_size=max_message_size)
    try:
        sock.sendall(hello.encode() + encode_error_frame(code, text))
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    sock.close()


def server_handshake(sock: socket.socket, max_message_size: int = DEFAULT_MAX_MESSAGE, timeout: float = 5.0) -> Channel:
    """§4.1/§4.2 server: read the client's hello within `timeout`, check it (1-6), answer."""
    # §4.1/§15: the timeout bounds the whole hello, not each read.
    deadline = time.monotonic() + timeout
    previous = sock.gettimeout()
    try:
        peer = read_hello(sock, server=True, deadline=deadline)
    except socket.timeout:
        refuse(sock, KINDS["Timeout"], f"no hello from the client within {timeout:g}s", max_message_size)
        raise WireError("Timeout", "silent client") from None
    except WireError as e:
        if e.kind != "PeerDisconnected":
            refuse(sock, KINDS[e.kind], e.message, max_message_size)
        raise
    finally:
        if sock.fileno() >= 0:
            sock.settimeout(previous)
    # §3.2: a capability takes effect only if both hellos carry it; a Unix-socket or TCP
    # listener accepts a client offering CAP_SHM (or unknown bits) with capabilities 0.
    own = Hello(max_message_size=max_message_size)
    sock.sendall(own.encode())
    return Channel(sock, own, peer)


# ---------------------------------------------------------------------------------------------
# Endpoints (docs/endpoints.md): unix:///path and tcp://host:port


def parse_endpoint(endpoint: str) -> tuple[int, object]:
    if endpoint.startswith("unix://"):
        path = endpoint[len("unix://") :]
        if not path.startswith("/"):
            raise WireError("InvalidEndpoint", endpoint)
        return socket.AF_UNIX, path
    if endpoint.startswith("tcp://"):
        rest = endpoint[len("tcp://") :]
        m = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:\[\]]+):(\d+)", rest)
        if not m:
            raise WireError("InvalidEndpoint", endpoint)
        if m.group(1):
            return socket.AF_INET6, (m.group(1), int(m.group(2)))
        return socket.AF_INET, (m.group(3), int(m.group(4)))
    raise WireError("InvalidEndpoint", endpoint)


def connect_socket(endpoint: str) -> socket.socket:
    family, addr = parse_endpoint(endpoint)
    if family == socket.AF_UNIX:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(addr)
        return sock
    sock = socket.create_connection(addr)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def connect(endpoint: str, max_message_size: int = DEFAULT_MAX_MESSAGE) -> Channel:
    return client_handshake(connect_socket(endpoint), max_message_size)


class Listener:
    def __init__(self, endpoint: str):
        family, addr = parse_endpoint(endpoint)
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_UNIX:
            self.sock.bind(addr)
            self.endpoint = endpoint
        else:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(addr)
            host, port = self.sock.getsockname()[:2]
            self.endpoint = f"tcp://[{host}]:{port}" if family == socket.AF_INET6 else f"tcp://{host}:{port}"
        self.path = addr if family == socket.AF_UNIX else None
        self.sock.listen(16)

    def accept_socket(self, timeout: float | None = None) -> socket.socket:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(None)
        return conn

    def close(self) -> None:
        self.sock.close()
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


# ---------------------------------------------------------------------------------------------
# Request/reply (1.1, §16)

REQUEST, REPLY, CANCEL = 1, 2, 3
ENVELOPE_LEN = 16
FAULT_TEXT_MAX = 4092
ENVELOPE_KINDS = {REQUEST: "REQUEST", REPLY: "REPLY", CANCEL: "CANCEL"}


@dataclass
class Envelope:
    kind: int
    status: int
    id: int


def encode_envelope(kind: int, status: int, id_: int, body: bytes = b"") -> bytes:
    """§16.2: kind, flags 0, reserved 0, status, id, then the body."""
    return struct.pack("<BBHIQ", kind, 0, 0, status, id_) + body


def decode_envelope(message: bytes, side: str) -> tuple[Envelope, bytes]:
    """§16.3, checks 1-8 in order, as `side` ("client" or "server") receives the message."""
    if len(message) < ENVELOPE_LEN:
        raise WireError("ProtocolViolation", f"{len(message)}-byte message: no envelope")
    kind, flags, reserved, status, id_ = struct.unpack_from("<BBHIQ", message)
    body = message[ENVELOPE_LEN:]
    if kind not in ENVELOPE_KINDS:
        raise WireError("ProtocolViolation", f"envelope kind {kind}")
    if (side == "client") != (kind == REPLY):
        raise WireError("ProtocolViolation", f"a {side} does not accept {ENVELOPE_KINDS[kind]}")
    if flags != 0:
        raise WireError("ProtocolViolation", "envelope flags set")
    if reserved != 0:
        raise WireError("ProtocolViolation", "envelope reserved bytes set")
    if kind != REPLY and status != 0:
        raise WireError("ProtocolViolation", "status on a REQUEST or CANCEL")
    if kind == CANCEL and body:
        raise WireError("ProtocolViolation", "CANCEL with a body")
    if kind == REPLY and status != 0:
        if len(body) > FAULT_TEXT_MAX:
            raise WireError("ProtocolViolation", "error text over 4092 bytes")
        try:
            body.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise WireError("ProtocolViolation", "error text not UTF-8") from None
    return Envelope(kind, status, id_), body


class RpcClient:
    """§16 client over a channel whose hellos both carried CAP_RPC: requests pipelined, replies
    matched by id in any order; a reply to an id no longer waited for is counted as late."""

    def __init__(self, channel: Channel):
        self.channel = channel
        self.next_id = 1
        self.waiting: set[int] = set()
        self.arrived: dict[int, tuple[int, bytes]] = {}
        self.late = 0

    def start(self, body: bytes) -> int:
        id_ = self.next_id
        self.next_id += 1
        self.waiting.add(id_)
        self.channel.send(encode_envelope(REQUEST, 0, id_, body))
        return id_

    def abandon(self, id_: int) -> None:
        """Stop waiting for `id_` and say so (CANCEL, §16.4)."""
        self.waiting.discard(id_)
        self.arrived.pop(id_, None)
        self.channel.send(encode_envelope(CANCEL, 0, id_))

    def wait(self, id_: int) -> tuple[int, bytes]:
        """(status, body) of request `id_`'s reply."""
        while id_ not in self.arrived:
            message = self.channel.recv()
            try:
                env, body = decode_envelope(message, "client")
            except WireError as e:
                raise self.channel._violation(e) from None
            if env.id in self.waiting:
                self.waiting.discard(env.id)
                self.arrived[env.id] = (env.status, body)
            elif 0 < env.id < self.next_id:
                self.late += 1
            else:
                raise self.channel._violation(WireError("ProtocolViolation", f"reply to unknown id {env.id}"))
        return self.arrived.pop(id_)

    def call(self, body: bytes) -> tuple[int, bytes]:
        return self.wait(self.start(body))


def rpc_connect(endpoint: str, max_message_size: int = DEFAULT_MAX_MESSAGE) -> RpcClient:
    """§16.1: offer CAP_RPC; a server hello without it is ProtocolMismatch (we close, silent)."""
    ch = client_handshake(connect_socket(endpoint), max_message_size, capabilities=CAP_RPC)
    if not ch.peer.capabilities & CAP_RPC:
        ch.sock.close()
        raise WireError("ProtocolMismatch", "the server does not offer CAP_RPC")
    return RpcClient(ch)


# §17: publish/subscribe (1.2, CAP_PUBSUB).
SUBSCRIBE, SUBSCRIBED, MESSAGE = 1, 2, 3
PUBSUB_KINDS = {SUBSCRIBE: "SUBSCRIBE", SUBSCRIBED: "SUBSCRIBED", MESSAGE: "MESSAGE"}
MAX_TOPIC = 1024
MAX_PREFIXES = 64


def encode_subscribe(prefixes: list[bytes]) -> bytes:
    """§17.2: SUBSCRIBE with its prefixes, each a u16 length and its bytes."""
    body = b"".join(struct.pack("<H", len(p)) + p for p in prefixes)
    return struct.pack("<BBHIQ", SUBSCRIBE, 0, len(prefixes), 0, 0) + body


def encode_subscribed(seq: int) -> bytes:
    return struct.pack("<BBHIQ", SUBSCRIBED, 0, 0, 0, seq)


def encode_message(seq: int, topic: bytes, payload: bytes) -> bytes:
    return struct.pack("<BBHIQ", MESSAGE, 0, len(topic), 0, seq) + topic + payload


@dataclass
class PubSub:
    kind: int
    seq: int = 0
    prefixes: list[bytes] | None = None
    topic: bytes = b""
    payload: bytes = b""


def decode_pubsub(message: bytes, side: str) -> PubSub:
    """§17.3, checks 1-8 in order, as `side` ("publisher" or "subscriber") receives it."""
    if len(message) < ENVELOPE_LEN:
        raise WireError("ProtocolViolation", f"{len(message)}-byte message: no envelope")
    kind, flags, field, reserved, seq = struct.unpack_from("<BBHIQ", message)
    body = message[ENVELOPE_LEN:]
    if kind not in PUBSUB_KINDS:
        raise WireError("ProtocolViolation", f"publish/subscribe kind {kind}")
    if (side == "publisher") != (kind == SUBSCRIBE):
        raise WireError("ProtocolViolation", f"a {side} does not accept {PUBSUB_KINDS[kind]}")
    if flags != 0:
        raise WireError("ProtocolViolation", "envelope flags set")
    if reserved != 0:
        raise WireError("ProtocolViolation", "envelope reserved bytes set")
    if kind == SUBSCRIBE:
        if seq != 0:
            raise WireError("ProtocolViolation", "SUBSCRIBE with a sequence number")
        if field > MAX_PREFIXES:
            raise WireError("ProtocolViolation", f"{field} prefixes")
        prefixes, at = [], 0
        for _ in range(field):
            if at + 2 > len(body):
                raise WireError("ProtocolViolation", "SUBSCRIBE cut inside a prefix length")
            (n,) = struct.unpack_from("<H", body, at)
            if n > MAX_TOPIC:
                raise WireError("ProtocolViolation", f"prefix of {n} bytes")
            if at + 2 + n > len(body):
                raise WireError("ProtocolViolation", "SUBSCRIBE cut inside a prefix")
            prefixes.append(body[at + 2 : at + 2 + n])
            at += 2 + n
        if at != len(body):
            raise WireError("ProtocolViolation", "bytes after the last prefix")
        return PubSub(kind, 0, prefixes=prefixes)
    if kind == SUBSCRIBED:
        if field != 0 or body:
            raise WireError("ProtocolViolation", "SUBSCRIBED with a topic length or a body")
        return PubSub(kind, seq)
    if field > MAX_TOPIC or field > len(body):
        raise WireError("ProtocolViolation", f"topic length {field} in a {len(body)}-byte body")
    return PubSub(kind, seq, topic=body[:field], payload=body[field:])


class Subscription:
    """§17.4 subscriber over a channel whose hellos both carried CAP_PUBSUB."""

    def __init__(self, channel: Channel, prefixes: list[bytes]):
        self.channel = channel
        self.prefixes = prefixes
        channel.send(encode_subscribe(prefixes))
        first = self._decode(channel.recv())
        if first.kind != SUBSCRIBED:
            raise channel._violation(WireError("ProtocolViolation", "MESSAGE before SUBSCRIBED"))
        self.next_seq = first.seq
        self.dropped = 0

    def _decode(self, message: bytes) -> PubSub:
        try:
            return decode_pubsub(message, "subscriber")
        except WireError as e:
            raise self.channel._violation(e) from None

    def recv(self) -> tuple[int, int, bytes, bytes]:
        """(seq, dropped before it, topic, payload) of the next MESSAGE."""
        m = self._decode(self.channel.recv())
        if m.kind != MESSAGE:
            raise self.channel._violation(WireError("ProtocolViolation", "a second SUBSCRIBED"))
        if m.seq < self.next_seq:
            raise self.channel._violation(WireError("ProtocolViolation", f"sequence {m.seq} < {self.next_seq}"))
        if self.prefixes and not any(m.topic.startswith(p) for p in self.prefixes):
            raise self.channel._violation(WireError("ProtocolViolation", f"topic {m.topic!r} not subscribed"))
        dropped = m.seq - self.next_seq
        self.dropped += dropped
        self.next_seq = m.seq + 1
        return m.seq, dropped, m.topic, m.payload


def subscribe(endpoint: str, prefixes: list[bytes] = (), max_message_size: int = DEFAULT_MAX_MESSAGE) -> Subscription:
    """§17.1: offer CAP_PUBSUB; a publisher hello without it is ProtocolMismatch (we close)."""
    ch = client_handshake(connect_socket(endpoint), max_message_size, capabilities=CAP_PUBSUB)
    if not ch.peer.capabilities & CAP_PUBSUB:
        ch.sock.close()
        raise WireError("ProtocolMismatch", "the server does not offer CAP_PUBSUB")
    return Subscription(ch, list(prefixes))
