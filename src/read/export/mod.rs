//! Readers of device exports: the configuration a device really runs, as
//! the device prints it, into the [`super::device::Device`] model. One
//! module per target; each target's [`super::Reader::device`] calls it.
//!
//! These read what a device prints, which is far more than wardwall writes
//! (other tools' tables, object groups, NAT, VPNs): what decides forwarded
//! traffic is modelled, what does not is skipped and listed
//! ([`super::device::Device::skipped`]), and what is not understood is an
//! error with its line and column, never a guess.

pub mod cisco;
pub mod cisco_tables;
pub mod nftables;
pub mod panos;
pub mod pfsense;

/// The 1-based line and column of byte `offset` in `text` (columns count
/// characters).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_col_counts_lines_and_characters() {
        let t = "ab\ncdé\nf";
        assert_eq!(super::line_col(t, 0), (1, 1));
        assert_eq!(super::line_col(t, 3), (2, 1));
        assert_eq!(super::line_col(t, t.find('f').unwrap()), (3, 1));
        assert_eq!(super::line_col(t, t.len()), (3, 2));
    }
}
