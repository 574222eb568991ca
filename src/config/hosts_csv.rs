//! `labctl class import hosts.csv`: a class's machines from a spreadsheet
//! (what a school's Terraform or inventory prints) into labctl.toml's
//! `[[ssh.hosts]]`, written with toml_edit so that the file's comments and
//! layout stay.
//!
//! The CSV has a header row naming its columns, in any order: `node` and
//! `address` are needed; `seat`, `user`, `port`, `identity_file` and
//! `advertise_ip` may be left out or empty.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

use super::ssh::{host_problems, RawSshHost};

pub const COLUMNS: [&str; 7] = ["seat", "node", "address", "user", "port", "identity_file", "advertise_ip"];

/// One machine of the CSV and the line it is on.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvHost {
    pub line: u64,
    pub host: RawSshHost,
}

/// The machines of a hosts CSV, each checked as `[[ssh.hosts]]` entries
/// are; every problem one line `FILE:LINE: column: what is wrong`.
pub fn read(path: &Path, text: &str) -> Result<Vec<CsvHost>> {
    let name = path.display();
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).comment(Some(b'#')).from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{name}: cannot read its header row"))?
        .iter()
        .map(str::to_lowercase)
        .collect();
    let unknown: Vec<&String> = header.iter().filter(|column| !COLUMNS.contains(&column.as_str())).collect();
    if !unknown.is_empty() || !["node", "address"].iter().all(|needed| header.iter().any(|column| column == needed)) {
        bail!(
            "{name}:1: the header row must name the columns (node and address at least) from: {}; it has: {}",
            COLUMNS.join(","),
            header.join(",")
        );
    }
    let mut hosts = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|error| anyhow!("{name}: {error}"))?;
        let line = record.position().map_or(0, |position| position.line());
        let cell = |column: &str| {
            let index = header.iter().position(|name| name == column)?;
            record.get(index).filter(|text| !text.is_empty()).map(String::from)
        };
        let mut number = |column: &'static str| -> Option<u32> {
            let text = cell(column)?;
            text.parse().map_err(|_| problems.push(format!("{name}:{line}: {column}: {text:?} is not a number"))).ok()
        };
        let seat = number("seat");
        let port = number("port").and_then(|port| {
            u16::try_from(port).map_err(|_| problems.push(format!("{name}:{line}: port: {port} is not a port"))).ok()
        });
        let host = RawSshHost {
            seat,
            node: cell("node").unwrap_or_default(),
            address: cell("address").unwrap_or_default(),
            user: cell("user"),
            port,
            identity_file: cell("identity_file"),
            advertise_ip: cell("advertise_ip"),
        };
        problems.extend(
            host_problems(&host).into_iter().map(|(column, message)| format!("{name}:{line}: {column}: {message}")),
        );
        hosts.push(CsvHost { line, host });
    }
    if hosts.is_empty() && problems.is_empty() {
        bail!("{name}: no machines in it (one row per machine after the header)");
    }
    if !problems.is_empty() {
        bail!(problems.join("\n"));
    }
    Ok(hosts)
}

/// What importing changes besides the hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub text: String,
    /// The seats the CSV has machines for (its highest seat number).
    pub seats: u32,
    /// Workers per seat: the CSV's nodes other than the manager.
    pub workers: usize,
}

/// `config` (labctl.toml's text, empty when there is none) with every
/// `[[ssh.hosts]]` replaced by `hosts`, `provider = "ssh"`, `workers` set
/// to the CSV's worker count and `[class] seats` to its seats (when more
/// than one, or already written). Comments and other keys stay.
pub fn apply(config: &str, hosts: &[CsvHost], manager_name: &str) -> Result<Imported> {
    let mut document: DocumentMut = config.parse().context("labctl.toml does not parse; fix it first")?;
    let seats = hosts.iter().map(|host| host.host.seat.unwrap_or(1)).max().unwrap_or(1);
    let workers: BTreeSet<&str> = hosts
        .iter()
        .filter(|host| host.host.seat.unwrap_or(1) == 1 && host.host.node != manager_name)
        .map(|host| host.host.node.as_str())
        .collect();
    let cluster = table(&mut document, "cluster")?;
    cluster["provider"] = value("ssh");
    cluster["workers"] = value(workers.len() as i64);
    if seats > 1 || document.get("class").is_some() {
        table(&mut document, "class")?["seats"] = value(i64::from(seats));
    }
    let mut tables = ArrayOfTables::new();
    for CsvHost { host, .. } in hosts {
        let mut table = Table::new();
        if let Some(seat) = host.seat {
            table["seat"] = value(i64::from(seat));
        }
        table["node"] = value(&host.node);
        table["address"] = value(&host.address);
        if let Some(user) = &host.user {
            table["user"] = value(user);
        }
        if let Some(port) = host.port {
            table["port"] = value(i64::from(port));
        }
        if let Some(file) = &host.identity_file {
            table["identity_file"] = value(file);
        }
        if let Some(ip) = &host.advertise_ip {
            table["advertise_ip"] = value(ip);
        }
        tables.push(table);
    }
    table(&mut document, "ssh")?.insert("hosts", Item::ArrayOfTables(tables));
    Ok(Imported { text: document.to_string(), seats, workers: workers.len() })
}

/// The top-level table `[name]`, made when the file has none.
fn table<'d>(document: &'d mut DocumentMut, name: &str) -> Result<&'d mut Table> {
    document
        .entry(name)
        .or_insert(Item::Table(Table::new()))
        .as_table_mut()
        .ok_or_else(|| anyhow!("labctl.toml: {name} is not a table; write it as [{name}]"))
}

/// A validation error line about `ssh.hosts[i]` of the imported file,
/// pointed at the CSV line that entry came from.
pub fn locate_in_csv(error: &str, path: &Path, hosts: &[CsvHost]) -> String {
    let Some(start) = error.find("ssh.hosts[") else { return error.to_string() };
    let rest = &error[start + "ssh.hosts[".len()..];
    let Some((index, after)) = rest.split_once(']') else { return error.to_string() };
    let Some(host) = index.parse::<usize>().ok().and_then(|index| hosts.get(index)) else {
        return error.to_string();
    };
    let field = after.trim_start_matches('.');
    format!("{}:{}: {field}", path.display(), host.line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "seat,node,address,user,port,identity_file,advertise_ip\n\
                       1,manager,203.0.113.10,ubuntu,,keys/s1.pem,10.0.1.10\n\
                       1,node1,203.0.113.11,ubuntu,2222,keys/s1.pem,10.0.1.11\n\
                       2,manager,203.0.113.20,ubuntu,,keys/s2.pem,10.0.2.10\n\
                       2,node1,203.0.113.21,ubuntu,,keys/s2.pem,10.0.2.11\n";

    #[test]
    fn rows_become_hosts_with_their_lines() {
        let hosts = read(Path::new("hosts.csv"), CSV).unwrap();
        assert_eq!(hosts.len(), 4);
        assert_eq!(hosts[1].line, 3);
        assert_eq!(hosts[1].host.port, Some(2222));
        assert_eq!(hosts[0].host.port, None, "an empty cell is unset");
        assert_eq!(hosts[3].host.advertise_ip.as_deref(), Some("10.0.2.11"));
    }

    #[test]
    fn bad_rows_are_named_by_line_and_column() {
        let csv = "node,address,port\nmanager,ubuntu@203.0.113.10,\nnode1,203.0.113.11,http\n";
        let error = read(Path::new("hosts.csv"), csv).unwrap_err().to_string();
        assert_eq!(
            error,
            "hosts.csv:2: address: \"ubuntu@203.0.113.10\" has a user in it; put the user in `user`\nhosts.csv:3: port: \"http\" is not a number"
        );
        let header = read(Path::new("hosts.csv"), "host,ip\nmanager,10.0.0.5\n").unwrap_err().to_string();
        assert!(header.starts_with("hosts.csv:1: the header row must name the columns"), "{header}");
    }

    #[test]
    fn the_file_keeps_its_comments_and_gets_the_hosts_seats_and_workers() {
        let hosts = read(Path::new("hosts.csv"), CSV).unwrap();
        let config = "# our class\n[cluster]\nname = \"cloud\" # the class name\nworkers = 3\n\n[[ssh.hosts]]\nnode = \"old\"\naddress = \"192.0.2.1\"\n";
        let imported = apply(config, &hosts, "manager").unwrap();
        assert_eq!((imported.seats, imported.workers), (2, 1));
        let text = &imported.text;
        assert!(text.starts_with("# our class\n[cluster]\nname = \"cloud\" # the class name\nworkers = 1\n"), "{text}");
        assert!(text.contains("provider = \"ssh\""), "{text}");
        assert!(text.contains("[class]\nseats = 2\n"), "{text}");
        assert!(!text.contains("192.0.2.1"), "the old hosts are replaced: {text}");
        let parsed: crate::config::RawConfig = toml::from_str(text).unwrap();
        assert_eq!(parsed.ssh.hosts.len(), 4);
        assert_eq!(parsed.ssh.hosts[1].port, Some(2222));
        assert_eq!(parsed.ssh.hosts[2].seat, Some(2));
    }

    #[test]
    fn validation_errors_point_at_the_csv_line() {
        let hosts = read(Path::new("hosts.csv"), CSV).unwrap();
        let error = "labctl.toml:40:8: ssh.hosts[2].node: \"nod1\" is not a node of this cluster";
        assert_eq!(
            locate_in_csv(error, Path::new("hosts.csv"), &hosts),
            "hosts.csv:4: node: \"nod1\" is not a node of this cluster"
        );
        assert_eq!(
            locate_in_csv("labctl.toml:3:1: cluster.name: bad", Path::new("x"), &hosts),
            "labctl.toml:3:1: cluster.name: bad"
        );
    }
}
