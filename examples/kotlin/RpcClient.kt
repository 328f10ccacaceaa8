// A request/reply client: sends every argument after the endpoint as a request, all in flight
// at once (coroutines), then prints each reply in order, or "error <status>: <text>" for an
// error reply (the Kotlin twin of examples/rust/rpc_client.rs).
//
//   java -cp ... dev.libipc.examples.RpcClientKt unix:///tmp/calc.sock "add 2 3" "pow 2 8"
package dev.libipc.examples

import dev.libipc.IpcException
import dev.libipc.IpcOptions
import dev.libipc.rpcConnect
import kotlin.system.exitProcess
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking

fun main(args: Array<String>) {
    val endpoint = args.firstOrNull() ?: "calc"
    val rc = runBlocking {
        try {
            rpcConnect(endpoint, IpcOptions(connectTimeout = 5_000u)).use { client ->
                val calls = args.drop(1).map { text -> async { client.call(text.toByteArray(), null) } }
                for (call in calls) {
                    val reply = call.await()
                    val text = String(reply.body, Charsets.UTF_8)
                    println(if (reply.status == 0u) text else "error ${reply.status}: $text")
                }
                client.shutdown()
            }
            0
        } catch (e: IpcException) {
            System.err.println("rpc client: $endpoint: ${e::class.simpleName}: ${e.message}")
            1
        }
    }
    exitProcess(rc)
}
