//! The `clientbase` binary: the server and the administrator's commands.

use clap::{Parser, Subcommand};

use clientbase::auth::scopes::{Role, Scope};
use clientbase::auth::throttle;
use clientbase::config::Config;
use clientbase::startup::{self, Application};
use clientbase::{api_clients, db, openapi, routes, telemetry, users};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "clientbase", version, about = "A self-hosted CRM backend for a company's client base")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API clients of integrations.
    ApiClient {
        #[command(subcommand)]
        action: ApiClientAction,
    },
    /// Write a consistent copy of the SQLite database to FILE while servers keep running.
    Backup {
        /// The snapshot to write; it must not exist yet.
        file: std::path::PathBuf,
    },
    /// Replace the SQLite database with the snapshot in FILE (refused while a server uses it).
    Restore {
        file: std::path::PathBuf,
        /// Replace the file even though a server holds it.
        #[arg(long)]
        force: bool,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user; without --password one is generated and printed.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        password: Option<String>,
    },
    /// Clear the failed logins that lock an account (or an API client's id) out.
    Unlock {
        /// The user's email or the API client's client id.
        login: String,
    },
}

#[derive(Subcommand)]
enum ApiClientAction {
    /// Create an API client; prints its client id and secret once.
    Create {
        #[arg(long)]
        name: String,
        /// Comma- or space-separated scopes, e.g. sync:write,clients:read
        #[arg(long)]
        scopes: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "must be admin, supervisor or manager".into())
}

fn parse_scopes(s: &str) -> Result<Vec<Scope>, String> {
    s.split([',', ' '])
        .filter(|p| !p.is_empty())
        .map(|p| Scope::parse(p).ok_or_else(|| format!("unknown scope {p}")))
        .collect()
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2);
}

fn main() {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        print!("{}", openapi::to_json(&routes::document()));
        return;
    }
    let config = Config::from_env().unwrap_or_else(|e| fail(e));
    telemetry::init(config.log_format);
    match command {
        Command::Serve => serve(config),
        Command::Migrate => {
            startup::prepare(config).unwrap_or_else(|e| fail(e));
            println!("migrations are up to date");
        }
        Command::User { action: UserAction::Create { email, name, role, password } } => {
            let state = startup::prepare(config).unwrap_or_else(|e| fail(e));
            let generated = password.is_none();
            let password = password.unwrap_or_else(|| clientbase::auth::password::random_token(20));
            let input = users::model::NewUser { email, name, role, password: password.clone(), phone_extension: None };
            clientbase::error::validate(&input).unwrap_or_else(|e| fail(describe(&e)));
            let mut conn = state.pool.get().unwrap_or_else(|e| fail(e));
            let user = users::repo::create(&mut conn, &input).unwrap_or_else(|e| fail(describe(&e)));
            println!("created user {} ({}) with id {}", user.email, user.role, user.id);
            if generated {
                println!("password: {password}");
            }
        }
        Command::User { action: UserAction::Unlock { login } } => {
            let state = startup::prepare(config).unwrap_or_else(|e| fail(e));
            let mut conn = state.pool.get().unwrap_or_else(|e| fail(e));
            let login = throttle::login_name(&login);
            let cleared = throttle::unlock(&mut conn, &login).unwrap_or_else(|e| fail(e));
            println!("unlocked {login} ({cleared} failed attempts cleared)");
        }
        Command::ApiClient { action: ApiClientAction::Create { name, scopes } } => {
            let state = startup::prepare(config).unwrap_or_else(|e| fail(e));
            let scopes = parse_scopes(&scopes).unwrap_or_else(|e| fail(e));
            let input = api_clients::NewApiClient { name, scopes };
            clientbase::error::validate(&input).unwrap_or_else(|e| fail(describe(&e)));
            let mut conn = state.pool.get().unwrap_or_else(|e| fail(e));
            let (client, secret) =
                api_clients::repo::create(&mut conn, &input, None).unwrap_or_else(|e| fail(describe(&e)));
            println!("client_id: {}", client.client_id);
            println!("client_secret: {secret}");
            println!("scopes: {}", client.scopes);
        }
        Command::Backup { file } => {
            let copied = db::backup::backup(&config.database_url, &file).unwrap_or_else(|e| fail(e));
            println!("backed up to {} ({} bytes, integrity ok)", copied.path.display(), copied.bytes);
        }
        Command::Restore { file, force } => {
            let copied = db::backup::restore(&config.database_url, &file, force).unwrap_or_else(|e| fail(e));
            println!("restored {} from {} ({} bytes)", copied.path.display(), file.display(), copied.bytes);
        }
        Command::Openapi => unreachable!("handled above"),
    }
}

fn describe(e: &clientbase::error::ApiError) -> String {
    let problem = e.problem();
    let mut text = problem.detail.unwrap_or(problem.title);
    for f in problem.errors.unwrap_or_default() {
        text.push_str(&format!("\n  {}: {}", f.field, f.message));
    }
    text
}

#[actix_web::main]
async fn serve(config: Config) {
    tracing::info!(?config, "starting");
    let _ = db::Backend::of_url(&config.database_url);
    let app = Application::build(config).await.unwrap_or_else(|e| fail(e));
    tracing::info!(port = app.port(), "listening");
    if let Err(e) = app.run().await {
        fail(e);
    }
    tracing::info!("stopped");
}
