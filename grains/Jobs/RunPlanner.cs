using Microsoft.Extensions.Options;
using PunkGrid.Contracts;
using PunkGrid.Grains.Persistence;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Grains.Jobs;

/// <summary>Turns a run spec into its jobs, validating kind, targets, profile, device and every override (throws <see cref="ArgumentException"/>).</summary>
public sealed class RunPlanner(TraitCatalog traits, IOptions<SchedulingOptions> scheduling)
{
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

}
