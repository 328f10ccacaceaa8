// A publisher: waits for the given number of subscribers, publishes each "topic=payload"
// argument, then closes (the Kotlin twin of examples/rust/pubsub_publisher.rs).
//
//   java -cp ... dev.libipc.examples.PublisherKt unix:///tmp/ticker.sock 2 prices/ACME=101.5
package dev.libipc.examples

import dev.libipc.IpcException
import dev.libipc.publisher
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking

fun main(args: Array<String>) {
    val endpoint = args.getOrNull(0) ?: "ticker"
    val subscribers = args.getOrNull(1)?.toULong() ?: 1uL
    val rc = runBlocking {
        try {
            publisher(endpoint, null, null).use { p ->
                p.waitForSubscribers(subscribers, null)
                for (item in args.drop(2)) {
                    val (topic, payload) = if ('=' in item) item.split('=', limit = 2) else listOf("", item)
                    p.publish(payload.toByteArray(), topic.toByteArray())
                }
                p.shutdown()
            }
            0
        } catch (e: IpcException) {
            System.err.println("publisher: $endpoint: ${e::class.simpleName}: ${e.message}")
            1
        }
    }
    exitProcess(rc)
}
