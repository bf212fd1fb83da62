//! `concord knowledge check|approve`: is the knowledge base current (exit 1 when something is
//! stale, for a shop's own pipeline), and recording approved answers as approved now.

use std::process::ExitCode;

use clap::Subcommand;
use concord::knowledge::approvals::Approvals;
use concord::knowledge::freshness::{check, Freshness};
use concord::knowledge::sources::Sources;
use concord::knowledge::KnowledgeBase;
use concord::Config;

#[derive(Subcommand)]
pub enum KnowledgeCommand {
    /// List old articles, approved answers whose sources changed since approval and imported
    /// pages that are gone; exit 1 when any (or a file that does not load) is found.
    Check {
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Check as of this date (YYYY-MM-DD) instead of today.
        #[arg(long, value_name = "DATE")]
        today: Option<chrono::NaiveDate>,
    },
    /// Record approved answers as approved now, against their sources as they are now.
    Approve {
        /// The answers to approve.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<String>,
        /// Every approved answer.
        #[arg(long)]
        all: bool,
        /// Who approves (recorded with the approval).
        #[arg(long, default_value = "cli")]
        by: String,
    },
}

pub fn run(config: &Config, command: KnowledgeCommand) -> anyhow::Result<ExitCode> {
    let dir = &config.knowledge_dir;
    let kb = KnowledgeBase::load_dir(dir)?;
    match command {
        KnowledgeCommand::Check { json, today } => {
            let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
            let report = check(
                &kb,
                &Approvals::load(dir)?,
                &Sources::load(dir)?,
                config.knowledge_max_age_days,
                today,
            );
            if json {
                super::print_json(&report)?;
            } else {
                print(&report);
            }
            Ok(if report.is_stale() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        KnowledgeCommand::Approve { ids, all, by } => {
            let ids = if all { Vec::new() } else { ids };
            let mut approvals = Approvals::load(dir)?;
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let n = approvals.approve(&kb, &ids, &by, &now)?;
            approvals.save(dir)?;
            println!(
                "{n} approved answer(s) recorded as approved by {by} in {}",
                dir.join(concord::knowledge::approvals::APPROVALS_FILE)
                    .display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print(r: &Freshness) {
    for i in &r.issues {
        println!("does not load: {i}");
    }
    for a in &r.too_old {
        println!(
            "old: article {} was last updated {} ({} days ago; knowledge.max_age_days = {})",
            a.id, a.updated, a.age_days, r.max_age_days
        );
    }
    for c in &r.changed_since_approval {
        let mut what = Vec::new();
        if !c.changed_sources.is_empty() {
            what.push(format!("sources changed: {}", c.changed_sources.join(", ")));
        }
        if c.answer_changed {
            what.push("the answer text changed".to_string());
        }
        println!(
            "changed since approval: {} (approved {} by {}; {})",
            c.id,
            c.approved,
            c.by,
            what.join("; ")
        );
    }
    for g in &r.gone {
        println!(
            "gone: {} (article {}, since {})",
            g.location,
            g.article.as_deref().unwrap_or("-"),
            g.since.as_deref().unwrap_or("?")
        );
    }
    if !r.undated.is_empty() {
        println!(
            "note: {} article(s) have no `updated` date",
            r.undated.len()
        );
    }
    if !r.unrecorded.is_empty() {
        println!(
            "note: {} approved answer(s) have no approval record; `concord knowledge approve --all` records them",
            r.unrecorded.len()
        );
    }
    if r.is_stale() {
        println!("the knowledge base needs attention");
    } else {
        println!("the knowledge base is current");
    }
}
