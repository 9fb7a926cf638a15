//! Activation: every wizard step's validation with bad input, policies and consent in the
//! review, the dry run, saving, editing without mapping rights, enabling and removing.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use domain::Error;
use domain::activation::{
    self, Activation, ExportMode, MappingRow, SegmentSchedule, SourceKind, review,
};
use domain::catalog::spec::{Hashing, Schedule};
use domain::connections::Connectors;
use domain::connections::dataflows;
use domain::db::DatabaseConnection;
use domain::testing;

struct Setup {
    db: testing::TestDb,
    c: Connectors,
    _landing: tempfile::TempDir,
    flow: String,
    segments: BTreeMap<String, String>,
}

async fn setup(
    destination: &str,
    actions: &[&str],
    params: &[(&str, &str)],
    account: &[(&str, &str)],
) -> Setup {
    let db = testing::sqlite().await;
    domain::profiles::demo::load(&db.db, 300, domain::profiles::demo::DEFAULT_SEED)
        .await
        .unwrap();
    let landing = tempfile::tempdir().unwrap();
    let c = testing::connectors(landing.path());
    let flow = testing::create_dataflow(&db.db, &c, destination, account, params, actions).await;
    let segments = domain::segments::service::list(&db.db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.public_id))
        .collect();
    Setup {
        db,
        c,
        _landing: landing,
        flow: flow.public_id,
        segments,
    }
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn daily(segment_id: &str) -> SegmentSchedule {
    SegmentSchedule {
        segment_id: segment_id.into(),
        schedule: Schedule::Daily,
        mode: ExportMode::Full,
        time: Some("09:30".into()),
        after_evaluation: false,
        start_date: day("2026-12-01"),
        end_date: None,
        file_name: activation::DEFAULT_FILE_NAME.into(),
    }
}

fn field(source: &str, target: &str) -> MappingRow {
    MappingRow {
        kind: SourceKind::Field,
        source: source.into(),
        target: target.into(),
        mandatory: false,
        dedup_key: false,
        transformation: Hashing::None,
    }
}

fn identity(source: &str, target: &str) -> MappingRow {
    MappingRow {
        kind: SourceKind::Identity,
        source: source.into(),
        target: target.into(),
        mandatory: false,
        dedup_key: false,
        transformation: Hashing::None,
    }
}

async fn errors(
    db: &DatabaseConnection,
    c: &Connectors,
    flow: &str,
    input: &Activation,
) -> Vec<(String, String)> {
    let (_, errors) = activation::validate(db, c, flow, input).await.unwrap();
    errors.into_iter().map(|e| (e.field, e.message)).collect()
}

/// A change that breaks one rule of a good activation.
type Change = Box<dyn Fn(&mut Activation)>;

#[tokio::test]
async fn each_step_refuses_bad_input_at_its_field() {
    let s = setup("local_folder", &["email_targeting"], &[], &[]).await;
    let gold = s.segments["Gold and platinum members"].clone();
    let good = Activation {
        segments: vec![daily(&gold)],
        mapping: vec![
            identity("Email", "email"),
            field("person.name.firstName", "first_name"),
        ],
    };
    assert_eq!(errors(&s.db.db, &s.c, &s.flow, &good).await, vec![]);

    let cases: Vec<(Change, &str, &str)> = vec![
        (
            Box::new(|a| a.segments.clear()),
            "segments",
            "Select at least one segment.",
        ),
        (
            Box::new(|a| a.segments[0].segment_id = "nope".into()),
            "segments[0].segment_id",
            "This segment does not exist (any more).",
        ),
        (
            Box::new(|a| {
                let dup = a.segments[0].clone();
                a.segments.push(dup)
            }),
            "segments[1].segment_id",
            "This segment is selected twice.",
        ),
        (
            Box::new(|a| a.segments[0].end_date = Some(day("2026-12-01"))),
            "segments[0].end_date",
            "The end date must be after the start date (it is exclusive).",
        ),
        (
            Box::new(|a| a.segments[0].schedule = Schedule::Every3Hours),
            "segments[0].schedule",
            "Full files are exported once, daily, weekly or monthly.",
        ),
        (
            Box::new(|a| {
                a.segments[0].mode = ExportMode::Incremental;
                a.segments[0].schedule = Schedule::Weekly
            }),
            "segments[0].schedule",
            "Incremental files are exported daily or every 3, 6, 8 or 12 hours.",
        ),
        (
            Box::new(|a| a.segments[0].time = Some("25:00".into())),
            "segments[0].time",
            "\"25:00\" is not a time like 09:30.",
        ),
        (
            Box::new(|a| a.segments[0].time = None),
            "segments[0].time",
            "Choose a time (UTC) or \"after segment evaluation\".",
        ),
        (
            Box::new(|a| {
                a.segments[0].time = None;
                a.segments[0].after_evaluation = true;
                a.segments[0].schedule = Schedule::Weekly
            }),
            "segments[0].time",
            "\"After segment evaluation\" is for daily exports.",
        ),
        (
            Box::new(|a| {
                a.segments[0].schedule = Schedule::Once;
                a.segments[0].end_date = Some(day("2027-01-01"))
            }),
            "segments[0].end_date",
            "A one-time export has no end date.",
        ),
        (
            Box::new(|a| a.segments[0].file_name = "../etc/passwd".into()),
            "segments[0].file_name",
            "A file name cannot contain /, \\, : or control characters.",
        ),
        (
            Box::new(|a| a.segments[0].file_name = "x_{secret}".into()),
            "segments[0].file_name",
            "Unknown macro {secret}; use {destination}, {segment_id}, {segment_name}, {datetime}, {date}, {timestamp}, {dataflow_id}.",
        ),
        (
            Box::new(|a| a.segments[0].file_name = "  ".into()),
            "segments[0].file_name",
            "Give a file name.",
        ),
        (
            Box::new(|a| a.mapping.clear()),
            "mapping",
            "Map at least one field or identity.",
        ),
        (
            Box::new(|a| a.mapping[1].source = "person.shoeSize".into()),
            "mapping[1].source",
            "\"person.shoeSize\" is not a field of the schema.",
        ),
        (
            Box::new(|a| a.mapping[0].source = "Fax".into()),
            "mapping[0].source",
            "\"Fax\" is not an identity namespace.",
        ),
        (
            Box::new(|a| a.mapping[1].target = "EMAIL".into()),
            "mapping[1].target",
            "The target \"EMAIL\" is used twice.",
        ),
        (
            Box::new(|a| a.mapping[1].target = " ".into()),
            "mapping[1].target",
            "Name the target column.",
        ),
        (
            Box::new(|a| a.mapping[1].transformation = Hashing::Sha256Hex),
            "mapping[1].transformation",
            "Only identities are hashed.",
        ),
    ];
    for (change, field, message) in cases {
        let mut input = good.clone();
        change(&mut input);
        let found = errors(&s.db.db, &s.c, &s.flow, &input).await;
        assert!(
            found.contains(&(field.to_owned(), message.to_owned())),
            "expected {field}: {message}\n got {found:?}"
        );
    }
    // Saving re-checks on the server and changes nothing on a mistake.
    let mut bad = good.clone();
    bad.segments[0].time = Some("9".into());
    assert!(
        matches!(activation::save(&s.db.db, &s.c, &s.flow, &bad, true).await, Err(Error::Invalid(m)) if m.contains("segments[0].time"))
    );
    assert!(
        activation::current(&s.db.db, &s.flow)
            .await
            .unwrap()
            .segments
            .is_empty()
    );
}

#[tokio::test]
async fn the_specs_identity_rules_apply_to_the_mapping() {
    let s = setup(
        "meta_custom_audiences",
        &["onsite_advertising"],
        &[],
        &[("access_token", "t"), ("ad_account_id", "act_1")],
    )
    .await;
    let gold = s.segments["Gold and platinum members"].clone();
    let mut streaming = daily(&gold);
    streaming.schedule = Schedule::Streaming;
    streaming.mode = ExportMode::Streaming;
    streaming.time = None;
    streaming.file_name = String::new();
    let input = Activation {
        segments: vec![streaming.clone()],
        mapping: vec![field("loyalty.tier", "tier")],
    };
    let found = errors(&s.db.db, &s.c, &s.flow, &input).await;
    assert!(
        found.contains(&(
            "mapping[0].source".into(),
            "Meta Custom Audiences takes identities and only these attributes: homeAddress.countryCode."
                .into()
        )),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(f, m)| f == "mapping"
            && m.starts_with("Map at least 1 of the identities Meta Custom Audiences accepts")),
        "{found:?}"
    );
    let input = Activation {
        segments: vec![daily(&gold)],
        mapping: vec![identity("Email", "whatever")],
    };
    let found = errors(&s.db.db, &s.c, &s.flow, &input).await;
    assert!(
        found.contains(&(
            "segments[0].schedule".into(),
            "Streaming destinations follow membership changes as they happen.".into()
        )),
        "{found:?}"
    );

    // A mapped identity is a dedup key, hashed and named as the platform wants; not mandatory:
    // the platform matches on any one of the mapped identities.
    let input = Activation {
        segments: vec![streaming],
        mapping: vec![identity("Email", "whatever")],
    };
    let saved = activation::save(&s.db.db, &s.c, &s.flow, &input, true)
        .await
        .unwrap();
    assert_eq!(saved.mapping[0].target, "EMAIL");
    assert!(!saved.mapping[0].mandatory && saved.mapping[0].dedup_key);
    // The country Meta also matches on is named and hashed its way.
    let input = Activation {
        segments: input.segments.clone(),
        mapping: vec![
            identity("Email", "whatever"),
            field("homeAddress.countryCode", "country"),
        ],
    };
    let saved = activation::save(&s.db.db, &s.c, &s.flow, &input, true)
        .await
        .unwrap();
    assert_eq!(saved.mapping[1].target, "COUNTRY");
    assert_eq!(saved.mapping[1].transformation, Hashing::Sha256Hex);
    assert_eq!(saved.mapping[0].transformation, Hashing::Sha256Hex);
    let review = review::review(&s.db.db, &s.c, &s.flow, &saved)
        .await
        .unwrap();
    let dry = review.dry_run.unwrap();
    assert_eq!(dry.format, "json");
    let records: serde_json::Value = serde_json::from_str(&dry.content).unwrap();
    let first = records[0]["identities"]["EMAIL"].as_str().unwrap();
    assert_eq!(first.len(), 64, "SHA-256 hex: {first}");
    assert!(
        first
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
}

#[tokio::test]
async fn policies_block_violations_and_the_review_counts_consent_and_identities() {
    let s = setup(
        "local_folder",
        &["data_science", "email_targeting"],
        &[("csv_delimiter", ";")],
        &[],
    )
    .await;
    let high_value = s.segments["High value, reachable"].clone();
    let gold = s.segments["Gold and platinum members"].clone();
    // The rule of "High value, reachable" reads commerce.lifetimeValue (C9): no data science.
    let input = Activation {
        segments: vec![daily(&high_value)],
        mapping: vec![identity("Email", "email")],
    };
    let found = errors(&s.db.db, &s.c, &s.flow, &input).await;
    let policy: Vec<&String> = found
        .iter()
        .filter(|(f, _)| f == "review")
        .map(|(_, m)| m)
        .collect();
    assert!(
        policy.iter().any(|m| m.contains(
            "Segment \"High value, reachable\" (its rule) uses commerce.lifetimeValue labelled C9"
        ) && m.contains("Data science")),
        "{found:?}"
    );
    assert!(
        matches!(activation::save(&s.db.db, &s.c, &s.flow, &input, true).await, Err(Error::Invalid(m)) if m.contains("labelled C9"))
    );
    // A mapped field with a label is caught the same way.
    let input = Activation {
        segments: vec![daily(&gold)],
        mapping: vec![identity("Email", "email"), field("person.gender", "gender")],
    };
    let found = errors(&s.db.db, &s.c, &s.flow, &input).await;
    assert!(
        found.iter().any(|(f, m)| f == "review"
            && m.starts_with("The mapping of person.gender uses person.gender labelled C5")),
        "{found:?}"
    );

    let input = Activation {
        segments: vec![daily(&gold)],
        mapping: vec![
            identity("Email", "email"),
            identity("Phone", "phone"),
            field("person.name.firstName", "first_name"),
            field("loyalty.tier", "tier"),
        ],
    };
    assert_eq!(errors(&s.db.db, &s.c, &s.flow, &input).await, vec![]);
    let saved = activation::save(&s.db.db, &s.c, &s.flow, &input, true)
        .await
        .unwrap();
    let review = review::review(&s.db.db, &s.c, &s.flow, &saved)
        .await
        .unwrap();
    assert!(review.violations.is_empty());
    let seg = &review.segments[0];
    assert_eq!(seg.name, "Gold and platinum members");
    assert!(seg.members > 0);
    // Recount in Rust: members whose email consent is not "y" are excluded.
    let members = domain::segments::service::sample_members(&s.db.db, &gold, 10_000)
        .await
        .unwrap();
    let expected = members
        .iter()
        .filter(|p| {
            let get = |c: &str| {
                p.attributes
                    .pointer(&format!("/consents/marketing/{c}/val"))
                    .and_then(|v| v.as_str())
                    == Some("y")
            };
            !get("email")
        })
        .count() as i64;
    assert_eq!(seg.consent_excluded, expected);
    assert!(
        seg.consent_excluded > 0 && seg.consent_excluded < seg.members,
        "demo data mixes consents: {seg:?}"
    );
    let missing_phone = members
        .iter()
        .filter(|p| !p.identities.iter().any(|(ns, _)| ns == "Phone"))
        .count() as i64;
    assert!(
        seg.missing.contains(&("Phone".to_owned(), missing_phone)),
        "{:?}",
        seg.missing
    );

    let dry = review.dry_run.unwrap();
    assert!(
        dry.name.starts_with("Local_folder__landing_zone__") && dry.name.ends_with(".csv"),
        "{}",
        dry.name
    );
    let mut lines = dry.content.lines();
    assert_eq!(lines.next(), Some("email;phone;first_name;tier"));
    for line in lines {
        let cells: Vec<&str> = line.split(';').collect();
        assert_eq!(cells.len(), 4, "{line}");
        // A file destination without identity rules exports identities as stored; mapped
        // identities are mandatory, so both are present on every row.
        assert!(cells[0].contains('@'), "{line}");
        assert!(!cells[1].is_empty(), "{line}");
        assert!(cells[3] == "gold" || cells[3] == "platinum", "{line}");
    }
    assert!(dry.rows > 0);
}

#[tokio::test]
async fn without_mapping_rights_segments_change_but_the_mapping_does_not() {
    let s = setup("local_folder", &["email_targeting"], &[], &[]).await;
    let gold = s.segments["Gold and platinum members"].clone();
    let gmail = s.segments["Gmail users"].clone();
    let first = Activation {
        segments: vec![daily(&gold)],
        mapping: vec![identity("Email", "email")],
    };
    activation::save(&s.db.db, &s.c, &s.flow, &first, true)
        .await
        .unwrap();
    let flow = dataflows::get(&s.db.db, &s.c, &s.flow).await.unwrap();
    assert!(flow.enabled);
    assert_eq!(flow.segments, 1);

    let mut more = first.clone();
    more.segments.push(daily(&gmail));
    activation::save(&s.db.db, &s.c, &s.flow, &more, false)
        .await
        .unwrap();
    let mut remapped = more.clone();
    remapped.mapping.push(field("loyalty.tier", "tier"));
    assert!(matches!(
        activation::save(&s.db.db, &s.c, &s.flow, &remapped, false).await,
        Err(Error::Forbidden(_))
    ));
    let stored = activation::current(&s.db.db, &s.flow).await.unwrap();
    assert_eq!(stored.segments.len(), 2);
    assert_eq!(stored.mapping.len(), 1);

    // Disabling and enabling; removing the last segment disables.
    assert!(
        !dataflows::set_enabled(&s.db.db, &s.c, &s.flow, false)
            .await
            .unwrap()
            .enabled
    );
    assert!(
        dataflows::set_enabled(&s.db.db, &s.c, &s.flow, true)
            .await
            .unwrap()
            .enabled
    );
    dataflows::remove_segment(&s.db.db, &s.flow, &gold)
        .await
        .unwrap();
    dataflows::remove_segment(&s.db.db, &s.flow, &gmail)
        .await
        .unwrap();
    assert!(matches!(
        dataflows::remove_segment(&s.db.db, &s.flow, &gmail).await,
        Err(Error::NotFound(_))
    ));
    assert!(
        !dataflows::get(&s.db.db, &s.c, &s.flow)
            .await
            .unwrap()
            .enabled
    );
    assert!(matches!(
        dataflows::set_enabled(&s.db.db, &s.c, &s.flow, true).await,
        Err(Error::Invalid(_))
    ));
    dataflows::delete(&s.db.db, &s.flow).await.unwrap();
    assert!(matches!(
        dataflows::get(&s.db.db, &s.c, &s.flow).await,
        Err(Error::NotFound(_))
    ));
}

#[test]
fn file_names_fill_their_macros() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-28T09:05:07Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(
        activation::render_file_name(
            "{destination}_{segment_name}_{datetime}_{date}_{timestamp}_{dataflow_id}_x",
            "Amazon S3",
            "seg-1",
            "Gold & platinum",
            "df-9",
            at,
            "csv.gz"
        ),
        "Amazon_S3_Gold___platinum_20261128_090507_20261128_1795856707_df-9_x.csv.gz"
    );
    assert!(activation::check_file_name("a}b").is_err());
    assert!(activation::check_file_name("{date").is_err());
    assert!(activation::check_file_name("report {segment_id}").is_ok());
}
