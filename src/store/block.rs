//! The block codec: a run of one series' samples (sorted, distinct timestamps) as compact bytes.
//!
//! A block is the value stored under one `(series id, block start)` key. Its bytes:
//!
//! ```text
//! tag        1 byte   high nibble: format version (1); bit 0: timestamp mode; bit 1: value mode
//! count      varint   number of samples
//! t0         zigzag varint, the first timestamp
//! timestamps grid (mode 0):  step varint, run count varint, runs varints
//!            dod  (mode 1):  count-1 zigzag varints: the first delta, then deltas of deltas
//! values     decimal (mode 0): exponent e (1 byte), m0 zigzag varint, count-1 zigzag varints of
//!                              m[i]-m[i-1], then a correction count varint and that many
//!                              (index gap varint, ulp correction zigzag varint) pairs
//!            xor (mode 1):     Gorilla bit stream, zero-padded to a whole byte
//! ```
//!
//! **Timestamps.** Scraped and pushed metrics sit on a regular grid, so the usual block is
//! `start, step` and one run (`[count]`): a few bytes for hundreds of samples, whatever the count.
//! Gaps are alternating runs (present, absent, present, …, always ending with a present run), so
//! a gap costs a couple of bytes. Timestamps off any useful grid (the step is the GCD of the
//! differences) fall back to delta-of-delta varints, the Gorilla idea with byte granularity; the
//! encoder computes both sizes and keeps the smaller. All arithmetic wraps, so any sorted `i64`
//! timestamps round-trip, negative ones and extremes included.
//!
//! **Values.** Two encodings, the smaller one per block:
//! - *decimal*: value `i` is `m[i] / 10^e` (an exactly representable integer divided by an exact
//!   power of ten, which IEEE division rounds correctly, so it reproduces what a decimal parser
//!   gives for the same digits), then adjusted by `c[i]` units in the last place. The deltas of
//!   `m` are zigzag varints, so request counts cost one or two bytes each; `c` is almost always
//!   zero and only the non-zero ones are listed. The correction is what keeps this bit-exact for
//!   values that are *not* the nearest double to a short decimal, such as `51.846000000000004`
//!   (one ulp above `51.846`, the result of a float computation at the source) or `-0.0`: they
//!   cost a couple of bytes instead of forcing the whole block to the xor encoding.
//!   The exponent is chosen per block among the exponents the values need, by exact cost.
//! - *xor*: the Prometheus/Gorilla chunk encoding (XOR with the previous value; a `0` bit for a
//!   repeat, else the meaningful bits in the previous or a new leading/trailing-zero window).
//!   It wins for constant stretches (one bit per sample) and for values with no short decimal
//!   form.
//!
//! The decoder trusts nothing: every length, count, index and arithmetic step is checked, the
//! timestamps must come out strictly increasing, the values finite, and every byte must be used.
//! Damaged bytes give a [`BlockError`], never a panic or a huge allocation.

use super::bits::{
    BitReader, BitWriter, ByteReader, ReadError, put_varint, put_zigzag, varint_len, zigzag,
};
use crate::series::Sample;

const VERSION: u8 = 1;
const TS_DOD: u8 = 0b01;
const VALUES_XOR: u8 = 0b10;

/// The largest block the decoder accepts. The store splits blocks far below this; the limit
/// only bounds what a damaged count can make the decoder allocate.
pub(crate) const MAX_BLOCK_SAMPLES: usize = 1 << 20;

/// The largest decimal exponent. `10^e` is exact in an `f64` up to `e = 22`; 18 is enough for
/// any value whose scaled mantissa still fits in 53 bits and leaves room for tiny magnitudes.
const MAX_EXPONENT: usize = 18;

const POW10: [f64; MAX_EXPONENT + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Mantissas stay below 2^53 so that they convert to `f64` exactly.
const MAX_MANTISSA: f64 = 9_007_199_254_740_992.0;

/// Why block bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BlockError(String);

fn corrupt(message: impl Into<String>) -> BlockError {
    BlockError(message.into())
}

impl From<ReadError> for BlockError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Truncated => corrupt("block ends early"),
            ReadError::Overlong => corrupt("malformed varint"),
        }
    }
}

impl From<super::bits::Truncated> for BlockError {
    fn from(_: super::bits::Truncated) -> Self {
        corrupt("block ends early")
    }
}

/// Encodes samples sorted by strictly increasing timestamp (the store's invariant).
pub(crate) fn encode(samples: &[Sample]) -> Vec<u8> {
    debug_assert!(samples.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    let mut out = Vec::with_capacity(16 + samples.len() * 2);
    out.push(0); // the tag, filled in below
    put_varint(&mut out, samples.len() as u64);
    let Some(first) = samples.first() else {
        out[0] = VERSION << 4;
        return out;
    };
    put_zigzag(&mut out, first.timestamp);

    let mut tag = VERSION << 4;
    let grid = Grid::of(samples);
    if grid.cost <= dod_cost(samples) {
        grid.write(samples, &mut out);
    } else {
        tag |= TS_DOD;
        write_dod(samples, &mut out);
    }

    let mut xor = Vec::new();
    write_xor(samples, &mut xor);
    match best_decimal(samples) {
        Some((exponent, cost)) if cost <= xor.len() => {
            write_decimal(samples, exponent, &mut out);
        }
        _ => {
            tag |= VALUES_XOR;
            out.extend_from_slice(&xor);
        }
    }
    out[0] = tag;
    out
}

/// Decodes a block.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<Sample>, BlockError> {
    let mut out = Vec::new();
    decode_into(bytes, &mut out)?;
    Ok(out)
}

/// Decodes a block, appending its samples to `out` (which is left as it was on error).
pub(crate) fn decode_into(bytes: &[u8], out: &mut Vec<Sample>) -> Result<(), BlockError> {
    let base = out.len();
    let result = decode_append(bytes, out);
    if result.is_err() {
        out.truncate(base);
    }
    result
}

fn decode_append(bytes: &[u8], out: &mut Vec<Sample>) -> Result<(), BlockError> {
    let mut reader = ByteReader::new(bytes);
    let tag = reader.byte()?;
    if tag >> 4 != VERSION || tag & 0x0c != 0 {
        return Err(corrupt(format!("unknown block tag {tag:#04x}")));
    }
    let count = reader.varint()?;
    if count == 0 {
        return if reader.remaining() == 0 {
            Ok(())
        } else {
            Err(corrupt("bytes after an empty block"))
        };
    }
    // Every sample costs at least one bit in either value encoding, so a count beyond that is
    // damage; checking it first keeps a damaged count from driving a huge allocation.
    if count > MAX_BLOCK_SAMPLES as u64 || count > bytes.len() as u64 * 8 {
        return Err(corrupt(format!(
            "sample count {count} impossible for {} bytes",
            bytes.len()
        )));
    }
    let count = count as usize;
    let t0 = reader.zigzag()?;
    let base = out.len();
    out.reserve(count);
    if tag & TS_DOD == 0 {
        read_grid(&mut reader, t0, count, out)?;
    } else {
        read_dod(&mut reader, t0, count, out)?;
    }
    let samples = &mut out[base..];
    if tag & VALUES_XOR == 0 {
        read_decimal(&mut reader, samples)?;
    } else {
        read_xor(&mut reader, samples)?;
    }
    if reader.remaining() != 0 {
        return Err(corrupt(format!(
            "{} unexpected byte(s) after the values",
            reader.remaining()
        )));
    }
    if let Some(bad) = samples.iter().find(|s| !s.value.is_finite()) {
        return Err(corrupt(format!(
            "non-finite value at timestamp {}",
            bad.timestamp
        )));
    }
    Ok(())
}

// ---- timestamps -------------------------------------------------------------------------------

/// The regular-grid form of a block's timestamps: the step is the GCD of all differences, and
/// the runs alternate present/absent slots, starting and ending with a present run.
struct Grid {
    step: u64,
    runs: usize,
    cost: usize,
}

impl Grid {
    fn of(samples: &[Sample]) -> Grid {
        // Differences of sorted i64s fit in u64 even when they overflow i64.
        let step = samples
            .windows(2)
            .map(|w| w[1].timestamp.wrapping_sub(w[0].timestamp) as u64)
            .fold(0, gcd)
            .max(1);
        let (mut runs, mut cost, mut present) = (0usize, 0usize, 1u64);
        for w in samples.windows(2) {
            let slots = w[1].timestamp.wrapping_sub(w[0].timestamp) as u64 / step;
            if slots == 1 {
                present += 1;
            } else {
                cost += varint_len(present) + varint_len(slots - 1);
                runs += 2;
                present = 1;
            }
        }
        cost += varint_len(present);
        runs += 1;
        cost += varint_len(step) + varint_len(runs as u64);
        Grid { step, runs, cost }
    }

    fn write(&self, samples: &[Sample], out: &mut Vec<u8>) {
        put_varint(out, self.step);
        put_varint(out, self.runs as u64);
        let mut present = 1u64;
        for w in samples.windows(2) {
            let slots = w[1].timestamp.wrapping_sub(w[0].timestamp) as u64 / self.step;
            if slots == 1 {
                present += 1;
            } else {
                put_varint(out, present);
                put_varint(out, slots - 1);
                present = 1;
            }
        }
        put_varint(out, present);
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn read_grid(
    reader: &mut ByteReader,
    t0: i64,
    count: usize,
    out: &mut Vec<Sample>,
) -> Result<(), BlockError> {
    let step = reader.varint()?;
    let runs = reader.varint()?;
    if step == 0 {
        return Err(corrupt("grid step of zero"));
    }
    if runs % 2 == 0 || runs > 2 * count as u64 {
        return Err(corrupt(format!("{runs} grid runs for {count} samples")));
    }
    let step = i128::from(step);
    let overflow = || corrupt("grid timestamps overflow");
    // The time of the next slot; i128 holds any i64 plus a u64 step without overflow.
    let mut next = i128::from(t0);
    let mut seen = 0usize;
    for run in 0..runs {
        let length = reader.varint()?;
        if length == 0 {
            return Err(corrupt("empty grid run"));
        }
        if run % 2 == 1 {
            let skip = i128::from(length).checked_mul(step).ok_or_else(overflow)?;
            next = next.checked_add(skip).ok_or_else(overflow)?;
            continue;
        }
        if length > (count - seen) as u64 {
            return Err(corrupt("grid runs hold more samples than the count"));
        }
        for _ in 0..length {
            let timestamp = i64::try_from(next).map_err(|_| overflow())?;
            out.push(Sample {
                timestamp,
                value: 0.0,
            });
            next += step;
        }
        seen += length as usize;
    }
    if seen != count {
        return Err(corrupt(format!(
            "grid runs hold {seen} samples, the count says {count}"
        )));
    }
    Ok(())
}

fn dod_cost(samples: &[Sample]) -> usize {
    let mut cost = 0;
    let mut previous_delta = 0i64;
    for w in samples.windows(2) {
        let delta = w[1].timestamp.wrapping_sub(w[0].timestamp);
        cost += varint_len(zigzag(delta.wrapping_sub(previous_delta)));
        previous_delta = delta;
    }
    cost
}

fn write_dod(samples: &[Sample], out: &mut Vec<u8>) {
    let mut previous_delta = 0i64;
    for w in samples.windows(2) {
        let delta = w[1].timestamp.wrapping_sub(w[0].timestamp);
        put_zigzag(out, delta.wrapping_sub(previous_delta));
        previous_delta = delta;
    }
}

fn read_dod(
    reader: &mut ByteReader,
    t0: i64,
    count: usize,
    out: &mut Vec<Sample>,
) -> Result<(), BlockError> {
    out.push(Sample {
        timestamp: t0,
        value: 0.0,
    });
    let (mut previous, mut delta) = (t0, 0i64);
    for _ in 1..count {
        delta = delta.wrapping_add(reader.zigzag()?);
        let timestamp = previous.wrapping_add(delta);
        // Wrapping mirrors the encoder; a real block always moves forward, so anything else is
        // damage (this also catches a wrap past i64::MAX).
        if timestamp <= previous {
            return Err(corrupt("timestamps not increasing"));
        }
        out.push(Sample {
            timestamp,
            value: 0.0,
        });
        previous = timestamp;
    }
    Ok(())
}

// ---- values: decimal --------------------------------------------------------------------------

/// What the decoder computes for mantissa `m` at exponent `e`.
#[inline]
pub(super) fn decimal_base(mantissa: i64, exponent: usize) -> f64 {
    mantissa as f64 / POW10[exponent]
}

/// The mantissa of `value` at `exponent`, if it fits in 53 bits.
#[inline]
pub(super) fn mantissa(value: f64, exponent: usize) -> Option<i64> {
    let scaled = value * POW10[exponent];
    // Also refuses NaN and infinities (which compare as neither less nor equal).
    if scaled.abs().partial_cmp(&MAX_MANTISSA) != Some(std::cmp::Ordering::Less) {
        return None;
    }
    Some(scaled.round() as i64)
}

/// The smallest exponent at which `value` is exactly `m / 10^e`, if any.
fn exact_exponent(value: f64) -> Option<usize> {
    exact_exponent_within(value, MAX_EXPONENT)
}

/// The smallest exponent up to `max` (at most 18) at which `value` is exactly `m / 10^e`.
pub(super) fn exact_exponent_within(value: f64, max: usize) -> Option<usize> {
    (0..=max.min(MAX_EXPONENT)).find(|&exponent| match mantissa(value, exponent) {
        Some(m) => decimal_base(m, exponent).to_bits() == value.to_bits(),
        None => false,
    })
}

/// The ulp correction turning the decoded base into `value` exactly (0 almost always).
#[inline]
fn correction(value: f64, mantissa: i64, exponent: usize) -> i64 {
    value
        .to_bits()
        .wrapping_sub(decimal_base(mantissa, exponent).to_bits()) as i64
}

/// The exponent with the smallest decimal encoding and that size, or `None` when some value is
/// too large for a 53-bit mantissa at every exponent the values need.
fn best_decimal(samples: &[Sample]) -> Option<(usize, usize)> {
    // The candidates are the exponents that make at least one value exact; a block of integer
    // counts has just {0}. Values exact at no exponent are left to corrections.
    let mut candidates = [false; MAX_EXPONENT + 1];
    for sample in samples {
        if let Some(exponent) = exact_exponent(sample.value) {
            candidates[exponent] = true;
        }
    }
    if !candidates.contains(&true) {
        candidates[0] = true;
    }
    (0..=MAX_EXPONENT)
        .filter(|&exponent| candidates[exponent])
        .filter_map(|exponent| decimal_cost(samples, exponent).map(|cost| (exponent, cost)))
        .min_by_key(|&(_, cost)| cost)
}

fn decimal_cost(samples: &[Sample], exponent: usize) -> Option<usize> {
    let mut cost = 1;
    let (mut previous, mut corrections, mut last_index) = (0i64, 0u64, 0usize);
    for (index, sample) in samples.iter().enumerate() {
        let m = mantissa(sample.value, exponent)?;
        cost += varint_len(zigzag(m - previous));
        previous = m;
        let c = correction(sample.value, m, exponent);
        if c != 0 {
            cost += varint_len((index - last_index) as u64) + varint_len(zigzag(c));
            corrections += 1;
            last_index = index;
        }
    }
    Some(cost + varint_len(corrections))
}

/// Writes the decimal encoding; `exponent` comes from [`best_decimal`], so every mantissa fits.
fn write_decimal(samples: &[Sample], exponent: usize, out: &mut Vec<u8>) {
    out.push(exponent as u8);
    let mut previous = 0i64;
    let mut corrections = Vec::new();
    for (index, sample) in samples.iter().enumerate() {
        let m = mantissa(sample.value, exponent).unwrap_or(0);
        put_zigzag(out, m - previous);
        previous = m;
        let c = correction(sample.value, m, exponent);
        if c != 0 {
            corrections.push((index, c));
        }
    }
    put_varint(out, corrections.len() as u64);
    let mut last_index = 0;
    for (index, c) in corrections {
        put_varint(out, (index - last_index) as u64);
        put_zigzag(out, c);
        last_index = index;
    }
}

fn read_decimal(reader: &mut ByteReader, samples: &mut [Sample]) -> Result<(), BlockError> {
    let exponent = usize::from(reader.byte()?);
    if exponent > MAX_EXPONENT {
        return Err(corrupt(format!("decimal exponent {exponent}")));
    }
    let limit = MAX_MANTISSA as u64;
    let mut m = 0i64;
    for sample in samples.iter_mut() {
        m = m
            .checked_add(reader.zigzag()?)
            .filter(|m| m.unsigned_abs() < limit)
            .ok_or_else(|| corrupt("decimal mantissa out of range"))?;
        sample.value = decimal_base(m, exponent);
    }
    let corrections = reader.varint()?;
    if corrections > samples.len() as u64 {
        return Err(corrupt("more corrections than samples"));
    }
    let mut index = 0usize;
    for k in 0..corrections {
        let gap = reader.varint()?;
        // Indices strictly increase after the first one.
        if k > 0 && gap == 0 {
            return Err(corrupt("repeated correction index"));
        }
        index = usize::try_from(gap)
            .ok()
            .and_then(|gap| index.checked_add(gap))
            .filter(|&i| i < samples.len())
            .ok_or_else(|| corrupt("correction index out of range"))?;
        let c = reader.zigzag()?;
        let sample = &mut samples[index];
        sample.value = f64::from_bits(sample.value.to_bits().wrapping_add(c as u64));
    }
    Ok(())
}

// ---- values: xor (Gorilla) --------------------------------------------------------------------

fn write_xor(samples: &[Sample], out: &mut Vec<u8>) {
    let mut writer = BitWriter::new(out);
    let Some(first) = samples.first() else {
        return;
    };
    let mut previous = first.value.to_bits();
    writer.bits(previous, 64);
    // The current window of meaningful bits; `None` until the first non-repeat.
    let mut window: Option<(u32, u32)> = None;
    for sample in &samples[1..] {
        let bits = sample.value.to_bits();
        let xor = bits ^ previous;
        previous = bits;
        if xor == 0 {
            writer.bit(false);
            continue;
        }
        writer.bit(true);
        // 5 bits hold the leading-zero count, so it is capped at 31; the rest count as
        // meaningful bits.
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        match window {
            Some((lead, trail)) if leading >= lead && trailing >= trail => {
                writer.bit(false);
                writer.bits(xor >> trail, 64 - lead - trail);
            }
            _ => {
                writer.bit(true);
                let meaningful = 64 - leading - trailing;
                writer.bits(u64::from(leading), 5);
                writer.bits(u64::from(meaningful - 1), 6);
                writer.bits(xor >> trailing, meaningful);
                window = Some((leading, trailing));
            }
        }
    }
    writer.finish();
}

fn read_xor(reader: &mut ByteReader, samples: &mut [Sample]) -> Result<(), BlockError> {
    let mut bits = BitReader::new(reader.rest());
    let mut previous = bits.bits(64)?;
    let mut window: Option<(u32, u32)> = None;
    for (index, sample) in samples.iter_mut().enumerate() {
        if index > 0 && bits.bit()? {
            let xor = if bits.bit()? {
                let leading = bits.bits(5)? as u32;
                let meaningful = bits.bits(6)? as u32 + 1;
                if leading + meaningful > 64 {
                    return Err(corrupt("xor window wider than 64 bits"));
                }
                let trailing = 64 - leading - meaningful;
                window = Some((leading, trailing));
                bits.bits(meaningful)? << trailing
            } else {
                let (lead, trail) =
                    window.ok_or_else(|| corrupt("xor window reused before it was set"))?;
                bits.bits(64 - lead - trail)? << trail
            };
            previous ^= xor;
        }
        sample.value = f64::from_bits(previous);
    }
    if !bits.padding_is_zero() {
        return Err(corrupt("non-zero padding after the xor stream"));
    }
    let used = bits.bytes_used();
    reader.advance(used)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(timestamp, value)| Sample { timestamp, value })
            .collect()
    }

    /// Compares bit patterns, so that -0.0 vs 0.0 and every last ulp count.
    fn assert_exact(decoded: &[Sample], expected: &[Sample]) {
        assert_eq!(decoded.len(), expected.len());
        for (d, e) in decoded.iter().zip(expected) {
            assert_eq!(d.timestamp, e.timestamp);
            assert_eq!(
                d.value.to_bits(),
                e.value.to_bits(),
                "at {}: {} vs {}",
                e.timestamp,
                d.value,
                e.value
            );
        }
    }

    fn round_trip(input: &[Sample]) -> Vec<u8> {
        let bytes = encode(input);
        let decoded = decode(&bytes).expect("a fresh encoding decodes");
        assert_exact(&decoded, input);
        bytes
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(decode(&encode(&[])).unwrap(), vec![]);
        round_trip(&samples(&[(0, 0.0)]));
        round_trip(&samples(&[(-5, -0.0)]));
        round_trip(&samples(&[(i64::MIN, f64::MAX)]));
        round_trip(&samples(&[(i64::MAX, f64::MIN_POSITIVE / 2.0)]));
    }

    #[test]
    fn regular_integer_counts_are_about_a_byte_each() {
        let input: Vec<Sample> = (0..720)
            .map(|i| Sample {
                timestamp: 1_400_000_000 + i * 300,
                value: (40 + (i * 7919) % 50) as f64,
            })
            .collect();
        let bytes = round_trip(&input);
        assert!(bytes.len() < 720 + 20, "{} bytes", bytes.len());
        assert_eq!(bytes[0] & (TS_DOD | VALUES_XOR), 0, "grid + decimal");
    }

    #[test]
    fn constant_values_cost_a_bit_each() {
        let input: Vec<Sample> = (0..720)
            .map(|i| Sample {
                timestamp: i * 60,
                value: 3.0,
            })
            .collect();
        let bytes = round_trip(&input);
        assert!(bytes.len() < 110, "{} bytes", bytes.len());
        assert_eq!(bytes[0] & VALUES_XOR, VALUES_XOR);
    }

    #[test]
    fn float_noise_round_trips_with_corrections() {
        // Values from the aws-ec2 trace: most are short decimals, some are an ulp off one.
        let values = [
            51.846000000000004,
            44.508,
            48.56800000000001,
            53.403999999999996,
            46.31399999999999,
            45.0,
            0.1 + 0.2,
            -0.0,
            0.0,
            1e-300,
            5e-324,
        ];
        let input: Vec<Sample> = values
            .iter()
            .enumerate()
            .map(|(i, &value)| Sample {
                timestamp: i as i64 * 300,
                value,
            })
            .collect();
        let bytes = round_trip(&input);
        let decimal_only: Vec<Sample> = input[..5].to_vec();
        let small = round_trip(&decimal_only);
        assert_eq!(small[0] & VALUES_XOR, 0, "decimal with corrections");
        assert!(bytes.len() > small.len());
    }

    #[test]
    fn six_decimal_fractions_use_decimal() {
        let input: Vec<Sample> = (0..500)
            .map(|i| Sample {
                timestamp: i * 300,
                value: format!("0.{:06}", 430_000 + (i * 37) % 20_000)
                    .parse()
                    .unwrap(),
            })
            .collect();
        let bytes = round_trip(&input);
        assert_eq!(bytes[0] & VALUES_XOR, 0);
        assert!(bytes.len() < 500 * 3, "{} bytes", bytes.len());
    }

    #[test]
    fn gaps_and_irregular_timestamps() {
        // A grid with gaps: one run of present slots per stretch.
        let mut input = Vec::new();
        for i in 0..1000i64 {
            if !(100..140).contains(&i) && i % 97 != 5 {
                input.push(Sample {
                    timestamp: -50_000 + i * 60,
                    value: i as f64,
                });
            }
        }
        let bytes = round_trip(&input);
        assert_eq!(bytes[0] & TS_DOD, 0, "grid");
        // Jittered timestamps: delta of deltas.
        let jittered: Vec<Sample> = (0..300i64)
            .map(|i| Sample {
                timestamp: i * 15 + (i * 7) % 3,
                value: 1.5,
            })
            .collect();
        let bytes = round_trip(&jittered);
        assert_eq!(bytes[0] & TS_DOD, TS_DOD, "dod");
        // Extremes: differences overflow i64.
        round_trip(&samples(&[
            (i64::MIN, 1.0),
            (-1, 2.0),
            (0, 3.0),
            (i64::MAX, 4.0),
        ]));
        round_trip(&samples(&[(i64::MIN, 1.0), (i64::MAX, 2.0)]));
    }

    #[test]
    fn huge_values_fall_back_to_xor() {
        let input = samples(&[(0, 1e300), (1, -1e300), (2, f64::MAX), (3, 12.5)]);
        let bytes = round_trip(&input);
        assert_eq!(bytes[0] & VALUES_XOR, VALUES_XOR);
    }

    #[test]
    fn damage_is_reported_not_panicked() {
        let input: Vec<Sample> = (0..50)
            .map(|i| Sample {
                timestamp: i * 10,
                value: i as f64 * 0.25,
            })
            .collect();
        let bytes = encode(&input);
        // Every truncation fails cleanly.
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        // Trailing garbage is refused.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        // Unknown version, absurd counts.
        assert!(decode(&[0x20, 1, 0, 1, 1, 1, 0, 0]).is_err());
        assert!(decode(&[0x10, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        // A mantissa delta that lands on i64::MIN (whose abs() would overflow).
        let mut min = vec![0x10, 1, 0, 0, 1, 1, 0];
        min.extend_from_slice(&[0xff; 9]);
        min.push(0x01);
        assert!(decode(&min).is_err());
        // Non-finite values are refused even when well formed.
        let nan = encode(&samples(&[(0, f64::NAN)]));
        assert!(decode(&nan).is_err());
        // decode_into leaves the output as it was.
        let mut out = vec![Sample {
            timestamp: 1,
            value: 1.0,
        }];
        assert!(decode_into(&bytes[..bytes.len() - 1], &mut out).is_err());
        assert_eq!(out.len(), 1);
    }

    // ---- property tests ----

    fn any_finite() -> impl Strategy<Value = f64> {
        prop_oneof![
            // Every bit pattern that is finite: subnormals, -0.0, huge and tiny.
            any::<u64>()
                .prop_map(f64::from_bits)
                .prop_filter("finite", |v| v.is_finite()),
            (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
            (-1_000_000_000i64..1_000_000_000, 0usize..10).prop_map(|(m, e)| m as f64 / POW10[e]),
            // A short decimal nudged by a few ulps, like float noise from a computation.
            (-100_000i64..100_000, 1usize..6, -3i64..=3)
                .prop_map(|(m, e, ulps)| {
                    f64::from_bits((m as f64 / POW10[e]).to_bits().wrapping_add(ulps as u64))
                })
                .prop_filter("finite", |v| v.is_finite()),
            Just(0.0),
            Just(-0.0),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(f64::MAX),
            Just(f64::MIN),
        ]
    }

    /// Values with the structure real traces have (runs of similar magnitudes), or anything.
    fn values(len: usize) -> impl Strategy<Value = Vec<f64>> {
        prop_oneof![
            prop::collection::vec(any_finite(), len),
            (0i64..10_000, 0usize..7).prop_flat_map(move |(level, e)| {
                prop::collection::vec(-50i64..50, len).prop_map(move |steps| {
                    let mut m = level;
                    steps
                        .into_iter()
                        .map(|s| {
                            m += s;
                            m as f64 / POW10[e]
                        })
                        .collect()
                })
            }),
            any_finite().prop_map(move |v| vec![v; len]),
        ]
    }

    /// Sorted distinct timestamps: grids with gaps, jitter, or anything in the i64 range.
    fn timestamps() -> impl Strategy<Value = Vec<i64>> {
        prop_oneof![
            // A grid with random gaps, possibly negative.
            (
                -10_000_000_000i64..10_000_000_000,
                1i64..100_000,
                prop::collection::vec(any::<bool>(), 1..600)
            )
                .prop_map(|(start, step, keep)| {
                    keep.iter()
                        .enumerate()
                        .filter(|(i, k)| **k || *i == 0)
                        .map(|(i, _)| start + i as i64 * step)
                        .collect()
                }),
            // A regular grid, no gaps.
            (any::<i32>(), 1i64..3600, 1usize..800).prop_map(|(start, step, n)| {
                (0..n as i64).map(|i| i64::from(start) + i * step).collect()
            }),
            // Irregular.
            prop::collection::btree_set(any::<i64>(), 1..300)
                .prop_map(|set| set.into_iter().collect()),
            prop::collection::btree_set(-100_000i64..100_000, 1..300)
                .prop_map(|set| set.into_iter().collect()),
        ]
    }

    fn blocks() -> impl Strategy<Value = Vec<Sample>> {
        timestamps().prop_flat_map(|ts| {
            let n = ts.len();
            values(n).prop_map(move |vs| {
                ts.iter()
                    .zip(vs)
                    .map(|(&timestamp, value)| Sample { timestamp, value })
                    .collect()
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_block_round_trips_bit_exactly(input in blocks()) {
            round_trip(&input);
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&bytes);
            // And with a valid tag, so the fuzz reaches past the first check.
            let mut tagged = bytes.clone();
            if let Some(first) = tagged.first_mut() {
                *first = (VERSION << 4) | (*first & 0x03);
            }
            let _ = decode(&tagged);
        }

        #[test]
        fn damaged_blocks_never_panic(
            input in blocks(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut bytes = encode(&input);
            for (index, xor) in flips {
                let i = index.index(bytes.len());
                bytes[i] ^= xor;
            }
            if let Ok(decoded) = decode(&bytes) {
                // Whatever decodes must still satisfy the block invariants.
                prop_assert!(decoded.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
                prop_assert!(decoded.iter().all(|s| s.value.is_finite()));
            }
        }
    }
}
