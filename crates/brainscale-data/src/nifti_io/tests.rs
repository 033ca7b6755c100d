//! Round trips through files: values, affines, header codes, streaming, errors.

use flate2::Compression;

use super::affine::qform_affine;
use super::write::write_plain;
use super::*;

fn lpp_grid() -> Grid {
    Grid {
        dims: [5, 4, 3],
        affine: [[4.0, 0.0, 0.0, -72.0], [0.0, 4.0, 0.0, -106.0], [0.0, 0.0, 4.0, -64.0], [0.0, 0.0, 0.0, 1.0]],
    }
}

#[test]
fn write_then_read_keeps_values_affine_and_codes() {
    let dir = tempfile::tempdir().unwrap();
    let grid = lpp_grid();
    let mut template = header_for_grid(&grid, 4);
    template.sform_code = 2;
    template.qform_code = 1;
    for name in ["map.nii.gz", "map.nii"] {
        let path = dir.path().join(name);
        write_f32(&path, &template, &[5, 4, 3], None, Compression::default(), |_, v| {
            for (n, x) in v.iter_mut().enumerate() {
                *x = n as f32 * 0.5 - 3.0;
            }
            Ok(())
        })
        .unwrap();
        let img = read_image(&path).unwrap();
        assert_eq!(img.info.dims, vec![5, 4, 3]);
        assert!(img.info.grid.matches(&grid, 1e-6), "{}", img.info.grid);
        assert_eq!(img.info.header.sform_code, 2);
        assert_eq!(img.info.header.qform_code, 1);
        assert_eq!(qform_affine(&img.info.header), grid.affine);
        assert_eq!(img.data.len(), 60);
        assert_eq!(img.data[7], 0.5);
    }
}

#[test]
fn four_d_streams_volume_by_volume() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bold.nii.gz");
    let template = header_for_grid(&lpp_grid(), 4);
    write_f32(&path, &template, &[5, 4, 3, 7], Some(2.0), Compression::fast(), |t, v| {
        v[0] = t as f32;
        Ok(())
    })
    .unwrap();
    let info = read_info(&path).unwrap();
    assert_eq!(info.n_volumes(), 7);
    assert_eq!(info.header.pixdim[4], 2.0);
    let mut seen = Vec::new();
    for_each_volume(&path, |t, v| {
        seen.push((t, v[0]));
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (0..7).map(|t| (t, t as f32)).collect::<Vec<_>>());
}

#[test]
fn qform_round_trips_rotations_and_flips() {
    let c = std::f64::consts::FRAC_1_SQRT_2;
    let affines = [
        [[-2.0, 0.0, 0.0, 90.0], [0.0, 2.0, 0.0, -126.0], [0.0, 0.0, 2.0, -72.0], [0.0, 0.0, 0.0, 1.0]],
        [[3.0 * c, -3.0 * c, 0.0, 1.0], [3.0 * c, 3.0 * c, 0.0, 2.0], [0.0, 0.0, -3.0, 3.0], [0.0, 0.0, 0.0, 1.0]],
    ];
    for affine in affines {
        let h = header_for_grid(&Grid { dims: [2, 2, 2], affine }, 1);
        assert_eq!(h.qform_code, 1);
        let q = qform_affine(&h);
        for r in 0..4 {
            for col in 0..4 {
                assert!((q[r][col] - affine[r][col]).abs() < 1e-5, "{q:?} vs {affine:?}");
            }
        }
    }
}

#[test]
fn truncated_and_non_nifti_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.nii");
    write_plain(&path, b"not a nifti file at all").unwrap();
    assert!(matches!(read_info(&path), Err(DataError::Nifti { .. })));
    let good = dir.path().join("good.nii");
    write_f32(&good, &header_for_grid(&lpp_grid(), 4), &[5, 4, 3], None, Compression::fast(), |_, _| Ok(())).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.nii");
    write_plain(&cut, &bytes[..400]).unwrap();
    let err = read_image(&cut).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    let missing = read_info(&dir.path().join("none.nii.gz")).unwrap_err();
    assert!(matches!(missing, DataError::MissingFile { .. }));
}
