namespace PunkGrid.Training.Trainers;

/// <summary>What a noop job does when it ends an epoch: nothing unusual, throw (a failing trainer), or kill its own process.</summary>
public enum NoopFault
{
    None,

    /// <summary>The trainer throws at the start of <see cref="NoopTrainingOptions.FaultAtEpoch"/>: a retryable failure, every attempt.</summary>
    Throw,

    /// <summary>The worker process kills itself (SIGKILL) at the start of that epoch, as an out-of-memory kill would: a poison job.</summary>
    ExitProcess,
}

/// <summary>
/// A job that trains nothing, for the orchestrator's own tests and benchmarks. It goes through the whole path of a real
/// job: lease, heartbeats, <see cref="MetricsPerSecond"/> metric points, a checkpoint of <see cref="CheckpointBytes"/>
/// bytes at the end of each of its <see cref="Epochs"/> epochs (resumed from like any other), an <c>eval.json</c>,
/// success. <see cref="DurationMs"/> is the whole job's length. Both profiles mean the same.
/// </summary>
public sealed record NoopTrainingOptions
{
    public const string Kind = "noop";

    public string Profile { get; init; } = "seed";

    public int DurationMs { get; init; } = 1000;

    public int Epochs { get; init; } = 1;

    public int MetricsPerSecond { get; init; } = 10;

    public int CheckpointBytes { get; init; } = 1024;

    public NoopFault Fault { get; init; } = NoopFault.None;

    public int FaultAtEpoch { get; init; } = 1;

    public int Seed { get; init; } = 42;

    /// <summary>
    /// A made-up model quality, so searches can be tested on noop jobs: each epoch e records the metric <c>noop_score</c> =
    /// quality · e / epochs (higher is better; a search's ranking of trials is the ranking of their qualities).
    /// </summary>
    public double Quality { get; init; } = 1;

    /// <summary>Stop after this epoch (0: train all <see cref="Epochs"/>), as a search's trial stops at a rung; resumable as any job.</summary>
    public int StopAfterEpoch { get; init; }

    /// <summary>The epoch this job runs to: <see cref="StopAfterEpoch"/> when set, else <see cref="Epochs"/>.</summary>
    public int LastEpoch => StopAfterEpoch > 0 ? Math.Min(StopAfterEpoch, Epochs) : Epochs;

    /// <summary>The largest checkpoint a noop job may ask for (256 MiB).</summary>
    public const int MaxCheckpointBytes = 256 << 20;

    public static NoopTrainingOptions Create(string profile, IReadOnlyDictionary<string, string>? overrides = null) => TrainingParameters.Apply(
        Kind,
        profile,
        seed: new NoopTrainingOptions(),
        quick: new NoopTrainingOptions { Profile = "quick" },
        overrides,
        (baseline, p) =>
        {
            var options = baseline with
            {
                DurationMs = p.Int("duration_ms", baseline.DurationMs, 0, 86_400_000),
                Epochs = p.Int("epochs", baseline.Epochs, 1, 10_000),
                MetricsPerSecond = p.Int("metrics_per_second", baseline.MetricsPerSecond, 0, 1_000_000),
                CheckpointBytes = p.Int("checkpoint_bytes", baseline.CheckpointBytes, 0, MaxCheckpointBytes),
                Fault = p.Choice("fault", "none", "none", "throw", "exit-process") switch
                {
                    "throw" => NoopFault.Throw,
                    "exit-process" => NoopFault.ExitProcess,
                    _ => NoopFault.None,
                },
                FaultAtEpoch = p.Int("fault_at_epoch", baseline.FaultAtEpoch, 1, 10_000),
                Seed = p.Int("seed", baseline.Seed, 0, int.MaxValue),
                Quality = p.Double("quality", baseline.Quality, 0, 1000),
                StopAfterEpoch = p.Int("stop_after_epoch", baseline.StopAfterEpoch, 0, 10_000),
            };
            return options.FaultAtEpoch > options.Epochs && options.Fault != NoopFault.None
                ? throw new ArgumentException($"noop parameter fault_at_epoch='{options.FaultAtEpoch}' is not allowed: expected 1..epochs ({options.Epochs})")
                : TrainingParameters.RequireStopWithinEpochs(Kind, options, o => (o.StopAfterEpoch, o.Epochs));
        });
}
