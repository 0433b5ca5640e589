using Orleans.Concurrency;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;

namespace PunkGrid.Server.Grains;

/// <summary>
/// One job as operators see it, over its <c>jobs</c> row: detail and timeline, cancel, retry, metrics, logs, artifacts. Cancel
/// and retry are conditional statements; the database notifies the workers (a cancelled job stops at once, a retried one
/// is leased by the first free worker). Workers never come through here: they lease and report in the database.
/// </summary>
[StatelessWorker]
public sealed class JobGrain(JobStore store, MetricStore metrics, ArtifactStore artifacts, JobLogStore logs) : Grain, IJobGrain
{
    private string JobId => this.GetPrimaryKeyString();

    public async Task<JobDetail?> GetDetail()
    {
        var job = await store.GetJobAsync(JobId);
        return job is null ? null : new JobDetail(job.Value.Summary, job.Value.Spec, await store.GetEventsAsync(JobId));
    }

    public async Task<CommandResult> Cancel(string reason)
    {
        var result = await store.CancelAsync(JobId, reason);
        if (result is null)
        {
            return new CommandResult(false, $"unknown job '{JobId}'", NotFound: true);
        }
        return result.Value.Changed
            ? new CommandResult(true, $"job {JobId} cancelled")
            : new CommandResult(false, $"job {JobId} is already {result.Value.State}; only Queued or Running jobs can be cancelled");
    }

    public async Task<CommandResult> Retry()
    {
        var result = await store.RetryAsync(JobId);
        if (result is null)
        {
            return new CommandResult(false, $"unknown job '{JobId}'", NotFound: true);
        }
        return result.Value.Changed
            ? new CommandResult(true, $"job {JobId} queued again")
            : new CommandResult(false, $"job {JobId} is {result.Value.State}; only Failed or Cancelled jobs can be retried");
    }

    public Task<MetricPage> GetMetrics(MetricQuery query) => metrics.ReadAsync(JobId, query);

    public Task<JobLogPage?> GetLogs(JobLogQuery query) => logs.ReadAsync(JobId, query);

    public Task<IReadOnlyList<ArtifactInfo>> GetArtifacts() => artifacts.ListAsync(JobId);

    public Task<ArtifactContent?> GetArtifact(string name) => artifacts.ReadAsync(JobId, name);
}
