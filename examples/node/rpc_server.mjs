// A request/reply server: a tiny calculator (the Node twin of examples/rust/rpc_server.rs).
// "add 2 3" is answered "5", "mul 4 5 6" "120"; anything it does not understand gets an error
// reply with status 400 and a reason. Requests run concurrently. Prints "serving on
// <endpoint>"; serves until SIGINT or SIGTERM.
//
//   node examples/node/rpc_server.mjs unix:///tmp/calc.sock
import { rpcListen, serve } from 'libipc';

function calculate(text) {
  const [op, ...words] = text.split(/\s+/).filter((w) => w !== '');
  if (op === undefined) throw Object.assign(new Error('empty request'), { status: 400 });
  const args = words.map((w) => {
    if (!/^-?\d+$/.test(w)) throw Object.assign(new Error(`"${w}" is not a number`), { status: 400 });
    return BigInt(w);
  });
  if (op === 'add') return args.reduce((a, b) => a + b, 0n).toString();
  if (op === 'mul') return args.reduce((a, b) => a * b, 1n).toString();
  throw Object.assign(new Error(`unknown operation "${op}"`), { status: 400 });
}

const endpoint = process.argv[2] ?? 'calc';
try {
  const server = await rpcListen(endpoint);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close());
  console.log(`serving on ${server.endpoint}`);
  await serve(server, (body) => calculate(body.toString()));
} catch (e) {
  console.error(`rpc server: ${endpoint}: ${e.code}: ${e.message}`);
  process.exitCode = 1;
}
