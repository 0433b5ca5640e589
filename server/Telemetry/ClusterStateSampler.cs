using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Server.Grains;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Worker;

namespace PunkGrid.Server.Telemetry;

/// <summary>
/// Reads the cluster's state from PostgreSQL every few seconds for the gauges an operator's dashboard and alerts watch (a
/// gauge callback must not block on the database): jobs by state, workers alive and silent, idle slots, the longest a
/// running job went without progress, quarantined jobs, schedules by health, the job logs' size — the same on every silo —
/// and whether this silo reaches the database at all (<c>punkgrid.database.up</c>). It also points the local running-jobs
/// gauge at this silo's worker.
/// </summary>
public sealed partial class ClusterStateSampler(
    JobStore store, JobLogStore logs, ClusterHealthStore health, ScheduleStore schedules, IServiceProvider services,
    IOptions<JobQueueOptions> queue, IOptions<RetrainingScheduleOptions> scheduling, ILogger<ClusterStateSampler> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var worker = services.GetServices<IHostedService>().OfType<WorkerAgent>().FirstOrDefault();
        PunkGridTelemetry.Observe(() => worker?.RunningJobIds.Count ?? 0);
        using var timer = new PeriodicTimer(Interval);
        var failing = 0;
        do
        {
            PunkGridTelemetry.StartCountersAtZero();
            try
            {
                var counts = await store.CountJobsByStateAsync(stopping);
                var size = await logs.SizeAsync(stopping);
                var cluster = await health.ReadAsync(queue.Value.LeaseTimeout, stopping);
                var now = DateTimeOffset.UtcNow;
                var rows = await schedules.ListAsync(stopping);
                var counted = rows.CountBy(r => ScheduleCron.Health(r, now, scheduling.Value.Tick)).ToDictionary();
                var byHealth = ScheduleCron.HealthStates.ToDictionary(s => s, s => (long)counted.GetValueOrDefault(s));
                PunkGridTelemetry.Sampled = new ClusterSample(counts, size.Lines, size.Bytes, cluster, byHealth, DatabaseUp: true);
                failing = 0;
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                // The gauges keep their last values; database.up says they are stale.
                PunkGridTelemetry.Sampled = PunkGridTelemetry.Sampled with { DatabaseUp = false };
                if (failing++ % 12 == 0)
                {
                    LogSampleFailed(logger, ex.GetBaseException().Message);
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cluster state for telemetry: the database did not answer ({Error}); punkgrid.database.up is 0")]
    private static partial void LogSampleFailed(ILogger logger, string error);
}

/// <summary>The latest cluster state the sampler read, which the gauges report.</summary>
public sealed record ClusterSample(
    IReadOnlyDictionary<string, long> JobsByState, long LogLines, long LogBytes, ClusterHealth Health,
    IReadOnlyDictionary<string, long> SchedulesByHealth, bool DatabaseUp);
