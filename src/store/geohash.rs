//! Redis's geohash arithmetic (`geohash.c`, `geohash_helper.c`), step for
//! step and in the same floating-point order, so that positions, distances
//! and the cells a search visits are redis-server's to the last bit: a
//! point is a 52-bit interleaved hash (26 bits of latitude in the even
//! positions, 26 of longitude in the odd ones) stored as a sorted set
//! score; a search covers the center cell of a step estimated from the
//! radius and its eight neighbours, dropping those the shape cannot reach.
//!
//! Written by hand because the exact arithmetic is the contract (a geohash
//! crate computes the same idea with other rounding).

pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
const D_R: f64 = std::f64::consts::PI / 180.0;
/// The Earth's quadratic mean radius for WGS-84, as Redis has it.
pub const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Area {
    pub longitude: Range,
    pub latitude: Range,
}

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(xlo), u64::from(ylo));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF, 0x0000FFFF0000FFFF, 0x00000000FFFFFFFF];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// The WGS-84 ranges Redis stores points in.
pub fn coord_range() -> (Range, Range) {
    (Range { min: LONG_MIN, max: LONG_MAX }, Range { min: LAT_MIN, max: LAT_MAX })
}

/// Redis's `geohashEncode`: `None` outside the ranges or for a bad step.
pub fn encode(long_range: Range, lat_range: Range, longitude: f64, latitude: f64, step: u8) -> Option<Bits> {
    if step > 32 || step == 0 || (lat_range.max == 0.0 && lat_range.min == 0.0) || (long_range.max == 0.0 && long_range.min == 0.0) {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min || latitude > lat_range.max || longitude < long_range.min || longitude > long_range.max {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    // C converts the doubles to uint32_t by truncation
    Some(Bits { bits: interleave64(lat_offset as u32, long_offset as u32), step })
}

/// A point's 26-step hash in the WGS-84 ranges.
pub fn encode_wgs84(longitude: f64, latitude: f64, step: u8) -> Option<Bits> {
    let (lo, la) = coord_range();
    encode(lo, la, longitude, latitude, step)
}

/// Redis's `geohashDecode`: the cell a hash names.
pub fn decode(long_range: Range, lat_range: Range, hash: Bits) -> Option<Area> {
    if hash.is_zero() || (lat_range.max == 0.0 && lat_range.min == 0.0) || (long_range.max == 0.0 && long_range.min == 0.0) {
        return None;
    }
    let step = hash.step;
    let hash_sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = hash_sep as u32;
    let ilono = (hash_sep >> 32) as u32;
    let div = (1u64 << step) as f64;
    Some(Area {
        latitude: Range {
            min: lat_range.min + (f64::from(ilato) * 1.0 / div) * lat_scale,
            max: lat_range.min + ((f64::from(ilato) + 1.0) * 1.0 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (f64::from(ilono) * 1.0 / div) * long_scale,
            max: long_range.min + ((f64::from(ilono) + 1.0) * 1.0 / div) * long_scale,
        },
    })
}

/// The center of a cell, clamped to the ranges.
fn area_to_long_lat(area: &Area) -> (f64, f64) {
    let x = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let y = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (x, y)
}

/// The position a stored score stands for (Redis's `decodeGeohash`).
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    let (lo, la) = coord_range();
    let area = decode(lo, la, Bits { bits: c_double_to_u64(score), step: STEP_MAX })?;
    Some(area_to_long_lat(&area))
}

/// C's `(uint64_t)d` as x86-64 compiles it (a negative score wraps, one
/// past 2^64 gives 0), for scores not written by GEOADD.
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    if d < TWO63 {
        // cvttsd2si: out of range (and NaN) is i64::MIN
        if d.is_nan() || d < -TWO63 { 1 << 63 } else { d as i64 as u64 }
    } else if d - TWO63 < TWO63 {
        ((d - TWO63) as i64 as u64) ^ (1 << 63)
    } else {
        0
    }
}

/// The score GEOADD stores for a point (the hash aligned to 52 bits).
pub fn score_of(longitude: f64, latitude: f64) -> Option<u64> {
    encode_wgs84(longitude, latitude, STEP_MAX).map(align52)
}

pub fn align52(hash: Bits) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

fn move_x(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> (64 - u32::from(hash.step) * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> (64 - u32::from(hash.step) * 2);
    hash.bits = x | y;
}

fn move_y(hash: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> (64 - u32::from(hash.step) * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> (64 - u32::from(hash.step) * 2);
    hash.bits = x | y;
}

fn moved(hash: Bits, dx: i8, dy: i8) -> Bits {
    let mut h = hash;
    move_x(&mut h, dx);
    move_y(&mut h, dy);
    h
}

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// Redis's `geohashEstimateStepsByRadius`.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// What a search covers.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// A radius in the query's unit.
    Circle(f64),
    /// Width and height in the query's unit.
    Box(f64, f64),
}

/// A search: its center, shape and unit (meters per unit).
#[derive(Debug, Clone, Copy)]
pub struct Search {
    pub longitude: f64,
    pub latitude: f64,
    pub shape: Shape,
    pub conversion: f64,
}

impl Search {
    /// Redis's `geohashBoundingBox`: min lon, min lat, max lon, max lat.
    fn bounding_box(&self) -> [f64; 4] {
        let (lon, lat) = (self.longitude, self.latitude);
        let (height, width) = match self.shape {
            Shape::Circle(r) => (self.conversion * r, self.conversion * r),
            Shape::Box(w, h) => (self.conversion * (h / 2.0), self.conversion * (w / 2.0)),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat + lat_delta).cos());
        let long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(lat - lat_delta).cos());
        let south = lat < 0.0;
        [
            if south { lon - long_delta_bottom } else { lon - long_delta_top },
            lat - lat_delta,
            if south { lon + long_delta_bottom } else { lon + long_delta_top },
            lat + lat_delta,
        ]
    }

    /// Redis's `geohashCalculateAreasByShapeWGS84`: the nine cells to
    /// scan, center first, then N, S, E, W, NE, NW, SE, SW (a zero hash
    /// for a neighbour the shape cannot reach).
    pub fn cells(&self) -> [Bits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let (lon, lat) = (self.longitude, self.latitude);
        let radius_meters = match self.shape {
            Shape::Circle(r) => r,
            Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
        } * self.conversion;
        let mut steps = estimate_steps(radius_meters, lat);
        let (lr, la) = coord_range();
        let neighbours = |hash: Bits| {
            // N, S, E, W, NE, NW, SE, SW
            [
                moved(hash, 0, 1),
                moved(hash, 0, -1),
                moved(hash, 1, 0),
                moved(hash, -1, 0),
                moved(hash, 1, 1),
                moved(hash, -1, 1),
                moved(hash, 1, -1),
                moved(hash, -1, -1),
            ]
        };
        let mut hash = encode(lr, la, lon, lat, steps).unwrap_or_default();
        let mut n = neighbours(hash);
        let mut area = decode(lr, la, hash).unwrap_or_default();
        let dec = |h: Bits| decode(lr, la, h).unwrap_or_default();
        let decrease =
            dec(n[0]).latitude.max < max_lat || dec(n[1]).latitude.min > min_lat || dec(n[2]).longitude.max < max_lon || dec(n[3]).longitude.min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            hash = encode(lr, la, lon, lat, steps).unwrap_or_default();
            n = neighbours(hash);
            area = decode(lr, la, hash).unwrap_or_default();
        }
        if steps >= 2 {
            let zero = Bits::default();
            if area.latitude.min < min_lat {
                (n[1], n[7], n[6]) = (zero, zero, zero);
            }
            if area.latitude.max > max_lat {
                (n[0], n[4], n[5]) = (zero, zero, zero);
            }
            if area.longitude.min < min_lon {
                (n[3], n[7], n[5]) = (zero, zero, zero);
            }
            if area.longitude.max > max_lon {
                (n[2], n[6], n[4]) = (zero, zero, zero);
            }
        }
        [hash, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]]
    }

    /// Whether a point is inside the shape, and its distance in meters
    /// from the center (Redis's `geoWithinShape`).
    pub fn contains(&self, x: f64, y: f64) -> Option<f64> {
        match self.shape {
            Shape::Circle(r) => {
                let d = distance(self.longitude, self.latitude, x, y);
                (d <= r * self.conversion).then_some(d)
            }
            Shape::Box(w, h) => {
                let (width_m, height_m) = (w * self.conversion, h * self.conversion);
                if lat_distance(y, self.latitude) > height_m / 2.0 {
                    return None;
                }
                if distance(x, y, self.longitude, y) > width_m / 2.0 {
                    return None;
                }
                Some(distance(self.longitude, self.latitude, x, y))
            }
        }
    }
}

/// The score range `[min, max)` of the points inside a cell.
pub fn cell_scores(hash: Bits) -> (u64, u64) {
    let min = align52(hash);
    let max = align52(Bits { bits: hash.bits + 1, step: hash.step });
    (min, max)
}

fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// Redis's haversine (`geohashGetDistance`), in meters.
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// GEOHASH's 11-character string of a stored score: the position
/// re-encoded over latitudes -90..90 (the standard geohash), 10 base-32
/// digits of it and a `0`.
pub fn geohash_string(score: f64) -> Option<String> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (x, y) = decode_score(score)?;
    let hash = encode(Range { min: -180.0, max: 180.0 }, Range { min: -90.0, max: 90.0 }, x, y, 26).unwrap_or_default();
    Some((0..11).map(|i| if i == 10 { '0' } else { ALPHABET[((hash.bits >> (52 - (i + 1) * 5)) & 0x1f) as usize] as char }).collect())
}

/// Redis's `fixedpoint_d2string(d, 4)`: distances with four decimals,
/// rounded to nearest even.
pub fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".into();
    }
    let v = (d * 10000.0).round_ties_even() as i64;
    let digits = format!("{:05}", v.unsigned_abs());
    let (int, frac) = digits.split_at(digits.len() - 4);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

/// Redis's `%.17Lf` with trailing zeros trimmed (GEOPOS, WITHCOORD).
pub fn format_coordinate(d: f64) -> String {
    let s = format!("{d:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_documentation_examples() {
        let palermo = score_of(13.361389, 38.115556).unwrap();
        let catania = score_of(15.087269, 37.502669).unwrap();
        assert_eq!(palermo, 3479099956230698);
        let (x, y) = decode_score(palermo as f64).unwrap();
        assert_eq!((format_coordinate(x), format_coordinate(y)), ("13.36138933897018433".into(), "38.11555639549629859".into()));
        let (x2, y2) = decode_score(catania as f64).unwrap();
        assert_eq!(format_distance(distance(x, y, x2, y2) / 1000.0), "166.2742");
        assert_eq!(geohash_string(palermo as f64).unwrap(), "sqc8b49rny0");
        assert_eq!(format_distance(0.00004), "0.0000");
        assert_eq!(format_distance(-12.34567), "-12.3457");
        assert_eq!(format_distance(0.5), "0.5000");
    }
}
