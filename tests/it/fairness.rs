//! One client cannot hurt the others (issue 20): stream caps per conversation and per address
//! over real HTTP, and a fixed set of method labels in the metrics.

use concord::assistant::Mode;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common;
use crate::console::{client, console_server_with};

#[test]
fn one_conversation_or_address_cannot_hold_every_stream_and_methods_do_not_grow_the_metrics() {
    let s = console_server_with(Mode::Autopilot, |c| {
        c.server.streams_per_conversation = 2;
        c.server.streams_per_address = 3;
    });
    s.rt.block_on(async {
        let c = client();
        let open = |id: String, token: String| {
            let c = c.clone();
            let base = s.base.clone();
            async move {
                c.get(format!("{base}/api/conversations/{id}/events"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
            }
        };
        let (a, ta) = s.customer(&c, "pl").await;
        let (b, tb) = s.customer(&c, "pl").await;
        let (d, td) = s.customer(&c, "pl").await;
        let a1 = open(a.clone(), ta.clone()).await;
        let a2 = open(a.clone(), ta.clone()).await;
        assert_eq!((a1.status(), a2.status()), (StatusCode::OK, StatusCode::OK));
        let a3 = open(a.clone(), ta.clone()).await;
        assert_eq!(
            a3.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "conversation cap"
        );
        let body: Value = a3.json().await.unwrap();
        assert_eq!(body["code"], "busy");
        let b1 = open(b.clone(), tb.clone()).await;
        assert_eq!(b1.status(), StatusCode::OK);
        let d1 = open(d.clone(), td.clone()).await;
        assert_eq!(d1.status(), StatusCode::SERVICE_UNAVAILABLE, "address cap");
        // A stream that ends gives its place back.
        drop(a1);
        let mut reopened = StatusCode::SERVICE_UNAVAILABLE;
        for _ in 0..50 {
            let r = open(d.clone(), td.clone()).await;
            reopened = r.status();
            if reopened == StatusCode::OK {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(reopened, StatusCode::OK);
        drop((a2, b1));

        // Any method string a client sends is counted under a fixed label.
        for m in ["FOO", "BAR", "PROPFIND"] {
            let r = c
                .request(
                    reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                    format!("{}/healthz", s.base),
                )
                .send()
                .await
                .unwrap();
            assert!(r.status().is_client_error(), "{m}: {}", r.status());
        }
        let metrics = common::metrics_text(&c, &s.base).await;
        for m in ["FOO", "BAR", "PROPFIND"] {
            assert!(!metrics.contains(m), "{m} became a series");
        }
        assert!(metrics.contains("method=\"other\""), "{metrics}");
        assert!(metrics.contains("kind=\"streams\""), "refusals are counted");
    });
}

/// Reads what the server sends until `needle` arrives or the server closes; `None` when neither
/// happens within `limit`.
async fn read_until(
    t: &mut tokio::net::tcp::OwnedReadHalf,
    needle: Option<&str>,
    limit: std::time::Duration,
) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match t.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if needle.is_some_and(|n| String::from_utf8_lossy(&got).contains(n)) {
                break;
            }
        }
    })
    .await
    .ok()?;
    Some(String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn slow_clients_are_cut_off_and_one_address_cannot_hold_every_connection_or_start_endless_conversations(
) {
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    let s = console_server_with(Mode::Autopilot, |c| {
        c.server.header_timeout_s = 2;
        c.server.body_timeout_s = 2;
        c.server.connections_per_address = 4;
        c.server.conversations_per_address_per_hour = 3;
    });
    let addr = s.base.trim_start_matches("http://").to_string();
    s.rt.block_on(async {
        // Four idle connections hold the address's places; a fifth is closed at once, unanswered.
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(TcpStream::connect(&addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (mut fifth, _w) = TcpStream::connect(&addr).await.unwrap().into_split();
        let sent = read_until(&mut fifth, None, Duration::from_millis(1500)).await;
        assert_eq!(sent.as_deref(), Some(""), "the fifth connection is closed at once");
        drop(idle);
        let c = client();
        let mut answered = false;
        for _ in 0..50 {
            let r = c.get(format!("{}/healthz", s.base)).send().await;
            if r.is_ok_and(|r| r.status() == StatusCode::OK) {
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(answered, "the places come back when connections close");

        // Headers trickled one line at a time: the connection ends at the header time limit.
        let (mut r, mut w) = TcpStream::connect(&addr).await.unwrap().into_split();
        w.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let trickle = tokio::spawn(async move {
            for _ in 0..40 {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if w.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let sent = read_until(&mut r, None, Duration::from_secs(8))
            .await
            .expect("the server ends a connection whose headers never finish");
        assert!(!sent.contains("200 OK"), "{sent}");
        assert!(started.elapsed() >= Duration::from_millis(1500));
        trickle.abort();

        // A body that stops halfway: 408 `request_timeout` at the body time limit.
        let (mut r, mut w) = TcpStream::connect(&addr).await.unwrap().into_split();
        w.write_all(
            b"POST /api/conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"lang\":",
        )
        .await
        .unwrap();
        let sent = read_until(&mut r, Some("request_timeout"), Duration::from_secs(8))
            .await
            .expect("the server answers a stalled body");
        assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
        assert!(sent.contains("request_timeout"), "{sent}");
        drop(w);

        // Three new conversations an hour from one address, then 429 with a wait.
        for _ in 0..3 {
            let r = c
                .post(format!("{}/api/conversations", s.base))
                .json(&serde_json::json!({ "lang": "pl" }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
        }
        let r = c
            .post(format!("{}/api/conversations", s.base))
            .json(&serde_json::json!({ "lang": "pl" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry > 60, "about an hour's share: {retry}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "rate_limited");

        let metrics = common::metrics_text(&c, &s.base).await;
        for kind in ["connections", "body_timeout", "conversations"] {
            assert!(
                metrics.contains(&format!("kind=\"{kind}\"")),
                "{kind} refusals are counted"
            );
        }
        assert!(metrics.contains("concord_http_open_connections"));
    });
}
