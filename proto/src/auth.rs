//! Authentication plugins: `mysql_native_password` and
//! `caching_sha2_password`, both sides. shardgate verifies its clients as a
//! server (it never forwards their scrambles) and logs in to its backends as
//! a client. Pure functions: the caller moves the bytes through the packets
//! of [`crate::handshake`] (AuthSwitchRequest, AuthMoreData, ...).
//!
//! Server side, shardgate knows each user's [`Credential`]: the plaintext
//! password, or the hash MySQL keeps (`*HEX` SHA1(SHA1(pw)) for native,
//! SHA256(SHA256(pw)) for caching_sha2).
//!
//! caching_sha2_password over a connection without TLS (shardgate has none)
//! works like this:
//! 1. the client sends `XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce))`;
//!    the server checks it ([`sha2_fast_auth`]) and answers AuthMoreData
//!    0x03 (fast_auth_success) then OK, or 0x04 (perform_full_authentication);
//! 2. after 0x04 the client sends 0x02 to ask for the server's RSA public key,
//!    the server sends the PEM in AuthMoreData ([`full_auth_plain_reply`]);
//! 3. the client sends RSA-OAEP(SHA-1)(`password\0` XOR nonce)
//!    ([`sha2_encrypt_password`]), the server decrypts it
//!    ([`sha2_decrypt_password`]) and checks it ([`sha2_check_password`]).
//!
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_authentication_methods_native_password_authentication.html>
//! <https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html>
//! <https://mariadb.com/kb/en/connection/#authentication-plugins>

use std::fmt;

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::error::{ProtoError, Result};

pub const NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";

/// Bytes of the nonce (scramble) the plugins use; longer input (such as
/// AuthSwitchRequest data with its trailing NUL) is cut, as libmysql does.
pub const NONCE_LEN: usize = 20;

/// Client → server after perform_full_authentication: "send me your key".
pub const SHA2_REQUEST_PUBLIC_KEY: u8 = 0x02;
/// Server → client in AuthMoreData: the scramble matched, OK follows.
pub const SHA2_FAST_AUTH_SUCCESS: u8 = 0x03;
/// Server → client in AuthMoreData: send the whole password.
pub const SHA2_PERFORM_FULL_AUTH: u8 = 0x04;

/// RSA key size shardgate generates when none is configured.
pub const DEFAULT_RSA_BITS: usize = 2048;

/// An authentication plugin, by its wire name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuthPlugin {
    NativePassword,
    CachingSha2Password,
    Other(String),
}

impl AuthPlugin {
    pub fn name(&self) -> &str {
        match self {
            AuthPlugin::NativePassword => NATIVE_PASSWORD,
            AuthPlugin::CachingSha2Password => CACHING_SHA2_PASSWORD,
            AuthPlugin::Other(name) => name,
        }
    }

    /// From a plugin name as it appears in a packet (not NUL-terminated).
    pub fn from_name(name: &[u8]) -> AuthPlugin {
        match name {
            b"mysql_native_password" => AuthPlugin::NativePassword,
            b"caching_sha2_password" => AuthPlugin::CachingSha2Password,
            other => AuthPlugin::Other(String::from_utf8_lossy(other).into_owned()),
        }
    }
}

impl fmt::Display for AuthPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the server knows about a user's password.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// The password itself; works with both plugins. Empty = no password.
    Plain(Vec<u8>),
    /// SHA1(SHA1(pw)), the `*HEX` of `mysql.user` / `PASSWORD()`;
    /// native only (caching_sha2 then needs the full path).
    NativeHash([u8; 20]),
    /// SHA256(SHA256(pw)); caching_sha2 only.
    Sha2Hash([u8; 32]),
}

impl Credential {
    pub fn plain(password: impl Into<Vec<u8>>) -> Credential {
        Credential::Plain(password.into())
    }

    /// Parses the `mysql.user` form: `*` and 40 hex digits, or an empty
    /// string for "no password".
    pub fn from_native_hash(s: &str) -> Result<Credential> {
        if s.is_empty() {
            return Ok(Credential::Plain(Vec::new()));
        }
        let what = "native password hash (want '*' and 40 hex digits)";
        let hex = s.strip_prefix('*').ok_or(ProtoError::Invalid { what })?;
        let mut out = [0u8; 20];
        decode_hex(hex, &mut out).ok_or(ProtoError::Invalid { what })?;
        Ok(Credential::NativeHash(out))
    }

    /// Parses SHA256(SHA256(pw)) as 64 hex digits.
    pub fn from_sha2_hash(s: &str) -> Result<Credential> {
        let mut out = [0u8; 32];
        decode_hex(s, &mut out).ok_or(ProtoError::Invalid {
            what: "sha2 password hash (want 64 hex digits)",
        })?;
        Ok(Credential::Sha2Hash(out))
    }

    /// The `*HEX` form MySQL stores, when it can be computed.
    pub fn native_hash_string(&self) -> Option<String> {
        let h = match self {
            Credential::Plain(pw) if pw.is_empty() => return Some(String::new()),
            Credential::Plain(pw) => sha1(&[&sha1(&[pw])]),
            Credential::NativeHash(h) => *h,
            Credential::Sha2Hash(_) => return None,
        };
        let mut s = String::with_capacity(41);
        s.push('*');
        for b in h {
            s.push_str(&format!("{b:02X}"));
        }
        Some(s)
    }

    fn is_empty_password(&self) -> bool {
        matches!(self, Credential::Plain(pw) if pw.is_empty())
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Credential::Plain(pw) if pw.is_empty() => "Plain(<empty>)",
            Credential::Plain(_) => "Plain(<redacted>)",
            Credential::NativeHash(_) => "NativeHash(<redacted>)",
            Credential::Sha2Hash(_) => "Sha2Hash(<redacted>)",
        };
        f.write_str(kind)
    }
}

fn decode_hex(s: &str, out: &mut [u8]) -> Option<()> {
    let s = s.as_bytes();
    if s.len() != out.len() * 2 {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        *o = (hi * 16 + lo) as u8;
    }
    Some(())
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn nonce20(nonce: &[u8]) -> &[u8] {
    &nonce[..nonce.len().min(NONCE_LEN)]
}

fn xor<const N: usize>(a: &[u8; N], b: &[u8; N]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// Equality whose time does not depend on where the inputs differ (only on
/// their lengths, which are public).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---------------------------------------------------------------------------
// mysql_native_password
// ---------------------------------------------------------------------------

/// `SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw)))`.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_authentication_methods_native_password_authentication.html>
pub fn native_scramble(password: &[u8], nonce: &[u8]) -> [u8; 20] {
    let stage1 = sha1(&[password]);
    let stage2 = sha1(&[&stage1]);
    xor(&stage1, &sha1(&[nonce20(nonce), &stage2]))
}

/// What a client sends for `mysql_native_password`: nothing for an empty
/// password, else [`native_scramble`].
pub fn native_auth_response(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        Vec::new()
    } else {
        native_scramble(password, nonce).to_vec()
    }
}

/// Server side: does `client_response` prove the client knows the password
/// behind `stored`? A [`Credential::Sha2Hash`] cannot check it (false).
pub fn native_verify(nonce: &[u8], client_response: &[u8], stored: &Credential) -> bool {
    if client_response.is_empty() || stored.is_empty_password() {
        return client_response.is_empty() && stored.is_empty_password();
    }
    let stage2 = match stored {
        Credential::Plain(pw) => sha1(&[&sha1(&[pw])]),
        Credential::NativeHash(h) => *h,
        Credential::Sha2Hash(_) => return false,
    };
    let Ok(response) = <[u8; 20]>::try_from(client_response) else {
        return false;
    };
    let stage1 = xor(&response, &sha1(&[nonce20(nonce), &stage2]));
    ct_eq(&sha1(&[&stage1]), &stage2)
}

// ---------------------------------------------------------------------------
// caching_sha2_password
// ---------------------------------------------------------------------------

/// `XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce))`.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html>
pub fn sha2_scramble(password: &[u8], nonce: &[u8]) -> [u8; 32] {
    let stage1 = sha256(&[password]);
    let stage2 = sha256(&[&stage1]);
    xor(&stage1, &sha256(&[&stage2, nonce20(nonce)]))
}

/// What a client sends first for `caching_sha2_password`: nothing for an
/// empty password, else [`sha2_scramble`].
pub fn sha2_auth_response(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        Vec::new()
    } else {
        sha2_scramble(password, nonce).to_vec()
    }
}

/// Server side, fast path: checks the scramble against SHA256(SHA256(pw)).
/// False for a [`Credential::NativeHash`] (use the full path).
pub fn sha2_verify(nonce: &[u8], client_response: &[u8], stored: &Credential) -> bool {
    if client_response.is_empty() || stored.is_empty_password() {
        return client_response.is_empty() && stored.is_empty_password();
    }
    let stage2 = match stored {
        Credential::Plain(pw) => sha256(&[&sha256(&[pw])]),
        Credential::Sha2Hash(h) => *h,
        Credential::NativeHash(_) => return false,
    };
    let Ok(response) = <[u8; 32]>::try_from(client_response) else {
        return false;
    };
    let stage1 = xor(&response, &sha256(&[&stage2, nonce20(nonce)]));
    ct_eq(&sha256(&[&stage1]), &stage2)
}

/// The server's answer to a client's first caching_sha2 response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sha2FastAuth {
    /// Empty password and empty response: send OK directly (no 0x03).
    EmptyPassword,
    /// Send AuthMoreData [`SHA2_FAST_AUTH_SUCCESS`], then OK.
    Success,
    /// Wrong password: send ERR (access denied).
    Denied,
    /// The credential cannot check a scramble (a native hash): send
    /// AuthMoreData [`SHA2_PERFORM_FULL_AUTH`] and continue with
    /// [`full_auth_plain_reply`].
    FullAuthRequired,
}

/// Decides the first step of caching_sha2 server side. shardgate's "cache"
/// is always warm when it holds the password or its SHA256(SHA256()), so a
/// mismatch is a wrong password rather than a cache miss.
pub fn sha2_fast_auth(nonce: &[u8], client_response: &[u8], stored: &Credential) -> Sha2FastAuth {
    if client_response.is_empty() && stored.is_empty_password() {
        Sha2FastAuth::EmptyPassword
    } else if matches!(stored, Credential::NativeHash(_)) && !client_response.is_empty() {
        Sha2FastAuth::FullAuthRequired
    } else if sha2_verify(nonce, client_response, stored) {
        Sha2FastAuth::Success
    } else {
        Sha2FastAuth::Denied
    }
}

/// Server side, full path: is `password` (decrypted) the one behind
/// `stored`? Works with every kind of credential.
pub fn sha2_check_password(password: &[u8], stored: &Credential) -> bool {
    match stored {
        Credential::Plain(pw) => ct_eq(password, pw),
        Credential::Sha2Hash(h) => {
            !password.is_empty() && ct_eq(&sha256(&[&sha256(&[password])]), h)
        }
        Credential::NativeHash(h) => !password.is_empty() && ct_eq(&sha1(&[&sha1(&[password])]), h),
    }
}

/// What the server does with the packet a client sends after
/// perform_full_authentication, on a connection without TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullAuthReply<'k> {
    /// The client asked for the key (0x02): send this PEM as AuthMoreData
    /// and wait for the encrypted password.
    SendPublicKey(&'k str),
    /// The client sent the RSA-encrypted password: here it is, decrypted;
    /// check it with [`sha2_check_password`].
    Password(Vec<u8>),
    /// Refuse (send ERR, access denied) for this reason: no key configured,
    /// a cleartext password over an insecure connection, or bad ciphertext.
    Refuse(&'static str),
}

/// Server side of the full caching_sha2 path without TLS.
///
/// <https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html>
pub fn full_auth_plain_reply<'k>(
    client_payload: &[u8],
    keys: Option<&'k RsaKeyPair>,
    nonce: &[u8],
) -> FullAuthReply<'k> {
    let Some(keys) = keys else {
        return FullAuthReply::Refuse(
            "caching_sha2_password full authentication needs TLS or an RSA key; none configured",
        );
    };
    if client_payload == [SHA2_REQUEST_PUBLIC_KEY] {
        return FullAuthReply::SendPublicKey(keys.public_pem());
    }
    if client_payload.len() != keys.size() {
        return FullAuthReply::Refuse("cleartext password refused on a connection without TLS");
    }
    match sha2_decrypt_password(keys, client_payload, nonce) {
        Ok(password) => FullAuthReply::Password(password),
        Err(_) => FullAuthReply::Refuse("the encrypted password could not be decrypted"),
    }
}

/// A server message in AuthMoreData during caching_sha2, client side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sha2ServerMessage<'a> {
    FastAuthSuccess,
    PerformFullAuthentication,
    /// The server's RSA public key (PEM), after the client sent 0x02.
    PublicKey(&'a [u8]),
}

impl<'a> Sha2ServerMessage<'a> {
    /// `data` is the AuthMoreData content (after its 0x01 header).
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        match data {
            [SHA2_FAST_AUTH_SUCCESS] => Ok(Sha2ServerMessage::FastAuthSuccess),
            [SHA2_PERFORM_FULL_AUTH] => Ok(Sha2ServerMessage::PerformFullAuthentication),
            d if d.starts_with(b"-----BEGIN") => Ok(Sha2ServerMessage::PublicKey(d)),
            [] => Err(ProtoError::Truncated {
                what: "caching_sha2_password server message",
            }),
            _ => Err(ProtoError::Invalid {
                what: "caching_sha2_password server message",
            }),
        }
    }
}

/// `password\0` XOR the nonce repeated, in place (both directions).
fn xor_with_nonce(data: &mut [u8], nonce: &[u8]) -> Result<()> {
    let nonce = nonce20(nonce);
    if nonce.is_empty() {
        return Err(ProtoError::Invalid {
            what: "empty nonce",
        });
    }
    for (b, n) in data.iter_mut().zip(nonce.iter().cycle()) {
        *b ^= n;
    }
    Ok(())
}

fn parse_public_key(pem: &[u8]) -> Result<RsaPublicKey> {
    let what = "RSA public key PEM";
    let pem = std::str::from_utf8(pem).map_err(|_| ProtoError::Invalid { what })?;
    let pem = pem.trim_matches(|c: char| c == '\0' || c.is_ascii_whitespace());
    RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|_| ProtoError::Invalid { what })
}

/// Client side: RSA-OAEP(SHA-1) of `password\0` XOR nonce with the server's
/// public key (`-----BEGIN PUBLIC KEY-----` or `BEGIN RSA PUBLIC KEY`), as
/// libmysql does since MySQL 8.0.5.
pub fn sha2_encrypt_password(
    password: &[u8],
    nonce: &[u8],
    pem_public_key: &[u8],
) -> Result<Vec<u8>> {
    let key = parse_public_key(pem_public_key)?;
    let mut plain = Vec::with_capacity(password.len() + 1);
    plain.extend_from_slice(password);
    plain.push(0);
    xor_with_nonce(&mut plain, nonce)?;
    key.encrypt(&mut OsRng, Oaep::new::<Sha1>(), &plain)
        .map_err(|_| ProtoError::Invalid {
            what: "password too long for the RSA key",
        })
}

/// Server side: decrypts what [`sha2_encrypt_password`] made and returns the
/// password without its NUL. Uses blinded decryption (the `rsa` crate's
/// decryption is not constant time, RUSTSEC-2023-0071).
pub fn sha2_decrypt_password(
    keys: &RsaKeyPair,
    ciphertext: &[u8],
    nonce: &[u8],
) -> Result<Vec<u8>> {
    let mut plain = keys
        .private
        .decrypt_blinded(&mut OsRng, Oaep::new::<Sha1>(), ciphertext)
        .map_err(|_| ProtoError::Invalid {
            what: "RSA-encrypted password",
        })?;
    xor_with_nonce(&mut plain, nonce)?;
    match plain.pop() {
        Some(0) => Ok(plain),
        _ => Err(ProtoError::Invalid {
            what: "decrypted password is not NUL-terminated",
        }),
    }
}

/// The server's RSA key pair for caching_sha2 full authentication.
#[derive(Clone)]
pub struct RsaKeyPair {
    private: RsaPrivateKey,
    public_pem: String,
}

impl RsaKeyPair {
    /// A fresh key from the OS random source ([`DEFAULT_RSA_BITS`] in real
    /// use; takes a while in debug builds).
    pub fn generate(bits: usize) -> Result<RsaKeyPair> {
        let private = RsaPrivateKey::new(&mut OsRng, bits).map_err(|_| ProtoError::Invalid {
            what: "RSA key size",
        })?;
        Self::from_private(private)
    }

    /// Loads a private key PEM (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`,
    /// as in MySQL's `private_key.pem`).
    pub fn from_pem(pem: &str) -> Result<RsaKeyPair> {
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| ProtoError::Invalid {
                what: "RSA private key PEM",
            })?;
        Self::from_private(private)
    }

    fn from_private(private: RsaPrivateKey) -> Result<RsaKeyPair> {
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| ProtoError::Invalid {
                what: "RSA public key encoding",
            })?;
        Ok(RsaKeyPair {
            private,
            public_pem,
        })
    }

    /// The public key as `-----BEGIN PUBLIC KEY-----` PEM, what MySQL sends.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// Modulus size in bytes = ciphertext size.
    pub fn size(&self) -> usize {
        self.private.size()
    }
}

impl fmt::Debug for RsaKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKeyPair")
            .field("bits", &(self.size() * 8))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn test_key() -> &'static RsaKeyPair {
        static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
        KEY.get_or_init(|| RsaKeyPair::generate(1024).unwrap())
    }

    /// nonce 0x01..=0x14
    fn nonce() -> Vec<u8> {
        (1..=20).collect()
    }

    #[test]
    fn plugin_names() {
        for p in [AuthPlugin::NativePassword, AuthPlugin::CachingSha2Password] {
            assert_eq!(AuthPlugin::from_name(p.name().as_bytes()), p);
        }
        let other = AuthPlugin::from_name(b"auth_gssapi_client");
        assert_eq!(other, AuthPlugin::Other("auth_gssapi_client".into()));
        assert_eq!(other.name(), "auth_gssapi_client");
        assert_eq!(
            AuthPlugin::CachingSha2Password.to_string(),
            "caching_sha2_password"
        );
    }

    #[test]
    fn native_hash_matches_mariadb_password_function() {
        // MariaDB 10.11: SELECT PASSWORD('secret'), PASSWORD('password')
        let c = Credential::plain("secret");
        assert_eq!(
            c.native_hash_string().unwrap(),
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
        );
        let parsed =
            Credential::from_native_hash("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7").unwrap();
        assert_eq!(
            parsed.native_hash_string().unwrap(),
            c.native_hash_string().unwrap()
        );
        assert_eq!(
            Credential::plain("password").native_hash_string().unwrap(),
            "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"
        );
        // lower case hex is accepted too
        assert!(Credential::from_native_hash("*14e65567abdb5135d0cfd9a70b3032c179a49ee7").is_ok());
        assert_eq!(
            Credential::from_native_hash("").unwrap(),
            Credential::plain("")
        );
        for bad in [
            "14E65567ABDB5135D0CFD9A70B3032C179A49EE7",
            "*14E6",
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EEG",
            "*é4E65567ABDB5135D0CFD9A70B3032C179A49EE",
        ] {
            assert!(Credential::from_native_hash(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn native_scramble_known_vectors() {
        // python: sha1(pw) XOR sha1(nonce + sha1(sha1(pw)))
        assert_eq!(
            native_scramble(b"secret", &nonce()).to_vec(),
            hex("b32bb3a583e1340c0a1108d58b1be49781ad8c2f")
        );
        // the mariadb CLI's reply to the MariaDB 10.11 greeting (handshake tests)
        let real_nonce = hex("387c29544c6226367c327d437440232b4d23665a");
        let real = hex("8ce365483202f367e2006c0da10b955f1e7cb0ea");
        assert_eq!(native_scramble(b"secret", &real_nonce).to_vec(), real);
        // a nonce with the trailing NUL of AuthSwitchRequest gives the same
        let mut with_nul = real_nonce.clone();
        with_nul.push(0);
        assert_eq!(native_scramble(b"secret", &with_nul).to_vec(), real);
        assert!(native_auth_response(b"", &real_nonce).is_empty());
        assert_eq!(native_auth_response(b"secret", &real_nonce), real);
    }

    #[test]
    fn native_verify_against_every_credential_form() {
        let n = nonce();
        let resp = native_scramble(b"secret", &n);
        let hash =
            Credential::from_native_hash("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7").unwrap();
        for good in [Credential::plain("secret"), hash] {
            assert!(native_verify(&n, &resp, &good));
            assert!(!native_verify(&n, &native_scramble(b"Secret", &n), &good));
            assert!(!native_verify(&n, &resp[..19], &good));
            assert!(!native_verify(&n, b"", &good));
            let other_nonce: Vec<u8> = (2..=21).collect();
            assert!(!native_verify(&other_nonce, &resp, &good));
        }
        let empty = Credential::plain("");
        assert!(native_verify(&n, b"", &empty));
        assert!(!native_verify(&n, &resp, &empty));
        let sha2 = Credential::Sha2Hash([0; 32]);
        assert!(!native_verify(&n, &resp, &sha2));
    }

    #[test]
    fn sha2_scramble_known_vectors() {
        // python: sha256(pw) XOR sha256(sha256(sha256(pw)) + nonce)
        assert_eq!(
            sha2_scramble(b"secret", &nonce()).to_vec(),
            hex("746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9")
        );
        // the mariadb CLI's reply to the MySQL 8.0.39 greeting (handshake tests)
        let real_nonce = hex("024439523e5307417f14467e1b0b131d1c5c5c25");
        assert_eq!(
            sha2_scramble(b"secret", &real_nonce).to_vec(),
            hex("5c44ba28024fe9e1fdbb2c9c09429f87bb4b5114b2e85f61e820865cf19acfc2")
        );
        assert!(sha2_auth_response(b"", &real_nonce).is_empty());
    }

    #[test]
    fn sha2_fast_path_server_side() {
        let n = nonce();
        let resp = sha2_scramble(b"secret", &n);
        // SELECT sha2(unhex(sha2('secret',256)),256)
        let stored = Credential::from_sha2_hash(
            "3881219d087dd9c634373fd33dfa33a2cb6bfc6c520b64b8bb60ef2ceb534ae7",
        )
        .unwrap();
        for good in [Credential::plain("secret"), stored] {
            assert!(sha2_verify(&n, &resp, &good));
            assert_eq!(sha2_fast_auth(&n, &resp, &good), Sha2FastAuth::Success);
            let wrong = sha2_scramble(b"secreT", &n);
            assert_eq!(sha2_fast_auth(&n, &wrong, &good), Sha2FastAuth::Denied);
            assert_eq!(sha2_fast_auth(&n, &resp[..31], &good), Sha2FastAuth::Denied);
            assert_eq!(sha2_fast_auth(&n, b"", &good), Sha2FastAuth::Denied);
        }
        let empty = Credential::plain("");
        assert_eq!(sha2_fast_auth(&n, b"", &empty), Sha2FastAuth::EmptyPassword);
        assert_eq!(sha2_fast_auth(&n, &resp, &empty), Sha2FastAuth::Denied);
        let native = Credential::plain("secret").native_hash_string().unwrap();
        let native = Credential::from_native_hash(&native).unwrap();
        assert_eq!(
            sha2_fast_auth(&n, &resp, &native),
            Sha2FastAuth::FullAuthRequired
        );
        assert!(Credential::from_sha2_hash("abc").is_err());
    }

    #[test]
    fn sha2_check_password_every_form() {
        let forms = [
            Credential::plain("secret"),
            Credential::from_native_hash("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7").unwrap(),
            Credential::from_sha2_hash(
                "3881219d087dd9c634373fd33dfa33a2cb6bfc6c520b64b8bb60ef2ceb534ae7",
            )
            .unwrap(),
        ];
        for c in &forms {
            assert!(sha2_check_password(b"secret", c), "{c:?}");
            assert!(!sha2_check_password(b"secrets", c), "{c:?}");
            assert!(!sha2_check_password(b"", c), "{c:?}");
        }
        assert!(sha2_check_password(b"", &Credential::plain("")));
    }

    #[test]
    fn credentials_are_not_printed() {
        let s = format!("{:?}", Credential::plain("hunter2"));
        assert!(!s.contains("hunter2"));
        assert!(!format!("{:?}", test_key()).contains("BEGIN"));
    }

    #[test]
    fn server_messages() {
        assert_eq!(
            Sha2ServerMessage::parse(&[3]).unwrap(),
            Sha2ServerMessage::FastAuthSuccess
        );
        assert_eq!(
            Sha2ServerMessage::parse(&[4]).unwrap(),
            Sha2ServerMessage::PerformFullAuthentication
        );
        let pem = test_key().public_pem().as_bytes();
        assert_eq!(
            Sha2ServerMessage::parse(pem).unwrap(),
            Sha2ServerMessage::PublicKey(pem)
        );
        assert!(Sha2ServerMessage::parse(&[]).is_err());
        assert!(Sha2ServerMessage::parse(&[5]).is_err());
        assert!(Sha2ServerMessage::parse(&[3, 3]).is_err());
    }

    #[test]
    fn rsa_round_trip() {
        let key = test_key();
        assert_eq!(key.size(), 128);
        assert!(key.public_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let n = nonce();
        for pw in [&b"secret"[..], b"x", &[b'p'; 85]] {
            let ct = sha2_encrypt_password(pw, &n, key.public_pem().as_bytes()).unwrap();
            assert_eq!(ct.len(), 128);
            assert_eq!(sha2_decrypt_password(key, &ct, &n).unwrap(), pw);
            // the wrong nonce garbles the password (and its NUL)
            let other: Vec<u8> = (2..=21).collect();
            assert_ne!(
                sha2_decrypt_password(key, &ct, &other).ok().as_deref(),
                Some(pw)
            );
            // a flipped bit fails OAEP
            let mut bad = ct.clone();
            bad[10] ^= 1;
            assert!(sha2_decrypt_password(key, &bad, &n).is_err());
        }
        // OAEP-SHA1 with a 1024-bit key fits 128 - 42 = 86 bytes
        assert!(sha2_encrypt_password(&[b'p'; 86], &n, key.public_pem().as_bytes()).is_err());
        // PEM with a trailing NUL/newline, and the PKCS#1 form, are accepted
        let mut pem = key.public_pem().as_bytes().to_vec();
        pem.extend_from_slice(b"\n\0");
        let ct = sha2_encrypt_password(b"secret", &n, &pem).unwrap();
        assert_eq!(sha2_decrypt_password(key, &ct, &n).unwrap(), b"secret");
        assert!(sha2_encrypt_password(b"secret", &n, b"-----BEGIN PUBLIC KEY-----\nxx").is_err());
        assert!(sha2_encrypt_password(b"secret", &n, &[0xff, 0xfe]).is_err());
        assert!(sha2_encrypt_password(b"secret", b"", key.public_pem().as_bytes()).is_err());
    }

    #[test]
    fn rsa_key_from_pem() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        let key = test_key();
        let pkcs8 = key.private.to_pkcs8_pem(LineEnding::LF).unwrap();
        let pkcs1 = key.private.to_pkcs1_pem(LineEnding::LF).unwrap();
        for pem in [pkcs8.as_str(), pkcs1.as_str()] {
            let loaded = RsaKeyPair::from_pem(pem).unwrap();
            assert_eq!(loaded.public_pem(), key.public_pem());
        }
        assert!(RsaKeyPair::from_pem("not a key").is_err());
    }

    #[test]
    fn full_auth_over_plain_connection() {
        let key = test_key();
        let n = nonce();
        let stored = Credential::plain("secret");
        // no key configured: clean refusal
        assert!(matches!(
            full_auth_plain_reply(&[SHA2_REQUEST_PUBLIC_KEY], None, &n),
            FullAuthReply::Refuse(_)
        ));
        // 1. client asks for the key
        let FullAuthReply::SendPublicKey(pem) =
            full_auth_plain_reply(&[SHA2_REQUEST_PUBLIC_KEY], Some(key), &n)
        else {
            panic!("expected the public key");
        };
        // 2. client encrypts with it
        let Sha2ServerMessage::PublicKey(pem) = Sha2ServerMessage::parse(pem.as_bytes()).unwrap()
        else {
            panic!("expected a key");
        };
        let ct = sha2_encrypt_password(b"secret", &n, pem).unwrap();
        // 3. server decrypts and checks
        match full_auth_plain_reply(&ct, Some(key), &n) {
            FullAuthReply::Password(pw) => assert!(sha2_check_password(&pw, &stored)),
            other => panic!("unexpected {other:?}"),
        }
        // a cleartext password on a plain connection is refused
        assert!(matches!(
            full_auth_plain_reply(b"secret\0", Some(key), &n),
            FullAuthReply::Refuse(_)
        ));
        // garbage of the right size is refused
        assert!(matches!(
            full_auth_plain_reply(&[7; 128], Some(key), &n),
            FullAuthReply::Refuse(_)
        ));
        assert!(matches!(
            full_auth_plain_reply(&[], Some(key), &n),
            FullAuthReply::Refuse(_)
        ));
    }

    /// A 1024-bit key and a ciphertext made by OpenSSL (`openssl pkeyutl
    /// -encrypt -pkeyopt rsa_padding_mode:oaep`, SHA-1 as in libmysql) of
    /// `secret\0` XOR nonce 0x01..=0x14.
    const OPENSSL_KEY: &str = r"-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAOmZSfZZl74darqL
ofOABZ89T1MAZpGgGKAWqSvgysUVw48nz1MmiEP/FALaThK3gM1xAtZEin4WcvjY
RNSthBP4u/lDw9jtLTPYo81CgRRSWaetKwdYXtLuIePJCexuZATfbzHr+sA5qLol
rWz4OxtbTn0VX0c7gTMCM0T52DBtAgMBAAECgYAlQFemHGVxYNmLRAcggJLk8O78
anzwzhn/NX3mzGMpiK3130BVnzhtt3imd8+pdm/o0xPDvYxkTQoqmrpnPABqrNne
DzHqmV4lB1tZNA8XVLeNQlG8SLTcp5Er6nl0riYJAhmpHEAWQna3LdA597DTmd3D
0htRADO/473G11ORYQJBAP6e9mY8nInPx8L9WYNetrVEfMk7+LpY8iOrxVWepFIr
OwYkn16hmbJcotXEa4J3a+DpDEw7QfaLCRZHds1HMAUCQQDq3S3BSSuBAq6Z9uF/
+m3JAWzJKR7fDedYV5xKrKGZ47ZrtSVtjG5cEE6PfW2I/4tz/nhbnnhDDpuXkU47
mLNJAkAvl9MCxS2VbOsv/V8v+RI5y7Vvf/A8FMgd9suJ939LhJ0hxtKrQ5WRC1O8
lVxrJJtbjPQpg6IOzWpDadRBBp9pAkBcd1vuPyp7jlzDjSlWw3e5rW/w+tmGo+iz
JTsJQ1IUTkyhtx3XNXS1lk33vEAFseZrcoJcP9XFQNkNIU4VtJbRAkEA62ZHk1lB
dMINyKHsb7u+VRc03VYpfu3PrzPMCtHWNt/kTZ2wfXd0wvAihSeyHhIRUW0CJPqI
dpg6jQ2gSsQJvQ==
-----END PRIVATE KEY-----
";

    #[test]
    fn decrypts_what_openssl_encrypted() {
        let key = RsaKeyPair::from_pem(OPENSSL_KEY).unwrap();
        let ct = hex(
            "c69c6049d3026c2e67a3e565b840ad1785b472fb0c9f8c9e12b708e3bcfaf12e\
             3cbd568e8a15134b5c9c65e564f0120e3ec8aeca9150ce8e5657dd230d089b19\
             56f65669d37e39b39f1930ef78902ad8a80ed6ac83d5a7a57963a3810785b85e\
             353da278a5781615d4f62ae8059270da14688e4db740edc7b9ff632fcf8489cf",
        );
        assert_eq!(
            sha2_decrypt_password(&key, &ct, &nonce()).unwrap(),
            b"secret"
        );
    }
}
