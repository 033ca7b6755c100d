//! `--model owner/name@revision` through hf-hub, against a loopback server that speaks the
//! hub's protocol (repository listing, `resolve` URLs with ranges, ETag and X-Repo-Commit
//! headers); then offline from the warm cache with no server at all.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use brainscale::hub::{HubOptions, fetch_model, resolve_model};

use crate::http::{LocalServer, Resource};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A tiny model repository in the hub's layout, at `revision`.
fn hub_routes(repo: &str, revision: &str, files: &[(&str, Vec<u8>)]) -> BTreeMap<String, Resource> {
    let siblings: Vec<serde_json::Value> = files.iter().map(|(f, _)| serde_json::json!({"rfilename": f})).collect();
    let info = serde_json::json!({"sha": COMMIT, "siblings": siblings});
    let mut routes = BTreeMap::new();
    routes.insert(
        format!("/api/models/{repo}/revision/{revision}"),
        Resource {
            body: info.to_string().into_bytes(),
            headers: vec![("Content-Type".into(), "application/json".into())],
        },
    );
    for (i, (file, body)) in files.iter().enumerate() {
        routes.insert(
            format!("/{repo}/resolve/{revision}/{file}"),
            Resource {
                body: body.clone(),
                headers: vec![
                    ("ETag".into(), format!("\"etag-{i}-{}\"", body.len())),
                    ("X-Repo-Commit".into(), COMMIT.into()),
                ],
            },
        );
    }
    routes
}

fn options(cache: &std::path::Path, endpoint: Option<String>, offline: bool) -> HubOptions {
    HubOptions { cache_dir: cache.to_path_buf(), endpoint, token: None, offline, progress: false }
}

#[test]
fn a_pinned_revision_is_fetched_then_used_offline() {
    let weights = vec![7u8; 5000];
    let files = [
        ("config.json", br#"{"model_type": "gpt_neox"}"#.to_vec()),
        ("tokenizer.json", b"{}".to_vec()),
        ("model.safetensors", weights.clone()),
        ("README.md", b"not fetched".to_vec()),
    ];
    let server = LocalServer::start(hub_routes("EleutherAI/pythia-tiny", "step1000", &files));
    let cache = tempfile::tempdir().unwrap();

    let model =
        fetch_model("EleutherAI/pythia-tiny", "step1000", &options(cache.path(), Some(server.url()), false)).unwrap();
    assert_eq!(model.commit, COMMIT);
    assert_eq!(std::fs::read(model.dir.join("model.safetensors")).unwrap(), weights);
    assert!(model.dir.join("tokenizer.json").is_file() && !model.dir.join("README.md").exists());
    assert!(model.dir.starts_with(cache.path().join("models--EleutherAI--pythia-tiny").join("snapshots")));
    let log = server.log.lock().unwrap().clone();
    assert!(!log.iter().any(|p| p.ends_with("README.md")), "{log:?}");

    // Offline, with the server gone: the cache answers, by revision and by commit.
    drop(server);
    let offline = options(cache.path(), None, true);
    let again = fetch_model("EleutherAI/pythia-tiny", "step1000", &offline).unwrap();
    assert_eq!((again.commit.as_str(), &again.dir), (COMMIT, &model.dir));
    let (local, hub) = resolve_model(&format!("EleutherAI/pythia-tiny@{COMMIT}"), &offline).unwrap();
    assert_eq!((local, hub.map(|h| h.commit)), (model.dir.to_string_lossy().into_owned(), Some(COMMIT.to_owned())));

    // Offline and not cached: a clear error, no request.
    let e = fetch_model("EleutherAI/pythia-tiny", "step2000", &offline).unwrap_err().to_string();
    assert!(e.contains("step2000") && e.contains("HF_HUB_OFFLINE") && e.contains("not in the cache"), "{e}");
}

#[test]
fn missing_repositories_and_pickle_weights_are_clear_errors() {
    let files = [("config.json", b"{}".to_vec()), ("pytorch_model.bin", vec![1, 2, 3])];
    let server = LocalServer::start(hub_routes("someone/old-model", "main", &files));
    let cache = tempfile::tempdir().unwrap();
    let opts = options(cache.path(), Some(server.url()), false);

    let e = fetch_model("someone/old-model", "main", &opts).unwrap_err().to_string();
    assert!(e.contains("pytorch_model.bin") && e.contains("safe_serialization=True"), "{e}");

    let before = server.requests.load(Ordering::SeqCst);
    let e = fetch_model("someone/missing", "main", &opts).unwrap_err().to_string();
    assert!(e.starts_with("hub model someone/missing@main: cannot list the repository"), "{e}");
    assert!(server.requests.load(Ordering::SeqCst) > before);
    assert!(!cache.path().join("models--someone--old-model").join("snapshots").exists());
}
