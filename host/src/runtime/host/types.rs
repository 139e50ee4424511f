//! `baton:stage/types` has no functions; its trait is empty.

use crate::runtime::bindings::baton::stage::types::Host;
use crate::runtime::state::StepState;

impl Host for StepState {}
