#!/usr/bin/env python3
"""Derives traces of shapes the bundled set lacks, from the bundled traces, for issue 29's
SLO-mode evaluation (and issue 22's forecasts). Deterministic (fixed seeds), standard library only.

    scripts/derive_traces.py [OUT_DIR]        # default target/derived
    prescale backtest --all target/derived --slo 0.99

Written, each in the dataset CSV format (`timestamp,value`, RFC 3339 UTC, gaps kept as gaps):

- business-hours-nasa-1m.csv: NASA's per-minute requests, open 08:00-18:00 US Eastern
  (12:00-22:00 UTC) on weekdays, 2 % of the load otherwise: a call centre's sharp morning
  opening and closed nights and weekends.
- irregular-bursts-nasa-1m.csv: NASA's per-minute requests with 3-5x bursts of 10-20 minutes at
  irregular times (about three a day, exponential gaps).
- daily-burst-nasa-1m.csv: NASA's per-minute requests with a 3x burst of 10 minutes at 14:00 UTC
  every day (a cron job, a daily campaign).
- weekday-burst-fb-5m.csv: Facebook's tweet volume tripled from 09:00 to 09:15 UTC on weekdays
  only (a morning batch on working days: three 5-minute steps).
- batch-google-5m.csv: the Google cluster CPU with an hour-long batch job every night (02:00 to
  03:00 UTC, adding 1.5x the trace's mean load): a plateau too wide for a burst and too sharp
  for the daily harmonics.
- batch-ec2-5m.csv: the same job on the two-week EC2 CPU trace (a week of train window: the
  first calibration fit of `auto` sees four days, a weekend day among them).
- growth-taxi-30m.csv: the NYC taxi trace growing 3x linearly over its 7 months.
- sparse-nasa-1m.csv, sparse-fb-5m.csv: low counts (a few events per step, many zeros at
  night): Poisson draws around NASA's per-minute requests / 30 and Facebook's tweet volume / 4.
- office-nasa-1m.csv: NASA's per-minute requests kept only 12:00-22:00 UTC on weekdays, no
  samples at all otherwise (a call centre that reports nothing while closed).
- office-elb-5m.csv: the ELB request count kept only 08:00-18:00 UTC on weekdays.
- gaps-ec2-5m.csv, gaps-google-5m.csv: the EC2 CPU with 10 % and the Google cluster CPU with
  20 % of their samples missing at random (failed scrapes): runs of observations a few dozen
  steps long.
- dst-taxi-30m.csv: the NYC taxi trace (labelled in New York's wall clock) written in UTC, as
  a collector in UTC records it: from 2014-11-02 06:00 UTC (the end of daylight-saving time)
  its daily and weekly shape arrives an hour later in UTC; the repeated hour's count is split
  over its two hours.
- dst-business-hours-nasa-1m.csv: business-hours-nasa-1m.csv 11 weeks later (1995-09-16 to
  11-17), kept in New York's wall clock: opening an hour later in UTC from 1995-10-29.
- dst-taylor-30m.csv: the British electricity demand 18 weeks earlier (2000-01-30 to 04-23) in
  London's wall clock: an hour earlier in UTC from 2000-03-26 01:00 UTC (summer time).
- dst-office-nasa-1m.csv, dst-call-centre-nasa-30m.csv: office-nasa-1m.csv and its requests per
  half hour, 11 weeks later in New York's wall clock: no samples while closed, and from
  1995-10-29 the first hour with samples an hour later in UTC.
- call-centre-nasa-15m.csv, call-centre-nasa-1h.csv: office-nasa-1m.csv as requests per quarter
  hour and per hour (each interval's mean per minute times its minutes): the same schedule at
  the coarser steps a call centre reports in (40 or 10 observations a day, none at night).
- growth-fb-5m.csv: Facebook's tweet volume growing 6x exponentially over its 8 weeks (a launch).
- launch-google-5m.csv: the Google cluster CPU stepping up 2.5x at 07:12 UTC on its 17th day and
  staying there (a launch: a level that jumps rather than grows).
- launch-fb-5m.csv: Facebook's tweet volume stepping up 3x on its 31st day and 1.5x more on its
  45th (the rounds of a tournament).
- growth-nasa-1m.csv: NASA's per-minute requests growing 4x linearly over its 2 months.
- short-google-5m.csv, short-nasa-1m.csv: the first 14 days of the Google cluster CPU and of
  NASA: a trace whose train window holds one week (one weekly season) at most.
- tournament-nasa-1m.csv: NASA's per-minute requests growing 5x exponentially over its 2 months
  with match-time surges (an event site): on four days of five, each of 15:00, 18:30 and
  21:00 UTC holds a match with probability 0.6: a 15-minute rise to 1.8-3x (up to half as much
  again by the end), two hours held, a 30-minute fall.

And in OUT_DIR/short/ (not picked up by `backtest --all OUT_DIR`), for issue 22's short-history
comparison at the yardstick's frame (`eval/peers.py`, a 7-day train window):

- short0-NAME.csv, short1-NAME.csv: 14 days of every bundled trace spanning at least 20 days,
  from its start and from 7 days before its middle (short1 of NASA is left out: the 1995 outage
  leaves it a third empty), and of batch-google-5m.csv (a week of history holds two weekend days:
  too few for a pulse of their own).
- week-*.csv: machine loads on 14 days (a week of train window): the EC2 CPU stepping up 1.8x
  at 8.5 days (week-step-up-ec2-5m.csv: a level older than the latest residuals, the fit's own to
  follow) or down 0.5x (week-step-down-ec2-5m.csv), 0.4x at night and at weekends and 1.6x from
  09:00 to 17:00 UTC on weekdays (week-square-ec2-5m.csv: a server busy in working hours, sharp
  edges), plus 40 % CPU for the first 10 minutes of every hour (week-hourly-ec2-5m.csv: an hourly
  job); the Google cluster's first 14 days plus 0.3 from 02:00 to 02:40 UTC every night
  (week-backup-google-5m.csv: a nightly backup).
"""

import csv
import math
import os
import random
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = os.path.join(HERE, "..", "datasets")


def read(name):
    rows = []
    with open(os.path.join(DATASETS, name), newline="") as f:
        for row in csv.DictReader(f):
            t = datetime.strptime(row["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            rows.append((t, float(row["value"])))
    return rows


def write(out_dir, name, rows, exact=False):
    path = os.path.join(out_dir, name)
    with open(path, "w", newline="") as f:
        f.write("timestamp,value\n")
        for t, v in rows:
            value = repr(v) if exact else f"{round(v, 3):g}"
            f.write(f"{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{value}\n")
    print(f"{path}: {len(rows)} rows")


def working_hours(rows, opens, closes, inside, outside):
    """The load times `inside` from `opens`:00 to `closes`:00 UTC on weekdays, times `outside`
    otherwise."""
    return [(t, v * (inside if t.weekday() < 5 and opens <= t.hour < closes else outside)) for t, v in rows]


def business_hours(rows):
    return working_hours(rows, 12, 22, 1.0, 0.02)


def irregular_bursts(rows, seed=29):
    rng = random.Random(seed)
    start, end = rows[0][0].timestamp(), rows[-1][0].timestamp()
    bursts = []  # (from, to, factor)
    t = start + rng.expovariate(3 / 86_400)
    while t < end:
        length = rng.uniform(600, 1200)
        bursts.append((t, t + length, rng.uniform(3, 5)))
        t += length + rng.expovariate(3 / 86_400)
    out, k = [], 0
    for ts, v in rows:
        s = ts.timestamp()
        while k < len(bursts) and bursts[k][1] <= s:
            k += 1
        factor = bursts[k][2] if k < len(bursts) and bursts[k][0] <= s < bursts[k][1] else 1.0
        out.append((ts, v * factor))
    return out


def daily_burst(rows):
    return [(t, v * (3.0 if t.hour == 14 and t.minute < 10 else 1.0)) for t, v in rows]


def weekday_burst(rows):
    """3x from 09:00 to 09:15 UTC on weekdays only (a morning batch on working days)."""
    return [(t, v * (3.0 if t.weekday() < 5 and t.hour == 9 and t.minute < 15 else 1.0)) for t, v in rows]


def nightly_batch(rows, hour=2, factor=1.5):
    """An hour-long job from `hour`:00 UTC every day, adding `factor` times the mean load."""
    return nightly(rows, factor * sum(v for _, v in rows) / len(rows), hour, 60)


def growth(rows, total=3.0):
    start, end = rows[0][0].timestamp(), rows[-1][0].timestamp()
    return [(t, v * (1 + (total - 1) * (t.timestamp() - start) / (end - start))) for t, v in rows]


def office_hours(rows, opens, closes):
    return [(t, v) for t, v in rows if t.weekday() < 5 and opens <= t.hour < closes]


def per_interval(rows, minutes):
    """The load per `minutes`-long interval (the mean per row of the interval's rows times the
    rows it spans), for the intervals that hold any row."""
    step = (rows[1][0] - rows[0][0]).total_seconds() / 60
    buckets = {}
    for t, v in rows:
        start = t.replace(minute=t.minute - t.minute % minutes, second=0)
        buckets.setdefault(start, []).append(v)
    return [(t, sum(vs) / len(vs) * minutes / step) for t, vs in sorted(buckets.items())]


def exponential_growth(rows, total):
    start, end = rows[0][0].timestamp(), rows[-1][0].timestamp()
    return [(t, v * total ** ((t.timestamp() - start) / (end - start))) for t, v in rows]


def tournament(rows, seed=98, total=5.0):
    """`total`x exponential growth over the trace and match-time surges (module doc)."""
    rng = random.Random(seed)
    start, end = rows[0][0].timestamp(), rows[-1][0].timestamp()
    matches = []  # (start, peak factor)
    for day in range(int(start // 86_400), int(end // 86_400) + 1):
        if rng.random() >= 0.8:
            continue
        for hour in (15.0, 18.5, 21.0):
            if rng.random() < 0.6:
                progress = (day * 86_400 - start) / (end - start)
                matches.append((day * 86_400 + hour * 3600, rng.uniform(1.8, 3.0) * (1 + 0.5 * progress)))
    rise, held, fall = 900, 7200, 1800
    out = []
    for t, v in rows:
        s = t.timestamp()
        factor = 1.0
        for begin, peak in matches:
            x = s - begin
            if 0 <= x < rise:
                factor = max(factor, 1 + (peak - 1) * x / rise)
            elif rise <= x < rise + held:
                factor = max(factor, peak)
            elif rise + held <= x < rise + held + fall:
                factor = max(factor, peak - (peak - 1) * (x - rise - held) / fall)
        out.append((t, v * factor * total ** ((s - start) / (end - start))))
    return out


def every_hour(rows, extra, minutes):
    """`extra` added for the first `minutes` of every hour (an hourly job)."""
    return [(t, v + (extra if t.minute < minutes else 0.0)) for t, v in rows]


def nightly(rows, extra, hour, minutes):
    """`extra` added from `hour`:00 UTC for `minutes` every night (a backup)."""
    return [(t, v + (extra if t.hour == hour and t.minute < minutes else 0.0)) for t, v in rows]


def week_windows(out_dir):
    """Machine loads on 14 days, in OUT_DIR/short/ (module doc)."""
    short_dir = os.path.join(out_dir, "short")
    os.makedirs(short_dir, exist_ok=True)
    ec2 = read("aws-ec2-cpu-5f5533-5m.csv")
    google = days_from(read("google-cluster-2019-cpu-5m.csv"), 0, 14)
    write(short_dir, "week-step-up-ec2-5m.csv", level_steps(ec2, [(8.5, 1.8)]))
    write(short_dir, "week-step-down-ec2-5m.csv", level_steps(ec2, [(8.5, 0.5)]))
    write(short_dir, "week-square-ec2-5m.csv", working_hours(ec2, 9, 17, 1.6, 0.4))
    write(short_dir, "week-hourly-ec2-5m.csv", every_hour(ec2, 40.0, 10))
    write(short_dir, "week-backup-google-5m.csv", nightly(google, 0.3, 2, 40))


def local_clock(rows, zone, weeks=0, split=False):
    """The trace's labels moved `weeks` weeks and read as the wall clock of `zone`, written in UTC:
    traffic that keeps a daylight-saving clock, as a collector in UTC records it (its daily shape
    an hour earlier or later in UTC from each change on). A wall-clock hour that repeats (the
    autumn change) holds the row's value at both of its instants, half at each with `split` (a
    count per interval); one that is skipped (the spring change) has no rows."""
    tz = ZoneInfo(zone)
    out = {}
    for t, v in rows:
        wall = (t + timedelta(weeks=weeks)).replace(tzinfo=None)
        first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
        if first.utcoffset() != second.utcoffset():
            for instant in (first, second):
                out[instant.astimezone(timezone.utc)] = v / 2 if split else v
        elif first.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) == wall:
            out[first.astimezone(timezone.utc)] = v
    return sorted(out.items())


def level_steps(rows, steps):
    """For each `(day, step)`: the load multiplied by `step` from `day` days after the start on."""
    start = rows[0][0].timestamp()
    out = []
    for t, v in rows:
        elapsed = (t.timestamp() - start) / 86_400
        factor = 1.0
        for day, step in steps:
            if elapsed >= day:
                factor *= step
        out.append((t, v * factor))
    return out


def days_from(rows, first_day, days):
    start = rows[0][0].timestamp() + first_day * 86_400
    return [(t, v) for t, v in rows if 0 <= t.timestamp() - start < days * 86_400]


def short_windows(out_dir, derived):
    """Two 14-day windows of every bundled trace spanning at least 20 days, and of the
    `derived` traces given as (name, rows)."""
    short_dir = os.path.join(out_dir, "short")
    os.makedirs(short_dir, exist_ok=True)
    traces = [(name, read(name)) for name in sorted(os.listdir(DATASETS)) if name.endswith(".csv")]
    for name, rows in traces + derived:
        span = (rows[-1][0].timestamp() - rows[0][0].timestamp()) / 86_400
        if span < 20:
            continue
        write(short_dir, f"short0-{name}", days_from(rows, 0, 14), exact=True)
        if not name.startswith("nasa-"):
            write(short_dir, f"short1-{name}", days_from(rows, span / 2 - 7, 14), exact=True)


def poisson(rng, mean):
    """A Poisson draw (Knuth's method; a rounded normal above a mean of 30)."""
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def sparse_counts(rows, divisor, seed=22):
    rng = random.Random(seed)
    return [(t, poisson(rng, max(v, 0.0) / divisor)) for t, v in rows]


def missing_at_random(rows, share, seed):
    rng = random.Random(seed)
    return [(t, v) for t, v in rows if rng.random() >= share]


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "target", "derived")
    os.makedirs(out_dir, exist_ok=True)
    nasa = read("nasa-http-1995-1m.csv")
    write(out_dir, "business-hours-nasa-1m.csv", business_hours(nasa))
    write(out_dir, "irregular-bursts-nasa-1m.csv", irregular_bursts(nasa))
    write(out_dir, "daily-burst-nasa-1m.csv", daily_burst(nasa))
    write(out_dir, "weekday-burst-fb-5m.csv", weekday_burst(read("twitter-volume-fb-5m.csv")))
    write(out_dir, "growth-taxi-30m.csv", growth(read("nyc-taxi-30m.csv")))
    write(out_dir, "sparse-nasa-1m.csv", sparse_counts(nasa, 30.0))
    write(out_dir, "sparse-fb-5m.csv", sparse_counts(read("twitter-volume-fb-5m.csv"), 4.0))
    office = office_hours(nasa, 12, 22)
    write(out_dir, "office-nasa-1m.csv", office)
    write(out_dir, "office-elb-5m.csv", office_hours(read("aws-elb-request-count-5m.csv"), 8, 18))
    write(out_dir, "growth-fb-5m.csv", exponential_growth(read("twitter-volume-fb-5m.csv"), 6.0))
    write(out_dir, "growth-nasa-1m.csv", growth(nasa, 4.0))
    write(out_dir, "launch-google-5m.csv", level_steps(read("google-cluster-2019-cpu-5m.csv"), [(16.3, 2.5)]))
    write(out_dir, "launch-fb-5m.csv", level_steps(read("twitter-volume-fb-5m.csv"), [(30.4, 3.0), (44.6, 1.5)]))
    write(out_dir, "short-google-5m.csv", days_from(read("google-cluster-2019-cpu-5m.csv"), 0, 14))
    write(out_dir, "short-nasa-1m.csv", days_from(nasa, 0, 14))
    batch = nightly_batch(read("google-cluster-2019-cpu-5m.csv"))
    write(out_dir, "batch-google-5m.csv", batch)
    short_windows(out_dir, [("batch-google-5m.csv", batch)])
    write(out_dir, "batch-ec2-5m.csv", nightly_batch(read("aws-ec2-cpu-5f5533-5m.csv")))
    write(out_dir, "tournament-nasa-1m.csv", tournament(nasa))
    week_windows(out_dir)
    write(out_dir, "call-centre-nasa-15m.csv", per_interval(office, 15))
    write(out_dir, "call-centre-nasa-1h.csv", per_interval(office, 60))
    write(out_dir, "gaps-ec2-5m.csv", missing_at_random(read("aws-ec2-cpu-5f5533-5m.csv"), 0.1, 41))
    write(out_dir, "gaps-google-5m.csv", missing_at_random(read("google-cluster-2019-cpu-5m.csv"), 0.2, 42))
    write(out_dir, "dst-taxi-30m.csv", local_clock(read("nyc-taxi-30m.csv"), "America/New_York", split=True))
    write(out_dir, "dst-business-hours-nasa-1m.csv", local_clock(business_hours(nasa), "America/New_York", 11))
    write(out_dir, "dst-taylor-30m.csv", local_clock(read("taylor-elec-gb-2000-30m.csv"), "Europe/London", -18))
    write(out_dir, "dst-office-nasa-1m.csv", local_clock(office, "America/New_York", 11))
    write(out_dir, "dst-call-centre-nasa-30m.csv", local_clock(per_interval(office, 30), "America/New_York", 11))


if __name__ == "__main__":
    main()
