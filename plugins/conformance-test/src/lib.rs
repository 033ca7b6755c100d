//! A plugin from the future, for the loader's conformance suite: its table announces ABI
//! major version [`ABI_MAJOR`] + 1 and holds nothing but the frozen header. The loader must
//! refuse it at the ABI stage, naming both versions, without reading past the header. It also
//! exports a backend-library entry from the future, for the backend loader.
//!
//! Its file name (`libconformance_test_plugin.so`) does not start with `brainscale_`, so
//! directory scans skip it; the tests copy it under a plugin name into a temporary folder.

use brainscale_plugin_abi::{ABI_MAJOR, PluginTable, TableHeader};

static HEADER: TableHeader =
    TableHeader { abi_major: ABI_MAJOR + 1, abi_minor: 0, table_size: size_of::<TableHeader>() };

/// The entry point; returns a table a host of this ABI must not use.
#[unsafe(no_mangle)]
pub extern "C" fn brainscale_plugin_entry() -> *const PluginTable {
    (&raw const HEADER).cast::<PluginTable>()
}

static BACKEND_HEADER: TableHeader = TableHeader {
    abi_major: brainscale_plugin_abi::backend::BACKEND_ABI_MAJOR + 1,
    abi_minor: 0,
    table_size: size_of::<TableHeader>(),
};

/// The backend-library entry point of the same library: a backend table from the future, for
/// the backend loader's ABI stage (the tests copy this file under a backend library's name).
#[unsafe(no_mangle)]
pub extern "C" fn brainscale_backend_entry() -> *const brainscale_plugin_abi::backend::BackendTable {
    (&raw const BACKEND_HEADER).cast()
}
