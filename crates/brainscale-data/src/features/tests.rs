//! Features folders round-trip; bad folders and tensors give errors naming file and tensor.

use faer::Mat;
use safetensors::Dtype;

use super::*;

fn runs(dim: usize, seed: f32) -> Vec<Mat<f32>> {
    [5, 0, 3].iter().map(|&n| Mat::from_fn(n, dim, |i, j| seed + i as f32 * 10.0 + j as f32)).collect()
}

#[test]
fn round_trip_with_extra_fields_and_null_context() {
    let dir = tempfile::tempdir().unwrap();
    let mut meta = FeaturesMeta::new("gpt2", "gpt2", vec![4, 6]);
    meta.extra.insert("hrf".into(), "glover".into());
    let mut w = FeaturesWriter::create(dir.path(), meta.clone()).unwrap();
    w.write_layer(0, runs(4, 0.5)).unwrap();
    assert!(!dir.path().join("meta.json").exists());
    assert!(matches!(
        FeaturesWriter::create(dir.path(), meta.clone()).unwrap().finish(),
        Err(DataError::Features { .. })
    ));
    let mut w = FeaturesWriter::create(dir.path(), meta.clone()).unwrap();
    w.write_layer(0, runs(4, 0.5)).unwrap();
    w.write_layer(1, runs(6, -1.0)).unwrap();
    let f = w.finish().unwrap();
    assert_eq!(f.meta(), &meta);
    assert_eq!(f.read_layer(1).unwrap(), runs(6, -1.0));
    assert_eq!(f.read_layer_checked(0, &[5, 0, 3]).unwrap(), runs(4, 0.5));
    let text = std::fs::read_to_string(dir.path().join("meta.json")).unwrap();
    assert!(text.contains("\"max_tokens\": null") && text.contains("\"hrf\": \"glover\""), "{text}");
    // Python writers may give "context": null.
    std::fs::write(
        dir.path().join("meta.json"),
        text.replace("\"context\": {\n    \"max_tokens\": null,\n    \"step\": null\n  }", "\"context\": null"),
    )
    .unwrap();
    assert_eq!(Features::open(dir.path()).unwrap().meta().context, ContextMeta::default());
}

#[test]
fn keys_set_after_the_layers_reach_meta_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = FeaturesWriter::create(dir.path(), FeaturesMeta::new("glove", "glove", vec![4])).unwrap();
    w.write_layer(0, runs(4, 0.5)).unwrap();
    w.insert_extra("warnings", serde_json::json!(["3 words not in the vocabulary"]));
    let f = w.finish().unwrap();
    assert_eq!(f.meta().extra["warnings"][0], "3 words not in the vocabulary");
}

#[test]
fn bad_folders_and_tensors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Features::open(dir.path()), Err(DataError::MissingFile { .. })));
    std::fs::write(dir.path().join("meta.json"), "{\n  \"model\": \"m\",\n  \"family\": 3\n}").unwrap();
    let e = Features::open(dir.path()).unwrap_err();
    assert!(matches!(e, DataError::Json { line: Some(3), .. }), "{e}");
    let meta = FeaturesMeta::new("m", "f", vec![4]);
    std::fs::write(dir.path().join("meta.json"), serde_json::to_string(&meta).unwrap()).unwrap();
    assert!(matches!(Features::open(dir.path()), Err(DataError::MissingFile { .. })));
    let mut w = FeaturesWriter::create(dir.path(), meta).unwrap();
    assert!(matches!(w.write_layer(0, runs(3, 0.0)), Err(DataError::Tensor { .. })));
    w.write_layer(0, runs(4, 0.0)).unwrap();
    let f = w.finish().unwrap();
    let e = f.read_layer_checked(0, &[5, 0, 4]).unwrap_err();
    assert!(matches!(e, DataError::Tensor { ref tensor, .. } if tensor == "run-03"), "{e}");
    assert!(e.to_string().contains("layer-00.safetensors") && e.to_string().contains("shape [3, 4]"), "{e}");
    let e = f.read_layer_checked(0, &[5, 0, 3, 1]).unwrap_err();
    assert!(matches!(e, DataError::Tensor { ref tensor, .. } if tensor == "run-04"), "{e}");
    // Wrong dtype.
    let data = vec![0u8; 2 * 5 * 4];
    let view = safetensors::tensor::TensorView::new(Dtype::F16, vec![5, 4], &data).unwrap();
    safetensors::serialize_to_file([("run-01", view)], None, &f.layer_path(0)).unwrap();
    let e = f.read_layer(0).unwrap_err();
    assert!(e.to_string().contains("dtype F16"), "{e}");
    // Truncated file.
    let bytes = std::fs::read(f.layer_path(0)).unwrap();
    std::fs::write(f.layer_path(0), &bytes[..bytes.len() - 3]).unwrap();
    assert!(matches!(f.read_layer(0), Err(DataError::Safetensors { .. })));
}

#[test]
fn streaming_writes_the_same_folder_run_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let meta = FeaturesMeta::new("gpt2", "gpt2", vec![4, 6]);
    let mut w = FeaturesWriter::create(dir.path(), meta.clone()).unwrap().stream(&[5, 0, 3]).unwrap();
    let (l0, l1) = (runs(4, 0.5), runs(6, -1.0));
    for r in [2, 0, 1] {
        w.write_run(0, r, l0[r].as_ref()).unwrap();
        w.write_run(1, r, l1[r].as_ref()).unwrap();
    }
    let err = w.write_run(1, 0, l0[0].as_ref()).unwrap_err();
    assert!(err.to_string().contains("run-01"), "{err}");
    let f = w.finish().unwrap();
    assert_eq!(f.read_layer(0).unwrap(), l0);
    assert_eq!(f.read_layer_checked(1, &[5, 0, 3]).unwrap(), l1);

    // An unfinished stream leaves nothing behind: no layer file, no temporary file.
    let other = tempfile::tempdir().unwrap();
    let mut w = FeaturesWriter::create(other.path(), meta).unwrap().stream(&[5, 0, 3]).unwrap();
    w.write_run(0, 0, l0[0].as_ref()).unwrap();
    assert!(w.finish().is_err());
    assert_eq!(std::fs::read_dir(other.path()).unwrap().count(), 0);
}
