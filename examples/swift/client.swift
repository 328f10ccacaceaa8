// A client: connects to the endpoint in argv[1], sends each further argument as a message and
// prints each reply on its own line (the Swift twin of examples/rust/client.rs and
// examples/python/client.py), on the async API.
//
//   client unix:///tmp/echo.sock hello "two words"
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct NoReply: Error, CustomStringConvertible {
    var description: String { "no reply within 5 s" }
}

/// The next message, or NoReply after `seconds`. The receive the timeout cancels takes nothing
/// (see LibIpcExtras.swift): a late reply would be the next receive's.
func receive(_ channel: Channel, within seconds: UInt64) async throws -> Data {
    try await withThrowingTaskGroup(of: Data?.self) { group in
        group.addTask { try await channel.receive() }
        group.addTask {
            try await Task.sleep(nanoseconds: seconds * 1_000_000_000)
            return nil
        }
        defer { group.cancelAll() }
        guard let reply = try await group.next()! else { throw NoReply() }
        return reply
    }
}

@main
struct Client {
    static func main() async {
        let args = CommandLine.arguments
        let endpoint = args.count > 1 ? args[1] : "demo"
        do {
            let channel = try await connect(endpoint: endpoint, options: IpcOptions(connectTimeout: 5000))
            defer { channel.close() }
            for text in args.dropFirst(2) {
                try await channel.send(data: Data(text.utf8))
                let reply = try await receive(channel, within: 5)
                FileHandle.standardOutput.write(reply + Data("\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("client: \(endpoint): \(error)\n".utf8))
            exit(1)
        }
    }
}
