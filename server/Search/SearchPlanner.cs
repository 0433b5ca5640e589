using System.Globalization;
using System.Text.RegularExpressions;
using PunkGrid.Contracts;
using PunkGrid.Server.Grains;
using PunkGrid.Training.Trainers;

namespace PunkGrid.Server.Search;

/// <summary>
/// A search as it will run: its targets (canonical trait names, or <c>""</c> for a kind without targets), the fixed
/// parameters every trial gets (with <c>epochs</c> = the maximum), the space, the metric and direction, the rungs and
/// budget, and what was added to the request (<see cref="Notes"/>).
/// </summary>
public sealed record SearchPlan(
    string SearchId,
    SearchSpec Spec,
    IReadOnlyList<string> Targets,
    IReadOnlyDictionary<string, string> Parameters,
    SearchSpace Space,
    string Metric,
    AshaSettings Settings,
    IReadOnlyList<string> Notes);

/// <summary>
/// Validates a search before anything is stored (every refusal names the value and what is allowed), and builds each
/// trial's job: the same configuration for the same search, seed and trial number on every silo.
/// </summary>
public sealed partial class SearchPlanner(TraitCatalog traits, RunPlanner runs)
{
    /// <summary>The most configurations a grid may have, and the most trials a search may start per target.</summary>
    public const int MaxTrials = 10_000;

    /// <summary>Parameters a search sets itself: the schedule's length and where a trial stops.</summary>
    private static readonly string[] Reserved = ["epochs", "stop_after_epoch"];

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")]
    private static partial Regex SearchIdPattern();

    [GeneratedRegex("^[a-z][a-z0-9_]{0,63}$")]
    private static partial Regex MetricPattern();

    /// <summary>Each kind's metric (measured on a validation split, never the test split) and whether higher is better.</summary>
    public static (string Metric, bool HigherIsBetter) DefaultMetric(string kind) => kind switch
    {
        JobKinds.Trait => ("validation_f1", true),
        JobKinds.Pokemon => ("validation_accuracy", true),
        JobKinds.Vae or JobKinds.Gan => ("punk_fid", false),
        _ => ("noop_score", true),
    };

    public SearchPlan Plan(string searchId, SearchSpec spec, long? workerBytes = null)
    {
        if (!SearchIdPattern().IsMatch(searchId))
        {
            throw new ArgumentException($"search id '{searchId}' is not allowed: 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit");
        }
        if (!JobKinds.All.Contains(spec.Kind))
        {
            throw new ArgumentException($"unknown job kind '{spec.Kind}'; allowed: {string.Join(", ", JobKinds.All)}");
        }
        if (!Searchers.All.Contains(spec.Searcher))
        {
            throw new ArgumentException($"searcher '{spec.Searcher}' is not allowed: {string.Join(", ", Searchers.All)}");
        }
        var notes = new List<string>();
        var targets = Targets(spec);
        var space = SearchSpace.Parse(spec.Space);
        if (space.Dimensions.FirstOrDefault(d => Reserved.Contains(d.Name)) is { } reservedDimension)
        {
            throw new ArgumentException($"search dimension '{reservedDimension.Name}' is not allowed: the search sets epochs (--max-epochs) and where trials stop");
        }
        if (spec.Parameters.Keys.FirstOrDefault(k => Reserved.Contains(k)) is { } reservedParameter)
        {
            throw new ArgumentException($"parameter '{reservedParameter}' is not allowed in a search: give the schedule's length as --max-epochs");
        }
        if (space.Dimensions.FirstOrDefault(d => spec.Parameters.ContainsKey(d.Name)) is { } both)
        {
            throw new ArgumentException($"'{both.Name}' is both a fixed parameter and a search dimension; give it once");
        }

        var (metric, higherIsBetter) = Metric(spec);
        var parameters = spec.Parameters.ToDictionary(StringComparer.Ordinal);
        var maxEpochs = spec.MaxEpochs > 0 ? spec.MaxEpochs : ProfileEpochs(spec.Kind, targets[0], spec.Profile, parameters);
        if (maxEpochs > 10_000)
        {
            throw new ArgumentException($"max_epochs {maxEpochs} is not allowed: 1 to 10000");
        }
        parameters["epochs"] = maxEpochs.ToString(CultureInfo.InvariantCulture);
        if (metric == "validation_f1" && spec.Kind == JobKinds.Trait && !parameters.ContainsKey("validation_fraction")
            && TraitTrainingOptions.Create(targets[0], spec.Profile, parameters).ValidationFraction <= 0)
        {
            parameters["validation_fraction"] = "0.15";
            notes.Add($"validation_fraction=0.15 added: validation_f1 is measured on a validation split, which profile {spec.Profile} does not carve");
        }

        var configurations = spec.Searcher == Searchers.Grid ? space.Grid(MaxTrials) : null;
        var maxTrials = configurations is null ? spec.MaxTrials : spec.MaxTrials > 0 ? Math.Min(spec.MaxTrials, configurations.Count) : configurations.Count;
        if (maxTrials is < 1 or > MaxTrials)
        {
            throw new ArgumentException($"max_trials {spec.MaxTrials} is not allowed: 1 to {MaxTrials}");
        }
        if (spec.MaxConcurrent is < 1 or > 1000)
        {
            throw new ArgumentException($"max_concurrent {spec.MaxConcurrent} is not allowed: 1 to 1000");
        }
        if (configurations is not null && spec.MaxTrials > configurations.Count)
        {
            notes.Add($"the grid has {configurations.Count} configurations: {configurations.Count} trials per target, not {spec.MaxTrials}");
        }
        AshaSettings settings;
        if (spec.Searcher == Searchers.Asha)
        {
            settings = new AshaSettings(spec.MinEpochs, maxEpochs, spec.ReductionFactor, maxTrials, higherIsBetter);
            if (settings.Invalid() is { } invalid)
            {
                throw new ArgumentException(invalid);
            }
        }
        else
        {
            // One rung: every trial trains the whole schedule.
            settings = new AshaSettings(maxEpochs, maxEpochs, 2, maxTrials, higherIsBetter);
        }

        var plan = new SearchPlan(searchId, spec, targets, parameters, space, metric, settings, notes);
        // Every value the space can give, each with the others' first, is checked by the kind's own validation (and the
        // memory check) before anything is stored: a trial refused later would leave a search that cannot go on.
        foreach (var target in targets)
        {
            foreach (var probe in Probes(space, configurations))
            {
                Job(plan, target, 1, probe, settings.RungEpochs[0], workerBytes);
            }
        }
        return plan;
    }

    /// <summary>Trial <paramref name="trial"/>'s configuration (numbered from 1): the grid's in order, or drawn from the seed and the trial number.</summary>
    public static IReadOnlyDictionary<string, string> Configuration(SearchSpace space, string searcher, int seed, int trial) =>
        searcher == Searchers.Grid
            ? space.GridConfiguration(trial - 1)
            : space.Sample(new Random(unchecked((seed * 1_000_003) + trial)));

    /// <summary>
    /// The job of trial <paramref name="trial"/> for <paramref name="target"/>: id <c>SEARCH.tNNN[.trait]</c>, the fixed
    /// parameters, the configuration, and where it stops (nothing when at the whole schedule's end).
    /// </summary>
    public Queue.JobStore.NewJob Job(SearchPlan plan, string target, int trial, IReadOnlyDictionary<string, string> configuration, int stopAfterEpoch, long? workerBytes = null)
    {
        var parameters = plan.Parameters.ToDictionary(StringComparer.Ordinal);
        foreach (var (name, value) in configuration)
        {
            parameters[name] = value;
        }
        if (stopAfterEpoch < plan.Settings.MaxEpochs)
        {
            parameters["stop_after_epoch"] = stopAfterEpoch.ToString(CultureInfo.InvariantCulture);
        }
        var runSpec = new RunSpec(plan.Spec.Kind, target.Length == 0 ? [] : [target], false, plan.Spec.Profile, parameters, plan.Spec.Priority);
        var jobs = runs.Plan(TrialRunPrefix(plan.SearchId, trial), runSpec, workerBytes);
        return jobs.Count == 1 ? jobs[0] : throw new ArgumentException("noop parameter jobs is not allowed in a search: each trial is one job");
    }

    /// <summary>A target's best trial: the best metric at the highest rung any of its trials completed (ties: the earlier trial), with that rung and metric.</summary>
    public static (SearchTrialView Trial, int Rung, double Value)? BestTrial(SearchPlan plan, IEnumerable<SearchTrialView> trials)
    {
        var own = trials.ToList();
        var results = own.SelectMany(t => t.Results.Select(r => (Key: (t.Trial, Rung: r.Key), Value: (double?)r.Value))).ToDictionary(r => r.Key, r => r.Value);
        return SearchDecider.Best(plan, results) is { } best ? (own.Single(t => t.Trial == best.Trial), best.Rung, best.Value) : null;
    }

    /// <summary>
    /// The jobs of a run made from a search's best settings (<c>submit … --from-search</c>): one per target the run names
    /// (all the search's when it names none), each with the search's fixed parameters, its best trial's settings and the
    /// whole schedule, then the submit's own overrides.
    /// </summary>
    public List<Queue.JobStore.NewJob> PlanFromSearch(string runId, RunSpec spec, StoredSearch search, IReadOnlyList<SearchTrialView> trials, long? workerBytes)
    {
        var plan = search.Plan;
        if (spec.Kind != plan.Spec.Kind)
        {
            throw new ArgumentException($"search {plan.SearchId} is a {plan.Spec.Kind} search; it cannot make a {spec.Kind} run");
        }
        var searched = trials.Select(t => t.Target).Distinct().ToList();
        var targets = spec.Targets.Count == 0 ? searched : spec.Targets.Select(traits.Canonical).ToList();
        var jobs = new List<Queue.JobStore.NewJob>();
        foreach (var target in targets)
        {
            var best = BestTrial(plan, trials.Where(t => t.Target == target))?.Trial
                ?? throw new ArgumentException(searched.Contains(target)
                    ? $"search {plan.SearchId} has no ranked trial for {(target.Length == 0 ? plan.Spec.Kind : target)} yet"
                    : $"search {plan.SearchId} did not search the trait '{target}'; it searched: {string.Join(", ", searched)}");
            var parameters = plan.Parameters.ToDictionary(StringComparer.Ordinal);
            foreach (var (name, value) in best.Parameters.Concat(spec.Parameters))
            {
                parameters[name] = value;
            }
            var one = spec with { Targets = target.Length == 0 ? [] : [target], AllTargets = false, Parameters = parameters, FromSearch = null };
            jobs.AddRange(runs.Plan(runId, one, workerBytes));
        }
        return jobs;
    }

    /// <summary>What a trial's job id starts with: the job is <c>SEARCH.tNNN.TRAIT</c> (or <c>SEARCH.tNNN.KIND</c>).</summary>
    public static string TrialRunPrefix(string searchId, int trial) => string.Create(CultureInfo.InvariantCulture, $"{searchId}.t{trial:D3}");

    private List<string> Targets(SearchSpec spec)
    {
        if (spec.Kind != JobKinds.Trait)
        {
            return spec.Targets.Count == 0 ? [""] : throw new ArgumentException($"targets do not apply to a {spec.Kind} search; only trait searches take traits");
        }
        if (spec.Targets.Count == 0)
        {
            throw new ArgumentException("no traits given: a trait search is one search per trait (--traits Earring,Hoodie)");
        }
        var targets = spec.Targets.Select(traits.Canonical).ToList();
        if (targets.GroupBy(t => t).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw new ArgumentException($"targets name the trait '{twice.Key}' {twice.Count()} times; name each trait once");
        }
        return targets;
    }

    private static (string Metric, bool HigherIsBetter) Metric(SearchSpec spec)
    {
        var (metric, higher) = DefaultMetric(spec.Kind);
        if (spec.Metric is { } asked && asked != metric)
        {
            if (!MetricPattern().IsMatch(asked))
            {
                throw new ArgumentException($"metric '{asked}' is not allowed: a metric name of lower-case letters, digits and '_' (default for {spec.Kind}: {metric})");
            }
            if (asked.StartsWith("test_", StringComparison.Ordinal))
            {
                throw new ArgumentException($"metric '{asked}' is measured on the held-out test split, which stays for reporting: search on a validation metric (for {spec.Kind}: {metric})");
            }
            metric = asked;
            higher = asked.EndsWith("_loss", StringComparison.Ordinal) || asked.EndsWith("fid", StringComparison.Ordinal) ? false
                : asked.EndsWith("accuracy", StringComparison.Ordinal) || asked.EndsWith("f1", StringComparison.Ordinal) || asked.EndsWith("score", StringComparison.Ordinal) ? true
                : spec.Mode is null ? throw new ArgumentException($"metric '{asked}': say whether higher or lower is better (--mode max or --mode min)") : higher;
        }
        return spec.Mode switch
        {
            null => (metric, higher),
            "max" => (metric, true),
            "min" => (metric, false),
            var mode => throw new ArgumentException($"mode '{mode}' is not allowed: max or min"),
        };
    }

    private static int ProfileEpochs(string kind, string target, string profile, IReadOnlyDictionary<string, string> parameters) => kind switch
    {
        JobKinds.Trait => TraitTrainingOptions.Create(target, profile, parameters).Epochs,
        JobKinds.Vae => VaeTrainingOptions.Create(profile, parameters).Epochs,
        JobKinds.Gan => GanTrainingOptions.Create(profile, parameters).Epochs,
        JobKinds.Pokemon => PokemonTrainingOptions.Create(profile, parameters).Epochs,
        _ => NoopTrainingOptions.Create(profile, parameters).Epochs,
    };

    /// <summary>Configurations that between them give every dimension each of its extreme values (or, for a grid, every configuration).</summary>
    private static IEnumerable<IReadOnlyDictionary<string, string>> Probes(SearchSpace space, IReadOnlyList<IReadOnlyDictionary<string, string>>? grid)
    {
        if (grid is not null)
        {
            foreach (var configuration in grid)
            {
                yield return configuration;
            }
            yield break;
        }
        var first = space.Dimensions.ToDictionary(d => d.Name, d => Extremes(d)[0], StringComparer.Ordinal);
        yield return first;
        foreach (var dimension in space.Dimensions)
        {
            foreach (var value in Extremes(dimension).Skip(1))
            {
                yield return new Dictionary<string, string>(first, StringComparer.Ordinal) { [dimension.Name] = value };
            }
        }
    }

    private static IReadOnlyList<string> Extremes(SearchDimension dimension) => dimension switch
    {
        SearchDimension.Choice c => c.Values,
        SearchDimension.Uniform u => [Number(u.Low), Number(u.High)],
        SearchDimension.LogUniform l => [Number(l.Low), Number(l.High)],
        SearchDimension.IntRange i => [i.Low.ToString(CultureInfo.InvariantCulture), i.High.ToString(CultureInfo.InvariantCulture)],
        _ => throw new ArgumentException($"unknown dimension {dimension.Name}"),
    };

    private static string Number(double value) => value.ToString("G6", CultureInfo.InvariantCulture);
}
