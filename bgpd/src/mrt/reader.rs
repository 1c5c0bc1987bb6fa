//! The MRT common header (RFC 6396 section 2 and 3) and the record reader.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::bgp4mp::{self, Bgp4mpEntry, Bgp4mpMessage, Bgp4mpStateChange};
use super::table_dump::{self, TableDumpEntry};
use super::table_dump_v2::{self, PeerIndexTable, RibGeneric, RibRecord};
use super::{legacy, MrtError, RecordError};

/// MRT type codes (RFC 6396 section 4 and appendix B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MrtType {}

impl MrtType {
    /// `BGP` (deprecated, RFC 6396 appendix B).
    pub const BGP: u16 = 5;
    /// `BGP4PLUS` (deprecated).
    pub const BGP4PLUS: u16 = 9;
    /// `BGP4PLUS_01` (deprecated).
    pub const BGP4PLUS_01: u16 = 10;
    /// `OSPFv2` (RFC 6396 section 4.1).
    pub const OSPFV2: u16 = 11;
    /// `TABLE_DUMP` (RFC 6396 section 4.2).
    pub const TABLE_DUMP: u16 = 12;
    /// `TABLE_DUMP_V2` (RFC 6396 section 4.3).
    pub const TABLE_DUMP_V2: u16 = 13;
    /// `BGP4MP` (RFC 6396 section 4.4).
    pub const BGP4MP: u16 = 16;
    /// `BGP4MP_ET` (RFC 6396 section 4.4, with the extended timestamp of section 3).
    pub const BGP4MP_ET: u16 = 17;
    /// `ISIS` (RFC 6396 section 4.5).
    pub const ISIS: u16 = 32;
    /// `ISIS_ET`.
    pub const ISIS_ET: u16 = 33;
    /// `OSPFv3` (RFC 6396 section 4.6).
    pub const OSPFV3: u16 = 48;
    /// `OSPFv3_ET`.
    pub const OSPFV3_ET: u16 = 49;

    /// Whether `t` is an MRT type code defined by RFC 6396 (current or deprecated).
    pub fn is_known(t: u16) -> bool {
        matches!(t, 0..=13 | 16 | 17 | 32 | 33 | 48 | 49)
    }

    /// Whether records of type `t` carry the extended (microsecond) timestamp.
    pub fn has_extended_timestamp(t: u16) -> bool {
        matches!(t, Self::BGP4MP_ET | Self::ISIS_ET | Self::OSPFV3_ET)
    }
}

/// The MRT common header (RFC 6396 section 2):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                           Timestamp                           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |             Type              |            Subtype            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                             Length                            |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Message... (variable)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// For the `_ET` types a 4-octet Microsecond Timestamp follows, counted in Length
/// (RFC 6396 section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Seconds since the Unix epoch (UTC).
    pub timestamp: u32,
    /// Microseconds within `timestamp`, for the `_ET` types.
    pub microseconds: Option<u32>,
    /// MRT type ([`MrtType`]).
    pub mrt_type: u16,
    /// Subtype, whose meaning depends on the type.
    pub subtype: u16,
    /// Length of the body in octets (the Length field, less the microsecond field).
    pub length: u32,
}

/// A parsed record body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordBody {
    /// A BGP message exchanged with a peer (BGP4MP, BGP4MP_ET, deprecated BGP types).
    Bgp4mpMessage(Bgp4mpMessage),
    /// A BGP FSM state change.
    Bgp4mpStateChange(Bgp4mpStateChange),
    /// A RIB entry in the deprecated BGP4MP_ENTRY form.
    Bgp4mpEntry(Bgp4mpEntry),
    /// A TABLE_DUMP RIB entry.
    TableDump(TableDumpEntry),
    /// The TABLE_DUMP_V2 peer index table.
    PeerIndexTable(PeerIndexTable),
    /// A TABLE_DUMP_V2 RIB record: one prefix and its entries.
    Rib(RibRecord),
    /// A TABLE_DUMP_V2 RIB_GENERIC record, kept opaque.
    RibGeneric(RibGeneric),
    /// A type or subtype this reader does not parse; the body is kept.
    Unsupported(Vec<u8>),
}

/// One MRT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrtRecord {
    /// Offset of the record in the (decompressed) input.
    pub offset: u64,
    /// The common header.
    pub header: RecordHeader,
    /// The parsed body.
    pub body: RecordBody,
}

/// Reads MRT records from a file or stream; gzip and bzip2 compression are detected from
/// the magic bytes (`1f 8b`, `BZh`).
pub struct MrtReader {
    input: Box<dyn Read + Send>,
    offset: u64,
    records: u64,
    done: bool,
}

impl std::fmt::Debug for MrtReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MrtReader")
            .field("offset", &self.offset)
            .field("records", &self.records)
            .field("done", &self.done)
            .finish()
    }
}

impl MrtReader {
    /// Opens an MRT file.
    ///
    /// # Errors
    /// [`MrtError::Io`] when the file cannot be opened or read.
    pub fn open(path: impl AsRef<Path>) -> Result<MrtReader, MrtError> {
        let file = std::fs::File::open(path)?;
        MrtReader::new(file)
    }

    /// Reads MRT records from `input`, decompressing it when it starts with a gzip or
    /// bzip2 header.
    ///
    /// # Errors
    /// [`MrtError::Io`] when reading the first bytes fails.
    pub fn new(input: impl Read + Send + 'static) -> Result<MrtReader, MrtError> {
        let mut buffered = BufReader::with_capacity(64 * 1024, input);
        let head = buffered.fill_buf()?;
        let input: Box<dyn Read + Send> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(buffered)))
        } else if head.starts_with(b"BZh") {
            Box::new(BufReader::new(bzip2::read::MultiBzDecoder::new(buffered)))
        } else {
            Box::new(buffered)
        };
        Ok(MrtReader {
            input,
            offset: 0,
            records: 0,
            done: false,
        })
    }

    /// Records read so far (including malformed ones).
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// Reads the next record; `Ok(None)` at the end of the input.
    ///
    /// # Errors
    /// - [`MrtError::Record`]: this record's body is malformed; the next call reads the
    ///   next record.
    /// - [`MrtError::NotMrt`]: the first record's header is not an MRT header (unknown
    ///   type), or decompression fails at once.
    /// - [`MrtError::Truncated`], [`MrtError::Io`]: the input ends inside a record or
    ///   cannot be read; later calls return `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<MrtRecord>, MrtError> {
        if self.done {
            return Ok(None);
        }
        let offset = self.offset;
        let mut head = [0u8; 12];
        let got = match read_full(&mut self.input, &mut head) {
            Ok(n) => n,
            Err(e) => {
                self.done = true;
                return Err(if self.records == 0 {
                    MrtError::NotMrt(format!("cannot decompress or read: {e}"))
                } else {
                    MrtError::Io(e)
                });
            }
        };
        if got == 0 {
            self.done = true;
            return Ok(None);
        }
        if got < head.len() {
            self.done = true;
            return Err(if self.records == 0 {
                MrtError::NotMrt("shorter than an MRT header".into())
            } else {
                MrtError::Truncated { offset }
            });
        }
        let timestamp = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let mrt_type = u16::from_be_bytes([head[4], head[5]]);
        let subtype = u16::from_be_bytes([head[6], head[7]]);
        let length = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        if self.records == 0 && !MrtType::is_known(mrt_type) {
            self.done = true;
            return Err(MrtError::NotMrt(format!("unknown MRT type {mrt_type}")));
        }
        // Read through `take`, so a bogus length allocates no more than the input holds.
        let mut body = Vec::new();
        let read = (&mut self.input)
            .take(u64::from(length))
            .read_to_end(&mut body)
            .inspect_err(|_| self.done = true)?;
        self.offset += 12 + read as u64;
        self.records += 1;
        if read < length as usize {
            self.done = true;
            return Err(if self.records == 1 {
                MrtError::NotMrt(format!(
                    "first record claims {length} octets, input has {read}"
                ))
            } else {
                MrtError::Truncated { offset }
            });
        }
        let mut header = RecordHeader {
            timestamp,
            microseconds: None,
            mrt_type,
            subtype,
            length,
        };
        let parsed = parse_body(&mut header, &body);
        match parsed {
            Ok(body) => Ok(Some(MrtRecord {
                offset,
                header,
                body,
            })),
            Err(error) => Err(MrtError::Record {
                offset,
                mrt_type,
                subtype,
                error,
            }),
        }
    }
}

impl Iterator for MrtReader {
    type Item = Result<MrtRecord, MrtError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Reads until `buf` is full or the input ends; returns the octets read.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn parse_body(header: &mut RecordHeader, body: &[u8]) -> Result<RecordBody, RecordError> {
    let mut body = body;
    if MrtType::has_extended_timestamp(header.mrt_type) {
        let us = body.get(..4).ok_or(RecordError::Truncated {
            field: "microsecond timestamp",
        })?;
        header.microseconds = Some(u32::from_be_bytes([us[0], us[1], us[2], us[3]]));
        header.length -= 4;
        body = &body[4..];
    }
    match header.mrt_type {
        MrtType::BGP4MP | MrtType::BGP4MP_ET => bgp4mp::parse(header.subtype, body),
        MrtType::TABLE_DUMP => table_dump::parse(header.subtype, body),
        MrtType::TABLE_DUMP_V2 => table_dump_v2::parse(header.subtype, body),
        MrtType::BGP | MrtType::BGP4PLUS | MrtType::BGP4PLUS_01 => {
            legacy::parse(header.mrt_type, header.subtype, body)
        }
        _ => Ok(RecordBody::Unsupported(body.to_vec())),
    }
}
