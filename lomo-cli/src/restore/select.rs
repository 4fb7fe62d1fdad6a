//! What a restore brings back, and under which name: `<root folder
//! name>/<path relative to its root>` for lomob's own files, and the Go
//! tool's imported files where lomob has nothing at that path.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use lomo_catalog::{Catalog, FileEntry, FileQuery};

use super::RestoreOptions;
use super::go::GoWanted;
use crate::error::{Error, Result};

/// The files of one restore.
pub(crate) struct Selection {
    /// lomob's own files, by the name they get under the target.
    pub(crate) files: Vec<(PathBuf, FileEntry)>,
    /// What the Go lomo-backup uploaded.
    pub(crate) go: Vec<GoWanted>,
}

/// The seed's `restore gdrive|aws [PATH...]` forms: the URL scheme of the
/// sites to restore from, and the paths that follow (everything when none).
/// A root folder really named so is a path, not an alias.
pub fn split_alias(
    paths: &[String],
    labels: &HashMap<PathBuf, String>,
) -> (Option<&'static str>, Vec<String>) {
    let scheme = match paths.first().map(String::as_str) {
        Some("gdrive") => "gdrive",
        Some("aws") => "s3",
        _ => return (None, paths.to_vec()),
    };
    if labels.values().any(|l| *l == paths[0]) {
        return (None, paths.to_vec());
    }
    let rest: Vec<String> = paths[1..].to_vec();
    (
        Some(scheme),
        if rest.is_empty() {
            vec!["/".into()]
        } else {
            rest
        },
    )
}

/// A restore's `as of` time: a date (its end, local time),
/// `YYYY-MM-DDTHH:MM[:SS]` local time, or an RFC 3339 timestamp; Unix seconds.
pub fn parse_as_of(s: &str) -> std::result::Result<i64, String> {
    let tz = jiff::tz::TimeZone::system();
    let zoned = if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_second());
    } else if let Ok(dt) = s.parse::<jiff::civil::DateTime>()
        && s.contains(['T', ' '])
    {
        dt.to_zoned(tz)
    } else if let Ok(d) = s.parse::<jiff::civil::Date>() {
        d.at(23, 59, 59, 0).to_zoned(tz)
    } else {
        return Err(format!(
            "{s:?} is not a date (2026-11-01, 2026-11-01T18:30, or 2026-11-01T18:30:00Z)"
        ));
    };
    zoned
        .map(|z| z.timestamp().as_second())
        .map_err(|e| e.to_string())
}

/// `<label>/<rel>` for a file, as restores lay it out.
fn restore_name(f: &FileEntry, labels: &HashMap<PathBuf, String>) -> Option<PathBuf> {
    let label = labels.get(&f.root)?;
    let rel = f.path.strip_prefix(&f.root).ok()?;
    Some(Path::new(label).join(rel))
}

fn selected(name: &Path, abs: &Path, wanted: &[String]) -> bool {
    wanted.iter().any(|w| {
        let w = w.trim_end_matches('/');
        w.is_empty() || name.starts_with(w) || (Path::new(w).is_absolute() && abs.starts_with(w))
    })
}

/// The files `opts` selects; an error when nothing matches.
pub(crate) fn select(catalog: &Catalog, opts: &RestoreOptions) -> Result<Selection> {
    let mut files = Vec::new();
    let go = select_each(catalog, opts, |name, f| {
        files.push((name, f));
        Ok(())
    })?;
    Ok(Selection { files, go })
}

/// Hands lomob's files that `opts` selects to `sink` one at a time, in
/// path order (nothing is held: a million-file plan stays small), and
/// returns the Go tool's files that lomob has nothing at; an error when
/// nothing matches.
pub(crate) fn select_each(
    catalog: &Catalog,
    opts: &RestoreOptions,
    mut sink: impl FnMut(PathBuf, FileEntry) -> Result<()>,
) -> Result<Vec<GoWanted>> {
    let labels = catalog.root_labels()?;
    let paths = &opts.paths;
    let go_files = catalog.go_files()?;
    // lomob's names, only where imported files could be shadowed by them.
    let mut mine: HashSet<PathBuf> = HashSet::new();
    let mut count = 0u64;
    let q = FileQuery {
        symlinks: true,
        as_of: opts.as_of,
        ..FileQuery::default()
    };
    catalog.for_each_file(&q, |f| {
        if let Some(name) = restore_name(&f, &labels)
            && selected(&name, &f.path, paths)
        {
            if !go_files.is_empty() {
                mine.insert(name.clone());
            }
            count += 1;
            sink(name, f)?;
        }
        Ok::<_, Error>(())
    })?;
    let mut go = Vec::new();
    for g in go_files {
        let label = labels
            .get(&g.root)
            .cloned()
            .or_else(|| g.root.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "root".into());
        let rel = PathBuf::from(String::from_utf8_lossy(&g.rel).into_owned());
        let name = Path::new(&label).join(&rel);
        if !mine.contains(&name) && selected(&name, &g.root.join(&rel), paths) {
            go.push(GoWanted { name, file: g });
        }
    }
    if count == 0 && go.is_empty() {
        return Err(Error::invalid(format!(
            "nothing in the catalog matches {} (names look like {:?})",
            paths.join(", "),
            labels
                .values()
                .next()
                .map_or("Pictures/2019".to_owned(), |l| format!("{l}/…"))
        )));
    }
    Ok(go)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_dates() {
        assert_eq!(parse_as_of("2026-11-01T00:00:00Z").unwrap(), 1_793_491_200);
        let day_end = parse_as_of("2026-11-01").unwrap();
        let evening = parse_as_of("2026-11-01T18:30").unwrap();
        assert!(evening < day_end && day_end - evening == 5 * 3600 + 29 * 60 + 59);
        assert!(parse_as_of("yesterday").is_err());
    }

    #[test]
    fn seed_aliases() {
        let labels: HashMap<PathBuf, String> =
            [(PathBuf::from("/home/me/Pictures"), "Pictures".to_owned())].into();
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(split_alias(&v(&["aws"]), &labels), (Some("s3"), v(&["/"])));
        assert_eq!(
            split_alias(&v(&["gdrive", "Pictures/2019"]), &labels),
            (Some("gdrive"), v(&["Pictures/2019"]))
        );
        assert_eq!(
            split_alias(&v(&["Pictures"]), &labels),
            (None, v(&["Pictures"]))
        );
        let aws_root: HashMap<PathBuf, String> =
            [(PathBuf::from("/x/aws"), "aws".to_owned())].into();
        assert_eq!(split_alias(&v(&["aws"]), &aws_root), (None, v(&["aws"])));
    }
}
