//! Views for in-place (zero-copy) sends and receives: [`WriteBuf`] and [`ReadBuf`].
//!
//! Over shared memory they point straight into the ring the peer also maps, so they are not
//! Rust slices: a misbehaving peer could change those bytes at any moment, and Rust references
//! must never alias memory another process can write. Both types therefore move bytes with
//! explicit copies (`write_at`, `read_at`, `to_vec`) and offer raw pointers for code that needs
//! them, under the contract written on each method. Over sockets they wrap ordinary memory and
//! behave the same way.

use std::marker::PhantomData;
use std::ptr;

/// Space for one outgoing message, written in place (see [`Channel::send_with`]).
///
/// [`Channel::send_with`]: crate::Channel::send_with
#[derive(Debug)]
pub struct WriteBuf<'a> {
    ptr: *mut u8,
    len: usize,
    _life: PhantomData<&'a mut [u8]>,
}

impl<'a> WriteBuf<'a> {
    /// # Safety
    /// `ptr` must be valid for writes of `len` bytes for `'a`, and only this side writes it.
    pub(crate) unsafe fn from_raw(ptr: *mut u8, len: usize) -> WriteBuf<'a> {
        WriteBuf {
            ptr,
            len,
            _life: PhantomData,
        }
    }

    /// The message length (fixed when the buffer was reserved).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copy `src` into the message at `offset`.
    ///
    /// # Panics
    /// If `offset + src.len()` exceeds [`len`](Self::len).
    pub fn write_at(&mut self, offset: usize, src: &[u8]) {
        assert!(
            offset
                .checked_add(src.len())
                .is_some_and(|end| end <= self.len),
            "write_at past the end"
        );
        // SAFETY: in bounds (checked above); valid for writes per the constructor's contract.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(offset), src.len()) };
    }

    /// Fill the message with a byte.
    pub fn fill(&mut self, byte: u8) {
        // SAFETY: `len` bytes are valid for writes per the constructor's contract.
        unsafe { ptr::write_bytes(self.ptr, byte, self.len) };
    }

    /// The start of the message. Valid for writes of [`len`](Self::len) bytes until the closure
    /// given to `send_with` returns (or the [`SendSlot`](crate::SendSlot) it came from is
    /// finished). Write through raw pointers only (no `&mut [u8]` over it:
    /// with shared memory, the peer process maps these bytes too). Bytes not written are sent as
    /// whatever the memory held (not necessarily zero).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }
}

/// A received message read in place (see [`Channel::recv_with`]).
///
/// [`Channel::recv_with`]: crate::Channel::recv_with
#[derive(Debug)]
pub struct ReadBuf<'a> {
    ptr: *const u8,
    len: usize,
    _life: PhantomData<&'a [u8]>,
}

impl<'a> ReadBuf<'a> {
    /// # Safety
    /// `ptr` must be valid for reads of `len` bytes for `'a` (the bytes may change under a
    /// misbehaving peer; they are only ever copied).
    pub(crate) unsafe fn from_raw(ptr: *const u8, len: usize) -> ReadBuf<'a> {
        ReadBuf {
            ptr,
            len,
            _life: PhantomData,
        }
    }

    /// The message length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copy `dst.len()` bytes starting at `offset` into `dst`.
    ///
    /// # Panics
    /// If `offset + dst.len()` exceeds [`len`](Self::len).
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) {
        assert!(
            offset
                .checked_add(dst.len())
                .is_some_and(|end| end <= self.len),
            "read_at past the end"
        );
        // SAFETY: in bounds (checked above); valid for reads per the constructor's contract.
        unsafe { ptr::copy_nonoverlapping(self.ptr.add(offset), dst.as_mut_ptr(), dst.len()) };
    }

    /// Copy the whole message into a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        // SAFETY: the vector has capacity `len`; the source is valid for `len` bytes; every
        // byte is initialised by the copy before `set_len`.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr, v.as_mut_ptr(), self.len);
            v.set_len(self.len);
        }
        v
    }

    /// The start of the message. Valid for reads of [`len`](Self::len) bytes until the closure
    /// given to `recv_with` returns (or the [`RecvSlot`](crate::RecvSlot) it came from drops). Over shared memory a misbehaving peer could change these
    /// bytes while you read them: copy what you need before validating it, and never build a
    /// `&[u8]` over it.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }
}
