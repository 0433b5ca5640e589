using Microsoft.Extensions.Options;
using PunkGrid.Contracts;
using PunkGrid.Grains.Persistence;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Grains.Jobs;

/// <summary>Turns a run spec into its jobs, validating kind, targets, profile, device and every override (throws <see cref="ArgumentException"/>).</summary>
public sealed class RunPlanner(TraitCatalog traits, IOptions<SchedulingOptions> scheduling)
{
    /// <summary>The most jobs one noop run may have.</summary>
    public const int MaxNoopJobs = 100_000;

    /// <summary>One job per target, each validated now so a bad submit stores nothing.</summary>
    public List<JobStore.NewJob> Plan(string runId, RunSpec spec)
    {
        // "device" says where a job may run (matched by the scheduler); everything else goes to the trainer.
        var device = spec.Parameters.TryGetValue("device", out var d) ? d.Trim().ToLowerInvariant() : "any";
        if (device is not ("any" or "cpu" or "cuda"))
        {
            throw new ArgumentException($"device '{d}' is not allowed: expected any, cpu or cuda");
        }
        var parameters = spec.Parameters.Where(p => p.Key != "device").ToDictionary();
        JobStore.NewJob Job(string? target) => new(
            target is null ? $"{runId}.{spec.Kind}" : $"{runId}.{Slug(target)}",
            new JobSpec(spec.Kind, target, spec.Profile, parameters), spec.Priority, scheduling.Value.MaxFailures, device);

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
            case JobKinds.Noop:
                // "jobs" says how many identical noop jobs the run has (targets 1..N); the rest goes to each job.
                var count = 1;
                if (parameters.Remove("jobs", out var jobs)
                    && !(int.TryParse(jobs, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out count) && count is >= 1 and <= MaxNoopJobs))
                {
                    throw new ArgumentException($"noop parameter jobs='{jobs}' is not allowed: expected an integer in 1..{MaxNoopJobs}");
                }
                JobTrainerFactory.CreateNoopOptions(new JobSpec(spec.Kind, null, spec.Profile, parameters), scheduling.Value.AllowFaultInjection);
                var width = count.ToString(System.Globalization.CultureInfo.InvariantCulture).Length;
                return Enumerable.Range(1, count).Select(i => Job(i.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(width, '0'))).ToList();
            default:
                throw new ArgumentException($"unknown job kind '{spec.Kind}'; allowed: {string.Join(", ", JobKinds.All)}");
        }
    }

    private static string Slug(string value) =>
        string.Concat(value.Select(c => char.IsLetterOrDigit(c) ? char.ToLowerInvariant(c) : '-'));

}
