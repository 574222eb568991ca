//! Integration tests: the real `labctl` binary in a temporary workspace,
//! with fake programs first on PATH.

// The tests run labctl and this host's tools (docker, shellcheck, vagrant)
// themselves and print what they measured: the choke-point rules of
// clippy.toml (programs through exec, output through ui) are for src/.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod architecture;
mod bad_input;
mod class_change;
mod class_read;
mod cli;
mod doctor;
mod dry_run;
mod e2e;
mod e2e_access;
mod e2e_browser;
mod e2e_cache;
mod e2e_class;
mod e2e_class_read;
mod e2e_data;
mod e2e_engines;
mod e2e_handouts;
mod e2e_incus;
mod e2e_incus_cluster;
mod e2e_isolation;
mod e2e_labs;
mod e2e_limits;
mod e2e_mesh;
mod e2e_nodeimage;
mod e2e_rootless;
mod e2e_serve;
mod e2e_ssh;
mod e2e_stand_ins;
mod e2e_swarm;
mod e2e_vagrant;
mod e2e_workspaces;
mod engines;
mod exec;
mod exit_codes;
mod handout;
mod init;
mod interrupt;
mod labs;
mod list;
mod lock;
mod logs;
mod modules;
mod provision;
mod render;
mod roster;
mod ssh;
mod support;
mod vagrant;
mod workspaces;
