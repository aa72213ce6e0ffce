//! The provider's signing key and how its transactions are signed.
//!
//! Key files are the credit chain's (`HOME/keys/institutions/NAME.json`):
//! JSON `{"name", "public_key" (hex), "secret_key" (hex 32-byte seed)}`.
//! Only reading them is needed here, so the small format is parsed here
//! rather than depending on the chain's crate.

use std::path::Path;

use ed25519_dalek::{Signer as _, SigningKey};
use protocol::tx::{SignedTransaction, Transaction, TxBody};
use protocol::{ChainId, PublicKey, Signature};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::Error;

/// The most bytes a key file may have (a real one is about 200).
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// A key file as the credit chain writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    name: String,
    public_key: PublicKey,
    secret_key: String,
}

/// Reads the ed25519 key in the key file at `path`, checking that its
/// secret matches its public key.
pub fn read_key_file(path: &Path) -> Result<SigningKey, Error> {
    let fail = |reason: String| Error::KeyFile {
        path: path.display().to_string(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if size > MAX_KEY_FILE_BYTES {
        return Err(fail(format!("{size} bytes, at most {MAX_KEY_FILE_BYTES}")));
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?);
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(&file.secret_key, &mut *seed).map_err(|e| {
        fail(format!(
            "key {}: secret_key is not 64 hex digits: {e}",
            file.name
        ))
    })?;
    let key = SigningKey::from_bytes(&seed);
    if key.verifying_key().to_bytes() != file.public_key.0 {
        return Err(fail(format!(
            "key {}: the secret key does not match public key {}",
            file.name, file.public_key
        )));
    }
    Ok(key)
}

/// The protocol's form of `key`'s public half.
pub fn public_key(key: &SigningKey) -> PublicKey {
    PublicKey(key.verifying_key().to_bytes())
}

/// `body` as a transaction of `key` on `chain_id` with `nonce`, signed
/// over [`Transaction::sign_bytes`].
pub fn sign_transaction(
    key: &SigningKey,
    chain_id: ChainId,
    nonce: u64,
    body: TxBody,
) -> SignedTransaction {
    let tx = Transaction {
        chain_id,
        sender: public_key(key),
        nonce,
        body,
    };
    let signature = Signature(key.sign(&tx.sign_bytes()).to_bytes());
    SignedTransaction { tx, signature }
}
