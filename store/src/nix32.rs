//! Nix's base-32 encoding: 32 digits without `e`, `o`, `u` and `t`, written from the last
//! 5-bit group of the little-endian digest to the first.

/// The digits, in value order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// How many digits encode `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n * 8 - 1) / 5 + 1
    }
}

/// Encodes bytes as Nix32.
pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let bit = n * 5;
        let (i, j) = (bit / 8, bit % 8);
        let lo = (bytes[i] as u16) >> j;
        let hi = bytes.get(i + 1).map_or(0, |&b| (b as u16) << (8 - j));
        out.push(ALPHABET[((lo | hi) & 0x1f) as usize] as char);
    }
    out
}

/// Digit value by byte, 0xff for bytes that are not digits. Store paths are parsed (and
/// their hash parts checked) constantly during instantiation.
const DIGITS: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 32 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

#[inline]
fn digit(c: u8) -> Option<u8> {
    let d = DIGITS[c as usize];
    (d != 0xff).then_some(d)
}

/// Decodes Nix32 text into `n` bytes; `None` for a bad digit, or bits that do not fit.
pub fn decode(text: &[u8], n: usize) -> Option<Vec<u8>> {
    if text.len() != encoded_len(n) {
        return None;
    }
    let mut out = vec![0u8; n];
    for (k, &c) in text.iter().rev().enumerate() {
        let v = digit(c)? as u16;
        let bit = k * 5;
        let (i, j) = (bit / 8, bit % 8);
        out[i] |= (v << j) as u8;
        let carry = (v << j) >> 8;
        if i + 1 < n {
            out[i + 1] |= carry as u8;
        } else if carry != 0 {
            return None;
        }
    }
    Some(out)
}

/// Whether every byte is a Nix32 digit.
pub fn is_nix32(text: &[u8]) -> bool {
    text.iter().all(|&c| digit(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // `nix-hash --type sha256 --to-base32` of the sha256 of the empty string.
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let bytes: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&empty[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        assert_eq!(
            encode(&bytes),
            "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
        );
        assert_eq!(encode(&[]), "");
        assert_eq!(encode(&[0xff]), "7z");
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(decode(b"7z", 1), Some(vec![0xff]));
        assert_eq!(decode(b"8z", 1), None, "bits beyond the last byte");
        assert_eq!(decode(b"0e", 1), None, "'e' is not a digit");
        assert_eq!(decode(b"000", 1), None, "wrong length");
    }

    proptest! {
        #[test]
        fn round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..70)) {
            let text = encode(&bytes);
            prop_assert_eq!(text.len(), encoded_len(bytes.len()));
            prop_assert_eq!(decode(text.as_bytes(), bytes.len()), Some(bytes));
        }
    }
}
