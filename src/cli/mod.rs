//! The commands of the `prescale` binary, one module each: its flags (clap) and the library
//! calls it makes. Errors here are `anyhow` (the library's are `thiserror` enums), so that
//! `main` prints each failure with its whole chain of causes.

pub mod allocator;
pub mod backtest;
pub mod check;
pub mod forecast;
pub mod import;
pub mod model;
pub mod replay;
pub mod serve;
pub mod train;

/// Resolves on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
