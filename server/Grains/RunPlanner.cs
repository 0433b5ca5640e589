using Microsoft.Extensions.Options;
using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Worker;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Server.Grains;

/// <summary>Turns a run spec into its jobs, validating kind, targets, profile, device and every override (throws <see cref="ArgumentException"/>).</summary>
public sealed class RunPlanner(TraitCatalog traits, IOptions<JobQueueOptions> scheduling, JobStore? store = null)
{
    /// <summary>
    /// <see cref="Plan"/> with the memory check against the largest live worker (from <c>workers</c>), or this machine when no
    /// worker has reported yet.
    /// </summary>
    public async Task<List<JobStore.NewJob>> PlanAsync(string runId, RunSpec spec) => Plan(runId, spec, await WorkerBytesAsync());

    /// <summary>The memory a job may need at most: the largest live worker's, or this machine's when no worker has reported yet.</summary>
    public async Task<long> WorkerBytesAsync()
    {
        var megabytes = store is null ? null : await store.LargestWorkerMemoryAsync(scheduling.Value.LeaseTimeout * 3);
        return megabytes is { } mb ? mb << 20 : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    /// <summary>The most jobs one noop run may have.</summary>
    public const int MaxNoopJobs = 100_000;

    /// <summary>One job per target, each validated now so a bad submit stores nothing.</summary>
    /// <param name="workerBytes">The memory of the largest worker: a job estimated to need more than it can give is refused (null: not checked).</param>
    public List<JobStore.NewJob> Plan(string runId, RunSpec spec, long? workerBytes = null)
    {
        void Fits(JobMemory.Estimate estimate)
        {
            if (workerBytes is { } bytes)
            {
                JobMemory.RequireFits(spec.Kind, estimate, bytes);
            }
        }

        // "device" says where a job may run (matched by the scheduler); everything else goes to the trainer.
        var device = spec.Parameters.TryGetValue("device", out var d) ? d.Trim().ToLowerInvariant() : "any";
        if (device is not ("any" or "cpu" or "cuda"))
        {
            throw new ArgumentException($"device '{d}' is not allowed: expected any, cpu or cuda");
        }
        if (spec.Targets.Any(t => t is null || string.IsNullOrWhiteSpace(t) || t.Any(char.IsControl)))
        {
            throw new ArgumentException("targets must be trait names: none blank, none with control characters");
        }
        if (spec.Kind != JobKinds.Trait && spec.Targets.Count > 0)
        {
            throw new ArgumentException($"targets do not apply to a {spec.Kind} run (it has one job); only trait runs take targets");
        }
        if (spec.Kind != JobKinds.Trait && spec.AllTargets)
        {
            throw new ArgumentException($"all does not apply to a {spec.Kind} run; only trait runs take all");
        }
        if (spec.AllTargets && spec.Targets.Count > 0)
        {
            throw new ArgumentException("give either all or targets, not both");
        }
        if (spec.PromoteAlias is { } alias && !System.Text.RegularExpressions.Regex.IsMatch(alias, RunSpec.AliasPattern))
        {
            throw new ArgumentException($"promote-if-better alias '{alias}' is not allowed: a letter, then up to 39 letters, digits, '_' or '-'");
        }
        if (spec.FromSearch is not null)
        {
            throw new ArgumentException("a run from a search is planned from the search's best trials (SearchPlanner.PlanFromSearch)");
        }
        if (spec.PromoteAlias is not null && spec.Kind == JobKinds.Noop)
        {
            throw new ArgumentException("promote-if-better does not apply to a noop run: it trains no model");
        }
        var parameters = spec.Parameters.Where(p => p.Key != "device").ToDictionary();
        JobStore.NewJob Job(string? target) => new(
            target is null ? $"{runId}.{spec.Kind}" : $"{runId}.{Slug(target)}",
            new JobSpec(spec.Kind, target, spec.Profile, parameters), spec.Priority, scheduling.Value.MaxFailures, device);

        switch (spec.Kind)
        {
            case JobKinds.Trait:
                var targets = spec.AllTargets ? traits.TraitNames : spec.Targets.Select(traits.Canonical).ToList();
                if (targets.GroupBy(t => t).FirstOrDefault(g => g.Count() > 1) is { } twice)
                {
                    throw new ArgumentException($"targets name the trait '{twice.Key}' {twice.Count()} times; name each trait once");
                }
                if (targets.Count == 0)
                {
                    throw new ArgumentException("no traits given: name some (--traits Male,Hoodie) or all (--all)");
                }
                // Validates the profile and every override before anything is stored.
                Fits(JobMemory.Of(TraitTrainingOptions.Create(targets[0], spec.Profile, parameters)));
                return targets.Select(t => Job(t)).ToList();
            case JobKinds.Vae:
                Fits(JobMemory.Of(VaeTrainingOptions.Create(spec.Profile, parameters)));
                return [Job(null)];
            case JobKinds.Gan:
                Fits(JobMemory.Of(GanTrainingOptions.Create(spec.Profile, parameters)));
                return [Job(null)];
            case JobKinds.Pokemon:
                Fits(JobMemory.Of(PokemonTrainingOptions.Create(spec.Profile, parameters)));
                return [Job(null)];
            case JobKinds.Noop:
                // "jobs" says how many identical noop jobs the run has (targets 1..N); the rest goes to each job.
                var count = 1;
                if (parameters.Remove("jobs", out var jobs)
                    && !(int.TryParse(jobs, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out count) && count is >= 1 and <= MaxNoopJobs))
                {
                    throw new ArgumentException($"noop parameter jobs='{jobs}' is not allowed: expected an integer in 1..{MaxNoopJobs}");
                }
                Fits(JobMemory.Of(JobTrainerFactory.CreateNoopOptions(new JobSpec(spec.Kind, null, spec.Profile, parameters), scheduling.Value.AllowFaultInjection)));
                if (count == 1)
                {
                    return [Job(null)]; // RUN.noop, as every one-job run
                }
                var width = count.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
                return Enumerable.Range(1, count).Select(i => Job(i.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(width, '0'))).ToList();
            default:
                throw new ArgumentException($"unknown job kind '{spec.Kind}'; allowed: {string.Join(", ", JobKinds.All)}");
        }
    }

    private static string Slug(string value) =>
        string.Concat(value.Select(c => char.IsLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-'));

}
