//! Harbor (master/slave) cluster tests: three nodes of the crate's binary on
//! 127.0.0.1 (harbor 1 hosting the master, then 2 and 3), each running
//! `test/cluster/harbor_main.lua`. Checks global names across nodes
//! (harbor.queryname, calls and sends by name and by remote handle), a
//! 1 MiB message, a call to a missing remote service, harbor.connect /
//! harbor.link, a slave going down (the master's and the other slaves'
//! reports), and a restarted slave being refused by the master as in the
//! reference (a harbor id can join only once).
//!
//! Stands for running the reference's examples/config (harbor = 1 with
//! master) with more nodes by hand; the reference has no harness.

#[path = "../test/cluster/nodes.rs"]
mod nodes;

use nodes::{base_config, free_port, Node, Scratch};

fn harbor_config(id: u8, master: u16, address: u16) -> String {
    let mut c = base_config("harbor_main");
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
