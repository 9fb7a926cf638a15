//! A stand-in for Google Cloud Storage's XML API on loopback, for the GCS export tests. It is a
//! mock, the one in these tests: no GCS server that accepts `object_store`'s XML uploads installs
//! on these machines (fake-gcs-server 0.1.1 from PyPI and gcp-storage-emulator refuse them or
//! answer without an ETag). It keeps objects in memory and implements, as Google documents them,
//! the calls Ferry's uploads make: PUT an object, and the multipart upload (initiate, upload part,
//! complete with parts of at least 5 MiB except the last, abort).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use sha2::Digest;

const MIN_PART: usize = 5 * 1024 * 1024;

#[derive(Default)]
pub struct State {
    /// Stored objects by "bucket/name".
    pub objects: BTreeMap<String, Vec<u8>>,
    /// Every request as "METHOD bucket/name?query", in order.
    pub requests: Vec<String>,
    /// Open multipart uploads by id.
    uploads: BTreeMap<String, Upload>,
    next_upload: u64,
}

/// A multipart upload in progress: its "bucket/name" and the parts so far by number, each with
/// its ETag.
struct Upload {
    key: String,
    parts: BTreeMap<u32, (String, Vec<u8>)>,
}

pub struct Server {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl Server {
    /// The objects whose "bucket/name" starts with `prefix`, keyed by name within the bucket.
    pub fn objects_under(&self, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let start = format!("{bucket}/{prefix}");
        self.state
            .lock()
            .unwrap()
            .objects
            .iter()
            .filter(|(key, _)| key.starts_with(&start))
            .map(|(key, data)| (key[bucket.len() + 1..].to_owned(), data.clone()))
            .collect()
    }
}

/// Starts the server with the given (empty) buckets; it lives as long as the test process.
pub fn start(buckets: &[&str]) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(State::default()));
    let shared = state.clone();
    let buckets: Vec<String> = buckets.iter().map(|b| (*b).to_owned()).collect();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let state = shared.clone();
            let buckets = buckets.clone();
            std::thread::spawn(move || serve(stream, &state, &buckets));
        }
    });
    Server { url, state }
}

struct Reply {
    status: &'static str,
    etag: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    /// 200 with the object's (or part's) ETag.
    fn stored(etag: String, body: Vec<u8>) -> Self {
        Reply {
            status: "200 OK",
            etag: Some(etag),
            body,
        }
    }

    fn xml(status: &'static str, body: String) -> Self {
        Reply {
            status,
            etag: None,
            body: body.into_bytes(),
        }
    }

    fn error(status: &'static str, code: &str) -> Self {
        Reply::xml(
            status,
            format!("<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code></Error>"),
        )
    }
}

/// Answers the requests of one keep-alive connection until the client closes it.
fn serve(stream: TcpStream, state: &Mutex<State>, buckets: &[String]) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut words = line.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return;
        };
        let (method, target) = (method.to_owned(), target.to_owned());
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
                    _ => {}
                }
            }
        }
        let body = if chunked {
            read_chunked(&mut reader)
        } else {
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            body
        };
        let reply = handle(&method, &target, body, state, buckets);
        let mut head = format!(
            "HTTP/1.1 {}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        if let Some(etag) = &reply.etag {
            head.push_str(&format!("ETag: {etag}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&reply.body).is_err() {
            return;
        }
    }
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let mut chunk = vec![0u8; size + 2];
        reader.read_exact(&mut chunk).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

fn handle(
    method: &str,
    target: &str,
    body: Vec<u8>,
    state: &Mutex<State>,
    buckets: &[String],
) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query: BTreeMap<&str, &str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let path = path.trim_start_matches('/');
    let (bucket, name) = path.split_once('/').unwrap_or((path, ""));
    let (bucket, name) = (decode(bucket), decode(name));
    let key = format!("{bucket}/{name}");
    let mut state = state.lock().unwrap();
    state.requests.push(format!(
        "{method} {key}?{}",
        target.split_once('?').map_or("", |q| q.1)
    ));
    if !buckets.contains(&bucket) {
        return Reply::error("404 Not Found", "NoSuchBucket");
    }
    let etag = |data: &[u8]| format!("\"{:x}\"", sha2::Sha256::digest(data));
    match (method, query.get("uploadId"), query.contains_key("uploads")) {
        ("PUT", None, false) => {
            let tag = etag(&body);
            state.objects.insert(key, body);
            Reply::stored(tag, Vec::new())
        }
        ("GET", None, false) => match state.objects.get(&key) {
            Some(data) => Reply::stored(etag(data), data.clone()),
            None => Reply::error("404 Not Found", "NoSuchKey"),
        },
        ("DELETE", None, false) => {
            state.objects.remove(&key);
            Reply::xml("204 No Content", String::new())
        }
        ("POST", None, true) => {
            state.next_upload += 1;
            let id = format!("upload-{}", state.next_upload);
            let upload = Upload {
                key: key.clone(),
                parts: BTreeMap::new(),
            };
            state.uploads.insert(id.clone(), upload);
            Reply::xml(
                "200 OK",
                format!(
                    "<?xml version='1.0' encoding='UTF-8'?><InitiateMultipartUploadResult>\
                     <Bucket>{bucket}</Bucket><Key>{name}</Key><UploadId>{id}</UploadId>\
                     </InitiateMultipartUploadResult>"
                ),
            )
        }
        ("PUT", Some(id), false) => {
            let Some(number) = query.get("partNumber").and_then(|n| n.parse::<u32>().ok()) else {
                return Reply::error("400 Bad Request", "InvalidArgument");
            };
            let tag = etag(&body);
            match state.uploads.get_mut(*id) {
                Some(upload) if upload.key == key => {
                    upload.parts.insert(number, (tag.clone(), body));
                    Reply::stored(tag, Vec::new())
                }
                _ => Reply::error("404 Not Found", "NoSuchUpload"),
            }
        }
        ("POST", Some(id), false) => {
            let Some(Upload {
                key: for_key,
                parts,
            }) = state.uploads.remove(*id)
            else {
                return Reply::error("404 Not Found", "NoSuchUpload");
            };
            if for_key != key {
                return Reply::error("400 Bad Request", "NoSuchUpload");
            }
            let text = String::from_utf8_lossy(&body);
            let numbers = elements(&text, "PartNumber");
            let tags = elements(&text, "ETag");
            if numbers.is_empty() || numbers.len() != tags.len() {
                return Reply::error("400 Bad Request", "MalformedXML");
            }
            let mut assembled = Vec::new();
            for (i, (number, tag)) in numbers.iter().zip(&tags).enumerate() {
                let Some((stored_tag, data)) = number.parse().ok().and_then(|n| parts.get(&n))
                else {
                    return Reply::error("400 Bad Request", "InvalidPart");
                };
                if stored_tag != tag {
                    return Reply::error("400 Bad Request", "InvalidPart");
                }
                if i + 1 < numbers.len() && data.len() < MIN_PART {
                    return Reply::error("400 Bad Request", "EntityTooSmall");
                }
                assembled.extend_from_slice(data);
            }
            let tag = etag(&assembled);
            state.objects.insert(key, assembled);
            Reply::xml(
                "200 OK",
                format!(
                    "<?xml version='1.0' encoding='UTF-8'?><CompleteMultipartUploadResult>\
                     <Bucket>{bucket}</Bucket><Key>{name}</Key><ETag>{tag}</ETag>\
                     </CompleteMultipartUploadResult>"
                ),
            )
        }
        ("DELETE", Some(id), false) => {
            state.uploads.remove(*id);
            Reply::xml("204 No Content", String::new())
        }
        _ => Reply::error("501 Not Implemented", "NotImplemented"),
    }
}

/// The texts of every `<tag>…</tag>` in `xml`, in order.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(text, _)| text.to_owned()))
        .collect()
}

/// Decodes %XX escapes (object_store escapes everything but letters and digits).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
