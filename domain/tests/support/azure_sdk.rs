//! Reads Azurite back with Microsoft's own Python SDK (azure-storage-blob), an independent
//! client: Ferry writes through object_store.
// Each test crate that includes this file uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// Runs a Python snippet with the SDK's `BlobServiceClient` in scope; the arguments are
/// `sys.argv[1..]`. Its standard output, or a panic with its errors.
fn run(python: &str, script: &str, args: &[&str]) -> String {
    let script = format!("import sys\nfrom azure.storage.blob import BlobServiceClient\n{script}");
    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Every blob whose name starts with `prefix`, with its content.
pub fn blobs(
    python: &str,
    connection: &str,
    container: &str,
    prefix: &str,
) -> BTreeMap<String, Vec<u8>> {
    use base64::Engine;
    let listed = run(
        python,
        "import base64, json\n\
c = BlobServiceClient.from_connection_string(sys.argv[1]).get_container_client(sys.argv[2])\n\
print(json.dumps({b.name: base64.b64encode(c.download_blob(b.name).readall()).decode() \
for b in c.list_blobs(name_starts_with=sys.argv[3])}))",
        &[connection, container, prefix],
    );
    let listed: BTreeMap<String, String> = serde_json::from_str(&listed).unwrap();
    listed
        .into_iter()
        .map(|(name, data)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap();
            (name, bytes)
        })
        .collect()
}

/// How many blocks the blob was committed from (more than one: it went up in parts).
pub fn committed_blocks(python: &str, connection: &str, container: &str, name: &str) -> usize {
    run(
        python,
        "b = BlobServiceClient.from_connection_string(sys.argv[1]).get_blob_client(sys.argv[2], sys.argv[3])\n\
print(len(b.get_block_list('committed')[0]))",
        &[connection, container, name],
    )
    .trim()
    .parse()
    .unwrap()
}
