//! `ipc bench --load`: background processes that load the machine the way a parallel build
//! does, started for the measurements and killed when they end.
//!
//! A plain busy loop does not reproduce a loaded machine for a ping-pong: a task that never
//! sleeps accumulates run time, so the scheduler lets a freshly woken bench peer preempt it at
//! once, and round trips barely change. Compiler processes instead alternate CPU bursts with
//! short sleeps (I/O, pipes to the build tool), so they keep their claim on the CPU and a woken
//! peer often waits behind them. Each worker does that: a burst of 1-5 ms of busy work, then a
//! 0.1-2 ms sleep, both random.
//!
//! A worker is the bench's executable re-run with its hidden load subcommand and the bench's
//! process id (`ipc __bench-load PARENT_PID`; see [`Rerun`]). [`Load`] kills them on
//! drop, which covers errors and panics; a worker also exits by itself once its parent is no
//! longer `PARENT_PID` (the bench was killed and the worker re-parented).

use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use libipc_bench::{Context, Result};

use crate::spawn::Rerun;

/// The default number of workers: one more than the CPUs this process may use, like `make -j`
/// with a spare job.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()) + 1
}

/// The running workers; killed and reaped on drop.
#[derive(Debug)]
pub struct Load {
    workers: Vec<Child>,
}

impl Load {
    /// Start `n` workers, each `command` followed by this process's id.
    pub fn start(n: usize, command: &Rerun) -> Result<Load> {
        let exe = &command.exe;
        let mut load = Load {
            workers: Vec::with_capacity(n),
        };
        for _ in 0..n {
            // On failure, the workers already started are killed as `load` drops.
            let child = Process::new(exe)
                .args(&command.args)
                .arg(std::process::id().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .context(format_args!("starting a load worker ({})", exe.display()))?;
            load.workers.push(child);
        }
        Ok(load)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            let _ = worker.kill();
        }
        for worker in &mut self.workers {
            let _ = worker.wait();
        }
    }
}

/// A worker's life: alternate CPU bursts and short sleeps until this process's parent is no
/// longer `parent` (the bench's process id, from its command line), or it is killed.
pub fn run_worker(parent: u32) -> Result {
    let mut rng = Rng::new();
    let mut x = rng.next();
    while std::os::unix::process::parent_id() == parent {
        let burst = Duration::from_micros(1000 + rng.below(4001));
        let start = Instant::now();
        while start.elapsed() < burst {
            for _ in 0..256 {
                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
            }
        }
        std::thread::sleep(Duration::from_micros(100 + rng.below(1901)));
    }
    Ok(())
}

/// xorshift64*: plenty for jitter, and no dependency.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Rng((u64::from(std::process::id()) << 32 | u64::from(nanos)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (slightly biased; fine for jitter).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
