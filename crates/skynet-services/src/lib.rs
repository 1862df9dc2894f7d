//! skynet-services: the native services of a node (the reference's
//! `service-src/`): the logger, the harbor router and the gate.

pub mod gate;
pub mod harbor;
pub mod logger;

/// Registers every native service of this crate with `node`.
pub fn register_all(node: &skynet_core::Node) {
    logger::register(node);
    harbor::register(node);
    gate::register(node);
}
