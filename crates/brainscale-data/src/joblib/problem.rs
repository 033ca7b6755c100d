//! What can be wrong with a joblib file: the `problem` of [`DataError::Joblib`].
//!
//! [`DataError::Joblib`]: crate::DataError::Joblib

/// The suffix of every refusal: what this reader accepts.
const ONLY: &str = "only joblib's NumpyArrayWrapper of a float32/float64 numpy array is read";

/// Why a joblib file was refused or could not be read. Byte offsets count from the start of
/// the (decompressed) pickle stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoblibProblem {
    /// The file is empty.
    #[error("empty file: expected a joblib file (a zlib, gzip or uncompressed pickle)")]
    Empty,

    /// The first bytes match no container this reader knows.
    #[error(
        "not a joblib file: it starts with bytes [{magic}], which is neither a zlib stream (78 ..), \
         a gzip stream (1f 8b) nor a pickle of protocol 2 to 5 (80 02..05){hint}"
    )]
    UnknownContainer {
        /// The first bytes, in hex.
        magic: String,
        /// More about what the file might be (may be empty).
        hint: String,
    },

    /// A container joblib can write but this reader does not decompress.
    #[error(
        "{name}-compressed joblib files are not read: only zlib (joblib's default), gzip and \
         uncompressed files are; re-save it in Python with joblib.dump(arr, path, compress=3)"
    )]
    UnsupportedCompression {
        /// The compressor (lz4, xz, lzma, bz2).
        name: &'static str,
    },

    /// A file written by joblib < 0.10, whose arrays live in companion files.
    #[error(
        "written by joblib < 0.10 (a `ZF` header, arrays in companion files), which is not read; \
         load it in Python and re-save it with a current joblib"
    )]
    OldFormat,

    /// The compressed stream is damaged.
    #[error("the {container} stream is corrupt: {reason}; the file is damaged, download or write it again")]
    Corrupt {
        /// "zlib" or "gzip".
        container: &'static str,
        /// The decompressor's message, or what is wrong with a header or trailer.
        reason: String,
    },

    /// The compressed stream ends before its end marker.
    #[error("the {container} stream ends early: the file is truncated, download or write it again")]
    TruncatedStream {
        /// "zlib" or "gzip".
        container: &'static str,
    },

    /// Bytes after the end of the compressed stream.
    #[error(
        "{count} unexpected byte(s) after the end of the {container} stream: joblib writes one \
         stream and nothing after it"
    )]
    TrailingAfterStream {
        /// "zlib" or "gzip".
        container: &'static str,
        /// How many bytes follow the stream.
        count: usize,
    },

    /// The decompressed data (or an uncompressed file) exceed the size limit.
    #[error(
        "more than {limit} bytes once decompressed; the limit guards against decompression \
         bombs (pass a larger one to parse_joblib_array_with_limit if the file is genuine)"
    )]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },

    /// A global (module attribute) other than the four a joblib array needs.
    #[error("refused pickle global `{module}.{name}` at byte {offset}: {ONLY}")]
    RefusedGlobal {
        /// The module named by the pickle.
        module: String,
        /// The attribute named by the pickle.
        name: String,
        /// Offset of the opcode.
        offset: usize,
    },

    /// An opcode a joblib array never needs.
    #[error("refused pickle opcode {name} (0x{opcode:02x}) at byte {offset}{why}: {ONLY}")]
    RefusedOpcode {
        /// The opcode byte.
        opcode: u8,
        /// Its name in Python's pickletools (or "unknown").
        name: &'static str,
        /// Offset of the opcode.
        offset: usize,
        /// What the opcode means here, starting with ", " (may be empty).
        why: &'static str,
    },

    /// A REDUCE or NEWOBJ on anything but `numpy.dtype` / `NumpyArrayWrapper`.
    #[error("refused {opcode} of {callable} at byte {offset}: {ONLY}")]
    RefusedCall {
        /// "REDUCE", "NEWOBJ" or "BUILD".
        opcode: &'static str,
        /// What was to be called or built.
        callable: String,
        /// Offset of the opcode.
        offset: usize,
    },

    /// A numpy dtype other than float32 / float64.
    #[error(
        "refused dtype `{descr}`{what} at byte {offset}: only float32 ('f4') and float64 ('f8') \
         arrays are read; convert it in Python (arr.astype('float32')) and re-save it"
    )]
    RefusedDtype {
        /// numpy's short name of the dtype (e.g. "i8", "O8").
        descr: String,
        /// What that dtype is, starting with " (" (may be empty).
        what: String,
        /// Offset of the REDUCE opcode that builds it.
        offset: usize,
    },

    /// A well-formed pickle that holds something other than exactly one array.
    #[error("the pickle holds {found}, not a single numpy array: {ONLY}; save each array in its own file")]
    NotOneArray {
        /// What was found.
        found: String,
    },

    /// Opcodes in an order or with arguments joblib never writes.
    #[error("malformed joblib pickle at byte {offset}: {reason}")]
    Malformed {
        /// Offset of the opcode.
        offset: usize,
        /// What is wrong.
        reason: String,
    },

    /// The pickle ends before an opcode, its argument or the array data.
    #[error(
        "truncated at byte {offset}: {what} needs {needed} byte(s), only {available} remain; the \
         file is incomplete, download or write it again"
    )]
    Truncated {
        /// Where the missing part starts.
        offset: usize,
        /// What was being read.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes left in the stream.
        available: u64,
    },

    /// Bytes after the pickle's STOP opcode.
    #[error("{count} unexpected byte(s) after the pickle's STOP opcode at byte {offset}")]
    TrailingBytes {
        /// Offset of the STOP opcode.
        offset: usize,
        /// How many bytes follow it.
        count: usize,
    },
}
