//! Property test: after any sequence of file operations and scans, the catalog's
//! live listing equals the tree on disk, and moves never re-read bytes.

use std::path::Path;

use proptest::prelude::*;

use lomo_catalog::Catalog;

use crate::util::{disk, listing, put, scan, set_old_mtime};

#[derive(Debug, Clone)]
enum Op {
    Create(u8, u8, Vec<u8>),
    Modify(u8, Vec<u8>),
    Touch(u8),
    Delete(u8),
    Rename(u8, u8, u8),
    RenameDir(u8, u8),
    Scan,
}

fn op() -> impl Strategy<Value = Op> {
    let data = proptest::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        (0..4u8, 0..12u8, data.clone()).prop_map(|(d, f, b)| Op::Create(d, f, b)),
        (any::<u8>(), data).prop_map(|(i, b)| Op::Modify(i, b)),
        any::<u8>().prop_map(Op::Touch),
        any::<u8>().prop_map(Op::Delete),
        (any::<u8>(), 0..4u8, 0..12u8).prop_map(|(i, d, f)| Op::Rename(i, d, f)),
        (0..4u8, 0..4u8).prop_map(|(a, b)| Op::RenameDir(a, b)),
        Just(Op::Scan),
    ]
}

fn files(root: &Path) -> Vec<std::path::PathBuf> {
    disk(root).into_keys().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn catalog_tracks_the_tree(ops in proptest::collection::vec(op(), 1..30)) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("r");
        std::fs::create_dir_all(&root).unwrap();
        let mut cat = Catalog::open(t.path().join("c.db")).unwrap();
        let mut tick = 1;
        for op in ops {
            tick += 1;
            let existing = files(&root);
            let pick = |i: u8| existing.get(i as usize % existing.len().max(1)).cloned();
            match op {
                // A new mtime, as any write gives: a rewrite of an existing
                // file with the same size, inode and mtime is beyond what a
                // scan without hashing can see, and beyond this model.
                Op::Create(d, f, b) => set_old_mtime(&put(&root, &format!("d{d}/f{f}"), &b), tick),
                Op::Modify(i, b) => if let Some(p) = pick(i) {
                    std::fs::write(&p, &b).unwrap();
                    set_old_mtime(&p, tick);
                },
                Op::Touch(i) => if let Some(p) = pick(i) { set_old_mtime(&p, tick) },
                Op::Delete(i) => if let Some(p) = pick(i) { std::fs::remove_file(p).unwrap() },
                Op::Rename(i, d, f) => if let Some(p) = pick(i) {
                    let to = root.join(format!("d{d}")).join(format!("f{f}"));
                    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                    std::fs::rename(p, to).unwrap();
                },
                Op::RenameDir(a, b) => {
                    let (from, to) = (root.join(format!("d{a}")), root.join(format!("x{b}/d{a}")));
                    if from.exists() && !to.exists() {
                        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                        std::fs::rename(from, to).unwrap();
                    }
                }
                Op::Scan => {
                    let before = listing(&cat);
                    let r = scan(&mut cat, &root);
                    prop_assert!(r.issues.is_empty(), "{:?}", r.issues);
                    let now = listing(&cat);
                    prop_assert_eq!(&now, &disk(&root));
                    // counts add up: every path now live is new, moved, changed or unchanged
                    prop_assert_eq!(r.new + r.moved + r.changed + r.unchanged, now.len() as u64);
                    // and every path that disappeared was either deleted or the source of a move
                    let disappeared = before.keys().filter(|k| !now.contains_key(*k)).count() as u64;
                    prop_assert_eq!(r.deleted + r.moved, disappeared);
                }
            }
        }
        scan(&mut cat, &root);
        prop_assert_eq!(listing(&cat), disk(&root));
        prop_assert!(cat.integrity_problems().unwrap().is_empty());
    }
}
