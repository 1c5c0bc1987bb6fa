//! The operator's session context flags.

use crate::wire::{AfiSafi, SessionContext};

/// Session properties forced by the operator (`understudy decode` flags). Each one, when
/// set, holds whatever the OPENs or the MRT record say; unset ones change nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextOverrides {
    /// Decode AS numbers as 4 octets (RFC 6793).
    pub four_octet_as: bool,
    /// AFI/SAFIs whose NLRI carry Path Identifiers (RFC 7911), in both directions.
    pub add_path: Vec<AfiSafi>,
    /// Accept messages up to 65535 octets (RFC 8654).
    pub extended_message: bool,
    /// Internal BGP session.
    pub ibgp: bool,
}

impl ContextOverrides {
    /// Applies the overrides to `ctx`.
    pub fn apply(&self, ctx: &mut SessionContext) {
        ctx.four_octet_as |= self.four_octet_as;
        ctx.extended_message |= self.extended_message;
        ctx.ibgp |= self.ibgp;
        for f in &self.add_path {
            if !ctx.add_path_receive.contains(f) {
                ctx.add_path_receive.push(*f);
            }
            if !ctx.add_path_send.contains(f) {
                ctx.add_path_send.push(*f);
            }
            if !ctx.afi_safis.contains(f) {
                ctx.afi_safis.push(*f);
            }
        }
    }

    /// The base context with the overrides applied: [`SessionContext::new`] (nothing
    /// negotiated) plus IPv6 unicast, so MP_REACH_NLRI of IPv6 decodes.
    pub fn base_context(&self) -> SessionContext {
        let mut ctx = SessionContext::new();
        ctx.afi_safis.push(AfiSafi::IPV6_UNICAST);
        self.apply(&mut ctx);
        ctx
    }
}
