//! The engine's progress on stderr: indicatif bars on a terminal, events
//! as lines (`lomob: warning: …`), kept clear of the bars.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lomob::{Event, Task, TaskKind};

/// Bars when stderr is a terminal and progress is on; events always.
pub(crate) struct Bars {
    multi: Option<MultiProgress>,
}

impl Bars {
    pub(crate) fn new(enabled: bool) -> Bars {
        Bars {
            multi: (enabled && std::io::stderr().is_terminal())
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// Prints `line` on stderr without tearing a bar.
    pub(crate) fn say(&self, line: &str) {
        match &self.multi {
            Some(m) => m.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

fn style(kind: TaskKind) -> ProgressStyle {
    let template = match kind {
        TaskKind::Scan => {
            "{spinner} {prefix} {elapsed} · {msg} · hashed {decimal_bytes} ({decimal_bytes_per_sec})"
        }
        _ => {
            "{prefix} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} ({decimal_bytes_per_sec}, {eta})"
        }
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

struct IndicatifBar(ProgressBar);

impl lomob::Bar for IndicatifBar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    fn set_message(&self, msg: &str) {
        self.0.set_message(msg.to_owned());
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl lomob::Progress for Bars {
    fn start(&self, task: &Task<'_>) -> Box<dyn lomob::Bar> {
        let Some(multi) = &self.multi else {
            return Box::new(lomob::NoBar);
        };
        let bar = multi.add(match task.total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::no_length(),
        });
        bar.set_style(style(task.kind));
        bar.set_prefix(task.label.to_owned());
        if task.kind == TaskKind::Scan {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Box::new(IndicatifBar(bar))
    }

    fn event(&self, event: &Event) {
        let line = match event {
            Event::Warning(m) => format!("lomob: warning: {m}"),
            Event::Skipped { .. } => format!("lomob: skipped {event}"),
            Event::Watch(m) => format!(
                "{} lomob watch: {m}",
                jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ")
            ),
            _ => event.to_string(),
        };
        self.say(&line);
    }
}
