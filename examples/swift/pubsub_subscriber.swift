// A subscriber: subscribes to the topics starting with any of the given prefixes (none: every
// topic) and prints "topic: payload" for each message until the publisher closes, and how many
// messages were dropped for it if any were (the Swift twin of
// examples/rust/pubsub_subscriber.rs).
//
//   pubsub_subscriber unix:///tmp/ticker.sock prices/
import Foundation
#if canImport(Glibc)
import Glibc
#endif

@main
struct SubscriberExample {
    static func main() async {
        let args = CommandLine.arguments
        let endpoint = args.count > 1 ? args[1] : "ticker"
        let prefixes = args.dropFirst(2).map { Data($0.utf8) }
        do {
            let s = try await subscribe(endpoint: endpoint, topics: prefixes, options: IpcOptions(connectTimeout: 10000))
            while true {
                let m: Delivery
                do {
                    m = try await s.recv(cancel: nil)
                } catch IpcError.Closed {
                    break
                }
                if m.dropped > 0 { print("(\(m.dropped) dropped)") }
                print("\(String(decoding: m.topic, as: UTF8.self)): \(String(decoding: m.payload, as: UTF8.self))")
            }
        } catch {
            FileHandle.standardError.write(Data("pubsub_subscriber: \(endpoint): \(error)\n".utf8))
            exit(1)
        }
    }
}
