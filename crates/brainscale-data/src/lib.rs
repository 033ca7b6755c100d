//! # brainscale-data: the data layer of brainscale
//!
//! Everything brainscale reads from or writes to disk, apart from result tables: NIfTI images,
//! dataset folders, features folders and the synthetic dataset. Numbers come out as
//! [`faer::Mat<f32>`] with one row per time sample (scan or word) and one column per voxel or
//! feature; voxels are always in mask order (C order over (i, j, k), as nibabel's
//! `data[mask]`).
//!
//! ## A short tour
//!
//! * [`nifti_io`]: NIfTI-1 headers (via the `nifti` crate), volumes streamed one at a time,
//!   float32 images written atomically with the template's sform and qform.
//! * [`Mask`]: voxel order, voxel and world coordinates, the two [`HemisphereRule`]s, mirror
//!   voxels, masking ([`Mask::mask_file`]) and unmasking ([`Mask::write_map`]).
//! * [`Dataset`]: a folder in layout v1 (SPEC section 1), validated up front by
//!   [`Dataset::open`]; BOLD runs read on demand by [`Dataset::load_bold`].
//! * [`Words`]: word timings from `words/run-XX.tsv` or the corpus' own
//!   `lppEN_word_information.csv` ([`words::read_lpp_word_csv`]).
//! * [`Features`] / [`FeaturesWriter`]: features folders (SPEC section 2): `meta.json` and one
//!   safetensors file per layer.
//! * [`rois`]: regions of interest per hemisphere ([`RoiPair`]): the paper's seven 10 mm
//!   spheres from MNI coordinates, or the dataset's `rois/` masks, with mirror images.
//! * [`joblib`]: numpy arrays saved with `joblib.dump` (the paper's published files), read by
//!   walking the pickle's opcodes without ever executing it.
//! * [`models`]: the language-model table (`models.toml`: Hugging Face ids, sizes, benchmark
//!   scores) and named model sets such as `paper`.
//! * [`synth`]: a deterministic synthetic dataset with a planted signal and its ground truth.
//! * [`write_atomic`]: the atomic-write helper every writer here uses (and other crates may).
//! * [`DataError`]: the one error type; each variant names the file (and line, run, tensor or
//!   voxel) and says what was expected.
//!
//! ## Quickstart
//!
//! ```
//! use brainscale_data::{Dataset, HemisphereRule, synth};
//! # let dir = tempfile::tempdir()?;
//! synth::write_dataset(dir.path(), &synth::SynthParams::small(42))?; // a tiny layout-v1 dataset
//! let ds = Dataset::open(dir.path())?;                                 // validates everything
//! let bold = ds.load_bold(0)?;                                          // run-01: n_scans x n_voxels
//! assert_eq!(bold.data.ncols(), ds.mask().n_voxels());
//! let left = ds.mask().hemispheres(HemisphereRule::Paper);
//! # assert_eq!(left.len(), ds.mask().n_voxels());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Run indices in this crate's API are 0-based positions (`0` is `run-01`); [`Run::index`] and
//! the file names are 1-based.

#![warn(missing_docs)]
// Library code never unwraps: errors are typed and returned (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod atomic;
pub mod dataset;
pub mod error;
pub mod features;
pub mod joblib;
pub mod mask;
pub mod models;
pub mod nifti_io;
pub mod rois;
pub mod synth;
pub mod words;

#[cfg(test)]
mod realdata_tests;

pub use atomic::{write_atomic, write_atomic_path, write_bytes_atomic};
pub use dataset::{BoldRun, Dataset, DatasetConfig, Roi, Run};
pub use error::{DataError, Result};
pub use features::{ContextMeta, Features, FeaturesMeta, FeaturesWriter, StreamingWriter};
pub use joblib::{NpyArray, NpyData, read_joblib_array};
pub use mask::{Hemisphere, HemisphereRule, Mask};
pub use models::{ModelInfo, ModelsFile};
pub use nifti_io::{Affine, Grid};
pub use rois::{RoiPair, RoiSource};
pub use synth::{SynthGrid, SynthParams, SynthSummary};
pub use words::Words;
