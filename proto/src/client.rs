//! Client helpers shared by workers and the CLI: connecting with retries,
//! the token interceptor, one-line status messages.

use std::time::{Duration, Instant};

use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::scheduler_client::SchedulerClient;
use crate::tls::ClientTls;

/// A client that adds the shared token (if any) to every request.
pub type Client = SchedulerClient<InterceptedService<Channel, TokenInterceptor>>;

/// Adds `authorization: Bearer TOKEN` when a token is set.
#[derive(Clone)]
pub struct TokenInterceptor(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl TokenInterceptor {
    /// From an optional token.
    pub fn new(token: Option<&str>) -> Result<Self, String> {
        let v = match token {
            Some(t) => Some(crate::bearer(t).parse().map_err(|_| {
                "GEOZARR_TOKEN contains characters not allowed in a header".to_string()
            })?),
            None => None,
        };
        Ok(TokenInterceptor(v))
    }
}

impl tonic::service::Interceptor for TokenInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert(crate::TOKEN_HEADER, v.clone());
        }
        Ok(req)
    }
}

/// The token from `GEOZARR_TOKEN` (unset or empty = none).
pub fn env_token() -> Option<String> {
    std::env::var("GEOZARR_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
}

/// Connect to a scheduler (`http://` or, with `tls`, `https://`), retrying
/// until `wait` has passed.
pub async fn connect(
    url: &str,
    token: Option<&str>,
    tls: &ClientTls,
    wait: Duration,
) -> Result<Client, String> {
    let mut ep = Endpoint::from_shared(url.to_string())
        .map_err(|e| format!("{url}: not a scheduler URL ({e})"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    if let Some(c) = tls.config(url)? {
        ep = ep
            .tls_config(c)
            .map_err(|e| format!("{url}: TLS set-up: {}", source_chain(&e)))?;
    }
    let deadline = Instant::now() + wait;
    let channel = loop {
        match ep.connect().await {
            Ok(c) => break c,
            Err(e) if Instant::now() >= deadline => {
                return Err(format!(
                    "cannot reach the scheduler at {url}: {}",
                    source_chain(&e)
                ))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    Ok(
        SchedulerClient::with_interceptor(channel, TokenInterceptor::new(token)?)
            .max_decoding_message_size(1 << 30)
            .max_encoding_message_size(1 << 30),
    )
}

/// The innermost cause of an error, for one-line messages.
pub fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s = format!("{s}: {c}");
        cur = c.source();
    }
    s
}

/// A gRPC status as one clear line (unauthenticated gets its own wording).
pub fn status_line(url: &str, s: &tonic::Status) -> String {
    // a transport failure (TLS alert, reset) carries its cause as the source
    let msg = match std::error::Error::source(s) {
        Some(cause) => format!("{}: {}", s.message(), source_chain(cause)),
        None => s.message().to_string(),
    };
    // TLS 1.3 reports a refused client certificate only as a closed connection
    let msg = if url.starts_with("https://") && msg.contains("connection closed") {
        format!(
            "{msg} (a scheduler started with --tls-client-ca closes connections \
             without a client certificate its CA signed: give --tls-cert and --tls-key)"
        )
    } else {
        msg
    };
    match s.code() {
        tonic::Code::Unauthenticated => format!("scheduler at {url} refused us: {msg}"),
        tonic::Code::Unavailable => format!("cannot reach the scheduler at {url}: {msg}"),
        _ => format!("scheduler at {url}: {msg}"),
    }
}
