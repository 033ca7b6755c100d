//! Reading the committed parity fixtures (`tests/fixtures/*.safetensors`, made by
//! `tests/fixtures/generate.py`; versions in each file's metadata and in `tests/fixtures/README.md`).

use std::collections::HashMap;
use std::path::PathBuf;

use faer::Mat;
use safetensors::{Dtype, SafeTensors};

/// All tensors of one fixture file, as f64 (shape kept), plus its metadata.
pub struct Fixture {
    pub tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
    pub metadata: HashMap<String, String>,
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

impl Fixture {
    pub fn load(name: &str) -> Fixture {
        let path = fixtures_dir().join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (_, meta) = SafeTensors::read_metadata(&bytes).expect("fixture header");
        let st = SafeTensors::deserialize(&bytes).expect("fixture");
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let d = view.data();
            let vals: Vec<f64> = match view.dtype() {
                Dtype::F64 => d.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect(),
                Dtype::F32 => {
                    d.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64).collect()
                }
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            tensors.insert(name, (view.shape().to_vec(), vals));
        }
        let metadata = meta.metadata().clone().unwrap_or_default();
        Fixture { tensors, metadata }
    }

    pub fn vec(&self, name: &str) -> Vec<f64> {
        self.tensors.get(name).unwrap_or_else(|| panic!("fixture tensor {name} missing")).1.clone()
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// A 2D tensor as an f64 matrix (row-major storage in the file).
    pub fn mat(&self, name: &str) -> Mat<f64> {
        let (shape, v) = self.tensors.get(name).unwrap_or_else(|| panic!("fixture tensor {name} missing"));
        let (r, c) = match shape[..] {
            [r, c] => (r, c),
            [r] => (r, 1),
            _ => panic!("{name}: not 2D: {shape:?}"),
        };
        Mat::from_fn(r, c, |i, j| v[i * c + j])
    }

    pub fn mat32(&self, name: &str) -> Mat<f32> {
        let m = self.mat(name);
        Mat::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] as f32)
    }
}
