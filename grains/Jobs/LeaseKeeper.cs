using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Contracts;
using PunkGrid.Grains.Persistence;
using PunkGrid.Grains.Worker;

namespace PunkGrid.Grains.Jobs;

/// <summary>
/// Expires leases nobody renewed, on every silo (no single scheduler to lose): each pass is one statement
/// (<see cref="JobQueue.ExpireLeasesAsync"/>), serialised between silos by the lease clock's row lock. A pass that finds
/// the clock not ticked for longer than the outage gap (the database was down or paused, or every silo was) extends
/// every lease by a full timeout instead, so an outage costs no running job its attempt.
/// </summary>
public sealed partial class LeaseKeeper(JobQueue queue, IOptions<SchedulingOptions> options, ILogger<LeaseKeeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var settings = options.Value;
        using var timer = new PeriodicTimer(settings.ExpiryScanInterval);
        var failing = 0;
        do
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                timeout.CancelAfter(TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(5).Ticks, settings.LeaseTimeout.Ticks / 2)));
                var result = await queue.ExpireLeasesAsync(timeout.Token);
                if (failing > 0)
                {
                    LogRecovered(logger, failing);
                    failing = 0;
                }
                if (result.Outage)
                {
                    Telemetry.PunkGridTelemetry.OutagesRidden.Add(1);
                    LogOutage(logger, result.SincePreviousTick.TotalSeconds, result.Extended, settings.LeaseTimeout.TotalSeconds);
                }
                foreach (var lost in result.Expired)
                {
                    WorkerAgent.Telemetry(lost);
                    if (lost.State == JobState.Failed)
                    {
                        LogQuarantined(logger, lost.JobId, lost.Attempt, lost.Reason);
                    }
                    else
                    {
                        LogExpired(logger, lost.JobId, lost.Attempt, lost.Reason);
                    }
                }
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                if (failing++ % 30 == 0)
                {
                    LogFailed(logger, ex.GetBaseException().Message);
                }
            }
        }
        while (await WaitAsync(timer, stopping));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stopping)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stopping);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job} attempt {Attempt}: {Reason}; requeued")]
    private static partial void LogExpired(ILogger logger, string job, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {Job} attempt {Attempt}: {Reason}")]
    private static partial void LogQuarantined(ILogger logger, string job, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Nobody reached the database for {Seconds:F1}s (an outage, or every silo was down): {Count} running lease(s) extended by {Lease:F0}s instead of expired")]
    private static partial void LogOutage(ILogger logger, double seconds, int count, double lease);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease keeper: {Error}; retrying every pass")]
    private static partial void LogFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Lease keeper: the database answers again after {Passes} failed pass(es)")]
    private static partial void LogRecovered(ILogger logger, int passes);
}
