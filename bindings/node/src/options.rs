//! The core's options (`libipc::Options::TABLE`) as a JavaScript object: the same names in
//! camelCase and the same defaults; durations in milliseconds (fractions allowed), sizes in
//! bytes. An unknown key or a value of the wrong type throws, so a typo never passes silently.

use std::time::Duration;

use libipc::{OptionValue, Options};
use napi::bindgen_prelude::*;

use crate::errors::{invalid, type_error};

/// Milliseconds as a `Duration`: finite and not negative.
pub(crate) fn millis(env: &Env, what: &str, ms: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| {
        invalid(
            env,
            format!("{what} must be a finite, non-negative number of milliseconds, not {ms}"),
        )
    })
}

fn number(env: &Env, what: &str, v: &Unknown<'_>) -> Result<f64> {
    if v.get_type()? != ValueType::Number {
        return Err(type_error(env, format!("{what} must be a number")));
    }
    // SAFETY: checked to be a number just above.
    unsafe { v.cast::<f64>() }
}

fn whole<T: TryFrom<u64>>(env: &Env, what: &str, v: &Unknown<'_>) -> Result<T> {
    let n = number(env, what, v)?;
    if n.fract() != 0.0 || !(0.0..=9_007_199_254_740_991.0).contains(&n) {
        return Err(invalid(
            env,
            format!("{what} must be a whole number >= 0, not {n}"),
        ));
    }
    T::try_from(n as u64).map_err(|_| invalid(env, format!("{what} is out of range: {n}")))
}

fn is_nullish(v: &Unknown<'_>) -> Result<bool> {
    Ok(matches!(
        v.get_type()?,
        ValueType::Null | ValueType::Undefined
    ))
}

/// The options in `obj` (`undefined` or `null`: the defaults).
pub(crate) fn from_js(env: &Env, obj: Option<Unknown<'_>>) -> Result<Options> {
    let mut opts = Options::new();
    let Some(obj) = obj else {
        return Ok(opts);
    };
    if is_nullish(&obj)? {
        return Ok(opts);
    }
    if obj.get_type()? != ValueType::Object {
        return Err(type_error(env, "options must be an object"));
    }
    // SAFETY: checked to be an object just above.
    let obj: Object<'_> = unsafe { obj.cast() }?;
    let names = obj.get_property_names()?;
    for i in 0..names.get_array_length()? {
        let key: String = names.get_element(i)?;
        let Some(info) = Options::TABLE.iter().find(|o| o.camel_case_name() == key) else {
            return Err(invalid(env, format!("unknown option '{key}'")));
        };
        let v: Unknown<'_> = obj.get_named_property(&key)?;
        if v.get_type()? == ValueType::Undefined {
            continue;
        }
        let what = key.as_str();
        opts = match info.name {
            "max_message_size" => opts.with_max_message_size(whole(env, what, &v)?),
            "socket_mode" => opts.with_socket_mode(whole(env, what, &v)?),
            "connect_timeout" => {
                if is_nullish(&v)? {
                    opts.with_connect_timeout(None)
                } else {
                    opts.with_connect_timeout(millis(env, what, number(env, what, &v)?)?)
                }
            }
            "handshake_timeout" => {
                opts.with_handshake_timeout(millis(env, what, number(env, what, &v)?)?)
            }
            "allowed_uids" => match ids(env, "allowedUids", "uids", &v)? {
                None => opts,
                Some(uids) => opts.with_allowed_uids(uids),
            },
            "allowed_gids" => match ids(env, "allowedGids", "gids", &v)? {
                None => opts,
                Some(gids) => opts.with_allowed_gids(gids),
            },
            "shm_ring_size" => opts.with_shm_ring_size(whole(env, what, &v)?),
            "shm_spin" => opts.with_shm_spin(millis(env, what, number(env, what, &v)?)?),
            "stream_spin" => opts.with_stream_spin(millis(env, what, number(env, what, &v)?)?),
            "shm_posix_fallback" => {
                if v.get_type()? != ValueType::Boolean {
                    return Err(type_error(env, "shmPosixFallback must be a boolean"));
                }
                // SAFETY: checked to be a boolean just above.
                opts.with_shm_posix_fallback(unsafe { v.cast::<bool>() }?)
            }
            "max_connections" => opts.with_max_connections(whole(env, what, &v)?),
            "frame_timeout" => {
                if is_nullish(&v)? {
                    opts.with_frame_timeout(None)
                } else {
                    opts.with_frame_timeout(millis(env, what, number(env, what, &v)?)?)
                }
            }
            "expected_server_uid" => {
                if is_nullish(&v)? {
                    opts.with_any_server_uid()
                } else {
                    opts.with_expected_server_uid(whole(env, what, &v)?)
                }
            }
            other => {
                return Err(invalid(
                    env,
                    format!("option '{other}' is not supported by the Node binding yet"),
                ));
            }
        };
    }
    Ok(opts)
}

/// An allow-list (`allowedUids`, `allowedGids`): `null`/`undefined` (none), or an array of
/// whole numbers that fit in a `u32`.
fn ids(env: &Env, key: &str, what: &str, v: &Unknown<'_>) -> Result<Option<Vec<u32>>> {
    if is_nullish(v)? {
        return Ok(None);
    }
    let arr: Object<'_> = match v.is_array()? {
        // SAFETY: checked to be an array.
        true => unsafe { v.cast() }?,
        false => return Err(type_error(env, format!("{key} must be an array of {what}"))),
    };
    let mut out = Vec::new();
    for i in 0..arr.get_array_length()? {
        let u: Unknown<'_> = arr.get_element(i)?;
        out.push(whole::<u32>(env, &format!("{key} entry"), &u)?);
    }
    Ok(Some(out))
}

/// The default of every option, in the units the Node binding takes (see `defaults()`).
pub(crate) fn defaults<'e>(env: &'e Env) -> Result<Object<'e>> {
    let mut out = Object::new(env)?;
    for info in Options::TABLE {
        let key = info.camel_case_name();
        match info.default_value() {
            OptionValue::Bytes(n) => out.set_named_property(&key, n as f64)?,
            OptionValue::Mode(m) => out.set_named_property(&key, m)?,
            OptionValue::Duration(d) => out.set_named_property(&key, d.as_secs_f64() * 1000.0)?,
            OptionValue::Timeout(Some(d)) => {
                out.set_named_property(&key, d.as_secs_f64() * 1000.0)?
            }
            OptionValue::Timeout(None)
            | OptionValue::Uids(None)
            | OptionValue::Gids(None)
            | OptionValue::Uid(None) => out.set_named_property(&key, Null)?,
            OptionValue::Uid(Some(u)) => out.set_named_property(&key, u)?,
            OptionValue::Count(n) => out.set_named_property(&key, n as f64)?,
            OptionValue::Uids(Some(u)) | OptionValue::Gids(Some(u)) => {
                out.set_named_property(&key, u)?
            }
            OptionValue::Flag(b) => out.set_named_property(&key, b)?,
        }
    }
    Ok(out)
}
