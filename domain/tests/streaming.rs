//! Streaming destinations end to end against a local HTTP receiver that records every request:
//! each platform's exact payload with identities normalised and hashed its way (expected hashes
//! computed by Python's hashlib, an independent implementation), additions and removals,
//! retries honouring `Retry-After`, the rate limit, per-record errors kept and replayed, the
//! removal cap, and a stopped run resuming after its checkpoint.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use domain::activation::{self, Activation, ExportMode, MappingRow, SegmentSchedule, SourceKind};
use domain::catalog::Catalog;
use domain::catalog::spec::{Hashing, Schedule};
use domain::connections::Connectors;
use domain::connections::dataflows;
use domain::entities::dataflow_run;
use domain::export::{runner, runs};
use domain::profiles::store::{self, ProfileRecord};
use domain::profiles::values;
use domain::segments::service::{self, SegmentInput};
use domain::testing::{
    self,
    receiver::{Receiver, Reply},
};
use serde_json::json;

/// A profile of the test audience.
struct Person {
    crm: &'static str,
    identities: &'static [(&'static str, &'static str)],
    points: i64,
    ads_consent: &'static str,
    country: Option<&'static str>,
}

/// The audience: points ≥ 500 qualify.
const PEOPLE: &[Person] = &[
    Person {
        crm: "p1",
        identities: &[
            ("Email", " Ada.Lovelace+news@GMail.com "),
            ("Phone", "(415) 555-2671"),
        ],
        points: 900,
        ads_consent: "y",
        country: Some("US"),
    },
    Person {
        crm: "p2",
        identities: &[("Email", "not-an-email"), ("Phone", "+44 20 7946 0958")],
        points: 800,
        ads_consent: "y",
        country: None,
    },
    Person {
        crm: "p3",
        identities: &[("Email", "no.consent@example.com")],
        points: 700,
        ads_consent: "n",
        country: Some("US"),
    },
    Person {
        crm: "p4",
        identities: &[(
            "Email_LC_SHA256",
            "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
        )],
        points: 600,
        ads_consent: "y",
        country: None,
    },
    Person {
        crm: "p5",
        identities: &[("Email", "leaver@example.com")],
        points: 550,
        ads_consent: "y",
        country: Some("GB"),
    },
    Person {
        crm: "p7",
        identities: &[("Email", "grace@example.com")],
        points: 750,
        ads_consent: "y",
        country: None,
    },
    Person {
        crm: "p6",
        identities: &[("Email", "below@example.com")],
        points: 10,
        ads_consent: "y",
        country: Some("GB"),
    },
];

fn record_of(person: &Person, points: i64) -> ProfileRecord {
    let mut attributes = json!({});
    values::set_path(&mut attributes, "loyalty.points", json!(points));
    values::set_path(
        &mut attributes,
        "consents.marketing.ads.val",
        json!(person.ads_consent),
    );
    values::set_path(
        &mut attributes,
        "consents.marketing.email.val",
        json!(person.ads_consent),
    );
    if let Some(country) = person.country {
        values::set_path(&mut attributes, "homeAddress.countryCode", json!(country));
    }
    if person.crm == "p1" {
        // A whole address, for Google's address match.
        values::set_path(&mut attributes, "person.name.firstName", json!(" Ada "));
        values::set_path(&mut attributes, "person.name.lastName", json!("Lovelace"));
        values::set_path(&mut attributes, "homeAddress.postalCode", json!("94105"));
    }
    let mut identities = vec![("CRMID".to_owned(), person.crm.to_owned())];
    identities.extend(
        person
            .identities
            .iter()
            .map(|(ns, v)| ((*ns).to_owned(), store::normalize_identity(ns, v))),
    );
    ProfileRecord {
        identities,
        attributes,
    }
}

/// SHA-256 of `text` by Python's hashlib: hex, or Base64 of the digest.
fn python_sha256(text: &str, base64: bool) -> String {
    let program = if base64 {
        "import base64,hashlib,sys; print(base64.b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).decode())"
    } else {
        "import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())"
    };
    let out = std::process::Command::new("python3")
        .args(["-c", program, text])
        .output()
        .expect("python3 runs");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct Setup {
    db: testing::TestDb,
    c: Connectors,
    receiver: Receiver,
    flow: String,
    segment: String,
    _landing: tempfile::TempDir,
}

/// The audience in a fresh database, a dataflow to `destination` pointed at a new receiver,
/// and the segment activated for streaming with `mapped` identities and fields (a dotted path
/// is a field).
async fn setup(
    destination: &str,
    extra_spec: Option<&str>,
    actions: &[&str],
    account: &[(&str, &str)],
    params: &[(&str, &str)],
    mapped: &[&str],
) -> Setup {
    let db = testing::sqlite().await;
    let batch: Vec<(u64, ProfileRecord)> = PEOPLE
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u64 + 1, record_of(p, p.points)))
        .collect();
    store::upsert_batch(&db.db, "CRMID", batch).await.unwrap();
    let segment = service::create(
        &db.db,
        &SegmentInput {
            name: "Loyal".into(),
            description: String::new(),
            rule: "loyalty.points >= 500".into(),
            schedule: "daily".into(),
        },
    )
    .await
    .unwrap();
    service::evaluate(&db.db, &segment.public_id, Utc::now())
        .await
        .unwrap();
    let receiver = Receiver::start().await;
    let landing = tempfile::tempdir().unwrap();
    let mut c = testing::connectors(landing.path());
    let extra = tempfile::tempdir().unwrap();
    if let Some(text) = extra_spec {
        std::fs::write(extra.path().join("extra.toml"), text).unwrap();
    }
    let base_urls = BTreeMap::from([(destination.to_owned(), receiver.url.clone())]);
    c.catalog = std::sync::Arc::new(
        Catalog::load(Some(extra.path()), &base_urls).expect("a valid catalog"),
    );
    let flow = testing::create_dataflow(&db.db, &c, destination, account, params, actions).await;
    let input = Activation {
        segments: vec![SegmentSchedule {
            segment_id: segment.public_id.clone(),
            schedule: Schedule::Streaming,
            mode: ExportMode::Streaming,
            time: None,
            after_evaluation: false,
            start_date: Utc::now().date_naive(),
            end_date: None,
            file_name: String::new(),
        }],
        mapping: mapped
            .iter()
            .map(|source| MappingRow {
                kind: if source.contains('.') {
                    SourceKind::Field
                } else {
                    SourceKind::Identity
                },
                source: (*source).into(),
                target: source.replace('.', "_"),
                mandatory: false,
                dedup_key: false,
                transformation: Hashing::None,
            })
            .collect(),
    };
    activation::save(&db.db, &c, &flow.public_id, &input, true)
        .await
        .unwrap();
    Setup {
        db,
        c,
        receiver,
        flow: flow.public_id,
        segment: segment.public_id,
        _landing: landing,
    }
}

/// Runs every queued run; returns this dataflow's runs, oldest first.
async fn run_all(s: &Setup) -> Vec<dataflow_run::Model> {
    while let Some(run) = runs::claim(&s.db.db, "test-worker", Duration::seconds(60), Utc::now())
        .await
        .unwrap()
    {
        runner::run_claimed(&s.db.db, &s.c, run, "test-worker", Duration::seconds(60))
            .await
            .unwrap();
    }
    let flow = activation::find_dataflow(&s.db.db, &s.flow).await.unwrap();
    let mut all = runs::list(&s.db.db, flow.id, 100).await.unwrap();
    all.reverse();
    all
}

async fn run_once(s: &Setup) -> dataflow_run::Model {
    // Manual runs are one per second: a second click within it is the same run.
    while runs::enqueue_manual(&s.db.db, &s.flow, None)
        .await
        .unwrap()
        .is_empty()
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    run_all(s).await.pop().unwrap()
}

fn counts(text: &str) -> BTreeMap<String, i64> {
    serde_json::from_str(text).unwrap()
}

/// Moves a profile's points and re-evaluates the segment now.
async fn set_points(s: &Setup, crm: &str, points: i64) {
    let person = PEOPLE.iter().find(|p| p.crm == crm).unwrap();
    store::upsert_batch(&s.db.db, "CRMID", vec![(1, record_of(person, points))])
        .await
        .unwrap();
    service::evaluate(&s.db.db, &s.segment, Utc::now())
        .await
        .unwrap();
}

#[tokio::test]
async fn meta_receives_additions_then_removals_hashed_its_way_and_nothing_twice() {
    let s = setup(
        "meta_custom_audiences",
        None,
        &["onsite_advertising"],
        &[
            ("access_token", "meta-token-123"),
            ("ad_account_id", "act_1"),
        ],
        &[],
        &["Email", "Phone", "homeAddress.countryCode"],
    )
    .await;
    let run = run_once(&s).await;
    assert_eq!(run.status, "success", "{:?}", run.error);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 1, "one batch");
    let add = &requests[0];
    assert_eq!(add.method, "POST");
    assert_eq!(add.path, format!("/{}/users", s.segment));
    assert_eq!(add.header("Authorization"), Some("Bearer meta-token-123"));
    // Meta: email trimmed and lowercased (dots and +suffix kept), phone digits with the
    // country code and no +, country lowercased, all SHA-256 hex; an already-hashed email
    // passes through.
    assert_eq!(
        add.json(),
        json!({"payload": {"schema": ["EMAIL", "PHONE", "COUNTRY"], "data": [
            [python_sha256("ada.lovelace+news@gmail.com", false), python_sha256("14155552671", false), python_sha256("us", false)],
            ["", python_sha256("442079460958", false), ""],
            ["abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789", "", ""],
            [python_sha256("leaver@example.com", false), "", python_sha256("gb", false)],
            [python_sha256("grace@example.com", false), "", ""],
        ]}})
    );
    assert_eq!(run.received, 6);
    assert_eq!(run.activated, 6, "identities accepted");
    // "Why was this profile not sent?" knows each profile left out.
    assert_eq!(
        runs::why_excluded(&s.db.db, &run, "CRMID", "p3")
            .await
            .unwrap(),
        runs::Explanation::Excluded(runner::NO_CONSENT.into())
    );
    assert_eq!(
        counts(&run.excluded),
        BTreeMap::from([("malformed_email".into(), 1), ("no_consent".into(), 1)])
    );

    // p5 leaves the segment: the next run removes only p5.
    set_points(&s, "p5", 100).await;
    let run = run_once(&s).await;
    assert_eq!(run.status, "success", "{:?}", run.error);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 2, "nothing sent twice");
    let remove = &requests[1];
    assert_eq!(remove.method, "DELETE");
    assert_eq!(
        remove.json(),
        json!({"payload": {"schema": ["EMAIL", "PHONE", "COUNTRY"], "data": [
            [python_sha256("leaver@example.com", false), "", python_sha256("gb", false)],
        ]}})
    );
    assert_eq!((run.received, run.activated), (1, 1));

    // No change, nothing sent.
    let run = run_once(&s).await;
    assert_eq!(run.status, "success");
    assert_eq!(s.receiver.requests().len(), 2);
    assert_eq!(run.received, 0);
}

#[tokio::test]
async fn google_trade_desk_and_linkedin_each_get_their_own_normalisation() {
    let ada_google = python_sha256("adalovelace@gmail.com", false);
    let phone_e164 = python_sha256("+14155552671", false);
    let ada_ttd = python_sha256("adalovelace@gmail.com", true);
    let ada_linkedin = python_sha256("ada.lovelace+news@gmail.com", false);

    let google = setup(
        "google_customer_match",
        None,
        &["onsite_advertising"],
        &[("access_token", "g-token"), ("operating_account_id", "123")],
        &[],
        &[
            "Email",
            "Phone",
            "person.name.firstName",
            "person.name.lastName",
            "homeAddress.countryCode",
            "homeAddress.postalCode",
        ],
    )
    .await;
    let run = run_once(&google).await;
    assert_eq!(run.status, "success", "{:?}", run.error);
    let body = google.receiver.requests()[0].json();
    assert_eq!(
        google.receiver.requests()[0].path,
        "/audienceMembers:ingest"
    );
    assert_eq!(body["encoding"], "HEX");
    assert_eq!(
        body["destinations"][0]["productDestinationId"],
        json!(google.segment)
    );
    assert_eq!(
        body["audienceMembers"][0],
        json!({"userData": {"userIdentifiers": [
            {"emailAddress": ada_google},
            {"phoneNumber": phone_e164},
            // Names lowercased and hashed; region and postal code as they are.
            {"address": {
                "givenName": python_sha256("ada", false),
                "familyName": python_sha256("lovelace", false),
                "regionCode": "US",
                "postalCode": "94105",
            }},
        ]}})
    );
    // p5 has a country but no whole address: no address is sent.
    let leaver = body["audienceMembers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["userData"]["userIdentifiers"][0]["emailAddress"]
                == json!(python_sha256("leaver@example.com", false))
        })
        .unwrap()
        .clone();
    assert_eq!(
        leaver["userData"]["userIdentifiers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let ttd = setup(
        "the_trade_desk",
        None,
        &["onsite_advertising"],
        &[("auth_token", "ttd-secret"), ("advertiser_id", "adv1")],
        &[],
        &["Email"],
    )
    .await;
    let run = run_once(&ttd).await;
    assert_eq!(run.status, "success", "{:?}", run.error);
    let request = &ttd.receiver.requests()[0];
    assert_eq!(request.header("TTD-Auth"), Some("ttd-secret"));
    let body = request.json();
    assert_eq!(body["AdvertiserId"], "adv1");
    assert_eq!(
        body["Items"][0],
        json!({"EmailHash": ada_ttd, "Data": [{"Name": ttd.segment, "TTLInMinutes": 43200}]})
    );

    let linkedin = setup(
        "linkedin_matched_audiences",
        None,
        &["onsite_advertising"],
        &[("access_token", "li-token"), ("ad_account_id", "5")],
        &[],
        &["Email"],
    )
    .await;
    let run = run_once(&linkedin).await;
    assert_eq!(run.status, "success", "{:?}", run.error);
    let request = &linkedin.receiver.requests()[0];
    assert_eq!(request.header("X-RestLi-Method"), Some("BATCH_CREATE"));
    assert_eq!(
        request.json()["elements"][0],
        json!({"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": ada_linkedin}]})
    );
}

#[tokio::test]
async fn retries_honour_retry_after_and_deliver_once() {
    let s = setup(
        "meta_custom_audiences",
        None,
        &["onsite_advertising"],
        &[
            ("access_token", "meta-token-123"),
            ("ad_account_id", "act_1"),
        ],
        &[],
        &["Email"],
    )
    .await;
    s.receiver.script([Reply::too_many(1), Reply::status(503)]);
    let run = run_once(&s).await;
    assert_eq!(run.status, "success", "{:?}", run.error);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), 3, "429, 503, then accepted");
    assert!(
        requests.windows(2).all(|w| w[0].body == w[1].body),
        "a retry repeats the same request"
    );
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= std::time::Duration::from_millis(990),
        "Retry-After: 1 is honoured (waited {waited:?})"
    );
    assert_eq!(run.activated, 4, "p1, p4 (already hashed), p5, p7");
    assert_eq!(
        counts(&run.excluded),
        BTreeMap::from([("malformed_email".into(), 1), ("no_consent".into(), 1)]),
        "p2's only identity is malformed: counted once, by that reason"
    );
    assert_eq!(
        runs::why_excluded(&s.db.db, &run, "CRMID", "p2")
            .await
            .unwrap(),
        runs::Explanation::Excluded("malformed_email".into())
    );
}

/// A test destination: tiny batches, a low rate, per-record errors as the HTTP API names them.
const TINY: &str = r#"
id = "tiny_api"
name = "Tiny API"
description = "Test destination with tiny batches."
category = "streaming"
type = "profile_export"
connection = "streaming"
transport = "http"
schedules = ["streaming"]
marketing_actions = ["email_targeting"]

[[credentials]]
key = "token"
label = "Token"
secret = true

[batching]
max_records = 1
max_age_seconds = 30

[rate_limit]
requests_per_second = 4
concurrency = 2
max_attempts = 3
retry_window_seconds = 60

[http]
base_url = "https://example.com"

[http.auth]
header = "Authorization"
value = "Bearer {{ account.token }}"

[http.auth_check]
method = "GET"
path = "/check"

[http.add]
method = "POST"
path = "/records?token={{ account.token }}"
headers = { "Content-Type" = "application/json" }
body = """
{"token_echo": {{ account.token | tojson }}, "records": {{ records | map(attribute="attributes") | list | tojson }}}
"""

[http.record_errors]
path = "/errors"
index = "index"
message = "message"
"#;

async fn tiny() -> Setup {
    setup(
        "tiny_api",
        Some(TINY),
        &["email_targeting"],
        &[("token", "tiny-secret-token")],
        &[],
        &["Email"],
    )
    .await
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    // The tiny destination with a one-second timeout.
    let spec = TINY
        .replace("id = \"tiny_api\"", "id = \"tiny_slow\"")
        .replace(
            "base_url = \"https://example.com\"",
            "base_url = \"https://example.com\"\ntimeout_seconds = 1",
        );
    let s = setup(
        "tiny_slow",
        Some(&spec),
        &["email_targeting"],
        &[("token", "tiny-secret-token")],
        &[],
        &["Email"],
    )
    .await;
    s.receiver
        .script([Reply::Slow(std::time::Duration::from_millis(2_500))]);
    let run = run_once(&s).await;
    assert_eq!(run.status, "success", "{:?}", run.error);
    let requests = s.receiver.requests();
    // Four records, one per request, and the one that timed out sent again.
    assert_eq!(requests.len(), 5);
    let first = &requests[0].body;
    assert_eq!(
        requests.iter().filter(|r| &r.body == first).count(),
        2,
        "only the timed-out request is repeated"
    );
    assert_eq!(run.activated, 4);
}

#[tokio::test]
async fn the_rate_limit_spaces_requests() {
    let s = tiny().await;
    let run = run_once(&s).await;
    assert_eq!(run.status, "success", "{:?}", run.error);
    let mut requests = s.receiver.requests();
    // p1, p2, p5 and p7 have consent and an email (mandatory in a profile export; this
    // destination has no identity rules, so p2's odd email goes as it is).
    assert_eq!(requests.len(), 4);
    requests.sort_by_key(|r| r.at);
    for pair in requests.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= std::time::Duration::from_millis(200),
            "4 requests per second at most: {gap:?}"
        );
    }
}

#[tokio::test]
async fn refused_records_are_kept_without_secrets_and_replay_delivers_them() {
    let s = tiny().await;
    // The first request's record is refused by name; the others are accepted.
    s.receiver.script([Reply::json(
        400,
        json!({"errors": [{"index": 0, "message": "email domain blocked"}]}),
    )]);
    let run = run_once(&s).await;
    assert_eq!(run.status, "partial", "{:?}", run.error);
    assert_eq!(
        counts(&run.failed),
        BTreeMap::from([("http_400".into(), 1)])
    );
    let failed = runs::failed_records(&s.db.db, &run, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    let kept = &failed[0];
    assert_eq!(kept.reason, "email domain blocked");
    assert_eq!(kept.status_code, Some(400));
    assert!(
        !kept.request_sample.contains("tiny-secret-token"),
        "{}",
        kept.request_sample
    );
    assert!(kept.request_sample.contains("[redacted]"));
    assert!(kept.response_sample.contains("email domain blocked"));
    let first = s.receiver.requests()[0].json();
    let refused_email = first["records"][0]["Email"].clone();

    let replay = runs::enqueue_replay(&s.db.db, &run.public_id)
        .await
        .unwrap();
    assert!(matches!(
        runs::enqueue_replay(&s.db.db, &run.public_id).await,
        Err(domain::Error::Invalid(_))
    ));
    let before = s.receiver.requests().len();
    let finished = run_all(&s).await;
    let replayed = finished.iter().find(|r| r.id == replay.id).unwrap();
    assert_eq!(replayed.status, "success", "{:?}", replayed.error);
    let requests = s.receiver.requests();
    assert_eq!(
        requests.len(),
        before + 1,
        "only the failed record is sent again"
    );
    assert_eq!(
        requests[before].json()["records"][0]["Email"],
        refused_email
    );
    assert_eq!(replayed.activated, 1);
    assert!(matches!(
        runs::enqueue_replay(&s.db.db, &run.public_id).await,
        Err(domain::Error::Invalid(_))
    ));
}

#[tokio::test]
async fn refused_credentials_fail_the_run_with_a_clear_reason() {
    let s = tiny().await;
    s.receiver.script([Reply::status(401), Reply::status(401)]);
    let run = run_once(&s).await;
    assert_eq!(run.status, "failed");
    let error = run.error.unwrap();
    assert!(
        error.starts_with("the platform refused the credentials (401"),
        "{error}"
    );
}

#[tokio::test]
async fn a_stopped_run_resumes_after_its_checkpoint() {
    // The tiny destination one request at a time (and a rate limiter of its own), so the
    // order of the answers is the order of the records.
    let spec = TINY
        .replace("id = \"tiny_api\"", "id = \"tiny_serial\"")
        .replace("concurrency = 2", "concurrency = 1");
    let s = setup(
        "tiny_serial",
        Some(&spec),
        &["email_targeting"],
        &[("token", "tiny-secret-token")],
        &[],
        &["Email"],
    )
    .await;
    // The second request fails hard, so the run stops with only the first group committed.
    s.receiver.script([Reply::status(200), Reply::status(401)]);
    let run = run_once(&s).await;
    assert_eq!(run.status, "failed");
    assert!(run.checkpoint.is_some(), "the first group was committed");
    let accepted_first: Vec<String> = s
        .receiver
        .requests()
        .iter()
        .take(1)
        .map(|r| r.json()["records"][0]["Email"].to_string())
        .collect();
    // As after a crash: the run is running with an expired lease, and a worker takes it over.
    use sea_orm::{ActiveModelTrait, Set};
    let mut stale: dataflow_run::ActiveModel = run.clone().into();
    stale.status = Set("running".into());
    stale.lease_expires_at = Set(Some(Utc::now() - Duration::seconds(1)));
    stale.update(&s.db.db).await.unwrap();
    let before = s.receiver.requests().len();
    let resumed = run_all(&s).await.pop().unwrap();
    assert_eq!(resumed.id, run.id);
    assert_eq!(resumed.status, "success", "{:?}", resumed.error);
    let resent: Vec<String> = s.receiver.requests()[before..]
        .iter()
        .map(|r| r.json()["records"][0]["Email"].to_string())
        .collect();
    for email in &accepted_first {
        assert!(
            !resent.contains(email),
            "{email} was accepted before and not sent again"
        );
    }
    assert_eq!(
        resent.len() + accepted_first.len(),
        4,
        "{resent:?} {accepted_first:?}"
    );
    assert_eq!(resumed.activated, 4);
}

#[tokio::test]
async fn removing_more_than_the_cap_pauses_the_dataflow_instead() {
    let s = setup(
        "meta_custom_audiences",
        None,
        &["onsite_advertising"],
        &[
            ("access_token", "meta-token-123"),
            ("ad_account_id", "act_1"),
        ],
        &[("removal_cap_percent", "30")],
        &["Email"],
    )
    .await;
    assert_eq!(run_once(&s).await.status, "success");
    // Two of the six leave: 33% > 30%.
    set_points(&s, "p4", 1).await;
    set_points(&s, "p5", 1).await;
    let sent = s.receiver.requests().len();
    let run = run_once(&s).await;
    assert_eq!(run.status, "failed");
    let error = run.error.unwrap();
    assert!(
        error.starts_with("Paused: this run would remove 2 of 6 profiles (33%)"),
        "{error}"
    );
    assert_eq!(s.receiver.requests().len(), sent, "nothing removed");
    let flow = activation::find_dataflow(&s.db.db, &s.flow).await.unwrap();
    assert_eq!(flow.status, "disabled");
    let alerts = domain::access::audit::list(
        &s.db.db,
        &domain::access::audit::Filter {
            action: Some("dataflows.pause".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(alerts.len(), 1);

    // Enabling it again is the go-ahead: the held removals go out.
    dataflows::set_enabled(&s.db.db, &s.c, &s.flow, true)
        .await
        .unwrap();
    let run = run_once(&s).await;
    assert_eq!(run.status, "success", "{:?}", run.error);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), sent + 1);
    assert_eq!(requests[sent].method, "DELETE");
    assert_eq!(
        requests[sent].json()["payload"]["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_profile_export_marks_each_record_with_its_membership_status() {
    let s = tiny().await;
    assert_eq!(run_once(&s).await.status, "success");
    let records: Vec<serde_json::Value> = s
        .receiver
        .requests()
        .iter()
        .map(|r| r.json()["records"][0].clone())
        .collect();
    assert!(
        records
            .iter()
            .all(|r| r["segment_membership_status"] == "realized"),
        "{records:?}"
    );
    // p5 leaves: without a remove request, it goes with the additions, marked "exited".
    set_points(&s, "p5", 1).await;
    let sent = s.receiver.requests().len();
    let run = run_once(&s).await;
    assert_eq!(run.status, "success", "{:?}", run.error);
    let requests = s.receiver.requests();
    assert_eq!(requests.len(), sent + 1);
    assert_eq!(
        requests[sent].json()["records"],
        json!([{"Email": "leaver@example.com", "segment_membership_status": "exited"}])
    );
}

#[tokio::test]
async fn streaming_starts_and_stops_on_the_segments_dates() {
    let s = tiny().await;
    let mut current = activation::current(&s.db.db, &s.flow).await.unwrap();
    let today = Utc::now().date_naive();
    current.segments[0].start_date = today + Duration::days(1);
    current.segments[0].end_date = Some(today + Duration::days(2));
    activation::save(&s.db.db, &s.c, &s.flow, &current, true)
        .await
        .unwrap();
    let now = Utc::now();
    assert_eq!(
        runs::enqueue_due(&s.db.db, now).await.unwrap(),
        0,
        "not yet"
    );
    assert_eq!(
        runs::enqueue_due(&s.db.db, now + Duration::days(3))
            .await
            .unwrap(),
        0,
        "the end date is exclusive"
    );
    assert_eq!(
        runs::enqueue_due(&s.db.db, now + Duration::days(1))
            .await
            .unwrap(),
        1,
        "from the start date"
    );
}

#[tokio::test]
async fn the_scheduler_streams_changes_and_only_changes() {
    let s = tiny().await;
    let flow = activation::find_dataflow(&s.db.db, &s.flow).await.unwrap();
    assert_eq!(flow.status, "enabled");
    // First tick: a backfill run.
    assert_eq!(runs::enqueue_due(&s.db.db, Utc::now()).await.unwrap(), 1);
    assert_eq!(
        runs::enqueue_due(&s.db.db, Utc::now()).await.unwrap(),
        0,
        "one waiting run at a time"
    );
    let first = run_all(&s).await.pop().unwrap();
    assert_eq!(first.status, "success", "{:?}", first.error);
    assert_eq!(first.trigger, "streaming");
    let later = Utc::now() + Duration::minutes(1);
    assert_eq!(
        runs::enqueue_due(&s.db.db, later).await.unwrap(),
        0,
        "no change, no run"
    );
    set_points(&s, "p6", 999).await;
    assert_eq!(runs::enqueue_due(&s.db.db, later).await.unwrap(), 1);
    let second = run_all(&s).await.pop().unwrap();
    assert_eq!(second.status, "success", "{:?}", second.error);
    assert_eq!(second.received, 1, "only the newcomer");
    // The Runs tab adds them up per hour.
    let hours = runs::hourly(&s.db.db, flow.id, 48, Utc::now() + Duration::minutes(2))
        .await
        .unwrap();
    assert_eq!(hours.iter().map(|h| h.runs).sum::<i64>(), 2);
    assert_eq!(
        hours.iter().map(|h| h.received).sum::<i64>(),
        first.received + second.received
    );
    assert_eq!(
        hours.iter().map(|h| h.activated).sum::<i64>(),
        first.activated + second.activated
    );
}
