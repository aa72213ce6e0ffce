//! Admission: only relayers of the network registry may connect.
//!
//! An allow-list (the registry's relayer peer ids, updated at runtime) and
//! a ban list (peers banned for misbehaviour) enforced when a connection is
//! about to be dialled and once the remote's identity is known (after the
//! noise handshake), in both directions. Unlike
//! `libp2p::allow_block_list`, every refusal is reported as an event (so
//! the task counts it and tells the daemon), including dials that a
//! sub-behaviour (kademlia, request-response) started on its own.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::task::{Context, Poll, Waker};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::{
    CloseConnection, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};

/// Which way a refused connection went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The remote dialled us.
    Inbound,
    /// We dialled the remote.
    Outbound,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The peer is not in the allow-list.
    NotAllowed,
    /// The peer is banned.
    Banned,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotAllowed => f.write_str("not in the allow-list"),
            Refusal::Banned => f.write_str("banned"),
        }
    }
}

/// The cause carried by a denied connection.
#[derive(Debug)]
pub struct Denied {
    /// The peer refused.
    pub peer: PeerId,
    /// Why.
    pub refusal: Refusal,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer {} is {}", self.peer, self.refusal)
    }
}

impl std::error::Error for Denied {}

/// A connection refused by admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The peer.
    pub peer: PeerId,
    /// Which way the connection went.
    pub direction: Direction,
    /// Why it was refused.
    pub refusal: Refusal,
}

/// The admission behaviour (allow-list and ban list).
#[derive(Debug, Default)]
pub struct Admission {
    allowed: HashSet<PeerId>,
    banned: HashSet<PeerId>,
    refused: VecDeque<Refused>,
    close: VecDeque<PeerId>,
    waker: Option<Waker>,
}

impl Admission {
    /// Admission that allows exactly `allowed`.
    pub fn new(allowed: impl IntoIterator<Item = PeerId>) -> Admission {
        Admission {
            allowed: allowed.into_iter().collect(),
            ..Admission::default()
        }
    }

    /// Why `peer` may not connect, if it may not.
    pub fn check(&self, peer: &PeerId) -> Result<(), Refusal> {
        if self.banned.contains(peer) {
            return Err(Refusal::Banned);
        }
        if !self.allowed.contains(peer) {
            return Err(Refusal::NotAllowed);
        }
        Ok(())
    }

    /// Adds `peer` to the allow-list; true if it was not there.
    pub fn allow(&mut self, peer: PeerId) -> bool {
        self.allowed.insert(peer)
    }

    /// Removes `peer` from the allow-list and closes its connections; true
    /// if it was there.
    pub fn disallow(&mut self, peer: PeerId) -> bool {
        let removed = self.allowed.remove(&peer);
        if removed {
            self.close_all(peer);
        }
        removed
    }

    /// Bans `peer` and closes its connections; true if it was not banned.
    pub fn ban(&mut self, peer: PeerId) -> bool {
        let added = self.banned.insert(peer);
        if added {
            self.close_all(peer);
        }
        added
    }

    /// Lifts the ban on `peer`; true if it was banned.
    pub fn unban(&mut self, peer: &PeerId) -> bool {
        self.banned.remove(peer)
    }

    /// Whether `peer` is banned.
    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned.contains(peer)
    }

    /// The allow-list.
    pub fn allowed(&self) -> &HashSet<PeerId> {
        &self.allowed
    }

    fn close_all(&mut self, peer: PeerId) {
        self.close.push_back(peer);
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    fn enforce(&mut self, peer: PeerId, direction: Direction) -> Result<(), ConnectionDenied> {
        match self.check(&peer) {
            Ok(()) => Ok(()),
            Err(refusal) => {
                self.refused.push_back(Refused {
                    peer,
                    direction,
                    refusal,
                });
                self.wake();
                Err(ConnectionDenied::new(Denied { peer, refusal }))
            }
        }
    }
}

impl NetworkBehaviour for Admission {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Refused;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.enforce(peer, Direction::Inbound)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        if let Some(peer) = peer {
            self.enforce(peer, Direction::Outbound)?;
        }
        Ok(vec![])
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.enforce(peer, Direction::Outbound)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        let never: Infallible = event;
        match never {}
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Refused, THandlerInEvent<Self>>> {
        if let Some(peer) = self.close.pop_front() {
            return Poll::Ready(ToSwarm::CloseConnection {
                peer_id: peer,
                connection: CloseConnection::All,
            });
        }
        if let Some(refused) = self.refused.pop_front() {
            return Poll::Ready(ToSwarm::GenerateEvent(refused));
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_and_unbanned_peers_pass() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut admission = Admission::new([a]);
        assert_eq!(admission.check(&a), Ok(()));
        assert_eq!(admission.check(&b), Err(Refusal::NotAllowed));
        admission.ban(a);
        assert_eq!(admission.check(&a), Err(Refusal::Banned));
        admission.unban(&a);
        admission.allow(b);
        assert_eq!(admission.check(&b), Ok(()));
        admission.disallow(b);
        assert_eq!(admission.check(&b), Err(Refusal::NotAllowed));
    }
}
