//! tough's API is async; stela is not. Each operation runs on a small current-thread
//! runtime of its own (tough's file I/O goes to tokio's blocking pool).

use crate::error::RepoError;

/// Run `fut` to completion.
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output, RepoError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(RepoError::io("starting the async runtime", "tokio"))?;
    Ok(rt.block_on(fut))
}
