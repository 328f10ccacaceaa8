// Handwritten additions to the generated dev.libipc bindings: coroutine cancellation wired to
// the core's cancellation handle. (uniffi's generated suspend functions drop the Rust future
// when the coroutine is cancelled, and a message the future had just taken would go with it;
// these never let the cancellation reach the generated call: it goes through a CancelHandle,
// so the call always finishes, having taken nothing or returning what it took.)
package dev.libipc

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.GlobalScope
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.async
import kotlinx.coroutines.withContext

/**
 * The next message. Cancelling the coroutine ends the wait; a message that arrived just as
 * it was cancelled is given back to the channel (`putBack`), so it is the next receive's.
 */
suspend fun Channel.receive(): ByteArray = throughHandle({ handle -> recv(handle) }, { putBack(it) })

/** Send one message; cancelling the coroutine before any of it went out sends nothing. */
suspend fun Channel.sendMessage(data: ByteArray): Unit = throughHandle({ handle -> send(data, handle) }, {})

/**
 * The next client. Cancelling the coroutine ends the wait; a client accepted just as it was
 * cancelled is closed (it sees its connection end), none is left hanging.
 */
suspend fun Listener.acceptClient(): Channel = throughHandle({ handle -> accept(handle) }, { it.close() })

@OptIn(kotlinx.coroutines.DelicateCoroutinesApi::class)
private suspend fun <T> throughHandle(call: suspend (CancelHandle) -> T, giveBack: (T) -> Unit): T {
    val handle = CancelHandle()
    try {
        // In GlobalScope, not a child of the caller: the caller's cancellation reaches the call
        // only through `handle`.
        val work = GlobalScope.async(start = CoroutineStart.UNDISPATCHED) { runCatching { call(handle) } }
        return try {
            work.await().getOrThrow()
        } catch (e: CancellationException) {
            handle.cancel()
            val outcome = withContext(NonCancellable) { work.await() }
            // The call completed before the handle stopped it: a cancelled coroutine cannot
            // return what it took, so it goes back.
            outcome.onSuccess(giveBack)
            throw e
        }
    } finally {
        handle.close()
    }
}
