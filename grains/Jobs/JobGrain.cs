using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Contracts;
using PunkGrid.Grains.Persistence;
using PunkGrid.Grains.Telemetry;

namespace PunkGrid.Grains.Jobs;

/// <summary>
/// One job's state machine over the <c>jobs</c> row. Transitions are conditional SQL (state and attempt must
/// match), so a report from a stale attempt changes nothing. Tells the scheduler when the job re-enters or
/// leaves the queue.
/// </summary>
public sealed class JobGrain(JobStore store, TrainingOutputStore outputs, IOptions<SchedulingOptions> scheduling, ILogger<JobGrain> logger)
    : Grain, IJobGrain
{
    private string JobId => this.GetPrimaryKeyString();

    private ISchedulerGrain Scheduler => GrainFactory.GetGrain<ISchedulerGrain>(0);

    public async Task<JobDetail?> GetDetail()
    {
        var job = await store.GetJobAsync(JobId);
        return job is null ? null : new JobDetail(job.Value.Summary, job.Value.Spec, await store.GetEventsAsync(JobId));
    }

    public Task<JobLease?> Start(string workerId) => store.StartAsync(JobId, workerId, scheduling.Value.LeaseTimeout);

    public async Task<bool> Succeed(int attempt, string evaluationJson, IReadOnlyDictionary<string, double> summary)
    {
        var ok = await store.SucceedAsync(JobId, attempt, evaluationJson, summary);
        if (ok)
        {
            PunkGridTelemetry.JobsFinished.Add(1, new KeyValuePair<string, object?>("state", nameof(JobState.Succeeded)));
            await Scheduler.Released(JobId);
        }
        else
        {
            logger.LogWarning("Job {Job}: success report of stale attempt {Attempt} ignored", JobId, attempt);
        }
        return ok;
    }

    public Task<JobState?> Fail(int attempt, string error, bool retryable) => EndAttemptAsync(attempt, error, retryable);

    public Task<JobState?> LoseLease(int attempt, string reason) => EndAttemptAsync(attempt, reason, retryable: true);

    private async Task<JobState?> EndAttemptAsync(int attempt, string reason, bool retryable)
    {
        using var activity = retryable ? PunkGridTelemetry.Source.StartActivity("requeue") : null;
        activity?.SetTag("punkgrid.job_id", JobId).SetTag("punkgrid.attempt", attempt).SetTag("punkgrid.reason", reason);
        var state = await store.FailAsync(JobId, attempt, reason, retryable);
        activity?.SetTag("punkgrid.state", state?.ToString() ?? "unchanged");
        switch (state)
        {
            case JobState.Queued:
                logger.LogWarning("Job {Job}: attempt {Attempt} ended ({Reason}); requeued", JobId, attempt, reason);
                await Scheduler.Enqueue(await store.QueuedJobsAsync(JobId));
                break;
            case JobState.Failed:
                PunkGridTelemetry.JobsFinished.Add(1, new KeyValuePair<string, object?>("state", nameof(JobState.Failed)));
                logger.LogError("Job {Job}: attempt {Attempt} failed for good: {Reason}", JobId, attempt, reason);
                await Scheduler.Released(JobId);
                break;
        }
        return state;
    }

    public async Task<CommandResult> Cancel(string reason)
    {
        var result = await store.CancelAsync(JobId, reason);
        if (result is null)
        {
            return new CommandResult(false, $"unknown job '{JobId}'", NotFound: true);
        }
        if (!result.Value.Changed)
        {
            return new CommandResult(false, $"job {JobId} is already {result.Value.State}; only Queued or Running jobs can be cancelled");
        }
        await Scheduler.Released(JobId);
        return new CommandResult(true, $"job {JobId} cancelled");
    }

    public async Task<CommandResult> Retry()
    {
        var result = await store.RetryAsync(JobId, scheduling.Value.MaxAttempts);
        if (result is null)
        {
            return new CommandResult(false, $"unknown job '{JobId}'", NotFound: true);
        }
        if (!result.Value.Changed)
        {
            return new CommandResult(false, $"job {JobId} is {result.Value.State}; only Failed or Cancelled jobs can be retried");
        }
        await Scheduler.Enqueue(await store.QueuedJobsAsync(JobId));
        return new CommandResult(true, $"job {JobId} queued again");
    }

    public Task<IReadOnlyList<MetricPoint>> GetMetrics(string? name) => outputs.ReadMetricsAsync(JobId, name);

    public Task<IReadOnlyList<ArtifactInfo>> GetArtifacts() => outputs.ListArtifactsAsync(JobId);

    public Task<ArtifactContent?> GetArtifact(string name) => outputs.ReadArtifactAsync(JobId, name);
}
