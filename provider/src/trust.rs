//! What the agent trusts of its home chain, and how that trust is extended.
//!
//! The adapter only checks an endpoint's answer against itself: a light
//! block signed by more than 2/3 of *its own* validator set. An endpoint
//! that fabricates a whole chain, validators included, passes that check
//! (and could then name its own key in a pending query). So the agent
//! trusts its home chain from its operator's anchor only ([`HomeTrust`]: a
//! height and a header hash, never taken from an endpoint): the block an
//! endpoint serves at the anchor height is accepted only if it hashes to
//! the anchor; newer blocks are verified from there by a light client
//! (`light_clients::credit_chain::LightClient`: sequentially, or by skipping
//! when more than the trust threshold of a trusted validator set signed,
//! bisecting through fetched blocks when it did not), with the local
//! [`Clock`] as "now", never a header's own time.
//!
//! A state value is acted on only with its Merkle proof checked here
//! against the state root of a block so verified ([`VerifiedStates`]);
//! anything else is refused with [`Error::Untrusted`], naming the chain,
//! the height and why.
//!
//! The light client lives in memory: after a restart it is anchored again
//! from the operator's anchor and skips to the latest block (at most
//! [`MAX_BISECTION_STEPS`] fetched blocks per verification). The anchor
//! must therefore stay within the trusting period; an older one is refused
//! by name, and the operator gives a fresh one.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use adapters::{ChainAdapter, ProvenStates};
use light_clients::credit_chain::{
    ClientError, LightClient, Options, UpdateOutcome, VerificationError,
};
use protocol::{ChainId, Hash, Height, LightBlock, Time, state_keys};

use crate::Error;

/// The most blocks one verification fetches to bisect (each halves the
/// gap, so 64 cover any height): bounds the work a hostile endpoint can
/// cause.
pub const MAX_BISECTION_STEPS: usize = 64;

/// Where the agent's trust in its home chain starts, as its operator
/// configures it: the block at `anchor_height` hashes to `anchor_hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HomeTrust {
    /// Height of the trusted block.
    pub anchor_height: Height,
    /// Its header hash.
    pub anchor_hash: Hash,
    /// The light client's parameters (trust threshold, trusting period,
    /// clock drift).
    pub options: Options,
}

impl HomeTrust {
    /// Trust from the block at `anchor_height` hashing to `anchor_hash`,
    /// with the default options (1/3 trust threshold, 14 days trusting
    /// period, 10 s clock drift).
    pub fn new(anchor_height: Height, anchor_hash: Hash) -> HomeTrust {
        HomeTrust {
            anchor_height,
            anchor_hash,
            options: Options::default(),
        }
    }

    /// The same anchor with other light-client options.
    pub fn with_options(self, options: Options) -> HomeTrust {
        HomeTrust { options, ..self }
    }

    /// An anchor from an operator's text: a block height (a positive
    /// integer) and a header hash (64 hex digits).
    pub fn parse(height: &str, hash: &str) -> Result<HomeTrust, Error> {
        let bad = |what: &str, value: &str| Error::TrustAnchor(format!("{what} {value:?}"));
        let anchor_height = height
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|h| Height::new(h).ok())
            .ok_or_else(|| bad("height is not a block height (a positive integer):", height))?;
        let text = hash.trim();
        let anchor_hash = Some(text)
            .filter(|t| t.len() == 64)
            .and_then(|t| Hash::from_str(t).ok())
            .ok_or_else(|| bad("hash is not a header hash (64 hex digits):", hash))?;
        Ok(HomeTrust::new(anchor_height, anchor_hash))
    }
}

impl fmt::Display for HomeTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.anchor_hash, self.anchor_height)
    }
}

/// The local clock the light client reads "now" from.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Time;
}

/// The operating system's clock (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Time::from_unix_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// Values read from the home chain at one height, each checked against the
/// state root of a block the light client verified.
#[derive(Clone, Debug)]
pub struct VerifiedStates {
    /// The verified block's height.
    pub height: Height,
    /// Its time (the chain's clock, which its deadlines are measured on).
    pub time: Time,
    /// One per key asked, in order: the value, `None` when proven absent.
    pub values: Vec<Option<Vec<u8>>>,
}

/// The agent's light client of its home chain.
pub(crate) struct HomeClient {
    chain: ChainId,
    trust: HomeTrust,
    clock: Arc<dyn Clock>,
    /// Anchored on first use (the anchor block is read from an endpoint
    /// and checked against the anchor's hash).
    client: tokio::sync::Mutex<Option<LightClient>>,
}

impl HomeClient {
    pub(crate) fn new(chain: ChainId, trust: HomeTrust, clock: Arc<dyn Clock>) -> HomeClient {
        HomeClient {
            chain,
            trust,
            clock,
            client: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    pub(crate) fn trust(&self) -> &HomeTrust {
        &self.trust
    }

    /// Logs and returns a refusal; `endpoint_fault`: the endpoint served
    /// something false (not our own expired or frozen trust), so the
    /// adapter is told not to serve `block` again.
    fn refuse(
        &self,
        adapter: &dyn ChainAdapter,
        block: Option<&LightBlock>,
        height: Height,
        reason: String,
        endpoint_fault: bool,
    ) -> Error {
        tracing::error!(
            chain = %self.chain,
            %height,
            %reason,
            anchor = %self.trust,
            "light block refused: not verified from the trust anchor"
        );
        if let (true, Some(block)) = (endpoint_fault, block) {
            adapter.refute_light_block(block, &reason);
        }
        Error::Untrusted {
            chain: self.chain.clone(),
            height,
            reason,
        }
    }

    fn adapter_error(&self, source: adapters::AdapterError) -> Error {
        Error::Adapter {
            chain: self.chain.clone(),
            source: Box::new(source),
        }
    }

    /// The light client anchored at the operator's anchor: the block an
    /// endpoint serves there must hash to it.
    async fn anchored(&self, adapter: &dyn ChainAdapter) -> Result<LightClient, Error> {
        let height = self.trust.anchor_height;
        let block = adapter
            .light_block(height)
            .await
            .map_err(|e| self.adapter_error(e))?;
        let hash = block.header().hash();
        if block.height() != height || hash != self.trust.anchor_hash {
            return Err(self.refuse(
                adapter,
                Some(&block),
                height,
                format!(
                    "the block served at the anchor height (height {}, hash {hash}) is not the \
                     anchor {}",
                    block.height(),
                    self.trust.anchor_hash
                ),
                true,
            ));
        }
        LightClient::new(block, self.trust.options, self.clock.now()).map_err(|e| {
            let reason = format!(
                "the anchor block does not start a light client: {e} (an anchor older than the \
                 trusting period must be replaced by a recent one)"
            );
            self.refuse(adapter, None, height, reason, false)
        })
    }

    /// Verifies `block` from the anchor (bisecting through blocks fetched
    /// from `adapter` when skipping lacks trust); a verified block stays
    /// trusted.
    pub(crate) async fn verify(
        &self,
        adapter: &dyn ChainAdapter,
        block: &LightBlock,
    ) -> Result<(), Error> {
        let height = block.height();
        if block.header().chain_id != self.chain {
            return Err(self.refuse(
                adapter,
                Some(block),
                height,
                format!("the block is of chain {}", block.header().chain_id),
                true,
            ));
        }
        let mut guard = self.client.lock().await;
        if guard.is_none() {
            *guard = Some(self.anchored(adapter).await?);
        }
        let Some(client) = guard.as_mut() else {
            return Err(self.refuse(adapter, None, height, "no light client".into(), false));
        };
        if height < self.trust.anchor_height {
            return Err(self.refuse(
                adapter,
                None,
                height,
                format!(
                    "below the trust anchor (height {})",
                    self.trust.anchor_height
                ),
                false,
            ));
        }
        let mut pending = vec![block.clone()];
        let mut fetched = 0usize;
        while let Some(next) = pending.last().cloned() {
            let at = next.height();
            // The local clock: never a time the block itself chose.
            match client.update(next.clone(), self.clock.now()) {
                Ok(UpdateOutcome::Verified { .. } | UpdateOutcome::AlreadyTrusted) => {
                    pending.pop();
                }
                Ok(UpdateOutcome::NotEnoughTrust(tally)) => {
                    let low = client
                        .trusted_below(at)
                        .map(|b| b.height().value())
                        .unwrap_or(self.trust.anchor_height.value());
                    let mid = low + (at.value() - low) / 2;
                    if mid <= low || fetched >= MAX_BISECTION_STEPS {
                        let reason = format!(
                            "block {at} is signed by {}/{} of the trusted validators' power, \
                             and no chain of blocks from the trusted block {low} leads to it",
                            tally.tallied, tally.total
                        );
                        return Err(self.refuse(adapter, Some(&next), height, reason, true));
                    }
                    let mid = Height::new(mid)
                        .map_err(|e| self.refuse(adapter, None, height, e.to_string(), false))?;
                    fetched += 1;
                    pending.push(
                        adapter
                            .light_block(mid)
                            .await
                            .map_err(|e| self.adapter_error(e))?,
                    );
                }
                Ok(UpdateOutcome::Misbehaviour(evidence)) => {
                    let reason = format!(
                        "block {at} proves {} misbehaviour of the chain's validators: the \
                         light client is frozen until the operator gives a new anchor",
                        evidence.kind()
                    );
                    return Err(self.refuse(adapter, None, height, reason, false));
                }
                Err(e) => {
                    let ours = matches!(
                        e,
                        ClientError::Frozen { .. }
                            | ClientError::Verification(
                                VerificationError::TrustedHeaderExpired { .. }
                            )
                    );
                    let reason = format!("block {at}: {e}");
                    return Err(self.refuse(adapter, Some(&next), height, reason, !ours));
                }
            }
        }
        Ok(())
    }

    /// The values under `keys` at the chain's latest height, read through
    /// `adapter` and each checked against the state root of a block the
    /// light client verified.
    pub(crate) async fn states(
        &self,
        adapter: &dyn ChainAdapter,
        keys: &[Vec<u8>],
    ) -> Result<VerifiedStates, Error> {
        let proven: ProvenStates = adapter
            .states(keys)
            .await
            .map_err(|e| self.adapter_error(e))?;
        let block = &proven.light_block;
        let height = block.height();
        if proven.height != height || proven.entries.len() != keys.len() {
            return Err(self.refuse(
                adapter,
                None,
                height,
                format!(
                    "the answer is not the one asked: {} values at height {} for {} keys",
                    proven.entries.len(),
                    proven.height,
                    keys.len()
                ),
                false,
            ));
        }
        self.verify(adapter, block).await?;
        let root = block.header().state_root;
        let mut values = Vec::with_capacity(keys.len());
        for (key, entry) in keys.iter().zip(proven.entries) {
            let checked = if entry.key == *key {
                entry
                    .proof
                    .verify(&root, key, entry.value.as_deref())
                    .map_err(|e| e.to_string())
            } else {
                Err(format!("answered for {}", state_keys::show(&entry.key)))
            };
            if let Err(why) = checked {
                let reason = format!(
                    "the value under {} does not verify against the state root of the \
                     verified block: {why}",
                    state_keys::show(key)
                );
                return Err(self.refuse(adapter, None, height, reason, false));
            }
            values.push(entry.value);
        }
        Ok(VerifiedStates {
            height,
            time: block.header().time,
            values,
        })
    }
}
