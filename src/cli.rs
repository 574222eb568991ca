//! Command-line syntax only: flags and subcommands, no logic.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{ProviderSetting, SeatSelection};
use crate::exec::shell_line;
use crate::labs::manifest::Language;

/// How `up`, `down`, `destroy`, `reset` and `solve` run over several seats.
macro_rules! over_seats {
    () => {
        "\n\nIn a class ([class] seats > 1) name the seats: --seat all, 3, 2-5 or 1,4. Several\n\
seats run at once, [class] parallel at a time (default: one per core of this host,\n\
fewer when its free memory is short); each seat's lines start with its label\n\
(`s03 │`), one seat's failure never stops the others, and a report at the end\n\
gives every seat's result and the --seat to retry the failed ones."
    };
}

const AFTER_HELP: &str = "\
Examples:
  labctl up                         manager + 3 workers, swarm, registry, labs
  labctl status                     nodes, swarm state and seeded labs
  labctl exec manager -- docker node ls
  labctl ssh node1                  a root shell on node1
  labctl down                       stop the nodes (keeps their disks)
  labctl destroy --yes              remove nodes, networks and volumes
  labctl init                       write a commented labctl.toml here
  labctl doctor                     check this host: Vagrant, VirtualBox/libvirt, Docker, ports
  labctl labs                       list the labs and where they are seeded
  labctl check lab2                 grade a lab: ✓/✗ per check with a hint (--json)
  labctl check lab2 --seat all      a class: the gradebook, seats × checks (--csv, --json)
  labctl class status               a class: one line a seat (nodes Ready, last checks)
  labctl reset lab2                 put a lab back (students' files backed up first)
  labctl solve lab2                 run the lab's reference solution (instructors)
  labctl images load                copy the labs' images from this host into every node
  labctl up --seat all              a class ([class] seats): every seat's cluster, at once
  labctl class roster               how each seat's student logs in (writes their handouts)
  labctl class import hosts.csv     machines you already have (provider ssh) from a CSV

Without a labctl.toml every command uses the class defaults: manager 192.168.56.10,
node1..node3 at 192.168.56.11-13, registry manager:5000, labs in /root/work.

Exit status:
  0  success (check: every check passes; status: every node Ready)
  1  failure (check: a check fails; bad input; a command that failed)
  2  usage error
  3  the cluster could not be reached or is not up (check, solve, reset, exec,
     ssh and images load look first and change nothing; status still prints);
     also a seat whose Docker engine ([[class.engines]]) does not answer
  Over several seats of a class: 0 when every seat is done, 3 when a seat could
  not be reached, else 1 when one failed; the others are done either way.
  130/143  interrupted by Ctrl-C / SIGTERM (run the same command again to finish)

Every command labctl runs has a time limit (a read 30s, a change 2min, seeding,
image loads and VM provisioning 30min); on a slow host LABCTL_TIMEOUT_SCALE=2
doubles them all.

Environment:
  LABCTL_TIMEOUT_SCALE=N      multiply every time limit by N (e.g. 2 on a slow host)
  LABCTL_NODE_IMAGE=IMAGE     docker provider: run nodes from IMAGE as is
                              (overrides [docker] node_image)
  LABCTL_LOCK_WAIT=SECONDS    wait this long for a cluster another labctl is
                              changing (default 5; 0 does not wait)
  LABCTL_LOCK_DIR=DIR         keep the cluster locks in DIR (default
                              <workspace>/.labctl/locks, shared by every user and sudo)
  LABCTL_VBOX_NETWORKS_CONF=FILE  VirtualBox's host-only ranges file
                              (default /etc/vbox/networks.conf)
  LABCTL_HOST_ROOT=DIR        doctor reads /proc, /sys and /dev/kvm, and up on
                              libvirt /proc/net/route, under DIR (the host's file
                              system mounted there, e.g. labctl in a container)
  LABCTL_DATA_DIR=DIR         where `up` remembers workspaces for `list` and
                              `destroy --name` (default $XDG_DATA_HOME/labctl)
  DOCKER_HOST, DOCKER_CONTEXT  the Docker engine the docker provider uses
  NO_COLOR, CLICOLOR=0, CLICOLOR_FORCE=1  colour off / on";

/// `labctl -V`: the version and the commit it was built from; `--version`
/// adds the Docker, Vagrant and VirtualBox found (commands/version.rs).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("LABCTL_COMMIT"), ")");

/// Give a Docker Swarm class its lab: a manager and workers, the swarm, a private
/// registry and the lab folders.
#[derive(Debug, Parser)]
#[command(name = "labctl", version = VERSION, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Run as if started in DIR. The workspace (labctl.toml, templates/, labs/, .labctl/) is
    /// the nearest folder, from here up, that holds a labctl.toml
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub workspace: Option<PathBuf>,

    /// Read the configuration from FILE instead of <workspace>/labctl.toml
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Show more: the commands labctl runs and where settings come from
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Show only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or start the nodes, bootstrap the swarm, start the registry, seed the labs
    #[command(
        after_help = concat!("Examples:\n  labctl up\n  labctl up --seat all   (a class: every seat)\n  labctl up --provider docker\n  labctl up --dry-run     (prints each step's plan: files it would write, commands it would run)\n  labctl up --reinit-swarm --yes\n\n\
Safe to run again: a healthy cluster is left as it is, and whatever is missing\n\
(a stopped node, a worker that left the swarm, a removed container) is repaired.\n\
Lab files a student changed are never overwritten. With the docker provider the lab\n\
root and labctl's records are on volumes: a node container removed by hand comes\n\
back with its students' files.\n\n\
The manager's swarm (the class's stacks, services, secrets, configs) is never\n\
started over without --reinit-swarm. A manager still starting is waited for (30 s);\n\
when it is locked (autolock after a restart), in error, or part of another swarm,\n\
up stops and says what to do. To unlock:\n\
`labctl ssh manager`, `docker swarm unlock` with the unlock key, then `labctl up`.\n\
--reinit-swarm asks on a terminal; elsewhere pass --yes.\n\n\
Ready means a student's first push works: after starting the registry, up waits\n\
(at most 30 s) until every node's Docker reaches it by name, and names each\n\
daemon that had to wait (one that ran before /etc/hosts named the registry's node\n\
resolves from an old copy for a few seconds).\n\n\
Docker provider: the nodes run labctl's node image, docker:dind plus the handouts'\n\
tools (curl, tree, vim, bash, bash-completion), util-linux (for labctl's checks) and\n\
OpenSSH's server (students' logins), built on this host by the first up that needs\n\
it and tagged labctl/node:<version>-<recipe hash>; [docker] node_image or\n\
LABCTL_NODE_IMAGE gives an image to use as is instead. Vagrant: provisioning\n\
installs the same tools.\n\n\
Students of a class ([class] access = \"key\", a class's default, or \"password\") log in\n\
over SSH: up makes each seat's credentials in .labctl/access/sNN/ (readable by you\n\
alone), gives every node a host key, the key or password (on stdin only) and sshd,\n\
and starts sshd again after a node restarts. `labctl class roster` prints the logins.\n\n\
ssh provider ([[ssh.hosts]]: machines you already have): up looks at every machine\n\
at once over one multiplexed ssh connection each (BatchMode, known host keys only;\n\
--accept-new-host-keys records a first-seen key, a changed key is always refused\n\
with the ssh-keygen -R line to run), then feeds the Vagrant boxes' provisioning\n\
scripts to those whose setup is not current, under `sudo -n` (a user without\n\
passwordless sudo is refused, saying so): /etc/hosts, Docker Engine when missing,\n\
daemon.json merged (first version kept as daemon.json.labctl.bak, Docker reloaded),\n\
the swarm ports in ufw/firewalld, the handouts' tools.\n\n\
A class of several seats gets one image cache per Docker engine ([cache]), a\n\
registry on every seat's network at its subnet's last address that every node\n\
pulls through: online a pull-through cache of Docker Hub, offline (upstream =\n\
\"none\") a registry the seats only read, which labctl fills with the engine's\n\
lab images. It routes nothing between the seats' networks.\n\n\
Docker provider: every node is limited by [resources] (memory, CPUs, processes,\n\
log size) where its engine can apply them; up says once where it cannot (a\n\
rootless engine on a cgroup v1 host), and says each engine's isolation: a\n\
rootless engine, or a rootful one, where root in a node is root on its host\n\
(with students' logins, a warning: `labctl class engine --help`).",
        over_seats!(),
        "\n`up --seat 2` repairs seat 2 alone; --reinit-swarm over several seats asks once."
    ))]
    Up(UpArgs),

    /// Show every node (machine state, swarm state, role) and the seeded labs; a class: one line a seat
    #[command(
        after_help = "Examples:\n  labctl status\n  labctl status --json | jq '.nodes[] | select(.status != \"Ready\")'\n  labctl status >/dev/null && labctl check lab2\n  \
labctl status --seat 2-5          (a class: one line a seat, as `labctl class status`)\n  \
labctl status --seat 3            (one seat of a class, node by node)\n\n\
In a class ([class] seats > 1) status reads every seat (or those --seat names),\n\
all at once: see `labctl class status --help`.\n\n\
Exit status: 0 when every node (of every seat) is in the swarm and Ready, 3\n\
otherwise (the table or JSON is printed either way)."
    )]
    Status(StatusArgs),

    /// Stop the nodes and keep their disks (`labctl up` starts them again)
    #[command(after_help = concat!(
        "Examples:\n  labctl down\n  labctl down --seat all",
        over_seats!(),
        "\n\nssh provider: the machines are not labctl's to power off; nothing is stopped,\n\
and the swarm, registry and labs on them stay as they are (it says so)."
    ))]
    Down(DownArgs),

    /// The whole class at once: its seats' status, how its students log in, its machines (import)
    #[command(subcommand)]
    Class(ClassCommand),

    /// Serve the class in a browser: each seat's terminals, handout and check, and your board
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),

    /// Remove the nodes, their network and volumes
    #[command(after_help = concat!("Examples:\n  labctl destroy\n  labctl destroy --yes\n  \
labctl destroy --seat 3 --yes        (one seat of a class)\n  \
labctl destroy --seat all --yes      (the whole class, its image cache too)\n  \
labctl destroy --name swarm-lab      (a cluster `labctl list` shows, from any folder)\n\n\
Everything students wrote on the nodes goes with them (with the docker provider\n\
the lab root is on the volumes this removes). Asks for confirmation on a terminal;\n\
elsewhere pass --yes. Over several seats it asks once, naming how many.\n\n\
ssh provider: no machine is powered off or deleted. On each machine labctl leaves\n\
the swarm it made (the question names its services; a swarm labctl did not make\n\
stays, and is named), removes the registry (container and volume), the lab\n\
folders its seeding made (one that was there before, e.g. /srv/db, stays, and is\n\
named), the ufw/firewalld rules it added and ufw's forward policy it changed,\n\
and /var/lib/labctl, and closes its ssh connection; Docker, the /etc/hosts\n\
entries, daemon.json (the first version is in daemon.json.labctl.bak), firewall\n\
rules that were there before and images stay. A machine that does not answer is\n\
named; the others are still done.", over_seats!()))]
    Destroy(DestroyArgs),

    /// Open a root shell on a node
    #[command(
        after_help = "Examples:\n  labctl ssh manager\n  labctl ssh node2\n\nExit status: the shell's; 3 when the node is not running."
    )]
    Ssh(SshArgs),

    /// Run a command as root on a node (of one seat or several); its exit status is passed through
    #[command(
        after_help = "Examples:\n  labctl exec manager -- docker node ls\n  labctl exec node1 -- sh -c 'docker ps --format {{.Names}}'\n  \
labctl exec --seat all manager -- docker node ls     (a class: every seat's manager)\n\n\
Over several seats (--seat 2-5, all) the command runs on every seat at once (16 at\n\
a time), without a terminal or input and within 30 minutes; each seat's output is\n\
printed whole, in seat order, every line prefixed with its seat (s03 │ …), stdout\n\
to stdout and stderr to stderr.\n\n\
Exit status: the command's; 3 (with one error line) when the node is not running.\n\
Over several seats: the worst (highest) of the seats', 3 for a seat not up."
    )]
    Exec(ExecArgs),

    /// Put a lab back to its starting state (students' files are backed up first)
    #[command(
        after_help = concat!("Examples:\n  labctl reset lab3\n  labctl reset lab3 --seat all\n  labctl reset ingress --dry-run     (print the plan, change nothing)\n  labctl reset db --keep-files       (only the swarm side)\n  labctl reset --all\n\n\
First copies every file a student changed or added back to a new folder of its own,\n\
.labctl/backups/<lab>/<time>/ (<time>-2, … for a second reset in the same second), and\n\
stops, changing nothing, unless each of them is in it. Then removes the lab's stacks\n\
(and waits until they are really gone), services and networks, restores the pristine\n\
files and runs the lab's networks and setup again.\n\n\
Over several seats it asks first, naming how many (on a terminal; elsewhere pass\n\
--yes), as destroy does: a lab put back on the whole class by mistake costs every\n\
student their place in it, backups or not.\n\n\
Exit status: 0 done, 1 failed or not confirmed, 3 the cluster is not up (nothing was changed).",
        over_seats!()
    ))]
    Reset(ResetArgs),

    /// Verify a lab's expected outcome on the cluster, or grade it on every seat of a class
    #[command(
        after_help = "Examples:\n  labctl check lab2\n  labctl check work3 --lang en\n  labctl check lab2 --json\n  \
labctl check lab2 --seat all            (a class: the gradebook, a row a seat)\n  \
labctl check lab2 --seat 2-5 --csv > lab2.csv\n\n\
Where the kernel has no IPVS (no routing mesh), a check marked `ingress = true`\n\
asks the service on its own network instead and says so in its detail.\n\n\
A class ([class] seats > 1) is checked on every seat without --seat, all seats at\n\
once (16 at a time): a table of seats × checks (✓/✗, numbered, with a TOTAL), or\n\
--json (each seat's report, with \"reachable\") or --csv (seat,cluster,<check\n\
names…>,passed,total; 1/0 a check). A seat that cannot be reached is marked so,\n\
the others are still graded. One seat (--seat 3) prints as a single cluster does.\n\
Each seat's result is kept on this host (.labctl/checks/, names and pass/fail\n\
only) for `labctl class status`.\n\n\
Exit status: 0 when every check passes (on every seat), 1 when one fails, 3 when\n\
the cluster (a seat) is not up or cannot be reached (nothing was checked there;\n\
--json says \"reachable\": false)."
    )]
    Check(CheckArgs),

    /// Run a lab's reference solution (instructors), then wait until its checks pass
    #[command(after_help = concat!("Examples:\n  labctl solve lab2\n  labctl solve lab2 --seat all\n\n\
It waits up to 3 minutes for the checks, and stops as soon as one has failed for\n\
good (e.g. a port that no service publishes), as `check --json` marks with\n\
\"failure\": \"final\".\n\nExit status: 0 when the checks pass after the solution, 1 otherwise, 3 when the\ncluster is not up.", over_seats!()))]
    Solve(SolveArgs),

    /// Pull the labs' images on this host and load them into every node
    #[command(subcommand)]
    Images(ImagesCommand),

    /// Write a commented labctl.toml in this folder (or -C DIR), making it a workspace
    #[command(
        after_help = "Examples:\n  labctl init\n  labctl init --provider docker\n  labctl init --force     (keeps the old file as labctl.toml.bak)\n  labctl -C class-b init  (a second class beside the first: give it another [cluster] name)\n\n\
As `git init` does, init writes where it is started, even inside another workspace,\n\
whose labctl.toml it never touches."
    )]
    Init(InitArgs),

    /// Render the Vagrant environment (Vagrantfile and provisioning scripts)
    #[command(after_help = "Examples:\n  labctl render\n  labctl render --out /tmp/class-vms\n\n\
Templates are built in; a file in <workspace>/templates/ with the same name\n\
(e.g. templates/Vagrantfile.tera, templates/provision/20-docker.sh.tera) replaces one.")]
    Render(RenderArgs),

    /// List every labctl cluster on this host, from anywhere
    #[command(
        after_help = "Examples:\n  labctl list\n  labctl list --json\n  labctl destroy --name swarm-lab --yes     (from any folder)\n\n\
Docker clusters are found by their containers' labels (with the workspace each was\n\
made from and the manager's Ready nodes); seats on this host's Incus by their instances'\n\
user.labctl.* keys, in every project; Vagrant clusters by the workspaces `labctl up`\n\
remembers in $XDG_DATA_HOME/labctl/workspaces.json (~/.local/share/labctl)."
    )]
    List(ListArgs),

    /// Gather every node's Docker log and state and this host's setup into one .tar.gz
    #[command(
        after_help = "Examples:\n  labctl logs\n  labctl logs --out /tmp\n  labctl logs --seat 3     (a class: one seat; without --seat every seat)\n\n\
For a failed `up` or a lab that misbehaves: per node, dockerd's log, `docker info`,\n\
`docker version`, `docker ps -a`, /etc/hosts, its addresses and daemon.json; on the\n\
manager `docker node ls`, `service ls`, `service ps`, `stack ls` and `network ls`;\n\
`labctl status --json`; this host's labctl, Docker, Vagrant and VirtualBox versions;\n\
labctl.toml and the settings labctl resolved from it; labctl's own logs. Swarm join\n\
tokens are masked; students' credentials (.labctl/access) are never included. A\n\
node that does not answer gets its error in its files; the bundle is still written.\n\
Prints the bundle's path."
    )]
    Logs(LogsArgs),

    /// List the lab catalog, or show one lab
    #[command(
        after_help = "Examples:\n  labctl labs\n  labctl labs --json\n  labctl labs db          (id, alias or directory)\n  labctl labs lab1 --handout en"
    )]
    Labs(LabsArgs),

    /// Check this host for what the lab needs and say how to fix what is missing
    #[command(
        after_help = "Examples:\n  labctl doctor\n  labctl doctor --json | jq '.checks[] | select(.mark != \"ok\")'\n\n\
Checks Vagrant and its hypervisor (and the CPU's VT-x/AMD-V for VirtualBox), the\n\
host-only network; on libvirt the vagrant-libvirt plugin, `virsh -c qemu:///system`\n\
answering, /dev/kvm against vagrant.libvirt_driver, and a subnet no other interface\n\
routes (a Docker network on it is named, with how to remove it); Docker, the docker provider's node image (built, to be built by\n\
the first `labctl up`, or its base docker:dind missing and how to get it), inotify\n\
limits, IPVS for the routing mesh, free memory and disk against what the configured\n\
nodes (every seat on this host) need, amd64-only lab images on other CPUs, and the\n\
forwarded ports. A class spread over [[class.engines]]: every engine answers `docker\n\
version` within the read limit (30s), with the seats it holds; an engine that does\n\
not fails only those. ssh provider: the ssh client, and every machine of every seat:\n\
it answers within the read limit without a prompt, its host key is the known one (a\n\
changed key: the ssh-keygen -R line to run), sudo works without a password, and\n\
Docker runs or can be installed.\n\n\
Exit status: 0 when the configured provider can work, 1 otherwise."
    )]
    Doctor(DoctorArgs),

    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  labctl completions bash > /etc/bash_completion.d/labctl\n  labctl completions zsh > \"${fpath[1]}/_labctl\"\n\n\
Besides commands and flags, the script completes this workspace's lab names (ids and\n\
aliases, for check, reset, solve, labs and images load --lab) and node names (ssh,\n\
exec) as they are when it is generated: generate it again after adding a lab."
    )]
    Completions(CompletionsArgs),
}

/// `--seat`, on every command that acts on a cluster.
#[derive(Debug, Args, Clone, Default)]
pub struct SeatArg {
    /// Which seats of a class: 3, 2-5, 1,4 or all. In a class workspace ([class]
    /// seats > 1) commands that change things need it; reads default to all
    #[arg(long, value_name = "SEATS")]
    pub seat: Option<SeatSelection>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub seats: SeatArg,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// Use this provider instead of the one in labctl.toml
    #[arg(long, value_enum)]
    pub provider: Option<ProviderSetting>,

    /// Print each step's plan (the files it would write, the commands it would run)
    /// and change nothing: only read-only commands run, no file is written
    #[arg(long)]
    pub dry_run: bool,

    /// Leave the manager's swarm and start a new one: every stack, service, secret
    /// and config of the class is lost (asks first)
    #[arg(long)]
    pub reinit_swarm: bool,

    /// With --reinit-swarm: do not ask for confirmation
    #[arg(long, short = 'y', requires = "reinit_swarm")]
    pub yes: bool,

    /// Provider ssh: record the host key of a machine seen for the first time
    /// (StrictHostKeyChecking=accept-new); a changed key is still refused
    #[arg(long)]
    pub accept_new_host_keys: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClassCommand {
    /// One line a seat: nodes Ready, registry, labs seeded, last check of each lab
    #[command(after_help = "Examples:\n  labctl class status\n  labctl class status --seat 1-10\n  \
labctl class status --json | jq '.seats[] | select(.ready | not) | .seat'\n\n\
Every seat is read at once (16 at a time), each on its own engine: its cluster,\n\
engine, isolation (rootless; rootful: root in a node is root on the engine's\n\
host), nodes in the swarm and Ready (4/4), the registry (up, down, ? while its\n\
node is not running, - when disabled), the labs seeded of those labctl.toml seeds\n\
(5/5), the students' SSH port, and the last `labctl check` of each lab on that\n\
seat (lab2 ✗ 3/8 4m ago), as recorded on this host in\n\
.labctl/checks/<cluster>/<lab>.json (names and pass/fail only). A seat whose\n\
engine does not answer is shown as unreachable, with why.\n\n\
Exit status: 0 when every node of every seat is Ready, 3 otherwise (the table or\n\
JSON is printed either way).")]
    Status(StatusArgs),

    /// Print how each seat's student logs in, and write each seat's handout
    #[command(after_help = ROSTER_HELP)]
    Roster(RosterArgs),

    /// Write the machines of a CSV into labctl.toml as [[ssh.hosts]] (provider ssh)
    #[command(after_help = "Examples:\n  labctl class import hosts.csv\n\n\
The CSV (e.g. printed by the school's Terraform) has a header row naming its columns,\n\
in any order, then one machine per row:\n\n\
  seat,node,address,user,port,identity_file,advertise_ip\n\
  1,manager,203.0.113.10,ubuntu,22,keys/seat1.pem,10.0.1.10\n\
  1,node1,203.0.113.11,ubuntu,22,keys/seat1.pem,10.0.1.11\n\n\
node and address are needed; an empty cell leaves that key out (seat: 1, user and\n\
port: ssh's own, advertise_ip: the address). Every [[ssh.hosts]] of labctl.toml is\n\
replaced, [cluster] provider becomes \"ssh\", workers and [class] seats follow the\n\
CSV; comments and the other keys stay. The result is checked first: a bad row is\n\
named by its CSV line and nothing is written. The old file is kept as labctl.toml.bak.")]
    Import(ClassImportArgs),

    /// Make a rootless Docker engine for the class on this host (as root) and put seats on it
    #[command(
        after_help = "Examples (as root: sudo labctl class engine …):\n  labctl class engine             (prints its [[class.engines]] entry)\n  \
labctl class engine --write     (adds it to labctl.toml, first: the class's seats go on it)\n  \
labctl class engine --remove    (once its seats are destroyed)\n\n\
On a rootful engine a student is root on this host: root in a node can write the\n\
host's kernel settings (/proc/sys/kernel/core_pattern) and its cgroups. On a\n\
rootless engine root in a node is an unprivileged user here, and those are refused.\n\n\
This installs what is missing (Debian/Ubuntu: uidmap, slirp4netns, rootlesskit;\n\
docker.io ships dockerd-rootless.sh), creates the user (--user, labctl-class) with\n\
subordinate ID ranges, and starts its dockerd-rootless.sh: as the systemd service\n\
labctl-rootless-<user> (started again at boot) where systemd runs, else in the\n\
background (run this again after a reboot: it starts it again). Run again, it\n\
finds the engine answering and changes nothing. What it made is recorded in\n\
/var/lib/labctl-rootless/<user>/made; --remove stops the engine and removes that,\n\
and only that (the user's home goes with it: the engine's images and volumes).\n\n\
Limits ([resources]) need cgroups: a rootless engine has them on a cgroup v2 host\n\
with systemd; on cgroup v1 `labctl up` and `doctor` say it cannot apply them.\n\
labctl reaches the engine as root (or as its user): run the seats' commands with sudo."
    )]
    Engine(ClassEngineArgs),
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// Destroy the cluster (or class) of this name, from any folder (`labctl list`)
    #[arg(long, value_name = "NAME", conflicts_with = "seat")]
    pub name: Option<String>,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// Node name: manager, node1, …
    pub node: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// Node name: manager, node1, …
    pub node: String,

    /// The command and its arguments (after `--`)
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// Lab to reset (id, alias or directory)
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub lab: Option<String>,

    /// Reset every seeded lab
    #[arg(long)]
    pub all: bool,

    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Reset only the swarm side; leave the lab's files as they are
    #[arg(long)]
    pub keep_files: bool,

    /// Reset several seats without asking (students' files are still backed up first)
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// Lab to check (id, alias or directory)
    pub lab: String,

    /// Print one JSON object (for grading scripts)
    #[arg(long)]
    pub json: bool,

    /// Print the gradebook as CSV (a row a seat, a column a check), for a spreadsheet
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,

    /// Language of the hints; default: the lab's handout language
    #[arg(long, value_enum)]
    pub lang: Option<Language>,
}

#[derive(Debug, Args)]
pub struct SolveArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// Lab to solve (id, alias or directory)
    pub lab: String,
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Pull every image the labs, the registry and the class cache need into this
    /// host's Docker, all at once, a line per image
    #[command(after_help = "Examples:\n  labctl images pull")]
    Pull,
    /// Copy images from this host's Docker into every node of the seats: each image
    /// saved once, loaded where that image ID is missing, at most as many nodes at once
    /// as this host has cores ([images] parallel)
    #[command(
        after_help = "Examples:\n  labctl images load                 (every seeded lab's images)\n  labctl images load --lab lab3\n  labctl images load mysql:5.7 registry:2\n  labctl images load --seat all node:slim   (every node of every seat of a class)\n\n\
Exit status: 3 when a node is not running or the manager's Docker does not answer."
    )]
    Load(ImagesLoadArgs),
}

#[derive(Debug, Args)]
pub struct ImagesLoadArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// Images to load; default: the images of every seeded lab
    #[arg(conflicts_with = "lab")]
    pub images: Vec<String>,

    /// Load the images of this lab
    #[arg(long)]
    pub lab: Option<String>,
}

const ROSTER_HELP: &str = "\
Examples:
  labctl class roster
  labctl class roster --seat 3 --host lab.example.org
  labctl class roster --json

With [class] access = \"key\" (a class's default) or \"password\", `labctl up` runs an
SSH server on every node of each seat, publishes the manager's on ssh_port_base + K
and keeps the seat's credentials in .labctl/access/sNN/ (readable by you alone):
id_ed25519 (a key pair per seat) or password, and known_hosts (the nodes' host keys,
as up read them from the nodes). The roster prints one line per seat:

  SEAT  LOGIN
  1     ssh -p 2201 -i .labctl/access/s01/id_ed25519 -o HostKeyAlias=cls-s01-manager
        -o StrictHostKeyChecking=yes -o UserKnownHostsFile=.labctl/access/s01/known_hosts
        -L 49000:localhost:9000 root@HOST  ...

and writes .labctl/access/sNN/README.txt, the student's handout (their key or
password, the host keys to add before the first login, the ssh command, an ssh
config for manager and node1.. through the manager), and .labctl/access/sNN/ssh_config for you (`ssh -F
.labctl/access/s03/ssh_config node1`). It never prints a key or a password.
HOST is the one address the seat's SSH port listens on ([class] ssh_bind; auto:
this host's address on its default route's network, or an ssh:// or tcp:// engine's
host), or when that is 0.0.0.0 (every interface), --host or this machine's name. -L gives the student's own computer the ports the labs' handouts
name (localhost:49000), whatever port their seat has on the server. Every login
checks the seat's real host key from the first one on (HostKeyAlias,
StrictHostKeyChecking=yes): an unknown key is refused, never trusted.

Exit status: 0 when every seat has its credentials, 1 when one has none yet
(run `labctl up --seat K`).";

const SERVE_HELP: &str = "Examples:\n  labctl serve\n  labctl serve --new-links\n\n\
One process for the class, on [class] web_port (8800) of the address the seats'\n\
SSH ports listen on ([class] ssh_bind). Each seat's page has a terminal on each\n\
of its nodes (the shell `labctl ssh` opens), the lab's handout beside it (code\n\
blocks one click from the terminal), a check button (`labctl check --seat K`)\n\
and links to the labs' own pages (each seat's [[forward]] on a port of its own\n\
after web_port); its link, with a secret of its own, is in the seat's handout\n\
(`labctl class roster` writes it); labctl never prints it. Your board, every\n\
seat's nodes, open terminals and last checks, updated live: watch or take over\n\
a student's terminal (the student is told), open one of your own, reset, solve,\n\
and the gradebook as CSV; its link is in .labctl/access/board.url.\n\
--new-links makes every link anew: the old ones stop working\n\
(run `labctl class roster` again for the new handouts).\n\n\
A wrong or missing secret gets a plain refusal. A terminal ends, with what is\n\
left of its shell on the node, when its page closes or stops answering, and\n\
after 30 minutes without use; a seat holds at most 6, a computer at most 32\n\
connections. HTTPS with [class] web_cert and web_key; without them (it says so\n\
at start) pages and keys cross the classroom's network unencrypted.\n\n\
Runs until Ctrl-C.";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Make every seat's link and the board's anew (the old links stop working)
    #[arg(long)]
    pub new_links: bool,
}

#[derive(Debug, Args)]
pub struct RosterArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// The name or address students reach this server at; default: the address the
    /// seat's SSH port listens on ([class] ssh_bind), or this machine's name when that is 0.0.0.0
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,

    /// Print one JSON object (for mail merges and scripts); never holds a secret
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ClassEngineArgs {
    /// The unprivileged user that owns the engine (made when missing)
    #[arg(long, value_name = "NAME", default_value = crate::rootless::DEFAULT_USER)]
    pub user: String,

    /// Seats it holds in its [[class.engines]] entry (default: the class's seats)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub seats: Option<u32>,

    /// Its name in labctl.toml and in messages
    #[arg(long, value_name = "NAME", default_value = "rootless")]
    pub name: String,

    /// Add the entry to labctl.toml, first of [[class.engines]] (the old file is kept as labctl.toml.bak)
    #[arg(long, conflicts_with = "remove")]
    pub write: bool,

    /// Stop the engine and remove what labctl made for it
    #[arg(long)]
    pub remove: bool,
}

#[derive(Debug, Args)]
pub struct ClassImportArgs {
    /// The CSV file: a header row, then one machine per row
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Provider to write into the file
    #[arg(long, value_enum, default_value_t = ProviderSetting::Auto)]
    pub provider: ProviderSetting,

    /// Replace an existing labctl.toml (the old one is kept as labctl.toml.bak)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write into DIR instead of <workspace>/.labctl/vagrant
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LabsArgs {
    /// Show only this lab (id, alias or directory name)
    pub lab: Option<String>,

    /// Print JSON instead of a table
    #[arg(long, conflicts_with = "handout")]
    pub json: bool,

    /// Print the lab's handout: Korean (ko, the default) or English (en);
    /// `--handout LAB` also works
    #[arg(long, value_name = "LANG", num_args = 0..=1, default_missing_value = "ko")]
    pub handout: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub seats: SeatArg,

    /// Write the bundle into DIR instead of <workspace>/.labctl/logs
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON object: ready, the provider, every check with its fix
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl Command {
    /// The name of this run's log in `.labctl/logs/`, for the commands that
    /// act on a cluster or check the host; `None` for the rest, and for a
    /// dry run, which writes no file at all.
    pub fn run_log_name(&self) -> Option<&'static str> {
        Some(match self {
            Command::Up(args) if args.dry_run => return None,
            Command::Reset(args) if args.dry_run => return None,
            Command::Up(_) => "up",
            Command::Status(_) => "status",
            Command::Down(_) => "down",
            Command::Destroy(_) => "destroy",
            Command::Ssh(_) => "ssh",
            Command::Exec(_) => "exec",
            Command::Reset(_) => "reset",
            Command::Check(_) => "check",
            Command::Solve(_) => "solve",
            Command::Images(ImagesCommand::Pull) => "images-pull",
            Command::Images(ImagesCommand::Load(_)) => "images-load",
            Command::Doctor(_) => "doctor",
            _ => return None,
        })
    }
}

/// A usage error with a tip for a mistake clap cannot see the intent of:
/// `labctl exec manager docker ps`, whose command needs `--` before it.
pub fn with_tip(mut error: clap::Error, args: &[OsString]) -> clap::Error {
    if error.kind() != ErrorKind::UnknownArgument {
        return error;
    }
    let words: Vec<String> = args.iter().skip(1).map(|arg| arg.to_string_lossy().into_owned()).collect();
    let Some(exec_at) = words.iter().position(|word| word == "exec") else { return error };
    if words.iter().any(|word| word == "--") {
        return error;
    }
    // The node is the first word after `exec` that is neither a flag nor a flag's value.
    let mut rest = words[exec_at + 1..].iter();
    let node = loop {
        match rest.next() {
            None => return error,
            Some(flag) if flag == "-C" || flag == "--config" => {
                rest.next();
            }
            Some(flag) if flag.starts_with('-') => {}
            Some(node) => break node,
        }
    };
    let command: Vec<&String> = rest.collect();
    if command.is_empty() {
        return error;
    }
    let fixed = format!("labctl exec {node} -- {}", shell_line(&command));
    let tip = format!("the node's command goes after `--`: `{fixed}`");
    error.insert(ContextKind::Suggested, ContextValue::StyledStrs(vec![tip.into()]));
    error
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command's path (`["class", "roster"]`) with its long help.
    fn commands(command: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
        let mut command = command.clone();
        let help = command.render_long_help().to_string();
        out.push((path.clone(), help));
        for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
            commands(sub, [path.clone(), vec![sub.get_name().to_string()]].concat(), out);
        }
    }

    /// The command lines of a help's "Examples:" section, without what
    /// explains them (after two spaces or a parenthesis) or what follows a
    /// pipe or a redirection.
    fn examples(help: &str) -> Vec<String> {
        let Some(section) =
            help.split("Examples").nth(1).and_then(|rest| rest.split_once(":\n")).map(|(_, section)| section)
        else {
            return Vec::new();
        };
        section
            .lines()
            .take_while(|line| !line.trim().is_empty())
            .map(str::trim)
            .filter(|line| line.starts_with("labctl "))
            .map(|line| {
                let cut = [" (", "  ", " | ", " > ", " >", " && "]
                    .iter()
                    .filter_map(|separator| line.find(separator))
                    .min()
                    .unwrap_or(line.len());
                line[..cut].trim().to_string()
            })
            .collect()
    }

    #[test]
    fn every_command_shows_examples_and_every_example_is_a_valid_command_line() {
        let mut all = Vec::new();
        commands(&Cli::command(), Vec::new(), &mut all);
        let mut problems = Vec::new();
        for (path, help) in &all {
            let examples = examples(help);
            let own = examples
                .iter()
                .any(|example| example.split(' ').skip(1).take(path.len()).eq(path.iter().map(String::as_str)));
            // The top level and groups (`class`, `images`) show their subcommands.
            let group = path.is_empty() || help.contains("Commands:\n");
            if !group && !own {
                problems.push(format!("`labctl {} --help` shows no example of itself", path.join(" ")));
            }
            for example in examples {
                let words = shlex::split(&example).unwrap_or_else(|| panic!("not shell words: {example}"));
                if let Err(error) = <Cli as clap::Parser>::try_parse_from(&words) {
                    problems.push(format!("`{example}` (in `labctl {} --help`): {}", path.join(" "), error.kind()));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn examples_are_read_without_their_explanations() {
        let help = "Examples:\n  labctl up --seat all   (a class)\n  labctl status --json | jq .\n  labctl down            stop them\n\nMore";
        assert_eq!(examples(help), ["labctl up --seat all", "labctl status --json", "labctl down"]);
    }
}
