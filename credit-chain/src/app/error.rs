//! Why a transaction or the genesis was refused.
//!
//! Every [`TxError`] has a stable numeric [`code`](TxError::code) (never
//! reused, never renumbered; 0 means success) and a
//! [`codespace`](TxError::codespace) naming the module, and its message
//! names what was wrong with which value.

use protocol::{ChainId, Currency, EnterpriseId, Hash, Height, InstitutionId, PublicKey, Time};

/// Why a transaction was refused. On any of these, `deliver_tx` writes
/// nothing and the sender's nonce is not consumed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    // --- tx (1-19): envelope, signature, sender, nonce, shape ---
    /// The bytes are not a canonical signed transaction.
    #[error("malformed transaction: {reason}")]
    Malformed {
        /// What failed to decode.
        reason: String,
    },
    /// The transaction was signed for another chain.
    #[error("wrong chain id: this is {expected}, the transaction is for {got}")]
    WrongChainId {
        /// This chain.
        expected: ChainId,
        /// The transaction's chain.
        got: ChainId,
    },
    /// The signature does not verify under the sender key.
    #[error("invalid signature: the transaction is not signed by its sender {sender}")]
    InvalidSignature {
        /// The claimed sender.
        sender: PublicKey,
    },
    /// The sender key belongs to no governance member, institution or
    /// enterprise.
    #[error("unknown sender {sender}: not a registered governance, institution or enterprise key")]
    UnknownSender {
        /// The sender key.
        sender: PublicKey,
    },
    /// The sender is a suspended institution.
    #[error("institution {institution} is suspended since height {since}: {reason}")]
    SenderSuspended {
        /// The institution.
        institution: InstitutionId,
        /// Why.
        reason: String,
        /// Since when.
        since: Height,
    },
    /// The nonce was already used: a replay.
    #[error("replayed nonce {nonce} from {sender}: nonces up to {last} are used, next is {}", .last.saturating_add(1))]
    NonceReplayed {
        /// The sender.
        sender: PublicKey,
        /// The nonce given.
        nonce: u64,
        /// The last nonce used.
        last: u64,
    },
    /// The nonce skips ahead of the next expected one.
    #[error("nonce {nonce} from {sender} is ahead: the next nonce is {expected}")]
    NonceGap {
        /// The sender.
        sender: PublicKey,
        /// The nonce given.
        nonce: u64,
        /// The nonce expected.
        expected: u64,
    },
    /// At admission: the nonce is further ahead of the sender's last used
    /// one than a pending batch can reach, so it could never execute and
    /// would only occupy the mempool.
    #[error(
        "nonce {nonce} from {sender} is too far ahead: the last used is {last}, at most {max_ahead} ahead are admitted"
    )]
    NonceTooFarAhead {
        /// The sender.
        sender: PublicKey,
        /// The nonce given.
        nonce: u64,
        /// The last nonce used.
        last: u64,
        /// The window admitted.
        max_ahead: u64,
    },
    /// The sender may not send this message.
    #[error("{sender} may not {action}: {needed}")]
    Unauthorized {
        /// Who sent it (e.g. "institution bank-a (roles: bank)").
        sender: String,
        /// The message.
        action: &'static str,
        /// What would have been needed.
        needed: String,
    },
    /// A field of the message is invalid.
    #[error("invalid {message}: {reason}")]
    InvalidBody {
        /// The message.
        message: &'static str,
        /// What is wrong with which field.
        reason: String,
    },
    /// A stored value failed to decode: a bug or a corrupted store.
    #[error("corrupt state under {key}: {reason}")]
    CorruptState {
        /// The key.
        key: String,
        /// The decoding error.
        reason: String,
    },

    // --- governance (20-29) ---
    /// An institution with this id exists.
    #[error("institution {0} is already registered")]
    InstitutionExists(InstitutionId),
    /// No institution with this id.
    #[error("unknown institution {0}")]
    UnknownInstitution(InstitutionId),
    /// The key already belongs to someone.
    #[error("key {key} is already registered to {holder}")]
    KeyInUse {
        /// The key.
        key: PublicKey,
        /// Its holder.
        holder: String,
    },
    /// The institution is already suspended.
    #[error("institution {0} is already suspended")]
    AlreadySuspended(InstitutionId),
    /// The institution is not suspended.
    #[error("institution {0} is not suspended")]
    NotSuspended(InstitutionId),
    /// No enterprise key registered for this code.
    #[error("unknown enterprise {0}: no signing key registered for it")]
    UnknownEnterprise(EnterpriseId),

    // --- records (30-39) ---
    /// A provider may only write its own records.
    #[error("record names provider {record_provider}, but the sender is {sender}")]
    ProviderMismatch {
        /// The record's provider.
        record_provider: InstitutionId,
        /// The sender.
        sender: InstitutionId,
    },
    /// `write_record` is retired: records stay with their provider.
    #[error(
        "write_record is no longer accepted: credit records stay with their provider; commit each record's salted digest with commit_record (protocol::sealed::SaltedRecord::commitment) and answer queries with answer_query"
    )]
    WriteRecordRetired,
    /// The provider holds as many commitments about the enterprise as one
    /// sealed answer may cover.
    #[error(
        "provider {provider} already holds {max} record commitments about enterprise {enterprise}, as many as one sealed answer may cover"
    )]
    TooManyRecords {
        /// The enterprise.
        enterprise: EnterpriseId,
        /// The provider.
        provider: InstitutionId,
        /// The bound ([`protocol::sealed::MAX_RECORDS_PER_ANSWER`]).
        max: usize,
    },

    // --- consent (40-49) ---
    /// The consent is not signed by the enterprise's registered key.
    #[error(
        "consent signature does not verify under the registered key {key} of enterprise {enterprise}"
    )]
    InvalidConsentSignature {
        /// The enterprise.
        enterprise: EnterpriseId,
        /// Its registered key.
        key: PublicKey,
    },
    /// A consent with this id exists.
    #[error("consent {0} already exists")]
    ConsentExists(Hash),
    /// No consent with this id.
    #[error("unknown consent {0}")]
    UnknownConsent(Hash),
    /// The consent is already revoked.
    #[error("consent {id} was already revoked at {at}")]
    ConsentRevoked {
        /// The consent.
        id: Hash,
        /// When.
        at: Time,
    },
    /// The consent expired (or expires at the current block time).
    #[error("consent {id} expires at {expires_at}, not after the block time {now}")]
    ConsentExpired {
        /// The consent.
        id: Hash,
        /// Its expiry.
        expires_at: Time,
        /// The block time.
        now: Time,
    },
    /// The consent names another chain as the one holding the records: a
    /// grant replayed from that chain.
    #[error(
        "consent {id} is granted on chain {granted_on}, not on this chain {this_chain}: a grant replayed from another chain authorises nothing here"
    )]
    ConsentForOtherChain {
        /// The consent.
        id: Hash,
        /// The chain the grant names.
        granted_on: ChainId,
        /// This chain.
        this_chain: ChainId,
    },

    // --- attestations (50-59) ---
    /// The attestation does not name the sender as issuer, with its key.
    #[error(
        "attestation names issuer {issuer} with key {issuer_key}, but the sender is {sender} with key {sender_key}"
    )]
    IssuerMismatch {
        /// Issuer in the attestation.
        issuer: InstitutionId,
        /// Key in the attestation.
        issuer_key: PublicKey,
        /// The sender.
        sender: InstitutionId,
        /// The sender's key.
        sender_key: PublicKey,
    },
    /// The issuer's signature does not verify.
    #[error("attestation signature does not verify under issuer key {0}")]
    InvalidAttestationSignature(PublicKey),
    /// The same attestation is already stored.
    #[error("attestation {0} already exists")]
    AttestationExists(Hash),
    /// The attestation expires at or before the block time.
    #[error("attestation expires at {expires_at}, not after the block time {now}")]
    AttestationExpired {
        /// Its expiry.
        expires_at: Time,
        /// The block time.
        now: Time,
    },

    // --- fees (60-69) ---
    /// Not enough balance.
    #[error("insufficient balance: {account} has {balance} {currency}, needs {needed}")]
    InsufficientBalance {
        /// The account.
        account: String,
        /// Its balance in minor units.
        balance: u64,
        /// The amount needed in minor units.
        needed: u64,
        /// The currency.
        currency: Currency,
    },
    /// An amount in another currency than the chain's.
    #[error("wrong currency {got}: this chain's currency is {expected}")]
    WrongCurrency {
        /// The chain's currency.
        expected: Currency,
        /// The one given.
        got: Currency,
    },
    /// A balance would overflow.
    #[error("balance of {account} would overflow")]
    BalanceOverflow {
        /// The account.
        account: String,
    },
    /// A data provider's query fee above the governance cap.
    #[error(
        "query fee {fee} {currency} of {provider} is above the maximum {max} {currency} set by governance"
    )]
    QueryFeeAboveMax {
        /// The provider.
        provider: InstitutionId,
        /// The fee asked, in minor units.
        fee: u64,
        /// The cap, in minor units.
        max: u64,
        /// The currency.
        currency: Currency,
    },
    /// The query fees of the providers answering a query add up to more
    /// than a `u64` of minor units.
    #[error(
        "the query fees of {providers} providers add up to more than {} minor units",
        u64::MAX
    )]
    QueryFeeOverflow {
        /// How many providers charge.
        providers: usize,
    },

    // --- interchain (70-89) ---
    /// A client of this chain exists.
    #[error("a light client of {0} already exists")]
    ClientExists(ChainId),
    /// No client of this chain.
    #[error("no light client of {0} on this chain")]
    UnknownClient(ChainId),
    /// The client is frozen on misbehaviour evidence.
    #[error("{0}")]
    ClientFrozen(String),
    /// The light client refused a header, an anchor or evidence.
    #[error("light client of {chain} refused it: {reason}")]
    ClientRejected {
        /// The client's chain.
        chain: ChainId,
        /// The light client's error.
        reason: String,
    },
    /// Too little of the trusted validator set signed the header.
    #[error(
        "not enough trust to update the client of {chain} to height {height}: {tally}; submit a header in between first"
    )]
    NotEnoughTrust {
        /// The chain.
        chain: ChainId,
        /// The header's height.
        height: Height,
        /// How much signed.
        tally: String,
    },
    /// A state proof failed.
    #[error("invalid proof of {what}: {reason}")]
    InvalidProof {
        /// What it should prove.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The packet is not routed through this chain as claimed.
    #[error("packet {field} is {got}, expected {expected}")]
    WrongPacketRoute {
        /// `source` or `destination`.
        field: &'static str,
        /// What it should be.
        expected: ChainId,
        /// What it is.
        got: ChainId,
    },
    /// The packet was already received: a second delivery.
    #[error("packet {sequence} from {source_chain} was already received")]
    PacketAlreadyReceived {
        /// Its source.
        source_chain: ChainId,
        /// Its sequence.
        sequence: u64,
    },
    /// The packet's timeout has passed on this chain.
    #[error("packet {sequence} from {source_chain} timed out: {reason}")]
    PacketTimedOut {
        /// Its source.
        source_chain: ChainId,
        /// Its sequence.
        sequence: u64,
        /// Which bound passed.
        reason: String,
    },
    /// No packet in flight with this destination and sequence.
    #[error(
        "no packet {sequence} to {destination} in flight (never sent, or already acknowledged or timed out)"
    )]
    UnknownPacket {
        /// Its destination.
        destination: ChainId,
        /// Its sequence.
        sequence: u64,
    },
    /// The packet differs from the one committed.
    #[error(
        "packet {sequence} to {destination} does not match its commitment: committed {committed}, given {given}"
    )]
    CommitmentMismatch {
        /// Its destination.
        destination: ChainId,
        /// Its sequence.
        sequence: u64,
        /// The stored commitment.
        committed: Hash,
        /// The commitment of the packet given.
        given: Hash,
    },
    /// The proof height is not past the packet's timeout.
    #[error(
        "packet {sequence} to {destination} has not timed out at proof height {proof_height}: {reason}"
    )]
    TimeoutNotReached {
        /// Its destination.
        destination: ChainId,
        /// Its sequence.
        sequence: u64,
        /// The proof height.
        proof_height: Height,
        /// Which bound is not passed.
        reason: String,
    },
    /// No aggregation pending under this source and sequence.
    #[error(
        "no aggregation from {source_chain} with sequence {sequence} is pending (never received, or already acknowledged)"
    )]
    UnknownAggregation {
        /// The request's source.
        source_chain: ChainId,
        /// The request packet's sequence.
        sequence: u64,
    },
    /// The sender is not one of the aggregation's expected providers.
    #[error(
        "{provider} is not an expected provider of aggregation {sequence} from {source_chain} (expected: {expected})"
    )]
    NotExpectedProvider {
        /// The sender.
        provider: InstitutionId,
        /// The request's source.
        source_chain: ChainId,
        /// The request packet's sequence.
        sequence: u64,
        /// The expected providers, comma-separated.
        expected: String,
    },
    /// The provider already contributed to this aggregation.
    #[error("{provider} already contributed to aggregation {sequence} from {source_chain}")]
    AlreadyContributed {
        /// The sender.
        provider: InstitutionId,
        /// The request's source.
        source_chain: ChainId,
        /// The request packet's sequence.
        sequence: u64,
    },
    /// The ciphertext does not have the scheme's length.
    #[error("malformed ciphertext: {0}")]
    MalformedCiphertext(String),
    /// The ciphertext has the right length but a half is not a canonical
    /// encoding of a curve point.
    #[error("ciphertext is not on the curve: {0}")]
    CiphertextNotOnCurve(String),
    /// The aggregation's contribution deadline has passed.
    #[error(
        "aggregation {sequence} from {source_chain} closed at its deadline {deadline} (block time {now})"
    )]
    AggregationClosed {
        /// The request's source.
        source_chain: ChainId,
        /// The request packet's sequence.
        sequence: u64,
        /// Its contribution deadline.
        deadline: Time,
        /// The block time.
        now: Time,
    },
    /// The aggregation's request was already sent to this destination, or
    /// the id belongs to another requester.
    #[error("aggregation {aggregation_id}: {reason}")]
    AggregationExists {
        /// The aggregation.
        aggregation_id: Hash,
        /// What is in the way.
        reason: String,
    },
    /// A contribution came without a proof that its ciphertext is well
    /// formed, or with one that does not decode or verify (an amount out
    /// of range, or a proof for another ciphertext, key or contribution).
    #[error(
        "contribution of {provider} to aggregation {sequence} from {source_chain} refused: {reason}"
    )]
    InvalidContributionProof {
        /// The sender.
        provider: InstitutionId,
        /// The request's source.
        source_chain: ChainId,
        /// The request packet's sequence.
        sequence: u64,
        /// What is wrong with the proof.
        reason: String,
    },
    /// A client's anchor is dated after this chain's block time plus the
    /// allowed clock drift: trusting it would let the trusting period run
    /// from the future.
    #[error(
        "anchor of {chain} at height {height} is from the future: its time {anchor_time} is after this block's time {block_time} plus the allowed drift of {drift_secs}s"
    )]
    AnchorFromFuture {
        /// The anchor's chain.
        chain: ChainId,
        /// The anchor's height.
        height: Height,
        /// The anchor header's time.
        anchor_time: Time,
        /// This chain's block time.
        block_time: Time,
        /// The client's allowed clock drift, in seconds.
        drift_secs: u64,
    },

    // --- sealed credit queries (100-119, interchain) ---
    /// The requester has no encryption key registered for its answers.
    #[error(
        "institution {institution} has no encryption key registered: register_encryption_key first, answers are sealed to it"
    )]
    NoEncryptionKey {
        /// The requester.
        institution: InstitutionId,
    },
    /// The query names another key than the requester's registered one.
    #[error(
        "the query names encryption key {given}, but the key registered for institution {institution} is {registered}"
    )]
    EncryptionKeyMismatch {
        /// The requester.
        institution: InstitutionId,
        /// The key registered on this chain.
        registered: protocol::sealed::EncryptionKey,
        /// The key the query names.
        given: protocol::sealed::EncryptionKey,
    },
    /// No credit query pending under this source and sequence.
    #[error(
        "no credit query from {source_chain} with sequence {sequence} is pending (never received, answered at once, or already acknowledged)"
    )]
    UnknownQuery {
        /// The query's source.
        source_chain: ChainId,
        /// The query packet's sequence.
        sequence: u64,
    },
    /// The query's answer deadline has passed.
    #[error(
        "credit query {sequence} from {source_chain} closed at its deadline {deadline} (block time {now})"
    )]
    QueryClosed {
        /// The query's source.
        source_chain: ChainId,
        /// The query packet's sequence.
        sequence: u64,
        /// Its answer deadline.
        deadline: Time,
        /// The block time.
        now: Time,
    },
    /// The answer names another provider than its sender.
    #[error("the answer names provider {provider}, but the sender is {sender}")]
    AnswerProviderMismatch {
        /// The provider the answer names.
        provider: InstitutionId,
        /// The sender.
        sender: InstitutionId,
    },
    /// The sender holds no committed record in the query's scope.
    #[error(
        "{provider} is not expected to answer credit query {sequence} from {source_chain} (expected: {expected})"
    )]
    NotExpectedAnswer {
        /// The sender.
        provider: InstitutionId,
        /// The query's source.
        source_chain: ChainId,
        /// The query packet's sequence.
        sequence: u64,
        /// The expected providers, comma-separated.
        expected: String,
    },
    /// The provider already answered this query.
    #[error("{provider} already answered credit query {sequence} from {source_chain}")]
    AlreadyAnswered {
        /// The sender.
        provider: InstitutionId,
        /// The query's source.
        source_chain: ChainId,
        /// The query packet's sequence.
        sequence: u64,
    },
    /// The answer leaves out a committed record in the query's scope.
    #[error("the answer of {provider} is incomplete: it leaves out the committed record {missing}")]
    IncompleteAnswer {
        /// The provider.
        provider: InstitutionId,
        /// The first committed digest it does not list.
        missing: Hash,
    },
    /// The answer lists a digest that is not one of the provider's
    /// commitments in the query's scope.
    #[error(
        "the answer of {provider} lists {digest}, which is not one of its committed records in the query's scope"
    )]
    UnexpectedCommitment {
        /// The provider.
        provider: InstitutionId,
        /// The first digest not expected.
        digest: Hash,
    },
    /// The answer lists the expected digests, but repeated or in another
    /// order than the chain's.
    #[error(
        "the answer of {provider} lists its {expected} committed records out of the chain's order or with repeats (at position {position})"
    )]
    AnswerOutOfOrder {
        /// The provider.
        provider: InstitutionId,
        /// How many digests are expected.
        expected: usize,
        /// The first position that differs.
        position: usize,
    },
    // --- joint aggregation keys and totals (120-139) ---
    /// A key share is not a valid Ristretto255 point, or its proof of
    /// knowledge is missing, malformed or does not verify for this chain and
    /// party (a rogue key made to cancel the other share).
    #[error("aggregation key share of {owner} refused: {reason}")]
    InvalidKeyShare {
        /// Whose share: "institution bank-a" or "the regulator".
        owner: String,
        /// What is wrong.
        reason: String,
    },
    /// The requester has registered no aggregation key share.
    #[error("{0} has no aggregation key share registered: send register_aggregation_key first")]
    NoAggregationKey(InstitutionId),
    /// Governance has set no regulator aggregation key share.
    #[error(
        "no regulator aggregation key share is set on this chain (set_regulator_aggregation_key): no joint key can be formed"
    )]
    NoRegulatorAggregationKey,
    /// The request's encryption key is not the joint key of the requester's
    /// registered share and the regulator's.
    #[error(
        "aggregation request of {requester} is under key {got}, not the joint key {expected} of its registered share and the regulator's: a total under any other key could be opened without the regulator"
    )]
    WrongAggregationKey {
        /// The requester.
        requester: InstitutionId,
        /// The joint key, hex.
        expected: String,
        /// The request's key, hex.
        got: String,
    },
    /// The aggregation is closed: its total is written.
    #[error("aggregation {aggregation_id} was closed at {closed_at}")]
    AggregationAlreadyClosed {
        /// The aggregation.
        aggregation_id: Hash,
        /// When.
        closed_at: Time,
    },
    /// The aggregation cannot be closed: its request to a chain is still in
    /// flight (neither acknowledged nor timed out).
    #[error(
        "aggregation {aggregation_id} cannot be closed: its request {sequence} to {chain} has neither been acknowledged nor timed out"
    )]
    AggregationStillOpen {
        /// The aggregation.
        aggregation_id: Hash,
        /// The chain still open.
        chain: ChainId,
        /// Its request's sequence.
        sequence: u64,
    },
    /// No request of this aggregation was ever sent from this chain.
    #[error("aggregation {0} was never sent from this chain")]
    AggregationNotSent(Hash),
}

impl TxError {
    /// The stable numeric code (never 0).
    pub fn code(&self) -> u32 {
        match self {
            TxError::Malformed { .. } => 1,
            TxError::WrongChainId { .. } => 2,
            TxError::InvalidSignature { .. } => 3,
            TxError::UnknownSender { .. } => 4,
            TxError::SenderSuspended { .. } => 5,
            TxError::NonceReplayed { .. } => 6,
            TxError::NonceGap { .. } => 7,
            TxError::Unauthorized { .. } => 8,
            TxError::InvalidBody { .. } => 9,
            TxError::CorruptState { .. } => 10,
            TxError::NonceTooFarAhead { .. } => 11,
            TxError::InstitutionExists(_) => 20,
            TxError::UnknownInstitution(_) => 21,
            TxError::KeyInUse { .. } => 22,
            TxError::AlreadySuspended(_) => 23,
            TxError::NotSuspended(_) => 24,
            TxError::UnknownEnterprise(_) => 25,
            TxError::ProviderMismatch { .. } => 30,
            TxError::InvalidConsentSignature { .. } => 40,
            TxError::ConsentExists(_) => 41,
            TxError::UnknownConsent(_) => 42,
            TxError::ConsentRevoked { .. } => 43,
            TxError::ConsentExpired { .. } => 44,
            TxError::ConsentForOtherChain { .. } => 45,
            TxError::IssuerMismatch { .. } => 50,
            TxError::InvalidAttestationSignature(_) => 51,
            TxError::AttestationExists(_) => 52,
            TxError::AttestationExpired { .. } => 53,
            TxError::InsufficientBalance { .. } => 60,
            TxError::WrongCurrency { .. } => 61,
            TxError::BalanceOverflow { .. } => 62,
            TxError::QueryFeeAboveMax { .. } => 63,
            TxError::QueryFeeOverflow { .. } => 64,
            TxError::ClientExists(_) => 70,
            TxError::UnknownClient(_) => 71,
            TxError::ClientFrozen(_) => 72,
            TxError::ClientRejected { .. } => 73,
            TxError::NotEnoughTrust { .. } => 74,
            TxError::InvalidProof { .. } => 75,
            TxError::WrongPacketRoute { .. } => 76,
            TxError::PacketAlreadyReceived { .. } => 77,
            TxError::PacketTimedOut { .. } => 78,
            TxError::UnknownPacket { .. } => 79,
            TxError::CommitmentMismatch { .. } => 80,
            TxError::TimeoutNotReached { .. } => 81,
            TxError::UnknownAggregation { .. } => 82,
            TxError::NotExpectedProvider { .. } => 83,
            TxError::AlreadyContributed { .. } => 84,
            TxError::MalformedCiphertext(_) => 85,
            TxError::CiphertextNotOnCurve(_) => 86,
            TxError::AggregationClosed { .. } => 87,
            TxError::AggregationExists { .. } => 88,
            TxError::InvalidContributionProof { .. } => 89,
            TxError::AnchorFromFuture { .. } => 90,
            TxError::WriteRecordRetired => 31,
            TxError::TooManyRecords { .. } => 32,
            TxError::NoEncryptionKey { .. } => 100,
            TxError::EncryptionKeyMismatch { .. } => 101,
            TxError::UnknownQuery { .. } => 102,
            TxError::QueryClosed { .. } => 103,
            TxError::AnswerProviderMismatch { .. } => 104,
            TxError::NotExpectedAnswer { .. } => 105,
            TxError::AlreadyAnswered { .. } => 106,
            TxError::IncompleteAnswer { .. } => 107,
            TxError::UnexpectedCommitment { .. } => 108,
            TxError::AnswerOutOfOrder { .. } => 109,
            TxError::InvalidKeyShare { .. } => 120,
            TxError::NoAggregationKey(_) => 121,
            TxError::NoRegulatorAggregationKey => 122,
            TxError::WrongAggregationKey { .. } => 123,
            TxError::AggregationAlreadyClosed { .. } => 124,
            TxError::AggregationStillOpen { .. } => 125,
            TxError::AggregationNotSent(_) => 126,
        }
    }

    /// The module the code belongs to: `tx`, `governance`, `records`,
    /// `consent`, `attestations`, `fees` or `interchain`.
    pub fn codespace(&self) -> &'static str {
        match self.code() {
            0..=19 => "tx",
            20..=29 => "governance",
            30..=39 => "records",
            40..=49 => "consent",
            50..=59 => "attestations",
            60..=69 => "fees",
            _ => "interchain",
        }
    }

    pub(crate) fn invalid(message: &'static str, reason: impl Into<String>) -> TxError {
        TxError::InvalidBody {
            message,
            reason: reason.into(),
        }
    }
}

/// Why the genesis state was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The store already holds a chain.
    #[error("the store is already initialised (it has chain parameters)")]
    AlreadyInitialised,
    /// The genesis document is inconsistent.
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
}
