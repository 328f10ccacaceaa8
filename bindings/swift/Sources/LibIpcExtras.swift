// Handwritten additions to the generated LibIpc module (compiled together with LibIpc.swift):
// Swift Task cancellation wired to the core's cancellation handle, and close().
import Foundation

extension Channel {
    /// The next message. Cancelling the calling Task fires a core `CancelHandle`: the call
    /// throws `IpcError.Cancelled` and has taken nothing (the next receive gets the message).
    public func receive() async throws -> Data {
        let handle = try CancelHandle()
        return try await withTaskCancellationHandler {
            try await recv(cancel: handle)
        } onCancel: {
            handle.cancel()
        }
    }

    /// Close in an orderly way (see `shutdown()`); releasing the object closes it too.
    public func close() {
        try? shutdown()
    }
}

extension Listener {
    /// The next client. Cancelling the calling Task fires a core `CancelHandle`: the call
    /// throws `IpcError.Cancelled` and no client is lost.
    public func acceptClient() async throws -> Channel {
        let handle = try CancelHandle()
        return try await withTaskCancellationHandler {
            try await accept(cancel: handle)
        } onCancel: {
            handle.cancel()
        }
    }

    /// Stop listening (see `shutdown()`).
    public func close() {
        shutdown()
    }
}

/// Thrown by a request handler to answer with an error reply: `status` (non-zero) and `text`.
public struct RpcFailure: Error {
    public let status: UInt32
    public let text: String
    public init(status: UInt32, text: String) {
        self.status = status
        self.text = text
    }
}

extension RpcServer {
    /// Serve every client with `handler` until the server is shut down and its clients are
    /// gone: each request runs as a Task of its own and is answered when it finishes (in any
    /// order); the client cancelling a request cancels its Task (no reply is sent). A handler
    /// that throws `RpcFailure` answers with its status and text; any other error answers with
    /// `rpcPanicStatus()` and its description.
    public func serve(_ handler: @escaping @Sendable (Data) async throws -> Data) async {
        await withTaskGroup(of: Void.self) { group in
            while true {
                guard let conn = try? await self.accept() else { break }
                group.addTask { await serveConnection(conn, handler) }
            }
        }
    }
}

private func serveConnection(_ conn: RpcConnection, _ handler: @escaping @Sendable (Data) async throws -> Data) async {
    await withTaskGroup(of: Void.self) { group in
        while true {
            guard let req = try? await conn.next() else { break }
            let work = Task {
                do {
                    let reply = try await handler(req.body)
                    try? await conn.reply(id: req.id, body: reply)
                } catch let f as RpcFailure {
                    try? await conn.replyError(id: req.id, status: f.status, text: f.text)
                } catch {
                    if Task.isCancelled {
                        // Every request is answered, cancelled or not; this one is not sent.
                        try? await conn.reply(id: req.id, body: Data())
                    } else {
                        try? await conn.replyError(id: req.id, status: rpcPanicStatus(), text: "\(error)")
                    }
                }
            }
            group.addTask {
                if await conn.cancelled(id: req.id) { work.cancel() }
                _ = await work.value
            }
        }
    }
    try? conn.shutdown()
}
