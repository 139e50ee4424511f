//! Which compiler makes a plugin's code (`BATON_COMPILER`), and the idle
//! priority thread pool the background Cranelift compile runs on.
//!
//! Tiered compilation: Cranelift makes fast code slowly (5-6 s for a 13-18 MB
//! Python or JavaScript plugin), Winch makes code about 1.5x slower 3-5x
//! faster. A plugin with no compiled code in the cache starts on Winch's
//! code while Cranelift compiles it behind, at idle priority so that it only
//! uses cores the steps leave free; steps that start once that is done run
//! on Cranelift's code, which the cache keeps for later runs. Winch's
//! artifacts cannot be loaded by an engine configured for Cranelift
//! (`Tunables::winch_callable` is part of the compatibility check), so each
//! tier has an engine (and a pooling allocator) of its own.

use std::sync::OnceLock;

/// `BATON_COMPILER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiler {
    /// Winch first, Cranelift in the background (the default).
    Tiered,
    /// Winch only (Cranelift where Winch refuses a component).
    Winch,
    /// Cranelift only.
    Cranelift,
}

impl Compiler {
    /// The compiler `BATON_COMPILER` asks for.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(crate::env_vars::COMPILER) {
            Err(std::env::VarError::NotPresent) => Ok(Self::Tiered),
            Ok(v) => Self::parse(&v),
            Err(e) => Err(format!("{}: {e}", crate::env_vars::COMPILER)),
        }
    }

    fn parse(v: &str) -> Result<Self, String> {
        match v {
            "" | "tiered" => Ok(Self::Tiered),
            "winch" => Ok(Self::Winch),
            "cranelift" => Ok(Self::Cranelift),
            other => Err(format!(
                "{}={other:?} is not a compiler: use `tiered` (the default), `winch` or `cranelift`",
                crate::env_vars::COMPILER
            )),
        }
    }
}

/// The compiler of a piece of code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Winch,
    Cranelift,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Winch => "winch",
            Tier::Cranelift => "cranelift",
        }
    }
}

/// Makes the calling thread run only when a core would otherwise be idle
/// (`SCHED_IDLE`, and the lowest nice value in case that is refused). On
/// Linux both are per thread.
pub fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread, with valid arguments.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

/// The pool background compiles run on: one idle-priority thread per core
/// (wasmtime compiles a component's functions in parallel on the rayon pool
/// it is called from). `None` if its threads cannot be started.
pub fn background_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
            .thread_name(|i| format!("baton-tier-up-{i}"))
            .start_handler(|_| lower_priority())
            .build()
            .ok()
    })
    .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_compilers_and_refuses_others() {
        assert_eq!(Compiler::parse("tiered"), Ok(Compiler::Tiered));
        assert_eq!(Compiler::parse(""), Ok(Compiler::Tiered));
        assert_eq!(Compiler::parse("winch"), Ok(Compiler::Winch));
        assert_eq!(Compiler::parse("cranelift"), Ok(Compiler::Cranelift));
        let e = Compiler::parse("llvm").unwrap_err();
        assert!(e.contains("BATON_COMPILER=\"llvm\" is not a compiler"), "{e}");
    }
}
