//! CometBFT light blocks, verified with tendermint-light-client-verifier.
