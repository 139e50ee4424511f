use super::*;

#[test]
fn parses_bearer_challenges() {
    let p =
        parse_params(r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#);
    assert_eq!(
        p,
        vec![
            ("realm".into(), "https://auth.example/token".into()),
            ("service".into(), "registry.example".into()),
            ("scope".into(), "repository:a/b:pull".into()),
        ]
    );
    assert_eq!(encode("repository:a/b:pull,push"), "repository:a/b:pull%2Cpush");
}

#[test]
fn plain_http_only_for_loopback() {
    assert_eq!(scheme("127.0.0.1:5000"), "http");
    assert_eq!(scheme("localhost"), "http");
    assert_eq!(scheme("registry.example"), "https");
}

/// A registry that wants a bearer token from its own token service, which
/// wants Basic auth as `ci:pw`. Returns its host and the requests it saw.
fn token_registry() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (log, realm) = (seen.clone(), format!("http://{host}/token"));
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.strip_prefix("authorization: ").or(h.strip_prefix("Authorization: ")) {
                    auth = v.trim().to_string();
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            log.lock().expect("log").push(format!("{path} [{auth}]"));
            let (status, extra, body) = if path.starts_with("/token") {
                if auth == "Basic Y2k6cHc=" {
                    ("200 OK", String::new(), r#"{"token":"tok-1"}"#)
                } else {
                    ("401 Unauthorized", String::new(), "{}")
                }
            } else if auth == "Bearer tok-1" {
                ("200 OK", String::new(), MANIFEST)
            } else {
                let challenge = format!(
                    "WWW-Authenticate: Bearer realm=\"{realm}\",service=\"fake registry\",scope=\"repository:acme/x:pull\"\r\n"
                );
                ("401 Unauthorized", challenge, "{}")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (host, seen)
}

const MANIFEST: &str = r#"{"schemaVersion":2}"#;

#[test]
fn meets_a_bearer_challenge_with_a_token_from_the_registry_token_service() {
    let (host, seen) = token_registry();
    let reference = OciRef::parse(&format!("oci://{host}/acme/x:1.0.0")).expect("ref");
    let creds = Credentials::Basic { username: "ci".into(), password: "pw".into() };
    let (digest, bytes) = Session::with_credentials(&reference, false, creds).manifest("1.0.0").expect("pulled");
    assert_eq!(bytes, MANIFEST.as_bytes());
    assert_eq!(digest, digest_of(MANIFEST.as_bytes()));
    let seen = seen.lock().expect("log").clone();
    assert_eq!(
        seen,
        [
            "/v2/acme/x/manifests/1.0.0 []".to_string(),
            "/token?scope=repository:acme/x:pull&service=fake%20registry [Basic Y2k6cHc=]".into(),
            "/v2/acme/x/manifests/1.0.0 [Bearer tok-1]".into(),
        ]
    );
}

#[test]
fn a_given_bearer_token_is_sent_at_once_and_a_refused_login_names_the_registry() {
    let (host, seen) = token_registry();
    let reference = OciRef::parse(&format!("oci://{host}/acme/x:1.0.0")).expect("ref");
    let mut given = Session::with_credentials(&reference, false, Credentials::Bearer("tok-1".into()));
    given.manifest("1.0.0").expect("pulled with the given token");
    assert_eq!(seen.lock().expect("log").len(), 1, "no token request");

    let err =
        Session::with_credentials(&reference, false, Credentials::Anonymous).manifest("1.0.0").expect_err("denied");
    assert_eq!(
        err.to_string(),
        format!(
            "registry {host} refused access to acme/x:1.0.0 (401): give credentials with BATON_REGISTRY_HOST={host} and \
             BATON_REGISTRY_USERNAME/BATON_REGISTRY_PASSWORD (or BATON_REGISTRY_TOKEN), or `docker login {host}`"
        )
    );
}
