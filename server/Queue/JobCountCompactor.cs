using Microsoft.Extensions.Logging;

namespace PunkGrid.Server.Queue;

/// <summary>
/// Folds the per-statement rows that job transitions append to <c>run_job_counts</c> back into one row per run and state
/// (<see cref="JobStore.CompactJobCountsAsync"/>), every <see cref="Every"/> on every silo; an advisory lock lets one
/// silo do each pass. Reads of a run's counts stay correct without it (they sum whatever rows there are), only slower.
/// </summary>
public sealed class JobCountCompactor(JobStore store, ILogger<JobCountCompactor> logger) : PeriodicPass(logger)
{
    public static readonly TimeSpan Every = TimeSpan.FromSeconds(2);

    protected override TimeSpan Interval => Every;

    protected override string Name => "Folding the runs' job counts";

    protected override Task RunPassAsync(CancellationToken stopping) => store.CompactJobCountsAsync(stopping);
}
