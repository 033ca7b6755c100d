//! Binary morphology and connected components on 3D volumes in Fortran order, as
//! `scipy.ndimage` does them with its default 6-connected cross structure (the Gaussian
//! smoothing is [`crate::smooth`]).

/// Offsets and bounds of a grid in Fortran order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dims {
    pub nx: usize,
    pub ny: usize,
    pub nz: usize,
}

impl Dims {
    pub fn new(dims: [usize; 3]) -> Dims {
        Dims { nx: dims[0], ny: dims[1], nz: dims[2] }
    }

    pub fn len(&self) -> usize {
        self.nx * self.ny * self.nz
    }

    /// Calls `f` with each in-bounds 6-neighbour of cell (i, j, k).
    #[inline]
    fn neighbours(&self, i: usize, j: usize, k: usize, mut f: impl FnMut(usize)) {
        let c = i + self.nx * (j + self.ny * k);
        let sxy = self.nx * self.ny;
        if i > 0 {
            f(c - 1);
        }
        if i + 1 < self.nx {
            f(c + 1);
        }
        if j > 0 {
            f(c - self.nx);
        }
        if j + 1 < self.ny {
            f(c + self.nx);
        }
        if k > 0 {
            f(c - sxy);
        }
        if k + 1 < self.nz {
            f(c + sxy);
        }
    }

    /// Whether (i, j, k) touches the array border (some 6-neighbour is out of bounds).
    #[inline]
    fn on_border(&self, i: usize, j: usize, k: usize) -> bool {
        i == 0 || j == 0 || k == 0 || i + 1 == self.nx || j + 1 == self.ny || k + 1 == self.nz
    }
}

/// `scipy.ndimage.binary_erosion(mask, iterations=n)` (cross structure, `border_value=0`: a
/// voxel on the array border is always eroded).
pub(super) fn erode(mask: &mut Vec<bool>, d: Dims, iterations: usize) {
    let mut next = vec![false; mask.len()];
    for _ in 0..iterations {
        for k in 0..d.nz {
            for j in 0..d.ny {
                for i in 0..d.nx {
                    let c = i + d.nx * (j + d.ny * k);
                    let mut keep = mask[c] && !d.on_border(i, j, k);
                    if keep {
                        d.neighbours(i, j, k, |n| keep &= mask[n]);
                    }
                    next[c] = keep;
                }
            }
        }
        std::mem::swap(mask, &mut next);
    }
}

/// `scipy.ndimage.binary_dilation(mask, iterations=n)` (cross structure, `border_value=0`).
pub(super) fn dilate(mask: &mut Vec<bool>, d: Dims, iterations: usize) {
    let mut next = vec![false; mask.len()];
    for _ in 0..iterations {
        for k in 0..d.nz {
            for j in 0..d.ny {
                for i in 0..d.nx {
                    let c = i + d.nx * (j + d.ny * k);
                    let mut on = mask[c];
                    if !on {
                        d.neighbours(i, j, k, |n| on |= mask[n]);
                    }
                    next[c] = on;
                }
            }
        }
        std::mem::swap(mask, &mut next);
    }
}

/// nilearn's `largest_connected_component`: the largest 6-connected component; among equal
/// sizes the one scipy's `label` numbers first, i.e. whose first voxel in C order (k fastest,
/// i slowest) comes first. An empty mask stays empty.
pub(super) fn largest_component(mask: &mut [bool], d: Dims) {
    const UNSEEN: u32 = u32::MAX;
    let mut label = vec![UNSEEN; mask.len()];
    let mut stack = Vec::new();
    // (size, first voxel in C order) of the best component so far, and its label.
    let mut best: Option<(usize, usize, u32)> = None;
    let mut n_labels = 0u32;
    for i in 0..d.nx {
        for j in 0..d.ny {
            for k in 0..d.nz {
                let c = i + d.nx * (j + d.ny * k);
                if !mask[c] || label[c] != UNSEEN {
                    continue;
                }
                // Components are discovered in C order, so `c` is this component's first voxel.
                let id = n_labels;
                n_labels += 1;
                label[c] = id;
                stack.push(c);
                let mut size = 0usize;
                while let Some(cell) = stack.pop() {
                    size += 1;
                    let (ci, cj, ck) = (cell % d.nx, (cell / d.nx) % d.ny, cell / (d.nx * d.ny));
                    d.neighbours(ci, cj, ck, |n| {
                        if mask[n] && label[n] == UNSEEN {
                            label[n] = id;
                            stack.push(n);
                        }
                    });
                }
                if best.is_none_or(|(s, _, _)| size > s) {
                    best = Some((size, c, id));
                }
            }
        }
    }
    if let Some((_, _, id)) = best {
        for (m, l) in mask.iter_mut().zip(&label) {
            *m = *l == id;
        }
    }
}
