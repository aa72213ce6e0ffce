//! Mesh envelopes, as a peer sends them: length-prefixed frames of the
//! request-response protocol (mode 1), or one encoded envelope (mode 0, a
//! gossip message's data), decoded strictly and then opened (kind, sender,
//! strict signature) as every received message is.
#![no_main]
use credit_fuzz::{assert_canonical_borsh, key, write_seeds};
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::request_response::Codec;
use network::codec::{FrameCodec, PACKET_PROTOCOL};
use network::{Envelope, Kind, PeerId, Topic};

fn peer() -> PeerId {
    network::identity::keypair_of(&key(5))
        .unwrap_or_else(|e| panic!("{e}"))
        .public()
        .to_peer_id()
}

fn seeds() -> Vec<Vec<u8>> {
    let request = Envelope::seal(
        &key(5),
        Kind::Request,
        br#"{"kind":"status","chain":"guangdong"}"#.to_vec(),
    );
    let gossip = Envelope::seal(
        &key(5),
        Kind::Gossip {
            topic: "light-blocks/guangdong".into(),
        },
        vec![1, 2, 3],
    );
    let response = Envelope::seal(
        &key(5),
        Kind::Response {
            request: Envelope::request_hash(&request.encode()),
        },
        b"{}".to_vec(),
    );
    let mut out = Vec::new();
    for env in [request, gossip, response] {
        let bytes = env.encode();
        let mut framed = vec![1];
        framed.extend((bytes.len() as u32).to_be_bytes());
        framed.extend(&bytes);
        out.push(framed);
        out.push([&[0u8][..], &bytes].concat());
    }
    out
}

fn open(bytes: &[u8], peer: &PeerId) {
    let Ok(env) = Envelope::decode(bytes, peer) else {
        return;
    };
    assert_canonical_borsh(&env, bytes);
    if let Kind::Gossip { topic } = &env.kind {
        let _ = topic.parse::<Topic>();
    }
    let _ = env.open(peer, &env.kind.clone());
    let _ = env.open(peer, &Kind::Request);
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let peer = peer();
    if mode % 2 == 0 {
        open(rest, &peer);
        return;
    }
    // Frames as the request-response codec reads them from a stream.
    let mut codec = FrameCodec::new(64 * 1024);
    let mut stream = Cursor::new(rest.to_vec());
    for _ in 0..4 {
        let frame = futures::executor::block_on(codec.read_request(&PACKET_PROTOCOL, &mut stream));
        match frame {
            Ok(frame) => open(&frame, &peer),
            Err(_) => break,
        }
    }
});
