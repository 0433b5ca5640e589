using PunkGrid.Grains.Persistence;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Grains.Worker;

/// <summary>
/// Where a leased job's trainer writes: PostgreSQL, every write fenced by the lease's attempt. Called on the job's own
/// thread, so it blocks on the store. A write rejected as stale throws <see cref="StaleAttemptException"/>, which ends
/// the trainer: a newer attempt owns the job.
/// </summary>
public sealed class PostgresTrainingSink(TrainingOutputStore store, string jobId, int attempt, CancellationToken cancellation) : ITrainingSink
{
    private TrainingProgress latest;

    public TrainingProgress LatestProgress => latest;

    public void SaveCheckpoint(TrainingCheckpoint checkpoint) =>
        store.SaveCheckpointAsync(jobId, attempt, checkpoint, cancellation).GetAwaiter().GetResult();

    public void ReportMetrics(IReadOnlyList<MetricSample> samples) =>
        store.WriteMetricsAsync(jobId, attempt, samples, cancellation).GetAwaiter().GetResult();

    public void SaveArtifact(string name, string contentType, byte[] content) =>
        store.SaveArtifactAsync(jobId, attempt, name, contentType, content, cancellation).GetAwaiter().GetResult();

    public void ReportProgress(TrainingProgress progress) => latest = progress;
}
