//! The TPACKET_V3 receive ring of the mirror tap (`linux/if_packet.h`;
//! Documentation/networking/packet_mmap.rst): the kernel writes frames into blocks of a
//! memory-mapped ring and hands each block over with `TP_STATUS_USER`; the reader copies
//! the frames out and gives the block back with `TP_STATUS_KERNEL`. No system call per
//! frame; a block is retired after a time-out even when not full.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::frame::{Direction, TapFrame};
use crate::takeover::sys;

const PACKET_RX_RING: libc::c_int = 5;
const PACKET_VERSION: libc::c_int = 10;
const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// `PACKET_OUTGOING` in `sll_pkttype`.
const PACKET_OUTGOING: u8 = 4;

/// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then
/// `tpacket_hdr_v1`: block_status, num_pkts, offset_to_first_pkt, blk_len, ...).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;
/// Offsets in `struct tpacket3_hdr`.
const PKT_NEXT: usize = 0;
const PKT_SEC: usize = 4;
const PKT_NSEC: usize = 8;
const PKT_SNAPLEN: usize = 12;
const PKT_LEN: usize = 16;
const PKT_MAC: usize = 24;
/// `TPACKET_ALIGN(sizeof(struct tpacket3_hdr))`: where the `sockaddr_ll` follows.
const PKT_SLL: usize = 48;
/// `sll_pkttype` inside `sockaddr_ll`.
const SLL_PKTTYPE: usize = 10;

/// `struct tpacket_req3`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

// SAFETY: repr(C) struct of integers; every bit pattern is valid.
unsafe impl sys::Pod for TpacketReq3 {}

/// Size of the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSize {
    /// Bytes per block: a power of two, multiple of the page size, larger than the largest
    /// frame (GSO super-frames reach 64 KiB).
    pub block_bytes: u32,
    /// Number of blocks.
    pub blocks: u32,
    /// A block that is not full is handed to the reader after this long.
    pub retire_after: Duration,
}

impl Default for RingSize {
    /// 32 blocks of 1 MiB, retired after 2 ms.
    fn default() -> Self {
        RingSize {
            block_bytes: 1 << 20,
            blocks: 32,
            retire_after: Duration::from_millis(2),
        }
    }
}

/// A mapped TPACKET_V3 ring and the reader's position in it.
#[derive(Debug)]
pub(crate) struct Ring {
    base: NonNull<u8>,
    len: usize,
    block_bytes: usize,
    blocks: usize,
    /// Block being read.
    block: usize,
    /// Packets left in it, and the offset of the next one; `None` when not yet taken.
    cursor: Option<(u32, usize)>,
}

// SAFETY: the mapping is owned by this value alone; access goes through `&mut self`.
unsafe impl Send for Ring {}

impl Ring {
    /// Switches `fd` to TPACKET_V3 and maps a receive ring of `size`. Call before bind.
    pub(crate) fn setup(fd: BorrowedFd<'_>, size: RingSize) -> io::Result<Ring> {
        sys::set_int(fd, sys::SOL_PACKET, PACKET_VERSION, TPACKET_V3)?;
        let frame_size = 2048u32;
        let req = TpacketReq3 {
            block_size: size.block_bytes,
            block_nr: size.blocks,
            frame_size,
            frame_nr: size.block_bytes / frame_size * size.blocks,
            retire_blk_tov: size.retire_after.as_millis().clamp(1, u32::MAX as u128) as u32,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        sys::setsockopt(fd, sys::SOL_PACKET, PACKET_RX_RING, &req)?;
        let len = size.block_bytes as usize * size.blocks as usize;
        // SAFETY: maps the ring the kernel just allocated for this socket; the result is
        // checked; the mapping lives until `Drop` unmaps it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base =
            NonNull::new(p as *mut u8).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Ring {
            base,
            len,
            block_bytes: size.block_bytes as usize,
            blocks: size.blocks as usize,
            block: 0,
            cursor: None,
        })
    }

    /// The status word of block `b`, shared with the kernel.
    fn status(&self, b: usize) -> &AtomicU32 {
        // SAFETY: `b < blocks`, so the word lies inside the mapping; it is 4-byte aligned
        // (blocks are page aligned) and the kernel accesses it as a 32-bit word.
        unsafe {
            &*(self.base.as_ptr().add(b * self.block_bytes + BLOCK_STATUS) as *const AtomicU32)
        }
    }

    /// Reads a native-endian u32 at `off` in block `b`, if inside the block.
    fn read_u32(&self, b: usize, off: usize) -> Option<u32> {
        if off.checked_add(4)? > self.block_bytes {
            return None;
        }
        // SAFETY: `off + 4 <= block_bytes` and `b < blocks`: inside the mapping.
        Some(unsafe {
            std::ptr::read_unaligned(
                self.base.as_ptr().add(b * self.block_bytes + off) as *const u32
            )
        })
    }

    fn read_u16(&self, b: usize, off: usize) -> Option<u16> {
        if off.checked_add(2)? > self.block_bytes {
            return None;
        }
        // SAFETY: as in `read_u32`.
        Some(unsafe {
            std::ptr::read_unaligned(
                self.base.as_ptr().add(b * self.block_bytes + off) as *const u16
            )
        })
    }

    fn bytes(&self, b: usize, off: usize, len: usize) -> Option<&[u8]> {
        if off.checked_add(len)? > self.block_bytes {
            return None;
        }
        // SAFETY: the range lies inside block `b` of the mapping; the kernel does not
        // write a block while the reader owns it (TP_STATUS_USER).
        Some(unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().add(b * self.block_bytes + off), len)
        })
    }

    /// True when the current block holds frames for the reader.
    pub(crate) fn ready(&self) -> bool {
        self.cursor.is_some()
            || self.status(self.block).load(Ordering::Acquire) & TP_STATUS_USER != 0
    }

    /// The next frame, or `None` when the ring holds none right now.
    pub(crate) fn next(&mut self) -> Option<TapFrame> {
        loop {
            let b = self.block;
            let (left, off) = match self.cursor {
                Some(c) => c,
                None => {
                    if self.status(b).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                        return None;
                    }
                    let n = self.read_u32(b, BLOCK_NUM_PKTS).unwrap_or(0);
                    let first = self.read_u32(b, BLOCK_FIRST_PKT).unwrap_or(0) as usize;
                    (n, first)
                }
            };
            if left == 0 {
                self.release();
                continue;
            }
            let frame = self.frame_at(b, off);
            let next = self.read_u32(b, off + PKT_NEXT).unwrap_or(0) as usize;
            if frame.is_none() || next == 0 && left > 1 {
                // A malformed block: give it back rather than read out of bounds.
                self.release();
                continue;
            }
            self.cursor = Some((left - 1, off + next));
            if let Some(f) = frame {
                return Some(f);
            }
        }
    }

    fn frame_at(&self, b: usize, off: usize) -> Option<TapFrame> {
        let sec = self.read_u32(b, off + PKT_SEC)?;
        let nsec = self.read_u32(b, off + PKT_NSEC)?;
        let snaplen = self.read_u32(b, off + PKT_SNAPLEN)? as usize;
        let wire_len = self.read_u32(b, off + PKT_LEN)? as usize;
        let mac = usize::from(self.read_u16(b, off + PKT_MAC)?);
        let pkttype = self.bytes(b, off + PKT_SLL + SLL_PKTTYPE, 1)?[0];
        let data = self.bytes(b, off + mac, snaplen)?.to_vec();
        Some(TapFrame {
            timestamp: Duration::new(u64::from(sec), nsec.min(999_999_999)),
            data,
            wire_len,
            direction: if pkttype == PACKET_OUTGOING {
                Direction::Outgoing
            } else {
                Direction::Incoming
            },
        })
    }

    /// Hands the current block back to the kernel and moves to the next.
    fn release(&mut self) {
        self.status(self.block)
            .store(TP_STATUS_KERNEL, Ordering::Release);
        self.block = (self.block + 1) % self.blocks;
        self.cursor = None;
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `setup`; no reference into it
        // outlives `self` (frames are copied out).
        unsafe {
            libc::munmap(self.base.as_ptr() as *mut libc::c_void, self.len);
        }
    }
}
