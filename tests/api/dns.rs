//! A small authoritative DNS server on 127.0.0.1 (UDP) whose TXT records the
//! test changes: answers records, NXDOMAIN for unknown names, or nothing at
//! all when told to be silent (for timeouts).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

#[derive(Default)]
pub struct Zone {
    /// name (lowercase, no trailing dot) → TXT records, each a list of strings.
    pub txt: HashMap<String, Vec<Vec<Vec<u8>>>>,
    pub silent: bool,
    /// Answer garbage bytes.
    pub garbage: bool,
}

#[derive(Clone)]
pub struct DnsServer {
    pub addr: String,
    pub zone: Arc<Mutex<Zone>>,
}

impl DnsServer {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap().to_string();
        let zone: Arc<Mutex<Zone>> = Arc::default();
        let z = zone.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let reply = {
                    let zone = z.lock().unwrap();
                    if zone.silent {
                        continue;
                    }
                    if zone.garbage {
                        let mut g = buf[..2].to_vec();
                        g.extend_from_slice(&[0x81, 0x80, 0xff, 0xff, 0, 9, 1, 2]);
                        g
                    } else {
                        match answer(&buf[..n], &zone) {
                            Some(r) => r,
                            None => continue,
                        }
                    }
                };
                let _ = socket.send_to(&reply, peer).await;
            }
        });
        Self { addr, zone }
    }

    pub fn set_txt(&self, name: &str, values: &[&str]) {
        self.zone.lock().unwrap().txt.insert(
            name.to_lowercase(),
            values.iter().map(|v| vec![v.as_bytes().to_vec()]).collect(),
        );
    }

    /// One TXT record made of several strings (to be joined by the reader).
    pub fn set_txt_strings(&self, name: &str, strings: &[Vec<u8>]) {
        self.zone
            .lock()
            .unwrap()
            .txt
            .insert(name.to_lowercase(), vec![strings.to_vec()]);
    }

    pub fn remove(&self, name: &str) {
        self.zone.lock().unwrap().txt.remove(&name.to_lowercase());
    }

    pub fn silent(&self, on: bool) {
        self.zone.lock().unwrap().silent = on;
    }

    pub fn garbage(&self, on: bool) {
        self.zone.lock().unwrap().garbage = on;
    }
}

fn answer(q: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    // Question: labels, then qtype and qclass.
    let mut i = 12;
    let mut labels = Vec::new();
    while i < q.len() && q[i] != 0 {
        let len = q[i] as usize;
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + len)?).to_lowercase());
        i += 1 + len;
    }
    let qend = i + 5;
    let question = q.get(12..qend)?;
    let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
    let name = labels.join(".");
    let records = zone.txt.get(&name);
    let mut out = Vec::new();
    out.extend_from_slice(&q[0..2]);
    let rcode: u8 = if records.is_some() { 0 } else { 3 };
    out.extend_from_slice(&[0x84 | (q[2] & 0x01), 0x80 | rcode]);
    let answers: Vec<&Vec<Vec<u8>>> = match (records, qtype) {
        (Some(r), 16) => r.iter().collect(),
        _ => Vec::new(),
    };
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for rec in answers {
        let mut rdata = Vec::new();
        for s in rec {
            for chunk in s.chunks(255) {
                rdata.push(chunk.len() as u8);
                rdata.extend_from_slice(chunk);
            }
        }
        out.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 0]);
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}
