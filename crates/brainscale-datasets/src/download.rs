//! One file over HTTP: into `<file>.part`, resumed with a `Range` request after an
//! interruption, checksummed, then renamed into place.
//!
//! Nothing unverified ever carries the final name: partial data lives only in `<file>.part`
//! (kept after a timeout, a dropped connection or a full disk, so that the next fetch resumes;
//! deleted after a checksum or size mismatch, an HTTP 4xx, or a server that cannot resume).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One file to download.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    /// Where from.
    pub url: String,
    /// Its path relative to the entry's folder (the lock file's key).
    pub rel: String,
    /// Where to.
    pub dest: PathBuf,
    /// Expected size, when known.
    pub size: Option<u64>,
    /// Expected sha256, when known (pinned in the registry or recorded in the lock).
    pub sha256: Option<String>,
    /// Where the expected sha256 comes from, for messages.
    pub expectation: PathBuf,
    /// Other pins checked before the file takes its name: an OpenNeuro annex key's MD5, a git
    /// object id.
    pub digests: Vec<Pin>,
}

/// A checksum other than sha256 that a file must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pin {
    /// Which digest.
    pub kind: PinKind,
    /// Its expected value (lowercase hex).
    pub hex: String,
    /// Where it comes from, for messages (`OpenNeuro annex key MD5E-s...`, `datasets.toml`).
    pub from: String,
}

/// The digests a [`Pin`] can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PinKind {
    /// MD5 of the bytes (git-annex `MD5E` keys).
    Md5,
    /// git's object id of the file as a blob: SHA-1 of `blob <size>\0` + the bytes.
    GitBlobSha1,
}

impl PinKind {
    fn name(self) -> &'static str {
        match self {
            PinKind::Md5 => "md5",
            PinKind::GitBlobSha1 => "git object id (sha1)",
        }
    }
}

/// Checks `path` against `pins`; the first mismatch as (pin, actual hex).
pub(crate) fn check_pins<'a>(path: &Path, pins: &'a [Pin]) -> Result<Option<(&'a Pin, String)>> {
    if pins.is_empty() {
        return Ok(None);
    }
    let size = std::fs::metadata(path).map_err(|e| Error::io("cannot read", path, e))?.len();
    let mut md5 = md5::Md5::new();
    let mut git = sha1::Sha1::new();
    git.update(format!("blob {size}\0").as_bytes());
    let mut file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        git.update(&buf[..n]);
    }
    let (md5, git) = (hex(&md5.finalize()), hex(&git.finalize()));
    Ok(pins.iter().find_map(|p| {
        let actual = match p.kind {
            PinKind::Md5 => &md5,
            PinKind::GitBlobSha1 => &git,
        };
        (*actual != p.hex).then(|| (p, actual.clone()))
    }))
}

/// What a completed download produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Done {
    pub sha256: String,
    pub size: u64,
    /// Whether it continued a `.part` left by an earlier attempt.
    pub resumed: bool,
}

/// The HTTP client: one agent (connection pool) shared by every download of a fetch.
pub(crate) struct Http {
    agent: ureq::Agent,
    retries: u32,
    backoff: Duration,
}

enum Failure {
    /// Worth another attempt (resuming from the `.part`): timeouts, dropped connections, 5xx.
    Retry(Error),
    /// Final.
    Fatal(Error),
}

/// `<file>.part`.
pub(crate) fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

/// sha256 (lowercase hex) and size of a file on disk.
///
/// ```
/// # let tmp = tempfile::NamedTempFile::new().unwrap();
/// std::fs::write(tmp.path(), b"abc").unwrap();
/// let (sha, size) = brainscale_datasets::sha256_file(tmp.path()).unwrap();
/// assert_eq!((&sha[..8], size), ("ba7816bf", 3));
/// ```
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let (hasher, size) = hasher_of(path)?;
    Ok((hex(&hasher.finalize()), size))
}

fn hasher_of(path: &Path) -> Result<(Sha256, u64)> {
    let mut file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io("cannot read", path, e))?;
        if n == 0 {
            return Ok((hasher, size));
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Http {
    /// A client whose connect and per-read timeouts are `timeout`; transient failures are
    /// retried `retries` times, each attempt resuming where the last one stopped.
    pub fn new(timeout: Duration, retries: u32) -> Http {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout))
            .timeout_per_read(Some(timeout))
            .timeout_per_write(Some(timeout))
            .user_agent(concat!("brainscale/", env!("CARGO_PKG_VERSION")))
            // Bytes exactly as stored: no transparent decompression that would break ranges.
            .accept_encoding("identity")
            .build();
        Http { agent: config.new_agent(), retries, backoff: Duration::from_millis(500) }
    }

    /// Sets the pause before the first retry (doubled each time).
    #[cfg(test)]
    pub fn with_backoff(mut self, backoff: Duration) -> Http {
        self.backoff = backoff;
        self
    }

    /// POSTs a JSON body and returns the response text (`what` names the request in errors).
    pub fn post_json(&self, url: &str, body: &str) -> std::result::Result<String, String> {
        let mut last = String::new();
        let mut backoff = self.backoff;
        for attempt in 0..=self.retries {
            if attempt > 0 {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            let response = self
                .agent
                .post(url)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .send(body.as_bytes());
            match response {
                Ok(r) if r.status().is_success() => {
                    let mut body = r.into_body();
                    return body
                        .with_config()
                        .limit(1 << 30)
                        .read_to_string()
                        .map_err(|e| format!("cannot read the response: {e}"));
                }
                Ok(r) if r.status().is_server_error() => last = format!("HTTP {}", r.status().as_u16()),
                Ok(r) => return Err(format!("HTTP {}", r.status().as_u16())),
                Err(ureq::Error::Timeout(t)) => last = format!("timed out ({t})"),
                Err(e @ (ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_))) => {
                    last = e.to_string()
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!("{last} (after {} attempts)", self.retries + 1))
    }

    /// Downloads `job` into place, resuming a `.part` file when there is one.
    pub fn download(&self, job: &Job, bar: &ProgressBar) -> Result<Done> {
        if let Some(dir) = job.dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let part = part_path(&job.dest);
        let mut backoff = self.backoff;
        let mut attempt = 0;
        let done = loop {
            match self.attempt(job, &part, bar) {
                Ok(done) => break done,
                Err(Failure::Retry(e)) if attempt < self.retries => {
                    log::debug!("{e}; retrying");
                    attempt += 1;
                    std::thread::sleep(backoff);
                    backoff *= 2;
                }
                Err(Failure::Retry(e) | Failure::Fatal(e)) => return Err(e),
            }
        };
        if let Some(expected) = job.size.filter(|s| *s != done.size) {
            let _ = std::fs::remove_file(&part);
            return Err(Error::Size { url: job.url.clone(), file: job.dest.clone(), expected, actual: done.size });
        }
        if let Some(expected) = job.sha256.as_ref().filter(|s| **s != done.sha256) {
            let _ = std::fs::remove_file(&part);
            return Err(Error::Checksum {
                url: job.url.clone(),
                file: job.dest.clone(),
                expected: expected.clone(),
                actual: done.sha256,
                lock: job.expectation.clone(),
            });
        }
        if let Some((pin, actual)) = check_pins(&part, &job.digests)? {
            let _ = std::fs::remove_file(&part);
            return Err(Error::Digest(Box::new(crate::error::DigestMismatch {
                url: job.url.clone(),
                file: job.dest.clone(),
                algorithm: pin.kind.name(),
                expected: pin.hex.clone(),
                actual,
                from: pin.from.clone(),
            })));
        }
        std::fs::rename(&part, &job.dest).map_err(|e| Error::io("cannot rename into place", &job.dest, e))?;
        Ok(done)
    }

    fn attempt(&self, job: &Job, part: &Path, bar: &ProgressBar) -> std::result::Result<Done, Failure> {
        let net = |message: String| Error::Network { url: job.url.clone(), file: job.dest.clone(), message };
        let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if job.size.is_some_and(|s| have > s) {
            remove(part)?;
            have = 0;
        }
        let mut request = self.agent.get(&job.url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = request.call().map_err(|e| self.classify(job, e))?;
        let status = response.status().as_u16();
        let (mut file, mut hasher, start) = match status {
            206 if have > 0 => {
                let range = response.headers().get("content-range").and_then(|v| v.to_str().ok());
                if content_range_start(range) != Some(have) {
                    // Not the range asked for: start again from zero.
                    remove(part)?;
                    return Err(Failure::Retry(net(format!(
                        "the server answered `bytes={have}-` with Content-Range {range:?}; restarting the download"
                    ))));
                }
                let (hasher, _) = hasher_of(part).map_err(Failure::Fatal)?;
                let file = OpenOptions::new().append(true).open(part).map_err(|e| self.write_error(job, part, e))?;
                (file, hasher, have)
            }
            // A fresh download, or a server that ignores ranges: restart cleanly.
            200 => (File::create(part).map_err(|e| self.write_error(job, part, e))?, Sha256::new(), 0),
            416 if have > 0 => {
                remove(part)?;
                return Err(Failure::Retry(net(format!("the server cannot resume at byte {have}; restarting"))));
            }
            s => {
                let e = Error::HttpStatus { url: job.url.clone(), file: job.dest.clone(), status: s };
                return Err(if s >= 500 || s == 408 || s == 429 {
                    Failure::Retry(e)
                } else {
                    remove(part)?;
                    Failure::Fatal(e)
                });
            }
        };
        let length = response.body().content_length().map(|n| n + start).or(job.size);
        if let Some(n) = length {
            bar.set_length(n);
        }
        bar.set_position(start);
        let mut reader = response.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = start;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.classify(job, ureq::Error::from(e))),
            };
            file.write_all(&buf[..n]).map_err(|e| self.write_error(job, part, e))?;
            hasher.update(&buf[..n]);
            size += n as u64;
            bar.inc(n as u64);
        }
        file.sync_all().map_err(|e| self.write_error(job, part, e))?;
        if let Some(expected) = job.size.filter(|s| size < *s) {
            return Err(Failure::Retry(net(format!("the connection closed after {size} of {expected} bytes"))));
        }
        Ok(Done { sha256: hex(&hasher.finalize()), size, resumed: start > 0 })
    }

    fn classify(&self, job: &Job, e: ureq::Error) -> Failure {
        let (url, file) = (job.url.clone(), job.dest.clone());
        match e {
            ureq::Error::Timeout(t) => Failure::Retry(Error::Timeout { url, file, what: t.to_string() }),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                Failure::Retry(Error::Timeout { url, file, what: io.to_string() })
            }
            ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => {
                Failure::Retry(Error::Network { url, file, message: e.to_string() })
            }
            ureq::Error::HostNotFound => Failure::Fatal(Error::Network {
                url,
                file,
                message: "host not found (no network, or a wrong URL)".into(),
            }),
            e => Failure::Fatal(Error::Network { url, file, message: e.to_string() }),
        }
    }

    fn write_error(&self, job: &Job, path: &Path, e: std::io::Error) -> Failure {
        Failure::Fatal(if e.kind() == std::io::ErrorKind::StorageFull {
            Error::DiskFull { path: path.to_path_buf(), url: job.url.clone() }
        } else {
            Error::Write { path: path.to_path_buf(), url: job.url.clone(), source: e }
        })
    }
}

fn remove(path: &Path) -> std::result::Result<(), Failure> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::Fatal(Error::io("cannot remove", path, e))),
    }
}

/// The first byte of a `Content-Range: bytes A-B/T` header.
fn content_range_start(value: Option<&str>) -> Option<u64> {
    value?.trim().strip_prefix("bytes")?.trim().split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(content_range_start(Some("bytes 100-199/200")), Some(100));
        assert_eq!(content_range_start(Some("bytes */200")), None);
        assert_eq!(content_range_start(None), None);
    }

    #[test]
    fn part_files_sit_beside_their_file() {
        assert_eq!(part_path(Path::new("/a/b.nii.gz")), Path::new("/a/b.nii.gz.part"));
    }

    #[test]
    fn pins_check_md5_and_git_object_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("hello");
        std::fs::write(&f, b"hello\n").unwrap();
        // `printf 'hello\n' | git hash-object --stdin`, `printf 'hello\n' | md5sum`
        let git = "ce013625030ba8dba906f756967f9e9ca394464a";
        let md5 = "b1946ac92492d2347c6235b4d2611184";
        let pin = |kind, hex: &str| Pin { kind, hex: hex.into(), from: "test".into() };
        assert_eq!(check_pins(&f, &[pin(PinKind::GitBlobSha1, git), pin(PinKind::Md5, md5)]).unwrap(), None);
        let bad = [pin(PinKind::Md5, &"0".repeat(32))];
        let (p, actual) = check_pins(&f, &bad).unwrap().unwrap();
        assert_eq!((p.kind, actual.as_str()), (PinKind::Md5, md5));
    }

    #[test]
    fn hashing_matches_a_known_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("abc");
        std::fs::write(&f, b"abc").unwrap();
        let (sha, size) = hash_file(&f).unwrap();
        assert_eq!(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(size, 3);
    }
}
