//! Build an ISO image of a folder with lomo-iso alone, then list it back.
//!
//! ```sh
//! cargo run -p lomob-examples --example iso_build -- ~/Pictures/2024 /tmp/2024.iso
//! ```

use std::path::{Path, PathBuf};

use lomo_iso::{Entry, EntryKind, Layout, Reader, WriteOptions};

fn collect(
    root: &Path,
    dir: &Path,
    entries: &mut Vec<Entry>,
    paths: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let m = std::fs::symlink_metadata(&p)?;
        let kind = if m.is_dir() {
            collect(root, &p, entries, paths)?;
            EntryKind::Dir
        } else if m.is_file() {
            EntryKind::File {
                size: m.len(),
                blake3: None,
            }
        } else {
            continue;
        };
        let mtime = m
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let rel = p
            .strip_prefix(root)
            .unwrap_or(&p)
            .to_string_lossy()
            .into_owned();
        entries.push(Entry {
            path: rel.into_bytes(),
            kind,
            mtime,
            mode: 0o644,
        });
        paths.push(p);
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [src, out] = args.as_slice() else {
        eprintln!("usage: iso_build DIR OUT.iso");
        std::process::exit(2);
    };
    let (mut entries, mut paths) = (Vec::new(), Vec::new());
    collect(src, src, &mut entries, &mut paths)?;
    let layout = Layout::new(&entries, WriteOptions::default())?;
    println!(
        "{} entries, image of {} bytes",
        entries.len(),
        layout.size()
    );
    layout.write(std::fs::File::create(out)?, |i| {
        std::fs::File::open(&paths[i])
    })?;

    let mut reader = Reader::open(std::fs::File::open(out)?)?;
    reader.walk(|path, rec| {
        println!(
            "{:>12}  {}",
            if rec.is_dir {
                "<dir>".to_string()
            } else {
                rec.size.to_string()
            },
            String::from_utf8_lossy(path)
        );
        Ok(())
    })?;
    Ok(())
}
