using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PunkGrid.Contracts;
using PunkGrid.Grains.Persistence;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Grains.Jobs;

/// <summary>A sweep: validates the spec, writes the run and its jobs in one transaction, and queues them.</summary>
public sealed partial class RunGrain(JobStore store, TraitCatalog traits, IOptions<SchedulingOptions> scheduling, ILogger<RunGrain> logger)
    : Grain, IRunGrain
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
    private static partial Regex RunIdPattern();

    private string RunId => this.GetPrimaryKeyString();

    public async Task<SubmitResult> Submit(RunSpec spec)
    {
        if (!RunIdPattern().IsMatch(RunId))
        {
            return new SubmitResult(RunId, false, $"run id '{RunId}' is not allowed: 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit", 0);
        }
        List<JobStore.NewJob> jobs;
        try
        {
            jobs = PlanJobs(spec);
        }
        catch (ArgumentException ex)
        {
            return new SubmitResult(RunId, false, ex.Message, 0);
        }

        var created = await store.CreateRunAsync(RunId, spec, jobs);
        if (!created)
        {
            var existing = await store.GetRunSummaryAsync(RunId);
            logger.LogInformation("Run {Run} already exists; submit is a no-op", RunId);
            return new SubmitResult(RunId, false, null, existing?.Total ?? 0);
        }
        logger.LogInformation("Run {Run}: {Count} {Kind} jobs queued (profile {Profile})", RunId, jobs.Count, spec.Kind, spec.Profile);
        var scheduler = GrainFactory.GetGrain<ISchedulerGrain>(0);
        var now = DateTimeOffset.UtcNow;
        await scheduler.Enqueue(jobs.Select(j => new QueuedJob(j.JobId, j.Priority, now, j.Device)).ToList());
        return new SubmitResult(RunId, true, null, jobs.Count);
    }

    /// <summary>One job per target, each validated now so a bad submit stores nothing.</summary>
    private List<JobStore.NewJob> PlanJobs(RunSpec spec)
    {
        // "device" says where a job may run (matched by the scheduler); everything else goes to the trainer.
        var device = spec.Parameters.TryGetValue("device", out var d) ? d.Trim().ToLowerInvariant() : "any";
        if (device is not ("any" or "cpu" or "cuda"))
        {
            throw new ArgumentException($"device '{d}' is not allowed: expected any, cpu or cuda");
        }
        var parameters = spec.Parameters.Where(p => p.Key != "device").ToDictionary();
        JobStore.NewJob Job(string? target) => new(
            target is null ? $"{RunId}.{spec.Kind}" : $"{RunId}.{Slug(target)}",
            new JobSpec(spec.Kind, target, spec.Profile, parameters), spec.Priority, scheduling.Value.MaxAttempts, device);

        switch (spec.Kind)
        {
            case JobKinds.Trait:
                var targets = spec.AllTargets ? traits.TraitNames : spec.Targets.Select(traits.Canonical).Distinct().ToList();
                if (targets.Count == 0)
                {
                    throw new ArgumentException("no traits given: name some (--traits Male,Hoodie) or all (--all)");
                }
                // Validates the profile and every override before anything is stored.
                TraitTrainingOptions.Create(targets[0], spec.Profile, parameters);
                return targets.Select(t => Job(t)).ToList();
            case JobKinds.Vae:
                VaeTrainingOptions.Create(spec.Profile, parameters);
                return [Job(null)];
            case JobKinds.Gan:
                GanTrainingOptions.Create(spec.Profile, parameters);
                return [Job(null)];
            case JobKinds.Pokemon:
                PokemonTrainingOptions.Create(spec.Profile, parameters);
                return [Job(null)];
            default:
                throw new ArgumentException($"unknown job kind '{spec.Kind}'; allowed: {string.Join(", ", JobKinds.All)}");
        }
    }

    private static string Slug(string value) =>
        string.Concat(value.Select(c => char.IsLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-'));

    public Task<RunSummary?> GetSummary() => store.GetRunSummaryAsync(RunId);

    public Task<IReadOnlyList<JobSummary>> GetJobs() => store.GetJobsAsync(RunId);

    public async IAsyncEnumerable<RunSnapshot> Watch(int intervalMilliseconds)
    {
        var interval = TimeSpan.FromMilliseconds(Math.Clamp(intervalMilliseconds, 100, 60_000));
        while (true)
        {
            var summary = await store.GetRunSummaryAsync(RunId);
            if (summary is null)
            {
                yield break;
            }
            yield return new RunSnapshot(summary, await store.GetJobsAsync(RunId));
            if (summary.Finished)
            {
                yield break;
            }
            await Task.Delay(interval);
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
}
