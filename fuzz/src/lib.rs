//! Fixed fixtures shared by the fuzz targets: a trusted light client, a
//! registry, a credit chain's genesis state, a homomorphic key, a state
//! tree. Each is built once per process and never changes, so every input
//! is judged against the same trust and a crash replays exactly.
//!
//! Each target also writes its seed inputs (valid encodings of what it
//! decodes) into `$CREDIT_FUZZ_SEEDS` when that is set (see `run.sh`), so
//! the fuzzer starts from bytes that reach the verification code.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use credit_chain::app::{App, BlockContext, GenesisState};
use ed25519_dalek::SigningKey;
use homomorphic::{ContributionProof, FenCiphertext, KeyPair};
use light_clients::credit_chain::signing::TestChain;
use light_clients::credit_chain::{LightClient, Options};
use light_clients::merkle::{StateProof, StateTree};
use protocol::{Canonical, ChainId, Hash, Height, LightBlock, PublicKey, Time};
use rand::SeedableRng;
use relayer::registry::{Registry, RegistryGenesis};

/// The deterministic signing key number `n` (never a real key).
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// The protocol public key of [`key`]`(n)`.
pub fn public(n: u8) -> PublicKey {
    PublicKey(key(n).verifying_key().to_bytes())
}

/// The libp2p peer id of [`key`]`(n)`, as the registry names relayers.
pub fn peer_id(n: u8) -> String {
    network::identity::keypair_of(&key(n))
        .unwrap_or_else(|e| panic!("fixture key {n}: {e}"))
        .public()
        .to_peer_id()
        .to_string()
}

/// Writes `seeds` as files `seed-0`, `seed-1`, ... into
/// `$CREDIT_FUZZ_SEEDS`, when set. Called from a target's `init`.
pub fn write_seeds(seeds: &[Vec<u8>]) {
    let Some(dir) = std::env::var_os("CREDIT_FUZZ_SEEDS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    for (i, seed) in seeds.iter().enumerate() {
        let _ = std::fs::write(dir.join(format!("seed-{i}")), seed);
    }
}

/// A light client of chain `guangdong` trusting its block 1, the local
/// clock fixed at `now`, and blocks it would accept (for seeds).
pub struct LightFixture {
    /// The trusting client (clone it per input: an update changes it).
    pub client: LightClient,
    /// The fixed local time of every verification.
    pub now: Time,
    /// Genuine blocks: the next one and a skip ahead.
    pub blocks: Vec<LightBlock>,
}

/// The shared [`LightFixture`].
pub fn light() -> &'static LightFixture {
    static FIXTURE: OnceLock<LightFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut chain = TestChain::new("guangdong", 4);
        let anchor = chain.next_block();
        let next = chain.next_block();
        let ahead = chain.skip(8);
        let now = Time::from_unix_nanos(ahead.header().time.unix_nanos() + 1_000_000_000);
        let client = LightClient::new(anchor, Options::default(), now)
            .unwrap_or_else(|e| panic!("the fixture's anchor is refused: {e}"));
        LightFixture {
            client,
            now,
            blocks: vec![next, ahead],
        }
    })
}

/// A network registry with three governors (keys 1, 2, 3; two must
/// approve) and chain `guangdong` registered at genesis (operator key 9).
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let anchor = light().client.latest();
        let genesis = RegistryGenesis {
            governors: vec![public(1), public(2), public(3)],
            threshold: 2,
            chains: vec![relayer::registry::GenesisChain {
                chain_id: chain_id("guangdong"),
                chain_type: protocol::ChainType::CreditChain,
                trust_anchor: protocol::TrustAnchor {
                    height: anchor.height(),
                    header_hash: anchor.header().hash(),
                    next_validators: anchor.next_validators.clone(),
                },
                operator_key: public(9),
                relayer_peer_ids: vec![peer_id(9)],
            }],
            admitted_peers: Vec::new(),
        };
        Registry::new(&genesis).unwrap_or_else(|e| panic!("the fixture's registry: {e}"))
    })
}

/// A chain id the fixtures use.
pub fn chain_id(name: &str) -> ChainId {
    name.parse()
        .unwrap_or_else(|e| panic!("fixture chain id {name}: {e}"))
}

/// Chain `shaanxi` after genesis: governance key 1, institution `bank-a`
/// (key 2) with a balance, and the context of its block 2.
pub struct ChainFixture {
    /// The state (clone it to deliver a transaction).
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The block being executed.
    pub context: BlockContext,
}

/// The shared [`ChainFixture`].
pub fn chain() -> &'static ChainFixture {
    static FIXTURE: OnceLock<ChainFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let json = format!(
            r#"{{
              "governance_keys": ["{}"],
              "institutions": [{{ "id": "bank-a", "name": "Bank A", "roles": ["bank"], "key": "{}" }}],
              "balances": [{{ "account": "bank-a", "amount": 1000000 }}]
            }}"#,
            hex::encode(public(1).0),
            hex::encode(public(2).0),
        );
        let genesis: GenesisState = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("the fixture's genesis: {e}"));
        let mut state = BTreeMap::new();
        App::init_genesis(&mut state, &genesis)
            .unwrap_or_else(|e| panic!("the fixture's genesis state: {e}"));
        let context = BlockContext {
            chain_id: chain_id("shaanxi"),
            height: Height::new(2).unwrap_or_else(|e| panic!("{e}")),
            time: Time::from_unix_nanos(1_767_225_600_000_000_000),
        };
        ChainFixture { state, context }
    })
}

/// A homomorphic key pair, a contribution of 1234.56 yuan encrypted under
/// it, its proof and the proof's context.
pub struct HomomorphicFixture {
    /// The querying institution's keys.
    pub keys: KeyPair,
    /// The contribution.
    pub ciphertext: FenCiphertext,
    /// Its range proof.
    pub proof: ContributionProof,
    /// What the proof is bound to.
    pub context: &'static [u8],
}

/// The shared [`HomomorphicFixture`].
pub fn homomorphic() -> &'static HomomorphicFixture {
    static FIXTURE: OnceLock<HomomorphicFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let keys = KeyPair::generate(&mut rng);
        let context: &'static [u8] = b"aggregation 1 / bank-a";
        let (ciphertext, proof) = keys
            .public()
            .encrypt_contribution(123_456, context, &mut rng)
            .unwrap_or_else(|e| panic!("the fixture's contribution: {e}"));
        HomomorphicFixture {
            keys,
            ciphertext,
            proof,
            context,
        }
    })
}

/// A state tree of a few packet commitments, its root, and one present
/// and one absent key with their proofs.
pub struct StateFixture {
    /// The trusted root.
    pub root: Hash,
    /// `(key, value, proof)`: present keys have `Some(value)`.
    pub proven: Vec<(Vec<u8>, Option<Vec<u8>>, StateProof)>,
}

/// The shared [`StateFixture`].
pub fn state() -> &'static StateFixture {
    static FIXTURE: OnceLock<StateFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (1..=16u32)
            .map(|i| {
                (
                    format!("packets/guangdong/{i}").into_bytes(),
                    i.to_le_bytes().to_vec(),
                )
            })
            .collect();
        let tree = StateTree::from_entries(entries.clone());
        let present = entries[3].clone();
        let absent = b"packets/guangdong/99".to_vec();
        StateFixture {
            root: tree.root(),
            proven: vec![
                (present.0.clone(), Some(present.1), tree.prove(&present.0)),
                (absent.clone(), None, tree.prove(&absent)),
            ],
        }
    })
}

/// Asserts the canonical encoding's promise (`protocol::encoding`): what
/// decodes re-encodes to exactly the same bytes.
pub fn assert_canonical<T: protocol::Canonical>(value: &T, bytes: &[u8]) {
    assert_eq!(
        value.to_canonical_bytes(),
        bytes,
        "{} decoded from bytes it does not re-encode to",
        T::TYPE_NAME
    );
}

/// [`assert_canonical`] for a borsh type outside `protocol` (an envelope).
pub fn assert_canonical_borsh<T: borsh::BorshSerialize>(value: &T, bytes: &[u8]) {
    assert_eq!(
        borsh::to_vec(value).unwrap_or_default(),
        bytes,
        "decoded from bytes it does not re-encode to"
    );
}

/// Genuine registry messages for seeds: a freeze of `guangdong` proposed
/// by governor 1, a registration of `beijing` by its operator (key 10),
/// and governors 2 and 3 approving both.
pub fn registry_messages() -> (Vec<protocol::SignedProposal>, Vec<protocol::Approval>) {
    use relayer::registry::signing::{sign_approval, sign_proposal, sign_registration};
    let freeze = sign_proposal(
        protocol::Proposal::Freeze {
            chain_id: chain_id("guangdong"),
            reason: "fuzzing".into(),
        },
        &key(1),
    );
    let anchor = light().client.latest();
    let mut registration = protocol::ChainRegistration {
        chain_id: chain_id("beijing"),
        chain_type: protocol::ChainType::CreditChain,
        trust_anchor: protocol::TrustAnchor {
            height: anchor.height(),
            header_hash: anchor.header().hash(),
            next_validators: anchor.next_validators.clone(),
        },
        operator_key: public(10),
        relayer_peer_ids: vec![peer_id(10)],
        operator_signature: protocol::Signature([0; 64]),
    };
    sign_registration(&mut registration, &key(10));
    let register = sign_proposal(protocol::Proposal::Register(registration), &key(10));
    let approvals = [&freeze, &register]
        .iter()
        .flat_map(|p| {
            [
                sign_approval(p.id(), &key(2)),
                sign_approval(p.id(), &key(3)),
            ]
        })
        .collect();
    (vec![freeze, register], approvals)
}

/// The registry's "now" (unix seconds) for every fuzz input: fixed, so a
/// run is deterministic.
pub const FIXED_NOW_SECS: u64 = 1_800_000_000;

/// Puts a proposal's canonical bytes through the registry's checks
/// (signatures, roles, whether it applies), as gossip and snapshots do.
pub fn submit_proposal(registry: &mut Registry, bytes: &[u8]) {
    if let Ok(proposal) = protocol::SignedProposal::from_canonical_bytes(bytes) {
        assert_canonical(&proposal, bytes);
        let _ = registry.submit(proposal, FIXED_NOW_SECS);
    }
}

/// Puts an approval's canonical bytes through the registry's checks.
pub fn submit_approval(registry: &mut Registry, bytes: &[u8]) {
    if let Ok(approval) = protocol::Approval::from_canonical_bytes(bytes) {
        assert_canonical(&approval, bytes);
        let _ = registry.approve(approval);
    }
}
