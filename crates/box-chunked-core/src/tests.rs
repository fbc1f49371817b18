//! Tests of the machine against a simulated Box (in memory, virtual time).

mod digests;
mod props;
mod scenarios;
mod sim;
mod tune;
