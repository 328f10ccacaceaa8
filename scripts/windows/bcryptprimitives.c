/* A stand-in for bcryptprimitives.dll under Wine 8 (Debian 12), which lacks ProcessPrng:
 * Rust's standard library (1.78 and later) imports it on Windows for its random keys.
 * ProcessPrng fills the buffer with random bytes and always succeeds; here it forwards to
 * BCryptGenRandom with the system RNG, which Wine 8 has. Built by scripts/windows-tests.sh
 * with x86_64-w64-mingw32-gcc and loaded only by the Windows test run under Wine
 * (WINEDLLOVERRIDES=bcryptprimitives=n,b); never shipped. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) {
            /* ProcessPrng cannot fail; Rust's std treats a failure as fatal anyway. */
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
