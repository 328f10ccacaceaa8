package dev.libipc

/**
 * What the test command passes to the tests: each setting is the system property the pom sets
 * from `-D<property>` when it is not blank, else the environment variable.
 */
object TestSettings {
    private fun setting(property: String, env: String): String? =
        System.getProperty(property)?.takeIf { it.isNotBlank() } ?: System.getenv(env)?.takeIf { it.isNotBlank() }

    /** The directory holding liblibipc_uniffi.so (JNA's jna.library.path). */
    val libDir: String? get() = setting("libipc.lib.dir", "LIBIPC_LIB_DIR")

    /** The Rust peer binary (tests/src/bin). */
    val rustPeer: String? get() = setting("libipc.rust.peer", "LIBIPC_RUST_PEER")

    /** A Python interpreter that imports libipc. */
    val python: String? get() = setting("libipc.python", "LIBIPC_PYTHON")

    /** The Python peer script. */
    val pyHelper: String? get() = setting("libipc.py.helper", "LIBIPC_PY_HELPER")

    /** The setting, or a failure that names how to give it (a missing peer is never a pass). */
    fun require(value: String?, what: String, property: String, env: String): String =
        value ?: error("$what is not set: pass -D$property=... or set $env (./scripts/kotlin-tests.sh does)")
}
