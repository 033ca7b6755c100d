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

/// The paper's repository as the builtin registry names it.
pub const PAPER_REPO: &str =
    "https://raw.githubusercontent.com/l-bg/llms_brain_lateralization/edfd5dcc823704afa503270f9b56090a180c0437";

/// The text zips' pins in the builtin registry: (lang, size, sha256).
const TEXT_ZIPS: [(&str, u64, &str); 3] = [
    ("en", 35927, "9c2e05be18dd8fb37de30c006709517b80e39f48434de389ac35ef1c9afb45c6"),
    ("fr", 37574, "ffe8d7f851ec62758be27b3542dd2c5167a86ff2a4676e4832dab832cc14e705"),
    ("cn", 39004, "1576747a813bdac983c0238c3ce318b77b83885c76ebe033dcbb07c907462a02"),
];

/// A ZipCrypto archive (as the paper's text zips) of `members`, encrypted with `password`.
pub fn encrypted_zip(members: &[(String, Vec<u8>)], password: &str) -> Vec<u8> {
    use std::io::Write;
    use zip::unstable::write::FileOptionsExt;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .with_deprecated_encryption(password.as_bytes())
        .expect("ZipCrypto");
    for (name, data) in members {
        z.start_file(name.as_str(), options).expect("member");
        z.write_all(data).expect("write");
    }
    z.finish().expect("zip").into_inner()
}

/// A synthetic text zip of `lang` (`lpp_{lang}_text/text_{lang}_run{1..9}.txt`), encrypted with
/// the registry's password.
pub fn text_zip(lang: &str, runs: &[String]) -> Vec<u8> {
    let members: Vec<(String, Vec<u8>)> = runs
        .iter()
        .enumerate()
        .map(|(r, t)| (format!("lpp_{lang}_text/text_{lang}_run{}.txt", r + 1), t.as_bytes().to_vec()))
        .collect();
    encrypted_zip(&members, "lessentielestinvisiblepourlesyeux")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The builtin registry with the paper's repository served at `base` and the text zips pinned
/// to `zips` (lang -> bytes) instead of the real ones, written to `dir/registry.toml`.
pub fn local_registry(dir: &Path, base: &str, zips: &BTreeMap<String, Vec<u8>>) -> PathBuf {
    let mut text = include_str!("../../datasets.toml").replace(PAPER_REPO, base);
    for (lang, size, sha) in TEXT_ZIPS {
        let Some(zip) = zips.get(lang) else { continue };
        let pinned = format!("size = {size}\nsha256 = \"{sha}\"");
        assert!(text.contains(&pinned), "{lang}: the registry's text zip pins moved");
        text = text.replace(&pinned, &format!("size = {}\nsha256 = \"{}\"", zip.len(), sha256_hex(zip)));
    }
    let p = dir.join("registry.toml");
    std::fs::write(&p, text).expect("registry");
    p
}

/// A synthetic ds003643 snapshot: 4 English subjects x 2 runs of derivatives, a French one,
/// raw BIDS files and annotations. Two servers: the files (and the paper's repository, with a
/// synthetic English text zip, under `/paper`), and the GraphQL endpoint whose listing points
/// at them (with `?versionId=`, as OpenNeuro's URLs, and MD5E annex keys as ids for the
/// derivatives). `registry` is the builtin registry pointed at the `/paper` files.
struct FakeOpenNeuro {
    _files: LocalServer,
    api: LocalServer,
    content: BTreeMap<String, Vec<u8>>,
    _dir: tempfile::TempDir,
    registry: String,
}

impl FakeOpenNeuro {
    fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// As [`FakeOpenNeuro::start`], with the listing's entries edited by `edit` first.
    fn start_with(edit: impl Fn(&mut Vec<serde_json::Value>)) -> Self {
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
        let zip = text_zip("en", &(1..=9).map(|r| format!("Text of run {r}.")).collect::<Vec<_>>());
        let mut routes: BTreeMap<String, Resource> =
            content.iter().map(|(p, b)| (format!("/ds003643/{p}"), resource(b.clone()))).collect();
        routes.insert("/paper/lpp_en_text.zip".into(), resource(zip.clone()));
        let files = LocalServer::start(routes);
        let mut listing: Vec<serde_json::Value> = content
            .iter()
            .map(|(p, b)| {
                // Annexed files (the images) have git-annex keys as ids; small text files do not.
                let id = if p.ends_with(".nii.gz") {
                    format!("MD5E-s{}--{}.nii.gz", b.len(), md5_hex(b))
                } else {
                    format!("{:040x}", b.len())
                };
                serde_json::json!({
                    "id": id, "filename": p, "size": b.len(), "directory": false,
                    "urls": [format!("{}/ds003643/{p}?versionId=v1", files.url())],
                })
            })
            .collect();
        edit(&mut listing);
        let reply = serde_json::json!({"data": {"snapshot": {"id": "ds003643:2.0.5", "files": listing}}});
        let api =
            LocalServer::start(BTreeMap::from([("/crn/graphql".to_owned(), resource(reply.to_string().into_bytes()))]));
        let dir = tempfile::tempdir().expect("tempdir");
        let registry =
            local_registry(dir.path(), &format!("{}/paper", files.url()), &BTreeMap::from([("en".into(), zip)]));
        let registry = registry.to_str().expect("utf-8").to_owned();
        FakeOpenNeuro { _files: files, api, content, _dir: dir, registry }
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

    let reg = fake.registry.as_str();
    let o = brainscale(
        &["datasets", "fetch", "lpp-en", "--subjects", "2", "--data-dir", d, "--registry", reg, "--quiet"],
        &url,
    );
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}{}", stdout, text(&o.stderr));
    assert!(stdout.contains("subjects: sub-EN057, sub-EN058 (the first 2 in sorted order)"), "{stdout}");
    // The five files of the two subjects and the annotation, and the paper's text zip.
    assert!(stdout.contains("lpp-en: 6 files") && stdout.contains("6 downloaded"), "{stdout}");
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
    // The texts are unpacked (ZipCrypto, the registry's password) where prepare reads them.
    assert_eq!(std::fs::read_to_string(raw.join("lpp_en_text/text_en_run3.txt")).expect("text"), "Text of run 3.");

    let o = brainscale(&["datasets", "list", "--data-dir", d, "--registry", reg], DEAD);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let row = stdout.lines().find(|l| l.starts_with("lpp-en ")).expect("lpp-en row");
    assert!(row.contains("2.0.5") && row.contains("6 files, 2 subjects"), "{row}");

    let o = brainscale(&["datasets", "verify", "lpp-en", "--data-dir", d, "--registry", reg], DEAD);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(text(&o.stdout).contains("lpp-en: 6 file(s) OK"), "{}", text(&o.stdout));

    // The rest of the subjects: only the two missing are downloaded, the French one never.
    let o = brainscale(&["datasets", "fetch", "lpp-en", "--data-dir", d, "--registry", reg, "--quiet"], &url);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    assert!(
        stdout.contains("lpp-en: 10 files") && stdout.contains("4 downloaded") && stdout.contains("6 already present"),
        "{stdout}"
    );
    assert!(!raw.join("derivatives/sub-FR001").exists());

    // Flip a byte: verify fails with exit status 1 and names the file.
    let victim = raw.join(run_path("sub-EN061", 15));
    let mut b = std::fs::read(&victim).expect("read");
    b[100] ^= 1;
    std::fs::write(&victim, &b).expect("write");
    std::fs::remove_file(raw.join("annotation/EN/lppEN_word_information.csv")).expect("remove");
    let o = brainscale(&["datasets", "verify", "lpp-en", "--data-dir", d, "--registry", reg], DEAD);
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

    let reg = fake.registry.as_str();
    let o = brainscale(
        &["datasets", "fetch", "lpp-en", "--subjects", "1", "--data-dir", d, "--registry", reg, "--quiet"],
        &fake.api.url(),
    );
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    assert!(stdout.contains("1 resumed after an interruption"), "{stdout}");
    assert_eq!(&std::fs::read(&dest).expect("read"), full);
    assert!(!part.exists());
    let (sha, _) = sha256_file(&dest).expect("hash");
    let lock = std::fs::read_to_string(data.path().join("raw/lpp-en").join(LOCK_FILE)).expect("lock");
    assert!(lock.contains(&sha), "the recorded checksum covers the whole file");
}

#[test]
fn the_first_download_of_an_annexed_file_is_checked_against_its_annex_key() {
    // The listing's key for one run says another MD5 than the bytes served: a file changed or
    // corrupted at the source is caught on the very first download, before any lock records it.
    let victim = run_path("sub-EN057", 16);
    let fake = FakeOpenNeuro::start_with(|listing| {
        for f in listing.iter_mut().filter(|f| f["filename"] == victim.as_str()) {
            let size = f["size"].as_u64().expect("size");
            f["id"] = serde_json::json!(format!("MD5E-s{size}--{}.nii.gz", "0".repeat(32)));
        }
    });
    let data = tempfile::tempdir().expect("tempdir");
    let d = data.path().to_str().expect("utf-8 path");
    let reg = fake.registry.as_str();
    let o = brainscale(
        &["datasets", "fetch", "lpp-en", "--subjects", "1", "--data-dir", d, "--registry", reg, "--quiet"],
        &fake.api.url(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let stderr = text(&o.stderr);
    assert!(stderr.contains(&victim) && stderr.contains("expected md5 00000000"), "{stderr}");
    assert!(stderr.contains("OpenNeuro annex key MD5E-s"), "{stderr}");
    let dest = data.path().join("raw/lpp-en").join(&victim);
    assert!(!dest.exists() && !PathBuf::from(format!("{}.part", dest.display())).exists(), "nothing corrupt is left");
    // The other files of the subject arrived, checked against their keys.
    assert!(data.path().join("raw/lpp-en").join(run_path("sub-EN057", 15)).is_file());
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
