// The Swift tests of libipc (bindings/swift), run by scripts/swift-tests.sh inside the Debian
// trixie chroot: a plain program, one check after another, exiting non-zero on the first
// failure. Peers come from the environment: LIBIPC_RUST_PEER (the tests crate's
// ipc-test-peer), LIBIPC_TEST_DIR (a private temporary directory).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

var failures = 0
func check(_ ok: Bool, _ what: String, file: String = #file, line: Int = #line) {
    if !ok {
        failures += 1
        FileHandle.standardError.write("FAIL \(what) (\(file):\(line))\n".data(using: .utf8)!)
    }
}
func env(_ name: String) -> String {
    guard let v = ProcessInfo.processInfo.environment[name], !v.isEmpty else {
        FileHandle.standardError.write("\(name) is not set: run scripts/swift-tests.sh\n".data(using: .utf8)!)
        exit(2)
    }
    return v
}
let dir = env("LIBIPC_TEST_DIR")
let rustPeer = env("LIBIPC_RUST_PEER")
let unique = "\(getpid())"

/// A peer process whose first stdout line is read ("READY <endpoint>").
final class Peer {
    let process = Process()
    let out = Pipe()
    // The peer runs until its stdin closes: this pipe stays open while the Peer lives.
    let input = Pipe()
    init(_ args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: rustPeer)
        process.arguments = args
        process.standardOutput = out
        process.standardInput = input
        try process.run()
    }
    func line() -> String {
        var bytes = [UInt8]()
        while true {
            let b = out.fileHandleForReading.readData(ofLength: 1)
            if b.isEmpty || b[0] == 10 { break }
            bytes.append(b[0])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

func endpoints() -> [(String, String)] {
    [("unix", "unix://\(dir)/swift-\(unique).sock"), ("shm", "shm://libipc-swift-\(unique)")]
}

// 1. In-process: send and receive, blocking and async, Data in and out, errors.
for (name, ep) in endpoints() {
    let listener = try Listener.bind(endpoint: ep, options: nil)
    let client = try connectBlocking(endpoint: listener.endpoint(), options: nil)
    let server = try listener.acceptBlocking(timeoutMs: 5000, cancel: nil)
    let payload = Data((0..<100_000).map { UInt8($0 % 251) })
    try client.sendBlocking(data: payload, timeoutMs: 5000, cancel: nil)
    check(try server.recvBlocking(timeoutMs: 5000, cancel: nil) == payload, "\(name): blocking round trip")
    try await server.send(data: Data("async".utf8))
    check(try await client.receive() == Data("async".utf8), "\(name): async round trip")
    do {
        _ = try client.recvBlocking(timeoutMs: 20, cancel: nil)
        check(false, "\(name): a receive with nothing to get times out")
    } catch IpcError.Timeout {
    }
    check(client.peer().pid == UInt32(getpid()), "\(name): peer pid")

    // Task cancellation: the pending receive ends, and the message sent afterwards is the
    // next one received (nothing lost).
    let task = Task { try await client.receive() }
    try await Task.sleep(nanoseconds: 50_000_000)
    task.cancel()
    do {
        _ = try await task.value
        check(false, "\(name): a cancelled receive throws")
    } catch IpcError.Cancelled {
    }
    try server.sendBlocking(data: Data("after cancel".utf8), timeoutMs: 5000, cancel: nil)
    check(try await client.receive() == Data("after cancel".utf8), "\(name): nothing lost after cancel")

    // A blocking receive cancelled from another thread through the core's handle.
    let handle = try CancelHandle()
    DispatchQueue.global().asyncAfter(deadline: .now() + 0.05) { handle.cancel() }
    do {
        _ = try client.recvBlocking(timeoutMs: nil, cancel: handle)
        check(false, "\(name): cancelled blocking receive")
    } catch IpcError.Cancelled {
    }
    client.close()
    do {
        _ = try server.recvBlocking(timeoutMs: 5000, cancel: nil)
        check(false, "\(name): closed by the peer")
    } catch IpcError.Closed {
    }
    listener.close()
}

do {
    _ = try connectBlocking(endpoint: "bogus://x", options: nil)
    check(false, "a bad endpoint is refused")
} catch IpcError.InvalidEndpoint {
}
check(errorCodes().first { $0.name == "Timeout" }?.code == 6, "error table")

// A gid allow-list reaches the core, on both sides: one naming only a group we are not in
// refuses us; one naming our gid admits us; over TCP it is InvalidArgument.
do {
    let gid = UInt32(getegid())
    var groups = [gid_t](repeating: 0, count: Int(getgroups(0, nil)))
    _ = getgroups(Int32(groups.count), &groups)
    let other = (groups.map { UInt32($0) } + [gid]).max()! + 12345
    for (name, ep) in endpoints() {
        let refusing = try Listener.bind(endpoint: ep + "-gid-other", options: IpcOptions(allowedGids: [other]))
        do {
            _ = try connectBlocking(endpoint: refusing.endpoint(), options: nil)
            check(false, "\(name): a listener whose gid list leaves us out refuses us")
        } catch IpcError.PermissionDenied {
        }
        refusing.close()
        let ours = try Listener.bind(endpoint: ep + "-gid-ours", options: IpcOptions(allowedGids: [gid]))
        do {
            _ = try connectBlocking(endpoint: ours.endpoint(), options: IpcOptions(allowedGids: [other]))
            check(false, "\(name): a client whose gid list leaves the listener out refuses it")
        } catch IpcError.PermissionDenied {
        }
        let client = try connectBlocking(endpoint: ours.endpoint(), options: IpcOptions(allowedGids: [gid]))
        let server = try ours.acceptBlocking(timeoutMs: 5000, cancel: nil)
        try client.sendBlocking(data: Data("group".utf8), timeoutMs: 5000, cancel: nil)
        check(try server.recvBlocking(timeoutMs: 5000, cancel: nil) == Data("group".utf8), "\(name): our gid admits us")
        client.close()
        server.close()
        ours.close()
    }
    do {
        _ = try Listener.bind(endpoint: "tcp://127.0.0.1:0", options: IpcOptions(allowedGids: [gid]))
        check(false, "a gid list over tcp is refused")
    } catch IpcError.InvalidArgument {
    }
}

// 2. With the Rust peer's contract server (tests/interop/README.md: `server --endpoint E`
// prints `READY <endpoint>`, echoes, SIGKILLs itself on `interop:kill`), over unix and shm:
// echo, then the server killed while a receive waits: PeerDisconnected, no hang.
for (name, ep) in endpoints() {
    let peer = try Peer(["server", "--endpoint", ep + "-rust"])
    let ready = peer.line()
    check(ready.hasPrefix("READY "), "\(name): rust server ready: \(ready)")
    let ch = try await connect(endpoint: String(ready.dropFirst(6)), options: nil)
    for i in 0..<200 {
        let m = Data("message \(i)".utf8)
        try await ch.send(data: m)
        check(try await ch.receive() == m, "\(name): rust echo \(i)")
    }
    let pending = Task { try await ch.receive() }
    try await Task.sleep(nanoseconds: 50_000_000)
    try await ch.send(data: Data("interop:kill".utf8))
    do {
        _ = try await pending.value
        check(false, "\(name): killed peer")
    } catch IpcError.PeerDisconnected {
    } catch IpcError.Closed {
        check(false, "\(name): a killed peer is PeerDisconnected, not Closed")
    }
    peer.process.waitUntilExit()
    check(peer.process.terminationReason == .uncaughtSignal && peer.process.terminationStatus == SIGKILL,
          "\(name): the server ended by SIGKILL (\(peer.process.terminationReason.rawValue), \(peer.process.terminationStatus))")
}

// 3. Request/reply against the Rust request/reply server (handlers delayed at random, run
// concurrently), over unix and shm: 1,000 async calls in flight, each with its own reply; an
// error reply as an RpcReply with its status; a call from another task; a plain channel
// refused; calls cancelled through a CancelHandle (async and blocking).
for (name, ep) in endpoints() {
    let peer = try Peer(["rpc-echo-server", ep + "-rpc", "--async", "--max-delay-ms", "10"])
    let ready = peer.line()
    check(ready.hasPrefix("ready "), "\(name): rpc server ready: \(ready)")
    let endpoint = String(ready.dropFirst(6))
    let c = try await rpcConnect(endpoint: endpoint, options: nil)
    let one = try await c.call(data: Data("one".utf8), cancel: nil)
    check(one.status == 0 && one.body == Data("one".utf8), "\(name): one async call")
    let replies = try await withThrowingTaskGroup(of: (Int, RpcReply).self) { group in
        for i in 0..<1000 {
            group.addTask { (i, try await c.call(data: Data("call \(i)".utf8), cancel: nil)) }
        }
        var all = [(Int, RpcReply)]()
        for try await r in group { all.append(r) }
        return all
    }
    check(replies.count == 1000, "\(name): 1,000 replies")
    for (i, r) in replies {
        check(r.status == 0 && r.body == Data("call \(i)".utf8), "\(name): reply \(i)")
    }
    let err = try c.callBlocking(data: Data("fail:42:no such thing".utf8), timeoutMs: 10_000, cancel: nil)
    check(err.status == 42 && String(decoding: err.body, as: UTF8.self) == "no such thing", "\(name): error reply")
    // A call from another task, answered after 100 ms.
    let later = Task { try await c.call(data: Data("sleep:100".utf8), cancel: nil) }
    let got = try await later.value
    check(got.status == 0 && got.body == Data("sleep:100".utf8), "\(name): a call from another task")
    let handle = try CancelHandle()
    let slow = Task { try await c.call(data: Data("sleep:300".utf8), cancel: handle) }
    try await Task.sleep(nanoseconds: 20_000_000)
    handle.cancel()
    do {
        _ = try await slow.value
        check(false, "\(name): a cancelled call")
    } catch IpcError.Cancelled {
    }
    let handle2 = try CancelHandle()
    DispatchQueue.global().asyncAfter(deadline: .now() + 0.02) { handle2.cancel() }
    do {
        _ = try c.callBlocking(data: Data("sleep:300".utf8), timeoutMs: 10_000, cancel: handle2)
        check(false, "\(name): a cancelled blocking call")
    } catch IpcError.Cancelled {
    }
    check(c.inFlight() == 0, "\(name): nothing in flight")
    do {
        _ = try connectBlocking(endpoint: endpoint, options: nil)
        check(false, "\(name): a plain channel at a request/reply server")
    } catch IpcError.ProtocolMismatch {
    }
    try c.shutdown()
    // The server runs until its stdin closes.
    try peer.input.fileHandleForWriting.close()
    peer.process.waitUntilExit()
    check(peer.process.terminationStatus == 0, "\(name): the rpc server exited 0")
}

// 4. Publish/subscribe: a Swift publisher (blocking policy) read by a Swift subscriber on a
// topic prefix and one on every topic, in order and numbered; drop-oldest reporting its drops;
// then a Rust publisher in another process read by Swift subscribers (tasks).
for (name, ep) in endpoints() {
    let p = try await publisher(
        endpoint: ep + "-pub", policy: PublisherPolicy(overflow: .block, blockTimeoutMs: 30_000, depth: 0),
        options: nil)
    let all = try await subscribe(endpoint: p.endpoint(), topics: [], options: nil)
    let cams = try subscribeBlocking(endpoint: p.endpoint(), topics: [Data("cam/".utf8)], options: nil)
    try await p.waitForSubscribers(count: 2, timeoutMs: 10_000)
    for i in 0..<200 {
        let topic = i % 2 == 1 ? "cam/\(i)" : "log"
        let n = try await p.publish(payload: Data("m\(i)".utf8), topic: Data(topic.utf8))
        check(n == (i % 2 == 1 ? 2 : 1), "\(name): published \(i) to \(n)")
    }
    try await p.shutdown()
    for i in 0..<200 {
        let d = try await all.recv(cancel: nil)
        check(d.seq == UInt64(i) && d.dropped == 0 && d.payload == Data("m\(i)".utf8), "\(name): message \(i)")
    }
    do {
        _ = try all.recvBlocking(timeoutMs: 10_000, cancel: nil)
        check(false, "\(name): the end after close")
    } catch IpcError.Closed {
    }
    for k in 0..<100 {
        let d = try cams.recvBlocking(timeoutMs: 10_000, cancel: nil)
        check(d.seq == UInt64(k) && d.topic == Data("cam/\(2 * k + 1)".utf8), "\(name): cam message \(k)")
    }
}
do {
    let (_, ep) = endpoints()[0]
    let q = try await publisher(
        endpoint: ep + "-drop", policy: PublisherPolicy(overflow: .dropOldest, blockTimeoutMs: 0, depth: 2),
        options: nil)
    let slow = try await subscribe(endpoint: q.endpoint(), topics: [], options: nil)
    for _ in 0..<2000 {
        _ = try q.publishBlocking(payload: Data(count: 8192), topic: Data())
    }
    var received: UInt64 = 0
    var last: UInt64 = 0
    // The newest message is never dropped: read until it, then close.
    while last != 1999 {
        last = try slow.recvBlocking(timeoutMs: 10_000, cancel: nil).seq
        received += 1
    }
    try await q.shutdown()
    check(received + slow.dropped() == 2000 && slow.dropped() > 0, "drop-oldest: \(received) received, \(slow.dropped()) dropped")
    check(q.stats().dropped == slow.dropped(), "drop-oldest: the publisher counted the same drops")

    let peer = try Peer(["publish", ep + "-rust-pub", "--subscribers", "2", "--count", "20000",
                         "--block-ms", "60000", "--size", "100"])
    let ready = peer.line()
    check(ready.hasPrefix("ready "), "rust publisher ready: \(ready)")
    let endpoint = String(ready.dropFirst(6))
    let subs = [try await subscribe(endpoint: endpoint, topics: [], options: nil),
                try await subscribe(endpoint: endpoint, topics: [], options: nil)]
    let counts = try await withThrowingTaskGroup(of: UInt64.self) { group in
        for s in subs {
            group.addTask {
                var n: UInt64 = 0
                while true {
                    do {
                        let d = try await s.recv(cancel: nil)
                        if d.seq != n || d.dropped != 0 || d.payload.count != 100 { return UInt64.max }
                        n += 1
                    } catch IpcError.Closed {
                        return n
                    }
                }
            }
        }
        var all = [UInt64]()
        for try await c in group { all.append(c) }
        return all
    }
    check(counts == [20000, 20000], "rust publisher: each Swift subscriber got 20,000 in order: \(counts)")
    check(peer.line() == "done published 20000 dropped 0 cut_off 0", "rust publisher: its summary")
    peer.process.waitUntilExit()
    check(peer.process.terminationStatus == 0, "rust publisher: exited 0")
}

// 5. A Swift request/reply server (RpcServer.serve: a Task per request): 1,000 calls in
// flight answered out of order, error replies (RpcFailure and any other error), a call
// cancelled by the client cancelling its handler's Task.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    func get() -> Bool { lock.lock(); defer { lock.unlock() }; return value }
}
do {
    let (_, ep) = endpoints()[0]
    let server = try await rpcListen(endpoint: ep + "-sserver", options: nil)
    let handlerCancelled = Flag()
    struct Bad: Error {}
    let serving = Task {
        await server.serve { body in
            let text = String(decoding: body, as: UTF8.self)
            switch text {
            case "fail": throw RpcFailure(status: 42, text: "no such thing")
            case "boom": throw Bad()
            case "slow":
                do {
                    try await Task.sleep(nanoseconds: 30_000_000_000)
                } catch {
                    handlerCancelled.set()
                    throw error
                }
                return body
            default:
                try await Task.sleep(nanoseconds: UInt64(text.count % 7) * 1_000_000)
                return body
            }
        }
    }
    let c = try await rpcConnect(endpoint: server.endpoint(), options: nil)
    let replies = try await withThrowingTaskGroup(of: (Int, RpcReply).self) { group in
        for i in 0..<1000 {
            group.addTask { (i, try await c.call(data: Data("call \(i)".utf8), cancel: nil)) }
        }
        var all = [(Int, RpcReply)]()
        for try await r in group { all.append(r) }
        return all
    }
    check(replies.count == 1000 && replies.allSatisfy { $0.1.status == 0 && $0.1.body == Data("call \($0.0)".utf8) },
          "swift server: 1,000 replies, each its own")
    let err = try await c.call(data: Data("fail".utf8), cancel: nil)
    check(err.status == 42 && String(decoding: err.body, as: UTF8.self) == "no such thing", "swift server: an error reply")
    let panic = try await c.call(data: Data("boom".utf8), cancel: nil)
    check(panic.status == rpcPanicStatus(), "swift server: another error answers with the panic status")
    let handle = try CancelHandle()
    let slow = Task { try await c.call(data: Data("slow".utf8), cancel: handle) }
    try await Task.sleep(nanoseconds: 50_000_000)
    handle.cancel()
    do {
        _ = try await slow.value
        check(false, "swift server: a cancelled call")
    } catch IpcError.Cancelled {
    }
    while !handlerCancelled.get() { try await Task.sleep(nanoseconds: 5_000_000) }
    let after = try await c.call(data: Data("after".utf8), cancel: nil)
    check(after.body == Data("after".utf8) && c.lateReplies() == 0, "swift server: served after the cancel, no late reply")
    try c.shutdown()
    server.shutdown()
    await serving.value
}

if failures > 0 {
    print("swift tests: \(failures) failure(s)")
    exit(1)
}
print("swift tests: all passed")
