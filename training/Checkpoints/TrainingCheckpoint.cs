namespace PunkGrid.Training.Checkpoints;

/// <summary>
/// Everything needed to resume a job exactly: model weights, optimizer state and RNG state, as named sections of
/// bytes, plus where training stood (completed epochs, global step). <see cref="Score"/> ranks checkpoints for the
/// retention policy (higher is better); <see cref="Metadata"/> holds what the trainer needs to check compatibility.
/// </summary>
public sealed record TrainingCheckpoint(
    string Kind,
    int Epoch,
    long Step,
    double? Score,
    IReadOnlyDictionary<string, string> Metadata,
    IReadOnlyDictionary<string, byte[]> Sections)
{
    public const string ModelSection = "model";
    public const string OptimizerSection = "optimizer";
    public const string RngSection = "rng";

    public byte[] Section(string name) =>
        Sections.TryGetValue(name, out var bytes)
            ? bytes
            : throw new CheckpointFormatException(
                $"checkpoint of kind '{Kind}' at epoch {Epoch} has no '{name}' section; it has: {string.Join(", ", Sections.Keys)}");
}

/// <summary>A checkpoint that cannot be used: corrupt, truncated, of another kind or shape. Nothing is loaded from it.</summary>
public sealed class CheckpointFormatException(string message, Exception? inner = null) : Exception(message, inner);
