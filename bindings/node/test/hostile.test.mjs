// A hostile server (the Rust ipc-test-peer's hostile-server mode: raw bytes on a Unix socket)
// gets a Node process the documented error (err.code IPC_MESSAGE_TOO_LARGE or
// IPC_PROTOCOL_VIOLATION), never a crash: the victim is a child Node process, which must exit
// normally and still work after the error.
//
// Needs LIBIPC_RUST_PEER (scripts/node-tests.sh sets it); without it the tests fail, unless
// LIBIPC_SKIP_INTEROP=1 says to skip them.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import test from 'node:test';

import { describeExit, spawnNode, tempDir } from './helpers.mjs';

const RUST = process.env.LIBIPC_RUST_PEER;
const SKIP = process.env.LIBIPC_SKIP_INTEROP === '1';
const WATCHDOG = { timeout: 60000 };

const CASES = [
  ['huge-length', ['recv IPC_MESSAGE_TOO_LARGE', 'recv IPC_MESSAGE_TOO_LARGE']],
  ['bad-type', ['recv IPC_PROTOCOL_VIOLATION', 'recv IPC_PROTOCOL_VIOLATION']],
  ['desync', ['message ok', 'recv IPC_PROTOCOL_VIOLATION', 'recv IPC_PROTOCOL_VIOLATION']],
  ['garbage-hello', ['connect IPC_PROTOCOL_VIOLATION']],
];

/** Start the hostile server; resolves with it once it printed `ready`. */
function hostileServer(ep, attack) {
  const server = spawn(RUST, ['hostile-server', ep, '--attack', attack], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: server.stdout });
  return new Promise((resolve, reject) => {
    lines.once('line', (l) => (l === `ready ${ep}` ? resolve(server) : reject(new Error(`hostile-server: ${l}`))));
    server.once('exit', (code) => reject(new Error(`hostile-server exited with ${code}`)));
  });
}

for (const [attack, expected] of CASES) {
  test(`a hostile server (${attack}) gets the documented error`, { ...WATCHDOG, skip: SKIP && 'LIBIPC_SKIP_INTEROP=1' }, async () => {
    assert.ok(RUST, 'LIBIPC_RUST_PEER must name the Rust ipc-test-peer (scripts/node-tests.sh sets it)');
    const ep = `unix://${path.join(tempDir(), 'hostile.sock')}`;
    const server = await hostileServer(ep, attack);
    try {
      const run = spawnNode(`
        let ch;
        try {
          ch = await ipc.connect(args[0]);
        } catch (e) {
          console.log('connect', e.code);
        }
        if (ch) {
          if (args[1] === 'desync') console.log('message', (await ch.recv({ timeout: 10000 })).toString());
          for (let i = 0; i < 2; i += 1) {
            try {
              await ch.recv({ timeout: 10000 });
              console.log('no error');
            } catch (e) {
              console.log('recv', e.code);
            }
          }
          await ch.close();
        }
        const [a, b] = ipc.pair();
        await a.send(Buffer.from('still here'));
        console.log('alive', (await b.recv({ timeout: 10000 })).toString());
        await a.close();
        await b.close();
      `, { args: [ep, attack], watchdogMs: 30000 });
      const r = await run.exited;
      assert.equal(r.code, 0, describeExit(run, r));
      assert.deepEqual(run.lines, [...expected, 'alive still here'], describeExit(run, r));
    } finally {
      server.stdin.end();
      await new Promise((resolve) => (server.exitCode === null ? server.once('exit', resolve) : resolve()));
    }
  });
}
