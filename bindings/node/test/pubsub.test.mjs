// Publish/subscribe from Node (`publisher`, `subscribe`): in this process over every
// transport (topics, order, the end after close, `for await`), drop-oldest reporting its drops,
// block cutting off a stuck subscriber (IPC_LAGGED), refusals and bad arguments; then a Rust
// publisher in another process (tests/src/bin/peer/pubsub.rs: `publish`) read by Node
// subscribers. The Rust peer comes from the environment scripts/node-tests.sh sets up
// (LIBIPC_RUST_PEER); that test FAILS when it is not configured, unless LIBIPC_SKIP_INTEROP=1
// skips it (an explicit opt-out). Watchdogs, no wall-clock assertions.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import readline from 'node:readline';

import * as ipc from '../lib.mjs';
import { TRANSPORTS, endpointFor, guard } from './helpers.mjs';

const SKIP = process.env.LIBIPC_SKIP_INTEROP === '1';
const RUST = process.env.LIBIPC_RUST_PEER;
const children = new Set();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

const index = (d) => Number(d.payload.readBigUInt64LE(0));
const numbered = (i, size = 8) => {
  const b = Buffer.alloc(Math.max(size, 8));
  b.writeBigUInt64LE(BigInt(i));
  return b;
};

for (const transport of TRANSPORTS) {
  test(`fan-out with topics over ${transport}`, { timeout: 60_000 }, async (t) => {
    const p = guard(t, await ipc.publisher(endpointFor(transport), null, { overflow: 'block', blockTimeout: 30_000 }));
    const all = guard(t, await ipc.subscribe(p.endpoint));
    const cams = guard(t, await ipc.subscribe(p.endpoint, ['cam/', Buffer.from('img/')]));
    assert.equal(p.subscribers, 2);
    for (let i = 0; i < 300; i++) {
      const n = await p.publish(numbered(i), i % 2 ? `cam/${i}` : 'log');
      assert.equal(n, i % 2 ? 2 : 1);
    }
    const reading = (async () => {
      const got = [];
      for await (const d of all) got.push(d);
      return got;
    })();
    await p.close();
    const got = await reading;
    assert.deepEqual(got.map(index), Array.from({ length: 300 }, (_, i) => i));
    assert.deepEqual(got.map((d) => d.seq), Array.from({ length: 300 }, (_, i) => i));
    assert.ok(got.every((d) => d.dropped === 0));
    const cam = [];
    for await (const d of cams) cam.push(d);
    assert.deepEqual(cam.map((d) => d.topic.toString()), Array.from({ length: 150 }, (_, k) => `cam/${2 * k + 1}`));
    assert.deepEqual(cam.map((d) => d.seq), Array.from({ length: 150 }, (_, k) => k));
    await assert.rejects(p.publish('late'), { code: 'IPC_CLOSED' });
  });
}

test('drop-oldest reports exactly what was dropped', { timeout: 60_000 }, async (t) => {
  const p = guard(t, await ipc.publisher(endpointFor('unix'), null, { depth: 4 }));
  const s = guard(t, await ipc.subscribe(p.endpoint));
  const total = 3000;
  for (let i = 0; i < total; i++) await p.publish(numbered(i, 8000));
  const closing = p.close();
  let received = 0;
  let dropped = 0;
  let last = -1;
  for await (const d of s) {
    assert.equal(index(d), d.seq);
    assert.equal(d.seq, last + 1 + d.dropped);
    last = d.seq;
    received += 1;
    dropped += d.dropped;
  }
  await closing;
  assert.equal(received + dropped, total);
  assert.equal(last, total - 1);
  assert.ok(dropped > 0);
  assert.equal(s.dropped, dropped);
  assert.equal(p.stats.dropped, dropped);
});

test('block cuts off a stuck subscriber; the others get everything', { timeout: 60_000 }, async (t) => {
  const p = guard(t, await ipc.publisher(endpointFor('unix'), null, { overflow: 'block', blockTimeout: 200, depth: 4 }));
  const good = guard(t, await ipc.subscribe(p.endpoint));
  const stuck = guard(t, await ipc.subscribe(p.endpoint));
  const reading = (async () => {
    const seqs = [];
    for await (const d of good) seqs.push(d.seq);
    return seqs;
  })();
  const big = Buffer.alloc(64 * 1024);
  for (let i = 0; i < 1000; i++) await p.publish(big);
  assert.equal(p.stats.cutOff, 1);
  await p.close();
  assert.deepEqual(await reading, Array.from({ length: 1000 }, (_, i) => i));
  await assert.rejects(async () => {
    for (;;) await stuck.recv({ timeout: 10_000 });
  }, { code: 'IPC_LAGGED' });
});

test('refusals and bad arguments', { timeout: 30_000 }, async (t) => {
  const p = guard(t, await ipc.publisher(endpointFor('unix')));
  await assert.rejects(ipc.connect(p.endpoint), { code: 'IPC_PROTOCOL_MISMATCH' });
  await assert.rejects(ipc.publisher(endpointFor('unix'), null, { overflow: 'sometimes' }), { code: 'IPC_INVALID_ARGUMENT' });
  await assert.rejects(ipc.publisher(endpointFor('unix'), null, { depth: 0 }), { code: 'IPC_INVALID_ARGUMENT' });
  await assert.rejects(ipc.publisher(endpointFor('unix'), null, { colour: 'red' }), { code: 'IPC_INVALID_ARGUMENT' });
  await assert.rejects(ipc.subscribe(p.endpoint, 'one-prefix'), TypeError);
  await assert.rejects(ipc.subscribe(p.endpoint, Array(65).fill('x')), { code: 'IPC_INVALID_ARGUMENT' });
  await assert.rejects(p.publish('', 't'.repeat(1025)), { code: 'IPC_INVALID_ARGUMENT' });
  const l = guard(t, ipc.listen(endpointFor('unix')));
  await assert.rejects(ipc.subscribe(l.endpoint), { code: 'IPC_PROTOCOL_MISMATCH' });
  const s = guard(t, await ipc.subscribe(p.endpoint));
  await assert.rejects(s.recv({ timeout: 10 }), { code: 'IPC_TIMEOUT' });
  const ac = new AbortController();
  const pending = s.recv({ signal: ac.signal });
  ac.abort();
  await assert.rejects(pending, { code: 'IPC_CANCELLED' });
  await p.publish('after');
  assert.equal((await s.recv()).payload.toString(), 'after');
  await p.close();
});

test('a Rust publisher process read by Node subscribers', { timeout: 120_000 }, async (t) => {
  if (SKIP) {
    t.skip('LIBIPC_SKIP_INTEROP=1: the cross-language tests are skipped');
    return;
  }
  if (!RUST) throw new Error('LIBIPC_RUST_PEER not set: run ./scripts/node-tests.sh (or set LIBIPC_SKIP_INTEROP=1)');
  const child = spawn(RUST, ['publish', endpointFor('unix'), '--subscribers', '2', '--count', '20000', '--block-ms', '60000', '--size', '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const ready = (await lines.next()).value;
  assert.match(ready, /^ready /);
  const endpoint = ready.slice(6);
  const subs = [await ipc.subscribe(endpoint), await ipc.subscribe(endpoint)];
  const counts = await Promise.all(subs.map(async (s) => {
    let n = 0;
    for await (const d of s) {
      assert.equal(d.seq, n);
      assert.equal(d.dropped, 0);
      assert.equal(d.payload.length, 100);
      assert.equal(index(d), n);
      n += 1;
    }
    return n;
  }));
  assert.deepEqual(counts, [20000, 20000]);
  assert.equal((await lines.next()).value, 'done published 20000 dropped 0 cut_off 0');
  const code = await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', resolve)));
  assert.equal(code, 0);
});
