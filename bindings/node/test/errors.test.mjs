// Errors: every failure is an Error with `code` (a key of errorCodes()) and `ipcCode` (its
// number); bad endpoints, nobody listening, address in use, wrong option types and unknown
// keys, bad send data, bad timeouts and signals, calls after close; none of it crashes the
// process (checked in a child process too).

import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';

import * as ipc from 'libipc';
import { TRANSPORTS, connected, describeExit, endpointFor, isIpcError, spawnNode, tempDir } from './helpers.mjs';

const WATCHDOG = { timeout: 20000 };
const invalidType = isIpcError(ipc, 'IPC_INVALID_ARGUMENT', { type: TypeError });
const invalidValue = (e) => {
  isIpcError(ipc, 'IPC_INVALID_ARGUMENT')(e);
  assert.ok(!(e instanceof TypeError), `a value of the right type is not a TypeError: ${e.message}`);
  return true;
};

test('errorCodes(): IPC_* symbols to distinct numbers, the documented ones included', () => {
  const codes = ipc.errorCodes();
  const entries = Object.entries(codes);
  assert.ok(entries.length >= 13);
  for (const [k, v] of entries) {
    assert.match(k, /^IPC_[A-Z_]+$/);
    assert.ok(Number.isInteger(v) && v > 0, `${k}: ${v}`);
  }
  assert.equal(new Set(Object.values(codes)).size, entries.length);
  assert.equal(codes.IPC_INVALID_ENDPOINT, 1);
  assert.equal(codes.IPC_ADDRESS_IN_USE, 2);
  assert.equal(codes.IPC_NOT_FOUND, 3);
  assert.equal(codes.IPC_PEER_DISCONNECTED, 5);
  assert.equal(codes.IPC_TIMEOUT, 6);
  assert.equal(codes.IPC_MESSAGE_TOO_LARGE, 7);
  assert.equal(codes.IPC_CLOSED, 10);
  assert.equal(codes.IPC_INVALID_ARGUMENT, 13);
  assert.equal(codes.IPC_CANCELLED, 104);
  // A fresh object each time: changing one does not change the table.
  codes.IPC_TIMEOUT = 999;
  assert.equal(ipc.errorCodes().IPC_TIMEOUT, 6);
});

const BAD_ENDPOINTS = [
  '',
  'bogus://x',
  'unix://relative/path',
  'unix:///ends/with/slash/',
  `unix:///${'a'.repeat(200)}`,
  'tcp://127.0.0.1',
  'tcp://127.0.0.1:99999',
  'tcp://:80',
  'shm://',
  'shm://has/slash',
  `shm://${'a'.repeat(65)}`,
  'shm://.dot-first',
  'fifo://relative/f',
  'UNIX:///tmp/x',
  'with space',
  'nul\0byte',
  '-dash-first',
];

test('a bad endpoint: connect rejects and listen throws IPC_INVALID_ENDPOINT', WATCHDOG, async (t) => {
  for (const ep of BAD_ENDPOINTS) {
    await assert.rejects(ipc.connect(ep), isIpcError(ipc, 'IPC_INVALID_ENDPOINT'), JSON.stringify(ep));
    assert.throws(() => ipc.listen(ep), isIpcError(ipc, 'IPC_INVALID_ENDPOINT'), JSON.stringify(ep));
  }
});

test('an endpoint that is not a string: TypeError IPC_INVALID_ARGUMENT (connect rejects, listen throws)', WATCHDOG, async (t) => {
  for (const ep of [undefined, null, 5, {}, ['unix:///x'], Buffer.from('x')]) {
    await assert.rejects(ipc.connect(ep), invalidType);
    assert.throws(() => ipc.listen(ep), invalidType);
  }
});

test('nobody listening: IPC_NOT_FOUND on every transport', WATCHDOG, async (t) => {
  const dir = tempDir();
  // A tcp port nobody listens on: one a listener had, now closed.
  const l = ipc.listen('tcp://127.0.0.1:0');
  const freed = l.endpoint;
  l.close();
  const nobody = [
    `unix://${path.join(dir, 'nobody.sock')}`,
    freed,
    endpointFor('shm'),
    `fifo://${path.join(dir, 'nobody')}`,
  ];
  for (const ep of nobody) {
    await assert.rejects(ipc.connect(ep), isIpcError(ipc, 'IPC_NOT_FOUND'), ep);
  }
  // A closed listener leaves nobody behind either.
  for (const kind of ['unix', 'shm', 'fifo']) {
    const closed = ipc.listen(endpointFor(kind));
    closed.close();
    await assert.rejects(ipc.connect(closed.endpoint), isIpcError(ipc, 'IPC_NOT_FOUND'), kind);
  }
});

test('address in use: a second listener on the same endpoint throws IPC_ADDRESS_IN_USE; the first keeps working', WATCHDOG, async (t) => {
  for (const kind of TRANSPORTS) {
    const first = ipc.listen(endpointFor(kind));
    assert.throws(() => ipc.listen(first.endpoint), isIpcError(ipc, 'IPC_ADDRESS_IN_USE'), kind);
    const [server, client] = await Promise.all([first.accept(), ipc.connect(first.endpoint)]);
    await client.send('still mine');
    assert.equal((await server.recv()).toString(), 'still mine');
    await Promise.all([server.close(), client.close()]);
    first.close();
    // Once closed, the endpoint is free again.
    ipc.listen(first.endpoint).close();
  }
});

const WRONG_TYPES = [
  { maxMessageSize: 'big' },
  { maxMessageSize: 10n },
  { maxMessageSize: null },
  { socketMode: '600' },
  { connectTimeout: '1000' },
  { connectTimeout: true },
  { handshakeTimeout: null },
  { handshakeTimeout: '5' },
  { allowedUids: 0 },
  { allowedUids: 'root' },
  { allowedUids: ['0'] },
  { allowedGids: 0 },
  { allowedGids: 'wheel' },
  { allowedGids: [true] },
  { shmRingSize: [] },
  { shmSpin: 'fast' },
  { streamSpin: {} },
  { shmPosixFallback: 1 },
  { shmPosixFallback: 'yes' },
];
const WRONG_VALUES = [
  { maxMessageSize: -1 },
  { maxMessageSize: 1.5 },
  { maxMessageSize: NaN },
  { maxMessageSize: 2 ** 40 },
  { socketMode: -1 },
  { connectTimeout: -5 },
  { handshakeTimeout: NaN },
  { handshakeTimeout: Infinity },
  { allowedUids: [-1] },
  { allowedUids: [1.5] },
  { allowedGids: [-1] },
  { allowedGids: [2 ** 32] },
  { shmSpin: -0.5 },
  { streamSpin: Infinity },
];
const UNKNOWN_KEYS = [{ maxMsgSize: 1 }, { max_message_size: 1 }, { timeout: 5 }, { MaxMessageSize: 1 }];

test('options of the wrong type: TypeError with code IPC_INVALID_ARGUMENT (connect rejects; listen, pair throw)', WATCHDOG, async (t) => {
  const ep = endpointFor('unix');
  for (const o of [...WRONG_TYPES, 5, 'opts', true]) {
    const what = JSON.stringify(o, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
    await assert.rejects(ipc.connect(ep, o), invalidType, what);
    assert.throws(() => ipc.listen(ep, o), invalidType, what);
    assert.throws(() => ipc.pair(o), invalidType, what);
  }
});

test('options out of range and unknown option keys: Error with code IPC_INVALID_ARGUMENT', WATCHDOG, async (t) => {
  const ep = endpointFor('unix');
  for (const o of [...WRONG_VALUES, ...UNKNOWN_KEYS]) {
    await assert.rejects(ipc.connect(ep, o), invalidValue, JSON.stringify(o));
    assert.throws(() => ipc.listen(ep, o), invalidValue, JSON.stringify(o));
    assert.throws(() => ipc.pair(o), invalidValue, JSON.stringify(o));
  }
  // An unknown key names itself in the message.
  assert.throws(() => ipc.pair({ maxMsgSize: 1 }), /maxMsgSize/);
  // An allow-list cannot be checked over tcp.
  assert.throws(() => ipc.listen('tcp://127.0.0.1:0', { allowedUids: [process.getuid()] }), invalidValue);
  assert.throws(() => ipc.listen('tcp://127.0.0.1:0', { allowedGids: [process.getgid()] }), (e) => {
    assert.ok(invalidValue(e));
    assert.match(e.message, /allowed_gids/);
    return true;
  });
  const tcp = ipc.listen('tcp://127.0.0.1:0');
  await assert.rejects(ipc.connect(tcp.endpoint, { allowedGids: [process.getgid()] }), invalidValue);
  tcp.close();
});

test('send of anything but a Buffer, a Uint8Array or a string: TypeError IPC_INVALID_ARGUMENT; nothing sent', WATCHDOG, async (t) => {
  const [a, b] = ipc.pair();
  const bad = [
    5, 0, NaN, 10n, true, null, undefined, {}, { length: 3 }, [1, 2, 3], Symbol('s'), () => 1,
    new Float32Array([1, 2]), new Uint16Array(2), new Int8Array(2), new Uint8ClampedArray(2),
    new DataView(new ArrayBuffer(4)), new ArrayBuffer(4), new Date(0),
  ];
  for (const d of bad) {
    await assert.rejects(a.send(d), invalidType, String(typeof d === 'symbol' ? 'symbol' : d));
  }
  await assert.rejects(a.send(), invalidType);
  assert.equal(b.tryRecv(), null);
  await a.send('fine');
  assert.equal((await b.recv()).toString(), 'fine');
  await Promise.all([a.close(), b.close()]);
});

test('bad wait options: negative, NaN, infinite timeout -> IPC_INVALID_ARGUMENT; wrong types -> TypeError', WATCHDOG, async (t) => {
  const [a, b] = ipc.pair();
  const listener = ipc.listen(endpointFor('unix'));
  const calls = [
    (o) => b.recv(o),
    (o) => a.send('x', o),
    (o) => listener.accept(o),
  ];
  for (const call of calls) {
    for (const timeout of [-1, -0.001, NaN, Infinity, -Infinity]) {
      await assert.rejects(call({ timeout }), invalidValue, String(timeout));
    }
    for (const o of [{ timeout: '5' }, { timeout: true }, { timeout: 5n }, { signal: {} }, { signal: 'abort' },
      { signal: { aborted: false } }, 5, 'x']) {
      await assert.rejects(call(o), invalidType, JSON.stringify(o, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)));
    }
    // A misspelt key is refused, not ignored (it would otherwise wait without limit).
    await assert.rejects(call({ timout: 5 }), invalidValue, 'timout');
  }
  // Nothing was sent by the refused sends, and everything still works.
  assert.equal(b.tryRecv(), null);
  await a.send('ok');
  assert.equal((await b.recv({ timeout: 5000 })).toString(), 'ok');
  await Promise.all([a.close(), b.close()]);
  listener.close();
});

for (const kind of [...TRANSPORTS, 'pair']) {
  test(`${kind}: calls after close: IPC_CLOSED on this side, and on the peer's side`, WATCHDOG, async (t) => {
    const { server, client, listener } = await connected(ipc, kind, undefined, t);
    await client.send('last');
    await client.close();
    await client.close(); // idempotent
    await assert.rejects(client.recv(), isIpcError(ipc, 'IPC_CLOSED'));
    await assert.rejects(client.recv({ timeout: 0 }), isIpcError(ipc, 'IPC_CLOSED'));
    await assert.rejects(client.send('more'), isIpcError(ipc, 'IPC_CLOSED'));
    assert.throws(() => client.tryRecv(), isIpcError(ipc, 'IPC_CLOSED'));
    // The peer gets what was sent before the close, then IPC_CLOSED, for good.
    assert.equal((await server.recv()).toString(), 'last');
    await assert.rejects(server.recv(), isIpcError(ipc, 'IPC_CLOSED'));
    await assert.rejects(server.recv(), isIpcError(ipc, 'IPC_CLOSED'));
    await assert.rejects(server.send('anyone?'), isIpcError(ipc, 'IPC_CLOSED'));
    await server.close();
    if (listener) listener.close();
  });

  test(`${kind}: close() rejects this side's pending recv with IPC_CLOSED`, WATCHDOG, async (t) => {
    const { server, client, listener } = await connected(ipc, kind, undefined, t);
    // Handlers attached at once: both reject, each in its own turn of the loop.
    const pending = assert.rejects(server.recv(), isIpcError(ipc, 'IPC_CLOSED'));
    const pendingToo = assert.rejects(server.recv({ timeout: 60000 }), isIpcError(ipc, 'IPC_CLOSED'));
    await server.close();
    await Promise.all([pending, pendingToo]);
    await assert.rejects(client.recv(), isIpcError(ipc, 'IPC_CLOSED'));
    await client.close();
    if (listener) listener.close();
  });
}

test('listener: accept after close, and a pending accept at close, reject with IPC_CLOSED; close is idempotent', WATCHDOG, async (t) => {
  for (const kind of TRANSPORTS) {
    const listener = ipc.listen(endpointFor(kind));
    const pending = assert.rejects(listener.accept(), isIpcError(ipc, 'IPC_CLOSED'), kind);
    const pendingToo = assert.rejects(listener.accept({ timeout: 60000 }), isIpcError(ipc, 'IPC_CLOSED'), kind);
    listener.close();
    listener.close();
    await Promise.all([pending, pendingToo]);
    await assert.rejects(listener.accept(), isIpcError(ipc, 'IPC_CLOSED'), kind);
    // Iterating a closed listener yields nothing.
    const got = [];
    for await (const ch of listener) got.push(ch);
    assert.deepEqual(got, []);
  }
});

test('a peer killed while a recv is pending: IPC_PEER_DISCONNECTED, never a hang', WATCHDOG, async (t) => {
  for (const kind of TRANSPORTS) {
    const listener = ipc.listen(endpointFor(kind));
    const run = spawnNode(`
      const ch = await ipc.connect(args[0]);
      console.log('connected');
      await ch.recv(); // never comes
    `, { args: [listener.endpoint], watchdogMs: 15000 });
    const ch = await listener.accept();
    await run.line('connected');
    const pending = ch.recv();
    run.kill('SIGKILL');
    await assert.rejects(pending, isIpcError(ipc, 'IPC_PEER_DISCONNECTED'), kind);
    const r = await run.exited;
    assert.equal(r.watchdog, false);
    assert.equal(r.signal, 'SIGKILL');
    await ch.close();
    listener.close();
  }
});

test('no bad input crashes the process (a child throws everything at the API and exits normally)', WATCHDOG, async (t) => {
  const run = spawnNode(`
    const tries = [];
    // What a call gave: 'ok', its error's code, or (for an exception of our own getters
    // and proxies, passed through) its message.
    const what = (e) => (e && e.code) || (e && e.message) || String(e);
    const attempt = (f) => { try { const r = f(); if (r && typeof r.then === 'function') tries.push(r.then(() => 'ok', what)); else tries.push(Promise.resolve('ok')); } catch (e) { tries.push(Promise.resolve(what(e))); } };
    const values = [undefined, null, 0, -1, NaN, Infinity, 2 ** 53, 10n, '', 'x', true, {}, [], [1], () => 1,
      Symbol('s'), new Float64Array(1), new ArrayBuffer(1), new DataView(new ArrayBuffer(1)),
      { timeout: -1 }, { timeout: 'x' }, { signal: 1 }, { signal: { aborted: 'no', addEventListener: 1 } },
      { get timeout() { throw new Error('getter throws'); } },
      new Proxy({}, { ownKeys() { throw new Error('proxy throws'); } }),
      Object.create(null), { maxMessageSize: 1e300 }, { allowedUids: new Array(5).fill('x') }];
    const [a, b] = ipc.pair();
    const l = ipc.listen(args[0]);
    for (const v of values) {
      attempt(() => ipc.connect(v));
      attempt(() => ipc.connect(args[0] + '-nobody', v));
      attempt(() => ipc.listen(v));
      attempt(() => ipc.listen(args[0] + '-x', v));
      attempt(() => ipc.pair(v));
      attempt(() => a.send(v));
      attempt(() => a.send('x', v));
      attempt(() => b.recv(v));
      attempt(() => l.accept(v));
      attempt(() => ipc.fromEnv(v));
    }
    // Calls that wait (a recv or accept with no timeout) end with IPC_CLOSED here.
    l.close();
    await a.close(); await b.close();
    const codes = await Promise.all(tries);
    const ours = ['getter throws', 'proxy throws'];
    const bad = codes.filter((c) => c !== 'ok' && !ours.includes(c) && (typeof c !== 'string' || !c.startsWith('IPC_')));
    console.log('survived ' + codes.length + ' calls; without an IPC_ code: ' + JSON.stringify(bad));
  `, { args: [endpointFor('unix')], watchdogMs: 15000 });
  const line = await run.line('survived');
  const r = await run.exited;
  assert.deepEqual(r, { code: 0, signal: null, watchdog: false }, describeExit(run, r));
  assert.match(line, /without an IPC_ code: \[\]$/, describeExit(run, r));
});
