//! Profile imports from CSV and JSON Lines: validation per row with line numbers, upserts by a
//! chosen identity, idempotent re-runs, and whole-batch commits.

use domain::profiles::import::{self, Format, Options, Report};
use domain::profiles::schema::Catalog;
use domain::profiles::store;
use domain::profiles::values::get_path;
use domain::testing;
use sea_orm::ConnectionTrait;
use serde_json::Value;

async fn run(
    db: &domain::db::DatabaseConnection,
    format: Format,
    text: &str,
    batch: usize,
) -> domain::Result<Report> {
    let options = Options {
        format,
        key_namespace: "CRMID".into(),
        batch_size: batch,
    };
    import::import(
        db,
        Catalog::built_in(),
        std::io::Cursor::new(text.as_bytes().to_vec()),
        options,
    )
    .await
}

const CSV: &str = "\u{feff}identity.CRMID,identity.Email,person.name.firstName,loyalty.points,person.birthDate,consents.marketing.email.val\n\
C1, Ada@Example.com ,Ada,120,1990-04-23,Y\n\
\n\
C2,bob@example.com,\"Bob\nthe second\",abc,1985-01-01,n\n\
C3,carol@example.com,Carol,7,1985-02-30,y\n\
,nokey@example.com,Nobody,1,,\n\
C4,ada@example.com,Imposter,1,,\n\
C5,eve@example.com,Eve,5\n\
C6,dan@example.com,\"Dan, \"\"the\"\" man\",300,,y\n";

#[tokio::test]
async fn csv_rows_are_checked_one_by_one_and_reported_with_their_line() {
    for db in testing::all().await {
        let label = db.label;
        let report = run(&db.db, Format::Csv, CSV, 1000).await.unwrap();
        assert_eq!(report.rows, 7, "{label}: the empty line is not a row");
        assert_eq!(report.inserted, 2, "{label}: {report:?}");
        let reasons: Vec<(u64, &str)> = report
            .rejections
            .iter()
            .map(|(l, r)| (*l, r.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (4, "loyalty.points: expected a whole number"),
                (6, "person.birthDate: expected a date like 1990-04-23"),
                (7, "no CRMID identity to match profiles by"),
                (
                    8,
                    "the Email identity \"ada@example.com\" already belongs to another profile"
                ),
                (9, "has 4 fields, the header has 6"),
            ],
            "{label}"
        );
        let ada = store::find_by_identity(&db.db, "Email", "ADA@example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            get_path(&ada.attributes, "loyalty.points"),
            Some(&Value::from(120)),
            "{label}"
        );
        assert_eq!(
            get_path(&ada.attributes, "consents.marketing.email.val"),
            Some(&Value::from("y")),
            "{label}"
        );
        let dan = store::find_by_identity(&db.db, "CRMID", "C6")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            get_path(&dan.attributes, "person.name.firstName"),
            Some(&Value::from("Dan, \"the\" man")),
            "{label}"
        );
        assert!(
            get_path(&dan.attributes, "person.birthDate").is_none(),
            "{label}: an empty cell is no value"
        );

        // Running the same file again changes nothing.
        let again = run(&db.db, Format::Csv, CSV, 1000).await.unwrap();
        assert_eq!(
            (again.inserted, again.updated, again.unchanged),
            (0, 0, 2),
            "{label}"
        );
        assert_eq!(store::count(&db.db).await.unwrap(), 2, "{label}");

        // A later file updates by the key and keeps what it does not mention.
        let update = "identity.CRMID,loyalty.points\nC1,999\n";
        let report = run(&db.db, Format::Csv, update, 1000).await.unwrap();
        assert_eq!(report.updated, 1, "{label}");
        let ada = store::find_by_identity(&db.db, "CRMID", "C1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            get_path(&ada.attributes, "loyalty.points"),
            Some(&Value::from(999)),
            "{label}"
        );
        assert_eq!(
            get_path(&ada.attributes, "person.name.firstName"),
            Some(&Value::from("Ada")),
            "{label}"
        );
    }
}

#[tokio::test]
async fn a_file_level_mistake_is_refused_before_anything_is_written() {
    let db = testing::sqlite().await;
    let unknown = run(
        &db.db,
        Format::Csv,
        "identity.CRMID,loyalty.pionts,shoe.size\nC1,1,2\n",
        10,
    )
    .await
    .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "Unknown columns: loyalty.pionts, shoe.size. Name columns after schema fields (such as loyalty.points) or identities (such as identity.Email)."
    );
    let no_key = run(
        &db.db,
        Format::Csv,
        "identity.Email,loyalty.points\na@example.com,1\n",
        10,
    )
    .await
    .unwrap_err();
    assert_eq!(
        no_key.to_string(),
        "There is no identity.CRMID column to match profiles by."
    );
    assert_eq!(store::count(&db.db).await.unwrap(), 0);
}

#[tokio::test]
async fn json_lines_accept_nested_attributes_and_refuse_bad_lines() {
    let db = testing::sqlite().await;
    let text = "\u{feff}{\"identities\": {\"CRMID\": \"J1\", \"Email\": [\"a@x.com\", \"b@x.com\"]}, \"attributes\": {\"loyalty\": {\"tier\": \"gold\", \"points\": 10.0}}}\n\
\n\
{\"identities\": {\"CRMID\": \"J2\"}, \"attributes\": {\"loyalty\": {\"points\": \"ten\"}}}\n\
not json\n\
{\"identities\": {\"CRMID\": \"J3\"}, \"attributes\": {\"shoe\": {\"size\": 9}}}\n\
{\"identities\": {\"Fax\": \"1\"}}\n\
{\"identities\": {\"CRMID\": \"J4\"}, \"extra\": 1}\n\
[1, 2]\n\
{\"identities\": {\"CRMID\": \"J5\"}, \"attributes\": {\"commerce\": {\"lastPurchaseAt\": \"2026-11-28T10:00:00+02:00\"}}}";
    let report = run(&db.db, Format::JsonLines, text, 3).await.unwrap();
    assert_eq!(report.rows, 8);
    assert_eq!(report.inserted, 2, "{report:?}");
    let lines: Vec<u64> = report.rejections.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8]);
    assert_eq!(
        report.rejections[0].1,
        "loyalty.points: expected a whole number"
    );
    assert!(report.rejections[1].1.starts_with("is not valid JSON"));
    assert_eq!(report.rejections[2].1, "unknown field \"shoe.size\"");
    assert_eq!(report.rejections[3].1, "unknown identity namespace \"Fax\"");
    let j1 = store::find_by_identity(&db.db, "Email", "b@x.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        get_path(&j1.attributes, "loyalty.points"),
        Some(&Value::from(10))
    );
    let j5 = store::find_by_identity(&db.db, "CRMID", "J5")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        get_path(&j5.attributes, "commerce.lastPurchaseAt"),
        Some(&Value::from("2026-11-28T08:00:00Z"))
    );
}

#[tokio::test]
async fn a_failed_batch_leaves_nothing_of_itself_behind() {
    let db = testing::sqlite().await;
    // A real database refusal in the middle of the second batch.
    db.db
        .execute_unprepared(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON profiles \
             WHEN json_extract(NEW.attributes, '$.person.name.firstName') = 'Boom' \
             BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END;",
        )
        .await
        .unwrap();
    let text = "identity.CRMID,person.name.firstName\nB1,One\nB2,Two\nB3,Three\nB4,Boom\nB5,Five\n";
    let error = run(&db.db, Format::Csv, text, 2).await.unwrap_err();
    assert!(
        error.to_string().contains("refused by test trigger"),
        "{error}"
    );
    assert!(
        store::find_by_identity(&db.db, "CRMID", "B2")
            .await
            .unwrap()
            .is_some(),
        "the first batch was committed"
    );
    assert!(
        store::find_by_identity(&db.db, "CRMID", "B3")
            .await
            .unwrap()
            .is_none(),
        "B3 shared a batch with the failing row and must not be visible"
    );
    assert_eq!(store::count(&db.db).await.unwrap(), 2);
}

#[tokio::test]
async fn rows_of_one_batch_with_the_same_key_make_one_profile_in_file_order() {
    for db in testing::all().await {
        let label = db.label;
        let text = "identity.CRMID,identity.Email,loyalty.points,loyalty.tier\n\
D1,d1@example.com,1,bronze\n\
D1,,2,\n\
D2,d1@example.com,3,gold\n\
D3,d3@example.com,4,silver\n";
        let report = run(&db.db, Format::Csv, text, 100).await.unwrap();
        assert_eq!(report.inserted, 2, "{label}: {report:?}");
        assert_eq!(
            report.rejections,
            [(
                4,
                "the Email identity \"d1@example.com\" already belongs to another profile"
                    .to_owned()
            )],
            "{label}"
        );
        let d1 = store::find_by_identity(&db.db, "CRMID", "D1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            get_path(&d1.attributes, "loyalty.points"),
            Some(&Value::from(2)),
            "{label}: the later row wins"
        );
        assert_eq!(
            get_path(&d1.attributes, "loyalty.tier"),
            Some(&Value::from("bronze")),
            "{label}: and keeps what it left empty"
        );
        // New profiles made after an import get fresh ids (the sequence moved on).
        let more = run(&db.db, Format::Csv, "identity.CRMID\nD9\n", 100)
            .await
            .unwrap();
        assert_eq!(more.inserted, 1, "{label}");
        assert_eq!(store::count(&db.db).await.unwrap(), 3, "{label}");
    }
}
