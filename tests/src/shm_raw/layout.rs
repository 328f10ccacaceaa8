//! Where records land in a ring, computed from the documented layout alone: each record is an
//! 8-byte header and its payload padded to 8 bytes; a record that would pass the ring's end is
//! preceded by a PAD filling the rest; a message larger than half the ring (minus a header)
//! goes in fragments of that size. Positions are cursor values (they only grow).

use super::max_record;
use super::ring::align8;

const H: u64 = 8;

/// One record of a message, as placed in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Cursor value at the record's header.
    pub at: u64,
    /// Bytes of PAD before it.
    pub pad: u64,
    /// Payload bytes.
    pub len: u64,
    /// Whether the MORE flag is set (more fragments follow).
    pub more: bool,
}

/// A producer's position, advanced message by message as the layout says.
#[derive(Debug, Clone, Copy)]
struct Model {
    cap: u64,
    cursor: u64,
}

impl Model {
    /// Place one message of `n` bytes; push its records to `out`.
    fn place(&mut self, n: u64, out: &mut Vec<Placement>) {
        let max = max_record(self.cap) as u64;
        let mut off = 0;
        loop {
            let len = max.min(n - off);
            let more = off + len < n;
            let rec = H + align8(len);
            let tail = self.cap - self.cursor % self.cap;
            let pad = if rec > tail { tail } else { 0 };
            out.push(Placement {
                at: self.cursor + pad,
                pad,
                len,
                more,
            });
            self.cursor += pad + rec;
            off += len;
            if !more {
                return;
            }
        }
    }

    fn pos(&self) -> u64 {
        self.cursor % self.cap
    }
}

/// Every record the messages of `sizes` make, in order, in a ring of `cap` bytes.
pub fn layout(cap: u64, sizes: &[usize]) -> Vec<Placement> {
    let mut m = Model { cap, cursor: 0 };
    let mut out = Vec::new();
    for &n in sizes {
        m.place(n as u64, &mut out);
    }
    out
}

/// Message sizes that make records end at every 8-byte offset of the last 256 bytes of a
/// `cap`-byte ring, each with a record that fills the rest exactly, one 8 bytes shorter and
/// one 8 bytes longer (so a PAD), each of those at every byte length its padding allows; then
/// the largest single record (`cap/2 - 8`), the first fragmented size (`cap/2 - 7`), and
/// exact multiples of the record and ring sizes, each at several positions. Filler messages
/// in between move the write position where the next case needs it.
pub fn boundary_sizes(cap: u64) -> Vec<usize> {
    let max = max_record(cap) as u64;
    let mut m = Model { cap, cursor: 0 };
    let mut sizes = Vec::new();
    let mut sink = Vec::new();
    let mut send = |m: &mut Model, n: u64| {
        sizes.push(n as usize);
        m.place(n, &mut sink);
    };
    // Filler messages that bring the write position to `target`, none passing the end.
    let fill_to = |m: &mut Model, send: &mut dyn FnMut(&mut Model, u64), target: u64| {
        while m.pos() != target {
            let want = if target > m.pos() {
                target - m.pos()
            } else {
                cap - m.pos()
            };
            send(m, want.min(max + H) - H);
        }
    };
    for t in (8..=256u64).step_by(8) {
        // Payloads whose records are t - 8, t (an exact fit) and t + 8 bytes (a PAD first).
        for n in t.saturating_sub(23)..=t {
            fill_to(&mut m, &mut send, cap - t);
            send(&mut m, n);
        }
    }
    let big = [
        0,
        1,
        max - 1,
        max,
        max + 1,
        cap / 2,
        cap - 8,
        cap,
        2 * max,
        2 * max + 1,
        2 * cap,
    ];
    for t in [8, 16, 64, cap / 2, cap / 2 + 8, cap - 8] {
        for &n in &big {
            fill_to(&mut m, &mut send, (cap - t) % cap);
            send(&mut m, n);
        }
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_sizes_put_record_ends_where_they_claim() {
        let cap = 64 * 1024;
        let sizes = boundary_sizes(cap);
        let records = layout(cap, &sizes);
        let ends: std::collections::BTreeSet<u64> = records
            .iter()
            .map(|p| (p.at + H + align8(p.len)) % cap)
            .collect();
        for t in (0..=256).step_by(8) {
            assert!(
                ends.contains(&((cap - t) % cap)),
                "no record ends {t} bytes before the end"
            );
        }
        assert!(records.iter().filter(|p| p.pad > 0).count() >= 32 * 8);
        assert!(sizes.contains(&(max_record(cap))) && sizes.contains(&(max_record(cap) + 1)));
        for p in &records {
            assert!(p.at % cap + H + align8(p.len) <= cap, "{p:?} wraps");
        }
    }
}
