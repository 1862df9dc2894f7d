//! The native service API: what a service written in Rust implements, and
//! the factories the module registry keeps. Stands for the
//! `create/init/release/signal` quartet of a reference C service module
//! (skynet_module.h), in safe Rust.
//!
//! A service is created by its factory, initialised once with its argument
//! string on the launching thread, then receives its messages one at a time
//! on worker threads. It is dropped (its "release") after it has been
//! retired and no dispatch is running.

use std::sync::Arc;

use crate::context::Context;
use crate::message::Message;

/// Called with a signal number from any thread, possibly while the service
/// is inside a dispatch (the reference's `NAME_signal`). Must be thread-safe.
pub type SignalHandler = Arc<dyn Fn(i32) + Send + Sync>;

/// A running service instance.
pub trait Service: Send + 'static {
    /// Runs once, before any message is dispatched. An error fails the
    /// launch: it is logged, then `error: launch NAME FAILED`.
    fn init(&mut self, ctx: &Arc<Context>, args: &str) -> Result<(), String>;

    /// Handles one message; the payload is the service's to keep or drop.
    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message);

    /// A handler for the `SIGNAL` command, if the service takes signals.
    fn signal_handler(&self) -> Option<SignalHandler> {
        None
    }
}

/// Makes service instances of one module.
pub trait ServiceFactory: Send + Sync {
    /// A fresh instance, or an error text when one cannot be made. Runs
    /// under the module registry's read lock: build the instance and
    /// nothing more (registering a module from here would deadlock; the
    /// work of starting belongs in `Service::init`).
    fn create(&self) -> Result<Box<dyn Service>, String>;
}

impl<F> ServiceFactory for F
where
    F: Fn() -> Box<dyn Service> + Send + Sync,
{
    fn create(&self) -> Result<Box<dyn Service>, String> {
        Ok(self())
    }
}
