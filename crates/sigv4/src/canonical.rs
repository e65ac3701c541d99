//! The canonical request, fed straight into SHA-256.

use crate::Request;
use aws_lc_rs::digest;

/// Read access to a request's headers.
pub trait Headers {
    /// Call `f` with each value of header `name` (given in lowercase), in the
    /// order received. Names compare case-insensitively.
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8]));
}

impl Headers for [(String, String)] {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        for (k, v) in self {
            if k.eq_ignore_ascii_case(name) {
                f(v.as_bytes());
            }
        }
    }
}

impl Headers for Vec<(String, String)> {
    fn for_each_value(&self, name: &str, f: &mut dyn FnMut(&[u8])) {
        self.as_slice().for_each_value(name, f)
    }
}

/// Where the canonical request is written: a hash in production, a string in
/// tests and diagnostics.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for digest::Context {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Trim a header value and collapse each run of whitespace into one space.
fn put_value(sink: &mut dyn Sink, v: &[u8]) {
    let v = v.trim_ascii();
    let mut start = 0;
    let mut i = 0;
    while i < v.len() {
        if v[i].is_ascii_whitespace() {
            sink.put(&v[start..i]);
            sink.put(b" ");
            while i < v.len() && v[i].is_ascii_whitespace() {
                i += 1;
            }
            start = i;
        } else {
            i += 1;
        }
    }
    sink.put(&v[start..]);
}

fn write_canonical<H: Headers + ?Sized>(
    sink: &mut dyn Sink,
    req: &Request<'_, H>,
    signed_headers: &str,
) {
    sink.put(req.method.as_bytes());
    sink.put(b"\n");
    if req.path == "/" || req.path.is_empty() {
        sink.put(b"/");
    } else {
        sink.put(canonical_uri(req.path).as_bytes());
    }
    sink.put(b"\n");
    if !req.query.is_empty() {
        sink.put(canonical_query(req.query).as_bytes());
    }
    sink.put(b"\n");
    for name in signed_headers.split(';') {
        sink.put(name.as_bytes());
        sink.put(b":");
        let mut first = true;
        req.headers.for_each_value(name, &mut |v| {
            if !first {
                sink.put(b",");
            }
            first = false;
            put_value(sink, v);
        });
        sink.put(b"\n");
    }
    sink.put(b"\n");
    sink.put(signed_headers.as_bytes());
    sink.put(b"\n");
    let mut hex_hash = [0u8; 64];
    // Infallible: the buffer is exactly twice the hash length.
    let _ = hex::encode_to_slice(req.body_sha256, &mut hex_hash);
    sink.put(&hex_hash);
}

/// SHA-256 of the canonical request.
pub(crate) fn canonical_request_hash<H: Headers + ?Sized>(
    req: &Request<'_, H>,
    signed_headers: &str,
) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    write_canonical(&mut ctx, req, signed_headers);
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The canonical request as text (for tests and diagnostics).
pub fn canonical_request<H: Headers + ?Sized>(
    req: &Request<'_, H>,
    signed_headers: &str,
) -> String {
    let mut out = Vec::new();
    write_canonical(&mut out, req, signed_headers);
    String::from_utf8_lossy(&out).into_owned()
}

fn uri_encode(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hexval = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// The canonical URI of a non-S3 service: dot segments removed, each segment
/// URI-encoded once more (so `%` of an encoded path becomes `%25`).
pub fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(seg.as_bytes(), &mut out);
    }
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// The canonical query string: parameters decoded, re-encoded strictly, and
/// sorted by name then value.
pub fn canonical_query(query: &str) -> String {
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut ke = String::new();
            uri_encode(&percent_decode(k), &mut ke);
            let mut ve = String::new();
            uri_encode(&percent_decode(v), &mut ve);
            (ke, ve)
        })
        .collect();
    params.sort();
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}
