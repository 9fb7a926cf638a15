//! Destination specs: the shipped catalog loads, and each kind of broken spec is refused with
//! the file, the field and the reason.

use std::collections::BTreeMap;

use domain::catalog::{Catalog, Category, ConnectionType, DestinationType, Spec, Transport};

const MINIMAL_FILE_SPEC: &str = r#"
id = "acme_drop"
name = "Acme drop"
description = "Files for Acme."
category = "cloud_storage"
type = "profile_export"
connection = "file"
transport = "local"
schedules = ["daily"]

[files]
formats = ["csv"]
"#;

fn broken(text: &str) -> String {
    Spec::parse("acme.toml", text)
        .expect_err("the spec should be refused")
        .to_string()
}

fn with(extra: &str) -> String {
    format!("{MINIMAL_FILE_SPEC}\n{extra}")
}

#[test]
fn the_shipped_catalog_has_every_destination_the_product_promises() {
    let catalog = Catalog::built_in();
    let ids: Vec<&str> = catalog.all().iter().map(|s| s.id.as_str()).collect();
    for id in [
        "amazon_s3",
        "sftp",
        "azure_blob",
        "google_cloud_storage",
        "local_folder",
        "salesforce_marketing_cloud",
        "oracle_eloqua",
        "email_marketing_s3",
        "meta_custom_audiences",
        "google_customer_match",
        "linkedin_matched_audiences",
        "the_trade_desk",
        "http_api",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let meta = catalog.get("meta_custom_audiences").unwrap();
    assert_eq!(meta.category, Category::Social);
    assert_eq!(meta.kind, DestinationType::SegmentExport);
    assert_eq!(meta.connection, ConnectionType::Streaming);
    assert_eq!(meta.batching.as_ref().unwrap().max_records, 10_000);
    let sftp = catalog.get("sftp").unwrap();
    assert_eq!(sftp.transport, Transport::Sftp);
    let secrets: Vec<&str> = sftp.secret_keys().collect();
    assert_eq!(secrets, ["password", "private_key"]);
    // Catalog order: by category, then name.
    let order: Vec<(Category, &str)> = catalog
        .all()
        .iter()
        .map(|s| (s.category, s.name.as_str()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
}

#[test]
fn a_minimal_spec_loads_with_defaults() {
    let spec = Spec::parse("acme.toml", MINIMAL_FILE_SPEC).unwrap();
    let files = spec.files.unwrap();
    assert_eq!(files.max_rows_per_file, 5_000_000);
    assert_eq!(files.csv.delimiter, ",");
    assert!(files.csv.header);
}

#[test]
fn extra_specs_load_from_a_folder_and_base_urls_can_be_overridden() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.toml"), MINIMAL_FILE_SPEC).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a spec").unwrap();
    let urls = BTreeMap::from([(
        "meta_custom_audiences".to_owned(),
        "http://127.0.0.1:9/".to_owned(),
    )]);
    let catalog = Catalog::load(Some(dir.path()), &urls).unwrap();
    assert!(catalog.get("acme_drop").is_some());
    let meta = catalog.get("meta_custom_audiences").unwrap();
    assert_eq!(meta.http.as_ref().unwrap().base_url, "http://127.0.0.1:9");
}

#[test]
fn a_broken_extra_spec_names_its_file_and_a_duplicate_id_names_both() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "id = \"x\"\nname = ").unwrap();
    std::fs::write(
        dir.path().join("dup.toml"),
        MINIMAL_FILE_SPEC.replace("acme_drop", "sftp"),
    )
    .unwrap();
    let errors = Catalog::load(Some(dir.path()), &BTreeMap::new()).unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{text:?}");
    assert!(text[0].contains("bad.toml: line 2"), "{}", text[0]);
    assert!(
        text[1].contains("dup.toml: id: \"sftp\" is already defined by built-in sftp.toml"),
        "{}",
        text[1]
    );
}

#[test]
fn unknown_base_url_overrides_are_refused() {
    let urls = BTreeMap::from([("nope".to_owned(), "http://x".to_owned())]);
    let errors = Catalog::load(None, &urls).unwrap_err();
    assert_eq!(
        errors[0].to_string(),
        "FERRY_BASE_URL_NOPE: id: no destination has the id \"nope\""
    );
    let urls = BTreeMap::from([("sftp".to_owned(), "http://x".to_owned())]);
    let errors = Catalog::load(None, &urls).unwrap_err();
    assert!(
        errors[0].to_string().contains("not an HTTP destination"),
        "{}",
        errors[0]
    );
}

#[test]
fn each_kind_of_broken_spec_gets_a_precise_message() {
    // Syntax, unknown and missing fields, wrong values: the line and key are named.
    let e = broken(&with("colour = \"red\""));
    assert!(
        e.starts_with("acme.toml: line ") && e.contains("colour") && e.contains("unknown field"),
        "{e}"
    );
    let e = broken(&MINIMAL_FILE_SPEC.replace("name = \"Acme drop\"\n", ""));
    assert!(e.contains("missing field `name`"), "{e}");
    let e = broken(&MINIMAL_FILE_SPEC.replace("\"cloud_storage\"", "\"gardening\""));
    assert!(
        e.contains("line 5, category") && e.contains("gardening"),
        "{e}"
    );
    let e = broken(&MINIMAL_FILE_SPEC.replace("\"daily\"", "\"hourly\""));
    assert!(e.contains("schedules") && e.contains("hourly"), "{e}");

    // Semantic rules: the field path is named.
    let cases: &[(String, &str)] = &[
        (MINIMAL_FILE_SPEC.replace("acme_drop", "Acme Drop"), "acme.toml: id: \"Acme Drop\" must be lowercase letters, digits and underscores"),
        (MINIMAL_FILE_SPEC.replace("transport = \"local\"", "transport = \"http\""), "acme.toml: connection: transport \"http\" sends streaming, not file"),
        (MINIMAL_FILE_SPEC.replace("[files]\nformats = [\"csv\"]\n", ""), "acme.toml: files: file destinations need a [files] table"),
        (MINIMAL_FILE_SPEC.replace("formats = [\"csv\"]", "formats = []"), "acme.toml: files.formats: name at least one format"),
        (with("max_rows_per_file = 0"), "acme.toml: files.max_rows_per_file: must be at least 1"),
        (with("[files.csv]\ndelimiter = \";;\""), "acme.toml: files.csv.delimiter: \";;\" must be one ASCII character"),
        (with("default_folder = \"../etc\""), "acme.toml: files.default_folder: \"../etc\" must not contain .."),
        (MINIMAL_FILE_SPEC.replace("[\"daily\"]", "[\"daily\", \"streaming\"]"), "acme.toml: schedules: file destinations cannot stream"),
        (MINIMAL_FILE_SPEC.replace("type = \"profile_export\"", "type = \"segment_export\""), "acme.toml: type: segment exports are streaming"),
        (MINIMAL_FILE_SPEC.replace("schedules = [\"daily\"]", "schedules = [\"daily\"]\nmarketing_actions = [\"telepathy\"]"), "acme.toml: marketing_actions[0]: unknown marketing action \"telepathy\""),
        (MINIMAL_FILE_SPEC.replace("schedules = [\"daily\"]", "schedules = [\"daily\"]\nmin_identities = 2"), "acme.toml: min_identities: asks for 2 identities but the spec names 0"),
        (MINIMAL_FILE_SPEC.replace("schedules = [\"daily\"]", "schedules = [\"daily\"]\n[[identities]]\nnamespace = \"Fax\"\ntarget = \"fax\""), "acme.toml: identities[0].namespace: unknown identity namespace \"Fax\""),
        (MINIMAL_FILE_SPEC.replace("schedules = [\"daily\"]", "schedules = [\"daily\"]\n[[credentials]]\nkey = \"token\"\nlabel = \"Token\"\nsecret = true\ndefault = \"abc\""), "acme.toml: credentials[0].default: a secret cannot have a default"),
        (MINIMAL_FILE_SPEC.replace("schedules = [\"daily\"]", "schedules = [\"daily\"]\n[[parameters]]\nkey = \"mode\"\nlabel = \"Mode\"\nkind = \"select\""), "acme.toml: parameters[0].options: a select field needs options"),
        (MINIMAL_FILE_SPEC.replace("schedules = [\"daily\"]", "schedules = [\"daily\"]\n[[parameters]]\nkey = \"a\"\nlabel = \"A\"\n[[parameters]]\nkey = \"a\"\nlabel = \"B\""), "acme.toml: parameters[1].key: \"a\" is declared twice"),
        (MINIMAL_FILE_SPEC.replace("transport = \"local\"", "transport = \"sftp\""), "acme.toml: credentials: the sftp transport needs a credential field \"host\""),
    ];
    for (text, expected) in cases {
        let e = broken(text);
        assert!(
            e.starts_with(expected),
            "expected {expected:?}\n     got {e:?}"
        );
    }
}

#[test]
fn broken_http_specs_name_the_template_or_table() {
    let meta = include_str!("../destinations/meta_custom_audiences.toml");
    let e = broken(&meta.replace(
        "{{ schema | tojson }}, \"data\"",
        "{{ schema | tojson }, \"data\"",
    ));
    assert!(
        e.starts_with("acme.toml: http.add.body: template does not parse"),
        "{e}"
    );
    let e = broken(&meta.replace(
        "Bearer {{ account.access_token }}",
        "Bearer {{ account.acess_token }}",
    ));
    assert!(
        e.contains("account.acess_token, which is not a credential field"),
        "{e}"
    );
    let e = broken(&meta.replace("https://graph.facebook.com/v21.0", "ftp://graph"));
    assert!(
        e.starts_with("acme.toml: http.base_url: \"ftp://graph\" must start with"),
        "{e}"
    );
    let e = broken(&meta.replace("requests_per_second = 5", "requests_per_second = 0"));
    assert!(
        e.starts_with("acme.toml: rate_limit.requests_per_second: must be a positive number"),
        "{e}"
    );
    let without_remove = meta.split("[http.remove]").next().unwrap();
    let e = broken(without_remove);
    assert!(
        e.starts_with("acme.toml: http.remove: segment exports need a request that removes"),
        "{e}"
    );
}
