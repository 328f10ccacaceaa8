// A publisher: waits for the given number of subscribers, publishes each `topic=payload`
// argument, then closes (each subscriber gets everything, then the end). The Node twin of
// examples/rust/pubsub_publisher.rs and examples/python/pubsub_publisher.py.
//
//   node examples/node/pubsub_publisher.mjs unix:///tmp/ticker.sock 2 prices/ACME=101.5
import { publisher } from 'libipc';

const [endpoint = 'ticker', count = '1', ...items] = process.argv.slice(2);

try {
  const p = await publisher(endpoint);
  console.error(`publishing on ${p.endpoint}`);
  await p.waitForSubscribers(Number(count));
  for (const item of items) {
    const at = item.indexOf('=');
    const [topic, payload] = at < 0 ? ['', item] : [item.slice(0, at), item.slice(at + 1)];
    await p.publish(payload, topic);
  }
  await p.close();
} catch (e) {
  console.error(`publisher: ${endpoint}: ${e.code}: ${e.message}`);
  process.exitCode = 1;
}
