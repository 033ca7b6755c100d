//! The study: many models' results on one dataset, as tables (polars DataFrames).
//!
//! A [`Study`] reads results folders (`brainscale fit --out`, one per model or baseline)
//! against a dataset, one r map at a time, and keeps per model only its per-layer numbers and
//! each voxel's best-layer r. Its tables:
//!
//! * [`Study::models_frame`]: one row per model: family, parameters, layers, hidden size, best
//!   layer, the brain score (mean over reliable voxels of each voxel's best-layer r, as the
//!   paper), left / right / L − R under both hemisphere rules, ISC-normalised scores, 90th
//!   percentiles;
//! * [`Study::layers_frame`]: one row per (model, layer), with the relative depth 0..1;
//! * [`Study::voxels_frame`]: one row per (model, voxel): best-layer r, and r minus a baseline
//!   (the paper's 1024-d random embeddings);
//! * [`Study::rois_frame`]: one row per (model, ROI, hemisphere).
//!
//! ```no_run
//! use brainscale::data::Dataset;
//! use brainscale::study::Study;
//! # fn main() -> brainscale::Result<()> {
//! let dataset = Dataset::open("demo".as_ref())?;
//! let study = Study::open(&dataset, &["results/gpt2".into(), "results/random-embeddings".into()])?;
//! println!("{}", study.models_frame()?);
//! # Ok(()) }
//! ```

mod frames;
mod regions;
mod results;

use std::path::PathBuf;

use brainscale_data::Dataset;

pub use regions::{RegionScores, Regions, RoiRegion};
pub use results::{LayerScores, ModelResults};

use crate::error::{Error, Result};

/// Many models' results on one dataset.
#[derive(Clone, Debug)]
pub struct Study {
    /// The dataset's name.
    pub dataset: String,
    /// Its voxel sets.
    pub regions: Regions,
    /// One entry per results folder, in the order given.
    pub models: Vec<ModelResults>,
}

impl Study {
    /// Reads results folders fitted on `dataset` (the grids must match; a folder fitted on
    /// another dataset with the same grid is accepted with a warning).
    pub fn open(dataset: &Dataset, results: &[PathBuf]) -> Result<Study> {
        if results.is_empty() {
            return Err(Error::Invalid("no results folder given".into()));
        }
        let regions = Regions::of(dataset)?;
        let mut models = Vec::with_capacity(results.len());
        for dir in results {
            let m = ModelResults::open(dir, &regions)?;
            if m.dataset != dataset.name() {
                log::warn!(
                    "{}: fitted on dataset `{}`, analysed with `{}` (same grid)",
                    dir.display(),
                    m.dataset,
                    dataset.name()
                );
            }
            if let Some(other) = models.iter().find(|o: &&ModelResults| o.model == m.model && o.dir != m.dir) {
                log::warn!("model {} appears twice: {} and {}", m.model, other.dir.display(), dir.display());
            }
            models.push(m);
        }
        let mut fitted_on: Vec<&str> = models.iter().map(|m| m.dataset.as_str()).collect();
        fitted_on.sort_unstable();
        fitted_on.dedup();
        if fitted_on.len() > 1 {
            let groups: Vec<String> = fitted_on
                .iter()
                .map(|d| {
                    let dirs: Vec<String> =
                        models.iter().filter(|m| m.dataset == *d).map(|m| m.dir.display().to_string()).collect();
                    format!("`{d}`: {}", dirs.join(", "))
                })
                .collect();
            return Err(Error::Invalid(format!(
                "results from different datasets cannot be mixed in one analysis ({}); analyse each dataset separately",
                groups.join("; ")
            )));
        }
        Ok(Study { dataset: dataset.name().to_owned(), regions, models })
    }

    /// The model named `name`.
    pub fn model(&self, name: &str) -> Option<&ModelResults> {
        self.models.iter().find(|m| m.model == name)
    }
}

#[cfg(test)]
mod tests;
