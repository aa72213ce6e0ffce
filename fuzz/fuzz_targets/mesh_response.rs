//! The mesh's responses as an asking relayer receives them: decoded, then
//! checked as the asker checks them — a light block by the light client
//! trusting the fixture chain, proven states by their Merkle proofs against
//! the served block's state root.
#![no_main]
use credit_fuzz::{light, state, write_seeds};
use libfuzzer_sys::fuzz_target;
use relayer::mesh::wire::{self, HexBytes, MeshResponse, WireEntry};

/// At most this many proofs of one answer are checked.
const CHECKED_ENTRIES: usize = 64;

fn seeds() -> Vec<Vec<u8>> {
    let block = light().blocks[0].clone();
    let entries = state()
        .proven
        .iter()
        .map(|(key, value, proof)| WireEntry {
            key: HexBytes(key.clone()),
            value: value.clone().map(HexBytes),
            proof: proof.clone(),
        })
        .collect();
    vec![
        wire::encode(&MeshResponse::LightBlock {
            block: block.clone(),
        }),
        wire::encode(&MeshResponse::States {
            light_block: block,
            entries,
        }),
        wire::encode(&MeshResponse::Refused {
            reason: "no".into(),
        }),
        br#"{"kind":"submitted","outcomes":[{"Err":"x"}]}"#.to_vec(),
    ]
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Ok(response) = wire::decode::<MeshResponse>(data, "mesh response") else {
        return;
    };
    let fixture = light();
    match &response {
        MeshResponse::LightBlock { block } => {
            let _ = fixture.client.clone().update(block.clone(), fixture.now);
        }
        MeshResponse::States { light_block, entries } => {
            let _ = fixture.client.clone().update(light_block.clone(), fixture.now);
            let root = light_block.header().state_root;
            for entry in entries.iter().take(CHECKED_ENTRIES) {
                let _ = entry.proof.verify(&root, &entry.key.0, entry.value.as_ref().map(|v| &v.0[..]));
                // The same proof against the fixture's root reaches deeper
                // into verification than a random root would.
                let _ = entry.proof.verify(&state().root, &entry.key.0, entry.value.as_ref().map(|v| &v.0[..]));
            }
        }
        _ => {}
    }
    let again: MeshResponse = wire::decode(&wire::encode(&response), "mesh response")
        .unwrap_or_else(|e| panic!("a decoded response does not round-trip: {e}"));
    assert_eq!(again, response);
});
