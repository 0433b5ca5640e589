using Microsoft.Extensions.Logging;
using PunkGrid.Server.Storage;
using PunkGrid.Server.Telemetry;
using PunkGrid.Training.Checkpoints;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Server.Worker;

/// <summary>
/// Where a leased job's trainer writes: PostgreSQL, every write fenced by the lease's attempt. Called on the job's own
/// thread, so it blocks on the store. While the database is unreachable a write is retried until it answers (the trainer
/// waits: an outage pauses training, it does not fail it); cancelling the job ends the wait. A write rejected as stale
/// throws <see cref="StaleAttemptException"/>, which ends the trainer: a newer attempt owns the job.
/// </summary>
public sealed class PostgresTrainingSink(
    CheckpointStore checkpoints, MetricStore metrics, ArtifactStore artifacts, string jobId, string kind, int attempt, ILogger logger, CancellationToken cancellation) : ITrainingSink
{
    private TrainingProgress latest;
    private DateTime epochStarted = DateTime.UtcNow;
    private int throughputEpoch = -1;

    public TrainingProgress LatestProgress => latest;

    /// <summary>Checkpoints come once per epoch: the time since the previous one (or the start) is that epoch's span.</summary>
    public void SaveCheckpoint(TrainingCheckpoint checkpoint)
    {
        var now = DateTime.UtcNow;
        using (var epoch = PunkGridTelemetry.Source.StartActivity("epoch", System.Diagnostics.ActivityKind.Internal, parentContext: default, startTime: epochStarted))
        {
            epoch?.SetTag("punkgrid.job_id", jobId).SetTag("punkgrid.attempt", attempt).SetTag("punkgrid.epoch", checkpoint.Epoch)
                .SetTag("punkgrid.samples_per_second", latest.SamplesPerSecond);
            epoch?.SetEndTime(now);
        }
        PunkGridTelemetry.EpochDuration.Record((now - epochStarted).TotalSeconds, new KeyValuePair<string, object?>("kind", kind));
        Retry(c => checkpoints.SaveAsync(jobId, attempt, checkpoint, c), $"checkpoint of {jobId} epoch {checkpoint.Epoch}");
        epochStarted = DateTime.UtcNow;
    }

    public void ReportMetrics(IReadOnlyList<MetricSample> samples) =>
        Retry(c => metrics.WriteAsync(jobId, attempt, samples, c), $"metrics of {jobId}");

    public void SaveArtifact(string name, string contentType, byte[] content) =>
        Retry(c => artifacts.SaveAsync(jobId, attempt, name, contentType, content, c), $"artifact {name} of {jobId}");

    /// <summary>Keeps the latest progress for the heartbeat; the first report of each epoch that carries a throughput records it.</summary>
    public void ReportProgress(TrainingProgress progress)
    {
        latest = progress;
        if (progress.SamplesPerSecond > 0 && progress.Epoch != throughputEpoch)
        {
            throughputEpoch = progress.Epoch;
            PunkGridTelemetry.SamplesPerSecond.Record(progress.SamplesPerSecond, new KeyValuePair<string, object?>("kind", kind));
        }
    }

    private void Retry(Func<CancellationToken, Task> write, string what) =>
        DatabaseRetry.RunAsync(write, logger, what, cancellation).GetAwaiter().GetResult();
}
