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
