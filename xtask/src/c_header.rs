//! `cargo xtask c-header [--check]`: include/ipc.h, generated from the `libipc-ffi` crate by
//! cbindgen (the version pinned in xtask/Cargo.toml) with ffi-c/cbindgen.toml.
//!
//! Without `--check` it rewrites include/ipc.h; with `--check` it writes nothing and fails,
//! printing a unified diff, when the committed header is not exactly what cbindgen generates.

use std::fmt::Write as _;

use crate::workspace_root;

pub fn run(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            return Err(format!(
                "c-header: unexpected arguments {args:?} (usage: c-header [--check])"
            ));
        }
    };
    let root = workspace_root();
    let config = cbindgen::Config::from_file(root.join("ffi-c/cbindgen.toml"))?;
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_crate_and_name(root.join("ffi-c"), "libipc-ffi")
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated =
        String::from_utf8(generated).map_err(|e| format!("cbindgen wrote non-UTF-8: {e}"))?;

    let header = root.join("include/ipc.h");
    if !check {
        std::fs::write(&header, &generated)
            .map_err(|e| format!("writing {}: {e}", header.display()))?;
        println!("c-header: wrote include/ipc.h");
        return Ok(());
    }
    let committed = std::fs::read_to_string(&header)
        .map_err(|e| format!("reading {}: {e}", header.display()))?;
    if committed == generated {
        println!("c-header: include/ipc.h matches what cbindgen generates");
        return Ok(());
    }
    Err(format!(
        "include/ipc.h differs from what cbindgen generates (run `cargo xtask c-header` and commit it):\n{}",
        unified_diff(
            &committed,
            &generated,
            "include/ipc.h (committed)",
            "include/ipc.h (generated)"
        )
    ))
}

/// A unified diff of two texts, by lines, with three lines of context.
fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence lengths of every pair of suffixes (headers are small).
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script: (' ' | '-' | '+', old line index, new line index).
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, j));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, j));
            i += 1;
        } else {
            ops.push(('+', i, j));
            j += 1;
        }
    }
    const CONTEXT: usize = 3;
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k].0 != ' ').collect();
    let mut k = 0;
    while k < changed.len() {
        // One hunk: changes closer than 2 * CONTEXT lines apart are merged.
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        let hunk = &ops[start..end];
        let old_len = hunk.iter().filter(|o| o.0 != '+').count();
        let new_len = hunk.iter().filter(|o| o.0 != '-').count();
        let _ = writeln!(
            out,
            "@@ -{},{old_len} +{},{new_len} @@",
            hunk[0].1 + 1,
            hunk[0].2 + 1
        );
        for &(op, i, j) in hunk {
            let line = if op == '+' { b[j] } else { a[i] };
            let _ = writeln!(out, "{op}{line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unified_diff;

    #[test]
    fn diff_shows_changed_lines_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\ni\n";
        let diff = unified_diff(old, new, "old", "new");
        assert_eq!(
            diff,
            "--- old\n+++ new\n@@ -1,8 +1,9 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n h\n+i\n"
        );
        assert_eq!(unified_diff("x\n", "x\n", "o", "n"), "--- o\n+++ n\n");
    }
}
