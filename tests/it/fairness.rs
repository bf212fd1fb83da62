//! One client cannot hurt the others (issue 20): stream caps per conversation and per address
//! over real HTTP, and a fixed set of method labels in the metrics.

use concord::assistant::Mode;
use reqwest::StatusCode;
use serde_json::Value;

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
        let metrics = c
            .get(format!("{}/metrics", s.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for m in ["FOO", "BAR", "PROPFIND"] {
            assert!(!metrics.contains(m), "{m} became a series");
        }
        assert!(metrics.contains("method=\"other\""), "{metrics}");
        assert!(metrics.contains("kind=\"streams\""), "refusals are counted");
    });
}
