//! I/O to chains: one trait, [`ChainAdapter`], and one implementation per
//! chain type ([`CreditChainAdapter`] for the reference credit chain).
//!
//! An adapter talks to several RPC endpoints of one chain, with timeouts,
//! retries with exponential backoff and failover. It checks every answer
//! against itself before returning it ([`self_check`]): a light block must be
//! for the adapter's chain and the asked height, its validator sets must hash
//! to the header's fields, its commit must sign the header with valid
//! signatures of more than 2/3 of its own validator set; a state value must
//! come with a Merkle proof against the state root of such a light block. An
//! endpoint that serves something that does not verify is *faulty*: the
//! failure is logged, counted in [`EndpointStats`], the endpoint is put aside
//! for a while, and nothing it said is returned.
//!
//! What this crate must never do: make anything trusted. Self-verification
//! only weeds out broken and sloppy endpoints; a chain's data is trusted
//! only once the relay engine's light client has verified the light block
//! against its trusted state. Verification itself lives in `light-clients`;
//! this crate only composes its rules.
//!
//! ```no_run
//! use adapters::{ChainAdapter, CreditChainAdapter, RpcOptions};
//! use tokio_stream::StreamExt;
//!
//! # async fn run() -> Result<(), adapters::AdapterError> {
//! let chain = CreditChainAdapter::new(
//!     "shaanxi".parse().expect("valid chain id"),
//!     vec!["http://127.0.0.1:26657".into(), "http://10.0.0.2:26657".into()],
//!     RpcOptions::default(),
//! )?;
//! let status = chain.status().await?;
//! let block = chain.light_block(status.latest_height).await?; // self-verified
//! let proven = chain.state(b"institutions/bank-a").await?;
//! assert_eq!(proven.light_block.height(), proven.height);
//!
//! let mut heights = chain.block_stream(); // SSE, falling back to polling
//! while let Some(height) = heights.next().await {
//!     println!("new block {height}");
//! }
//! for endpoint in chain.endpoint_stats() {
//!     println!("{}: {} requests, {} faults", endpoint.url, endpoint.requests, endpoint.faults);
//! }
//! # let _ = block;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod credit_chain;
mod error;
mod options;
pub mod self_check;
pub mod sse;
mod types;

use std::future::Future;
use std::pin::Pin;

use protocol::{ChainId, Height, LightBlock, SignedTransaction, ValidatorSet};
use tokio_stream::Stream;

pub use credit_chain::CreditChainAdapter;
pub use error::{AdapterError, EndpointFailure, FailureKind};
pub use options::RpcOptions;
pub use types::{
    ChainEvent, ChainStatus, EndpointStats, EventAttribute, FeeEvent, FeeEvents, Ledger,
    LedgerBalance, LedgerEscrow, PacketEvent, PacketEvents, ProvenEntry, ProvenState, ProvenStates,
    SubmitOutcome,
};

/// Most keys in one [`ChainAdapter::states`] request (the reference node's
/// batch limit).
pub const MAX_BATCH_KEYS: usize = 5_000;

/// A boxed, sendable future: what the methods of [`ChainAdapter`] return, so
/// that the trait can be used as `dyn ChainAdapter`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The heights of new blocks, as [`ChainAdapter::block_stream`] yields them.
pub type BlockStream = Pin<Box<dyn Stream<Item = Height> + Send>>;

/// I/O to one chain. Every method checks what it returns against itself
/// (see [`self_check`]) and fails over between the chain's endpoints; none
/// makes anything trusted: the relay engine verifies light blocks with its
/// light client.
pub trait ChainAdapter: Send + Sync {
    /// The chain this adapter talks to; every answer is checked to be for it.
    fn chain_id(&self) -> &ChainId;

    /// The chain's latest block as an endpoint reports it (chain id checked).
    fn status(&self) -> BoxFuture<'_, Result<ChainStatus, AdapterError>>;

    /// The light block at `height`, self-verified: this chain, this height,
    /// validator sets matching the header, a commit of the header carrying
    /// valid signatures of more than 2/3 of its own validator set.
    fn light_block(&self, height: Height) -> BoxFuture<'_, Result<LightBlock, AdapterError>>;

    /// The validator set that signed the block at `height`, taken from its
    /// self-verified light block.
    fn validators(&self, height: Height) -> BoxFuture<'_, Result<ValidatorSet, AdapterError>>;

    /// The value under `key` at the latest height, with its membership (or,
    /// when absent, non-membership) proof, checked against the state root of
    /// the self-verified light block at the proof's height.
    fn state<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<ProvenState, AdapterError>>;

    /// The values under `keys` at one height (the latest), each with its
    /// proof, all checked against the state root of the self-verified light
    /// block at that height. At most [`MAX_BATCH_KEYS`] keys.
    fn states<'a>(
        &'a self,
        keys: &'a [Vec<u8>],
    ) -> BoxFuture<'a, Result<ProvenStates, AdapterError>>;

    /// Submits a transaction and waits until it is committed or refused. A
    /// refusal by the chain is an `Ok` outcome with its code, not an error.
    fn submit<'a>(
        &'a self,
        tx: &'a SignedTransaction,
    ) -> BoxFuture<'a, Result<SubmitOutcome, AdapterError>>;

    /// Submits several transactions as one batch (`POST /txs`: one block
    /// where they fit, in order) and waits for each. Per transaction: its
    /// outcome (a chain refusal is an `Ok` with its code), or why its fate
    /// is unknown. Like [`ChainAdapter::submit`], a batch is resent to
    /// another endpoint only when no connection was made.
    fn submit_batch<'a>(
        &'a self,
        txs: &'a [SignedTransaction],
    ) -> BoxFuture<'a, Result<Vec<Result<SubmitOutcome, String>>, AdapterError>>;

    /// Packet and acknowledgement events of the blocks after `since` (0 =
    /// from the first block), up to [`PacketEvents::scanned_to`]; where the
    /// chain reports them, also the events asking its data providers to act
    /// (`credit_chain::PROVIDER_EVENT_KINDS`). Consumers skip kinds they do
    /// not follow.
    fn packet_events(&self, since: u64) -> BoxFuture<'_, Result<PacketEvents, AdapterError>>;

    /// The heights of new blocks, strictly increasing (heights may be
    /// skipped: a consumer catches up from its last processed height). Never
    /// ends while it is held; failures are logged and counted, not yielded.
    fn block_stream(&self) -> BlockStream;

    /// Per-endpoint counters, for metrics and operators.
    fn endpoint_stats(&self) -> Vec<EndpointStats>;

    /// Tells the adapter that the caller's light client refused `block`
    /// (`reason` says why): it must not be served again from a cache, and
    /// the source that served it is at fault. The default does nothing (an
    /// adapter without a cache or a choice of sources).
    fn refute_light_block(&self, block: &LightBlock, reason: &str) {
        let _ = (block, reason);
    }
}
