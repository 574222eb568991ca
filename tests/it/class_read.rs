//! Reading a class (fake `docker`): `status`, `check` and `exec` over
//! several seats, with seat 3 on an engine that does not answer. Every
//! other seat is still read and graded, and the exit status says a seat
//! could not be reached (3).

use crate::support::{Run, Workspace};

const LAB: &str = r#"id = "quiz"
title = "Quiz"
title_ko = "퀴즈"
dir = "quiz"
language = "en"
files = []

[[checks]]
kind = "command"
name = "a exists"
command = "answer a"
hint_ko = "a"
hint_en = "make a"

[[checks]]
kind = "command"
name = "b, then c"
command = "answer b"
hint_ko = "b"
hint_en = "make b"
"#;

/// A class of three seats: seats 1-2 on the engine `docker` talks to here,
/// seat 3 on tcp://10.9.9.9:2375, which never answers. The fake `docker`
/// lists a seat's nodes from `containers-<cluster>.txt`, and runs a batch of
/// reads with the real script, where a check `answer X` passes when the
/// file `answers/<container>-X` exists.
fn class() -> Workspace {
    let workspace = Workspace::new();
    workspace.file(
        "labctl.toml",
        "[cluster]\nname = \"quiz\"\nprovider = \"docker\"\n\n[labs]\nseed = [\"quiz\"]\n\n[class]\nseats = 3\naccess = \"none\"\n\n\
         [[class.engines]]\nname = \"here\"\ncontext = \"default\"\nseats = 2\n\n\
         [[class.engines]]\nname = \"far\"\nhost = \"tcp://10.9.9.9:2375\"\nseats = 1\n",
    );
    workspace
        .file("labs/quiz/lab.toml", LAB)
        .file("labs/quiz/README.md", "# 퀴즈\n")
        .file("labs/quiz/README.en.md", "# Quiz\n");
    for seat in ["quiz-s01", "quiz-s02"] {
        let listing: String = ["manager", "node1", "node2", "node3"].map(|node| format!("{node}\trunning\n")).concat();
        workspace.file(&format!("containers-{seat}.txt"), &listing);
    }
    let node_list: String = ["manager", "node1", "node2", "node3"]
        .map(|node| format!("{{\"ID\":\"id-{node}\",\"Hostname\":\"{node}\",\"Status\":\"Ready\",\"Availability\":\"Active\",\"ManagerStatus\":\"\"}}\n"))
        .concat();
    workspace.file("node-ls.txt", &node_list);
    workspace
        .file("seeded.json", "{\"id\":\"quiz\",\"target\":\"/root/work/quiz\",\"labctl\":\"0.1.0\",\"files\":[]}\n");
    // Seat 1 answers both, seat 2 only a.
    workspace
        .file("answers/quiz-s01-manager-a", "")
        .file("answers/quiz-s01-manager-b", "")
        .file("answers/quiz-s02-manager-a", "");
    // A batch of reads runs on the "node" (here) through the real script.
    for tool in ["cat", "sh", "mktemp", "rm"] {
        workspace.link_host_tool(tool);
    }
    workspace.fake_program("answer", r#"[ -f "answers/$FAKE_CONTAINER-$1" ] || { echo "no $1" >&2; exit 1; }"#);
    workspace.fake_program(
        "docker",
        r#"engine=here
while :; do
  case "$1" in
    --host) engine=$2; shift 2 ;;
    --context) shift 2 ;;
    *) break ;;
  esac
done
case "$engine" in tcp://*) echo "Cannot connect to the Docker daemon at $engine. Is the docker daemon running?" >&2; exit 1 ;; esac
case "$1" in
  version) echo 27.3.1 ;;
  ps) cat "containers-${4#label=labctl.cluster=}.txt" 2>/dev/null ;;
  exec)
    shift
    while [ "${1#-}" != "$1" ]; do shift; done
    container=$1; shift
    [ "$1" = timeout ] && shift 4
    if [ "$1 $2 $4" = "sh -c labctl-reads" ]; then
      script=$3
      shift 4
      FAKE_CONTAINER=$container exec sh -c "$script" labctl-reads "$@"
    fi
    case "$*" in
      "docker version"*) echo 27.3.1 ;;
      "docker info"*) echo '{"LocalNodeState":"active","NodeID":"x"}' ;;
      "docker node ls"*) cat node-ls.txt ;;
      "docker ps --all --filter name=^labctl-registry$"*) echo running ;;
      *labctl-seeded*) cat seeded.json ;;
      "hostname") echo "$container"; echo "to stderr from $container" >&2; [ "$container" = quiz-s02-manager ] && exit 4 ;;
      *) echo "unexpected: $*" >&2; exit 99 ;;
    esac ;;
  *) echo "unexpected: docker $*" >&2; exit 99 ;;
esac
exit 0"#,
    );
    workspace
}

/// The `warning:` lines of a run's stderr.
fn warnings(run: &Run) -> Vec<&str> {
    run.stderr.lines().filter(|line| line.starts_with("warning: ")).collect()
}

/// How seat 3's problem starts; the rest names the engine's answer.
const FAR: &str = "cluster quiz-s03 cannot be reached: ";

#[track_caller]
fn names_the_far_engine(line: &str, prefix: &str) {
    assert!(line.starts_with(&format!("{prefix}{FAR}")), "{line}");
    assert!(line.contains("Cannot connect to the Docker daemon at tcp://10.9.9.9:2375"), "{line}");
}

#[test]
fn the_gradebook_grades_every_seat_it_can_reach_and_exits_3_for_the_others() {
    let workspace = class();
    let run = workspace.run(&["check", "quiz", "--seat", "all", "--csv"]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert_eq!(
        run.stdout,
        "seat,cluster,a exists,\"b, then c\",passed,total\r\n1,quiz-s01,1,1,2,2\r\n2,quiz-s02,1,0,1,2\r\n3,quiz-s03,,,unreachable,2\r\n"
    );
    let warned = warnings(&run);
    assert_eq!(warned.len(), 1, "{}", run.stderr);
    names_the_far_engine(warned[0], "warning: seat 3: ");

    // Without --seat a class is read whole; the table numbers the checks.
    let run = workspace.run(&["check", "quiz"]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert_eq!(
        run.stdout,
        "quiz: 3 seats: 1 pass every check, 1 fail some, 1 unreachable\n\n\
         SEAT  CLUSTER   1  2  TOTAL\n\
         s01   quiz-s01  ✓  ✓  2/2\n\
         s02   quiz-s02  ✓  ✗  1/2\n\
         s03   quiz-s03  ·  ·  unreachable\n\n\
         1  a exists\n\
         2  b, then c\n"
    );

    let run = workspace.run(&["check", "quiz", "--seat", "1-2", "--json"]);
    assert_eq!(run.code, 1, "seat 2 fails a check: {run:#?}");
    let book: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(book["checks"], serde_json::json!(["a exists", "b, then c"]));
    let seats = book["seats"].as_array().unwrap();
    assert_eq!((seats[0]["seat"].as_u64(), seats[0]["passed"].as_bool()), (Some(1), Some(true)));
    assert_eq!(seats[1]["cluster"], "quiz-s02");
    assert_eq!((seats[1]["reachable"].as_bool(), seats[1]["passed"].as_bool()), (Some(true), Some(false)));
    assert_eq!(seats[1]["checks"][1]["detail"], "exit 1: no b");

    // Every seat graded right, and one seat keeps the output of before.
    workspace.file("answers/quiz-s02-manager-b", "");
    assert_eq!(workspace.run(&["check", "quiz", "--seat", "1,2"]).code, 0);
    let one = workspace.run(&["check", "quiz", "--seat", "2"]).success();
    assert_eq!(one.stdout, "✓ a exists: exit 0\n✓ b, then c: exit 0\nquiz: all 2 checks pass\n");
}

#[test]
fn what_a_students_node_answers_is_shown_never_obeyed_by_the_terminal() {
    // Seat 2's student makes the check's command print escape sequences
    // (clear the screen, set the window title) and a bidirectional override.
    let workspace = class();
    workspace.fake_program(
        "answer",
        r#"[ -f "answers/$FAKE_CONTAINER-$1" ] || { printf 'no %s\033[2J\033]0;owned\007\342\200\256txt\n' "$1" >&2; exit 1; }"#,
    );
    let run = workspace.run(&["check", "quiz", "--seat", "2"]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}') && !run.stdout.contains('\u{202e}'),
        "{:?}",
        run.stdout
    );
    assert!(
        run.stdout.contains("✗ b, then c: exit 1: no b\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{202e}txt"),
        "{}",
        run.stdout
    );
}

#[test]
fn class_status_shows_every_seat_with_its_last_checks() {
    let workspace = class();
    workspace.run(&["check", "quiz", "--seat", "1-2"]);
    let run = workspace.run(&["status"]);
    assert_eq!(run.code, 3, "seat 3 cannot be reached: {run:#?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "class quiz: 3 seats, 2 Ready");
    assert_eq!(lines[2], "SEAT  CLUSTER   ENGINE  ISOLATION  NODES        REGISTRY  LABS  SSH  LAST CHECKS");
    assert_eq!(lines[3], "s01   quiz-s01  here    rootful    4/4          up        1/1   -    quiz ✓ 2/2 just now");
    assert_eq!(lines[4], "s02   quiz-s02  here    rootful    4/4          up        1/1   -    quiz ✗ 1/2 just now");
    assert_eq!(lines[5], "s03   quiz-s03  far     -          unreachable  -         -     -    -");
    let warned = warnings(&run);
    assert_eq!(warned.len(), 2, "{}", run.stderr);
    names_the_far_engine(warned[0], "warning: seat 3: ");
    assert_eq!(warned[1], "warning: not Ready: s03 (cannot be reached); run labctl up --seat 3");
    // `class status` is the same; the seats that are Ready exit 0.
    let run = workspace.run(&["class", "status", "--seat", "1-2", "--json"]).success();
    let status: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(status["class"], "quiz");
    let seat = &status["seats"][1];
    assert_eq!(
        (seat["seat"].as_u64(), seat["nodes_ready"].as_u64(), seat["ready"].as_bool()),
        (Some(2), Some(4), Some(true))
    );
    assert_eq!((seat["checks"][0]["lab"].as_str(), seat["checks"][0]["passed"].as_u64()), (Some("quiz"), Some(1)));
    assert_eq!(seat["labs_seeded"], serde_json::json!(["quiz"]));
}

#[test]
fn exec_over_seats_prefixes_each_seat_and_exits_with_the_worst_status() {
    let workspace = class();
    let run = workspace.run(&["exec", "--seat", "all", "manager", "--", "hostname"]);
    assert_eq!(run.code, 4, "seat 2's 4 is the worst: seat 3 is 3: {run:#?}");
    assert_eq!(run.stdout, "s01 │ quiz-s01-manager\ns02 │ quiz-s02-manager\n");
    let errors: Vec<&str> = run.stderr.lines().filter(|line| line.starts_with("s0")).collect();
    assert_eq!(
        errors[..3],
        ["s01 │ to stderr from quiz-s01-manager", "s02 │ to stderr from quiz-s02-manager", "s02 │ exit status 4"]
    );
    names_the_far_engine(errors[3], "s03 │ error: ");
    assert_eq!(
        workspace.run(&["exec", "--seat", "1", "manager", "--", "hostname"]).code,
        0,
        "one seat passes its status through"
    );
    let run = workspace.run(&["exec", "--seat", "1,3", "manager", "--", "hostname"]);
    assert_eq!(run.code, 3, "{run:#?}");
}
