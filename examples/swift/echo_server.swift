// An echo server: every message each client sends comes back to it (the Swift twin of
// examples/rust/echo_server.rs and examples/python/echo_server.py), on the async API.
//
//   ./scripts/uniffi-examples.sh     builds and runs it (see examples/swift/README.md)
//   echo_server unix:///tmp/echo.sock     # echoing on unix:///tmp/echo.sock
//
// The endpoint defaults to "demo" (a socket in the runtime directory). One Task per client;
// exits 0 on SIGTERM or Ctrl-C (closing the listener, so its socket file goes away).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

func warn(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Send every message back until the client closes the channel.
func echo(_ channel: Channel) async {
    defer { channel.close() }
    let peer = channel.peer()
    do {
        while true {
            try await channel.send(data: try await channel.receive())
        }
    } catch IpcError.Closed {
        // the client closed the channel: done
    } catch {
        warn("client pid=\(peer.pid.map(String.init) ?? "?"): \(error)")
    }
}

@main
struct EchoServer {
    static func main() async {
        setvbuf(stdout, nil, _IOLBF, 0)  // the "echoing on" line goes out at once, even to a pipe
        let endpoint = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "demo"
        let listener: Listener
        do {
            listener = try Listener.bind(endpoint: endpoint, options: nil)
        } catch {
            warn("echo_server: \(endpoint): \(error)")
            exit(1)
        }
        // SIGTERM and SIGINT close the listener: the pending accept ends with Closed.
        let closed = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                listener.close()
                closed.signal()
            }
            source.resume()
            sources.append(source)
        }
        print("echoing on \(listener.endpoint())")
        while true {
            do {
                let channel = try await listener.acceptClient()
                Task { await echo(channel) }
            } catch IpcError.Closed {
                break
            } catch {
                warn("echo_server: accept: \(error)")
                exit(1)
            }
        }
        // The accept can end before close() has returned (and removed the socket file): wait
        // for it before exiting.
        closed.wait()
        sources.forEach { $0.cancel() }
    }
}
