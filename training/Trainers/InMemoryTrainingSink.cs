using PunkGrid.Training.Checkpoints;

namespace PunkGrid.Training.Trainers;

/// <summary>Keeps a job's output in memory: checkpoints (encoded and decoded, as a store would), metrics, artifacts, progress.</summary>
public class InMemoryTrainingSink : ITrainingSink
{
    private readonly Lock gate = new();
    private readonly List<TrainingCheckpoint> checkpoints = [];
    private readonly List<MetricSample> metrics = [];
    private readonly Dictionary<string, byte[]> artifacts = new(StringComparer.Ordinal);
    private readonly List<TrainingProgress> progress = [];

    public IReadOnlyList<TrainingCheckpoint> Checkpoints { get { lock (gate) { return [.. checkpoints]; } } }

    public IReadOnlyList<MetricSample> Metrics { get { lock (gate) { return [.. metrics]; } } }

    public IReadOnlyDictionary<string, byte[]> Artifacts { get { lock (gate) { return new Dictionary<string, byte[]>(artifacts); } } }

    public IReadOnlyList<TrainingProgress> Progress { get { lock (gate) { return [.. progress]; } } }

    public TrainingCheckpoint? LatestCheckpoint { get { lock (gate) { return checkpoints.Count == 0 ? null : checkpoints[^1]; } } }

    public virtual void SaveCheckpoint(TrainingCheckpoint checkpoint)
    {
        // Round-trip through the file format so what is kept is exactly what a store would give back.
        var stored = CheckpointCodec.Decode(CheckpointCodec.Encode(checkpoint));
        lock (gate)
        {
            checkpoints.Add(stored);
        }
    }

    public virtual void ReportMetrics(IReadOnlyList<MetricSample> samples)
    {
        lock (gate)
        {
            metrics.AddRange(samples);
        }
    }

    public virtual void SaveArtifact(string name, string contentType, byte[] content)
    {
        lock (gate)
        {
            artifacts[name] = content;
        }
    }

    public virtual void ReportProgress(TrainingProgress value)
    {
        lock (gate)
        {
            progress.Add(value);
        }
    }
}
