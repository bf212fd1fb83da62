//! Subcommand implementations for the `concord` binary: argument types, progress bars and
//! human or JSON output around the library's stages.

pub mod ask;
pub mod bench;
pub mod bench_console;
pub mod bench_console_live;
pub mod bench_embed;
pub mod bench_serve;
pub mod bench_soak;
pub mod check;
pub mod demo;
pub mod eval;
pub mod eval_run;
pub mod import;
pub mod ingest;
pub mod init;
pub mod knowledge;
pub mod models;
pub mod privacy;
pub mod search;
pub mod serve;
pub mod staff;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Refuses to run on CPUs without the instructions this build was compiled for.
pub fn check_cpu() -> anyhow::Result<()> {
    #[cfg(target_arch = "x86_64")]
    if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
    {
        anyhow::bail!(
            "this build of concord needs a CPU with AVX2 and FMA (x86-64-v3); rebuild for older \
             CPUs with RUSTFLAGS=\"-C target-cpu=x86-64\" (see README, Portable builds)"
        );
    }
    Ok(())
}

/// A progress bar with rate and ETA on stderr; hidden when stderr is not a terminal.
pub fn progress_bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({per_sec}, ETA {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Prints a value as one JSON object on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
