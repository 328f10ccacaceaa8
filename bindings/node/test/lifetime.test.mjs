// Process lifetime (ref/unref), observed on child processes under a watchdog: a closed or
// idle channel or listener does not keep Node alive; a pending recv() or accept() does, until
// it settles (a message, a client, a close).

import assert from 'node:assert/strict';
import test from 'node:test';

import * as ipc from 'libipc';
import { TRANSPORTS, describeExit, endpointFor, isIpcError, spawnNode, turns } from './helpers.mjs';

const WATCHDOG = { timeout: 30000 };
const CLEAN = { code: 0, signal: null, watchdog: false };

/** Give a child every chance to exit (if it would): timer ticks and loop turns, no assertion on time. */
async function aWhile() {
  for (let i = 0; i < 20; i += 1) {
    await new Promise((r) => setTimeout(r, 10));
    await turns(2);
  }
}

test('a child that listens, connects, talks and closes everything exits by itself', WATCHDOG, async (t) => {
  const endpoints = TRANSPORTS.map(endpointFor);
  const run = spawnNode(`
    for (const ep of args) {
      const l = ipc.listen(ep);
      const [server, client] = await Promise.all([l.accept(), ipc.connect(l.endpoint)]);
      await client.send('ping');
      await server.send(await server.recv());
      console.log('echo ' + (await client.recv()).toString());
      await Promise.all([server.close(), client.close()]);
      l.close();
    }
    const [a, b] = ipc.pair();
    await a.send('x'); await b.recv();
    await a.close(); await b.close();
    console.log('all closed');
  `, { args: endpoints, watchdogMs: 15000 });
  await run.line('all closed');
  const r = await run.exited;
  assert.deepEqual(r, CLEAN, describeExit(run, r));
  assert.equal(run.lines.filter((l) => l === 'echo ping').length, endpoints.length);
});

test('a child with idle open channels and listeners (no pending call) exits by itself', WATCHDOG, async (t) => {
  const endpoints = TRANSPORTS.map(endpointFor);
  const run = spawnNode(`
    globalThis.keep = [];   // everything stays open and referenced
    for (const ep of args) {
      const l = ipc.listen(ep);
      const [server, client] = await Promise.all([l.accept(), ipc.connect(l.endpoint)]);
      await client.send('unread');   // a message nobody reads, too
      keep.push(l, server, client);
    }
    keep.push(...ipc.pair(), ipc.listen(args[0] + '.second'));
    console.log('idle ' + keep.length);
  `, { args: endpoints, watchdogMs: 15000 });
  await run.line('idle');
  const r = await run.exited;
  assert.deepEqual(r, CLEAN, describeExit(run, r));
});

test('a child whose channel to this process stays open and idle exits by itself; we then see it gone', WATCHDOG, async (t) => {
  for (const kind of TRANSPORTS) {
    const listener = ipc.listen(endpointFor(kind));
    const run = spawnNode(`
      globalThis.ch = await ipc.connect(args[0]);
      console.log('connected');
    `, { args: [listener.endpoint], watchdogMs: 15000 });
    const ch = await listener.accept();
    const r = await run.exited;
    assert.deepEqual(r, CLEAN, `${kind}: ${describeExit(run, r)}`);
    // It went away without closing (or was closed at exit): the channel says so.
    await assert.rejects(ch.recv({ timeout: 10000 }), (e) => {
      assert.ok(['IPC_PEER_DISCONNECTED', 'IPC_CLOSED'].includes(e.code), `${kind}: ${e.code}`);
      return true;
    });
    await ch.close();
    listener.close();
  }
});

test('a child with a pending recv does not exit until the peer sends; then it exits by itself', WATCHDOG, async (t) => {
  for (const kind of TRANSPORTS) {
    const listener = ipc.listen(endpointFor(kind));
    // Without the pending recv keeping it alive, the child would exit at once (with code 13,
    // "unsettled top-level await") and never print 'got'.
    const run = spawnNode(`
      const ch = await ipc.connect(args[0]);
      console.log('waiting');
      const m = await ch.recv();
      console.log('got ' + m.toString());
      await ch.close();
    `, { args: [listener.endpoint], watchdogMs: 15000 });
    let exited = false;
    run.exited.then(() => {
      exited = true;
    });
    const ch = await listener.accept();
    await run.line('waiting');
    await aWhile();
    assert.equal(exited, false, `${kind}: the child exited while its recv was pending: ${run.lines.join(' | ')} ${run.stderr()}`);
    await ch.send('wake up');
    assert.equal(await run.line('got'), 'got wake up');
    const r = await run.exited;
    assert.deepEqual(r, CLEAN, `${kind}: ${describeExit(run, r)}`);
    await assert.rejects(ch.recv(), isIpcError(ipc, 'IPC_CLOSED'));
    await ch.close();
    listener.close();
  }
});

test('a child with a pending accept does not exit until a client connects', WATCHDOG, async (t) => {
  for (const kind of TRANSPORTS) {
    const run = spawnNode(`
      const l = ipc.listen(args[0]);
      console.log('listening ' + l.endpoint);
      const ch = await l.accept();
      console.log('accepted');
      await ch.send('welcome');
      await ch.recv().catch(() => {});  // until the client closes
      await ch.close();
      l.close();
    `, { args: [endpointFor(kind)], watchdogMs: 15000 });
    let exited = false;
    run.exited.then(() => {
      exited = true;
    });
    const endpoint = (await run.line('listening ')).slice('listening '.length);
    await aWhile();
    assert.equal(exited, false, `${kind}: the child exited while its accept was pending`);
    const ch = await ipc.connect(endpoint);
    assert.equal((await ch.recv()).toString(), 'welcome');
    await run.line('accepted');
    await ch.close();
    const r = await run.exited;
    assert.deepEqual(r, CLEAN, `${kind}: ${describeExit(run, r)}`);
  }
});

test('close() settles pending calls, so a child that closes its own channel and listener from a timer exits', WATCHDOG, async (t) => {
  const run = spawnNode(`
    const l = ipc.listen(args[0]);
    const [a, b] = ipc.pair();
    const recv = a.recv().catch((e) => e.code);
    const accept = l.accept().catch((e) => e.code);
    setTimeout(() => { a.close(); l.close(); }, 20);
    console.log('recv ' + (await recv) + ', accept ' + (await accept));
  `, { args: [endpointFor('unix')], watchdogMs: 15000 });
  assert.equal(await run.line('recv'), 'recv IPC_CLOSED, accept IPC_CLOSED');
  const r = await run.exited;
  assert.deepEqual(r, CLEAN, describeExit(run, r));
});

test('a pending recv with a timeout keeps the child alive until the timeout, then lets it exit', WATCHDOG, async (t) => {
  const run = spawnNode(`
    const [a, b] = ipc.pair();
    const r = await a.recv({ timeout: 100 }).catch((e) => e.code);
    console.log('recv ' + r);
  `, { watchdogMs: 15000 });
  assert.equal(await run.line('recv'), 'recv IPC_TIMEOUT');
  const r = await run.exited;
  assert.deepEqual(r, CLEAN, describeExit(run, r));
});
