// The Kotlin peer of the interop matrix: the commands and cases of tests/interop/README.md (the
// contract; read it first), on the blocking calls of the uniffi binding.
//
//   java -cp ... dev.libipc.InteropPeerKt server --endpoint E [--max-message N]
//   java -cp ... dev.libipc.InteropPeerKt client --endpoint E --case NAME[,NAME...] [--max-message N]
//
// scripts/interop/kotlin.sh compiles it and prints that command. It lives in the test sources:
// it is a test program, not part of the library a user builds from bindings/kotlin, and JUnit
// runs no `main`, so the suite is unchanged.
package dev.libipc

import java.util.concurrent.atomic.AtomicBoolean
import java.util.zip.CRC32
import kotlin.system.exitProcess

private val CLOSE = "interop:close".toByteArray(Charsets.US_ASCII)
private val KILL = "interop:kill".toByteArray(Charsets.US_ASCII)

private class Usage(message: String) : Exception(message)

/** The error's kind, as the contract names it: the IpcException subclass's name. */
private fun kind(e: Throwable): String =
    if (e is IpcException) e::class.simpleName ?: "IpcException" else e::class.java.simpleName

/** One line, for FAIL reasons and stderr. */
private fun oneLine(s: String?): String = (s ?: "").replace('\n', ' ').replace('\r', ' ')

private fun describe(e: Throwable): String = "${kind(e)} ${oneLine(e.message)}"

private fun err(line: String) {
    System.err.println(line)
    System.err.flush()
}

private fun out(line: String) {
    System.out.println(line)
    System.out.flush()
}

private fun options(maxMessage: ULong?): IpcOptions? = maxMessage?.let { IpcOptions(maxMessageSize = it) }

// ---- server ---------------------------------------------------------------------------------

private fun serve(ch: Channel) {
    try {
        while (true) {
            val m = ch.recvBlocking(null, null)
            if (m.contentEquals(KILL)) {
                // As a crash would: nothing closed, no shutdown hooks.
                Runtime.getRuntime().halt(137)
            }
            if (m.contentEquals(CLOSE)) {
                ch.shutdown()
                return
            }
            ch.sendBlocking(m, null, null)
        }
    } catch (e: IpcException) {
        err("END ${kind(e)}")
    } finally {
        ch.close()
    }
}

/**
 * The contract's publisher: message i = 0, 1, 2, ... about every millisecond until stdin ends,
 * topic "even" or "odd", payload u64le(i) || pattern(i % 1000); full subscribers block it up to
 * 30 s.
 */
private fun publisherCommand(endpoint: String, maxMessage: ULong?): Int = kotlinx.coroutines.runBlocking {
    val p = try {
        publisher(endpoint, PublisherPolicy(Overflow.BLOCK, 30_000uL, 0u), options(maxMessage))
    } catch (e: IpcException) {
        err("ERROR ${describe(e)}")
        return@runBlocking 1
    }
    out("READY ${p.endpoint()}")
    val stopping = AtomicBoolean(false)
    val stdin = Thread {
        val buf = ByteArray(4096)
        try {
            while (System.`in`.read(buf) >= 0) {
            }
        } catch (_: java.io.IOException) {
        }
        stopping.set(true)
    }
    stdin.isDaemon = true
    stdin.start()
    var i = 0L
    while (!stopping.get()) {
        if (p.subscribers() == 0uL) {
            // Nothing while nobody listens: the matrix runs many idle publishers.
            kotlinx.coroutines.delay(10)
            continue
        }
        val payload = ByteArray(8) { b -> (i shr (8 * b)).toByte() } + pattern((i % 1000).toInt())
        p.publish(payload, (if (i % 2 == 1L) "odd" else "even").toByteArray())
        i++
        kotlinx.coroutines.delay(1)
    }
    p.shutdown()
    System.out.flush()
    Runtime.getRuntime().halt(0)
    0
}

/** The contract's rpc-server: "fail:<status>:<text>" gets that error reply, anything else itself. */
private fun rpcServer(endpoint: String, maxMessage: ULong?): Int = kotlinx.coroutines.runBlocking {
    val server = try {
        rpcListen(endpoint, options(maxMessage))
    } catch (e: IpcException) {
        err("ERROR ${describe(e)}")
        return@runBlocking 1
    }
    out("READY ${server.endpoint()}")
    // Stdin's end-of-file ends the process (the contract's stop).
    val stdin = Thread {
        val buf = ByteArray(4096)
        try {
            while (System.`in`.read(buf) >= 0) {
            }
        } catch (_: java.io.IOException) {
        }
        server.shutdown()
        System.out.flush()
        Runtime.getRuntime().halt(0)
    }
    stdin.isDaemon = true
    stdin.start()
    server.serve { body ->
        val text = String(body, Charsets.ISO_8859_1)
        if (text.startsWith("fail:")) {
            val rest = String(body.copyOfRange(5, body.size), Charsets.UTF_8)
            val status = rest.substringBefore(':').toUIntOrNull() ?: 1u
            throw RpcError(status, if (':' in rest) rest.substringAfter(':') else "")
        }
        body
    }
    0
}

private fun server(endpoint: String, maxMessage: ULong?): Int {
    val listener = try {
        Listener.bind(endpoint, options(maxMessage))
    } catch (e: IpcException) {
        err("ERROR ${describe(e)}")
        return 1
    }
    out("READY ${listener.endpoint()}")
    val stopping = AtomicBoolean(false)
    // Stdin's end-of-file stops the server: the pending accept then ends with Closed.
    val stdin = Thread {
        val buf = ByteArray(4096)
        try {
            while (System.`in`.read(buf) >= 0) {
                // Anything written to stdin is ignored; only its end counts.
            }
        } catch (_: java.io.IOException) {
        }
        stopping.set(true)
        listener.shutdown()
    }
    stdin.isDaemon = true
    stdin.start()
    while (!stopping.get()) {
        val ch = try {
            listener.acceptBlocking(null, null)
        } catch (e: IpcException) {
            if (e is IpcException.Closed || stopping.get()) break
            err("ACCEPT ${describe(e)}")
            continue
        }
        val t = Thread { serve(ch) }
        t.isDaemon = true
        t.start()
    }
    listener.close()
    return 0
}

// ---- client ---------------------------------------------------------------------------------

private class CaseFailed(reason: String) : Exception(reason)

private fun pattern(n: Int): ByteArray = ByteArray(n) { (it % 251).toByte() }

private fun expectSame(what: String, sent: ByteArray, got: ByteArray) {
    if (sent.contentEquals(got)) return
    val at = (0 until minOf(sent.size, got.size)).firstOrNull { sent[it] != got[it] } ?: minOf(sent.size, got.size)
    throw CaseFailed("$what: sent ${sent.size} bytes, got ${got.size} bytes back, first difference at byte $at")
}

private fun echo(ch: Channel, m: ByteArray, what: String = "the reply") {
    ch.sendBlocking(m, null, null)
    expectSame(what, m, ch.recvBlocking(null, null))
}

/** Runs [block] and expects it to fail with the kind [T]. */
private inline fun <reified T : IpcException> expectKind(what: String, block: () -> Unit) {
    try {
        block()
    } catch (e: IpcException) {
        if (e is T) return
        throw CaseFailed("$what: expected ${T::class.simpleName}, got ${describe(e)}")
    }
    throw CaseFailed("$what: expected ${T::class.simpleName}, it succeeded")
}

private fun u32le(b: ByteArray, at: Int, v: Int) {
    for (k in 0 until 4) b[at + k] = (v ushr (8 * k)).toByte()
}

private fun u32le(b: ByteArray, at: Int): Int =
    (0 until 4).fold(0) { acc, k -> acc or ((b[at + k].toInt() and 0xff) shl (8 * k)) }

private fun crc32(b: ByteArray, from: Int): Int {
    val c = CRC32()
    c.update(b, from, b.size - from)
    return c.value.toInt()
}

private fun random10k(ch: Channel) {
    val total = 10_000
    val window = 8
    val random = java.util.Random()
    val inFlight = ArrayDeque<ByteArray>()
    var sent = 0
    fun sendNext() {
        val body = ByteArray(random.nextInt(1025)).also { random.nextBytes(it) }
        val m = ByteArray(8 + body.size)
        body.copyInto(m, 8)
        u32le(m, 0, sent)
        u32le(m, 4, crc32(m, 8))
        ch.sendBlocking(m, null, null)
        inFlight.addLast(m)
        sent++
    }
    while (sent < window) sendNext()
    for (i in 0 until total) {
        val got = ch.recvBlocking(null, null)
        expectSame("reply $i", inFlight.removeFirst(), got)
        if (got.size < 8 || u32le(got, 0) != i || u32le(got, 4) != crc32(got, 8)) {
            throw CaseFailed("reply $i: its index or CRC-32 does not match its body")
        }
        if (sent < total) sendNext()
    }
}

private val CASES: Map<String, (Channel) -> Unit> = mapOf(
    "empty" to { ch -> echo(ch, ByteArray(0)) },
    "one-byte" to { ch -> echo(ch, byteArrayOf(0x2a)) },
    "all-bytes" to { ch -> echo(ch, ByteArray(256) { it.toByte() }) },
    "non-utf8" to { ch ->
        val m = intArrayOf(0xff, 0xfe, 0xfd, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x82, 0x28, 0xf0, 0x90, 0x28, 0xbc, 0x80)
        echo(ch, ByteArray(m.size) { m[it].toByte() })
    },
    "64k" to { ch -> echo(ch, pattern(65536)) },
    "1m" to { ch -> echo(ch, pattern(1048576)) },
    "max-size" to { ch -> echo(ch, pattern(ch.maxMessageSize().toInt())) },
    "over-max" to { ch ->
        val max = ch.maxMessageSize().toInt()
        expectKind<IpcException.MessageTooLarge>("sending ${max + 1} bytes (the maximum is $max)") {
            ch.sendBlocking(pattern(max + 1), null, null)
        }
        echo(ch, byteArrayOf(0x2a), "the reply after the refused send")
    },
    "random-10k" to ::random10k,
    "server-close" to { ch ->
        for (i in 0 until 3) echo(ch, pattern(100), "reply ${i + 1}")
        ch.sendBlocking(CLOSE, null, null)
        expectKind<IpcException.Closed>("the receive after interop:close") { ch.recvBlocking(null, null) }
    },
    "server-killed" to { ch ->
        echo(ch, pattern(100))
        ch.sendBlocking(KILL, null, null)
        expectKind<IpcException.PeerDisconnected>("the receive after interop:kill") { ch.recvBlocking(null, null) }
    },
)

// Request/reply cases: each connects by itself.
private fun withRpc(endpoint: String, maxMessage: ULong?, run: (RpcClient) -> Unit) {
    val c = rpcConnectBlocking(endpoint, options(maxMessage))
    try {
        run(c)
    } finally {
        c.shutdown()
        c.close()
    }
}

private fun rpcCall(c: RpcClient, body: ByteArray, what: String): ByteArray {
    val r = c.callBlocking(body, 30_000uL, null)
    if (r.status != 0u) throw CaseFailed("$what: an error reply, status ${r.status}")
    return r.body
}

private val RPC_CASES: Map<String, (String, ULong?) -> Unit> = mapOf(
    "rpc-echo" to { ep, max ->
        withRpc(ep, max) { c ->
            expectSame("reply", pattern(1000), rpcCall(c, pattern(1000), "the call"))
            expectSame("empty reply", ByteArray(0), rpcCall(c, ByteArray(0), "the empty call"))
        }
    },
    "rpc-error" to { ep, max ->
        withRpc(ep, max) { c ->
            val r = c.callBlocking("fail:42:no such thing".toByteArray(), 30_000uL, null)
            if (r.status != 42u || String(r.body, Charsets.UTF_8) != "no such thing") {
                throw CaseFailed("expected error reply 42 \"no such thing\", got ${r.status} ${String(r.body, Charsets.UTF_8)}")
            }
            expectSame("reply after the error", "x".toByteArray(), rpcCall(c, "x".toByteArray(), "the call after the error"))
        }
    },
    "rpc-many" to { ep, max ->
        withRpc(ep, max) { c ->
            // 200 calls in flight from 200 threads: each gets its own reply.
            val bodies = List(200) { i -> ByteArray(4).also { u32le(it, 0, i) } }
            val got = arrayOfNulls<ByteArray>(200)
            val errors = java.util.concurrent.ConcurrentLinkedQueue<Throwable>()
            val threads = List(200) { i ->
                Thread {
                    try {
                        got[i] = rpcCall(c, bodies[i], "call $i")
                    } catch (e: Throwable) {
                        errors.add(e)
                    }
                }.also { it.start() }
            }
            threads.forEach { it.join() }
            errors.firstOrNull()?.let { throw CaseFailed("a call failed: ${describe(it)}") }
            for (i in 199 downTo 0) expectSame("reply $i", bodies[i], got[i]!!)
        }
    },
    "rpc-plain-refused" to { ep, max ->
        expectKind<IpcException.ProtocolMismatch>("a plain channel's connect") {
            connectBlocking(ep, options(max)).close()
        }
    },
    "sub-all" to { ep, max -> subscription(ep, max, listOf(), 500, 1) },
    "sub-topic" to { ep, max -> subscription(ep, max, listOf("odd"), 250, 2) },
    "sub-plain-refused" to { ep, max ->
        expectKind<IpcException.ProtocolMismatch>("a plain channel's connect") {
            connectBlocking(ep, options(max)).close()
        }
    },
)

/**
 * The contract's publisher stream: message i has topic "even" or "odd" and the payload
 * u64le(i) || pattern(i % 1000). Receive `count` messages of a subscription to `topics`:
 * numbered 0, 1, ... with nothing dropped, indices `step` apart.
 */
private fun subscription(ep: String, max: ULong?, topics: List<String>, count: Int, step: Long) {
    val s = try {
        subscribeBlocking(ep, topics.map { it.toByteArray() }, options(max))
    } catch (e: IpcException) {
        throw CaseFailed("subscribe: ${describe(e)}")
    }
    try {
        var first = -1L
        for (k in 0 until count) {
            val d = s.recvBlocking(60_000uL, null)
            val p = d.payload
            var i = 0L
            for (b in 7 downTo 0) i = (i shl 8) or (p[b].toLong() and 0xff)
            if (k == 0) first = i
            if (d.seq != k.toULong() || d.dropped != 0uL) {
                throw CaseFailed("message $k: sequence number ${d.seq} and ${d.dropped} dropped")
            }
            if (i != first + k * step) throw CaseFailed("message $k: index $i, expected ${first + k * step}")
            val want = p.copyOfRange(0, 8) + pattern((i % 1000).toInt())
            if (String(d.topic, Charsets.UTF_8) != (if (i % 2 == 1L) "odd" else "even") || !p.contentEquals(want)) {
                throw CaseFailed("message $k (index $i): wrong topic or payload")
            }
        }
    } finally {
        s.shutdown()
        s.close()
    }
}

private fun client(endpoint: String, cases: List<String>, maxMessage: ULong?): Int {
    var failed = false
    var unsupported = false
    for (name in cases) {
        val rpc = RPC_CASES[name]
        if (rpc != null) {
            val reason = try {
                rpc(endpoint, maxMessage)
                null
            } catch (e: CaseFailed) {
                e.message
            } catch (e: Exception) {
                "unexpected error ${describe(e)}"
            }
            if (reason == null) {
                out("PASS $name")
            } else {
                out("FAIL $name ${oneLine(reason)}")
                failed = true
            }
            continue
        }
        val case = CASES[name]
        if (case == null) {
            out("UNSUPPORTED $name")
            unsupported = true
            continue
        }
        val reason = try {
            connectBlocking(endpoint, options(maxMessage)).use { ch ->
                case(ch)
                ch.shutdown()
            }
            null
        } catch (e: CaseFailed) {
            e.message
        } catch (e: IpcException) {
            "unexpected error ${describe(e)}"
        } catch (e: Exception) {
            "unexpected exception ${describe(e)}"
        }
        if (reason == null) {
            out("PASS $name")
        } else {
            out("FAIL $name ${oneLine(reason)}")
            failed = true
        }
    }
    return if (failed) 1 else if (unsupported) 127 else 0
}

// ---- command line ---------------------------------------------------------------------------

fun main(args: Array<String>) {
    val status = try {
        if (args.isEmpty()) throw Usage("a command: server or client")
        if (args[0] !in setOf("server", "client", "rpc-server", "publisher")) throw Usage("unknown command ${args[0]}")
        var endpoint: String? = null
        var cases: String? = null
        var maxMessage: ULong? = null
        var i = 1
        while (i < args.size) {
            val value = args.getOrNull(i + 1) ?: throw Usage("${args[i]} needs a value")
            when (args[i]) {
                "--endpoint" -> endpoint = value
                "--case" -> cases = value
                "--max-message" -> maxMessage = value.toULongOrNull() ?: throw Usage("--max-message $value: not a number")
                else -> throw Usage("unknown option ${args[i]}")
            }
            i += 2
        }
        val ep = endpoint ?: throw Usage("--endpoint is required")
        when (args[0]) {
            "server" -> {
                if (cases != null) throw Usage("--case is for the client")
                server(ep, maxMessage)
            }
            "rpc-server" -> {
                if (cases != null) throw Usage("--case is for the client")
                rpcServer(ep, maxMessage)
            }
            "publisher" -> {
                if (cases != null) throw Usage("--case is for the client")
                publisherCommand(ep, maxMessage)
            }
            "client" -> client(ep, (cases ?: throw Usage("--case is required")).split(','), maxMessage)
            else -> throw Usage("unknown command ${args[0]}")
        }
    } catch (e: Usage) {
        err("usage: InteropPeerKt server --endpoint E [--max-message N] | client --endpoint E --case NAME[,NAME...] [--max-message N]: ${e.message}")
        2
    }
    exitProcess(status)
}
