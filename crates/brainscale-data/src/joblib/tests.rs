//! Tests of the joblib reader: the fixtures written by joblib 1.6.0 / numpy 2.4.6
//! (tests/fixtures/joblib/generate.sh, values in expected.json), hand-built pickles for the
//! corners joblib does not write, truncation and byte-flip fuzzing, and the paper's real file.

use std::path::{Path, PathBuf};

use super::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/joblib")
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn good_names() -> Vec<String> {
    expected()["good"].as_object().unwrap().keys().cloned().collect()
}

fn message(result: Result<NpyArray>) -> String {
    match result {
        Ok(a) => panic!("expected an error, read an array of shape {:?}", a.shape),
        Err(e) => e.to_string(),
    }
}

/// `bytes` parsed with the name `name` for messages.
fn parse(name: &str, bytes: &[u8]) -> Result<NpyArray> {
    parse_joblib_array(Path::new(name), bytes)
}

// ---- the fixtures

#[test]
fn joblib_fixtures_read_to_their_expected_values() {
    let expected = expected();
    let good = expected["good"].as_object().unwrap();
    assert!(good.len() >= 10, "expected.json lists {} good files", good.len());
    for (name, want) in good {
        let array = read_joblib_array(&fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let shape: Vec<usize> =
            want["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(array.shape, shape, "{name}");
        assert_eq!(array.data.dtype_name(), want["dtype"].as_str().unwrap(), "{name}");
        let bits: Vec<u64> = want["values_f64_bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| u64::from_str_radix(v.as_str().unwrap(), 16).unwrap())
            .collect();
        let decimals = want["values"].as_array().unwrap();
        assert_eq!(array.data.len(), bits.len(), "{name}");
        for (i, (got, want)) in array.data.to_f64().iter().zip(&bits).enumerate() {
            assert_eq!(got.to_bits(), *want, "{name}: value {i} (C order): {got} != {}", f64::from_bits(*want));
            let decimal = decimals[i].as_f64().unwrap();
            assert!((got - decimal).abs() <= 1e-15 * got.abs(), "{name}: value {i}: {got} vs decimal {decimal}");
        }
    }
}

#[test]
fn joblib_fixtures_cover_every_layout() {
    let expected = expected();
    let good: Vec<&serde_json::Value> = expected["good"].as_object().unwrap().values().collect();
    let has = |key: &str, value: &str| good.iter().any(|g| g[key].as_str() == Some(value));
    assert!(has("order_written", "F") && has("order_written", "C"));
    assert!(has("byteorder", ">") && has("byteorder", "<"));
    assert!(has("dtype", "float32") && has("dtype", "float64"));
    for compress in ["0", "3", "('gzip', 3)"] {
        assert!(has("compress", compress), "no fixture with compress={compress}");
    }
    for ndim in 0..=3 {
        assert!(good.iter().any(|g| g["shape"].as_array().unwrap().len() == ndim), "no {ndim}-D fixture");
    }
}

#[test]
fn joblib_bad_fixtures_are_refused_with_file_and_reason() {
    let cases = [
        ("bad_os_system.joblib", "refused pickle global `posix.system` at byte 28"),
        ("bad_eval_zlib.joblib", "refused pickle global `builtins.eval` at byte 29"),
        ("bad_object_array.joblib", "refused dtype `O8` (an object array"),
        ("bad_int64_zlib.joblib", "refused dtype `i8` (signed integers)"),
        ("bad_float16_raw.joblib", "refused dtype `f2` (a float of another width)"),
        ("bad_list_of_two_zlib.joblib", "refused pickle opcode EMPTY_LIST (0x5d) at byte 11, a Python list"),
        ("bad_xz.joblib", "xz-compressed joblib files are not read"),
        ("bad_truncated_data.joblib", "the array data (float64 x [4, 6]) needs 192 byte(s), only 96 remain"),
        ("bad_truncated_header.joblib", "truncated at byte"),
        ("bad_truncated_zlib.joblib", "the zlib stream ends early"),
        ("bad_trailing_garbage_zlib.joblib", "8 unexpected byte(s) after the end of the zlib stream"),
    ];
    let listed: Vec<String> = expected()["bad"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(listed.len(), cases.len(), "every bad fixture has a case here: {listed:?}");
    for (name, reason) in cases {
        assert!(listed.iter().any(|l| l == name), "{name} is not in expected.json");
        let path = fixtures().join(name);
        let err = read_joblib_array(&path).unwrap_err();
        assert!(matches!(err, DataError::Joblib { .. }), "{name}: {err:?}");
        let msg = err.to_string();
        println!("{msg}");
        assert!(msg.contains(name), "{name}: message does not name the file: {msg}");
        assert!(msg.contains(reason), "{name}: expected {reason:?} in: {msg}");
    }
}

#[test]
fn joblib_refusal_message_reads_well() {
    let err = read_joblib_array(&fixtures().join("bad_os_system.joblib")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.ends_with(
        "bad_os_system.joblib: refused pickle global `posix.system` at byte 28: only joblib's \
         NumpyArrayWrapper of a float32/float64 numpy array is read"
    ));
    let DataError::Joblib { problem, .. } = err else { unreachable!() };
    assert_eq!(problem, JoblibProblem::RefusedGlobal { module: "posix".into(), name: "system".into(), offset: 28 });
}

#[test]
fn joblib_missing_file_is_a_missing_file_error() {
    let err = read_joblib_array(&fixtures().join("nope.joblib")).unwrap_err();
    assert!(matches!(err, DataError::MissingFile { .. }), "{err:?}");
}

// ---- fuzzing: every prefix of a good file fails, byte flips never panic

#[test]
fn joblib_truncation_at_every_offset_is_an_error() {
    for name in good_names() {
        let bytes = std::fs::read(fixtures().join(&name)).unwrap();
        for cut in 0..bytes.len() {
            let result = parse(&name, &bytes[..cut]);
            assert!(result.is_err(), "{name} cut at {cut} of {} bytes was accepted", bytes.len());
        }
        assert!(parse(&name, &bytes).is_ok(), "{name}");
    }
}

#[test]
fn joblib_byte_flips_never_panic() {
    // SplitMix64, seeded: no dependency, same sequence everywhere.
    let mut state = 0x5eed_1234_abcd_0001u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (mut ok, mut err) = (0, 0);
    for name in good_names() {
        let original = std::fs::read(fixtures().join(&name)).unwrap();
        for _ in 0..600 {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] ^= 1 + (next() % 255) as u8;
            }
            match parse(&name, &bytes) {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert!(e.to_string().contains(&name), "{e}");
                    err += 1;
                }
            }
        }
    }
    println!("byte flips: {ok} read (flips in the data or in ignored fields), {err} refused");
    assert!(err > ok, "most flips must be caught ({ok} read, {err} refused)");
}

// ---- hand-built pickles: the corners joblib does not write

/// A pickle under construction, protocol 4 opcodes without frames.
struct P(Vec<u8>);

#[derive(Clone, Copy)]
enum Align {
    Int(u8),
    None,
    Absent,
}

impl P {
    fn new() -> P {
        P(vec![0x80, 4])
    }
    fn op(mut self, bytes: &[u8]) -> P {
        self.0.extend_from_slice(bytes);
        self
    }
    fn s(self, text: &str) -> P {
        let len = text.len() as u8;
        self.op(&[0x8c, len]).op(text.as_bytes())
    }
    fn global(self, module: &str, name: &str) -> P {
        self.s(module).s(name).op(&[0x93])
    }
    /// Everything up to and including the wrapper's BUILD.
    fn header(shape: &[u64], descr: &str, endian: &str, order: &str, align: Align) -> P {
        let mut p = P::new().global("joblib.numpy_pickle", "NumpyArrayWrapper").op(b")\x81}(");
        p = p.s("subclass").global("numpy", "ndarray").s("shape").op(b"(");
        for &d in shape {
            p = p.op(&[0x8a, 8]).op(&d.to_le_bytes());
        }
        p = p.op(b"t").s("order").s(order).s("dtype").global("numpy", "dtype");
        p = p.s(descr).op(&[0x89, 0x88, 0x87, b'R', b'(', b'K', 3]).s(endian);
        p = p.op(b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb").s("allow_mmap").op(&[0x88]);
        p = match align {
            Align::Int(n) => p.s("numpy_array_alignment_bytes").op(&[b'K', n]),
            Align::None => p.s("numpy_array_alignment_bytes").op(b"N"),
            Align::Absent => p,
        };
        p.op(b"ub")
    }
    fn done(self) -> Vec<u8> {
        self.0
    }
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn joblib_handbuilt_alignment_variants() {
    let values = [1.5, -2.25, 3.0, 4.0, 5.0, 6.5];
    let data = f64_bytes(&values);
    let want = NpyArray { shape: vec![2, 3], data: NpyData::F64(values.to_vec()) };
    // joblib >= 1.2: a padding-length byte, then that much padding.
    let p = P::header(&[2, 3], "f8", "<", "C", Align::Int(16)).op(&[3, 0xff, 0xff, 0xff]).op(&data).op(b".");
    assert_eq!(parse("a.pkl", &p.done()).unwrap(), want);
    // joblib <= 1.1 (no field) and non-seekable streams (None): no padding byte at all.
    for align in [Align::Absent, Align::None] {
        let p = P::header(&[2, 3], "f8", "<", "C", align).op(&data).op(b".");
        assert_eq!(parse("b.pkl", &p.done()).unwrap(), want);
    }
}

#[test]
fn joblib_handbuilt_refusals() {
    let data = f64_bytes(&[1.0; 6]);
    let ok_header = || P::header(&[2, 3], "f8", "<", "C", Align::None);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("text_global.pkl", P::new().op(b"cos\nsystem\n").done(), "refused pickle global `os.system` at byte 2"),
        (
            "ndarray_reduce.pkl",
            P::new().global("numpy", "ndarray").op(b")R.").done(),
            "refused REDUCE of the class numpy.ndarray",
        ),
        (
            "dtype_newobj.pkl",
            P::new().global("numpy", "dtype").op(b")\x81.").done(),
            "refused NEWOBJ of the class numpy.dtype",
        ),
        ("inst.pkl", P::new().op(b"(ios\nsystem\n.").done(), "refused pickle opcode INST (0x69) at byte 3"),
        ("unknown_op.pkl", P::new().op(&[0xff]).done(), "refused pickle opcode unknown (0xff) at byte 2"),
        ("trailing.pkl", ok_header().op(&data).op(b".junk").done(), "4 unexpected byte(s) after the pickle's STOP"),
        (
            "tuple.pkl",
            ok_header().op(&data).op(&[0x85, b'.']).done(),
            "the pickle holds a tuple of 1 item(s), not a single numpy array",
        ),
        (
            "two.pkl",
            {
                let mut v = ok_header().op(&data).done();
                v.extend_from_slice(&ok_header().op(&data).op(&[0x86, b'.']).done()[2..]);
                v
            },
            "more than one array",
        ),
        ("int.pkl", P::new().op(b"K\x05.").done(), "the pickle holds the int 5, not a single numpy array"),
        (
            "short_data.pkl",
            P::header(&[1000, 1000], "f8", "<", "C", Align::None).op(&data).op(b".").done(),
            "needs 8000000 byte(s), only 49 remain",
        ),
        (
            "overflow.pkl",
            P::header(&[1 << 40, 1 << 40], "f8", "<", "C", Align::None).op(b".").done(),
            "needs more than 2^64 bytes",
        ),
        ("bar_order.pkl", P::header(&[2, 3], "f8", "|", "C", Align::None).done(), "byte order the string \"|\""),
        ("order_k.pkl", P::header(&[2, 3], "f8", "<", "K", Align::None).done(), "field `order` = the string \"K\""),
        ("complex.pkl", P::header(&[2], "c16", "<", "C", Align::None).done(), "refused dtype `c16` (complex numbers)"),
        ("proto1.pkl", vec![0x80, 1, b'.'], "a pickle of protocol 1"),
        ("proto_late.pkl", P::new().op(&[0x80, 4]).done(), "PROTO 4"),
        ("npy.npy", b"\x93NUMPY\x01\x00".to_vec(), "a .npy file"),
        ("old.pkl", b"ZF0x2a".to_vec(), "joblib < 0.10"),
        ("lz4.pkl", vec![0x04, 0x22, 0x4d, 0x18, 0, 0], "lz4-compressed"),
        ("bz2.pkl", b"BZh91AY".to_vec(), "bz2-compressed"),
        ("empty.pkl", Vec::new(), "empty file"),
        ("text.pkl", b"hello".to_vec(), "not a joblib file: it starts with bytes [68 65 6c 6c 6f]"),
        (
            "deep.pkl",
            {
                let mut v = P::new().op(b")").done();
                v.extend(std::iter::repeat_n(0x85, 200_000));
                v
            },
            "tuples nested more than 8 deep",
        ),
        ("underflow.pkl", P::new().op(b"R").done(), "REDUCE with too few items on the stack"),
        ("mark_underflow.pkl", P::new().op(b"K\x01(R").done(), "REDUCE with too few items on the stack"),
        ("memo.pkl", P::new().op(b"h\x07").done(), "memo 7 read before it is set"),
        (
            "big_string.pkl",
            P::new().op(b"X\xff\xff\xff\x7f").done(),
            "the string needs 2147483647 byte(s), only 0 remain",
        ),
        ("frame.pkl", P::new().op(&[0x95, 0, 0, 0, 0, 0, 0, 0, 1]).done(), "the frame needs"),
        ("nones.pkl", P::new().op(&[b'N'; 300]).done(), "more than 256 values or marks on the stack"),
        ("marks.pkl", P::new().op(&[b'('; 300]).done(), "more than 256 values or marks on the stack"),
        ("wide.pkl", P::new().op(b"(").op(&[b'N'; 65]).op(b"t").done(), "a tuple of more than 64 items"),
        (
            "memo_many.pkl",
            {
                let mut p = P::new().op(b"N");
                for _ in 0..5000 {
                    p = p.op(&[0x94]);
                }
                p.done()
            },
            "more than 4096 memo entries",
        ),
    ];
    for (name, bytes, reason) in cases {
        let msg = message(parse(name, &bytes));
        assert!(msg.starts_with(&format!("{name}: ")), "{msg}");
        assert!(msg.contains(reason), "{name}: expected {reason:?} in: {msg}");
    }
}

#[test]
fn joblib_memo_sharing_stays_small() {
    // Each step memoises the top and pairs it with itself: 2^n leaves if copied, n nodes shared;
    // the depth limit refuses it after a few steps either way, without blowing up.
    let mut p = P::new().op(b")");
    for i in 0..200u8 {
        p = p.op(&[0x94, b'h', i, 0x86]);
    }
    let msg = message(parse("bomb.pkl", &p.op(b".").done()));
    assert!(msg.contains("nested more than 8 deep"), "{msg}");
}

#[test]
fn joblib_decompression_limit() {
    let path = fixtures().join("f64_3d_zlib3.joblib");
    let bytes = std::fs::read(&path).unwrap();
    let size = container::unwrap_pickle(&bytes, MAX_DECOMPRESSED_BYTES).unwrap().len() as u64;
    assert!(parse_joblib_array_with_limit(&path, &bytes, size).is_ok(), "exactly the limit is fine");
    let msg = parse_joblib_array_with_limit(&path, &bytes, size - 1).unwrap_err().to_string();
    assert!(msg.contains(&format!("more than {} bytes once decompressed", size - 1)), "{msg}");
    let raw = std::fs::read(fixtures().join("f32_1d_raw.joblib")).unwrap();
    let msg = parse_joblib_array_with_limit(Path::new("raw.joblib"), &raw, 10).unwrap_err().to_string();
    assert!(msg.contains("more than 10 bytes"), "{msg}");
}

#[test]
fn joblib_damaged_checksums_are_caught() {
    for (name, container) in [("f32_c_2d_zlib3.joblib", "zlib"), ("f64_fortran_2d_gzip3.joblib", "gzip")] {
        let mut bytes = std::fs::read(fixtures().join(name)).unwrap();
        let at = bytes.len() - if container == "zlib" { 2 } else { 6 };
        bytes[at] ^= 0x40; // inside the Adler-32 / CRC-32 trailer
        let msg = message(parse(name, &bytes));
        assert!(msg.contains(&format!("the {container} stream is corrupt")), "{msg}");
    }
}

// ---- layout helpers

#[test]
fn fortran_to_c_matches_index_arithmetic() {
    for shape in [vec![3usize, 4], vec![2, 3, 4], vec![1, 5], vec![4, 1, 2, 3]] {
        let n: usize = shape.iter().product();
        // Fortran-order storage of the array whose C-order value at flat index c is c.
        let mut fortran = vec![0usize; n];
        for c in 0..n {
            let mut rest = c;
            let mut idx = vec![0; shape.len()];
            for k in (0..shape.len()).rev() {
                idx[k] = rest % shape[k];
                rest /= shape[k];
            }
            let mut f = 0;
            for k in (0..shape.len()).rev() {
                f = f * shape[k] + idx[k];
            }
            fortran[f] = c;
        }
        assert_eq!(fortran_to_c(&shape, fortran), (0..n).collect::<Vec<_>>(), "shape {shape:?}");
    }
    assert_eq!(fortran_to_c(&[0, 3], Vec::<u8>::new()), Vec::<u8>::new());
}

#[test]
fn joblib_matrices_and_accessors() {
    let array = read_joblib_array(&fixtures().join("f64_fortran_2d_gzip3.joblib")).unwrap();
    assert_eq!(array.dims_2d(), Some([4, 3]));
    let m64 = array.to_mat_f64().unwrap();
    let m32 = array.to_mat_f32().unwrap();
    for i in 0..4 {
        for j in 0..3 {
            let v = array.data.get_f64(i * 3 + j).unwrap();
            assert_eq!(m64[(i, j)], v);
            assert_eq!(m32[(i, j)], v as f32);
        }
    }
    assert_eq!(array.data.to_f32().len(), 12);
    let one_d = read_joblib_array(&fixtures().join("f32_1d_raw.joblib")).unwrap();
    assert_eq!(one_d.ndim(), 1);
    assert!(one_d.dims_2d().is_none());
    let msg = one_d.to_mat_f32().unwrap_err().to_string();
    assert!(msg.contains("expected a 2-D array, found shape [7]"), "{msg}");
    let scalar = read_joblib_array(&fixtures().join("f64_0d_raw.joblib")).unwrap();
    assert_eq!((scalar.ndim(), scalar.data.to_f64()), (0, vec![2.5]));
}

// ---- the paper's real file

#[test]
fn joblib_real_isc_file_equals_the_nifti_in_mask_order() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/lpp-en");
    if !dir.join("isc_10trials_en.gz").exists() {
        eprintln!("skipping: ../shared/data/lpp-en not found ({} has no isc_10trials_en.gz)", dir.display());
        return;
    }
    let array = read_joblib_array(&dir.join("isc_10trials_en.gz")).unwrap();
    assert_eq!(array.shape, [10, 25_870]);
    assert!(matches!(array.data, NpyData::F64(_)), "dtype {}", array.data.dtype_name());
    let isc = array.to_mat_f64().unwrap();

    let mask = crate::Mask::load(&dir.join("mask.nii.gz")).unwrap();
    assert_eq!(mask.n_voxels(), 25_870);
    let nifti = mask.mask_file(&dir.join("isc_10trials.nii.gz")).unwrap();
    assert_eq!((nifti.nrows(), nifti.ncols()), (10, 25_870));
    let mut max_rel = 0f64;
    for t in 0..10 {
        for v in 0..25_870 {
            let (a, b) = (isc[(t, v)], nifti[(t, v)] as f64);
            // float32 rounding of the float64 value: at most half an ulp, 2^-24 relative.
            let rel = (a - b).abs() / a.abs().max(f64::MIN_POSITIVE);
            assert!(rel <= 2f64.powi(-24) || a == b, "trial {t}, voxel {v}: joblib {a}, NIfTI {b}");
            max_rel = max_rel.max(if a == b { 0.0 } else { rel });
        }
    }
    println!("isc_10trials_en.gz equals isc_10trials.nii.gz in mask order; max relative difference {max_rel:.3e}");
}
