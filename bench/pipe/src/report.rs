//! pipe-bench's results: a table for people, JSON for machines, and which Wine (if any) ran it.

use std::ffi::{CStr, c_char};
use std::fmt::Write as _;

use libipc_bench::{Measured, Pattern};
use serde_json::json;

use crate::bench::System;

/// One measurement.
pub(crate) struct Row {
    pub(crate) system: System,
    pub(crate) pattern: Pattern,
    pub(crate) size: usize,
    pub(crate) measured: Measured,
    /// The largest per-round result over the smallest (1: the rounds agreed).
    pub(crate) spread: f64,
}

/// `row`'s key figure over `baseline`'s at the same pattern and size.
fn ratio(rows: &[Row], row: &Row, baseline: System) -> Option<f64> {
    let base = rows
        .iter()
        .find(|r| r.system == baseline && r.pattern == row.pattern && r.size == row.size)?;
    let (v, b) = (row.measured.key(), base.measured.key());
    (b > 0.0).then(|| v / b)
}

/// The ratio columns: libipc against both baselines, `raw-spin` against `raw`.
fn ratios(rows: &[Row], row: &Row) -> (Option<f64>, Option<f64>) {
    match row.system {
        System::Raw => (None, None),
        System::RawSpin => (None, ratio(rows, row, System::Raw)),
        System::Libipc => (
            ratio(rows, row, System::RawSpin),
            ratio(rows, row, System::Raw),
        ),
    }
}

pub(crate) fn table(rows: &[Row], wine: Option<&str>) -> String {
    let cell = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}x"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\npipe-bench: libipc pipe:// against a raw named pipe, one run, two processes"
    );
    if let Some(v) = wine {
        let _ = writeln!(
            out,
            "under Wine {v}: the numbers measure Wine's named-pipe emulation (wineserver), not Windows"
        );
    }
    let mut section = |pattern: Pattern, header: &str| {
        out.push_str(header);
        for r in rows.iter().filter(|r| r.pattern == pattern) {
            let figures = match r.measured {
                Measured::Rtt {
                    p50_us,
                    p99_us,
                    p999_us,
                    ..
                } => format!("{p50_us:>8.1} | {p99_us:>8.1} | {p999_us:>8.1}"),
                Measured::Stream {
                    msgs_per_s,
                    mb_per_s,
                    ..
                } => format!("{msgs_per_s:>10.0} | {mb_per_s:>8.1}"),
            };
            let (spin, raw) = ratios(rows, r);
            let _ = writeln!(
                out,
                "| {:<8} | {:<7} | {figures} | {:>11} | {:>6} | {:>6} |",
                r.system.name(),
                human(r.size),
                cell(spin),
                cell(raw),
                cell(Some(r.spread))
            );
        }
    };
    section(
        Pattern::Rtt,
        "\nRound trips, µs (vs: libipc p50 / baseline p50, lower is better)\n\n\
         | system   | size    |      p50 |      p99 |    p99.9 | vs raw-spin | vs raw | spread |\n\
         |----------|---------|---------:|---------:|---------:|------------:|-------:|-------:|\n",
    );
    section(
        Pattern::Stream,
        "\nOne-way streaming (vs: libipc msgs/s / baseline msgs/s, higher is better)\n\n\
         | system   | size    |     msgs/s |     MB/s | vs raw-spin | vs raw | spread |\n\
         |----------|---------|-----------:|---------:|------------:|-------:|-------:|\n",
    );
    let _ = writeln!(
        out,
        "\nspread: how much the measured rounds disagreed (largest round's p50 or msgs/s over \
         the smallest; 1.00x: they agreed). Far above 1, the machine was busy: measure again."
    );
    out
}

pub(crate) fn to_json(rows: &[Row], wine: Option<&str>) -> serde_json::Value {
    let results: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut v = json!({
                "system": r.system.name(),
                "transport": "pipe",
                "pattern": r.pattern.name(),
                "size": r.size,
                "rounds_spread": r.spread,
            });
            if let (Some(fields), serde_json::Value::Object(measured)) =
                (v.as_object_mut(), json!(r.measured))
            {
                fields.extend(measured);
            }
            let (spin, raw) = ratios(rows, r);
            if let Some(x) = spin {
                v["vs_raw_spin"] = json!(x);
            }
            if let Some(x) = raw {
                v["vs_raw"] = json!(x);
            }
            v
        })
        .collect();
    json!({ "wine": wine, "results": results })
}

/// `64 B`, `4 KiB`, `1 MiB`.
pub(crate) fn human(size: usize) -> String {
    if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{} MiB", size >> 20)
    } else if size >= 1 << 10 && size.is_multiple_of(1 << 10) {
        format!("{} KiB", size >> 10)
    } else {
        format!("{size} B")
    }
}

/// Wine's version when running under Wine (its ntdll exports `wine_get_version`), else `None`.
pub(crate) fn wine_version() -> Option<String> {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    // SAFETY: a NUL-terminated name; ntdll is loaded in every process; the result is checked.
    let ntdll = unsafe { GetModuleHandleA(c"ntdll.dll".as_ptr().cast()) };
    if ntdll.is_null() {
        return None;
    }
    // SAFETY: a module handle just returned, a NUL-terminated name; `None` if not exported.
    let f = unsafe { GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()) }?;
    type GetVersion = unsafe extern "C" fn() -> *const c_char;
    // SAFETY: Wine's ntdll exports `const char *wine_get_version(void)`, a C function of no
    // arguments (on x86_64 the "system" and "C" ABIs are the same).
    let get = unsafe { std::mem::transmute::<unsafe extern "system" fn() -> isize, GetVersion>(f) };
    // SAFETY: it returns a static NUL-terminated string (or null, checked).
    let p = unsafe { get() };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated, static (lives for the process).
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}
