//! `cargo xtask tables [--check]`: every copy of the core's two tables, written from them.
//!
//! The error kinds ([`ErrorKind::ALL`]) and the options ([`Options::TABLE`]) are declared once
//! in the core. From them this task writes the regions marked `@generated begin <name>` /
//! `@generated end <name>` in:
//!
//! - `ffi-c/src/status.rs`: the C status enum (and so `include/ipc.h`), its list and names;
//! - `bindings/python/python/libipc/_errors.py` and `__init__.py`: the exception classes;
//! - `bindings/python/README.md`, `docs/wire-format.md`, `docs/c-api.md`: the code tables;
//! - `docs/options.md` and `_libipc.pyi`: the options and their defaults.
//!
//! It also checks that every option has a C setter in `include/ipc.h` and a Python keyword
//! where its scope says so. With `--check` nothing is written and any difference fails (the
//! test command runs it).

use std::fmt::Write as _;
use std::path::Path;

use libipc::{ErrorKind, OptionInfo, OptionValue, Options, Scope};

/// What the Python binding adds to each kind: the class's builtin bases, the "also a" column
/// of its README, and a docstring when the core's summary is too Rust-specific.
struct PyKind {
    kind: &'static str,
    bases: &'static [&'static str],
    also: &'static str,
    doc: Option<&'static str>,
}

const PY_KINDS: &[PyKind] = &[
    PyKind {
        kind: "InvalidEndpoint",
        bases: &["ValueError"],
        also: "`ValueError`",
        doc: None,
    },
    PyKind {
        kind: "AddressInUse",
        bases: &["OSError"],
        also: "`OSError`",
        doc: None,
    },
    PyKind {
        kind: "NotFound",
        bases: &["FileNotFoundError", "ConnectionRefusedError"],
        also: "`FileNotFoundError`, `ConnectionRefusedError`",
        doc: None,
    },
    PyKind {
        kind: "PermissionDenied",
        bases: &["PermissionError"],
        also: "`PermissionError`",
        doc: None,
    },
    PyKind {
        kind: "PeerDisconnected",
        bases: &["BrokenPipeError"],
        also: "`BrokenPipeError` (a `ConnectionError`)",
        doc: None,
    },
    PyKind {
        kind: "Timeout",
        bases: &["builtins.TimeoutError"],
        also: "`TimeoutError` (builtin)",
        doc: None,
    },
    PyKind {
        kind: "MessageTooLarge",
        bases: &["ValueError"],
        also: "`ValueError`",
        doc: None,
    },
    PyKind {
        kind: "ProtocolMismatch",
        bases: &["ConnectionError"],
        also: "`ConnectionError`",
        doc: None,
    },
    PyKind {
        kind: "ProtocolViolation",
        bases: &["ConnectionError"],
        also: "`ConnectionError`",
        doc: None,
    },
    PyKind {
        kind: "Closed",
        bases: &["EOFError"],
        also: "`EOFError`",
        doc: None,
    },
    PyKind {
        kind: "Io",
        bases: &["OSError"],
        also: "`OSError`",
        doc: Some("Any other operating-system error."),
    },
    PyKind {
        kind: "Unsupported",
        bases: &["NotImplementedError"],
        also: "`NotImplementedError`",
        doc: None,
    },
    PyKind {
        kind: "InvalidArgument",
        bases: &["ValueError"],
        also: "`ValueError`",
        doc: None,
    },
    PyKind {
        kind: "Lagged",
        bases: &["ConnectionError"],
        also: "`ConnectionError`",
        doc: None,
    },
    PyKind {
        kind: "BufferTooSmall",
        bases: &["ValueError"],
        also: "`ValueError`",
        doc: Some(
            "``recv_into``: the message does not fit the buffer. ``needed`` is the message's size; the message is kept for the next receive.",
        ),
    },
    PyKind {
        kind: "Busy",
        bases: &["RuntimeError"],
        also: "`RuntimeError`",
        doc: Some(
            "This thread holds that side of the channel (an unfinished ``recv_view`` or ``reserve``); waiting for it without a time limit would never end: release, commit or abort it first.",
        ),
    },
    PyKind {
        kind: "Cancelled",
        bases: &["InterruptedError"],
        also: "`InterruptedError`",
        doc: Some("A `libipc.Cancel` handle stopped the call; nothing was lost or half-done."),
    },
    PyKind {
        kind: "Remote",
        bases: &[],
        also: "",
        doc: Some(
            "A request/reply server's handler answered with an error: `status` has its \
             status, `text` its text. The channel is fine.",
        ),
    },
];

/// Where each kind appears on the wire (docs/wire-format.md, §7).
const WIRE: &[(&str, &str)] = &[
    ("InvalidEndpoint", "never (local)"),
    ("AddressInUse", "never (local)"),
    ("NotFound", "never (local)"),
    ("PermissionDenied", "hello status (uid allow-list)"),
    ("PeerDisconnected", "never: the peer is gone"),
    (
        "Timeout",
        "hello status (silent client; listener at its connection limit)",
    ),
    ("MessageTooLarge", "ERROR frame (oversize DATA)"),
    ("ProtocolMismatch", "hello status"),
    ("ProtocolViolation", "hello status and ERROR frame"),
    ("Closed", "never (the CLOSE frame is its wire form)"),
    (
        "Io",
        "hello status (rare: I/O failure during the handshake)",
    ),
    ("Unsupported", "never (local)"),
    ("InvalidArgument", "never (local)"),
    (
        "Lagged",
        "ERROR frame (publish/subscribe, wire 1.2: a subscriber cut off)",
    ),
];

/// The C API's own status, between the core's codes.
const PANIC: (u16, &str, &str) = (
    101,
    "IPC_ERR_PANIC",
    "A bug inside libipc was caught at the API boundary (the C API's own status).",
);

pub(crate) fn run(root: &Path, check: bool) -> Result<(), String> {
    let header = std::fs::read_to_string(root.join("include/ipc.h"))
        .map_err(|e| format!("include/ipc.h: {e}"))?;
    check_options(root, &header)?;
    let mut edits: Vec<(&str, &str, String)> = vec![
        ("ffi-c/src/status.rs", "error-kinds", c_enum()),
        ("ffi-c/src/status.rs", "error-kind-list", c_list()),
        ("ffi-c/src/status.rs", "error-kind-names", c_names()),
        (
            "bindings/python/python/libipc/_errors.py",
            "error-names",
            py_names("    ", true),
        ),
        (
            "bindings/python/python/libipc/_errors.py",
            "error-classes",
            py_classes()?,
        ),
        (
            "bindings/python/python/libipc/__init__.py",
            "error-imports",
            py_names("    ", false),
        ),
        (
            "bindings/python/python/libipc/__init__.py",
            "error-all",
            py_names("    ", true),
        ),
        ("bindings/python/README.md", "python-errors", py_readme()?),
        ("bindings/node/README.md", "node-errors", node_readme()),
        ("docs/wire-format.md", "error-codes", wire_table()?),
        ("docs/c-api.md", "c-statuses", c_table()),
        ("docs/options.md", "options", options_table(&header)),
        (
            "bindings/python/python/libipc/_libipc.pyi",
            "option-defaults",
            pyi_defaults(),
        ),
    ];
    let mut stale = Vec::new();
    for (file, region, body) in edits.drain(..) {
        let path = root.join(file);
        let old = std::fs::read_to_string(&path).map_err(|e| format!("{file}: {e}"))?;
        let new = replace_region(&old, region, &body).map_err(|e| format!("{file}: {e}"))?;
        if new != old {
            if check {
                stale.push(format!("{file} ({region})"));
            } else {
                std::fs::write(&path, new).map_err(|e| format!("{file}: {e}"))?;
                println!("wrote {file} ({region})");
            }
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "generated tables are out of date: {}; run `cargo xtask tables`",
            stale.join(", ")
        ))
    }
}

/// `text` with the lines between the markers of `region` replaced by `body`.
fn replace_region(text: &str, region: &str, body: &str) -> Result<String, String> {
    let begin = format!("@generated begin {region}");
    let end = format!("@generated end {region}");
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let b = lines
        .iter()
        .position(|l| l.contains(&begin))
        .ok_or_else(|| format!("no `{begin}` marker"))?;
    let e = lines
        .iter()
        .position(|l| l.contains(&end))
        .filter(|&e| e > b)
        .ok_or_else(|| format!("no `{end}` marker after its begin"))?;
    let mut out: String = lines[..=b].concat();
    out.push_str(body);
    out.push_str(&lines[e..].concat());
    Ok(out)
}

/// `text` wrapped to 100 columns, each line starting with `prefix`.
fn wrap(prefix: &str, text: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && prefix.len() + line.len() + 1 + word.len() > 100 {
            let _ = writeln!(out, "{prefix}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    let _ = writeln!(out, "{prefix}{line}");
    out
}

/// Every C status but `IPC_OK`, in number order: (number, name, meaning).
fn c_statuses() -> Vec<(u16, String, &'static str)> {
    let mut v: Vec<_> = ErrorKind::ALL
        .iter()
        .map(|k| {
            (
                k.code(),
                k.symbol().replacen("IPC_", "IPC_ERR_", 1),
                k.summary(),
            )
        })
        .collect();
    v.push((PANIC.0, PANIC.1.to_owned(), PANIC.2));
    v.sort_by_key(|s| s.0);
    v
}

fn c_enum() -> String {
    let mut out = String::new();
    for (code, name, doc) in c_statuses() {
        out.push_str(&wrap("    /// ", doc));
        let _ = writeln!(out, "    {name} = {code},");
    }
    out
}

fn c_list() -> String {
    c_statuses()
        .iter()
        .map(|(_, name, _)| format!("    ipc_status::{name},\n"))
        .collect()
}

fn c_names() -> String {
    c_statuses()
        .iter()
        .map(|(_, name, _)| format!("    (ipc_status::{name}, c\"{name}\"),\n"))
        .collect()
}

fn c_table() -> String {
    let mut out =
        String::from("| status | number | meaning |\n|---|---:|---|\n| `IPC_OK` | 0 | success |\n");
    for (code, name, doc) in c_statuses() {
        let _ = writeln!(out, "| `{name}` | {code} | {doc} |");
    }
    out
}

fn py_kind(k: ErrorKind) -> Result<&'static PyKind, String> {
    PY_KINDS.iter().find(|p| p.kind == k.name()).ok_or_else(|| {
        format!(
            "error kind {} has no Python class: add it to PY_KINDS in xtask/src/tables.rs",
            k.name()
        )
    })
}

fn py_class(k: ErrorKind) -> String {
    format!("{}Error", k.name())
}

/// The class names, one per line (`BY_CODE` first when `with_by_code`, for `__all__`), as
/// quoted strings for `__all__` or bare names for an import list.
fn py_names(indent: &str, quoted: bool) -> String {
    let mut names: Vec<String> = ErrorKind::ALL.iter().map(|&k| py_class(k)).collect();
    names.push("Error".to_owned());
    names.sort();
    if quoted {
        names
            .iter()
            .map(|n| format!("{indent}\"{n}\",\n"))
            .collect()
    } else {
        names.iter().map(|n| format!("{indent}{n},\n")).collect()
    }
}

fn py_classes() -> Result<String, String> {
    let mut out = String::new();
    for &k in ErrorKind::ALL {
        let p = py_kind(k)?;
        let doc = p.doc.unwrap_or(k.summary());
        if p.bases.is_empty() {
            let _ = writeln!(out, "class {}(Error):", py_class(k));
        } else {
            let _ = writeln!(out, "class {}(Error, {}):", py_class(k), p.bases.join(", "));
        }
        let wrapped = wrap("    ", &format!("\"\"\"{doc}"));
        if wrapped.lines().count() == 1 && wrapped.trim_end().len() + 3 <= 100 {
            let _ = writeln!(out, "{}\"\"\"", wrapped.trim_end());
        } else {
            let _ = writeln!(out, "{wrapped}    \"\"\"");
        }
        let _ = writeln!(
            out,
            "\n    kind = \"{}\"\n    code = {}",
            k.name(),
            k.code()
        );
        if k == ErrorKind::Remote {
            out.push_str(
                "\n    status: int\n    text: str\n\n    def __init__(self, *args: object, status: int = 0, text: str | None = None) -> None:\n        super().__init__(*args)\n        self.status = status\n        self.text = text if text is not None else (str(args[0]) if args else \"\")\n",
            );
        }
        if k == ErrorKind::BufferTooSmall {
            out.push_str(
                "\n    needed: int\n\n    def __init__(self, *args: object, needed: int = 0) -> None:\n        super().__init__(*args)\n        self.needed = needed\n",
            );
        }
        out.push_str("\n\n");
    }
    out.push_str("BY_CODE: dict[int, type[Error]] = {\n    cls.code: cls\n    for cls in (\n");
    for &k in ErrorKind::ALL {
        let _ = writeln!(out, "        {},", py_class(k));
    }
    out.push_str("    )\n}\n");
    Ok(out)
}

fn py_readme() -> Result<String, String> {
    let mut out = String::from("| class | also a | code |\n|---|---|---|\n");
    for &k in ErrorKind::ALL {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            py_class(k),
            py_kind(k)?.also,
            k.code()
        );
    }
    Ok(out)
}

fn node_readme() -> String {
    let mut out = String::from("| `err.code` | `err.ipcCode` | meaning |\n|---|---:|---|\n");
    for &k in ErrorKind::ALL {
        let _ = writeln!(
            out,
            "| `'{}'` | {} | {} |",
            k.symbol(),
            k.code(),
            k.summary()
        );
    }
    out
}

/// The option's Node form: its camelCase name, with the unit where it is not the core's.
fn node_option(o: &OptionInfo) -> String {
    let unit = match o.default_value() {
        OptionValue::Duration(_) | OptionValue::Timeout(_) => " (ms)",
        _ => "",
    };
    format!("`{}`{unit}", o.camel_case_name())
}

fn wire_table() -> Result<String, String> {
    let mut out =
        String::from("| Code | Name | Meaning | On the wire in libipc 1.0 |\n|---:|---|---|---|\n");
    for &k in ErrorKind::ALL {
        let wire = if k.on_wire() {
            WIRE.iter()
                .find(|(n, _)| *n == k.name())
                .map(|(_, w)| *w)
                .ok_or_else(|| {
                    format!(
                        "error kind {} has no wire note in xtask/src/tables.rs",
                        k.name()
                    )
                })?
        } else {
            "never: a local condition (codes from 100 up)"
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {wire} |",
            k.code(),
            k.name(),
            k.summary()
        );
    }
    Ok(out)
}

/// The C setter of an option, as declared in `include/ipc.h`.
fn c_setter(header: &str, o: &OptionInfo) -> Option<String> {
    ["", "_us", "_ms"]
        .iter()
        .map(|suffix| format!("ipc_options_set_{}{suffix}", o.name))
        .find(|f| header.contains(&format!("{f}(")))
}

fn check_options(root: &Path, header: &str) -> Result<(), String> {
    let pyi = std::fs::read_to_string(root.join("bindings/python/python/libipc/_libipc.pyi"))
        .map_err(|e| e.to_string())?;
    let node_types = std::fs::read_to_string(root.join("bindings/node/src/lib.rs"))
        .map_err(|e| e.to_string())?;
    let node_parse = std::fs::read_to_string(root.join("bindings/node/src/options.rs"))
        .map_err(|e| e.to_string())?;
    let uniffi = std::fs::read_to_string(root.join("bindings/uniffi/src/options.rs"))
        .map_err(|e| e.to_string())?;
    let section = |start: &str| -> String {
        let from = pyi.find(start).unwrap_or(pyi.len());
        let rest = &pyi[from..];
        let to = rest.find(") ->").unwrap_or(rest.len());
        rest[..to].to_owned()
    };
    let (listen, connect) = (section("def listen("), section("def connect("));
    let mut missing = Vec::new();
    for o in Options::TABLE {
        if c_setter(header, o).is_none() {
            missing.push(format!("C setter ipc_options_set_{}", o.name));
        }
        let kw = format!("    {}:", o.name);
        if matches!(o.scope, Scope::Both | Scope::Listen) && !listen.contains(&kw) {
            missing.push(format!("Python keyword {} of listen()", o.name));
        }
        if matches!(o.scope, Scope::Both | Scope::Connect) && !connect.contains(&kw) {
            missing.push(format!("Python keyword {} of connect()", o.name));
        }
        if !node_types.contains(&format!("    pub {}: Option<", o.name)) {
            missing.push(format!(
                "Node `Options.{}` (bindings/node/src/lib.rs)",
                o.camel_case_name()
            ));
        }
        if !uniffi.contains(&format!("    pub {}: Option<", o.name))
            || !uniffi.contains(&format!("self.{}", o.name))
        {
            missing.push(format!(
                "Kotlin/Swift `IpcOptions.{}` and its use (bindings/uniffi/src/options.rs)",
                o.camel_case_name()
            ));
        }
        if !node_parse.contains(&format!("\"{}\" =>", o.name)) {
            missing.push(format!(
                "Node parsing of {} (bindings/node/src/options.rs)",
                o.name
            ));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("options without a binding: {}", missing.join(", ")))
    }
}

fn options_table(header: &str) -> String {
    let mut out = String::from(
        "| option | default | where | C setter | Node | meaning |\n|---|---|---|---|---|---|\n",
    );
    for o in Options::TABLE {
        let setter = c_setter(header, o).unwrap_or_default();
        let doc = o.doc.split_whitespace().collect::<Vec<_>>().join(" ");
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | `{setter}` | {} | {doc} |",
            o.name,
            o.default_value(),
            o.scope.name(),
            node_option(o)
        );
    }
    out
}

fn pyi_defaults() -> String {
    let list: Vec<String> = Options::TABLE
        .iter()
        .map(|o| format!("{} {}", o.name, o.default_value()))
        .collect();
    wrap(
        "# ",
        &format!("The options' defaults (the core's): {}.", list.join(", ")),
    )
}
