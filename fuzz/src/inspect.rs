//! The read-only inspector (`annulus::inspect`, what the `annulus` tool
//! shows), over whatever the region holds.
#![allow(unsafe_code)]

use annulus::inspect::inspect_raw;

use crate::region::Region;

/// Role slots and records an inspection may list: the most any kind has
/// (1 024 MPMC participants or robust holders), with room to spare.
const MAX_ROLES: usize = 2_048;

/// Inspects the first `len` bytes of `region`: the header, the counters,
/// every role. Returns whether the inspector accepted the region.
pub(crate) fn region(region: &Region, len: usize) -> bool {
    // SAFETY: `len` bytes of the live allocation, initialised (zeroed, then
    // laid out, then written whole by the peer), which outlives the
    // inspection, dropped before this returns.
    let Ok(inspection) = (unsafe { inspect_raw(region.ptr(), len.min(region.len())) }) else {
        return false;
    };
    let _ = (
        inspection.header(),
        inspection.kind(),
        inspection.counters(),
    );
    let _ = inspection.set_counter(inspection.header().capacity);
    let mut roles = inspection.roles();
    assert!(
        roles.nth(MAX_ROLES).is_none(),
        "an inspection listed more than {MAX_ROLES} roles"
    );
    true
}
