//! Layer compression, told apart by magic bytes as Docker does: gzip,
//! zstd, or none. bzip2 and xz are refused with a clear error.

use std::io::{BufRead, BufReader, Read};

use crate::EngineError;

/// The largest zstd window we accept (bounds decoder memory on devices).
const MAX_ZSTD_WINDOW: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn detect(head: &[u8]) -> Result<Compression, EngineError> {
    Ok(match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [b'B', b'Z', b'h', ..] => {
            return Err(EngineError::InvalidArgument(
                "unsupported layer compression: bzip2".into(),
            ))
        }
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => {
            return Err(EngineError::InvalidArgument(
                "unsupported layer compression: xz".into(),
            ))
        }
        _ => Compression::None,
    })
}

/// Wraps `r` in the decompressor its first bytes call for.
pub fn decompress<'a>(r: impl Read + 'a) -> Result<Box<dyn Read + 'a>, EngineError> {
    let mut br = BufReader::with_capacity(64 << 10, r);
    let head = br
        .fill_buf()
        .map_err(|e| EngineError::InvalidArgument(format!("reading layer: {e}")))?;
    Ok(match detect(head)? {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new_with_max_window_size(br, MAX_ZSTD_WINDOW)
                .map_err(|e| EngineError::InvalidArgument(format!("zstd layer: {e}")))
                .map(ZstdRead)?,
        ),
    })
}

/// ruzstd's decoder wrapped so its errors surface as `io::Error`s.
struct ZstdRead<R: Read>(ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>);

impl<R: Read> Read for ZstdRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn magic_bytes_pick_the_decoder() {
        assert_eq!(detect(&[0x1f, 0x8b, 8]).unwrap(), Compression::Gzip);
        assert_eq!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd]).unwrap(),
            Compression::Zstd
        );
        assert_eq!(detect(b"ustar").unwrap(), Compression::None);
        assert!(detect(b"BZh9").is_err());
        assert!(detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]).is_err());
    }

    #[test]
    fn gzip_and_plain_round_trip() {
        let data = b"hello layer".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let mut out = Vec::new();
        decompress(&gz[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let mut out = Vec::new();
        decompress(&data[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn zstd_layers_decode() {
        // `zstd -c` of "hello\n", made with the zstd CLI.
        let z: [u8; 19] = [
            0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x31, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
            0x0a, 0x53, 0x88, 0xbd, 0x91,
        ];
        let mut out = Vec::new();
        decompress(&z[..]).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello\n");
    }
}
