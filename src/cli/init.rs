//! `concord init DIR`: writes a new shop folder and prints the next steps.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

#[derive(Args)]
pub struct InitArgs {
    /// The new shop folder (must not exist, or be empty).
    dir: PathBuf,
}

pub fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    let files = concord::init::create_shop(&args.dir)?;
    for f in &files {
        println!("created {}", f.display());
    }
    let dir = args.dir.display();
    println!(
        "\nNext steps:\n\
         1. Edit {dir}/concord.toml (business_name, opening hours, allowed_origins).\n\
         2. Replace the example articles and approved answers, or import your shop's pages:\n\
         \x20    concord --config {dir}/concord.toml import sitemap https://your-shop/sitemap.xml\n\
         \x20    concord --config {dir}/concord.toml import csv answers.csv\n\
         3. Fetch the models and build the index:\n\
         \x20    concord --config {dir}/concord.toml models fetch\n\
         \x20    concord --config {dir}/concord.toml ingest\n\
         4. Add a staff account and serve the widget and the console:\n\
         \x20    concord --config {dir}/concord.toml staff add admin --role admin\n\
         \x20    concord --config {dir}/concord.toml serve\n\
         5. Keep it current: concord --config {dir}/concord.toml knowledge check"
    );
    Ok(ExitCode::SUCCESS)
}
