namespace PunkGrid.Contracts;

/// <summary>
/// One version of a registered model: the succeeded job whose stored model it is, and its held-out score
/// (<see cref="MetricName"/>: <c>f1</c> for a trait, <c>top1</c> for Pokémon, <c>punk_fid</c> for the VAE and GAN, lower
/// better).
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.ModelVersionView")]
public sealed record ModelVersionView(
    [property: Id(0)] string Model,
    [property: Id(1)] int Version,
    [property: Id(2)] string RunId,
    [property: Id(3)] string JobId,
    [property: Id(4)] string? MetricName,
    [property: Id(5)] double? Metric,
    [property: Id(6)] bool HigherIsBetter,
    [property: Id(7)] DateTimeOffset RegisteredAt,
    [property: Id(8)] IReadOnlyList<string> Aliases);

/// <summary>A model: its versions (newest first) and aliases (alias → version).</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.ModelView")]
public sealed record ModelView(
    [property: Id(0)] string Name,
    [property: Id(1)] IReadOnlyList<ModelVersionView> Versions,
    [property: Id(2)] IReadOnlyDictionary<string, int> Aliases);

/// <summary>A promote-if-better decision: the candidate and the alias's version before, both scores, and what was done.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.PromotionDecision")]
public sealed record PromotionDecision(
    [property: Id(0)] string RunId,
    [property: Id(1)] string Model,
    [property: Id(2)] string Alias,
    [property: Id(3)] int CandidateVersion,
    [property: Id(4)] double? CandidateMetric,
    [property: Id(5)] int? CurrentVersion,
    [property: Id(6)] double? CurrentMetric,
    [property: Id(7)] bool Promoted,
    [property: Id(8)] string Reason,
    [property: Id(9)] DateTimeOffset DecidedAt);

[GenerateSerializer, Immutable, Alias("PunkGrid.RegisterResult")]
public sealed record RegisterResult(
    [property: Id(0)] IReadOnlyList<ModelVersionView> Registered,
    [property: Id(1)] string? Error,
    [property: Id(2)] bool NotFound = false);

/// <summary>The model registry (<c>punkgrid models</c>). Registering and aliasing change what serves: operators only.</summary>
[Alias("PunkGrid.IModelRegistryGrain")]
public interface IModelRegistryGrain : IGrainWithIntegerKey
{
    /// <summary>Registers every succeeded model of a run, each a new version of its model (a job registered before is skipped).</summary>
    [Alias("Register")]
    Task<RegisterResult> Register(string runId);

    /// <summary>Points <paramref name="alias"/> of <paramref name="model"/> at <paramref name="version"/>.</summary>
    [Alias("SetAlias")]
    Task<CommandResult> SetAlias(string model, string alias, int version);

    [Alias("List")]
    Task<IReadOnlyList<ModelView>> List();

    /// <summary>Null when no model has this name.</summary>
    [Alias("Show")]
    Task<ModelView?> Show(string model);

    /// <summary>The newest promote-if-better decisions first (of one model, or all).</summary>
    [Alias("Promotions")]
    Task<IReadOnlyList<PromotionDecision>> Promotions(string? model, int limit);
}
