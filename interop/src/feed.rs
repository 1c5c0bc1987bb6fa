//! A real routing table for the lab's neighbours to originate: the unique IPv4 prefixes of
//! an MRT RIB dump (RFC 6396 TABLE_DUMP or TABLE_DUMP_V2), split between neighbours and
//! rendered into each daemon's configuration language.
//!
//! Only the prefixes are fed, not the dump's path attributes: each neighbour originates
//! them as its own routes (FRR `network`, BIRD `static`). Prefixes that would disturb the
//! lab are left out: the default route, and anything overlapping the documentation
//! prefixes the lab itself uses (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use bgpd::mrt::{MrtReader, RecordBody};
use ipnetwork::Ipv4Network;

use crate::error::{LabError, Result};

/// The largest RIB dump of the shared data set (TABLE_DUMP, 115,521 IPv4 records), where it
/// sits on the project machine ([`default_mrt`] finds it elsewhere too).
pub const DEFAULT_MRT: &str = "/work/shared/data/mrt/bgpdump/bview.20020722.2337.gz";

/// [`DEFAULT_MRT`] inside the shared folder.
pub const DEFAULT_MRT_IN_SHARED: &str = "data/mrt/bgpdump/bview.20020722.2337.gz";

/// The shared folder's candidates, in order: `shared_dir` (`$US_SHARED_DIR`), `shared/`
/// beside the repository the user runs in (`cwd/../shared`, `cwd` its root), beside the
/// source tree this crate was built from, and `/work/shared` (the project machine).
pub fn shared_dirs(shared_dir: Option<&Path>, cwd: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = shared_dir.map(Path::to_path_buf).into_iter().collect();
    dirs.push(cwd.join("../shared"));
    dirs.extend(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .skip(1)
            .map(|a| a.join("shared")),
    );
    dirs.push(PathBuf::from("/work/shared"));
    dirs
}

/// The demo's RIB dump ([`DEFAULT_MRT_IN_SHARED`]) in the first of [`shared_dirs`] that
/// holds it.
///
/// # Errors
/// [`LabError::Io`] (not found) naming the places looked at.
pub fn default_mrt(shared_dir: Option<&Path>, cwd: &Path) -> Result<PathBuf> {
    let dirs = shared_dirs(shared_dir, cwd);
    if let Some(p) = dirs
        .iter()
        .map(|d| d.join(DEFAULT_MRT_IN_SHARED))
        .find(|p| p.is_file())
    {
        return Ok(p);
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(LabError::io(
        DEFAULT_MRT_IN_SHARED,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "the demo's RIB dump is in none of the shared folders ({}); give --mrt FILE, \
                 --mrt none for no table, or US_SHARED_DIR=DIR",
                looked.join(", ")
            ),
        ),
    ))
}

/// The prefixes the lab uses for its own addresses (RFC 5737), never fed.
const LAB_PREFIXES: [(Ipv4Addr, u8); 3] = [
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
];

/// True when `p` is fit to feed: not the default route, not overlapping a lab prefix.
pub fn feedable(p: Ipv4Network) -> bool {
    if p.prefix() == 0 {
        return false;
    }
    !LAB_PREFIXES.iter().any(|(addr, len)| {
        let lab = Ipv4Network::new(*addr, *len).unwrap_or(p);
        lab.contains(p.network()) || p.contains(lab.network())
    })
}

/// The unique IPv4 unicast prefixes of the MRT RIB dump at `path` that are [`feedable`], in
/// address order (host bits cleared). Records that do not parse are skipped, as a truncated
/// dump keeps what was read.
///
/// # Errors
/// [`LabError::Io`] when the file cannot be opened.
pub fn table_prefixes(path: &Path) -> Result<Vec<Ipv4Network>> {
    let mut reader = MrtReader::open(path).map_err(|e| LabError::Io {
        path: path.to_path_buf(),
        error: match e {
            bgpd::mrt::MrtError::Io(io) => io,
            other => std::io::Error::other(other.to_string()),
        },
    })?;
    let mut set = BTreeSet::new();
    let (mut rib_records, mut first_error) = (0usize, None);
    loop {
        let record = match reader.next_record() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) if e.is_recoverable() => {
                first_error.get_or_insert_with(|| e.to_string());
                continue;
            }
            Err(e) => {
                first_error.get_or_insert_with(|| e.to_string());
                break;
            }
        };
        let prefix = match record.body {
            RecordBody::TableDump(e) => e.prefix,
            RecordBody::Rib(r) => r.prefix,
            _ => continue,
        };
        rib_records += 1;
        let IpAddr::V4(addr) = prefix.addr else {
            continue;
        };
        let Ok(net) = Ipv4Network::new(addr, prefix.len) else {
            continue;
        };
        let net = Ipv4Network::new(net.network(), net.prefix()).unwrap_or(net);
        if feedable(net) {
            set.insert(net);
        }
    }
    // A file that is no MRT RIB dump (a text file, a pcap, an UPDATES dump) feeds nothing:
    // say so rather than run a lab without a table.
    if rib_records == 0 {
        let why = match first_error {
            Some(e) => format!("not an MRT RIB dump: {e}"),
            None => "holds no MRT RIB entries (TABLE_DUMP or TABLE_DUMP_V2 RIB records)".into(),
        };
        return Err(LabError::io(path, std::io::Error::other(why)));
    }
    Ok(set.into_iter().collect())
}

/// Deals `prefixes` round-robin into `n` disjoint shares (share `i` gets prefixes `i`,
/// `i + n`, ...), after keeping only the first `limit` when one is given.
pub fn split(prefixes: &[Ipv4Network], n: usize, limit: Option<usize>) -> Vec<Vec<Ipv4Network>> {
    let n = n.max(1);
    let take = limit.unwrap_or(prefixes.len()).min(prefixes.len());
    let mut shares = vec![Vec::new(); n];
    for (i, p) in prefixes[..take].iter().enumerate() {
        shares[i % n].push(*p);
    }
    shares
}

/// FRR: one `network` line per prefix (inside `address-family ipv4 unicast`).
pub fn frr_networks(prefixes: &[Ipv4Network]) -> String {
    let mut s = String::with_capacity(prefixes.len() * 28);
    for p in prefixes {
        s.push_str("  network ");
        s.push_str(&p.to_string());
        s.push('\n');
    }
    s
}

/// BIRD 2: a static protocol named `name` holding every prefix as an unreachable route
/// (exported over BGP with next hop self; never forwarded to).
pub fn bird_static(name: &str, prefixes: &[Ipv4Network]) -> String {
    let mut s = format!("protocol static {name} {{\n  ipv4;\n");
    for p in prefixes {
        s.push_str("  route ");
        s.push_str(&p.to_string());
        s.push_str(" unreachable;\n");
    }
    s.push_str("}\n");
    s
}

/// Inserts `lines` into an FRR configuration right after its `address-family ipv4 unicast`
/// line; `None` when the configuration has no such block.
pub fn frr_insert(config: &str, lines: &str) -> Option<String> {
    let at = config.find("address-family ipv4 unicast")?;
    let eol = at + config[at..].find('\n')? + 1;
    let mut out = String::with_capacity(config.len() + lines.len());
    out.push_str(&config[..eol]);
    out.push_str(lines);
    out.push_str(&config[eol..]);
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Network {
        s.parse().unwrap()
    }

    #[test]
    fn lab_prefixes_and_default_are_not_fed() {
        assert!(!feedable(net("0.0.0.0/0")));
        assert!(!feedable(net("192.0.2.0/24")));
        assert!(!feedable(net("192.0.2.128/25")));
        assert!(!feedable(net("198.51.0.0/16")));
        assert!(!feedable(net("203.0.113.7/32")));
        assert!(feedable(net("193.0.0.0/21")));
        assert!(feedable(net("198.52.0.0/16")));
    }

    #[test]
    fn split_deals_disjoint_shares_and_honours_the_limit() {
        let all: Vec<_> = (0..7u8)
            .map(|i| Ipv4Network::new(Ipv4Addr::new(10, i, 0, 0), 16).unwrap())
            .collect();
        let s = split(&all, 2, None);
        assert_eq!(s[0].len(), 4);
        assert_eq!(s[1].len(), 3);
        assert_eq!(s[0][1], net("10.2.0.0/16"));
        assert_eq!(s[1][0], net("10.1.0.0/16"));
        let s = split(&all, 2, Some(3));
        assert_eq!((s[0].len(), s[1].len()), (2, 1));
    }

    #[test]
    fn configs_are_rendered() {
        let p = [net("10.0.0.0/8"), net("172.16.0.0/12")];
        assert_eq!(
            frr_networks(&p),
            "  network 10.0.0.0/8\n  network 172.16.0.0/12\n"
        );
        assert_eq!(
            bird_static("feed", &p[..1]),
            "protocol static feed {\n  ipv4;\n  route 10.0.0.0/8 unreachable;\n}\n"
        );
        let conf = "router bgp 1\n address-family ipv4 unicast\n  neighbor x activate\n";
        assert_eq!(
            frr_insert(conf, "  network 10.0.0.0/8\n").unwrap(),
            "router bgp 1\n address-family ipv4 unicast\n  network 10.0.0.0/8\n  neighbor x activate\n"
        );
        assert_eq!(frr_insert("router bgp 1\n", "x"), None);
    }

    #[test]
    fn the_default_dump_is_found_in_the_shared_folder_beside_a_clone() {
        let root = std::env::temp_dir().join(format!("ust3-shared-{}", std::process::id()));
        let clone = root.join("understudy");
        let dump = root.join("shared").join(DEFAULT_MRT_IN_SHARED);
        std::fs::create_dir_all(dump.parent().unwrap()).unwrap();
        std::fs::create_dir_all(&clone).unwrap();
        std::fs::write(&dump, b"").unwrap();
        let beside = default_mrt(None, &clone);
        let elsewhere = root.join("elsewhere");
        let given = default_mrt(Some(&root.join("shared")), Path::new("/nonexistent"));
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            beside.unwrap(),
            clone.join("../shared").join(DEFAULT_MRT_IN_SHARED)
        );
        assert_eq!(
            given.unwrap(),
            root.join("shared").join(DEFAULT_MRT_IN_SHARED)
        );
        // Nowhere (unless this machine has it where the fallbacks look).
        if !Path::new(DEFAULT_MRT).exists() {
            let e = default_mrt(None, &elsewhere).unwrap_err().to_string();
            assert!(e.contains("give --mrt FILE"), "{e}");
        }
    }

    #[test]
    fn a_file_that_is_no_rib_dump_is_refused() {
        let dir = std::env::temp_dir().join(format!("ust3-not-mrt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("notes.txt");
        std::fs::write(&text, "this is not an MRT dump at all\n").unwrap();
        let empty = dir.join("empty.mrt");
        std::fs::write(&empty, b"").unwrap();
        let (a, b) = (table_prefixes(&text), table_prefixes(&empty));
        let _ = std::fs::remove_dir_all(&dir);
        let a = a.unwrap_err().to_string();
        assert!(
            a.starts_with(&format!("{}: not an MRT RIB dump: ", text.display())),
            "{a}"
        );
        assert_eq!(
            b.unwrap_err().to_string(),
            format!(
                "{}: holds no MRT RIB entries (TABLE_DUMP or TABLE_DUMP_V2 RIB records)",
                empty.display()
            )
        );
    }

    #[test]
    fn the_largest_dump_has_a_real_table() {
        let path = Path::new(DEFAULT_MRT);
        if !path.exists() {
            eprintln!("SKIPPED: {DEFAULT_MRT} not present");
            return;
        }
        let prefixes = table_prefixes(path).unwrap();
        // 115,521 TABLE_DUMP records (one per prefix and peer) hold fewer unique prefixes.
        assert!(
            prefixes.len() > 10_000 && prefixes.len() < 115_521,
            "{}",
            prefixes.len()
        );
        assert!(prefixes.windows(2).all(|w| w[0] < w[1]));
        assert!(prefixes.iter().all(|p| feedable(*p)));
    }
}
