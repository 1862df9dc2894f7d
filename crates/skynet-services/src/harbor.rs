//! The `harbor` service: delivers messages addressed to other nodes or to
//! global names. Stands for the reference's `service-src/service_harbor.c`
//! — for now its single-node part (harbor id 0 with `cdummy` as the slave):
//! the global name table fed by the slave (`N name`, sent with the named
//! service as source), delivery of name-addressed messages, and holding
//! messages for a name until it is registered. Links to other nodes
//! (master/slave mode) are not implemented yet: a message for another
//! harbor is refused and its sender gets an error reply.
//!
//! Senders reach the service through the node's [`RemoteRouter`]: the
//! message goes into a side queue and a PTYPE_SYSTEM message wakes the
//! service, which handles one queued message per wake-up, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use skynet_core::harbor::{RemoteMessage, RemoteRouter, RemoteTarget};
use skynet_core::message::{PTYPE_ERROR, PTYPE_HARBOR, PTYPE_SYSTEM};
use skynet_core::{Context, Handle, Message, Node, Payload, Service};

/// Longest global name, as in the reference's wire format.
pub const GLOBALNAME_LENGTH: usize = 16;

struct Router {
    handle: Handle,
    node: Weak<Node>,
    inbox: Mutex<VecDeque<RemoteMessage>>,
}

impl RemoteRouter for Router {
    fn route(&self, msg: RemoteMessage) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        self.inbox.lock().push_back(msg);
        let wake = Message::new(0, 0, PTYPE_SYSTEM, Payload::empty());
        if node.push(self.handle, wake).is_err() {
            // The harbor service is gone: bounce what waits.
            let waiting: Vec<RemoteMessage> = self.inbox.lock().drain(..).collect();
            for m in waiting {
                bounce(&node, m);
            }
        }
    }
}

/// Sends the sender of an undeliverable message an error reply.
fn bounce(node: &Node, msg: RemoteMessage) {
    if msg.source != 0 {
        let reply = Message::new(0, msg.session, PTYPE_ERROR, Payload::empty());
        let _ = node.push(msg.source, reply);
    }
}

pub struct Harbor {
    id: u8,
    slave: Handle,
    router: Option<Arc<Router>>,
    names: HashMap<String, Handle>,
    /// Messages waiting for a global name to be registered.
    pending: HashMap<String, Vec<RemoteMessage>>,
}

/// Registers the `harbor` module with a node.
pub fn register(node: &Node) {
    node.modules().register(
        "harbor",
        Arc::new(|| {
            Box::new(Harbor {
                id: 0,
                slave: 0,
                router: None,
                names: HashMap::new(),
                pending: HashMap::new(),
            }) as Box<dyn Service>
        }),
    );
}

impl Harbor {
    fn deliver(&mut self, ctx: &Context, msg: RemoteMessage) {
        match &msg.destination {
            RemoteTarget::Handle(h) => {
                let h = *h;
                if (h >> 24) as u8 == self.id || h >> 24 == 0 {
                    let m = Message::new(msg.source, msg.session, msg.ptype, msg.payload);
                    let _ = ctx.node().push(h, m);
                } else {
                    ctx.log(format!(
                        "error: No connection to harbor {} for a message to :{h:08x}",
                        h >> 24
                    ));
                    bounce(ctx.node(), msg);
                }
            }
            RemoteTarget::Name(name) => {
                let name = name.clone();
                match self.names.get(&name) {
                    Some(&h) => {
                        let m = Message::new(msg.source, msg.session, msg.ptype, msg.payload);
                        let _ = ctx.node().push(h, m);
                    }
                    None => self.pending.entry(name).or_default().push(msg),
                }
            }
        }
    }

    fn slave_command(&mut self, ctx: &Context, source: Handle, text: &str) {
        if let Some(name) = text.strip_prefix("N ") {
            let name: String = name.chars().take(GLOBALNAME_LENGTH).collect();
            self.names.insert(name.clone(), source);
            if let Some(waiting) = self.pending.remove(&name) {
                for m in waiting {
                    self.deliver(ctx, m);
                }
            }
        } else {
            ctx.log(format!("error: Unknown harbor command {text}"));
        }
    }
}

impl Service for Harbor {
    fn init(&mut self, ctx: &Arc<Context>, args: &str) -> Result<(), String> {
        let mut words = args.split_whitespace();
        let id: u8 = words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("harbor: bad arguments '{args}'"))?;
        let slave = words
            .next()
            .map(|w| match w.strip_prefix(':') {
                Some(hex) => skynet_core::context::parse_hex_handle(hex),
                None => w.parse().unwrap_or(0),
            })
            .unwrap_or(0);
        if slave == 0 {
            return Err(format!("harbor: bad slave address in '{args}'"));
        }
        self.id = id;
        self.slave = slave;
        let router = Arc::new(Router {
            handle: ctx.handle(),
            node: Arc::downgrade(ctx.node()),
            inbox: Mutex::new(VecDeque::new()),
        });
        ctx.node().set_router(Some(router.clone()));
        self.router = Some(router);
        Ok(())
    }

    fn dispatch(&mut self, ctx: &Arc<Context>, msg: Message) {
        match msg.ptype {
            PTYPE_SYSTEM => {
                let next = self
                    .router
                    .as_ref()
                    .and_then(|r| r.inbox.lock().pop_front());
                if let Some(m) = next {
                    self.deliver(ctx, m);
                }
            }
            PTYPE_HARBOR => {
                let text = String::from_utf8_lossy(msg.payload.as_slice()).into_owned();
                self.slave_command(ctx, msg.source, &text);
            }
            _ => {}
        }
    }
}

impl Drop for Harbor {
    fn drop(&mut self) {
        if let Some(r) = self.router.take() {
            if let Some(node) = r.node.upgrade() {
                node.set_router(None);
                let waiting: Vec<RemoteMessage> = r.inbox.lock().drain(..).collect();
                for m in waiting {
                    bounce(&node, m);
                }
            }
        }
    }
}
