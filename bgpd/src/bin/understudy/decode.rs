//! `understudy decode`: BGP messages from hex, MRT files (RFC 6396) or packet captures, as
//! JSON lines or as totals.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use bgpd::capture::{decode_pcap, CapturedItem, ContextOverrides, PortFilter};
use bgpd::mrt::{MrtError, MrtReader, RecordBody};
use bgpd::wire::notification::ShutdownCommunicationError;
use bgpd::wire::{decode_message, AfiSafi, Message, Notification, Outcome, SessionContext};
use clap::{ArgGroup, Args};
use serde_json::{json, Map, Value};

use crate::BadInput;

/// Arguments of `understudy decode`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("input").required(true).args(["hex", "mrt", "pcap"])))]
pub struct DecodeArgs {
    /// One BGP message, header included, as hex (whitespace and a 0x prefix allowed).
    #[arg(long, value_name = "HEX")]
    hex: Option<String>,
    /// Every BGP message and RIB entry of an MRT file (gzip and bzip2 accepted).
    #[arg(long, value_name = "FILE")]
    mrt: Option<PathBuf>,
    /// Every BGP message of a pcap/pcapng capture (TCP port 179, streams reassembled).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Also treat TCP connections on this port as BGP (with --pcap; repeatable).
    #[arg(long = "port", value_name = "PORT")]
    ports: Vec<u16>,
    /// 4-octet AS numbers (RFC 6793).
    #[arg(long)]
    four_octet_as: bool,
    /// Path Identifiers in the NLRI of this AFI/SAFI (RFC 7911), e.g. ipv4/unicast
    /// (repeatable).
    #[arg(long = "add-path", value_name = "AFI/SAFI")]
    add_path: Vec<AfiSafi>,
    /// Messages up to 65535 octets (RFC 8654).
    #[arg(long)]
    extended_message: bool,
    /// Internal BGP session.
    #[arg(long)]
    ibgp: bool,
    /// Print one JSON object of totals instead of one per message. `errors` counts
    /// messages whose outcome is not accept, unreadable MRT records and frames, and
    /// stream octets that belong to no message.
    #[arg(long)]
    summary: bool,
}

/// Runs the subcommand.
///
/// # Errors
/// When the input cannot be read at all: bad hex, missing file, not MRT, not a capture.
pub fn run(args: &DecodeArgs) -> anyhow::Result<()> {
    let overrides = ContextOverrides {
        four_octet_as: args.four_octet_as,
        add_path: args.add_path.clone(),
        extended_message: args.extended_message,
        ibgp: args.ibgp,
    };
    let stdout = io::stdout();
    let mut out = Output::new(BufWriter::new(stdout.lock()), args.summary);
    let result = if let Some(hex) = &args.hex {
        decode_hex(hex, &overrides, &mut out)
    } else if let Some(path) = &args.mrt {
        decode_mrt(path, &overrides, &mut out)
    } else if let Some(path) = &args.pcap {
        decode_capture(path, &args.ports, &overrides, &mut out)
    } else {
        bail!("one of --hex, --mrt, --pcap is required")
    };
    match result.and_then(|()| out.finish()) {
        // The reader went away (`| head`): end quietly with the status a shell gives a
        // command ended by SIGPIPE.
        Err(e) if is_broken_pipe(&e) => std::process::exit(141),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn decode_hex(
    hex: &str,
    overrides: &ContextOverrides,
    out: &mut Output<impl Write>,
) -> anyhow::Result<()> {
    let cleaned: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
    let cleaned = cleaned
        .strip_prefix("0x")
        .or_else(|| cleaned.strip_prefix("0X"))
        .unwrap_or(&cleaned);
    if cleaned.is_empty() {
        return Err(
            BadInput("--hex is empty: give one BGP message, header included".into()).into(),
        );
    }
    let bytes = hex::decode(cleaned).map_err(|e| BadInput(format!("--hex is not hex: {e}")))?;
    out.message(&bytes, &overrides.base_context(), Map::new())?;
    Ok(())
}

fn decode_mrt(
    path: &PathBuf,
    overrides: &ContextOverrides,
    out: &mut Output<impl Write>,
) -> anyhow::Result<()> {
    let mut reader =
        MrtReader::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    loop {
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e @ MrtError::Record { .. }) => {
                out.input_error(&e.to_string());
                continue;
            }
            // A file cut short (a truncated plain or compressed file) was still read up to
            // the cut: report it and keep what was decoded.
            Err(e @ (MrtError::Truncated { .. } | MrtError::Io(_)))
                if reader.records_read() > 0 =>
            {
                out.input_error(&e.to_string());
                break;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let h = record.header;
        let mut source = Map::new();
        source.insert("timestamp".into(), json!(h.timestamp));
        if let Some(us) = h.microseconds {
            source.insert("microseconds".into(), json!(us));
        }
        source.insert("mrt_type".into(), json!(h.mrt_type));
        source.insert("mrt_subtype".into(), json!(h.subtype));
        match &record.body {
            RecordBody::Bgp4mpMessage(m) => {
                let mut ctx = m.implied_context().session_context();
                overrides.apply(&mut ctx);
                source.insert("peer_ip".into(), json!(m.peer_ip.to_string()));
                source.insert("peer_as".into(), json!(m.peer_as));
                source.insert("local_as".into(), json!(m.local_as));
                if m.local {
                    source.insert("sent_by_local".into(), json!(true));
                }
                out.message(&m.message, &ctx, wrap("mrt", source))?;
            }
            RecordBody::Rib(rib) => {
                for entry in &rib.entries {
                    let mut s = source.clone();
                    s.insert("rib_prefix".into(), json!(rib.prefix.to_string()));
                    s.insert("peer_index".into(), json!(entry.peer_index));
                    if let Some(id) = entry.path_id {
                        s.insert("path_id".into(), json!(id));
                    }
                    match rib.update_message(entry) {
                        Ok(msg) => {
                            let mut ctx = rib.implied_context(msg.len()).session_context();
                            overrides.apply(&mut ctx);
                            out.message(&msg, &ctx, wrap("mrt", s))?;
                        }
                        Err(e) => out.input_error(&format!("RIB entry for {}: {e}", rib.prefix)),
                    }
                }
            }
            RecordBody::TableDump(t) => {
                source.insert("rib_prefix".into(), json!(t.prefix.to_string()));
                source.insert("peer_ip".into(), json!(t.peer_ip.to_string()));
                source.insert("peer_as".into(), json!(t.peer_as));
                let mut ctx = t.implied_context().session_context();
                overrides.apply(&mut ctx);
                match t.update_message() {
                    Ok(msg) => out.message(&msg, &ctx, wrap("mrt", source))?,
                    Err(e) => out.input_error(&format!("RIB entry for {}: {e}", t.prefix)),
                }
            }
            RecordBody::Bgp4mpEntry(t) => {
                source.insert("rib_prefix".into(), json!(t.prefix.to_string()));
                source.insert("peer_ip".into(), json!(t.peer_ip.to_string()));
                source.insert("peer_as".into(), json!(t.peer_as));
                let mut ctx = t.implied_context().session_context();
                overrides.apply(&mut ctx);
                match t.update_message() {
                    Ok(msg) => out.message(&msg, &ctx, wrap("mrt", source))?,
                    Err(e) => out.input_error(&format!("RIB entry for {}: {e}", t.prefix)),
                }
            }
            // State changes, the peer index table, RIB_GENERIC and unknown types carry no
            // BGP message.
            RecordBody::Bgp4mpStateChange(_)
            | RecordBody::PeerIndexTable(_)
            | RecordBody::RibGeneric(_)
            | RecordBody::Unsupported(_) => {}
        }
    }
    Ok(())
}

fn decode_capture(
    path: &PathBuf,
    ports: &[u16],
    overrides: &ContextOverrides,
    out: &mut Output<impl Write>,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut write_error: Option<io::Error> = None;
    let stats = decode_pcap(file, &PortFilter::with_ports(ports), overrides, |item| {
        if write_error.is_some() {
            return;
        }
        match item {
            CapturedItem::Message {
                stream,
                offset,
                bytes,
                context,
            } => {
                let mut source = Map::new();
                source.insert("src".into(), json!(stream.src.to_string()));
                source.insert("dst".into(), json!(stream.dst.to_string()));
                source.insert("offset".into(), json!(offset));
                if let Err(e) = out.message(&bytes, &context, wrap("tcp", source)) {
                    write_error = Some(e);
                }
            }
            CapturedItem::Skipped { stream, range } => out.input_error(&format!(
                "{} -> {}: stream octets {}..{} belong to no complete message",
                stream.src, stream.dst, range.start, range.end
            )),
            CapturedItem::Gap { stream, range } => out.input_error(&format!(
                "{} -> {}: stream octets {}..{} were not captured",
                stream.src, stream.dst, range.start, range.end
            )),
        }
    })
    .with_context(|| format!("cannot read {}", path.display()))?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    for _ in 0..stats.bad_frames {
        out.input_error("a frame could not be parsed");
    }
    if stats.truncated {
        out.input_error("the capture ends inside a record");
    }
    Ok(())
}

fn wrap(key: &str, source: Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(key.into(), Value::Object(source));
    m
}

/// Totals of `--summary`.
#[derive(Debug, Default)]
struct Totals {
    messages: u64,
    updates: u64,
    prefixes_announced: u64,
    prefixes_withdrawn: u64,
    errors: u64,
    by_type: BTreeMap<&'static str, u64>,
    by_outcome: BTreeMap<&'static str, u64>,
}

struct Output<W: Write> {
    w: W,
    summary: bool,
    totals: Totals,
    warnings: u64,
}

/// Warnings printed on stderr before the rest are only counted.
const MAX_WARNINGS: u64 = 20;

impl<W: Write> Output<W> {
    fn new(w: W, summary: bool) -> Self {
        Output {
            w,
            summary,
            totals: Totals::default(),
            warnings: 0,
        }
    }

    fn message(
        &mut self,
        bytes: &[u8],
        ctx: &SessionContext,
        extra: Map<String, Value>,
    ) -> io::Result<()> {
        let decoded = decode_message(bytes, ctx);
        let type_name = match decoded.kind {
            Some(k) => kind_name(k),
            None => match bytes.get(18) {
                Some(1) => "open",
                Some(2) => "update",
                Some(3) => "notification",
                Some(4) => "keepalive",
                Some(5) => "route-refresh",
                _ => "unknown",
            },
        };
        let t = &mut self.totals;
        t.messages += 1;
        *t.by_type.entry(type_name).or_default() += 1;
        *t.by_outcome.entry(decoded.outcome.action()).or_default() += 1;
        if decoded.outcome != Outcome::Accept {
            t.errors += 1;
        }
        if type_name == "update" {
            t.updates += 1;
        }
        if let Some(Message::Update(u)) = &decoded.message {
            match decoded.outcome {
                // RFC 7606 section 2: the UPDATE's announced routes are handled as withdrawn.
                Outcome::TreatAsWithdraw { .. } => {
                    t.prefixes_withdrawn += (u.announced_count() + u.withdrawn_count()) as u64;
                }
                // The session is reset (or the family disabled): nothing is applied.
                Outcome::SessionReset(_) | Outcome::AfiSafiDisable { .. } => {}
                Outcome::Accept | Outcome::AttributeDiscard { .. } => {
                    t.prefixes_announced += u.announced_count() as u64;
                    t.prefixes_withdrawn += u.withdrawn_count() as u64;
                }
            }
        }
        if self.summary {
            return Ok(());
        }
        let mut obj = match serde_json::to_value(&decoded) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        if let (Some(Message::Notification(n)), Some(Value::Object(m))) =
            (&decoded.message, obj.get_mut("message"))
        {
            shutdown_communication(n, m);
        }
        obj.insert("type".into(), json!(type_name));
        obj.insert("outcome".into(), decoded.outcome.to_json());
        obj.insert("length".into(), json!(bytes.len()));
        obj.extend(extra);
        serde_json::to_writer(&mut self.w, &Value::Object(obj))?;
        self.w.write_all(b"\n")
    }

    /// A defect of the input that is not a BGP message: counted, and reported on stderr
    /// (the first few).
    fn input_error(&mut self, what: &str) {
        self.totals.errors += 1;
        self.warnings += 1;
        if self.warnings <= MAX_WARNINGS {
            eprintln!("understudy: warning: {what}");
        }
    }

    fn finish(mut self) -> anyhow::Result<()> {
        if self.warnings > MAX_WARNINGS {
            eprintln!(
                "understudy: warning: {} more input defects not shown",
                self.warnings - MAX_WARNINGS
            );
        }
        if self.summary {
            let t = &self.totals;
            let v = json!({
                "messages": t.messages,
                "updates": t.updates,
                "prefixes_announced": t.prefixes_announced,
                "prefixes_withdrawn": t.prefixes_withdrawn,
                "errors": t.errors,
                "by_type": t.by_type,
                "by_outcome": t.by_outcome,
            });
            serde_json::to_writer(&mut self.w, &v)?;
            self.w.write_all(b"\n")?;
        }
        self.w.flush()?;
        Ok(())
    }
}

/// The shutdown communication of a Cease / Administrative Shutdown or Reset (RFC 9003
/// section 2; subcodes 2 and 4), added to the NOTIFICATION's JSON as
/// `shutdown_communication` (the UTF-8 text); data that is not a well-formed communication
/// gives `shutdown_communication_error` instead. Other NOTIFICATIONs are left as they are.
fn shutdown_communication(n: &Notification, json: &mut Map<String, Value>) {
    match n.shutdown_communication() {
        Ok(Some(text)) => {
            json.insert("shutdown_communication".into(), json!(text));
        }
        Ok(None) | Err(ShutdownCommunicationError::NotShutdown) => {}
        Err(e) => {
            json.insert("shutdown_communication_error".into(), json!(e.to_string()));
        }
    }
}

fn kind_name(k: bgpd::wire::MessageType) -> &'static str {
    use bgpd::wire::MessageType as T;
    match k {
        T::Open => "open",
        T::Update => "update",
        T::Notification => "notification",
        T::Keepalive => "keepalive",
        T::RouteRefresh => "route-refresh",
    }
}
