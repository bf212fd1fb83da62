//! The report of `concord bench soak`: latency percentiles, what the customers' messages came to,
//! the server's memory curve, and the readable summary.

use std::collections::BTreeMap;

use concord::eval::metrics::percentile;
use serde_json::{json, Value};

use super::{CustomerLog, Durability, Tally, ACCEPTED_P95_TARGET_MS, RSS_SERIES_POINTS};

pub(super) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub(super) fn merge(into: &mut BTreeMap<String, usize>, from: &BTreeMap<String, usize>) {
    for (k, n) in from {
        *into.entry(k.clone()).or_default() += n;
    }
}

/// p50/p95/p99/max of latency samples in ms; nulls for no samples.
pub(super) fn latency_json(samples: &[f64]) -> Value {
    let some = !samples.is_empty();
    let p = |q: f64| some.then(|| round1(percentile(samples, q)));
    json!({
        "p50": p(50.0),
        "p95": p(95.0),
        "p99": p(99.0),
        "max": samples.iter().copied().reduce(f64::max).map(round1),
        "n": samples.len(),
    })
}

pub(super) fn legit_json(
    logs: &[(reqwest::Client, CustomerLog)],
    events: &Tally,
    durability: &Durability,
    unfinished: usize,
) -> Value {
    let mut sent = 0;
    let mut conversations = 0;
    let mut accepted_ms = Vec::new();
    let mut refused = BTreeMap::new();
    let mut failed = BTreeMap::new();
    let mut terminal = BTreeMap::new();
    let mut conversation_refused = BTreeMap::new();
    for (_, log) in logs {
        sent += log.sent;
        conversations += log.conversations.len();
        accepted_ms.extend_from_slice(&log.accepted_ms);
        merge(&mut refused, &log.refused);
        merge(&mut failed, &log.failed);
        merge(&mut terminal, &log.terminal);
        merge(&mut conversation_refused, &log.conversation_refused);
    }
    json!({
        "messages_sent": sent,
        "accepted": accepted_ms.len(),
        "refused_by_code": refused,
        "failed_by_code": failed,
        "terminal_by_kind": terminal,
        "accepted_ms": latency_json(&accepted_ms),
        "acknowledged_checked": durability.acknowledged,
        "lost": durability.missing,
        "unreadable_conversations": durability.unreadable,
        "conversations": conversations,
        "conversation_refused": conversation_refused,
        "events_streams": events.to_json(),
        "unfinished_customers": unfinished,
    })
}

/// Start, max and end of the server's RSS, the most in the first and last third of the attack
/// (growth there suggests memory that is not bounded), and the curve.
pub(super) fn rss_json(samples: &[(f64, f64)], seconds: f64) -> Value {
    let max_of = |xs: &[f64]| xs.iter().copied().reduce(f64::max).map(round1);
    let all: Vec<f64> = samples.iter().map(|s| s.1).collect();
    let attack: Vec<f64> = samples
        .iter()
        .filter(|s| s.0 <= seconds)
        .map(|s| s.1)
        .collect();
    let third = attack.len() / 3;
    let first_third = (third > 0).then(|| max_of(&attack[..third])).flatten();
    let last_third = (third > 0)
        .then(|| max_of(&attack[attack.len() - third..]))
        .flatten();
    json!({
        "start": all.first().copied().map(round1),
        "max": max_of(&all),
        "end": all.last().copied().map(round1),
        "first_third_max": first_third,
        "last_third_max": last_third,
        "series": downsample(samples),
    })
}

/// At most `RSS_SERIES_POINTS` points `[t_s, mb]`: the last time and the most memory of each run
/// of consecutive samples (the most, so that short peaks stay visible).
pub(super) fn downsample(samples: &[(f64, f64)]) -> Vec<[f64; 2]> {
    let run = samples.len().div_ceil(RSS_SERIES_POINTS).max(1);
    samples
        .chunks(run)
        .filter_map(|c| {
            let t = c.last()?.0;
            let mb = c.iter().map(|s| s.1).reduce(f64::max)?;
            Some([t.round(), round1(mb)])
        })
        .collect()
}

pub(super) fn print_summary(r: &Value) {
    let num = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.0}"));
    // `{"a": 1, "b": 2}` as `a 1, b 2`.
    let counts = |v: &Value| match v.as_object() {
        Some(o) if !o.is_empty() => {
            let parts: Vec<String> = o.iter().map(|(k, n)| format!("{k} {n}")).collect();
            parts.join(", ")
        }
        _ => "none".to_string(),
    };
    let (l, m, v) = (&r["legit"], &r["rss_mb"], &r["verdict"]);
    let a = &l["accepted_ms"];
    println!(
        "soak: {} s, {} customers, configured limits",
        r["seconds"], r["customers"]
    );
    println!(
        "  legitimate: {} sent, {} accepted; refused: {}; failed: {}; answers: {}",
        l["messages_sent"],
        l["accepted"],
        counts(&l["refused_by_code"]),
        counts(&l["failed_by_code"]),
        counts(&l["terminal_by_kind"])
    );
    println!(
        "  to accepted: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms; lost {} of {} acknowledged",
        num(&a["p50"]),
        num(&a["p95"]),
        num(&a["p99"]),
        num(&a["max"]),
        l["lost"],
        l["acknowledged_checked"]
    );
    for (kind, t) in r["abuse"].as_object().into_iter().flatten() {
        let (tries, most) = (&t["attempts"], &t["max_open"]);
        let outcomes = counts(&t["outcomes"]);
        println!("  {kind:>16}: {tries} attempts, at most {most} open; {outcomes}");
    }
    println!(
        "server RSS: start {} MB, max {} MB, end {} MB, first third {} MB, last third {} MB, \
         VmHWM {} MB",
        num(&m["start"]),
        num(&m["max"]),
        num(&m["end"]),
        num(&m["first_third_max"]),
        num(&m["last_third_max"]),
        num(&r["hwm_mb"])
    );
    let curve: Vec<String> = m["series"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{}:{}", num(&p[0]), num(&p[1])))
        .collect();
    println!("  curve (s:MB): {}", curve.join(" "));
    for line in r["rate_limited_metrics"].as_array().into_iter().flatten() {
        println!("  {}", line.as_str().unwrap_or_default());
    }
    println!(
        "verdict: accepted p95 <= {ACCEPTED_P95_TARGET_MS:.0} ms {}, nothing lost {}, server alive {}",
        v["accepted_p95_ok"], v["nothing_lost"], v["server_alive"]
    );
}
