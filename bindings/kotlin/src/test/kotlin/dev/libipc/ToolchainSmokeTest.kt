package dev.libipc

import com.sun.jna.Library
import com.sun.jna.Native
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * Proves the toolchain before any generated code exists: Kotlin compiles and runs under
 * JUnit 5, kotlinx.coroutines suspends and times out, and JNA calls into a native library.
 */
class ToolchainSmokeTest {
    private interface LibC : Library {
        fun getpid(): Int
    }

    private suspend fun answerAfterSuspending(): Int {
        delay(1)
        return 42
    }

    // A block body, not `= runBlocking { ... }`: a @Test must return Unit, and JUnit does not run
    // one that returns a value (the pom makes that a failure instead of a log line).
    @Test
    fun coroutinesSuspendAndTimeOut() {
        runBlocking {
            assertEquals(42, withTimeout(60_000) { answerAfterSuspending() })
        }
        // A suspension that never ends is cancelled by withTimeout.
        assertThrows(TimeoutCancellationException::class.java) {
            runBlocking { withTimeout(10) { delay(Long.MAX_VALUE) } }
        }
    }

    @Test
    fun jnaCallsIntoLibc() {
        val libc = Native.load("c", LibC::class.java)
        assertEquals(ProcessHandle.current().pid(), libc.getpid().toLong())
    }

    @Test
    fun settingsReachTheTestJvm() {
        // Set by the pom from -Dlibipc.lib.dir (default: cargo's release directory).
        val path = System.getProperty("jna.library.path")
        assertTrue(!path.isNullOrBlank(), "jna.library.path is not set")
        assertEquals(path, TestSettings.libDir)
    }
}
