//! A small fake Graph + identity platform on loopback (axum), scripted per test.
#![allow(dead_code)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tenantvault_graph::{Credential, GraphClient, GraphConfig, ManualClock, SecretString};

pub const TENANT: &str = "tenant-1";
pub const CLIENT: &str = "client-1";
pub const SECRET: &str = "right-secret-value";
pub const PUB_PEM: &str = include_str!("../fixtures/test-pub.pem");

/// What a test's handler sees.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Req {
    pub fn header(&self, n: &str) -> Option<&str> {
        self.headers.get(n).and_then(|v| v.to_str().ok())
    }
    pub fn path(&self) -> &str {
        self.path_and_query.split('?').next().unwrap()
    }
}

/// What the handler answers.
pub enum Reply {
    Json(u16, Value),
    JsonWith(u16, Vec<(&'static str, String)>, Value),
    Raw(u16, Vec<(&'static str, String)>, Bytes),
    /// Sends `prefix`, then breaks the connection (body never completes).
    Cut(u16, Vec<(&'static str, String)>, Bytes),
    /// Answers after a real delay (to observe concurrency).
    Slow(Duration, Box<Reply>),
}

pub fn graph_error(status: u16, code: &str, msg: &str) -> Reply {
    Reply::JsonWith(
        status,
        vec![("request-id", "req-123".into())],
        json!({"error":{"code":code,"message":msg,"innerError":{"request-id":"req-123","date":"2024-01-01T00:00:00"}}}),
    )
}

type Handler = Arc<dyn Fn(&Req) -> Reply + Send + Sync>;

#[derive(Default)]
pub struct FakeState {
    pub token_requests: u32,
    pub issued: Vec<String>,
    pub revoked: Vec<String>,
    pub token_lifetime: u64,
    pub requests: Vec<Req>,
    pub reject_ps256: bool,
    pub assertions: Vec<Value>,
    pub in_flight: u32,
    pub max_in_flight: u32,
}

#[derive(Clone)]
struct App {
    state: Arc<Mutex<FakeState>>,
    handler: Handler,
    base: Arc<Mutex<String>>,
}

pub struct Fake {
    pub base: String,
    pub state: Arc<Mutex<FakeState>>,
}

impl Fake {
    pub async fn start(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> Fake {
        let state = Arc::new(Mutex::new(FakeState {
            token_lifetime: 3599,
            ..Default::default()
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = App {
            state: state.clone(),
            handler: Arc::new(handler),
            base: Arc::new(Mutex::new(base.clone())),
        };
        let router = axum::Router::new().fallback(dispatch).with_state(app);
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Fake { base, state }
    }

    pub fn graph(&self) -> String {
        format!("{}/v1.0", self.base)
    }

    pub fn config(&self) -> GraphConfig {
        let mut c = GraphConfig::new(
            TENANT,
            CLIENT,
            Credential::Secret(SecretString::new(SECRET)),
        );
        c.authority_host = self.base.clone();
        c.graph_base = self.graph();
        c.retry.base_delay = Duration::from_millis(10);
        c.retry.max_delay = Duration::from_millis(100);
        c.read_timeout = Duration::from_secs(5);
        c
    }

    pub fn client(&self) -> (GraphClient, ManualClock) {
        self.client_with(self.config())
    }

    pub fn client_with(&self, config: GraphConfig) -> (GraphClient, ManualClock) {
        let clock = ManualClock::new(SystemTime::now());
        (
            GraphClient::with_clock(config, Arc::new(clock.clone())).unwrap(),
            clock,
        )
    }

    /// Graph requests seen (token requests excluded).
    pub fn requests(&self) -> Vec<Req> {
        self.state.lock().requests.clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path() == path).count()
    }
}

fn respond(reply: Reply) -> Response {
    let (status, headers, body) = match reply {
        Reply::Json(s, v) => (s, vec![], Body::from(v.to_string())),
        Reply::JsonWith(s, h, v) => (s, h, Body::from(v.to_string())),
        Reply::Raw(s, h, b) => (s, h, Body::from(b)),
        Reply::Slow(_, inner) => return respond(*inner),
        Reply::Cut(s, h, prefix) => {
            use futures::StreamExt;
            let head = futures::stream::iter(vec![Ok::<Bytes, std::io::Error>(prefix)]);
            let tail = futures::stream::once(async {
                // Let the prefix reach the client before the connection breaks.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "cut",
                ))
            });
            (s, h, Body::from_stream(head.chain(tail)))
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        resp.headers_mut()
            .append(k, HeaderValue::from_str(&v).unwrap());
    }
    if !resp.headers().contains_key("content-type") {
        resp.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
    }
    resp
}

async fn dispatch(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let r = Req {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers.clone(),
        body,
        base: app.base.lock().clone(),
    };
    if r.path() == format!("/{TENANT}/oauth2/v2.0/token")
        || r.path().ends_with("/oauth2/v2.0/token")
    {
        return respond(token(&app, &r));
    }
    if r.path().starts_with("/v1.0/") {
        let auth = r.header("authorization").unwrap_or("").to_string();
        let token = auth.strip_prefix("Bearer ").unwrap_or("");
        let valid = {
            let st = app.state.lock();
            st.issued.iter().any(|t| t == token) && !st.revoked.iter().any(|t| t == token)
        };
        app.state.lock().requests.push(r.clone());
        if !valid {
            return respond(graph_error(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            ));
        }
    } else {
        app.state.lock().requests.push(r.clone());
    }
    let reply = (app.handler)(&r);
    if let Reply::Slow(d, _) = &reply {
        {
            let mut st = app.state.lock();
            st.in_flight += 1;
            st.max_in_flight = st.max_in_flight.max(st.in_flight);
        }
        tokio::time::sleep(*d).await;
        app.state.lock().in_flight -= 1;
    }
    respond(reply)
}

fn aad_error(status: u16, error: &str, code: u64, text: &str) -> Reply {
    Reply::Json(
        status,
        json!({"error":error,"error_description":format!("AADSTS{code}: {text}\r\nTrace ID: x\r\nCorrelation ID: y"),
               "error_codes":[code]}),
    )
}

fn token(app: &App, r: &Req) -> Reply {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&r.body).into_owned().collect();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut st = app.state.lock();
    st.token_requests += 1;
    if !r.path().starts_with(&format!("/{TENANT}/")) {
        return aad_error(400, "invalid_request", 90002, "Tenant not found.");
    }
    if get("scope").as_deref() != Some("https://graph.microsoft.com/.default")
        || get("grant_type").as_deref() != Some("client_credentials")
    {
        return aad_error(400, "invalid_scope", 70011, "bad scope");
    }
    if get("client_id").as_deref() != Some(CLIENT) {
        return aad_error(400, "unauthorized_client", 700016, "Application not found");
    }
    if let Some(secret) = get("client_secret") {
        if secret != SECRET {
            return aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided.",
            );
        }
    } else if let Some(jwt) = get("client_assertion") {
        match verify_assertion(
            &jwt,
            &format!("{}/{TENANT}/oauth2/v2.0/token", r.base),
            st.reject_ps256,
        ) {
            Ok(header) => st.assertions.push(header),
            Err(why) => {
                return aad_error(
                    401,
                    "invalid_client",
                    700027,
                    &format!("Client assertion failed signature validation: {why}"),
                );
            }
        }
    } else {
        return aad_error(400, "invalid_request", 900144, "no credential");
    }
    let t = format!("tok-{}", st.issued.len() + 1);
    st.issued.push(t.clone());
    Reply::Json(
        200,
        json!({"token_type":"Bearer","expires_in":st.token_lifetime,"ext_expires_in":st.token_lifetime,"access_token":t}),
    )
}

fn verify_assertion(jwt: &str, aud: &str, reject_ps256: bool) -> Result<Value, String> {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err("not a JWT".into());
    }
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(parts[0])
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(parts[1])
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let sig = URL_SAFE_NO_PAD
        .decode(parts[2])
        .map_err(|e| e.to_string())?;
    let input = format!("{}.{}", parts[0], parts[1]);
    let key = rsa::RsaPublicKey::from_public_key_pem(PUB_PEM).unwrap();
    match header["alg"].as_str() {
        Some("PS256") if !reject_ps256 => {
            let s = rsa::pss::Signature::try_from(sig.as_slice()).map_err(|e| e.to_string())?;
            rsa::pss::VerifyingKey::<sha2::Sha256>::new(key)
                .verify(input.as_bytes(), &s)
                .map_err(|e| e.to_string())?;
        }
        Some("RS256") => {
            let s =
                rsa::pkcs1v15::Signature::try_from(sig.as_slice()).map_err(|e| e.to_string())?;
            rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
                .verify(input.as_bytes(), &s)
                .map_err(|e| e.to_string())?;
        }
        other => return Err(format!("unsupported alg {other:?}")),
    }
    if claims["aud"] != aud || claims["iss"] != CLIENT || claims["sub"] != CLIENT {
        return Err(format!("bad claims {claims}"));
    }
    Ok(header)
}

/// `{"value":[...], "@odata.nextLink"?: ...}`
pub fn page(values: Vec<Value>, next: Option<String>) -> Reply {
    let mut v = json!({"@odata.context":"ctx","value":values});
    if let Some(n) = next {
        v["@odata.nextLink"] = json!(n);
    }
    Reply::Json(200, v)
}

pub fn query_param(r: &Req, name: &str) -> Option<String> {
    let q = r.path_and_query.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
