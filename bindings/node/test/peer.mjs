// The Node peer of the interop matrix: tests/interop/README.md is its contract (the commands,
// the cases, what each must see). Not a test file itself (node --test runs test/*.test.mjs);
// tests/interop/run.py starts it, through scripts/interop/node.sh:
//
//   node peer.mjs server --endpoint E [--max-message N]
//       listen at E, print "READY <endpoint>", echo every client (an async loop per channel,
//       all at once; "interop:close" closes that channel, "interop:kill" SIGKILLs this
//       process) until stdin reaches end-of-file, then close the listener and exit 0
//   node peer.mjs client --endpoint E --case A,B,... [--max-message N]
//       run each case on a new channel; print "PASS <case>", "FAIL <case> <reason>" or
//       "UNSUPPORTED <case>"; exit 1 if any failed, else 127 if any was unsupported, else 0
//
// Errors are told apart by err.code ('IPC_CLOSED', ...); "ERROR <Kind>" and "END <Kind>" on
// stderr give the core's name of the kind (AddressInUse, ...).

import { randomBytes, randomInt } from 'node:crypto';
import process from 'node:process';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

import * as ipc from 'libipc';

const INTEROP_CLOSE = Buffer.from('interop:close');
const INTEROP_KILL = Buffer.from('interop:kill');

/** The core's name of an error's kind: 'IPC_ADDRESS_IN_USE' -> 'AddressInUse'. */
function kindOf(e) {
  if (!e || typeof e.code !== 'string' || !e.code.startsWith('IPC_')) return e?.name ?? 'Error';
  return e.code
    .slice(4)
    .split('_')
    .map((w) => w[0] + w.slice(1).toLowerCase())
    .join('');
}

/** The n bytes whose byte i is i % 251. */
function pattern(n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

// ---------------------------------------------------------------------------------------------
// publisher: message i = 0, 1, 2, ... about every millisecond until stdin ends, topic "even"
// or "odd", payload u64le(i) || pattern(i % 1000); a full subscriber blocks it up to 30 s.

async function publisherCommand(endpoint, options) {
  let p;
  try {
    p = await ipc.publisher(endpoint, options, { overflow: 'block', blockTimeout: 30_000 });
  } catch (e) {
    process.stderr.write(`ERROR ${kindOf(e)} ${e.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`READY ${p.endpoint}\n`);
  let stop = false;
  process.stdin.on('end', () => {
    stop = true;
  });
  process.stdin.resume();
  for (let i = 0; !stop; i++) {
    if (p.subscribers === 0) {
      // Nothing while nobody listens: the matrix runs many idle publishers.
      await new Promise((resolve) => setTimeout(resolve, 10));
      i -= 1;
      continue;
    }
    const payload = Buffer.concat([Buffer.alloc(8), pattern(i % 1000)]);
    payload.writeBigUInt64LE(BigInt(i), 0);
    await p.publish(payload, i % 2 ? 'odd' : 'even');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await p.close();
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// rpc-server: "fail:<status>:<text>" gets that error reply, anything else itself.

async function rpcServerCommand(endpoint, options) {
  let server;
  try {
    server = await ipc.rpcListen(endpoint, options);
  } catch (e) {
    process.stderr.write(`ERROR ${kindOf(e)} ${e.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`READY ${server.endpoint}\n`);
  process.stdin.on('end', () => {
    server.close();
    process.exit(0);
  });
  process.stdin.resume();
  await ipc.serve(server, (body) => {
    if (body.subarray(0, 5).toString() === 'fail:') {
      const rest = body.subarray(5).toString();
      const at = rest.indexOf(':');
      const e = new Error(at < 0 ? '' : rest.slice(at + 1));
      e.status = Number(at < 0 ? rest : rest.slice(0, at)) || 1;
      throw e;
    }
    return body;
  });
}

// ---------------------------------------------------------------------------------------------
// server

async function server(endpoint, options) {
  let listener;
  try {
    listener = ipc.listen(endpoint, options);
  } catch (e) {
    process.stderr.write(`ERROR ${kindOf(e)} ${e.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`READY ${listener.endpoint}\n`);

  const serve = async (ch) => {
    try {
      for (;;) {
        const m = await ch.recv();
        if (m.equals(INTEROP_CLOSE)) break;
        if (m.equals(INTEROP_KILL)) process.kill(process.pid, 'SIGKILL');
        await ch.send(m);
      }
    } catch (e) {
      // IPC_CLOSED: the client closed, the ordinary end.
      if (e.code !== 'IPC_CLOSED') process.stderr.write(`END ${kindOf(e)}\n`);
    }
    await ch.close().catch(() => {});
  };

  process.stdin.on('end', () => {
    listener.close();
    // Channels still being served have a recv pending, which keeps the process alive.
    process.exit(0);
  });
  process.stdin.resume();

  for (;;) {
    let ch;
    try {
      ch = await listener.accept();
    } catch (e) {
      if (e.code === 'IPC_CLOSED') return;
      process.stderr.write(`END ${kindOf(e)} (accept)\n`);
      continue;
    }
    serve(ch);
  }
}

// ---------------------------------------------------------------------------------------------
// client

class CaseFailed extends Error {}

function describe(b) {
  return `${b.length} bytes${b.length ? ` starting ${b.subarray(0, 8).toString('hex')}` : ''}`;
}

function expectSame(what, got, sent) {
  if (got.equals(sent)) return;
  if (got.length !== sent.length) throw new CaseFailed(`${what}: expected ${describe(sent)}, got ${describe(got)}`);
  let i = 0;
  while (got[i] === sent[i]) i++;
  throw new CaseFailed(`${what}: ${got.length} bytes as sent, but byte ${i} is 0x${got[i].toString(16)}, not 0x${sent[i].toString(16)}`);
}

async function expectError(code, what, call) {
  let result;
  try {
    result = await call();
  } catch (e) {
    if (e.code === code) return;
    throw new CaseFailed(`${what}: expected ${code}, got ${e.code ?? e.name} (${e.message})`);
  }
  throw new CaseFailed(`${what}: expected ${code}, but it succeeded (${Buffer.isBuffer(result) ? describe(result) : result})`);
}

async function echo(ch, message) {
  await ch.send(message);
  expectSame('the reply', await ch.recv(), message);
}

const CASES = {
  empty: (ch) => echo(ch, Buffer.alloc(0)),
  'one-byte': (ch) => echo(ch, Buffer.from([0x2a])),
  'all-bytes': (ch) => echo(ch, Buffer.from(Array.from({ length: 256 }, (_, i) => i))),
  'non-utf8': (ch) => echo(ch, Buffer.from('fffefd00c328a0a1e28228f09028bc80', 'hex')),
  '64k': (ch) => echo(ch, pattern(65536)),
  '1m': (ch) => echo(ch, pattern(1 << 20)),
  'max-size': (ch) => echo(ch, pattern(ch.maxMessageSize)),
  'over-max': async (ch) => {
    const m = ch.maxMessageSize;
    await expectError('IPC_MESSAGE_TOO_LARGE', `sending ${m + 1} bytes (the limit ${m})`, () => ch.send(pattern(m + 1)));
    await echo(ch, Buffer.from([0x2a]));
  },
  'random-10k': async (ch) => {
    const n = 10_000;
    const window = 8;
    const inFlight = [];
    const send = async (i) => {
      const body = randomBytes(randomInt(0, 1025));
      const head = Buffer.alloc(8);
      head.writeUInt32LE(i, 0);
      head.writeUInt32LE(zlib.crc32(body), 4);
      const m = Buffer.concat([head, body]);
      inFlight.push(m);
      await ch.send(m);
    };
    for (let i = 0; i < Math.min(window, n); i++) await send(i);
    for (let i = 0; i < n; i++) {
      const got = await ch.recv();
      expectSame(`reply ${i}`, got, inFlight.shift());
      if (got.readUInt32LE(0) !== i || zlib.crc32(got.subarray(8)) !== got.readUInt32LE(4)) {
        throw new CaseFailed(`reply ${i}: sequence number ${got.readUInt32LE(0)}, or the CRC-32 of its body does not match`);
      }
      if (i + window < n) await send(i + window);
    }
  },
  'server-close': async (ch) => {
    const m = pattern(100);
    for (let i = 0; i < 3; i++) await ch.send(m);
    for (let i = 0; i < 3; i++) expectSame(`reply ${i}`, await ch.recv(), m);
    await ch.send(INTEROP_CLOSE);
    await expectError('IPC_CLOSED', 'the receive after interop:close', () => ch.recv());
  },
  'server-killed': async (ch) => {
    await echo(ch, pattern(100));
    await ch.send(INTEROP_KILL);
    await expectError('IPC_PEER_DISCONNECTED', 'the receive after interop:kill', () => ch.recv());
  },
};

// Request/reply cases: each connects by itself (tests/interop/README.md).
async function withRpc(endpoint, options, run) {
  let c;
  try {
    c = await ipc.rpcConnect(endpoint, options);
  } catch (e) {
    throw new CaseFailed(`connect: ${e.code ?? e.name} (${e.message})`);
  }
  try {
    await run(c);
  } finally {
    await c.close().catch(() => {});
  }
}

const RPC_CASES = {
  'rpc-echo': (ep, o) => withRpc(ep, o, async (c) => {
    expectSame('reply', await c.call(pattern(1000)), pattern(1000));
    expectSame('empty reply', await c.call(Buffer.alloc(0)), Buffer.alloc(0));
  }),
  'rpc-error': (ep, o) => withRpc(ep, o, async (c) => {
    try {
      await c.call('fail:42:no such thing');
      throw new CaseFailed('expected IPC_REMOTE, the call succeeded');
    } catch (e) {
      if (e instanceof CaseFailed) throw e;
      if (e.code !== 'IPC_REMOTE' || e.status !== 42 || e.message !== 'no such thing') {
        throw new CaseFailed(`expected IPC_REMOTE 42 "no such thing", got ${e.code} ${e.status} ${e.message}`);
      }
    }
    expectSame('reply after the error', await c.call('x'), Buffer.from('x'));
  }),
  'rpc-many': (ep, o) => withRpc(ep, o, async (c) => {
    const bodies = Array.from({ length: 200 }, (_, i) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(i, 0);
      return b;
    });
    const calls = bodies.map((b) => c.call(b));
    for (let i = 199; i >= 0; i--) expectSame(`reply ${i}`, await calls[i], bodies[i]);
  }),
  'rpc-plain-refused': (ep, o) => expectError('IPC_PROTOCOL_MISMATCH', "a plain channel's connect", () => ipc.connect(ep, o)),
  'sub-all': (ep, o) => subscription(ep, o, [], 500, 1),
  'sub-topic': (ep, o) => subscription(ep, o, ['odd'], 250, 2),
  'sub-plain-refused': (ep, o) => expectError('IPC_PROTOCOL_MISMATCH', "a plain channel's connect", () => ipc.connect(ep, o)),
};

// The contract's publisher stream: message i has topic "even" or "odd" and the payload
// u64le(i) || pattern(i % 1000). Receive `count` messages of a subscription to `topics`:
// numbered 0, 1, ... with nothing dropped, indices `step` apart.
async function subscription(endpoint, options, topics, count, step) {
  let s;
  try {
    s = await ipc.subscribe(endpoint, topics, options);
  } catch (e) {
    throw new CaseFailed(`subscribe: ${e.code ?? e.name} (${e.message})`);
  }
  try {
    let first = null;
    for (let k = 0; k < count; k++) {
      const d = await s.recv({ timeout: 60_000 });
      const i = Number(d.payload.readBigUInt64LE(0));
      if (first === null) first = i;
      if (d.seq !== k || d.dropped !== 0) throw new CaseFailed(`message ${k}: sequence number ${d.seq} and ${d.dropped} dropped`);
      if (i !== first + k * step) throw new CaseFailed(`message ${k}: index ${i}, expected ${first + k * step}`);
      const want = Buffer.concat([d.payload.subarray(0, 8), pattern(i % 1000)]);
      if (d.topic.toString() !== (i % 2 ? 'odd' : 'even') || !d.payload.equals(want)) {
        throw new CaseFailed(`message ${k} (index ${i}): wrong topic or payload`);
      }
    }
  } finally {
    await s.close().catch(() => {});
  }
}

async function client(endpoint, cases, options) {
  let failed = false;
  let unsupported = false;
  for (const name of cases) {
    if (Object.hasOwn(RPC_CASES, name)) {
      let reason = null;
      try {
        await RPC_CASES[name](endpoint, options);
      } catch (e) {
        reason = e instanceof CaseFailed ? e.message : `unexpected ${e?.code ?? e?.name}: ${e?.message ?? e}`;
      }
      if (reason === null) {
        process.stdout.write(`PASS ${name}\n`);
      } else {
        process.stdout.write(`FAIL ${name} ${reason.split(/\s+/).join(' ')}\n`);
        failed = true;
      }
      continue;
    }
    const run = Object.hasOwn(CASES, name) ? CASES[name] : null;
    if (!run) {
      process.stdout.write(`UNSUPPORTED ${name}\n`);
      unsupported = true;
      continue;
    }
    let reason = null;
    try {
      let ch;
      try {
        ch = await ipc.connect(endpoint, options);
      } catch (e) {
        throw new CaseFailed(`connect: ${e.code ?? e.name} (${e.message})`);
      }
      try {
        await run(ch);
      } finally {
        await ch.close().catch(() => {});
      }
    } catch (e) {
      reason = e instanceof CaseFailed ? e.message : `unexpected ${e?.code ?? e?.name}: ${e?.message ?? e}`;
    }
    if (reason === null) {
      process.stdout.write(`PASS ${name}\n`);
    } else {
      process.stdout.write(`FAIL ${name} ${reason.split(/\s+/).join(' ')}\n`);
      failed = true;
    }
  }
  return failed ? 1 : unsupported ? 127 : 0;
}

// ---------------------------------------------------------------------------------------------

function usage(message) {
  process.stderr.write(
    `peer.mjs: ${message}\n` +
      'usage: node peer.mjs server --endpoint E [--max-message N]\n' +
      '       node peer.mjs client --endpoint E --case NAME[,NAME...] [--max-message N]\n' +
      '       node peer.mjs publisher --endpoint E [--max-message N]\n' +
      '       node peer.mjs rpc-server --endpoint E [--max-message N]\n',
  );
  process.exit(2);
}

const [command, ...rest] = process.argv.slice(2);
if (!['server', 'client', 'publisher', 'rpc-server'].includes(command)) usage(`unknown command ${command ?? '(none)'}`);
let values;
try {
  ({ values } = parseArgs({
    args: rest,
    options: {
      endpoint: { type: 'string' },
      case: { type: 'string' },
      'max-message': { type: 'string' },
    },
    strict: true,
  }));
} catch (e) {
  usage(e.message);
}
if (values.endpoint === undefined) usage('--endpoint is required');
const options = {};
if (values['max-message'] !== undefined) {
  const n = Number(values['max-message']);
  if (!Number.isSafeInteger(n) || n < 0) usage(`--max-message ${values['max-message']}: not a size`);
  options.maxMessageSize = n;
}
if (command === 'server') {
  if (values.case !== undefined) usage('server takes no --case');
  await server(values.endpoint, options);
} else if (command === 'rpc-server') {
  if (values.case !== undefined) usage('rpc-server takes no --case');
  await rpcServerCommand(values.endpoint, options);
} else if (command === 'publisher') {
  if (values.case !== undefined) usage('publisher takes no --case');
  await publisherCommand(values.endpoint, options);
} else {
  if (values.case === undefined) usage('client needs --case');
  process.exitCode = await client(values.endpoint, values.case.split(','), options);
}
