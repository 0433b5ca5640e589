using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PunkGrid.Grains.Persistence;

namespace PunkGrid.Grains.Jobs;

/// <summary>
/// Folds the per-statement rows that job transitions append to <c>run_job_counts</c> back into one row per run and state
/// (<see cref="JobStore.CompactJobCountsAsync"/>), every <see cref="Interval"/> on every silo; an advisory lock lets one
/// silo do each pass. Reads of a run's counts stay correct without it (they sum whatever rows there are), only slower.
/// </summary>
public sealed partial class JobCountCompactor(JobStore store, ILogger<JobCountCompactor> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(Interval);
        var failing = 0;
        while (await WaitAsync(timer, stopping))
        {
            try
            {
                await store.CompactJobCountsAsync(stopping);
                failing = 0;
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                if (failing++ % 30 == 0)
                {
                    LogFailed(logger, ex.GetBaseException().Message);
                }
            }
        }
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Folding the runs' job counts failed (tried again every pass): {Error}")]
    private static partial void LogFailed(ILogger logger, string error);
}
