//! The load of `bench/serve.sh` (not a test): many terminals open at once,
//! each typing one key at a time at a person's pace, and the time each key
//! takes to come back on screen (its echo). Two ways, in the same run:
//!
//! - `ws`: through `labctl serve`, as the seats' pages do (a websocket per
//!   terminal, the seat's secret in its first message);
//! - `pty`: the hand-rolled floor, `docker exec -it NODE bash` in a
//!   pseudo-terminal of this process, one per terminal, no server between.
//!
//! With `--pid` (the server's), it also says the memory of that process and
//! of its descendants (the shells' clients) before the terminals open and
//! while they are open; in `pty` mode, of this process's own children.
//! Prints one line of `key=value` figures (itself: it is not labctl, so
//! not through labctl's `Ui`).
#![allow(clippy::disallowed_macros)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use portable_pty::{native_pty_system, CommandBuilder, PtySize};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Load {
    /// Terminals open at once.
    #[arg(long, default_value_t = 30)]
    terminals: usize,
    /// Keys each terminal types.
    #[arg(long, default_value_t = 100)]
    keys: usize,
    /// The pause between two keys of one terminal, in milliseconds (a
    /// little more each time, so that the terminals do not type in step).
    #[arg(long, default_value_t = 120)]
    pause_ms: u64,
    #[command(subcommand)]
    way: Way,
}

#[derive(Subcommand)]
enum Way {
    /// Through `labctl serve`: terminal i on the seat of secret file i mod N.
    Ws {
        #[arg(long)]
        url: String,
        #[arg(long = "secret-file", required = true)]
        secret_files: Vec<PathBuf>,
        #[arg(long, default_value = "manager")]
        node: String,
        /// The server's process, for its memory.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// `docker exec -it CONTAINER bash` in a pseudo-terminal: terminal i on
    /// container i mod N.
    Pty {
        #[arg(long = "container", required = true)]
        containers: Vec<String>,
    },
}

/// The echo times of every key, in milliseconds, and the keys that never
/// came back within 5 s.
#[derive(Default)]
struct Echoes {
    times: Vec<f64>,
    lost: usize,
}

impl Echoes {
    fn add(&mut self, other: Echoes) {
        self.times.extend(other.times);
        self.lost += other.lost;
    }

    fn summary(mut self) -> String {
        self.times.sort_by(f64::total_cmp);
        let at = |fraction: f64| {
            let index = ((self.times.len() as f64 - 1.0) * fraction).round() as usize;
            self.times.get(index).copied().unwrap_or(f64::NAN)
        };
        format!(
            "keys={} lost={} echo_median_ms={:.1} echo_p99_ms={:.1} echo_max_ms={:.1}",
            self.times.len(),
            self.lost,
            at(0.5),
            at(0.99),
            self.times.last().copied().unwrap_or(f64::NAN)
        )
    }
}

/// The key terminal `terminal` types `index`-th: a letter, and the pause after it.
fn key(load: &Load, terminal: usize, index: usize) -> (u8, Duration) {
    let letter = b'a' + ((terminal + index) % 26) as u8;
    let pause = load.pause_ms + ((terminal * 7 + index * 13) % 40) as u64;
    (letter, Duration::from_millis(pause))
}

/// Ctrl-U every so many keys: the line never grows long.
const CLEAR_EVERY: usize = 40;

/// Resident memory of `pid` and of all its descendants, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let rss = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid …: comm may hold spaces, so after the last ')'.
        let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        if let Some(parent) = parent {
            parents.push((child, parent));
        }
    }
    let mut family = vec![pid];
    let mut index = 0;
    while index < family.len() {
        let parent = family[index];
        family.extend(parents.iter().filter(|(_, of)| *of == parent).map(|(child, _)| *child));
        index += 1;
    }
    (rss(pid), family[1..].iter().map(|child| rss(*child)).sum())
}

async fn ws_terminal(
    load: Arc<Load>,
    terminal: usize,
    url: String,
    secret: String,
    node: String,
    ready: Arc<tokio::sync::Barrier>,
    typing: Arc<tokio::sync::Barrier>,
) -> Echoes {
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await.expect("the server takes the terminal");
    let opening = serde_json::json!({ "secret": secret, "node": node, "cols": 120, "rows": 40 });
    socket.send(Message::Text(opening.to_string().into())).await.unwrap();
    // The prompt first.
    let mut screen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !screen.ends_with(b"# ") && Instant::now() < deadline {
        if let Ok(Some(Ok(Message::Binary(bytes)))) = tokio::time::timeout(Duration::from_secs(1), socket.next()).await
        {
            screen.extend_from_slice(&bytes);
        }
    }
    assert!(screen.ends_with(b"# "), "terminal {terminal} shows no prompt: {}", String::from_utf8_lossy(&screen));
    ready.wait().await;
    typing.wait().await;
    let mut echoes = Echoes::default();
    for index in 0..load.keys {
        let (letter, pause) = key(&load, terminal, index);
        let keys = serde_json::json!({ "t": "in", "d": (letter as char).to_string() }).to_string();
        let sent = Instant::now();
        socket.send(Message::Text(keys.into())).await.unwrap();
        let came = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(message)) = socket.next().await {
                if matches!(&message, Message::Binary(bytes) if bytes.contains(&letter)) {
                    return true;
                }
            }
            false
        })
        .await;
        match came {
            Ok(true) => echoes.times.push(sent.elapsed().as_secs_f64() * 1000.0),
            _ => echoes.lost += 1,
        }
        if (index + 1) % CLEAR_EVERY == 0 {
            let clear = serde_json::json!({ "t": "in", "d": "\u{15}" }).to_string();
            socket.send(Message::Text(clear.into())).await.unwrap();
        }
        tokio::time::sleep(pause).await;
        // Whatever else came meanwhile (the cleared line) is not an echo.
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(1), socket.next()).await {}
    }
    let _ = socket.close(None).await;
    echoes
}

fn through_the_server(load: Load, url: String, secret_files: Vec<PathBuf>, node: String, pid: Option<u32>) {
    let secrets: Vec<String> = secret_files
        .iter()
        .map(|file| std::fs::read_to_string(file).expect("the seat's link secret").trim().to_string())
        .collect();
    let load = Arc::new(load);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let idle = pid.map(memory);
    let ready = Arc::new(tokio::sync::Barrier::new(load.terminals + 1));
    let typing = Arc::new(tokio::sync::Barrier::new(load.terminals + 1));
    let echoes = runtime.block_on(async {
        let mut tasks = Vec::new();
        for terminal in 0..load.terminals {
            let secret = secrets[terminal % secrets.len()].clone();
            let (load, url, node) = (load.clone(), url.clone(), node.clone());
            let (ready, typing) = (ready.clone(), typing.clone());
            tasks.push(tokio::spawn(ws_terminal(load, terminal, url, secret, node, ready, typing)));
        }
        ready.wait().await;
        let open = pid.map(memory);
        typing.wait().await;
        let mut echoes = Echoes::default();
        for task in tasks {
            echoes.add(task.await.expect("a terminal's load"));
        }
        (echoes, open)
    });
    let (echoes, open) = echoes;
    let mut line = format!("way=labctl-serve terminals={} {}", load.terminals, echoes.summary());
    if let (Some((idle_server, idle_children)), Some((open_server, open_children))) = (idle, open) {
        let per_terminal = |before: u64, after: u64| after.saturating_sub(before) as f64 / load.terminals as f64;
        line.push_str(&format!(
            " server_kib_idle={idle_server} server_kib_open={open_server} server_kib_per_terminal={:.0} clients_kib_per_terminal={:.0}",
            per_terminal(idle_server, open_server),
            per_terminal(idle_children, open_children)
        ));
    }
    println!("{line}");
}

fn pty_terminal(load: &Load, terminal: usize, container: &str, ready: &Barrier, typing: &Barrier) -> Echoes {
    let pair = native_pty_system().openpty(PtySize { rows: 40, cols: 120, pixel_width: 0, pixel_height: 0 }).unwrap();
    let mut command = CommandBuilder::new("docker");
    command.args(["exec", "--interactive", "--tty", container, "bash", "-l"]);
    command.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(command).expect("docker exec");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let mut writer = pair.master.take_writer().unwrap();
    let (output_tx, output) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while let Ok(read) = reader.read(&mut buffer) {
            if read == 0 || output_tx.send(buffer[..read].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !screen.ends_with(b"# ") && Instant::now() < deadline {
        if let Ok(bytes) = output.recv_timeout(Duration::from_secs(1)) {
            screen.extend_from_slice(&bytes);
        }
    }
    assert!(screen.ends_with(b"# "), "terminal {terminal} shows no prompt: {}", String::from_utf8_lossy(&screen));
    ready.wait();
    typing.wait();
    let mut echoes = Echoes::default();
    for index in 0..load.keys {
        let (letter, pause) = key(load, terminal, index);
        let sent = Instant::now();
        writer.write_all(&[letter]).unwrap();
        writer.flush().unwrap();
        let mut came = false;
        while let Some(left) = Duration::from_secs(5).checked_sub(sent.elapsed()) {
            match output.recv_timeout(left) {
                Ok(bytes) if bytes.contains(&letter) => {
                    came = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        match came {
            true => echoes.times.push(sent.elapsed().as_secs_f64() * 1000.0),
            false => echoes.lost += 1,
        }
        if (index + 1) % CLEAR_EVERY == 0 {
            writer.write_all(b"\x15").unwrap();
        }
        std::thread::sleep(pause);
        while output.try_recv().is_ok() {}
    }
    let _ = child.kill();
    let _ = child.wait();
    echoes
}

fn hand_rolled(load: Load, containers: Vec<String>) {
    let load = Arc::new(load);
    let ready = Arc::new(Barrier::new(load.terminals + 1));
    let typing = Arc::new(Barrier::new(load.terminals + 1));
    let idle = memory(std::process::id());
    let threads: Vec<_> = (0..load.terminals)
        .map(|terminal| {
            let (load, ready, typing) = (load.clone(), ready.clone(), typing.clone());
            let container = containers[terminal % containers.len()].clone();
            std::thread::spawn(move || pty_terminal(&load, terminal, &container, &ready, &typing))
        })
        .collect();
    ready.wait();
    let open = memory(std::process::id());
    typing.wait();
    let mut echoes = Echoes::default();
    for thread in threads {
        echoes.add(thread.join().expect("a terminal's load"));
    }
    let per_terminal = open.1.saturating_sub(idle.1) as f64 / load.terminals as f64;
    println!(
        "way=hand-rolled terminals={} {} clients_kib_per_terminal={per_terminal:.0}",
        load.terminals,
        echoes.summary()
    );
}

fn main() {
    let mut load = Load::parse();
    let way = std::mem::replace(&mut load.way, Way::Pty { containers: Vec::new() });
    match way {
        Way::Ws { url, secret_files, node, pid } => through_the_server(load, url, secret_files, node, pid),
        Way::Pty { containers } => hand_rolled(load, containers),
    }
}
