#!/usr/bin/env python3
"""The interop matrix: every client language x server language x transport x case.

    python3 tests/interop/run.py --peers PEERS.json [--clients rust,c,...] [--servers ...]
            [--transports unix,tcp,shm,fifo] [--cases ...] [--jobs N] [--out DIR]

PEERS.json maps each language to the argv prefix that starts its peer (the contract in
tests/interop/README.md), or to null when that language was skipped on purpose (the reason is in
"skipped": {"kotlin": "LIBIPC_SKIP_KOTLIN=1"}). Prints a table of pass, fail and unsupported
per transport, writes DIR/interop.md and DIR/interop.json, and exits 1 when any cell failed or
was unsupported without being listed in EXPECTED_UNSUPPORTED. Standard library only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LANGUAGES = ["rust", "c", "python", "node", "kotlin", "swift"]
TRANSPORTS = ["unix", "tcp", "shm", "fifo"]
CASES = [
    "empty",
    "one-byte",
    "all-bytes",
    "non-utf8",
    "64k",
    "1m",
    "max-size",
    "over-max",
    "random-10k",
    "server-close",
    "server-killed",
]
# Request/reply cases (wire 1.1): against each language's `rpc-server`.
RPC_CASES = ["rpc-echo", "rpc-error", "rpc-many", "rpc-plain-refused"]
CASES += RPC_CASES
# The languages whose binding offers a request/reply client, and a server; the others'
# request/reply cells are reported as unsupported, as the contract allows for now (issue 17
# brings them).
RPC_CLIENTS = {"rust", "c", "python", "node", "kotlin", "swift"}
RPC_SERVERS = {"rust", "c", "python", "node", "kotlin", "swift"}
# Publish/subscribe cases (wire 1.2): subscribers against each language's `publisher`.
PUBSUB_CASES = ["sub-all", "sub-topic", "sub-plain-refused"]
CASES += PUBSUB_CASES
PUBSUB_CLIENTS = {"rust", "c", "python", "node", "kotlin", "swift"}
PUBSUB_SERVERS = {"rust", "c", "python", "node", "kotlin", "swift"}
# Cases that need a server of their own (they end it).
OWN_SERVER_CASES = {"server-killed"}
# Every server runs with this limit (tests/interop/README.md: max-size sends 2 MiB).
SERVER_MAX_MESSAGE = 2 * 1024 * 1024
# (client, server, transport, case) -> reason, for cells the contract allows to be unsupported.
# Every channel cell must be supported today; request/reply cells where a language without
# request/reply is the client or the server are allowed (expected_unsupported below).
EXPECTED_UNSUPPORTED: dict[tuple[str, str, str, str], str] = {}


def expected_unsupported(cell: Cell) -> str | None:
    """Why the contract allows `cell` to be unsupported, or None."""
    key = (cell.client, cell.server, cell.transport, cell.case)
    if key in EXPECTED_UNSUPPORTED:
        return EXPECTED_UNSUPPORTED[key]
    if cell.case in PUBSUB_CASES:
        if cell.server not in PUBSUB_SERVERS:
            return f"no publisher in the {cell.server} peer yet"
        return None
    if cell.case in RPC_CASES:
        why = []
        if cell.client not in RPC_CLIENTS:
            why.append(f"no request/reply client in {cell.client} yet")
        if cell.server not in RPC_SERVERS:
            why.append(f"no request/reply server in {cell.server} yet")
        if why:
            return "; ".join(why)
    return None

# Watchdogs against hangs (never asserted as speed): a server's READY line, one client run.
READY_TIMEOUT = 120.0
CLIENT_TIMEOUT = 300.0
EXIT_TIMEOUT = 20.0


@dataclass
class Cell:
    client: str
    server: str
    transport: str
    case: str
    result: str = "fail"  # pass | fail | unsupported
    detail: str = ""


@dataclass
class Server:
    lang: str
    transport: str
    name: str
    command: str = "server"  # or "rpc-server", "publisher"
    proc: subprocess.Popen[bytes] | None = None
    endpoint: str | None = None
    error: str | None = None
    log: Path | None = None


def endpoint_for(transport: str, name: str, rtdir: Path) -> str:
    if transport == "unix":
        return f"unix://{rtdir}/{name}.sock"
    if transport == "tcp":
        return "tcp://127.0.0.1:0"
    if transport == "shm":
        return f"shm://{name}"
    if transport == "fifo":
        return f"fifo://{name}"
    raise ValueError(transport)


def tail(path: Path | None, lines: int = 6) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def read_line(stream: IO[bytes], timeout: float) -> str | None:
    """The next line of stream, or None at end-of-file or when timeout passes."""
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive() or not box or not box[0]:
        return None
    return box[0].decode(errors="replace").strip()


class Runner:
    def __init__(self, args: argparse.Namespace, peers: dict[str, list[str]]) -> None:
        self.args = args
        self.peers = peers
        self.out: Path = args.out
        self.rtdir = self.out / "rt"
        self.logs = self.out / "logs"
        self.env = dict(os.environ, LIBIPC_RUNTIME_DIR=str(self.rtdir))
        self.print_lock = threading.Lock()
        self.problems: list[str] = []  # failures not tied to one cell (a server that crashed)
        self.elapsed = 0.0

    def say(self, text: str) -> None:
        with self.print_lock:
            print(text, flush=True)

    def start_peer(self, argv: list[str], stdin: int, stderr: IO[bytes]) -> subprocess.Popen[bytes]:
        """A peer process with the run's environment, its stdout a pipe, in a session of its own
        (so that kill_group ends it and whatever it started)."""
        return subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=self.env,
            start_new_session=True,
        )

    def start_server(self, server: Server) -> None:
        argv = self.peers[server.lang] + [
            server.command,
            "--endpoint",
            endpoint_for(server.transport, server.name, self.rtdir),
            "--max-message",
            str(SERVER_MAX_MESSAGE),
        ]
        server.log = self.logs / f"server-{server.name}.log"
        with open(server.log, "wb") as log:
            server.proc = self.start_peer(argv, subprocess.PIPE, log)
        assert server.proc.stdout is not None
        line = read_line(server.proc.stdout, READY_TIMEOUT)
        if line is None or not line.startswith("READY "):
            server.error = f"no READY line (got {line!r}); stderr: {tail(server.log)}"
            kill_group(server.proc)
            return
        server.endpoint = line[len("READY ") :]

    def stop_server(self, server: Server) -> None:
        """Close its stdin (the contract's stop) and check it exits 0."""
        proc = server.proc
        if proc is None or server.error:
            return  # never started (its cells say why)
        try:
            assert proc.stdin is not None
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            rc = proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            self.problems.append(
                f"{server.lang} server ({server.transport}) did not exit when its stdin closed"
            )
            return
        if rc != 0:
            self.problems.append(
                f"{server.lang} server ({server.transport}) exited with status {rc}: "
                f"{tail(server.log)}"
            )

    def run_client(
        self, client: str, server: Server, cases: list[str], tag: str
    ) -> list[Cell]:
        cells = {c: Cell(client, server.lang, server.transport, c) for c in cases}
        if server.endpoint is None:
            for cell in cells.values():
                cell.detail = f"{server.lang} server did not start: {server.error}"
            return list(cells.values())
        argv = self.peers[client] + [
            "client",
            "--endpoint",
            server.endpoint,
            "--case",
            ",".join(cases),
        ]
        log = self.logs / f"client-{tag}.log"
        with open(log, "wb") as err:
            proc = self.start_peer(argv, subprocess.DEVNULL, err)
            try:
                out, _ = proc.communicate(timeout=CLIENT_TIMEOUT)
                timed_out = False
            except subprocess.TimeoutExpired:
                kill_group(proc)
                out, _ = proc.communicate()
                timed_out = True
        seen: set[str] = set()
        for line in out.decode(errors="replace").splitlines():
            word, _, rest = line.partition(" ")
            name, _, reason = rest.partition(" ")
            if word not in ("PASS", "FAIL", "UNSUPPORTED") or name not in cells:
                continue
            seen.add(name)
            cell = cells[name]
            cell.result = {"PASS": "pass", "FAIL": "fail", "UNSUPPORTED": "unsupported"}[word]
            cell.detail = reason
        rc = proc.returncode
        for name, cell in cells.items():
            if name not in seen:
                cell.result = "fail"
                cell.detail = (
                    f"watchdog: no result within {CLIENT_TIMEOUT:.0f} s"
                    if timed_out
                    else f"no result line (client exit status {rc}); stderr: {tail(log)}"
                )
        results = [c.result for c in cells.values()]
        want = 1 if "fail" in results else 127 if "unsupported" in results else 0
        if not timed_out and seen == set(cells) and rc != want:
            for cell in cells.values():
                if cell.result == "pass":
                    cell.result = "fail"
                    cell.detail = f"client exit status {rc}, the contract says {want}"
        return list(cells.values())

    def own_server_job(self, client: str, srv: str, transport: str, case: str) -> list[Cell]:
        name = f"k-{client}-{srv}-{transport}"
        server = Server(srv, transport, name)
        self.start_server(server)
        cells = self.run_client(client, server, [case], f"{name}-{case}")
        if server.proc is not None and server.endpoint is not None:
            try:
                rc = server.proc.wait(EXIT_TIMEOUT)
                if rc == 0:
                    for cell in cells:
                        if cell.result == "pass":
                            cell.result = "fail"
                            cell.detail = "the server exited 0: it was not killed"
            except subprocess.TimeoutExpired:
                kill_group(server.proc)
                for cell in cells:
                    if cell.result == "pass":
                        cell.result = "fail"
                        cell.detail = "the server was still running after interop:kill"
        return cells

    def run(self) -> list[Cell]:
        if self.out.exists():
            shutil.rmtree(self.out)
        self.rtdir.mkdir(parents=True, mode=0o700)
        self.rtdir.chmod(0o700)
        self.logs.mkdir()
        a = self.args
        shared_cases = [
            c for c in a.cases if c not in OWN_SERVER_CASES and c not in RPC_CASES and c not in PUBSUB_CASES
        ]
        own_cases = [c for c in a.cases if c in OWN_SERVER_CASES]
        rpc_cases = [c for c in a.cases if c in RPC_CASES]
        pubsub_cases = [c for c in a.cases if c in PUBSUB_CASES]
        servers = {
            (s, t): Server(s, t, f"s-{s}-{t}") for s in a.servers for t in a.transports
        }
        rpc_servers = {
            (s, t): Server(s, t, f"r-{s}-{t}", "rpc-server")
            for s in a.servers
            if s in RPC_SERVERS and rpc_cases
            for t in a.transports
        }
        publishers = {
            (s, t): Server(s, t, f"p-{s}-{t}", "publisher")
            for s in a.servers
            if s in PUBSUB_SERVERS and pubsub_cases
            for t in a.transports
        }
        every_server = [*servers.values(), *rpc_servers.values(), *publishers.values()]
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
            list(pool.map(self.start_server, every_server))
            for server in every_server:
                if server.error:
                    self.say(f"  {server.lang} server on {server.transport}: {server.error}")
            # The slowest peers to start (the JVM, the chroot) first, for an even finish.
            slow = {"kotlin": 0, "swift": 1}
            jobs = []
            for client in sorted(a.clients, key=lambda lang: slow.get(lang, 9)):
                for (srv, transport), server in servers.items():
                    if shared_cases:
                        jobs.append(
                            pool.submit(
                                self.run_client,
                                client,
                                server,
                                shared_cases,
                                f"{client}-{srv}-{transport}",
                            )
                        )
                    for case in own_cases:
                        jobs.append(
                            pool.submit(self.own_server_job, client, srv, transport, case)
                        )
                    if rpc_cases and (srv, transport) in rpc_servers:
                        jobs.append(
                            pool.submit(
                                self.run_client,
                                client,
                                rpc_servers[(srv, transport)],
                                rpc_cases,
                                f"{client}-{srv}-{transport}-rpc",
                            )
                        )
                    if pubsub_cases and (srv, transport) in publishers:
                        jobs.append(
                            pool.submit(
                                self.run_client,
                                client,
                                publishers[(srv, transport)],
                                pubsub_cases,
                                f"{client}-{srv}-{transport}-pubsub",
                            )
                        )
            cells: list[Cell] = []
            # Servers without request/reply: their cells are unsupported (counted, with why).
            for client in a.clients:
                for srv in a.servers:
                    if srv in RPC_SERVERS:
                        continue
                    for transport in a.transports:
                        for case in rpc_cases:
                            cells.append(
                                Cell(client, srv, transport, case, "unsupported", "no rpc-server")
                            )
            # Servers without a publisher: their cells are unsupported (counted, with why).
            for client in a.clients:
                for srv in a.servers:
                    if srv in PUBSUB_SERVERS:
                        continue
                    for transport in a.transports:
                        for case in pubsub_cases:
                            cells.append(
                                Cell(client, srv, transport, case, "unsupported", "no publisher")
                            )
            for done, job in enumerate(concurrent.futures.as_completed(jobs), 1):
                batch = job.result()
                cells.extend(batch)
                bad = [c for c in batch if c.result != "pass"]
                first = batch[0]
                self.say(
                    f"  [{done}/{len(jobs)}] {first.client} -> {first.server} over "
                    f"{first.transport}"
                    + (f" ({first.case}, a server of its own)" if len(batch) == 1 else "")
                    + f": {len(batch) - len(bad)}/{len(batch)} pass"
                    + "".join(f"\n      {c.result.upper()} {c.case}: {c.detail}" for c in bad)
                )
        for server in every_server:
            self.stop_server(server)
        self.elapsed = time.monotonic() - started
        return cells


def verdict(cell: Cell) -> str:
    """pass, fail, unsupported (counts as a failure) or expected-unsupported."""
    if cell.result == "unsupported":
        return "expected-unsupported" if expected_unsupported(cell) else "unsupported"
    return cell.result


def grid(cells: list[Cell], transport: str, clients: list[str], servers: list[str]) -> list[list[str]]:
    rows = [["client \\ server"] + servers]
    for client in clients:
        row = [client]
        for srv in servers:
            mine = [c for c in cells if (c.client, c.server, c.transport) == (client, srv, transport)]
            passed = sum(verdict(c) == "pass" for c in mine)
            text = f"{passed}/{len(mine)}"
            if any(verdict(c) in ("fail", "unsupported") for c in mine):
                text += " FAIL"
            row.append(text)
        rows.append(row)
    return rows


def plain_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", type=Path, required=True)
    ap.add_argument("--clients", default=",".join(LANGUAGES))
    ap.add_argument("--servers", default=",".join(LANGUAGES))
    ap.add_argument("--transports", default=",".join(TRANSPORTS))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--jobs", type=int, default=max(2, (os.cpu_count() or 2) * 2))
    ap.add_argument("--out", type=Path, default=Path("target/interop/matrix"))
    args = ap.parse_args()
    args.out = args.out.resolve()

    spec = json.loads(args.peers.read_text())
    skipped: dict[str, str] = spec.get("skipped", {})
    peers: dict[str, list[str]] = {k: v for k, v in spec["peers"].items() if v}
    for name in ("clients", "servers", "transports", "cases"):
        values = [v for v in getattr(args, name).split(",") if v]
        known = {"clients": LANGUAGES, "servers": LANGUAGES, "transports": TRANSPORTS, "cases": CASES}[name]
        for v in values:
            if v not in known:
                ap.error(f"unknown {name[:-1]} {v!r} (known: {', '.join(known)})")
        setattr(args, name, values)
    for name in ("clients", "servers"):
        langs = []
        for lang in getattr(args, name):
            if lang in peers:
                langs.append(lang)
            elif lang in skipped:
                print(f"run.py: NOTE: {lang} is SKIPPED as a {name[:-1]} ({skipped[lang]})")
            else:
                ap.error(f"{lang}: no peer command in {args.peers} and not marked skipped")
        setattr(args, name, langs)

    total = len(args.clients) * len(args.servers) * len(args.transports) * len(args.cases)
    print(
        f"interop matrix: {len(args.clients)} clients x {len(args.servers)} servers x "
        f"{len(args.transports)} transports x {len(args.cases)} cases = {total} cells, "
        f"{args.jobs} at a time",
        flush=True,
    )
    runner = Runner(args, peers)
    cells = runner.run()

    counts = {v: 0 for v in ("pass", "fail", "unsupported", "expected-unsupported")}
    for cell in cells:
        counts[verdict(cell)] += 1
    summary = (
        f"{counts['pass']} pass, {counts['fail']} fail, {counts['unsupported']} unsupported, "
        f"{counts['expected-unsupported']} unsupported as the contract allows; "
        f"{len(cells)} cells in {runner.elapsed:.0f} s"
    )
    md = [
        "# Interop matrix",
        "",
        f"Cases: {', '.join(args.cases)}. Each cell: cases passed / cases run.",
        "",
    ]
    text = []
    for transport in args.transports:
        rows = grid(cells, transport, args.clients, args.servers)
        text += [f"\n{transport}:", plain_table(rows)]
        md += [f"## {transport}", "", markdown_table(rows), ""]
    bad = sorted(
        (c for c in cells if verdict(c) not in ("pass", "expected-unsupported")),
        key=lambda c: (c.client, c.server, c.transport, CASES.index(c.case)),
    )
    allowed: dict[str, int] = {}
    for c in cells:
        if verdict(c) == "expected-unsupported":
            why = expected_unsupported(c) or ""
            allowed[why] = allowed.get(why, 0) + 1
    if allowed:
        text.append("\nunsupported as the contract allows:")
        md += ["## Unsupported as the contract allows", ""]
        for why, n in sorted(allowed.items()):
            text.append(f"  {n} cells: {why}")
            md.append(f"- {n} cells: {why}")
        md.append("")
    if bad or runner.problems:
        text.append("\nnot passed:")
        md += ["## Not passed", ""]
        for c in bad:
            line = f"{c.client} -> {c.server} over {c.transport}, {c.case}: {verdict(c)}: {c.detail}"
            text.append("  " + line)
            md.append(f"- {line}")
        for p in runner.problems:
            text.append("  " + p)
            md.append(f"- {p}")
        md.append("")
    if skipped:
        md += ["Skipped languages: " + ", ".join(f"{k} ({v})" for k, v in skipped.items()), ""]
    md += [summary, ""]
    print("\n".join(text))
    print(f"\n{summary}")
    (args.out / "interop.md").write_text("\n".join(md))
    (args.out / "interop.json").write_text(
        json.dumps(
            {
                "clients": args.clients,
                "servers": args.servers,
                "transports": args.transports,
                "cases": args.cases,
                "skipped": skipped,
                "counts": counts,
                "problems": runner.problems,
                "seconds": round(runner.elapsed, 1),
                "cells": [c.__dict__ for c in cells],
            },
            indent=1,
        )
    )
    print(f"written: {args.out / 'interop.md'}, {args.out / 'interop.json'}")
    failed = counts["fail"] + counts["unsupported"] + len(runner.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
