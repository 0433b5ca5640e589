using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace PunkGrid.Server.Telemetry;

/// <summary>
/// PunkGrid's OpenTelemetry sources, plain <see cref="System.Diagnostics"/> types so the grains need no exporter:
/// the <c>PunkGrid</c> activity source (spans <c>submit</c>, <c>lease</c>, <c>epoch</c>, <c>checkpoint</c>,
/// <c>requeue</c>) and the <c>PunkGrid</c> meter. The host decides where they go (OTLP, Prometheus).
/// </summary>
public static class PunkGridTelemetry
{
    public const string Name = "PunkGrid";

    public static readonly ActivitySource Source = new(Name, "1.0");

    public static readonly Meter Meter = new(Name, "1.0");

    public static readonly Counter<long> RunsSubmitted = Meter.CreateCounter<long>("punkgrid.runs.submitted", "{run}", "Runs created (idempotent re-submits are not counted).");

    public static readonly Counter<long> JobsLeased = Meter.CreateCounter<long>("punkgrid.jobs.leased", "{job}", "Job attempts leased to a worker.");

    public static readonly Counter<long> LeaseExpirations = Meter.CreateCounter<long>("punkgrid.lease.expirations", "{lease}", "Leases lost because their worker stopped heartbeating.");

    public static readonly Counter<long> OutagesRidden = Meter.CreateCounter<long>("punkgrid.lease.outages", "{outage}",
        "Lease-keeper passes that found nobody had reached the database for longer than the outage gap, and extended every lease instead of expiring it.");

    public static readonly Counter<long> JobsFinished = Meter.CreateCounter<long>("punkgrid.jobs.finished", "{job}", "Jobs reaching a final state, by state.");

    public static readonly Histogram<double> EpochDuration = Meter.CreateHistogram("punkgrid.epoch.duration", "s", "Wall time of one training epoch, by job kind.",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200] });

    public static readonly Histogram<double> SamplesPerSecond = Meter.CreateHistogram("punkgrid.training.samples_per_second", "{sample}/s", "Training throughput, reported with each heartbeat.",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 100_000] });

    public static readonly Histogram<long> CheckpointBytes = Meter.CreateHistogram("punkgrid.checkpoint.size", "By", "Size of each stored checkpoint.",
        tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [10_000, 100_000, 1_000_000, 10_000_000, 50_000_000, 100_000_000, 500_000_000, 1_000_000_000] });

    private static Func<IEnumerable<Measurement<long>>> jobsByState = () => [];
    private static Func<int> runningHere = () => 0;
    private static Func<(long Lines, long Bytes)> jobLogSize = () => (0, 0);

    static PunkGridTelemetry()
    {
        Meter.CreateObservableGauge("punkgrid.jobs", () => jobsByState(), "{job}", "Jobs in the cluster by state (read from PostgreSQL; the same on every silo).");
        Meter.CreateObservableGauge("punkgrid.jobs.running.local", () => runningHere(), "{job}", "Jobs running on this silo's worker.");
        Meter.CreateObservableGauge("punkgrid.job_logs.lines", () => jobLogSize().Lines, "{line}", "Lines the job logs hold (read from PostgreSQL; the same on every silo).");
        Meter.CreateObservableGauge("punkgrid.job_logs.size", () => jobLogSize().Bytes, "By", "Bytes the job logs' table takes in PostgreSQL, with its indexes.");
    }

    /// <summary>Where the job-log gauges read from: the latest lines and bytes sampled.</summary>
    public static void ObserveJobLogs(Func<(long Lines, long Bytes)> size) => jobLogSize = size;

    /// <summary>Where the observable gauges read from: the latest counts by state, and this worker's running jobs.</summary>
    public static void Observe(Func<IReadOnlyDictionary<string, long>> countsByState, Func<int> runningOnThisWorker)
    {
        jobsByState = () => countsByState().Select(c => new Measurement<long>(c.Value, new KeyValuePair<string, object?>("state", c.Key)));
        runningHere = runningOnThisWorker;
    }
}
