//! The `brainscale` command line (SPEC section 6).
//!
//! Exit status: 0 success, 1 a user error (one message naming the file and the problem),
//! 2 a usage error (clap).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use brainscale::core::Hrf;
use brainscale::core::ridge::{CvMode, logspace};
use brainscale::data::{Dataset, Features, synth};
use brainscale::encoding::{CoreBackend, Device, FitParams, fit_features, write_design};
use brainscale::extract::{extract_features, open_model, parse_option};
use brainscale::plugins::{Discovery, discover, search_dirs};
use brainscale::progress::Progress;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "brainscale", version, about = "Language models vs fMRI: encoding models, scaling and lateralization")]
struct Cli {
    /// No progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic dataset (layout v1) with a planted, left-lateralised signal and its ground truth.
    Synth {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Number of runs.
        #[arg(long, default_value_t = 9)]
        runs: usize,
        /// Scans per run.
        #[arg(long, default_value_t = 300)]
        scans: usize,
        /// Voxel grid: `lpp` (the real 4 mm grid, 37 x 46 x 38) or `small` (8 mm).
        #[arg(long, default_value = "lpp")]
        grid: String,
        /// Use this mask (e.g. the real English mask) instead of the built-in brain shape.
        #[arg(long)]
        mask: Option<PathBuf>,
    },
    /// Write the regressors of one layer (SPEC 4) as safetensors.
    Design {
        /// Features folder (SPEC 2).
        #[arg(long)]
        features: PathBuf,
        /// Dataset: a folder in layout v1, or a prepared dataset's name (`lpp-en`, `lpp-en/sub-EN057`).
        #[arg(long)]
        dataset: String,
        /// Data directory where dataset names are looked up (default: $BRAINSCALE_DATA, else
        /// the user cache directory + brainscale).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Layer index.
        #[arg(long)]
        layer: usize,
        /// Output file (.safetensors).
        #[arg(long)]
        out: PathBuf,
        /// HRF: `glover` (nilearn 0.10, the paper's) or `glover-nilearn-0.11`.
        #[arg(long, default_value = "glover")]
        hrf: String,
    },
    /// Fit every layer of a features folder with cross-validated ridge; write r maps and tables.
    Fit {
        /// Features folder (SPEC 2).
        #[arg(long)]
        features: PathBuf,
        /// Dataset: a folder in layout v1, or a prepared dataset's name (`lpp-en`, `lpp-en/sub-EN057`).
        #[arg(long)]
        dataset: String,
        /// Data directory where dataset names are looked up (default: $BRAINSCALE_DATA, else
        /// the user cache directory + brainscale).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Output folder (may exist; other files there are left alone).
        #[arg(long)]
        out: PathBuf,
        /// Cross-validation: `paper` (one alpha per fold) or `voxelwise` (one alpha per voxel).
        #[arg(long, default_value = "paper")]
        cv: String,
        /// Alpha grid as LO,HI,N: logspace(LO, HI, N) in log10 exponents.
        #[arg(long, default_value = "2,7,16")]
        alphas: String,
        /// HRF: `glover` (nilearn 0.10, the paper's) or `glover-nilearn-0.11`.
        #[arg(long, default_value = "glover")]
        hrf: String,
        #[command(flatten)]
        core: CoreArgs,
        /// Only these layers (comma-separated).
        #[arg(long, value_delimiter = ',')]
        layers: Option<Vec<usize>>,
    },
    /// Extract per-word features of every run and layer with a plugin; write a features folder.
    #[command(after_help = MODEL_HELP)]
    Extract {
        /// The model: a Hugging Face folder (config.json, *.safetensors, tokenizer), a hub id
        /// `owner/name[@revision]`, or a baseline spec `random-vectors`, `random-embeddings`,
        /// `glove:FILE` (see below). The plugin is the first one found that serves the family.
        #[arg(long)]
        model: String,
        /// Device the model runs on (language models): cpu or cuda (a plugin built with the
        /// `cuda` feature).
        #[arg(long, value_parser = ["cpu", "cuda"])]
        device: Option<String>,
        /// Data type the model runs in (language models): f32 (default), bf16 or f16.
        #[arg(long, value_parser = ["f32", "bf16", "f16"])]
        dtype: Option<String>,
        /// Step between context windows in content tokens (language models; SPEC 3.2). Default:
        /// 64 minus the special tokens the tokenizer adds per window (64 for GPT-2, 63 with a
        /// BOS as OPT or Llama add), the windows of the paper's Hugging Face call.
        #[arg(long)]
        step: Option<u64>,
        /// Re-initialise the model's weights as Hugging Face initialises the architecture, with
        /// this seed (the paper's untrained models).
        #[arg(long, value_name = "SEED")]
        untrained: Option<u64>,
        /// Dataset: a folder in layout v1, or a prepared dataset's name (`lpp-en`, `lpp-en/sub-EN057`).
        #[arg(long)]
        dataset: String,
        /// Data directory where dataset names are looked up (default: $BRAINSCALE_DATA, else
        /// the user cache directory + brainscale).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Output features folder (SPEC 2; may exist, other files there are left alone).
        #[arg(long)]
        out: PathBuf,
        /// Look for plugins here first (repeatable); then $BRAINSCALE_PLUGIN_PATH, then the
        /// folder of this executable.
        #[arg(long)]
        plugin_dir: Vec<PathBuf>,
        /// A model option KEY=VALUE (repeatable), e.g. `dim=1024`, `seed=3`; VALUE is JSON when
        /// it parses as JSON, else a string.
        #[arg(long = "option", value_name = "KEY=VALUE", value_parser = parse_option)]
        options: Vec<(String, serde_json::Value)>,
    },
    /// The whole study: extract -> fit -> analyze for a list of models on a dataset, reusing
    /// what is already done. With no arguments: the embedded demo (a SIMULATION with a planted
    /// left-lateralised scaling effect; nothing is downloaded).
    Run {
        /// Dataset: a folder in layout v1 or a prepared dataset's name; default: the demo's
        /// synthetic dataset, written to OUT/dataset.
        #[arg(long)]
        dataset: Option<String>,
        /// Data directory where dataset names are looked up (default: $BRAINSCALE_DATA, else
        /// the user cache directory + brainscale).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Comma-separated models: folders, hub ids `owner/name[@revision]`, baseline specs;
        /// default: the demo's simulated models and random baselines.
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Output folder.
        #[arg(long, default_value = "brainscale-study")]
        out: PathBuf,
        /// Look for plugins here first (repeatable).
        #[arg(long)]
        plugin_dir: Vec<PathBuf>,
        /// Permutations of the lateralization test.
        #[arg(long, default_value_t = 10_000)]
        permutations: usize,
        #[command(flatten)]
        core: CoreArgs,
        /// Data type the language models run in: f32 (default, the paper's), bf16 (the fast
        /// path on a GPU; README 'GPU' gives its effect on features and scores) or f16.
        #[arg(long, value_parser = ["f32", "bf16", "f16"])]
        dtype: Option<String>,
    },
    /// Tables, statistics and maps of a study from results folders (`brainscale fit --out`).
    Analyze {
        /// Results folders, one per model or baseline.
        #[arg(long, num_args = 1.., required = true)]
        results: Vec<PathBuf>,
        /// Dataset the results were fitted on: a folder in layout v1 or a prepared dataset's name.
        #[arg(long)]
        dataset: String,
        /// Data directory where dataset names are looked up (default: $BRAINSCALE_DATA, else
        /// the user cache directory + brainscale).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Model name of the baseline for the `r minus baseline` maps.
        #[arg(long)]
        baseline: Option<String>,
        /// Permutations of the lateralization test.
        #[arg(long, default_value_t = 10_000)]
        permutations: usize,
    },
    /// The dataset registry (datasets.toml): list, fetch (checksummed, resumable) and verify.
    Datasets {
        /// Data directory (default: $BRAINSCALE_DATA, else the user cache directory +
        /// brainscale, e.g. ~/.cache/brainscale).
        #[arg(long, global = true, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// A registry file instead of the built-in datasets.toml.
        #[arg(long, global = true, value_name = "FILE")]
        registry: Option<PathBuf>,
        #[command(subcommand)]
        command: DatasetsCommand,
    },
    /// Plugins: `list` shows every plugin found and every library that failed to load.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Prepare a registry dataset from its downloaded BIDS derivatives (`datasets fetch NAME`
    /// first): resample, mask, clean, average the subjects, split-half reliability, word files
    /// and texts, into DATA_DIR/datasets/NAME (dataset layout v1, with provenance).
    Prepare {
        /// The registry entry, e.g. `lpp-en`.
        name: String,
        /// Only the first N subjects (sorted by label).
        #[arg(long)]
        subjects: Option<usize>,
        /// Also write these subjects as datasets of their own, NAME/sub-XX (comma-separated;
        /// default: the registry's `keep_subjects`; `--keep-subjects ''` for none).
        #[arg(long, value_delimiter = ',')]
        keep_subjects: Option<Vec<String>>,
        /// Resampling: `continuous` (cubic spline, nilearn's default) or `linear`.
        #[arg(long)]
        interpolation: Option<String>,
        /// The kept subjects' mask: `own` (from the subject's runs, as the paper) or `group`
        /// (default: the registry's `subject_mask`, else `own`).
        #[arg(long)]
        subject_mask: Option<String>,
        /// The kept subjects' Gaussian smoothing, FWHM in mm; 0 for none (default: the
        /// registry's `subject_smoothing_fwhm`, else the paper's 4).
        #[arg(long, allow_negative_numbers = true)]
        subject_smoothing_fwhm: Option<f64>,
        /// Voxels per ridge batch in the reliability fit.
        #[arg(long, default_value_t = 4096)]
        voxel_batch: usize,
        /// The data directory (default: $BRAINSCALE_DATA, else the user cache directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A registry file instead of the built-in datasets.toml.
        #[arg(long)]
        registry: Option<PathBuf>,
    },
}

/// Where and how the encoding core runs (`fit`, `run`).
#[derive(clap::Args, Clone, Debug)]
struct CoreArgs {
    /// Device: `cpu`, or `cuda[:N]` (GPU N, through the backend library
    /// libbrainscale_backend_candle built by scripts/gpu-kit.sh). `run` also extracts the
    /// language models on the GPU.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Encoding-core backend: `faer` (the CPU default) or `candle` (the loaded library: the only
    /// one on cuda; on cpu it runs candle's CPU device, slower, for parity checks).
    #[arg(long, value_parser = ["faer", "candle"])]
    backend: Option<String>,
    /// Voxels per solver batch (memory grows linearly with it), or `auto`: 4,096 on the CPU,
    /// as many as the GPU's free memory holds on cuda.
    #[arg(long, default_value = "auto")]
    voxel_batch: String,
}

impl CoreArgs {
    /// Fills `params` (device, backend, batch; the backend library is looked for in
    /// `plugin_dirs` first).
    fn apply(&self, params: &mut FitParams, plugin_dirs: &[PathBuf]) -> anyhow::Result<()> {
        params.device = Device::from_name(&self.device)
            .with_context(|| format!("--device {:?}: expected `cpu`, `cuda` or `cuda:N`", self.device))?;
        params.backend = self.backend.as_deref().and_then(CoreBackend::from_name);
        params.voxel_batch = match self.voxel_batch.as_str() {
            "auto" => None,
            n => Some(
                n.parse::<usize>()
                    .ok()
                    .filter(|&b| b > 0)
                    .with_context(|| format!("--voxel-batch {n:?}: expected a positive number or `auto`"))?,
            ),
        };
        params.plugin_dirs = plugin_dirs.to_vec();
        params.resolved_backend()?;
        Ok(())
    }
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// List the plugins found (name, version, ABI, families) and the load failures (with stage).
    List {
        /// Look for plugins here first (repeatable).
        #[arg(long)]
        plugin_dir: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DatasetsCommand {
    /// Every registry entry: version, whether it is fetched and prepared here, description.
    List,
    /// Download an entry into DATA_DIR/raw/NAME (resumable; checksums verified or recorded in
    /// DATA_DIR/raw/NAME/brainscale.lock.toml).
    Fetch {
        /// Registry entry (`brainscale datasets list`).
        name: String,
        /// Only the first N subjects in sorted order (OpenNeuro entries; annotations always).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        subjects: Option<u64>,
        /// Downloads at a time.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=16))]
        jobs: u64,
    },
    /// Re-hash the fetched files against the pinned and recorded checksums; exit status 1 if
    /// any is missing or corrupt.
    Verify {
        /// Registry entry.
        name: String,
    },
}

const MODEL_HELP: &str = "\
Language models: a Hugging Face folder or hub id; the plugin is chosen by config.json's
model_type (`brainscale plugins list` shows the families served). Hub downloads go to the
Hugging Face cache ($HF_HOME/hub); HF_TOKEN for gated models; HF_HUB_OFFLINE=1 to use the
cache only; HF_ENDPOINT for a mirror.
  brainscale extract --model openai-community/gpt2 --dataset demo --out feats/gpt2
  brainscale extract --model EleutherAI/pythia-160m@step1000 --dataset demo --out feats/pythia-step1000
  brainscale extract --model ./models/qwen1.5-0.5b --untrained 0 --dataset demo --out feats/qwen-untrained

Model specs (the baselines plugin, brainscale-baselines):
  random-vectors        a fresh Gaussian vector per word occurrence   options: dim (300), seed (0)
  random-embeddings     a fixed uniform vector per word type          options: dim (300), seed (0)
  glove:FILE            GloVe vectors from FILE (glove.6B.300d.txt format); unknown words get zeros

Examples:
  brainscale extract --model random-embeddings --option dim=1024 --option seed=3 --dataset demo --out feats/re
  brainscale extract --model glove:/data/glove.6B.300d.txt --dataset demo --out feats/glove

Plugins are searched in --plugin-dir, then $BRAINSCALE_PLUGIN_PATH (colon-separated), then the
folder of this executable; `brainscale plugins list` shows what is found.";

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(&format!(": {c}"));
                }
            }
            eprintln!("{msg}");
            ExitCode::from(1)
        }
    }
}

/// Warnings from the library (`log::warn!`) go to stderr.
fn init_logging() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Warn
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                brainscale::progress::suspend(|| eprintln!("warning: {}", r.args()));
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let progress = if cli.quiet { Progress::Quiet } else { Progress::Bars };
    match cli.command {
        Command::Synth { out, seed, runs, scans, grid, mask } => {
            let grid = match (mask, grid.as_str()) {
                (Some(m), _) => synth::SynthGrid::Mask(m),
                (None, "lpp") => synth::SynthGrid::Lpp,
                (None, "small") => synth::SynthGrid::Small,
                (None, other) => bail!("--grid {other:?}: expected `lpp` or `small`"),
            };
            let params = synth::SynthParams { seed, n_runs: runs, n_scans: scans, grid, ..Default::default() };
            let summary = synth::write_dataset(&out, &params)?;
            println!("{summary}");
            println!("wrote {}", out.display());
        }
        Command::Design { features, dataset, data_dir, layer, out, hrf } => {
            let ds = open_dataset(&dataset, data_dir.as_deref())?;
            let features = Features::open(&features)?;
            write_design(&ds, &features, layer, parse_hrf(&hrf)?, &out)?;
            println!("wrote {}", out.display());
        }
        Command::Fit { features, dataset, data_dir, out, cv, alphas, hrf, core, layers } => {
            let mut params = FitParams {
                cv: CvMode::from_name(&cv).with_context(|| format!("--cv {cv:?}: expected `paper` or `voxelwise`"))?,
                alphas: parse_alphas(&alphas)?,
                hrf: parse_hrf(&hrf)?,
                layers,
                ..FitParams::default()
            };
            core.apply(&mut params, &[])?;
            let ds = open_dataset(&dataset, data_dir.as_deref())?;
            let features = Features::open(&features)?;
            let result = fit_features(&ds, &features, &params, Some(&out), progress)?;
            print!("{}", brainscale::tables::summary_text(&result));
            println!("results in {}", out.display());
        }
        Command::Extract { model, device, dtype, step, untrained, dataset, data_dir, out, plugin_dir, options } => {
            let plugins = discover_plugins(&plugin_dir)?;
            let mut options: serde_json::Map<String, serde_json::Value> = options.into_iter().collect();
            // Only what was given: baselines take none of these, and a model plugin's defaults
            // are SPEC's (cpu, f32, step 64 - the tokenizer's special tokens).
            for (key, value) in [
                ("device", device.map(serde_json::Value::from)),
                ("dtype", dtype.map(serde_json::Value::from)),
                ("step", step.map(serde_json::Value::from)),
                ("untrained", untrained.map(serde_json::Value::from)),
            ] {
                if let Some(value) = value {
                    options.insert(key.to_owned(), value);
                }
            }
            let options = serde_json::Value::Object(options);
            let ds = open_dataset(&dataset, data_dir.as_deref())?;
            let mut extractor = open_model(&model, &options, &plugins)?;
            let features = extract_features(&mut extractor, &ds, &out, progress)?;
            let meta = features.meta();
            println!(
                "{}: {} layer(s) of dims {:?} for {} runs of {}",
                meta.model,
                meta.n_layers,
                meta.dims,
                ds.n_runs(),
                ds.name()
            );
            println!("wrote {}", out.display());
        }
        Command::Run { dataset, data_dir, models, out, plugin_dir, permutations, core, dtype } => {
            let mut fit_params = FitParams::default();
            core.apply(&mut fit_params, &plugin_dir)?;
            // Language models follow the encoding core's device; baselines take no device.
            let mut lm_options = serde_json::Map::new();
            if let brainscale::encoding::Device::Cuda(_) = fit_params.device {
                lm_options.insert("device".into(), "cuda".into());
            }
            if let Some(d) = &dtype {
                lm_options.insert("dtype".into(), d.as_str().into());
            }
            let plugins = discover_plugins(&plugin_dir)?;
            let demo = dataset.is_none() && models.is_empty();
            let ds = match &dataset {
                Some(d) => open_dataset(d, data_dir.as_deref())?,
                None => {
                    eprintln!(
                        "dataset: the demo's synthetic dataset in {} (a simulation)",
                        out.join("dataset").display()
                    );
                    brainscale::run::ensure_demo_dataset(&out.join("dataset"))?
                }
            };
            // `paper` (or any set of models.toml) expands to its Hugging Face ids.
            let table = brainscale::data::models::ModelsFile::builtin()?;
            let mut specs: Vec<String> = Vec::new();
            for m in &models {
                if table.set_names().contains(&m.as_str()) {
                    specs.extend(table.set(m)?.iter().map(|i| i.hf_id.clone()));
                } else {
                    specs.push(m.clone());
                }
            }
            let study_models = if specs.is_empty() {
                brainscale::run::demo_models(&plugins)
            } else {
                specs
                    .iter()
                    .map(|m| {
                        let baseline = m.starts_with("random-") || m.starts_with("glove:");
                        let options = if baseline { serde_json::json!({}) } else { lm_options.clone().into() };
                        brainscale::run::StudyModel::Plugin { spec: m.clone(), options }
                    })
                    .collect()
            };
            let outcomes = brainscale::run::run_models(&ds, &study_models, &fit_params, &plugins, &out, progress)?;
            for o in &outcomes {
                let how = match o.reused {
                    (true, true) => "reused",
                    (true, false) => "features reused, fitted",
                    _ => "extracted and fitted",
                };
                eprintln!("{:<32} {how}", o.name);
            }
            let results: Vec<PathBuf> = outcomes.iter().map(|o| o.results.clone()).collect();
            let study = brainscale::study::Study::open(&ds, &results)?;
            let baseline = study_models.iter().zip(&study.models).find_map(|(m, r)| match m {
                brainscale::run::StudyModel::Plugin { spec, options }
                    if spec == "random-embeddings" && options["dim"] == 1024 =>
                {
                    Some(r.model.clone())
                }
                _ => None,
            });
            let params = brainscale::report::AnalyzeParams { baseline: baseline.clone(), permutations, seed: 0 };
            let analysis = brainscale::report::write_study(&study, &params, &out)?;
            let report = brainscale::figures::write_report(&study, analysis.as_ref(), baseline.as_deref(), demo, &out)?;
            print_headline(analysis.as_ref(), demo);
            println!("report: {}", report.display());
            println!("study in {}", out.display());
        }
        Command::Analyze { results, dataset, data_dir, out, baseline, permutations } => {
            let ds = open_dataset(&dataset, data_dir.as_deref())?;
            let study = brainscale::study::Study::open(&ds, &results)?;
            let baseline = analysis_baseline(&study, baseline)?;
            let params = brainscale::report::AnalyzeParams { baseline: baseline.clone(), permutations, seed: 0 };
            let analysis = brainscale::report::write_study(&study, &params, &out)?;
            let report =
                brainscale::figures::write_report(&study, analysis.as_ref(), baseline.as_deref(), false, &out)?;
            print_headline(analysis.as_ref(), false);
            println!("report: {}", report.display());
            println!("analysis in {}", out.display());
        }
        Command::Datasets { data_dir, registry, command } => {
            datasets(command, data_dir.as_deref(), registry.as_deref(), cli.quiet, progress)?
        }
        Command::Plugins { command: PluginsCommand::List { plugin_dir } } => {
            let found = discover_plugins(&plugin_dir)?;
            print!("{}", plugins_text(&found));
        }
        Command::Prepare {
            name,
            subjects,
            keep_subjects,
            interpolation,
            subject_mask,
            subject_smoothing_fwhm,
            voxel_batch,
            data_dir,
            registry,
        } => {
            let options = brainscale_prep::prepare::Options {
                subjects,
                keep_subjects: keep_subjects.map(|k| k.into_iter().filter(|s| !s.is_empty()).collect()),
                interpolation: interpolation
                    .map(|i| {
                        brainscale_prep::spec::Interpolation::from_name(&i)
                            .filter(|i| *i != brainscale_prep::spec::Interpolation::Nearest)
                            .with_context(|| format!("--interpolation {i:?}: expected `continuous` or `linear`"))
                    })
                    .transpose()?,
                subject_mask: subject_mask
                    .map(|m| {
                        brainscale_prep::spec::SubjectMask::from_name(&m)
                            .with_context(|| format!("--subject-mask {m:?}: expected `own` or `group`"))
                    })
                    .transpose()?,
                subject_smoothing_fwhm,
                voxel_batch,
                command: Some(std::env::args().collect::<Vec<_>>().join(" ")),
            };
            prepare_dataset(&name, registry.as_deref(), data_dir.as_deref(), &options, progress)?;
        }
    }
    Ok(())
}

/// `brainscale prepare`: the registry entry's `prepare` table, its downloads in DATA_DIR/raw,
/// into DATA_DIR/datasets/NAME.
fn prepare_dataset(
    name: &str,
    registry: Option<&Path>,
    data_dir: Option<&Path>,
    options: &brainscale_prep::prepare::Options,
    progress: Progress,
) -> anyhow::Result<()> {
    use brainscale_datasets::{DataRoot, Registry};
    use brainscale_prep::{PrepError, spec::PrepareSpec};
    if let Some((corpus, subject)) = name.split_once('/') {
        bail!(
            "prepare {name}: prepare the corpus and keep the subject: `brainscale prepare {corpus} --keep-subjects {subject}`"
        );
    }
    let registry = match registry {
        Some(p) => Registry::load(p)?,
        None => Registry::builtin()?,
    };
    let entry = registry.get(name)?;
    let table = entry.prepare.as_ref().ok_or_else(|| PrepError::NotPreparable {
        registry: registry.path().to_path_buf(),
        entry: entry.name.clone(),
    })?;
    let root = DataRoot::resolve(data_dir)?;
    let origin = entry.source.describe();
    let source = brainscale_prep::prepare::Source {
        entry: entry.name.clone(),
        registry: registry.path().to_path_buf(),
        origin,
        version: entry.version.clone(),
        license: entry.license.clone(),
        citation: entry.citation.clone(),
    };
    let registry_dir = if registry.path().is_file() { registry.path().parent() } else { None };
    eprintln!("data directory: {}", root.describe());
    let mut bars = PrepareBars { progress, bar: None };
    let out = root.prepared(&entry.name);
    if entry.is_published() {
        // The paper's own prepared inputs: assembled, nothing to resample or clean.
        let spec = brainscale_prep::published::PublishedSpec::from_table(table, registry.path(), &entry.name)?;
        let done = brainscale_prep::published::assemble(
            &spec,
            &source,
            &root.raw(&entry.name),
            &out,
            registry_dir,
            options.command.as_deref(),
            &mut bars,
        )?;
        println!(
            "{}: the published average subject, {} runs ({} scans), {} words, {} voxels{}",
            entry.name,
            done.n_scans.len(),
            done.n_scans.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "),
            done.n_words.iter().sum::<usize>(),
            done.n_voxels,
            done.mean_reliability.map(|r| format!(", mean split-half ISC {r:.3}")).unwrap_or_default()
        );
        println!("wrote {}", done.dir.display());
        return Ok(());
    }
    let spec = PrepareSpec::from_table(table, registry.path(), &entry.name)?;
    let prepared = brainscale_prep::prepare::prepare(
        &spec,
        &source,
        &root.raw(&entry.name),
        &out,
        registry_dir,
        options,
        &mut bars,
    )?;
    println!(
        "{}: {} subject(s), {} runs, {} voxels{}",
        entry.name,
        prepared.subjects.len(),
        spec.runs,
        prepared.n_voxels,
        prepared.mean_reliability.map(|r| format!(", mean split-half reliability {r:.3}")).unwrap_or_default()
    );
    for (k, n) in prepared.kept.iter().zip(&prepared.kept_voxels) {
        println!("single-subject dataset: {} ({n} voxels)", k.display());
    }
    println!("wrote {}", prepared.dir.display());
    Ok(())
}

/// Progress bars for `prepare`, one per stage.
struct PrepareBars {
    progress: Progress,
    bar: Option<indicatif::ProgressBar>,
}

impl brainscale_prep::prepare::Progress for PrepareBars {
    fn start(&mut self, stage: &str, len: u64) {
        self.bar = Some(self.progress.bar(len, stage));
    }
    fn step(&mut self, _detail: &str) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// The baseline of the `r minus baseline` columns and maps: the one named with `--baseline`
/// (an error if no results folder has it), else the paper's 1024-d random embeddings when they
/// are among the results, else none (with a note saying what is left out).
fn analysis_baseline(study: &brainscale::study::Study, named: Option<String>) -> anyhow::Result<Option<String>> {
    let names = || study.models.iter().map(|m| m.model.as_str()).collect::<Vec<_>>().join(", ");
    if let Some(name) = named {
        if study.model(&name).is_none() {
            bail!("--baseline {name:?}: no results folder of that model among --results (models: {})", names());
        }
        return Ok(Some(name));
    }
    let found = study.models.iter().find(|m| m.model.starts_with("random-embeddings") && m.hidden == Some(1024));
    match found {
        Some(m) => {
            eprintln!("baseline: {} (the paper's 1024-d random embeddings)", m.model);
            Ok(Some(m.model.clone()))
        }
        None => {
            eprintln!(
                "note: no baseline among the results (models: {}), so the `r minus baseline` column and maps are left \
                 out; the paper's baseline is `brainscale extract --model random-embeddings --option dim=1024` \
                 then `fit`, or name one with --baseline",
                names()
            );
            Ok(None)
        }
    }
}

fn discover_plugins(plugin_dirs: &[PathBuf]) -> anyhow::Result<Discovery> {
    if let Some(d) = plugin_dirs.iter().find(|d| !d.is_dir()) {
        bail!("--plugin-dir {}: no such folder", d.display());
    }
    Ok(discover(&search_dirs(plugin_dirs)))
}

fn plugins_text(found: &Discovery) -> String {
    let dirs: Vec<String> = found.searched.iter().map(|d| d.display().to_string()).collect();
    let mut s = format!("searched: {}\n", dirs.join(", "));
    if found.plugins.is_empty() {
        s.push_str("no plugins found (build them with `cargo build --workspace`)\n");
    }
    for p in &found.plugins {
        let i = p.info();
        s.push_str(&format!(
            "{} {}  ABI {}.{}  families: {}\n    {}\n",
            i.name,
            i.version,
            i.abi_major,
            i.abi_minor,
            i.families.join(", "),
            i.path.display()
        ));
    }
    for f in &found.failures {
        s.push_str(&format!("failed to load {}\n    stage {}: {}\n", f.path.display(), f.stage, f.message));
    }
    s
}

fn print_headline(analysis: Option<&brainscale::analysis::Analysis>, demo: bool) {
    let Some(a) = analysis else {
        println!("no scaling statistics (fewer than 3 models with a parameter count)");
        return;
    };
    print!("{}", a.headline());
    if demo {
        println!(
            "THIS IS A SIMULATION: the demo's dataset and models are synthetic, with a planted left-lateralised \
             scaling effect. Planted effect recovered: {}",
            if a.left_lateralised_scaling() { "YES" } else { "NO" }
        );
        println!("The real study: brainscale run --dataset lpp-en --models paper (see the README)");
    } else {
        println!(
            "left-lateralised scaling (both slopes > 0, p < 0.05, permutation p < 0.05): {}",
            if a.left_lateralised_scaling() { "yes" } else { "no" }
        );
    }
}

/// `--dataset NAME|DIR`: a folder in layout v1, or a prepared dataset of the data directory.
fn open_dataset(arg: &str, data_dir: Option<&Path>) -> anyhow::Result<Dataset> {
    Ok(Dataset::open(&brainscale_datasets::resolve_dataset(arg, data_dir)?)?)
}

/// `brainscale datasets list | fetch | verify`.
fn datasets(
    command: DatasetsCommand,
    data_dir: Option<&Path>,
    registry: Option<&Path>,
    quiet: bool,
    progress: Progress,
) -> anyhow::Result<()> {
    use brainscale_datasets::{DataRoot, FetchOptions, Registry};
    let registry_path = registry;
    let registry = match registry {
        Some(p) => Registry::load(p)?,
        None => Registry::builtin()?,
    };
    let root = DataRoot::resolve(data_dir)?;
    // Repeated in the commands suggested below.
    let flag = data_dir.map(|d| format!(" --data-dir {}", d.display())).unwrap_or_default();
    match command {
        DatasetsCommand::List => print!("{}", brainscale_datasets::list_text(&registry, &root)?),
        DatasetsCommand::Fetch { name, subjects, jobs } => {
            let entry = registry.get(&name)?;
            let options = FetchOptions {
                subjects: subjects.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                jobs: usize::try_from(jobs).unwrap_or(4),
                quiet,
                ..Default::default()
            };
            print!("{}", brainscale_datasets::fetch(entry, &root, &options)?);
            if entry.is_published() {
                // Published inputs make a dataset at once.
                let options = brainscale_prep::prepare::Options {
                    command: Some(std::env::args().collect::<Vec<_>>().join(" ")),
                    ..Default::default()
                };
                prepare_dataset(&name, registry_path, data_dir, &options, progress)?;
                println!("next: brainscale run --dataset {name}{flag} --models paper");
            } else if entry.is_preparable() {
                println!("next: brainscale prepare {name}{flag}");
            }
        }
        DatasetsCommand::Verify { name } => {
            let entry = registry.get(&name)?;
            let report = brainscale_datasets::verify(entry, &root, quiet)?;
            print!("{report}");
            if report.never_fetched {
                bail!(
                    "dataset {name}: nothing fetched in {}; run `brainscale datasets fetch {name}{flag}`",
                    report.dir.display()
                );
            }
            if !report.is_ok() {
                bail!(
                    "dataset {name}: {} missing and {} corrupt file(s) in {}; delete the corrupt ones and run `brainscale datasets fetch {name}{flag}`",
                    report.missing.len(),
                    report.corrupt.len(),
                    report.dir.display()
                );
            }
        }
    }
    Ok(())
}

fn parse_hrf(name: &str) -> anyhow::Result<Hrf> {
    Hrf::from_name(name).with_context(|| format!("--hrf {name:?}: expected `glover` or `glover-nilearn-0.11`"))
}

fn parse_alphas(spec: &str) -> anyhow::Result<Vec<f64>> {
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    let bad = || format!("--alphas {spec:?}: expected LO,HI,N (log10 exponents and a count >= 1), e.g. 2,7,16");
    let [lo, hi, n] = parts[..] else { bail!(bad()) };
    let (lo, hi): (f64, f64) = (lo.parse().with_context(bad)?, hi.parse().with_context(bad)?);
    let n: usize = n.parse().with_context(bad)?;
    if n == 0 || !lo.is_finite() || !hi.is_finite() || hi < lo {
        bail!(bad());
    }
    Ok(logspace(lo, hi, n))
}
