//! The relayer as a member of the mesh of regional relayers (libp2p, from
//! the `network` crate): each relayer serves its own chains and reaches the
//! others only through the relayers that serve them.
//!
//! - [`wire`]: what relayers ask each other;
//! - [`remote`]: a chain served elsewhere, as a [`adapters::ChainAdapter`];
//! - [`devnet`]: relayer processes of a local mesh (devnet, tests);
//! - [`catch_up`]: asking peers for the registry items gossip did not
//!   bring (this relayer was down or not yet connected);
//! - [`registry_sync`]: acting on the network registry's decisions;
//! - [`service`]: answering peers, checking what they hand over before
//!   submitting it, gossiping and judging light blocks.
//!
//! A packet from chain A (served here) to chain B (served by a peer) is
//! proven from A here, handed to B's relayer with its proofs and client
//! updates, checked there against that relayer's own light client of A,
//! and submitted on B under its key; the acknowledgement comes back the
//! same way. Exactly-once still rests on the chains' receipts.

pub mod catch_up;
pub mod devnet;
pub mod registry_sync;
pub mod remote;
pub mod service;
pub mod wire;

pub use registry_sync::{RegistrySync, SupervisorSync};
pub use remote::MeshChainAdapter;
pub use service::MeshService;
