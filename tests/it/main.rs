//! The integration test binary: real models (fetched through `concord::models` on first use),
//! real knowledge files in temporary directories, and the `concord` binary itself.

mod answer;
mod browser;
mod common;
mod console;
mod console_daily;
mod drafts;
mod e5;
mod embed;
mod eval;
mod eval_run;
mod fairness;
mod faults;
mod followup;
mod fuzz;
mod gate;
mod generate;
mod import;
mod index;
mod instances;
mod knowledge;
mod layering;
mod llm;
mod models;
mod notify;
mod parts;
mod privacy;
mod release;
mod remote;
mod server;
