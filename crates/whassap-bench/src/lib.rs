//! `whassap-bench`: a lean XMPP load generator that works against any
//! server (Whassap, Prosody, ejabberd), and the reports that put their
//! figures side by side.
//!
//! Each scenario logs in accounts `PREFIX0..PREFIXn` (all with the same
//! password), samples the server process's CPU time and RSS from `/proc`
//! around its measured phase, checks the generator's own CPU use, and
//! returns a [`Outcome`]: figures by name, written as JSON and turned into
//! Markdown tables and bar charts (PNG and SVG) by [`report`].
//!
//! Two scenarios are Whassap's alone, as they use its REST API:
//! [`poll_push`] (what keeping followers up to date costs by polling, by
//! PEP and by SSE) and [`rest`] (REST throughput, driven by `wrk`).

pub mod barrier;
pub mod chat;
pub mod cli;
pub mod fanout;
pub mod floor;
pub mod http;
pub mod login;
pub mod outcome;
pub mod poll_push;
pub mod procfs;
pub mod report;
pub mod rest;
pub mod session;

pub use outcome::Outcome;
pub use session::Target;
