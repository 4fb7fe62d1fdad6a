//! The status in the Prometheus text exposition format, as node_exporter's
//! textfile collector reads it (`*.prom` files): every figure a gauge,
//! roots and sites as labels.

use std::fmt::Write as _;

use super::StatusReport;

/// A label value with `\`, `"` and newlines escaped.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, help: &str) {
        let _ = writeln!(
            self.0,
            "# HELP lomob_{name} {help}\n# TYPE lomob_{name} gauge"
        );
    }

    fn value(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
            .collect();
        let labels = if l.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", l.join(","))
        };
        let _ = writeln!(self.0, "lomob_{name}{labels} {v}");
    }
}

/// The whole report as text exposition.
pub(super) fn render(r: &StatusReport) -> String {
    let mut o = Out(String::new());
    o.family("status_ok", "1 when everything is protected as configured.");
    o.value("status_ok", &[], f64::from(u8::from(r.verdict.ok)));
    o.family("status_problems", "Problems that need attention.");
    o.value("status_problems", &[], r.verdict.problems.len() as f64);
    o.family(
        "status_generated_timestamp_seconds",
        "When the report was made.",
    );
    o.value(
        "status_generated_timestamp_seconds",
        &[],
        r.generated_at as f64,
    );
    type RootFig = fn(&super::RootStatus) -> u64;
    let roots: [(&str, &str, RootFig); 9] = [
        ("root_files", "Live files.", |x| x.files),
        ("root_bytes", "Bytes of live files.", |x| x.bytes),
        (
            "root_files_on_a_site",
            "Files with a copy on at least one site.",
            |x| x.on_a_site,
        ),
        (
            "root_files_on_two_sites",
            "Files with copies on two or more sites.",
            |x| x.on_two_sites,
        ),
        (
            "root_files_off_site",
            "Files with a copy away from this machine.",
            |x| x.off_site,
        ),
        (
            "root_files_in_cold_archive",
            "Files in an archive on a cold-class site.",
            |x| x.in_cold_archive,
        ),
        (
            "root_files_missing_copies",
            "Files not yet on every site they should be.",
            |x| x.missing_copies,
        ),
        ("root_files_only_here", "Files on no site.", |x| x.only_here),
        (
            "root_deleted_versions",
            "Deleted or replaced versions kept in history.",
            |x| x.deleted_versions,
        ),
    ];
    for (name, help, f) in roots {
        o.family(name, help);
        for x in &r.roots {
            o.value(name, &[("root", &x.label)], f(x) as f64);
        }
    }
    o.family(
        "root_oldest_only_here_timestamp_seconds",
        "First seen, the oldest file on no site.",
    );
    for x in &r.roots {
        if let Some(f) = &x.oldest_only_here {
            o.value(
                "root_oldest_only_here_timestamp_seconds",
                &[("root", &x.label)],
                f.since as f64,
            );
        }
    }
    sites(&mut o, r);
    o.0
}

fn sites(o: &mut Out, r: &StatusReport) {
    o.family("site_objects", "Objects a site holds, by kind.");
    o.family("site_bytes", "Stored bytes a site holds, by kind.");
    for s in &r.sites {
        for (kind, n, b) in [
            ("staged", s.staged, s.staged_bytes),
            ("archive", s.archives, s.archive_bytes),
        ] {
            o.value(
                "site_objects",
                &[("site", &s.site), ("kind", kind)],
                n as f64,
            );
            o.value("site_bytes", &[("site", &s.site), ("kind", kind)], b as f64);
        }
    }
    o.family(
        "site_last_ok_timestamp_seconds",
        "Last time the site answered.",
    );
    o.family(
        "site_failing",
        "1 while every attempt to reach the site fails.",
    );
    o.family(
        "site_cost_dollars_per_month",
        "Storage cost a month, from the cost model.",
    );
    for s in &r.sites {
        if let Some(t) = s.last_ok {
            o.value(
                "site_last_ok_timestamp_seconds",
                &[("site", &s.site)],
                t as f64,
            );
        }
        o.value(
            "site_failing",
            &[("site", &s.site)],
            f64::from(u8::from(s.failing_since.is_some())),
        );
        if let Some(c) = s.cost_per_month {
            o.value("site_cost_dollars_per_month", &[("site", &s.site)], c);
        }
    }
    o.family(
        "check_last_timestamp_seconds",
        "When the site's last check of a kind finished.",
    );
    o.family("check_differences", "Differences the last check found.");
    o.family(
        "check_overdue",
        "1 when the check is a whole period past due.",
    );
    for s in &r.sites {
        for (kind, c) in [
            ("staging", &s.staging_check),
            ("archives", &s.archive_check),
        ] {
            let Some(c) = c else { continue };
            let l = [("site", s.site.as_str()), ("check", kind)];
            if let Some(t) = c.last {
                o.value("check_last_timestamp_seconds", &l, t as f64);
            }
            o.value("check_differences", &l, c.differences as f64);
            o.value("check_overdue", &l, f64::from(u8::from(c.overdue)));
        }
    }
}
