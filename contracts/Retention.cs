namespace PunkGrid.Contracts;

/// <summary>
/// What retention removed from the runs that ended before <see cref="Cutoff"/> (or, on a dry run, would remove): their
/// jobs' log lines, the metric points between epoch ends (each metric keeps its last point of every epoch, so curves stay
/// per epoch), and every checkpoint. Runs, jobs, results, artifacts and models are never removed. <see cref="Remaining"/>:
/// runs left for a later call.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.RetentionReport")]
public sealed record RetentionReport(
    [property: Id(0)] DateTimeOffset Cutoff,
    [property: Id(1)] bool DryRun,
    [property: Id(2)] IReadOnlyList<string> Runs,
    [property: Id(3)] long LogLines,
    [property: Id(4)] long MetricPoints,
    [property: Id(5)] long Checkpoints,
    [property: Id(6)] long CheckpointBytes,
    [property: Id(7)] int Remaining);

/// <summary>
/// Apply retention to the runs that ended before <see cref="Cutoff"/> (null: <see cref="OlderThan"/> before the
/// database's clock now), at most <see cref="MaxRuns"/> of them in this call (a long collection is a series of short
/// calls, each reporting how many runs remain); <see cref="DryRun"/> counts without removing.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.RetentionRequest")]
public sealed record RetentionRequest(
    [property: Id(0)] TimeSpan OlderThan,
    [property: Id(1)] DateTimeOffset? Cutoff = null,
    [property: Id(2)] bool DryRun = false,
    [property: Id(3)] int MaxRuns = RetentionRequest.DefaultMaxRuns)
{
    public const int DefaultMaxRuns = 20;
}

/// <summary>Retention of old runs' logs, metric points and checkpoints (<c>punkgrid gc</c>).</summary>
[Alias("PunkGrid.IRetentionGrain")]
public interface IRetentionGrain : IGrainWithIntegerKey
{
    /// <summary>Null when another silo is collecting right now (try again shortly).</summary>
    [Alias("Collect")]
    Task<RetentionReport?> Collect(RetentionRequest request);
}
