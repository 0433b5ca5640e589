namespace PunkGrid.Contracts;

/// <summary>The kinds of training job PunkGrid runs.</summary>
public static class JobKinds
{
    /// <summary>One binary CNN for one of the 92 CryptoPunk traits; the target is the trait name.</summary>
    public const string Trait = "trait";

    public static IReadOnlyList<string> All { get; } = [Trait];
}

/// <summary>
/// What one job trains: its kind, its target (the trait name for <c>trait</c> jobs), the hyperparameter
/// profile (<c>seed</c> reproduces the write-up, <c>quick</c> runs in minutes on a CPU) and per-job overrides
/// of any hyperparameter (<c>epochs</c>, <c>train_samples</c>, <c>lr</c>, <c>color</c>, …).
/// </summary>
public sealed record JobSpec(string Kind, string? Target, string Profile, IReadOnlyDictionary<string, string> Parameters)
{
    public const string DefaultProfile = "seed";

    public string DisplayName => Target is null ? Kind : $"{Kind}:{Target}";
}
