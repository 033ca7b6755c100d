//! Unpacking zip archives (glove.6B.zip) beside themselves, member by member through a
//! temporary name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::download::part_path;
use crate::error::{Error, Result};

/// The files of a zip archive: their safe relative paths and sizes.
pub(crate) fn members(archive: &Path) -> Result<Vec<(PathBuf, u64)>> {
    let bad = |message: String| Error::Unpack { path: archive.to_path_buf(), message };
    let file = File::open(archive).map_err(|e| Error::io("cannot read", archive, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let m = zip.by_index_raw(i).map_err(|e| bad(e.to_string()))?;
        if m.is_dir() {
            continue;
        }
        let name =
            m.enclosed_name().ok_or_else(|| bad(format!("member {:?} would land outside the folder", m.name())))?;
        out.push((name, m.size()));
    }
    Ok(out)
}

/// Whether every member is already unpacked in `into` with its size.
pub(crate) fn is_unpacked(archive: &Path, into: &Path) -> Result<bool> {
    Ok(members(archive)?
        .iter()
        .all(|(name, size)| std::fs::metadata(into.join(name)).is_ok_and(|m| m.is_file() && m.len() == *size)))
}

/// Unpacks every member of `archive` into `into` (each through `<member>.part`, renamed when
/// complete; the zip's CRC-32 is checked while reading), decrypting ZipCrypto members with
/// `password`. Returns the unpacked files.
pub(crate) fn unpack(archive: &Path, into: &Path, password: Option<&str>) -> Result<Vec<PathBuf>> {
    let bad = |message: String| Error::Unpack { path: archive.to_path_buf(), message };
    let file = File::open(archive).map_err(|e| Error::io("cannot read", archive, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let member = match password {
            Some(p) => zip.by_index_decrypt(i, p.as_bytes()),
            None => zip.by_index(i),
        };
        let mut m = member.map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(m) if m == zip::result::ZipError::PASSWORD_REQUIRED => {
                bad(format!("{m}: the registry gives no `password` for this archive"))
            }
            zip::result::ZipError::InvalidPassword => {
                bad("wrong password for this archive (the registry's `password`)".into())
            }
            e => bad(e.to_string()),
        })?;
        let name =
            m.enclosed_name().ok_or_else(|| bad(format!("member {:?} would land outside the folder", m.name())))?;
        let dest = into.join(&name);
        if m.is_dir() {
            std::fs::create_dir_all(&dest).map_err(|e| Error::io("cannot create", &dest, e))?;
            continue;
        }
        if std::fs::metadata(&dest).is_ok_and(|d| d.is_file() && d.len() == m.size()) {
            out.push(dest);
            continue;
        }
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        }
        let part = part_path(&dest);
        let write = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::StorageFull {
                bad(format!("disk full while writing {}", part.display()))
            } else {
                Error::io("cannot write", &part, e)
            }
        };
        let mut w = BufWriter::new(File::create(&part).map_err(write)?);
        // Read errors (a bad CRC, truncated data) and write errors are told apart.
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match std::io::Read::read(&mut m, &mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    drop(w);
                    let _ = std::fs::remove_file(&part);
                    return Err(bad(format!("member {}: {e}", name.display())));
                }
            };
            w.write_all(&buf[..n]).map_err(write)?;
        }
        w.into_inner().map_err(|e| write(e.into_error()))?.sync_all().map_err(write)?;
        std::fs::rename(&part, &dest).map_err(|e| Error::io("cannot rename into place", &dest, e))?;
        out.push(dest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_zip(path: &Path, members: &[(&str, &[u8])]) {
        let mut z = zip::ZipWriter::new(File::create(path).unwrap());
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in members {
            z.start_file(*name, options).unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
    }

    #[test]
    fn a_zip_unpacks_beside_itself_once() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("g.zip");
        write_zip(&archive, &[("g.50d.txt", b"the 0.1 0.2\n"), ("sub/g.300d.txt", b"a 1\n")]);
        assert!(!is_unpacked(&archive, tmp.path()).unwrap());
        let files = unpack(&archive, tmp.path(), None).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(std::fs::read(tmp.path().join("sub/g.300d.txt")).unwrap(), b"a 1\n");
        assert!(is_unpacked(&archive, tmp.path()).unwrap());
    }

    #[test]
    fn a_corrupt_archive_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("bad.zip");
        std::fs::write(&archive, b"not a zip").unwrap();
        let e = unpack(&archive, tmp.path(), None).unwrap_err().to_string();
        assert!(e.contains("bad.zip") && e.contains("cannot unpack"), "{e}");
    }
}
