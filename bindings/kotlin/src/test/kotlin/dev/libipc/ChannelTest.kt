package dev.libipc

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.BufferedReader
import java.io.File
import java.io.InputStreamReader
import java.util.concurrent.TimeUnit

/** The Kotlin binding against the real native library: in-process, and with Rust and Python peers. */
class ChannelTest {
    @TempDir
    lateinit var dir: File

    private val unique = "${ProcessHandle.current().pid()}-${System.nanoTime()}"

    private fun endpoints() = listOf("unix" to "unix://${dir.path}/k-$unique.sock", "shm" to "shm://libipc-kt-$unique")

    @Test
    fun `send and receive, blocking and suspend, over unix and shm`() {
        for ((name, ep) in endpoints()) {
            Listener.bind(ep, null).use { listener ->
                connectBlocking(listener.endpoint(), null).use { client ->
                    listener.acceptBlocking(5000u, null).use { server ->
                        val payload = ByteArray(100_000) { (it % 251).toByte() }
                        client.sendBlocking(payload, 5000u, null)
                        assertArrayEquals(payload, server.recvBlocking(5000u, null), name)
                        runBlocking {
                            server.sendMessage("suspend".toByteArray())
                            assertEquals("suspend", String(client.receive()), name)
                        }
                        assertEquals(ProcessHandle.current().pid(), client.peer().pid!!.toLong(), name)
                        assertTrue(client.maxMessageSize() > 0u)
                        assertEquals(null, client.tryRecv())
                    }
                }
            }
        }
    }

    @Test
    fun `cancelling a suspended receive loses no message`() = runBlocking {
        for ((name, ep) in endpoints()) {
            Listener.bind(ep, null).use { listener ->
                val client = connect(listener.endpoint(), null)
                val server = listener.acceptClient()
                val pending = launch(start = CoroutineStart.UNDISPATCHED) { client.receive() }
                delay(50)
                pending.cancel()
                pending.join()
                server.sendMessage("after cancel".toByteArray())
                assertEquals("after cancel", String(client.receive()), name)
                // Receives cancelled at random moments while numbered messages stream in:
                // every message arrives once, in order.
                val n = 2_000
                val sender = launch { for (i in 0 until n) { server.sendMessage(i.toString().toByteArray()); if (i % 8 == 7) delay(1) } }
                var next = 0
                val random = java.util.Random(7)
                while (next < n) {
                    val got = async(start = CoroutineStart.UNDISPATCHED) { client.receive() }
                    if (random.nextBoolean()) {
                        delay(random.nextInt(2).toLong())
                        got.cancel()
                    }
                    val m = runCatching { got.await() }.getOrNull() ?: continue
                    assertEquals(next.toString(), String(m), "$name: message $next")
                    next++
                }
                sender.join()
                client.shutdown()
                server.close()
                client.close()
            }
        }
    }

    @Test
    fun `errors map to the core's kinds`() {
        assertThrows<IpcException.InvalidEndpoint> { connectBlocking("bogus://x", null) }
        assertThrows<IpcException.NotFound> { connectBlocking("unix://${dir.path}/nobody.sock", null) }
        Listener.bind("unix://${dir.path}/t.sock", null).use { listener ->
            assertThrows<IpcException.AddressInUse> { Listener.bind("unix://${dir.path}/t.sock", null) }
            connectBlocking(listener.endpoint(), null).use { client ->
                assertThrows<IpcException.Timeout> { client.recvBlocking(20u, null) }
                val handle = CancelHandle()
                Thread { Thread.sleep(50); handle.cancel() }.start()
                assertThrows<IpcException.Cancelled> { client.recvBlocking(null, handle) }
                assertThrows<IpcException.MessageTooLarge> {
                    client.sendBlocking(ByteArray(client.maxMessageSize().toInt() + 1), 1000u, null)
                }
            }
        }
        val table = errorCodes().associate { it.name to it.code.toInt() }
        assertEquals(6, table["Timeout"])
        assertEquals(5, table["PeerDisconnected"])
    }

    @Test
    fun `a gid allow-list is passed to the core, on both sides`() {
        // Our effective gid and supplementary groups (Linux: /proc/self/status).
        val status = File("/proc/self/status").readLines()
        fun ids(key: String) = status.first { it.startsWith(key) }.substringAfter(':').trim()
            .split(Regex("\\s+")).filter { it.isNotEmpty() }.map { it.toUInt() }
        val gid = ids("Gid:")[1]
        val other = (ids("Groups:") + gid).max() + 12345u
        for ((name, ep) in endpoints()) {
            Listener.bind("$ep-gid-other", IpcOptions(allowedGids = listOf(other))).use { listener ->
                assertThrows<IpcException.PermissionDenied>(name) { connectBlocking(listener.endpoint(), null) }
            }
            Listener.bind("$ep-gid-ours", IpcOptions(allowedGids = listOf(gid))).use { listener ->
                assertThrows<IpcException.PermissionDenied>(name) {
                    connectBlocking(listener.endpoint(), IpcOptions(allowedGids = listOf(other)))
                }
                connectBlocking(listener.endpoint(), IpcOptions(allowedGids = listOf(gid))).use { client ->
                    listener.acceptBlocking(5000u, null).use { server ->
                        client.sendBlocking("group".toByteArray(), 5000u, null)
                        assertEquals("group", String(server.recvBlocking(5000u, null)), name)
                    }
                }
            }
        }
        assertThrows<IpcException.InvalidArgument> {
            Listener.bind("tcp://127.0.0.1:0", IpcOptions(allowedGids = listOf(gid)))
        }
    }

    /** A foreign peer process; its stdin stays open (a contract server runs until it closes). */
    private class Peer(vararg cmd: String) : AutoCloseable {
        val process: Process = ProcessBuilder(*cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start()
        private val out = BufferedReader(InputStreamReader(process.inputStream))
        fun line(): String = out.readLine() ?: error("peer exited: ${cmd.joinToString(" ")}")
        fun kill() { process.destroyForcibly(); process.waitFor(10, TimeUnit.SECONDS) }
        override fun close() = kill()
        private val cmd = cmd
    }

    private fun rust() = TestSettings.require(TestSettings.rustPeer, "the Rust peer", "libipc.rust.peer", "LIBIPC_RUST_PEER")
    private fun python() = TestSettings.require(TestSettings.python, "a Python with libipc", "libipc.python", "LIBIPC_PYTHON")
    private fun helper() = TestSettings.require(TestSettings.pyHelper, "the Python peer", "libipc.py.helper", "LIBIPC_PY_HELPER")

    /**
     * Against a foreign peer's contract server (tests/interop/README.md: `server --endpoint E`
     * prints `READY <endpoint>`, echoes, and SIGKILLs itself on `interop:kill`): echoes of
     * many sizes, then the server killed while a receive waits: PeerDisconnected, no hang.
     */
    private fun echoWith(peer: Peer, name: String) = runBlocking {
        val ready = peer.line()
        assertTrue(ready.startsWith("READY "), "$name: $ready")
        connect(ready.removePrefix("READY "), null).use { ch ->
            for (i in 0 until 300) {
                val m = ByteArray(i * 37) { (it + i).toByte() }
                ch.sendMessage(m)
                assertArrayEquals(m, ch.receive(), "$name: message $i")
            }
            val pending = async { runCatching { ch.receive() } }
            delay(50)
            ch.sendMessage("interop:kill".toByteArray())
            val failure = pending.await().exceptionOrNull()
            assertTrue(failure is IpcException.PeerDisconnected, "$name: $failure")
            assertTrue(peer.process.waitFor(30, TimeUnit.SECONDS), "$name: the server ended")
            assertEquals(128 + 9, peer.process.exitValue(), "$name: the server ended by SIGKILL")
        }
    }

    @Test
    fun `Kotlin with a Rust contract server over unix and shm, killed at the end`() {
        for ((name, ep) in endpoints()) {
            Peer(rust(), "server", "--endpoint", "$ep-rust").use { echoWith(it, "rust $name") }
        }
    }

    @Test
    fun `Kotlin with a Python contract server over unix and shm, killed at the end`() {
        for ((name, ep) in endpoints()) {
            Peer(python(), "-u", helper(), "server", "--endpoint", "$ep-py").use { echoWith(it, "python $name") }
        }
    }

    /**
     * Request/reply against the Rust request/reply server in another process (handlers
     * delayed at random, run concurrently): 1,000 suspend calls in flight, each with its own
     * reply; an error reply as an RpcReply with its status; a cancelled call abandoned; a
     * plain channel refused.
     */
    @Test
    fun `request reply against the Rust server, 1000 calls in flight`() = runBlocking {
        for ((name, ep) in endpoints()) {
            Peer(rust(), "rpc-echo-server", "$ep-rpc", "--async", "--max-delay-ms", "10").use { peer ->
                val ready = peer.line()
                assertTrue(ready.startsWith("ready "), "$name: $ready")
                val endpoint = ready.removePrefix("ready ")
                rpcConnect(endpoint, null).use { c ->
                    val calls = (0 until 1000).map { i -> async { i to c.call("call $i".toByteArray(), null) } }
                    for ((i, reply) in calls.map { it.await() }) {
                        assertEquals(0u, reply.status, "$name: call $i")
                        assertArrayEquals("call $i".toByteArray(), reply.body, "$name: call $i")
                    }
                    val err = c.callBlocking("fail:42:no such thing".toByteArray(), 10_000uL, null)
                    assertEquals(42u, err.status, name)
                    assertEquals("no such thing", String(err.body, Charsets.UTF_8), name)
                    val handle = CancelHandle()
                    val slow = async { runCatching { c.call("sleep:300".toByteArray(), handle) } }
                    delay(20)
                    handle.cancel()
                    assertTrue(slow.await().exceptionOrNull() is IpcException.Cancelled, name)
                    assertEquals(0uL, c.inFlight(), name)
                    assertArrayEquals("after".toByteArray(), c.callBlocking("after".toByteArray(), 10_000uL, null).body, name)
                    assertThrows<IpcException.ProtocolMismatch> { connectBlocking(endpoint, null) }
                    c.shutdown()
                }
            }
        }
    }

    /**
     * Publish/subscribe: a Kotlin publisher (blocking policy) read by a Kotlin subscriber on
     * a topic prefix and one on every topic, in order and numbered; drop-oldest reporting its
     * drops; then a Rust publisher in another process read by Kotlin subscribers (coroutines).
     */
    @Test
    fun `publish subscribe in Kotlin and from a Rust publisher`() = runBlocking {
        for ((name, ep) in endpoints()) {
            val p = publisher("$ep-pub", PublisherPolicy(Overflow.BLOCK, 30_000uL, 0u), null)
            val all = subscribe(p.endpoint(), listOf(), null)
            val cams = subscribe(p.endpoint(), listOf("cam/".toByteArray()), null)
            p.waitForSubscribers(2uL, 10_000uL)
            for (i in 0 until 200) {
                val topic = if (i % 2 == 1) "cam/$i" else "log"
                assertEquals(if (i % 2 == 1) 2uL else 1uL, p.publish("m$i".toByteArray(), topic.toByteArray()), name)
            }
            p.shutdown()
            for (i in 0 until 200) {
                val d = all.recv(null)
                assertEquals(i.toULong(), d.seq, name)
                assertEquals(0uL, d.dropped, name)
                assertArrayEquals("m$i".toByteArray(), d.payload, name)
            }
            assertThrows<IpcException.Closed> { all.recvBlocking(10_000uL, null) }
            for (k in 0 until 100) {
                val d = cams.recvBlocking(10_000uL, null)
                assertEquals(k.toULong(), d.seq, name)
                assertEquals("cam/${2 * k + 1}", String(d.topic, Charsets.UTF_8), name)
            }
            assertThrows<IpcException.Closed> { cams.recvBlocking(10_000uL, null) }
            listOf(all, cams, p).forEach { it.close() }
        }

        val (_, ep) = endpoints().first()
        val q = publisher("$ep-drop", PublisherPolicy(Overflow.DROP_OLDEST, 0uL, 2u), null)
        val slow = subscribe(q.endpoint(), listOf(), null)
        for (i in 0 until 2000) q.publishBlocking(ByteArray(8192), ByteArray(0))
        var received = 0uL
        var last = 0uL
        // The newest message is never dropped: read until it, then close.
        while (last != 1999uL) {
            last = slow.recvBlocking(10_000uL, null).seq
            received++
        }
        q.shutdown()
        assertThrows<IpcException.Closed> { slow.recvBlocking(10_000uL, null) }
        assertEquals(2000uL, received + slow.dropped())
        assertEquals(1999uL, last)
        assertEquals(q.stats().dropped, slow.dropped())
        assertTrue(slow.dropped() > 0uL)
        listOf(slow, q).forEach { it.close() }

        Peer(rust(), "publish", "$ep-rust-pub", "--subscribers", "2", "--count", "20000",
            "--block-ms", "60000", "--size", "100").use { peer ->
            val ready = peer.line()
            assertTrue(ready.startsWith("ready "), ready)
            val endpoint = ready.removePrefix("ready ")
            val subs = (0 until 2).map { subscribe(endpoint, listOf(), null) }
            val counts = subs.map { s ->
                async {
                    var n = 0uL
                    while (true) {
                        val d = runCatching { s.recv(null) }.getOrElse {
                            assertTrue(it is IpcException.Closed, "$it")
                            null
                        } ?: break
                        assertEquals(n, d.seq)
                        assertEquals(0uL, d.dropped)
                        assertEquals(100, d.payload.size)
                        n++
                    }
                    n
                }
            }.map { it.await() }
            assertEquals(listOf(20000uL, 20000uL), counts)
            assertEquals("done published 20000 dropped 0 cut_off 0", peer.line())
            subs.forEach { it.close() }
        }
    }

    /**
     * A Kotlin request/reply server (RpcServer.serve: a coroutine per request): 1,000 calls
     * in flight answered out of order, error replies (RpcError and any other exception), a
     * call cancelled by the client cancelling its handler's coroutine.
     */
    @Test
    fun `a Kotlin request reply server`() = runBlocking {
        val (_, ep) = endpoints().first()
        val server = rpcListen("$ep-kserver", null)
        val handlerCancelled = java.util.concurrent.atomic.AtomicBoolean(false)
        val serving = launch {
            server.serve { body ->
                when (val text = String(body, Charsets.UTF_8)) {
                    "fail" -> throw RpcError(42u, "no such thing")
                    "boom" -> throw IllegalStateException("bad input")
                    "slow" -> try {
                        delay(30_000)
                        body
                    } finally {
                        handlerCancelled.set(true)
                    }
                    else -> {
                        delay((text.hashCode() and 7).toLong())
                        body
                    }
                }
            }
        }
        rpcConnect(server.endpoint(), null).use { c ->
            val calls = (0 until 1000).map { i -> async { i to c.call("call $i".toByteArray(), null) } }
            for ((i, reply) in calls.map { it.await() }) {
                assertEquals(0u, reply.status, "call $i")
                assertArrayEquals("call $i".toByteArray(), reply.body, "call $i")
            }
            val err = c.call("fail".toByteArray(), null)
            assertEquals(42u, err.status)
            assertEquals("no such thing", String(err.body, Charsets.UTF_8))
            val panic = c.call("boom".toByteArray(), null)
            assertEquals(rpcPanicStatus(), panic.status)
            assertTrue(String(panic.body, Charsets.UTF_8).contains("bad input"))
            val handle = CancelHandle()
            val slow = async { runCatching { c.call("slow".toByteArray(), handle) } }
            delay(50)
            handle.cancel()
            assertTrue(slow.await().exceptionOrNull() is IpcException.Cancelled)
            while (!handlerCancelled.get()) delay(5)
            assertArrayEquals("after".toByteArray(), c.call("after".toByteArray(), null).body)
            assertEquals(0uL, c.lateReplies())
            c.shutdown()
        }
        server.shutdown()
        serving.join()
        server.close()
    }
}
