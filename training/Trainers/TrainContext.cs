using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PunkGrid.Training.Checkpoints;

namespace PunkGrid.Training.Trainers;

/// <summary>One measured value of a job: a loss, an accuracy, a rate. <see cref="Step"/> is the global optimizer step.</summary>
public readonly record struct MetricSample(string Name, int Epoch, long Step, double Value);

/// <summary>Where a job stands, for heartbeats and progress bars. Epochs and steps count completed work.</summary>
public readonly record struct TrainingProgress(int Epoch, int TotalEpochs, long Step, long TotalSteps, double SamplesPerSecond)
{
    public double Fraction => TotalSteps == 0 ? 0 : Math.Clamp((double)Step / TotalSteps, 0, 1);
}

/// <summary>
/// Where a trainer's output goes: the worker agent writes it to PostgreSQL (fenced by the attempt), <c>silo train</c>
/// to a folder, tests to memory. Called from the trainer's own thread; implementations may block.
/// </summary>
public interface ITrainingSink
{
    void SaveCheckpoint(TrainingCheckpoint checkpoint);

    void ReportMetrics(IReadOnlyList<MetricSample> samples);

    void SaveArtifact(string name, string contentType, byte[] content);

    void ReportProgress(TrainingProgress progress);
}

/// <summary>
/// What a trainer is given: the checkpoint to resume from (if any), where to save checkpoints, metrics and
/// artifacts, the device to run on (<c>auto</c>, <c>cpu</c>, <c>cuda:N</c>) and a cancellation token.
/// Knows nothing of Orleans or SQL: the sink does.
/// </summary>
public sealed class TrainContext(
    ITrainingSink sink,
    string device = "auto",
    TrainingCheckpoint? latestCheckpoint = null,
    ILogger? logger = null,
    CancellationToken cancellation = default)
{
    public TrainingCheckpoint? LatestCheckpoint { get; } = latestCheckpoint;

    public string Device { get; } = device;

    public ILogger Logger { get; } = logger ?? NullLogger.Instance;

    public CancellationToken Cancellation { get; } = cancellation;

    public void SaveCheckpoint(TrainingCheckpoint checkpoint) => sink.SaveCheckpoint(checkpoint);

    public void ReportMetrics(IReadOnlyList<MetricSample> samples)
    {
        if (samples.Count > 0)
        {
            sink.ReportMetrics(samples);
        }
    }

    public void SaveArtifact(string name, string contentType, byte[] content) => sink.SaveArtifact(name, contentType, content);

    public void ReportProgress(TrainingProgress progress) => sink.ReportProgress(progress);
}

/// <summary>What a finished job leaves: its evaluation (also stored as the <c>eval.json</c> artifact) and headline numbers.</summary>
public sealed record TrainingResult(string Kind, string EvaluationJson, IReadOnlyDictionary<string, double> Summary);

/// <summary>Trains one job. Runs synchronously on the caller's (dedicated) thread; throws <see cref="OperationCanceledException"/> when cancelled.</summary>
public interface ITrainer
{
    string Kind { get; }

    TrainingResult Train(TrainContext context);
}
