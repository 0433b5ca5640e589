using PunkGrid.Contracts;
using PunkGrid.Training.Data;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Server.Worker;

/// <summary>Turns a <see cref="JobSpec"/> into the trainer that runs it, validating the target and every parameter first.</summary>
public static class JobTrainerFactory
{
    /// <param name="allowFaultInjection">Whether a noop job may kill its worker (<c>fault=exit-process</c>): tests only.</param>
    /// <param name="activationCache">Where this worker keeps frozen backbones' activations between jobs (null: not kept).</param>
    public static ITrainer Create(JobSpec spec, string dataDirectory, bool allowFaultInjection = false, string? activationCache = null)
    {
        switch (spec.Kind)
        {
            case JobKinds.Trait:
                if (string.IsNullOrWhiteSpace(spec.Target))
                {
                    throw new ArgumentException("a trait job needs a trait name, e.g. Male, Hoodie, \"Big Shades\"");
                }
                var canonical = PunkDataset.Load(dataDirectory).Traits.CanonicalName(spec.Target);
                return new TraitTrainer(TraitTrainingOptions.Create(canonical, spec.Profile, spec.Parameters), dataDirectory);
            case JobKinds.Vae:
                return new VaeTrainer(VaeTrainingOptions.Create(spec.Profile, spec.Parameters), dataDirectory);
            case JobKinds.Gan:
                return new GanTrainer(GanTrainingOptions.Create(spec.Profile, spec.Parameters), dataDirectory);
            case JobKinds.Pokemon:
                return new PokemonTrainer(PokemonTrainingOptions.Create(spec.Profile, spec.Parameters), dataDirectory,
                    activationCache is null ? null : new ActivationCache(activationCache));
            case JobKinds.Noop:
                return new NoopTrainer(CreateNoopOptions(spec, allowFaultInjection));
            default:
                throw new ArgumentException($"unknown job kind '{spec.Kind}'; allowed: {string.Join(", ", JobKinds.All)}");
        }
    }

    /// <summary>A noop job's options; one that would kill its worker is refused unless fault injection is allowed.</summary>
    public static NoopTrainingOptions CreateNoopOptions(JobSpec spec, bool allowFaultInjection)
    {
        var options = NoopTrainingOptions.Create(spec.Profile, spec.Parameters);
        return options.Fault == NoopFault.ExitProcess && !allowFaultInjection
            ? throw new ArgumentException(
                "noop parameter fault='exit-process' kills the worker that runs it and is refused unless the cluster allows fault injection " +
                "(PunkGrid:Scheduling:AllowFaultInjection, for the fault-injection tests and the chaos soak only)")
            : options;
    }
}
