//! Connection-phase decoders: greeting, handshake response, SSL request,
//! auth switch / more data. Decoded values must survive encode + decode.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shardgate_proto::handshake::{
    is_ssl_request, AuthPhasePacket, AuthSwitchRequest, HandshakeResponse41, HandshakeV10, SslRequest,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = HandshakeV10::decode(data) {
        let mut out = Vec::new();
        h.encode(&mut out);
        let again = HandshakeV10::decode(&out).expect("re-decode greeting");
        assert_eq!(h, again);
    }
    if let Ok(r) = HandshakeResponse41::decode(data) {
        let mut out = Vec::new();
        r.encode(&mut out);
        let again = HandshakeResponse41::decode(&out).expect("re-decode response");
        assert_eq!(r, again);
    }
    let _ = is_ssl_request(data);
    let _ = SslRequest::decode(data);
    let _ = AuthPhasePacket::decode(data);
    if let Ok(s) = AuthSwitchRequest::decode(data) {
        let _ = s.scramble();
    }
});
