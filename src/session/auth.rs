//! Client authentication against shardgate's own `[[user]]` accounts: the
//! client's scramble is checked here and never forwarded. Both
//! `mysql_native_password` and `caching_sha2_password` (fast path; shardgate
//! holds the password, so its cache is always warm) are accepted; a client
//! answering with any other plugin is switched to native password.

use std::net::IpAddr;

use shardgate_proto::auth::{self as pauth, Credential, Sha2FastAuth};
use shardgate_proto::error_codes::{self as ec, ErrorCode};

use crate::config::Topology;

pub const NATIVE: &str = pauth::NATIVE_PASSWORD;
pub const CACHING_SHA2: &str = pauth::CACHING_SHA2_PASSWORD;

/// The verdict on one authentication step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthCheck {
    /// Logged in; `fast_auth_ok`: send caching_sha2's 0x03 before OK.
    Ok {
        fast_auth_ok: bool,
    },
    /// Ask the client to answer again with this plugin.
    Switch(&'static str),
    Denied {
        code: ErrorCode,
        msg: String,
    },
}

/// A fresh 20-byte scramble of printable bytes without NUL (as MySQL does).
pub fn new_scramble() -> [u8; 20] {
    let mut raw = [0u8; 20];
    fill_random(&mut raw);
    for b in raw.iter_mut() {
        // Map to 0x21..=0x7e: never NUL, never '$'-sensitive for clients.
        *b = 0x21 + (*b % 94);
    }
    raw
}

fn fill_random(buf: &mut [u8]) {
    use std::io::Read;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(buf).is_ok() {
            return;
        }
    }
    // Fallback: time and address entropy (never expected on Linux).
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
        ^ (buf.as_ptr() as u64);
    for b in buf.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

pub fn denied_message(user: &str, ip: IpAddr, using_password: bool) -> String {
    ec::access_denied_message(user, &ip.to_string(), using_password)
}

/// Checks a login (or COM_CHANGE_USER) answer.
pub fn check_login(
    topo: &Topology,
    user: &str,
    ip: IpAddr,
    plugin: &[u8],
    scramble: &[u8],
    response: &[u8],
) -> AuthCheck {
    let denied = || AuthCheck::Denied {
        code: ec::ER_ACCESS_DENIED_ERROR,
        msg: denied_message(user, ip, !response.is_empty()),
    };
    let Some(u) = topo.user(user) else {
        return denied();
    };
    if !u.allows(ip) {
        return AuthCheck::Denied {
            code: ec::ER_HOST_NOT_PRIVILEGED,
            msg: format!("Host '{ip}' is not allowed to connect to this MariaDB server"),
        };
    }
    let cred = Credential::plain(u.password.expose().as_bytes().to_vec());
    if plugin == NATIVE.as_bytes() {
        if u.password.is_empty() && response.is_empty()
            || pauth::native_verify(scramble, response, &cred)
        {
            AuthCheck::Ok {
                fast_auth_ok: false,
            }
        } else {
            denied()
        }
    } else if plugin == CACHING_SHA2.as_bytes() {
        if response.is_empty() && !u.password.is_empty() {
            // The client did not answer our scramble (it was offered for
            // another plugin): ask again, for caching_sha2 itself.
            return AuthCheck::Switch(CACHING_SHA2);
        }
        match pauth::sha2_fast_auth(scramble, response, &cred) {
            Sha2FastAuth::EmptyPassword => AuthCheck::Ok {
                fast_auth_ok: false,
            },
            Sha2FastAuth::Success => AuthCheck::Ok { fast_auth_ok: true },
            Sha2FastAuth::Denied | Sha2FastAuth::FullAuthRequired => denied(),
        }
    } else {
        AuthCheck::Switch(NATIVE)
    }
}

/// May `user` use `schema`? ERR 1044 otherwise.
pub fn check_schema(
    topo: &Topology,
    user: &str,
    ip: IpAddr,
    schema: &str,
) -> Result<(), (ErrorCode, String)> {
    match topo.user(user) {
        Some(u) if u.may_use(schema) => Ok(()),
        _ => Err((
            ec::ER_DBACCESS_DENIED_ERROR,
            ec::db_access_denied_message(user, &ip.to_string(), schema),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scramble_has_no_nul() {
        for _ in 0..100 {
            let s = new_scramble();
            assert!(s.iter().all(|&b| (0x21..=0x7e).contains(&b)));
        }
        assert_ne!(new_scramble(), new_scramble());
    }
}
