using PunkGrid.Contracts;
using PunkGrid.Training.Data;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Grains.Jobs;

/// <summary>Turns a <see cref="JobSpec"/> into the trainer that runs it, validating the target and every parameter first.</summary>
public static class JobTrainerFactory
{
    public static ITrainer Create(JobSpec spec, string dataDirectory)
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
                return new PokemonTrainer(PokemonTrainingOptions.Create(spec.Profile, spec.Parameters), dataDirectory);
            default:
                throw new ArgumentException($"unknown job kind '{spec.Kind}'; allowed: {string.Join(", ", JobKinds.All)}");
        }
    }
}
