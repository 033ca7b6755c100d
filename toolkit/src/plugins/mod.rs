//! Finding and loading feature-extractor plugins (the host side of `brainscale-plugin-abi`).
//!
//! Plugins are shared libraries named `libbrainscale_NAME.so` (`.dylib` on macOS,
//! `brainscale_NAME.dll` on Windows). They are searched, in order, in the `--plugin-dir`
//! folders, in `$BRAINSCALE_PLUGIN_PATH` (colon-separated), then in the folder of the running
//! executable, so `cargo build --workspace` makes `target/debug/brainscale` find the plugins
//! built beside it ([`search_dirs`]). A model family is served by the first plugin found that
//! lists it.
//!
//! Loading goes through four stages, and a failure says which ([`LoadStage`]): open the
//! library, find the entry symbol, check the ABI version and table size, read the table. One
//! bad file never stops the search: [`discover`] returns the plugins and the failures.
//! Libraries are never unloaded (a plugin may have started threads or registered
//! destructors; unloading them is a classic source of crashes).
//!
//! ```no_run
//! use brainscale::plugins::{discover, search_dirs};
//! let found = discover(&search_dirs(&[]));
//! for p in &found.plugins {
//!     println!("{} {} serves {}", p.info().name, p.info().version, p.info().families.join(", "));
//! }
//! for f in &found.failures {
//!     eprintln!("{f}");
//! }
//! ```

pub mod backend;
mod loaded;

use std::ffi::{CStr, c_char};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use brainscale_plugin_abi::{
    ABI_MAJOR, ABI_MINOR, CreateFn, DescribeFn, DestroyFn, ENTRY_SYMBOL, ENTRY_SYMBOL_NUL, EntryFn, ExtractFn,
    FreeMatrixFn, FreeStringFn, LastErrorFn, PluginTable, TableHeader,
};
use thiserror::Error;

pub use brainscale_plugin_abi::Status;
pub use loaded::LoadedPlugin;

/// The environment variable listing extra plugin folders (colon-separated).
pub const PLUGIN_PATH_VAR: &str = "BRAINSCALE_PLUGIN_PATH";

/// The folders searched for plugins, in order: `plugin_dirs`, then `$BRAINSCALE_PLUGIN_PATH`,
/// then the folder of the running executable.
pub fn search_dirs(plugin_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = plugin_dirs.to_vec();
    if let Some(path) = std::env::var_os(PLUGIN_PATH_VAR) {
        dirs.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) {
        dirs.push(dir);
    }
    dirs
}

/// Whether a file name is a plugin's: `{DLL_PREFIX}brainscale_*{DLL_SUFFIX}`.
/// Backend libraries of the encoding core (`{DLL_PREFIX}brainscale_backend_*`) are not plugins.
pub fn is_plugin_file_name(name: &str) -> bool {
    let prefix = format!("{}brainscale_", std::env::consts::DLL_PREFIX);
    let backend = format!("{}{}", std::env::consts::DLL_PREFIX, brainscale_plugin_abi::backend::BACKEND_FILE_PREFIX);
    let suffix = std::env::consts::DLL_SUFFIX;
    name.starts_with(&prefix)
        && !name.starts_with(&backend)
        && name.ends_with(suffix)
        && name.len() > prefix.len() + suffix.len()
}

/// The stage at which loading a library failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadStage {
    /// The file could not be opened as a shared library.
    Open,
    /// It has no `brainscale_plugin_entry` symbol.
    Symbol,
    /// Its ABI major version differs from the host's, or its table is too small.
    Abi,
    /// Its table is malformed (null entry, missing function, name not UTF-8).
    Init,
}

impl fmt::Display for LoadStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoadStage::Open => "open",
            LoadStage::Symbol => "entry symbol",
            LoadStage::Abi => "ABI version",
            LoadStage::Init => "init",
        })
    }
}

/// A library that could not be loaded as a plugin.
#[derive(Clone, Debug, Error)]
#[error("{} ({stage}): {message}", path.display())]
pub struct LoadFailure {
    /// The library.
    pub path: PathBuf,
    /// Where loading stopped.
    pub stage: LoadStage,
    /// What went wrong and what to do.
    pub message: String,
}

/// What a plugin announces about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    /// Its name (e.g. `brainscale-baselines`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its ABI major version.
    pub abi_major: u32,
    /// Its ABI minor version.
    pub abi_minor: u32,
    /// The model families it serves.
    pub families: Vec<String>,
    /// The library it was loaded from.
    pub path: PathBuf,
}

/// The plugin's functions, checked to be present.
#[derive(Clone, Copy)]
struct Functions {
    last_error: LastErrorFn,
    create: CreateFn,
    describe: DescribeFn,
    extract: ExtractFn,
    free_matrix: FreeMatrixFn,
    free_string: FreeStringFn,
    destroy: DestroyFn,
}

/// A loaded plugin library: create extractors from it with [`Plugin::create`].
#[derive(Clone)]
pub struct Plugin {
    info: Arc<PluginInfo>,
    functions: Functions,
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin").field("info", &self.info).finish_non_exhaustive()
    }
}

impl Plugin {
    /// What the plugin announced.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Whether it serves `family`.
    pub fn serves(&self, family: &str) -> bool {
        self.info.families.iter().any(|f| f == family)
    }
}

/// Loads one plugin library (never unloaded).
pub fn load_plugin(path: &Path) -> Result<Plugin, LoadFailure> {
    let fail = |stage, message: String| LoadFailure { path: path.to_path_buf(), stage, message };
    // SAFETY: opening a library runs its initialisers; brainscale trusts the libraries in
    // its plugin folders as it trusts its own binary.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| fail(LoadStage::Open, e.to_string()))?;
    // Never unload: the library's code and static table stay valid for the whole process.
    let library: &'static libloading::Library = Box::leak(Box::new(library));
    // SAFETY: the symbol, if present, has the ABI's `EntryFn` type.
    let entry = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL_NUL) }.map_err(|e| {
        fail(
            LoadStage::Symbol,
            format!(
                "no `{ENTRY_SYMBOL}` symbol ({e}): not a brainscale plugin (plugins call the SDK's export_plugin!)"
            ),
        )
    })?;
    // SAFETY: the entry takes no argument and returns a pointer to a static table or null.
    let table = unsafe { entry() };
    if table.is_null() {
        return Err(fail(
            LoadStage::Init,
            "the entry point returned no table (the plugin could not initialise)".into(),
        ));
    }
    // SAFETY: every ABI version starts its table with this header.
    let header = unsafe { *table.cast::<TableHeader>() };
    if header.abi_major != ABI_MAJOR {
        return Err(fail(
            LoadStage::Abi,
            format!(
                "plugin ABI {}.{}, but this brainscale speaks ABI {ABI_MAJOR}.{ABI_MINOR}: rebuild the plugin against \
                 this brainscale's brainscale-plugin-sdk (or use a brainscale built for ABI {})",
                header.abi_major, header.abi_minor, header.abi_major
            ),
        ));
    }
    if header.table_size < size_of::<PluginTable>() {
        return Err(fail(
            LoadStage::Abi,
            format!(
                "plugin table of {} bytes (ABI {}.{}), but ABI {ABI_MAJOR}.{ABI_MINOR} needs {}: rebuild the plugin",
                header.table_size,
                header.abi_major,
                header.abi_minor,
                size_of::<PluginTable>()
            ),
        ));
    }
    // SAFETY: same major version and a table at least as large as ours: every field we read
    // is there, with our layout.
    let table: &'static PluginTable = unsafe { &*table };
    read_table(table, path).map_err(|message| fail(LoadStage::Init, message))
}

fn read_table(t: &'static PluginTable, path: &Path) -> Result<Plugin, String> {
    let missing = |what: &str| format!("the table has no `{what}` function");
    let functions = Functions {
        last_error: t.last_error.ok_or_else(|| missing("last_error"))?,
        create: t.create.ok_or_else(|| missing("create"))?,
        describe: t.describe.ok_or_else(|| missing("describe"))?,
        extract: t.extract.ok_or_else(|| missing("extract"))?,
        free_matrix: t.free_matrix.ok_or_else(|| missing("free_matrix"))?,
        free_string: t.free_string.ok_or_else(|| missing("free_string"))?,
        destroy: t.destroy.ok_or_else(|| missing("destroy"))?,
    };
    // SAFETY (all three): the table's strings are static, NUL-terminated (ABI contract).
    let name = unsafe { static_str(t.name, "name") }?;
    let version = unsafe { static_str(t.version, "version") }?;
    let families = if t.n_families == 0 {
        Vec::new()
    } else if t.families.is_null() {
        return Err("`families` is null but `n_families` is not 0".into());
    } else {
        // SAFETY: `n_families` pointers to static strings.
        let ptrs = unsafe { std::slice::from_raw_parts(t.families, t.n_families) };
        ptrs.iter().map(|&p| unsafe { static_str(p, "family") }).collect::<Result<Vec<_>, _>>()?
    };
    if families.is_empty() {
        return Err(format!("plugin {name} serves no model family"));
    }
    let info = PluginInfo {
        name,
        version,
        abi_major: t.abi_major,
        abi_minor: t.abi_minor,
        families,
        path: path.to_path_buf(),
    };
    Ok(Plugin { info: Arc::new(info), functions })
}

/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn static_str(p: *const c_char, what: &str) -> Result<String, String> {
    if p.is_null() {
        return Err(format!("the plugin's {what} is a null pointer"));
    }
    // SAFETY: non-null, NUL-terminated (caller).
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map(str::to_owned).map_err(|_| format!("the plugin's {what} is not UTF-8: {c:?}"))
}

/// The outcome of a search: plugins loaded and libraries that failed, in search order.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The folders searched, in order.
    pub searched: Vec<PathBuf>,
    /// The plugins loaded.
    pub plugins: Vec<Plugin>,
    /// The libraries that failed to load.
    pub failures: Vec<LoadFailure>,
}

impl Discovery {
    /// The first plugin serving `family`.
    pub fn find(&self, family: &str) -> Option<&Plugin> {
        self.plugins.iter().find(|p| p.serves(family))
    }

    /// Every family served, in search order, without repeats.
    pub fn families(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in self.plugins.iter().flat_map(|p| &p.info.families) {
            if !out.contains(&f.as_str()) {
                out.push(f);
            }
        }
        out
    }
}

/// Loads every plugin library in `dirs` (missing folders are skipped; a library found in two
/// folders is loaded once).
pub fn discover(dirs: &[PathBuf]) -> Discovery {
    let mut found = Discovery { searched: dirs.to_vec(), ..Discovery::default() };
    let mut seen: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_plugin_file_name))
            .collect();
        paths.sort();
        for path in paths {
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            if seen.contains(&canonical) {
                continue;
            }
            seen.push(canonical);
            match load_plugin(&path) {
                Ok(p) => found.plugins.push(p),
                Err(f) => found.failures.push(f),
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_file_names() {
        let (pre, suf) = (std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
        assert!(is_plugin_file_name(&format!("{pre}brainscale_baselines{suf}")));
        assert!(!is_plugin_file_name(&format!("{pre}brainscale_{suf}")));
        assert!(!is_plugin_file_name(&format!("{pre}conformance_test_plugin{suf}")));
        assert!(!is_plugin_file_name(&format!("{pre}brainscale_baselines.rlib")));
        assert!(!is_plugin_file_name(&format!("{pre}brainscale_backend_candle{suf}")));
    }

    #[test]
    fn a_file_that_is_not_a_library_fails_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path =
            dir.path().join(format!("{}brainscale_fake{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX));
        std::fs::write(&path, b"not a library").unwrap();
        std::fs::write(dir.path().join("README.txt"), b"ignored").unwrap();
        let found = discover(&[dir.path().to_path_buf(), dir.path().join("missing")]);
        assert!(found.plugins.is_empty());
        assert_eq!(found.failures.len(), 1);
        assert_eq!(found.failures[0].stage, LoadStage::Open);
        assert!(found.failures[0].to_string().contains("(open)"));
    }

    #[test]
    fn the_search_order_ends_with_the_executable_folder() {
        let dirs = search_dirs(&[PathBuf::from("/first")]);
        assert_eq!(dirs[0], PathBuf::from("/first"));
        let exe = std::env::current_exe().unwrap();
        assert_eq!(dirs.last().map(PathBuf::as_path), exe.parent());
    }
}
