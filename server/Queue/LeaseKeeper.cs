using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Contracts;
using PunkGrid.Server.Worker;

namespace PunkGrid.Server.Queue;

/// <summary>
/// Expires leases nobody renewed, on every silo (no single scheduler to lose): each pass is one statement
/// (<see cref="JobQueue.ExpireLeasesAsync"/>), serialised between silos by the lease clock's row lock. A pass that finds
/// the clock not ticked for longer than the outage gap (the database was down or paused, or every silo was) extends
/// every lease by a full timeout instead, so an outage costs no running job its attempt.
/// </summary>
public sealed partial class LeaseKeeper(JobQueue queue, JobLogWriter jobLogs, IOptions<JobQueueOptions> options, ILogger<LeaseKeeper> logger) : PeriodicPass(logger)
{
    protected override TimeSpan Interval => options.Value.ExpiryScanInterval;

    protected override string Name => "Lease keeper";

    protected override async Task RunPassAsync(CancellationToken stopping)
    {
        var settings = options.Value;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(5).Ticks, settings.LeaseTimeout.Ticks / 2)));
        var result = await queue.ExpireLeasesAsync(timeout.Token);
        if (result.Outage)
        {
            Telemetry.PunkGridTelemetry.OutagesRidden.Add(1);
            LogOutage(logger, result.SincePreviousTick.TotalSeconds, result.Extended, settings.LeaseTimeout.TotalSeconds);
        }
        foreach (var lost in result.Expired)
        {
            WorkerAgent.Telemetry(lost);
            // Said in the job's log too: the worker that lost the lease may never say anything again.
            var log = new JobLogger(logger, jobLogs, lost.JobId, lost.Attempt, "queue", saidByAttempt: false);
            if (lost.State == JobState.Failed)
            {
                LogQuarantined(log, lost.JobId, lost.Attempt, lost.Reason);
            }
            else
            {
                LogExpired(log, lost.JobId, lost.Attempt, lost.Reason);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job} attempt {Attempt}: {Reason}; requeued")]
    private static partial void LogExpired(ILogger logger, string job, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {Job} attempt {Attempt}: {Reason}")]
    private static partial void LogQuarantined(ILogger logger, string job, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Nobody reached the database for {Seconds:F1}s (an outage, or every silo was down): {Count} running lease(s) extended by {Lease:F0}s instead of expired")]
    private static partial void LogOutage(ILogger logger, double seconds, int count, double lease);
}
