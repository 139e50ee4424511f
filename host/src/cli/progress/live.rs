//! The live view on a terminal (indicatif): one line per running step
//! (`board.step`, time since it started, its latest progress message or
//! what it waits on), and a counts line at the bottom. Notable events
//! (failures, retries, cancellation; every event with `-v`) are printed
//! above the bars as the plain lines.
//!
//! It is driven by the scheduler's observer calls, so it must stay cheap:
//! drawing is rate-limited by indicatif (`REFRESH_HZ`), at most `max_bars`
//! steps get a line (the rest are counted), and one ticker thread refreshes
//! elapsed times. Dropping the view clears it, before the summary prints.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::plain;
use super::tally::Tally;
use crate::cli::Output;
use crate::scheduler::UiEvent;
use crate::status::StepStatus;
use crate::text::escape_line;

pub const REFRESH_HZ: u8 = 10;
const TICK: Duration = Duration::from_millis(200);

pub struct Live {
    multi: MultiProgress,
    counts: ProgressBar,
    counts_style: ProgressStyle,
    /// `RunStarted` came: the counts line shows counts.
    started: bool,
    bars: Arc<Mutex<HashMap<String, ProgressBar>>>,
    max_bars: usize,
    tally: Tally,
    verbose: u8,
    start: Instant,
    step_style: ProgressStyle,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

/// Seconds since the bar started, `12.3s`.
fn secs(state: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.1}s", state.elapsed().as_secs_f64());
}

impl Live {
    pub fn new(out: Output, target: ProgressDrawTarget, max_bars: usize) -> Live {
        console::set_colors_enabled_stderr(out.color);
        let multi = MultiProgress::with_draw_target(target);
        let counts_style = ProgressStyle::with_template("{secs:>7.dim} [{bar:24.cyan/blue}] {pos}/{len} done · {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("secs", secs)
            .progress_chars("=> ");
        let step_style = ProgressStyle::with_template("{spinner:.cyan} {prefix:<24.bold} {secs:>7} {wide_msg:.dim}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key("secs", secs)
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ");
        // Until the run starts (plugins load, maybe compile), a plain line.
        let loading = ProgressStyle::with_template("{secs:>7.dim} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key("secs", secs);
        let counts = multi.add(ProgressBar::new(0).with_style(loading));
        counts.set_message("loading plugins");
        let bars: Arc<Mutex<HashMap<String, ProgressBar>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (bars, counts, stop) = (bars.clone(), counts.clone(), stop.clone());
            std::thread::Builder::new()
                .name("baton-progress".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(TICK);
                        if let Ok(bars) = bars.lock() {
                            bars.values().for_each(ProgressBar::tick);
                        }
                        counts.tick();
                    }
                })
                .ok()
        };
        Live {
            multi,
            counts,
            counts_style,
            started: false,
            bars,
            max_bars: max_bars.max(1),
            tally: Tally::default(),
            verbose: out.verbose,
            start: Instant::now(),
            step_style,
            stop,
            ticker,
        }
    }

    pub fn on(&mut self, ev: &UiEvent<'_>) {
        self.tally.on(ev);
        if let Some(line) = self.above(ev) {
            let _ = self.multi.println(format!("[{:7.2}s] {line}", self.start.elapsed().as_secs_f64()));
        }
        match ev {
            UiEvent::RunStarted { .. } => {
                self.started = true;
                self.counts.set_style(self.counts_style.clone());
            }
            UiEvent::StepStarted { id, attempt } => self.add_bar(id, *attempt),
            UiEvent::StepRetrying { id, .. } | UiEvent::StepFinished { id, .. } => self.remove_bar(id),
            UiEvent::StepWaiting { id, on } => {
                self.message(id, format!("waiting on {}", escape_line(&on.join(", "))));
            }
            UiEvent::StepResumed { id } => self.message(id, String::new()),
            UiEvent::PluginCompiling { name, size, .. } => {
                self.counts.set_message(format!("compiling plugin {name} ({})", crate::units::Size(*size)));
            }
            UiEvent::Progress { id, done, total, message } => {
                let message = escape_line(message);
                let msg = if *total > 0 { format!("[{done}/{total}] {message}") } else { message.into_owned() };
                self.message(id, msg);
            }
            _ => {}
        }
        if !self.started {
            return;
        }
        self.counts.set_length(self.tally.total as u64);
        self.counts.set_position(self.tally.done as u64);
        let hidden = self.tally.running().saturating_sub(self.bars().len());
        let more = if hidden > 0 { format!(" (+{hidden} not shown)") } else { String::new() };
        self.counts.set_message(format!("{}{more}", self.tally.line()));
    }

    /// Whether `ev` is printed above the bars, and how.
    fn above(&self, ev: &UiEvent<'_>) -> Option<String> {
        let notable = match ev {
            UiEvent::RunStarted { .. } | UiEvent::StepRetrying { .. } | UiEvent::Cancelling => true,
            UiEvent::PluginCompiling { size, .. } => *size >= crate::runtime::plugin::SLOW_TO_COMPILE,
            UiEvent::StepFinished { status, .. } => matches!(status, StepStatus::Failed | StepStatus::Cancelled),
            _ => false,
        };
        if notable || self.verbose > 0 { plain::line(ev, self.verbose) } else { None }
    }

    fn bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn add_bar(&mut self, id: &str, attempt: u32) {
        if self.bars().len() >= self.max_bars {
            return;
        }
        let bar = ProgressBar::new_spinner().with_style(self.step_style.clone());
        bar.set_prefix(if attempt > 1 { format!("{id} (attempt {attempt})") } else { id.to_string() });
        let bar = self.multi.insert_before(&self.counts, bar);
        self.bars().insert(id.to_string(), bar);
    }

    fn remove_bar(&mut self, id: &str) {
        let removed = self.bars().remove(id);
        if let Some(bar) = removed {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn message(&mut self, id: &str, msg: String) {
        if let Some(bar) = self.bars().get(id) {
            bar.set_message(msg);
        }
    }

    #[cfg(test)]
    pub fn shown(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.bars().keys().cloned().collect();
        ids.sort();
        ids
    }

    #[cfg(test)]
    pub fn counts_message(&self) -> String {
        self.counts.message()
    }

    #[cfg(test)]
    pub fn bar_message(&self, id: &str) -> Option<String> {
        self.bars().get(id).map(ProgressBar::message)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        for (_, bar) in self.bars().drain() {
            bar.finish_and_clear();
        }
        self.counts.finish_and_clear();
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out() -> Output {
        Output { quiet: false, verbose: 0, color: false }
    }

    #[test]
    fn a_big_plugin_compiling_shows_on_the_status_line_before_the_run_starts() {
        let mut live = Live::new(out(), ProgressDrawTarget::hidden(), 2);
        assert_eq!(live.counts_message(), "loading plugins");
        live.on(&UiEvent::PluginCompiling { name: "junit", size: 18_760_779, cached: true });
        assert_eq!(live.counts_message(), "compiling plugin junit (17.9MiB)");
        assert_eq!(
            live.above(&UiEvent::PluginCompiling { name: "junit", size: 18_760_779, cached: true }).as_deref(),
            Some("compiling plugin junit (17.9MiB), first run only: later runs load it from the compile cache")
        );
        assert_eq!(live.above(&UiEvent::PluginCompiling { name: "tiny", size: 60_000, cached: true }), None);
    }

    #[test]
    fn progress_messages_reach_the_bars_inert() {
        let mut live = Live::new(out(), ProgressDrawTarget::hidden(), 4);
        live.on(&UiEvent::RunStarted { run_id: "r", steps: 1, jobs: 1, log_dir: std::path::Path::new("/x") });
        live.on(&UiEvent::StepStarted { id: "b.s", attempt: 1 });
        live.on(&UiEvent::Progress { id: "b.s", done: 1, total: 2, message: "\x1b[2J\rwiped\nnext" });
        assert_eq!(live.bar_message("b.s").as_deref(), Some(r"[1/2] \x1b[2J\rwiped\nnext"));
        live.on(&UiEvent::StepWaiting { id: "b.s", on: &["a.t\x07".to_string()] });
        assert_eq!(live.bar_message("b.s").as_deref(), Some(r"waiting on a.t\x07"));
    }

    #[test]
    fn running_steps_get_a_bar_up_to_the_limit() {
        let mut live = Live::new(out(), ProgressDrawTarget::hidden(), 2);
        live.on(&UiEvent::RunStarted { run_id: "r", steps: 4, jobs: 4, log_dir: std::path::Path::new("/x") });
        for id in ["b.one", "b.two", "b.three"] {
            live.on(&UiEvent::StepStarted { id, attempt: 1 });
        }
        assert_eq!(live.shown(), ["b.one", "b.two"]);
        assert_eq!(live.counts_message(), "3 running · 1 pending (+1 not shown)");
        live.on(&UiEvent::StepFinished {
            id: "b.one",
            status: StepStatus::Ok,
            seconds: Some(1.0),
            error: None,
            forgiven: false,
        });
        assert_eq!(live.shown(), ["b.two"]);
        live.on(&UiEvent::StepStarted { id: "b.four", attempt: 1 });
        assert_eq!(live.shown(), ["b.four", "b.two"]);
        assert_eq!(live.counts_message(), "3 running · 0 pending (+1 not shown)");
    }
}
