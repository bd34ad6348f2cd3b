//! The docker-compatible CLI: `balena-engine COMMAND`.
//!
//! # Layout
//! - [`client`]: the API client (unix socket or tcp, version negotiation).
//! - `config`: the CLI's config dir (`--config`, `DOCKER_CONFIG`,
//!   `~/.balena-engine/config.json`).
//! - [`format`]: `--format` Go templates.
//! - `commands`: one module per command group.
//! - `runopts`: `run`/`create` flags → the container create request.
//! - `hijack`: attached streams, raw terminal, resizes, signal proxying.
//! - `units`: docker's sizes, durations and quoting.
//!
//! Exit codes follow docker: 0 success, 1 command failure, 125 for usage
//! errors (and, for `run`, daemon errors); a container's own code otherwise.
//!
//! Must not: depend on the engine; everything goes through the API.

pub mod client;
mod commands;
mod config;
pub mod format;
mod hijack;
mod jsonmsg;
mod listfmt;
mod runopts;
mod table;
mod units;

use clap::{Args, Parser, Subcommand};

/// Options every command takes.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalOpts {
    /// Location of client config files
    #[arg(long, value_name = "string")]
    pub config: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Daemon socket(s) to connect to
    #[arg(short = 'H', long = "host", value_name = "list")]
    pub host: Vec<String>,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long, value_name = "string", default_value = "info")]
    pub log_level: String,
    /// Name of the context to use (only "default" exists)
    #[arg(short = 'c', long, value_name = "string")]
    pub context: Option<String>,
}

#[derive(Debug, Parser)]
#[command(
    name = "balena-engine",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    subcommand_value_name = "COMMAND",
    subcommand_help_heading = "Commands"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalOpts,
    /// Print version information and quit
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the balenaEngine version information
    Version(commands::system::VersionArgs),
    /// Display system-wide information
    Info(commands::system::InfoArgs),
    /// Create and run a new container from an image
    Run(commands::container::RunArgs),
    /// Create a new container
    Create(commands::container::CreateArgs),
    /// Start one or more stopped containers
    Start(commands::container::StartArgs),
    /// Stop one or more running containers
    Stop(commands::container::StopArgs),
    /// Kill one or more running containers
    Kill(commands::container::KillArgs),
    /// Restart one or more containers
    Restart(commands::container::RestartArgs),
    /// Remove one or more containers
    Rm(commands::container::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(commands::container::WaitArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(commands::container::AttachArgs),
    /// Fetch the logs of a container
    Logs(commands::container::LogsArgs),
    /// Execute a command in a running container
    Exec(commands::container::ExecArgs),
    /// List containers
    Ps(commands::container::PsArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// List images
    Images(commands::images::ImagesArgs),
    /// Return low-level information on Docker objects
    Inspect(commands::container::InspectArgs),
    /// Remove one or more images
    Rmi(commands::images::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::images::TagArgs),
    /// Show the history of an image
    History(commands::images::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(commands::archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::archive::LoadArgs),
    /// Pull an image or a repository from a registry
    Pull(commands::pull::PullArgs),
    /// Push an image or a repository to a registry
    Push(commands::distribution::PushArgs),
    /// Log in to a registry
    Login(commands::distribution::LoginArgs),
    /// Log out from a registry
    Logout(commands::distribution::LogoutArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::distribution::ImportArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// List port mappings or a specific mapping for the container
    Port(commands::container::PortArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::ops::StatsArgs),
    /// Display the running processes of a container
    Top(commands::ops::TopArgs),
    /// Update configuration of one or more containers
    Update(commands::ops::UpdateArgs),
    /// Rename a container
    Rename(commands::ops::RenameArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::fs::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::fs::DiffArgs),
    /// Create a new image from a container's changes
    Commit(commands::fs::CommitArgs),
    /// Manage balenaEngine
    #[command(subcommand)]
    System(SystemCommand),
}

#[derive(Debug, Subcommand)]
enum VolumeCommand {
    /// Create a volume
    Create(commands::volume::CreateArgs),
    /// Display detailed information on one or more volumes
    Inspect(commands::volume::InspectArgs),
    /// List volumes
    #[command(name = "ls", visible_alias = "list")]
    Ls(commands::volume::LsArgs),
    /// Remove all unused local volumes
    Prune(commands::volume::PruneArgs),
    /// Remove one or more volumes
    #[command(name = "rm", visible_alias = "remove")]
    Rm(commands::volume::RmArgs),
}

#[derive(Debug, Subcommand)]
enum SystemCommand {
    /// Show balenaEngine disk usage
    Df(commands::fs::DfArgs),
    /// Display system-wide information
    Info(commands::system::InfoArgs),
    /// Remove unused data
    Prune(commands::fs::SystemPruneArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
}

#[derive(Debug, Subcommand)]
enum NetworkCommand {
    /// Connect a container to a network
    Connect(commands::network::ConnectArgs),
    /// Create a network
    Create(commands::network::CreateArgs),
    /// Disconnect a container from a network
    Disconnect(commands::network::DisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(commands::network::InspectArgs),
    /// List networks
    #[command(name = "ls", visible_alias = "list")]
    Ls(commands::network::LsArgs),
    /// Remove all unused networks
    Prune(commands::network::PruneArgs),
    /// Remove one or more networks
    #[command(name = "rm", visible_alias = "remove")]
    Rm(commands::network::RmArgs),
}

#[derive(Debug, Subcommand)]
enum ContainerCommand {
    /// List containers
    #[command(name = "ls", visible_aliases = ["ps", "list"])]
    Ls(commands::container::PsArgs),
    /// Create and run a new container from an image
    Run(commands::container::RunArgs),
    /// Create a new container
    Create(commands::container::CreateArgs),
    /// Start one or more stopped containers
    Start(commands::container::StartArgs),
    /// Stop one or more running containers
    Stop(commands::container::StopArgs),
    /// Kill one or more running containers
    Kill(commands::container::KillArgs),
    /// Restart one or more containers
    Restart(commands::container::RestartArgs),
    /// Remove one or more containers
    #[command(name = "rm", visible_alias = "remove")]
    Rm(commands::container::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(commands::container::WaitArgs),
    /// Display detailed information on one or more containers
    Inspect(commands::container::InspectArgs),
    /// Fetch the logs of a container
    Logs(commands::container::LogsArgs),
    /// Execute a command in a running container
    Exec(commands::container::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(commands::container::AttachArgs),
    /// List port mappings or a specific mapping for the container
    Port(commands::container::PortArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(commands::cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(commands::fs::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(commands::fs::DiffArgs),
    /// Create a new image from a container's changes
    Commit(commands::fs::CommitArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(commands::ops::StatsArgs),
    /// Display the running processes of a container
    Top(commands::ops::TopArgs),
    /// Update configuration of one or more containers
    Update(commands::ops::UpdateArgs),
    /// Rename a container
    Rename(commands::ops::RenameArgs),
    /// Remove all stopped containers
    Prune(commands::ops::PruneArgs),
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// List images
    #[command(visible_alias = "list", name = "ls")]
    Ls(commands::images::ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(commands::images::InspectArgs),
    /// Remove one or more images
    #[command(name = "rm", visible_alias = "remove")]
    Rm(commands::images::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::images::TagArgs),
    /// Show the history of an image
    History(commands::images::HistoryArgs),
    /// Remove unused images
    Prune(commands::images::PruneArgs),
    /// Create a binary delta from SRC (what devices have) to DEST
    Delta(commands::images::DeltaArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(commands::archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::archive::LoadArgs),
    /// Pull an image or a repository from a registry
    Pull(commands::pull::PullArgs),
    /// Push an image or a repository to a registry
    Push(commands::distribution::PushArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(commands::distribution::ImportArgs),
}

/// What a command failed with, and the exit code it means.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<client::ClientError> for Failure {
    fn from(e: client::ClientError) -> Self {
        Failure::new(1, e.to_string())
    }
}

impl From<format::FormatError> for Failure {
    fn from(e: format::FormatError) -> Self {
        Failure::new(1, e.to_string())
    }
}

/// Everything a command needs from the global options.
pub(crate) struct Env {
    pub global: GlobalOpts,
}

impl Env {
    /// The client for `-H`, `DOCKER_HOST` or the default socket, with
    /// `DOCKER_API_VERSION` pinning the version when set.
    pub fn client(&self) -> Result<client::Client, Failure> {
        let host = match self.global.host.as_slice() {
            [] => std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| client::DEFAULT_HOST.to_string()),
            [one] => one.clone(),
            _ => return Err(Failure::new(125, "Please specify only one -H")),
        };
        let host = client::parse_host(&host).map_err(|e| Failure::new(125, e.to_string()))?;
        let pinned = match std::env::var("DOCKER_API_VERSION") {
            Ok(v) if !v.is_empty() => Some(
                v.parse()
                    .map_err(|_| Failure::new(125, format!("invalid DOCKER_API_VERSION {v:?}")))?,
            ),
            _ => None,
        };
        Ok(client::Client::new(host, pinned))
    }
}

/// The subcommand words of `args` (`container run `), for usage errors'
/// "See 'balena-engine container run --help'".
fn command_path(args: &[String]) -> String {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut cur = &cmd;
    let mut path = String::new();
    for a in args.iter().filter(|a| !a.starts_with('-')) {
        match cur.find_subcommand(a) {
            Some(sub) => {
                path.push_str(sub.get_name());
                path.push(' ');
                cur = sub;
            }
            None => break,
        }
    }
    path
}

/// Entry point of the CLI role; returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    let cli = match Cli::try_parse_from(
        std::iter::once("balena-engine".to_string()).chain(args.iter().cloned()),
    ) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind as K;
            return match e.kind() {
                K::DisplayHelp | K::DisplayHelpOnMissingArgumentOrSubcommand => {
                    print!("{}", e.render());
                    0
                }
                K::InvalidSubcommand => {
                    let name = args
                        .iter()
                        .find(|a| !a.starts_with('-'))
                        .cloned()
                        .unwrap_or_default();
                    eprintln!("balena-engine: '{name}' is not a balena-engine command.\nSee 'balena-engine --help'");
                    1
                }
                _ => {
                    eprintln!(
                        "{}\nSee 'balena-engine {}--help'.",
                        e.render().to_string().trim_end(),
                        command_path(args)
                    );
                    125
                }
            };
        }
    };
    if cli.version {
        println!(
            "balena-engine version {}, build {} (balena-engine-rs {})",
            api::version::COMPAT_VERSION,
            api::version::GIT_COMMIT,
            api::version::ENGINE_VERSION
        );
        return 0;
    }
    if let Some(ctx) = &cli.global.context {
        if ctx != "default" {
            eprintln!("context {ctx:?} does not exist");
            return 1;
        }
    }
    if let Err(msg) = config::load(cli.global.config.as_deref()) {
        eprintln!("WARNING: Error loading config file: {msg}");
    }
    let Some(command) = cli.command else {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        print!("{}", cmd.render_help());
        return 0;
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: start runtime: {e}");
            return 1;
        }
    };
    let env = Env { global: cli.global };
    let result = rt.block_on(async {
        match command {
            Command::Version(a) => commands::system::version(&env, a).await,
            Command::Events(a) | Command::System(SystemCommand::Events(a)) => {
                commands::events::events(&env, a).await
            }
            Command::Info(a) => commands::system::info(&env, a).await,
            Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => {
                commands::images::images(&env, a).await
            }
            Command::Image(ImageCommand::Inspect(a)) => commands::images::inspect(&env, a).await,
            Command::Inspect(a) => commands::container::inspect(&env, a, false).await,
            Command::Container(ContainerCommand::Inspect(a)) => {
                commands::container::inspect(&env, a, true).await
            }
            Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => {
                commands::container::run(&env, a).await
            }
            Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => {
                commands::container::create(&env, a).await
            }
            Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => {
                commands::container::start(&env, a).await
            }
            Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => {
                commands::container::stop(&env, a).await
            }
            Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => {
                commands::container::kill(&env, a).await
            }
            Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => {
                commands::container::restart(&env, a).await
            }
            Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => {
                commands::container::rm(&env, a).await
            }
            Command::Wait(a) | Command::Container(ContainerCommand::Wait(a)) => {
                commands::container::wait(&env, a).await
            }
            Command::Attach(a) | Command::Container(ContainerCommand::Attach(a)) => {
                commands::container::attach(&env, a).await
            }
            Command::Logs(a) | Command::Container(ContainerCommand::Logs(a)) => {
                commands::container::logs(&env, a).await
            }
            Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => {
                commands::container::exec(&env, a).await
            }
            Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => {
                commands::container::ps(&env, a).await
            }
            Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => {
                commands::images::rmi(&env, a).await
            }
            Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => {
                commands::images::tag(&env, a).await
            }
            Command::History(a) | Command::Image(ImageCommand::History(a)) => {
                commands::images::history(&env, a).await
            }
            Command::Image(ImageCommand::Prune(a)) => commands::images::prune(&env, a).await,
            Command::Image(ImageCommand::Delta(a)) => commands::images::delta(&env, a).await,
            Command::Save(a) | Command::Image(ImageCommand::Save(a)) => {
                commands::archive::save(&env, a).await
            }
            Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => {
                commands::pull::pull(&env, a).await
            }
            Command::Push(a) | Command::Image(ImageCommand::Push(a)) => {
                commands::distribution::push(&env, a).await
            }
            Command::Import(a) | Command::Image(ImageCommand::Import(a)) => {
                commands::distribution::import(&env, a).await
            }
            Command::Port(a) | Command::Container(ContainerCommand::Port(a)) => {
                commands::container::port(&env, a).await
            }
            Command::Network(NetworkCommand::Connect(a)) => {
                commands::network::connect(&env, a).await
            }
            Command::Network(NetworkCommand::Create(a)) => commands::network::create(&env, a).await,
            Command::Network(NetworkCommand::Disconnect(a)) => {
                commands::network::disconnect(&env, a).await
            }
            Command::Network(NetworkCommand::Inspect(a)) => {
                commands::network::inspect(&env, a).await
            }
            Command::Network(NetworkCommand::Ls(a)) => commands::network::ls(&env, a).await,
            Command::Network(NetworkCommand::Prune(a)) => commands::network::prune(&env, a).await,
            Command::Network(NetworkCommand::Rm(a)) => commands::network::rm(&env, a).await,
            Command::Cp(a) | Command::Container(ContainerCommand::Cp(a)) => {
                commands::cp::cp(&env, a).await
            }
            Command::Export(a) | Command::Container(ContainerCommand::Export(a)) => {
                commands::fs::export(&env, a).await
            }
            Command::Diff(a) | Command::Container(ContainerCommand::Diff(a)) => {
                commands::fs::diff(&env, a).await
            }
            Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => {
                commands::fs::commit(&env, a).await
            }
            Command::System(SystemCommand::Df(a)) => commands::fs::df(&env, a).await,
            Command::System(SystemCommand::Info(a)) => commands::system::info(&env, a).await,
            Command::System(SystemCommand::Prune(a)) => commands::fs::prune(&env, a).await,
            Command::Volume(VolumeCommand::Create(a)) => commands::volume::create(&env, a).await,
            Command::Volume(VolumeCommand::Inspect(a)) => commands::volume::inspect(&env, a).await,
            Command::Volume(VolumeCommand::Ls(a)) => commands::volume::ls(&env, a).await,
            Command::Volume(VolumeCommand::Prune(a)) => commands::volume::prune(&env, a).await,
            Command::Volume(VolumeCommand::Rm(a)) => commands::volume::rm(&env, a).await,
            Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => {
                commands::ops::stats(&env, a).await
            }
            Command::Top(a) | Command::Container(ContainerCommand::Top(a)) => {
                commands::ops::top(&env, a).await
            }
            Command::Update(a) | Command::Container(ContainerCommand::Update(a)) => {
                commands::ops::update(&env, a).await
            }
            Command::Rename(a) | Command::Container(ContainerCommand::Rename(a)) => {
                commands::ops::rename(&env, a).await
            }
            Command::Container(ContainerCommand::Prune(a)) => commands::ops::prune(&env, a).await,
            Command::Login(a) => commands::distribution::login(&env, a).await,
            Command::Logout(a) => commands::distribution::logout(&env, a).await,
            Command::Load(a) | Command::Image(ImageCommand::Load(a)) => {
                commands::archive::load(&env, a).await
            }
        }
    });
    match result {
        Ok(()) => 0,
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("{}", f.message);
            }
            f.code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_definitions_are_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
