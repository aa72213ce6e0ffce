//! Merkle state proofs as an endpoint serves them: the borsh answer to a
//! batch of keys (mode 0: `(height, [(key, value, proof)])`), one proof in
//! JSON (mode 1) or borsh (mode 2); each verified against the fixture
//! tree's trusted root.
#![no_main]
use credit_fuzz::{state, write_seeds};
use libfuzzer_sys::fuzz_target;
use light_clients::merkle::StateProof;
use protocol::Height;

/// The adapter's binary answer to `POST /proofs`.
type BinaryProofs = (Height, Vec<(Vec<u8>, Option<Vec<u8>>, StateProof)>);

/// At most this many proofs of one answer are checked.
const CHECKED: usize = 64;

fn seeds() -> Vec<Vec<u8>> {
    let f = state();
    let batch: BinaryProofs = (Height::GENESIS, f.proven.clone());
    let mut out = vec![[&[0u8][..], &borsh::to_vec(&batch).unwrap_or_default()].concat()];
    for (_, _, proof) in &f.proven {
        out.push([&[1u8][..], &serde_json::to_vec(proof).unwrap_or_default()].concat());
        out.push([&[2u8][..], &borsh::to_vec(proof).unwrap_or_default()].concat());
    }
    out
}

/// Checks `proof` for each fixture key, present and absent.
fn verify_for_fixture_keys(proof: &StateProof) {
    let f = state();
    for (key, value, _) in &f.proven {
        let _ = proof.verify(&f.root, key, value.as_deref());
    }
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let root = state().root;
    match mode % 3 {
        0 => {
            if let Ok((_, entries)) = borsh::from_slice::<BinaryProofs>(rest) {
                for (key, value, proof) in entries.iter().take(CHECKED) {
                    let _ = proof.verify(&root, key, value.as_deref());
                }
            }
        }
        1 => {
            if let Ok(proof) = serde_json::from_slice::<StateProof>(rest) {
                verify_for_fixture_keys(&proof);
            }
        }
        _ => {
            if let Ok(proof) = borsh::from_slice::<StateProof>(rest) {
                verify_for_fixture_keys(&proof);
            }
        }
    }
});
