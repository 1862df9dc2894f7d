//! skynet.cluster tests with nodes of the crate's binary on 127.0.0.1.
//!
//! * `frames_are_the_references`: `test/cluster/frames.lua` prints what
//!   `skynet.cluster.core` makes of fixed inputs (requests and responses,
//!   single and in 32 KiB parts, traces, malformed input); the lines must
//!   equal `test/cluster/frames.expected`, captured from the reference
//!   build with the same script.
//! * `three_nodes_names_large_messages_and_a_restart`: servers s1 and s2
//!   and a client (`test/cluster/cluster_node.lua`) named in a cluster table
//!   file. Malformed frames on a raw connection to s2 close that connection
//!   only (another raw connection still gets answers); then the client
//!   calls and sends across nodes by "@name", handle and proxy, with large
//!   messages both ways, server-to-server calls, and unknown node / name
//!   errors, a fake node answering garbage (that link closes), a snax
//!   call through the cluster; s1 is killed while a call to it waits (the call fails with the
//!   reference's "call failed"), restarted on a new port written to the
//!   table file, and the client's calls succeed again after a reload.

#[path = "../test/cluster/nodes.rs"]
mod nodes;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use nodes::{base_config, free_port, repo, Node, Scratch, SAFETY_TIMEOUT};

#[test]
fn frames_are_the_references() {
    let scratch = Scratch::new("cluster-frames");
    let mut config = base_config("frames");
    config.push_str("harbor = 0\n");
    let path = scratch.write("frames.conf", &config);
    let mut node = Node::start("frames", &path);
    node.wait_for("FRAMES END");
    let expected = std::fs::read_to_string(repo().join("test/cluster/frames.expected"))
        .expect("read test/cluster/frames.expected");
    let got: Vec<String> = node
        .lines()
        .iter()
        .filter_map(|l| l.find("FRAMES ").map(|at| l[at..].to_string()))
        .collect();
    let expected: Vec<&str> = expected.lines().collect();
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(
            got.get(i).map(String::as_str),
            Some(*want),
            "frame line {} differs\n{}",
            i + 1,
            node.dump()
        );
    }
    assert_eq!(got.len(), expected.len());
    node.wait_exit();
}

fn table(s1: u16, s2: u16, client: u16, bogus: u16) -> String {
    format!(
        "-- written by tests/cluster.rs\n__nowaiting = true\n\
         s1 = \"127.0.0.1:{s1}\"\ns2 = \"127.0.0.1:{s2}\"\nclient = \"127.0.0.1:{client}\"\n\
         bogus = \"127.0.0.1:{bogus}\"\n"
    )
}

/// A fake node: answers the first request frame with a frame too short to
/// be a response; returns whether the caller then closed the connection.
fn bogus_node(listener: TcpListener) -> thread::JoinHandle<bool> {
    thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return false;
        };
        let _ = conn.set_read_timeout(Some(SAFETY_TIMEOUT));
        let mut head = [0u8; 2];
        if conn.read_exact(&mut head).is_err() {
            return false;
        }
        let mut body = vec![0u8; u16::from_be_bytes(head) as usize];
        if conn.read_exact(&mut body).is_err() || conn.write_all(&[0, 2, 1, 2]).is_err() {
            return false;
        }
        let mut rest = Vec::new();
        conn.read_to_end(&mut rest).is_ok()
    })
}

fn node_config(scratch: &Scratch, name: &str, role: &str) -> std::path::PathBuf {
    let mut c = base_config("cluster_node");
    c.push_str(&format!(
        "harbor = 0\ncluster = \"{}\"\ncluster_name = \"{name}\"\ncluster_role = \"{role}\"\n",
        scratch.dir.join("clustername.lua").display()
    ));
    scratch.write(&format!("{name}.conf"), &c)
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to a cluster port");
    s.set_read_timeout(Some(SAFETY_TIMEOUT))
        .expect("set a read timeout");
    s
}

/// A cluster.query request frame for `name` (a short packed string).
fn query_frame(session: u32, name: &str) -> Vec<u8> {
    assert!(name.len() < 32);
    let mut body = vec![0u8];
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&session.to_le_bytes());
    // skynet.pack of a short string: type 4 with the length in the top bits
    body.push(4 | ((name.len() as u8) << 3));
    body.extend_from_slice(name.as_bytes());
    let mut frame = (body.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// Malformed frames close their connection; others keep working.
fn check_malformed(s2: &Node, port: u16) {
    let mut good = connect(port);
    let mut bad = connect(port);
    // type byte 0x90 is no request type
    bad.write_all(&[0, 3, 0x90, 1, 2])
        .expect("send a bad frame");
    let mut rest = Vec::new();
    bad.read_to_end(&mut rest)
        .expect("the bad connection is closed (EOF), not timed out");
    assert!(rest.is_empty(), "no answer to a bad frame: {rest:?}");
    s2.wait_for("Invalid req package type -112");

    good.write_all(&query_frame(7, "svc"))
        .expect("send a query frame");
    let mut head = [0u8; 2];
    good.read_exact(&mut head).expect("a response header");
    let mut body = vec![0u8; u16::from_be_bytes(head) as usize];
    good.read_exact(&mut body).expect("a response body");
    assert_eq!(&body[..4], &7u32.to_le_bytes(), "the session comes back");
    assert_eq!(body[4], 1, "query of a registered name succeeds: {body:?}");

    // a request cut short by the peer leaves the node running
    let mut cut = connect(port);
    cut.write_all(&[0, 200, 0, 1]).expect("send half a frame");
    drop(cut);
}

#[test]
fn three_nodes_names_large_messages_and_a_restart() {
    let scratch = Scratch::new("cluster");
    let (p1, p2, pc) = (free_port(), free_port(), free_port());
    let bogus = TcpListener::bind("127.0.0.1:0").expect("bind the fake node");
    let pb = bogus.local_addr().expect("fake node address").port();
    let bogus = bogus_node(bogus);
    scratch.write("clustername.lua", &table(p1, p2, pc, pb));
    let s1_conf = node_config(&scratch, "s1", "server");
    let s2_conf = node_config(&scratch, "s2", "server");
    let client_conf = node_config(&scratch, "client", "client");

    let mut s1 = Node::start("s1", &s1_conf);
    let s2 = Node::start("s2", &s2_conf);
    s1.wait_for("CLUSTER READY s1");
    s2.wait_for("CLUSTER READY s2");
    s2.wait_for("Register [svc] :");
    s2.wait_for(&format!("Listen on 127.0.0.1:{p2}"));
    // the servers' "back" calls find no client yet (it starts afterwards)
    assert_eq!(s1.value("CLUSTER TOLD s1 "), "false");
    assert_eq!(s2.value("CLUSTER TOLD s2 "), "false");
    check_malformed(&s2, p2);

    let client = Node::start("client", &client_conf);
    assert_eq!(client.value("CLUSTER ECHO1 "), "s1 a 1");
    assert_eq!(client.value("CLUSTER ECHO2 "), "s2 b 2");
    assert_eq!(
        client.value("CLUSTER LARGE "),
        format!("{} LLLL tail {}", 300 * 1024 + 4, 300 * 1024 + 4)
    );
    s2.wait_for("CLUSTER NOTE s2 70000 PPPPPPPPPPPP");
    assert_eq!(client.value("CLUSTER QUERY "), "number s1");
    assert_eq!(client.value("CLUSTER PROXY "), "s2 viaproxy");
    s2.wait_for("CLUSTER NOTE s2 12 proxied push");
    assert_eq!(client.value("CLUSTER RELAY "), "s2 hop");

    // unknown node: clusterd says why, the call fails with the reference's
    // text (luaL_error: the position of the Lua caller, then the message)
    let nonode = client.value("CLUSTER NONODE ");
    assert!(
        nonode.starts_with("false ")
            && nonode.contains("/lualib/skynet.lua:")
            && nonode.ends_with(": dest address type (nil) must be a string or number."),
        "{nonode}"
    );
    client.wait_for("cluster node [nonode] is absent.");
    // unknown names on a known node
    for (check, log) in [
        ("CLUSTER NONAME ", "Invalid name"),
        ("CLUSTER NOLOCAL ", "call to invalid address"),
        ("CLUSTER NOQUERY ", "name not found"),
    ] {
        let v = client.value(check);
        assert!(
            v.starts_with("false ") && v.ends_with("call failed"),
            "{check}{v}"
        );
        client.wait_for(log);
    }
    // a malformed response closes that link only
    let v = client.value("CLUSTER BOGUS ");
    assert!(v.starts_with("false ") && v.ends_with("call failed"), "{v}");
    assert!(
        bogus.join().unwrap_or(false),
        "the client closes the link that sent a bad response"
    );
    assert_eq!(client.value("CLUSTER SNAX "), "snax over cluster");
    // the reference's numbering (system methods 1-4, then definition order)
    assert_eq!(client.value("CLUSTER SNAXIDS "), "5 6 7 8 9");

    // s1 dies while a call to it waits: the call fails, no hang
    s1.wait_for("CLUSTER SLOW STARTED s1");
    s1.kill();
    let slow = client.value("CLUSTER SLOW ");
    assert!(
        slow.starts_with("false ") && slow.ends_with("call failed"),
        "{slow}"
    );
    let down = client.value("CLUSTER DOWNCALL ");
    assert!(
        down.starts_with("false ") && down.ends_with("call failed"),
        "{down}"
    );

    // s1 comes back elsewhere; the table file says where
    let p1b = free_port();
    scratch.write("clustername.lua", &table(p1b, p2, pc, pb));
    let s1b = Node::start("s1-again", &s1_conf);
    s1b.wait_for(&format!("Listen on 127.0.0.1:{p1b}"));
    assert_eq!(s1b.value("CLUSTER TOLD s1 "), "true");
    assert_eq!(client.value("CLUSTER AGAIN "), "s1 again");
    client.wait_for("CLUSTER DONE");

    for node in [&s2, &s1b, &client] {
        assert!(
            node.lines().iter().all(|l| !l.contains("panicked")),
            "{}",
            node.dump()
        );
    }
}
