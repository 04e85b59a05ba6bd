//! Arithmetic on symbolic dimensions.
//!
//! A derived dimension is an affine function of one named unknown, `base * num / den +
//! offset`, and is stored as a [`Dim::Symbol`] named after that expression: `W/2`,
//! `2*H/3+1`, `T-2`. The name is canonical (reduced fraction, fixed layout), so two
//! computations that arrive at the same expression give the same symbol, and broadcasting
//! sees that they are equal: `2*(H/32)` is `H/16`.
//!
//! Spatial arithmetic (convolutions, pooling, resizing) assumes that the symbolic part
//! divides evenly, as the models are used with sizes that their strides divide (an OCR
//! detector is fed multiples of 32): a stride-2 convolution of `H` gives `H/2`, not
//! `ceil(H/2)`. Fixed sizes are always computed exactly.
//!
//! Expressions that do not fit (two unknowns multiplied, a scale that is no small
//! fraction) get a fresh symbol named after the expression, e.g. `(N*T)/(B)`; it is
//! still canonical, so equal expressions stay equal.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{GraphError, Result};
use crate::shape::Dim;

/// `base * num / den + offset`, with `den > 0` and the fraction reduced.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Affine {
    base: Arc<str>,
    num: i64,
    den: i64,
    offset: i64,
}

fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1) as i64
}

/// `floor(a / b)` or `ceil(a / b)` for `b > 0`.
fn divide(a: i64, b: i64, ceil: bool) -> i64 {
    let quotient = a.div_euclid(b);
    if ceil && a.rem_euclid(b) != 0 { quotient + 1 } else { quotient }
}

/// Whether a name needs parentheses inside a larger expression.
fn needs_parentheses(name: &str) -> bool {
    name.contains(['+', '-', '*', '/', ' ', '(', ')'])
}

fn wrapped(name: &str) -> String {
    if needs_parentheses(name) { format!("({name})") } else { name.to_string() }
}

/// The symbols of one inference run: which names are derived expressions of which base.
#[derive(Debug, Default)]
pub(crate) struct Symbols {
    derived: HashMap<Arc<str>, Affine>,
}

impl Symbols {
    /// The affine form of a symbol: its expression if derived here, else itself.
    fn affine(&self, name: &Arc<str>) -> Affine {
        self.derived.get(name).cloned().unwrap_or(Affine {
            base: name.clone(),
            num: 1,
            den: 1,
            offset: 0,
        })
    }

    /// The dimension `affine` (reduced); `None` if the expression is not a valid size.
    fn make(&mut self, affine: Affine) -> Option<Dim> {
        let Affine { base, num, den, offset } = affine;
        if num == 0 {
            return usize::try_from(offset).ok().map(Dim::Fixed);
        }
        if num < 0 || den <= 0 {
            return None;
        }
        let common = gcd(num, den);
        let (num, den) = (num / common, den / common);
        if num == 1 && den == 1 && offset == 0 {
            return Some(Dim::Symbol(base));
        }
        let mut name = wrapped(&base);
        if num != 1 {
            name = format!("{num}*{name}");
        }
        if den != 1 {
            name = format!("{name}/{den}");
        }
        match offset.signum() {
            1 => name = format!("{name}+{offset}"),
            -1 => name = format!("{name}-{}", offset.unsigned_abs()),
            _ => {}
        }
        let name: Arc<str> = name.into();
        self.derived.insert(name.clone(), Affine { base, num, den, offset });
        Some(Dim::Symbol(name))
    }

    /// A symbol named `expression`, standing for a value nothing here can simplify.
    pub(crate) fn opaque(&mut self, expression: String) -> Dim {
        Dim::Symbol(expression.into())
    }

    /// `floor((dim * multiplier + addend) / divisor)` (or `ceil`), for `divisor > 0`.
    /// Exact for fixed sizes; for symbols the symbolic part is assumed to divide evenly.
    pub(crate) fn scaled(
        &mut self,
        dim: &Dim,
        multiplier: i64,
        addend: i64,
        divisor: i64,
        ceil: bool,
    ) -> Option<Dim> {
        if divisor <= 0 || multiplier < 0 {
            return None;
        }
        match dim {
            Dim::Fixed(size) => {
                let size = i64::try_from(*size).ok()?;
                let value =
                    divide(size.checked_mul(multiplier)?.checked_add(addend)?, divisor, ceil);
                usize::try_from(value).ok().map(Dim::Fixed)
            }
            Dim::Symbol(name) => {
                let affine = self.affine(name);
                let offset = divide(
                    affine.offset.checked_mul(multiplier)?.checked_add(addend)?,
                    divisor,
                    ceil,
                );
                let num = affine.num.checked_mul(multiplier)?;
                let den = affine.den.checked_mul(divisor)?;
                self.make(Affine { base: affine.base, num, den, offset })
            }
        }
    }

    /// `dim + addend`.
    pub(crate) fn plus(&mut self, dim: &Dim, addend: i64) -> Option<Dim> {
        self.scaled(dim, 1, addend, 1, false)
    }

    /// The factors of a product of dimensions: a fraction and the unknowns, where a
    /// derived unknown without offset counts as its base times its coefficient (`W/8` is
    /// `W` times 1/8), so that `T * 120 / (2*T)` cancels to 60.
    fn factors(&self, dims: &[Dim]) -> Option<(u128, u128, Vec<Arc<str>>)> {
        let (mut num, mut den, mut symbols) = (1u128, 1u128, Vec::new());
        for dim in dims {
            match dim {
                Dim::Fixed(size) => num = num.checked_mul(*size as u128)?,
                Dim::Symbol(name) => match self.derived.get(name) {
                    Some(affine) if affine.offset == 0 => {
                        num = num.checked_mul(affine.num as u128)?;
                        den = den.checked_mul(affine.den as u128)?;
                        symbols.push(affine.base.clone());
                    }
                    _ => symbols.push(name.clone()),
                },
            }
        }
        symbols.sort();
        Some((num, den, symbols))
    }

    /// The product of `dims` divided by the product of `divisors`: equal unknowns cancel; a
    /// single unknown left over gets an affine name, anything else an opaque one. `Err` if
    /// known sizes alone do not divide.
    pub(crate) fn quotient(
        &mut self,
        dims: &[Dim],
        divisors: &[Dim],
    ) -> std::result::Result<Dim, String> {
        let overflow = || "the element count overflows".to_string();
        let (num, den, mut symbols) = self.factors(dims).ok_or_else(overflow)?;
        let (divisor_num, divisor_den, divisor_symbols) =
            self.factors(divisors).ok_or_else(overflow)?;
        if divisor_num == 0 {
            return Err("the known sizes multiply to 0, so -1 cannot be computed".into());
        }
        let any_symbol = !symbols.is_empty() || !divisor_symbols.is_empty();
        let mut left = Vec::new();
        for symbol in divisor_symbols {
            match symbols.iter().position(|s| *s == symbol) {
                Some(at) => {
                    symbols.remove(at);
                }
                None => left.push(symbol),
            }
        }
        let mut fixed = num.checked_mul(divisor_den).ok_or_else(overflow)?;
        let mut divisor = den.checked_mul(divisor_num).ok_or_else(overflow)?;
        let common = gcd_u128(fixed, divisor);
        (fixed, divisor) = (fixed / common, divisor / common);
        if symbols.is_empty() && left.is_empty() {
            if divisor == 1 {
                return usize::try_from(fixed).map(Dim::Fixed).map_err(|_| overflow());
            }
            if !any_symbol {
                return Err(format!("{num} elements do not divide into parts of {divisor_num}"));
            }
        }
        if let ([symbol], true) = (symbols.as_slice(), left.is_empty()) {
            if let (Ok(num), Ok(den)) = (i64::try_from(fixed), i64::try_from(divisor)) {
                if let Some(dim) = self.make(Affine { base: symbol.clone(), num, den, offset: 0 }) {
                    return Ok(dim);
                }
            }
        }
        let render = |fixed: u128, symbols: &[Arc<str>]| -> String {
            let mut parts: Vec<String> = symbols.iter().map(|s| wrapped(s)).collect();
            if fixed != 1 || parts.is_empty() {
                parts.push(fixed.to_string());
            }
            parts.join("*")
        };
        let numerator = render(fixed, &symbols);
        let expression = if divisor == 1 && left.is_empty() {
            numerator
        } else {
            format!("({numerator})/({})", render(divisor, &left))
        };
        Ok(self.opaque(expression))
    }
}

fn gcd_u128(a: u128, b: u128) -> u128 {
    let (mut a, mut b) = (a, b);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// One broadcast dimension of two: equal dimensions, or 1 against anything. Two different
/// unknowns are assumed equal (the first is kept); a 1 among them cannot be told apart.
fn broadcast_dim(a: &Dim, b: &Dim) -> std::result::Result<Dim, ()> {
    match (a, b) {
        (Dim::Fixed(1), other) | (other, Dim::Fixed(1)) => Ok(other.clone()),
        (Dim::Fixed(x), Dim::Fixed(y)) if x != y => Err(()),
        (Dim::Fixed(x), _) | (_, Dim::Fixed(x)) => Ok(Dim::Fixed(*x)),
        (Dim::Symbol(_), Dim::Symbol(_)) => Ok(a.clone()),
    }
}

/// The numpy-broadcast shape of `shapes`; a ShapeMismatch names the shapes.
pub(crate) fn broadcast(shapes: &[&[Dim]]) -> Result<Vec<Dim>> {
    let rank = shapes.iter().map(|shape| shape.len()).max().unwrap_or(0);
    let mut result = vec![Dim::Fixed(1); rank];
    for shape in shapes {
        let skip = rank - shape.len();
        for (at, dim) in shape.iter().enumerate() {
            result[skip + at] = broadcast_dim(&result[skip + at], dim).map_err(|()| {
                GraphError::shape(format!(
                    "shapes {} do not broadcast: dimension {} is {:?} in one and {:?} in another",
                    shapes.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" and "),
                    skip + at,
                    result[skip + at],
                    dim
                ))
            })?;
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbol(name: &str) -> Dim {
        Dim::symbol(name)
    }

    #[test]
    fn strided_windows_divide_symbols_and_compose() {
        let mut symbols = Symbols::default();
        let h = symbol("H");
        // Conv k3 s2 p1: floor((H + 2 - 3) / 2) + 1.
        let half =
            symbols.scaled(&h, 1, 2 - 3, 2, false).and_then(|d| symbols.plus(&d, 1)).unwrap();
        assert_eq!(half, symbol("H/2"));
        let quarter =
            symbols.scaled(&half, 1, 2 - 3, 2, false).and_then(|d| symbols.plus(&d, 1)).unwrap();
        assert_eq!(quarter, symbol("H/4"));
        // Upsampling by 2 undoes one halving: the same symbol comes back.
        assert_eq!(symbols.scaled(&quarter, 2, 0, 1, false).unwrap(), half);
        assert_eq!(symbols.scaled(&half, 2, 0, 1, false).unwrap(), h);
        // A valid 3x3 window shrinks by 2.
        assert_eq!(symbols.plus(&h, -2).unwrap(), symbol("H-2"));
        // Fixed sizes are exact, with floor or ceil.
        assert_eq!(symbols.scaled(&Dim::Fixed(7), 1, -1, 2, false), Some(Dim::Fixed(3)));
        assert_eq!(symbols.scaled(&Dim::Fixed(7), 1, -1, 4, true), Some(Dim::Fixed(2)));
    }

    #[test]
    fn quotients_cancel_equal_unknowns() {
        let mut symbols = Symbols::default();
        let (n, t) = (symbol("N"), symbol("T"));
        let total = [n.clone(), Dim::Fixed(120), Dim::Fixed(1), t.clone()];
        assert_eq!(symbols.quotient(&total, &[n.clone(), Dim::Fixed(120)]).unwrap(), t);
        assert_eq!(
            symbols.quotient(&[Dim::Fixed(6), Dim::Fixed(4)], &[Dim::Fixed(8)]).unwrap(),
            Dim::Fixed(3)
        );
        assert_eq!(
            symbols.quotient(&[t.clone(), Dim::Fixed(360)], &[Dim::Fixed(24)]).unwrap(),
            symbol("15*T")
        );
        assert_eq!(
            symbols.quotient(&[n.clone(), t.clone()], &[Dim::Fixed(2)]).unwrap(),
            symbol("(N*T)/(2)")
        );
        assert!(symbols.quotient(&[Dim::Fixed(7)], &[Dim::Fixed(2)]).is_err());
    }

    #[test]
    fn broadcasting_matches_ones_and_refuses_contradictions() {
        let shape =
            broadcast(&[&[symbol("N"), Dim::Fixed(3), Dim::Fixed(1)], &[Dim::Fixed(4)]]).unwrap();
        assert_eq!(shape, vec![symbol("N"), Dim::Fixed(3), Dim::Fixed(4)]);
        assert_eq!(broadcast(&[&[Dim::Fixed(1)], &[symbol("W")]]).unwrap(), vec![symbol("W")]);
        let error = broadcast(&[&[Dim::Fixed(2), Dim::Fixed(3)], &[Dim::Fixed(4), Dim::Fixed(3)]])
            .unwrap_err();
        assert_eq!(error.kind, crate::error::ErrorKind::ShapeMismatch);
        assert!(error.message.contains("dimension 0 is 2"), "{}", error.message);
    }
}
