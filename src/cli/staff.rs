//! `concord staff`: what support staff do from the command line. `reply` answers a conversation
//! as a person; the customer's widget shows it live (the server finds it by polling the store).

use std::process::ExitCode;

use clap::Subcommand;
use concord::store::{ConversationId, StaffReply, Store};
use concord::Config;

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Answer a conversation as a person (it is then with staff; the assistant stays quiet).
    Reply {
        /// The conversation id (`c_...`).
        conversation: String,
        /// The reply text.
        text: String,
        /// Who answers (shown to the customer and kept in the audit log).
        #[arg(long, default_value = "staff")]
        author: String,
    },
}

pub fn run(config: &Config, command: StaffCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = Store::open(&config.store_path(), &config.store).await?;
        match command {
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
