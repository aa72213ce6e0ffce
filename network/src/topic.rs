//! The gossip topics of the mesh.
//!
//! | topic string              | carries                                          |
//! |---------------------------|--------------------------------------------------|
//! | `light-blocks/<chain-id>` | signed light blocks of one chain (header + commit + validators), published by the relayers that serve it |
//! | `attestations`            | signed attestations (oracle claims)              |
//! | `registrations`           | chain registrations signed by operators          |
//! | `governance`              | governance approvals of registrations (k of n)   |
//!
//! Light blocks get one topic per chain so a relayer only receives the
//! chains it tracks; the other three are network-wide and low volume.

use std::fmt;
use std::str::FromStr;

use protocol::ChainId;

use crate::Error;

/// A gossip topic (see the module docs for the strings).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// `light-blocks/<chain-id>`: light blocks of one chain.
    LightBlocks(ChainId),
    /// `attestations`.
    Attestations,
    /// `registrations`.
    Registrations,
    /// `governance`.
    Governance,
}

const LIGHT_BLOCKS_PREFIX: &str = "light-blocks/";

impl Topic {
    /// The gossipsub topic of this topic.
    pub fn ident(&self) -> libp2p::gossipsub::IdentTopic {
        libp2p::gossipsub::IdentTopic::new(self.to_string())
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::LightBlocks(chain) => write!(f, "{LIGHT_BLOCKS_PREFIX}{chain}"),
            Topic::Attestations => f.write_str("attestations"),
            Topic::Registrations => f.write_str("registrations"),
            Topic::Governance => f.write_str("governance"),
        }
    }
}

impl FromStr for Topic {
    type Err = Error;

    /// Parses a topic string.
    ///
    /// ```
    /// use network::Topic;
    /// let t: Topic = "light-blocks/guangdong".parse().unwrap();
    /// assert_eq!(t, Topic::LightBlocks("guangdong".parse().unwrap()));
    /// assert_eq!(t.to_string(), "light-blocks/guangdong");
    /// assert!("light-blocks/Bad Id".parse::<Topic>().is_err());
    /// assert!("headers".parse::<Topic>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Topic, Error> {
        let invalid = |reason: String| Error::InvalidTopic {
            topic: s.to_owned(),
            reason,
        };
        match s {
            "attestations" => Ok(Topic::Attestations),
            "registrations" => Ok(Topic::Registrations),
            "governance" => Ok(Topic::Governance),
            _ => match s.strip_prefix(LIGHT_BLOCKS_PREFIX) {
                Some(chain) => chain
                    .parse()
                    .map(Topic::LightBlocks)
                    .map_err(|e| invalid(format!("bad chain id: {e}"))),
                None => Err(invalid(
                    "expected light-blocks/<chain-id>, attestations, registrations or governance"
                        .into(),
                )),
            },
        }
    }
}
