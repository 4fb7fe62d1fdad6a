//! Objects hidden, not deleted: on a versioned bucket (every bucket with
//! Object Lock is one) a plain DELETE — by anyone holding the credentials,
//! ransomware included — adds a delete marker that hides the object while
//! its locked version stays. A marker is not locked, so deleting it by its
//! version id brings the object back.

use bytes::Bytes;
use http::Method;
use quick_xml::events::Event;

use crate::error::{At, Result};
use crate::s3::{S3Extra, encode_query, status_error};

/// One entry of a ListObjectVersions answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) version: String,
    pub(crate) marker: bool,
    /// The current version (`IsLatest`).
    pub(crate) latest: bool,
}

impl S3Extra {
    /// Removes the delete markers above the newest real version of
    /// `full_key`; whether any was there (and the object is back). A key
    /// with no real version behind its markers is left as it is.
    pub(crate) async fn undelete(&self, at: At<'_>, full_key: &str) -> Result<bool> {
        let entries = list_versions(self, at, full_key).await?;
        let markers = markers_above_data(&entries, full_key);
        for m in &markers {
            self.delete_version(at, full_key, m).await?;
        }
        Ok(!markers.is_empty())
    }
}

/// Keys under `full_prefix` hidden by a delete marker with a real version
/// behind it, `strip` taken off their front.
pub(crate) async fn hidden_keys(
    s3: &S3Extra,
    at: At<'_>,
    full_prefix: &str,
    strip: &str,
) -> Result<Vec<String>> {
    let entries = list_versions(s3, at, full_prefix).await?;
    let mut keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    Ok(keys
        .into_iter()
        .filter(|k| !markers_above_data(&entries, k).is_empty())
        .map(|k| k.strip_prefix(strip).unwrap_or(k).to_owned())
        .collect())
}

/// Every version and delete marker under `full_prefix`, all pages read
/// (ListObjectVersions); a server without versions (Garage: 501) is
/// [`crate::Error::Unsupported`].
async fn list_versions(s3: &S3Extra, at: At<'_>, full_prefix: &str) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut from: Option<(String, String)> = None;
    loop {
        let mut url = format!(
            "{}?versions&prefix={}",
            s3.bucket_url(),
            encode_query(full_prefix)
        );
        if let Some((k, v)) = &from {
            url.push_str(&format!(
                "&key-marker={}&version-id-marker={}",
                encode_query(k),
                encode_query(v)
            ));
        }
        let r = s3.call(at, Method::GET, &url, &[], Bytes::new()).await?;
        if r.status == http::StatusCode::NOT_IMPLEMENTED {
            return Err(at.unsupported("listing object versions"));
        }
        if !r.status.is_success() {
            return Err(status_error(at, &r));
        }
        let page = parse_versions(&r.body)
            .map_err(|e| at.request(false, format!("unreadable ListObjectVersions answer: {e}")))?;
        entries.extend(page);
        match next_markers(&r.body) {
            Some(n) if from.as_ref() != Some(&n) => from = Some(n),
            _ => return Ok(entries),
        }
    }
}

/// `NextKeyMarker` and `NextVersionIdMarker` of a truncated answer.
fn next_markers(xml: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(xml).ok()?;
    let field = |name: &str| {
        let (_, rest) = text.split_once(&format!("<{name}>"))?;
        let (v, _) = rest.split_once(&format!("</{name}>"))?;
        quick_xml::escape::unescape(v)
            .ok()
            .map(std::borrow::Cow::into_owned)
    };
    if field("IsTruncated")?.trim() != "true" {
        return None;
    }
    Some((field("NextKeyMarker")?, field("NextVersionIdMarker")?))
}

/// The version ids of `key`'s delete markers when its current version is
/// one and a real version is behind it; none otherwise. Every marker of
/// the key goes: the order of entries is not relied on (AWS interleaves
/// markers and versions newest first, moto lists versions first), and a
/// marker below the newest real version hides nothing.
pub(crate) fn markers_above_data(entries: &[Entry], key: &str) -> Vec<String> {
    let of_key = || entries.iter().filter(|e| e.key == key);
    let hidden = of_key().any(|e| e.marker && e.latest);
    if !hidden || !of_key().any(|e| !e.marker) {
        return Vec::new();
    }
    of_key()
        .filter(|e| e.marker)
        .map(|e| e.version.clone())
        .collect()
}

/// The `<Version>` and `<DeleteMarker>` entries of a ListObjectVersions
/// answer, in document order.
pub(crate) fn parse_versions(xml: &[u8]) -> std::result::Result<Vec<Entry>, String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let (mut out, mut buf) = (Vec::new(), Vec::new());
    let mut cur: Option<Entry> = None;
    let mut field: Option<Vec<u8>> = None;
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| e.to_string())?
        {
            Event::Start(s) => match s.local_name().as_ref() {
                b"Version" | b"DeleteMarker" if cur.is_none() => {
                    cur = Some(Entry {
                        key: String::new(),
                        version: String::new(),
                        marker: s.local_name().as_ref() == b"DeleteMarker",
                        latest: false,
                    });
                }
                name => field = Some(name.to_vec()),
            },
            Event::Text(t) => {
                let text = t.decode().map_err(|e| e.to_string())?;
                add_text(cur.as_mut(), field.as_deref(), &text);
            }
            // `&amp;` and the like come apart from the text around them.
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| e.to_string())?;
                let ch = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("unknown entity &{name};"))?
                        .to_owned(),
                };
                add_text(cur.as_mut(), field.as_deref(), &ch);
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"Version" | b"DeleteMarker" => out.extend(cur.take()),
                _ => field = None,
            },
            Event::Eof => return Ok(out),
            _ => {}
        }
        buf.clear();
    }
}

/// Text inside `field` of the entry being read.
fn add_text(cur: Option<&mut Entry>, field: Option<&[u8]>, text: &str) {
    let (Some(e), Some(f)) = (cur, field) else {
        return;
    };
    match f {
        b"Key" => e.key.push_str(text),
        b"VersionId" => e.version.push_str(text),
        b"IsLatest" => e.latest = text.trim() == "true",
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Name>b</Name><Prefix>p/a</Prefix><IsTruncated>false</IsTruncated>
<DeleteMarker><Key>p/a</Key><VersionId>m2</VersionId><IsLatest>true</IsLatest></DeleteMarker>
<DeleteMarker><Key>p/a</Key><VersionId>m1</VersionId><IsLatest>false</IsLatest></DeleteMarker>
<Version><Key>p/a</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest><Size>3</Size></Version>
<DeleteMarker><Key>p/a.par</Key><VersionId>m3</VersionId><IsLatest>true</IsLatest></DeleteMarker>
<Version><Key>p/a&amp;b</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest></Version>
</ListVersionsResult>"#;

    #[test]
    fn markers_above_the_newest_version_are_found() {
        let e = parse_versions(LISTED.as_bytes()).unwrap();
        assert_eq!(e.len(), 5);
        assert_eq!(e[4].key, "p/a&b");
        assert_eq!(markers_above_data(&e, "p/a"), ["m2", "m1"]);
        assert!(
            markers_above_data(&e, "p/a.par").is_empty(),
            "no data behind"
        );
        assert!(markers_above_data(&e, "p/a&b").is_empty(), "not hidden");
        assert!(markers_above_data(&e, "p/none").is_empty());
        // moto's order: every version first, then the markers.
        let mut grouped: Vec<Entry> = e.iter().filter(|e| !e.marker).cloned().collect();
        grouped.extend(e.iter().filter(|e| e.marker).cloned());
        assert_eq!(markers_above_data(&grouped, "p/a"), ["m2", "m1"]);
    }
}
