//! Homomorphic ciphertexts, keys and contribution proofs as a chain or an
//! institution receives them (bytes and JSON), then used: a proof verified
//! against the fixture key and a ciphertext (the fixture's or the input's),
//! a ciphertext added and decrypted with a small table.
#![no_main]
use std::sync::OnceLock;

use credit_fuzz::{homomorphic, write_seeds};
use homomorphic::{
    Ciphertext, ContributionProof, DiscreteLogTable, FEN_CIPHERTEXT_LEN, FenCiphertext, PublicKey,
};
use libfuzzer_sys::fuzz_target;

/// A small table: decryption of an out-of-range total must fail cleanly.
fn table() -> &'static DiscreteLogTable {
    static TABLE: OnceLock<DiscreteLogTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        DiscreteLogTable::with_params(8, 1 << 16).unwrap_or_else(|e| panic!("the table: {e}"))
    })
}

fn seeds() -> Vec<Vec<u8>> {
    let f = homomorphic();
    let tagged = |mode: u8, bytes: &[u8]| [&[mode][..], bytes].concat();
    vec![
        tagged(0, &f.ciphertext.yuan().to_bytes()),
        tagged(1, &f.ciphertext.to_bytes()),
        tagged(2, &f.keys.public().to_bytes()),
        tagged(3, &f.proof.to_bytes()),
        tagged(
            4,
            &[&f.ciphertext.to_bytes()[..], &f.proof.to_bytes()].concat(),
        ),
        tagged(5, &serde_json::to_vec(&f.ciphertext).unwrap_or_default()),
        tagged(6, &serde_json::to_vec(f.keys.public()).unwrap_or_default()),
    ]
}

fuzz_target!(init: write_seeds(&seeds()), |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = homomorphic();
    match mode % 7 {
        0 => {
            if let Ok(c) = Ciphertext::from_bytes(rest) {
                assert_eq!(&c.to_bytes()[..], rest);
                let _ = f.keys.secret().decrypt(&c.add(f.ciphertext.yuan()), table());
            }
        }
        1 => {
            if let Ok(c) = FenCiphertext::from_bytes(rest) {
                assert_eq!(&c.to_bytes()[..], rest);
                let _ = f.keys.secret().decrypt_fen(&c, table());
            }
        }
        2 => {
            if let Ok(key) = PublicKey::from_bytes(rest) {
                assert_eq!(&key.to_bytes()[..], rest);
                let _ = f.proof.verify(&key, &f.ciphertext, f.context);
            }
        }
        3 => {
            if let Ok(proof) = ContributionProof::from_bytes(rest) {
                assert_eq!(proof.to_bytes(), rest);
                let _ = proof.verify(f.keys.public(), &f.ciphertext, f.context);
            }
        }
        4 => {
            let Some((c, p)) = rest.split_at_checked(FEN_CIPHERTEXT_LEN) else {
                return;
            };
            if let (Ok(c), Ok(proof)) = (FenCiphertext::from_bytes(c), ContributionProof::from_bytes(p)) {
                let _ = proof.verify(f.keys.public(), &c, f.context);
            }
        }
        5 => {
            let _ = serde_json::from_slice::<FenCiphertext>(rest);
            let _ = serde_json::from_slice::<Ciphertext>(rest);
        }
        _ => {
            let _ = serde_json::from_slice::<PublicKey>(rest);
        }
    }
});
