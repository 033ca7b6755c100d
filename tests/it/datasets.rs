//! `brainscale datasets list | fetch | verify` and `--dataset NAME`, end to end against loopback
//! servers (127.0.0.1): a synthetic OpenNeuro snapshot (GraphQL listing + files) and plain
//! files. Every run points the OpenNeuro URL at 127.0.0.1 and gives --data-dir: nothing
//! reaches the internet or the user's cache.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use brainscale::data::synth::{SynthParams, write_dataset};
use brainscale_datasets::{LOCK_FILE, sha256_file};

use crate::http::{LocalServer, Resource};

/// A port nobody listens on: OpenNeuro for the runs that must not list anything.
const DEAD: &str = "http://127.0.0.1:9";

fn brainscale(args: &[&str], openneuro: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brainscale"))
        .args(args)
        .env("BRAINSCALE_OPENNEURO_URL", openneuro)
        .env_remove("BRAINSCALE_DATA")
        .output()
        .expect("run brainscale")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn resource(body: Vec<u8>) -> Resource {
    Resource { body, headers: vec![] }
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(17).wrapping_add(seed)).collect()
}

/// A synthetic ds003643 snapshot: 4 English subjects x 2 runs of derivatives, a French one,
/// raw BIDS files and annotations. Two servers: the files, and the GraphQL endpoint whose
/// listing points at them (with `?versionId=`, as OpenNeuro's URLs).
struct FakeOpenNeuro {
    _files: LocalServer,
    api: LocalServer,
    content: BTreeMap<String, Vec<u8>>,
}

impl FakeOpenNeuro {
    fn start() -> Self {
        let mut content = BTreeMap::new();
        content.insert("annotation/EN/lppEN_word_information.csv".to_owned(), b"word,onset,offset\n".to_vec());
        content.insert("annotation/FR/lppFR_word_information.csv".to_owned(), b"mot\n".to_vec());
        content.insert("participants.tsv".to_owned(), b"participant_id\n".to_vec());
        content.insert("sub-EN057/func/sub-EN057_task-lppEN_run-15_bold.nii.gz".to_owned(), bytes(64, 1));
        for (i, s) in ["sub-EN059", "sub-EN057", "sub-EN061", "sub-EN058", "sub-FR001"].iter().enumerate() {
            let task = if s.contains("FR") { "lppFR" } else { "lppEN" };
            for run in [15, 16] {
                let path =
                    format!("derivatives/{s}/func/{s}_task-{task}_run-{run}_space-MNIColin27_desc-preproc_bold.nii.gz");
                content.insert(path, bytes(30_000 + 100 * i + run, (i * 7 + run) as u8));
            }
        }
        let files =
            LocalServer::start(content.iter().map(|(p, b)| (format!("/ds003643/{p}"), resource(b.clone()))).collect());
        let listing: Vec<serde_json::Value> = content
            .iter()
            .map(|(p, b)| {
                serde_json::json!({
                    "filename": p, "size": b.len(), "directory": false,
                    "urls": [format!("{}/ds003643/{p}?versionId=v1", files.url())],
                })
            })
            .collect();
        let reply = serde_json::json!({"data": {"snapshot": {"id": "ds003643:2.0.5", "files": listing}}});
        let api =
            LocalServer::start(BTreeMap::from([("/crn/graphql".to_owned(), resource(reply.to_string().into_bytes()))]));
        FakeOpenNeuro { _files: files, api, content }
    }
}

fn run_path(subject: &str, run: usize) -> String {
    format!("derivatives/{subject}/func/{subject}_task-lppEN_run-{run}_space-MNIColin27_desc-preproc_bold.nii.gz")
}

#[test]
fn lpp_en_is_fetched_from_a_snapshot_listed_verified_and_corrupt_files_are_caught() {
    let fake = FakeOpenNeuro::start();
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path().to_str().expect("utf-8 path");
    let url = fake.api.url();

    let o = brainscale(&["datasets", "fetch", "lpp-en", "--subjects", "2", "--data-dir", d, "--quiet"], &url);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}{}", stdout, text(&o.stderr));
    assert!(stdout.contains("subjects: sub-EN057, sub-EN058 (the first 2 in sorted order)"), "{stdout}");
    assert!(stdout.contains("lpp-en: 5 files") && stdout.contains("5 downloaded"), "{stdout}");
    assert!(stdout.contains("note: recorded the sha256 of 5 file(s) for the first time"), "{stdout}");
    assert!(stdout.contains(&format!("next: brainscale prepare lpp-en --data-dir {d}")), "{stdout}");
    let raw = data.path().join("raw/lpp-en");
    for (path, body) in &fake.content {
        let wanted = path.starts_with("annotation/EN/")
            || path.starts_with("derivatives/sub-EN057/")
            || path.starts_with("derivatives/sub-EN058/");
        assert_eq!(raw.join(path).is_file(), wanted, "{path}");
        if wanted {
            assert_eq!(&std::fs::read(raw.join(path)).expect("read"), body, "{path}");
        }
    }
    let lock = std::fs::read_to_string(raw.join(LOCK_FILE)).expect("lock file");
    assert!(lock.contains("version = \"2.0.5\"") && lock.contains(&run_path("sub-EN058", 16)), "{lock}");

    let o = brainscale(&["datasets", "list", "--data-dir", d], DEAD);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let row = stdout.lines().find(|l| l.starts_with("lpp-en ")).expect("lpp-en row");
    assert!(row.contains("2.0.5") && row.contains("5 files, 2 subjects"), "{row}");

    let o = brainscale(&["datasets", "verify", "lpp-en", "--data-dir", d], DEAD);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(text(&o.stdout).contains("lpp-en: 5 file(s) OK"), "{}", text(&o.stdout));

    // The rest of the subjects: only the two missing are downloaded, the French one never.
    let o = brainscale(&["datasets", "fetch", "lpp-en", "--data-dir", d, "--quiet"], &url);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    assert!(
        stdout.contains("lpp-en: 9 files") && stdout.contains("4 downloaded") && stdout.contains("5 already present"),
        "{stdout}"
    );
    assert!(!raw.join("derivatives/sub-FR001").exists());

    // Flip a byte: verify fails with exit status 1 and names the file.
    let victim = raw.join(run_path("sub-EN061", 15));
    let mut b = std::fs::read(&victim).expect("read");
    b[100] ^= 1;
    std::fs::write(&victim, &b).expect("write");
    std::fs::remove_file(raw.join("annotation/EN/lppEN_word_information.csv")).expect("remove");
    let o = brainscale(&["datasets", "verify", "lpp-en", "--data-dir", d], DEAD);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains(&format!("corrupt: {}", run_path("sub-EN061", 15))), "{stdout}");
    assert!(stdout.contains("missing: annotation/EN/lppEN_word_information.csv"), "{stdout}");
    let stderr = text(&o.stderr);
    assert!(stderr.contains("error: dataset lpp-en: 1 missing and 1 corrupt file(s)"), "{stderr}");
    assert!(stderr.contains("brainscale datasets fetch lpp-en"), "{stderr}");
}

#[test]
fn an_interrupted_download_is_resumed_by_the_next_fetch() {
    let fake = FakeOpenNeuro::start();
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path().to_str().expect("utf-8 path");
    // What an interrupted fetch leaves: the first 10,000 bytes of a run in `<file>.part`.
    let rel = run_path("sub-EN057", 15);
    let full = &fake.content[&rel];
    let dest = data.path().join("raw/lpp-en").join(&rel);
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    let part = PathBuf::from(format!("{}.part", dest.display()));
    std::fs::write(&part, &full[..10_000]).expect("seed .part");

    let o = brainscale(&["datasets", "list", "--data-dir", d], DEAD);
    let row = text(&o.stdout).lines().find(|l| l.starts_with("lpp-en ")).map(str::to_owned).unwrap_or_default();
    assert!(row.contains("(1 interrupted)"), "{row}");

    let o =
        brainscale(&["datasets", "fetch", "lpp-en", "--subjects", "1", "--data-dir", d, "--quiet"], &fake.api.url());
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    assert!(stdout.contains("1 resumed after an interruption"), "{stdout}");
    assert_eq!(&std::fs::read(&dest).expect("read"), full);
    assert!(!part.exists());
    let (sha, _) = sha256_file(&dest).expect("hash");
    let lock = std::fs::read_to_string(data.path().join("raw/lpp-en").join(LOCK_FILE)).expect("lock");
    assert!(lock.contains(&sha), "the recorded checksum covers the whole file");
}

/// A registry with one plain-file entry `x` served by `server`.
fn registry_file(dir: &Path, url: &str, sha256: &str) -> PathBuf {
    let p = dir.join("registry.toml");
    std::fs::write(
        &p,
        format!(
            "[x]\nversion = \"1\"\ndescription = \"a test entry\"\nlicense = \"CC0-1.0\"\n\
             [[x.files]]\nurl = \"{url}\"\npath = \"sub/x.bin\"\nsha256 = \"{sha256}\"\n"
        ),
    )
    .expect("registry");
    p
}

#[test]
fn a_checksum_mismatch_and_a_404_fail_clearly_and_leave_nothing() {
    let body = bytes(5000, 3);
    let server = LocalServer::start(BTreeMap::from([("/x.bin".to_owned(), resource(body.clone()))]));
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path().to_str().expect("utf-8 path");
    let dest = data.path().join("raw/x/sub/x.bin");

    let reg = registry_file(data.path(), &format!("{}/x.bin", server.url()), &"ab".repeat(32));
    let r = reg.to_str().expect("utf-8");
    let o = brainscale(&["datasets", "fetch", "x", "--registry", r, "--data-dir", d, "--quiet"], DEAD);
    assert_eq!(o.status.code(), Some(1));
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("checksum mismatch") && stderr.contains(&"ab".repeat(32)) && stderr.contains("x.bin"),
        "{stderr}"
    );
    assert!(stderr.contains("the file was deleted"), "{stderr}");
    assert!(!dest.exists() && !PathBuf::from(format!("{}.part", dest.display())).exists());

    let missing = format!("{}/nothing-here.bin", server.url());
    let reg = registry_file(data.path(), &missing, &"ab".repeat(32));
    let o = brainscale(&["datasets", "fetch", "x", "--registry", reg.to_str().expect("utf-8"), "--data-dir", d], DEAD);
    assert_eq!(o.status.code(), Some(1));
    let stderr = text(&o.stderr);
    assert!(stderr.contains(&missing) && stderr.contains("HTTP 404 not found") && stderr.contains("x.bin"), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{stderr}");
    assert!(!dest.exists());

    // The right checksum: fetched, then verified.
    let (good, _) = {
        let tmp = data.path().join("expected.bin");
        std::fs::write(&tmp, &body).expect("write");
        sha256_file(&tmp).expect("hash")
    };
    let reg = registry_file(data.path(), &format!("{}/x.bin", server.url()), &good);
    let r = reg.to_str().expect("utf-8");
    let o = brainscale(&["datasets", "fetch", "x", "--registry", r, "--data-dir", d, "--quiet"], DEAD);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!text(&o.stdout).contains("note: recorded"), "a pinned checksum is not 'recorded for the first time'");
    let o = brainscale(&["datasets", "verify", "x", "--registry", r, "--data-dir", d], DEAD);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn list_shows_every_entry_and_where_the_data_directory_comes_from() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path().to_str().expect("utf-8 path");
    let o = brainscale(&["datasets", "list", "--data-dir", d], DEAD);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(stdout.starts_with(&format!("data directory: {d} (--data-dir)")), "{stdout}");
    for name in ["demo", "lpp-en", "lpp-fr", "lpp-cn", "lpp-en-masks", "glove-6b"] {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("{name} "))), "{name} missing:\n{stdout}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("demo ") && l.contains("generated")), "{stdout}");

    // $BRAINSCALE_DATA when there is no flag.
    let o = Command::new(env!("CARGO_BIN_EXE_brainscale"))
        .args(["datasets", "list"])
        .env("BRAINSCALE_DATA", d)
        .output()
        .expect("run");
    assert!(text(&o.stdout).starts_with(&format!("data directory: {d} (BRAINSCALE_DATA)")), "{}", text(&o.stdout));
}

#[test]
fn bad_requests_get_clear_errors() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path().to_str().expect("utf-8 path");
    let o = brainscale(&["datasets", "fetch", "demo", "--data-dir", d], DEAD);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("generated locally with `brainscale synth"), "{}", text(&o.stderr));
    let o = brainscale(&["datasets", "fetch", "lpp-de", "--data-dir", d], DEAD);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("unknown dataset \"lpp-de\"; known datasets: demo, lpp-en"),
        "{}",
        text(&o.stderr)
    );
    let o = brainscale(&["datasets", "fetch", "lpp-en", "--subjects", "0", "--data-dir", d], DEAD);
    assert_eq!(o.status.code(), Some(2), "--subjects 0 is a usage error");
    let o = brainscale(&["datasets", "verify", "lpp-en", "--data-dir", d], DEAD);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("nothing fetched"), "{}", text(&o.stderr));
    // OpenNeuro unreachable: the error names the endpoint.
    let o = brainscale(&["datasets", "fetch", "lpp-en", "--data-dir", d, "--quiet"], DEAD);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("OpenNeuro listing of ds003643 2.0.5 (http://127.0.0.1:9/crn/graphql)"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn dataset_names_resolve_in_the_data_directory_or_say_how_to_get_them() {
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path().to_str().expect("utf-8 path");
    let out = data.path().join("out");
    let features = data.path().join("features");
    let fit = |dataset: &str, features: &Path| {
        let f = features.to_str().expect("utf-8");
        let o = out.to_str().expect("utf-8");
        brainscale(
            &[
                "fit",
                "--quiet",
                "--alphas",
                "0,4,5",
                "--features",
                f,
                "--dataset",
                dataset,
                "--data-dir",
                d,
                "--out",
                o,
            ],
            DEAD,
        )
    };

    let o = fit("lpp-en", &features);
    assert_eq!(o.status.code(), Some(1));
    let stderr = text(&o.stderr);
    assert!(stderr.contains("dataset \"lpp-en\": not prepared"), "{stderr}");
    let how = format!("brainscale datasets fetch lpp-en --data-dir {d} && brainscale prepare lpp-en --data-dir {d}");
    assert!(stderr.contains(&how), "{stderr}");
    let o = fit("demo", &features);
    assert!(
        text(&o.stderr).contains("brainscale synth") && text(&o.stderr).contains("brainscale run"),
        "{}",
        text(&o.stderr)
    );
    let o = fit("./no/such/folder", &features);
    assert!(text(&o.stderr).contains("no such folder"), "{}", text(&o.stderr));

    // A prepared dataset (here a synthetic one) is found by name, and a single subject nested in it.
    let params = SynthParams { n_runs: 3, n_scans: 60, ..SynthParams::small(3) };
    let prepared = data.path().join("datasets/mini");
    write_dataset(&prepared, &params).expect("synth");
    write_dataset(&prepared.join("sub-01"), &params).expect("synth subject");
    let o = fit("mini", &prepared.join("truth/features"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(out.join("scores.parquet").is_file());
    let o = fit("mini/sub-01", &prepared.join("sub-01/truth/features"));
    assert!(o.status.success(), "{}", text(&o.stderr));
}
