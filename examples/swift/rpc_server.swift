// A request/reply server: a tiny calculator (the Swift twin of examples/rust/rpc_server.rs).
// "add 2 3" is answered "5", "mul 4 5 6" "120"; anything it does not understand gets an error
// reply with status 400 and a reason. A Task per request. Prints "serving on <endpoint>";
// serves until SIGINT or SIGTERM.
//
//   rpc_server unix:///tmp/calc.sock
import Foundation
#if canImport(Glibc)
import Glibc
#endif

func calculate(_ text: String) throws -> String {
    let words = text.split(separator: " ").map(String.init)
    guard let op = words.first else { throw RpcFailure(status: 400, text: "empty request") }
    var args = [Int64]()
    for w in words.dropFirst() {
        guard let n = Int64(w) else { throw RpcFailure(status: 400, text: "\"\(w)\" is not a number") }
        args.append(n)
    }
    switch op {
    case "add": return String(args.reduce(0, +))
    case "mul": return String(args.reduce(1, *))
    default: throw RpcFailure(status: 400, text: "unknown operation \"\(op)\"")
    }
}

@main
struct RpcServerExample {
    static func main() async {
        let args = CommandLine.arguments
        let endpoint = args.count > 1 ? args[1] : "calc"
        do {
            let server = try await rpcListen(endpoint: endpoint, options: nil)
            print("serving on \(server.endpoint())")
            fflush(stdout)
            // SIGINT and SIGTERM stop the server.
            for sig in [SIGINT, SIGTERM] {
                signal(sig, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: sig)
                source.setEventHandler {
                    server.shutdown()
                    exit(0)
                }
                source.resume()
                Self.sources.append(source)
            }
            await server.serve { body in Data(try calculate(String(decoding: body, as: UTF8.self)).utf8) }
        } catch {
            FileHandle.standardError.write(Data("rpc_server: \(endpoint): \(error)\n".utf8))
            exit(1)
        }
    }
    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []
}
