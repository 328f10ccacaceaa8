// AbortSignal: an aborted signal rejects recv / accept / send with IPC_CANCELLED and loses
// nothing; the race of 3,000 numbered messages from another process against aborts at random
// moments (every message arrives exactly once, in order); the abort listener is removed when
// a call settles (one signal reused for thousands of calls).

import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import test from 'node:test';

import * as ipc from 'libipc';
import { TRANSPORTS, closeAll, connected, describeExit, endpointFor, isIpcError, spawnNode } from './helpers.mjs';

const WATCHDOG = { timeout: 30000 };
const cancelled = isIpcError(ipc, 'IPC_CANCELLED');
const KINDS = [...TRANSPORTS, 'pair'];

for (const kind of KINDS) {
  test(`${kind}: an already-aborted signal rejects recv and send with IPC_CANCELLED, and nothing is lost or sent`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      await c.client.send('first');
      // Whatever is there, an aborted signal wins, and the message stays.
      const aborted = [AbortSignal.abort(), AbortSignal.abort(new Error('my reason'))];
      const ac = new AbortController();
      ac.abort();
      aborted.push(ac.signal);
      for (const signal of aborted) {
        await assert.rejects(c.server.recv({ signal }), cancelled);
        await assert.rejects(c.server.recv({ signal, timeout: 0 }), cancelled);
        await assert.rejects(c.client.send('never', { signal }), cancelled);
      }
      assert.equal((await c.server.recv()).toString(), 'first');
      await c.client.send('second');
      assert.equal((await c.server.recv()).toString(), 'second');
      // No 'never' went out.
      await c.client.send('third');
      assert.equal((await c.server.recv()).toString(), 'third');
    } finally {
      await closeAll(c);
    }
  });

  test(`${kind}: aborting a pending recv rejects it with IPC_CANCELLED; the next recv gets the next message`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      for (const how of ['sync', 'microtask', 'immediate', 'timeout', 'AbortSignal.timeout']) {
        const ac = new AbortController();
        const signal = how === 'AbortSignal.timeout' ? AbortSignal.timeout(5) : ac.signal;
        const pending = assert.rejects(c.server.recv({ signal }), cancelled, how);
        if (how === 'sync') ac.abort();
        if (how === 'microtask') queueMicrotask(() => ac.abort());
        if (how === 'immediate') setImmediate(() => ac.abort());
        if (how === 'timeout') setTimeout(() => ac.abort(), 5);
        await pending;
        assert.equal(getEventListeners(signal, 'abort').length, 0, `${how}: listener left`);
        await c.client.send(`after ${how}`);
        assert.equal((await c.server.recv({ signal: new AbortController().signal })).toString(), `after ${how}`);
      }
      // Aborting once the call has settled changes nothing.
      const ac = new AbortController();
      const p = c.server.recv({ signal: ac.signal });
      await c.client.send('got it');
      assert.equal((await p).toString(), 'got it');
      ac.abort();
      await c.client.send('and this');
      assert.equal((await c.server.recv()).toString(), 'and this');
    } finally {
      await closeAll(c);
    }
  });
}

for (const kind of TRANSPORTS) {
  test(`${kind}: accept with an aborted signal, and an aborted pending accept, reject with IPC_CANCELLED; the client waits for the next accept`, WATCHDOG, async (t) => {
    const listener = ipc.listen(endpointFor(kind));
    try {
      await assert.rejects(listener.accept({ signal: AbortSignal.abort() }), cancelled);
      const ac = new AbortController();
      const pending = assert.rejects(listener.accept({ signal: ac.signal }), cancelled);
      setImmediate(() => ac.abort());
      await pending;
      assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
      // A client that connects now is not lost: the next accept gets it.
      const client = await ipc.connect(listener.endpoint);
      const server = await listener.accept({ signal: new AbortController().signal });
      await client.send('accepted');
      assert.equal((await server.recv()).toString(), 'accepted');
      await Promise.all([server.close(), client.close()]);
    } finally {
      listener.close();
    }
  });
}

/** A small seeded PRNG (xorshift32), so a failing run can be replayed from its seed. */
function prng(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const N = 3000;
for (const kind of TRANSPORTS) {
  test(`${kind}: ${N} numbered messages from another process, recv aborted at random moments: each arrives exactly once, in order`, WATCHDOG, async (t) => {
    const seed = (Date.now() ^ process.pid) >>> 0;
    t.diagnostic(`seed ${seed}`);
    const rnd = prng(seed);
    const listener = ipc.listen(endpointFor(kind));
    // The peer streams the numbers (with a little random padding), pausing now and then so
    // that the receiver often waits, and then waits for our word before closing.
    const run = spawnNode(`
      const ch = await ipc.connect(args[0]);
      const n = Number(args[1]);
      let x = Number(args[2]) || 1;
      for (let i = 0; i < n; i += 1) {
        x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
        const m = Buffer.alloc(4 + (x % 64));
        m.writeUInt32BE(i, 0);
        await ch.send(m);
        if (x % 17 === 0) await new Promise((r) => setTimeout(r, 1));
        else if (x % 5 === 0) await new Promise((r) => setImmediate(r));
      }
      const word = await ch.recv();
      await ch.close();
      console.log('peer done ' + word.toString());
    `, { args: [listener.endpoint, String(N), String(seed)], watchdogMs: 25000 });
    try {
      const ch = await listener.accept();
      let expected = 0;
      let aborts = 0;
      let abortedWhilePending = 0; // not counting the signals aborted before the call
      const ways = [0, 0, 0, 0, 0, 0];
      while (expected < N) {
        const ac = new AbortController();
        const way = rnd(6);
        ways[way] += 1;
        switch (way) {
          case 0: queueMicrotask(() => ac.abort()); break;
          case 1: process.nextTick(() => ac.abort()); break;
          case 2: setImmediate(() => ac.abort()); break;
          case 3: setTimeout(() => ac.abort(), rnd(3)); break;
          case 4: ac.abort(); break; // before the call: rejected at once
          default: break; // never aborted (a stale timer of an earlier round may still fire)
        }
        let m;
        try {
          m = await ch.recv({ signal: ac.signal });
        } catch (e) {
          cancelled(e);
          aborts += 1;
          if (way !== 4) abortedWhilePending += 1;
          continue;
        }
        assert.ok(m.length >= 4 && m.length < 68, `length ${m.length}`);
        assert.equal(m.readUInt32BE(0), expected, `message ${expected} (after ${aborts} aborts)`);
        expected += 1;
      }
      t.diagnostic(`${aborts} receives aborted, ${abortedWhilePending} of them after the call; abort ways ${JSON.stringify(ways)}`);
      assert.equal(expected, N);
      assert.ok(abortedWhilePending > 0, 'no receive was aborted after it started: the race was not exercised');
      // Nothing more: after our word the peer closes, and no duplicate came before that.
      await ch.send('thanks');
      await assert.rejects(ch.recv(), isIpcError(ipc, 'IPC_CLOSED'));
      await ch.close();
      assert.equal(await run.line('peer done'), 'peer done thanks');
      const r = await run.exited;
      assert.deepEqual(r, { code: 0, signal: null, watchdog: false }, describeExit(run, r));
    } finally {
      run.kill();
      listener.close();
    }
  });
}

test('one long-lived AbortSignal reused for 5,000 receives and accepts: its listener is removed each time, no MaxListenersExceededWarning', WATCHDOG, async (t) => {
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  const c = await connected(ipc, 'unix', undefined, t);
  try {
    const ac = new AbortController();
    const { signal } = ac;
    for (let i = 0; i < 5000; i += 1) {
      // Pending first (nothing there yet), so the signal is wired to the wait.
      const p = c.server.recv({ signal });
      if (i % 1000 === 0) assert.equal(getEventListeners(signal, 'abort').length, 1);
      await c.client.send(`m${i}`);
      assert.equal((await p).toString(), `m${i}`);
      // Also a recv that settles at once, and one that times out.
      if (i % 10 === 0) {
        await assert.rejects(c.server.recv({ signal, timeout: 0 }), isIpcError(ipc, 'IPC_TIMEOUT'));
        await assert.rejects(c.server.recv({ signal, timeout: 1 }), isIpcError(ipc, 'IPC_TIMEOUT'));
      }
    }
    assert.equal(getEventListeners(signal, 'abort').length, 0);
    // Same for accept.
    for (let i = 0; i < 50; i += 1) {
      const p = c.listener.accept({ signal });
      const client = await ipc.connect(c.listener.endpoint);
      const server = await p;
      await Promise.all([server.close(), client.close()]);
    }
    assert.equal(getEventListeners(signal, 'abort').length, 0);
    // The signal still works after all that.
    const last = assert.rejects(c.server.recv({ signal }), cancelled);
    ac.abort();
    await last;
    // Warnings are emitted on a later tick.
    await new Promise((r) => setImmediate(r));
    const leaks = warnings.filter((w) => w.name === 'MaxListenersExceededWarning');
    assert.deepEqual(leaks.map(String), []);
  } finally {
    process.off('warning', onWarning);
    await closeAll(c);
  }
});
