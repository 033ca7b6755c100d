//! The few Python objects a joblib array is made of, as inert tags: the four allowed globals,
//! numpy's dtype (kind and byte order) and the fields of joblib's `NumpyArrayWrapper`.

use super::pickle::{Value, truncate};
use super::problem::JoblibProblem;

/// The four globals a joblib array needs; anything else is refused on sight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Global {
    /// `joblib.numpy_pickle.NumpyArrayWrapper` (also under scikit-learn's old vendored path).
    Wrapper,
    /// `numpy.ndarray`, the wrapper's `subclass`.
    NdArray,
    /// `numpy.memmap`, the `subclass` of a memory-mapped array that was dumped.
    Memmap,
    /// `numpy.dtype`, the only callable REDUCE may call.
    Dtype,
}

/// The global named `module.name`, if it is one of the four.
pub(super) fn resolve_global(module: &str, name: &str) -> Option<Global> {
    match (module, name) {
        ("joblib.numpy_pickle" | "sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper") => Some(Global::Wrapper),
        ("numpy", "ndarray") => Some(Global::NdArray),
        ("numpy" | "numpy.core.memmap" | "numpy._core.memmap", "memmap") => Some(Global::Memmap),
        ("numpy", "dtype") => Some(Global::Dtype),
        _ => None,
    }
}

/// The dotted name of a global, for messages.
pub(super) fn global_name(g: Global) -> &'static str {
    match g {
        Global::Wrapper => "joblib.numpy_pickle.NumpyArrayWrapper",
        Global::NdArray => "numpy.ndarray",
        Global::Memmap => "numpy.memmap",
        Global::Dtype => "numpy.dtype",
    }
}

/// The element types read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    F32,
    F64,
}

impl Kind {
    /// The kind of numpy's short dtype name (`"f4"`, `"f8"`), or the refusal of any other.
    pub(super) fn from_descr(descr: &str, offset: usize) -> Result<Kind, JoblibProblem> {
        match descr {
            "f4" => Ok(Kind::F32),
            "f8" => Ok(Kind::F64),
            other => Err(refused_dtype(other, offset)),
        }
    }

    pub(super) fn itemsize(self) -> u64 {
        match self {
            Kind::F32 => 4,
            Kind::F64 => 8,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::F32 => "float32",
            Kind::F64 => "float64",
        }
    }
}

/// A `numpy.dtype` under construction: REDUCE gives the kind, BUILD the byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dtype {
    pub(super) kind: Kind,
    pub(super) big_endian: Option<bool>,
}

fn refused_dtype(descr: &str, offset: usize) -> JoblibProblem {
    let what = match descr.as_bytes().first() {
        Some(b'O') => " (an object array, whose items joblib pickles inline)",
        Some(b'i') => " (signed integers)",
        Some(b'u') => " (unsigned integers)",
        Some(b'b') => " (booleans)",
        Some(b'f') => " (a float of another width)",
        Some(b'c') => " (complex numbers)",
        Some(b'V') => " (a structured or void dtype)",
        Some(b'U' | b'S') => " (strings)",
        Some(b'M' | b'm') => " (dates or time deltas)",
        _ => "",
    };
    JoblibProblem::RefusedDtype { descr: truncate(descr), what: what.to_string(), offset }
}

/// numpy's dtype state `(version, byteorder, subarray, names, fields, elsize, alignment,
/// flags[, metadata])`: whether the byte order is big-endian, or what is wrong.
pub(super) fn dtype_byte_order(state: &[Value]) -> Result<bool, String> {
    let bad = |reason: String| format!("numpy.dtype state: {reason}");
    if !(2..=9).contains(&state.len()) {
        return Err(bad(format!("{} items (numpy writes 8 or 9)", state.len())));
    }
    if !matches!(state[0], Value::Int(3 | 4)) {
        return Err(bad(format!("version {} (numpy writes 3 or 4)", state[0].describe())));
    }
    if let Some(extra) = state.get(2..5).and_then(|s| s.iter().find(|v| !matches!(v, Value::None))) {
        let what = extra.describe();
        return Err(bad(format!("{what} where a plain float dtype has None (a structured or sub-array dtype?)")));
    }
    match &state[1] {
        Value::Str(s) if &**s == "<" => Ok(false),
        Value::Str(s) if &**s == ">" => Ok(true),
        other => Err(bad(format!("byte order {} (a float dtype has '<' or '>')", other.describe()))),
    }
}

/// What the state dict of a `NumpyArrayWrapper` says about the bytes that follow it.
#[derive(Debug)]
pub(super) struct WrapperState {
    pub(super) shape: Vec<usize>,
    /// `order == "F"`: the bytes are in Fortran order.
    pub(super) fortran: bool,
    pub(super) kind: Kind,
    pub(super) big_endian: bool,
    /// `numpy_array_alignment_bytes` is an int (joblib >= 1.2 writing to a seekable file): a
    /// padding-length byte and that much padding precede the data.
    pub(super) aligned: bool,
}

/// Reads the wrapper's state dict; every field must be one joblib writes, with a sane value.
pub(super) fn wrapper_state(state: &[(Value, Value)]) -> Result<WrapperState, String> {
    let (mut shape, mut fortran, mut dtype, mut subclass) = (None, None, None, None);
    let mut aligned = false; // the field is absent before joblib 1.2: no padding byte
    for (key, value) in state {
        let Value::Str(key) = key else {
            return Err(format!("a NumpyArrayWrapper field named by {}", key.describe()));
        };
        let bad = |v: &Value| format!("NumpyArrayWrapper field `{key}` = {}", v.describe());
        match (&**key, value) {
            ("subclass", Value::Global(Global::NdArray | Global::Memmap)) => subclass = Some(()),
            ("shape", Value::Tuple(dims, _)) => {
                let dims: Option<Vec<usize>> =
                    dims.iter().map(|d| if let Value::Int(i) = d { usize::try_from(*i).ok() } else { None }).collect();
                shape = Some(dims.ok_or_else(|| bad(value))?);
            }
            ("order", Value::Str(s)) if matches!(&**s, "C" | "F") => fortran = Some(&**s == "F"),
            ("dtype", Value::Dtype(Dtype { kind, big_endian: Some(big) })) => dtype = Some((*kind, *big)),
            ("allow_mmap", Value::Bool(_)) => {}
            ("numpy_array_alignment_bytes", Value::None) => aligned = false,
            ("numpy_array_alignment_bytes", Value::Int(n)) if *n > 0 => aligned = true,
            ("subclass" | "shape" | "order" | "dtype" | "allow_mmap" | "numpy_array_alignment_bytes", v) => {
                return Err(bad(v));
            }
            (other, _) => return Err(format!("unknown NumpyArrayWrapper field `{}`", truncate(other))),
        }
    }
    let missing = |field: &str| format!("NumpyArrayWrapper without `{field}`");
    subclass.ok_or_else(|| missing("subclass"))?;
    let shape = shape.ok_or_else(|| missing("shape"))?;
    let fortran = fortran.ok_or_else(|| missing("order"))?;
    let (kind, big_endian) = dtype.ok_or_else(|| missing("dtype"))?;
    Ok(WrapperState { shape, fortran, kind, big_endian, aligned })
}

/// Values of `N` bytes each, in the given byte order.
pub(super) fn decode<T, const N: usize>(
    bytes: &[u8],
    big_endian: bool,
    le: fn([u8; N]) -> T,
    be: fn([u8; N]) -> T,
) -> Vec<T> {
    let from = if big_endian { be } else { le };
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            from(b)
        })
        .collect()
}
