//! `libipc._libipc`: the Python extension module of libipc (pyo3). The Python package
//! `libipc` (bindings/python/python/libipc) re-exports it beside the exception classes; the
//! API is described in bindings/python/README.md and typed in `_libipc.pyi`.
//!
//! Every blocking call releases the GIL, takes a `cancel=` handle, and on the main thread
//! ends at once on a signal so that its handler runs (Ctrl-C; `wait.rs`). The asyncio API
//! (`libipc/aio.py`) is pure Python on top of this module: non-blocking calls and each
//! object's readiness descriptor, so no thread of ours ever calls back into Python.
#![warn(missing_docs)]

mod cancel;
mod channel;
mod errors;
mod listener;
mod options;
mod pubsub;
mod rpc;
mod spawn;
mod views;
mod wait;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _libipc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(listener::listen, m)?)?;
    m.add_function(wrap_pyfunction!(channel::connect, m)?)?;
    m.add_class::<listener::Listener>()?;
    m.add_class::<channel::Channel>()?;
    m.add_class::<cancel::Cancel>()?;
    m.add_class::<channel::Peer>()?;
    m.add_class::<spawn::ChildEnd>()?;
    m.add_class::<views::MessageView>()?;
    m.add_class::<views::SendBuffer>()?;
    m.add_function(wrap_pyfunction!(rpc::rpc_connect, m)?)?;
    m.add_function(wrap_pyfunction!(rpc::rpc_listen, m)?)?;
    m.add_class::<rpc::RpcClient>()?;
    m.add_class::<rpc::PendingCall>()?;
    m.add_class::<rpc::RpcServer>()?;
    m.add_class::<rpc::RpcConnection>()?;
    m.add_class::<rpc::Request>()?;
    m.add_function(wrap_pyfunction!(pubsub::publisher, m)?)?;
    m.add_function(wrap_pyfunction!(pubsub::subscribe, m)?)?;
    m.add_class::<pubsub::Publisher>()?;
    m.add_class::<pubsub::Subscriber>()?;
    m.add_class::<pubsub::Delivery>()?;
    Ok(())
}
