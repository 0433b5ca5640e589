using System.Globalization;
using System.Text;
using PunkGrid.Training.Checkpoints;

namespace PunkGrid.Training.Trainers;

/// <summary>
/// Writes a job's output to a folder — what <c>silo train</c> uses for a local run:
/// <c>checkpoints/epoch-NNNN.ckpt</c> (atomic writes; retention: last 2 + best), <c>metrics.csv</c>,
/// and <c>artifacts/NAME</c>. Running again into the same folder resumes from its latest valid checkpoint.
/// </summary>
public sealed class DirectoryTrainingSink : ITrainingSink
{
    private readonly string checkpointDirectory;
    private readonly string artifactDirectory;
    private readonly string metricsPath;
    private readonly Action<TrainingProgress>? onProgress;

    public DirectoryTrainingSink(string directory, Action<TrainingProgress>? onProgress = null)
    {
        Directory = Path.GetFullPath(directory);
        checkpointDirectory = Path.Combine(Directory, "checkpoints");
        artifactDirectory = Path.Combine(Directory, "artifacts");
        metricsPath = Path.Combine(Directory, "metrics.csv");
        this.onProgress = onProgress;
        System.IO.Directory.CreateDirectory(checkpointDirectory);
        System.IO.Directory.CreateDirectory(artifactDirectory);
    }

    public string Directory { get; }

    public string ArtifactPath(string name) => Path.Combine(artifactDirectory, name);

    /// <summary>
    /// The newest checkpoint in the folder that decodes and verifies. A corrupt newer file is reported through
    /// <paramref name="skipped"/> and left in place (nothing stored is deleted); the one before it is used.
    /// </summary>
    public TrainingCheckpoint? LatestCheckpoint(Action<string, CheckpointFormatException>? skipped = null)
    {
        foreach (var path in System.IO.Directory.GetFiles(checkpointDirectory, "epoch-*.ckpt").Order(StringComparer.Ordinal).Reverse())
        {
            try
            {
                return CheckpointCodec.Decode(File.ReadAllBytes(path));
            }
            catch (CheckpointFormatException ex)
            {
                skipped?.Invoke(path, ex);
            }
        }
        return null;
    }

    public void SaveCheckpoint(TrainingCheckpoint checkpoint)
    {
        var path = Path.Combine(checkpointDirectory, $"epoch-{checkpoint.Epoch:D4}.ckpt");
        WriteAtomically(path, CheckpointCodec.Encode(checkpoint));

        var entries = System.IO.Directory.GetFiles(checkpointDirectory, "epoch-*.ckpt").Select(p =>
        {
            try
            {
                var stored = CheckpointCodec.Decode(File.ReadAllBytes(p));
                return new CheckpointRetention.Entry<string>(p, stored.Epoch, stored.Score);
            }
            catch (CheckpointFormatException)
            {
                return (CheckpointRetention.Entry<string>?)null; // unreadable files are kept for inspection, never counted
            }
        }).OfType<CheckpointRetention.Entry<string>>();
        foreach (var old in CheckpointRetention.ToDelete(entries))
        {
            File.Delete(old);
        }
    }

    public void ReportMetrics(IReadOnlyList<MetricSample> samples)
    {
        var builder = new StringBuilder();
        if (!File.Exists(metricsPath))
        {
            builder.AppendLine("epoch,step,name,value");
        }
        foreach (var s in samples)
        {
            builder.Append(CultureInfo.InvariantCulture, $"{s.Epoch},{s.Step},{s.Name},{s.Value.ToString("R", CultureInfo.InvariantCulture)}\n");
        }
        File.AppendAllText(metricsPath, builder.ToString());
    }

    public void SaveArtifact(string name, string contentType, byte[] content)
    {
        if (name.Contains('/') || name.Contains('\\') || name is "." or "..")
        {
            throw new ArgumentException($"artifact name '{name}' must be a plain file name");
        }
        WriteAtomically(ArtifactPath(name), content);
    }

    public void ReportProgress(TrainingProgress progress) => onProgress?.Invoke(progress);

    private static void WriteAtomically(string path, byte[] content)
    {
        var temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temporary, content);
        File.Move(temporary, path, overwrite: true);
    }
}
