//! Linear algebra of the fit: the products `X'X`, `X'z`, `Xβ` and the normal-equation solves.

use linfa::Dataset;
use linfa::traits::Fit as _;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, s};

use super::design::Design;
use crate::forecast::ForecastError;

/// `X'X` for a design whose rows from `weekend_from` on are the weekend rows (and only those).
/// The weekend columns are copies of base columns on weekend rows and zero elsewhere, so their
/// blocks are sums over weekend rows of base-column products: one product over all rows for
/// the base block and one over the weekend rows (2/7 of them), about half the work of the full
/// product.
pub(super) fn gram(design: &Design, x: ArrayView2<f64>, weekend_from: usize) -> Array2<f64> {
    let p = design.columns();
    let base = design.base_columns();
    if design.weekend.is_empty() || p != x.ncols() {
        return x.t().dot(&x);
    }
    let xb = x.slice(s![.., ..base]);
    let xw = x.slice(s![weekend_from.., ..base]);
    let gram_base = xb.t().dot(&xb);
    let gram_weekend = xw.t().dot(&xw);
    // The base column each weekend column copies on weekend rows.
    let first_term = 1 + usize::from(design.trend.is_some());
    let mut source = vec![0usize];
    for &term in &design.weekend {
        source.push(first_term + 2 * term);
        source.push(first_term + 2 * term + 1);
    }
    let mut g = Array2::<f64>::zeros((p, p));
    g.slice_mut(s![..base, ..base]).assign(&gram_base);
    for (i, &si) in source.iter().enumerate() {
        for a in 0..base {
            g[(a, base + i)] = gram_weekend[(a, si)];
            g[(base + i, a)] = gram_weekend[(a, si)];
        }
        for (j, &sj) in source.iter().enumerate() {
            g[(base + i, base + j)] = gram_weekend[(si, sj)];
        }
    }
    g
}

/// Solves the normal equations `gram · β = rhs` with linfa-linear (its QR least squares on the
/// square system), after adding `ridge` to the diagonal.
pub(super) fn solve(
    gram: ArrayView2<f64>,
    rhs: ArrayView1<f64>,
    ridge: f64,
) -> Result<Array1<f64>, ForecastError> {
    let p = rhs.len();
    let mut a = gram.to_owned();
    for i in 0..p {
        a[(i, i)] += ridge;
    }
    let dataset = Dataset::new(a, rhs.to_owned());
    let fitted = LinearRegression::new()
        .with_intercept(false)
        .fit(&dataset)
        .map_err(|e| ForecastError::Fit(e.to_string()))?;
    let beta = fitted.params().to_owned();
    if beta.len() != p || !beta.iter().all(|b| b.is_finite()) {
        return Err(ForecastError::Fit(
            "least squares gave non-finite coefficients".to_string(),
        ));
    }
    Ok(beta)
}

/// `X·β` for a design with contiguous rows. ndarray's generic matrix-vector product walks the
/// rows through a slower iterator; over 20,000 rows it showed up as a fifth of a fit.
pub(super) fn mat_vec(x: ArrayView2<f64>, beta: ArrayView1<f64>) -> Array1<f64> {
    x.rows()
        .into_iter()
        .map(|row| match (row.as_slice(), beta.as_slice()) {
            (Some(row), Some(beta)) => dot(row, beta),
            _ => row.dot(&beta),
        })
        .collect()
}

/// `X'·z` for a design with contiguous rows: one scaled row added per observation.
pub(super) fn t_mat_vec(x: ArrayView2<f64>, z: &Array1<f64>) -> Array1<f64> {
    let mut out = vec![0.0; x.ncols()];
    for (row, &zr) in x.rows().into_iter().zip(z) {
        match row.as_slice() {
            Some(row) => out.iter_mut().zip(row).for_each(|(o, v)| *o += zr * v),
            None => out.iter_mut().zip(row).for_each(|(o, v)| *o += zr * v),
        }
    }
    Array1::from_vec(out)
}

/// A dot product of two slices through ndarray's unrolled kernel (the slow part of its
/// generic matrix-vector product is the row iteration, not the dot product).
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    ndarray::aview1(a).dot(&ndarray::aview1(b))
}

/// The residual sum of squares of `β` from the normal equations: `y'y − 2β'X'y + β'X'Xβ`.
pub(super) fn rss(gram: ArrayView2<f64>, rhs: ArrayView1<f64>, yy: f64, beta: &Array1<f64>) -> f64 {
    let value = yy - 2.0 * beta.dot(&rhs) + beta.dot(&gram.dot(beta));
    value.max(0.0)
}

/// Mean and standard deviation (1 for a constant) of `values`.
pub(super) fn standardize(values: &[f64]) -> Result<(f64, f64), ForecastError> {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if !mean.is_finite() {
        return Err(ForecastError::Fit(
            "values too large: their mean overflows".to_string(),
        ));
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    Ok((mean, if sd.is_finite() && sd > 0.0 { sd } else { 1.0 }))
}
