//! `fetch`, `verify` and the local status of a registry entry.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::download::{Http, Job, Pin, PinKind, check_pins, hash_file};
use crate::error::{Error, Result};
use crate::lock::{LOCK_FILE, Lock, LockedFile};
use crate::openneuro;
use crate::registry::{Entry, FileSpec, Source};
use crate::root::DataRoot;
use crate::unpack;

/// How to fetch.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Only the first N subjects in sorted order (OpenNeuro entries); files of no subject
    /// (annotations) are always fetched.
    pub subjects: Option<usize>,
    /// Downloads at a time.
    pub jobs: usize,
    /// No progress bars.
    pub quiet: bool,
    /// Connect and per-read timeout.
    pub timeout: Duration,
    /// Extra attempts after a timeout, a dropped connection or a 5xx (each resumes).
    pub retries: u32,
    /// OpenNeuro base URL (default: `$BRAINSCALE_OPENNEURO_URL`, else https://openneuro.org).
    pub openneuro_url: Option<String>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            subjects: None,
            jobs: 4,
            quiet: false,
            timeout: Duration::from_secs(60),
            retries: 3,
            openneuro_url: None,
        }
    }
}

/// What a fetch did.
#[derive(Clone, Debug, Default)]
pub struct FetchReport {
    /// The entry.
    pub entry: String,
    /// `ROOT/raw/<entry>`.
    pub dir: PathBuf,
    /// Files that make up the (selected part of the) entry.
    pub files: usize,
    /// Files downloaded now.
    pub downloaded: usize,
    /// Of which continued an interrupted download.
    pub resumed: usize,
    /// Files already present and checked.
    pub present: usize,
    /// Bytes downloaded now.
    pub bytes: u64,
    /// Files whose sha256 was recorded in the lock file for the first time.
    pub recorded: Vec<String>,
    /// The subjects chosen with `--subjects` (OpenNeuro entries).
    pub subjects: Option<Vec<String>>,
    /// Files unpacked from archives now.
    pub unpacked: usize,
    /// The lock file.
    pub lock: PathBuf,
}

/// A file to have on disk, with what is known about it.
struct Planned {
    url: String,
    rel: String,
    size: Option<u64>,
    pinned: Option<String>,
    /// Other checksums it must have (an annex key's MD5, a git object id).
    digests: Vec<Pin>,
    unpack: bool,
    password: Option<String>,
}

/// The plain files of an entry as planned downloads.
fn planned_files(files: &[FileSpec]) -> Vec<Planned> {
    files
        .iter()
        .map(|f| Planned {
            url: f.url.clone(),
            rel: f.path.clone(),
            size: f.size,
            pinned: f.sha256.clone(),
            digests: f
                .git_sha1
                .iter()
                .map(|h| Pin { kind: PinKind::GitBlobSha1, hex: h.clone(), from: "datasets.toml".into() })
                .collect(),
            unpack: f.unpack,
            password: f.password.clone(),
        })
        .collect()
}

/// Downloads what `entry` needs into `root.raw(entry)` (skipping what is already there and
/// checked), records new checksums in the lock file, and unpacks archives.
pub fn fetch(entry: &Entry, root: &DataRoot, options: &FetchOptions) -> Result<FetchReport> {
    let http = Http::new(options.timeout, options.retries);
    fetch_with(entry, root, options, &http)
}

pub(crate) fn fetch_with(entry: &Entry, root: &DataRoot, options: &FetchOptions, http: &Http) -> Result<FetchReport> {
    let dir = root.raw(&entry.name);
    let mut report = FetchReport { entry: entry.name.clone(), dir: dir.clone(), ..Default::default() };
    let downloads = match &entry.source {
        Source::Generated { command } => {
            return Err(Error::Generated { name: entry.name.clone(), command: command.clone() });
        }
        Source::Download(d) => d,
    };
    if options.subjects.is_some() && downloads.openneuro.is_none() {
        return Err(Error::NoSubjects { name: entry.name.clone() });
    }
    let mut planned = planned_files(&downloads.files);
    if let Some(spec) = &downloads.openneuro {
        let base = openneuro::base_url(options.openneuro_url.as_deref());
        let mut listed = openneuro::list(http, &base, spec)?;
        if let Some(n) = options.subjects {
            let (kept, subjects) = openneuro::first_subjects(listed, n);
            listed = kept;
            report.subjects = Some(subjects);
        }
        planned.extend(listed.into_iter().map(|f| {
            Planned {
                url: f.url,
                rel: f.path,
                size: f.size,
                pinned: None,
                digests: f
                    .md5
                    .into_iter()
                    .map(|hex| Pin {
                        kind: PinKind::Md5,
                        hex,
                        from: format!("OpenNeuro annex key {}", f.key.as_deref().unwrap_or("")),
                    })
                    .collect(),
                unpack: false,
                password: None,
            }
        }));
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
    let lock = Lock::open(&dir, &entry.name, &entry.version)?;
    report.lock = lock.path().to_path_buf();
    report.files = planned.len();
    let registry_name = PathBuf::from("datasets.toml");

    // What is already there, and what to download.
    let lock = Mutex::new(lock);
    let mut jobs = VecDeque::new();
    for p in &planned {
        let dest = dir.join(&p.rel);
        let locked = lock_guard(&lock).get(&p.rel).cloned();
        let sha256 = p.pinned.clone().or_else(|| locked.as_ref().map(|l| l.sha256.clone()));
        let size = p.size.or(locked.as_ref().map(|l| l.size));
        let expectation = if p.pinned.is_some() { registry_name.clone() } else { report.lock.clone() };
        if dest.is_file() {
            // Without a sha256 yet (never fetched here), the other pins decide.
            let digests = if sha256.is_none() { p.digests.as_slice() } else { &[] };
            if let Some(record) = check_present(&dest, sha256.as_deref(), size, digests)? {
                let recorded_now = locked.is_none() && p.pinned.is_none();
                if locked.as_ref() != Some(&record) {
                    let mut l = lock_guard(&lock);
                    l.insert(&p.rel, LockedFile { url: p.url.clone(), ..record });
                    l.save()?;
                }
                if recorded_now {
                    report.recorded.push(p.rel.clone());
                }
                report.present += 1;
                continue;
            }
        }
        jobs.push_back(Job {
            url: p.url.clone(),
            rel: p.rel.clone(),
            dest,
            size,
            sha256,
            expectation,
            digests: p.digests.clone(),
        });
    }

    // Downloads, a few at a time.
    let multi = MultiProgress::with_draw_target(if options.quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    });
    let total_bytes: Option<u64> = jobs.iter().map(|j| j.size).sum();
    let overall = multi.add(ProgressBar::new(jobs.len() as u64));
    overall.set_style(style("{msg:>12} {pos}/{len} files [{elapsed_precise}]"));
    overall.set_message(entry.name.clone());
    if let Some(t) = total_bytes {
        overall.set_message(format!("{} ({})", entry.name, indicatif::HumanBytes(t)));
    }
    let n_jobs = jobs.len();
    let queue = Mutex::new(jobs);
    let outcome = Mutex::new((Vec::<Error>::new(), report));
    std::thread::scope(|s| {
        for _ in 0..options.jobs.clamp(1, 16).min(n_jobs.max(1)) {
            s.spawn(|| {
                loop {
                    let Some(job) = lock_guard(&queue).pop_front() else { break };
                    let bar = multi.add(ProgressBar::new(job.size.unwrap_or(0)));
                    bar.set_style(style("{msg:40!} [{bar:25}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"));
                    bar.set_message(job.rel.clone());
                    let result = http.download(&job, &bar).and_then(|done| {
                        let mut l = lock_guard(&lock);
                        let first = l.get(&job.rel).is_none() && job.sha256.is_none();
                        l.insert(&job.rel, LockedFile { sha256: done.sha256, size: done.size, url: job.url.clone() });
                        l.save()?;
                        Ok((done.size, done.resumed, first))
                    });
                    bar.finish_and_clear();
                    multi.remove(&bar);
                    overall.inc(1);
                    let mut o = lock_guard(&outcome);
                    match result {
                        Ok((size, resumed, first)) => {
                            o.1.downloaded += 1;
                            o.1.bytes += size;
                            o.1.resumed += usize::from(resumed);
                            if first {
                                o.1.recorded.push(job.rel.clone());
                            }
                        }
                        Err(e) => o.0.push(e),
                    }
                }
            });
        }
    });
    overall.finish_and_clear();
    let (mut errors, mut report) = outcome.into_inner().unwrap_or_else(|p| p.into_inner());
    report.recorded.sort();
    match errors.len() {
        0 => {}
        1 => return Err(errors.remove(0)),
        _ => return Err(Error::Downloads { total: n_jobs, errors }),
    }

    for p in planned.iter().filter(|p| p.unpack) {
        let archive = dir.join(&p.rel);
        let into = archive.parent().unwrap_or(&dir);
        let password = p.password.as_deref();
        if !unpack::is_unpacked(&archive, into)? {
            report.unpacked += unpack::unpack(&archive, into, password)?.len();
        }
    }
    Ok(report)
}

fn lock_guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

/// A file already in place: its record when it checks out, `None` when it must be downloaded
/// again. With a known sha256 and size, a matching size is enough (files only ever arrive
/// under their final name after their checksum was verified; `verify` re-hashes everything).
fn check_present(path: &Path, sha256: Option<&str>, size: Option<u64>, pins: &[Pin]) -> Result<Option<LockedFile>> {
    let len = std::fs::metadata(path).map_err(|e| Error::io("cannot read", path, e))?.len();
    if size.is_some_and(|s| s != len) || check_pins(path, pins)?.is_some() {
        return Ok(None);
    }
    if let (Some(sha), Some(_)) = (sha256, size) {
        return Ok(Some(LockedFile { sha256: sha.to_owned(), size: len, url: String::new() }));
    }
    let (actual, len) = hash_file(path)?;
    Ok(match sha256 {
        Some(s) if s != actual => None,
        _ => Some(LockedFile { sha256: actual, size: len, url: String::new() }),
    })
}

/// One file that failed verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corrupt {
    /// Its path relative to the entry's folder.
    pub path: String,
    /// Expected sha256 and size.
    pub expected: (String, u64),
    /// What is on disk.
    pub actual: (String, u64),
}

/// What `verify` found.
#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    /// The entry.
    pub entry: String,
    /// `ROOT/raw/<entry>`.
    pub dir: PathBuf,
    /// Files whose sha256 and size match.
    pub ok: usize,
    /// Expected files that are absent (relative paths).
    pub missing: Vec<String>,
    /// Files whose bytes differ from the record.
    pub corrupt: Vec<Corrupt>,
    /// Whether nothing of the entry was ever fetched here.
    pub never_fetched: bool,
}

impl VerifyReport {
    /// Whether everything checks out.
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty() && !self.never_fetched
    }
}

/// A file `verify` expects.
struct Expected {
    /// Its path relative to the entry's folder.
    rel: String,
    /// Its sha256 and size, when known.
    want: Option<(String, Option<u64>)>,
    /// Whether its unpacked members must be there too (with the archive's password, if any).
    unpack: Option<Option<String>>,
}

/// Re-hashes every file of `entry` on disk against the pinned checksums and the lock file.
/// Plain-file entries expect every listed file; OpenNeuro entries expect what the lock records
/// (what was fetched, e.g. with `--subjects`). Archives must also be unpacked.
pub fn verify(entry: &Entry, root: &DataRoot, quiet: bool) -> Result<VerifyReport> {
    let dir = root.raw(&entry.name);
    let mut report = VerifyReport { entry: entry.name.clone(), dir: dir.clone(), ..Default::default() };
    let lock = match &entry.source {
        Source::Generated { command } => {
            return Err(Error::Generated { name: entry.name.clone(), command: command.clone() });
        }
        _ => Lock::read(&dir.join(LOCK_FILE))?,
    };
    if lock.as_ref().is_some_and(|l| l.version() != entry.version) {
        // The same error as a fetch gives: the lock is for another version.
        Lock::open(&dir, &entry.name, &entry.version)?;
    }
    let mut expected: Vec<Expected> = Vec::new();
    let files = entry.source.files();
    for f in files {
        let locked = lock.as_ref().and_then(|l| l.get(&f.path));
        let sha = f.sha256.clone().or_else(|| locked.map(|l| l.sha256.clone()));
        let size = f.size.or(locked.map(|l| l.size));
        expected.push(Expected {
            rel: f.path.clone(),
            want: sha.map(|s| (s, size)),
            unpack: f.unpack.then(|| f.password.clone()),
        });
    }
    if entry.source.openneuro().is_some() {
        // OpenNeuro files: what the lock records (what was fetched, e.g. with --subjects).
        for (path, l) in lock.iter().flat_map(|l| l.files()) {
            if files.iter().any(|f| f.path == path) {
                continue;
            }
            expected.push(Expected {
                rel: path.to_owned(),
                want: Some((l.sha256.clone(), Some(l.size))),
                unpack: None,
            });
        }
    }
    report.never_fetched = lock.is_none() && expected.iter().all(|e| !dir.join(&e.rel).exists());
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(expected.len() as u64) };
    bar.set_style(style("{msg:>12} verifying [{bar:25}] {pos}/{len} files"));
    bar.set_message(entry.name.clone());
    for Expected { rel, want, unpack } in &expected {
        bar.inc(1);
        let path = dir.join(rel);
        if !path.is_file() {
            report.missing.push(rel.clone());
            continue;
        }
        let (sha, size) = hash_file(&path)?;
        match want {
            Some((s, n)) if *s != sha || n.is_some_and(|n| n != size) => report.corrupt.push(Corrupt {
                path: rel.clone(),
                expected: (s.clone(), n.unwrap_or(size)),
                actual: (sha, size),
            }),
            // A file with neither a pinned nor a recorded checksum cannot be checked: fetch
            // records one.
            None => report.missing.push(format!("{rel} (no checksum recorded: run fetch)")),
            Some(_) => {
                report.ok += 1;
                if unpack.is_some() {
                    let into = path.parent().unwrap_or(&dir);
                    for (member, len) in unpack::members(&path)? {
                        let m = into.join(&member);
                        if !std::fs::metadata(&m).is_ok_and(|d| d.is_file() && d.len() == len) {
                            report.missing.push(format!("{} (unpacked from {rel})", member.display()));
                        }
                    }
                }
            }
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

/// What of an entry is on this machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalStatus {
    /// Made locally (`demo`): nothing to fetch.
    pub generated: bool,
    /// Files of the entry present in `ROOT/raw/<entry>`.
    pub files_present: usize,
    /// Files the entry has, when known without the network (plain-file entries; for OpenNeuro
    /// entries the files recorded in the lock).
    pub files_expected: Option<usize>,
    /// Subjects among the files present.
    pub subjects: usize,
    /// Interrupted downloads waiting to resume.
    pub partial: usize,
    /// Whether `ROOT/datasets/<entry>/dataset.toml` exists.
    pub prepared: bool,
}

impl LocalStatus {
    /// `fetched`, `partial 3/8`, `-`, ... for `datasets list`.
    pub fn fetched_text(&self) -> String {
        if self.generated {
            return "generated".into();
        }
        let mut s = match self.files_expected {
            _ if self.files_present == 0 => "-".to_owned(),
            Some(n) if self.files_present < n => format!("partial {}/{n}", self.files_present),
            _ if self.subjects > 0 => format!("{} files, {} subjects", self.files_present, self.subjects),
            _ => "fetched".to_owned(),
        };
        if self.partial > 0 {
            s.push_str(&format!(" ({} interrupted)", self.partial));
        }
        s
    }
}

/// Number of `*.part` files (interrupted downloads) under `dir`.
fn count_parts(dir: &Path) -> usize {
    let Ok(read) = std::fs::read_dir(dir) else { return 0 };
    read.filter_map(|e| e.ok())
        .map(|e| {
            let path = e.path();
            if path.is_dir() { count_parts(&path) } else { usize::from(path.extension().is_some_and(|x| x == "part")) }
        })
        .sum()
}

/// What of `entry` is on disk under `root` (reads the disk only; no hashing).
pub fn status(entry: &Entry, root: &DataRoot) -> Result<LocalStatus> {
    let dir = root.raw(&entry.name);
    let mut st =
        LocalStatus { prepared: root.prepared(&entry.name).join("dataset.toml").is_file(), ..Default::default() };
    let paths: Vec<String> = match &entry.source {
        Source::Generated { .. } => {
            st.generated = true;
            return Ok(st);
        }
        Source::Download(d) => {
            let mut paths: Vec<String> = d.files.iter().map(|f| f.path.clone()).collect();
            if d.openneuro.is_some()
                && let Some(l) = Lock::read(&dir.join(LOCK_FILE))?
            {
                paths.extend(l.files().map(|(p, _)| p.to_owned()).filter(|p| !d.files.iter().any(|f| &f.path == p)));
            }
            paths
        }
    };
    st.files_expected = Some(paths.len());
    let mut subjects: Vec<&str> = Vec::new();
    for p in &paths {
        if dir.join(p).is_file() {
            st.files_present += 1;
            subjects.extend(openneuro::subject_of(p));
        }
    }
    st.partial = count_parts(&dir);
    subjects.sort_unstable();
    subjects.dedup();
    st.subjects = subjects.len();
    Ok(st)
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
