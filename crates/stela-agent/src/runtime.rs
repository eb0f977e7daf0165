//! tough is async; the agent runs each repository operation on a current-thread runtime
//! of its own.

/// Run `fut` to completion on a new current-thread runtime.
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    Ok(rt.block_on(fut))
}
