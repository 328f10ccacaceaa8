// An echo server, in TypeScript: every message each client sends comes back to it.
//
//   (compiled to JavaScript first: Node 20 does not run .ts; see README.md)
//   node /tmp/ipc-ts/echo_server.js unix:///tmp/echo.sock            # echoing on unix:///tmp/echo.sock
//
// The same program as echo_server.mjs, typed against the package's declarations
// (bindings/node/index.d.ts): `Options` for the listener, `Channel` and `Listener` iterated
// with `for await`, and errors told apart by their `IpcError` code. Exits 0 on Ctrl-C or
// SIGTERM, 1 when it cannot listen.
import { listen, type Channel, type IpcError, type Listener, type Options } from 'libipc';

/** Every error libipc throws or rejects with is an `IpcError`; anything else is a bug here. */
function isIpcError(e: unknown): e is IpcError {
  return (
    e instanceof Error &&
    typeof (e as Partial<IpcError>).code === 'string' &&
    typeof (e as Partial<IpcError>).ipcCode === 'number'
  );
}

function describe(e: unknown): string {
  return isIpcError(e) ? `${e.code} (${e.ipcCode}): ${e.message}` : String(e);
}

const endpoint: string = process.argv[2] ?? 'demo';

// The core's options, camelCase; anything left out keeps its default (see `defaults()`).
const options: Options = {
  maxMessageSize: 1 << 20, // refuse messages over 1 MiB (both directions)
  socketMode: 0o600, // only this user may connect to a socket file
  handshakeTimeout: 2000, // ms: a silent client is dropped after 2 s
};

let listener: Listener;
try {
  listener = listen(endpoint, options); // synchronous: IPC_INVALID_ENDPOINT, IPC_ADDRESS_IN_USE, ...
} catch (e) {
  console.error(`echo_server: ${endpoint}: ${describe(e)}`);
  process.exit(1);
}
console.log(`echoing on ${listener.endpoint}`);

const clients = new Set<Channel>();

async function echo(channel: Channel): Promise<void> {
  const { pid } = channel.peer; // null where the transport does not tell (tcp://)
  clients.add(channel);
  try {
    for await (const message of channel) {
      // ends when the client closes (IPC_CLOSED)
      await channel.send(message);
    }
  } catch (e) {
    // IPC_CLOSED: we closed it ourselves, shutting down. IPC_PEER_DISCONNECTED: the client
    // went away without closing (killed). Anything else is worth a line.
    if (!isIpcError(e) || e.code !== 'IPC_CLOSED') {
      console.error(`client pid=${pid ?? '?'}: ${describe(e)}`);
    }
  } finally {
    clients.delete(channel);
    await channel.close();
  }
}

function stop(): void {
  listener.close(); // ends the `for await` over the listener below
  for (const channel of clients) void channel.close(); // ends each client's loop
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

for await (const channel of listener) {
  void echo(channel); // not awaited: the next client is accepted at once
}
