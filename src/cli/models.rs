//! `concord models fetch | list | verify`: the default models in the models folder.

use std::process::ExitCode;

use clap::Subcommand;
use concord::models::ModelStore;
use concord::Config;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Fetch a model (default: the configured ones); a quick no-op when present.
    Fetch {
        name: Option<String>,
        /// Download again even if the files are present and verified.
        #[arg(long)]
        force: bool,
    },
    /// Show each model, its role, size and state.
    List,
    /// Check the files' sha256 (quick: only files changed since the last check; --full: all).
    Verify {
        name: Option<String>,
        #[arg(long)]
        full: bool,
    },
}

/// The named model, or the configured ones (`models.embedder`, `models.generator` and each
/// language's generator): a model in the manifest that nothing uses (the 1.1 GB Qwen) is
/// fetched only when asked for.
fn configured(config: &Config, name: Option<String>) -> Vec<String> {
    match name {
        Some(n) => vec![n],
        None => {
            let mut names = vec![config.models.embedder.clone()];
            for g in [
                &config.models.generator,
                &config.generation.model_pl,
                &config.generation.model_en,
            ] {
                if !names.contains(g) {
                    names.push(g.clone());
                }
            }
            names
        }
    }
}

/// The named model, or every model in the manifest.
fn names(store: &ModelStore, name: Option<String>) -> Vec<String> {
    match name {
        Some(n) => vec![n],
        None => store.manifest().names(),
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

pub fn run(config: &Config, command: ModelsCommand) -> anyhow::Result<ExitCode> {
    let store = ModelStore::new(&config.models)?;
    match command {
        ModelsCommand::Fetch { name, force } => {
            for n in configured(config, name) {
                let started = std::time::Instant::now();
                let m = store.fetch(&n, force)?;
                println!(
                    "{n}: ready in {} ({:.1} s)",
                    m.dir.display(),
                    started.elapsed().as_secs_f64()
                );
            }
        }
        ModelsCommand::List => {
            println!(
                "{:<24} {:<10} {:>9}  {:<12} state",
                "model", "role", "size", "license"
            );
            for s in store.list() {
                println!(
                    "{:<24} {:<10} {:>6.0} MiB  {:<12} {}",
                    s.name,
                    s.role.as_str(),
                    mib(s.size),
                    s.license,
                    s.state
                );
            }
            println!("folder: {}", store.dir().display());
        }
        ModelsCommand::Verify { name, full } => {
            let mut bad = 0;
            for n in names(&store, name) {
                match store.verify(&n, full) {
                    Ok(report) => {
                        let hashed = report.files.iter().filter(|f| f.hashed).count();
                        println!(
                            "{n}: {} files verified ({hashed} hashed now) in {:.1} s",
                            report.files.len(),
                            report.elapsed.as_secs_f64()
                        );
                    }
                    Err(e) => {
                        bad += 1;
                        eprintln!("{n}: {e}");
                    }
                }
            }
            if bad > 0 {
                anyhow::bail!(
                    "{bad} model(s) failed verification; `concord models fetch` repairs them"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
