//! fetch / verify / status against the loopback server of `testserver`.

use std::time::Duration;

use super::*;
use crate::download::{hash_file, part_path};
use crate::registry::{Downloads, FileSpec, OpenNeuroSpec};
use crate::testserver::{Route, TestServer};

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn sha(data: &[u8]) -> String {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), data).unwrap();
    hash_file(tmp.path()).unwrap().0
}

fn files_entry(files: Vec<FileSpec>) -> Entry {
    Entry {
        name: "files".into(),
        version: "1".into(),
        description: "d".into(),
        license: "l".into(),
        citation: "c".into(),
        source: Source::Download(Downloads { files, openneuro: None }),
        prepare: None,
    }
}

fn spec(url: String, path: &str, sha256: Option<String>, size: Option<u64>) -> FileSpec {
    FileSpec { url, path: path.into(), size, sha256, git_sha1: None, unpack: false, password: None }
}

fn quiet() -> FetchOptions {
    FetchOptions { quiet: true, timeout: Duration::from_secs(5), retries: 0, ..Default::default() }
}

/// A client with short pauses between attempts.
fn http(options: &FetchOptions) -> Http {
    Http::new(options.timeout, options.retries).with_backoff(Duration::from_millis(10))
}

fn fetch_quick(entry: &Entry, root: &DataRoot, options: &FetchOptions) -> Result<FetchReport> {
    fetch_with(entry, root, options, &http(options))
}

#[test]
fn plain_files_are_fetched_checked_recorded_then_skipped() {
    let (a, b) = (bytes(5000, 1), bytes(3000, 2));
    let server = TestServer::start(vec![("/a.bin", Route::File(a.clone())), ("/dir/b.bin", Route::File(b.clone()))]);
    let entry = files_entry(vec![
        spec(format!("{}/a.bin", server.url()), "a.bin", Some(sha(&a)), Some(5000)),
        spec(format!("{}/dir/b.bin", server.url()), "sub/b.bin", None, None),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let report = fetch_quick(&entry, &root, &quiet()).unwrap();
    assert_eq!((report.files, report.downloaded, report.present, report.bytes), (2, 2, 0, 8000));
    assert_eq!(report.recorded, ["sub/b.bin"], "only the unpinned checksum is recorded for the first time");
    assert_eq!(std::fs::read(root.raw("files").join("sub/b.bin")).unwrap(), b);
    let lock = Lock::read(&root.raw("files").join(LOCK_FILE)).unwrap().unwrap();
    assert_eq!(lock.get("sub/b.bin").unwrap().sha256, sha(&b));
    assert_eq!(lock.get("a.bin").unwrap().size, 5000);

    let n = server.log.lock().unwrap().len();
    let again = fetch_quick(&entry, &root, &quiet()).unwrap();
    assert_eq!((again.downloaded, again.present), (0, 2));
    assert!(again.recorded.is_empty());
    assert_eq!(server.log.lock().unwrap().len(), n, "present files are not downloaded again");

    let v = verify(&entry, &root, true).unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.ok, 2);
    let st = status(&entry, &root).unwrap();
    assert_eq!(st.fetched_text(), "fetched");
}

#[test]
fn a_checksum_mismatch_leaves_nothing_behind() {
    let a = bytes(4000, 3);
    let server = TestServer::start(vec![("/a.bin", Route::File(a))]);
    let entry = files_entry(vec![spec(format!("{}/a.bin", server.url()), "a.bin", Some("0".repeat(64)), None)]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let e = fetch_quick(&entry, &root, &quiet()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Checksum { .. }), "{msg}");
    assert!(msg.contains("/a.bin") && msg.contains("checksum mismatch") && msg.contains(&"0".repeat(64)), "{msg}");
    let dest = root.raw("files").join("a.bin");
    assert!(!dest.exists() && !part_path(&dest).exists(), "nothing corrupt is left");
}

#[test]
fn a_404_is_an_error_naming_the_url_and_the_file() {
    let server = TestServer::start(vec![]);
    let url = format!("{}/missing.bin", server.url());
    let entry = files_entry(vec![spec(url.clone(), "m.bin", None, None)]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let e = fetch_quick(&entry, &root, &quiet()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::HttpStatus { status: 404, .. }), "{msg}");
    assert!(msg.contains(&url) && msg.contains("404") && msg.contains("m.bin"), "{msg}");
    let dest = root.raw("files").join("m.bin");
    assert!(!dest.exists() && !part_path(&dest).exists());
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let a = bytes(200_000, 4);
    let server = TestServer::start(vec![("/big.bin", Route::CutOnce { body: a.clone(), after: 70_000 })]);
    let entry = files_entry(vec![spec(format!("{}/big.bin", server.url()), "big.bin", None, Some(200_000))]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());

    // Without retries the cut is an error, and the partial bytes stay in big.bin.part only.
    let e = fetch_quick(&entry, &root, &quiet()).unwrap_err();
    assert!(matches!(e, Error::Network { .. } | Error::Timeout { .. }), "{e}");
    let dest = root.raw("files").join("big.bin");
    assert!(!dest.exists());
    assert_eq!(std::fs::metadata(part_path(&dest)).unwrap().len(), 70_000);
    assert_eq!(status(&entry, &root).unwrap().partial, 1);

    // The next fetch asks for the rest only.
    let report = fetch_quick(&entry, &root, &quiet()).unwrap();
    assert_eq!((report.downloaded, report.resumed), (1, 1));
    let reqs = server.requests("/big.bin");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].range, None);
    assert_eq!(reqs[1].range.as_deref(), Some("bytes=70000-"));
    assert_eq!(std::fs::read(&dest).unwrap(), a);
    assert!(!part_path(&dest).exists());
    let lock = Lock::read(&root.raw("files").join(LOCK_FILE)).unwrap().unwrap();
    assert_eq!(lock.get("big.bin").unwrap().sha256, sha(&a), "the hash covers the resumed bytes too");
}

#[test]
fn retries_resume_within_one_fetch() {
    let a = bytes(100_000, 5);
    let server = TestServer::start(vec![("/big.bin", Route::CutOnce { body: a.clone(), after: 1234 })]);
    let entry = files_entry(vec![spec(format!("{}/big.bin", server.url()), "big.bin", Some(sha(&a)), None)]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let options = FetchOptions { retries: 2, ..quiet() };
    let report = fetch_quick(&entry, &root, &options).unwrap();
    assert_eq!(report.resumed, 1);
    let reqs = server.requests("/big.bin");
    assert_eq!(reqs.iter().map(|r| r.range.clone()).collect::<Vec<_>>(), [None, Some("bytes=1234-".into())]);
}

#[test]
fn a_server_that_ignores_ranges_restarts_the_file_cleanly() {
    let a = bytes(50_000, 6);
    let server = TestServer::start(vec![("/a.bin", Route::NoRange(a.clone()))]);
    let entry = files_entry(vec![spec(format!("{}/a.bin", server.url()), "a.bin", Some(sha(&a)), Some(50_000))]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let dest = root.raw("files").join("a.bin");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(part_path(&dest), vec![0xff; 10_000]).unwrap();
    let report = fetch_quick(&entry, &root, &quiet()).unwrap();
    assert_eq!(report.resumed, 0);
    assert_eq!(server.requests("/a.bin")[0].range.as_deref(), Some("bytes=10000-"));
    assert_eq!(std::fs::read(&dest).unwrap(), a);
}

#[test]
fn a_stalled_server_is_a_timeout_naming_the_url() {
    let server = TestServer::start(vec![("/slow.bin", Route::Stall)]);
    let url = format!("{}/slow.bin", server.url());
    let entry = files_entry(vec![spec(url.clone(), "slow.bin", None, None)]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let options = FetchOptions { timeout: Duration::from_millis(300), ..quiet() };
    let e = fetch_quick(&entry, &root, &options).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert!(e.to_string().contains(&url) && e.to_string().contains("slow.bin"), "{e}");
    assert!(!root.raw("files").join("slow.bin").exists());
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_a_clear_error_and_leaves_no_file_in_place() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let a = bytes(10_000, 7);
    let server = TestServer::start(vec![("/a.bin", Route::File(a))]);
    let entry = files_entry(vec![spec(format!("{}/a.bin", server.url()), "a.bin", None, None)]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let dest = root.raw("files").join("a.bin");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    // Writing the temporary file hits ENOSPC, as on a full disk.
    std::os::unix::fs::symlink("/dev/full", part_path(&dest)).unwrap();
    let e = fetch_quick(&entry, &root, &quiet()).unwrap_err();
    assert!(matches!(e, Error::DiskFull { .. }), "{e}");
    assert!(e.to_string().contains("disk full") && e.to_string().contains("a.bin.part"), "{e}");
    assert!(!dest.exists());
}

#[test]
fn several_failures_are_listed_together() {
    let server = TestServer::start(vec![("/ok.bin", Route::File(bytes(10, 8)))]);
    let entry = files_entry(vec![
        spec(format!("{}/ok.bin", server.url()), "ok.bin", None, None),
        spec(format!("{}/x.bin", server.url()), "x.bin", None, None),
        spec(format!("{}/y.bin", server.url()), "y.bin", None, None),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let e = fetch_quick(&entry, &root, &quiet()).unwrap_err().to_string();
    assert!(e.contains("2 of 3 downloads failed") && e.contains("x.bin") && e.contains("y.bin"), "{e}");
    assert!(root.raw("files").join("ok.bin").is_file(), "the good file is kept");
}

#[test]
fn the_lock_catches_a_file_that_changed_at_the_source() {
    let a = bytes(3000, 9);
    let server = TestServer::start(vec![("/a.bin", Route::File(a.clone()))]);
    let entry = files_entry(vec![spec(format!("{}/a.bin", server.url()), "a.bin", None, None)]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    assert_eq!(fetch_quick(&entry, &root, &quiet()).unwrap().recorded, ["a.bin"]);
    let dest = root.raw("files").join("a.bin");
    std::fs::remove_file(&dest).unwrap();
    server.set("/a.bin", Route::File(bytes(3000, 10)));
    let e = fetch_quick(&entry, &root, &quiet()).unwrap_err();
    assert!(matches!(e, Error::Checksum { .. }), "{e}");
    assert!(e.to_string().contains(LOCK_FILE), "the message points at the lock file: {e}");
    assert!(!dest.exists());
}

#[test]
fn verify_reports_missing_and_corrupt_files() {
    let (a, b) = (bytes(1000, 11), bytes(2000, 12));
    let server = TestServer::start(vec![("/a.bin", Route::File(a.clone())), ("/b.bin", Route::File(b.clone()))]);
    let entry = files_entry(vec![
        spec(format!("{}/a.bin", server.url()), "a.bin", Some(sha(&a)), None),
        spec(format!("{}/b.bin", server.url()), "b.bin", None, None),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let before = verify(&entry, &root, true).unwrap();
    assert!(before.never_fetched && !before.is_ok());
    fetch_quick(&entry, &root, &quiet()).unwrap();
    let dir = root.raw("files");
    let mut corrupted = b.clone();
    corrupted[5] ^= 1;
    std::fs::write(dir.join("b.bin"), &corrupted).unwrap();
    std::fs::remove_file(dir.join("a.bin")).unwrap();
    let v = verify(&entry, &root, true).unwrap();
    assert!(!v.is_ok());
    assert_eq!(v.missing, ["a.bin"]);
    assert_eq!(v.corrupt.len(), 1);
    assert_eq!(v.corrupt[0].path, "b.bin");
    assert_eq!(v.corrupt[0].expected.0, sha(&b));
    assert_eq!(v.corrupt[0].actual.0, sha(&corrupted));
    // fetch checks sizes only (verify re-hashes): a same-size corruption stays until the file
    // is deleted, as the CLI's verify message says; the missing file comes back.
    fetch_quick(&entry, &root, &quiet()).unwrap();
    assert_eq!(verify(&entry, &root, true).unwrap().corrupt.len(), 1);
    std::fs::remove_file(dir.join("b.bin")).unwrap();
    fetch_quick(&entry, &root, &quiet()).unwrap();
    assert!(verify(&entry, &root, true).unwrap().is_ok());
}

#[test]
fn zip_archives_are_unpacked_and_their_members_verified() {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    z.start_file("v.50d.txt", opts).unwrap();
    z.write_all(b"the 0.1 0.2\nof 0.3 0.4\n").unwrap();
    let archive = z.finish().unwrap().into_inner();
    let server = TestServer::start(vec![("/g.zip", Route::File(archive.clone()))]);
    let mut f = spec(format!("{}/g.zip", server.url()), "g.zip", None, Some(archive.len() as u64));
    f.unpack = true;
    let entry = files_entry(vec![f]);
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let report = fetch_quick(&entry, &root, &quiet()).unwrap();
    assert_eq!(report.unpacked, 1);
    let member = root.raw("files").join("v.50d.txt");
    assert_eq!(std::fs::read_to_string(&member).unwrap(), "the 0.1 0.2\nof 0.3 0.4\n");
    assert_eq!(fetch_quick(&entry, &root, &quiet()).unwrap().unpacked, 0, "unpacked once");
    std::fs::remove_file(&member).unwrap();
    let v = verify(&entry, &root, true).unwrap();
    assert_eq!(v.missing, ["v.50d.txt (unpacked from g.zip)"]);
}

/// A synthetic OpenNeuro snapshot: 3 subjects x 2 runs of derivatives, raw BIDS files that
/// must not be taken, annotations, and a GraphQL endpoint listing them.
struct FakeOpenNeuro {
    server: TestServer,
    files: Vec<(String, Vec<u8>)>,
}

fn fake_openneuro() -> FakeOpenNeuro {
    let mut files = vec![
        ("annotation/EN/lppEN_word_information.csv".to_owned(), b"word,onset\nthe,0.1\n".to_vec()),
        ("dataset_description.json".to_owned(), b"{}".to_vec()),
        ("sub-EN057/func/sub-EN057_task-lppEN_run-15_bold.nii.gz".to_owned(), bytes(100, 0)),
    ];
    for (i, s) in ["sub-EN061", "sub-EN057", "sub-EN058"].iter().enumerate() {
        for run in [1, 2] {
            files.push((
                format!("derivatives/{s}/func/{s}_task-lppEN_run-{run}_space-MNIColin27_desc-preproc_bold.nii.gz"),
                bytes(20_000 + 1000 * i + run, (10 * i + run) as u8),
            ));
        }
    }
    let server = TestServer::start(vec![]);
    let mut listing = Vec::new();
    for (path, data) in &files {
        let route = format!("/files/{path}");
        server.set(&route, Route::File(data.clone()));
        listing.push(serde_json::json!({
            "filename": path, "size": data.len(), "directory": false,
            "urls": [format!("{}{route}?versionId=abc", server.url())],
        }));
    }
    let reply = serde_json::json!({"data": {"snapshot": {"id": "ds003643:2.0.5", "files": listing}}});
    server.set("/crn/graphql", Route::Json(reply.to_string()));
    FakeOpenNeuro { server, files }
}

fn lpp_entry() -> Entry {
    Entry {
        name: "lpp-en".into(),
        version: "2.0.5".into(),
        description: "d".into(),
        license: "CC0-1.0".into(),
        citation: "c".into(),
        source: Source::Download(Downloads {
            files: Vec::new(),
            openneuro: Some(OpenNeuroSpec {
                dataset: "ds003643".into(),
                version: "2.0.5".into(),
                prefixes: vec!["derivatives/sub-EN".into(), "annotation/EN/".into()],
                patterns: vec!["derivatives/sub-EN*/func/*_task-lppEN_*_bold.nii.gz".into(), "annotation/EN/**".into()],
            }),
        }),
        prepare: None,
    }
}

#[test]
fn an_openneuro_snapshot_is_listed_and_a_subject_subset_fetched() {
    let fake = fake_openneuro();
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let options = FetchOptions { subjects: Some(2), openneuro_url: Some(fake.server.url()), ..quiet() };
    let entry = lpp_entry();
    let report = fetch_quick(&entry, &root, &options).unwrap();
    assert_eq!(report.subjects.as_deref(), Some(&["sub-EN057".to_owned(), "sub-EN058".to_owned()][..]));
    assert_eq!(report.files, 5, "2 subjects x 2 runs + the annotation");
    assert_eq!(report.recorded.len(), 5, "OpenNeuro gives no checksums: all recorded at first download");

    let query = &fake.server.requests("/crn/graphql")[0];
    assert_eq!(query.method, "POST");
    assert!(query.body.contains("ds003643") && query.body.contains("2.0.5"), "{}", query.body);

    let dir = root.raw("lpp-en");
    for (path, data) in &fake.files {
        let wanted = path.starts_with("annotation/")
            || (path.starts_with("derivatives/sub-EN057") || path.starts_with("derivatives/sub-EN058"));
        assert_eq!(dir.join(path).is_file(), wanted, "{path}");
        if wanted {
            assert_eq!(&std::fs::read(dir.join(path)).unwrap(), data, "{path}");
        }
    }
    let st = status(&entry, &root).unwrap();
    assert_eq!((st.files_present, st.subjects), (5, 2));
    assert!(verify(&entry, &root, true).unwrap().is_ok());

    // All subjects: only the third one is downloaded.
    let all = FetchOptions { subjects: None, ..options };
    let report = fetch_quick(&entry, &root, &all).unwrap();
    assert_eq!((report.files, report.present, report.downloaded), (7, 5, 2));
    let v = verify(&entry, &root, true).unwrap();
    assert_eq!(v.ok, 7);

    // Corrupt a run: verify finds it.
    let run =
        dir.join("derivatives/sub-EN061/func/sub-EN061_task-lppEN_run-2_space-MNIColin27_desc-preproc_bold.nii.gz");
    let mut data = std::fs::read(&run).unwrap();
    data[0] ^= 0xff;
    std::fs::write(&run, data).unwrap();
    let v = verify(&entry, &root, true).unwrap();
    assert_eq!(v.corrupt.len(), 1);
    assert!(v.corrupt[0].path.ends_with("run-2_space-MNIColin27_desc-preproc_bold.nii.gz"));
}

#[test]
fn an_openneuro_listing_with_no_match_says_what_it_saw() {
    let fake = fake_openneuro();
    let mut entry = lpp_entry();
    if let Source::Download(Downloads { openneuro: Some(s), .. }) = &mut entry.source {
        s.patterns = vec!["derivatives/sub-EN*/func/*_desc-nothing.nii.gz".into()];
    }
    let tmp = tempfile::tempdir().unwrap();
    let options = FetchOptions { openneuro_url: Some(fake.server.url()), ..quiet() };
    let e = fetch_quick(&entry, &DataRoot::at(tmp.path()), &options).unwrap_err().to_string();
    assert!(e.contains("no file matches") && e.contains("ds003643") && e.contains("sub-EN057_task-lppEN"), "{e}");
}

#[test]
fn openneuro_api_errors_are_reported() {
    let server = TestServer::start(vec![(
        "/crn/graphql",
        Route::Json(r#"{"errors":[{"message":"snapshot not found"}],"data":{"snapshot":null}}"#.into()),
    )]);
    let tmp = tempfile::tempdir().unwrap();
    let options = FetchOptions { openneuro_url: Some(server.url()), ..quiet() };
    let e = fetch_quick(&lpp_entry(), &DataRoot::at(tmp.path()), &options).unwrap_err().to_string();
    assert!(e.contains("snapshot not found") && e.contains("/crn/graphql"), "{e}");
}

#[test]
fn generated_entries_and_subjects_on_plain_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = DataRoot::at(tmp.path());
    let mut demo = files_entry(vec![]);
    demo.source = Source::Generated { command: "brainscale synth --out DIR".into() };
    let e = fetch_quick(&demo, &root, &quiet()).unwrap_err().to_string();
    assert!(e.contains("brainscale synth"), "{e}");
    let entry = files_entry(vec![spec("http://127.0.0.1:9/a".into(), "a", None, None)]);
    let e = fetch_quick(&entry, &root, &FetchOptions { subjects: Some(1), ..quiet() }).unwrap_err().to_string();
    assert!(e.contains("--subjects"), "{e}");
}

#[test]
fn server_errors_are_retried_then_reported() {
    let server = TestServer::start(vec![("/a.bin", Route::Status(503))]);
    let entry = files_entry(vec![spec(format!("{}/a.bin", server.url()), "a.bin", None, None)]);
    let tmp = tempfile::tempdir().unwrap();
    let options = FetchOptions { retries: 1, ..quiet() };
    let e = fetch_quick(&entry, &DataRoot::at(tmp.path()), &options).unwrap_err();
    assert!(matches!(e, Error::HttpStatus { status: 503, .. }), "{e}");
    assert_eq!(server.requests("/a.bin").len(), 2, "one retry");
}
