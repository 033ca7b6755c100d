//! The container around joblib's pickle: detected by magic bytes, inflated into memory under a
//! size cap, with every byte of the file accounted for (no garbage after the stream).

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::problem::JoblibProblem;

/// How a joblib file wraps its pickle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    /// `compress=0`: the pickle itself.
    Raw,
    /// `compress=<int>` (joblib's default compressor) or `("zlib", n)`: a zlib stream.
    Zlib,
    /// `("gzip", n)`, or an int with a `.gz` file name: one gzip member.
    Gzip,
}

/// Which container `bytes` are, from their first bytes (the magic numbers joblib itself checks
/// in `numpy_pickle_utils._detect_compressor`).
pub(crate) fn detect(bytes: &[u8]) -> Result<Container, JoblibProblem> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    match bytes {
        [] => Err(JoblibProblem::Empty),
        [0x1f, 0x8b, ..] => Ok(Container::Gzip),
        [0x80, 2..=5, ..] => Ok(Container::Raw),
        [0x78, flg, ..] if (0x7800u16 | *flg as u16) % 31 == 0 => Ok(Container::Zlib),
        _ if starts(b"ZF") => Err(JoblibProblem::OldFormat),
        _ if starts(&[0x04, 0x22, 0x4d, 0x18]) => Err(JoblibProblem::UnsupportedCompression { name: "lz4" }),
        _ if starts(&[0xfd, 0x37, 0x7a, 0x58, 0x5a]) => Err(JoblibProblem::UnsupportedCompression { name: "xz" }),
        _ if starts(&[0x5d, 0x00]) => Err(JoblibProblem::UnsupportedCompression { name: "lzma" }),
        _ if starts(b"BZh") => Err(JoblibProblem::UnsupportedCompression { name: "bz2" }),
        _ => {
            let hint = if starts(b"\x93NUMPY") {
                ": it is a .npy file (numpy.save), not a joblib file".to_string()
            } else if let [0x80, proto, ..] = bytes {
                format!(": a pickle of protocol {proto}, which joblib does not write")
            } else if bytes[0] == 0x78 {
                ": a zlib-like first byte with an invalid header checksum".to_string()
            } else {
                String::new()
            };
            let magic: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            Err(JoblibProblem::UnknownContainer { magic: magic.join(" "), hint })
        }
    }
}

/// The pickle inside `bytes`: borrowed for an uncompressed file, inflated otherwise. Fails if
/// it would exceed `limit` bytes, if the stream is damaged or truncated, or if any byte
/// follows the stream.
pub(crate) fn unwrap_pickle(bytes: &[u8], limit: u64) -> Result<std::borrow::Cow<'_, [u8]>, JoblibProblem> {
    match detect(bytes)? {
        Container::Raw => {
            if bytes.len() as u64 > limit {
                return Err(JoblibProblem::TooLarge { limit });
            }
            Ok(std::borrow::Cow::Borrowed(bytes))
        }
        Container::Zlib => {
            let (out, consumed) = inflate(bytes, true, limit, "zlib")?;
            trailing("zlib", bytes.len() - consumed)?;
            Ok(out.into())
        }
        Container::Gzip => gunzip(bytes, limit).map(Into::into),
    }
}

fn trailing(container: &'static str, count: usize) -> Result<(), JoblibProblem> {
    if count == 0 { Ok(()) } else { Err(JoblibProblem::TrailingAfterStream { container, count }) }
}

/// One gzip member (RFC 1952): header, raw deflate data, CRC-32 and size trailer.
fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, JoblibProblem> {
    const CONTAINER: &str = "gzip";
    let truncated = JoblibProblem::TruncatedStream { container: CONTAINER };
    let corrupt = |reason: &str| JoblibProblem::Corrupt { container: CONTAINER, reason: reason.to_string() };
    let header = bytes.get(..10).ok_or(truncated.clone())?;
    if header[2] != 8 {
        return Err(corrupt(&format!("compression method {} in the header (only 8, deflate, exists)", header[2])));
    }
    let flags = header[3];
    if flags & 0xe0 != 0 {
        return Err(corrupt(&format!("reserved header flags set (0x{flags:02x})")));
    }
    let mut pos = 10usize;
    if flags & 0x04 != 0 {
        // FEXTRA: a little-endian length, then that many bytes.
        let len = bytes.get(pos..pos + 2).ok_or(truncated.clone())?;
        pos += 2 + u16::from_le_bytes([len[0], len[1]]) as usize;
    }
    for flag in [0x08, 0x10] {
        // FNAME, FCOMMENT: zero-terminated.
        if flags & flag != 0 {
            let rest = bytes.get(pos..).ok_or(truncated.clone())?;
            let nul = rest.iter().position(|&b| b == 0).ok_or(truncated.clone())?;
            pos += nul + 1;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2; // FHCRC
    }
    let body = bytes.get(pos..).ok_or(truncated.clone())?;
    let (out, consumed) = inflate(body, false, limit, CONTAINER)?;
    let trailer = body.get(consumed..consumed + 8).ok_or(truncated)?;
    let crc_stored = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size_stored = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    let mut crc = Crc::new();
    crc.update(&out);
    if crc.sum() != crc_stored {
        return Err(corrupt(&format!("CRC-32 {:08x} of the data, {crc_stored:08x} in the trailer", crc.sum())));
    }
    if out.len() as u32 != size_stored {
        return Err(corrupt(&format!("{} bytes of data, {size_stored} (mod 2^32) in the trailer", out.len())));
    }
    trailing(CONTAINER, body.len() - consumed - 8)?;
    Ok(out)
}

/// Inflates a zlib (`zlib = true`, which checks the Adler-32 trailer) or raw deflate stream
/// from the start of `input`; returns the data and how many input bytes the stream took.
fn inflate(input: &[u8], zlib: bool, limit: u64, container: &'static str) -> Result<(Vec<u8>, usize), JoblibProblem> {
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    // One byte beyond the limit, so that a stream of exactly `limit` bytes is told from a longer one.
    let cap = limit_usize.saturating_add(1);
    let mut d = Decompress::new(zlib);
    let mut out: Vec<u8> = Vec::new();
    let first = input.len().saturating_mul(4).clamp(4096, 64 << 20).min(cap);
    out.try_reserve_exact(first).map_err(|_| JoblibProblem::TooLarge { limit })?;
    loop {
        if out.len() == out.capacity() {
            let grow = out.len().clamp(64 << 10, 1 << 30).min(cap - out.len());
            if grow == 0 {
                return Err(JoblibProblem::TooLarge { limit });
            }
            out.try_reserve_exact(grow).map_err(|_| JoblibProblem::TooLarge { limit })?;
        }
        let (before_in, before_out) = (d.total_in(), d.total_out());
        let consumed = usize::try_from(before_in).unwrap_or(usize::MAX).min(input.len());
        let status = d
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::None)
            .map_err(|e| JoblibProblem::Corrupt { container, reason: e.to_string() })?;
        if out.len() > limit_usize {
            return Err(JoblibProblem::TooLarge { limit });
        }
        match status {
            Status::StreamEnd => {
                let consumed = usize::try_from(d.total_in()).unwrap_or(usize::MAX).min(input.len());
                return Ok((out, consumed));
            }
            Status::Ok | Status::BufError => {
                let progressed = d.total_in() != before_in || d.total_out() != before_out;
                if !progressed && out.len() < out.capacity() {
                    // Room to write and nothing happened: the input is used up mid-stream.
                    return Err(JoblibProblem::TruncatedStream { container });
                }
            }
        }
    }
}
