//! I/O to chains: one module per chain type behind one trait.
//!
//! Empty until the relayer issue adds the chain trait and the credit-chain
//! RPC adapter; verification itself lives in `light-clients`.
