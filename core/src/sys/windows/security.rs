//! The security descriptor every named pipe is created with: full access for the user this
//! process runs as and for SYSTEM, nobody else (SDDL `D:P(A;;GA;;;<user SID>)(A;;GA;;;SY)`, a
//! protected DACL, so nothing is inherited). Without it the default DACL lets Everyone and
//! anonymous users read the pipe.

use std::os::windows::io::AsRawHandle;

use windows_sys::Win32::Foundation::{HLOCAL, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
    TokenUser,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::{last_error, win_error};
use crate::error::Result;

/// A self-relative security descriptor allocated by the system (freed with `LocalFree`).
#[derive(Debug)]
pub(super) struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

// SAFETY: the descriptor is never changed after it is made, and the system only reads it.
unsafe impl Send for SecurityDescriptor {}
// SAFETY: as above.
unsafe impl Sync for SecurityDescriptor {}

impl SecurityDescriptor {
    /// Access for the current user and SYSTEM only.
    pub(super) fn user_and_system() -> Result<SecurityDescriptor> {
        let sddl = format!("D:P(A;;GA;;;{})(A;;GA;;;SY)", user_sid()?);
        let wide: Vec<u16> = sddl.encode_utf16().chain([0]).collect();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `wide` is NUL-terminated; `sd` receives a LocalAlloc'd descriptor we own.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(win_error(
                last_error(),
                "building the pipe's security descriptor",
            ));
        }
        Ok(SecurityDescriptor(sd))
    }

    /// Attributes naming this descriptor (not inheritable). Valid while `self` lives.
    pub(super) fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.0,
            bInheritHandle: 0,
        }
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: the descriptor was allocated by the system for us and is freed once.
        unsafe { LocalFree(self.0 as HLOCAL) };
    }
}

/// The string form (`S-1-5-21-…`) of a SID.
pub(super) fn sid_string(sid: PSID) -> Result<String> {
    let mut s: *mut u16 = std::ptr::null_mut();
    // SAFETY: `sid` points to a valid SID (the caller's); `s` receives a LocalAlloc'd string.
    if unsafe { ConvertSidToStringSidW(sid, &mut s) } == 0 {
        return Err(win_error(last_error(), "ConvertSidToStringSidW"));
    }
    // SAFETY: `s` is a NUL-terminated UTF-16 string the system allocated for us.
    let len = (0..).take_while(|&i| unsafe { *s.add(i) } != 0).count();
    // SAFETY: `s` is valid for `len` units (counted above).
    let out = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(s, len) });
    // SAFETY: allocated by ConvertSidToStringSidW for us, freed once.
    unsafe { LocalFree(s as HLOCAL) };
    Ok(out)
}

/// The SID of the user this process runs as, from its token.
pub(super) fn user_sid() -> Result<String> {
    let mut token = std::ptr::null_mut();
    // SAFETY: the pseudo-handle of this process; `token` receives a handle we own.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(win_error(last_error(), "OpenProcessToken"));
    }
    let token = super::owned(token, "OpenProcessToken")?;
    let mut len = 0u32;
    // SAFETY: asks for the size only (no buffer).
    unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            std::ptr::null_mut(),
            0,
            &mut len,
        )
    };
    // u64s, so the TOKEN_USER at its start is aligned.
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    // SAFETY: `buf` has room for `len` bytes and is aligned for TOKEN_USER.
    let ok = unsafe {
        GetTokenInformation(
            token.as_raw_handle(),
            TokenUser,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut len,
        )
    };
    if ok == 0 {
        return Err(win_error(last_error(), "GetTokenInformation(TokenUser)"));
    }
    // SAFETY: the call filled `buf` with a TOKEN_USER whose SID points into `buf`, alive here.
    let sid = unsafe { (*buf.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    sid_string(sid)
}

/// The SIDs (string form) of the access-allowed entries in the DACL of the object `h`, and
/// whether the DACL has any other kind of entry.
#[cfg(test)]
pub(super) fn dacl_entries(
    h: windows_sys::Win32::Foundation::HANDLE,
) -> Result<(Vec<String>, bool)> {
    use windows_sys::Win32::Security::Authorization::{GetSecurityInfo, SE_KERNEL_OBJECT};
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, AclSizeInformation,
        DACL_SECURITY_INFORMATION, GetAce, GetAclInformation,
    };
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `h` is a live handle (the caller's); the out pointers are valid; `sd` is
    // freed below.
    let rc = unsafe {
        GetSecurityInfo(
            h,
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != 0 {
        return Err(win_error(rc, "GetSecurityInfo"));
    }
    let _free = Local(sd);
    assert!(!dacl.is_null(), "a null DACL grants everyone everything");
    let mut info: ACL_SIZE_INFORMATION = ACL_SIZE_INFORMATION {
        AceCount: 0,
        AclBytesInUse: 0,
        AclBytesFree: 0,
    };
    // SAFETY: `dacl` points into `sd`, alive; `info` is the size the class asks for.
    let ok = unsafe {
        GetAclInformation(
            dacl,
            (&raw mut info).cast(),
            std::mem::size_of::<ACL_SIZE_INFORMATION>() as u32,
            AclSizeInformation,
        )
    };
    if ok == 0 {
        return Err(win_error(last_error(), "GetAclInformation"));
    }
    let (mut sids, mut other) = (Vec::new(), false);
    for i in 0..info.AceCount {
        let mut ace = std::ptr::null_mut();
        // SAFETY: `i` is below the ACE count of this live ACL.
        if unsafe { GetAce(dacl, i, &mut ace) } == 0 {
            return Err(win_error(last_error(), "GetAce"));
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        let header = unsafe { *ace.cast::<ACE_HEADER>() };
        if u32::from(header.AceType) == 0 {
            // ACCESS_ALLOWED_ACE_TYPE: the SID starts at `SidStart`.
            let ace = ace.cast::<ACCESS_ALLOWED_ACE>();
            // SAFETY: an access-allowed ACE, alive with `sd`.
            sids.push(sid_string(unsafe { (&raw mut (*ace).SidStart).cast() })?);
        } else {
            other = true;
        }
    }
    Ok((sids, other))
}

/// Frees a LocalAlloc'd block on drop.
#[cfg(test)]
struct Local(*mut core::ffi::c_void);

#[cfg(test)]
impl Drop for Local {
    fn drop(&mut self) {
        // SAFETY: allocated by the system for us, freed once.
        unsafe { LocalFree(self.0 as HLOCAL) };
    }
}
