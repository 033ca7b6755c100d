use super::morphology::{self, Dims};
use super::*;

fn lpp_grid() -> Grid {
    Grid {
        dims: [37, 46, 38],
        affine: [[4.0, 0.0, 0.0, -72.0], [0.0, 4.0, 0.0, -106.0], [0.0, 0.0, 4.0, -64.0], [0.0, 0.0, 0.0, 1.0]],
    }
}

fn cell(d: [usize; 3], i: usize, j: usize, k: usize) -> usize {
    i + d[0] * (j + d[1] * k)
}

#[test]
fn erosion_treats_the_border_as_background_and_dilation_grows_a_cross() {
    let dims = [5, 5, 5];
    let d = Dims::new(dims);
    let mut full = vec![true; 125];
    morphology::erode(&mut full, d, 1);
    // Only the 3x3x3 interior survives one erosion; two erosions leave the centre.
    assert_eq!(full.iter().filter(|&&m| m).count(), 27);
    morphology::erode(&mut full, d, 1);
    assert_eq!(full.iter().filter(|&&m| m).count(), 1);
    assert!(full[cell(dims, 2, 2, 2)]);
    morphology::dilate(&mut full, d, 1);
    assert_eq!(full.iter().filter(|&&m| m).count(), 7, "centre and its 6 neighbours");
    assert!(!full[cell(dims, 1, 1, 2)], "no diagonal neighbours");
}

#[test]
fn largest_component_keeps_the_biggest_and_breaks_ties_in_c_order() {
    let dims = [6, 4, 4];
    let d = Dims::new(dims);
    let mut m = vec![false; 96];
    // Two components of 2 voxels; in C order (i slowest) {(0, 3, 2), (0, 3, 3)} comes before
    // {(4, 0, 0), (5, 0, 0)}, so scipy's label numbers it first and it wins the tie.
    for c in [cell(dims, 4, 0, 0), cell(dims, 5, 0, 0), cell(dims, 0, 3, 3), cell(dims, 0, 3, 2)] {
        m[c] = true;
    }
    let mut tie = m.clone();
    morphology::largest_component(&mut tie, d);
    assert!(tie[cell(dims, 0, 3, 3)] && tie[cell(dims, 0, 3, 2)] && !tie[cell(dims, 4, 0, 0)]);
    // A diagonal neighbour is not connected; a bigger component wins.
    for c in [cell(dims, 2, 1, 1), cell(dims, 2, 2, 1), cell(dims, 2, 2, 2), cell(dims, 3, 3, 3)] {
        m[c] = true;
    }
    morphology::largest_component(&mut m, d);
    assert_eq!(m.iter().filter(|&&v| v).count(), 3);
    assert!(m[cell(dims, 2, 1, 1)] && !m[cell(dims, 3, 3, 3)]);
}

#[test]
fn symmetrize_on_the_paper_grid_mirrors_i_to_36_minus_i() {
    let g = lpp_grid();
    let mut m = vec![false; g.n_cells()];
    m[cell(g.dims, 10, 20, 20)] = true;
    m[cell(g.dims, 26, 20, 20)] = true; // mirror of 10
    m[cell(g.dims, 11, 20, 20)] = true; // mirror 25 is out
    m[cell(g.dims, 18, 5, 5)] = true; // the midline voxel mirrors onto itself
    let s = symmetrize(&m, &g).unwrap();
    let kept: Vec<usize> = (0..s.len()).filter(|&c| s[c]).collect();
    assert_eq!(kept, vec![cell(g.dims, 18, 5, 5), cell(g.dims, 10, 20, 20), cell(g.dims, 26, 20, 20)]);
}

#[test]
fn symmetrize_rejects_grids_not_centred_on_x_zero() {
    let mut g = lpp_grid();
    g.affine[0][3] = -70.0;
    let m = vec![true; g.n_cells()];
    let err = symmetrize(&m, &g).unwrap_err();
    assert!(matches!(err, MaskError::NotSymmetric { .. }), "{err}");
    assert!(err.to_string().contains("x = 2 mm"), "{err}");
    let mut rotated = lpp_grid();
    rotated.affine[0][1] = 0.5;
    assert!(matches!(symmetrize(&m, &rotated), Err(MaskError::NotSymmetric { .. })));
    // Flipped x (x = 72 - 4 i) is symmetric too.
    let mut flipped = lpp_grid();
    flipped.affine[0][0] = -4.0;
    flipped.affine[0][3] = 72.0;
    assert!(symmetrize(&m, &flipped).unwrap().iter().all(|&v| v));
    assert!(matches!(symmetrize(&m[1..], &lpp_grid()), Err(MaskError::VolumeLength { .. })));
    // A mask entirely on one side has an empty symmetric part.
    let g = lpp_grid();
    let mut left = vec![false; g.n_cells()];
    left[cell(g.dims, 3, 3, 3)] = true;
    assert_eq!(symmetrize(&left, &g).unwrap_err(), MaskError::EmptySymmetric { n_voxels: 1 });
}

/// A bright box (value `inside`) on a dark background (`outside`) in a grid of `dims`.
fn box_volume(dims: [usize; 3], lo: [usize; 3], hi: [usize; 3], inside: f32, outside: f32) -> Vec<f32> {
    let mut v = vec![outside; dims.iter().product()];
    for k in lo[2]..hi[2] {
        for j in lo[1]..hi[1] {
            for i in lo[0]..hi[0] {
                v[cell(dims, i, j, k)] = inside;
            }
        }
    }
    v
}

#[test]
fn multi_subject_intersection_uses_a_strict_majority() {
    let g = Grid { dims: [16, 16, 16], affine: lpp_grid().affine };
    let mut multi = MultiEpiMask::new(&g, EpiMaskParams::default(), 0.5).unwrap();
    assert_eq!(multi.clone().finish().unwrap_err(), MaskError::NoSubjects);
    // Two subjects: threshold 0.5 x 2 = 1, a voxel needs both (strictly more than 1).
    let a = multi.add(&box_volume(g.dims, [2, 2, 2], [12, 12, 12], 1000.0, 10.0)).unwrap();
    let b = multi.add(&box_volume(g.dims, [4, 4, 4], [14, 14, 14], 1000.0, 10.0)).unwrap();
    assert_eq!((a.subject, b.subject), (0, 1));
    assert!(a.threshold > 10.0 && a.threshold < 1000.0);
    let both: Vec<bool> = multi.counts().iter().map(|&c| c == 2).collect();
    let mask = multi.finish().unwrap();
    assert_eq!(mask, both);
    assert!(mask.iter().any(|&m| m));
}

#[test]
fn mean_volume_averages_every_volume() {
    let mut mean = MeanVolume::new(3);
    mean.add(&[1.0, 2.0, 3.0]).unwrap();
    mean.add(&[3.0, 2.0, f32::NAN]).unwrap();
    assert_eq!(mean.n_volumes(), 2);
    let m = mean.finish();
    assert_eq!(m[..2], [2.0, 2.0]);
    assert!(m[2].is_nan());
    assert!(matches!(mean.add(&[1.0]), Err(MaskError::VolumeLength { .. })));
}

#[test]
fn invalid_inputs_are_errors() {
    let g = Grid { dims: [8, 8, 8], affine: lpp_grid().affine };
    let bad = EpiMaskParams { lower_cutoff: 0.9, upper_cutoff: 0.5, ..EpiMaskParams::default() };
    assert!(matches!(MultiEpiMask::new(&g, bad, 0.5), Err(MaskError::InvalidParameter { what: "upper_cutoff", .. })));
    assert!(matches!(
        MultiEpiMask::new(&g, EpiMaskParams::default(), 1.5),
        Err(MaskError::InvalidParameter { what: "threshold", .. })
    ));
    let empty = Grid { dims: [0, 8, 8], affine: g.affine };
    assert!(matches!(MultiEpiMask::new(&empty, EpiMaskParams::default(), 0.5), Err(MaskError::EmptyGrid { .. })));
    let mut multi = MultiEpiMask::new(&g, EpiMaskParams::default(), 0.5).unwrap();
    assert!(matches!(multi.add(&[0.0; 10]), Err(MaskError::VolumeLength { .. })));
    // Too few values for the histogram search.
    assert!(matches!(
        compute_epi_mask(&[1.0], [1, 1, 1], &EpiMaskParams::default(), 3),
        Err(MaskError::TooFewValues { subject: 3, .. })
    ));
    // A bright sheet one voxel thick: the subject's mask erodes away (nilearn warns "Computed an
    // empty mask"), and the group mask is empty.
    let sheet = box_volume(g.dims, [0, 0, 4], [8, 8, 5], 1000.0, 10.0);
    let info = multi.add(&sheet).unwrap();
    assert_eq!(info.n_voxels, 0);
    assert!(matches!(multi.finish(), Err(MaskError::Empty { n_subjects: 1, .. })));
}

#[test]
fn mirror_intersect_keeps_the_largest_part_of_the_mirror_intersection() {
    // x = -20 + 4 i, i = 0..10: i <-> 10 - i.
    let affine = [[4.0, 0.0, 0.0, -20.0], [0.0, 4.0, 0.0, -24.0], [0.0, 0.0, 4.0, -16.0], [0.0, 0.0, 0.0, 1.0]];
    let g = Grid { dims: [11, 12, 9], affine };
    // A symmetric block, a symmetric slab detached from it, and a bridge between them on one
    // side only: the mask is connected, its mirror intersection is block + slab.
    let mut m = box_volume(g.dims, [2, 2, 2], [9, 7, 7], 1.0, 0.0);
    for (v, s) in m.iter_mut().zip(box_volume(g.dims, [3, 9, 3], [8, 11, 5], 1.0, 0.0)) {
        *v = v.max(s);
    }
    for (v, b) in m.iter_mut().zip(box_volume(g.dims, [1, 7, 3], [4, 9, 5], 1.0, 0.0)) {
        *v = v.max(b);
    }
    let m: Vec<bool> = m.iter().map(|&v| v > 0.0).collect();
    let sym = symmetrize(&m, &g).unwrap();
    assert_eq!(sym.iter().filter(|&&v| v).count(), 7 * 5 * 5 + 5 * 2 * 2);
    let kept = mirror_intersect(&m, &g).unwrap();
    assert_eq!(kept.iter().filter(|&&v| v).count(), 7 * 5 * 5, "the slab is dropped");
    assert!(kept[cell(g.dims, 5, 4, 4)] && !kept[cell(g.dims, 5, 10, 4)]);
}
