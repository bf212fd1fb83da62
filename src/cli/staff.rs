//! `concord staff`: staff accounts for the console (`add`, `list`) and what staff do from the
//! command line (`reply` answers a conversation as a person; the widget shows it live).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Subcommand;
use concord::store::{ConversationId, StaffReply, StaffRole, Store};
use concord::Config;

fn parse_role(s: &str) -> Result<StaffRole, String> {
    s.parse::<StaffRole>()
        .map_err(|_| format!("the role is `agent` or `admin`, got `{s}`"))
}

/// The password from `--password`, else typed at a prompt (not echoed), else the first line
/// of standard input (for scripts).
fn read_password(given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ")?;
        let again = rpassword::prompt_password("again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ");
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Create a console account (or with --replace, set the role and password of one).
    Add {
        /// The sign-in name (letters, digits, . - _).
        name: String,
        /// `agent` reviews and answers; `admin` also changes the knowledge base.
        #[arg(long, value_parser = parse_role)]
        role: StaffRole,
        /// The password (at least 10 characters); without it, prompted for or read from stdin.
        #[arg(long)]
        password: Option<String>,
        /// Update an existing account instead of refusing (its sessions end).
        #[arg(long)]
        replace: bool,
    },
    /// Set the name customers see on this person's replies (without NAME: remove it; customers
    /// then see only "staff"). The sign-in name is never shown to customers.
    ShowAs {
        /// The sign-in name.
        account: String,
        /// What customers see, e.g. "Ewa".
        display_name: Option<String>,
    },
    /// List the console accounts.
    List,
    /// Answer a conversation as a person (it is then with staff; the assistant stays quiet).
    Reply {
        /// The conversation id (`c_...`).
        conversation: String,
        /// The reply text.
        text: String,
        /// Who answers (kept in the audit log; customers see the account's display name, if any).
        #[arg(long, default_value = "staff")]
        author: String,
    },
}

pub fn run(config: &Config, command: StaffCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = Store::connect(&config.store_location(), &config.store).await?;
        // A reply from here is an event too; the serving process delivers it.
        concord::notify::attach(&store, &config.notify, &config.email);
        match command {
            StaffCommand::Add {
                name,
                role,
                password,
                replace,
            } => {
                concord::staff::validate_name(&name)?;
                let hash = concord::staff::hash_password(&read_password(password)?)?;
                let m = store.add_staff(&name, role, &hash, replace).await?;
                println!("staff account {} ({})", m.name, m.role.as_str());
            }
            StaffCommand::ShowAs {
                account,
                display_name,
            } => {
                let m = store
                    .set_staff_display_name(&account, display_name.as_deref(), "cli")
                    .await?;
                match m.display_name {
                    Some(d) => println!("customers see {} as {d}", m.name),
                    None => println!("customers see {} only as staff", m.name),
                }
            }
            StaffCommand::List => {
                for m in store.staff_members().await? {
                    println!(
                        "{}\t{}\t{}",
                        m.name,
                        m.role.as_str(),
                        m.display_name.as_deref().unwrap_or("-")
                    );
                }
            }
            StaffCommand::Reply {
                conversation,
                text,
                author,
            } => {
                let text = text.trim();
                anyhow::ensure!(!text.is_empty(), "the reply is empty");
                anyhow::ensure!(!author.trim().is_empty(), "--author is empty");
                let m = store
                    .staff_reply(
                        &ConversationId(conversation),
                        StaffReply {
                            author: author.trim(),
                            text,
                        },
                    )
                    .await?;
                println!("sent as message {}", m.id);
            }
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}
