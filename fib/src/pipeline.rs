//! Many requests per datagram, many datagrams in flight, acknowledgements matched by
//! sequence number.
//!
//! Each request gets the next sequence number. Only the last request of a datagram
//! asks for an acknowledgement (NLM_F_ACK); the kernel processes a datagram's
//! requests in order and reports an error for any request that fails whether or not
//! it asked for an acknowledgement (netlink(7)). So when the acknowledgement (or
//! error) of sequence number S arrives, every earlier request without an error
//! report has succeeded. At most `window` datagrams are unacknowledged at a time, so
//! that the replies fit in the socket's receive buffer.

use std::collections::VecDeque;
use std::io;

use crate::codec::{messages, set_ack};
use crate::socket::NlSocket;

/// Requests per datagram by default.
pub const DEFAULT_BATCH: usize = 64;
/// Unacknowledged datagrams by default.
pub const DEFAULT_WINDOW: usize = 32;

/// A finished request: its tag and 0 or the positive errno.
#[derive(Debug)]
pub(crate) struct Done<T> {
    pub tag: T,
    pub errno: i32,
}

#[derive(Debug)]
struct Pending<T> {
    seq: u32,
    tag: T,
}

/// The request pipeline of one socket.
#[derive(Debug)]
pub(crate) struct Pipeline<T> {
    batch: usize,
    window: usize,
    buf: Vec<u8>,
    last_offset: usize,
    in_buf: usize,
    /// Requests sent or buffered, oldest first; their sequence numbers are consecutive.
    pending: VecDeque<Pending<T>>,
    /// Sequence number of the last request of every datagram in flight.
    datagrams: VecDeque<u32>,
    next_seq: u32,
    rx: Vec<u8>,
}

impl<T> Pipeline<T> {
    pub fn new(batch: usize, window: usize) -> Self {
        Self {
            batch: batch.max(1),
            window: window.max(1),
            buf: Vec::with_capacity(batch.max(1) * 128),
            last_offset: 0,
            in_buf: 0,
            pending: VecDeque::new(),
            datagrams: VecDeque::new(),
            next_seq: 1,
            rx: Vec::with_capacity(1 << 20),
        }
    }

    /// Queues one request, written by `encode` (given the buffer and the sequence
    /// number, returns the request's offset); sends a datagram when the batch is full.
    pub fn push(
        &mut self,
        sock: &NlSocket,
        encode: impl FnOnce(&mut Vec<u8>, u32) -> usize,
        tag: T,
        done: &mut Vec<Done<T>>,
    ) -> io::Result<()> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.last_offset = encode(&mut self.buf, seq);
        self.pending.push_back(Pending { seq, tag });
        self.in_buf += 1;
        if self.in_buf >= self.batch {
            self.flush(sock, done)?;
        }
        Ok(())
    }

    /// Sends the partial datagram, if any.
    pub fn flush(&mut self, sock: &NlSocket, done: &mut Vec<Done<T>>) -> io::Result<()> {
        if self.in_buf == 0 {
            return Ok(());
        }
        set_ack(&mut self.buf, self.last_offset);
        let last_seq = self.next_seq.wrapping_sub(1);
        let sent = sock.send(&self.buf);
        self.buf.clear();
        self.in_buf = 0;
        if let Err(e) = sent {
            self.fail_all(e.raw_os_error().unwrap_or(libc::EIO), done);
            return Err(e);
        }
        self.datagrams.push_back(last_seq);
        while self.datagrams.len() >= self.window {
            self.recv_one(sock, done)?;
        }
        Ok(())
    }

    /// Sends what is buffered and waits for every reply.
    pub fn finish(&mut self, sock: &NlSocket, done: &mut Vec<Done<T>>) -> io::Result<()> {
        self.flush(sock, done)?;
        while !self.datagrams.is_empty() {
            self.recv_one(sock, done)?;
        }
        Ok(())
    }

    fn fail_all(&mut self, errno: i32, done: &mut Vec<Done<T>>) {
        done.extend(self.pending.drain(..).map(|p| Done { tag: p.tag, errno }));
        self.datagrams.clear();
    }

    fn recv_one(&mut self, sock: &NlSocket, done: &mut Vec<Done<T>>) -> io::Result<()> {
        if let Err(e) = sock.recv(&mut self.rx) {
            // ENOBUFS: replies were dropped, the fate of every request in flight is
            // unknown. Report them failed; the caller forgets what it assumed.
            self.fail_all(e.raw_os_error().unwrap_or(libc::EIO), done);
            return if e.raw_os_error() == Some(libc::ENOBUFS) {
                Ok(())
            } else {
                Err(e)
            };
        }
        let rx = std::mem::take(&mut self.rx);
        for m in messages(&rx) {
            if let Some(errno) = m.errno() {
                self.complete(m.seq, errno, done);
            }
        }
        self.rx = rx;
        Ok(())
    }

    /// The reply for `seq`: every older pending request succeeded.
    fn complete(&mut self, seq: u32, errno: i32, done: &mut Vec<Done<T>>) {
        let Some(front) = self.pending.front() else {
            return;
        };
        let index = seq.wrapping_sub(front.seq) as usize;
        if index >= self.pending.len() {
            return; // not ours (a stale reply)
        }
        for p in self.pending.drain(..index) {
            done.push(Done {
                tag: p.tag,
                errno: 0,
            });
        }
        if let Some(p) = self.pending.pop_front() {
            done.push(Done { tag: p.tag, errno });
        }
        while let Some(&last) = self.datagrams.front() {
            // Datagrams whose last request is now answered are complete.
            if self
                .pending
                .front()
                .is_some_and(|p| p.seq.wrapping_sub(last) as i32 <= 0)
            {
                break;
            }
            self.datagrams.pop_front();
        }
    }
}
