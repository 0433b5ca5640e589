namespace PunkGrid.Training.Evaluation;

/// <summary>Confusion counts of a binary classifier and the metrics derived from them.</summary>
public readonly record struct BinaryConfusion(long TruePositives, long FalsePositives, long TrueNegatives, long FalseNegatives)
{
    public long Total => TruePositives + FalsePositives + TrueNegatives + FalseNegatives;

    public double Accuracy => Total == 0 ? 0 : (double)(TruePositives + TrueNegatives) / Total;

    /// <summary>TP / (TP + FP); 0 when nothing was predicted positive.</summary>
    public double Precision => TruePositives + FalsePositives == 0 ? 0 : (double)TruePositives / (TruePositives + FalsePositives);

    /// <summary>TP / (TP + FN); 0 when there are no positives.</summary>
    public double Recall => TruePositives + FalseNegatives == 0 ? 0 : (double)TruePositives / (TruePositives + FalseNegatives);

    /// <summary>Harmonic mean of precision and recall; 0 when both are 0.</summary>
    public double F1 => Precision + Recall == 0 ? 0 : 2 * Precision * Recall / (Precision + Recall);

    public static BinaryConfusion FromPredictions(ReadOnlySpan<long> predicted, ReadOnlySpan<long> actual)
    {
        if (predicted.Length != actual.Length)
        {
            throw new ArgumentException($"{predicted.Length} predictions for {actual.Length} labels");
        }
        long tp = 0, fp = 0, tn = 0, fn = 0;
        for (var i = 0; i < predicted.Length; i++)
        {
            switch (predicted[i] != 0, actual[i] != 0)
            {
                case (true, true): tp++; break;
                case (true, false): fp++; break;
                case (false, false): tn++; break;
                default: fn++; break;
            }
        }
        return new BinaryConfusion(tp, fp, tn, fn);
    }
}
