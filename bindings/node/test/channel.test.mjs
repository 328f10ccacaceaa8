// In-process behaviour of channels and listeners over every transport (unix, tcp, shm, fifo)
// and pair(): connect/listen/accept, what send takes and recv gives, message boundaries and
// order, empty and large messages, the async iterators, endpoint, peer, maxMessageSize,
// tryRecv, options.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import test from 'node:test';

import * as ipc from 'libipc';
import { TRANSPORTS, closeAll, connected, endpointFor, guard, isIpcError, spawnNode } from './helpers.mjs';

const WATCHDOG = { timeout: 20000 };
// Tests moving a few MiB in this process: ample even on a loaded machine.
const BIG = { timeout: 10000 };
const KINDS = [...TRANSPORTS, 'pair'];

/** Deterministic bytes: message `i` of `n` bytes. */
function pattern(i, n) {
  const b = Buffer.alloc(n);
  for (let k = 0; k < n; k += 1) b[k] = (i * 31 + k * 7) & 0xff;
  return b;
}

/** Send `data` while the other side receives it (a big message needs both at once). */
async function through(from, to, data) {
  const [, got] = await Promise.all([from.send(data), to.recv()]);
  return got;
}

for (const kind of KINDS) {
  test(`${kind}: send takes a Buffer, a Uint8Array (any view) and a string; recv gives Buffers`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      const buf = Buffer.from([1, 2, 3, 250]);
      let got = await through(c.client, c.server, buf);
      assert.ok(Buffer.isBuffer(got));
      assert.deepEqual(got, buf);

      // A view into the middle of a larger ArrayBuffer: only the view's bytes go.
      const ab = new ArrayBuffer(16);
      new Uint8Array(ab).fill(0xee);
      const view = new Uint8Array(ab, 5, 4);
      view.set([9, 8, 7, 6]);
      got = await through(c.client, c.server, view);
      assert.ok(Buffer.isBuffer(got));
      assert.deepEqual([...got], [9, 8, 7, 6]);

      // A small Buffer lives in Node's shared pool at an offset.
      const pooled = Buffer.from('pooled');
      got = await through(c.server, c.client, pooled);
      assert.equal(got.toString(), 'pooled');

      // Strings go as UTF-8.
      const text = 'héllo ✓ 🎉 κόσμε';
      got = await through(c.server, c.client, text);
      assert.ok(Buffer.isBuffer(got));
      assert.deepEqual(got, Buffer.from(text, 'utf8'));
      assert.equal(got.toString('utf8'), text);

      // Both directions, both kinds of recv result keep being Buffers.
      got = await through(c.client, c.server, new Uint8Array([0]));
      assert.ok(Buffer.isBuffer(got));
      assert.deepEqual([...got], [0]);
    } finally {
      await closeAll(c);
    }
  });

  test(`${kind}: message boundaries and order are kept, empty messages included`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      const sizes = [0, 1, 2, 0, 3, 100, 4096, 0, 65535, 65536, 65537, 7, 0, 200000, 1];
      const sent = sizes.map((n, i) => pattern(i, n));
      // All sent before any is received: the receiver must split them exactly as sent.
      const sending = (async () => {
        for (const m of sent) await c.client.send(m);
      })();
      const got = [];
      for (let i = 0; i < sent.length; i += 1) got.push(await c.server.recv());
      await sending;
      assert.equal(got.length, sent.length);
      for (let i = 0; i < sent.length; i += 1) {
        assert.equal(got[i].length, sizes[i], `message ${i} length`);
        assert.deepEqual(got[i], sent[i], `message ${i} bytes`);
      }
      // An empty string is an empty message too.
      await c.server.send('');
      const e = await c.client.recv();
      assert.ok(Buffer.isBuffer(e));
      assert.equal(e.length, 0);
    } finally {
      await closeAll(c);
    }
  });

  test(`${kind}: a 1 MiB message, and one of exactly maxMessageSize; one byte over rejects IPC_MESSAGE_TOO_LARGE and the channel still works`, BIG, async (t) => {
    const max = 3 * 1024 * 1024 + 5; // not a power of two, over a default shm ring half
    const c = await connected(ipc, kind, { maxMessageSize: max }, t);
    try {
      assert.equal(c.client.maxMessageSize, max);
      assert.equal(c.server.maxMessageSize, max);

      const mib = pattern(1, 1024 * 1024);
      assert.deepEqual(await through(c.client, c.server, mib), mib);

      const full = pattern(2, max);
      const got = await through(c.server, c.client, full);
      assert.equal(got.length, max);
      assert.ok(got.equals(full));

      for (const [from, to] of [[c.client, c.server], [c.server, c.client]]) {
        await assert.rejects(from.send(Buffer.alloc(max + 1)), isIpcError(ipc, 'IPC_MESSAGE_TOO_LARGE'));
        await assert.rejects(from.send(new Uint8Array(max + 1)), isIpcError(ipc, 'IPC_MESSAGE_TOO_LARGE'));
        // Nothing of it went: the next message is the next one received.
        assert.deepEqual(await through(from, to, 'after'), Buffer.from('after'));
        assert.equal(to.tryRecv(), null);
      }
    } finally {
      await closeAll(c);
    }
  });

  test(`${kind}: maxMessageSize is the smaller of both sides' limits, and the default is defaults().maxMessageSize`, WATCHDOG, async (t) => {
    const d = await connected(ipc, kind, undefined, t);
    try {
      assert.equal(d.client.maxMessageSize, ipc.defaults().maxMessageSize);
      assert.equal(d.server.maxMessageSize, ipc.defaults().maxMessageSize);
    } finally {
      await closeAll(d);
    }
    if (kind === 'pair') return; // one options object for both ends
    const small = 1000;
    const listener = ipc.listen(endpointFor(kind), { maxMessageSize: small });
    const [server, client] = await Promise.all([listener.accept(), ipc.connect(listener.endpoint)]);
    try {
      assert.equal(server.maxMessageSize, small);
      assert.equal(client.maxMessageSize, small);
      await assert.rejects(client.send(Buffer.alloc(small + 1)), isIpcError(ipc, 'IPC_MESSAGE_TOO_LARGE'));
      assert.equal((await through(client, server, Buffer.alloc(small))).length, small);
    } finally {
      await Promise.all([server.close(), client.close()]);
      listener.close();
    }
  });

  test(`${kind}: for await (const msg of ch) yields every message and ends when the peer closes`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      const n = 20;
      const sending = (async () => {
        for (let i = 0; i < n; i += 1) await c.client.send(`m${i}`);
        await c.client.close();
      })();
      const got = [];
      for await (const msg of c.server) {
        assert.ok(Buffer.isBuffer(msg));
        got.push(msg.toString());
      }
      await sending;
      assert.deepEqual(got, Array.from({ length: n }, (_, i) => `m${i}`));
      // After the loop the channel reports the orderly close.
      await assert.rejects(c.server.recv(), isIpcError(ipc, 'IPC_CLOSED'));
    } finally {
      await closeAll(c);
    }
  });

  test(`${kind}: breaking out of for await leaves the channel open`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      for (const m of ['a', 'b', 'c']) await c.client.send(m);
      for await (const msg of c.server) {
        assert.equal(msg.toString(), 'a');
        break;
      }
      assert.equal((await c.server.recv()).toString(), 'b');
      assert.equal((await c.server.recv()).toString(), 'c');
    } finally {
      await closeAll(c);
    }
  });

  test(`${kind}: tryRecv gives null when nothing is there, a Buffer when something is`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      assert.equal(c.server.tryRecv(), null);
      assert.equal(c.client.tryRecv(), null);
      await c.client.send('one');
      await c.client.send('two');
      // Once the first has arrived (recv), the second is at most in flight on a socket;
      // wait for it with recv and compare with what tryRecv found, keeping order.
      const first = await c.server.recv();
      assert.equal(first.toString(), 'one');
      let second = c.server.tryRecv();
      if (second === null) second = await c.server.recv();
      assert.ok(Buffer.isBuffer(second));
      assert.equal(second.toString(), 'two');
      assert.equal(c.server.tryRecv(), null);
    } finally {
      await closeAll(c);
    }
  });

  test(`${kind}: peer credentials`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      for (const ch of [c.server, c.client]) {
        const p = ch.peer;
        assert.deepEqual(Object.keys(p).sort(), ['gid', 'pid', 'uid']);
        if (kind === 'tcp') {
          assert.deepEqual(p, { pid: null, uid: null, gid: null });
        } else if (kind === 'fifo') {
          // FIFOs tell the owner of the files, not a pid (docs/endpoints.md).
          assert.deepEqual(p, { pid: null, uid: process.getuid(), gid: process.getgid() });
        } else {
          assert.deepEqual(p, { pid: process.pid, uid: process.getuid(), gid: process.getgid() });
        }
      }
    } finally {
      await closeAll(c);
    }
  });
}

for (const kind of TRANSPORTS) {
  test(`${kind}: for await (const ch of listener) yields clients and ends when the listener is closed`, WATCHDOG, async (t) => {
    const listener = ipc.listen(endpointFor(kind));
    const clients = [];
    const accepted = [];
    const loop = (async () => {
      for await (const ch of listener) {
        accepted.push(ch);
        await ch.send(`welcome ${accepted.length}`);
      }
      return 'ended';
    })();
    for (let i = 1; i <= 3; i += 1) {
      const ch = await ipc.connect(listener.endpoint);
      clients.push(ch);
      assert.equal((await ch.recv()).toString(), `welcome ${i}`);
    }
    // The loop is now waiting in accept(); closing the listener ends it.
    listener.close();
    assert.equal(await loop, 'ended');
    assert.equal(accepted.length, 3);
    // Channels already accepted stay open.
    await clients[2].send('still here');
    assert.equal((await accepted[2].recv()).toString(), 'still here');
    // Nobody is listening any more.
    await assert.rejects(ipc.connect(listener.endpoint), (e) => {
      assert.ok(e instanceof Error);
      assert.ok(['IPC_NOT_FOUND', 'IPC_PEER_DISCONNECTED'].includes(e.code), e.code);
      return true;
    });
    await Promise.all([...clients, ...accepted].map((ch) => ch.close()));
  });

  test(`${kind}: listen with every key of defaults() and connect with every key of defaults()`, WATCHDOG, async (t) => {
    const opts = ipc.defaults();
    if (kind === 'tcp') { // an allow-list is refused on tcp
      assert.equal(opts.allowedUids, null);
      assert.equal(opts.allowedGids, null);
    }
    const listener = ipc.listen(endpointFor(kind), opts);
    const [server, client] = await Promise.all([listener.accept(), ipc.connect(listener.endpoint, opts)]);
    assert.equal((await through(client, server, 'x')).toString(), 'x');
    await Promise.all([server.close(), client.close()]);
    listener.close();
  });
}

test('tcp://127.0.0.1:0: listener.endpoint has the real port, which clients connect to', WATCHDOG, async (t) => {
  const listener = ipc.listen('tcp://127.0.0.1:0');
  const m = /^tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(listener.endpoint);
  assert.ok(m, listener.endpoint);
  const port = Number(m[1]);
  assert.ok(port > 0 && port < 65536);
  const [server, client] = await Promise.all([
    listener.accept(),
    ipc.connect(`tcp://127.0.0.1:${port}`),
  ]);
  assert.equal((await through(server, client, 'hi')).toString(), 'hi');
  await Promise.all([server.close(), client.close()]);
  listener.close();
});

test('listener.endpoint of unix, shm and fifo is the one given', WATCHDOG, () => {
  for (const kind of ['unix', 'shm', 'fifo']) {
    const ep = endpointFor(kind);
    const listener = ipc.listen(ep);
    assert.equal(listener.endpoint, ep);
    listener.close();
  }
});

test('options: camelCase keys of defaults(), the core defaults, in Node units', () => {
  const d = ipc.defaults();
  assert.deepEqual(Object.keys(d).sort(), [
    'allowedGids', 'allowedUids', 'connectTimeout', 'expectedServerUid', 'frameTimeout', 'handshakeTimeout',
    'maxConnections', 'maxMessageSize', 'shmPosixFallback', 'shmRingSize', 'shmSpin', 'socketMode',
    'streamSpin',
  ]);
  assert.equal(d.maxMessageSize, 16 * 1024 * 1024);
  assert.equal(d.socketMode, 0o600);
  assert.equal(d.connectTimeout, 10000);
  assert.equal(d.handshakeTimeout, 5000);
  assert.equal(d.allowedUids, null);
  assert.equal(d.allowedGids, null);
  assert.equal(d.shmRingSize, 4 * 1024 * 1024);
  assert.equal(d.shmSpin, 0.1);
  assert.equal(d.streamSpin, 0.05);
  assert.equal(d.shmPosixFallback, false);
  assert.equal(d.maxConnections, 1024);
  assert.equal(d.frameTimeout, 30000);
  assert.equal(d.expectedServerUid, null);
  // Every key is accepted on its own, with its default value, by pair() too.
  for (const [k, v] of Object.entries(d)) {
    const [a, b] = ipc.pair({ [k]: v });
    a.close();
    b.close();
  }
  // null and undefined mean "the defaults".
  for (const o of [null, undefined, {}]) {
    const [a, b] = ipc.pair(o);
    assert.equal(a.maxMessageSize, d.maxMessageSize);
    a.close();
    b.close();
  }
});

test('options take effect: allowedUids, allowedGids, connectTimeout: null, shmRingSize, shmPosixFallback', BIG, async (t) => {
  const uid = process.getuid();
  // Our own uid is allowed...
  let listener = ipc.listen(endpointFor('unix'), { allowedUids: [uid] });
  let [server, client] = await Promise.all([listener.accept(), ipc.connect(listener.endpoint, { connectTimeout: null })]);
  assert.equal((await through(client, server, 'ok')).toString(), 'ok');
  await Promise.all([server.close(), client.close()]);
  listener.close();
  // ...another uid only is not.
  listener = ipc.listen(endpointFor('unix'), { allowedUids: [uid + 1] });
  await assert.rejects(ipc.connect(listener.endpoint), isIpcError(ipc, 'IPC_PERMISSION_DENIED'));
  listener.close();
  // A gid list naming only a group we are not in refuses us (on either side); our primary
  // gid admits us, even with a uid list that leaves us out (either list admits).
  const otherGid = Math.max(process.getgid(), ...process.getgroups()) + 12345;
  listener = ipc.listen(endpointFor('unix'), { allowedGids: [otherGid] });
  await assert.rejects(ipc.connect(listener.endpoint), isIpcError(ipc, 'IPC_PERMISSION_DENIED'));
  listener.close();
  listener = ipc.listen(endpointFor('unix'), { allowedUids: [uid + 1], allowedGids: [process.getgid()] });
  await assert.rejects(ipc.connect(listener.endpoint, { allowedGids: [otherGid] }), isIpcError(ipc, 'IPC_PERMISSION_DENIED'));
  [server, client] = await Promise.all([listener.accept(), ipc.connect(listener.endpoint, { allowedGids: [process.getgid()] })]);
  assert.equal((await through(client, server, 'group')).toString(), 'group');
  await Promise.all([server.close(), client.close()]);
  listener.close();
  // A small shm ring still carries a message many times its size, in fragments; and the
  // POSIX shared-memory fallback works the same.
  for (const extra of [{}, { shmPosixFallback: true }]) {
    listener = ipc.listen(endpointFor('shm'), { shmRingSize: 64 * 1024, ...extra });
    [server, client] = await Promise.all([listener.accept(), ipc.connect(listener.endpoint, extra)]);
    guard(t, { server, client, listener });
    const big = pattern(5, 1024 * 1024 + 3);
    assert.ok((await through(client, server, big)).equals(big));
    await Promise.all([server.close(), client.close()]);
    listener.close();
  }
});

test('the CommonJS entry point is the same module, async iterators included', WATCHDOG, async (t) => {
  const require = createRequire(import.meta.url);
  const cjs = require('libipc');
  assert.equal(cjs.connect, ipc.connect);
  assert.equal(cjs.Channel, ipc.Channel);
  for (const name of ['connect', 'listen', 'pair', 'fromEnv', 'errorCodes', 'defaults']) {
    assert.equal(typeof cjs[name], 'function', name);
  }
  const [a, b] = cjs.pair();
  assert.ok(a instanceof ipc.Channel);
  assert.equal(typeof a[Symbol.asyncIterator], 'function');
  assert.equal(typeof ipc.Listener.prototype[Symbol.asyncIterator], 'function');
  await a.send('x');
  await a.close();
  const got = [];
  for await (const m of b) got.push(m.toString());
  assert.deepEqual(got, ['x']);
  await b.close();
});

// send() resolves once all of its message is written (for a message larger than a socket
// buffer or a shm ring holds, that is while the receiver reads it), and the sender need make
// no further call for it to arrive. Here the sender is another process that sends one big
// message and then only idles; the receiver reads while the send is under way.
for (const kind of TRANSPORTS) {
  test(`${kind}: a big message arrives although the sender makes no further call after send() resolved`, WATCHDOG, async (t) => {
    const size = 4 * 1024 * 1024 + 1;
    const listener = ipc.listen(endpointFor(kind));
    const run = spawnNode(`
      const ch = await ipc.connect(args[0]);
      const big = Buffer.alloc(Number(args[1]));
      for (let i = 0; i < big.length; i += 1) big[i] = i % 251;
      await ch.send(big);
      console.log('sent');
      setInterval(() => {}, 1000); // stay alive, and leave the channel alone
    `, { args: [listener.endpoint, String(size)], watchdogMs: 8000 });
    try {
      const ch = await listener.accept();
      const [got] = await Promise.all([ch.recv(), run.line('sent')]);
      assert.equal(got.length, size);
      for (let i = 0; i < got.length; i += 4099) assert.equal(got[i], i % 251, `byte ${i}`);
      await ch.close();
    } finally {
      run.kill();
      listener.close();
      await run.exited;
    }
  });
}
