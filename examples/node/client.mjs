// A client: connects to the endpoint in argv[2], sends each further argument as a message and
// prints each reply on its own line (the Node twin of examples/rust/client.rs,
// examples/c/client.c and examples/python/client.py).
//
//   node examples/node/client.mjs unix:///tmp/echo.sock hello "two words"
import { connect } from 'libipc';

const [endpoint = 'demo', ...texts] = process.argv.slice(2);

try {
  const channel = await connect(endpoint, { connectTimeout: 5000 });
  try {
    for (const text of texts) {
      await channel.send(text); // a string goes as its UTF-8 bytes
      const reply = await channel.recv({ timeout: 5000 });
      process.stdout.write(Buffer.concat([reply, Buffer.from('\n')]));
    }
  } finally {
    await channel.close();
  }
} catch (e) {
  console.error(`client: ${endpoint}: ${e.code}: ${e.message}`);
  process.exitCode = 1;
}
