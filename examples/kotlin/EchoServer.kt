// An echo server: every message each client sends comes back to it (the Kotlin twin of
// examples/rust/echo_server.rs and examples/python/echo_server.py), on the suspend API.
//
//   ./scripts/uniffi-examples.sh              builds and runs it (see examples/kotlin/README.md)
//   java -cp ... dev.libipc.examples.EchoServerKt unix:///tmp/echo.sock   # echoing on unix:///tmp/echo.sock
//
// The endpoint defaults to "demo" (a socket in the runtime directory). One coroutine per client;
// runs until killed (a shutdown hook closes the listener, so its socket file goes away).
package dev.libipc.examples

import dev.libipc.Channel
import dev.libipc.IpcException
import dev.libipc.Listener
import dev.libipc.acceptClient
import dev.libipc.receive
import dev.libipc.sendMessage
import kotlin.system.exitProcess
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking

/** Send every message back until the client closes the channel. */
suspend fun echo(channel: Channel) = channel.use {
    val peer = channel.peer()
    try {
        while (true) channel.sendMessage(channel.receive())
    } catch (e: IpcException.Closed) {
        // the client closed the channel: done
    } catch (e: IpcException) {
        System.err.println("client pid=${peer.pid}: ${e.message}")
    }
}

fun main(args: Array<String>) {
    val endpoint = args.firstOrNull() ?: "demo"
    val listener = try {
        Listener.bind(endpoint, null)
    } catch (e: IpcException) {
        System.err.println("echo_server: $endpoint: ${e::class.simpleName}: ${e.message}")
        exitProcess(1)
    }
    Runtime.getRuntime().addShutdownHook(Thread { listener.shutdown() })
    println("echoing on ${listener.endpoint()}")
    System.out.flush()
    runBlocking(Dispatchers.Default) {
        listener.use {
            while (true) {
                val channel = try {
                    listener.acceptClient()
                } catch (e: IpcException.Closed) {
                    break // the listener was closed (SIGTERM)
                }
                launch { echo(channel) }
            }
        }
    }
}
