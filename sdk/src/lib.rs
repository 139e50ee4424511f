//! # baton-sdk: write baton stage plugins in Rust
//!
//! A baton stage is a WebAssembly component that carries out one step of a
//! pipeline inside a sandbox. This crate is all a plugin depends on: implement
//! [`Stage`], export it with [`export_stage!`], and use the wrappers for what
//! the host provides:
//!
//! - [`log`]: the step log ([`info!`], [`warn!`], [`error!`], [`debug!`], [`progress`](log::progress));
//! - [`process`]: running allowed programs in the workspace ([`Command`]);
//! - [`artifacts`]: publishing and fetching content-addressed artifacts;
//! - [`signals`]: raising and waiting on dependency signals across boards.
//!
//! The board's workspace is the sandbox's `/workspace` and the current
//! directory when [`Stage::run`] starts, so `std::fs` works on it directly
//! with relative paths; a private scratch `/tmp` is the only other directory,
//! and nothing else of the host is visible.
//!
//! # Example
//!
//! ```no_run
//! use baton_sdk::{Command, Error, Meta, Stage, Step};
//! use serde::Deserialize;
//!
//! /// The step's `with` table.
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     target: String,
//!     #[serde(default)]
//!     jobs: Option<u32>,
//! }
//!
//! struct Make;
//!
//! impl Stage for Make {
//!     fn describe() -> Meta {
//!         Meta::new("make", env!("CARGO_PKG_VERSION")).description("runs one make target")
//!     }
//!
//!     fn run(step: &Step) -> Result<(), Error> {
//!         let config: Config = step.config()?;
//!         baton_sdk::info!("building {} on {}", config.target, step.board());
//!         let jobs = format!("-j{}", config.jobs.unwrap_or(1));
//!         let out = Command::new("make").arg(&jobs).arg(&config.target).run()?;
//!         if !out.success() {
//!             return Err(Error::failed(format!("make {} {}", config.target, out.describe())));
//!         }
//!         baton_sdk::artifacts::put("build-log", "build.log")?;
//!         Ok(())
//!     }
//! }
//!
//! baton_sdk::export_stage!(Make);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` from a
//! `cdylib` crate, and name the `.wasm` in the pipeline's `[plugins]` table.
#![deny(missing_docs)]

// Lets the generated bindings name this crate as `baton_sdk` from inside it.
extern crate self as baton_sdk;

pub mod artifacts;
mod error;
pub mod log;
mod meta;
pub mod process;
pub mod signals;
mod step;
#[doc(hidden)]
pub mod wit;

pub use error::Error;
pub use meta::Meta;
pub use process::{Child, Command, Output};
pub use step::Step;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// A stage: what a plugin implements. One call of [`Stage::run`] is one
/// attempt of one step, in a fresh sandbox.
pub trait Stage {
    /// Describes the stage: name, version, config schema.
    fn describe() -> Meta;

    /// Carries out the step. Returning an error fails the step with its message.
    fn run(step: &Step) -> Result<(), Error>;
}

/// Exports a [`Stage`] implementation as the component's `baton:stage/plugin`.
///
/// ```no_run
/// struct Nothing;
/// impl baton_sdk::Stage for Nothing {
///     fn describe() -> baton_sdk::Meta {
///         baton_sdk::Meta::new("nothing", "1.0.0")
///     }
///     fn run(_: &baton_sdk::Step) -> Result<(), baton_sdk::Error> {
///         Ok(())
///     }
/// }
/// baton_sdk::export_stage!(Nothing);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_stage {
    ($stage:ty) => {
        const _: () = {
            #[allow(dead_code)]
            struct __BatonStage;
            impl $crate::wit::exports::baton::stage::plugin::Guest for __BatonStage {
                fn run(
                    info: $crate::wit::baton::stage::types::StepInfo,
                ) -> ::core::result::Result<(), $crate::wit::baton::stage::types::StageError> {
                    $crate::__private::run::<$stage>(info)
                }
                fn describe() -> $crate::wit::baton::stage::types::StageMeta {
                    $crate::__private::describe::<$stage>()
                }
            }
            // Exports exist only in the wasm build; a native build of the
            // plugin crate (unit tests, clippy) has nothing to link.
            #[cfg(target_arch = "wasm32")]
    $crate::wit::__export_stage_world!(__BatonStage with_types_in $crate::wit);
            #[cfg(not(target_arch = "wasm32"))]
            const _: () = {
                let _ = <__BatonStage as $crate::wit::exports::baton::stage::plugin::Guest>::run;
                let _ = <__BatonStage as $crate::wit::exports::baton::stage::plugin::Guest>::describe;
            };
        };
    };
}

#[doc(hidden)]
pub mod __private {
    use crate::wit::baton::stage::types::{StageError, StageMeta, StepInfo};
    use crate::{Stage, Step};

    pub fn run<S: Stage>(info: StepInfo) -> Result<(), StageError> {
        // Relative paths mean the workspace (wasi-libc starts in `/`).
        let _ = std::env::set_current_dir(&info.workspace);
        S::run(&Step::new(info)).map_err(Into::into)
    }

    pub fn describe<S: Stage>() -> StageMeta {
        S::describe().into()
    }
}
