//! Runs the evcxr notebooks (`notebooks/*.ipynb`) as cargo tests.
//!
//! `build.rs` turns each notebook's code cells into one test function (see its docs for how
//! evcxr's conventions are followed); this crate is what those functions call:
//!
//! * [`run`] runs a notebook in the folder layout of a checkout, as Jupyter does: the current
//!   directory is a `notebooks/` folder whose `../target/release/` holds the baselines plugin
//!   (a copy of the one cargo built for the test), so the notebooks' relative paths work
//!   unchanged. The folder is `target/<profile>/notebooks-run/`, emptied when the test binary
//!   starts and left in place afterwards, so the outputs of a failing notebook can be looked
//!   at. One notebook runs at a time (the current directory is per process); notebooks 02 and
//!   03 share the demo study, so the second one reuses the work of the first, as in Jupyter.
//! * [`enter_cell`] records the cell that is running, so that an error or a panic names the
//!   notebook, the cell and its first line.
//! * [`EvcxrDisplay`] is evcxr's fallback display (`Debug`) for values without an
//!   `evcxr_display` method; [`kept_across_cells`] refuses, as the kernel does, a variable that
//!   borrows from another.

use std::error::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// evcxr's display of a cell's value when its type has no `evcxr_display` method of its own:
/// `Debug`. (An inherent `evcxr_display` method, such as a figure's, takes precedence.)
pub trait EvcxrDisplay {
    /// Prints the value as evcxr would show it.
    fn evcxr_display(&self);
}

impl<T: std::fmt::Debug + ?Sized> EvcxrDisplay for T {
    fn evcxr_display(&self) {
        println!("{self:?}");
    }
}

/// Compiles only when `value`'s type is `'static`: evcxr keeps a cell's variables for the next
/// cells only then (a variable holding a reference into another, such as `let m = &fit.mask;`,
/// is refused by the kernel). `build.rs` calls it after every `let` of a cell.
pub fn kept_across_cells<T: 'static>(value: &T) {
    let _ = value;
}

static CELL: AtomicUsize = AtomicUsize::new(0);
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
static WORK: OnceLock<PathBuf> = OnceLock::new();

/// Records that cell `number` (1-based, counting every cell of the notebook) starts.
pub fn enter_cell(number: usize) {
    CELL.store(number, Ordering::SeqCst);
}

/// The file name of the baselines plugin.
fn plugin_file() -> String {
    format!("{}brainscale_baselines{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)
}

/// `target/<profile>/notebooks-run/` laid out as a checkout: `notebooks/` and
/// `target/release/<baselines plugin>`.
fn work_dir() -> PathBuf {
    WORK.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable's path");
        let deps = exe.parent().expect("the test executable's folder");
        let profile = deps.parent().unwrap_or(deps);
        let plugin = [deps, profile].iter().map(|d| d.join(plugin_file())).find(|p| p.is_file()).unwrap_or_else(|| {
            panic!(
                "{} not built in {}: it is a dev-dependency of this crate, so `cargo test` builds it",
                plugin_file(),
                deps.display()
            )
        });
        let work = profile.join("notebooks-run");
        if work.exists() {
            std::fs::remove_dir_all(&work).unwrap_or_else(|e| panic!("{}: {e}", work.display()));
        }
        let release = work.join("target/release");
        std::fs::create_dir_all(&release).unwrap_or_else(|e| panic!("{}: {e}", release.display()));
        std::fs::create_dir_all(work.join("notebooks")).unwrap_or_else(|e| panic!("{}: {e}", work.display()));
        std::fs::copy(&plugin, release.join(plugin_file()))
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", plugin.display(), release.display()));
        work
    })
    .clone()
}

fn where_(notebook: &str, cells: &[(usize, usize, &str)]) -> String {
    let number = CELL.load(Ordering::SeqCst);
    match cells.iter().find(|c| c.0 == number) {
        Some((n, code, first)) => format!("{notebook}, cell {n} (code cell {code}, `{first}`)"),
        None => format!("{notebook}, before its first code cell"),
    }
}

/// Runs one notebook (the function `build.rs` made of its cells): a failure names the
/// notebook and the cell. `cells` lists (cell number, code-cell number, first line).
pub fn run(notebook: &str, cells: &[(usize, usize, &str)], code: fn() -> Result<(), Box<dyn Error>>) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = work_dir().join("notebooks");
    std::env::set_current_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    // The notebooks find the plugin through their own `../target/release`, nothing else.
    // SAFETY: every test of this binary holds `ONE_AT_A_TIME` while it reads the environment.
    unsafe { std::env::remove_var("BRAINSCALE_PLUGIN_PATH") };
    enter_cell(0);
    let start = Instant::now();
    match std::panic::catch_unwind(code) {
        Ok(Ok(())) => {
            // Captured by the test harness on success, so also kept in `notebooks-run/timings.txt`.
            let line = format!("{notebook}: ran in {:.1} s\n", start.elapsed().as_secs_f64());
            eprint!("{line}");
            let timings = work_dir().join("timings.txt");
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&timings)
                .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
        }
        Ok(Err(e)) => panic!("{}: error: {e}", where_(notebook, cells)),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!("{}: panicked: {message}", where_(notebook, cells))
        }
    }
}
