// A request/reply client: sends every argument after the endpoint as a request, all in flight
// at once, then prints each reply in order, or "error <status>: <text>" for an error reply
// (the Node twin of examples/rust/rpc_client.rs).
//
//   node examples/node/rpc_client.mjs unix:///tmp/calc.sock "add 2 3" "mul 4 5 6" "pow 2 8"
import { rpcConnect } from 'libipc';

const [endpoint = 'calc', ...texts] = process.argv.slice(2);

try {
  const client = await rpcConnect(endpoint, { connectTimeout: 5000 });
  const calls = texts.map((text) =>
    client.call(text, { timeout: 5000 }).then(
      (reply) => reply.toString(),
      (e) => {
        if (e.code === 'IPC_REMOTE') return `error ${e.status}: ${e.message}`;
        throw e;
      },
    ),
  );
  for (const line of await Promise.all(calls)) console.log(line);
  await client.close();
} catch (e) {
  console.error(`rpc client: ${endpoint}: ${e.code}: ${e.message}`);
  process.exitCode = 1;
}
