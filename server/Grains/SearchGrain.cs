using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using PunkGrid.Contracts;
using PunkGrid.Server.Search;

namespace PunkGrid.Server.Grains;

/// <summary>
/// Hyperparameter searches as operators use them (<c>punkgrid search</c>): validated and created here; decided by every
/// silo's <see cref="SearchPass"/>; the rows are <see cref="SearchStore"/>'s.
/// </summary>
[StatelessWorker]
public sealed partial class SearchGrain(SearchPlanner planner, SearchStore searches, RunPlanner runs, ILogger<SearchGrain> logger) : Grain, ISearchGrain
{
    public async Task<SearchCreated> Create(string searchId, SearchSpec spec)
    {
        SearchPlan plan;
        try
        {
            plan = planner.Plan(searchId, spec, await runs.WorkerBytesAsync());
        }
        catch (ArgumentException ex)
        {
            return new SearchCreated(searchId, false, ex.Message, [], []);
        }
        switch (await searches.CreateAsync(plan))
        {
            case SearchStore.CreateOutcome.SearchExists:
                return new SearchCreated(searchId, false, null, plan.Targets, ["a search with this id exists; nothing changed"]);
            case SearchStore.CreateOutcome.RunExists:
                return new SearchCreated(searchId, false, $"search id '{searchId}' is taken by a run (a search's trials are the jobs of a run of its id); choose another", [], []);
        }
        LogCreated(logger, searchId, spec.Searcher, spec.Kind, plan.Targets.Count, plan.Metric, string.Join(", ", plan.Settings.RungEpochs));
        return new SearchCreated(searchId, true, null, plan.Targets, plan.Notes);
    }

    public async Task<SearchSummary?> Status(string searchId)
    {
        if (await searches.GetAsync(searchId) is not { } search)
        {
            return null;
        }
        var plan = search.Plan;
        var rungs = plan.Settings.RungEpochs;
        var trials = await searches.GetTrialsAsync(searchId, rungs);
        var targets = new List<SearchTargetSummary>();
        foreach (var (target, state, decisions, detail) in await searches.GetTargetsAsync(searchId))
        {
            var own = trials.Where(t => t.Target == target).ToList();
            var best = SearchPlanner.BestTrial(plan, own);
            targets.Add(new SearchTargetSummary(target, state, own.Count, own.Count(t => t.Status == "running"), decisions,
                best?.Trial.Trial, best?.Trial.JobId, best?.Value, best is { } b ? rungs[b.Rung] : null, best?.Trial.Parameters,
                own.Sum(t => t.Epoch), detail));
        }
        return new SearchSummary(searchId, search.RunId, plan.Spec.Kind, plan.Spec.Profile, plan.Spec.Searcher, plan.Metric, plan.Settings.HigherIsBetter,
            search.State, rungs, plan.Settings.MaxTrials, plan.Spec.MaxConcurrent, search.CreatedAt, search.FinishedAt, targets, plan.Spec);
    }

    public async Task<IReadOnlyList<SearchTrialView>> Trials(string searchId) =>
        await searches.GetAsync(searchId) is { } search ? await searches.GetTrialsAsync(searchId, search.Plan.Settings.RungEpochs) : [];

    public Task<IReadOnlyList<SearchDecisionView>> Decisions(string searchId) => searches.GetDecisionsAsync(searchId);

    public async Task<IReadOnlyList<SearchCurve>> Curves(string searchId) =>
        await searches.GetAsync(searchId) is { } search ? await searches.GetCurvesAsync(searchId, search.Plan.Metric) : [];

    public Task<IReadOnlyList<SearchListItem>> List(int limit) => searches.ListAsync(Math.Clamp(limit, 1, 1000));

    public async Task<CommandResult> Cancel(string searchId) => await searches.CancelAsync(searchId) switch
    {
        null => new CommandResult(false, $"unknown search '{searchId}' (see `punkgrid search list`)", NotFound: true),
        (false, _) => new CommandResult(false, $"search {searchId} has already ended"),
        (true, var cancelled) => new CommandResult(true, $"search {searchId} cancelled; {cancelled} trial job(s) cancelled"),
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Search {Search}: {Searcher} over {Kind}, {Targets} target(s), {Metric}, rungs at {Rungs} epochs")]
    private static partial void LogCreated(ILogger logger, string search, string searcher, string kind, int targets, string metric, string rungs);
}
