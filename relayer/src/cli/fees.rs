//! `relayer fees report`: per institution, what it earned answering
//! cross-chain credit queries and what it spent asking them, per hour or
//! day, across every configured chain.
//!
//! Fees move only on a query's source chain (see the credit chain's
//! `interchain` module): `fee_paid` events there name the payer (the
//! requester, an institution of that chain) and the payee (the provider,
//! `<destination>/<provider>`). The report reads those events from every
//! configured credit chain (`GET /fee_events`, through the adapter) and
//! sums them by period of block time, by institution and its own chain.
//! Talks to the chains directly through the configuration; no daemon is
//! needed. The events are read as the chains' endpoints report them, not
//! proven: this is accounting, not verification.
//!
//! Exit 0 reported, 3 malformed arguments or configuration, 4 a chain
//! could not be read (the report of the others is still printed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use adapters::{CreditChainAdapter, FeeEvent};
use clap::{Args, Subcommand, ValueEnum};
use protocol::tx::Account;
use protocol::{ChainId, ChainType, Currency, InstitutionId, Time};
use serde::Serialize;
use serde_json::json;

use super::EXIT_MALFORMED;
use super::chains::load_config;
use crate::cli::query::exit::UNREACHABLE;

/// `relayer fees ...`
#[derive(Debug, Subcommand)]
pub enum FeesCommand {
    /// Per institution (and its chain) and period: fees earned as a data
    /// provider and spent as a requester, across all configured chains.
    /// Exit 0, 3 malformed input, 4 a chain could not be read.
    Report(ReportArgs),
}

/// Length of a report period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// One hour (UTC).
    Hour,
    /// One day (UTC).
    Day,
}

impl Period {
    fn nanos(self) -> u64 {
        match self {
            Period::Hour => 3_600 * 1_000_000_000,
            Period::Day => 86_400 * 1_000_000_000,
        }
    }

    /// The start of the period holding `t`.
    fn start_of(self, t: Time) -> Time {
        let n = self.nanos();
        Time::from_unix_nanos(t.unix_nanos() / n * n)
    }
}

/// Arguments of `fees report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The configuration file (its chains are read).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Only fees of blocks at or after this time: RFC 3339
    /// (`2026-11-01T00:00:00Z`) or a duration ago (`24h`, `7d`).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only fees of blocks before this time (same forms as --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Group by hour or day of block time.
    #[arg(long, value_enum, default_value = "day")]
    pub period: Period,
    /// Print `{"rows", "totals", "chains", ...}` as JSON on stdout instead
    /// of a table (amounts in minor units).
    #[arg(long)]
    pub json: bool,
}

/// One institution's fees in one period (or, in totals, overall).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FeeRow {
    /// Start of the period (absent in totals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_start: Option<Time>,
    /// The institution's own chain.
    pub chain: String,
    /// The institution.
    pub institution: String,
    /// The currency.
    pub currency: String,
    /// Fees earned as a data provider, in minor units (held on the
    /// requesters' chains in its name, `<its chain>/<institution>`).
    pub earned: u64,
    /// How many fees it earned.
    pub earned_count: u64,
    /// Fees spent as a requester, in minor units.
    pub spent: u64,
    /// How many fees it paid.
    pub spent_count: u64,
    /// Escrow refunded to it (unused maximum fees, refusals, timeouts), in
    /// minor units.
    pub refunded: u64,
}

/// What was read of one chain.
#[derive(Clone, Debug, Serialize)]
struct ChainRead {
    id: ChainId,
    /// The last height read, when read.
    scanned_to: Option<u64>,
    /// Fee events read.
    events: usize,
    /// Why it could not be read.
    error: Option<String>,
}

/// Runs `fees ...`.
pub fn run(cmd: FeesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        FeesCommand::Report(args) => report(args),
    }
}

/// Parses a --since/--until value relative to `now`.
fn parse_time(flag: &str, raw: &str, now: Time) -> Result<Time, String> {
    if let Ok(t) = raw.parse::<Time>() {
        return Ok(t);
    }
    match humantime::parse_duration(raw) {
        Ok(d) => Ok(now.saturating_sub(d)),
        Err(_) => Err(format!(
            "--{flag} {raw:?} is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a duration ago (24h)"
        )),
    }
}

/// Every fee event of the chain, from its first block to its latest.
async fn read_chain(adapter: &CreditChainAdapter) -> anyhow::Result<(Vec<FeeEvent>, u64)> {
    let mut events = Vec::new();
    let mut since = 0;
    loop {
        let page = adapter.fee_events(since).await?;
        events.extend(page.events);
        let done = page.scanned_to >= page.latest_height || page.scanned_to == since;
        since = page.scanned_to;
        if done {
            return Ok((events, since));
        }
    }
}

/// The owner of `account` on `ledger`'s books: its chain and id.
fn owner(ledger: &ChainId, account: &Account) -> (String, InstitutionId) {
    match account {
        Account::Local(id) => (ledger.to_string(), id.clone()),
        Account::Remote { chain, institution } => (chain.to_string(), institution.clone()),
    }
}

/// What one fee event adds to the rows.
enum Entry {
    Earned(u64),
    Spent(u64),
    Refunded(u64),
}

/// Sums the fee events of `ledger` into `rows`, keyed by period start,
/// chain, institution and currency. Events whose attributes do not parse
/// are skipped and counted.
fn tally(
    ledger: &ChainId,
    events: &[FeeEvent],
    period: Period,
    window: (Option<Time>, Option<Time>),
    rows: &mut BTreeMap<(Time, String, String, String), FeeRow>,
) -> usize {
    let mut skipped = 0;
    for e in events {
        if window.0.is_some_and(|s| e.time < s) || window.1.is_some_and(|u| e.time >= u) {
            continue;
        }
        let ev = &e.event;
        let amount = ev.get("amount").and_then(|a| a.parse::<u64>().ok());
        let currency = ev.get("currency").and_then(|c| c.parse::<Currency>().ok());
        let account = |k: &str| ev.get(k).and_then(|a| a.parse::<Account>().ok());
        let entries: Vec<(Account, Entry)> = match (ev.kind.as_str(), amount, currency) {
            ("fee_paid", Some(amount), Some(_)) => match (account("payer"), account("payee")) {
                (Some(payer), Some(payee)) => {
                    vec![
                        (payer, Entry::Spent(amount)),
                        (payee, Entry::Earned(amount)),
                    ]
                }
                _ => {
                    skipped += 1;
                    continue;
                }
            },
            ("escrow_refunded", Some(amount), Some(_)) => match account("account") {
                Some(a) => vec![(a, Entry::Refunded(amount))],
                None => {
                    skipped += 1;
                    continue;
                }
            },
            ("fee_paid" | "escrow_refunded", _, _) => {
                skipped += 1;
                continue;
            }
            _ => continue,
        };
        let currency = currency.map(|c| c.to_string()).unwrap_or_default();
        let start = period.start_of(e.time);
        for (account, entry) in entries {
            let (chain, institution) = owner(ledger, &account);
            let row = rows
                .entry((
                    start,
                    chain.clone(),
                    institution.to_string(),
                    currency.clone(),
                ))
                .or_insert_with(|| FeeRow {
                    period_start: Some(start),
                    chain,
                    institution: institution.to_string(),
                    currency: currency.clone(),
                    ..FeeRow::default()
                });
            match entry {
                Entry::Earned(a) => {
                    row.earned = row.earned.saturating_add(a);
                    row.earned_count += 1;
                }
                Entry::Spent(a) => {
                    row.spent = row.spent.saturating_add(a);
                    row.spent_count += 1;
                }
                Entry::Refunded(a) => row.refunded = row.refunded.saturating_add(a),
            }
        }
    }
    skipped
}

/// The rows summed over periods, per chain, institution and currency.
fn totals(rows: &[FeeRow]) -> Vec<FeeRow> {
    let mut out: BTreeMap<(String, String, String), FeeRow> = BTreeMap::new();
    for r in rows {
        let t = out
            .entry((r.chain.clone(), r.institution.clone(), r.currency.clone()))
            .or_insert_with(|| FeeRow {
                period_start: None,
                chain: r.chain.clone(),
                institution: r.institution.clone(),
                currency: r.currency.clone(),
                ..FeeRow::default()
            });
        t.earned = t.earned.saturating_add(r.earned);
        t.earned_count += r.earned_count;
        t.spent = t.spent.saturating_add(r.spent);
        t.spent_count += r.spent_count;
        t.refunded = t.refunded.saturating_add(r.refunded);
    }
    out.into_values().collect()
}

fn money(units: u64) -> String {
    format!("{}.{:02}", units / 100, units % 100)
}

fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let now = relayer::engine::wall_clock();
    let window = match (
        args.since
            .as_deref()
            .map(|s| parse_time("since", s, now))
            .transpose(),
        args.until
            .as_deref()
            .map(|u| parse_time("until", u, now))
            .transpose(),
    ) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(EXIT_MALFORMED));
        }
    };
    if let (Some(s), Some(u)) = window
        && s >= u
    {
        eprintln!("--since {s} is not before --until {u}");
        return Ok(ExitCode::from(EXIT_MALFORMED));
    }
    let Some(config) = load_config(&args.config) else {
        return Ok(ExitCode::from(EXIT_MALFORMED));
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let mut rows = BTreeMap::new();
    let mut chains = Vec::new();
    let mut skipped = 0;
    for chain in &config.chains {
        let mut read = ChainRead {
            id: chain.id.clone(),
            scanned_to: None,
            events: 0,
            error: None,
        };
        if chain.chain_type != ChainType::CreditChain {
            read.error = Some(format!(
                "a {:?} chain keeps no credit-chain fees; skipped",
                chain.chain_type
            ));
            chains.push(read);
            continue;
        }
        let outcome = super::chains::credit_chain_adapter(&config, chain).and_then(|a| {
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(120), read_chain(&a))
                    .await
                    .map_err(|_| anyhow::anyhow!("not read within 120 s"))?
            })
        });
        match outcome {
            Ok((events, scanned_to)) => {
                read.scanned_to = Some(scanned_to);
                read.events = events.len();
                skipped += tally(&chain.id, &events, args.period, window, &mut rows);
            }
            Err(e) => read.error = Some(format!("{e:#}")),
        }
        chains.push(read);
    }
    let rows: Vec<FeeRow> = rows.into_values().collect();
    let totals = totals(&rows);
    let unreadable = chains
        .iter()
        .any(|c| c.error.is_some() && c.scanned_to.is_none());
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "period": args.period,
                "since": window.0,
                "until": window.1,
                "chains": chains,
                "rows": rows,
                "totals": totals,
                "skipped_events": skipped,
            }))?
        );
    } else {
        print_table(&rows, &totals, &chains, skipped);
    }
    Ok(if unreadable {
        ExitCode::from(UNREACHABLE)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_table(rows: &[FeeRow], totals: &[FeeRow], chains: &[ChainRead], skipped: usize) {
    for c in chains {
        if let Some(e) = &c.error {
            eprintln!("chain {}: {e}", c.id);
        }
    }
    if rows.is_empty() {
        println!("no fees in the period");
        return;
    }
    println!(
        "{:<22} {:<14} {:<20} {:>14} {:>7} {:>14} {:>7} {:>14}  currency",
        "period", "chain", "institution", "earned", "n", "spent", "n", "refunded"
    );
    let line = |label: &str, r: &FeeRow| {
        println!(
            "{:<22} {:<14} {:<20} {:>14} {:>7} {:>14} {:>7} {:>14}  {}",
            label,
            r.chain,
            r.institution,
            money(r.earned),
            r.earned_count,
            money(r.spent),
            r.spent_count,
            money(r.refunded),
            r.currency
        );
    };
    for r in rows {
        let label = r.period_start.map(|t| t.to_string()).unwrap_or_default();
        line(&label, r);
    }
    println!();
    for t in totals {
        line("total", t);
    }
    if skipped > 0 {
        println!("({skipped} malformed fee events skipped)");
    }
}

#[cfg(test)]
mod tests {
    use adapters::{ChainEvent, EventAttribute};
    use protocol::{Hash, Height};

    use super::*;

    fn event(kind: &str, time: &str, attrs: &[(&str, &str)]) -> FeeEvent {
        FeeEvent {
            height: Height::new(1).unwrap(),
            time: time.parse().unwrap(),
            tx: Hash::ZERO,
            event: ChainEvent {
                kind: kind.into(),
                attributes: attrs
                    .iter()
                    .map(|(k, v)| EventAttribute {
                        key: (*k).into(),
                        value: (*v).into(),
                    })
                    .collect(),
            },
        }
    }

    fn paid(time: &str, payee: &str, amount: &str) -> FeeEvent {
        event(
            "fee_paid",
            time,
            &[
                ("payer", "bank-a"),
                ("payee", payee),
                ("amount", amount),
                ("currency", "CNY"),
            ],
        )
    }

    #[test]
    fn fees_are_summed_by_period_institution_and_chain() {
        let a: ChainId = "shaanxi".parse().unwrap();
        let events = vec![
            paid("2026-11-23T10:05:00Z", "guangdong/provider-a", "500"),
            paid("2026-11-23T10:55:00Z", "guangdong/provider-b", "300"),
            paid("2026-11-23T11:01:00Z", "guangdong/provider-a", "500"),
            event(
                "escrow_refunded",
                "2026-11-23T11:02:00Z",
                &[
                    ("account", "bank-a"),
                    ("amount", "200"),
                    ("currency", "CNY"),
                ],
            ),
            // Malformed: counted, not summed.
            event("fee_paid", "2026-11-23T11:03:00Z", &[("payer", "bank-a")]),
            event("escrow_locked", "2026-11-23T11:04:00Z", &[]),
        ];
        let mut rows = BTreeMap::new();
        let skipped = tally(&a, &events, Period::Hour, (None, None), &mut rows);
        assert_eq!(skipped, 1);
        let rows: Vec<_> = rows.into_values().collect();
        let find = |hour: &str, chain: &str, who: &str| {
            rows.iter()
                .find(|r| {
                    r.period_start == Some(hour.parse().unwrap())
                        && r.chain == chain
                        && r.institution == who
                })
                .cloned()
                .unwrap_or_else(|| panic!("no row {hour} {chain} {who} in {rows:?}"))
        };
        let h10 = "2026-11-23T10:00:00Z";
        let h11 = "2026-11-23T11:00:00Z";
        assert_eq!(find(h10, "shaanxi", "bank-a").spent, 800);
        assert_eq!(find(h10, "shaanxi", "bank-a").spent_count, 2);
        assert_eq!(find(h10, "guangdong", "provider-a").earned, 500);
        assert_eq!(find(h10, "guangdong", "provider-b").earned, 300);
        assert_eq!(find(h11, "shaanxi", "bank-a").spent, 500);
        assert_eq!(find(h11, "shaanxi", "bank-a").refunded, 200);
        let totals = totals(&rows);
        let total = |who: &str| totals.iter().find(|t| t.institution == who).unwrap();
        assert_eq!(total("bank-a").spent, 1_300);
        assert_eq!(total("provider-a").earned, 1_000);
        assert_eq!(total("provider-a").earned_count, 2);

        // A window keeps only the events inside it; a day groups them.
        let mut rows = BTreeMap::new();
        let window = (
            Some("2026-11-23T10:30:00Z".parse().unwrap()),
            Some("2026-11-23T11:00:00Z".parse().unwrap()),
        );
        tally(&a, &events, Period::Day, window, &mut rows);
        let rows: Vec<_> = rows.into_values().collect();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows.iter().all(|r| r.period_start
            == Some("2026-11-23T00:00:00Z".parse().unwrap())
            && r.earned + r.spent == 300));
    }

    #[test]
    fn times_are_rfc3339_or_a_duration_ago() {
        let now: Time = "2026-11-23T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_time("since", "24h", now).unwrap(),
            "2026-11-22T12:00:00Z".parse().unwrap()
        );
        assert_eq!(
            parse_time("since", "2026-11-01T00:00:00Z", now).unwrap(),
            "2026-11-01T00:00:00Z".parse().unwrap()
        );
        let e = parse_time("until", "yesterday", now).unwrap_err();
        assert!(e.contains("--until \"yesterday\""), "{e}");
    }
}
