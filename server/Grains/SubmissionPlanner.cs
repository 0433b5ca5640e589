using PunkGrid.Contracts;
using PunkGrid.Server.Queue;
using PunkGrid.Server.Search;

namespace PunkGrid.Server.Grains;

/// <summary>
/// A submitted run's jobs: planned by <see cref="RunPlanner"/>, or, for <c>--from-search</c>, from the search's best trials
/// (with the search's profile). One place, so a submit and a schedule's run are validated alike (throws <see cref="ArgumentException"/>).
/// </summary>
public sealed class SubmissionPlanner(RunPlanner runs, SearchPlanner searchPlanner, SearchStore searches)
{
    public async Task<(RunSpec Spec, List<JobStore.NewJob> Jobs)> PlanAsync(string runId, RunSpec spec)
    {
        if (spec.FromSearch is not { } searchId)
        {
            return (spec, await runs.PlanAsync(runId, spec));
        }
        var search = await searches.GetAsync(searchId) ?? throw new ArgumentException($"unknown search '{searchId}' (see `punkgrid search list`)");
        spec = spec with { Profile = search.Plan.Spec.Profile };
        var trials = await searches.GetTrialsAsync(searchId, search.Plan.Settings.RungEpochs);
        return (spec, searchPlanner.PlanFromSearch(runId, spec, search, trials, await runs.WorkerBytesAsync()));
    }
}
