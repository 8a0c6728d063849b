//! `ptm pipeline <task>` (being written).

#[derive(clap::Args)]
pub struct Args {
    /// The task name.
    pub task: String,
}

pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("ptm pipeline is not implemented yet")
}
