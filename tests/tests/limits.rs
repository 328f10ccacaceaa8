//! Resource limits after the handshake (docs/security.md, "Resource limits"), with clients in
//! other processes: the listener's connection cap (`max_connections`) refuses the client beyond
//! it with status 6 and frees a place when a channel is dropped; the frame timeout
//! (`frame_timeout`) fails a channel whose peer stalls half-way through a frame, and leaves
//! alone receives that time out on their own and idle channels.

use std::time::Duration;

use libipc::{Channel, ErrorKind, Listener, Options};
use libipc_conformance::peer::Peer;
use libipc_conformance::transport::{Site, Transport};
use libipc_conformance::{peer, transport_tests};

transport_tests!(
    connection_cap_refuses_the_client_beyond_it,
    stalled_frame_fails_the_channel,
    receive_timeout_mid_frame_loses_nothing,
    frame_timeout_leaves_idle_channels_alone,
);

/// A raw client (`ipc-test-peer raw-client`, 1,000-byte messages, steered by lines on its
/// stdin) connected to a listener with `opts`, and the accepted channel. Fields drop in order:
/// the channel, the client, the listener, the site.
struct RawClient {
    ch: Channel,
    peer: Peer,
    _listener: Listener,
    _site: Site,
}

/// Bind a listener with `opts` on `t`, start the raw client, accept it and wait until it is
/// ready.
fn raw_client(t: Transport, opts: &Options) -> RawClient {
    let mut site = t.site();
    let listener = Listener::bind_with(site.here(), opts).unwrap();
    site.bound(listener.local_endpoint());
    let mut peer = peer!("raw-client", site.there(), "1000")
        .site(&site)
        .spawn();
    let ch = listener.accept().unwrap();
    peer.expect("ready");
    RawClient {
        ch,
        peer,
        _listener: listener,
        _site: site,
    }
}

/// Two clients fill a listener of `max_connections` 2 (one accepted, one handshaken and
/// waiting): a third is refused with `Timeout` and the listener's reason. Dropping the accepted
/// channel frees its place: the next client connects.
fn connection_cap_refuses_the_client_beyond_it(t: Transport) {
    let mut site = t.site();
    let opts = Options::new().with_max_connections(2);
    let listener = Listener::bind_with(site.here(), &opts).unwrap();
    site.bound(listener.local_endpoint());
    let mut first = peer!("connect", site.there()).site(&site).spawn();
    first.expect("connected");
    let accepted = listener.accept().unwrap();
    let mut second = peer!("connect", site.there()).site(&site).spawn();
    second.expect("connected");
    let mut third = peer!("connect", site.there()).site(&site).spawn();
    let refusal = third.expect("fail Timeout");
    assert!(refusal.contains("connection limit (2)"), "{refusal}");
    drop(accepted);
    first.expect("end");
    let mut fourth = peer!("connect", site.there()).site(&site).spawn();
    fourth.expect("connected");
}

/// The raw client sends a frame's header and half its payload (over `shm://`: the first
/// fragment of a message, a MORE record), then nothing: with a 200 ms
/// frame timeout a receive that waits without limit fails with `ProtocolViolation`, and so
/// does every later one.
fn stalled_frame_fails_the_channel(t: Transport) {
    let opts = Options::new().with_frame_timeout(Duration::from_millis(200));
    let mut raw = raw_client(t, &opts);
    raw.peer.say("half");
    raw.peer.expect("sent half");
    let err = raw.ch.recv().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ProtocolViolation, "{err}");
    assert!(err.message().contains("frame timeout"), "{err}");
    assert_eq!(
        raw.ch.recv().unwrap_err().kind(),
        ErrorKind::ProtocolViolation
    );
}

/// With the default frame timeout (30 s), a receive whose own timeout ends while half a frame
/// is in gets `Timeout` and loses nothing: once the rest arrives the whole message is received.
fn receive_timeout_mid_frame_loses_nothing(t: Transport) {
    let mut raw = raw_client(t, &Options::default());
    raw.peer.say("half");
    raw.peer.expect("sent half");
    let err = raw.ch.recv_timeout(Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    raw.peer.say("rest");
    raw.peer.expect("sent rest");
    assert_eq!(raw.ch.recv().unwrap().len(), 1000);
}

/// A frame timeout shorter than a receive's own timeout does not end a channel on which
/// nothing is half-sent.
fn frame_timeout_leaves_idle_channels_alone(t: Transport) {
    let opts = Options::new().with_frame_timeout(Duration::from_millis(50));
    let mut raw = raw_client(t, &opts);
    let err = raw.ch.recv_timeout(Duration::from_millis(300)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    raw.peer.say("small");
    raw.peer.expect("sent small");
    assert_eq!(&*raw.ch.recv().unwrap(), b"small");
}
