namespace PunkGrid.Contracts;

/// <summary>The kinds of training job PunkGrid runs.</summary>
public static class JobKinds
{
    /// <summary>One binary CNN for one of the 92 CryptoPunk traits; the target is the trait name.</summary>
    public const string Trait = "trait";

    /// <summary>The PunkVAE: a variational autoencoder generating 128x128 punks; no target.</summary>
    public const string Vae = "vae";

    /// <summary>The Punk GAN: 64x64 RGBA punks from noise, optionally conditioned on traits; no target.</summary>
    public const string Gan = "gan";

    /// <summary>The Pokémon classifier (MobileNetV3-Small over the first-generation Pokémon); no target.</summary>
    public const string Pokemon = "pokemon";

    /// <summary>Trains nothing: the orchestrator's own tests and benchmarks (lease, heartbeats, metrics, checkpoints, success); no target.</summary>
    public const string Noop = "noop";

    public static IReadOnlyList<string> All { get; } = [Trait, Vae, Gan, Pokemon, Noop];
}

/// <summary>
/// What one job trains: its kind, its target (the trait name for <c>trait</c> jobs), the hyperparameter
/// profile (<c>seed</c> reproduces the write-up, <c>quick</c> runs in minutes on a CPU) and per-job overrides
/// of any hyperparameter (<c>epochs</c>, <c>train_samples</c>, <c>lr</c>, <c>color</c>, …).
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.JobSpec")]
public sealed record JobSpec(
    [property: Id(0)] string Kind,
    [property: Id(1)] string? Target,
    [property: Id(2)] string Profile,
    [property: Id(3)] IReadOnlyDictionary<string, string> Parameters)
{
    public const string DefaultProfile = "seed";

    public string DisplayName => Target is null ? Kind : $"{Kind}:{Target}";
}

/// <summary>
/// A sweep as submitted: one job per target (for <c>trait</c>: trait names, or all 92 when <see cref="AllTargets"/>),
/// sharing profile, overrides and priority (higher runs first). With <see cref="FromSearch"/>, each target's job takes
/// that search's best settings for it (and the targets default to the search's).
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.RunSpec")]
public sealed record RunSpec(
    [property: Id(0)] string Kind,
    [property: Id(1)] IReadOnlyList<string> Targets,
    [property: Id(2)] bool AllTargets,
    [property: Id(3)] string Profile,
    [property: Id(4)] IReadOnlyDictionary<string, string> Parameters,
    [property: Id(5)] int Priority,
    [property: Id(6)] string? PromoteAlias = null,
    [property: Id(7)] string? FromSearch = null)
{
    /// <summary>What an alias may be called: a letter, then up to 39 letters, digits, '_' or '-' (production, staging, champion).</summary>
    public const string AliasPattern = "^[A-Za-z][A-Za-z0-9_-]{0,39}$";
}
