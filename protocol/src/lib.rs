//! Wire types of the credit interchain network.
