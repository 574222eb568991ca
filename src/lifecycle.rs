//! A lab's lifecycle on a cluster: the code that acts on nodes for the lab
//! data of [`crate::labs`] — seeding the labs, resetting one, running its
//! checks (and keeping their last results on this host) and its reference
//! solution. Lab data never imports this module.

pub mod check;
pub mod grades;
pub mod mesh;
pub mod reset;
pub mod seed;
pub mod solve;

#[cfg(test)]
mod shipped_checks;
