//! The reference regional credit chain node.
//!
//! Empty until the credit-chain issue adds blocks, state, modules and RPC;
//! its headers and commits already have their types in `protocol`.
