//! `labctl serve`: gather what the pages need (each seat's node shells and
//! link secret, the labs' handouts as HTML), say where it serves, and run
//! the server (`crate::serve`) until Ctrl-C.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use super::{Context, Intent};
use crate::access::{links, SeatFiles, ACCESS_DIR};
use crate::cli::ServeArgs;
use crate::files;
use crate::labs::manifest::Language;
use crate::provider::listen;
use crate::provider::ssh::HostKeys;
use crate::serve::app::{self, App};
use crate::serve::{handout, LabPage, SeatSite, Site};

pub fn run(context: &Context, args: &ServeArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let clusters = context.seats(&settings, &catalog, None, Intent::Read)?;
    let root = context.workspace.join(ACCESS_DIR);
    let templates = context.templates()?;
    let mut seats = Vec::new();
    for cluster in &clusters {
        let runner = context.runner(false);
        let (_, provider) = context.provider_for(cluster, runner.as_ref(), None, HostKeys::Known)?;
        // Each terminal's shell carries this seat's mark and its own number
        // (see `TaggedShell::retagged`).
        let tag = links::random_hex()?;
        let shells = cluster
            .nodes()
            .iter()
            .map(|node| Ok((node.name.clone(), provider.tagged_shell(&node.name, &tag, &templates)?)))
            .collect::<Result<Vec<_>>>()?;
        let seat = cluster.seat_of_class();
        let secret = links::seat_secret(&SeatFiles::new(&root, cluster), args.new_links)?;
        // The labs' pages: only where the seat's forwards are on this host.
        let forwards = match provider.forwards_here() {
            true => cluster
                .forwards()
                .iter()
                .filter(|forward| forward.protocol == "tcp")
                .map(|f| (f.guest, f.host))
                .collect(),
            false => BTreeMap::new(),
        };
        seats.push(SeatSite {
            number: seat.number,
            label: seat.label(),
            secret: secret.expose().to_string(),
            shells,
            tag,
            forwards,
        });
    }
    let board = links::board_secret(&root, args.new_links)?;
    let first = clusters.first().context("internal error: a class without seats")?;
    let (address, why) = listen::students_bind(first)?;
    let port = settings.class.web_port;
    let host = listen::url_host(&address.to_string());
    let tls = settings
        .class
        .web_tls
        .as_ref()
        .map(|(cert, key)| app::Tls { cert: context.workspace.join(cert), key: context.workspace.join(key) });
    let scheme = if tls.is_some() { "https" } else { "http" };
    let board_url = format!("{scheme}://{host}:{port}/board#{}", board.expose());
    files::write_private(&root.join("board.url"), format!("{board_url}\n").as_bytes())?;

    let seeded: Vec<&str> = settings.seeded_labs.iter().map(|lab| lab.id.as_str()).collect();
    let mut labs = Vec::new();
    for lab in catalog.labs().iter().filter(|lab| seeded.contains(&lab.manifest.id.as_str())) {
        let mut handouts = BTreeMap::new();
        for (code, language) in [("ko", Language::Ko), ("en", Language::En)] {
            handouts.insert(code.to_string(), handout::to_html(&lab.handout(language)?));
        }
        let manifest = &lab.manifest;
        labs.push(LabPage {
            id: manifest.id.clone(),
            title: manifest.title.clone(),
            title_ko: manifest.title_ko.clone(),
            handouts,
        });
    }
    // The page's first choice: the first served lab's handout language.
    let language = catalog
        .labs()
        .iter()
        .find(|lab| seeded.contains(&lab.manifest.id.as_str()))
        .map_or("ko", |lab| lab.manifest.language.as_str());
    let mut pages: Vec<(u16, String)> = Vec::new();
    for forward in first.forwards().iter().filter(|forward| forward.protocol == "tcp") {
        if !pages.iter().any(|(guest, _)| *guest == forward.guest) {
            pages.push((forward.guest, forward.node.clone()));
        }
    }
    let site = Site {
        class: settings.cluster_name.clone(),
        seats,
        board_secret: board.expose().to_string(),
        pages,
        port,
        labs,
        language: language.to_string(),
        labctl: std::env::current_exe().context("cannot tell where labctl itself is")?,
        workspace: context.workspace.clone(),
    };
    context.ui.note(&format!(
        "serving class {} ({} seats) at {scheme}://{host}:{port}/ ({why}); each seat's link is in its handout (`labctl class roster`), your board's in {}",
        site.class,
        site.seats.len(),
        super::roster::shown(&root.join("board.url"))
    ));
    if tls.is_none() {
        context.ui.warn("no TLS: the pages, the terminals' keys and the links cross the classroom's network unencrypted; give [class] web_cert and web_key for HTTPS");
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the server")?;
    let app = App::new(site)?;
    runtime.block_on(app::serve(app, SocketAddr::new(address, port), tls))?;
    Ok(ExitCode::SUCCESS)
}
