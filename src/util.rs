//! Small shared helpers: atomic file writes, sha256 of files and bytes, peak memory.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Equality that takes the same time wherever the inputs differ (tokens, CSRF values).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, then rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// Flushes a directory entry so a rename inside it survives a crash (best effort).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = fs_err::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mb() -> Option<f64> {
    status_mb("self", "VmHWM:")
}

/// Resident set size of this process now, in MiB (Linux `VmRSS`), if known.
pub fn rss_mb() -> Option<f64> {
    status_mb("self", "VmRSS:")
}

/// A line of `/proc/<pid>/status` (`VmHWM:`, `VmRSS:`) in MiB; `pid` may be `self`.
pub fn status_mb(pid: &str, key: &str) -> Option<f64> {
    let status = fs_err::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Opens (creating if needed, never truncating) a file used only for its advisory lock.
pub fn open_lock_file(path: &Path) -> std::io::Result<fs_err::File> {
    fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Where `a` and `b` part when their optimal-string-alignment distance (insert, delete,
/// substitute, swap two neighbours) is at most 1: the length of their common beginning (the
/// whole length when they are equal); `None` when they differ more.
pub fn one_edit_at(a: &[char], b: &[char]) -> Option<usize> {
    if a.len().abs_diff(b.len()) > 1 {
        return None;
    }
    let at = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[at..], &b[at..]);
    let one = match (a.len(), b.len()) {
        (0, 0) => true,
        (x, y) if x == y => {
            a[1..] == b[1..] || (x >= 2 && a[0] == b[1] && a[1] == b[0] && a[2..] == b[2..])
        }
        (x, y) if x > y => a[1..] == *b,
        _ => *a == b[1..],
    };
    one.then_some(at)
}

/// Lowercases `text` and folds Polish diacritics (`ą`→`a`, `ł`→`l`, `ż`/`ź`→`z`...), so that
/// rules match what customers type without them. One output char per input char (offsets stay
/// valid in characters).
pub fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

/// [`fold`] for one character.
pub fn fold_char(c: char) -> char {
    match c {
        'ą' | 'Ą' => 'a',
        'ć' | 'Ć' => 'c',
        'ę' | 'Ę' => 'e',
        'ł' | 'Ł' => 'l',
        'ń' | 'Ń' => 'n',
        'ó' | 'Ó' => 'o',
        'ś' | 'Ś' => 's',
        'ź' | 'Ź' | 'ż' | 'Ż' => 'z',
        c => c.to_lowercase().next().unwrap_or(c),
    }
}

/// The shape of an e-mail address (one `@`, a dotted domain, no spaces, control characters or
/// angle brackets, at most 254 characters): the address trimmed, its domain in lower case.
pub fn email_shape(text: &str) -> Option<String> {
    let t = text.trim();
    if t.len() > 254
        || t.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
    {
        return None;
    }
    let (local, domain) = t.rsplit_once('@')?;
    let labels: Vec<&str> = domain.split('.').collect();
    if local.is_empty()
        || local.len() > 64
        || local.contains('@')
        || labels.len() < 2
        || labels.iter().any(|l| {
            l.is_empty()
                || l.starts_with('-')
                || l.ends_with('-')
                || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        return None;
    }
    Some(format!("{local}@{}", domain.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::one_edit_at;

    #[test]
    fn one_edit_at_is_where_one_letter_is_added_dropped_changed_or_two_swapped() {
        let at = |a: &str, b: &str| {
            one_edit_at(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(at("adress", "address"), Some(2));
        assert_eq!(at("address", "adress"), Some(2));
        assert_eq!(at("discoutn", "discount"), Some(6));
        assert_eq!(at("rabtowy", "rabatowy"), Some(3));
        assert_eq!(at("zwrot", "zwrat"), Some(3));
        assert_eq!(at("konsultan", "konsultant"), Some(9));
        assert_eq!(at("zwrot", "zwrot"), Some(5));
        assert_eq!(at("pogoda", "podoba"), None);
        assert_eq!(at("abcd", "badc"), None);
        assert_eq!(at("paczka", "paczkomat"), None);
    }
}
