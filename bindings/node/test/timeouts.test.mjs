// Timeouts: recv({ timeout }) rejects IPC_TIMEOUT and loses nothing; timeout 0 takes only
// what is there; accept({ timeout }); a send that times out under backpressure sent nothing,
// and everything sent before it arrives.

import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import test from 'node:test';

import * as ipc from 'libipc';
import { TRANSPORTS, closeAll, connected, endpointFor, isIpcError, tempDir } from './helpers.mjs';

const WATCHDOG = { timeout: 20000 };
const timedOut = isIpcError(ipc, 'IPC_TIMEOUT');
const KINDS = [...TRANSPORTS, 'pair'];

for (const kind of KINDS) {
  test(`${kind}: recv({ timeout }) rejects IPC_TIMEOUT and loses nothing: the next recv gets a message sent later`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      for (const timeout of [1, 10, 0.5]) {
        await assert.rejects(c.server.recv({ timeout }), timedOut, `timeout ${timeout}`);
      }
      await c.client.send('later');
      assert.equal((await c.server.recv({ timeout: 10000 })).toString(), 'later');
      assert.equal(c.server.tryRecv(), null);
      // A timeout that does not run out gives the message.
      const p = c.server.recv({ timeout: 10000 });
      await c.client.send('in time');
      assert.equal((await p).toString(), 'in time');
    } finally {
      await closeAll(c);
    }
  });

  test(`${kind}: recv with short timeouts racing a stream of 1,000 numbered messages: each arrives exactly once, in order`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      const n = 1000;
      const sending = (async () => {
        for (let i = 0; i < n; i += 1) {
          const m = Buffer.alloc(4 + (i % 37));
          m.writeUInt32BE(i, 0);
          await c.client.send(m);
          if (i % 7 === 0) await new Promise((r) => setImmediate(r));
          if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
        }
      })();
      let expected = 0;
      let timeouts = 0;
      while (expected < n) {
        let m;
        try {
          m = await c.server.recv({ timeout: [0, 0.1, 1][expected % 3] });
        } catch (e) {
          timedOut(e);
          timeouts += 1;
          continue;
        }
        assert.equal(m.readUInt32BE(0), expected);
        expected += 1;
      }
      await sending;
      assert.ok(timeouts > 0, 'no receive ever timed out: the race was not exercised');
      assert.equal(c.server.tryRecv(), null);
    } finally {
      await closeAll(c);
    }
  });

  test(`${kind}: recv({ timeout: 0 }) takes only what is there`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      await assert.rejects(c.server.recv({ timeout: 0 }), timedOut);
      if (kind !== 'tcp') {
        // Once send() has resolved, a local transport has the message at the receiver (in
        // the socket buffer or the ring). (Over TCP the kernel may still be moving it, so
        // "there" cannot be arranged from the sender's side alone.)
        for (const m of ['a', 'b', 'c']) await c.client.send(m);
        for (const m of ['a', 'b', 'c']) assert.equal((await c.server.recv({ timeout: 0 })).toString(), m);
      }
      // With recv() first taking one message, and another already behind it.
      await c.client.send('x');
      assert.equal((await c.server.recv()).toString(), 'x');
      await assert.rejects(c.server.recv({ timeout: 0 }), timedOut);
      await c.client.send('y');
      assert.equal((await c.server.recv({ timeout: 10000 })).toString(), 'y');
    } finally {
      await closeAll(c);
    }
  });

  test(`${kind}: a send that times out under backpressure sent nothing; everything before it arrives, in order`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      const size = 64 * 1024;
      const sent = [];
      let rejected = null;
      // Nobody reads: the channel fills up until a send runs out of time.
      for (let i = 0; i < 4000 && rejected === null; i += 1) {
        const m = Buffer.alloc(size, i & 0xff);
        m.writeUInt32BE(i, 0);
        try {
          await c.client.send(m, { timeout: 20 });
          sent.push(i);
        } catch (e) {
          timedOut(e);
          rejected = i;
        }
      }
      assert.notEqual(rejected, null, 'the channel never filled up');
      // Now read everything; a last message (without timeout) marks the end.
      const end = c.client.send('end');
      const got = [];
      for (;;) {
        const m = await c.server.recv();
        if (m.length === 3 && m.toString() === 'end') break;
        assert.equal(m.length, size);
        got.push(m.readUInt32BE(0));
      }
      await end;
      assert.deepEqual(got, sent, `message ${rejected} timed out and must not arrive`);
    } finally {
      await closeAll(c);
    }
  });
}

for (const kind of TRANSPORTS) {
  test(`${kind}: accept({ timeout }) rejects IPC_TIMEOUT; a client that connects later is accepted by the next accept`, WATCHDOG, async (t) => {
    const listener = ipc.listen(endpointFor(kind));
    try {
      await assert.rejects(listener.accept({ timeout: 0 }), timedOut);
      await assert.rejects(listener.accept({ timeout: 5 }), timedOut);
      const client = await ipc.connect(listener.endpoint);
      const server = await listener.accept({ timeout: 10000 });
      await client.send('hi');
      assert.equal((await server.recv()).toString(), 'hi');
      await Promise.all([server.close(), client.close()]);
    } finally {
      listener.close();
    }
  });
}

test('handshakeTimeout: connecting to a server that never says hello rejects IPC_TIMEOUT; a silent client does not hold up a listener', WATCHDOG, async (t) => {
  const dir = tempDir();
  // A plain socket server (Node's net) that accepts and says nothing.
  const mute = net.createServer(() => {});
  const mutePath = path.join(dir, 'mute.sock');
  await new Promise((resolve) => mute.listen(mutePath, resolve));
  try {
    await assert.rejects(ipc.connect(`unix://${mutePath}`, { handshakeTimeout: 50 }), timedOut);
  } finally {
    mute.close();
  }
  // A libipc listener with a plain socket client that never says hello: other clients
  // still get accepted.
  const listener = ipc.listen(endpointFor('unix'), { handshakeTimeout: 60000 });
  const silent = net.connect(new URL(listener.endpoint).pathname);
  silent.on('error', () => {});
  await new Promise((resolve) => silent.once('connect', resolve));
  try {
    const [server, client] = await Promise.all([listener.accept(), ipc.connect(listener.endpoint)]);
    await client.send('not held up');
    assert.equal((await server.recv()).toString(), 'not held up');
    await Promise.all([server.close(), client.close()]);
  } finally {
    silent.destroy();
    listener.close();
  }
});
