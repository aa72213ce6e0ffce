//! `/registry`: the network registry of chains and its governance.
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/registry` | | governance, chains with status and serving peers, pending proposals with their approvals, admitted peers |
//! | POST | `/registry/proposals` | a signed proposal (JSON) | 201 `{id, approvals, threshold, decided}`, 200 when pending already |
//! | POST | `/registry/approvals` | an approval (JSON) | 200 `{outcome, ...}` |
//!
//! Refusals: 400 malformed body or content, 403 a signature or a role is
//! wrong, 404 unknown chain, 409 the registry's state forbids it (already
//! registered, already frozen, proposal closed), 503 too many pending
//! proposals, 500 the store failed. Accepted proposals and approvals are
//! published by the [`RegistryService`] for the daemon to gossip.
//!
//! Only `crate::` paths are used here, so the file compiles wherever it is
//! declared.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, extract};
use protocol::{Approval, SignedProposal};
use serde_json::{Value, json};

use crate::api::ApiError;
use crate::registry::{ApprovalOutcome, RegistryError, RegistryService, ServiceError, Submission};

/// The registry's routes, for any state that holds the service. Merge them
/// into the bearer-protected routes.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<RegistryService>: FromRef<S>,
{
    Router::new()
        .route("/registry", get(view))
        .route("/registry/proposals", post(propose))
        .route("/registry/approvals", post(approve))
}

/// The HTTP status of a refusal.
pub fn status_of(error: &ServiceError) -> StatusCode {
    match error {
        ServiceError::Registry(e) => match e {
            RegistryError::InvalidGenesis(_)
            | RegistryError::InvalidRegistration { .. }
            | RegistryError::InvalidReason { .. } => StatusCode::BAD_REQUEST,
            RegistryError::ProposerNotOperator { .. }
            | RegistryError::BadOperatorSignature { .. }
            | RegistryError::BadProposalSignature { .. }
            | RegistryError::BadApprovalSignature { .. }
            | RegistryError::NotAGovernor { .. } => StatusCode::FORBIDDEN,
            RegistryError::UnknownChain { .. } => StatusCode::NOT_FOUND,
            RegistryError::AlreadyRegistered { .. }
            | RegistryError::AlreadyFrozen { .. }
            | RegistryError::ProposalClosed { .. } => StatusCode::CONFLICT,
            RegistryError::TooManyPending { .. } => StatusCode::SERVICE_UNAVAILABLE,
            RegistryError::CorruptState(_) => StatusCode::INTERNAL_SERVER_ERROR,
        },
        ServiceError::Decode(_) | ServiceError::TooLarge { .. } => StatusCode::BAD_REQUEST,
        ServiceError::Store(_) | ServiceError::GenesisMismatch { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn refusal(error: ServiceError) -> ApiError {
    ApiError::new(status_of(&error), error.to_string())
}

fn malformed(what: &str, rejection: JsonRejection) -> ApiError {
    ApiError::bad_request(format!("the body is not {what}: {}", rejection.body_text()))
}

/// Runs a registry change off the async workers (it writes the store).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("registry task: {e}"),
            )
        })?
        .map_err(refusal)
}

/// `GET /registry`.
async fn view(State(registry): State<Arc<RegistryService>>) -> Json<Value> {
    Json(registry.read(|r| {
        let proposals: Vec<Value> = r
            .proposals()
            .map(|p| {
                json!({
                    "id": p.id,
                    "kind": p.signed.proposal.kind(),
                    "chain_id": p.signed.proposal.chain_id(),
                    "proposer": p.signed.proposer,
                    "proposal": p.signed,
                    "approvals": p.approvals.keys().collect::<Vec<_>>(),
                    "approval_count": p.approval_count(),
                    "threshold": r.threshold(),
                })
            })
            .collect();
        json!({
            "genesis": r.genesis_hash(),
            "governors": r.governors(),
            "threshold": r.threshold(),
            "chains": r.chains().collect::<Vec<_>>(),
            "proposals": proposals,
            "allowed_peers": r.allowed_peers(),
        })
    }))
}

fn submission_body(s: &Submission) -> Value {
    json!({
        "id": s.id,
        "already_pending": s.already_pending,
        "approvals": s.approvals,
        "threshold": s.threshold,
        "decided": s.decided,
    })
}

/// `POST /registry/proposals`.
async fn propose(
    State(registry): State<Arc<RegistryService>>,
    body: Result<extract::Json<SignedProposal>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(signed) = body.map_err(|e| malformed("a signed proposal", e))?;
    let submission = blocking(move || registry.submit(signed)).await?;
    let status = if submission.already_pending {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(submission_body(&submission))))
}

/// `POST /registry/approvals`.
async fn approve(
    State(registry): State<Arc<RegistryService>>,
    body: Result<extract::Json<Approval>, JsonRejection>,
) -> Result<Json<ApprovalOutcome>, ApiError> {
    let Json(approval) = body.map_err(|e| malformed("an approval", e))?;
    Ok(Json(blocking(move || registry.approve(approval)).await?))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use protocol::{ChainType, Hash, Height, Proposal, TrustAnchor, Validator, ValidatorSet};

    use super::*;
    use crate::registry::signing::{public_key, sign_approval, sign_proposal};
    use crate::registry::{GenesisChain, RegistryGenesis};
    use crate::store::Store;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    async fn serve(name: &str) -> (String, Arc<RegistryService>) {
        let dir = std::env::temp_dir().join(format!(
            "relayer-registry-api-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let genesis = RegistryGenesis {
            governors: vec![public_key(&key(1)), public_key(&key(2))],
            threshold: 2,
            chains: vec![GenesisChain {
                chain_id: "shaanxi".parse().unwrap(),
                chain_type: ChainType::CreditChain,
                trust_anchor: TrustAnchor {
                    height: Height::GENESIS,
                    header_hash: Hash::digest(b"h"),
                    next_validators: ValidatorSet::new(vec![Validator {
                        pub_key: public_key(&key(9)),
                        power: 1,
                    }])
                    .unwrap(),
                },
                operator_key: public_key(&key(8)),
                relayer_peer_ids: vec!["12D3KooWShaanxi".into()],
            }],
            admitted_peers: vec![],
        };
        let service = RegistryService::open(Store::open(&dir).unwrap(), &genesis).unwrap();
        let app = Router::new().merge(routes()).with_state(service.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, service)
    }

    #[tokio::test]
    async fn freeze_through_the_api() {
        let (url, service) = serve("freeze").await;
        let client = reqwest::Client::new();
        let freeze = sign_proposal(
            Proposal::Freeze {
                chain_id: "shaanxi".parse().unwrap(),
                reason: "misbehaviour".into(),
            },
            &key(1),
        );
        let r = client
            .post(format!("{url}/registry/proposals"))
            .json(&freeze)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["id"], freeze.id().to_string());

        let view: Value = client
            .get(format!("{url}/registry"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(view["proposals"][0]["kind"], "freeze");
        assert_eq!(view["chains"][0]["status"], "active");
        assert_eq!(view["allowed_peers"][0], "12D3KooWShaanxi");

        for (governor, outcome) in [(1, "counted"), (1, "already_counted"), (2, "decided")] {
            let r = client
                .post(format!("{url}/registry/approvals"))
                .json(&sign_approval(freeze.id(), &key(governor)))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["outcome"], outcome, "{body}");
        }
        assert!(service.read(|r| !r.chain(&"shaanxi".parse().unwrap()).unwrap().is_active()));

        // Refusals: a non-governor (403), a malformed body (400), a closed
        // proposal (409), an unknown chain (404).
        let r = client
            .post(format!("{url}/registry/approvals"))
            .json(&sign_approval(freeze.id(), &key(7)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("not a governance key")
        );
        let r = client
            .post(format!("{url}/registry/proposals"))
            .header("content-type", "application/json")
            .body("{\"proposal\": 1}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let r = client
            .post(format!("{url}/registry/proposals"))
            .json(&freeze)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        let unknown = sign_proposal(
            Proposal::Deregister {
                chain_id: "hubei".parse().unwrap(),
                reason: "x".into(),
            },
            &key(2),
        );
        let r = client
            .post(format!("{url}/registry/proposals"))
            .json(&unknown)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
}
