#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ (run from anywhere;
the files are committed, so run it again only to change the seeds). The decoders' seeds come
from the wire vectors in tests/vectors/ (each target's input layout is described at the top of
its fuzz_targets/<target>.rs); the targets with structured inputs get fixed pseudo-random bytes
(their input is decoded by `arbitrary`, for which any bytes are valid)."""

import hashlib
import json
import random
import struct
from pathlib import Path

root = Path(__file__).resolve().parent
vectors = root.parent / "tests" / "vectors"


def write(target, seeds):
    d = root / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.iterdir():
        old.unlink()
    for s in seeds:
        (d / hashlib.sha1(s).hexdigest()).write_bytes(s)


def vecs(kind):
    return json.loads((vectors / f"{kind}.json").read_text())["vectors"]


endpoints = [
    "unix:///run/app.sock", "unix:///tmp/x", "unix:@name", "unix:@a.b-c_d", "tcp://127.0.0.1:7000",
    "tcp://[::1]:7000", "tcp://localhost:0", "tcp://host.example:65535", "shm://demo", "pipe://demo",
    "fifo:///run/app.fifo", "fifo://demo", "demo", "a", "A1._-z", "x" * 64, "x" * 65, "", "unix://rel",
    "unix:///", "unix:@", "tcp://host", "tcp://[::1]", "tcp://h:65536", "http://x", "shm://",
    "fifo:///dir/", "-bad", "name with space", "unix:///" + "p" * 120, "fifo:///" + "f" * 200,
    "tcp://[fe80::1%eth0]:1", "ünicode",
    # Found by this target: brackets around a host that is not an IPv6 address.
    "tcp://[fe//////exxy!xi0]:1",
]
write("endpoint", [e.encode() for e in endpoints] + [b"\xff\xfeunix:///a", b"demo\x00x"])

frames = []
for v in vecs("frames"):
    limit = min(v.get("max_message_size", 1 << 24), 1 << 20)
    frames.append(struct.pack("<IB", limit, 3) + bytes.fromhex(v["hex"]))
write("frame_decode", frames)

setup = struct.pack("<IBBH", 24, 4, 0, 0) + struct.pack("<QQII", 12288 + 2 * 65536, 65536, 1, 0)
write("setup_decode", [
    setup,
    setup[:28] + struct.pack("<I", 1),
    setup[:28] + struct.pack("<I", 2),
    setup[:4] + b"\x01" + setup[5:],
    struct.pack("<IBBH", 23, 4, 0, 0) + setup[8:],
    setup[:8] + struct.pack("<QQII", 1 << 63, 1 << 30, 2, 0),
    setup[:20],
])

hs = []
client_hello = next(bytes.fromhex(v["hex"]) for v in vecs("hello") if v["name"] == "v1-client")
data = bytes.fromhex("050000000100000068656c6c6f")
close = bytes.fromhex("0000000002000000")
for v in vecs("hello"):
    h = bytes.fromhex(v["hex"])
    hs += [b"\x00" + h, b"\x01" + h]
hs += [b"\x00" + client_hello + data + close, b"\x01" + client_hello + data + data[:9]]
write("handshake", hs)

write("rpc_envelope", [bytes.fromhex(v["hex"]) for v in vecs("rpc")])
write("pubsub_envelope", [bytes.fromhex(v["hex"]) for v in vecs("pubsub")])

rng = random.Random(15)
for target in ["frame_roundtrip", "shm_ring", "c_abi"]:
    write(target, [bytes(rng.randrange(256) for _ in range(rng.choice([8, 32, 128, 512])))
                   for _ in range(24)])
