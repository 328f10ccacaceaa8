#!/usr/bin/env node
// libipc against Node's own `net` over a Unix socket, both from Node.
//
//   node bindings/node/bench.mjs [--quick] [--load[=N]] [--sizes 64,4096,65536] [--json FILE]
//
// Systems: libipc unix://, libipc shm://, and `net` over a Unix socket with a 4-byte
// little-endian length prefix (one write of header + payload per message; the reader is a
// real framing parser: frames split across reads and several frames per read both work).
// Each system's peer is a separate Node process (this script run as `--peer`), started once
// and kept for the run; this process drives every measurement with the same two loops over
// the same small `Link` interface (`send` and `recv`, both awaited):
//
// - round trip: send a message, the peer sends it back, receive it; p50/p99 in microseconds
//   over every round trip measured (sorted samples);
// - one-way throughput: send N messages, the peer receives them all and answers once;
//   messages/s and MB/s (1 MB = 10^6 bytes) of payload.
//
// Method (the one `ipc bench` uses, cli/src/bench and bench/common): for each pattern and size,
// each system warms up in growing batches, which also calibrates how many iterations fit in
// the time budget; the budget is then spent in rounds, interleaved between the systems (A, B,
// C, then B, C, A, ...) so drift and scheduler placement hit every system alike. CPU time per
// message is the user + system time of both processes (all their threads) during the measured
// rounds, over the messages carried (a round trip carries two). "spread" is the largest
// per-round result over the smallest (1.00: every round agreed).
//
// --load starts N processes (default: CPUs + 1) that load the machine like a parallel build,
// during the measurements only: `ipc __bench-load`, the load `ipc bench --load` uses (random
// 1-5 ms CPU bursts between 0.1-2 ms sleeps), from $LIBIPC_IPC_BIN or <repo>/target/release/ipc
// when built; otherwise Node processes doing the same.
//
// Round trips depend heavily on whether the two processes share a CPU and on what else runs
// (on small VMs a cross-CPU wake-up alone costs tens of microseconds): compare rows of one run,
// and look at the spread columns. For steadier numbers, pin everything to one CPU:
// `taskset -c 0 node bench.mjs` (the peers and every thread inherit the affinity).
//
// Prints a markdown table on stdout (progress on stderr); the ratio columns divide each row by
// `net` at the same size. The issue's targets: libipc shm 64 B round-trip p50 <= 0.3x net,
// libipc unix <= 0.9x net. Not a test: numbers depend on the machine; nothing is asserted.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as ipc from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const now = () => performance.now() * 1000; // microseconds

// ---------------------------------------------------------------------------------------------
// Links: the same interface for every system

/** A libipc channel as a link. */
function ipcLink(ch) {
  return {
    send: (data) => ch.send(data),
    recv: () => ch.recv(),
    close: () => ch.close(),
  };
}

/**
 * A `net.Socket` carrying messages as a 4-byte little-endian length and the payload. `send`
 * writes header and payload in one write (one copy into a fresh frame, as a Node program
 * would) and waits for 'drain' only when the socket says to (backpressure). `recv` takes the
 * next whole message: reads are parsed as they come; a frame within one read is a view of
 * it (no copy), a frame spanning reads is assembled.
 */
function netLink(sock) {
  sock.setNoDelay?.(true);
  const ready = []; // whole messages not yet taken
  let waiter = null; // { resolve, reject } of a pending recv
  let failed = null;
  let chunks = []; // unparsed bytes, in order
  let have = 0;

  function deliver(msg) {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w.resolve(msg);
    } else {
      ready.push(msg);
    }
  }

  function take(n) {
    // n bytes off the front of `chunks` (a view when they are within the first chunk)
    if (n === 0) return Buffer.alloc(0);
    const first = chunks[0];
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) chunks.shift();
      else chunks[0] = first.subarray(n);
      have -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) chunks.shift();
      else chunks[0] = c.subarray(k);
    }
    have -= n;
    return out;
  }

  function peekLength() {
    const first = chunks[0];
    if (first.length >= 4) return first.readUInt32LE(0);
    const h = Buffer.allocUnsafe(4);
    let off = 0;
    for (const c of chunks) {
      const k = Math.min(c.length, 4 - off);
      c.copy(h, off, 0, k);
      off += k;
      if (off === 4) break;
    }
    return h.readUInt32LE(0);
  }

  sock.on('data', (chunk) => {
    chunks.push(chunk);
    have += chunk.length;
    while (have >= 4) {
      const len = peekLength();
      if (have < 4 + len) break;
      take(4);
      deliver(take(len));
    }
  });
  const fail = (e) => {
    if (failed) return;
    failed = e;
    if (waiter) {
      const w = waiter;
      waiter = null;
      w.reject(e);
    }
  };
  sock.on('error', fail);
  sock.on('close', () => fail(new Error('the net peer closed the connection')));

  return {
    send(data) {
      if (typeof data === 'string') data = Buffer.from(data); // the commands
      const frame = Buffer.allocUnsafe(4 + data.length);
      frame.writeUInt32LE(data.length, 0);
      frame.set(data, 4);
      if (sock.write(frame)) return undefined;
      return new Promise((resolve, reject) => {
        const drained = () => {
          sock.off('close', closed);
          resolve();
        };
        const closed = () => {
          sock.off('drain', drained);
          reject(failed ?? new Error('the net peer closed the connection'));
        };
        sock.once('drain', drained);
        sock.once('close', closed);
      });
    },
    recv() {
      if (ready.length) return Promise.resolve(ready.shift());
      if (failed) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    close() {
      return new Promise((resolve) => {
        if (sock.destroyed) return resolve();
        sock.once('close', resolve);
        sock.end();
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The peer process: obeys commands on its link ("echo N", "sink N", "cpu", "quit")

function cpuMicros() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function peerMain(kind, address) {
  let link;
  if (kind === 'libipc') {
    link = ipcLink(await ipc.connect(address, { connectTimeout: 30000, maxMessageSize: MAX_MESSAGE }));
  } else {
    const sock = net.connect(address);
    await new Promise((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    link = netLink(sock);
  }
  for (;;) {
    const [cmd, arg] = (await link.recv()).toString().split(' ');
    const n = Number(arg);
    if (cmd === 'echo') {
      for (let i = 0; i < n; i++) await link.send(await link.recv());
    } else if (cmd === 'sink') {
      for (let i = 0; i < n; i++) await link.recv();
      await link.send('ok');
    } else if (cmd === 'cpu') {
      await link.send(`cpu ${cpuMicros()}`);
    } else if (cmd === 'quit') {
      break;
    } else {
      throw new Error(`peer: unknown command ${JSON.stringify(cmd)}`);
    }
  }
  await link.close();
}

// ---------------------------------------------------------------------------------------------
// The load workers (--load)

/** Where `ipc` (the CLI, for `ipc __bench-load`) is, if built. */
function findIpcBin() {
  const candidates = [
    process.env.LIBIPC_IPC_BIN,
    process.env.CARGO_TARGET_DIR && path.join(process.env.CARGO_TARGET_DIR, 'release', 'ipc'),
    path.join(here, '..', '..', 'target', 'release', 'ipc'),
  ];
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

/** The Node twin of `ipc __bench-load`: CPU bursts of 1-5 ms between sleeps of 0.1-2 ms. */
function loadWorkerMain(parent) {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let x = 1;
  while (process.ppid === parent) {
    const end = performance.now() + 1 + Math.random() * 4;
    while (performance.now() < end) {
      for (let i = 0; i < 256; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
    }
    Atomics.wait(cell, 0, 0, 0.1 + Math.random() * 1.9);
  }
  return x;
}

function startLoad(n) {
  const bin = findIpcBin();
  const workers = [];
  for (let i = 0; i < n; i++) {
    const args = bin ? ['__bench-load', String(process.pid)] : [fileURLToPath(import.meta.url), '--load-worker', String(process.pid)];
    workers.push(spawn(bin ?? process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
  }
  const what = bin ? `${n} × \`${path.relative(process.cwd(), bin) || bin} __bench-load\`` : `${n} Node load workers`;
  return { workers, what };
}

function stopLoad(load) {
  for (const w of load?.workers ?? []) w.kill('SIGKILL');
}

// ---------------------------------------------------------------------------------------------
// Measuring

const BUDGETS = {
  // per measurement: warm-up, then `measure` ms spread over `rounds` interleaved rounds
  full: { warmup: 300, measure: 6000, rounds: 20, minPerRound: 20 },
  quick: { warmup: 100, measure: 900, rounds: 5, minPerRound: 10 },
};

const MAX_MESSAGE = 16 << 20;

async function roundTrips(link, payload, n, samples) {
  await link.send(`echo ${n}`);
  const start = now();
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await link.send(payload);
    const reply = await link.recv();
    const t = now() - t0;
    if (samples) samples.push(t);
    if (reply.length !== payload.length || ((i === 0 || i === n - 1) && !reply.equals(payload))) {
      throw new Error('the echo differs from what was sent');
    }
  }
  return now() - start;
}

async function oneWay(link, payload, n) {
  await link.send(`sink ${n}`);
  const start = now();
  for (let i = 0; i < n; i++) await link.send(payload);
  const ack = await link.recv();
  const took = now() - start;
  if (ack.toString() !== 'ok') throw new Error('the sink answered something else than "ok"');
  return took;
}

async function peerCpu(link) {
  await link.send('cpu');
  const answer = (await link.recv()).toString();
  if (!answer.startsWith('cpu ')) throw new Error('the peer\'s CPU answer was garbled');
  return Number(answer.slice(4));
}

/** One system's measurement of one pattern and size, warmed up and calibrated. */
class Trial {
  constructor(pattern, budget) {
    this.pattern = pattern;
    this.budget = budget;
    this.samples = [];
    this.roundResults = [];
    this.messages = 0;
    this.busy = 0;
    this.cpu = 0;
  }

  async start(link, payload) {
    // growing batches until the warm-up budget is spent; the last batch calibrates
    const run = (n) => (this.pattern === 'rtt' ? roundTrips(link, payload, n, null) : oneWay(link, payload, n));
    const end = now() + this.budget.warmup * 1000;
    let n = 4;
    let per = 0;
    for (;;) {
      const took = await run(n);
      per = took / n;
      if (now() >= end) break;
      n = Math.min(n * 2, Math.max(4, Math.ceil((end - now()) / Math.max(per, 0.01))));
    }
    const fit = Math.floor((this.budget.measure * 1000) / Math.max(per, 0.01) / this.budget.rounds);
    this.perRound = Math.max(fit, this.budget.minPerRound);
  }

  async round(link, payload) {
    const n = this.perRound;
    const peerBefore = await peerCpu(link);
    const before = cpuMicros();
    let took;
    if (this.pattern === 'rtt') {
      const samples = [];
      took = await roundTrips(link, payload, n, samples);
      for (const s of samples) this.samples.push(s);
      samples.sort((a, b) => a - b);
      this.roundResults.push(samples[Math.floor(samples.length / 2)]);
    } else {
      took = await oneWay(link, payload, n);
      this.roundResults.push(n / (took / 1e6));
    }
    const used = cpuMicros() - before;
    this.cpu += used + ((await peerCpu(link)) - peerBefore);
    this.busy += took;
    this.messages += n;
  }

  finish(size) {
    const spread = Math.max(...this.roundResults) / Math.min(...this.roundResults);
    const cpuPerMsg = this.cpu / (this.pattern === 'rtt' ? 2 * this.messages : this.messages);
    if (this.pattern === 'rtt') {
      const s = Float64Array.from(this.samples).sort();
      const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
      return { p50_us: q(0.5), p99_us: q(0.99), p999_us: q(0.999), samples: s.length, cpu_us_per_msg: cpuPerMsg, spread };
    }
    const msgsPerS = this.messages / (this.busy / 1e6);
    return { msgs_per_s: msgsPerS, mb_per_s: (msgsPerS * size) / 1e6, messages: this.messages, cpu_us_per_msg: cpuPerMsg, spread };
  }
}

// ---------------------------------------------------------------------------------------------
// The systems: a listener here, a peer process there

function startPeer(kind, address) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--peer', kind, address], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return child;
}

/** `promise`, or a rejection if the peer exits first. */
function unlessPeerDies(promise, peer, name) {
  const died = peer.exited.then((c) => {
    throw new Error(`the ${name} peer exited (${c}) before connecting`);
  });
  died.catch(() => {}); // once connected, its exit is no error
  return Promise.race([promise, died]);
}

async function libipcSystem(name, endpoint) {
  const listener = ipc.listen(endpoint, { maxMessageSize: MAX_MESSAGE });
  const peer = startPeer('libipc', listener.endpoint);
  const ch = await unlessPeerDies(listener.accept({ timeout: 60000 }), peer, name);
  listener.close();
  return { name, link: ipcLink(ch), peer };
}

async function netSystem(name, sockPath) {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, resolve);
  });
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  const peer = startPeer('net', sockPath);
  const sock = await unlessPeerDies(accepted, peer, name);
  server.close();
  return { name, link: netLink(sock), peer };
}

// ---------------------------------------------------------------------------------------------
// The run and the report

function fmtSize(n) {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n >> 20} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n >> 10} KiB`;
  return `${n} B`;
}

const int = (x) => Math.round(x).toLocaleString('en-US');
const fix = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

function parseArgs(argv) {
  const args = { quick: false, load: null, sizes: [64, 4096, 65536], json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--load') args.load = os.availableParallelism() + 1;
    else if (a.startsWith('--load=')) args.load = Number(a.slice(7));
    else if (a === '--sizes') args.sizes = argv[++i]?.split(',').map(parseSize);
    else if (a.startsWith('--sizes=')) args.sizes = a.slice(8).split(',').map(parseSize);
    else if (a === '--json') args.json = argv[++i];
    else if (a.startsWith('--json=')) args.json = a.slice(7);
    else if (a === '-h' || a === '--help') {
      console.log('usage: node bench.mjs [--quick] [--load[=N]] [--sizes 64,4k,64k] [--json FILE]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (args.load !== null && !(Number.isInteger(args.load) && args.load > 0)) throw new Error('--load=N needs a positive integer');
  if (!args.sizes?.length || args.sizes.some((s) => !(Number.isInteger(s) && s > 0 && s <= MAX_MESSAGE - 16))) {
    throw new Error('--sizes needs sizes in bytes between 1 and 16 MiB, comma-separated (k and m suffixes: KiB, MiB)');
  }
  if (args.json === undefined) throw new Error('--json needs a file name');
  return args;
}

function parseSize(text) {
  const m = /^(\d+)([kKmM]?)$/.exec(text.trim());
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]) ? 1024 : 1 << 20);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const budget = args.quick ? BUDGETS.quick : BUDGETS.full;
  const patterns = ['rtt', 'stream'];
  const names = ['libipc unix', 'libipc shm', 'net unix'];
  const total = args.sizes.length * patterns.length * names.length;
  const estimate = (total * (budget.warmup + budget.measure)) / 1000;
  const loadBefore = os.loadavg()[0];
  console.error(`bench: ${total} measurements, about ${Math.ceil(estimate * 1.1)} s`);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ipcbench-node-'));
  if (!process.env.LIBIPC_RUNTIME_DIR) process.env.LIBIPC_RUNTIME_DIR = path.join(tmp, 'run');
  const systems = [];
  let load = null;
  const results = [];
  const started = now();
  try {
    systems.push(await libipcSystem('libipc unix', `unix://${tmp}/libipc.sock`));
    systems.push(await libipcSystem('libipc shm', `shm://nodebench-${process.pid}`));
    systems.push(await netSystem('net unix', path.join(tmp, 'net.sock')));
    if (args.load) load = startLoad(args.load);
    let done = 0;
    for (const size of args.sizes) {
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i++) payload[i] = (i * 131 + 7) & 0xff;
      for (const pattern of patterns) {
        const trials = [];
        for (const sys of systems) {
          done += 1;
          console.error(`[${done}/${total}] ${sys.name} ${pattern} ${fmtSize(size)} ...`);
          const t = new Trial(pattern, budget);
          await t.start(sys.link, payload);
          trials.push(t);
        }
        for (let round = 0; round < budget.rounds; round++) {
          for (let k = 0; k < systems.length; k++) {
            const j = (round + k) % systems.length;
            await trials[j].round(systems[j].link, payload);
          }
        }
        systems.forEach((sys, j) => results.push({ system: sys.name, pattern, size, ...trials[j].finish(size) }));
      }
    }
  } finally {
    stopLoad(load);
    for (const sys of systems) {
      try {
        await sys.link.send('quit');
        await sys.link.close();
      } catch {
        // the peer is gone: its exit status says why
      }
    }
    for (const sys of systems) {
      const code = await sys.peer.exited;
      if (code !== 0) console.error(`bench: the ${sys.name} peer exited with ${code}`);
    }
    rmSync(tmp, { recursive: true, force: true });
  }
  const elapsed = (now() - started) / 1e6;

  const find = (system, pattern, size) => results.find((r) => r.system === system && r.pattern === pattern && r.size === size);
  let libipcVersion = '?';
  try {
    libipcVersion = JSON.parse(readFileSync(path.join(here, 'package.json'), 'utf8')).version;
  } catch {
    // only for the header
  }
  const lines = [];
  const out = (s = '') => lines.push(s);
  out(
    `Node ${process.version}, libipc ${libipcVersion} (Node binding), ${os.availableParallelism()} CPUs, ${os.arch()}, ` +
      `load average ${loadBefore.toFixed(2)} before the run; ${elapsed.toFixed(0)} s` +
      (args.quick ? ' (--quick: short budgets, not for comparison)' : ''),
  );
  out(load ? `Under load: ${load.what} (CPU bursts of 1-5 ms between sleeps of 0.1-2 ms).` : 'No added load (--load adds some).');
  out();
  out('| system | size | RT p50 (µs) | RT p99 (µs) | RT p50 / net | RT CPU µs/msg | RT spread | 1-way msgs/s | 1-way MB/s | msgs/s / net | 1-way CPU µs/msg | 1-way spread |');
  out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const size of args.sizes) {
    const rn = find('net unix', 'rtt', size);
    const sn = find('net unix', 'stream', size);
    for (const name of names) {
      const r = find(name, 'rtt', size);
      const s = find(name, 'stream', size);
      const isNet = name === 'net unix';
      out(
        `| ${name} | ${fmtSize(size)} | ${fix(r.p50_us)} | ${fix(r.p99_us)} | ${isNet ? '1' : `${fix(r.p50_us / rn.p50_us, 2)}x`} | ` +
          `${fix(r.cpu_us_per_msg)} | ${fix(r.spread, 2)} | ${int(s.msgs_per_s)} | ${fix(s.mb_per_s)} | ` +
          `${isNet ? '1' : `${fix(s.msgs_per_s / sn.msgs_per_s, 2)}x`} | ${fix(s.cpu_us_per_msg)} | ${fix(s.spread, 2)} |`,
      );
    }
  }
  out();
  out('RT: round trip (p50, p99 over every round trip measured). 1-way: one-way throughput (MB = 10^6 B).');
  out('CPU µs/msg: user + system time of both processes per message (a round trip is two). spread: largest');
  out('per-round result over the smallest (p50 or msgs/s; 1.00 = rounds agreed). Ratios: this row over net unix.');
  const rn64 = find('net unix', 'rtt', 64);
  if (rn64) {
    out();
    for (const [name, target] of [['libipc shm', 0.3], ['libipc unix', 0.9]]) {
      const ratio = find(name, 'rtt', 64).p50_us / rn64.p50_us;
      out(`- ${name} 64 B round-trip p50 = ${ratio.toFixed(3)}x net (${ratio <= target ? 'meets' : 'MISSES'} the target <= ${target}x)`);
    }
  }
  console.log(lines.join('\n'));
  if (args.json) {
    const doc = {
      node: process.version,
      libipc: libipcVersion,
      cpus: os.availableParallelism(),
      quick: args.quick,
      load: load ? { workers: args.load, what: load.what } : null,
      results,
    };
    writeFileSync(args.json, `${JSON.stringify(doc, null, 2)}\n`);
  }
}

// ---------------------------------------------------------------------------------------------

const [mode, ...rest] = process.argv.slice(2);
if (mode === '--peer') {
  await peerMain(rest[0], rest[1]);
} else if (mode === '--load-worker') {
  loadWorkerMain(Number(rest[0]));
} else {
  try {
    await main();
  } catch (e) {
    console.error(`bench: ${e.code ? `${e.code}: ` : ''}${e.message}`);
    process.exitCode = 1;
  }
}
