using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using PunkGrid.Contracts;

namespace PunkGrid.Silo.Dashboard;

/// <summary><c>/api/searches</c>: start, list, read (status, trials, decisions, metric curves) and cancel hyperparameter searches.</summary>
public static class SearchEndpoints
{
    public static async Task<Ok<IReadOnlyList<SearchListItem>>> List(IGrainFactory grains, string? limit) =>
        TypedResults.Ok(await grains.GetGrain<ISearchGrain>(0).List(ApiRequests.Count(limit, "limit", 1000) ?? 50));

    /// <summary>The search with its trials, decisions and each trial's metric by epoch: what the search page draws, in one call.</summary>
    public static async Task<Results<Ok<SearchView>, ProblemHttpResult>> Get(IGrainFactory grains, string id)
    {
        var searches = grains.GetGrain<ISearchGrain>(0);
        var searchId = ApiRequests.Id(id, "search id");
        if (await searches.Status(searchId) is not { } summary)
        {
            return DashboardApi.NotFound($"unknown search '{id}'");
        }
        return TypedResults.Ok(new SearchView(summary, await searches.Trials(searchId), await searches.Decisions(searchId), await searches.Curves(searchId)));
    }

    /// <summary>201 with the new search, 200 when a search of that id exists already (a retried request), 400 when refused.</summary>
    public static async Task<Results<Created<SearchCreated>, Ok<SearchCreated>, ProblemHttpResult>> Create(IGrainFactory grains, HttpRequest request)
    {
        var (searchId, spec) = ApiRequests.Search(await DashboardApi.ReadBodyAsync(request));
        var id = searchId ?? $"search-{spec.Kind}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Random.Shared.Next(0x10000):x4}";
        var result = await grains.GetGrain<ISearchGrain>(0).Create(id, spec);
        if (result.Error is { } error)
        {
            return DashboardApi.BadRequest(error);
        }
        return result.Created ? TypedResults.Created($"/api/searches/{Uri.EscapeDataString(id)}", result) : TypedResults.Ok(result);
    }

    public static async Task<Results<Ok<CommandResult>, ProblemHttpResult>> Cancel(IGrainFactory grains, string id) =>
        DashboardApi.Command(await grains.GetGrain<ISearchGrain>(0).Cancel(ApiRequests.Id(id, "search id")));
}
