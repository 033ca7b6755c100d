//! Loading weights: memory-mapped safetensors, prefixes, dtypes, untrained re-initialisation.
//!
//! [`var_builder`] is what the extractor hands to [`crate::Family::load`]:
//!
//! * trained: the folder's `*.safetensors` (one file, or the shards listed by
//!   `model.safetensors.index.json`), memory-mapped, converted to the requested dtype on the
//!   requested device as each tensor is read. A name resolves as asked, else with one of the
//!   family's causal-LM prefixes added (`h.0.attn.c_attn.weight` finds
//!   `transformer.h.0.attn.c_attn.weight`), else with it removed (SPEC 3.4);
//! * untrained (`--untrained SEED`): every tensor is drawn from the [`Init`] hint the model code
//!   gives to `get_with_hints`, with a generator seeded by the seed and the tensor's name, so the
//!   result does not depend on the order of the requests. Where a hint cannot express HF's
//!   `_init_weights` (Mamba's `A_log`), the model builds the tensor itself from
//!   [`seeded_rng`].

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Shape, Tensor, safetensors::MmapedSafetensors};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, init::NormalOrUniform};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::{LmError, LoadContext};

/// The device a model runs on (`--device`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LmDevice {
    /// The CPU (default).
    #[default]
    Cpu,
    /// The first CUDA GPU; needs the `cuda` feature.
    Cuda,
}

impl LmDevice {
    /// Parses `cpu` or `cuda`.
    pub fn parse(s: &str) -> Result<Self, LmError> {
        match s {
            "cpu" => Ok(LmDevice::Cpu),
            "cuda" => Ok(LmDevice::Cuda),
            _ => Err(LmError::Invalid(format!("--device {s:?}: expected `cpu` or `cuda`"))),
        }
    }

    /// `cpu` or `cuda`.
    pub fn name(self) -> &'static str {
        match self {
            LmDevice::Cpu => "cpu",
            LmDevice::Cuda => "cuda",
        }
    }

    /// The candle device. `Cuda` is [`LmError::Unsupported`] unless the crate was built with
    /// the `cuda` feature.
    pub fn to_candle(self) -> Result<Device, LmError> {
        match self {
            LmDevice::Cpu => Ok(Device::Cpu),
            #[cfg(feature = "cuda")]
            LmDevice::Cuda => Device::new_cuda(0).map_err(|e| {
                LmError::Unsupported(format!(
                    "--device cuda: cannot open CUDA device 0 ({e}); check the NVIDIA driver or use --device cpu"
                ))
            }),
            #[cfg(not(feature = "cuda"))]
            LmDevice::Cuda => Err(LmError::Unsupported(
                "--device cuda: this plugin was built without CUDA support; rebuild it with `--features cuda` or use \
                 --device cpu"
                    .into(),
            )),
        }
    }
}

/// Parses a `--dtype`: `f32`, `bf16` or `f16`.
pub fn parse_dtype(s: &str) -> Result<DType, LmError> {
    match s {
        "f32" => Ok(DType::F32),
        "bf16" => Ok(DType::BF16),
        "f16" => Ok(DType::F16),
        _ => Err(LmError::Invalid(format!("--dtype {s:?}: expected `f32`, `bf16` or `f16`"))),
    }
}

/// The `--dtype` name of a dtype (`f32`, `bf16`, `f16`; candle's name for others).
pub fn dtype_name(dtype: DType) -> &'static str {
    dtype.as_str()
}

/// The tensors of `ctx`'s model: from the folder's safetensors, or re-initialised when
/// `ctx.untrained` is set. `prefixes` are the family's causal-LM prefixes ([`crate::Family::prefixes`]).
pub fn var_builder(ctx: &LoadContext, prefixes: &[&str]) -> Result<VarBuilder<'static>, LmError> {
    match ctx.untrained {
        Some(seed) => Ok(untrained(seed, ctx.dtype, &ctx.device)),
        None => trained(&ctx.dir, prefixes, ctx.dtype, &ctx.device),
    }
}

/// The safetensors files of a model folder: the shards named by
/// `model.safetensors.index.json`, else every `*.safetensors`. A folder with only PyTorch
/// pickles (`pytorch_model.bin`, `*.pt`, `*.pth`) is refused with how to convert it.
pub fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>, LmError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|source| LmError::Io { path: index.clone(), source })?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| LmError::Malformed { path: index.clone(), reason: format!("not valid JSON ({e})") })?;
        let Some(map) = json.get("weight_map").and_then(|m| m.as_object()) else {
            return Err(LmError::Malformed {
                path: index,
                reason: "no `weight_map` object (tensor name -> shard file)".into(),
            });
        };
        let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        let files: Vec<PathBuf> = shards.iter().map(|s| dir.join(s)).collect();
        if let Some(missing) = files.iter().find(|f| !f.is_file()) {
            return Err(LmError::Malformed {
                path: missing.clone(),
                reason: format!("listed in {} but missing; download every shard", index.display()),
            });
        }
        return Ok(files);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| LmError::Io { path: dir.to_path_buf(), source })?;
    let mut files = Vec::new();
    let mut pickles = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| LmError::Io { path: dir.to_path_buf(), source })?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => files.push(path),
            Some("bin" | "pt" | "pth") => pickles.push(path),
            _ => {}
        }
    }
    files.sort();
    if !files.is_empty() {
        return Ok(files);
    }
    let reason = if pickles.is_empty() {
        "no weights: expected `model.safetensors` (or shards with `model.safetensors.index.json`); or pass \
         --untrained SEED for a randomly initialised model"
            .to_owned()
    } else {
        format!(
            "only PyTorch pickle weights ({}); brainscale reads safetensors only. Convert them once with Python:\n  \
             from transformers import AutoModelForCausalLM\n  \
             m = AutoModelForCausalLM.from_pretrained(\"{d}\")\n  \
             m.save_pretrained(\"{d}\", safe_serialization=True)",
            pickles.iter().filter_map(|p| p.file_name()?.to_str()).collect::<Vec<_>>().join(", "),
            d = dir.display()
        )
    };
    Err(LmError::Unsupported(format!("{}: {reason}", dir.display())))
}

/// A [`VarBuilder`] over the folder's safetensors, memory-mapped.
pub fn trained(dir: &Path, prefixes: &[&str], dtype: DType, device: &Device) -> Result<VarBuilder<'static>, LmError> {
    let files = safetensors_files(dir)?;
    // SAFETY: memory-mapping is unsafe because another process could modify or truncate the
    // file while it is mapped. The model folder is read-only input owned by the user; the
    // mapped tensors are copied into the model's own buffers (dtype/device conversion) when
    // the model is built, and the mapping lives only as long as the loading `VarBuilder`.
    let tensors = unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| LmError::Malformed {
        path: files.first().cloned().unwrap_or_else(|| dir.to_path_buf()),
        reason: format!("cannot read the safetensors weights ({e}); re-download or re-save the model"),
    })?;
    let names = tensors.tensors().into_iter().map(|(name, _)| name).collect();
    let backend = PrefixedSafetensors {
        tensors,
        names,
        prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
        dir: dir.to_path_buf(),
    };
    Ok(VarBuilder::from_backend(Box::new(backend), dtype, device.clone()))
}

/// A [`VarBuilder`] that creates every tensor from its init hint (`--untrained SEED`).
pub fn untrained(seed: u64, dtype: DType, device: &Device) -> VarBuilder<'static> {
    VarBuilder::from_backend(Box::new(Untrained { seed }), dtype, device.clone())
}

/// Safetensors that resolve names with or without the family's causal-LM prefix.
struct PrefixedSafetensors {
    tensors: MmapedSafetensors,
    names: HashSet<String>,
    prefixes: Vec<String>,
    dir: PathBuf,
}

impl PrefixedSafetensors {
    fn resolve(&self, name: &str) -> Option<String> {
        if self.names.contains(name) {
            return Some(name.to_owned());
        }
        for p in &self.prefixes {
            let with = format!("{p}{name}");
            if self.names.contains(&with) {
                return Some(with);
            }
            if let Some(without) = name.strip_prefix(p.as_str())
                && self.names.contains(without)
            {
                return Some(without.to_owned());
            }
        }
        None
    }

    fn load(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let Some(resolved) = self.resolve(name) else {
            let tried = if self.prefixes.is_empty() {
                String::new()
            } else {
                format!(" (nor with the prefix {})", self.prefixes.join(" or "))
            };
            return Err(candle_core::Error::Msg(format!(
                "tensor `{name}` is not in the safetensors of {}{tried}: is this model of the family its config.json \
                 says?",
                self.dir.display()
            )));
        };
        self.tensors.load(&resolved, dev)?.to_dtype(dtype)
    }
}

impl SimpleBackend for PrefixedSafetensors {
    fn get(&self, s: Shape, name: &str, _: Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let tensor = self.load(name, dtype, dev)?;
        if tensor.shape() != &s {
            return Err(candle_core::Error::Msg(format!(
                "tensor `{name}` in {}: expected shape {s:?} (from config.json), got {:?}",
                self.dir.display(),
                tensor.shape()
            )));
        }
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.load(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }
}

/// Creates tensors from their init hints, seeded per tensor name.
struct Untrained {
    seed: u64,
}

impl SimpleBackend for Untrained {
    fn get(&self, s: Shape, name: &str, init: Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let values = init_values(&s, init, &mut seeded_rng(self.seed, name))?;
        Tensor::from_vec(values, s, &Device::Cpu)?.to_dtype(dtype)?.to_device(dev)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        Err(candle_core::Error::Msg(format!(
            "--untrained: tensor `{name}` was requested without a shape; the model code must give one"
        )))
    }

    /// Every tensor can be created: families decide what exists from config.json.
    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// A generator for the tensor `name` under `seed`: the same pair always gives the same
/// stream, whatever else was drawn before. Families use it to build the tensors that an
/// [`Init`] hint cannot describe.
pub fn seeded_rng(seed: u64, name: &str) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&fnv1a(name.as_bytes(), 0xcbf2_9ce4_8422_2325).to_le_bytes());
    key[16..24].copy_from_slice(&fnv1a(name.as_bytes(), 0x6c62_272e_07bb_0142).to_le_bytes());
    key[24..32].copy_from_slice(&(name.len() as u64).to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

fn fnv1a(bytes: &[u8], basis: u64) -> u64 {
    bytes.iter().fold(basis, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// `shape.elem_count()` values drawn as `init` says (as f32).
pub fn init_values(shape: &Shape, init: Init, rng: &mut ChaCha8Rng) -> candle_core::Result<Vec<f32>> {
    let n = shape.elem_count();
    let normal = |mean: f64, std: f64, rng: &mut ChaCha8Rng| -> candle_core::Result<Vec<f32>> {
        let d = Normal::new(mean, std).map_err(|e| candle_core::Error::Msg(format!("init N({mean}, {std}): {e}")))?;
        Ok((0..n).map(|_| d.sample(rng) as f32).collect())
    };
    let uniform = |lo: f64, up: f64, rng: &mut ChaCha8Rng| -> Vec<f32> {
        (0..n).map(|_| (lo + (up - lo) * rng.random::<f64>()) as f32).collect()
    };
    match init {
        Init::Const(c) => Ok(vec![c as f32; n]),
        Init::Randn { mean, stdev } => normal(mean, stdev, rng),
        Init::Uniform { lo, up } => Ok(uniform(lo, up, rng)),
        Init::Kaiming { dist, fan, non_linearity } => {
            let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
            match dist {
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    Ok(uniform(-bound, bound, rng))
                }
                NormalOrUniform::Normal => normal(0.0, std, rng),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(t: &Tensor) -> (f64, f64) {
        let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    #[test]
    fn untrained_tensors_follow_their_hints_and_the_seed() {
        let vb = untrained(3, DType::F32, &Device::Cpu);
        let a = vb.get_with_hints((200, 100), "h.0.w", Init::Randn { mean: 0.0, stdev: 0.02 }).unwrap();
        let (mean, std) = stats(&a);
        assert!(mean.abs() < 0.001 && (std - 0.02).abs() < 0.0005, "{mean} {std}");
        let b = vb.get_with_hints((200, 100), "h.1.w", Init::Randn { mean: 0.0, stdev: 0.02 }).unwrap();
        // independent of request order and equal for the same name and seed
        let a_again = untrained(3, DType::F32, &Device::Cpu)
            .get_with_hints((200, 100), "h.0.w", Init::Randn { mean: 0.0, stdev: 0.02 })
            .unwrap();
        let diff = |x: &Tensor, y: &Tensor| x.sub(y).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>();
        assert_eq!(diff(&a, &a_again).unwrap(), 0.0);
        assert!(diff(&a, &b).unwrap() > 0.0);
        let other_seed = untrained(4, DType::F32, &Device::Cpu)
            .get_with_hints((200, 100), "h.0.w", Init::Randn { mean: 0.0, stdev: 0.02 })
            .unwrap();
        assert!(diff(&a, &other_seed).unwrap() > 0.0);
        let ones = vb.get_with_hints(7, "ln.weight", Init::Const(1.0)).unwrap();
        assert_eq!(ones.to_vec1::<f32>().unwrap(), [1.0; 7]);
        let u = vb.get_with_hints(10_000, "u", Init::Uniform { lo: -0.5, up: 0.5 }).unwrap();
        let (mean, std) = stats(&u);
        assert!(mean.abs() < 0.01 && (std - 1.0 / 12f64.sqrt()).abs() < 0.01);
        let bf16 = untrained(3, DType::BF16, &Device::Cpu).get_with_hints(4, "x", Init::Const(1.0)).unwrap();
        assert_eq!(bf16.dtype(), DType::BF16);
    }

    #[test]
    fn names_resolve_with_or_without_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tensor::arange(0f32, 6.0, &Device::Cpu).unwrap().reshape((2, 3)).unwrap();
        let u = Tensor::ones(3, DType::F32, &Device::Cpu).unwrap();
        candle_core::safetensors::save(
            &[("transformer.h.0.w".to_string(), t), ("ln_f.bias".to_string(), u)].into_iter().collect(),
            dir.path().join("model.safetensors"),
        )
        .unwrap();
        let vb = trained(dir.path(), &["transformer."], DType::BF16, &Device::Cpu).unwrap();
        assert_eq!(vb.get((2, 3), "h.0.w").unwrap().dtype(), DType::BF16);
        assert!(vb.get((2, 3), "transformer.h.0.w").is_ok());
        assert!(vb.get(3, "transformer.ln_f.bias").is_ok());
        assert!(vb.pp("ln_f").get(3, "bias").is_ok());
        let e = vb.get((3, 2), "h.0.w").unwrap_err().to_string();
        assert!(e.contains("expected shape"), "{e}");
        let e = vb.get(3, "wte.weight").unwrap_err().to_string();
        assert!(e.contains("`wte.weight`") && e.contains("transformer."), "{e}");
    }

    #[test]
    fn pickles_are_refused_with_how_to_convert() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pytorch_model.bin"), b"x").unwrap();
        let e = safetensors_files(dir.path()).unwrap_err();
        assert!(matches!(e, LmError::Unsupported(_)));
        let m = e.to_string();
        assert!(m.contains("pytorch_model.bin") && m.contains("safe_serialization=True"), "{m}");
        let empty = tempfile::tempdir().unwrap();
        assert!(safetensors_files(empty.path()).unwrap_err().to_string().contains("--untrained"));
    }

    #[test]
    fn sharded_checkpoints_use_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let one = Tensor::ones(2, DType::F32, &Device::Cpu).unwrap();
        for (file, name) in [("a.safetensors", "x"), ("b.safetensors", "model.y")] {
            candle_core::safetensors::save(
                &[(name.to_string(), one.clone())].into_iter().collect(),
                dir.path().join(file),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("stray.safetensors"), b"not read").unwrap();
        std::fs::write(
            dir.path().join("model.safetensors.index.json"),
            r#"{"weight_map": {"x": "a.safetensors", "model.y": "b.safetensors"}}"#,
        )
        .unwrap();
        let vb = trained(dir.path(), &["model."], DType::F32, &Device::Cpu).unwrap();
        assert!(vb.get(2, "x").is_ok() && vb.get(2, "y").is_ok());
    }

    #[test]
    fn devices_and_dtypes_parse() {
        assert_eq!(parse_dtype("bf16").unwrap(), DType::BF16);
        assert!(parse_dtype("f64").is_err());
        assert_eq!(LmDevice::parse("cuda").unwrap(), LmDevice::Cuda);
        assert!(LmDevice::parse("gpu").is_err());
        #[cfg(not(feature = "cuda"))]
        assert!(LmDevice::Cuda.to_candle().unwrap_err().to_string().contains("--features cuda"));
    }
}
