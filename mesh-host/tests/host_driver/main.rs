//! `HostDriver` on its own: a fake in-memory runtime records what the driver
//! asks of it, replies land in plain slots, and time is one base `Instant`
//! plus `Duration`s. No sockets, no threads, no clock.

mod fake_runtime;
mod node;

mod burst;
mod close;
mod connect;
mod connection_end;
mod deadlines;
mod receive;
mod run_loop;
mod send;
mod turns;
