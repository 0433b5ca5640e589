namespace PunkGrid.Contracts;

/// <summary>A grid of generated punks (PNG), or why there is none.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.GenerateResult")]
public sealed record GenerateResult(
    [property: Id(0)] string? JobId,
    [property: Id(1)] byte[]? Png,
    [property: Id(2)] string? Error,
    [property: Id(3)] bool NotFound = false);

/// <summary>
/// One trait model's call on a punk: the probability of the trait, the model's decision threshold (0.5 unless its
/// profile chose one on a validation split) and whether the punk really has it (known punks only).
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.TraitPrediction")]
public sealed record TraitPrediction(
    [property: Id(0)] string Trait,
    [property: Id(1)] double Probability,
    [property: Id(2)] bool? Actual,
    [property: Id(3)] double Threshold = 0.5)
{
    /// <summary>The model says the punk has the trait.</summary>
    public bool Predicted => Probability >= Threshold;
}

/// <summary>Every trait model of a sweep scoring one punk, or why not.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.PredictTraitsResult")]
public sealed record PredictTraitsResult(
    [property: Id(0)] IReadOnlyList<TraitPrediction> Predictions,
    [property: Id(1)] string? Error,
    [property: Id(2)] bool NotFound = false);

[GenerateSerializer, Immutable, Alias("PunkGrid.ClassPrediction")]
public sealed record ClassPrediction(
    [property: Id(0)] string Name,
    [property: Id(1)] double Probability);

/// <summary>The Pokémon classifier's five most likely classes for an image, or why not.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.PredictPokemonResult")]
public sealed record PredictPokemonResult(
    [property: Id(0)] IReadOnlyList<ClassPrediction> Top5,
    [property: Id(1)] string? Error,
    [property: Id(2)] bool NotFound = false);

/// <summary>Inference on the cluster: runs on a worker silo, with the models loaded from PostgreSQL (cached there).</summary>
[Alias("PunkGrid.IInferenceGrain")]
public interface IInferenceGrain : IGrainWithIntegerKey
{
    /// <summary>Punks from the VAE or GAN of a run; <paramref name="traits"/> for a conditional GAN.</summary>
    [Alias("Generate")]
    Task<GenerateResult> Generate(string runId, string kind, IReadOnlyList<string> traits, int count, int seed);

    /// <summary>The probabilities of every trait model of a sweep, for a known punk or a 24x24 image.</summary>
    [Alias("PredictTraits")]
    Task<PredictTraitsResult> PredictTraits(string runId, int? punkId, byte[]? image);

    /// <summary>The top-5 Pokémon of a run's classifier for an image (any size, JPEG/PNG/BMP/GIF).</summary>
    [Alias("PredictPokemon")]
    Task<PredictPokemonResult> PredictPokemon(string runId, byte[] image);

    /// <summary>Punks from the version of <paramref name="model"/> (<c>vae</c>, <c>gan</c>, <c>gan/conditional</c>) that <paramref name="alias"/> points at.</summary>
    [Alias("GenerateByAlias")]
    Task<GenerateResult> GenerateByAlias(string model, string alias, IReadOnlyList<string> traits, int count, int seed);

    /// <summary>Every trait model's version that <paramref name="alias"/> points at (<c>trait/NAME@ALIAS</c>), scoring one punk.</summary>
    [Alias("PredictTraitsByAlias")]
    Task<PredictTraitsResult> PredictTraitsByAlias(string alias, int? punkId, byte[]? image);

    /// <summary>The top-5 Pokémon of the classifier version that <paramref name="alias"/> points at.</summary>
    [Alias("PredictPokemonByAlias")]
    Task<PredictPokemonResult> PredictPokemonByAlias(string alias, byte[] image);
}

/// <summary>What an image sent for inference may be (checked by the CLI before sending and by the silo before decoding).</summary>
public static class InferenceLimits
{
    /// <summary>20 MiB.</summary>
    public const int MaxImageBytes = 20 << 20;

    /// <summary>Pixels a side, read from the image's header.</summary>
    public const int MaxImageSide = 4096;
}
