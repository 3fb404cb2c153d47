//! The `parley` binary: `parley` (or `parley serve`) runs a node; `parley migrate` applies
//! pending migrations to the configured store and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use parley::config::Settings;
use parley::startup::Application;

fn config_dir() -> PathBuf {
    std::env::var_os("PARLEY_CONFIG_DIR").map_or_else(|| PathBuf::from("config"), PathBuf::from)
}

#[actix_web::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    let settings = match Settings::load(&config_dir()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("parley: {e}");
            return ExitCode::from(2);
        }
    };
    parley::telemetry::init(&settings.log);
    let result = match command.as_str() {
        "serve" => serve(settings).await,
        "migrate" => migrate(settings).await,
        "help" | "--help" | "-h" => {
            println!(
                "usage: parley [serve|migrate]\n  serve    run a node (default)\n  migrate  apply pending migrations and exit"
            );
            Ok(())
        }
        other => Err(anyhow::anyhow!(
            "unknown command '{other}'; use serve or migrate"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parley: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let bind = settings.http.bind.clone();
    let app = Application::build(settings).await?;
    stop_on_signals(app.handle())?;
    let host = if bind == "0.0.0.0" || bind == "127.0.0.1" {
        "localhost"
    } else {
        bind.as_str()
    };
    println!("Parley: listening on http://{host}:{}", app.port());
    tracing::info!(port = app.port(), "listening");
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    parley::store::connect(settings.store.url.expose_secret(), settings.store.pool_size).await?;
    println!("Parley: migrations applied");
    Ok(())
}

/// Stops the server gracefully on SIGTERM or Ctrl-C: no new connections, in-flight requests
/// finish within `http.shutdown_grace_secs`.
fn stop_on_signals(handle: actix_web::dev::ServerHandle) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    actix_web::rt::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: draining"),
            _ = interrupt.recv() => tracing::info!("interrupt: draining"),
        }
        handle.stop(true).await;
    });
    Ok(())
}
