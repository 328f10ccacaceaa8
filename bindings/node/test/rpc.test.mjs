// Request/reply from Node (`rpcConnect`, `RpcClient`): against the Rust request/reply server
// in another process (tests/src/bin/peer/rpc.rs: `rpc-echo-server`, handlers delayed at
// random and run concurrently, so replies come back out of order) and against the Python
// service of the interop contract (`helper.py rpc-server`): 1,000 calls in flight, error
// replies (IPC_REMOTE with `status`), deadlines and AbortSignal (the request is abandoned; its
// late reply is dropped and counted), refusals between plain channels and request/reply
// endpoints. The peers come from the environment scripts/node-tests.sh sets up
// (LIBIPC_RUST_PEER, LIBIPC_PYTHON, LIBIPC_PY_HELPER); a test whose peer is not configured
// FAILS, unless LIBIPC_SKIP_INTEROP=1 skips them (an explicit opt-out). Watchdogs, no
// wall-clock assertions.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import * as ipc from '../lib.mjs';

const SKIP = process.env.LIBIPC_SKIP_INTEROP === '1';
const RUST = process.env.LIBIPC_RUST_PEER;
const PYTHON = process.env.LIBIPC_PYTHON;
const PY_HELPER = process.env.LIBIPC_PY_HELPER;

function need(t, vars) {
  if (SKIP) {
    t.skip('LIBIPC_SKIP_INTEROP=1: the cross-language tests are skipped');
    return false;
  }
  const missing = Object.entries(vars).filter(([, v]) => !v).map(([k]) => k);
  if (missing.length > 0) {
    throw new Error(`${missing.join(', ')} not set: run ./scripts/node-tests.sh (or set LIBIPC_SKIP_INTEROP=1)`);
  }
  return true;
}

const tmp = mkdtempSync(path.join(tmpdir(), 'libipc-node-rpc-'));
const runDir = path.join(tmp, 'run');
mkdirSync(runDir, { mode: 0o700 });
process.env.LIBIPC_RUNTIME_DIR = runDir;
const children = new Set();
after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

/** Start `cmd args`, wait for its first line starting with `prefix`; the rest of it. */
async function startServer(cmd, args, prefix) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { LIBIPC_RUNTIME_DIR: runDir } });
  children.add(child);
  const lines = readline.createInterface({ input: child.stdout });
  for await (const line of lines) {
    if (line.startsWith(prefix)) return { child, endpoint: line.slice(prefix.length).trim() };
    throw new Error(`unexpected first line from ${cmd}: ${line}`);
  }
  throw new Error(`${cmd} ended before its ready line`);
}

function stop(child) {
  return new Promise((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.stdin.end();
  });
}

let n = 0;
const ep = (transport) =>
  transport === 'shm' ? `shm://node-rpc-${process.pid}-${++n}` : `unix://${path.join(tmp, `r${++n}.sock`)}`;

for (const transport of ['unix', 'shm']) {
  test(`rust server over ${transport}: 1,000 calls in flight, errors, deadlines, abort`, { timeout: 120_000 }, async (t) => {
    if (!need(t, { LIBIPC_RUST_PEER: RUST })) return;
    const { child, endpoint } = await startServer(RUST, ['rpc-echo-server', ep(transport), '--async', '--max-delay-ms', '10'], 'ready ');
    const c = await ipc.rpcConnect(endpoint);
    const bodies = Array.from({ length: 1000 }, (_, i) => Buffer.from(`call ${i}`));
    const replies = await Promise.all(bodies.map((b) => c.call(b)));
    replies.forEach((r, i) => assert.deepEqual(r, bodies[i]));
    assert.equal(c.inFlight, 0);

    await assert.rejects(c.call('fail:42:no such thing'), (e) => {
      assert.equal(e.code, 'IPC_REMOTE');
      assert.equal(e.status, 42);
      assert.equal(e.message, 'no such thing');
      return true;
    });
    assert.deepEqual(await c.call('still fine'), Buffer.from('still fine'));

    // The async server aborts a cancelled request's handler: no late reply follows.
    await assert.rejects(c.call('sleep:300', { timeout: 20 }), { code: 'IPC_TIMEOUT' });
    const ac = new AbortController();
    const aborted = c.call('sleep:300', { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(aborted, { code: 'IPC_CANCELLED' });
    assert.equal(c.inFlight, 0);
    assert.deepEqual(await c.call('after'), Buffer.from('after'));

    await assert.rejects(ipc.connect(endpoint), { code: 'IPC_PROTOCOL_MISMATCH' });
    await c.close();
    await assert.rejects(c.call('x'), { code: 'IPC_CLOSED' });
    assert.equal(await stop(child), 0);
  });
}

test('a request/reply client at a plain listener is refused', { timeout: 30_000 }, async () => {
  const listener = ipc.listen(ep('unix'));
  await assert.rejects(ipc.rpcConnect(listener.endpoint), { code: 'IPC_PROTOCOL_MISMATCH' });
  listener.close();
});

test('a Python service called from Node', { timeout: 60_000 }, async (t) => {
  if (!need(t, { LIBIPC_PYTHON: PYTHON, LIBIPC_PY_HELPER: PY_HELPER })) return;
  const { child, endpoint } = await startServer(PYTHON, ['-u', PY_HELPER, 'rpc-server', '--endpoint', ep('unix')], 'READY ');
  const c = await ipc.rpcConnect(endpoint);
  const got = await Promise.all(Array.from({ length: 200 }, (_, i) => c.call(`py ${i}`)));
  got.forEach((r, i) => assert.equal(r.toString(), `py ${i}`));
  await assert.rejects(c.call('fail:7:from python'), (e) => e.code === 'IPC_REMOTE' && e.status === 7 && e.message === 'from python');
  await c.close();
  assert.equal(await stop(child), 0);
});

test('a Node request/reply server: 1,000 calls in flight, out of order, errors, cancellation', { timeout: 60_000 }, async (t) => {
  const server = await ipc.rpcListen(ep('unix'));
  t.after(() => server.close());
  const aborted = [];
  const serving = ipc.serve(server, async (body, { id, signal }) => {
    const text = body.toString();
    if (text === 'fail') {
      const e = new Error('no such thing');
      e.status = 42;
      throw e;
    }
    if (text === 'boom') throw new TypeError('bad input');
    if (text === 'slow') {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 30_000);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          aborted.push(id);
          resolve();
        });
      });
      return 'too late';
    }
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 10)));
    return body;
  });
  const c = await ipc.rpcConnect(server.endpoint);
  const bodies = Array.from({ length: 1000 }, (_, i) => Buffer.from(`call ${i}`));
  const replies = await Promise.all(bodies.map((b) => c.call(b)));
  replies.forEach((r, i) => assert.deepEqual(r, bodies[i]));
  await assert.rejects(c.call('fail'), (e) => e.code === 'IPC_REMOTE' && e.status === 42 && e.message === 'no such thing');
  await assert.rejects(c.call('boom'), (e) => e.code === 'IPC_REMOTE' && e.status === ipc.PANIC_REPLY_STATUS && e.message === 'TypeError: bad input');
  const ac = new AbortController();
  const slow = c.call('slow', { signal: ac.signal });
  await new Promise((resolve) => setTimeout(resolve, 50));
  ac.abort();
  await assert.rejects(slow, { code: 'IPC_CANCELLED' });
  // The handler saw the abort; its reply is not sent (no late reply at the client).
  while (aborted.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.deepEqual(await c.call('after'), Buffer.from('after'));
  assert.equal(c.lateReplies, 0);
  await assert.rejects(ipc.connect(server.endpoint), { code: 'IPC_PROTOCOL_MISMATCH' });
  await c.close();
  server.close();
  await serving;
});
