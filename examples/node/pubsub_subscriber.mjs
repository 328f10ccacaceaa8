// A subscriber: subscribes to the topics starting with any of the given prefixes (none: every
// topic) and prints `topic: payload` for each message until the publisher closes, and how many
// messages were dropped for it if any were. The Node twin of
// examples/rust/pubsub_subscriber.rs and examples/python/pubsub_subscriber.py.
//
//   node examples/node/pubsub_subscriber.mjs unix:///tmp/ticker.sock prices/
import { subscribe } from 'libipc';

const [endpoint = 'ticker', ...prefixes] = process.argv.slice(2);

try {
  const s = await subscribe(endpoint, prefixes, { connectTimeout: 10000 });
  for await (const m of s) {
    if (m.dropped > 0) console.log(`(${m.dropped} dropped)`);
    console.log(`${m.topic.toString()}: ${m.payload.toString()}`);
  }
} catch (e) {
  console.error(`subscriber: ${endpoint}: ${e.code}: ${e.message}`);
  process.exitCode = 1;
}
