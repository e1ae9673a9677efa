//! `zenbridge links …`: the operator's tools for identity links
//! ([`crate::links`]): migrate the schema, list, show, set, delete, and
//! import a Zendesk user export or export the links as CSV.
//!
//! Exit codes: 0 done, 1 the config or the store failed, 2 a usage
//! problem (unknown target, a bad import file: nothing imported).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use super::print_problems;
use crate::config;
use crate::links::{Link, LinkStore, import};

#[derive(Debug, Subcommand)]
pub enum LinksCommand {
    /// Create or update the link store's schema (serve does it at start-up)
    Migrate,
    /// List links, one a line (tab-separated), or as JSON
    List {
        /// Only this target's
        #[arg(long)]
        target: Option<String>,
        /// Print the links as a JSON array
        #[arg(long)]
        json: bool,
    },
    /// Show the link of one key (an email in lower case, or the key the
    /// target's `link.key` computes)
    Show {
        /// The target (its `name` in the config)
        #[arg(long)]
        target: String,
        /// The person's link key
        key: String,
    },
    /// Link a key to an external_id (replaces the key's link)
    Set {
        /// The target (its `name` in the config)
        #[arg(long)]
        target: String,
        /// The person's link key
        key: String,
        /// The Zendesk external_id to send for them
        external_id: String,
    },
    /// Delete the link of a key
    Delete {
        /// The target (its `name` in the config)
        #[arg(long)]
        target: String,
        /// The person's link key
        key: String,
    },
    /// Import a Zendesk user export (CSV with `email` or `key`, and
    /// `external_id`): all rows in one transaction, or none
    Import {
        /// The target (its `name` in the config)
        #[arg(long)]
        target: String,
        /// The CSV file (a header row, then one user a line)
        file: PathBuf,
    },
    /// Write the links as CSV (key, external_id, …), which `import` reads
    Export {
        /// Only this target's
        #[arg(long)]
        target: Option<String>,
    },
}

pub(super) async fn links(path: &Path, command: LinksCommand) -> ExitCode {
    let cfg = match config::load_file_for(path, config::Purpose::Explain { sign: false }) {
        Ok(c) => c,
        Err(problems) => {
            print_problems(path, &problems.0);
            return ExitCode::from(1);
        }
    };
    let Some(url) = &cfg.state.links_url else {
        eprintln!(
            "{}: state.links_url is not set: there is no link store",
            path.display()
        );
        return ExitCode::from(2);
    };
    let store = match LinkStore::connect_lazy(url.expose()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("state.links_url: {e}");
            return ExitCode::from(1);
        }
    };
    let known = |t: &str| cfg.targets.iter().any(|c| c.name == t && c.link.is_some());
    let target = match &command {
        LinksCommand::Show { target, .. }
        | LinksCommand::Set { target, .. }
        | LinksCommand::Delete { target, .. }
        | LinksCommand::Import { target, .. } => Some(target.as_str()),
        LinksCommand::List { target, .. } | LinksCommand::Export { target } => target.as_deref(),
        LinksCommand::Migrate => None,
    };
    if let Some(t) = target
        && !known(t)
    {
        eprintln!("no target named {t:?} keeps identity links ([target.link])");
        return ExitCode::from(2);
    }
    match run(&store, command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}: {}", e.detail());
            ExitCode::from(1)
        }
    }
}

async fn run(
    store: &LinkStore,
    command: LinksCommand,
) -> Result<ExitCode, crate::links::LinkError> {
    let now = crate::source::now();
    match command {
        LinksCommand::Migrate => {
            store.migrate().await?;
            println!("the {} link store's schema is up to date", store.backend());
        }
        LinksCommand::List { target, json } => {
            let links = store.list(target.as_deref()).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&links).unwrap_or_default()
                );
            } else {
                for l in &links {
                    println!("{}", line(l));
                }
                eprintln!("{} link{}", links.len(), super::plural(links.len()));
            }
        }
        LinksCommand::Show { target, key } => match store.find(&target, &key).await? {
            Some(l) => println!("{}", serde_json::to_string_pretty(&l).unwrap_or_default()),
            None => {
                eprintln!("no link for {key:?} in target {target:?}");
                return Ok(ExitCode::from(1));
            }
        },
        LinksCommand::Set {
            target,
            key,
            external_id,
        } => {
            if let Err(e) = store.set(&target, &key, &external_id, "set", now).await {
                if matches!(e, crate::links::LinkError::Invalid(_)) {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(2));
                }
                return Err(e);
            }
            println!("linked {key:?} to external_id {external_id:?} in target {target:?}");
        }
        LinksCommand::Delete { target, key } => {
            if store.delete(&target, &key).await? {
                println!("deleted the link of {key:?} in target {target:?}");
            } else {
                eprintln!("no link for {key:?} in target {target:?}");
                return Ok(ExitCode::from(1));
            }
        }
        LinksCommand::Import { target, file } => {
            let bytes = match std::fs::read(&file) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("cannot read {}: {e}", file.display());
                    return Ok(ExitCode::from(2));
                }
            };
            let parsed = match import::parse(&bytes) {
                Ok(p) => p,
                Err(problems) => {
                    for p in &problems {
                        eprintln!("{}: {p}", file.display());
                    }
                    eprintln!(
                        "{}: {} problem{}; nothing was imported",
                        file.display(),
                        problems.len(),
                        super::plural(problems.len())
                    );
                    return Ok(ExitCode::from(2));
                }
            };
            match store.import(&target, &parsed.rows, now).await {
                Ok(added) => println!(
                    "imported {added} link{} into target {target:?} ({} already there, {} row{} without an external_id skipped)",
                    super::plural(added),
                    parsed.rows.len() - added,
                    parsed.skipped,
                    super::plural(parsed.skipped)
                ),
                Err(e @ crate::links::LinkError::Invalid(_)) => {
                    eprintln!("{}: {e}", file.display());
                    return Ok(ExitCode::from(2));
                }
                Err(e) => return Err(e),
            }
        }
        LinksCommand::Export { target } => {
            let links = store.list(target.as_deref()).await?;
            let mut w = csv::Writer::from_writer(std::io::stdout());
            let header = [
                "target",
                "key",
                "external_id",
                "source",
                "last_source",
                "first_used",
                "last_used",
            ];
            let mut ok = w.write_record(header).is_ok();
            for l in &links {
                ok &= w
                    .write_record([
                        l.target.as_str(),
                        &l.key,
                        &l.external_id,
                        &l.source,
                        &l.last_source,
                        &crate::source::rfc3339(l.first_used),
                        &crate::source::rfc3339(l.last_used),
                    ])
                    .is_ok();
            }
            if !(ok && w.flush().is_ok()) {
                eprintln!("cannot write the export to standard output");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn line(l: &Link) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        l.target,
        l.key,
        l.external_id,
        l.source,
        crate::source::rfc3339(l.first_used),
        crate::source::rfc3339(l.last_used)
    )
}
