//! Deterministic, realistic demo profiles and segments: names, emails with Gmail dots, `+tags`
//! and capitals, phones in national and international formats, several countries, mixed
//! consents and some missing fields. The same seed and count always give the same data.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::store::{self, ProfileRecord};
use super::values::{format_date, format_datetime, set_path};
use crate::Result;
use crate::db::DatabaseConnection;
use crate::segments::service::{self, SegmentInput};

struct Country {
    code: &'static str,
    language: &'static str,
    weight: u32,
    first_names: &'static [&'static str],
    last_names: &'static [&'static str],
    cities: &'static [(&'static str, &'static str)],
}

const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        language: "en-US",
        weight: 30,
        first_names: &[
            "James", "Mary", "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Sophia", "Mason",
            "Isabella", "Lucas",
        ],
        last_names: &[
            "Smith",
            "Johnson",
            "Williams",
            "Brown",
            "Jones",
            "Garcia",
            "Miller",
            "Davis",
            "Rodriguez",
            "Martinez",
            "O'Connor",
        ],
        cities: &[
            ("New York", "100"),
            ("San Francisco", "941"),
            ("Chicago", "606"),
            ("Austin", "787"),
            ("Seattle", "981"),
        ],
    },
    Country {
        code: "GB",
        language: "en-GB",
        weight: 15,
        first_names: &[
            "Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Mia", "Charlie", "Freya",
        ],
        last_names: &[
            "Taylor", "Wilson", "Evans", "Thomas", "Roberts", "Walker", "Wright", "Thompson",
            "Hughes",
        ],
        cities: &[
            ("London", "SW1A"),
            ("Manchester", "M1"),
            ("Bristol", "BS1"),
            ("Leeds", "LS1"),
            ("Edinburgh", "EH1"),
        ],
    },
    Country {
        code: "DE",
        language: "de-DE",
        weight: 15,
        first_names: &[
            "Lukas", "Anna", "Leon", "Mia", "Finn", "Lea", "Jonas", "Hannah", "Paul", "Sophie",
            "Jürgen", "Käthe",
        ],
        last_names: &[
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Schäfer",
        ],
        cities: &[
            ("Berlin", "10"),
            ("München", "80"),
            ("Hamburg", "20"),
            ("Köln", "50"),
            ("Frankfurt am Main", "60"),
        ],
    },
    Country {
        code: "FR",
        language: "fr-FR",
        weight: 12,
        first_names: &[
            "Gabriel", "Louise", "Raphaël", "Jade", "Léo", "Emma", "Louis", "Chloé", "Hugo", "Inès",
        ],
        last_names: &[
            "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
            "Lefèvre",
        ],
        cities: &[
            ("Paris", "75"),
            ("Lyon", "69"),
            ("Marseille", "13"),
            ("Toulouse", "31"),
            ("Nantes", "44"),
        ],
    },
    Country {
        code: "NL",
        language: "nl-NL",
        weight: 8,
        first_names: &[
            "Daan", "Julia", "Sem", "Tess", "Lucas", "Zoë", "Levi", "Sara", "Finn", "Anna",
        ],
        last_names: &[
            "de Jong",
            "Jansen",
            "de Vries",
            "van den Berg",
            "van Dijk",
            "Bakker",
            "Visser",
            "Smit",
        ],
        cities: &[
            ("Amsterdam", "10"),
            ("Rotterdam", "30"),
            ("Utrecht", "35"),
            ("Den Haag", "25"),
        ],
    },
    Country {
        code: "ES",
        language: "es-ES",
        weight: 8,
        first_names: &[
            "Hugo", "Lucía", "Martín", "Sofía", "Pablo", "María", "Daniel", "Paula", "Álvaro",
        ],
        last_names: &[
            "García",
            "Fernández",
            "González",
            "Rodríguez",
            "López",
            "Martínez",
            "Sánchez",
            "Pérez",
        ],
        cities: &[
            ("Madrid", "280"),
            ("Barcelona", "080"),
            ("Valencia", "460"),
            ("Sevilla", "410"),
        ],
    },
    Country {
        code: "JP",
        language: "ja-JP",
        weight: 6,
        first_names: &[
            "Haruto", "Yui", "Sota", "Hina", "Yuto", "Sakura", "Ren", "Aoi",
        ],
        last_names: &[
            "Sato",
            "Suzuki",
            "Takahashi",
            "Tanaka",
            "Watanabe",
            "Ito",
            "Yamamoto",
        ],
        cities: &[
            ("Tokyo", "100"),
            ("Osaka", "530"),
            ("Kyoto", "600"),
            ("Sapporo", "060"),
        ],
    },
    Country {
        code: "AU",
        language: "en-AU",
        weight: 6,
        first_names: &[
            "Oliver",
            "Charlotte",
            "William",
            "Amelia",
            "Jack",
            "Olivia",
            "Noah",
            "Isla",
        ],
        last_names: &[
            "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Nguyen", "Kelly",
        ],
        cities: &[
            ("Sydney", "20"),
            ("Melbourne", "30"),
            ("Brisbane", "40"),
            ("Perth", "60"),
        ],
    },
];

const EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "yahoo.com",
    "icloud.com",
    "web.de",
    "orange.fr",
    "example.org",
];

/// The moment demo data is generated "as of": fixed, so the data never depends on the clock.
fn anchor() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0)
        .single()
        .expect("a valid date")
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn ascii_local(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            'ä' | 'á' | 'à' => Some('a'),
            'ö' | 'ó' => Some('o'),
            'ü' | 'ú' => Some('u'),
            'é' | 'è' | 'ë' => Some('e'),
            'í' | 'ï' => Some('i'),
            'ç' => Some('c'),
            'ñ' => Some('n'),
            'Á' => Some('a'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// An email for person `n`, sometimes written with Gmail dots, a `+tag` or capitals.
fn email(rng: &mut ChaCha8Rng, first: &str, last: &str, n: u64) -> String {
    let (first, last) = (ascii_local(first), ascii_local(last));
    let domain = *pick(rng, EMAIL_DOMAINS);
    let mut local = match rng.random_range(0..4) {
        0 => format!("{first}.{last}{n}"),
        1 => format!("{first}{last}{n}"),
        2 => format!("{}{last}{n}", &first[..1.min(first.len())]),
        _ => format!("{first}_{n}"),
    };
    if domain.contains("gmail") && rng.random_bool(0.3) {
        // Gmail ignores dots: people write them anywhere.
        let cut = local.len() / 2;
        local.insert(cut, '.');
    }
    if rng.random_bool(0.15) {
        let tag: &&str = pick(rng, &["+news", "+shop", "+promo", "+2024"]);
        local.push_str(tag);
    }
    let mut address = format!("{local}@{domain}");
    if rng.random_bool(0.12) {
        address = address
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 || c == 'g' {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
    }
    if rng.random_bool(0.03) {
        address = format!(" {address} ");
    }
    address
}

/// A mobile number in one of the country's usual ways of writing it.
fn phone(rng: &mut ChaCha8Rng, country: &str, n: u64) -> String {
    let d = |width: usize| {
        format!(
            "{:0width$}",
            n % 10u64.pow(u32::try_from(width).unwrap_or(9)),
            width = width
        )
    };
    let international = rng.random_bool(0.4);
    match country {
        "US" => {
            let area = pick(rng, &["415", "212", "312", "512", "206"]);
            let rest = d(7);
            match rng.random_range(0..3) {
                0 => format!("({area}) {}-{}", &rest[..3], &rest[3..]),
                1 => format!("+1 {area}-{}-{}", &rest[..3], &rest[3..]),
                _ => format!("{area}.{}.{}", &rest[..3], &rest[3..]),
            }
        }
        "GB" => {
            let rest = d(6);
            if international {
                format!("+44 7700 {rest}")
            } else {
                format!("07700 {rest}")
            }
        }
        "DE" => {
            let rest = d(8);
            if international {
                format!("+49 151 {rest}")
            } else {
                format!("0151 {rest}")
            }
        }
        "FR" => {
            let r = d(8);
            let pairs = format!("{} {} {} {}", &r[..2], &r[2..4], &r[4..6], &r[6..]);
            if international {
                format!("+33 6 {pairs}")
            } else {
                format!("06 {pairs}")
            }
        }
        "NL" => {
            let rest = d(8);
            if international {
                format!("+31 6 {rest}")
            } else {
                format!("06-{rest}")
            }
        }
        "ES" => {
            let r = d(8);
            format!(
                "{}6{} {} {} {}",
                if international { "+34 " } else { "" },
                &r[..2],
                &r[2..4],
                &r[4..6],
                &r[6..]
            )
        }
        "JP" => {
            let r = d(8);
            if international {
                format!("+81 90-{}-{}", &r[..4], &r[4..])
            } else {
                format!("090-{}-{}", &r[..4], &r[4..])
            }
        }
        _ => {
            let r = d(6);
            if international {
                format!("+61 412 {} {}", &r[..3], &r[3..])
            } else {
                format!("0412 {} {}", &r[..3], &r[3..])
            }
        }
    }
}

fn choose_country(rng: &mut ChaCha8Rng) -> &'static Country {
    let total: u32 = COUNTRIES.iter().map(|c| c.weight).sum();
    let mut roll = rng.random_range(0..total);
    for country in COUNTRIES {
        if roll < country.weight {
            return country;
        }
        roll -= country.weight;
    }
    &COUNTRIES[0]
}

fn hex(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

/// Profile number `n` of the demo set generated with `seed`.
pub fn profile(seed: u64, n: u64) -> ProfileRecord {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let country = choose_country(&mut rng);
    let first = *pick(&mut rng, country.first_names);
    let last = *pick(&mut rng, country.last_names);
    let (city, postal_prefix) = *pick(&mut rng, country.cities);
    let now = anchor();
    let mut attributes = json!({});
    let mut set = |path: &str, value: Value, keep: bool| {
        if keep {
            set_path(&mut attributes, path, value);
        }
    };
    set(
        "person.name.firstName",
        Value::from(first),
        rng.random_bool(0.97),
    );
    set(
        "person.name.lastName",
        Value::from(last),
        rng.random_bool(0.95),
    );
    let birth = NaiveDate::from_ymd_opt(1945, 1, 1).expect("valid")
        + Duration::days(rng.random_range(0..(61 * 365)));
    set(
        "person.birthDate",
        Value::from(format_date(birth)),
        rng.random_bool(0.85),
    );
    let gender = *pick(
        &mut rng,
        &[
            "female",
            "male",
            "female",
            "male",
            "non_binary",
            "not_specified",
        ],
    );
    set("person.gender", Value::from(gender), rng.random_bool(0.7));
    let address = email(&mut rng, first, last, n);
    let has_email = rng.random_bool(0.92);
    set(
        "personalEmail.address",
        Value::from(address.clone()),
        has_email,
    );
    let number = phone(
        &mut rng,
        country.code,
        n.wrapping_mul(7919).wrapping_add(104_729),
    );
    let has_phone = rng.random_bool(0.75);
    set("mobilePhone.number", Value::from(number.clone()), has_phone);
    let street = format!(
        "{} {}",
        rng.random_range(1..250),
        pick(
            &mut rng,
            &[
                "High Street",
                "Main St",
                "Hauptstraße",
                "Rue de la Paix",
                "Kerkstraat",
                "Calle Mayor"
            ]
        )
    );
    set(
        "homeAddress.street1",
        Value::from(street),
        rng.random_bool(0.8),
    );
    set("homeAddress.city", Value::from(city), rng.random_bool(0.9));
    let postal = format!("{postal_prefix}{:02}", rng.random_range(0..100));
    set(
        "homeAddress.postalCode",
        Value::from(postal),
        rng.random_bool(0.85),
    );
    set(
        "homeAddress.countryCode",
        Value::from(country.code),
        rng.random_bool(0.96),
    );
    set(
        "preferredLanguage",
        Value::from(country.language),
        rng.random_bool(0.8),
    );
    if rng.random_bool(0.7) {
        let tier = *pick(
            &mut rng,
            &[
                "bronze", "bronze", "bronze", "silver", "silver", "gold", "platinum",
            ],
        );
        set("loyalty.tier", Value::from(tier), true);
        set(
            "loyalty.points",
            Value::from(rng.random_range(0..50_000)),
            rng.random_bool(0.95),
        );
        let joined = NaiveDate::from_ymd_opt(2015, 1, 1).expect("valid")
            + Duration::days(rng.random_range(0..4000));
        set("loyalty.joinDate", Value::from(format_date(joined)), true);
    }
    let orders: i64 = if rng.random_bool(0.2) {
        0
    } else {
        rng.random_range(1..60)
    };
    set("commerce.orders", Value::from(orders), true);
    if orders > 0 {
        let value = f64::from(rng.random_range(1_500..400_000)) / 100.0 * (orders as f64).sqrt();
        set(
            "commerce.lifetimeValue",
            json!((value * 100.0).round() / 100.0),
            true,
        );
        let last_purchase = now - Duration::minutes(rng.random_range(0..(2 * 365 * 24 * 60)));
        set(
            "commerce.lastPurchaseAt",
            Value::from(format_datetime(last_purchase)),
            true,
        );
    }
    for (path, yes) in [
        ("consents.marketing.email.val", 0.7),
        ("consents.marketing.sms.val", 0.4),
        ("consents.marketing.ads.val", 0.55),
    ] {
        let value = if rng.random_bool(yes) { "y" } else { "n" };
        set(path, Value::from(value), rng.random_bool(0.9));
    }
    set(
        "emailSubscriber",
        Value::Bool(rng.random_bool(0.45)),
        rng.random_bool(0.9),
    );

    let mut identities = vec![("CRMID".to_owned(), format!("CRM-{:09}", n + 1))];
    if has_email {
        identities.push(("Email".into(), store::normalize_identity("Email", &address)));
    }
    if has_phone {
        identities.push(("Phone".into(), number));
    }
    if rng.random_bool(0.8) {
        identities.push((
            "ECID".into(),
            format!(
                "{:038}",
                u128::from(n) * 7_919 + u128::from(rng.random::<u32>()) * 1_000_000_007
            ),
        ));
    }
    match rng.random_range(0..10) {
        0..=2 => identities.push((
            "GAID".into(),
            format!(
                "{}-{}-4{}-a{}-{}",
                hex(&mut rng, 8),
                hex(&mut rng, 4),
                hex(&mut rng, 3),
                hex(&mut rng, 3),
                hex(&mut rng, 12)
            ),
        )),
        3..=4 => identities.push((
            "IDFA".into(),
            format!(
                "{}-{}-4{}-A{}-{}",
                hex(&mut rng, 8),
                hex(&mut rng, 4),
                hex(&mut rng, 3),
                hex(&mut rng, 3),
                hex(&mut rng, 12)
            )
            .to_uppercase(),
        )),
        _ => {}
    }
    ProfileRecord {
        identities,
        attributes,
    }
}

/// The demo segments: (name, description, rule).
pub const SEGMENTS: &[(&str, &str, &str)] = &[
    (
        "Gold and platinum members",
        "Top loyalty tiers",
        r#"loyalty.tier in ["gold", "platinum"]"#,
    ),
    (
        "German email subscribers",
        "Customers in Germany who agreed to marketing email",
        r#"homeAddress.countryCode = "DE" and consents.marketing.email.val = "y""#,
    ),
    (
        "Lapsed repeat buyers",
        "Bought three times or more, but not in six months",
        "commerce.orders >= 3 and commerce.lastPurchaseAt < now - 6m",
    ),
    (
        "Under 30",
        "Born less than 30 years ago",
        "person.birthDate > now - 30y",
    ),
    (
        "Gmail users",
        "Reachable at a Gmail address",
        r#"identity.Email contains "@gmail.com" or identity.Email contains "@googlemail.com""#,
    ),
    (
        "High value, reachable",
        "Top tiers with a high lifetime value who accept email or SMS",
        r#"in_segment("Gold and platinum members") and commerce.lifetimeValue > 1000 and (consents.marketing.email.val = "y" or consents.marketing.sms.val = "y")"#,
    ),
];

/// The seed used by `server demo-data` unless told otherwise.
pub const DEFAULT_SEED: u64 = 20_261_128;

/// Adds `count` demo profiles (numbered after those already there), creates the demo segments
/// that are missing and evaluates every segment. Returns the number of profiles written.
///
/// # Errors
/// [`crate::Error::Database`].
pub async fn load(db: &DatabaseConnection, count: u64, seed: u64) -> Result<u64> {
    super::schema::ensure_catalog(db).await?;
    let start = store::count(db).await?;
    let mut written = 0;
    let chunk = 10_000;
    let mut n = start;
    while n < start + count {
        let end = (n + chunk).min(start + count);
        let records: Vec<ProfileRecord> = (n..end).map(|i| profile(seed, i)).collect();
        written += store::insert_new(db, records).await?;
        n = end;
    }
    let existing: Vec<String> = service::list(db)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    for (name, description, rule) in SEGMENTS {
        if existing.iter().any(|e| e == name) {
            continue;
        }
        let input = SegmentInput {
            name: (*name).to_owned(),
            description: (*description).to_owned(),
            rule: (*rule).to_owned(),
            schedule: "daily".to_owned(),
        };
        service::create(db, &input).await?;
    }
    for (name, result) in service::evaluate_all(db, Utc::now()).await? {
        if let Err(error) = result {
            tracing::warn!(segment = name, %error, "demo segment did not evaluate");
        }
    }
    Ok(written)
}

/// Writes `count` demo profiles as an import-ready CSV file: one column per built-in field and
/// one per identity namespace the generator uses.
///
/// # Errors
/// [`crate::Error::Invalid`] when the writer fails.
pub fn write_csv<W: std::io::Write>(writer: W, seed: u64, count: u64) -> Result<()> {
    let catalog = super::schema::Catalog::built_in();
    let namespaces = ["CRMID", "Email", "Phone", "ECID", "GAID", "IDFA"];
    let fail = |e: csv::Error| crate::Error::Invalid(format!("cannot write the CSV file: {e}"));
    let mut out = csv::Writer::from_writer(writer);
    let mut header: Vec<String> = namespaces.iter().map(|n| format!("identity.{n}")).collect();
    header.extend(catalog.fields.iter().map(|f| f.path.clone()));
    out.write_record(&header).map_err(fail)?;
    for n in 0..count {
        let record = profile(seed, n);
        let mut row: Vec<String> = namespaces
            .iter()
            .map(|ns| {
                record
                    .identities
                    .iter()
                    .find(|(k, _)| k == ns)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect();
        for field in &catalog.fields {
            row.push(
                match super::values::get_path(&record.attributes, &field.path) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                },
            );
        }
        out.write_record(&row).map_err(fail)?;
    }
    out.flush()
        .map_err(|e| crate::Error::Invalid(format!("cannot write the CSV file: {e}")))?;
    Ok(())
}
