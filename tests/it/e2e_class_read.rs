//! End to end, a class read (LABCTL_E2E=1): two seats of one manager and
//! one worker, on their own subnets (10.66.0.0/24 and 10.66.1.0/24). The
//! visualizer lab is solved on seat 1 only; the gradebook shows seat 1
//! passing and seat 2 failing, `status` shows both seats Ready with the
//! checks just recorded, `exec` reaches both managers, and with seat 2's
//! manager stopped by hand `check` exits 3 with seat 1 still graded.

use std::time::Instant;

use serde_json::Value;

use crate::support::{host_docker, require_e2e, Run, Workspace};

const CLASS: &str = "labctl-e2e-classread";
/// Its one check on the manager needs only the visualizer image (the
/// offline stand-in), loaded into seat 1 only.
const LAB: &str = "visualizer";

/// The class's workspace; destroyed however the test ends.
struct Class {
    workspace: Workspace,
}

impl Class {
    fn new() -> Class {
        let workspace = Workspace::new();
        workspace.file(
            "labctl.toml",
            &format!(
                "[cluster]\nname = \"{CLASS}\"\nprovider = \"docker\"\nsubnet = \"10.66.0.0/24\"\nmanager_ip = \"10.66.0.10\"\n\
                 worker_ip_start = \"10.66.0.11\"\nworkers = 1\n\n[[forward]]\nhost = 29120\nguest = 9000\n\n\
                 [registry]\nimage = \"labctl-test/registry:2\"\n\n[labs]\nseed = [\"{LAB}\"]\n\n\
                 [docker]\nnode_image = \"labctl-test/node:bookworm\"\n\n[class]\nseats = 2\naccess = \"none\"\nport_step = 1\n\n[cache]\nenabled = false\n"
            ),
        );
        let class = Class { workspace };
        // A class left over by an interrupted run would make `up` a repair.
        class.labctl(&["destroy", "--seat", "all", "--yes"]);
        class
    }

    fn labctl(&self, args: &[&str]) -> Run {
        self.workspace.run_with_host_tools(args)
    }

    /// `labctl ARGS`, its wall time printed; the run.
    fn timed(&self, args: &[&str]) -> Run {
        let started = Instant::now();
        let run = self.labctl(args);
        eprintln!("e2e_class_read: labctl {} took {:.2?} (2 seats)", args.join(" "), started.elapsed());
        run
    }
}

impl Drop for Class {
    fn drop(&mut self) {
        let run = self.labctl(&["destroy", "--seat", "all", "--yes"]);
        if run.code != 0 {
            eprintln!("e2e_class_read: cleanup failed: {run:?}");
        }
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("not JSON: {run:#?}"))
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_class_read() {
    require_e2e();
    let started = Instant::now();
    let class = Class::new();
    class.labctl(&["up", "--seat", "all"]).success();
    eprintln!("e2e_class_read: up --seat all (2 seats) took {:.0?}", started.elapsed());
    class.labctl(&["images", "load", "--seat", "1", "dockersamples/visualizer"]).success();
    class.labctl(&["solve", LAB, "--seat", "1"]).success();
    // The instructor's solution ran and is gone from the student's manager.
    let left = class.labctl(&["exec", "--seat", "1", "manager", "--", "ls", "/var/lib/labctl/solutions"]);
    assert_eq!(left.stdout.trim(), "", "{left:?}");

    // The gradebook: seat 1 passes every check, seat 2 none.
    let run = class.timed(&["check", LAB, "--seat", "all", "--csv"]);
    assert_eq!(run.code, 1, "seat 2 fails: {run:#?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "seat,cluster,visualizer_app runs 1 replica,visualizer_app runs on the manager,port 9000 on the manager serves the visualizer page,the visualizer reads the swarm: /apis/nodes names every node,passed,total"
    );
    assert_eq!(lines[1], format!("1,{CLASS}-s01,1,1,1,1,4,4"));
    assert_eq!(lines[2], format!("2,{CLASS}-s02,0,0,0,0,0,4"));
    let table = class.labctl(&["check", LAB]);
    eprintln!("e2e_class_read: the gradebook:\n{}", table.stdout);

    // Class status: both seats Ready, with the checks just recorded.
    let run = class.timed(&["status"]).success();
    eprintln!("e2e_class_read: class status:\n{}", run.stdout);
    let rows: Vec<&str> = run.stdout.lines().filter(|line| line.starts_with("s0")).collect();
    assert_eq!(rows.len(), 2, "{}", run.stdout);
    for (row, mark) in rows.iter().zip(["visualizer ✓ 4/4", "visualizer ✗ 0/4"]) {
        assert!(row.contains("  2/2  ") && row.contains("  up  ") && row.contains("  1/1  "), "{row}");
        assert!(row.contains(mark), "{row}");
    }
    let status = json(&class.labctl(&["class", "status", "--json"]).success());
    let ready: Vec<(u64, bool)> = status["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seat| (seat["seat"].as_u64().unwrap(), seat["ready"].as_bool().unwrap()))
        .collect();
    assert_eq!(ready, [(1, true), (2, true)]);

    // Both managers, each seat's output under its label.
    let run =
        class.labctl(&["exec", "--seat", "all", "manager", "--", "docker", "info", "--format", "{{.Swarm.NodeAddr}}"]);
    assert_eq!(run.stdout, "s01 │ 10.66.0.10\ns02 │ 10.66.1.10\n", "{run:#?}");

    // Seat 2's manager stopped by hand: seat 1 is still graded, exit 3.
    host_docker(&["stop", "--time", "1", &format!("{CLASS}-s02-manager")]);
    let run = class.timed(&["check", LAB, "--seat", "all", "--json"]);
    assert_eq!(run.code, 3, "{run:#?}");
    let book = json(&run);
    let seats = book["seats"].as_array().unwrap();
    assert_eq!((seats[0]["reachable"].as_bool(), seats[0]["passed"].as_bool()), (Some(true), Some(true)));
    assert_eq!(seats[1]["reachable"], false);
    let error = seats[1]["error"].as_str().unwrap();
    assert!(error.starts_with(&format!("cluster {CLASS}-s02 is not up (not running: manager (exited))")), "{error}");
    let run = class.labctl(&["status"]);
    assert_eq!(run.code, 3, "{run:#?}");
    eprintln!("e2e_class_read: took {:.0?}", started.elapsed());
}
