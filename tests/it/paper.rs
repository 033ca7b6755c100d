//! `brainscale datasets fetch` of a published-inputs entry (as `lpp-en-paper`), end to end
//! against loopback servers: the paper's repository (average-subject runs and ISC written by
//! joblib itself in `tests/fixtures/joblib/paper.py`, a mask, ROI masks, a ZipCrypto text zip,
//! pinned by git object ids and sha256 as the real entry is) and an OpenNeuro snapshot listing
//! the word table (checked against its MD5E key). The assembled dataset is one `fit` and `run`
//! accept; a pickle with another global, a truncated file and a wrong checksum each exit 1
//! naming the file, with no dataset left behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use brainscale::data::{Dataset, FeaturesMeta, FeaturesWriter, Mask};
use faer::Mat;

use crate::datasets::{encrypted_zip, md5_hex, sha256_hex};
use crate::http::{LocalServer, Resource};

const ENTRY: &str = "mini-paper";
/// The box mask of `tests/fixtures/joblib/paper.py` on the paper's 4 mm grid.
const DIMS: [usize; 3] = [37, 46, 38];
const N_SCANS: [usize; 3] = [40, 42, 44];
const VOCABULARY: [&str; 12] =
    ["the", "little", "prince", "said", "drawing", "number", "sheep", "rose", "planet", "fox", "asked", "stars"];

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/joblib").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run tests/fixtures/joblib/generate.sh)", p.display()))
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&fixture("paper/expected.json")).expect("expected.json")
}

fn git_blob_sha1(bytes: &[u8]) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn resource(body: Vec<u8>) -> Resource {
    Resource { body, headers: vec![] }
}

fn box_mask() -> Mask {
    let affine = [[4.0, 0.0, 0.0, -72.0], [0.0, 4.0, 0.0, -106.0], [0.0, 0.0, 4.0, -64.0], [0.0, 0.0, 0.0, 1.0]];
    Mask::from_fn(DIMS, affine, |[i, j, k]| (14..=22).contains(&i) && (20..=25).contains(&j) && (10..=14).contains(&k))
        .expect("mask")
}

/// The words of run `r` (0-based): one every 1.3 s from 21 s to 20 s before the run's end.
fn words(r: usize) -> Vec<(String, f64, f64)> {
    let end = (N_SCANS[r] as f64 - 10.0) * 2.0;
    (0..)
        .map(|k| 21.0 + 1.3 * k as f64)
        .take_while(|&t| t + 0.5 < end)
        .enumerate()
        .map(|(k, t)| (VOCABULARY[(k * 5 + r) % VOCABULARY.len()].to_string(), t, t + 0.5))
        .collect()
}

/// What the paper's repository and OpenNeuro serve; `bad_run1` replaces run 1's joblib file.
struct Sources {
    files: BTreeMap<String, Vec<u8>>,
    table: Vec<u8>,
}

impl Sources {
    fn new(tmp: &Path) -> Sources {
        let mut files = BTreeMap::new();
        for r in 0..3 {
            let name = format!("average_subject_run-{r}.gz");
            files.insert(format!("avg/{name}"), fixture(&format!("paper/{name}")));
        }
        files.insert("isc_10trials_xx.gz".into(), fixture("paper/isc_10trials.gz"));
        let mask = box_mask();
        let path = tmp.join("mask.nii.gz");
        mask.write_map(&path, &vec![1.0; mask.n_voxels()]).expect("mask");
        files.insert("mask_xx.nii.gz".into(), std::fs::read(&path).expect("mask"));
        // Two left ROIs inside the box.
        for (name, i0) in [("TP", 14), ("BA44", 16)] {
            let roi = Mask::from_fn(DIMS, *mask.affine(), |[i, j, k]| (i0..i0 + 2).contains(&i) && j == 22 && k == 12)
                .expect("roi");
            let p = tmp.join(format!("{name}.nii.gz"));
            roi.write_map(&p, &vec![1.0; roi.n_voxels()]).expect("roi");
            files.insert(format!("roi_masks/{name}.nii.gz"), std::fs::read(&p).expect("roi"));
        }
        // The texts (as the paper's: punctuated, a number in digits) and the word table (as
        // OpenNeuro's: an unnamed index column, CRLF).
        let mut table = String::from(",word,lemma,onset,offset,section\r\n");
        let mut texts = Vec::new();
        let mut row = 0;
        for r in 0..3 {
            let w = words(r);
            let mut text = String::new();
            for (k, (word, on, off)) in w.iter().enumerate() {
                table.push_str(&format!("{row},{word},{word},{on},{off},{}\r\n", r + 1));
                row += 1;
                text.push_str(if word == "number" { "Number" } else { word });
                text.push_str(if k % 7 == 6 { ". " } else { " " });
            }
            texts.push((format!("xx_text/text_xx_run{}.txt", r + 1), text.into_bytes()));
        }
        files.insert("xx_text.zip".into(), encrypted_zip(&texts, "secret"));
        Sources { files, table: table.into_bytes() }
    }
}

/// The servers and the registry of `ENTRY`, whose pins come from `pins` (path -> bytes whose
/// checksum is pinned; normally the files served).
struct Fake {
    _files: LocalServer,
    api: LocalServer,
    registry: PathBuf,
}

fn serve(dir: &Path, served: &Sources, pins: &BTreeMap<String, Vec<u8>>) -> Fake {
    let mut routes: BTreeMap<String, Resource> =
        served.files.iter().map(|(p, b)| (format!("/repo/{p}"), resource(b.clone()))).collect();
    let table_path = "annotation/XX/lppXX_word_information.csv";
    routes.insert(format!("/ds003643/{table_path}"), resource(served.table.clone()));
    let files = LocalServer::start(routes);
    let listing = serde_json::json!({"data": {"snapshot": {"id": "ds003643:2.0.5", "files": [{
        "id": format!("MD5E-s{}--{}.csv", served.table.len(), md5_hex(&served.table)),
        "filename": table_path, "size": served.table.len(), "directory": false,
        "urls": [format!("{}/ds003643/{table_path}?versionId=v1", files.url())],
    }]}}});
    let api =
        LocalServer::start(BTreeMap::from([("/crn/graphql".to_owned(), resource(listing.to_string().into_bytes()))]));
    let mut registry = format!(
        "[{ENTRY}]\nversion = \"test\"\ndescription = \"a miniature of the paper's published inputs\"\n\
         license = \"CC0-1.0\"\ncitation = \"tests/it/paper.rs\"\n"
    );
    for (path, bytes) in pins {
        registry.push_str(&format!("\n[[{ENTRY}.files]]\nurl = \"{}/repo/{path}\"\npath = \"{path}\"\n", files.url()));
        if path.starts_with("avg/") {
            registry.push_str(&format!("git_sha1 = \"{}\"\n", git_blob_sha1(bytes)));
        } else {
            registry.push_str(&format!("size = {}\nsha256 = \"{}\"\n", bytes.len(), sha256_hex(bytes)));
        }
        if path.ends_with(".zip") {
            registry.push_str("unpack = true\npassword = \"secret\"\n");
        }
    }
    registry.push_str(&format!(
        "\n[{ENTRY}.openneuro]\ndataset = \"ds003643\"\nversion = \"2.0.5\"\nprefixes = [\"annotation/XX/\"]\n\
         patterns = [\"{table_path}\"]\n\n[{ENTRY}.prepare]\nkind = \"published\"\nlanguage = \"en\"\ntr = 2.0\n\
         runs = 3\nmask = \"mask_xx.nii.gz\"\nbold = \"avg/average_subject_run-{{run0}}.gz\"\nisc = \"isc_10trials_xx.gz\"\n\
         rois = \"roi_masks\"\nannotation = \"{table_path}\"\ntext = \"xx_text/text_xx_run{{run}}.txt\"\n"
    ));
    let path = dir.join("registry.toml");
    std::fs::write(&path, registry).expect("registry");
    Fake { _files: files, api, registry: path }
}

fn brainscale(args: &[&str], fake: &Fake, data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brainscale"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("BRAINSCALE_OPENNEURO_URL", fake.api.url())
        .env_remove("BRAINSCALE_DATA")
        .output()
        .expect("run brainscale")
}

fn fetch(fake: &Fake, data: &Path) -> Output {
    let registry = fake.registry.to_str().expect("utf-8");
    brainscale(&["datasets", "fetch", ENTRY, "--registry", registry, "--quiet"], fake, data)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// No dataset, complete or staged, under `data/datasets`.
fn assert_no_dataset(data: &Path) {
    assert!(!data.join("datasets").join(ENTRY).exists(), "no dataset may be left on bad input");
    if let Ok(entries) = std::fs::read_dir(data.join("datasets")) {
        let staged: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".partial-"))
            .collect();
        assert!(staged.is_empty(), "staging folders left: {staged:?}");
    }
}

#[test]
fn a_published_entry_is_fetched_into_a_dataset_that_fit_and_run_accept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sources = Sources::new(tmp.path());
    let fake = serve(tmp.path(), &sources, &sources.files);
    let data = tmp.path().join("data");
    let o = fetch(&fake, &data);
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{stdout}{}", text(&o.stderr));
    assert!(stdout.contains(&format!("next: brainscale run --dataset {ENTRY}")), "{stdout}");

    let ds = Dataset::open(&data.join("datasets").join(ENTRY)).expect("the assembled dataset opens");
    let expected = expected();
    assert_eq!(ds.mask().n_voxels(), 270);
    assert_eq!(ds.runs().iter().map(|r| r.n_scans).collect::<Vec<_>>(), N_SCANS);
    for (r, run) in ds.runs().iter().enumerate() {
        assert_eq!(run.words.len(), words(r).len(), "run {}", r + 1);
        // The BOLD written is the joblib array, voxel for voxel in mask order.
        let bold = ds.load_bold(r).expect("bold").data;
        let e = &expected["runs"][r];
        let first: Vec<f64> = (0..5).map(|v| f64::from(bold[(0, v)])).collect();
        let want: Vec<f64> = e["first"].as_array().expect("first").iter().map(|v| v.as_f64().expect("f64")).collect();
        // (serde_json's float parsing may be one unit in the last place off.)
        assert!(first.iter().zip(&want).all(|(a, b)| (a - b).abs() <= 1e-12 * b.abs()), "run {}: {first:?}", r + 1);
        let sum_abs: f64 = (0..bold.nrows())
            .flat_map(|i| (0..bold.ncols()).map(move |j| (i, j)))
            .map(|(i, j)| f64::from(bold[(i, j)]).abs())
            .sum();
        assert!((sum_abs - e["sum_abs"].as_f64().expect("sum")).abs() < 1e-6 * sum_abs, "run {}", r + 1);
    }
    // Reliability = the mean of the 10 published estimates, per voxel.
    let rel = ds.reliability().expect("reliability").expect("a reliability map");
    for (v, want) in expected["isc"]["mean"].as_array().expect("mean").iter().enumerate() {
        assert!((f64::from(rel[v]) - want.as_f64().expect("f64")).abs() < 1e-6, "voxel {v}");
    }
    assert_eq!(ds.roi_names(), ["BA44", "TP"]);
    assert!(ds.text(0).expect("text").starts_with("the "), "the texts were unpacked with the password");
    let config = std::fs::read_to_string(ds.root().join("dataset.toml")).expect("dataset.toml");
    assert!(config.contains("name = \"published\""), "{config}");

    // `fit` accepts it.
    let features = tmp.path().join("features");
    let mut meta = FeaturesMeta::new("random", "test", vec![4]);
    meta.dataset = Some(ds.name().to_string());
    let mut writer = FeaturesWriter::create(&features, meta).expect("features writer");
    let layer: Vec<Mat<f32>> = ds
        .runs()
        .iter()
        .map(|r| Mat::from_fn(r.words.len(), 4, |i, j| ((i * 7 + j * 13 + r.index * 3) as f32 * 0.37).sin()))
        .collect();
    writer.write_layer(0, &layer).expect("layer");
    writer.finish().expect("finish");
    let out = tmp.path().join("fit");
    let o = brainscale(
        &[
            "fit",
            "--features",
            features.to_str().expect("utf-8"),
            "--dataset",
            ENTRY,
            "--out",
            out.to_str().expect("utf-8"),
            "--quiet",
        ],
        &fake,
        &data,
    );
    assert_eq!(o.status.code(), Some(0), "fit: {}", text(&o.stderr));
    assert!(out.join("layer-00_r.nii.gz").is_file() && out.join("summary.parquet").is_file());

    // `run` accepts it (the random baselines, beside the binary).
    let study = tmp.path().join("study");
    let plugins = crate::plugins::plugin_dir();
    let o = brainscale(
        &[
            "run",
            "--dataset",
            ENTRY,
            "--models",
            "random-vectors,random-embeddings",
            "--plugin-dir",
            plugins.path().to_str().expect("utf-8"),
            "--out",
            study.to_str().expect("utf-8"),
            "--permutations",
            "100",
            "--quiet",
        ],
        &fake,
        &data,
    );
    assert_eq!(o.status.code(), Some(0), "run: {}{}", text(&o.stdout), text(&o.stderr));
    assert!(study.join("tables/models.csv").is_file(), "{}", text(&o.stdout));
}

#[test]
fn a_bad_pickle_a_truncated_file_and_a_wrong_checksum_exit_1_naming_the_file() {
    let cases: [(&str, Vec<u8>, bool, &[&str]); 3] = [
        // Another global than joblib's array wrapper: refused, never executed.
        ("os.system", fixture("bad_os_system.joblib"), true, &["average_subject_run-1.gz", "refused pickle global"]),
        // A zlib stream cut in half.
        ("truncated", fixture("bad_truncated_zlib.joblib"), true, &["average_subject_run-1.gz"]),
        // The bytes served are not the pinned ones.
        (
            "checksum",
            fixture("paper/average_subject_run-2.gz"),
            false,
            &["average_subject_run-1.gz", "checksum mismatch", "git object id"],
        ),
    ];
    for (what, bytes, pinned_as_served, needles) in cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut sources = Sources::new(tmp.path());
        let pins = sources.files.clone();
        sources.files.insert("avg/average_subject_run-1.gz".into(), bytes);
        let fake = serve(tmp.path(), &sources, if pinned_as_served { &sources.files } else { &pins });
        let data = tmp.path().join("data");
        let o = fetch(&fake, &data);
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {}{stderr}", text(&o.stdout));
        for n in needles {
            assert!(stderr.contains(n), "{what}: the message lacks {n:?}:\n{stderr}");
        }
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
        assert_no_dataset(&data);
        let part = data.join("raw").join(ENTRY).join("avg/average_subject_run-1.gz.part");
        assert!(!part.exists(), "{what}: a rejected download leaves no .part");
        if !pinned_as_served {
            assert!(!data.join("raw").join(ENTRY).join("avg/average_subject_run-1.gz").exists(), "{what}");
        }
    }
}
