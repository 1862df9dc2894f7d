//! Harbor (master/slave) cluster tests: three nodes of the crate's binary on
//! 127.0.0.1 (harbor 1 hosting the master, then 2 and 3), each running
//! `test/cluster/harbor_main.lua`. Checks global names across nodes
//! (harbor.queryname, calls and sends by name and by remote handle), a
//! 1 MiB message, a call to a missing remote service, harbor.connect /
//! harbor.link, a slave going down (the master's and the other slaves'
//! reports), and a restarted slave being refused by the master as in the
//! reference (a harbor id can join only once).
//!
//! The wire-level tests play harbor slave 4 themselves over raw TCP (a
//! master connection speaking cmaster's packages, a listener for the links
//! the nodes open, a link opened to a waiting node): messages sent while a
//! link is still handshaking are queued and then sent in order, and bad
//! frames (a length of 16 MiB or more, a message shorter than its 12-byte
//! trailer) close only that link while the node's other links keep
//! working. Nodes run `test/cluster/harbor_wire.lua`.
//!
//! Stands for running the reference's examples/config (harbor = 1 with
//! master) with more nodes by hand; the reference has no harness.

#[path = "../test/cluster/nodes.rs"]
mod nodes;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

use nodes::{base_config, free_port, Node, Scratch, SAFETY_TIMEOUT};

/// The tests of this file run one at a time: each starts several nodes and
/// picks free ports by binding and releasing them, so running them side by
/// side on a 2-core machine races for ports and CPU.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn harbor_config(id: u8, master: u16, address: u16) -> String {
    harbor_config_with("harbor_main", id, master, address)
}

fn harbor_config_with(start: &str, id: u8, master: u16, address: u16) -> String {
    let mut c = base_config(start);
    c.push_str(&format!(
        "harbor = {id}\naddress = \"127.0.0.1:{address}\"\nmaster = \"127.0.0.1:{master}\"\n"
    ));
    if id == 1 {
        c.push_str(&format!("standalone = \"127.0.0.1:{master}\"\n"));
    }
    c
}

/// Checks the lines a node prints about harbor `other` (see harbor_main.lua).
fn check_exercise(node: &Node, me: u8, other: u8) {
    let query = node.value(&format!("HARBOR QUERY{other} "));
    let (handle, harbor) = query.split_once(' ').expect("handle and harbor id");
    assert!(
        handle.starts_with(&format!(":{other:02x}")),
        "the global name of node {other} has its harbor bits: {query}"
    );
    assert_eq!(harbor, other.to_string());
    assert_eq!(
        node.value(&format!("HARBOR CALLNAME{other} ")),
        format!("hello {me}")
    );
    assert_eq!(
        node.value(&format!("HARBOR CALLHANDLE{other} ")),
        format!("true {other}")
    );
    assert_eq!(
        node.value(&format!("HARBOR LARGE{other} ")),
        format!("1048576 BBBBBBBB BBBBB{me}xy")
    );
    let missing = node.value(&format!("HARBOR MISSING{other} "));
    assert!(
        missing.starts_with("false") && missing.ends_with("call failed"),
        "a call to a missing remote service fails: {missing}"
    );
}

#[test]
fn three_harbors_names_large_messages_and_a_slave_going_down() {
    let _serial = one_at_a_time();
    let scratch = Scratch::new("harbor");
    let master = free_port();
    let ports = [free_port(), free_port(), free_port()];
    let config = |id: u8| {
        scratch.write(
            &format!("node{id}.conf"),
            &harbor_config(id, master, ports[id as usize - 1]),
        )
    };

    let n1 = Node::start("harbor1", &config(1));
    n1.wait_for(&format!("master listen socket 127.0.0.1:{master}"));
    n1.wait_for("Waiting for 0 harbors");
    n1.wait_for("HARBOR READY 1");

    let n2 = Node::start("harbor2", &config(2));
    n2.wait_for("Waiting for 1 harbors");
    n2.wait_for("Harbor 1 connected");
    n2.wait_for("HARBOR DONE 2");
    check_exercise(&n2, 2, 1);
    n1.wait_for("Connect to harbor 2 (fd=");
    n1.wait_for("HARBOR NOTE from 2 to 1");
    n1.wait_for("HARBOR NOTE 2 joined");
    // the missing service's node logs the bounced call
    n1.wait_for("Unknown destination :100ffff from :2");

    let mut n3 = Node::start("harbor3", &config(3));
    n3.wait_for("Waiting for 2 harbors");
    n3.wait_for("HARBOR DONE 3");
    check_exercise(&n3, 3, 1);
    check_exercise(&n3, 3, 2);
    n1.wait_for("HARBOR CONNECTED 3");
    n1.wait_for("HARBOR NOTE from 3 to 1");
    n2.wait_for("HARBOR NOTE from 3 to 2");
    n2.wait_for("HARBOR NOTE 3 joined");

    // slave 3 dies: the master reports it, harbor.link(3) returns on node 1
    n3.kill();
    n1.wait_for("slave 3 is down");
    n1.wait_for("HARBOR LINK 3 DOWN");

    // a harbor id joins only once: the restarted slave is refused and its
    // node stops
    let mut again = Node::start("harbor3-again", &config(3));
    let refused = n1.wait_for("Slave 3 already register on");
    assert!(
        refused.contains("disconnect fd =") && refused.contains(&format!("127.0.0.1:{}", ports[2])),
        "{refused}"
    );
    again.wait_exit();

    // nodes 1 and 2 are unharmed
    assert!(n1.lines().iter().all(|l| !l.contains("panicked")));
    assert!(n2.lines().iter().all(|l| !l.contains("panicked")));
}

/// A skynet.packstring short string (lua-seri: type 4, length in the
/// cookie bits).
fn seri_str(out: &mut Vec<u8>, s: &str) {
    assert!(s.len() < 32, "short strings only");
    out.push(4 | ((s.len() as u8) << 3));
    out.extend_from_slice(s.as_bytes());
}

/// A skynet.packstring integer (lua-seri: type 2, a 4-byte word).
fn seri_int(out: &mut Vec<u8>, n: i32) {
    out.push(2 | (4 << 3));
    out.extend_from_slice(&n.to_le_bytes());
}

/// One cmaster package: a length byte and the packed fields.
fn master_package(body: Vec<u8>) -> Vec<u8> {
    let mut p = vec![u8::try_from(body.len()).expect("a short package")];
    p.extend(body);
    p
}

fn read_exact(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).expect("read from a node");
    buf
}

fn connected(stream: TcpStream) -> TcpStream {
    stream.set_read_timeout(Some(SAFETY_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Harbor id of the fake slave played by the test.
const FAKE: u8 = 4;
/// A handle on the fake harbor.
const FAKE_HANDLE: u32 = 0x0400_0010;
const PTYPE_LUA: u32 = 10;
const PTYPE_ERROR: u32 = 7;

/// The test playing harbor slave 4: its connection to the master and the
/// listener the nodes connect to.
struct FakeSlave {
    master: TcpStream,
    listener: TcpListener,
}

impl FakeSlave {
    /// Says hello to the master (H 4 address) and reads its W answer.
    fn join(master: u16) -> FakeSlave {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake harbor");
        let address = listener.local_addr().unwrap().to_string();
        let mut stream = connected(TcpStream::connect(("127.0.0.1", master)).unwrap());
        let mut hello = Vec::new();
        seri_str(&mut hello, "H");
        seri_int(&mut hello, FAKE as i32);
        seri_str(&mut hello, &address);
        stream.write_all(&master_package(hello)).unwrap();
        let len = read_exact(&mut stream, 1)[0] as usize;
        let answer = read_exact(&mut stream, len);
        assert_eq!(answer[..2], [4 | (1 << 3), b'W'], "the master answers W n");
        FakeSlave {
            master: stream,
            listener,
        }
    }

    /// Registers a global name (R name handle) with the master.
    fn register(&mut self, name: &str, handle: u32) {
        let mut body = Vec::new();
        seri_str(&mut body, "R");
        seri_str(&mut body, name);
        seri_int(&mut body, handle as i32);
        self.master.write_all(&master_package(body)).unwrap();
    }

    /// Accepts the link a node opens to us and reads its id byte (it is
    /// then waiting for ours).
    fn accept(&self, from: u8) -> TcpStream {
        let (stream, _) = self.listener.accept().expect("a node connects");
        let mut stream = connected(stream);
        assert_eq!(read_exact(&mut stream, 1), [from], "the node's id byte");
        stream
    }
}

/// Opens a link to a node waiting for older harbors, as harbor 4.
fn link_to(port: u16, node_id: u8) -> TcpStream {
    let mut stream = connected(TcpStream::connect(("127.0.0.1", port)).unwrap());
    stream.write_all(&[FAKE]).unwrap();
    assert_eq!(read_exact(&mut stream, 1), [node_id], "the node's id byte");
    stream
}

/// A frame: length, message, source, type << 24 | handle, session.
fn frame(message: &[u8], source: u32, destination: u32, session: u32) -> Vec<u8> {
    let mut f = ((message.len() + 12) as u32).to_be_bytes().to_vec();
    f.extend_from_slice(message);
    for word in [source, destination, session] {
        f.extend_from_slice(&word.to_be_bytes());
    }
    f
}

/// Reads one frame: message, source, destination cookie, session.
fn read_frame(stream: &mut TcpStream) -> (Vec<u8>, u32, u32, u32) {
    let head = read_exact(stream, 4);
    let len = u32::from_be_bytes(head.try_into().unwrap()) as usize;
    assert!(len >= 12, "a frame holds its trailer: {len}");
    let body = read_exact(stream, len);
    let word = |i: usize| u32::from_be_bytes(body[i..i + 4].try_into().unwrap());
    let at = len - 12;
    (body[..at].to_vec(), word(at), word(at + 4), word(at + 8))
}

/// Asserts the node closed the link (end of stream or a reset).
fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("the link stays open and sent {n} bytes"),
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ),
            "the link is closed, not {e}"
        ),
    }
}

#[test]
fn messages_to_a_handshaking_harbor_are_queued_and_sent_in_order() {
    let _serial = one_at_a_time();
    let scratch = Scratch::new("harbor-queue");
    let master = free_port();
    let config = harbor_config_with("harbor_wire", 1, master, free_port());
    let n1 = Node::start("harbor1", &scratch.write("node1.conf", &config));
    n1.wait_for("HARBOR READY 1");

    let mut fake = FakeSlave::join(master);
    // node 1 connects to us and sent its id byte: its link to harbor 4 is
    // handshaking until we answer
    let mut link = fake.accept(1);
    fake.register("FAKE4", FAKE_HANDLE);
    n1.wait_for("HARBOR BURST 50");
    link.write_all(&[FAKE]).unwrap();

    for i in 1..=50 {
        let (message, source, destination, session) = read_frame(&mut link);
        let mut expected = Vec::new();
        seri_str(&mut expected, &format!("msg{i}"));
        assert_eq!(message, expected, "message {i} in order");
        assert_eq!(source >> 24, 1, "sent from harbor 1: {source:08x}");
        assert_eq!(destination, PTYPE_LUA << 24 | (FAKE_HANDLE & 0x00ff_ffff));
        assert_eq!(session, 0);
    }
    assert!(n1.lines().iter().all(|l| !l.contains("panicked")));
}

/// Nodes 1 and 2 and the fake harbor 4 linked to both; returns the nodes,
/// the fake and its link to node 2.
fn two_nodes_and_a_fake(scratch: &Scratch) -> (Node, Node, FakeSlave, TcpStream, TcpStream) {
    let master = free_port();
    let ports = [free_port(), free_port()];
    let config = |id: u8| {
        scratch.write(
            &format!("node{id}.conf"),
            &harbor_config_with("harbor_wire", id, master, ports[id as usize - 1]),
        )
    };
    let n1 = Node::start("harbor1", &config(1));
    n1.wait_for("HARBOR READY 1");
    let fake = FakeSlave::join(master);
    let mut to_n1 = fake.accept(1);
    to_n1.write_all(&[FAKE]).unwrap();

    let n2 = Node::start("harbor2", &config(2));
    n2.wait_for("Waiting for 2 harbors");
    let to_n2 = link_to(ports[1], 2);
    n2.wait_for(&format!("Harbor {FAKE} connected"));
    n2.wait_for("HARBOR READY 2");
    (n1, n2, fake, to_n1, to_n2)
}

/// Sends `bad` on the fake's link to node 2: node 2 logs `log` and closes
/// that link; its link to node 1 still carries a call, and a call to the
/// fake harbor now fails at once.
fn bad_frame_closes_only_its_link(label: &str, bad: &[u8], log: &str) {
    let scratch = Scratch::new(label);
    let (n1, n2, mut fake, _to_n1, mut to_n2) = two_nodes_and_a_fake(&scratch);
    to_n2.write_all(bad).unwrap();
    n2.wait_for(log);
    assert_closed(&mut to_n2);

    fake.register("GO4", FAKE_HANDLE);
    assert_eq!(n2.value("HARBOR CALL1 "), "after 2");
    let failed = n2.value("HARBOR FAKE ");
    assert!(
        failed.starts_with("false") && failed.ends_with("call failed"),
        "a call to the closed harbor fails: {failed}"
    );
    n2.wait_for(&format!("Drop message to harbor {FAKE} from"));
    for n in [&n1, &n2] {
        assert!(
            n.lines().iter().all(|l| !l.contains("panicked")),
            "{}",
            n.dump()
        );
    }
}

#[test]
fn a_frame_shorter_than_its_trailer_closes_only_that_link() {
    let _serial = one_at_a_time();
    // 5 message bytes where the 12-byte trailer should be
    bad_frame_closes_only_its_link(
        "harbor-short",
        &[0, 0, 0, 5, 1, 2, 3, 4, 5],
        &format!("Invalid message (size=5) from harbor {FAKE}"),
    );
}

#[test]
fn a_garbage_length_closes_only_that_link() {
    let _serial = one_at_a_time();
    bad_frame_closes_only_its_link(
        "harbor-garbage",
        &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        &format!("Message is too long from harbor {FAKE}"),
    );
}

#[test]
fn the_largest_frame_passes_and_a_16_mib_one_closes_the_link() {
    let _serial = one_at_a_time();
    let scratch = Scratch::new("harbor-limit");
    let (n1, n2, _fake, _to_n1, mut to_n2) = two_nodes_and_a_fake(&scratch);

    // 16 MiB - 1 bytes in all (the most the first length byte 0 allows),
    // for a handle of node 2 where nothing lives: node 2 reads it whole,
    // logs it and sends the source an error back over the same link
    let message = vec![b'L'; 0x00ff_ffff - 12];
    let missing = PTYPE_LUA << 24 | 0xffff;
    to_n2
        .write_all(&frame(&message, FAKE_HANDLE, missing, 77))
        .unwrap();
    n2.wait_for("Unknown destination :200ffff from :4000010 type(10)");
    let (reply, source, destination, session) = read_frame(&mut to_n2);
    assert!(reply.is_empty());
    assert_eq!(source, 0x0200_ffff);
    assert_eq!(destination, PTYPE_ERROR << 24 | (FAKE_HANDLE & 0x00ff_ffff));
    assert_eq!(session, 77);

    // a header announcing 16 MiB (first length byte 1) closes the link
    // without waiting for the message
    to_n2.write_all(&0x0100_0000u32.to_be_bytes()).unwrap();
    n2.wait_for(&format!("Message is too long from harbor {FAKE}"));
    assert_closed(&mut to_n2);
    for n in [&n1, &n2] {
        assert!(
            n.lines().iter().all(|l| !l.contains("panicked")),
            "{}",
            n.dump()
        );
    }
}
