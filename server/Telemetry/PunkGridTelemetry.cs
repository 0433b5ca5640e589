using System.Diagnostics;
using System.Diagnostics.Metrics;
using PunkGrid.Contracts;
using PunkGrid.Server.Grains;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Telemetry;

/// <summary>
/// PunkGrid's OpenTelemetry sources, plain <see cref="System.Diagnostics"/> types so the grains need no exporter:
/// the <c>PunkGrid</c> activity source (spans <c>submit</c>, <c>lease</c>, <c>epoch</c>, <c>checkpoint</c>,
/// <c>requeue</c>) and the <c>PunkGrid</c> meter. The host decides where they go (OTLP, Prometheus). Every counter starts
/// at zero (each label of a labelled one), so a rule or a dashboard query over it has a series from the start.
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

    public static readonly Histogram<double> SamplesPerSecond = Meter.CreateHistogram("punkgrid.training.samples_per_second", "{sample}/s", "Training throughput, once per epoch of every job, by job kind.",
        tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 100_000] });

    public static readonly Histogram<long> CheckpointBytes = Meter.CreateHistogram("punkgrid.checkpoint.size", "By", "Size of each stored checkpoint.",
        tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [10_000, 100_000, 1_000_000, 10_000_000, 50_000_000, 100_000_000, 500_000_000, 1_000_000_000] });

    private static Func<int> runningHere = () => 0;

    /// <summary>The cluster state the sampler read last (<see cref="ClusterStateSampler"/>); before its first read, zeros and the database not yet reached.</summary>
    public static ClusterSample Sampled { get; set; } = new(
        Enum.GetNames<JobState>().ToDictionary(s => s, _ => 0L), 0, 0, new ClusterHealth(0, 0, 0, 0, 0),
        ScheduleCron.HealthStates.ToDictionary(s => s, _ => 0L), DatabaseUp: false);

    static PunkGridTelemetry()
    {
        Meter.CreateObservableGauge("punkgrid.jobs", () => ByLabel(Sampled.JobsByState, "state"), "{job}", "Jobs in the cluster by state (read from PostgreSQL; the same on every silo).");
        Meter.CreateObservableGauge("punkgrid.jobs.running.local", () => runningHere(), "{job}", "Jobs running on this silo's worker.");
        Meter.CreateObservableGauge("punkgrid.jobs.running.progress_age", () => Sampled.Health.ProgressAgeSeconds, "s",
            "The longest any Running job has gone without a new step or epoch (read from PostgreSQL).");
        Meter.CreateObservableGauge("punkgrid.jobs.quarantined", () => Sampled.Health.QuarantinedJobs, "{job}",
            "Jobs quarantined in the last 24 hours (attempts in a row lost their worker before a checkpoint), not retried since.");
        Meter.CreateObservableGauge("punkgrid.workers", () => new[]
        {
            new Measurement<long>(Sampled.Health.AliveWorkers, new KeyValuePair<string, object?>("state", "alive")),
            new Measurement<long>(Sampled.Health.SilentWorkers, new KeyValuePair<string, object?>("state", "silent")),
        }, "{worker}", "Workers by state: alive (heartbeat within a lease timeout), silent (none since, for under an hour, not replaced by a later incarnation).");
        Meter.CreateObservableGauge("punkgrid.workers.idle_slots", () => Sampled.Health.IdleSlots, "{slot}", "Free slots of the alive workers, but for those held free beside a suspect job running alone.");
        Meter.CreateObservableGauge("punkgrid.schedules", () => ByLabel(Sampled.SchedulesByHealth, "health"), "{schedule}",
            "Retraining schedules by the health of their last firing: ok, paused, overdue (due and not fired), skipped (the previous run was still going), refused.");
        Meter.CreateObservableGauge("punkgrid.database.up", () => Sampled.DatabaseUp ? 1 : 0, unit: null, "1 when this silo's last read of the cluster state from PostgreSQL worked, else 0.");
        Meter.CreateObservableGauge("punkgrid.job_logs.lines", () => Sampled.LogLines, "{line}", "Lines the job logs hold (read from PostgreSQL; the same on every silo).");
        Meter.CreateObservableGauge("punkgrid.job_logs.size", () => Sampled.LogBytes, "By", "Bytes the job logs' table takes in PostgreSQL, with its indexes.");
    }

    private static readonly HashSet<Instrument> Started = [];

    /// <summary>
    /// Adds zero to every counter (each label of a labelled one) once a listener (the exporters) listens to it: a counter has
    /// no series until its first measurement, and a measurement made before any listener is lost. Called on every sample.
    /// </summary>
    public static void StartCountersAtZero()
    {
        lock (Started)
        {
            foreach (var counter in new[] { LeaseExpirations, OutagesRidden, RunsSubmitted, JobsLeased })
            {
                if (counter.Enabled && Started.Add(counter))
                {
                    counter.Add(0);
                }
            }
            if (JobsFinished.Enabled && Started.Add(JobsFinished))
            {
                foreach (var state in new[] { JobState.Succeeded, JobState.Failed, JobState.Cancelled })
                {
                    JobsFinished.Add(0, new KeyValuePair<string, object?>("state", state.ToString()));
                }
            }
        }
    }

    /// <summary>Where the local running-jobs gauge reads from: this silo's worker.</summary>
    public static void Observe(Func<int> runningOnThisWorker) => runningHere = runningOnThisWorker;

    private static IEnumerable<Measurement<long>> ByLabel(IReadOnlyDictionary<string, long> counts, string label) =>
        counts.Select(c => new Measurement<long>(c.Value, new KeyValuePair<string, object?>(label, c.Key)));
}
