namespace PunkGrid.Training.Trainers;

/// <summary>How the Pokémon split was made, and what a naive split would have leaked.</summary>
public sealed record DuplicateReport(int Images, int Skipped, int NearDuplicatePairs, int DuplicateGroups, int NaiveCrossSplitPairs, int CrossSplitPairs, string SplitUsed);

public sealed record ConfusedPair(string Actual, string Predicted, int Count);

/// <summary>The Pokémon classifier's <c>eval.json</c>: test top-1/top-5 with the best-on-validation weights, per-class accuracy, confusions, duplicates.</summary>
public sealed record PokemonEvaluation(
    string Profile,
    double Top1,
    double Top5,
    double BestValidationAccuracy,
    int BestEpoch,
    int Classes,
    int TrainCount,
    int ValidationCount,
    int TestCount,
    IReadOnlyDictionary<string, double> PerClassAccuracy,
    IReadOnlyList<ConfusedPair> MostConfused,
    DuplicateReport Duplicates,
    int Epochs,
    int ImageSize,
    int Seed,
    string Device,
    double Seconds,
    string Backbone = PokemonTrainingOptions.MobileNet,
    string FineTune = PokemonTrainingOptions.FineTuneAll,
    double LearningRate = 0,
    double BackboneLearningRate = 0,
    double LabelSmoothing = 0,
    double LoadSeconds = 0,
    double FrozenPassSeconds = 0);
