//! The fast path of a restore: every file whose first copy is readable
//! now, planned at once and read by several workers in parallel. Files
//! that lie next to each other in one archive copy become one run: one
//! streamed range request, its chunks opened as they arrive and split into
//! the files they hold, so a full restore reads each image about once, in
//! order. Staged objects are fetched whole, several at a time. Whatever
//! fails here is handed back and goes through the careful per-file path
//! (other copies, thaws), so nothing is lost by going fast.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use lomo_catalog::{ArchiveCopy, ArchivedAt, FileEntry};
use lomo_crypt::MasterKey;
use lomo_crypt::stream::{Header, Layout, ObjectCipher};
use lomo_remote::Backend;

use super::fetch::{self, Wanted};
use super::plan::Candidate;
use crate::error::{CryptContext as _, Error, Result};
use crate::progress::{Bar, Progress, Task, TaskKind};
use crate::target::{NewFile, Target};

/// Unwanted ciphertext worth reading through rather than starting a new
/// request (a gap between two files of one image).
const GAP: u64 = 4 << 20;
/// Most ciphertext one run asks for: a big image is read by several
/// workers at once, each streaming its part. (On moto, whose ranged GET of
/// a big object costs ~0.2 s whatever its length, 32 MiB runs took 3.8 s
/// for 1.1 GB, 128–256 MiB 3.0–3.1 s, 512 MiB 2.6 s; real servers charge
/// per request little, and gain from the parallelism.)
const RUN_MAX: u64 = 256 << 20;

/// One file for the fast path: its place in the restore's list, where it
/// goes, and the copy to read.
pub(super) struct Item {
    /// Its place in the restore's list.
    pub(super) idx: usize,
    pub(super) name: PathBuf,
    pub(super) file: FileEntry,
    pub(super) hash: [u8; 32],
    pub(super) cand: Candidate,
}

impl Item {
    fn at(&self) -> Option<(&ArchiveCopy, &ArchivedAt)> {
        match &self.cand {
            Candidate::Archived { copy, at } => Some((copy, at)),
            Candidate::Staged { .. } => None,
        }
    }
}

/// One worker's task.
enum Job {
    /// A staged object, whole.
    Staged(Item),
    /// Files of one encrypted archive copy, in offset order, read as one
    /// streamed range of whole chunks.
    Run {
        copy: ArchiveCopy,
        archive: lomo_catalog::Archive,
        chunks: Range<u64>,
        items: Vec<Item>,
    },
}

impl Job {
    fn site(&self) -> &str {
        match self {
            Job::Staged(i) => i.cand.site(),
            Job::Run { copy, .. } => &copy.site,
        }
    }

    fn bytes(&self) -> u64 {
        match self {
            Job::Staged(i) => i.file.size,
            Job::Run { items, .. } => items.iter().map(|i| i.file.size).sum(),
        }
    }
}

/// A file the fast path could not restore: the per-file path tries again.
pub(super) struct Retry;

/// What the fast path did with each file: where it came from (`None`: it
/// was there already), or [`Retry`].
pub(super) type Outcomes = Vec<(Item, std::result::Result<Option<String>, Retry>)>;

/// Everything the workers share.
pub(super) struct Bulk<'a> {
    pub(super) rt: &'a tokio::runtime::Runtime,
    pub(super) key: &'a MasterKey,
    pub(super) target: &'a Target,
    pub(super) sites: BTreeMap<String, Arc<dyn Backend>>,
    pub(super) workers: usize,
    pub(super) progress: &'a dyn Progress,
}

impl Bulk<'_> {
    /// Restores `items` with `self.workers` workers.
    pub(super) fn run(&self, items: Vec<Item>) -> Outcomes {
        let (mut jobs, left) = plan_jobs(items);
        // Biggest last: popped first, so the long runs start at once.
        jobs.sort_by_key(Job::bytes);
        let total = jobs.iter().map(Job::bytes).sum();
        let bar = self.progress.start(&Task {
            kind: TaskKind::Restore,
            label: "restoring",
            total: Some(total),
        });
        let queue = Mutex::new(jobs);
        let out = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..self.workers.max(1) {
                s.spawn(|| {
                    loop {
                        let job = queue.lock().map(|mut q| q.pop()).ok().flatten();
                        let Some(job) = job else { break };
                        let done = self.job(job, bar.as_ref());
                        if let Ok(mut o) = out.lock() {
                            o.extend(done);
                        }
                    }
                });
            }
        });
        bar.finish();
        let mut out = out.into_inner().unwrap_or_default();
        out.extend(left.into_iter().map(|i| (i, Err(Retry))));
        out
    }

    fn job(&self, job: Job, bar: &dyn Bar) -> Outcomes {
        let Some(site) = self.sites.get(job.site()).cloned() else {
            return failed_all(job);
        };
        match job {
            Job::Staged(item) => {
                let Candidate::Staged {
                    site: name,
                    key,
                    size,
                } = &item.cand
                else {
                    return vec![(item, Err(Retry))];
                };
                let (name, key, size) = (name.clone(), key.clone(), *size);
                let w = Wanted {
                    key: self.key,
                    hash: &item.hash,
                    file: &item.file,
                    target: self.target,
                    name: &item.name,
                };
                let r = match fetch::already_there(self.target, &item.name, &item.hash) {
                    Ok(true) => Ok(None),
                    Ok(false) => fetch::staged_streamed(self.rt, &site, (&key, size), &w)
                        .map(|()| Some(name)),
                    Err(e) => Err(e),
                };
                bar.inc(item.file.size);
                vec![(item, r.map_err(|_| Retry))]
            }
            Job::Run {
                copy,
                archive,
                chunks,
                items,
            } => {
                let mut run = RunState::new(self, &copy, &archive, items);
                if let Err(e) = run.stream(&site, chunks, bar) {
                    tracing::debug!(key = %copy.key, error = %e, "run cut short: its files go one by one");
                }
                run.finish()
            }
        }
    }
}

fn failed_all(job: Job) -> Outcomes {
    match job {
        Job::Staged(i) => vec![(i, Err(Retry))],
        Job::Run { items, .. } => items.into_iter().map(|i| (i, Err(Retry))).collect(),
    }
}

/// The jobs for `items`: one per staged object; the archived files of each
/// copy sorted by offset and cut into runs wherever the gap to the next
/// file is long or the run has grown to [`RUN_MAX`]. Files of a copy whose
/// header does not parse are left over, for the per-file path to report.
fn plan_jobs(items: Vec<Item>) -> (Vec<Job>, Vec<Item>) {
    let (mut jobs, mut left) = (Vec::new(), Vec::new());
    let mut by_copy: BTreeMap<(String, String), Vec<Item>> = BTreeMap::new();
    for item in items {
        match &item.cand {
            Candidate::Staged { .. } => jobs.push(Job::Staged(item)),
            Candidate::Archived { copy, .. } => by_copy
                .entry((copy.site.clone(), copy.key.clone()))
                .or_default()
                .push(item),
        }
    }
    for (_, mut items) in by_copy {
        items.sort_by_key(|i| i.at().map(|(_, at)| at.offset));
        let Some((copy, at)) = items.first().and_then(Item::at) else {
            continue;
        };
        let (copy, archive) = (copy.clone(), at.archive.clone());
        let Ok(header) = Header::parse(&copy.header) else {
            left.extend(items);
            continue;
        };
        let layout = Layout::new(archive.size, header.chunk_log2);
        let mut run: Vec<Item> = Vec::new();
        let mut chunks = 0..0;
        for item in items {
            let r = item_chunks(&layout, &item);
            // Where this file's chunks begin, the run's begin and reach.
            let begins = layout.cipher_range(r.start).start;
            let started = run
                .first()
                .map_or(begins, |_| layout.cipher_range(chunks.start).start);
            let reach = layout.cipher_range(chunks.end.saturating_sub(1)).end;
            let apart = !run.is_empty() && begins > reach + GAP;
            if !run.is_empty() && (apart || layout.cipher_range(r.end - 1).end - started > RUN_MAX)
            {
                jobs.push(Job::Run {
                    copy: copy.clone(),
                    archive: archive.clone(),
                    chunks: chunks.clone(),
                    items: std::mem::take(&mut run),
                });
            }
            chunks = if run.is_empty() {
                r
            } else {
                chunks.start..chunks.end.max(r.end)
            };
            run.push(item);
        }
        if !run.is_empty() {
            jobs.push(Job::Run {
                copy,
                archive,
                chunks,
                items: run,
            });
        }
    }
    (jobs, left)
}

/// The chunks holding `item`'s bytes (one, the chunk at its offset, for an
/// empty file).
fn item_chunks(layout: &Layout, item: &Item) -> Range<u64> {
    let Some((_, at)) = item.at() else {
        return 0..0;
    };
    let first = layout.chunk_of(at.offset);
    let last = layout.chunk_of((at.offset + at.size).saturating_sub(1).max(at.offset));
    first..last + 1
}

/// One file of a run being written.
struct Open {
    item: Item,
    /// None: already there, nothing to write.
    tmp: Option<NewFile>,
    hasher: blake3::Hasher,
    written: u64,
}

/// A run in progress: the files not started yet, those being written, and
/// what became of the others.
struct RunState<'a> {
    bulk: &'a Bulk<'a>,
    copy: &'a ArchiveCopy,
    archive: &'a lomo_catalog::Archive,
    waiting: std::collections::VecDeque<Item>,
    open: Vec<Open>,
    out: Outcomes,
}

impl<'a> RunState<'a> {
    fn new(
        bulk: &'a Bulk<'a>,
        copy: &'a ArchiveCopy,
        archive: &'a lomo_catalog::Archive,
        items: Vec<Item>,
    ) -> Self {
        RunState {
            bulk,
            copy,
            archive,
            waiting: items.into(),
            open: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Reads the run's chunks as one streamed range, opening each as it
    /// is whole and handing its plaintext to the files it holds.
    fn stream(&mut self, site: &Arc<dyn Backend>, chunks: Range<u64>, bar: &dyn Bar) -> Result<()> {
        let what = || format!("archive copy {}", self.copy.key);
        let header = Header::parse(&self.copy.header).what(what)?;
        let cipher = ObjectCipher::new(self.bulk.key, &header).what(what)?;
        let layout = Layout::new(self.archive.size, header.chunk_log2);
        let range =
            layout.cipher_range(chunks.start).start..layout.cipher_range(chunks.end - 1).end;
        let rt = self.bulk.rt;
        rt.block_on(async {
            let mut s = site.get(&self.copy.key, Some(range)).await?;
            let mut c = chunks.start;
            let mut buf: Vec<u8> = Vec::with_capacity(layout.chunk_size() as usize + 16);
            while let Some(piece) = s.next().await {
                let piece = piece?;
                let mut p = &piece[..];
                while !p.is_empty() && c < chunks.end {
                    let want = layout.cipher_range(c);
                    let take = ((want.end - want.start) as usize - buf.len()).min(p.len());
                    buf.extend_from_slice(&p[..take]);
                    p = &p[take..];
                    if buf.len() as u64 == want.end - want.start {
                        self.chunk(&cipher, &layout, c, &mut buf, bar);
                        buf.clear();
                        c += 1;
                    }
                }
            }
            if c < chunks.end {
                return Err(Error::failed("the site sent fewer bytes than asked"));
            }
            Ok(())
        })
    }

    /// Chunk `c` is in `buf`: opened (when a file wants it) and written.
    fn chunk(
        &mut self,
        cipher: &ObjectCipher,
        layout: &Layout,
        c: u64,
        buf: &mut [u8],
        bar: &dyn Bar,
    ) {
        let p = layout.plain_range(c);
        self.start_files(p.end);
        if self.open.is_empty() {
            return;
        }
        let last = c + 1 == layout.chunks();
        let plain = match cipher.open_chunk_in_place(c, last, buf) {
            Ok(n) => &buf[..n],
            Err(_) => {
                // Damaged here: these files go to the per-file path, which
                // tries the other copies.
                for o in std::mem::take(&mut self.open) {
                    self.out.push((o.item, Err(Retry)));
                }
                return;
            }
        };
        let mut still = Vec::with_capacity(self.open.len());
        for mut o in std::mem::take(&mut self.open) {
            let Some((_, at)) = o.item.at() else { continue };
            let (from, to) = (at.offset.max(p.start), (at.offset + at.size).min(p.end));
            if from < to {
                let part = &plain[(from - p.start) as usize..(to - p.start) as usize];
                if let Some(tmp) = &mut o.tmp {
                    o.hasher.update(part);
                    if std::io::Write::write_all(tmp.file(), part).is_err() {
                        self.out.push((o.item, Err(Retry)));
                        continue;
                    }
                }
                o.written += to - from;
                bar.inc(to - from);
            }
            if o.written >= at.size {
                self.close(o);
            } else {
                still.push(o);
            }
        }
        self.open = still;
    }

    /// Opens the waiting files that start before `end` (the end of the
    /// chunk at hand); empty files and files already there end at once.
    fn start_files(&mut self, end: u64) {
        while let Some(next) = self.waiting.front() {
            let starts = next.at().map_or(u64::MAX, |(_, at)| at.offset);
            if starts >= end && !(starts == end && next.file.size == 0) {
                break;
            }
            let Some(item) = self.waiting.pop_front() else {
                break;
            };
            let tmp = match fetch::already_there(self.bulk.target, &item.name, &item.hash) {
                Ok(true) => None,
                Ok(false) => match self.bulk.target.create(&item.name) {
                    Ok(t) => Some(t),
                    Err(_) => {
                        self.out.push((item, Err(Retry)));
                        continue;
                    }
                },
                Err(_) => {
                    self.out.push((item, Err(Retry)));
                    continue;
                }
            };
            let o = Open {
                item,
                tmp,
                hasher: blake3::Hasher::new(),
                written: 0,
            };
            if o.item.file.size == 0 {
                self.close(o);
            } else {
                self.open.push(o);
            }
        }
    }

    /// A file whose bytes are all written: checked, then into place.
    fn close(&mut self, o: Open) {
        let from = format!("{} in {}", self.copy.site, self.archive.name);
        let r = match o.tmp {
            None => Ok(None),
            Some(_) if o.hasher.finalize().as_bytes() != &o.item.hash => Err(()),
            Some(tmp) => fetch::finish_file(tmp, &o.item.file)
                .map(|()| Some(from))
                .map_err(|_| ()),
        };
        self.out.push((o.item, r.map_err(|()| Retry)));
    }

    /// What became of every file: the stream's end leaves the files not
    /// finished (a cut stream, a short answer) to the per-file path.
    fn finish(mut self) -> Outcomes {
        for o in std::mem::take(&mut self.open) {
            self.out.push((o.item, Err(Retry)));
        }
        for item in std::mem::take(&mut self.waiting) {
            self.out.push((item, Err(Retry)));
        }
        self.out
    }
}

/// How many workers a restore from `sites` uses by default: a few per core
/// for folders (disk-bound), more where each request waits on a network.
pub(super) fn default_workers(local_only: bool) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    if local_only { cores.clamp(2, 4) } else { 8 }
}
