//! Parity with scipy 1.13.1 / statsmodels 0.14.4 on fixed inputs (the paper's 28 models).
//! Fixture and generator: `tests/fixtures/stats/` (`generate.sh`, versions in its README).
//! Tolerance: 1e-6 relative. `cargo test -p brainscale-stats --test scipy_parity -- --nocapture`
//! prints the largest relative difference of each group.

use std::cell::RefCell;

use brainscale_stats::*;
use serde_json::Value;

const TOL: f64 = 1e-6;

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/stats/stats.json");
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}; run tests/fixtures/stats/generate.sh"));
    serde_json::from_str(&text).unwrap()
}

fn vec(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

/// Records the largest relative difference of a group and checks the tolerance.
struct Group {
    name: &'static str,
    worst: RefCell<(f64, String)>,
}

impl Group {
    fn new(name: &'static str) -> Group {
        Group { name, worst: RefCell::new((0.0, String::new())) }
    }
    fn check(&self, what: &str, ours: f64, reference: f64) {
        let rel = if ours == reference { 0.0 } else { (ours - reference).abs() / reference.abs().max(1e-300) };
        assert!(
            rel <= TOL,
            "{} {what}: ours {ours:e}, reference {reference:e}, relative difference {rel:e}",
            self.name
        );
        let mut w = self.worst.borrow_mut();
        if rel >= w.0 {
            *w = (rel, what.to_string());
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let (rel, what) = &*self.worst.borrow();
        println!("{:<40} max relative difference {rel:.1e} ({what})", self.name);
    }
}

fn check_estimate(g: &Group, label: &str, e: &Estimate, r: &Value, i: usize) {
    g.check(&format!("{label} value"), e.value, num(&r["params"][i]));
    g.check(&format!("{label} se"), e.se, num(&r["bse"][i]));
    g.check(&format!("{label} t"), e.t, num(&r["tvalues"][i]));
    g.check(&format!("{label} p"), e.p, num(&r["pvalues"][i]));
    g.check(&format!("{label} ci lo"), e.ci.lo, num(&r["conf_int_lo"][i]));
    g.check(&format!("{label} ci hi"), e.ci.hi, num(&r["conf_int_hi"][i]));
}

#[test]
fn simple_regression_matches_linregress_and_statsmodels() {
    let f = fixture();
    let inputs = &f["inputs"];
    let x = vec(&inputs["log_params"]);
    let g = Group::new("ols vs linregress / statsmodels OLS");
    for (y_name, cases) in
        [("score", &[("score_95", 0.95), ("score_90", 0.90)][..]), ("strong", &[("strong_95", 0.95)][..])]
    {
        let y = vec(&inputs[y_name]);
        let lr = &f["linregress"][y_name];
        for &(case, level) in cases {
            let fit = ols(&x, &y, level).unwrap();
            g.check("slope", fit.slope.value, num(&lr["slope"]));
            g.check("intercept", fit.intercept.value, num(&lr["intercept"]));
            g.check("r", fit.r, num(&lr["rvalue"]));
            g.check("p", fit.slope.p, num(&lr["pvalue"]));
            g.check("slope se", fit.slope.se, num(&lr["stderr"]));
            g.check("intercept se", fit.intercept.se, num(&lr["intercept_stderr"]));
            let sm = &f["ols_simple"][case];
            check_estimate(&g, &format!("{case} const"), &fit.intercept, sm, 0);
            check_estimate(&g, &format!("{case} slope"), &fit.slope, sm, 1);
            g.check("r2", fit.r2, num(&sm["rsquared"]));
        }
    }
    // The L - R difference and the slope-difference identity.
    let (left, right) = (vec(&inputs["left"]), vec(&inputs["right"]));
    let d = slope_difference(&x, &left, &right, 0.95).unwrap();
    let lr = &f["linregress"]["diff"];
    g.check("L-R slope", d.difference.slope.value, num(&lr["slope"]));
    g.check("L-R p", d.difference.slope.p, num(&lr["pvalue"]));
    g.check("L-R se", d.difference.slope.se, num(&lr["stderr"]));
    let identity = d.left.slope.value - d.right.slope.value;
    assert!((identity - d.difference.slope.value).abs() < 1e-12 * identity.abs().max(1e-3));
}

#[test]
fn multiple_regression_matches_statsmodels() {
    let f = fixture();
    let inputs = &f["inputs"];
    let (lp, layers, hidden) = (vec(&inputs["log_params"]), vec(&inputs["n_layers"]), vec(&inputs["n_hidden"]));
    let g = Group::new("ols_multiple vs statsmodels OLS");
    for (y_name, case, level) in [("score", "score_95", 0.95), ("left", "left_99", 0.99)] {
        let y = vec(&inputs[y_name]);
        let fit =
            ols_multiple(&[("log_params", &lp), ("n_layers", &layers), ("n_hidden", &hidden)], &y, level).unwrap();
        let sm = &f["ols_multiple"][case];
        for (i, name) in fit.names.iter().enumerate() {
            check_estimate(&g, &format!("{case} {name}"), &fit.coefficients[i], sm, i);
        }
        g.check("r2", fit.r2, num(&sm["rsquared"]));
        g.check("r2 adj", fit.r2_adjusted, num(&sm["rsquared_adj"]));
        g.check("F", fit.f, num(&sm["fvalue"]));
        g.check("F p", fit.f_p, num(&sm["f_pvalue"]));
    }
}

#[test]
fn pearson_matches_pearsonr() {
    let f = fixture();
    let inputs = &f["inputs"];
    let x = vec(&inputs["log_params"]);
    let g = Group::new("pearson vs scipy pearsonr");
    let c = pearson(&x, &vec(&inputs["score"]), 0.95).unwrap();
    let r = &f["pearsonr"]["score"];
    g.check("r", c.r, num(&r["r"]));
    g.check("p", c.p, num(&r["p"]));
    g.check("ci lo", c.ci.lo, num(&r["ci_lo"]));
    g.check("ci hi", c.ci.hi, num(&r["ci_hi"]));
    let s = pearson(&x, &vec(&inputs["strong"]), 0.95).unwrap();
    g.check("strong r", s.r, num(&f["pearsonr"]["strong"]["r"]));
    g.check("strong p (tiny)", s.p, num(&f["pearsonr"]["strong"]["p"]));
}

#[test]
fn t_tests_match_scipy() {
    let f = fixture();
    let t = &f["ttest"];
    let (a, b) = (vec(&t["a"]), vec(&t["b"]));
    let g = Group::new("t-tests vs scipy");
    let check = |label: &str, ours: &TTest, r: &Value| {
        g.check(&format!("{label} t"), ours.t, num(&r["statistic"]));
        g.check(&format!("{label} p"), ours.p, num(&r["pvalue"]));
        g.check(&format!("{label} df"), ours.df, num(&r["df"]));
        g.check(&format!("{label} ci lo"), ours.ci.lo, num(&r["ci_lo"]));
        g.check(&format!("{label} ci hi"), ours.ci.hi, num(&r["ci_hi"]));
    };
    check("one-sample", &ttest_one_sample(&a, num(&t["mu0"]), 0.95).unwrap(), &t["one_sample"]);
    let inputs = &f["inputs"];
    check("paired", &ttest_paired(&vec(&inputs["left"]), &vec(&inputs["right"]), 0.95).unwrap(), &t["paired"]);
    check("student", &ttest_two_sample(&a, &b, Variance::Pooled, 0.95).unwrap(), &t["student"]);
    check("welch", &ttest_two_sample(&a, &b, Variance::Welch, 0.95).unwrap(), &t["welch"]);
    check("welch 90%", &ttest_two_sample(&a, &b, Variance::Welch, 0.90).unwrap(), &t["welch_90"]);
}

#[test]
fn voxelwise_slopes_and_fdr_match_scipy_and_statsmodels() {
    let f = fixture();
    let x = vec(&f["inputs"]["log_params"]);
    let v = &f["voxelwise"];
    let maps: Vec<Vec<f64>> = v["maps"].as_array().unwrap().iter().map(vec).collect();
    let s = slopes_voxelwise(&x, &maps).unwrap();
    let g = Group::new("slopes_voxelwise vs linregress per voxel");
    for (i, ((slope, t), p)) in vec(&v["slope"]).iter().zip(vec(&v["t"])).zip(vec(&v["p"])).enumerate() {
        g.check(&format!("voxel {i} slope"), s.slope[i], *slope);
        g.check(&format!("voxel {i} t"), s.t[i], t);
        g.check(&format!("voxel {i} p"), s.p[i], p);
    }
    let q = fdr_bh(&s.p).unwrap();
    let g2 = Group::new("fdr_bh vs statsmodels multipletests");
    for (i, r) in vec(&v["fdr_bh"]).into_iter().enumerate() {
        g2.check(&format!("voxel {i} q"), q[i], r);
    }
}
