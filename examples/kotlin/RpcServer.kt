// A request/reply server: a tiny calculator (the Kotlin twin of examples/rust/rpc_server.rs).
// "add 2 3" is answered "5", "mul 4 5 6" "120"; anything it does not understand gets an error
// reply with status 400 and a reason. A coroutine per request. Prints "serving on <endpoint>".
//
//   java -cp ... dev.libipc.examples.RpcServerKt unix:///tmp/calc.sock
package dev.libipc.examples

import dev.libipc.IpcException
import dev.libipc.RpcError
import dev.libipc.rpcListen
import dev.libipc.serve
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking

fun calculate(text: String): String {
    val words = text.split(' ').filter { it.isNotEmpty() }
    val op = words.firstOrNull() ?: throw RpcError(400u, "empty request")
    val args = words.drop(1).map { it.toLongOrNull() ?: throw RpcError(400u, "\"$it\" is not a number") }
    return when (op) {
        "add" -> args.sum().toString()
        "mul" -> args.fold(1L) { a, b -> a * b }.toString()
        else -> throw RpcError(400u, "unknown operation \"$op\"")
    }
}

fun main(args: Array<String>) {
    val endpoint = args.firstOrNull() ?: "calc"
    val rc = runBlocking {
        try {
            val server = rpcListen(endpoint, null)
            println("serving on ${server.endpoint()}")
            System.out.flush()
            server.serve { body -> calculate(String(body, Charsets.UTF_8)).toByteArray() }
            0
        } catch (e: IpcException) {
            System.err.println("rpc server: $endpoint: ${e::class.simpleName}: ${e.message}")
            1
        }
    }
    exitProcess(rc)
}
