//! Who is at the other end: peer credentials, and uid allow-lists on both sides.

use libipc::{ErrorKind, Options};
use libipc_conformance::api::Api;
#[cfg(unix)]
use libipc_conformance::my_uid;
#[cfg(unix)]
use libipc_conformance::raw;
use libipc_conformance::transport::Transport;
use libipc_conformance::{api_tests, peer};

use super::{bind, err_kind};

api_tests!(peer_credentials, uid_allow_list);

/// `peer()` reports the other process's pid and uid over Unix sockets (both ends), uid and
/// gid over FIFOs, only the pid over Windows named pipes, and nothing over TCP.
fn peer_credentials(t: Transport, api: Api) {
    let mut site = t.site();
    let listener = bind(&mut site, api);
    let mut child = peer!("connect", site.there()).site(&site).spawn();
    let ch = listener.accept().unwrap();
    let creds = ch.peer();
    let seen_by_child = child.expect("connected");
    if t.has_credentials() {
        #[cfg(unix)]
        {
            assert_eq!(creds.pid, t.has_pid().then(|| child.pid()));
            assert_eq!(creds.uid, Some(my_uid()));
            assert_eq!(creds.gid, Some(rustix::process::getgid().as_raw()));
            let pid = match t.has_pid() {
                true => std::process::id().to_string(),
                false => "-".to_owned(),
            };
            let me = format!("pid={pid} uid={}", my_uid());
            assert_eq!(seen_by_child, me);
        }
    } else if t.has_pid() {
        assert_eq!(creds.pid, Some(child.pid()));
        assert_eq!((creds.uid, creds.gid), (None, None));
        assert_eq!(seen_by_child, format!("pid={} uid=-", std::process::id()));
    } else {
        assert_eq!(creds, libipc::PeerCredentials::default());
        assert_eq!(seen_by_child, "pid=- uid=-");
    }
    ch.close();
    assert_eq!(child.expect("end"), "Closed");
}

/// A listener whose uid allow-list excludes us refuses us with PermissionDenied, and so does
/// a client whose allow-list excludes the listener's uid; listing our uid works. TCP and
/// named pipes have no peer uid, so an allow-list there is InvalidArgument.
fn uid_allow_list(t: Transport, api: Api) {
    if t.has_credentials() {
        #[cfg(unix)]
        uid_allow_list_is_enforced(t, api);
    } else {
        let site = t.site();
        let any = Options::new().with_allowed_uids([0]);
        assert_eq!(
            err_kind(api.bind_with(site.here(), &any)),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            err_kind(api.connect_with(site.here(), &any)),
            ErrorKind::InvalidArgument
        );
    }
}

#[cfg(unix)]
fn uid_allow_list_is_enforced(t: Transport, api: Api) {
    let other = my_uid() + 1;
    let not_me = Options::new().with_allowed_uids([other]);
    let me = Options::new().with_allowed_uids([my_uid()]);
    let mut site = t.site();
    let _strict = peer!("echo-server", site.there())
        .args(["--allowed-uid", &other.to_string()])
        .listening(&mut site);
    // On the wire: a refusing hello with status PermissionDenied, an ERROR frame, the end.
    let mut raw = raw::connect(site.here()).unwrap();
    assert_eq!(raw.read_hello().status, ErrorKind::PermissionDenied.code());
    assert_eq!(
        raw.read_error_frame().code,
        ErrorKind::PermissionDenied.code()
    );
    raw.assert_closed();
    // A libipc client reports PermissionDenied, even when the refusal beats its hello out
    // (regressions.rs::refused_client_reports_the_refusal repeats this many times).
    assert_eq!(
        err_kind(api.connect(site.here())),
        ErrorKind::PermissionDenied
    );

    let mut site = t.site();
    let _open = peer!("echo-server", site.there())
        .args(["--allowed-uid", &my_uid().to_string()])
        .listening(&mut site);
    assert_eq!(
        err_kind(api.connect_with(site.here(), &not_me)),
        ErrorKind::PermissionDenied
    );
    let ch = api.connect_with(site.here(), &me).unwrap();
    ch.send(b"allowed").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"allowed");
}
