// Shared helpers of the node:test suite of `libipc` (not a test file itself; `node --test
// test/` loads it as one anyway, which runs nothing).
//
// Nothing here depends on the state the test process inherited: temporary directories are
// fresh (fs.mkdtempSync), the libipc runtime directory (bare names, shm://, fifo://name) is
// set explicitly to a fresh one, child processes get an explicit environment, an explicit cwd
// and no terminal, and every wait on a child has a watchdog that kills it.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The package directory (bindings/node). */
export const PKG_DIR = fileURLToPath(new URL('..', import.meta.url));
/** The ESM entry point of the package, as a file: URL a child script can import. */
export const LIB_URL = pathToFileURL(path.join(PKG_DIR, 'lib.mjs')).href;

const made = [];
process.on('exit', () => {
  for (const d of made) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
});

/** A fresh temporary directory, removed when this process exits. */
export function tempDir(prefix = 'libipc-node-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

let runtime = null;
/**
 * A fresh libipc runtime directory for this process, set in `LIBIPC_RUNTIME_DIR` (so
 * `shm://name` and bare names never depend on the inherited XDG_RUNTIME_DIR / TMPDIR).
 * Children started with `childEnv()` get the same one.
 */
export function runtimeDir() {
  if (runtime === null) {
    runtime = path.join(tempDir('libipc-rt-'), 'rt');
    process.env.LIBIPC_RUNTIME_DIR = runtime;
  }
  return runtime;
}
runtimeDir();

let counter = 0;
/** A name unique to this process and call, matching [A-Za-z0-9][A-Za-z0-9._-]{0,63}. */
export function uniqueName(prefix = 't') {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}

/** The transports every in-process test runs over. */
export const TRANSPORTS = ['unix', 'tcp', 'shm', 'fifo'];

let scratch = null;
/** A fresh endpoint to listen on for `kind` ('unix' | 'tcp' | 'shm' | 'fifo'). */
export function endpointFor(kind) {
  if (scratch === null) scratch = tempDir();
  switch (kind) {
    case 'unix':
      return `unix://${path.join(scratch, uniqueName('s'))}.sock`;
    case 'tcp':
      return 'tcp://127.0.0.1:0';
    case 'shm':
      return `shm://${uniqueName('m')}`;
    case 'fifo':
      return `fifo://${path.join(scratch, uniqueName('f'))}`;
    default:
      throw new Error(`unknown transport ${kind}`);
  }
}

/**
 * A connected pair of channels for `kind`: a listener at a fresh endpoint, one client.
 * 'pair' uses ipc.pair(). Returns { server, client, listener } (listener null for 'pair').
 * `options` go to both sides (minus listen-only ones for connect, handled by the core).
 */
export async function connected(ipc, kind, options = undefined, t = undefined) {
  if (kind === 'pair') {
    const [server, client] = ipc.pair(options);
    return guard(t, { server, client, listener: null });
  }
  const listener = ipc.listen(endpointFor(kind), options);
  guard(t, listener);
  const [server, client] = await Promise.all([
    listener.accept(),
    ipc.connect(listener.endpoint, options),
  ]);
  return guard(t, { server, client, listener });
}

/**
 * Close `what` (a channel, a listener, or an object of them) when the test `t` ends, however
 * it ends: a test its watchdog (node:test `timeout`) stopped would otherwise leave calls
 * pending, which keep the test file's process alive. Returns `what`. No-op without `t`.
 */
export function guard(t, what) {
  if (!t) return what;
  const close = (x) => {
    if (!x || typeof x.close !== 'function') return;
    try {
      const p = x.close();
      if (p && typeof p.catch === 'function') p.catch(() => {});
    } catch {
      // already closed
    }
  };
  t.signal.addEventListener('abort', () => {
    if (what && typeof what.close === 'function') close(what);
    else if (what) Object.values(what).forEach(close);
  }, { once: true });
  return what;
}

/** Close whatever `connected()` gave. */
export async function closeAll({ server, client, listener }) {
  await Promise.all([server.close(), client.close()]);
  if (listener) listener.close();
}

/** The environment of a child process: only what is given, plus our runtime directory. */
export function childEnv(extra = {}) {
  return { LIBIPC_RUNTIME_DIR: runtimeDir(), ...extra };
}

/**
 * Start `node` on an ES module given as source text. The source can use `ipc` (the
 * package, imported by absolute URL) and `args` (the extra arguments). stdout is read line
 * by line; stderr is kept for failure messages. A watchdog kills the child (SIGKILL) after
 * `watchdogMs`; `exited` then reports `watchdog: true`.
 *
 * Returns { child, line(prefix), lines, exited, stderr(), kill() }:
 *   line(prefix)  the next stdout line starting with prefix (rejects if the child exits first)
 *   exited        Promise<{ code, signal, watchdog }>
 */
export function spawnNode(source, { args = [], env = {}, watchdogMs = 20000, stdin = 'ignore' } = {}) {
  const prelude = `import * as ipc from ${JSON.stringify(LIB_URL)};\n` +
    'const args = process.argv.slice(1);\n';
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', prelude + source, '--', ...args],
    { cwd: tempDir(), env: childEnv(env), stdio: [stdin, 'pipe', 'pipe'] },
  );
  let watchdog = false;
  const timer = setTimeout(() => {
    watchdog = true;
    child.kill('SIGKILL');
  }, watchdogMs);
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s) => {
    err += s;
  });
  const lines = [];
  const waiters = [];
  let ended = false;
  let pending = '';
  let cursor = 0; // lines before it were handed out (or skipped) by line()
  const pump = () => {
    while (waiters.length > 0) {
      const w = waiters[0];
      let idx = -1;
      for (let j = cursor; j < lines.length; j += 1) {
        if (lines[j].startsWith(w.prefix)) {
          idx = j;
          break;
        }
      }
      if (idx >= 0) {
        cursor = idx + 1;
        waiters.shift();
        w.resolve(lines[idx]);
      } else if (ended) {
        waiters.shift();
        w.reject(new Error(`child ended before printing "${w.prefix}..."; stdout:\n${lines.join('\n')}\nstderr:\n${err}`));
      } else {
        return;
      }
    }
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (s) => {
    pending += s;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      lines.push(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
    pump();
  });
  const exited = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (pending) lines.push(pending);
      ended = true;
      pump();
      resolve({ code, signal, watchdog });
    });
  });
  return {
    child,
    lines,
    exited,
    stderr: () => err,
    /** The next line (after the last one this returned) that starts with `prefix`. */
    line(prefix = '') {
      return new Promise((resolve, reject) => {
        waiters.push({ prefix, resolve, reject });
        pump();
      });
    },
    kill(signal = 'SIGKILL') {
      child.kill(signal);
    },
  };
}

/** Assert-friendly description of a child's outcome. */
export function describeExit(run, result) {
  return `exit ${JSON.stringify(result)}; stdout:\n${run.lines.join('\n')}\nstderr:\n${run.stderr()}`;
}

/** Resolve after `n` turns of the event loop (setImmediate), never on a clock. */
export async function turns(n) {
  for (let i = 0; i < n; i += 1) await new Promise((r) => setImmediate(r));
}

/** Check that `e` is a libipc error with `code` (and its number from errorCodes()). */
export function isIpcError(ipc, code, { type = Error } = {}) {
  const codes = ipc.errorCodes();
  return (e) => {
    if (!(e instanceof type)) throw new Error(`expected a ${type.name}, got ${e && e.constructor && e.constructor.name}: ${e}`);
    if (e.code !== code) throw new Error(`expected code ${code}, got ${e.code}: ${e.message}`);
    if (typeof e.ipcCode !== 'number' || e.ipcCode !== codes[code]) {
      throw new Error(`expected ipcCode ${codes[code]}, got ${e.ipcCode}`);
    }
    if (typeof e.message !== 'string' || e.message.length === 0) throw new Error('empty message');
    return true;
  };
}
