//! The `concord serve` child process of `concord bench serve` and `bench soak`: started with a
//! temporary database (and raised rate limits, if asked), waited for until it listens, killed when
//! dropped; its memory from /proc.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use concord::Config;
use tokio::sync::oneshot;

/// How long the started server may take to print `listening on`.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

/// `concord serve` started by the benchmark; killed when dropped, on every exit path.
pub(crate) struct ServerChild {
    pub(crate) child: Child,
    ready: Option<oneshot::Receiver<String>>,
    log: PathBuf,
    /// Holds the temporary database and the server's log; removed after the child is killed.
    _dir: tempfile::TempDir,
}

impl ServerChild {
    /// Starts the server; its stderr goes to `log` if given, else to the temporary directory.
    /// `raise_limits` lifts the rate limits and per-address caps out of the way (a load test from
    /// one address); without it the server runs with the configured limits (the soak test).
    pub(crate) fn spawn(
        config: &Config,
        log: Option<&Path>,
        raise_limits: bool,
    ) -> anyhow::Result<ServerChild> {
        ServerChild::spawn_sharing(config, log, raise_limits, None)
    }

    /// [`ServerChild::spawn`] for one of several instances: on the configured PostgreSQL store
    /// (`store.url`, which should name an empty database), or else on the SQLite file `sqlite`
    /// they share (a temporary one of its own when `None`).
    pub(crate) fn spawn_sharing(
        config: &Config,
        log: Option<&Path>,
        raise_limits: bool,
        sqlite: Option<&Path>,
    ) -> anyhow::Result<ServerChild> {
        let dir = tempfile::Builder::new()
            .prefix("concord-bench-")
            .tempdir()
            .context("creating a temporary directory for the benchmark database")?;
        let log = log.map_or_else(|| dir.path().join("server.log"), Path::to_path_buf);
        let stderr = fs_err::File::create(&log)?.into_file();
        let exe = std::env::current_exe().context("locating the concord binary")?;
        let mut command = Command::new(exe);
        if let Some(path) = global_config_arg() {
            command.arg("--config").arg(path);
        }
        command
            .arg("--data-dir")
            .arg(&config.data_dir)
            .arg("--knowledge")
            .arg(&config.knowledge_dir)
            .args(["serve", "--no-ingest", "--bind", "127.0.0.1:0"]);
        match config.store_location() {
            concord::store::StoreLocation::Postgres(url) => command
                .env("CONCORD__STORE__URL", url)
                .env_remove("CONCORD__STORE__PATH"),
            concord::store::StoreLocation::Sqlite(_) => {
                command.env_remove("CONCORD__STORE__URL").env(
                    "CONCORD__STORE__PATH",
                    sqlite.map_or_else(|| dir.path().join("bench.db"), Path::to_path_buf),
                )
            }
        };
        if raise_limits {
            command
                .env("CONCORD__SERVER__IP_REQUESTS_PER_MINUTE", "100000000")
                .env("CONCORD__SERVER__IP_BURST", "1000000")
                .env(
                    "CONCORD__SERVER__CONVERSATION_MESSAGES_PER_MINUTE",
                    "100000",
                )
                .env("CONCORD__SERVER__CONVERSATION_BURST", "1000")
                // Every simulated customer comes from this one address: the per-address caps
                // would measure themselves instead of the server.
                // (The validated maximum: more is refused at start.)
                .env(
                    "CONCORD__SERVER__CONVERSATIONS_PER_ADDRESS_PER_HOUR",
                    "1000000",
                )
                .env("CONCORD__SERVER__CONNECTIONS_PER_ADDRESS", "1000000")
                .env(
                    "CONCORD__GENERATION__QUEUE_PER_CLIENT",
                    config.generation.queue_capacity.to_string(),
                );
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = command.spawn().context("starting `concord serve`")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = oneshot::channel();
        // Reads stdout to its end (so the pipe never fills); reports the `listening on` line.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = listening_url(&line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url);
                    }
                }
            }
        });
        Ok(ServerChild {
            child,
            ready: Some(rx),
            log,
            _dir: dir,
        })
    }

    /// The server's base URL once it prints `listening on`; its log if it exits or takes too long.
    pub(crate) async fn wait_ready(&mut self) -> anyhow::Result<String> {
        let ready = self.ready.take().expect("wait_ready is called once");
        match tokio::time::timeout(READY_TIMEOUT, ready).await {
            Ok(Ok(url)) => Ok(url),
            Ok(Err(_)) => {
                // Stdout closed without the line: the server is exiting.
                let mut status = None;
                for _ in 0..50 {
                    status = self.child.try_wait().ok().flatten();
                    if status.is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let status = status.map_or("still running".to_string(), |s| s.to_string());
                bail!(
                    "`concord serve` stopped before it was ready ({status}); its log ends with:\n{}",
                    self.log_tail()
                )
            }
            Err(_) => bail!(
                "`concord serve` did not print `listening on` within {} s; its log ends with:\n{}",
                READY_TIMEOUT.as_secs(),
                self.log_tail()
            ),
        }
    }

    /// The last lines of the server's stderr.
    pub(crate) fn log_tail(&self) -> String {
        self.log_lines(|_| true)
    }

    /// The last ERROR and WARN lines of the server's stderr.
    pub(crate) fn log_problems(&self) -> String {
        self.log_lines(|l| l.contains(" ERROR ") || l.contains(" WARN "))
    }

    /// The last 30 lines of the server's stderr that `keep` selects, without colour codes.
    fn log_lines(&self, keep: impl Fn(&str) -> bool) -> String {
        let text = strip_ansi(&fs_err::read_to_string(&self.log).unwrap_or_default());
        let lines: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        if tail.trim().is_empty() {
            "(nothing)".to_string()
        } else {
            tail
        }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`), as tracing colours its log.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The URL of a `listening on http://127.0.0.1:PORT` line.
fn listening_url(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let url = rest.split_whitespace().next()?;
    url.starts_with("http")
        .then(|| url.trim_end_matches('/').to_string())
}

/// The global `--config FILE` this process was given (the loaded `Config` does not keep it).
fn global_config_arg() -> Option<std::ffi::OsString> {
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return args.next();
        }
        if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(value.into());
        }
    }
    None
}

/// A line of `/proc/<pid>/status` (`VmHWM:`, `VmRSS:`) in MiB.
/// Fails unless the server at `base` answers `/healthz` (before any load is started).
pub(crate) async fn check_health(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let health = client
        .get(format!("{base}/healthz"))
        .timeout(super::REQUEST_TIMEOUT)
        .send()
        .await
        .with_context(|| format!("no server answers at {base}"))?;
    anyhow::ensure!(
        health.status().is_success(),
        "{base}/healthz answered {}",
        health.status()
    );
    Ok(())
}

pub(crate) fn proc_status_mb(pid: u32, key: &str) -> Option<f64> {
    concord::util::status_mb(&pid.to_string(), key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line() {
        assert_eq!(
            listening_url("listening on http://127.0.0.1:40123").as_deref(),
            Some("http://127.0.0.1:40123")
        );
        assert_eq!(listening_url("loading models"), None);
        assert_eq!(
            strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m x"),
            "2026 ERROR x"
        );
    }
}
