//! Segment rules: parsing with exact error positions, checking against the schema, SQL
//! compilation equal to the in-memory reference on SQLite and PostgreSQL, and evaluation into
//! realized and exited memberships.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};
use domain::profiles::schema::Catalog;
use domain::profiles::store::{self, ProfileRecord};
use domain::profiles::{demo, values};
use domain::segments::check::{self, Cond};
use domain::segments::reference::{self, ProfileView};
use domain::segments::rule::parse;
use domain::segments::service::{self, SegmentInput};
use domain::testing;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn error_of(rule: &str) -> String {
    let segments = BTreeMap::from([("Known".to_owned(), 1)]);
    match check::compile(rule, &Catalog::built_in(), &segments) {
        Ok(cond) => panic!("{rule:?} should be refused, got {cond:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn valid_rules_parse_with_precedence_and_keywords_in_any_case() {
    let rules = [
        r#"loyalty.tier = "gold""#,
        r#"loyalty.tier in ["gold", "platinum"] and loyalty.points >= 1000"#,
        "person.birthDate < now - 30y",
        r#"NOT (homeAddress.countryCode = "DE" OR homeAddress.countryCode = "FR")"#,
        "commerce.lastPurchaseAt > now - 6m and commerce.lifetimeValue > 99.5",
        r#"identity.Email contains "@gmail.com" and identity.GAID exists"#,
        r#"person.name.lastName starts_with "Mü" and in_segment("Known")"#,
        "emailSubscriber = true and loyalty.points != -5",
        r#"person.name.firstName = "say \"hi\" \\ bye""#,
    ];
    for rule in rules {
        let segments = BTreeMap::from([("Known".to_owned(), 1)]);
        check::compile(rule, &Catalog::built_in(), &segments)
            .unwrap_or_else(|e| panic!("{rule}: {e}"));
    }
    // `and` binds tighter than `or`.
    let parsed =
        parse(r#"loyalty.points > 1 or loyalty.points < 0 and emailSubscriber = true"#).unwrap();
    assert!(matches!(parsed, domain::segments::rule::Expr::Or(ref items) if items.len() == 2));
}

#[test]
fn mistakes_are_reported_at_their_line_and_column() {
    let cases = [
        (
            "loyalty.points >",
            "line 1, column 17: expected a value, found the end of the rule",
        ),
        (
            "loyalty.tier = gold",
            "line 1, column 16: expected a value, found 'gold' (put text in double quotes)",
        ),
        (
            "loyalty.pionts > 5",
            "line 1, column 1: unknown field \"loyalty.pionts\"",
        ),
        (
            "points > 5",
            "line 1, column 1: unknown field \"points\" (did you mean loyalty.points?)",
        ),
        (
            r#"loyalty.tier > "a""#,
            "line 1, column 16: loyalty.tier is text: it can be compared with = and != only, not >",
        ),
        (
            "loyalty.points > 5\n  and foo = 1",
            "line 2, column 7: unknown field \"foo\"",
        ),
        (
            r#"person.name.firstName = "Ada"#,
            "line 1, column 25: this text value is missing its closing quote",
        ),
        (
            "person.birthDate < now - 30x",
            "line 1, column 28: unknown unit 'x': use h, d, w, m (months) or y",
        ),
        (
            r#"(loyalty.points > 5 or emailSubscriber = true"#,
            "line 1, column 46: expected ')' to close the '(' at column 1, found the end of the rule",
        ),
        (
            "loyalty.points > 5 or",
            "line 1, column 22: expected a field, 'not', 'in_segment' or '(', found the end of the rule",
        ),
        (
            "loyalty.points = \"many\"",
            "line 1, column 18: loyalty.points is integer: expected a number",
        ),
        (
            r#"consents.marketing.email.val = "maybe""#,
            "line 1, column 32: consents.marketing.email.val is consent: expected \"y\" or \"n\"",
        ),
        (
            r#"in_segment("Unknown")"#,
            "line 1, column 1: there is no segment named \"Unknown\"",
        ),
        (
            "identity.Fax exists",
            "line 1, column 1: unknown identity namespace \"Fax\"; known: Email, Phone, CRMID, ECID, GAID, IDFA, Email_LC_SHA256, Phone_SHA256",
        ),
        (
            "loyalty.points > 5 loyalty.points < 9",
            "line 1, column 20: expected 'and', 'or' or the end of the rule, found 'loyalty.points'",
        ),
        (
            "loyalty.points ! 5",
            "line 1, column 16: '!' must be followed by '=' (write not for negation)",
        ),
        ("", "line 1, column 1: the rule is empty"),
        (
            "person.birthDate < \"1990-02-30\"",
            "line 1, column 20: person.birthDate is date: expected a date like \"1990-04-23\" or now - 30y",
        ),
        (
            "loyalty.points contains \"1\"",
            "line 1, column 25: loyalty.points is integer: contains and starts_with apply to text fields",
        ),
        (
            "emailSubscriber > true",
            "line 1, column 19: emailSubscriber is boolean: it can be compared with = and != only, not >",
        ),
        ("café = 1", "line 1, column 4: unexpected character 'é'"),
    ];
    for (rule, expected) in cases {
        assert_eq!(error_of(rule), expected, "rule: {rule:?}");
    }
    // Hostile input is refused, not obeyed: quotes and SQL in values are just text.
    let segments = BTreeMap::new();
    check::compile(
        r#"person.name.lastName = "x'); DROP TABLE profiles; --""#,
        &Catalog::built_in(),
        &segments,
    )
    .unwrap();
    let deep = format!("{}loyalty.points > 1{}", "(".repeat(100), ")".repeat(100));
    assert!(error_of(&deep).contains("nest at most 64 levels"));
}

/// A random rule over the built-in catalog, written as text so the parser is exercised too.
fn random_rule(rng: &mut ChaCha8Rng, depth: u32) -> String {
    if depth > 0 && rng.random_bool(0.45) {
        let op = if rng.random_bool(0.5) { "and" } else { "or" };
        let n = rng.random_range(2..4);
        let parts: Vec<String> = (0..n).map(|_| random_rule(rng, depth - 1)).collect();
        let joined = format!("({})", parts.join(&format!(" {op} ")));
        return if rng.random_bool(0.2) {
            format!("not {joined}")
        } else {
            joined
        };
    }
    let pick =
        |rng: &mut ChaCha8Rng, items: &[&str]| items[rng.random_range(0..items.len())].to_owned();
    let cmp = |rng: &mut ChaCha8Rng| pick(rng, &["=", "!=", "<", "<=", ">", ">="]);
    match rng.random_range(0..14) {
        0 => format!(
            "loyalty.tier {} \"{}\"",
            pick(rng, &["=", "!="]),
            pick(rng, &["gold", "silver", "bronze", "platinum", "none"])
        ),
        1 => format!(
            "loyalty.tier in [\"{}\", \"{}\"]",
            pick(rng, &["gold", "silver"]),
            pick(rng, &["bronze", "platinum"])
        ),
        2 => format!(
            "loyalty.points {} {}",
            cmp(rng),
            rng.random_range(-10..50_000)
        ),
        3 => format!("commerce.orders {} {}", cmp(rng), rng.random_range(0..60)),
        4 => format!(
            "commerce.lifetimeValue {} {}.{}",
            cmp(rng),
            rng.random_range(0..3000),
            rng.random_range(0..99)
        ),
        5 => format!(
            "person.birthDate {} now - {}y",
            cmp(rng),
            rng.random_range(15..80)
        ),
        6 => format!(
            "person.birthDate {} \"19{}-0{}-1{}\"",
            cmp(rng),
            rng.random_range(50..99),
            rng.random_range(1..9),
            rng.random_range(0..9)
        ),
        7 => format!(
            "commerce.lastPurchaseAt {} now - {}{}",
            cmp(rng),
            rng.random_range(1..30),
            pick(rng, &["d", "w", "m", "h"])
        ),
        8 => format!(
            "{} {} \"{}\"",
            pick(
                rng,
                &[
                    "consents.marketing.email.val",
                    "consents.marketing.sms.val",
                    "consents.marketing.ads.val"
                ]
            ),
            pick(rng, &["=", "!="]),
            pick(rng, &["y", "n"])
        ),
        9 => format!(
            "emailSubscriber {} {}",
            pick(rng, &["=", "!="]),
            pick(rng, &["true", "false"])
        ),
        10 => format!(
            "{} exists",
            pick(
                rng,
                &[
                    "person.birthDate",
                    "loyalty.tier",
                    "mobilePhone.number",
                    "identity.GAID",
                    "identity.Phone",
                    "commerce.lastPurchaseAt"
                ]
            )
        ),
        11 => format!(
            "identity.Email {} \"{}\"",
            pick(rng, &["contains", "starts_with"]),
            pick(rng, &["@gmail.com", "a", "m", ".", "+news", "o"])
        ),
        12 => format!(
            "homeAddress.countryCode in [\"{}\", \"{}\"]",
            pick(rng, &["DE", "US", "FR"]),
            pick(rng, &["GB", "JP", "NL"])
        ),
        _ => format!(
            "person.name.lastName {} \"{}\"",
            pick(rng, &["starts_with", "contains", "="]),
            pick(rng, &["Mü", "S", "de ", "García", "son", "ä"])
        ),
    }
}

#[tokio::test]
async fn compiled_rules_select_exactly_what_the_reference_evaluator_selects() {
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap();
    for db in testing::all().await {
        let label = db.label;
        let records: Vec<ProfileRecord> = (0..600).map(|n| demo::profile(7, n)).collect();
        store::insert_new(&db.db, records).await.unwrap();
        let ids: Vec<i64> = (1..=600).collect();
        let profiles = store::load_many(&db.db, &ids).await.unwrap();
        assert_eq!(profiles.len(), 600, "{label}");

        let catalog = Catalog::built_in();
        let no_segments = BTreeMap::new();
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let mut non_trivial = 0;
        for _ in 0..250 {
            let rule = random_rule(&mut rng, 3);
            let cond: Cond = check::compile(&rule, &catalog, &no_segments)
                .unwrap_or_else(|e| panic!("{rule}: {e}"));
            let from_sql: BTreeSet<i64> = service::matching_ids(&db.db, &cond, now)
                .await
                .unwrap()
                .into_iter()
                .collect();
            let never = |_: i32| false;
            let expected: BTreeSet<i64> = profiles
                .iter()
                .filter(|p| {
                    let view = ProfileView {
                        attributes: &p.attributes,
                        identities: &p.identities,
                        in_segment: &never,
                    };
                    reference::matches(&cond, &view, now)
                })
                .map(|p| p.id)
                .collect();
            assert_eq!(from_sql, expected, "{label}: {rule}");
            if !expected.is_empty() && expected.len() < 600 {
                non_trivial += 1;
            }
        }
        assert!(
            non_trivial > 150,
            "{label}: the generated rules should mostly split the profiles ({non_trivial})"
        );
    }
}

fn input(name: &str, rule: &str) -> SegmentInput {
    SegmentInput {
        name: name.into(),
        description: String::new(),
        rule: rule.into(),
        schedule: "daily".into(),
    }
}

fn record(crm: &str, points: i64) -> ProfileRecord {
    let mut attributes = serde_json::json!({});
    values::set_path(
        &mut attributes,
        "loyalty.points",
        serde_json::Value::from(points),
    );
    ProfileRecord {
        identities: vec![("CRMID".into(), crm.into())],
        attributes,
    }
}

#[tokio::test]
async fn evaluation_records_who_entered_and_who_exited() {
    for db in testing::all().await {
        let label = db.label;
        let conn = &db.db;
        let batch = vec![
            (1, record("A", 10)),
            (2, record("B", 500)),
            (3, record("C", 900)),
        ];
        store::upsert_batch(conn, "CRMID", batch).await.unwrap();
        let rich = service::create(conn, &input("Rich", "loyalty.points >= 500"))
            .await
            .unwrap();
        let t1 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let first = service::evaluate(conn, &rich.public_id, t1).await.unwrap();
        assert_eq!(
            (first.size, first.entered, first.exited),
            (2, 2, 0),
            "{label}"
        );

        // B drops out, A qualifies.
        store::upsert_batch(
            conn,
            "CRMID",
            vec![(1, record("A", 700)), (2, record("B", 20))],
        )
        .await
        .unwrap();
        let t2 = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
        let second = service::evaluate(conn, &rich.public_id, t2).await.unwrap();
        assert_eq!(
            (second.size, second.entered, second.exited),
            (2, 1, 1),
            "{label}"
        );
        let statuses = memberships(conn).await;
        assert_eq!(statuses["A"], ("realized".to_owned(), t2, None), "{label}");
        assert_eq!(
            statuses["B"],
            ("exited".to_owned(), t1, Some(t2)),
            "{label}"
        );
        assert_eq!(
            statuses["C"],
            ("realized".to_owned(), t1, None),
            "{label}: unchanged members keep their date"
        );

        // Re-evaluating with nothing changed changes nothing.
        let t3 = Utc.with_ymd_and_hms(2026, 11, 3, 0, 0, 0).unwrap();
        let third = service::evaluate(conn, &rich.public_id, t3).await.unwrap();
        assert_eq!((third.entered, third.exited), (0, 0), "{label}");

        // B comes back: realized again, with a new qualification date.
        store::upsert_batch(conn, "CRMID", vec![(1, record("B", 800))])
            .await
            .unwrap();
        service::evaluate(conn, &rich.public_id, t3).await.unwrap();
        assert_eq!(
            memberships(conn).await["B"],
            ("realized".to_owned(), t3, None),
            "{label}"
        );

        // A segment built on another one sees its realized members only.
        let vip = service::create(
            conn,
            &input("VIP", r#"in_segment("Rich") and loyalty.points > 750"#),
        )
        .await
        .unwrap();
        let result = service::evaluate(conn, &vip.public_id, t3).await.unwrap();
        assert_eq!(result.size, 2, "{label}: B (800) and C (900)");
        let sample = service::sample_members(conn, &vip.public_id, 10)
            .await
            .unwrap();
        assert_eq!(sample.len(), 2, "{label}");

        // Loops and broken references are refused.
        let loop_error = service::update(
            conn,
            &rich.public_id,
            &input("Rich", r#"in_segment("VIP")"#),
        )
        .await
        .unwrap_err();
        assert!(
            loop_error.to_string().contains("would make a loop"),
            "{label}: {loop_error}"
        );
        let in_use = service::delete(conn, &rich.public_id).await.unwrap_err();
        assert!(
            in_use.to_string().contains("uses this one"),
            "{label}: {in_use}"
        );
        let taken = service::create(conn, &input("Rich", "loyalty.points > 1"))
            .await
            .unwrap_err();
        assert!(taken.to_string().contains("already exists"), "{label}");
        let bad = service::create(conn, &input("Bad", "loyalty.points >"))
            .await
            .unwrap_err();
        assert_eq!(
            bad.to_string(),
            "Rule, line 1, column 17: expected a value, found the end of the rule",
            "{label}"
        );
        assert_eq!(
            service::estimate(conn, "loyalty.points > 100", t3)
                .await
                .unwrap(),
            3,
            "{label}"
        );
    }
}

type Status = (String, chrono::DateTime<Utc>, Option<chrono::DateTime<Utc>>);

async fn memberships(db: &domain::db::DatabaseConnection) -> BTreeMap<String, Status> {
    use domain::entities::{profile_identity, segment_membership};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let mut out = BTreeMap::new();
    for m in segment_membership::Entity::find()
        .filter(segment_membership::Column::SegmentId.eq(1))
        .all(db)
        .await
        .unwrap()
    {
        let crm = profile_identity::Entity::find()
            .filter(profile_identity::Column::ProfileId.eq(m.profile_id))
            .one(db)
            .await
            .unwrap()
            .unwrap()
            .value;
        out.insert(crm, (m.status, m.qualified_at, m.exited_at));
    }
    out
}

#[test]
fn demo_profiles_are_deterministic_and_varied() {
    assert_eq!(demo::profile(1, 5), demo::profile(1, 5));
    assert_ne!(demo::profile(1, 5), demo::profile(1, 6));
    let set: Vec<ProfileRecord> = (0..500)
        .map(|n| demo::profile(demo::DEFAULT_SEED, n))
        .collect();
    let emails: Vec<String> = set
        .iter()
        .filter_map(|r| {
            values::get_path(&r.attributes, "personalEmail.address")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert!(emails.iter().any(|e| e.contains('+')), "some +tags");
    assert!(
        emails
            .iter()
            .any(|e| e.chars().any(|c| c.is_ascii_uppercase())),
        "some capitals"
    );
    assert!(
        emails
            .iter()
            .any(|e| e.contains("gmail.com") && e.split('@').next().unwrap().contains('.')),
        "Gmail dots"
    );
    let countries: BTreeSet<String> = set
        .iter()
        .filter_map(|r| {
            values::get_path(&r.attributes, "homeAddress.countryCode")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .collect();
    assert!(countries.len() >= 6, "{countries:?}");
    let phones: Vec<&str> = set
        .iter()
        .filter_map(|r| values::get_path(&r.attributes, "mobilePhone.number")?.as_str())
        .collect();
    assert!(
        phones.iter().any(|p| p.starts_with('+')) && phones.iter().any(|p| p.starts_with('0')),
        "national and international"
    );
    assert!(
        set.iter()
            .any(|r| values::get_path(&r.attributes, "person.birthDate").is_none()),
        "some missing fields"
    );
    let consents: BTreeSet<&str> = set
        .iter()
        .filter_map(|r| values::get_path(&r.attributes, "consents.marketing.email.val")?.as_str())
        .collect();
    assert_eq!(consents, BTreeSet::from(["n", "y"]));
}

#[tokio::test]
async fn scheduled_segments_come_due_after_their_period_and_manual_ones_never() {
    let db = testing::sqlite().await;
    let conn = &db.db;
    store::upsert_batch(conn, "CRMID", vec![(1, record("A", 600))])
        .await
        .unwrap();
    let mut hourly = input("Hourly", "loyalty.points > 500");
    hourly.schedule = "hourly".into();
    service::create(conn, &hourly).await.unwrap();
    let mut manual = input("Manual", "loyalty.points > 5");
    manual.schedule = "manual".into();
    service::create(conn, &manual).await.unwrap();
    service::create(conn, &input("Daily", r#"in_segment("Hourly")"#))
        .await
        .unwrap();

    let t = Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap();
    let names = |due: Vec<domain::entities::segment::Model>| {
        due.into_iter().map(|s| s.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(service::due(conn, t).await.unwrap()),
        ["Daily", "Hourly"],
        "never evaluated"
    );
    let evaluated = service::evaluate_due(conn, t).await.unwrap();
    let order: Vec<&str> = evaluated.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        order,
        ["Hourly", "Daily"],
        "a segment is evaluated after the ones it uses"
    );
    assert_eq!(evaluated[1].1.as_ref().unwrap().size, 1);
    assert!(
        service::due(conn, t + chrono::Duration::minutes(59))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        names(
            service::due(conn, t + chrono::Duration::hours(1))
                .await
                .unwrap()
        ),
        ["Hourly"]
    );
    assert_eq!(
        names(
            service::due(conn, t + chrono::Duration::days(1))
                .await
                .unwrap()
        ),
        ["Daily", "Hourly"]
    );
}
