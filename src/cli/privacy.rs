//! `concord privacy`: answer an access request (`export`), erase a person's data (`erase`) and
//! purge what is older than the retention periods (`purge`), from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use concord::store::{Store, Subject};
use concord::Config;

/// Whose data: exactly one of the three.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct SubjectArgs {
    /// One conversation (`c_...`).
    #[arg(long)]
    conversation: Option<String>,
    /// Every conversation with this e-mail address (left for replies or written in a message).
    #[arg(long)]
    email: Option<String>,
    /// Every conversation mentioning this order id.
    #[arg(long)]
    order: Option<String>,
}

impl SubjectArgs {
    fn subject(&self) -> anyhow::Result<Subject> {
        let (kind, value) = match (&self.conversation, &self.email, &self.order) {
            (Some(v), _, _) => ("conversation", v),
            (_, Some(v), _) => ("email", v),
            (_, _, Some(v)) => ("order", v),
            _ => anyhow::bail!("say whose data: --conversation, --email or --order"),
        };
        Ok(Subject::new(kind, value)?)
    }
}

#[derive(Subcommand)]
pub enum PrivacyCommand {
    /// Everything stored about a person, as JSON (an access request's answer). Changes nothing.
    Export {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erase everything stored about a person: conversations, messages, drafts, decisions,
    /// feedback, notifications, the search index, and their phrasings in the knowledge files
    /// (then the index is rebuilt). Without --yes, shows what would be erased.
    Erase {
        #[command(flatten)]
        subject: SubjectArgs,
        /// Really erase (it cannot be undone; export first if the person asked for a copy).
        #[arg(long)]
        yes: bool,
        /// Who asked for it, for the audit log (the identifier itself is never logged).
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Remove what is older than the `[privacy]` retention periods now.
    Purge,
}

pub fn run(config: &Config, command: PrivacyCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = rt.block_on(Store::connect(&config.store_location(), &config.store))?;
    let knowledge = config.knowledge_dir.clone();
    match command {
        PrivacyCommand::Export { subject, out } => {
            let subject = subject.subject()?;
            let export = rt.block_on(concord::privacy::export(&store, &knowledge, &subject))?;
            let text = serde_json::to_string_pretty(&export)?;
            match out {
                Some(path) => {
                    concord::util::atomic_write(&path, text.as_bytes())?;
                    eprintln!(
                        "{} conversation(s), {} approved answer(s) with their words: {}",
                        export.conversations.len(),
                        export.knowledge.len(),
                        path.display()
                    );
                }
                None => println!("{text}"),
            }
        }
        PrivacyCommand::Erase {
            subject,
            yes,
            actor,
        } => {
            let subject = subject.subject()?;
            if !yes {
                let export = rt.block_on(concord::privacy::export(&store, &knowledge, &subject))?;
                let messages: usize = export
                    .conversations
                    .iter()
                    .map(|c| c["messages"].as_array().map_or(0, Vec::len))
                    .sum();
                println!(
                    "would erase {} conversation(s) with {messages} message(s), and their words in {} approved answer(s); run again with --yes to erase",
                    export.conversations.len(),
                    export.knowledge.len()
                );
                rt.block_on(store.close());
                return Ok(ExitCode::from(2));
            }
            let done = rt.block_on(concord::privacy::erase(
                &store, &knowledge, &subject, &actor,
            ))?;
            rt.block_on(store.close());
            println!(
                "erased {} conversation(s) with {} message(s); {} approved answer(s) changed{}",
                done.store.conversations,
                done.store.messages,
                done.knowledge.len(),
                match (store.engine(), done.store.wal_cleared) {
                    (concord::store::Engine::Postgres, _) => {
                        " (PostgreSQL: rows deleted and vacuumed; old copies stay in the server's \
                         WAL and backups until they are recycled)"
                    }
                    (_, true) => "",
                    (_, false) => {
                        " (the write-ahead log was in use; it is emptied at the next checkpoint)"
                    }
                }
            );
            if done.knowledge_changed() {
                // The index holds the removed phrasings until it is rebuilt.
                super::ingest::run(config, super::ingest::IngestArgs::quiet())?;
                concord::index::IndexDir::new(&config.data_dir).drop_previous()?;
                println!(
                    "index rebuilt; a running `concord serve` picks the change up at its next knowledge reload"
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        PrivacyCommand::Purge => {
            let done = rt.block_on(concord::privacy::purge(&store, &config.privacy))?;
            println!("{}", serde_json::to_string_pretty(&done)?);
        }
    }
    rt.block_on(store.close());
    Ok(ExitCode::SUCCESS)
}
