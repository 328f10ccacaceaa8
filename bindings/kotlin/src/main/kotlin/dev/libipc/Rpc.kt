// Handwritten additions to the generated dev.libipc bindings: a request/reply server loop on
// coroutines over the core's tracked requests (RpcConnection.next / cancelled / reply).
package dev.libipc

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** Thrown by a request handler to answer with an error reply: [status] (non-zero) and the message. */
class RpcError(val status: UInt, message: String) : Exception(message)

/**
 * Serve every client of this server with [handler] until the server is shut down and its
 * clients are gone: each request runs as a coroutine of its own and is answered when it
 * finishes (in any order); the client cancelling a request cancels its coroutine (no reply is
 * sent). A handler that throws [RpcError] answers with its status and message; any other
 * exception answers with [rpcPanicStatus] and "<class>: <message>".
 */
suspend fun RpcServer.serve(handler: suspend (ByteArray) -> ByteArray) = coroutineScope {
    while (true) {
        val conn = try {
            accept()
        } catch (e: IpcException) {
            break // shut down
        }
        launch { serveConnection(conn, handler) }
    }
}

private suspend fun serveConnection(conn: RpcConnection, handler: suspend (ByteArray) -> ByteArray) {
    try {
        coroutineScope {
            while (true) {
                val req = try {
                    conn.next()
                } catch (e: IpcException) {
                    break // the client closed or went away
                }
                val work = launch { answer(conn, req, handler) }
                launch { if (conn.cancelled(req.id)) work.cancel() }
            }
        }
    } finally {
        runCatching { conn.shutdown() }
        conn.close()
    }
}

private suspend fun answer(conn: RpcConnection, req: RpcRequest, handler: suspend (ByteArray) -> ByteArray) {
    try {
        val reply = handler(req.body)
        conn.reply(req.id, reply)
    } catch (e: CancellationException) {
        // Every request is answered, cancelled or not; the core does not send this one.
        withContext(NonCancellable) { runCatching { conn.reply(req.id, ByteArray(0)) } }
        throw e
    } catch (e: RpcError) {
        runCatching { conn.replyError(req.id, e.status, e.message ?: "") }
    } catch (e: IpcException) {
        // The connection ended while answering: nobody to answer.
    } catch (e: Exception) {
        runCatching { conn.replyError(req.id, rpcPanicStatus(), "${e::class.simpleName}: ${e.message}") }
    }
}
