//! Merkle membership and non-membership proofs over a chain key-value state.
