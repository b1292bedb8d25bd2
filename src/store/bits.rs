//! Byte- and bit-level primitives for the block codec: LEB128 varints, zigzag, and a bit
//! writer/reader for the XOR value stream.
//!
//! Everything that reads is bounds-checked and returns [`Truncated`] or [`Overlong`] instead of
//! panicking: block bytes come from disk and may be damaged, and a damaged block must surface as
//! `StoreError::Corrupt`, never as a crash of the service.

/// The input ended in the middle of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Truncated;

/// Why a read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadError {
    Truncated,
    /// A varint longer than 10 bytes, or whose 10th byte carries more than the top bit of a
    /// `u64`: no encoder writes one, so it is damage.
    Overlong,
}

impl From<Truncated> for ReadError {
    fn from(_: Truncated) -> Self {
        ReadError::Truncated
    }
}

/// Maps signed integers to unsigned so that small magnitudes of either sign get short varints.
#[inline]
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

#[inline]
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// How many bytes `value` takes as a varint (1 to 10).
#[inline]
pub(crate) fn varint_len(value: u64) -> usize {
    // 7 payload bits per byte; `| 1` makes zero take one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[inline]
pub(crate) fn put_zigzag(out: &mut Vec<u8>, value: i64) {
    put_varint(out, zigzag(value));
}

/// A cursor over block bytes.
pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        ByteReader { bytes, pos: 0 }
    }

    pub(crate) fn byte(&mut self) -> Result<u8, Truncated> {
        let byte = *self.bytes.get(self.pos).ok_or(Truncated)?;
        self.pos += 1;
        Ok(byte)
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, ReadError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let payload = u64::from(byte & 0x7f);
            // The 10th byte (shift 63) may only carry the single remaining bit.
            if shift == 63 && payload > 1 {
                return Err(ReadError::Overlong);
            }
            value |= payload << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ReadError::Overlong)
    }

    #[inline]
    pub(crate) fn zigzag(&mut self) -> Result<i64, ReadError> {
        self.varint().map(unzigzag)
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Skips `n` bytes (already consumed through [`rest`](Self::rest)).
    pub(crate) fn advance(&mut self, n: usize) -> Result<(), Truncated> {
        if n > self.remaining() {
            return Err(Truncated);
        }
        self.pos += n;
        Ok(())
    }
}

/// Writes bits most-significant first, the order Gorilla's paper describes.
pub(crate) struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Bits not yet written out are the low `filled` bits (the newest is bit 0); higher bits
    /// are stale and ignored.
    acc: u64,
    filled: u32,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter {
            out,
            acc: 0,
            filled: 0,
        }
    }

    #[inline]
    pub(crate) fn bit(&mut self, bit: bool) {
        self.bits(u64::from(bit), 1);
    }

    /// Writes the low `count` bits of `value` (`count` at most 64).
    #[inline]
    pub(crate) fn bits(&mut self, value: u64, count: u32) {
        debug_assert!(count <= 64);
        if count == 0 {
            return;
        }
        let value = if count == 64 {
            value
        } else {
            value & ((1u64 << count) - 1)
        };
        // Fill the accumulator in pieces so that it never holds more than 64 bits.
        let mut left = count;
        while left > 0 {
            let room = 64 - self.filled;
            let take = left.min(room);
            let piece = (value >> (left - take)) & mask(take);
            self.acc = if take == 64 {
                piece
            } else {
                (self.acc << take) | piece
            };
            self.filled += take;
            left -= take;
            while self.filled >= 8 {
                self.filled -= 8;
                self.out.push((self.acc >> self.filled) as u8);
            }
        }
    }

    /// Pads the last byte with zero bits.
    pub(crate) fn finish(mut self) {
        if self.filled > 0 {
            let pad = 8 - self.filled;
            self.bits(0, pad);
        }
    }
}

#[inline]
fn mask(count: u32) -> u64 {
    if count >= 64 {
        u64::MAX
    } else {
        (1u64 << count) - 1
    }
}

/// Reads what [`BitWriter`] wrote.
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    #[inline]
    pub(crate) fn bit(&mut self) -> Result<bool, Truncated> {
        let byte = *self.bytes.get(self.pos / 8).ok_or(Truncated)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Ok(bit == 1)
    }

    /// Reads `count` bits (at most 64) as the low bits of the result.
    #[inline]
    pub(crate) fn bits(&mut self, count: u32) -> Result<u64, Truncated> {
        debug_assert!(count <= 64);
        if self.pos + count as usize > self.bytes.len() * 8 {
            return Err(Truncated);
        }
        let mut value = 0u64;
        let mut left = count;
        while left > 0 {
            let byte = self.bytes[self.pos / 8];
            let offset = (self.pos % 8) as u32;
            let available = 8 - offset;
            let take = left.min(available);
            let piece = (u64::from(byte) >> (available - take)) & mask(take);
            value = if take == 64 {
                piece
            } else {
                (value << take) | piece
            };
            self.pos += take as usize;
            left -= take;
        }
        Ok(value)
    }

    /// Whole bytes touched so far (a partly read last byte counts).
    pub(crate) fn bytes_used(&self) -> usize {
        self.pos.div_ceil(8)
    }

    /// True when the bits after the position up to the end of the current byte are all zero,
    /// as [`BitWriter::finish`] leaves them.
    pub(crate) fn padding_is_zero(&self) -> bool {
        let offset = self.pos % 8;
        if offset == 0 {
            return true;
        }
        match self.bytes.get(self.pos / 8) {
            Some(byte) => byte & (0xff >> offset) == 0,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_length() {
        let mut values = vec![0u64, 1, 127, 128, 255, 300, 16_383, 16_384, u64::MAX];
        values.extend((0..64).map(|shift| 1u64 << shift));
        values.extend((1..64).map(|shift| (1u64 << shift) - 1));
        let mut out = Vec::new();
        for &value in &values {
            let before = out.len();
            put_varint(&mut out, value);
            assert_eq!(out.len() - before, varint_len(value), "{value}");
        }
        let mut reader = ByteReader::new(&out);
        for &value in &values {
            assert_eq!(reader.varint(), Ok(value));
        }
        assert_eq!(reader.remaining(), 0);
        assert_eq!(reader.varint(), Err(ReadError::Truncated));
    }

    #[test]
    fn overlong_varints_are_refused() {
        let eleven = [0xffu8; 11];
        assert_eq!(ByteReader::new(&eleven).varint(), Err(ReadError::Overlong));
        let mut too_big = [0xffu8; 10];
        too_big[9] = 0x02;
        assert_eq!(ByteReader::new(&too_big).varint(), Err(ReadError::Overlong));
        assert_eq!(
            ByteReader::new(&[0x80, 0x80]).varint(),
            Err(ReadError::Truncated)
        );
    }

    #[test]
    fn zigzag_round_trips_extremes() {
        for value in [0, 1, -1, 2, -2, i64::MAX, i64::MIN, 1 << 40, -(1 << 40)] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn bits_round_trip() {
        let writes: Vec<(u64, u32)> = vec![
            (1, 1),
            (0, 1),
            (0b101, 3),
            (u64::MAX, 64),
            (0x1234, 13),
            (0, 64),
            (42, 7),
            (0xdead_beef_cafe_f00d, 64),
            (1, 1),
        ];
        let mut out = Vec::new();
        let mut writer = BitWriter::new(&mut out);
        for &(value, count) in &writes {
            writer.bits(value, count);
        }
        writer.finish();
        let total: u32 = writes.iter().map(|w| w.1).sum();
        assert_eq!(out.len(), (total as usize).div_ceil(8));
        let mut reader = BitReader::new(&out);
        for &(value, count) in &writes {
            assert_eq!(reader.bits(count).unwrap(), value & mask(count));
        }
        assert!(reader.padding_is_zero());
        assert_eq!(reader.bytes_used(), out.len());
        assert!(reader.bits(8).is_err());
    }
}
