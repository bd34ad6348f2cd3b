//! librsync's "rollsum" weak checksum (an Adler-32 variant with a character
//! offset of 31), digest `s2 << 16 | s1`.
//!
//! Written by hand: the existing crates implement rsync's or bup's rolling
//! sums, which differ from librsync's in the character offset and digest
//! layout, and a wrong weak sum silently produces signatures that match
//! nothing.

/// Added to every byte before summing (librsync `ROLLSUM_CHAR_OFFSET`).
const CHAR_OFFSET: u16 = 31;

/// Rolling weak checksum state over a window of `count` bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rollsum {
    count: u64,
    s1: u16,
    s2: u16,
}

impl Rollsum {
    /// The checksum of `data` from an empty state.
    pub(crate) fn of(data: &[u8]) -> Self {
        let mut sum = Self::default();
        sum.update(data);
        sum
    }

    /// Appends `data` to the window.
    pub(crate) fn update(&mut self, data: &[u8]) {
        let mut s1 = self.s1;
        let mut s2 = self.s2;
        for &b in data {
            s1 = s1.wrapping_add(u16::from(b));
            s2 = s2.wrapping_add(s1);
        }
        // The offset terms, added in bulk as librsync does: each byte adds 31
        // to s1, and the i-th new byte adds i*31 to s2. Truncation to 16 bits
        // commutes with + and *, but the division must happen on the exact
        // value, hence u128 for the triangular number.
        let len = data.len() as u128;
        let off = u128::from(CHAR_OFFSET);
        s1 = s1.wrapping_add((len * off) as u16);
        s2 = s2.wrapping_add((((len * (len + 1)) / 2) * off) as u16);
        self.s1 = s1;
        self.s2 = s2;
        self.count += data.len() as u64;
    }

    /// Slides the window by one byte: `out` leaves at the front, `inp`
    /// enters at the back.
    #[inline]
    pub(crate) fn rotate(&mut self, out: u8, inp: u8) {
        let out = u16::from(out).wrapping_add(CHAR_OFFSET);
        let inp = u16::from(inp).wrapping_add(CHAR_OFFSET);
        self.s1 = self.s1.wrapping_add(inp).wrapping_sub(out);
        self.s2 = self
            .s2
            .wrapping_add(self.s1)
            .wrapping_sub((self.count as u16).wrapping_mul(out));
    }

    /// Removes `out` from the front of the window (shrinks it by one).
    #[inline]
    pub(crate) fn rollout(&mut self, out: u8) {
        let out = u16::from(out).wrapping_add(CHAR_OFFSET);
        self.s1 = self.s1.wrapping_sub(out);
        self.s2 = self.s2.wrapping_sub((self.count as u16).wrapping_mul(out));
        self.count = self.count.saturating_sub(1);
    }

    /// The 32-bit digest: `s2 << 16 | s1`.
    #[inline]
    pub(crate) fn digest(&self) -> u32 {
        (u32::from(self.s2) << 16) | u32::from(self.s1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_is_zero() {
        assert_eq!(Rollsum::of(&[]).digest(), 0);
    }

    #[test]
    fn digest_of_known_inputs() {
        // One byte 0x00: s1 = 31, s2 = 31.
        assert_eq!(Rollsum::of(&[0]).digest(), (31 << 16) | 31);
        // "ab": s1 = 97+31 + 98+31 = 257, s2 = 128 + 257 = 385.
        assert_eq!(Rollsum::of(b"ab").digest(), (385 << 16) | 257);
    }

    #[test]
    fn update_in_pieces_equals_update_at_once() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut a = Rollsum::default();
        a.update(&data[..333]);
        a.update(&data[333..]);
        assert_eq!(a, Rollsum::of(&data));
    }

    #[test]
    fn rotate_equals_fresh_sum_of_shifted_window() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 131 + i / 7) as u8).collect();
        let w = 512;
        let mut sum = Rollsum::of(&data[..w]);
        for p in 0..data.len() - w {
            sum.rotate(data[p], data[p + w]);
            assert_eq!(sum.digest(), Rollsum::of(&data[p + 1..p + 1 + w]).digest());
        }
    }

    #[test]
    fn rollout_equals_fresh_sum_of_shorter_window() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 13) as u8).collect();
        let mut sum = Rollsum::of(&data);
        for p in 0..data.len() {
            sum.rollout(data[p]);
            assert_eq!(sum, Rollsum::of(&data[p + 1..]));
        }
    }
}
