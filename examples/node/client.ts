// A client, in TypeScript: connects to the endpoint in argv[2], sends each further argument as
// a message and prints each reply on its own line (the twin of client.mjs, and of the Rust, C
// and Python clients).
//
//   node /tmp/ipc-ts/client.js unix:///tmp/echo.sock hello "two words"   # see README.md
//
// Every wait is bounded by `WaitOptions`: a timeout, and an `AbortSignal` that Ctrl-C aborts,
// so an interrupted client stops waiting at once (IPC_CANCELLED) and closes its channel.
import { connect, type Channel, type IpcError, type WaitOptions } from 'libipc';

function isIpcError(e: unknown): e is IpcError {
  return (
    e instanceof Error &&
    typeof (e as Partial<IpcError>).code === 'string' &&
    typeof (e as Partial<IpcError>).ipcCode === 'number'
  );
}

/** What went wrong, in a line, for the codes this client expects. */
function explain(e: unknown): string {
  if (!isIpcError(e)) return String(e);
  switch (e.code) {
    case 'IPC_NOT_FOUND':
      return `nobody is listening (${e.message})`;
    case 'IPC_TIMEOUT':
      return `no answer in time (${e.message})`;
    case 'IPC_CANCELLED':
      return 'interrupted';
    case 'IPC_CLOSED':
    case 'IPC_PEER_DISCONNECTED':
      return `the server went away (${e.code})`;
    case 'IPC_MESSAGE_TOO_LARGE':
      return `a message is over the server's limit (${e.message})`;
    default:
      return `${e.code} (${e.ipcCode}): ${e.message}`;
  }
}

const [endpoint = 'demo', ...texts] = process.argv.slice(2);

const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());
const wait: WaitOptions = { timeout: 5000, signal: interrupt.signal };

async function run(channel: Channel): Promise<void> {
  for (const text of texts) {
    const data: Buffer = Buffer.from(text); // UTF-8, as `send(text)` would send it
    if (data.length > channel.maxMessageSize) {
      throw new Error(`"${text.slice(0, 20)}...": ${data.length} bytes, over ${channel.maxMessageSize}`);
    }
    await channel.send(data, wait);
    const reply: Buffer = await channel.recv(wait);
    process.stdout.write(Buffer.concat([reply, Buffer.from('\n')]));
  }
}

try {
  const channel: Channel = await connect(endpoint, { connectTimeout: 5000 });
  try {
    await run(channel);
  } finally {
    await channel.close();
  }
} catch (e) {
  console.error(`client: ${endpoint}: ${explain(e)}`);
  process.exitCode = isIpcError(e) && e.code === 'IPC_CANCELLED' ? 130 : 1;
}
