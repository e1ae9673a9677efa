//! zenbridge's integration tests: one binary, one module per area, over
//! real processes and sockets (the reference OpenID Provider, the Firebase
//! Auth emulator, Redis, headless Chromium, the `zenbridge` binary).
//! `common` runs the gateway in-process and serves keys; `support` starts
//! and drives the real peers. `scripts/test` installs what they need.

mod common;
mod support;

mod api;
mod browser;
mod cli;
mod cluster;
mod config;
mod deploy;
mod docs;
mod entra;
mod failover;
mod faults;
mod firebase_emulator;
mod harness;
mod hostile;
mod introspection;
mod keys;
mod links;
mod package;
mod rotation;
mod session;
mod soak;
mod sso;
mod state;
mod traces;
mod trust;
mod zendesk_jwt;
