using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Telemetry;

namespace PunkGrid.Server.Grains;

/// <summary>
/// A sweep: validates the spec and writes the run and its Queued jobs in one transaction (which queues them). A stateless
/// worker like every grain over the database, with one activation per silo: a <see cref="Watch"/> is a stream of calls
/// that must find the activation holding its enumerator, and a client sends every call for one grain through one gateway.
/// </summary>
[StatelessWorker(1)]
public sealed partial class RunGrain(JobStore store, SubmissionPlanner planner, ILogger<RunGrain> logger)
    : Grain, IRunGrain
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
    private static partial Regex RunIdPattern();

    private string RunId => this.GetPrimaryKeyString();

    public async Task<SubmitResult> Submit(RunSpec spec)
    {
        using var activity = PunkGridTelemetry.Source.StartActivity("submit");
        activity?.SetTag("punkgrid.run_id", RunId).SetTag("punkgrid.kind", spec.Kind).SetTag("punkgrid.profile", spec.Profile);
        if (!RunIdPattern().IsMatch(RunId))
        {
            return new SubmitResult(RunId, false, $"run id '{RunId}' is not allowed: 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit", 0);
        }
        List<JobStore.NewJob> jobs;
        try
        {
            (spec, jobs) = await planner.PlanAsync(RunId, spec);
        }
        catch (ArgumentException ex)
        {
            return new SubmitResult(RunId, false, ex.Message, 0);
        }

        var created = await store.CreateRunAsync(RunId, spec, jobs);
        if (!created)
        {
            var existing = await store.GetRunSummaryAsync(RunId);
            LogExists(logger, RunId);
            return new SubmitResult(RunId, false, null, existing?.Total ?? 0);
        }
        LogQueued(logger, RunId, jobs.Count, spec.Kind, spec.Profile);
        PunkGridTelemetry.RunsSubmitted.Add(1, new KeyValuePair<string, object?>("kind", spec.Kind));
        activity?.SetTag("punkgrid.jobs", jobs.Count);
        // Committed Queued rows are the queue: the insert's trigger has notified the workers.
        return new SubmitResult(RunId, true, null, jobs.Count);
    }

    public Task<RunSummary?> GetSummary() => store.GetRunSummaryAsync(RunId);

    public Task<RunSpec?> GetSpec() => store.GetRunSpecAsync(RunId);

    public Task<IReadOnlyList<JobSummary>> GetJobs() => store.GetJobsAsync(RunId);

    public Task<Page<JobSummary>> GetJobsPage(string? after, int limit) => store.GetJobsPageAsync(RunId, after, Math.Clamp(limit, 1, 1000));

    public async IAsyncEnumerable<RunSnapshot> Watch(int intervalMilliseconds)
    {
        var interval = TimeSpan.FromMilliseconds(Math.Clamp(intervalMilliseconds, 100, 60_000));
        var first = true;
        while (true)
        {
            var (summary, jobs, answered) = await SnapshotAsync(first);
            first = false;
            if (answered && summary is null)
            {
                yield break;
            }
            if (summary is not null)
            {
                yield return new RunSnapshot(summary, jobs);
                if (summary.Finished)
                {
                    yield break;
                }
            }
            await Task.Delay(interval);
        }
    }

    /// <summary>
    /// The run's summary and jobs now. While the database does not answer (an outage, a failover) a watch goes on and
    /// shows the next snapshot it gets (answered false); only its first read fails, so a watch never starts blind.
    /// </summary>
    private async Task<(RunSummary? Summary, IReadOnlyList<JobSummary> Jobs, bool Answered)> SnapshotAsync(bool first)
    {
        try
        {
            var summary = await store.GetRunSummaryAsync(RunId);
            return (summary, summary is null ? [] : await store.GetJobsAsync(RunId), true);
        }
        catch (Exception ex) when (DatabaseRetry.IsTransient(ex))
        {
            if (first)
            {
                // A stream's steps pass no grain call filter: this is DatabaseOutageFilter's answer, given here.
                throw DatabaseOutageFilter.Unavailable(ex);
            }
            LogWatchWaits(logger, RunId, ex.GetBaseException().Message);
            return (null, [], false);
        }
    }

    public async Task<CommandResult> Cancel()
    {
        var jobs = await store.GetJobsAsync(RunId);
        if (jobs.Count == 0 && await store.GetRunSummaryAsync(RunId) is null)
        {
            return new CommandResult(false, $"unknown run '{RunId}'", NotFound: true);
        }
        var cancelled = 0;
        foreach (var job in jobs.Where(j => !JobStates.IsFinal(j.State)))
        {
            if ((await GrainFactory.GetGrain<IJobGrain>(job.JobId).Cancel($"run {RunId} cancelled")).Ok)
            {
                cancelled++;
            }
        }
        return new CommandResult(true, $"cancelled {cancelled} job(s) of run {RunId}");
    }

    public Task<IReadOnlyList<TraitResultRow>> GetResults() => store.GetTraitResultsAsync(RunId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {Run} already exists; submit is a no-op")]
    private static partial void LogExists(ILogger logger, string run);

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {Run}: {Count} {Kind} jobs queued (profile {Profile})")]
    private static partial void LogQueued(ILogger logger, string run, int count, string kind, string profile);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watch of run {Run}: the database did not answer ({Error}); the watch goes on")]
    private static partial void LogWatchWaits(ILogger logger, string run, string error);
}
