//! Request/reply (`libipc::rpc`) within one process: matching, deadlines, cancellation, error
//! replies, refusals, and the async forms. Across processes: `tests/tests/rpc.rs`.

#![cfg(unix)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use libipc::rpc::{AsyncClient, AsyncServer, Client, Server};
use libipc::{Cancel, Channel, ErrorKind, Listener, Wait};

mod common;
use common::{private_dir, watchdog};

/// A server on `ep` answering with `handler`, serving until the returned server is closed.
fn serve(
    ep: &str,
    handler: impl Fn(libipc::rpc::Request) -> libipc::Result<Vec<u8>> + Send + Sync + 'static,
) -> (Arc<Server>, String) {
    let s = Arc::new(Server::bind(ep).unwrap());
    let local = s.local_endpoint().to_string();
    let s2 = Arc::clone(&s);
    std::thread::spawn(move || s2.serve(handler).unwrap());
    (s, local)
}

fn shm_name(tag: &str) -> String {
    format!(
        "shm://rpc-{tag}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    )
}

/// The directory (removed on drop) and an endpoint of each kind.
fn endpoints(tag: &str) -> (common::TempDir, Vec<String>) {
    let dir = private_dir(tag);
    let eps = vec![
        format!("unix://{}/rpc.sock", dir.display()),
        "tcp://127.0.0.1:0".into(),
        shm_name(tag),
    ];
    (dir, eps)
}

#[test]
fn calls_get_their_replies_on_every_transport() {
    watchdog(move || {
        let (_dir, eps) = endpoints("rpc-basic");
        for ep in eps {
            let (server, local) = serve(&ep, |req| {
                let mut v = req.body().to_vec();
                v.reverse();
                Ok(v)
            });
            let c = Client::connect(local.as_str()).unwrap();
            for n in [0usize, 1, 100, 70_000, 3_000_000] {
                let v: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
                let mut want = v.clone();
                want.reverse();
                assert_eq!(&*c.call(&v).unwrap(), &want[..], "{ep} {n}");
            }
            assert_eq!(c.in_flight(), 0);
            server.close();
        }
    })
}

#[test]
fn many_requests_in_flight_from_one_thread_match_out_of_order() {
    watchdog(move || {
        let dir = private_dir("rpc-many");
        let ep = format!("unix://{}/s.sock", dir.display());
        // The async server answers in random order (random handler delays).
        let rt = libipc::aio::new_runtime().unwrap();
        let server = rt
            .block_on(AsyncServer::bind(ep.as_str()))
            .map(Arc::new)
            .unwrap();
        let s2 = Arc::clone(&server);
        rt.spawn(async move {
            s2.serve(|req| async move {
                let d = fastrand::u64(0..20);
                tokio::time::sleep(Duration::from_millis(d)).await;
                Ok(req.into_body().into_vec())
            })
            .await
        });
        let c = Client::connect(ep.as_str()).unwrap();
        let pending: Vec<_> = (0..1000u32)
            .map(|i| (i, c.start(&i.to_le_bytes()).unwrap()))
            .collect();
        assert_eq!(c.in_flight(), 1000);
        // Wait in reverse order: replies for the others are stashed in their slots.
        for (i, p) in pending.into_iter().rev() {
            assert_eq!(&*p.wait_forever().unwrap(), &i.to_le_bytes());
        }
        assert_eq!(c.in_flight(), 0);
        assert_eq!(c.late_replies(), 0);
        server.close();
    })
}

#[test]
fn many_threads_share_one_client() {
    watchdog(move || {
        let (_dir, eps) = endpoints("rpc-threads");
        for ep in eps {
            let (server, local) = serve(&ep, |req| Ok(req.into_body().into_vec()));
            let c = Client::connect(local.as_str()).unwrap();
            let threads: Vec<_> = (0..16u32)
                .map(|t| {
                    let c = c.clone();
                    std::thread::spawn(move || {
                        for i in 0..500u32 {
                            let body = [t.to_le_bytes(), i.to_le_bytes()].concat();
                            assert_eq!(&*c.call(&body).unwrap(), &body[..]);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(c.in_flight(), 0);
            server.close();
        }
    })
}

#[test]
fn error_replies_are_remote_errors_and_the_client_goes_on() {
    watchdog(move || {
        let dir = private_dir("rpc-err");
        let ep = format!("unix://{}/s.sock", dir.display());
        let (server, local) = serve(&ep, |req| match req.body() {
            b"fail" => Err(libipc::Error::remote(42, "no such thing")),
            b"panic" => panic!("handler bug"),
            b"long" => Err(libipc::Error::remote(7, "é".repeat(5000))),
            b"zero" => Err(libipc::Error::remote(0, "zero")),
            _ => Ok(b"ok".to_vec()),
        });
        let c = Client::connect(local.as_str()).unwrap();
        let e = c.call(b"fail").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Remote);
        assert_eq!(e.status(), Some(42));
        assert_eq!(e.message(), "no such thing");
        let e = c.call(b"panic").unwrap_err();
        assert_eq!(
            (e.kind(), e.status()),
            (ErrorKind::Remote, Some(libipc::rpc::PANIC_STATUS))
        );
        let e = c.call(b"long").unwrap_err();
        assert_eq!(e.status(), Some(7));
        assert!(e.message().len() <= libipc::wire::MAX_FAULT_TEXT && e.message().len() > 4000);
        assert_eq!(c.call(b"zero").unwrap_err().status(), Some(1));
        assert_eq!(&*c.call(b"x").unwrap(), b"ok");
        server.close();
    })
}

#[test]
fn timed_out_and_cancelled_requests_release_their_slots_and_late_replies_are_counted() {
    watchdog(move || {
        let dir = private_dir("rpc-late");
        let ep = format!("unix://{}/s.sock", dir.display());
        let (server, local) = serve(&ep, |req| {
            if req.body() == b"slow" {
                std::thread::sleep(Duration::from_millis(300));
            }
            Ok(req.into_body().into_vec())
        });
        let c = Client::connect(local.as_str()).unwrap();
        let e = c
            .call_timeout(b"slow", Duration::from_millis(50))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert_eq!(c.in_flight(), 0);
        // The late reply comes while this call waits: dropped and counted, not delivered here.
        assert_eq!(&*c.call(b"next").unwrap(), b"next");
        assert_eq!(c.late_replies(), 1);

        let cancel = Cancel::new().unwrap();
        let c2 = c.clone();
        let cancel2 = cancel.clone();
        let t =
            std::thread::spawn(move || c2.call_wait(b"slow", Wait::forever().or_cancel(&cancel2)));
        std::thread::sleep(Duration::from_millis(50));
        cancel.cancel();
        assert_eq!(t.join().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
        assert_eq!(&*c.call(b"after").unwrap(), b"after");
        assert_eq!(c.late_replies(), 2);

        // A request whose pending handle is dropped is abandoned the same way.
        drop(c.start(b"slow").unwrap());
        assert_eq!(c.in_flight(), 0);
        assert_eq!(&*c.call(b"last").unwrap(), b"last");
        assert_eq!(c.late_replies(), 3);

        // `wait_for` keeps the request in flight when its wait ends first.
        let mut p = c.start(b"slow").unwrap();
        let e = p
            .wait_for(Wait::timeout(Duration::from_millis(20)))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert_eq!(c.in_flight(), 1);
        assert_eq!(&*p.wait_for(Wait::forever()).unwrap(), b"slow");
        assert_eq!(
            p.wait_for(Wait::forever()).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        drop(p);
        assert_eq!((c.in_flight(), c.late_replies()), (0, 3));
        server.close();
    })
}

#[test]
fn a_follower_waiting_for_its_reply_can_be_cancelled() {
    watchdog(move || {
        let dir = private_dir("rpc-follow");
        let ep = format!("unix://{}/s.sock", dir.display());
        let (server, local) = serve(&ep, |req| {
            std::thread::sleep(Duration::from_millis(200));
            Ok(req.into_body().into_vec())
        });
        let c = Client::connect(local.as_str()).unwrap();
        // One caller leads (waits forever), the other follows and is cancelled.
        let leader = c.start(b"a").unwrap();
        let follower = c.start(b"b").unwrap();
        let c2 = c.clone();
        let lead = std::thread::spawn(move || leader.wait_forever());
        std::thread::sleep(Duration::from_millis(20));
        let cancel = Cancel::new().unwrap();
        let cancel2 = cancel.clone();
        let follow = std::thread::spawn(move || follower.wait(Wait::forever().or_cancel(&cancel2)));
        std::thread::sleep(Duration::from_millis(20));
        cancel.cancel();
        assert_eq!(
            follow.join().unwrap().unwrap_err().kind(),
            ErrorKind::Cancelled
        );
        assert_eq!(&*lead.join().unwrap().unwrap(), b"a");
        assert_eq!(&*c2.call(b"c").unwrap(), b"c");
        server.close();
    })
}

#[test]
fn requests_too_large_for_the_channel_are_refused_before_sending() {
    watchdog(move || {
        let dir = private_dir("rpc-big");
        let ep = format!("unix://{}/s.sock", dir.display());
        let opts = libipc::Options::new().with_max_message_size(1024);
        let s = Arc::new(Server::bind_with(ep.as_str(), &opts).unwrap());
        let s2 = Arc::clone(&s);
        std::thread::spawn(move || s2.serve(|r| Ok(r.into_body().into_vec())));
        let c = Client::connect(ep.as_str()).unwrap();
        assert_eq!(c.call(&[1u8; 1008]).unwrap().len(), 1008);
        let e = c.call(&[1u8; 1009]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MessageTooLarge);
        assert_eq!(c.call(b"still fine").unwrap().len(), 10);
        s.close();
    })
}

#[test]
fn plain_channels_and_request_reply_endpoints_refuse_each_other() {
    watchdog(move || {
        let (_dir, eps) = endpoints("rpc-refuse");
        for ep in eps {
            // A plain client at a request/reply server.
            let (server, local) = serve(&ep, |r| Ok(r.into_body().into_vec()));
            let e = Channel::connect(local.as_str()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ProtocolMismatch, "{ep}: {e}");
            assert!(e.message().contains("request/reply"), "{e}");
            server.close();
            // A request/reply client at a plain listener.
            let l = Arc::new(Listener::bind(ep.as_str()).unwrap());
            let local = l.local_endpoint().to_string();
            let l2 = Arc::clone(&l);
            let t = std::thread::spawn(move || l2.accept().map(|ch| ch.recv().map(|_| ())));
            let e = Client::connect(local.as_str()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ProtocolMismatch, "{ep}: {e}");
            assert!(e.message().contains("CAP_RPC"), "{e}");
            // The listener's channel, if its handshake finished, just sees the client go
            // (over shm:// the set-up after the hellos fails instead, and nothing is
            // accepted: closing the listener ends the accept).
            l.close();
            match t.join().unwrap() {
                Ok(r) => assert!(r.is_err()),
                Err(e) => assert_eq!(e.kind(), ErrorKind::Closed),
            }
        }
    })
}

#[test]
fn a_server_going_away_fails_every_call_in_flight() {
    watchdog(move || {
        let dir = private_dir("rpc-gone");
        let ep = format!("unix://{}/s.sock", dir.display());
        let s = Server::bind(ep.as_str()).unwrap();
        let c = Client::connect(ep.as_str()).unwrap();
        let r = s.accept().unwrap();
        let pending: Vec<_> = (0..10).map(|_| c.start(b"x").unwrap()).collect();
        let first = r.recv().unwrap();
        r.reply(first.id(), b"one").unwrap();
        drop(r);
        let results: Vec<_> = pending.into_iter().map(|p| p.wait_forever()).collect();
        assert_eq!(&*results[0].as_ref().unwrap().clone(), b"one");
        for e in &results[1..] {
            let k = e.as_ref().unwrap_err().kind();
            assert!(
                matches!(k, ErrorKind::Closed | ErrorKind::PeerDisconnected),
                "{k:?}"
            );
        }
        let e = c.call(b"y").unwrap_err();
        assert!(matches!(
            e.kind(),
            ErrorKind::Closed | ErrorKind::PeerDisconnected
        ));
    })
}

#[test]
fn async_server_runs_handlers_concurrently_and_cancel_aborts_them() {
    watchdog(move || {
        let rt = libipc::aio::new_runtime().unwrap();
        let dir = private_dir("rpc-async");
        for ep in [
            format!("unix://{}/a.sock", dir.display()),
            shm_name("async"),
        ] {
            rt.block_on(async {
                let server = Arc::new(AsyncServer::bind(ep.as_str()).await.unwrap());
                let local = server.local_endpoint().to_string();
                let started = Arc::new(AtomicUsize::new(0));
                let finished = Arc::new(AtomicUsize::new(0));
                let (st, fi) = (Arc::clone(&started), Arc::clone(&finished));
                let s2 = Arc::clone(&server);
                tokio::spawn(async move {
                    s2.serve(move |req| {
                        let (st, fi) = (Arc::clone(&st), Arc::clone(&fi));
                        async move {
                            st.fetch_add(1, Ordering::SeqCst);
                            let ms = u64::from(req.body()[0]);
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            fi.fetch_add(1, Ordering::SeqCst);
                            Ok(req.into_body().into_vec())
                        }
                    })
                    .await
                });
                let c = AsyncClient::connect(local.as_str()).await.unwrap();
                // 200 calls with delays of 0..200 ms: concurrent handlers finish out of order.
                let calls: Vec<_> = (0..200u32)
                    .map(|i| {
                        let c = c.clone();
                        tokio::spawn(async move {
                            let body = [(i % 200) as u8, (i >> 8) as u8, i as u8];
                            let got = c.call(&body).await.unwrap();
                            assert_eq!(&*got, &body);
                        })
                    })
                    .collect();
                for t in calls {
                    t.await.unwrap();
                }
                // Cancelled: the handler (500 ms) is aborted, never finishes.
                let before = finished.load(Ordering::SeqCst);
                let cancel = Cancel::new().unwrap();
                let c2 = c.clone();
                let cancel2 = cancel.clone();
                let t = tokio::spawn(async move {
                    c2.call_wait(&[250, 0, 0], Wait::forever().or_cancel(&cancel2))
                        .await
                });
                while started.load(Ordering::SeqCst) < 201 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                cancel.cancel();
                assert_eq!(t.await.unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
                let e = c
                    .call_timeout(&[250, 0, 0], Duration::from_millis(20))
                    .await
                    .unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Timeout);
                tokio::time::sleep(Duration::from_millis(400)).await;
                // Both were aborted by their CANCELs: neither finished, neither replied late.
                assert_eq!(finished.load(Ordering::SeqCst), before);
                assert_eq!(c.late_replies(), 0);
                assert_eq!(c.in_flight(), 0);
                assert_eq!(&*c.call(&[0, 1, 2]).await.unwrap(), &[0, 1, 2]);
                server.close();
            });
        }
    })
}

#[test]
fn async_client_against_the_blocking_server() {
    watchdog(move || {
        let dir = private_dir("rpc-mixed");
        let ep = format!("unix://{}/m.sock", dir.display());
        let (server, local) = serve(&ep, |r| Ok(r.into_body().into_vec()));
        let rt = libipc::aio::new_runtime().unwrap();
        rt.block_on(async {
            let c = AsyncClient::connect(local.as_str()).await.unwrap();
            let mut seen = HashSet::new();
            let calls: Vec<_> = (0..1000u32)
                .map(|i| {
                    let c = c.clone();
                    tokio::spawn(async move { c.call(&i.to_le_bytes()).await.unwrap() })
                })
                .collect();
            for t in calls {
                let m = t.await.unwrap();
                assert!(seen.insert(u32::from_le_bytes(m[..4].try_into().unwrap())));
            }
            assert_eq!(seen.len(), 1000);
        });
        server.close();
    })
}

#[test]
fn an_event_loop_drives_many_requests_with_try_take_and_the_descriptor() {
    use std::os::fd::AsFd;
    watchdog(move || {
        let (_dir, eps) = endpoints("rpc-poll");
        for ep in eps {
            let (server, local) = serve(&ep, |req| Ok(req.into_body().into_vec()));
            let c = Client::connect(local.as_str()).unwrap();
            let mut pending: Vec<_> = (0..100u32)
                .map(|i| (i, c.start(&i.to_le_bytes()).unwrap()))
                .collect();
            while !pending.is_empty() {
                let before = pending.len();
                pending.retain_mut(|(i, p)| match p.try_take() {
                    Some(r) => {
                        assert_eq!(&*r.unwrap(), &i.to_le_bytes());
                        false
                    }
                    None => true,
                });
                if pending.len() == before {
                    // Nothing was ready: the descriptor says when something may be.
                    let mut fds = [rustix::event::PollFd::new(&c, rustix::event::PollFlags::IN)];
                    rustix::event::poll(&mut fds, None).unwrap();
                }
            }
            assert_eq!((c.in_flight(), c.late_replies()), (0, 0));
            let _ = c.as_fd();
            server.close();
        }
    })
}

/// The loop a binding runs for handlers outside the runtime: `next_request` tracks each
/// request; a CANCEL fires its signal and its reply is not sent; replies go out in any order;
/// the connection's end fires the signals still pending.
#[test]
fn tracked_requests_for_foreign_handlers() {
    watchdog(|| {
        let rt = libipc::aio::new_runtime().unwrap();
        rt.block_on(async {
            let dir = private_dir("rpc-tracked");
            let server = AsyncServer::bind(format!("unix://{}/t.sock", dir.display()).as_str())
                .await
                .unwrap();
            let ep = server.local_endpoint().to_string();
            let client = AsyncClient::connect(ep.as_str()).await.unwrap();
            let conn = server.accept().await.unwrap();
            // Two requests; the first is cancelled by the client, the second answered.
            let cancel = Cancel::new().unwrap();
            let c2 = client.clone();
            let slow = tokio::spawn({
                let cancel = cancel.clone();
                async move {
                    c2.call_wait(b"slow", Wait::forever().or_cancel(&cancel))
                        .await
                }
            });
            let first = conn.next_request().await.unwrap();
            assert_eq!(first.body(), b"slow");
            let signal = first.signal();
            assert!(!signal.is_cancelled());
            cancel.cancel();
            assert_eq!(
                slow.await.unwrap().unwrap_err().kind(),
                ErrorKind::Cancelled
            );
            let fast = tokio::spawn({
                let c = client.clone();
                async move { c.call(b"fast").await }
            });
            // The CANCEL is consumed while waiting for the next request.
            let second = conn.next_request().await.unwrap();
            assert!(signal.cancelled().await);
            assert!(signal.is_cancelled());
            conn.reply(first.id(), b"too late").await.unwrap(); // not sent
            conn.reply(second.id(), b"FAST").await.unwrap();
            assert_eq!(&*fast.await.unwrap().unwrap(), b"FAST");
            assert_eq!(
                client.late_replies(),
                0,
                "the cancelled request got no reply"
            );
            // An error reply, then the end of the connection fires what is pending.
            let e = tokio::spawn({
                let c = client.clone();
                async move { c.call(b"bad").await }
            });
            let third = conn.next_request().await.unwrap();
            conn.reply_error(third.id(), 7, "no").await.unwrap();
            assert_eq!(e.await.unwrap().unwrap_err().status(), Some(7));
            let pending = tokio::spawn({
                let c = client.clone();
                async move { c.call(b"never").await }
            });
            let fourth = conn.next_request().await.unwrap();
            client.close().await;
            let _ = pending.await;
            assert!(conn.next_request().await.is_err());
            assert!(
                fourth.signal().cancelled().await,
                "the end cancels what is pending"
            );
            assert!(
                !third.signal().cancelled().await,
                "an answered request was not cancelled"
            );
        });
    });
}
