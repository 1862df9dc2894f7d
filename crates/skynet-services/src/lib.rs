//! skynet-services: the native services of a node (the reference's
//! `service-src/`): the logger, and the harbor router.

pub mod harbor;
pub mod logger;

/// Registers every native service of this crate with `node`.
pub fn register_all(node: &skynet_core::Node) {
    logger::register(node);
    harbor::register(node);
}
