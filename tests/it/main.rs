//! Integration tests: the real `labctl` binary in a temporary workspace,
//! with fake programs first on PATH.

mod bad_input;
mod cli;
mod doctor;
mod init;
mod labs;
mod provision;
mod render;
mod support;
