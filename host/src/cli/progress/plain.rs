//! Plain progress: one line per event on stderr, prefixed with the time
//! since the run started. Stable and greppable: what logs and CI see when
//! stderr is not a terminal. The live view prints the same lines above its
//! bars.

use crate::cli::Output;
use crate::runtime::plugin::SLOW_TO_COMPILE;
use crate::scheduler::{Observer, UiEvent};
use crate::status::StepStatus;
use crate::units::Size;

pub fn observer(out: Output) -> Observer {
    let start = std::time::Instant::now();
    Box::new(move |ev: &UiEvent<'_>| {
        if let Some(line) = line(ev, out.verbose) {
            eprintln!("[{:7.2}s] {line}", start.elapsed().as_secs_f64());
        }
    })
}

/// The line for `ev`, if it gets one at this verbosity.
pub fn line(ev: &UiEvent<'_>, verbose: u8) -> Option<String> {
    let line = match ev {
        UiEvent::RunStarted { run_id, steps, jobs, .. } => format!("run {run_id}: {steps} steps, {jobs} jobs"),
        UiEvent::StepStarted { id, attempt } if *attempt > 1 => {
            format!("  start {id} (attempt {attempt})")
        }
        UiEvent::StepStarted { id, .. } => format!("  start {id}"),
        UiEvent::StepFinished { id, status, seconds, error, forgiven } => {
            let dur = seconds.map(|s| format!(" ({s:.2}s)")).unwrap_or_default();
            match (status, error) {
                (StepStatus::Excluded, _) => return None,
                (StepStatus::Ok, _) => format!("     ok {id}{dur}"),
                (StepStatus::PreviouslyDone, _) => format!("   done {id} (previously done)"),
                (StepStatus::Cached, _) => format!(" cached {id}"),
                (StepStatus::Failed, Some(e)) if *forgiven => {
                    format!(" FAILED {id}{dur} [forgiven]: {e}")
                }
                (StepStatus::Failed, Some(e)) => format!(" FAILED {id}{dur}: {e}"),
                (StepStatus::Cancelled, _) => format!("  CANCELLED {id}{dur}"),
                (StepStatus::Skipped, Some(e)) => format!("   skip {id}: {e}"),
                (s, _) => format!("  {s:?} {id}"),
            }
        }
        UiEvent::StepRetrying { id, next_attempt, delay, error } => {
            format!("  retry {id} in {:.1}s (attempt {next_attempt}): {error}", delay.as_secs_f64())
        }
        UiEvent::StepWaiting { id, on } if verbose > 0 => {
            format!("   wait {id} on {}", on.join(", "))
        }
        UiEvent::StepResumed { id } if verbose > 0 => format!(" resume {id}"),
        UiEvent::Progress { id, done, total, message } if verbose > 0 => {
            format!("       {id} [{done}/{total}] {message}")
        }
        UiEvent::PluginCompiling { name, size, cached } if *size >= SLOW_TO_COMPILE || verbose > 0 => {
            compiling_line(name, *size, *cached)
        }
        UiEvent::PluginLoaded(l) if verbose > 0 => format!(
            "plugin {} ({} KiB, baton:stage@{}): {} in {:.1}ms{}",
            l.name,
            l.size / 1024,
            l.contract,
            if l.cache == "hit" { "loaded from the compile cache" } else { "compiled" },
            l.seconds * 1e3,
            match (l.compiler.as_str(), &l.fallback) {
                (c, Some(why)) => format!(", {c} code ({why})"),
                (c, None) => format!(", {c} code"),
            }
        ),
        UiEvent::Cancelling => {
            "cancelling: stopping running steps, then running the `always` steps (interrupt again to exit at once)"
                .to_string()
        }
        _ => return None,
    };
    // Errors and progress messages come from stages: shown inert.
    Some(crate::text::escape_text(&line).into_owned())
}

/// What a run says while a plugin compiles.
pub fn compiling_line(name: &str, size: u64, cached: bool) -> String {
    if cached {
        format!("compiling plugin {name} ({}), first run only: later runs load it from the compile cache", Size(size))
    } else {
        format!("compiling plugin {name} ({}); the compile cache is off, so every run compiles it", Size(size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compile_is_announced_for_big_plugins_and_with_the_cache_off_says_so() {
        let big = UiEvent::PluginCompiling { name: "junit", size: 18_760_779, cached: false };
        assert_eq!(
            line(&big, 0).as_deref(),
            Some("compiling plugin junit (17.9MiB); the compile cache is off, so every run compiles it")
        );
        let small = UiEvent::PluginCompiling { name: "tiny", size: 60_000, cached: true };
        assert_eq!(line(&small, 0), None);
        assert_eq!(
            line(&small, 1).as_deref(),
            Some("compiling plugin tiny (58.6KiB), first run only: later runs load it from the compile cache")
        );
    }
}
