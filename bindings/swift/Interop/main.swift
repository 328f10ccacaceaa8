// The Swift peer of the interop matrix: the commands and cases of tests/interop/README.md (the
// contract; read it first), on the blocking calls of the uniffi binding.
//
//   peer server --endpoint E [--max-message N]
//   peer client --endpoint E --case NAME[,NAME...] [--max-message N]
//
// scripts/interop/swift.sh compiles it with the generated LibIpc.swift and
// bindings/swift/Sources (one module, like bindings/swift/Tests), and prints the command that
// runs it inside the Swift chroot (scripts/swift-chroot.sh run).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let closeMessage = Data("interop:close".utf8)
let killMessage = Data("interop:kill".utf8)

func out(_ line: String) {
    print(line)
    fflush(stdout)
}

func err(_ line: String) {
    fputs(line + "\n", stderr)
    fflush(stderr)
}

/// The error's kind, as the contract names it: the IpcError case's name.
func kind(_ e: Error) -> String {
    if let ipc = e as? IpcError, let label = Mirror(reflecting: ipc).children.first?.label {
        return label
    }
    return String(describing: type(of: e))
}

/// "<Kind> <message>", on one line.
func describe(_ e: Error) -> String {
    var text = String(describing: e)
    // IpcError.K(message:): the case's value is the tuple (message: String).
    if let ipc = e as? IpcError, let value = Mirror(reflecting: ipc).children.first?.value {
        text = value as? String ?? Mirror(reflecting: value).children.first?.value as? String ?? text
    }
    return "\(kind(e)) \(oneLine(text))"
}

func oneLine(_ s: String) -> String {
    String(s.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
}

func options(_ maxMessage: UInt64?) -> IpcOptions? {
    maxMessage.map { IpcOptions(maxMessageSize: $0) }
}

// ---- server ---------------------------------------------------------------------------------

/// Set once stdin reaches its end.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    func get() -> Bool { lock.lock(); defer { lock.unlock() }; return value }
}

func serve(_ ch: Channel) {
    do {
        while true {
            let m = try ch.recvBlocking(timeoutMs: nil, cancel: nil)
            if m == killMessage {
                // As a crash would: nothing closed.
                kill(getpid(), SIGKILL)
            }
            if m == closeMessage {
                try ch.shutdown()
                return
            }
            try ch.sendBlocking(data: m, timeoutMs: nil, cancel: nil)
        }
    } catch {
        err("END \(kind(error))")
    }
}

/// The contract's publisher: message i = 0, 1, 2, ... about every millisecond until stdin ends,
/// topic "even" or "odd", payload u64le(i) || pattern(i % 1000); full subscribers block it up
/// to 30 s.
func publisherCommand(endpoint: String, maxMessage: UInt64?) async -> Int32 {
    let p: Publisher
    do {
        p = try await publisher(
            endpoint: endpoint, policy: PublisherPolicy(overflow: .block, blockTimeoutMs: 30_000, depth: 0),
            options: options(maxMessage))
    } catch {
        err("ERROR \(describe(error))")
        return 1
    }
    out("READY \(p.endpoint())")
    let stopping = Flag()
    Thread {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(0, &buf, buf.count)
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        stopping.set()
    }.start()
    var i: UInt64 = 0
    while !stopping.get() {
        if p.subscribers() == 0 {
            // Nothing while nobody listens: the matrix runs many idle publishers.
            try? await Task.sleep(nanoseconds: 10_000_000)
            continue
        }
        var payload = Data((0..<8).map { UInt8(truncatingIfNeeded: i >> (8 * UInt64($0))) })
        payload.append(pattern(Int(i % 1000)))
        do {
            _ = try await p.publish(payload: payload, topic: Data((i % 2 == 1 ? "odd" : "even").utf8))
        } catch {
            err("END \(describe(error))")
            break
        }
        i += 1
        try? await Task.sleep(nanoseconds: 1_000_000)
    }
    try? await p.shutdown()
    return 0
}

/// The contract's rpc-server: "fail:<status>:<text>" gets that error reply, anything else itself.
func rpcServer(endpoint: String, maxMessage: UInt64?) async -> Int32 {
    let server: RpcServer
    do {
        server = try await rpcListen(endpoint: endpoint, options: options(maxMessage))
    } catch {
        err("ERROR \(describe(error))")
        return 1
    }
    out("READY \(server.endpoint())")
    // Stdin's end-of-file ends the process (the contract's stop).
    Thread {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(0, &buf, buf.count)
            if n > 0 { continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        server.shutdown()
        exit(0)
    }.start()
    await server.serve { body in
        let bytes = [UInt8](body)
        if bytes.starts(with: Array("fail:".utf8)) {
            let rest = String(decoding: bytes.dropFirst(5), as: UTF8.self)
            let parts = rest.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            throw RpcFailure(status: UInt32(parts[0]) ?? 1, text: parts.count > 1 ? String(parts[1]) : "")
        }
        return body
    }
    return 0
}

func server(endpoint: String, maxMessage: UInt64?) -> Int32 {
    let listener: Listener
    do {
        listener = try Listener.bind(endpoint: endpoint, options: options(maxMessage))
    } catch {
        err("ERROR \(describe(error))")
        return 1
    }
    out("READY \(listener.endpoint())")
    let stopping = Flag()
    // Stdin's end-of-file stops the server: the pending accept then ends with Closed.
    Thread {
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(0, &buf, buf.count)
            if n > 0 { continue }  // anything written to stdin is ignored; only its end counts
            if n < 0 && errno == EINTR { continue }
            break
        }
        stopping.set()
        listener.shutdown()
    }.start()
    while !stopping.get() {
        do {
            let ch = try listener.acceptBlocking(timeoutMs: nil, cancel: nil)
            Thread { serve(ch) }.start()
        } catch {
            if stopping.get() || kind(error) == "Closed" { break }
            err("ACCEPT \(describe(error))")
        }
    }
    listener.shutdown()
    return 0
}

// ---- client ---------------------------------------------------------------------------------

struct CaseFailed: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

func pattern(_ n: Int) -> Data {
    Data((0..<n).map { UInt8($0 % 251) })
}

func expectSame(_ what: String, _ sent: Data, _ got: Data) throws {
    if sent == got { return }
    let a = [UInt8](sent), b = [UInt8](got)
    let n = min(a.count, b.count)
    let at = (0..<n).first { a[$0] != b[$0] } ?? n
    throw CaseFailed("\(what): sent \(a.count) bytes, got \(b.count) bytes back, first difference at byte \(at)")
}

func echo(_ ch: Channel, _ m: Data, _ what: String = "the reply") throws {
    try ch.sendBlocking(data: m, timeoutMs: nil, cancel: nil)
    try expectSame(what, m, try ch.recvBlocking(timeoutMs: nil, cancel: nil))
}

/// Runs `body` and expects it to fail with the kind `expected`.
func expectKind(_ expected: String, _ what: String, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch {
        if kind(error) == expected { return }
        throw CaseFailed("\(what): expected \(expected), got \(describe(error))")
    }
    throw CaseFailed("\(what): expected \(expected), it succeeded")
}

/// CRC-32 (IEEE, as zlib's crc32), table-driven.
let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
}

func u32le(_ v: UInt32) -> [UInt8] {
    (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
}

func u32le(_ b: [UInt8], _ at: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[at + $1]) << (8 * $1) }
}

func random10k(_ ch: Channel) throws {
    let total = 10_000
    let window = 8
    var rng = SystemRandomNumberGenerator()
    var inFlight: [Data] = []
    var sent = 0
    func sendNext() throws {
        let body = (0..<Int.random(in: 0...1024, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let m = Data(u32le(UInt32(sent)) + u32le(crc32(body)) + body)
        try ch.sendBlocking(data: m, timeoutMs: nil, cancel: nil)
        inFlight.append(m)
        sent += 1
    }
    while sent < window { try sendNext() }
    var next = 0
    for i in 0..<total {
        let got = try ch.recvBlocking(timeoutMs: nil, cancel: nil)
        try expectSame("reply \(i)", inFlight[next], got)
        next += 1
        let b = [UInt8](got)
        if b.count < 8 || u32le(b, 0) != UInt32(i) || u32le(b, 4) != crc32(b[8...]) {
            throw CaseFailed("reply \(i): its index or CRC-32 does not match its body")
        }
        if sent < total { try sendNext() }
    }
}

let cases: [String: (Channel) throws -> Void] = [
    "empty": { ch in try echo(ch, Data()) },
    "one-byte": { ch in try echo(ch, Data([0x2a])) },
    "all-bytes": { ch in try echo(ch, Data((0..<256).map { UInt8($0) })) },
    "non-utf8": { ch in
        try echo(ch, Data([0xff, 0xfe, 0xfd, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x82, 0x28, 0xf0, 0x90, 0x28, 0xbc, 0x80]))
    },
    "64k": { ch in try echo(ch, pattern(65536)) },
    "1m": { ch in try echo(ch, pattern(1_048_576)) },
    "max-size": { ch in try echo(ch, pattern(Int(ch.maxMessageSize()))) },
    "over-max": { ch in
        let max = Int(ch.maxMessageSize())
        try expectKind("MessageTooLarge", "sending \(max + 1) bytes (the maximum is \(max))") {
            try ch.sendBlocking(data: pattern(max + 1), timeoutMs: nil, cancel: nil)
        }
        try echo(ch, Data([0x2a]), "the reply after the refused send")
    },
    "random-10k": random10k,
    "server-close": { ch in
        for i in 0..<3 { try echo(ch, pattern(100), "reply \(i + 1)") }
        try ch.sendBlocking(data: closeMessage, timeoutMs: nil, cancel: nil)
        try expectKind("Closed", "the receive after interop:close") {
            _ = try ch.recvBlocking(timeoutMs: nil, cancel: nil)
        }
    },
    "server-killed": { ch in
        try echo(ch, pattern(100))
        try ch.sendBlocking(data: killMessage, timeoutMs: nil, cancel: nil)
        try expectKind("PeerDisconnected", "the receive after interop:kill") {
            _ = try ch.recvBlocking(timeoutMs: nil, cancel: nil)
        }
    },
]

// Request/reply cases: each connects by itself. This peer has no rpc-server yet.

enum Outcome {
    case success(Data)
    case failure(String)
}

/// The outcomes of calls made on other threads.
final class Results: @unchecked Sendable {
    private var items: [Outcome?]
    private let lock = NSLock()
    init(count: Int) { items = [Outcome?](repeating: nil, count: count) }
    func set(_ i: Int, _ o: Outcome) { lock.lock(); items[i] = o; lock.unlock() }
    func get(_ i: Int) -> Outcome? { lock.lock(); defer { lock.unlock() }; return items[i] }
}
func withRpc(_ endpoint: String, _ maxMessage: UInt64?, _ run: (RpcClient) throws -> Void) throws {
    let c = try rpcConnectBlocking(endpoint: endpoint, options: options(maxMessage))
    defer { try? c.shutdown() }
    try run(c)
}

func rpcCall(_ c: RpcClient, _ body: Data, _ what: String) throws -> Data {
    let r = try c.callBlocking(data: body, timeoutMs: 30_000, cancel: nil)
    if r.status != 0 { throw CaseFailed("\(what): an error reply, status \(r.status)") }
    return r.body
}

let rpcCases: [String: (String, UInt64?) throws -> Void] = [
    "rpc-echo": { ep, max in
        try withRpc(ep, max) { c in
            try expectSame("reply", pattern(1000), try rpcCall(c, pattern(1000), "the call"))
            try expectSame("empty reply", Data(), try rpcCall(c, Data(), "the empty call"))
        }
    },
    "rpc-error": { ep, max in
        try withRpc(ep, max) { c in
            let r = try c.callBlocking(data: Data("fail:42:no such thing".utf8), timeoutMs: 30_000, cancel: nil)
            let text = String(decoding: r.body, as: UTF8.self)
            if r.status != 42 || text != "no such thing" {
                throw CaseFailed("expected error reply 42 \"no such thing\", got \(r.status) \(text)")
            }
            try expectSame("reply after the error", Data("x".utf8), try rpcCall(c, Data("x".utf8), "the call after the error"))
        }
    },
    "rpc-many": { ep, max in
        try withRpc(ep, max) { c in
            // 200 calls in flight from 200 threads: each gets its own reply.
            let bodies = (0..<200).map { Data(u32le(UInt32($0))) }
            let results = Results(count: 200)
            DispatchQueue.concurrentPerform(iterations: 200) { i in
                do {
                    results.set(i, .success(try rpcCall(c, bodies[i], "call \(i)")))
                } catch {
                    results.set(i, .failure(describe(error)))
                }
            }
            for i in stride(from: 199, through: 0, by: -1) {
                switch results.get(i) {
                case .success(let got): try expectSame("reply \(i)", bodies[i], got)
                case .failure(let why): throw CaseFailed("call \(i) failed: \(why)")
                case nil: throw CaseFailed("call \(i) gave nothing")
                }
            }
        }
    },
    "rpc-plain-refused": { ep, max in
        try expectKind("ProtocolMismatch", "a plain channel's connect") {
            let ch = try connectBlocking(endpoint: ep, options: options(max))
            ch.close()
        }
    },
    "sub-all": { ep, max in try subscription(ep, max, [], 500, 1) },
    "sub-topic": { ep, max in try subscription(ep, max, ["odd"], 250, 2) },
    "sub-plain-refused": { ep, max in
        try expectKind("ProtocolMismatch", "a plain channel's connect") {
            let ch = try connectBlocking(endpoint: ep, options: options(max))
            ch.close()
        }
    },
]

/// The contract's publisher stream: message i has topic "even" or "odd" and the payload
/// u64le(i) || pattern(i % 1000). Receive `count` messages of a subscription to `topics`:
/// numbered 0, 1, ... with nothing dropped, indices `step` apart.
func subscription(_ ep: String, _ max: UInt64?, _ topics: [String], _ count: Int, _ step: UInt64) throws {
    let s: Subscriber
    do {
        s = try subscribeBlocking(endpoint: ep, topics: topics.map { Data($0.utf8) }, options: options(max))
    } catch {
        throw CaseFailed("subscribe: \(describe(error))")
    }
    defer { try? s.shutdown() }
    var first: UInt64 = 0
    for k in 0..<count {
        let d = try s.recvBlocking(timeoutMs: 60_000, cancel: nil)
        let p = [UInt8](d.payload)
        var i: UInt64 = 0
        for b in stride(from: 7, through: 0, by: -1) where p.count >= 8 { i = (i << 8) | UInt64(p[b]) }
        if k == 0 { first = i }
        if d.seq != UInt64(k) || d.dropped != 0 {
            throw CaseFailed("message \(k): sequence number \(d.seq) and \(d.dropped) dropped")
        }
        if i != first + UInt64(k) * step {
            throw CaseFailed("message \(k): index \(i), expected \(first + UInt64(k) * step)")
        }
        let want = Data(p.prefix(8)) + pattern(Int(i % 1000))
        if d.topic != Data((i % 2 == 1 ? "odd" : "even").utf8) || d.payload != want {
            throw CaseFailed("message \(k) (index \(i)): wrong topic or payload")
        }
    }
}

func client(endpoint: String, names: [String], maxMessage: UInt64?) -> Int32 {
    var failed = false
    var unsupported = false
    for name in names {
        if let rpc = rpcCases[name] {
            var reason: String?
            do {
                try rpc(endpoint, maxMessage)
            } catch let e as CaseFailed {
                reason = e.reason
            } catch {
                reason = "unexpected error \(describe(error))"
            }
            if let reason {
                out("FAIL \(name) \(oneLine(reason))")
                failed = true
            } else {
                out("PASS \(name)")
            }
            continue
        }
        guard let run = cases[name] else {
            out("UNSUPPORTED \(name)")
            unsupported = true
            continue
        }
        var reason: String?
        do {
            let ch = try connectBlocking(endpoint: endpoint, options: options(maxMessage))
            defer { ch.close() }
            try run(ch)
        } catch let e as CaseFailed {
            reason = e.reason
        } catch {
            reason = "unexpected error \(describe(error))"
        }
        if let reason {
            out("FAIL \(name) \(oneLine(reason))")
            failed = true
        } else {
            out("PASS \(name)")
        }
    }
    return failed ? 1 : unsupported ? 127 : 0
}

// ---- command line ---------------------------------------------------------------------------

func usage(_ why: String) -> Never {
    err("usage: peer server --endpoint E [--max-message N] | client --endpoint E --case NAME[,NAME...] [--max-message N]: \(why)")
    exit(2)
}

let args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else { usage("a command: server or client") }
guard ["server", "client", "rpc-server", "publisher"].contains(command) else { usage("unknown command \(command)") }
var endpoint: String?
var caseList: String?
var maxMessage: UInt64?
var i = 1
while i < args.count {
    guard i + 1 < args.count else { usage("\(args[i]) needs a value") }
    let value = args[i + 1]
    switch args[i] {
    case "--endpoint": endpoint = value
    case "--case": caseList = value
    case "--max-message":
        guard let n = UInt64(value) else { usage("--max-message \(value): not a number") }
        maxMessage = n
    default: usage("unknown option \(args[i])")
    }
    i += 2
}
guard let endpoint else { usage("--endpoint is required") }
switch command {
case "server":
    if caseList != nil { usage("--case is for the client") }
    exit(server(endpoint: endpoint, maxMessage: maxMessage))
case "rpc-server":
    if caseList != nil { usage("--case is for the client") }
    exit(await rpcServer(endpoint: endpoint, maxMessage: maxMessage))
case "publisher":
    if caseList != nil { usage("--case is for the client") }
    exit(await publisherCommand(endpoint: endpoint, maxMessage: maxMessage))
case "client":
    guard let caseList else { usage("--case is required") }
    let names = caseList.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    exit(client(endpoint: endpoint, names: names, maxMessage: maxMessage))
default:
    usage("unknown command \(command)")
}
