//! Endpoint parsing: any string parses or gives `InvalidEndpoint`, and a parsed endpoint's
//! `Display` form parses back to the same endpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libipc::{Endpoint, ErrorKind};

fuzz_target!(|data: &[u8]| {
    // Non-UTF-8 input is tried as its lossy form: `parse` takes a `&str`.
    let s = String::from_utf8_lossy(data);
    match Endpoint::parse(&s) {
        Ok(e) => {
            let shown = e.to_string();
            let again = Endpoint::parse(&shown)
                .unwrap_or_else(|err| panic!("{s:?} -> {shown:?} does not parse: {err}"));
            assert_eq!(again, e, "{s:?} -> {shown:?}");
            assert_eq!(again.to_string(), shown);
            assert_eq!(s.parse::<Endpoint>().ok(), Some(e));
        }
        Err(err) => assert_eq!(err.kind(), ErrorKind::InvalidEndpoint, "{s:?}: {err}"),
    }
});
