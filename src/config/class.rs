//! A class: `[class]` in labctl.toml. One workspace gives every student a
//! seat, an isolated cluster of its own with the handout's node names, on
//! its own subnet, with its own host ports, on one of the class's Docker
//! engines. A one-seat class is the single cluster of before, unchanged.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::{Forward, Node, Nodes};

/// The most seats one workspace holds: seat labels have two digits.
pub const MAX_SEATS: u32 = 99;

/// `[class]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawClass {
    /// How many isolated clusters (seats) this workspace makes.
    pub seats: u32,
    /// How many seats `up` brings up at once; unset: what this host fits.
    pub parallel: Option<u32>,
    /// Seat K forwards host port `host + (K-1) × port_step`.
    pub port_step: u16,
    /// Seat K's SSH server is published on host port `ssh_port_base + K`.
    pub ssh_port_base: u16,
    /// The host address the seats' SSH servers listen on: "auto" (the
    /// address students reach the engine's host at) or an IP address.
    pub ssh_bind: String,
    /// The port of the class's web pages (`labctl serve`), on the address
    /// the seats' SSH ports listen on.
    pub web_port: u16,
    /// The pages' TLS certificate (PEM, the chain) and its key, relative to
    /// the workspace; both or neither (then the pages are plain HTTP).
    pub web_cert: Option<String>,
    pub web_key: Option<String>,
    /// How students log in to their seat: "key", "password" or "none";
    /// unset: "key" for a class of several seats, "none" for one.
    pub access: Option<String>,
    /// The Docker engines the seats are spread over, filled in order;
    /// none: the engine `docker` talks to here (DOCKER_HOST, the context).
    pub engines: Vec<RawEngine>,
}

impl Default for RawClass {
    fn default() -> Self {
        RawClass {
            seats: 1,
            parallel: None,
            port_step: 1,
            ssh_port_base: 2200,
            ssh_bind: "auto".into(),
            web_port: 8800,
            web_cert: None,
            web_key: None,
            access: None,
            engines: Vec::new(),
        }
    }
}

/// `[[class.engines]]` as written: exactly one of `host` and `context`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawEngine {
    /// A name for messages; defaults to the host or context.
    pub name: Option<String>,
    /// A Docker host URL, e.g. "ssh://ubuntu@10.0.0.5" or "unix:///run/docker.sock".
    pub host: Option<String>,
    /// A docker context name (`docker context ls`).
    pub context: Option<String>,
    /// How many seats this engine holds.
    pub seats: u32,
}

/// How students reach their seat's manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// No SSH server published: the instructor's `labctl ssh` only.
    None,
    /// An SSH key pair per seat.
    Key,
    /// A generated password per seat.
    Password,
}

impl Access {
    pub const NAMES: [&'static str; 3] = ["key", "password", "none"];

    pub fn parse(text: &str) -> Option<Access> {
        match text {
            "key" => Some(Access::Key),
            "password" => Some(Access::Password),
            "none" => Some(Access::None),
            _ => None,
        }
    }
}

/// Where a Docker engine is: how `docker` is told to talk to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "value")]
pub enum EngineTarget {
    /// Whatever `docker` talks to here (DOCKER_HOST, the current context).
    Default,
    /// `docker --host URL`.
    Host(String),
    /// `docker --context NAME`.
    Context(String),
}

impl EngineTarget {
    /// `10.0.0.5` from `ssh://ubuntu@10.0.0.5:22` or `tcp://10.0.0.5:2376`;
    /// none for a local socket or a context.
    pub fn host_name(&self) -> Option<String> {
        let EngineTarget::Host(url) = self else { return None };
        let rest = url.strip_prefix("ssh://").or_else(|| url.strip_prefix("tcp://"))?;
        let authority = rest.split('/').next()?;
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let host = match host.strip_prefix('[') {
            Some(bracketed) => bracketed.split(']').next()?,
            None => host.split(':').next()?,
        };
        (!host.is_empty()).then(|| host.to_string())
    }
}

/// `[class] ssh_bind`: where the seats' SSH ports listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SshBind {
    /// The address students reach the seat's engine's host at (see
    /// `provider::listen`).
    Auto,
    Address(IpAddr),
}

/// One Docker engine of the class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Engine {
    pub name: String,
    pub target: EngineTarget,
    /// Seats it holds; `None`: as many as the class has (the default engine).
    pub capacity: Option<u32>,
}

impl Engine {
    /// The engine `docker` talks to on this host.
    pub fn local() -> Engine {
        Engine { name: "local".into(), target: EngineTarget::Default, capacity: None }
    }

    /// Whether `[[class.engines]]` names it (a host or context given to
    /// `docker`), rather than whatever `docker` talks to here.
    pub fn is_configured(&self) -> bool {
        self.target != EngineTarget::Default
    }

    /// `engine "lab-server-2" (ssh://ubuntu@10.0.0.5)`: for messages; the
    /// address is left out when the name is the address.
    pub fn describe(&self) -> String {
        let address = match &self.target {
            EngineTarget::Default => return format!("engine {:?} (this host's docker)", self.name),
            EngineTarget::Host(host) => host.clone(),
            EngineTarget::Context(context) => format!("context {context}"),
        };
        match address == self.name || address == format!("context {}", self.name) {
            true => format!("engine {:?}", self.name),
            false => format!("engine {:?} ({address})", self.name),
        }
    }

    /// The engine as a sentence names it: `this host's Docker` for the one
    /// `docker` talks to here, else [`Engine::describe`].
    pub fn in_words(&self) -> String {
        match self.is_configured() {
            true => self.describe(),
            false => "this host's Docker".to_string(),
        }
    }

    /// The global `docker` options that select this engine.
    pub fn docker_options(&self) -> Vec<String> {
        match &self.target {
            EngineTarget::Default => Vec::new(),
            EngineTarget::Host(host) => vec!["--host".into(), host.clone()],
            EngineTarget::Context(context) => vec!["--context".into(), context.clone()],
        }
    }
}

/// `[class]`, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassSettings {
    pub seats: u32,
    /// Seats brought up at once; `None`: decided from the host.
    pub parallel: Option<u32>,
    pub port_step: u16,
    pub ssh_port_base: u16,
    pub ssh_bind: SshBind,
    pub web_port: u16,
    /// (certificate, key) of the pages' TLS, as written (relative to the workspace).
    pub web_tls: Option<(String, String)>,
    pub access: Access,
    /// At least one; the seats fill them in order.
    pub engines: Vec<Engine>,
}

impl Default for ClassSettings {
    fn default() -> Self {
        ClassSettings {
            seats: 1,
            parallel: None,
            port_step: 1,
            ssh_port_base: 2200,
            ssh_bind: SshBind::Auto,
            web_port: 8800,
            web_tls: None,
            access: Access::None,
            engines: vec![Engine::local()],
        }
    }
}

impl ClassSettings {
    /// The engine seat `number` lives on: the engines filled in order.
    pub fn engine_of(&self, number: u32) -> &Engine {
        let mut first = 1;
        for engine in &self.engines {
            match engine.capacity {
                None => return engine,
                Some(capacity) if number < first + capacity => return engine,
                Some(capacity) => first += capacity,
            }
        }
        // Validation makes the engines hold every seat.
        self.engines.last().expect("a class has at least one engine")
    }

    /// Each engine with the seats it holds (none for an engine past the
    /// last seat), in order.
    pub fn placement(&self) -> Vec<(&Engine, Vec<u32>)> {
        self.engines
            .iter()
            .map(|engine| {
                let seats = (1..=self.seats).filter(|&number| self.engine_of(number) == engine).collect();
                (engine, seats)
            })
            .collect()
    }

    /// Seat `number`'s SSH port on its engine's host, when students log in.
    pub fn ssh_port(&self, number: u32) -> Option<u16> {
        (self.access != Access::None).then(|| self.ssh_port_base.saturating_add(number as u16))
    }
}

/// One seat of a class: seat `number` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Seat {
    pub number: u32,
    pub of: u32,
}

impl Seat {
    /// `s03`: in names, labels and folders.
    pub fn label(&self) -> String {
        format!("s{:02}", self.number)
    }

    /// Seat 1 of a one-seat class keeps the names of a single cluster.
    pub fn is_only(&self) -> bool {
        self.of == 1
    }
}

impl fmt::Display for Seat {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "seat {}", self.number)
    }
}

/// What is a seat's own: its cluster name, subnet, node addresses, host ports
/// and engine. Seat 1 is the configured cluster; seat K is shifted by K-1
/// subnets and K-1 port steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatLayout {
    pub seat: Seat,
    /// `cluster.name`, or `<cluster.name>-s03` in a class of several seats.
    pub name: String,
    pub subnet: Ipv4Net,
    pub nodes: Nodes,
    pub forwards: Vec<Forward>,
    /// Published on the engine's host for the students, when they log in.
    pub ssh_port: Option<u16>,
    pub engine: Engine,
}

/// Seat `number`'s layout from the configured (seat 1) cluster; `None` when
/// a shifted address or port would not exist (validation reports it).
pub fn layout(
    class: &ClassSettings,
    cluster_name: &str,
    subnet: Ipv4Net,
    nodes: &Nodes,
    forwards: &[Forward],
    number: u32,
) -> Option<SeatLayout> {
    let seat = Seat { number, of: class.seats };
    let shift = u32::try_from(1u64 << (32 - subnet.prefix_len())).ok()?.checked_mul(number - 1)?;
    let moved = |ip: Ipv4Addr| u32::from(ip).checked_add(shift).map(Ipv4Addr::from);
    let subnet = Ipv4Net::new(moved(subnet.network())?, subnet.prefix_len()).ok()?;
    let moved_node = |node: &Node| Some(Node { ip: moved(node.ip)?, ..node.clone() });
    let manager = moved_node(nodes.manager())?;
    let workers = nodes.workers().iter().map(moved_node).collect::<Option<Vec<_>>>()?;
    let port_shift = u16::try_from(number - 1).ok()?.checked_mul(class.port_step)?;
    let forwards = forwards
        .iter()
        .map(|forward| Some(Forward { host: forward.host.checked_add(port_shift)?, ..forward.clone() }))
        .collect::<Option<Vec<_>>>()?;
    let ssh_port = match class.ssh_port(number) {
        Some(_) if u32::from(class.ssh_port_base) + number > u32::from(u16::MAX) => return None,
        port => port,
    };
    let name = if seat.is_only() { cluster_name.to_string() } else { format!("{cluster_name}-{}", seat.label()) };
    Some(SeatLayout {
        seat,
        name,
        subnet,
        nodes: Nodes::new(manager, workers),
        forwards,
        ssh_port,
        engine: class.engine_of(number).clone(),
    })
}

/// `--seat`: which seats a command acts on (`3`, `2-5`, `1,4,7-9`, `all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatSelection {
    All,
    /// Inclusive ranges, as written.
    Ranges(Vec<(u32, u32)>),
}

impl FromStr for SeatSelection {
    type Err = String;

    fn from_str(text: &str) -> Result<SeatSelection, String> {
        let text = text.trim();
        if text == "all" {
            return Ok(SeatSelection::All);
        }
        let number = |part: &str| {
            part.trim().parse::<u32>().ok().filter(|number| *number >= 1).ok_or_else(|| {
                format!("{part:?} is not a seat number; seats are numbered from 1 (e.g. 3, 2-5, 1,4 or all)")
            })
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let range = match part.split_once('-') {
                Some((first, last)) => (number(first)?, number(last)?),
                None => (number(part)?, number(part)?),
            };
            if range.0 > range.1 {
                return Err(format!("{part:?} runs backwards; write it as {}-{}", range.1, range.0));
            }
            ranges.push(range);
        }
        Ok(SeatSelection::Ranges(ranges))
    }
}

impl SeatSelection {
    /// The seat numbers selected from a class of `seats`, in order, each
    /// once; an error naming a seat the class does not have.
    pub fn resolve(&self, seats: u32) -> Result<Vec<u32>, String> {
        let ranges = match self {
            SeatSelection::All => return Ok((1..=seats).collect()),
            SeatSelection::Ranges(ranges) => ranges,
        };
        let mut numbers = std::collections::BTreeSet::new();
        for &(first, last) in ranges {
            if last > seats {
                let class = match seats {
                    1 => "this workspace has one seat (set [class] seats for more)".to_string(),
                    _ => format!("this class has seats 1-{seats}"),
                };
                return Err(format!("seat {} does not exist: {class}", last.max(first)));
            }
            numbers.extend(first..=last);
        }
        Ok(numbers.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_selections_parse_numbers_ranges_lists_and_all() {
        assert_eq!("all".parse(), Ok(SeatSelection::All));
        assert_eq!("3".parse(), Ok(SeatSelection::Ranges(vec![(3, 3)])));
        assert_eq!("2-5,9".parse(), Ok(SeatSelection::Ranges(vec![(2, 5), (9, 9)])));
        assert_eq!("1,3".parse::<SeatSelection>().unwrap().resolve(4), Ok(vec![1, 3]));
        assert_eq!("3-4,1-3".parse::<SeatSelection>().unwrap().resolve(4), Ok(vec![1, 2, 3, 4]));
        assert_eq!(SeatSelection::All.resolve(3), Ok(vec![1, 2, 3]));
    }

    #[test]
    fn bad_seat_selections_say_what_is_wrong() {
        let error = "0".parse::<SeatSelection>().unwrap_err();
        assert!(error.contains("\"0\" is not a seat number"), "{error}");
        assert!("x-2".parse::<SeatSelection>().unwrap_err().contains("\"x\""));
        assert!("5-2".parse::<SeatSelection>().unwrap_err().contains("write it as 2-5"));
        let out_of_range = "2-12".parse::<SeatSelection>().unwrap().resolve(10).unwrap_err();
        assert_eq!(out_of_range, "seat 12 does not exist: this class has seats 1-10");
        let single = "2".parse::<SeatSelection>().unwrap().resolve(1).unwrap_err();
        assert!(single.contains("one seat"), "{single}");
    }

    #[test]
    fn engines_fill_in_order() {
        let engine = |name: &str, capacity| Engine {
            name: name.into(),
            target: EngineTarget::Context(name.into()),
            capacity: Some(capacity),
        };
        let class =
            ClassSettings { seats: 5, engines: vec![engine("a", 2), engine("b", 3)], ..ClassSettings::default() };
        let names: Vec<&str> = (1..=5).map(|seat| class.engine_of(seat).name.as_str()).collect();
        assert_eq!(names, ["a", "a", "b", "b", "b"]);
        let placement: Vec<(&str, Vec<u32>)> =
            class.placement().into_iter().map(|(engine, seats)| (engine.name.as_str(), seats)).collect();
        assert_eq!(placement, [("a", vec![1, 2]), ("b", vec![3, 4, 5])]);
    }

    #[test]
    fn engines_describe_themselves_by_name_and_address() {
        let engine = |name: &str, target| Engine { name: name.into(), target, capacity: Some(1) };
        let server = engine("lab-server-2", EngineTarget::Host("ssh://ubuntu@10.0.0.5".into()));
        assert_eq!(server.describe(), "engine \"lab-server-2\" (ssh://ubuntu@10.0.0.5)");
        let unnamed = engine("ssh://ubuntu@10.0.0.5", EngineTarget::Host("ssh://ubuntu@10.0.0.5".into()));
        assert_eq!(unnamed.describe(), "engine \"ssh://ubuntu@10.0.0.5\"");
        assert_eq!(engine("b", EngineTarget::Context("lab-2".into())).describe(), "engine \"b\" (context lab-2)");
        assert_eq!(engine("lab-2", EngineTarget::Context("lab-2".into())).describe(), "engine \"lab-2\"");
        assert_eq!(Engine::local().describe(), "engine \"local\" (this host's docker)");
        assert!(!Engine::local().is_configured() && server.is_configured());
    }
}
