// A client: connects to the endpoint in args[0], sends each further argument as a message and
// prints each reply on its own line (the Kotlin twin of examples/rust/client.rs and
// examples/python/client.py), on the suspend API.
//
//   java -cp ... dev.libipc.examples.ClientKt unix:///tmp/echo.sock hello "two words"
package dev.libipc.examples

import dev.libipc.IpcException
import dev.libipc.IpcOptions
import dev.libipc.connect
import dev.libipc.receive
import dev.libipc.sendMessage
import kotlin.system.exitProcess
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

fun main(args: Array<String>) {
    val endpoint = args.firstOrNull() ?: "demo"
    val out = System.out
    val rc = runBlocking {
        try {
            connect(endpoint, IpcOptions(connectTimeout = 5_000u)).use { channel ->
                for (text in args.drop(1)) {
                    channel.sendMessage(text.toByteArray())
                    // Cancelling receive() (the timeout) loses no message: see Coroutines.kt.
                    val reply = withTimeout(5_000) { channel.receive() }
                    out.write(reply)
                    out.write('\n'.code)
                }
            }
            0
        } catch (e: IpcException) {
            System.err.println("client: $endpoint: ${e::class.simpleName}: ${e.message}")
            1
        } catch (e: TimeoutCancellationException) {
            System.err.println("client: $endpoint: no reply within 5 s")
            1
        } finally {
            out.flush()
        }
    }
    exitProcess(rc)
}
