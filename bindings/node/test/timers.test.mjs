// The event loop is never blocked: timers keep firing while recv() and accept() wait, and
// the waits are not on the libuv thread pool (they complete while that pool is held by
// blocked work, in a child process with UV_THREADPOOL_SIZE=1).

import assert from 'node:assert/strict';
import test from 'node:test';

import * as ipc from 'libipc';
import { TRANSPORTS, closeAll, connected, describeExit, endpointFor, spawnNode } from './helpers.mjs';

const WATCHDOG = { timeout: 20000 };
const TICKS = 20;

/** Count ticks of a 2 ms interval until `n` more have fired; `check` runs at each tick. */
function ticking(n, check = () => {}) {
  return new Promise((resolve, reject) => {
    let ticks = 0;
    const iv = setInterval(() => {
      ticks += 1;
      try {
        check(ticks);
      } catch (e) {
        clearInterval(iv);
        reject(e);
        return;
      }
      if (ticks === n) {
        clearInterval(iv);
        resolve(ticks);
      }
    }, 2);
  });
}

for (const kind of [...TRANSPORTS, 'pair']) {
  test(`${kind}: a setInterval keeps firing while recv() waits; the message is sent only after ${TICKS} ticks`, WATCHDOG, async (t) => {
    const c = await connected(ipc, kind, undefined, t);
    try {
      let settled = false;
      const pending = c.server.recv().finally(() => {
        settled = true;
      });
      const ticks = await ticking(TICKS, () => assert.equal(settled, false, 'recv settled before anything was sent'));
      assert.equal(ticks, TICKS);
      await c.client.send(`after ${ticks} ticks`);
      assert.equal((await pending).toString(), `after ${TICKS} ticks`);
    } finally {
      await closeAll(c);
    }
  });
}

for (const kind of TRANSPORTS) {
  test(`${kind}: a setInterval keeps firing while accept() waits; the client connects only after ${TICKS} ticks`, WATCHDOG, async (t) => {
    const listener = ipc.listen(endpointFor(kind));
    let settled = false;
    const pending = listener.accept().finally(() => {
      settled = true;
    });
    await ticking(TICKS, () => assert.equal(settled, false, 'accept settled before anyone connected'));
    const client = await ipc.connect(listener.endpoint);
    const server = await pending;
    await client.send('hi');
    assert.equal((await server.recv()).toString(), 'hi');
    await Promise.all([server.close(), client.close()]);
    listener.close();
  });
}

test('a peer process sends only after the receiver reported 20 timer ticks during its pending recv', WATCHDOG, async (t) => {
  const listener = ipc.listen(endpointFor('unix'));
  const run = spawnNode(`
    const ch = await ipc.connect(args[0]);
    const go = await ch.recv();          // the receiver says when
    await ch.send('late ' + go.toString());
    await ch.close();
  `, { args: [listener.endpoint], watchdogMs: 15000 });
  try {
    const ch = await listener.accept();
    // Our recv is pending before the peer can send anything: it waits for our 'go'.
    let settled = false;
    const pending = ch.recv().finally(() => {
      settled = true;
    });
    await ticking(TICKS, () => assert.equal(settled, false));
    await ch.send('go');
    assert.equal((await pending).toString(), 'late go');
    await assert.rejects(ch.recv(), (e) => e.code === 'IPC_CLOSED');
    await ch.close();
    const r = await run.exited;
    assert.deepEqual(r, { code: 0, signal: null, watchdog: false }, describeExit(run, r));
  } finally {
    run.kill();
    listener.close();
  }
});

test('recv and accept complete while the libuv thread pool is held (UV_THREADPOOL_SIZE=1, its one thread blocked)', WATCHDOG, async (t) => {
  const endpoints = TRANSPORTS.map(endpointFor);
  const run = spawnNode(`
    import fs from 'node:fs';
    import crypto from 'node:crypto';
    // The pool's only thread: a read of stdin, which the parent keeps open and silent.
    const state = { readDone: false, pbkdf2Done: false, statDone: false };
    fs.read(0, Buffer.alloc(1), 0, 1, null, () => { state.readDone = true; });
    // More pool work, queued behind it: it cannot start while the read blocks.
    crypto.pbkdf2('secret', 'salt', 1, 32, 'sha256', () => { state.pbkdf2Done = true; });
    fs.stat(process.execPath, () => { state.statDone = true; });
    let ticks = 0;
    const iv = setInterval(() => { ticks += 1; }, 2);
    const moreTicks = async (n) => {
      const target = ticks + n;
      while (ticks < target) await new Promise((r) => setTimeout(r, 2));
    };
    for (const ep of args) {
      const l = ipc.listen(ep);
      const acc = l.accept();              // pending while the timer ticks
      await moreTicks(5);
      const client = await ipc.connect(l.endpoint);
      const server = await acc;
      const pending = server.recv();       // pending while the timer ticks
      await moreTicks(5);
      await client.send('hello over ' + ep);
      const m = await pending;
      await server.send(m);
      const echo = await client.recv({ timeout: 10000 });
      await Promise.all([server.close(), client.close()]);
      l.close();
      console.log('ok ' + ep + ' ' + echo.toString());
    }
    clearInterval(iv);
    console.log('pool ' + JSON.stringify(state));
  `, {
    args: endpoints,
    env: { UV_THREADPOOL_SIZE: '1' },
    stdin: 'pipe',
    watchdogMs: 15000,
  });
  try {
    for (const ep of endpoints) {
      const line = await run.line(`ok ${ep.replace('tcp://127.0.0.1:0', 'tcp://')}`);
      assert.match(line, / hello over /);
    }
    // Proof that the pool was held all along: none of the pool work has run.
    const pool = JSON.parse((await run.line('pool ')).slice(5));
    assert.deepEqual(pool, { readDone: false, pbkdf2Done: false, statDone: false });
    // Let the pool go; the child then finishes and exits by itself.
    run.child.stdin.end();
    const r = await run.exited;
    assert.deepEqual(r, { code: 0, signal: null, watchdog: false }, describeExit(run, r));
  } finally {
    run.kill();
  }
});
