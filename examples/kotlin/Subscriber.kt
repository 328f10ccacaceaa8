// A subscriber: subscribes to the topics starting with any of the given prefixes (none: every
// topic) and prints "topic: payload" for each message until the publisher closes, and how many
// messages were dropped for it if any were (the Kotlin twin of
// examples/rust/pubsub_subscriber.rs).
//
//   java -cp ... dev.libipc.examples.SubscriberKt unix:///tmp/ticker.sock prices/
package dev.libipc.examples

import dev.libipc.IpcException
import dev.libipc.IpcOptions
import dev.libipc.subscribe
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking

fun main(args: Array<String>) {
    val endpoint = args.firstOrNull() ?: "ticker"
    val prefixes = args.drop(1).map { it.toByteArray() }
    val rc = runBlocking {
        try {
            subscribe(endpoint, prefixes, IpcOptions(connectTimeout = 10_000u)).use { s ->
                while (true) {
                    val m = try {
                        s.recv(null)
                    } catch (e: IpcException.Closed) {
                        break
                    }
                    if (m.dropped > 0uL) println("(${m.dropped} dropped)")
                    println("${String(m.topic, Charsets.UTF_8)}: ${String(m.payload, Charsets.UTF_8)}")
                }
            }
            0
        } catch (e: IpcException) {
            System.err.println("subscriber: $endpoint: ${e::class.simpleName}: ${e.message}")
            1
        }
    }
    exitProcess(rc)
}
