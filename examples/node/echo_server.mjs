// An echo server: every message each client sends comes back to it.
//
//   node examples/node/echo_server.mjs unix:///tmp/echo.sock     # echoing on unix:///tmp/echo.sock
//   node examples/node/client.mjs unix:///tmp/echo.sock hello "two words"
//
// The endpoint defaults to "demo" (a socket in the runtime directory). Every client is served
// concurrently on the one event loop; exits 0 on Ctrl-C or SIGTERM.
import { listen } from 'libipc';

const endpoint = process.argv[2] ?? 'demo';

let listener;
try {
  listener = listen(endpoint); // synchronous: a bad endpoint or an address in use throws here
} catch (e) {
  console.error(`echo_server: ${endpoint}: ${e.code}: ${e.message}`);
  process.exit(1);
}
console.log(`echoing on ${listener.endpoint}`);

const clients = new Set();

async function echo(channel) {
  const peer = channel.peer;
  clients.add(channel);
  try {
    for await (const message of channel) { // ends when the client closes
      await channel.send(message);
    }
  } catch (e) {
    // IPC_CLOSED means we closed it ourselves (shutting down); anything else is worth a line.
    if (e.code !== 'IPC_CLOSED') console.error(`client pid=${peer.pid}: ${e.code}: ${e.message}`);
  } finally {
    clients.delete(channel);
    await channel.close();
  }
}

function stop() {
  listener.close(); // ends the `for await` below
  for (const channel of clients) channel.close(); // ends each client's loop
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

for await (const channel of listener) {
  echo(channel); // not awaited: the next client is accepted at once
}
