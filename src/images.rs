//! Offline images for classrooms: pull once on this host, save each image
//! once, then load it into every node that lacks it (same image ID skips),
//! over as many seats as asked. Unpacking inside each node is the cost, and
//! it is this host's CPU (a 400 MB image: 11 s into one node, 46 s into 8
//! nodes on 2 cores, whether at once or in turn), so at most as many nodes
//! load at once as the host has cores (`[images] parallel`): each node is
//! ready as early as it can be, and memory holds that many unpacks, not 40.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use anyhow::{Context as _, Result};

use crate::config::Cluster;
use crate::exec::{CommandSpec, Runner};
use crate::parallel::{in_parallel, in_parallel_bounded};
use crate::provider::docker_cli::DockerCli;
use crate::provider::NodeShell;
use crate::timeouts::{Timeouts, Wait};
use crate::ui::{format_elapsed, Ui};

/// How many nodes are asked at once whether they have an image (a cheap read).
const PROBES_AT_ONCE: usize = 16;

/// The images of the given labs (all seeded labs when `None`), each once.
pub fn lab_images(cluster: &Cluster, lab: Option<&str>) -> Result<Vec<String>> {
    let labs = match lab {
        Some(name) => vec![cluster.lab(name)?],
        None => cluster.seeded().to_vec(),
    };
    let mut images: Vec<String> = Vec::new();
    for placed in labs {
        for image in &placed.lab.manifest.images {
            if !images.contains(image) {
                images.push(image.clone());
            }
        }
    }
    Ok(images)
}

/// `docker …` on this host's engine, within the limit of its kind: every
/// docker command of this module that does not run on a node.
fn docker(args: &[&str], purpose: &str, wait: Wait, timeouts: Timeouts) -> CommandSpec {
    DockerCli::here(timeouts).of_kind(wait, args, purpose)
}

/// `docker pull` every image on this host at once, a line for each as it
/// ends; returns the ones that failed, with why.
pub fn pull(images: &[String], host: &dyn Runner, timeouts: Timeouts, ui: &Ui) -> Result<Vec<(String, String)>> {
    let outcomes = in_parallel(images, |image| {
        let started = std::time::Instant::now();
        let spec = docker(&["pull", "--quiet", "--", image], &format!("pull {image}"), Wait::Long, timeouts);
        let output = host.run(&spec)?;
        let elapsed = ui.dim(&format_elapsed(started.elapsed()));
        match output.success() {
            true => ui.done(&format!("pulled {image} {elapsed}")),
            false => ui.error(&format!("could not pull {image}: {}", output.tail(1))),
        }
        Ok((!output.success()).then(|| (image.clone(), output.tail(1))))
    })?;
    Ok(outcomes.into_iter().flatten().collect())
}

/// How many nodes unpack an image at once: `[images] parallel`, else this
/// host's cores.
pub fn loads_at_once(configured: Option<u32>) -> usize {
    match configured {
        Some(count) => count.max(1) as usize,
        None => std::thread::available_parallelism().map(usize::from).unwrap_or(1),
    }
}

/// One seat's nodes that images may go to.
#[derive(Clone)]
pub struct SeatNodes<'a> {
    /// The seat's cluster name, for messages.
    pub name: String,
    pub shell: NodeShell<'a>,
    pub nodes: Vec<String>,
}

impl<'a> SeatNodes<'a> {
    /// Every node of `cluster`.
    pub fn all_nodes(cluster: &Cluster, shell: NodeShell<'a>) -> SeatNodes<'a> {
        let nodes = cluster.nodes().names().into_iter().map(String::from).collect();
        SeatNodes { name: cluster.name().to_string(), shell, nodes }
    }
}

/// A node of one of the seats given to [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Its seat's index among them.
    pub seat: usize,
    pub node: String,
}

/// What loading one image takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePlan {
    pub image: String,
    /// Its ID in this host's Docker; `None`: this host does not have it.
    pub id: Option<String>,
    /// The nodes without this image ID.
    pub missing_on: Vec<Place>,
    /// The nodes that have it already.
    pub already_on: Vec<Place>,
}

/// Read which of `images` this host has and which nodes of `seats` lack
/// them (probes only).
pub fn plan(images: &[String], seats: &[SeatNodes], host: &dyn Runner, timeouts: Timeouts) -> Result<Vec<ImagePlan>> {
    let places: Vec<Place> = seats
        .iter()
        .enumerate()
        .flat_map(|(seat, nodes)| nodes.nodes.iter().map(move |node| Place { seat, node: node.clone() }))
        .collect();
    images
        .iter()
        .map(|image| {
            // `--` everywhere: an image name is never read as an option.
            let inspect = ["image", "inspect", "--format", "{{.Id}}", "--", image];
            let on_host = host.run(&docker(&inspect, "look for an image on this host", Wait::Read, timeouts))?;
            if !on_host.success() {
                let missing_on = places.clone();
                return Ok(ImagePlan { image: image.clone(), id: None, missing_on, already_on: Vec::new() });
            }
            let id = on_host.stdout.trim().to_string();
            let present = in_parallel_bounded(&places, PROBES_AT_ONCE, |place| {
                let shell = seats[place.seat].shell;
                let argv: Vec<&str> = std::iter::once("docker").chain(inspect).collect();
                let answer = shell.run(&shell.probe(&place.node, &argv, "look for an image"))?;
                Ok(answer.success() && answer.stdout.trim() == id)
            })
            .into_iter()
            .collect::<Result<Vec<bool>>>()?;
            let (already, missing): (Vec<_>, Vec<_>) = places.iter().cloned().zip(present).partition(|(_, has)| *has);
            Ok(ImagePlan {
                image: image.clone(),
                id: Some(id),
                missing_on: missing.into_iter().map(|(place, _)| place).collect(),
                already_on: already.into_iter().map(|(place, _)| place).collect(),
            })
        })
        .collect()
}

/// Images saved out of this host's Docker, each once, for as many nodes of
/// as many seats as need it: one per command, which a class's seats share
/// (`up --seat all` saves an image once for the class, as `images load`
/// does), in a temporary folder removed when this is dropped.
#[derive(Default)]
pub struct SavedImages {
    dir: OnceLock<tempfile::TempDir>,
    /// By image name and ID (a saved file carries its name's tag): a save
    /// that is done, or under way (the others wait).
    saves: Mutex<HashMap<String, Arc<Save>>>,
}

/// One image's file once it is saved, or why it could not be.
type Save = OnceLock<Result<PathBuf, String>>;

impl SavedImages {
    /// The file that holds `image` (this host's image ID `id`), saved from
    /// this host the first time any seat asks for it.
    fn file(&self, image: &str, id: &str, host: &dyn Runner, timeouts: Timeouts) -> Result<PathBuf> {
        let (once, index) = {
            let mut saves = self.saves.lock().unwrap_or_else(PoisonError::into_inner);
            let index = saves.len();
            (saves.entry(format!("{image}@{id}")).or_default().clone(), index)
        };
        let saved = once.get_or_init(|| self.save(image, index, host, timeouts).map_err(|error| format!("{error:#}")));
        saved.clone().map_err(anyhow::Error::msg)
    }

    fn save(&self, image: &str, index: usize, host: &dyn Runner, timeouts: Timeouts) -> Result<PathBuf> {
        let dir = match self.dir.get() {
            Some(dir) => dir,
            None => {
                let made = tempfile::Builder::new()
                    .prefix("labctl-images-")
                    .tempdir()
                    .context("cannot make a temporary folder for saved images (TMPDIR)")?;
                self.dir.get_or_init(|| made)
            }
        };
        let path = dir.path().join(format!("image-{index}.tar"));
        let save = docker(&["save", "--", image], &format!("save {image} on this host"), Wait::Long, timeouts)
            .stdout_file(path.clone());
        host.run_checked(&save)?;
        Ok(path)
    }

    /// How many images were saved (or tried).
    pub fn saves(&self) -> usize {
        self.saves.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// Load each image of `plans` into the nodes that lack it, at most
/// `at_once` nodes unpacking at a time, from its file in `saved` (saved
/// once, the first time a node needs it). Images this host does not have
/// are left out.
pub fn carry_out(
    plans: &[ImagePlan],
    seats: &[SeatNodes],
    host: &dyn Runner,
    at_once: usize,
    timeouts: Timeouts,
    saved: &SavedImages,
) -> Result<()> {
    let needed: Vec<(&ImagePlan, &str)> = plans
        .iter()
        .filter_map(|plan| plan.id.as_deref().filter(|_| !plan.missing_on.is_empty()).map(|id| (plan, id)))
        .collect();
    let mut files = Vec::new();
    for (plan, id) in &needed {
        files.push(saved.file(&plan.image, id, host, timeouts)?);
    }
    let loads: Vec<(&ImagePlan, &PathBuf, &Place)> = needed
        .iter()
        .zip(&files)
        .flat_map(|((plan, _), file)| plan.missing_on.iter().map(move |place| (*plan, file, place)))
        .collect();
    let loaded = in_parallel_bounded(&loads, at_once, |(plan, file, place)| {
        let seat = &seats[place.seat];
        let purpose = format!("load {} (seat {})", plan.image, seat.name);
        let argv = ["docker", "load", "--quiet"];
        let load = seat.shell.command_from_file(Wait::Long, &place.node, &argv, &purpose, file.to_path_buf());
        seat.shell.run_checked(&load).map(|_| ())
    });
    // Every node had its turn; the first failure (in node order) is said.
    loaded.into_iter().collect()
}

/// Copy `image` from this host's Docker into `nodes` (all at once),
/// skipping a node with the same image ID; nothing when this host does not
/// have it: the registry's own image.
pub fn load_into(image: &str, nodes: &[&str], shell: NodeShell, host: &dyn Runner, saved: &SavedImages) -> Result<()> {
    let seat = SeatNodes { name: String::new(), shell, nodes: nodes.iter().map(|node| node.to_string()).collect() };
    let timeouts = shell.provider.timeouts();
    let seats = [seat];
    let plans = plan(&[image.to_string()], &seats, host, timeouts)?;
    carry_out(&plans, &seats, host, nodes.len(), timeouts, saved)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::{test_catalog, test_cluster, test_settings};
    use crate::exec::fake::RecordingRunner;
    use crate::exec::Output;
    use crate::provider::docker::DockerProvider;
    use crate::ui::Verbosity;

    #[test]
    fn only_nodes_without_the_same_image_id_get_it() {
        let settings = test_settings("");
        let runner = RecordingRunner::lenient();
        runner.answer("docker image inspect", 0, "sha256:new\n", "");
        runner.answer("docker exec swarm-lab-manager docker image inspect", 0, "sha256:new\n", "");
        runner.answer("docker exec swarm-lab-node1 docker image inspect", 0, "sha256:old\n", "");
        runner.answer("docker exec swarm-lab-node2 docker image inspect", 1, "", "No such image");
        runner.answer("docker exec swarm-lab-node3 docker image inspect", 0, "sha256:new\n", "");
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let seats = [SeatNodes::all_nodes(&cluster, NodeShell::new(&provider, &runner))];
        let plans = plan(&["mysql:5.7".to_string()], &seats, &runner, Timeouts::default()).unwrap();
        let names = |places: &[Place]| places.iter().map(|place| place.node.clone()).collect::<Vec<_>>();
        assert_eq!(names(&plans[0].missing_on), ["node1", "node2"]);
        assert_eq!(names(&plans[0].already_on), ["manager", "node3"]);
        assert_eq!(runner.changes(), Vec::<String>::new(), "planning only reads");

        carry_out(&plans, &seats, &runner, 4, Timeouts::default(), &SavedImages::default()).unwrap();
        let mut changes = runner.changes();
        let save = changes.remove(0);
        assert!(save.starts_with("docker save -- mysql:5.7 > "), "{save}");
        let file = save.rsplit(' ').next().unwrap().to_string();
        changes.sort();
        assert_eq!(
            changes,
            [
                format!("docker exec --interactive swarm-lab-node1 docker load --quiet < {file}"),
                format!("docker exec --interactive swarm-lab-node2 docker load --quiet < {file}"),
            ]
        );
        assert!(!std::path::Path::new(&file).exists(), "the saved image is removed after the loads");
    }

    #[test]
    fn an_image_missing_on_the_host_is_planned_for_no_load() {
        let settings = test_settings("");
        let runner = RecordingRunner::default();
        runner.answer("docker image inspect", 1, "", "No such image");
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let seats = [SeatNodes::all_nodes(&cluster, NodeShell::new(&provider, &runner))];
        let plans = plan(&["mysql:5.7".to_string()], &seats, &runner, Timeouts::default()).unwrap();
        assert_eq!(plans[0].id, None);
        carry_out(&plans, &seats, &runner, 4, Timeouts::default(), &SavedImages::default()).unwrap();
        assert_eq!(runner.changes(), Vec::<String>::new());
    }

    /// Counts the `docker load`s running at once (each takes a while).
    #[derive(Default)]
    struct Unpacking {
        recorded: RecordingRunner,
        running: AtomicUsize,
        most: AtomicUsize,
    }

    impl Runner for Unpacking {
        fn run(&self, spec: &CommandSpec) -> Result<Output> {
            if !spec.args.iter().any(|arg| arg == "load") {
                return self.recorded.run(spec);
            }
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(30));
            self.running.fetch_sub(1, Ordering::SeqCst);
            self.recorded.run(spec)
        }

        fn run_interactive(&self, spec: &CommandSpec) -> Result<i32> {
            self.recorded.run_interactive(spec)
        }
    }

    #[test]
    fn each_image_is_saved_once_for_every_seat_and_at_most_the_bound_unpack_at_once() {
        let settings = test_settings("[cluster]\nname = \"cls\"\n[class]\nseats = 3\naccess = \"none\"\n");
        let seats: Vec<Cluster> =
            (1..=3).map(|number| Cluster::seat(&settings, test_catalog(), number).unwrap()).collect();
        let runner = Unpacking::default();
        runner.recorded.always("docker image inspect", 0, "sha256:host\n", "");
        runner.recorded.always("docker save -- ", 0, "saved image\n", "");
        runner.recorded.always("docker exec --interactive ", 0, "Loaded image\n", "");
        for seat in ["s01", "s02", "s03"] {
            for node in ["manager", "node1", "node2", "node3"] {
                let probe = format!("docker exec cls-{seat}-{node} docker image inspect");
                runner.recorded.always(&probe, 1, "", "No such image");
            }
        }
        let providers: Vec<DockerProvider> = seats.iter().map(|seat| DockerProvider::new(seat, &runner)).collect();
        let targets: Vec<SeatNodes> = seats
            .iter()
            .zip(&providers)
            .map(|(seat, provider)| SeatNodes::all_nodes(seat, NodeShell::new(provider, &runner)))
            .collect();
        let images = ["node:slim".to_string(), "mysql:5.7".to_string()];
        let plans = plan(&images, &targets, &runner, Timeouts::default()).unwrap();
        assert!(plans.iter().all(|plan| plan.missing_on.len() == 12), "{plans:#?}");
        carry_out(&plans, &targets, &runner, 2, Timeouts::default(), &SavedImages::default()).unwrap();

        let changes = runner.recorded.changes();
        let saves: Vec<&String> = changes.iter().filter(|line| line.starts_with("docker save")).collect();
        assert_eq!(saves.len(), 2, "each image saved once for 3 seats × 4 nodes: {saves:#?}");
        let loads = changes.iter().filter(|line| line.contains(" docker load --quiet < ")).count();
        assert_eq!(loads, 24);
        assert_eq!(runner.most.load(Ordering::SeqCst), 2, "two unpack at a time, never more");
    }

    #[test]
    fn seats_that_load_at_once_share_one_save_of_each_image() {
        // Two seats' `up`s, each loading on its own, with the class's store.
        let settings = test_settings("[cluster]\nname = \"cls\"\n[class]\nseats = 2\naccess = \"none\"\n");
        let seats: Vec<Cluster> =
            (1..=2).map(|number| Cluster::seat(&settings, test_catalog(), number).unwrap()).collect();
        let runner = RecordingRunner::default();
        runner.always("docker image inspect", 0, "sha256:host\n", "");
        runner.always("docker exec cls-", 1, "", "No such image");
        runner.always("docker save -- ", 0, "saved image\n", "");
        runner.always("docker exec --interactive ", 0, "Loaded image\n", "");
        let saved = SavedImages::default();
        std::thread::scope(|scope| {
            for seat in &seats {
                let (runner, saved) = (&runner, &saved);
                scope.spawn(move || {
                    let provider = DockerProvider::new(seat, runner);
                    let targets = [SeatNodes::all_nodes(seat, NodeShell::new(&provider, runner))];
                    let plans = plan(&["registry:2".to_string()], &targets, runner, Timeouts::default()).unwrap();
                    carry_out(&plans, &targets, runner, 2, Timeouts::default(), saved).unwrap();
                });
            }
        });
        let changes = runner.changes();
        assert_eq!(changes.iter().filter(|line| line.starts_with("docker save")).count(), 1, "{changes:#?}");
        assert_eq!(changes.iter().filter(|line| line.contains(" docker load --quiet < ")).count(), 8);
        assert_eq!(saved.saves(), 1);
    }

    #[test]
    fn the_bound_is_the_configured_count_else_the_cores() {
        assert_eq!(loads_at_once(Some(3)), 3);
        let cores = std::thread::available_parallelism().map(usize::from).unwrap();
        assert_eq!(loads_at_once(None), cores);
    }

    #[test]
    fn pull_reports_each_image_that_failed() {
        let runner = RecordingRunner::lenient();
        runner.answer(
            "docker pull --quiet -- mysql:5.7",
            1,
            "",
            "Error response from daemon: toomanyrequests: pull rate limit\n",
        );
        let images = ["registry:2".to_string(), "mysql:5.7".to_string()];
        let failed = pull(&images, &runner, Timeouts::default(), &Ui::new(Verbosity::Quiet)).unwrap();
        assert_eq!(
            failed,
            vec![("mysql:5.7".to_string(), "Error response from daemon: toomanyrequests: pull rate limit".to_string())]
        );
        let mut lines = runner.command_lines();
        lines.sort();
        assert_eq!(lines, vec!["docker pull --quiet -- mysql:5.7", "docker pull --quiet -- registry:2"]);
    }

    #[test]
    fn lab_images_are_listed_once() {
        let settings = test_settings("[labs]\nseed = [\"lab2\", \"lab4\"]\n");
        let catalog = crate::labs::Catalog::load(std::path::Path::new("/nonexistent")).unwrap();
        let images = lab_images(&Cluster::new(&settings, &catalog).unwrap(), None).unwrap();
        let unique: std::collections::BTreeSet<&String> = images.iter().collect();
        assert_eq!(unique.len(), images.len(), "{images:?}");
        assert!(images.contains(&"gihyodocker/nginx-proxy".to_string()));
    }
}
