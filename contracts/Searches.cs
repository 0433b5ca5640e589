namespace PunkGrid.Contracts;

/// <summary>How a search picks its trials' settings.</summary>
public static class Searchers
{
    /// <summary>Every combination of the space's choice and int values, in order, each trained to the maximum epochs.</summary>
    public const string Grid = "grid";

    /// <summary>Settings drawn at random (from the search's seed), each trained to the maximum epochs.</summary>
    public const string Random = "random";

    /// <summary>Asynchronous successive halving: random settings, trained rung by rung, the best 1/η of each rung promoted.</summary>
    public const string Asha = "asha";

    public static IReadOnlyList<string> All { get; } = [Grid, Random, Asha];
}

/// <summary>
/// A hyperparameter search as asked: a job kind (its targets, for traits one search per trait side by side), a profile and
/// fixed parameters, the space its trials vary (<c>name=choice(a,b)</c>, <c>uniform(lo,hi)</c>, <c>loguniform(lo,hi)</c>,
/// <c>int(lo,hi)</c>), the metric to optimise (null: the kind's validation metric) and its direction (null: the metric's
/// own), the searcher and its budget, and a seed. Trials train <see cref="MaxEpochs"/> epochs' schedule; ASHA stops
/// them at rungs from <see cref="MinEpochs"/> up by <see cref="ReductionFactor"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.SearchSpec")]
public sealed record SearchSpec(
    [property: Id(0)] string Kind,
    [property: Id(1)] IReadOnlyList<string> Targets,
    [property: Id(2)] string Profile,
    [property: Id(3)] IReadOnlyDictionary<string, string> Parameters,
    [property: Id(4)] IReadOnlyList<string> Space,
    [property: Id(5)] string Searcher,
    [property: Id(6)] string? Metric,
    [property: Id(7)] string? Mode,
    [property: Id(8)] int MinEpochs,
    [property: Id(9)] int MaxEpochs,
    [property: Id(10)] int ReductionFactor,
    [property: Id(11)] int MaxTrials,
    [property: Id(12)] int MaxConcurrent,
    [property: Id(13)] int Seed,
    [property: Id(14)] int Priority);

[GenerateSerializer, Immutable, Alias("PunkGrid.SearchCreated")]
public sealed record SearchCreated(
    [property: Id(0)] string SearchId,
    [property: Id(1)] bool Created,
    [property: Id(2)] string? Error,
    [property: Id(3)] IReadOnlyList<string> Targets,
    [property: Id(4)] IReadOnlyList<string> Notes);

/// <summary>
/// One search per target (a trait, or <c>""</c> for a kind without targets): its state, trials started and running,
/// decisions taken, the rungs' epochs, and the best trial so far by its highest rung's metric.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.SearchTargetSummary")]
public sealed record SearchTargetSummary(
    [property: Id(0)] string Target,
    [property: Id(1)] string State,
    [property: Id(2)] int Trials,
    [property: Id(3)] int Running,
    [property: Id(4)] int Decisions,
    [property: Id(5)] int? BestTrial,
    [property: Id(6)] string? BestJobId,
    [property: Id(7)] double? BestValue,
    [property: Id(8)] int? BestEpochs,
    [property: Id(9)] IReadOnlyDictionary<string, string>? BestParameters,
    [property: Id(10)] int EpochsTrained,
    [property: Id(11)] string? Detail);

[GenerateSerializer, Immutable, Alias("PunkGrid.SearchSummary")]
public sealed record SearchSummary(
    [property: Id(0)] string SearchId,
    [property: Id(1)] string RunId,
    [property: Id(2)] string Kind,
    [property: Id(3)] string Profile,
    [property: Id(4)] string Searcher,
    [property: Id(5)] string Metric,
    [property: Id(6)] bool HigherIsBetter,
    [property: Id(7)] string State,
    [property: Id(8)] IReadOnlyList<int> RungEpochs,
    [property: Id(9)] int MaxTrials,
    [property: Id(10)] int MaxConcurrent,
    [property: Id(11)] DateTimeOffset CreatedAt,
    [property: Id(12)] DateTimeOffset? FinishedAt,
    [property: Id(13)] IReadOnlyList<SearchTargetSummary> Targets,
    [property: Id(14)] SearchSpec Spec);

/// <summary>
/// One trial: its settings, the rung it was last sent to and the epochs that rung trains to, its job's state and epoch,
/// and its metric at each rung it completed (rung → value). <see cref="Status"/>: running, paused (waiting at a rung
/// for a promotion), stopped (the search ended with it below the top rung), completed (top rung) or failed.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.SearchTrialView")]
public sealed record SearchTrialView(
    [property: Id(0)] string Target,
    [property: Id(1)] int Trial,
    [property: Id(2)] string JobId,
    [property: Id(3)] IReadOnlyDictionary<string, string> Parameters,
    [property: Id(4)] int Rung,
    [property: Id(5)] int Epochs,
    [property: Id(6)] JobState JobState,
    [property: Id(7)] int Epoch,
    [property: Id(8)] IReadOnlyDictionary<int, double> Results,
    [property: Id(9)] string Status,
    [property: Id(10)] DateTimeOffset CreatedAt);

/// <summary>
/// One decision of a search, numbered per target (<see cref="Sequence"/> 1, 2, … with no gap and no repeat): a result
/// recorded, a new trial, a promotion, the end.
/// </summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.SearchDecisionView")]
public sealed record SearchDecisionView(
    [property: Id(0)] string Target,
    [property: Id(1)] int Sequence,
    [property: Id(2)] string Action,
    [property: Id(3)] int? Trial,
    [property: Id(4)] int? Rung,
    [property: Id(5)] int? Epochs,
    [property: Id(6)] double? Value,
    [property: Id(7)] string Detail,
    [property: Id(8)] DateTimeOffset DecidedAt);

/// <summary>A search as listed.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.SearchListItem")]
public sealed record SearchListItem(
    [property: Id(0)] string SearchId,
    [property: Id(1)] string Kind,
    [property: Id(2)] string Searcher,
    [property: Id(3)] string Metric,
    [property: Id(4)] string State,
    [property: Id(5)] int Targets,
    [property: Id(6)] int Trials,
    [property: Id(7)] DateTimeOffset CreatedAt);

/// <summary>One point of a trial's metric curve: the epoch and the value.</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.SearchCurvePoint")]
public sealed record SearchCurvePoint([property: Id(0)] int Epoch, [property: Id(1)] double Value);

/// <summary>A trial's metric at every epoch it trained (what the search page draws).</summary>
[GenerateSerializer, Immutable, Alias("PunkGrid.SearchCurve")]
public sealed record SearchCurve(
    [property: Id(0)] string Target,
    [property: Id(1)] int Trial,
    [property: Id(2)] IReadOnlyList<SearchCurvePoint> Points);

/// <summary>
/// Hyperparameter searches (<c>punkgrid search</c>). The decisions are taken by every silo's search pass, one silo per
/// search at a time, each in one transaction; this grain creates, reads and cancels. Creating and cancelling: operators only.
/// </summary>
[Alias("PunkGrid.ISearchGrain")]
public interface ISearchGrain : IGrainWithIntegerKey
{
    /// <summary>Validates and stores the search (its run, one search per target); nothing is stored when anything is refused.</summary>
    [Alias("Create")]
    Task<SearchCreated> Create(string searchId, SearchSpec spec);

    /// <summary>Null when no search has this id.</summary>
    [Alias("Status")]
    Task<SearchSummary?> Status(string searchId);

    [Alias("Trials")]
    Task<IReadOnlyList<SearchTrialView>> Trials(string searchId);

    [Alias("Decisions")]
    Task<IReadOnlyList<SearchDecisionView>> Decisions(string searchId);

    [Alias("Curves")]
    Task<IReadOnlyList<SearchCurve>> Curves(string searchId);

    [Alias("List")]
    Task<IReadOnlyList<SearchListItem>> List(int limit);

    /// <summary>Ends the search: no new trial or promotion, its running trials cancelled.</summary>
    [Alias("Cancel")]
    Task<CommandResult> Cancel(string searchId);
}
