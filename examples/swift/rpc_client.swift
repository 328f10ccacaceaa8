// A request/reply client: sends every argument after the endpoint as a request, all in flight
// at once (tasks), then prints each reply in order, or "error <status>: <text>" for an error
// reply (the Swift twin of examples/rust/rpc_client.rs).
//
//   rpc_client unix:///tmp/calc.sock "add 2 3" "pow 2 8"
import Foundation
#if canImport(Glibc)
import Glibc
#endif

@main
struct RpcClientExample {
    static func main() async {
        let args = CommandLine.arguments
        let endpoint = args.count > 1 ? args[1] : "calc"
        do {
            let client = try await rpcConnect(endpoint: endpoint, options: IpcOptions(connectTimeout: 5000))
            let texts = Array(args.dropFirst(2))
            let replies = try await withThrowingTaskGroup(of: (Int, RpcReply).self) { group in
                for (i, text) in texts.enumerated() {
                    group.addTask { (i, try await client.call(data: Data(text.utf8), cancel: nil)) }
                }
                var all = [RpcReply?](repeating: nil, count: texts.count)
                for try await (i, r) in group { all[i] = r }
                return all
            }
            for case let r? in replies {
                let text = String(decoding: r.body, as: UTF8.self)
                print(r.status == 0 ? text : "error \(r.status): \(text)")
            }
            try client.shutdown()
        } catch {
            FileHandle.standardError.write(Data("rpc_client: \(endpoint): \(error)\n".utf8))
            exit(1)
        }
    }
}
