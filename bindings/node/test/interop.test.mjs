// Node with Rust, Python and C, in separate processes, over unix://, tcp:// and shm://
// (issue 12, "Tests"). The foreign processes are each language's peer of the interop contract
// (tests/interop/README.md: `server` and `client`), the one vocabulary every language's tests
// use: both directions (a Node client with a foreign contract server; a foreign client running
// the contract's cases against a Node listener that serves the contract), 100,000 checksummed
// messages of random sizes through a Rust server, 10,000 through the Python and C ones, and a
// foreign peer killed (SIGKILL: the server's own on interop:kill, or the test's) while Node has
// a pending recv or a send held up by backpressure: the promise rejects with
// IPC_PEER_DISCONNECTED and never hangs. The Rust peer's `stream` mode, particular to it, also
// checks Node's messages in its own stream format (edge sizes 0 B .. 1 MiB, and a 1 MiB
// message that cannot be written at once, with no further call on the Node side) and streams
// 20,000 messages one way into a Node listener.
//
// The foreign peers come from the environment, which scripts/node-tests.sh sets up:
//   LIBIPC_RUST_PEER   the tests crate's ipc-test-peer (tests/src/bin/peer.rs)
//   LIBIPC_PYTHON      a Python with the libipc package installed (<target>/python-venv)
//   LIBIPC_PY_HELPER   bindings/python/tests/helper.py
//   LIBIPC_C_PEER      tests/c/peer.c, built against the installed C library
// A test whose peer is not configured FAILS and says to run scripts/node-tests.sh;
// LIBIPC_SKIP_INTEROP=1 skips every test of this file instead (an explicit opt-out).
//
// Every test has a watchdog ({ timeout }); children get an explicit environment (only
// LIBIPC_RUNTIME_DIR, a private directory) and are killed when the file ends; sockets live
// in a temporary directory. Nothing here asserts how long anything takes.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep, setImmediate as nextTurn } from 'node:timers/promises';
import zlib from 'node:zlib';

import * as ipc from '../lib.mjs';

// ---------------------------------------------------------------------------------------------
// Configuration: the foreign peers, or a loud failure. Each speaks the interop contract
// (tests/interop/README.md): `PEER server --endpoint E` prints `READY <endpoint>`, echoes every
// client (`interop:close` closes that channel, `interop:kill` SIGKILLs the server) and exits 0
// when its stdin closes; `PEER client --endpoint E --case A,B,…` runs those cases on a new
// channel each, prints `PASS <case>` for each and exits 0 when all passed.

const SKIP = process.env.LIBIPC_SKIP_INTEROP === '1';
const RUST = process.env.LIBIPC_RUST_PEER;
const PYTHON = process.env.LIBIPC_PYTHON;
const PY_HELPER = process.env.LIBIPC_PY_HELPER;
const C_PEER = process.env.LIBIPC_C_PEER;

const LANGS = {
  rust: { vars: { LIBIPC_RUST_PEER: RUST }, peer: () => [RUST, []] },
  python: { vars: { LIBIPC_PYTHON: PYTHON, LIBIPC_PY_HELPER: PY_HELPER }, peer: () => [PYTHON, ['-u', PY_HELPER]] },
  c: { vars: { LIBIPC_C_PEER: C_PEER }, peer: () => [C_PEER, []] },
};
const TRANSPORTS = ['unix', 'tcp', 'shm'];

/** The contract's `server` of `lang`, listening at `ep`. */
function serverCommand(lang, ep) {
  const [cmd, args] = LANGS[lang].peer();
  return [cmd, [...args, 'server', '--endpoint', ep]];
}

/** The contract's `client` of `lang`, running `cases` against `ep`. */
function clientCommand(lang, ep, cases) {
  const [cmd, args] = LANGS[lang].peer();
  return [cmd, [...args, 'client', '--endpoint', ep, '--case', cases.join(',')]];
}

const INTEROP_CLOSE = Buffer.from('interop:close');
const INTEROP_KILL = Buffer.from('interop:kill');

/** True when the test may run; skips it (LIBIPC_SKIP_INTEROP=1) or throws when a peer is
 * not configured. */
function need(t, ...langs) {
  if (SKIP) {
    t.skip('LIBIPC_SKIP_INTEROP=1: the cross-language tests are skipped (run ./scripts/node-tests.sh to run them)');
    return false;
  }
  const missing = langs.flatMap((l) =>
    Object.entries(LANGS[l].vars).filter(([, v]) => !v).map(([k]) => k),
  );
  if (missing.length > 0) {
    throw new Error(
      `${missing.join(', ')} not set: the cross-language tests need the foreign peers, which ` +
        './scripts/node-tests.sh builds and passes in (run it from the repository root); ' +
        'LIBIPC_SKIP_INTEROP=1 skips these tests explicitly',
    );
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Temporary directory, endpoints, child processes.

const tmp = mkdtempSync(path.join(tmpdir(), 'libipc-node-interop-'));
const runDir = path.join(tmp, 'run');
mkdirSync(runDir, { mode: 0o700 });
// shm:// names (and bare names) resolve in the runtime directory, in this process and in
// the children alike: ours, not whatever the environment says.
process.env.LIBIPC_RUNTIME_DIR = runDir;
const childEnv = { LIBIPC_RUNTIME_DIR: runDir };

const children = new Set();
const opened = new Set(); // channels and listeners, closed at the end whatever happened

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  // A test that failed or timed out may leave a pending call, which keeps the process alive
  // until its channel or listener is closed.
  await Promise.all(
    [...opened].map((h) => (h instanceof ipc.Listener ? h.close() : h.close().catch(() => {}))),
  );
  rmSync(tmp, { recursive: true, force: true });
});

const keep = (h) => {
  opened.add(h);
  return h;
};
const connect = async (ep, options) => keep(await ipc.connect(ep, options));
const listen = (ep, options) => keep(ipc.listen(ep, options));
const accept = async (listener) => keep(await listener.accept());

let counter = 0;
/** A fresh endpoint to listen at over `transport`. */
function endpoint(transport) {
  const n = `${process.pid}-${++counter}`;
  switch (transport) {
    case 'unix':
      return `unix://${path.join(tmp, `s${n}.sock`)}`;
    case 'tcp':
      return 'tcp://127.0.0.1:0';
    case 'shm':
      return `shm://node-${n}`;
    default:
      throw new Error(`unknown transport ${transport}`);
  }
}

/** Start a peer process; its stdout lines are collected for `line()`. */
function start([cmd, args], label) {
  const child = spawn(cmd, args, { env: childEnv, cwd: tmp, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  const lines = [];
  const waiters = [];
  let stderr = '';
  let ended = null;
  const describe = () =>
    `${label} (${cmd} ${args.join(' ')})\n  stdout: ${JSON.stringify(lines)}\n  stderr: ${stderr.trim()}`;
  child.stderr.setEncoding('utf8').on('data', (s) => {
    stderr += s;
  });
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    for (const w of [...waiters]) w.check();
  });
  child.exited = new Promise((resolve) => {
    const done = (code, signal, error) => {
      if (ended) return;
      ended = { code, signal, error };
      children.delete(child);
      // Let readline deliver the last lines before failing the waiters.
      setImmediate(() => {
        for (const w of [...waiters]) w.fail();
        resolve(ended);
      });
    };
    child.on('exit', (code, signal) => done(code, signal, null));
    child.on('error', (e) => done(null, null, e));
  });
  /** The first stdout line matching `re` (its match), once it is there. */
  child.line = (re) =>
    new Promise((resolve, reject) => {
      const w = {
        check() {
          for (const l of lines) {
            const m = l.match(re);
            if (m) {
              waiters.splice(waiters.indexOf(w), 1);
              resolve(m);
              return true;
            }
          }
          return false;
        },
        fail() {
          waiters.splice(waiters.indexOf(w), 1);
          const why = ended.error ? `could not start: ${ended.error.message}` : `exited (${ended.signal ?? ended.code})`;
          reject(new Error(`${why} before printing a line matching ${re}: ${describe()}`));
        },
      };
      waiters.push(w);
      if (!w.check() && ended) w.fail();
    });
  child.describe = describe;
  child.lines = lines;
  return child;
}

/** Wait for the child to exit; it must exit with status 0. */
async function exitsCleanly(child) {
  const { code, signal, error } = await child.exited;
  assert.ok(!error && code === 0, `expected exit status 0, got ${error?.message ?? signal ?? code}: ${child.describe()}`);
}

async function killed(child) {
  child.kill('SIGKILL');
  const { signal } = await child.exited;
  assert.equal(signal, 'SIGKILL', child.describe());
}

/** The state of a promise, without waiting for it (after one turn of the event loop). */
function track(p) {
  const s = { state: 'pending', value: undefined };
  p.then(
    (v) => Object.assign(s, { state: 'resolved', value: v }),
    (e) => Object.assign(s, { state: 'rejected', value: e }),
  );
  return s;
}

/** The foreign contract server's endpoint, from its `READY <endpoint>` line. */
async function readyEndpoint(server) {
  const [, ep] = await server.line(/^READY (\S+)$/);
  return ep;
}

/** Stop a foreign contract server: close its stdin; it exits 0, having printed nothing on
 * stdout but its `READY` line. */
async function stopServer(server) {
  server.stdin.end();
  await exitsCleanly(server);
  assert.equal(server.lines.length, 1, `only the READY line on stdout: ${server.describe()}`);
}

/** A foreign contract client ran every case of `cases`: it printed `PASS <case>` for each,
 * in order, and exited 0. */
async function passesCases(client, cases) {
  await exitsCleanly(client);
  assert.deepEqual(client.lines, cases.map((c) => `PASS ${c}`), client.describe());
}

/**
 * Serve one connection of a foreign contract client as the contract's `server` does: echo
 * every message, in order. Returns true when `interop:close` came (not echoed; the channel is
 * left open for the caller), false when the client closed.
 */
async function echoUntilInteropClose(ch) {
  for (;;) {
    let m;
    try {
      m = await ch.recv();
    } catch (e) {
      if (e.code === 'IPC_CLOSED') return false;
      throw e;
    }
    if (m.equals(INTEROP_CLOSE)) return true;
    await ch.send(m);
  }
}

/**
 * Serve the contract on a Node listener until it is closed: every connection at once, each
 * echoed until `interop:close` (then closed in order) or the client's close. `onChannel` sees
 * each accepted channel first. Resolves with the number of connections served; rejects with
 * the first error of any of them.
 */
async function serveContract(listener, onChannel) {
  const served = [];
  for (;;) {
    let ch;
    try {
      ch = await accept(listener);
    } catch (e) {
      if (e.code === 'IPC_CLOSED') break;
      throw e;
    }
    onChannel(ch);
    const done = echoUntilInteropClose(ch).finally(() => ch.close().catch(() => {}));
    done.catch(() => {}); // handled by Promise.all below, once the listener is closed
    served.push(done);
  }
  await Promise.all(served);
  return served.length;
}

/** Whether the channel's peer is `pid` (the transports that tell: unix, shm; tcp: null). */
function checkPeer(ch, transport, pid) {
  if (transport === 'tcp') {
    assert.equal(ch.peer.pid, null);
  } else {
    assert.equal(ch.peer.pid, pid, 'the peer credentials name the foreign process');
    assert.equal(ch.peer.uid, process.getuid());
  }
}

// ---------------------------------------------------------------------------------------------
// Checksums and a seeded PRNG.

const crc32 =
  typeof zlib.crc32 === 'function'
    ? zlib.crc32
    : (() => {
        // Node < 20.15 has no zlib.crc32: the same CRC (IEEE 802.3), table-driven.
        const table = new Int32Array(256);
        for (let i = 0; i < 256; i++) {
          let c = i;
          for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
          table[i] = c;
        }
        return (data, value = 0) => {
          let c = ~value;
          for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
          return ~c >>> 0;
        };
      })();

test('crc32 is the IEEE CRC (the one Rust crc32fast and Python zlib compute)', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.from('56789'), crc32(Buffer.from('1234'))), 0xcbf43926);
});

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MAX_PAYLOAD = 64 * 1024;
const POOL_SIZE = 1 << 20;
const HEADER = 8;

/** Message i of a seeded stream: `u32 LE seq | u32 LE crc32(payload) | payload`, payload sizes
 * 0..64 KiB, log-uniform (small and large both frequent), every 97th empty, every 89th 64 KiB. */
function messageStream(seed) {
  const rand = prng(seed);
  const pool = Buffer.alloc(POOL_SIZE + MAX_PAYLOAD);
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
  let seq = 0;
  return () => {
    const i = seq++;
    let size;
    if (i % 97 === 0) size = 0;
    else if (i % 89 === 0) size = MAX_PAYLOAD;
    else size = Math.min(MAX_PAYLOAD, Math.floor(2 ** (rand() * 16.01)));
    const off = Math.floor(rand() * POOL_SIZE);
    const payload = pool.subarray(off, off + size);
    const msg = Buffer.allocUnsafe(HEADER + size);
    msg.writeUInt32LE(i >>> 0, 0);
    msg.writeUInt32LE(crc32(payload), 4);
    payload.copy(msg, HEADER);
    return msg;
  };
}

/** Check one message of such a stream: its sequence number and its checksum; the payload. */
function checkStreamMessage(msg, seq) {
  assert.ok(msg.length >= HEADER, `message ${seq}: ${msg.length} bytes, shorter than its header`);
  assert.equal(msg.readUInt32LE(0), seq >>> 0, `message ${seq}: wrong sequence number`);
  const payload = msg.subarray(HEADER);
  assert.equal(crc32(payload), msg.readUInt32LE(4), `message ${seq} (${payload.length} bytes): bad checksum`);
  return payload;
}

/**
 * Send `count` messages of the seeded stream through an echo peer on `ch` and check every
 * echo (same bytes: length and checksum, in order), with at most `window` messages in
 * flight. Returns { messages, bytes, digest } (digest: a CRC over every payload's CRC),
 * which the sending and the receiving halves each compute and must agree on.
 */
async function echoStream(ch, count, seed, window) {
  const next = messageStream(seed);
  const expected = []; // [length, crc] of messages sent and not yet echoed, by seq
  let sent = 0;
  let received = 0;
  let wake = null;
  const sender = { bytes: 0, digest: 0 };
  const receiver = { bytes: 0, digest: 0 };
  const word = Buffer.alloc(4);
  const fold = (acc, crc, len) => {
    word.writeUInt32LE(crc);
    acc.digest = crc32(word, acc.digest);
    acc.bytes += len;
  };

  const send = async () => {
    while (sent < count) {
      if (sent - received >= window) {
        await new Promise((resolve) => {
          wake = resolve;
        });
        continue;
      }
      const msg = next();
      expected[sent] = [msg.length, msg.readUInt32LE(4)];
      fold(sender, msg.readUInt32LE(4), msg.length - HEADER);
      sent++;
      await ch.send(msg);
    }
  };
  const recv = async () => {
    while (received < count) {
      const msg = await ch.recv();
      const [len, crc] = expected[received];
      assert.equal(msg.length, len, `echo ${received}: ${msg.length} bytes, sent ${len}`);
      const payload = checkStreamMessage(msg, received);
      assert.equal(msg.readUInt32LE(4), crc, `echo ${received}: not the message sent`);
      fold(receiver, crc32(payload), payload.length);
      expected[received] = undefined;
      received++;
      if (wake) {
        const w = wake;
        wake = null;
        w();
      }
    }
  };
  // If one half fails, the other must not wait forever for it: close the channel.
  await Promise.all([send(), recv()].map((p) => p.catch(async (e) => {
    await ch.close();
    throw e;
  })));
  assert.deepEqual(receiver, sender, 'totals (bytes, digest of checksums) of what came back');
  return { messages: received, ...receiver };
}

// ---------------------------------------------------------------------------------------------
// Round trips, every language, every transport, both directions.

const SAMPLES = [
  Buffer.alloc(0),
  Buffer.from('x'),
  'héllo from Node, ünïcödé ✓', // a string goes as UTF-8
  Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff)),
  new Uint8Array(64 * 1024).fill(0xa5),
  Buffer.alloc(1 << 20, 0x3c), // 1 MiB: several ring records over shm, several writes otherwise
];
const asBytes = (m) => (typeof m === 'string' ? Buffer.from(m, 'utf8') : Buffer.from(m));

async function roundTrips(ch) {
  for (const m of SAMPLES) await ch.send(m);
  for (const m of SAMPLES) {
    const got = await ch.recv();
    assert.ok(Buffer.isBuffer(got));
    assert.ok(got.equals(asBytes(m)), `echo of a ${asBytes(m).length}-byte message differs`);
  }
}

// The cases a foreign contract client runs against a Node listener: all of the contract's but
// `server-killed`, whose `interop:kill` would end this test process (the Node server's side
// of it is the interop matrix's: tests/interop/run.py, every client language against the
// Node peer, test/peer.mjs).
const CLIENT_CASES = ['empty', 'one-byte', 'all-bytes', 'non-utf8', '64k', '1m', 'max-size', 'over-max', 'random-10k', 'server-close'];
// The Node listener's limit in those runs, as the matrix's servers have: max-size sends 2 MiB.
const LISTENER_MAX = 2 * 1024 * 1024;

for (const lang of Object.keys(LANGS)) {
  for (const transport of TRANSPORTS) {
    test(`Node client -> ${lang} contract server over ${transport}://`, { timeout: 60_000 }, async (t) => {
      if (!need(t, lang)) return;
      const server = start(serverCommand(lang, endpoint(transport)), `${lang} server`);
      const ep = await readyEndpoint(server);
      assert.ok(ep.startsWith(`${transport}://`), ep);
      const ch = await connect(ep);
      checkPeer(ch, transport, server.pid);
      await roundTrips(ch);
      // That the foreign side sees Node's close as an orderly one (Closed) is checked the
      // other way round, below: the foreign client's server-close case.
      await ch.close();
      await stopServer(server);
    });

    test(`${lang} contract client -> Node listener over ${transport}://`, { timeout: 120_000 }, async (t) => {
      if (!need(t, lang)) return;
      const listener = listen(endpoint(transport), { maxMessageSize: LISTENER_MAX });
      try {
        const client = start(clientCommand(lang, listener.endpoint, CLIENT_CASES), `${lang} client`);
        const serving = serveContract(listener, (ch) => checkPeer(ch, transport, client.pid));
        serving.catch(() => {}); // awaited below, unless the client failed first
        await passesCases(client, CLIENT_CASES);
        listener.close();
        assert.equal(await serving, CLIENT_CASES.length, 'one connection per case');
      } finally {
        listener.close();
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Volume: checksummed streams of random sizes.

test('100,000 messages of random sizes (0..64 KiB) with checksums: Node -> Rust contract server over shm://', { timeout: 600_000 }, async (t) => {
  if (!need(t, 'rust')) return;
  const server = start(serverCommand('rust', endpoint('shm')), 'rust server');
  const ch = await connect(await readyEndpoint(server));
  const r = await echoStream(ch, 100_000, 0x1bc, 256);
  assert.equal(r.messages, 100_000);
  t.diagnostic(`100,000 messages echoed, ${(r.bytes / 2 ** 20).toFixed(1)} MiB of payload each way, digest ${r.digest.toString(16)}`);
  await ch.close();
  await stopServer(server);
});

test('10,000 checksummed messages of random sizes: Node -> Python contract server over unix://', { timeout: 300_000 }, async (t) => {
  if (!need(t, 'python')) return;
  const server = start(serverCommand('python', endpoint('unix')), 'python server');
  const ch = await connect(await readyEndpoint(server));
  const r = await echoStream(ch, 10_000, 7, 64);
  assert.equal(r.messages, 10_000);
  await ch.close();
  await stopServer(server);
});

// The foreign side's checksummed stream towards a Node listener is the contract's random-10k
// case, which every foreign client runs against a Node listener above (and the matrix, in
// every pair): it replaced a C client echoing Node's stream and a Python client streaming to
// Node in helper.py's own format. The one-way stream into a Node listener (nothing read back,
// the sender's close ending it) stays tested below, with the Rust peer's stream.
test('10,000 checksummed messages of random sizes: Node -> C contract server over tcp://', { timeout: 300_000 }, async (t) => {
  if (!need(t, 'c')) return;
  const server = start(serverCommand('c', endpoint('tcp')), 'c server');
  const ch = await connect(await readyEndpoint(server));
  const r = await echoStream(ch, 10_000, 11, 64);
  assert.equal(r.messages, 10_000);
  await ch.close();
  await stopServer(server);
});

// The Rust peer's `stream` mode (tests/src/bin/peer.rs, a mode of the Rust suite's own) stays
// in the tests below: they check what no case of the contract does, a one-way stream of
// 20,000 messages ended by the sender's orderly close, and Node's messages of the edge sizes
// up to 1 MiB checked in the Rust peer's own stream format, one of them sent while the peer
// does not read.
test('a Rust client streams 20,000 checksummed messages to a Node listener over tcp://, then closes', { timeout: 300_000 }, async (t) => {
  if (!need(t, 'rust')) return;
  const n = 20_000;
  const listener = listen(endpoint('tcp'));
  try {
    // ipc-test-peer stream (tests/src/stream.rs): message seq is `u64 LE seq | u32 LE
    // crc32(seq bytes, body) | body`, cut to its size (shorter than 12 bytes: that header for
    // an empty body, cut short); sizes 0..64 KiB. --close: an orderly close after the last.
    const client = start([RUST, ['stream', 'connect', listener.endpoint, '--send', String(n), '--send-seed', '9', '--max-size', '65536', '--close']], 'rust stream');
    const ch = await accept(listener);
    let seq = 0;
    let bytes = 0;
    for await (const msg of ch) {
      const head = Buffer.alloc(12);
      head.writeBigUInt64LE(BigInt(seq));
      if (msg.length < 12) {
        head.writeUInt32LE(crc32(head.subarray(0, 8)), 8);
        assert.ok(msg.equals(head.subarray(0, msg.length)), `message ${seq}: ${msg.length}-byte header differs`);
      } else {
        assert.equal(msg.readBigUInt64LE(0), BigInt(seq), `message ${seq}: wrong sequence number`);
        const crc = crc32(msg.subarray(12), crc32(msg.subarray(0, 8)));
        assert.equal(crc, msg.readUInt32LE(8), `message ${seq} (${msg.length} bytes): bad checksum`);
      }
      bytes += msg.length;
      seq++;
    }
    // The loop ended with the Rust side's orderly close (IPC_CLOSED), after every message.
    assert.equal(seq, n);
    await client.line(new RegExp(`^done .*`));
    await exitsCleanly(client);
    t.diagnostic(`${n} messages, ${bytes} bytes from Rust`);
    await ch.close();
  } finally {
    listener.close();
  }
});

/** Message `seq` of `len` bytes in the Rust peer's stream format (tests/src/stream.rs): `u64 LE
 * seq | u32 LE crc32(seq bytes, body) | body`, cut to `len` bytes (so shorter than 12 bytes:
 * that header for an empty body, cut short). The peer checks length, sequence and checksum;
 * the body's bytes are ours to choose. */
function rustStreamMessage(seq, len, rand) {
  const body = Buffer.alloc(Math.max(0, len - 12));
  for (let i = 0; i < body.length; i++) body[i] = (rand() * 256) | 0;
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(seq));
  head.writeUInt32LE(crc32(body, crc32(head.subarray(0, 8))), 8);
  return Buffer.concat([head, body]).subarray(0, len);
}

// The first ten sizes of every stream schedule of the Rust peer (stream.rs, EDGES, with the
// default 1 MiB maximum).
const RUST_EDGES = [0, 1, 1 << 20, 11, 12, 13, 0, 65_535, 65_536, 65_537];

for (const transport of TRANSPORTS) {
  test(`a Rust client checks Node's messages of the edge sizes (0 B .. 1 MiB) in its own stream format, over ${transport}://`, { timeout: 60_000 }, async (t) => {
    if (!need(t, 'rust')) return;
    const listener = listen(endpoint(transport));
    try {
      const n = RUST_EDGES.length;
      const client = start([RUST, ['stream', 'connect', listener.endpoint, '--recv', String(n)]], 'rust stream');
      const ch = await accept(listener);
      const rand = prng(3);
      for (const [seq, len] of RUST_EDGES.entries()) await ch.send(rustStreamMessage(seq, len, rand));
      await client.line(new RegExp(`^done sent=0 received=${n} send_end=- recv_end=-$`));
      await exitsCleanly(client);
      await ch.close();
    } finally {
      listener.close();
    }
  });

  test(`a 1 MiB message sent while the Rust peer does not read reaches it, though Node makes no further call on the channel, over ${transport}://`, { timeout: 30_000 }, async (t) => {
    if (!need(t, 'rust')) return;
    // 1 MiB fits neither in the socket buffers nor in a 256 KiB shm ring while the peer does
    // not read: send() cannot write all of it at once. Whenever its promise resolves, the
    // message must reach the peer once it reads, without Node calling anything else.
    const listener = listen(endpoint(transport), transport === 'shm' ? { shmRingSize: 256 * 1024 } : null);
    try {
      // --wait: the peer reads nothing until it gets a line on stdin.
      const client = start([RUST, ['stream', 'connect', listener.endpoint, '--recv', '3', '--wait']], 'rust stream');
      const ch = await accept(listener);
      await client.line(/^connected /);
      const rand = prng(3);
      await ch.send(rustStreamMessage(0, RUST_EDGES[0], rand));
      await ch.send(rustStreamMessage(1, RUST_EDGES[1], rand));
      const big = ch.send(rustStreamMessage(2, RUST_EDGES[2], rand)); // 1 MiB
      await nextTurn();
      client.stdin.write('go\n');
      await Promise.all([big, client.line(/^done sent=0 received=3 send_end=- recv_end=-$/)]);
      await exitsCleanly(client);
      await ch.close();
    } finally {
      listener.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// A foreign peer killed while Node waits: the promise rejects with IPC_PEER_DISCONNECTED.

async function expectDisconnected(pending, what) {
  await assert.rejects(pending, (e) => {
    assert.equal(e.code, 'IPC_PEER_DISCONNECTED', `${what}: ${e.code}: ${e.message}`);
    assert.equal(e.ipcCode, ipc.errorCodes().IPC_PEER_DISCONNECTED);
    assert.ok(e instanceof Error);
    return true;
  });
}

/** A pending recv on `ch` while `kill()` ends the peer process (SIGKILL). */
async function killDuringRecv(ch, kill) {
  const p = ch.recv();
  const s = track(p);
  await nextTurn();
  await sleep(20); // let the wait settle into the runtime (not a bound: only a head start)
  assert.equal(s.state, 'pending', 'nothing was sent: recv must still wait');
  await kill();
  await expectDisconnected(p, 'pending recv');
  // Later calls fail the same way, at once.
  await expectDisconnected(ch.recv(), 'recv after the disconnect');
}

/** Send 64 KiB messages to a peer that does not read until one send stays pending; then
 * kill the peer: that send rejects. */
async function killDuringSend(ch, peer) {
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let pending = null;
  // The buffers (socket, kernel, shm ring) hold at most some MiB: a send soon has to wait.
  for (let i = 0; i < 100_000 && !pending; i++) {
    const p = ch.send(chunk);
    const s = track(p);
    await nextTurn();
    if (s.state === 'pending') {
      await sleep(50);
      if (s.state === 'pending') pending = p;
    }
    if (!pending) await p;
  }
  assert.ok(pending, 'a send to a peer that does not read must wait at some point');
  await killed(peer);
  await expectDisconnected(pending, 'send held by backpressure');
}

for (const lang of Object.keys(LANGS)) {
  for (const transport of TRANSPORTS) {
    test(`${lang} contract server killed (interop:kill) during Node's pending recv over ${transport}://`, { timeout: 60_000 }, async (t) => {
      if (!need(t, lang)) return;
      const server = start(serverCommand(lang, endpoint(transport)), `${lang} server`);
      const ch = await connect(await readyEndpoint(server));
      await ch.send('ping');
      assert.equal((await ch.recv()).toString(), 'ping'); // the server is serving us
      await killDuringRecv(ch, async () => {
        // The server SIGKILLs itself when it reads this, while our recv waits.
        await ch.send(INTEROP_KILL);
        const { signal } = await server.exited;
        assert.equal(signal, 'SIGKILL', server.describe());
      });
      await ch.close();
    });

    test(`${lang} contract client killed during a Node listener's pending recv over ${transport}://`, { timeout: 60_000 }, async (t) => {
      if (!need(t, lang)) return;
      const listener = listen(endpoint(transport));
      try {
        // server-close: the client sends three messages and reads their echoes, sends
        // interop:close and waits for the close, which never comes: it is killed meanwhile.
        const client = start(clientCommand(lang, listener.endpoint, ['server-close']), `${lang} client`);
        const ch = await accept(listener);
        assert.equal(await echoUntilInteropClose(ch), true, 'the client sent interop:close');
        await killDuringRecv(ch, () => killed(client));
        await ch.close();
      } finally {
        listener.close();
      }
    });

    test(`${lang} contract server killed while Node's send waits (backpressure) over ${transport}://`, { timeout: 120_000 }, async (t) => {
      if (!need(t, lang)) return;
      // Node reads none of the echoes: the server's sends wait, then it reads no more either.
      const server = start(serverCommand(lang, endpoint(transport)), `${lang} server`);
      const ch = await connect(await readyEndpoint(server));
      // interop:kill could not reach the server past the messages queued before it: this test
      // kills the process itself.
      await killDuringSend(ch, server);
      await ch.close();
    });

    test(`${lang} contract client killed while a Node listener's send waits (backpressure) over ${transport}://`, { timeout: 120_000 }, async (t) => {
      if (!need(t, lang)) return;
      // The listener keeps the default limit (16 MiB): the client's max-size case sends 16 MiB,
      // more than the socket buffers or the 256 KiB shm ring hold while Node reads nothing, so
      // the client waits in that send and never reads what Node sends.
      const listener = listen(endpoint(transport), transport === 'shm' ? { shmRingSize: 256 * 1024 } : null);
      try {
        const client = start(clientCommand(lang, listener.endpoint, ['max-size']), `${lang} client`);
        const ch = await accept(listener);
        assert.equal(ch.maxMessageSize, 16 * 1024 * 1024);
        await killDuringSend(ch, client);
        await ch.close();
      } finally {
        listener.close();
      }
    });
  }
}
