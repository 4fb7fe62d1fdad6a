//! `files.list`: the `q` language subset, the `fields` mask, paging, and
//! the search index's inconvenient parts (case-blind and lagging `name =`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use http::StatusCode;
use serde_json::{Value, json};

use super::{FakeFile, ROOT_ID, Resp, State, file_json, json_resp};

/// Applies a Drive `fields` mask (top level, and `files(…)` inside).
pub(super) fn mask(v: &Value, fields: &str) -> Value {
    let mut out = serde_json::Map::new();
    let mut depth = 0;
    let mut start = 0;
    let mut items = Vec::new();
    for (i, c) in fields.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&fields[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&fields[start..]);
    for item in items {
        let item = item.trim();
        if item == "*" {
            return v.clone();
        }
        if let Some((name, inner)) = item.split_once('(') {
            let inner = inner.trim_end_matches(')');
            if let Some(Value::Array(a)) = v.get(name) {
                out.insert(
                    name.into(),
                    Value::Array(a.iter().map(|x| mask(x, inner)).collect()),
                );
            }
        } else if let Some(x) = v.get(item) {
            out.insert(item.into(), x.clone());
        }
    }
    Value::Object(out)
}

fn split_and(q: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut chars = q.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        if c == '\'' {
            in_quote = !in_quote;
        }
        cur.push(c);
        if !in_quote && cur.ends_with(" and ") {
            out.push(cur[..cur.len() - 5].to_owned());
            cur.clear();
        }
    }
    out.push(cur);
    out
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("\\'", "'").replace("\\\\", "\\"))
}

/// Whether `f` matches every `and`-joined term of `q`, as Drive's search
/// answers now: `name =` ignores case when the quirk is on, and a file
/// younger than the index lag is not yet found by name.
fn matches(s: &State, f: &FakeFile, q: &str, now: Instant) -> bool {
    split_and(q).iter().all(|t| term(s, f, t.trim(), now))
}

fn term(s: &State, f: &FakeFile, t: &str, now: Instant) -> bool {
    if let Some(id) = t.strip_suffix(" in parents").and_then(unquote) {
        let id = if id == "root" { ROOT_ID.to_owned() } else { id };
        return f.parents.contains(&id);
    }
    if t.replace(' ', "") == "trashed=false" {
        return true;
    }
    if let Some(r) = t.strip_prefix("name").map(str::trim_start) {
        let indexed = now.duration_since(f.created_at) >= s.quirks.name_index_lag;
        let same = |v: &str| {
            if s.quirks.names_ignore_case {
                f.name.to_lowercase() == v.to_lowercase()
            } else {
                f.name == v
            }
        };
        if let Some(v) = r.strip_prefix("!=").and_then(unquote) {
            return indexed && !same(&v);
        }
        if let Some(v) = r.strip_prefix('=').and_then(unquote) {
            return indexed && same(&v);
        }
    }
    if let Some(r) = t.strip_prefix("mimeType").map(str::trim_start) {
        if let Some(v) = r.strip_prefix("!=").and_then(unquote) {
            return f.mime != v;
        }
        if let Some(v) = r.strip_prefix('=').and_then(unquote) {
            return f.mime == v;
        }
    }
    panic!("drive fake: unsupported query term {t:?}");
}

/// `GET /drive/v3/files`: the files the token may see that match `q`.
pub(super) fn list(q: &HashMap<String, String>, st: &Arc<Mutex<State>>, scope: &str) -> Resp {
    let s = st.lock().unwrap();
    let now = Instant::now();
    let filter = q.get("q").cloned().unwrap_or_default();
    let page: usize = q
        .get("pageSize")
        .and_then(|p| p.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let skip: usize = q
        .get("pageToken")
        .and_then(|t| t.strip_prefix("page-")?.parse().ok())
        .unwrap_or(0);
    let all: Vec<&FakeFile> = s
        .files
        .values()
        .filter(|f| s.visible(f, scope))
        .filter(|f| filter.is_empty() || matches(&s, f, &filter, now))
        .collect();
    let files: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(page)
        .map(|f| file_json(f))
        .collect();
    let mut v = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": files});
    if skip + page < all.len() {
        v["nextPageToken"] = json!(format!("page-{}", skip + page));
    }
    let fields = q.get("fields").map_or(
        "kind,incompleteSearch,files(kind,id,name,mimeType)",
        String::as_str,
    );
    json_resp(StatusCode::OK, &mask(&v, fields))
}
