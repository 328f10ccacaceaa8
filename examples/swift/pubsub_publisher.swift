// A publisher: waits for the given number of subscribers, publishes each "topic=payload"
// argument, then closes (the Swift twin of examples/rust/pubsub_publisher.rs).
//
//   pubsub_publisher unix:///tmp/ticker.sock 2 prices/ACME=101.5
import Foundation
#if canImport(Glibc)
import Glibc
#endif

@main
struct PublisherExample {
    static func main() async {
        let args = CommandLine.arguments
        let endpoint = args.count > 1 ? args[1] : "ticker"
        let subscribers = args.count > 2 ? UInt64(args[2]) ?? 1 : 1
        do {
            let p = try await publisher(endpoint: endpoint, policy: nil, options: nil)
            try await p.waitForSubscribers(count: subscribers, timeoutMs: nil)
            for item in args.dropFirst(3) {
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let (topic, payload) = parts.count == 2 ? (String(parts[0]), String(parts[1])) : ("", item)
                _ = try await p.publish(payload: Data(payload.utf8), topic: Data(topic.utf8))
            }
            try await p.shutdown()
        } catch {
            FileHandle.standardError.write(Data("pubsub_publisher: \(endpoint): \(error)\n".utf8))
            exit(1)
        }
    }
}
