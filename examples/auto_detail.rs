//! Debug: for one dataset, at each yardstick origin, auto's holdout scores and choice next to the
//! realized MAE of each candidate over the next `h` steps.
use prescale::backtest::Setup;
use prescale::forecast::ModelSpec;
use prescale::forecast::window::training_series;
use prescale::series::Span;
use prescale::series::csv::read_dataset;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("DATASET")?;
    let horizon: Span = args.next().unwrap_or("1h".into()).parse()?;
    let k: usize = args.next().unwrap_or("50".into()).parse()?;
    let dataset = read_dataset(std::path::Path::new(&path))?;
    let series = &dataset.series;
    let seasons: Vec<Span> = vec!["1d".parse()?, "7d".parse()?];
    let setup = Setup::new(series.len(), series.step(), horizon, None, &seasons)?;
    let h = setup.horizon_steps;
    let specs: Vec<(String, ModelSpec)> = vec![
        (
            "auto".into(),
            ModelSpec::from_name("auto", setup.seasons.clone())?,
        ),
        (
            "lin".into(),
            ModelSpec::from_name("linear-seasonal", setup.seasons.clone())?,
        ),
        (
            "sn1d".into(),
            ModelSpec::from_name("seasonal-naive", vec!["1d".parse()?])?,
        ),
        (
            "sn7d".into(),
            ModelSpec::from_name("seasonal-naive", setup.seasons.clone())?,
        ),
    ];
    for &i in &setup.origins(k) {
        let origin = series.timestamp(i);
        let before = &dataset.samples[..dataset.samples.partition_point(|s| s.timestamp < origin)];
        let train = training_series(before, origin, setup.train_window)?;
        let actual = &series.values()[i..i + h];
        let mut line = prescale::series::format_timestamp(origin).to_string();
        for (name, spec) in &specs {
            let model = spec.fit(&train)?;
            let skip = ((origin - model.origin()) / series.step()) as usize;
            let f = model.predict(skip + h, &[0.1, 0.9])?;
            let mae: f64 = actual
                .iter()
                .zip(&f.yhat[skip..])
                .filter(|(a, _)| a.is_finite())
                .map(|(a, y)| (a - y).abs())
                .sum::<f64>()
                / h as f64;
            line += &format!(" {name}={mae:.1}");
            if name == "auto" {
                let s = model.summary();
                if let Some(v) = s.validation {
                    line += &format!(" [{}:", v.chosen);
                    for sc in v.scores {
                        line += &format!(
                            " {}={:.1}",
                            sc.model
                                .replace("seasonal-naive", "sn")
                                .replace("linear-seasonal", "lin"),
                            sc.mae.unwrap_or(f64::NAN)
                        );
                    }
                    line += "]";
                }
            }
        }
        println!("{line}");
    }
    Ok(())
}
