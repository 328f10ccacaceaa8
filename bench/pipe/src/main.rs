//! `pipe-bench`: libipc's Windows named pipes (`pipe://`) next to a raw named pipe with no
//! libipc code, measured in one run between the same two processes.
//!
//! ```text
//! pipe-bench [--quick] [--sizes LIST] [--json FILE]
//! ```
//!
//! Windows only (`ipc bench` measures the Unix transports). Under Wine the numbers measure
//! Wine's emulation of named pipes (its wineserver), not Windows: `scripts/windows-tests.sh`
//! smoke-runs it there with `--quick`. See [`bench`] for the method.

#[cfg(windows)]
mod bench;
#[cfg(windows)]
mod raw;
#[cfg(windows)]
mod report;

#[cfg(windows)]
fn main() -> std::process::ExitCode {
    bench::main()
}

#[cfg(not(windows))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "pipe-bench measures Windows named pipes and runs on Windows only: build it with \
         `cargo build --release -p libipc-pipe-bench --target x86_64-pc-windows-gnu` and run \
         the .exe on Windows (or under Wine, which measures Wine's emulation); on Unix, \
         `ipc bench` measures libipc's transports"
    );
    std::process::ExitCode::from(2)
}
