//! The mesh's request-response messages as a serving relayer receives them
//! (JSON inside a signed envelope): decoded, described for the log, and
//! checked to round-trip.
#![no_main]
use credit_fuzz::write_seeds;
use libfuzzer_sys::fuzz_target;
use relayer::mesh::wire::{self, MeshRequest};

fn seeds() -> Vec<Vec<u8>> {
    [
        r#"{"kind":"status","chain":"guangdong"}"#,
        r#"{"kind":"light_block","chain":"guangdong","height":5}"#,
        r#"{"kind":"states","chain":"guangdong","keys":["7061636b657473"]}"#,
        r#"{"kind":"packet_events","chain":"guangdong","since":0}"#,
        r#"{"kind":"submit","chain":"guangdong","bodies":[]}"#,
        r#"{"kind":"registry_snapshot","from":0}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Ok(request) = wire::decode::<MeshRequest>(data, "mesh request") else {
        return;
    };
    let _ = request.what();
    let _ = request.chain();
    let again: MeshRequest = wire::decode(&wire::encode(&request), "mesh request")
        .unwrap_or_else(|e| panic!("a decoded request does not round-trip: {e}"));
    assert_eq!(again, request);
});
