//! The export engine: schedule arithmetic, the run queue with leases, the file runner and the
//! transports that deliver files to local folders, SFTP servers and object stores.

pub mod alerts;
pub mod members;
pub mod runner;
pub mod runs;
pub mod schedule;
pub mod streaming;
pub mod transport;
