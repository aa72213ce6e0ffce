//! Key files: ed25519 secret keys on disk, readable by their owner only.

use std::fs;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;
use protocol::PublicKey;
use serde::{Deserialize, Serialize};

/// An ed25519 key pair as stored on disk (hex), with a name saying whose.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyFile {
    /// Whose key: `validator-0`, `governance`, an institution id.
    pub name: String,
    /// The public key.
    pub public_key: PublicKey,
    /// The 32-byte secret seed, hex.
    pub secret_key: String,
}

impl KeyFile {
    /// A fresh random key named `name`.
    pub fn generate(name: &str) -> KeyFile {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        KeyFile::from_signing_key(name, &key)
    }

    /// The key file of an existing key.
    pub fn from_signing_key(name: &str, key: &SigningKey) -> KeyFile {
        KeyFile {
            name: name.to_owned(),
            public_key: PublicKey(key.verifying_key().to_bytes()),
            secret_key: hex::encode(key.to_bytes()),
        }
    }

    /// The signing key; checks it matches the stored public key.
    pub fn signing_key(&self) -> anyhow::Result<SigningKey> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&self.secret_key, &mut seed).map_err(|e| {
            anyhow::anyhow!("key {}: secret_key is not 64 hex digits: {e}", self.name)
        })?;
        let key = SigningKey::from_bytes(&seed);
        if key.verifying_key().to_bytes() != self.public_key.0 {
            anyhow::bail!(
                "key {}: secret key does not match public key {}",
                self.name,
                self.public_key
            );
        }
        Ok(key)
    }

    /// Writes the file with mode 0600 (created so, never world-readable).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot create key file {}: {e}", path.display()))?;
        file.write_all(json.as_bytes())?;
        file.write_all(b"\n")?;
        Ok(())
    }

    /// Reads a key file.
    pub fn read(path: &Path) -> anyhow::Result<KeyFile> {
        let text = fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read key file {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("key file {}: {e}", path.display()))
    }
}
