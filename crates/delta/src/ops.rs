//! librsync delta command encoding: magic numbers, opcodes and the
//! smallest-width big-endian integer encoding librsync uses.

/// Delta file magic (`RS_DELTA_MAGIC`).
pub(crate) const DELTA_MAGIC: u32 = 0x7273_0236;
/// Signature magic for MD4 strong sums with the rollsum weak sum.
pub(crate) const MD4_SIG_MAGIC: u32 = 0x7273_0136;
/// Signature magic for BLAKE2b strong sums with the rollsum weak sum.
pub(crate) const BLAKE2_SIG_MAGIC: u32 = 0x7273_0137;
/// librsync >= 2.2 RabinKarp weak-sum variants (not supported, named in errors).
pub(crate) const RK_MD4_SIG_MAGIC: u32 = 0x7273_0146;
pub(crate) const RK_BLAKE2_SIG_MAGIC: u32 = 0x7273_0147;

pub(crate) const OP_END: u8 = 0x00;
/// Literal whose length is the opcode itself (1..=64).
pub(crate) const OP_LITERAL_MAX_IMMEDIATE: u8 = 0x40;
/// Literal with a 1/2/4/8-byte length parameter: 0x41..=0x44.
pub(crate) const OP_LITERAL_N1: u8 = 0x41;
/// Copy with offset and length parameters: 0x45..=0x54.
pub(crate) const OP_COPY_N1_N1: u8 = 0x45;
pub(crate) const OP_COPY_N8_N8: u8 = 0x54;

/// Index (0..=3) of the smallest of the widths 1, 2, 4, 8 bytes that holds `v`.
pub(crate) fn width_index(v: u64) -> u8 {
    if v <= 0xff {
        0
    } else if v <= 0xffff {
        1
    } else if v <= 0xffff_ffff {
        2
    } else {
        3
    }
}

/// Width in bytes for a width index.
pub(crate) fn width_bytes(idx: u8) -> usize {
    1 << idx
}

fn put_be(buf: &mut [u8; 17], at: usize, v: u64, idx: u8) -> usize {
    let n = width_bytes(idx);
    let be = v.to_be_bytes();
    buf[at..at + n].copy_from_slice(&be[8 - n..]);
    at + n
}

/// Encodes the header of a literal command of `len` bytes (len >= 1) into
/// `buf`, returning how many bytes were used.
pub(crate) fn encode_literal_header(len: u64, buf: &mut [u8; 17]) -> usize {
    if len >= 1 && len <= u64::from(OP_LITERAL_MAX_IMMEDIATE) {
        buf[0] = len as u8;
        return 1;
    }
    let idx = width_index(len);
    buf[0] = OP_LITERAL_N1 + idx;
    put_be(buf, 1, len, idx)
}

/// Encodes a copy command into `buf`, returning how many bytes were used.
pub(crate) fn encode_copy(pos: u64, len: u64, buf: &mut [u8; 17]) -> usize {
    let pi = width_index(pos);
    let li = width_index(len);
    buf[0] = OP_COPY_N1_N1 + 4 * pi + li;
    let at = put_be(buf, 1, pos, pi);
    put_be(buf, at, len, li)
}

/// What an opcode means, as the patcher needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    End,
    /// Literal whose length is known from the opcode.
    LiteralImmediate(u64),
    /// Literal whose length follows in this many bytes.
    Literal {
        len_width: usize,
    },
    /// Copy whose offset and length follow in these many bytes.
    Copy {
        pos_width: usize,
        len_width: usize,
    },
}

/// Decodes an opcode; `None` for the reserved opcodes above 0x54.
pub(crate) fn decode_op(op: u8) -> Option<Op> {
    match op {
        OP_END => Some(Op::End),
        1..=OP_LITERAL_MAX_IMMEDIATE => Some(Op::LiteralImmediate(u64::from(op))),
        0x41..=0x44 => Some(Op::Literal {
            len_width: width_bytes(op - OP_LITERAL_N1),
        }),
        OP_COPY_N1_N1..=OP_COPY_N8_N8 => {
            let k = op - OP_COPY_N1_N1;
            Some(Op::Copy {
                pos_width: width_bytes(k / 4),
                len_width: width_bytes(k % 4),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(len: u64) -> Vec<u8> {
        let mut b = [0u8; 17];
        let n = encode_literal_header(len, &mut b);
        b[..n].to_vec()
    }

    fn copy(pos: u64, len: u64) -> Vec<u8> {
        let mut b = [0u8; 17];
        let n = encode_copy(pos, len, &mut b);
        b[..n].to_vec()
    }

    #[test]
    fn literal_headers_use_immediate_then_smallest_width() {
        assert_eq!(lit(1), vec![0x01]);
        assert_eq!(lit(64), vec![0x40]);
        assert_eq!(lit(65), vec![0x41, 65]);
        assert_eq!(lit(255), vec![0x41, 0xff]);
        assert_eq!(lit(256), vec![0x42, 0x01, 0x00]);
        assert_eq!(lit(65_536), vec![0x43, 0, 1, 0, 0]);
        assert_eq!(lit(1 << 32), vec![0x44, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn copy_commands_pick_widths_independently() {
        assert_eq!(copy(0, 512), vec![0x46, 0x00, 0x02, 0x00]);
        assert_eq!(copy(512, 5), vec![0x49, 0x02, 0x00, 0x05]);
        assert_eq!(copy(0x1_0000, 0x1_0000), vec![0x4f, 0, 1, 0, 0, 0, 1, 0, 0]);
        assert_eq!(
            copy(0x1_0000_0000, 1),
            vec![0x51, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        );
        assert_eq!(copy(u64::MAX, u64::MAX).len(), 17);
        assert_eq!(copy(u64::MAX, u64::MAX)[0], OP_COPY_N8_N8);
    }

    #[test]
    fn decode_covers_every_opcode() {
        assert_eq!(decode_op(0), Some(Op::End));
        assert_eq!(decode_op(0x20), Some(Op::LiteralImmediate(32)));
        assert_eq!(decode_op(0x43), Some(Op::Literal { len_width: 4 }));
        assert_eq!(
            decode_op(0x4b),
            Some(Op::Copy {
                pos_width: 2,
                len_width: 4
            })
        );
        assert_eq!(
            decode_op(0x54),
            Some(Op::Copy {
                pos_width: 8,
                len_width: 8
            })
        );
        for op in 0x55..=0xffu8 {
            assert_eq!(decode_op(op), None);
        }
    }

    #[test]
    fn decode_inverts_encode_widths() {
        for (pos, len) in [(0u64, 1u64), (300, 70_000), (1 << 40, 3), (5, 1 << 33)] {
            let c = copy(pos, len);
            let Some(Op::Copy {
                pos_width,
                len_width,
            }) = decode_op(c[0])
            else {
                panic!("not a copy")
            };
            assert_eq!(1 + pos_width + len_width, c.len());
        }
    }
}
